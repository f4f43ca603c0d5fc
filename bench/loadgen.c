/* SPDX-License-Identifier: MIT */
/*
 * loadgen: drive an SNI gateway (or the sink directly) and measure it.
 *
 *   loadgen reset    -t GW --sni denied.test [-n N | -d SECS] [-c CONC | --rate R]
 *       Each connection sends a ClientHello with a denied name (then a probe
 *       header) and waits for the gateway to close it. Reports closes/s and
 *       the latency from the last hello byte to RST/EOF. A connection that
 *       receives any byte (the probe reached the sink: the name was let
 *       through) or is not closed within --deadline is a failure, and the
 *       exit status is 1: a leaking gateway is a failure, not a number.
 *       Each close is told apart as the client saw it (RST, FIN, TLS alert,
 *       timeout), and so is a connect no SYN-ACK answered within --deadline.
 *   loadgen connrate -t GW --sni allowed.test --req N --resp M [-d SECS] [-c CONC]
 *       Each connection sends hello + N bytes; the sink answers M bytes and
 *       closes. Connections/s and latency from connect to EOF. With
 *       --connect PORT it is a proxy client: "CONNECT sni:PORT" first, the
 *       hello right behind it (pipelined), and the 200 line counts as answer.
 *   loadgen mixed    -t GW --sni allowed.test --deny-sni denied.test --rate R --mix P -b B
 *       Open loop at R connections/s; P percent are allowed transfers of B
 *       bytes (checksummed), the rest a denied spray. Reports both sides.
 *   loadgen bulk     -t GW --sni allowed.test -b SIZE [-c CONNS] [--both]
 *       SIZE per connection one way (or both ways at once); MiB/s, and the
 *       checksums of both ends must match.
 *   loadgen rr       -t GW --sni allowed.test --req N --resp M -c CONNS -d SECS
 *       Persistent connections doing request/response; round trips/s, latency.
 *   loadgen idle     -t GW --sni allowed.test -n K --pid P
 *       K relayed connections (each proven with one round trip), then silent:
 *       the gateway's RSS and PSS and the machine's kernel memory per connection.
 *   loadgen sink -l ADDR      the upstream for all of the above (epoll; bulk on threads)
 *   loadgen rstd -l ADDR      the direct reset baseline: peek the hello, close with RST
 *   loadgen fwd  -l ADDR -t TO [--corrupt OFF]   a plain TCP forwarder (lets everything
 *                             through; with --corrupt flips one byte): for the harness tests
 *   loadgen hello --sni NAME [--size S --records R] > FILE   the exact hello bytes sent
 *   loadgen port              print a free loopback TCP and UDP port
 *
 * --pid P[,P...] (repeatable) adds the CPU time of those processes and their
 * children (all threads, /proc) per connection or per GiB: on a shared
 * 2-core machine CPU per unit of work is steadier than wall time.
 * connrate and rr also report the load generator's own CPU per unit
 * (self_us): run straight at the sink with --pid SINK, the two figures are
 * the two TCP endpoints a relay has to be, the floor it is measured against.
 *
 * Human-readable lines go to stdout, followed by one "result k=v ..." line
 * for the harness. Progress goes to stderr only when it is a terminal.
 */
#include "bench/loadgen.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void pin_thread(unsigned i)
{
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n <= 1)
		return;
	CPU_ZERO(&set);
	CPU_SET(i % (unsigned)n, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	struct sockaddr_in *a4 = (void *)ss;
	struct sockaddr_in6 *a6 = (void *)ss;
	char *h = host;
	int port;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	if (h[0] == '[') {
		h++;
		h[strlen(h) - 1] = 0;
	}
	port = atoi(colon + 1);
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, h, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, h, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	return -1;
}

static unsigned long long parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'G':
		return v << 30;
	case 'M':
		return v << 20;
	case 'K':
	case 'k':
		return v << 10;
	default:
		return v;
	}
}

/* ---- /proc accounting ---- */

/* The given pids and, one level down, their children (nginx workers, sniproxy's binder). */
static unsigned pid_closure(const struct opts *o, int *out, unsigned cap)
{
	unsigned n = 0;

	for (unsigned i = 0; i < o->npids && n < cap; i++) {
		char path[96], buf[4096];
		FILE *f;

		out[n++] = o->pids[i];
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", o->pids[i], o->pids[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		size_t r = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[r] = 0;
		for (char *p = strtok(buf, " \n"); p && n < cap; p = strtok(NULL, " \n"))
			out[n++] = atoi(p);
	}
	return n;
}

static double proc_cpu(int pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields 14 and 15 (utime, stime) follow the ")" that ends the command name. */
	p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* This process's CPU (all threads, user + system), in seconds. */
double self_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double pids_cpu(const struct opts *o)
{
	int all[LG_MAX_PIDS * 4];
	unsigned n = pid_closure(o, all, sizeof(all) / sizeof(all[0]));
	double s = 0;

	for (unsigned i = 0; i < n; i++)
		s += proc_cpu(all[i]);
	return s;
}

static long file_field_kb(const char *path, const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = atol(line + kl + 1);
	fclose(f);
	return v;
}

long pids_mem_kb(const struct opts *o, const char *file, const char *key)
{
	int all[LG_MAX_PIDS * 4];
	unsigned n = pid_closure(o, all, sizeof(all) / sizeof(all[0]));
	long s = 0;

	for (unsigned i = 0; i < n; i++) {
		char path[96];

		snprintf(path, sizeof(path), "/proc/%d/%s", all[i], file);
		long v = file_field_kb(path, key);
		if (v > 0)
			s += v;
	}
	return s;
}

long meminfo_kb(const char *key)
{
	return file_field_kb("/proc/meminfo", key);
}

/* Pages the whole machine's TCP sockets hold for buffers ("TCP: ... mem N"). */
long sockstat_tcp_pages(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/net/sockstat", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *m = strstr(line, " mem ");
		if (!strncmp(line, "TCP:", 4) && m)
			v = atol(m + 5);
	}
	fclose(f);
	return v;
}

/* ---- wire helpers ---- */

void hdr_build(uint32_t hdr[5], enum lg_kind kind, uint64_t n, uint32_t arg)
{
	hdr[0] = htonl(LG_MAGIC);
	hdr[1] = htonl((uint32_t)kind);
	hdr[2] = htonl((uint32_t)(n >> 32));
	hdr[3] = htonl((uint32_t)n);
	hdr[4] = htonl(arg);
}

long hello_for(const struct opts *o, const char *sni, uint8_t *out, size_t cap)
{
	struct hello_opts ho = o->hello;
	long n;

	ho.sni = sni;
	n = hello_build(&ho, out, cap);
	if (n < 0) {
		fprintf(stderr, "loadgen: cannot build a ClientHello of size %zu in %u records\n",
			ho.size, ho.records);
		exit(2);
	}
	return n;
}

ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = recv(fd, (char *)buf + off, n - off, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -1 : (ssize_t)off;
		off += (size_t)r;
	}
	return (ssize_t)off;
}

ssize_t write_full(int fd, const void *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = send(fd, (const char *)buf + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return (ssize_t)off;
}

int send_hello_split(int fd, const struct opts *o, const uint8_t *buf, size_t hello_len,
		     size_t total)
{
	unsigned segs = o->segments > 1 ? o->segments : 1;
	size_t off = 0;

	for (unsigned k = 0; k < segs; k++) {
		size_t end = hello_len * (k + 1) / segs;
		if (end > off && write_full(fd, buf + off, end - off) < 0)
			return -1;
		off = end;
	}
	if (total > off && write_full(fd, buf + off, total - off) < 0)
		return -1;
	return 0;
}

/* ---- checksum and pattern ---- */

/*
 * Word-wise (a byte-wise FNV limits one stream to ~500 MiB/s, less than the
 * relay under test), and the same value however the stream was cut.
 */
void csum_init(struct csum *c)
{
	memset(c, 0, sizeof(*c));
	c->h = 0xcbf29ce484222325ULL;
}

static inline uint64_t mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 32);
}

void csum_update(struct csum *c, const uint8_t *p, size_t n)
{
	while (c->nc && n) {
		c->carry[c->nc++] = *p++;
		n--;
		if (c->nc == 8) {
			uint64_t w;
			memcpy(&w, c->carry, 8);
			c->h = mix(c->h, w);
			c->nc = 0;
		}
	}
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c->h = mix(c->h, w);
	}
	while (n--)
		c->carry[c->nc++] = *p++;
}

uint64_t csum_final(const struct csum *c)
{
	uint64_t w = 0;

	memcpy(&w, c->carry, c->nc);
	return mix(mix(c->h, w), c->nc);
}

void pattern_fill(uint8_t *buf, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		buf[i] = (uint8_t)(seed >> 56);
	}
}

/* ---- latencies ---- */

void lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		uint64_t *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ns;
}

void lat_merge(struct lat *into, struct lat *from)
{
	for (size_t i = 0; i < from->n; i++)
		lat_add(into, from->v[i]);
	free(from->v);
	*from = (struct lat){0};
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void lat_sort(struct lat *l)
{
	if (l->n < 2) /* and v may be NULL: qsort's pointer must not be */
		return;
	qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
}

double lat_pct_us(const struct lat *l, double p)
{
	if (!l->n)
		return 0;
	return (double)l->v[(size_t)((double)(l->n - 1) * p)] / 1000.0;
}

/* ---- progress ---- */

static void *progress_thread(void *arg)
{
	struct progress *p = arg;

	while (!atomic_load(&p->stop)) {
		struct timespec ts = {0, 250 * 1000 * 1000};
		nanosleep(&ts, NULL);
		uint64_t now = now_ns();
		double el = (double)(now - p->t0) / 1e9;
		unsigned long long d = atomic_load(&p->done);
		double left = -1;

		if (p->end_ns)
			left = now < p->end_ns ? (double)(p->end_ns - now) / 1e9 : 0;
		else if (p->total && d)
			left = el * (double)(p->total - (d < p->total ? d : p->total)) / (double)d;
		if (left >= 0)
			fprintf(stderr, "\r%s: %llu done, %.0f/s, %.1f s left   ", p->what, d,
				el > 0 ? (double)d / el : 0.0, left);
		else
			fprintf(stderr, "\r%s: %llu done, %.0f/s   ", p->what, d,
				el > 0 ? (double)d / el : 0.0);
	}
	fprintf(stderr, "\r%*s\r", 60, "");
	return NULL;
}

static pthread_t progress_th;

void progress_start(struct progress *p, const struct opts *o, const char *what,
		    unsigned long long total, double seconds)
{
	p->what = what;
	atomic_init(&p->done, 0);
	atomic_init(&p->stop, false);
	p->total = total;
	p->t0 = now_ns();
	p->end_ns = seconds > 0 ? p->t0 + (uint64_t)(seconds * 1e9) : 0;
	if (o->progress)
		pthread_create(&progress_th, NULL, progress_thread, p);
}

void progress_stop(struct progress *p)
{
	if (atomic_exchange(&p->stop, true) == false && progress_th) {
		pthread_join(progress_th, NULL);
		progress_th = 0;
	}
}

/* ---- small modes ---- */

/* Whether port is free on loopback for both TCP and UDP (a DNS server needs both). */
static bool port_free(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)port)};
	const int types[] = {SOCK_STREAM, SOCK_DGRAM};

	for (int i = 0; i < 2; i++) {
		int fd = socket(AF_INET, types[i], 0);
		bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (fd >= 0)
			close(fd);
		if (!ok)
			return false;
	}
	return true;
}

/*
 * A port the caller binds later, maybe seconds later. Below the kernel's
 * ephemeral range when there is room: a port from that range can be taken
 * meanwhile as the local end of any outgoing connection, and the harness
 * makes thousands (bench_external once lost its DNS port that way).
 */
static int run_port(void)
{
	unsigned lo = 0, hi = 0;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f) {
		if (fscanf(f, "%u %u", &lo, &hi) != 2)
			lo = 0;
		fclose(f);
	}
	if (lo > 11000) {
		srandom((unsigned)(now_ns() ^ (uint64_t)getpid() << 16));
		for (int i = 0; i < 500; i++) {
			unsigned p = 10000 + (unsigned)random() % (lo - 10000);
			if (port_free(p)) {
				printf("%u\n", p);
				return 0;
			}
		}
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, l) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) < 0)
		return 1;
	printf("%u\n", ntohs(a.sin_port));
	close(fd);
	return 0;
}

static int run_hello(const struct opts *o)
{
	uint8_t buf[65536];
	long n = hello_for(o, o->sni, buf, sizeof(buf));

	return fwrite(buf, 1, (size_t)n, stdout) == (size_t)n ? 0 : 1;
}

static void add_pids(struct opts *o, const char *list)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", list);
	for (char *p = strtok(tmp, ", "); p && o->npids < LG_MAX_PIDS; p = strtok(NULL, ", "))
		if (atoi(p) > 0)
			o->pids[o->npids++] = atoi(p);
}

/* The name it was started by: "loadgen" in the build tree, "snigate-loadgen" installed. */
static const char *prog = "loadgen";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s MODE [options]\n"
		"\n"
		"Drives an SNI gateway (or the sink directly) and measures it. Every client\n"
		"connection sends a ClientHello for --sni, then a 20-byte header that tells the\n"
		"sink what to answer. Human-readable lines go to stdout, then one\n"
		"\"result k=v ...\" line for scripts; progress goes to stderr on a terminal.\n"
		"Exit status: 0, 1 when a connection failed (leaked, stuck, wrong bytes, reset,\n"
		"never connected), 2 for bad usage.\n"
		"\n"
		"Client modes (-t the gateway):\n"
		"  reset     denied connections: a hello for --sni (a denied name), then a probe;\n"
		"            the gateway must close without letting a byte through. closes/s and\n"
		"            latency from the last hello byte to RST/EOF; what the client saw\n"
		"            (reset, FIN, TLS alert, timeout, a connect never answered or only\n"
		"            after a SYN retransmission: an overflowing listen queue)\n"
		"  connrate  allowed connections: hello + --req bytes, the sink answers --resp\n"
		"            bytes and closes. connections/s, latency from connect to EOF\n"
		"  mixed     open loop at --rate: --mix percent allowed transfers of -b bytes\n"
		"            (checksummed) to --sni, the rest a denied spray to --deny-sni\n"
		"  bulk      -b bytes per connection one way (--both: both ways at once); MiB/s;\n"
		"            both ends' checksums must match\n"
		"  rr        persistent connections doing --req/--resp round trips; round trips/s\n"
		"  idle      -n relayed connections (each proven with one round trip), then\n"
		"            silent: the gateway's memory per connection (needs --pid)\n"
		"Server and tool modes:\n"
		"  sink      -l ADDR: the upstream every client mode talks to (put it behind the\n"
		"            gateway as the allowed name's address and port)\n"
		"  rstd      -l ADDR: the direct reset baseline: peek the hello, close with RST\n"
		"  fwd       -l ADDR --to ADDR: a plain TCP forwarder that lets everything\n"
		"            through (--corrupt OFFSET flips one byte, client to server)\n"
		"  hello     write the exact hello bytes for --sni (and the hello options) to stdout\n"
		"  port      print a loopback port free for TCP and UDP, below the kernel's\n"
		"            ephemeral range when there is room\n"
		"\n"
		"Addresses:\n"
		"  -t, --target ADDR:PORT    the gateway (or the sink, for a baseline)\n"
		"  -l, --listen ADDR:PORT    sink, rstd, fwd: where to listen\n"
		"      --to ADDR:PORT        fwd: where to forward\n"
		"      --deny-target ADDR:PORT  mixed: send the denied spray here instead of -t\n"
		"      --connect PORT        connrate: as an HTTP proxy client, \"CONNECT sni:PORT\"\n"
		"                            first, the hello right behind it (pipelined)\n"
		"The ClientHello:\n"
		"  -s, --sni NAME            the name (default denied.test)\n"
		"      --deny-sni NAME       mixed: the spray's name (default denied.test)\n"
		"  -S, --size BYTES          pad the hello to this size (e.g. 8192)\n"
		"  -r, --records N           split the handshake over N TLS records\n"
		"      --segments N          send the hello in N TCP segments\n"
		"      --grease              GREASE values (RFC 8701)\n"
		"      --pq                  an X25519MLKEM768 key share (a 1,216-byte share)\n"
		"      --ech                 an encrypted_client_hello extension\n"
		"Load:\n"
		"  -n, --count N             connections in all (0: until -d ends)\n"
		"  -d, --duration SECS       run this long\n"
		"  -c, --conns N             concurrent connections (closed loop), or the in-flight\n"
		"                            cap at --rate (default 32)\n"
		"  -T, --threads N           client threads, each pinned to a CPU in turn (default 1)\n"
		"      --rate R              open loop: R arrivals per second (default: closed loop)\n"
		"      --mix PERCENT         mixed: the allowed share (default 10)\n"
		"  -b, --bytes SIZE          bulk: per connection; mixed: per allowed transfer\n"
		"                            (default 1G; K, M, G suffixes)\n"
		"  -B, --both                bulk: both directions at once\n"
		"      --req N, --resp M     connrate, rr: request and response sizes (default 64)\n"
		"      --deadline SECS       a connection not done this long after it started (after\n"
		"                            its hello, for reset) counts as stuck (default 5)\n"
		"      --settle SECS         idle: let memory settle before each reading (default 1)\n"
		"      --corrupt OFFSET      fwd: flip the byte at OFFSET (client to server)\n"
		"Measuring:\n"
		"  -p, --pid P[,P...]        add the CPU time of these processes and their children\n"
		"                            (all threads) per connection or per GiB; repeatable\n"
		"  -q, --quiet               no progress on stderr\n"
		"  -h, --help                this text\n"
		"\n"
		"Measuring a gateway of your own: docs/bench.md.\n",
		prog);
}

int main(int argc, char **argv)
{
	enum {
		O_SEGMENTS = 256,
		O_GREASE,
		O_PQ,
		O_ECH,
		O_RATE,
		O_MIX,
		O_REQ,
		O_RESP,
		O_DEADLINE,
		O_CORRUPT,
		O_DENY,
		O_TO,
		O_DENY_TARGET,
		O_SETTLE,
		O_CONNECT,
	};
	static const struct option lo[] = {
		{"target", required_argument, NULL, 't'},
		{"listen", required_argument, NULL, 'l'},
		{"to", required_argument, NULL, O_TO},
		{"deny-target", required_argument, NULL, O_DENY_TARGET},
		{"settle", required_argument, NULL, O_SETTLE},
		{"connect", required_argument, NULL, O_CONNECT},
		{"sni", required_argument, NULL, 's'},
		{"deny-sni", required_argument, NULL, O_DENY},
		{"size", required_argument, NULL, 'S'},
		{"records", required_argument, NULL, 'r'},
		{"segments", required_argument, NULL, O_SEGMENTS},
		{"grease", no_argument, NULL, O_GREASE},
		{"pq", no_argument, NULL, O_PQ},
		{"ech", no_argument, NULL, O_ECH},
		{"count", required_argument, NULL, 'n'},
		{"duration", required_argument, NULL, 'd'},
		{"conns", required_argument, NULL, 'c'},
		{"threads", required_argument, NULL, 'T'},
		{"rate", required_argument, NULL, O_RATE},
		{"mix", required_argument, NULL, O_MIX},
		{"bytes", required_argument, NULL, 'b'},
		{"both", no_argument, NULL, 'B'},
		{"req", required_argument, NULL, O_REQ},
		{"resp", required_argument, NULL, O_RESP},
		{"deadline", required_argument, NULL, O_DEADLINE},
		{"corrupt", required_argument, NULL, O_CORRUPT},
		{"pid", required_argument, NULL, 'p'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct opts o = {.sni = "denied.test",
			 .deny_sni = "denied.test",
			 .hello = {.records = 1},
			 .segments = 1,
			 .conc = 32,
			 .threads = 1,
			 .bytes = 1ULL << 30,
			 .mix = 10,
			 .req = 64,
			 .resp = 64,
			 .deadline = 5,
			 .corrupt_at = -1,
			 .settle = 1,
			 .progress = isatty(2)};
	const char *addr = NULL, *to = NULL, *deny_to = NULL;
	int opt;

	const char *slash = strrchr(argv[0], '/');
	prog = slash ? slash + 1 : argv[0];
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *mode = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "t:l:s:S:r:n:d:c:T:b:Bp:qh", lo, NULL)) != -1) {
		switch (opt) {
		case 't':
		case 'l':
			addr = optarg;
			break;
		case O_TO:
			to = optarg;
			break;
		case O_DENY_TARGET:
			deny_to = optarg;
			break;
		case O_SETTLE:
			o.settle = atof(optarg);
			break;
		case O_CONNECT:
			o.connect_port = (unsigned)atoi(optarg);
			break;
		case 's':
			o.sni = optarg;
			break;
		case O_DENY:
			o.deny_sni = optarg;
			break;
		case 'S':
			o.hello.size = (size_t)parse_size(optarg);
			break;
		case 'r':
			o.hello.records = (unsigned)atoi(optarg);
			break;
		case O_SEGMENTS:
			o.segments = (unsigned)atoi(optarg);
			break;
		case O_GREASE:
			o.hello.grease = true;
			break;
		case O_PQ:
			o.hello.pq_keyshare = true;
			break;
		case O_ECH:
			o.hello.ech = true;
			break;
		case 'n':
			o.n = strtoul(optarg, NULL, 10);
			break;
		case 'd':
			o.duration = atof(optarg);
			break;
		case 'c':
			o.conc = (unsigned)atoi(optarg);
			break;
		case 'T':
			o.threads = (unsigned)atoi(optarg);
			break;
		case O_RATE:
			o.rate = atof(optarg);
			break;
		case O_MIX:
			o.mix = (unsigned)atoi(optarg);
			break;
		case 'b':
			o.bytes = parse_size(optarg);
			break;
		case 'B':
			o.both = true;
			break;
		case O_REQ:
			o.req = (unsigned)parse_size(optarg);
			break;
		case O_RESP:
			o.resp = (unsigned)parse_size(optarg);
			break;
		case O_DEADLINE:
			o.deadline = atof(optarg);
			break;
		case O_CORRUPT:
			o.corrupt_at = atol(optarg);
			break;
		case 'p':
			add_pids(&o, optarg);
			break;
		case 'q':
			o.progress = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!strcmp(mode, "port"))
		return run_port();
	if (!strcmp(mode, "hello"))
		return run_hello(&o);
	if (!addr || parse_addr(addr, &o.addr, &o.addr_len) < 0 || !o.threads || !o.conc) {
		fprintf(stderr, "loadgen: need -t/-l ADDR:PORT (and non-zero -c, -T)\n");
		return 2;
	}
	if ((to && parse_addr(to, &o.fwd_to, &o.fwd_to_len) < 0) ||
	    (deny_to && parse_addr(deny_to, &o.deny_addr, &o.deny_addr_len) < 0)) {
		fprintf(stderr, "loadgen: bad --to or --deny-target address\n");
		return 2;
	}
	/* Open-loop runs hold many sockets at once. */
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!strcmp(mode, "reset"))
		return run_reset(&o);
	if (!strcmp(mode, "connrate"))
		return run_connrate(&o);
	if (!strcmp(mode, "mixed"))
		return run_mixed(&o);
	if (!strcmp(mode, "bulk"))
		return run_bulk(&o);
	if (!strcmp(mode, "rr"))
		return run_rr(&o);
	if (!strcmp(mode, "idle"))
		return run_idle(&o);
	if (!strcmp(mode, "sink"))
		return run_sink(&o);
	if (!strcmp(mode, "rstd"))
		return run_rstd(&o);
	if (!strcmp(mode, "fwd"))
		return to ? run_fwd(&o) : 2;
	fprintf(stderr, "%s: unknown mode %s\n", prog, mode);
	usage(stderr);
	return 2;
}
