/* SPDX-License-Identifier: MIT */
/*
 * harness: real peers on loopback around a real snigate.
 *
 * Each test gets its own temp dir, ports and processes, so nothing one test
 * leaves behind can decide another's outcome. Children run in their own
 * process group with PR_SET_PDEATHSIG, so a test that criterion kills for its
 * timeout still takes them down; otherwise h_teardown() (every suite's .fini)
 * kills and reaps them by pid, also after a failed assertion.
 *
 * The functions assert (cr_assert) on anything that would make the test
 * meaningless, such as a peer that does not start; outcomes under test are
 * returned to the caller instead.
 */
#ifndef SNIGATE_TEST_HARNESS_H
#define SNIGATE_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench/hello.h"

/* ---- processes and files ---- */

struct h_proc {
	pid_t pid; /* also its process group; stays set after reaping, for logs */
	char name[32];
	char out[256]; /* stdout goes here */
	char err[256]; /* stderr goes here */
	int status;    /* wait status, once reaped */
	bool reaped;
	bool gateway; /* a snigate that should stop cleanly on SIGTERM, sanitizers quiet */
	/*
	 * A gateway's TCP sockets and other non-pipe fds once it said ready;
	 * at teardown, with every client and sink closed, its TCP sockets
	 * must be back to that count (h_teardown()).
	 */
	bool has_base;
	int base_sockets, base_other;
};

uint64_t h_now_ms(void); /* monotonic */
void h_sleep_ms(unsigned ms);
const char *h_dir(void); /* this test's temp dir, made on first use */
/* dir/name into buf; returns buf. */
const char *h_path(char *buf, size_t len, const char *name);
void h_write_file(const char *path, const char *text);
/* Whole file, NUL-terminated; "" when it does not exist. Freed by h_teardown(). */
char *h_read_file(const char *path);
/* Poll a file until it holds needle; false after timeout_ms. */
bool h_file_wait(const char *path, const char *needle, int timeout_ms);

/* A free loopback TCP port (bound to 0 and released: a rare race is possible). */
int h_free_port(void);
/* Poll until something accepts on 127.0.0.1:port. */
bool h_port_wait(int port, int timeout_ms);

/* Start argv (NULL-terminated) with stdin from stdin_path (NULL: /dev/null). */
struct h_proc *h_spawn(const char *name, const char *const argv[], const char *stdin_path);
/* Reap without blocking; true while the process runs. */
bool h_alive(struct h_proc *p);
/* Wait up to timeout_ms for the process to exit by itself; false if it did not. */
bool h_wait_exit(struct h_proc *p, int timeout_ms);
/* Send sig, wait up to timeout_ms, then SIGKILL the group. Returns the wait status. */
int h_stop(struct h_proc *p, int sig, int timeout_ms);
/* Exit code, 128 + signal, or -1 when it ran past timeout_ms (it is then killed). */
int h_exit_code(const struct h_proc *p);
/* Run to completion: returns h_exit_code(); *out (may be NULL) gets the process. */
int h_run(const char *name, const char *const argv[], const char *stdin_path, int timeout_ms,
	  struct h_proc **out);

/*
 * Stop every snigate with SIGTERM (so a sanitizer build checks for leaks),
 * kill and reap everything else this test started, stop the sinks, remove
 * the dir. A snigate that did not exit 0 or left a sanitizer report is
 * printed and the test process aborts, since criterion ignores assertions
 * made in .fini.
 */
void h_teardown(void);

/* ---- peers ---- */

struct h_env {
	int dns_port; /* unbound on 127.0.0.1, UDP and TCP */
	int tls_port; /* openssl s_server -www */
	char cert[256];
	char key[256];
	struct h_proc *unbound;
	struct h_proc *s_server;
};
extern struct h_env H;

/*
 * unbound, authoritative for "test." from local data: every name the tests
 * use resolves to 127.0.0.1 except nx.test (NXDOMAIN), v6only.test (AAAA
 * only), multi.test (127.0.0.2, then 127.0.0.1) and refused.test (REFUSED).
 * Verified with real queries before it is handed out.
 */
void h_start_unbound(void);
/* A UDP port that takes DNS queries and never answers. */
int h_dns_blackhole(void);
/*
 * A TCP port whose listener never accepts and whose queue is already full:
 * the kernel drops further SYNs, so a connect there neither succeeds nor fails.
 */
int h_listen_full(void);
/* Self-signed P-256 certificate for allowed.test, *.wild.test and big.test. */
void h_make_cert(void);
/* openssl s_server -www with that certificate (makes it first if needed). */
void h_start_s_server(void);

/* ---- snigate ---- */

struct h_gw {
	struct h_proc *p;
	int port;	   /* where it listens */
	int upstream_port; /* --upstream-port */
};

/*
 * Start snigate on a fresh port with the standard test allowlist, unbound as
 * its resolver, 2 threads and a 1 s hello timeout; extra (NULL-terminated,
 * may be NULL) is appended. Waits for "snigate: ready".
 */
struct h_gw h_snigate(int upstream_port, const char *const extra[]);
/* The same with another DNS server on 127.0.0.1:dns_port (0: unbound). */
struct h_gw h_snigate_dns(int upstream_port, int dns_port, const char *const extra[]);
/* snigate with exactly these arguments, listening on port; waits for ready. */
struct h_gw h_snigate_args(int port, const char *const args[]);
/* The same without the loopback --allow-upstream: the upstream policy as configured. */
struct h_gw h_snigate_bare(int port, const char *const args[]);
/* The admin endpoint's port, from the ready line; 0 when it has none. */
int h_admin_port(const struct h_gw *g);
/* The control endpoint's port, likewise (h_snigate*() start it on 127.0.0.1:0). */
int h_control_port(const struct h_gw *g);
/*
 * SIGTERM and wait: returns the exit code (-1 when it had to be killed).
 * Fails the test if snigate's stderr holds a sanitizer report.
 */
int h_snigate_stop(struct h_gw *g);
/*
 * A counter from the last "snigate: stats {...}" line on stderr; false when
 * the line or the key is missing.
 */
bool h_stats(const struct h_gw *g, const char *key, long long *val);

/* Access log: wait for a stdout line holding every needle; copy it to line. */
bool h_log_wait(const struct h_gw *g, const char *const needles[], int timeout_ms, char *line,
		size_t len);
/* Access log lines holding needle (NULL: all lines). */
int h_log_count(const struct h_gw *g, const char *needle);
/* Field of a flat JSON object: a string (false for null or missing) or a number. */
bool h_json_str(const char *line, const char *key, char *out, size_t len);
bool h_json_num(const char *line, const char *key, long long *v);

/* Number of open fds of pid, and how many are sockets and pipes. */
int h_fd_count(pid_t pid, int *sockets, int *pipes);
/* "socket: x3, pipe: x4, anon_inode:[io_uring] x2, ..." into buf. */
void h_fd_summary(pid_t pid, char *buf, size_t len);

/* ---- raw clients ---- */

int h_connect(int port);  /* blocking, TCP_NODELAY, 127.0.0.1 */
int h_connect6(int port); /* the same on [::1] */
/* The same from src, an address on lo (127.0.0.2 ...): a client a source CIDR can tell apart. */
int h_connect_from(const char *src, int port);
/*
 * curl from source address src to https://host/ on 127.0.0.1:port (the
 * gateway, or a balancer in front of it), checking the test certificate:
 * the HTTP code, or minus curl's exit status; curl's stderr into err.
 */
int h_curl_from(int port, const char *src, const char *host, char *err, size_t len);
/* hello_build() into buf, asserting it worked; returns the length. */
size_t h_hello(const struct hello_opts *o, uint8_t *buf, size_t cap);
void h_send_all(int fd, const void *buf, size_t len);

enum h_outcome {
	H_RESET,   /* ECONNRESET */
	H_EOF,	   /* orderly close */
	H_DATA,	   /* bytes arrived */
	H_TIMEOUT, /* nothing within the time */
	H_ERROR,   /* another errno */
};
/*
 * Wait for the first thing to happen on fd: bytes (up to len of them are
 * read into buf, *got says how many), EOF or an error.
 */
enum h_outcome h_wait(int fd, int timeout_ms, void *buf, size_t len, size_t *got);
const char *h_outcome_str(enum h_outcome o);
/* Read exactly len bytes; returns the outcome that stopped it early, or H_DATA. */
enum h_outcome h_recv_all(int fd, void *buf, size_t len, int timeout_ms);
/* Close with SO_LINGER {1, 0}: an RST instead of a FIN. */
void h_close_rst(int fd);
/*
 * Wait until the peer has reset fd (TCP state CLOSE without our FIN), even
 * after its FIN, when poll() and recv() only ever say EOF.
 */
bool h_wait_peer_reset(int fd, int timeout_ms);

/* ---- byte streams ---- */

/* Deterministic bytes: position off of the stream named seed; any split gives the same bytes. */
void h_pattern(uint64_t seed, uint64_t off, uint8_t *buf, size_t len);

/* 64-bit FNV-1a over 8-byte words; the same for any split of the same bytes. */
struct h_hash {
	uint64_t h;
	uint64_t n;
	uint8_t part[8];
	unsigned np;
};
void h_hash_init(struct h_hash *hs);
void h_hash_update(struct h_hash *hs, const void *buf, size_t len);
uint64_t h_hash_final(const struct h_hash *hs);

/* ---- the C upstream ("sink"), a thread of the test process ---- */

struct h_sink_opts {
	size_t capture;	   /* keep the first capture bytes received on each connection */
	uint64_t send_len; /* bytes of stream send_seed to send on each connection */
	uint64_t send_seed;
	bool send_after_eof;  /* send only once the client's EOF arrived (half-close) */
	uint64_t verify_from; /* from this offset, the bytes received must be stream verify_seed */
	uint64_t verify_seed;
	uint64_t rst_after; /* >0: reset the connection once this many bytes arrived */
	/* >0: send the stream and FIN without reading, wait this long, then reset. */
	unsigned rst_after_send_ms;
	/* >0: after the client's EOF keep the socket this long, watching for a reset. */
	unsigned hold_ms;
};

struct h_sink_conn {
	uint64_t received;
	uint64_t sent;
	struct h_hash hash;	 /* of every byte received */
	struct h_hash sent_hash; /* of every byte handed to send() */
	uint8_t *cap;		 /* the first bytes received (opts.capture of them) */
	size_t cap_len;
	int64_t bad_at; /* first offset that is not the expected stream, -1 if none */
	bool eof;	/* the read side ended with EOF (not an error) */
	int rerr, werr; /* errno that ended reading / writing, 0 if none */
	uint64_t t_eof; /* h_now_ms() when EOF or the error was seen */
	int late_err;	/* hold_ms: errno of a reset seen while holding (EPIPE after a FIN), or 0 */
	uint64_t t_late; /* h_now_ms() when it came */
};

struct h_sink;
struct h_sink *h_sink_start(const struct h_sink_opts *o);
int h_sink_port(const struct h_sink *s);
unsigned h_sink_accepted(const struct h_sink *s);
/* Wait until connection idx (0-based, in accept order) has finished; NULL on timeout. */
const struct h_sink_conn *h_sink_wait(struct h_sink *s, unsigned idx, int timeout_ms);
/* Stops accepting, unblocks and joins every handler. h_teardown() calls it. */
void h_sink_stop(struct h_sink *s);

#endif
