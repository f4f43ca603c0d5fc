/* SPDX-License-Identifier: MIT */
/*
 * lg_stream: the workloads that keep a connection for long, one blocking
 * thread per connection: bulk (throughput, checksummed at both ends), rr
 * (request/response round trips) and idle (memory per held connection).
 */
#include "bench/loadgen.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1 << 18)

/* Connect to the target and send the hello (in --segments pieces) and a header. */
static int open_relayed(const struct opts *o, enum lg_kind kind, uint64_t n, uint32_t arg)
{
	uint8_t buf[65536 + LG_HDR_LEN];
	long hl = hello_for(o, o->sni, buf, sizeof(buf) - LG_HDR_LEN);
	uint32_t hdr[5];
	int one = 1;
	int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	hdr_build(hdr, kind, n, arg);
	memcpy(buf + hl, hdr, LG_HDR_LEN);
	if (connect(fd, (const struct sockaddr *)&o->addr, o->addr_len) < 0 ||
	    send_hello_split(fd, o, buf, (size_t)hl, (size_t)hl + LG_HDR_LEN) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* ---- bulk ---- */

struct bconn {
	const struct opts *o;
	unsigned idx;
	struct progress *prog;
	uint64_t sent_sum, recv_sum, sink_sum;
	unsigned long long got;
	int err;
	pthread_t th, rth;
	int fd;
};

/* Reads the echo (when asked) and then the sink's 8-byte checksum of what it got. */
static void *bulk_reader(void *arg)
{
	struct bconn *b = arg;
	uint8_t *buf = malloc(CHUNK);
	unsigned long long echo = b->o->both ? b->o->bytes : 0;
	struct csum h;
	uint8_t tail[8];
	size_t nt = 0;

	csum_init(&h);
	for (; buf;) {
		ssize_t r = recv(b->fd, buf, CHUNK, 0);
		if (r <= 0)
			break;
		size_t off = 0;
		if (b->got < echo) {
			size_t k = (size_t)(echo - b->got) < (size_t)r ? (size_t)(echo - b->got)
								       : (size_t)r;
			csum_update(&h, buf, k);
			atomic_fetch_add(&b->prog->done, k);
			off = k;
		}
		for (; off < (size_t)r && nt < sizeof(tail); off++)
			tail[nt++] = buf[off];
		b->got += (size_t)r;
	}
	b->recv_sum = csum_final(&h);
	if (nt == sizeof(tail))
		memcpy(&b->sink_sum, tail, sizeof(tail));
	free(buf);
	return NULL;
}

static void *bulk_conn(void *arg)
{
	struct bconn *b = arg;
	const struct opts *o = b->o;
	uint8_t *buf = malloc(CHUNK);
	struct csum h;

	pin_thread(b->idx);
	b->fd = buf ? open_relayed(o, o->both ? LG_BULK_BOTH : LG_BULK, o->bytes, b->idx + 1) : -1;
	if (b->fd < 0) {
		b->err = errno ? errno : ENOMEM;
		free(buf);
		return NULL;
	}
	pthread_create(&b->rth, NULL, bulk_reader, b);
	csum_init(&h);
	pattern_fill(buf, CHUNK, b->idx + 1); /* the seed sent in the header */
	for (unsigned long long left = o->bytes; left;) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		ssize_t w = send(b->fd, buf, n, MSG_NOSIGNAL);
		if (w <= 0) {
			b->err = errno;
			break;
		}
		csum_update(&h, buf, (size_t)w);
		atomic_fetch_add(&b->prog->done, (unsigned long long)w);
		left -= (size_t)w;
	}
	/*
	 * No shutdown(SHUT_WR): the sink knows the length from the header and
	 * answers then closes, so a gateway without half-close (sniproxy, nginx
	 * without proxy_half_close) still delivers the checksum.
	 */
	b->sent_sum = csum_final(&h);
	pthread_join(b->rth, NULL);
	close(b->fd);
	free(buf);
	return NULL;
}

int run_bulk(struct opts *o)
{
	struct bconn *bs = calloc(o->conc, sizeof(*bs));
	unsigned long long moved = (unsigned long long)o->conc * o->bytes * (o->both ? 2 : 1);
	struct progress prog;
	int bad = 0;

	/*
	 * Both directions carry the same pattern from the same seed, so the
	 * echo must have the checksum of what was sent.
	 */
	progress_start(&prog, o, "bulk bytes", moved, 0);
	double cpu0 = pids_cpu(o);
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < o->conc; i++) {
		bs[i].o = o;
		bs[i].idx = i;
		bs[i].prog = &prog;
		pthread_create(&bs[i].th, NULL, bulk_conn, &bs[i]);
	}
	for (unsigned i = 0; i < o->conc; i++)
		pthread_join(bs[i].th, NULL);
	double secs = (double)(now_ns() - t0) / 1e9;
	double cpu = pids_cpu(o) - cpu0;
	progress_stop(&prog);
	for (unsigned i = 0; i < o->conc; i++) {
		unsigned long long want = 8 + (o->both ? o->bytes : 0);
		if (bs[i].err) {
			fprintf(stderr, "loadgen: bulk connection %u: %s\n", i,
				strerror(bs[i].err));
			bad = 1;
		} else if (bs[i].got != want) {
			fprintf(stderr,
				"loadgen: bulk connection %u got %llu bytes back, want %llu\n", i,
				bs[i].got, want);
			bad = 1;
		} else if (bs[i].sink_sum != bs[i].sent_sum) {
			fprintf(stderr,
				"loadgen: bulk connection %u: the sink's checksum differs "
				"from ours: the bytes were changed on the way\n",
				i);
			bad = 1;
		} else if (o->both && bs[i].recv_sum != bs[i].sent_sum) {
			fprintf(stderr,
				"loadgen: bulk connection %u: the echo's checksum differs\n", i);
			bad = 1;
		}
	}
	double gib = (double)moved / (1 << 30);
	printf("bulk: %u conns%s, %.2f GiB moved in %.2f s: %.0f MiB/s%s\n", o->conc,
	       o->both ? " both ways" : "", gib, secs, (double)moved / (1 << 20) / secs,
	       bad ? " (ERRORS)" : "");
	if (o->npids)
		printf("bulk cpu: %.2f s of the gateway, %.3f s per GiB\n", cpu, cpu / gib);
	printf("result mode=bulk conns=%u both=%d ok=%d gib=%.3f secs=%.3f mibs=%.1f cpu=%.3f "
	       "cpu_s_gib=%.4f\n",
	       o->conc, o->both, !bad, gib, secs, (double)moved / (1 << 20) / secs, cpu,
	       o->npids ? cpu / gib : 0.0);
	free(bs);
	return bad;
}

/* ---- rr ---- */

struct rrconn {
	const struct opts *o;
	unsigned idx;
	uint64_t end_ns;
	struct progress *prog;
	struct lat lat;
	unsigned long trips;
	int err;
	pthread_t th;
};

static void *rr_conn(void *arg)
{
	struct rrconn *c = arg;
	const struct opts *o = c->o;
	uint8_t *req = calloc(1, o->req ? o->req : 1), *resp = malloc(o->resp ? o->resp : 1);
	int fd;

	pin_thread(c->idx);
	fd = req && resp ? open_relayed(o, LG_RR, o->req, o->resp) : -1;
	if (fd < 0) {
		c->err = errno ? errno : ENOMEM;
		goto out;
	}
	memset(req, 'r', o->req);
	while (now_ns() < c->end_ns) {
		uint64_t t = now_ns();
		if (write_full(fd, req, o->req) < 0 ||
		    read_full(fd, resp, o->resp) != (ssize_t)o->resp) {
			c->err = errno ? errno : EPIPE;
			break;
		}
		lat_add(&c->lat, now_ns() - t);
		c->trips++;
		atomic_fetch_add(&c->prog->done, 1);
	}
	close(fd);
out:
	free(req);
	free(resp);
	return NULL;
}

int run_rr(struct opts *o)
{
	struct rrconn *cs = calloc(o->conc, sizeof(*cs));
	struct progress prog;
	struct lat all = {0};
	unsigned long trips = 0;
	int bad = 0;

	if (o->duration <= 0)
		o->duration = 5;
	progress_start(&prog, o, "rr round trips", 0, o->duration);
	double cpu0 = pids_cpu(o), self0 = self_cpu();
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < o->conc; i++) {
		cs[i] = (struct rrconn){.o = o,
					.idx = i,
					.end_ns = t0 + (uint64_t)(o->duration * 1e9),
					.prog = &prog};
		pthread_create(&cs[i].th, NULL, rr_conn, &cs[i]);
	}
	for (unsigned i = 0; i < o->conc; i++) {
		pthread_join(cs[i].th, NULL);
		if (cs[i].err) {
			fprintf(stderr, "loadgen: rr connection %u: %s\n", i, strerror(cs[i].err));
			bad = 1;
		}
		trips += cs[i].trips;
		lat_merge(&all, &cs[i].lat);
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	double cpu = pids_cpu(o) - cpu0, self = self_cpu() - self0;
	progress_stop(&prog);
	lat_sort(&all);
	printf("rr: %u conns, %lu round trips of %u + %u bytes in %.2f s: %.0f round trips/s%s\n",
	       o->conc, trips, o->req, o->resp, secs, (double)trips / secs, bad ? " (ERRORS)" : "");
	printf("rr latency us: p50 %.1f p99 %.1f p99.9 %.1f max %.0f\n", lat_pct_us(&all, 0.5),
	       lat_pct_us(&all, 0.99), lat_pct_us(&all, 0.999), lat_pct_us(&all, 1));
	if (o->npids)
		printf("rr cpu: %.2f s of the gateway, %.2f us per round trip\n", cpu,
		       trips ? cpu * 1e6 / (double)trips : 0.0);
	printf("result mode=rr conns=%u ok=%d trips=%lu secs=%.3f rate=%.1f p50=%.1f p99=%.1f "
	       "p999=%.1f max=%.1f cpu=%.3f cpu_us=%.3f self_us=%.3f\n",
	       o->conc, !bad, trips, secs, (double)trips / secs, lat_pct_us(&all, 0.5),
	       lat_pct_us(&all, 0.99), lat_pct_us(&all, 0.999), lat_pct_us(&all, 1), cpu,
	       trips && o->npids ? cpu * 1e6 / (double)trips : 0.0,
	       trips ? self * 1e6 / (double)trips : 0.0);
	free(all.v);
	free(cs);
	return bad || !trips;
}

/* ---- idle ---- */

/*
 * Open n relayed connections, prove each with one 1-byte round trip (so the
 * gateway has resolved, connected and relayed), then let them go silent and
 * report what they cost: the gateway's RSS and PSS, and the machine's kernel
 * memory (slab, and pages charged to TCP socket buffers) before and after.
 * Kernel memory is the whole machine's, so it includes the client's and the
 * sink's sockets too: compare with the same run against the sink directly.
 */
int run_idle(struct opts *o)
{
	int *fds = calloc(o->n, sizeof(*fds));
	unsigned long opened = 0;
	struct progress prog;
	int broken = 0;

	if (!fds || !o->n)
		return 2;
	o->req = o->resp = 1;
	progress_start(&prog, o, "idle connections", o->n, 0);
	usleep((useconds_t)(o->settle * 1e6));
	long rss0 = pids_mem_kb(o, "status", "VmRSS"), pss0 = pids_mem_kb(o, "smaps_rollup", "Pss");
	long slab0 = meminfo_kb("Slab"), unrec0 = meminfo_kb("SUnreclaim");
	long tcp0 = sockstat_tcp_pages();
	for (unsigned long i = 0; i < o->n; i++) {
		char b = 'i';
		fds[i] = open_relayed(o, LG_RR, 1, 1);
		if (fds[i] < 0 || write_full(fds[i], &b, 1) < 0 || read_full(fds[i], &b, 1) != 1) {
			fprintf(stderr, "loadgen: idle connection %lu: %s\n", i,
				errno ? strerror(errno) : "closed");
			if (fds[i] >= 0)
				close(fds[i]);
			break;
		}
		opened++;
		atomic_fetch_add(&prog.done, 1);
	}
	progress_stop(&prog);
	usleep((useconds_t)(o->settle * 1e6)); /* let per-connection setup memory settle */
	long rss1 = pids_mem_kb(o, "status", "VmRSS"), pss1 = pids_mem_kb(o, "smaps_rollup", "Pss");
	long slab1 = meminfo_kb("Slab"), unrec1 = meminfo_kb("SUnreclaim");
	long tcp1 = sockstat_tcp_pages();
	for (unsigned long i = 0; i < opened; i++) {
		char b;
		if (recv(fds[i], &b, 1, MSG_DONTWAIT) == 0 || errno == ECONNRESET)
			broken++;
	}
	double per = opened ? 1024.0 / (double)opened : 0;
	printf("idle: %lu connections held (each proven by a round trip), %d closed by the far "
	       "side\n",
	       opened, broken);
	if (o->npids)
		printf("idle: gateway RSS %+ld KiB = %.0f bytes per connection, PSS %+ld KiB = %.0f "
		       "bytes per connection\n",
		       rss1 - rss0, (double)(rss1 - rss0) * per, pss1 - pss0,
		       (double)(pss1 - pss0) * per);
	printf("idle: machine slab %+ld KiB (unreclaimable %+ld KiB) = %.0f bytes per connection, "
	       "TCP buffers %+ld pages; all sockets on the path included\n",
	       slab1 - slab0, unrec1 - unrec0, (double)(slab1 - slab0) * per, tcp1 - tcp0);
	printf("result mode=idle conns=%lu broken=%d rss_b=%.0f pss_b=%.0f slab_b=%.0f "
	       "unrec_b=%.0f tcp_pages=%ld\n",
	       opened, broken, o->npids ? (double)(rss1 - rss0) * per : 0.0,
	       o->npids ? (double)(pss1 - pss0) * per : 0.0, (double)(slab1 - slab0) * per,
	       (double)(unrec1 - unrec0) * per, tcp1 - tcp0);
	for (unsigned long i = 0; i < opened; i++)
		close(fds[i]);
	free(fds);
	return opened == o->n && !broken ? 0 : 1;
}
