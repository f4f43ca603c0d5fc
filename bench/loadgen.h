/* SPDX-License-Identifier: MIT */
/*
 * loadgen: the pieces of the load generator shared by its workload files.
 *
 * loadgen.c     command line, /proc accounting, progress, percentiles, reports
 * lg_engine.c   epoll connection engine: reset, connrate, mixed (closed or open loop)
 * lg_stream.c   thread-per-connection workloads: bulk, rr, idle
 * lg_server.c   the far ends: sink, rstd (the direct reset baseline), fwd, port
 *
 * Every client connection sends a ClientHello and then a 20-byte header that
 * tells the sink what to do; the sink skips the hello by its record lengths.
 */
#ifndef SNIGATE_BENCH_LOADGEN_H
#define SNIGATE_BENCH_LOADGEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bench/hello.h"

#define LG_MAGIC    0x534e4947u /* "SNIG": first header word, never 22 (a TLS record) */
#define LG_HDR_LEN  20
#define LG_MAX_PIDS 64

/* What the sink does after the header: hdr = {magic, kind, n_hi, n_lo, arg}. */
enum lg_kind {
	LG_BULK = 0,  /* read n bytes (pattern seeded by arg), answer their 8-byte checksum */
	LG_BULK_BOTH, /* the same, while streaming n bytes of the same pattern back */
	LG_CONNRATE,  /* read n bytes, answer arg bytes, close */
	LG_RR,	      /* repeat: read n bytes, answer arg bytes; until EOF */
	LG_PROBE,     /* sent after a denied hello: a sink that sees it answers "LEAK" */
	LG_KIND__COUNT,
};

struct opts {
	struct sockaddr_storage addr; /* -t target or -l listen address */
	socklen_t addr_len;
	struct sockaddr_storage fwd_to; /* fwd: where to forward */
	socklen_t fwd_to_len;
	struct sockaddr_storage deny_addr; /* mixed: where denied connections go, if not -t */
	socklen_t deny_addr_len;
	const char *sni;	 /* allowed (or, for reset, denied) name */
	const char *deny_sni;	 /* mixed: the name of the spray */
	struct hello_opts hello; /* size, records, grease, pq, ech */
	unsigned segments;	 /* send the hello in this many TCP segments */
	unsigned long n;	 /* connections (0 = until the duration ends) */
	double duration;	 /* seconds; 0 = until n are done */
	double rate;		 /* open loop: connection arrivals per second; 0 = closed loop */
	unsigned mix;		 /* mixed: percent of arrivals that are allowed transfers */
	unsigned conc;		 /* closed loop: concurrent connections; open loop: in-flight cap */
	unsigned threads;	 /* client threads, each pinned to a CPU in turn */
	unsigned long long bytes; /* bulk: per connection; mixed: per allowed transfer */
	unsigned req, resp;	  /* connrate and rr: request and response sizes */
	unsigned connect_port;	  /* connrate: >0 = HTTP CONNECT sni:port first (a proxy client) */
	bool both;		  /* bulk: both directions at once */
	double deadline;	  /* seconds a connection may take before it counts as stuck */
	long corrupt_at; /* fwd: flip the byte at this offset (client to server); -1 = never */
	int pids[LG_MAX_PIDS]; /* gateway processes whose CPU and memory are reported */
	unsigned npids;
	double settle; /* idle: seconds to let memory settle before each reading */
	bool progress; /* live progress on stderr (a terminal, and not --quiet) */
};

/* Workloads; each returns the process exit status (0 ok, 1 errors seen, 2 usage). */
int run_reset(struct opts *o);
int run_connrate(struct opts *o);
int run_mixed(struct opts *o);
int run_bulk(struct opts *o);
int run_rr(struct opts *o);
int run_idle(struct opts *o);
int run_sink(struct opts *o);
int run_rstd(struct opts *o);
int run_fwd(struct opts *o);

/* Shared helpers (loadgen.c). */
uint64_t now_ns(void);
void pin_thread(unsigned i);
/* Total CPU seconds of the --pid processes and their children, all threads. */
double pids_cpu(const struct opts *o);
double self_cpu(void);
/* Sum over the --pid processes and their children of a /proc/PID/{status,smaps_rollup} field, KiB.
 */
long pids_mem_kb(const struct opts *o, const char *file, const char *key);
long meminfo_kb(const char *key);
long sockstat_tcp_pages(void);
void hdr_build(uint32_t hdr[5], enum lg_kind kind, uint64_t n, uint32_t arg);
/* Build the hello from o->hello with name sni; exits on failure. */
long hello_for(const struct opts *o, const char *sni, uint8_t *out, size_t cap);
/* Send the first hello_len bytes of buf in o->segments pieces, then the rest; blocking fd. */
int send_hello_split(int fd, const struct opts *o, const uint8_t *buf, size_t hello_len,
		     size_t total);
ssize_t read_full(int fd, void *buf, size_t n);
ssize_t write_full(int fd, const void *buf, size_t n);

/* Word-wise streaming checksum: equal for equal streams however they were cut. */
struct csum {
	uint64_t h;
	uint8_t carry[8];
	unsigned nc;
};
void csum_init(struct csum *c);
void csum_update(struct csum *c, const uint8_t *p, size_t n);
uint64_t csum_final(const struct csum *c);
void pattern_fill(uint8_t *buf, size_t n, uint64_t seed);

/* A growable array of latencies in nanoseconds. */
struct lat {
	uint64_t *v;
	size_t n, cap;
};
void lat_add(struct lat *l, uint64_t ns);
void lat_merge(struct lat *into, struct lat *from);
void lat_sort(struct lat *l);
/* The p-quantile (p in [0, 1]) of a sorted l in microseconds; 0 when empty. */
double lat_pct_us(const struct lat *l, double p);

/* Progress: workloads bump done and set total/end; a thread prints while on a terminal. */
struct progress {
	const char *what;
	atomic_ullong done;	  /* units so far */
	unsigned long long total; /* units wanted, 0 = unknown */
	uint64_t t0, end_ns;	  /* start, and planned end (0 = unknown) */
	atomic_bool stop;
};
void progress_start(struct progress *p, const struct opts *o, const char *what,
		    unsigned long long total, double seconds);
void progress_stop(struct progress *p);

#endif
