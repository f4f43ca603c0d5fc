/* SPDX-License-Identifier: MIT */
/*
 * loadgen: drive an SNI gateway (or a sink directly) and measure it.
 *
 *   loadgen reset -t 127.0.0.1:8443 -n 20000 -c 64 --sni denied.example [-T threads]
 *       Every connection sends one ClientHello with a denied name and waits
 *       for the gateway to close it. Reports closes/s and latency from the
 *       last hello byte to RST/EOF. A connection that receives any byte, or
 *       is not closed within 5 s, is a failure: a gateway that lets a denied
 *       name through shows up as failing, not as a number.
 *   loadgen bulk -t 127.0.0.1:8443 --sni allowed.example -b 1G [-c conns] [--both]
 *       Sends a ClientHello, then the bytes; with --both the sink sends the
 *       same amount back at the same time. Reports MiB/s; the sink's
 *       checksum of what it received must equal ours.
 *   loadgen idle -t 127.0.0.1:8443 --sni allowed.example -n 2000 --pid P
 *       Holds n relayed connections silent and reports the gateway's RSS
 *       and the machine's slab memory per connection.
 *   loadgen sink -l 127.0.0.1:9000
 *       Upstream for bulk: reads everything (the hello first), and, when the
 *       client asked for it, streams back. One thread per connection.
 *
 * --pid P adds the CPU time the process P used during the run (all threads,
 * from /proc/P/stat), per connection or per GiB: on a shared 2-core machine
 * CPU per unit of work is steadier than wall time.
 *
 * Load is closed-loop with epoll; every request loop is bounded by count and
 * time, and only the given address is ever contacted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/hello.h"

#define MAX_LAT	    (1u << 22)
#define DEADLINE_NS (5ULL * 1000000000ULL)
/* Bulk framing: after the hello, 8 bytes: payload length, and whether to echo it. */
#define MAGIC 0x534e4947u

struct opts {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	const char *sni;
	size_t hello_size;
	unsigned records;
	unsigned long n;
	unsigned conc;
	unsigned threads;
	unsigned long long bytes;
	bool both;
	int pid;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	char *h = host;
	if (h[0] == '[') {
		h++;
		h[strlen(h) - 1] = 0;
	}
	int port = atoi(colon + 1);
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *a4 = (void *)ss;
	struct sockaddr_in6 *a6 = (void *)ss;
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
		return v << 10;
	default:
		return v;
	}
}

static double cpu_seconds(int pid)
{
	char path[64], buf[1024];
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields 14 and 15 (utime, stime) follow the ")" that ends the command name. */
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- reset workload ---- */

struct rconn {
	int fd;
	uint64_t sent_at; /* when the last hello byte went out; 0 = still connecting */
};

struct rthread {
	const struct opts *o;
	unsigned long todo;
	unsigned conc;
	const uint8_t *hello;
	size_t hello_len;
	uint64_t *lat;
	unsigned long n_lat;
	unsigned long ok, leaked, stuck, errors;
	pthread_t th;
};

static atomic_ulong lat_pos;

static int rconn_open(struct rthread *t, int ep, struct rconn *c)
{
	c->fd = socket(t->o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->sent_at = 0;
	if (connect(c->fd, (const struct sockaddr *)&t->o->addr, t->o->addr_len) < 0 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		return -1;
	}
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c};
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

/* Close a finished connection and start the next one, if any are left to start. */
static void rconn_recycle(struct rthread *t, int ep, struct rconn *c, unsigned long *started,
			  unsigned long *done)
{
	close(c->fd);
	c->fd = -1;
	(*done)++;
	if (*started < t->todo) {
		(*started)++;
		if (rconn_open(t, ep, c) < 0) {
			t->errors++;
			(*done)++;
		}
	}
}

static void *reset_thread(void *arg)
{
	struct rthread *t = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct rconn *cs = calloc(t->conc, sizeof(*cs));
	unsigned long started = 0, done = 0;
	struct epoll_event evs[256];

	for (unsigned i = 0; i < t->conc; i++)
		cs[i].fd = -1;
	for (unsigned i = 0; i < t->conc && started < t->todo; i++, started++)
		if (rconn_open(t, ep, &cs[i]) < 0) {
			t->errors++;
			done++;
		}
	while (done < t->todo) {
		int n = epoll_wait(ep, evs, 256, 100);
		uint64_t now = now_ns();
		for (int i = 0; i < n; i++) {
			struct rconn *c = evs[i].data.ptr;
			bool finished = false;
			if (!c->sent_at) {
				int err = 0;
				socklen_t l = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
				if (err) {
					t->errors++;
					finished = true;
				} else if (evs[i].events & EPOLLOUT) {
					if (send(c->fd, t->hello, t->hello_len, MSG_NOSIGNAL) !=
					    (ssize_t)t->hello_len) {
						t->errors++;
						finished = true;
					} else {
						c->sent_at = now_ns();
						struct epoll_event ev = {.events = EPOLLIN |
										   EPOLLRDHUP,
									 .data.ptr = c};
						epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
					}
				}
			} else {
				char b[256];
				ssize_t r = recv(c->fd, b, sizeof(b), 0);
				if (r > 0) {
					t->leaked++; /* the gateway answered: it did not reset */
				} else if (r == 0 || errno == ECONNRESET) {
					t->ok++;
					unsigned long k = atomic_fetch_add(&lat_pos, 1);
					if (k < MAX_LAT)
						t->lat[k] = now - c->sent_at;
				} else if (errno == EAGAIN) {
					continue;
				} else {
					t->errors++;
				}
				finished = true;
			}
			if (finished)
				rconn_recycle(t, ep, c, &started, &done);
		}
		/* A connection the gateway never closes is counted, then dropped. */
		now = now_ns();
		for (unsigned i = 0; i < t->conc; i++) {
			struct rconn *c = &cs[i];
			if (c->fd >= 0 && c->sent_at && now > c->sent_at + DEADLINE_NS) {
				t->stuck++;
				rconn_recycle(t, ep, c, &started, &done);
			}
		}
	}
	free(cs);
	close(ep);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int run_reset(struct opts *o)
{
	uint8_t hello[16384];
	struct hello_opts ho = {.sni = o->sni, .size = o->hello_size, .records = o->records};
	long hl = hello_build(&ho, hello, sizeof(hello));
	if (hl < 0) {
		fprintf(stderr, "loadgen: cannot build that ClientHello\n");
		return 2;
	}
	uint64_t *lat = calloc(MAX_LAT, sizeof(*lat));
	struct rthread *ts = calloc(o->threads, sizeof(*ts));
	double cpu0 = cpu_seconds(o->pid);
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < o->threads; i++) {
		ts[i].o = o;
		ts[i].todo = o->n / o->threads + (i < o->n % o->threads);
		ts[i].conc = o->conc / o->threads ? o->conc / o->threads : 1;
		ts[i].hello = hello;
		ts[i].hello_len = (size_t)hl;
		ts[i].lat = lat;
		pthread_create(&ts[i].th, NULL, reset_thread, &ts[i]);
	}
	unsigned long ok = 0, leaked = 0, stuck = 0, errors = 0;
	for (unsigned i = 0; i < o->threads; i++) {
		pthread_join(ts[i].th, NULL);
		ok += ts[i].ok;
		leaked += ts[i].leaked;
		stuck += ts[i].stuck;
		errors += ts[i].errors;
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	double cpu = cpu_seconds(o->pid) - cpu0;
	unsigned long nl = atomic_load(&lat_pos);
	if (nl > MAX_LAT)
		nl = MAX_LAT;
	qsort(lat, nl, sizeof(*lat), cmp_u64);
#define PCT(p) (nl ? (double)lat[(size_t)((double)(nl - 1) * (p))] / 1000.0 : 0.0)
	printf("reset: %lu closed, %lu leaked, %lu not closed, %lu errors in %.2f s: %.0f closes/s\n",
	       ok, leaked, stuck, errors, secs, (double)ok / secs);
	printf("reset latency us: p50 %.0f p99 %.0f p99.9 %.0f max %.0f\n", PCT(0.5), PCT(0.99),
	       PCT(0.999), PCT(1.0));
	if (o->pid > 0)
		printf("reset cpu: %.2f s of pid %d, %.1f us per connection\n", cpu, o->pid,
		       ok ? cpu * 1e6 / (double)ok : 0.0);
	free(lat);
	free(ts);
	return leaked || stuck || errors ? 1 : 0;
}

/* ---- bulk workload ---- */

/*
 * A streaming checksum that works a word at a time (a byte-wise FNV limits a
 * single stream to ~500 MiB/s, less than the relay under test) and gives the
 * same value however the stream was cut into reads.
 */
struct csum {
	uint64_t h;
	uint8_t carry[8];
	unsigned nc;
};

#define CSUM_INIT                          \
	{                                  \
		.h = 0xcbf29ce484222325ULL \
	}

static inline uint64_t mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 32);
}

static void csum_update(struct csum *c, const uint8_t *p, size_t n)
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

static uint64_t csum_final(const struct csum *c)
{
	uint64_t w = 0;
	memcpy(&w, c->carry, c->nc);
	return mix(mix(c->h, w), c->nc);
}

static void fill(uint8_t *buf, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		buf[i] = (uint8_t)(seed >> 56);
	}
}

struct bconn {
	const struct opts *o;
	unsigned idx;
	uint64_t sent_sum, recv_sum, sink_sum;
	unsigned long long got;
	int err;
	pthread_t th, rth;
	int fd;
};

static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t r = recv(fd, (char *)buf + off, n - off, 0);
		if (r <= 0)
			return r < 0 ? -1 : (ssize_t)off;
		off += (size_t)r;
	}
	return (ssize_t)off;
}

/* Reads the echo (when asked) and then the sink's 8-byte checksum of what it got. */
static void *bulk_reader(void *arg)
{
	struct bconn *b = arg;
	static __thread uint8_t buf[1 << 18];
	unsigned long long echo = b->o->both ? b->o->bytes : 0;
	struct csum h = CSUM_INIT;
	uint8_t tail[8];
	size_t nt = 0;

	for (;;) {
		ssize_t r = recv(b->fd, buf, sizeof(buf), 0);
		if (r <= 0)
			break;
		size_t off = 0;
		if (b->got < echo) {
			size_t k = (size_t)(echo - b->got) < (size_t)r ? (size_t)(echo - b->got)
								       : (size_t)r;
			csum_update(&h, buf, k);
			off = k;
		}
		for (; off < (size_t)r && nt < sizeof(tail); off++)
			tail[nt++] = buf[off];
		b->got += (size_t)r;
	}
	b->recv_sum = csum_final(&h);
	if (nt == sizeof(tail))
		memcpy(&b->sink_sum, tail, sizeof(tail));
	return NULL;
}

static void *bulk_conn(void *arg)
{
	struct bconn *b = arg;
	const struct opts *o = b->o;
	uint8_t hello[16384];
	static __thread uint8_t buf[1 << 18];
	struct hello_opts ho = {.sni = o->sni, .size = o->hello_size, .records = o->records};
	long hl = hello_build(&ho, hello, sizeof(hello));

	b->fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (hl < 0 || connect(b->fd, (const struct sockaddr *)&o->addr, o->addr_len) < 0) {
		b->err = errno ? errno : EINVAL;
		return NULL;
	}
	uint32_t hdr[5] = {htonl(MAGIC), htonl(o->both), htonl((uint32_t)(o->bytes >> 32)),
			   htonl((uint32_t)o->bytes), htonl(b->idx + 1)};
	if (send(b->fd, hello, (size_t)hl, MSG_NOSIGNAL) != hl ||
	    send(b->fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != sizeof(hdr)) {
		b->err = errno;
		return NULL;
	}
	pthread_create(&b->rth, NULL, bulk_reader, b);
	struct csum h = CSUM_INIT;
	fill(buf, sizeof(buf), b->idx + 1); /* the seed sent in hdr[4] */
	for (unsigned long long left = o->bytes; left;) {
		size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t w = send(b->fd, buf, n, MSG_NOSIGNAL);
		if (w <= 0) {
			b->err = errno;
			break;
		}
		csum_update(&h, buf, (size_t)w);
		left -= (size_t)w;
	}
	b->sent_sum = csum_final(&h);
	shutdown(b->fd, SHUT_WR);
	pthread_join(b->rth, NULL);
	close(b->fd);
	return NULL;
}

static int run_bulk(struct opts *o)
{
	struct bconn *bs = calloc(o->conc, sizeof(*bs));
	double cpu0 = cpu_seconds(o->pid);
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < o->conc; i++) {
		bs[i].o = o;
		bs[i].idx = i;
		pthread_create(&bs[i].th, NULL, bulk_conn, &bs[i]);
	}
	int bad = 0;
	unsigned long long moved = 0;
	for (unsigned i = 0; i < o->conc; i++) {
		pthread_join(bs[i].th, NULL);
		if (bs[i].err) {
			fprintf(stderr, "loadgen: connection %u: %s\n", i, strerror(bs[i].err));
			bad = 1;
		}
		/* The sink answers with its checksum of our bytes, then (with --both) the echo. */
		moved += o->bytes + (o->both ? o->bytes : 0);
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	double cpu = cpu_seconds(o->pid) - cpu0;
	for (unsigned i = 0; i < o->conc; i++) {
		unsigned long long want = 8 + (o->both ? o->bytes : 0);
		if (bs[i].got != want) {
			fprintf(stderr, "loadgen: connection %u got %llu bytes back, want %llu\n",
				i, bs[i].got, want);
			bad = 1;
		} else if (bs[i].sink_sum != bs[i].sent_sum) {
			fprintf(stderr, "loadgen: connection %u: sink checksum differs\n", i);
			bad = 1;
		} else if (o->both && bs[i].recv_sum != bs[i].sent_sum) {
			/* Both directions carry the same seeded pattern. */
			fprintf(stderr, "loadgen: connection %u: echo checksum differs\n", i);
			bad = 1;
		}
	}
	printf("bulk: %u conns, %.2f GiB moved in %.2f s: %.0f MiB/s%s\n", o->conc,
	       (double)moved / (1 << 30), secs, (double)moved / (1 << 20) / secs,
	       bad ? " (ERRORS)" : "");
	if (o->pid > 0)
		printf("bulk cpu: %.2f s of pid %d, %.2f s per GiB\n", cpu, o->pid,
		       cpu / ((double)moved / (1 << 30)));
	free(bs);
	return bad;
}

/* ---- idle workload ---- */

static long meminfo_kb(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			v = atol(line + strlen(key) + 1);
	fclose(f);
	return v;
}

static long rss_kb(int pid)
{
	char path[64], line[256];
	long v = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = atol(line + 6);
	fclose(f);
	return v;
}

/*
 * Open n relayed connections that then stay silent, and report what they
 * cost: the gateway's RSS, and the machine's kernel memory (slab and
 * socket pages), before and after. Kernel memory is the whole machine's,
 * so it includes the client's and the sink's sockets too: run it on a quiet
 * machine, and compare with the same run against the sink directly.
 */
static int run_idle(struct opts *o)
{
	uint8_t hello[16384];
	struct hello_opts ho = {.sni = o->sni, .size = o->hello_size};
	long hl = hello_build(&ho, hello, sizeof(hello));
	int *fds = calloc(o->n, sizeof(*fds));
	unsigned long opened = 0;

	if (hl < 0 || !fds)
		return 2;
	sleep(1);
	long rss0 = o->pid > 0 ? rss_kb(o->pid) : 0, slab0 = meminfo_kb("Slab");
	long unrec0 = meminfo_kb("SUnreclaim");
	for (unsigned long i = 0; i < o->n; i++) {
		fds[i] = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    connect(fds[i], (const struct sockaddr *)&o->addr, o->addr_len) < 0 ||
		    send(fds[i], hello, (size_t)hl, MSG_NOSIGNAL) != hl) {
			fprintf(stderr, "loadgen: idle connection %lu: %s\n", i, strerror(errno));
			if (fds[i] >= 0)
				close(fds[i]);
			break;
		}
		opened++;
	}
	sleep(2); /* let the gateway resolve, connect and go quiet */
	long rss1 = o->pid > 0 ? rss_kb(o->pid) : 0, slab1 = meminfo_kb("Slab");
	long unrec1 = meminfo_kb("SUnreclaim");
	int broken = 0;
	for (unsigned long i = 0; i < opened; i++) {
		char b;
		if (recv(fds[i], &b, 1, MSG_DONTWAIT) == 0 || errno == ECONNRESET)
			broken++;
	}
	printf("idle: %lu connections held, %d closed by the far side\n", opened, broken);
	if (o->pid > 0)
		printf("idle: gateway RSS %+ld KiB = %.0f bytes per connection\n", rss1 - rss0,
		       opened ? (double)(rss1 - rss0) * 1024 / (double)opened : 0.0);
	printf("idle: machine slab %+ld KiB (unreclaimable %+ld KiB) = %.0f bytes per connection, "
	       "all sockets on the path included\n",
	       slab1 - slab0, unrec1 - unrec0,
	       opened ? (double)(slab1 - slab0) * 1024 / (double)opened : 0.0);
	for (unsigned long i = 0; i < opened; i++)
		close(fds[i]);
	free(fds);
	return opened == o->n && !broken ? 0 : 1;
}

/* ---- sink ---- */

struct sconn {
	int fd;
};

struct stx {
	int fd;
	unsigned long long n;
	uint32_t seed;
};

static void *sink_tx(void *arg)
{
	struct stx *t = arg;
	static __thread uint8_t buf[1 << 18];
	fill(buf, sizeof(buf), t->seed);
	for (unsigned long long left = t->n; left;) {
		size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t w = send(t->fd, buf, n, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		left -= (size_t)w;
	}
	return NULL;
}

/*
 * The sink skips the ClientHello by its record lengths, reads the header,
 * then the payload; with "both" it streams the same seeded pattern back at
 * the same time. It ends with an 8-byte checksum of what it received.
 */
static void *sink_conn(void *arg)
{
	struct sconn *s = arg;
	int fd = s->fd;
	static __thread uint8_t buf[1 << 18];
	uint8_t rec[5];
	free(s);

	for (;;) {
		if (read_full(fd, rec, 5) != 5 || rec[0] != 22)
			goto out;
		size_t len = (size_t)rec[3] << 8 | rec[4];
		if (read_full(fd, buf, len) != (ssize_t)len)
			goto out;
		/* More handshake records follow when the hello was split. */
		uint8_t next = 0;
		if (recv(fd, &next, 1, MSG_PEEK) == 1 && next == 22)
			continue;
		break;
	}
	uint32_t hdr[5];
	if (read_full(fd, hdr, sizeof(hdr)) != sizeof(hdr) || ntohl(hdr[0]) != MAGIC)
		goto out;
	struct stx tx = {.fd = fd,
			 .n = (unsigned long long)ntohl(hdr[2]) << 32 | ntohl(hdr[3]),
			 .seed = ntohl(hdr[4])};
	bool both = ntohl(hdr[1]);
	pthread_t th;
	if (both)
		pthread_create(&th, NULL, sink_tx, &tx);
	struct csum h = CSUM_INIT;
	unsigned long long left = tx.n;
	while (left) {
		ssize_t r = recv(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf), 0);
		if (r <= 0)
			break;
		csum_update(&h, buf, (size_t)r);
		left -= (size_t)r;
	}
	uint64_t sum = csum_final(&h);
	if (both)
		pthread_join(th, NULL);
	if (!left)
		send(fd, &sum, sizeof(sum), MSG_NOSIGNAL);
out:
	close(fd);
	return NULL;
}

static int run_sink(struct opts *o)
{
	int one = 1;
	int lfd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (const struct sockaddr *)&o->addr, o->addr_len) < 0 ||
	    listen(lfd, 4096) < 0) {
		perror("loadgen: sink");
		return 1;
	}
	printf("sink: listening\n");
	fflush(stdout);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct sconn *s = malloc(sizeof(*s));
		s->fd = fd;
		pthread_t th;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		pthread_create(&th, &at, sink_conn, s);
		pthread_attr_destroy(&at);
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"target", required_argument, NULL, 't'},
		{"listen", required_argument, NULL, 'l'},
		{"sni", required_argument, NULL, 's'},
		{"size", required_argument, NULL, 'S'},
		{"records", required_argument, NULL, 'r'},
		{"count", required_argument, NULL, 'n'},
		{"conns", required_argument, NULL, 'c'},
		{"threads", required_argument, NULL, 'T'},
		{"bytes", required_argument, NULL, 'b'},
		{"both", no_argument, NULL, 'B'},
		{"pid", required_argument, NULL, 'p'},
		{0},
	};
	struct opts o = {.sni = "denied.example",
			 .n = 10000,
			 .conc = 32,
			 .threads = 1,
			 .bytes = 1ULL << 30,
			 .records = 1};
	const char *addr = NULL;
	int opt;

	if (argc < 2) {
		fprintf(stderr, "usage: loadgen reset|bulk|sink [options]; see the comment in "
				"bench/loadgen.c\n");
		return 2;
	}
	const char *mode = argv[1];
	optind = 2;
	while ((opt = getopt_long(argc, argv, "t:l:s:S:r:n:c:T:b:Bp:", lo, NULL)) != -1) {
		switch (opt) {
		case 't':
		case 'l':
			addr = optarg;
			break;
		case 's':
			o.sni = optarg;
			break;
		case 'S':
			o.hello_size = (size_t)parse_size(optarg);
			break;
		case 'r':
			o.records = (unsigned)atoi(optarg);
			break;
		case 'n':
			o.n = strtoul(optarg, NULL, 10);
			break;
		case 'c':
			o.conc = (unsigned)atoi(optarg);
			break;
		case 'T':
			o.threads = (unsigned)atoi(optarg);
			break;
		case 'b':
			o.bytes = parse_size(optarg);
			break;
		case 'B':
			o.both = true;
			break;
		case 'p':
			o.pid = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (!addr || parse_addr(addr, &o.addr, &o.addr_len) < 0 || !o.threads || !o.conc) {
		fprintf(stderr, "loadgen: need -t/-l ADDR:PORT (and non-zero -c, -T)\n");
		return 2;
	}
	if (!strcmp(mode, "reset"))
		return run_reset(&o);
	if (!strcmp(mode, "bulk"))
		return run_bulk(&o);
	if (!strcmp(mode, "sink"))
		return run_sink(&o);
	if (!strcmp(mode, "idle"))
		return run_idle(&o);
	fprintf(stderr, "loadgen: unknown mode %s\n", mode);
	return 2;
}
