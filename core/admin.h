/* SPDX-License-Identifier: MIT */
/*
 * admin: the operator's HTTP endpoints, each served by one small thread of
 * its own so that a slow scrape never touches a ring. An endpoint has a role:
 *
 *   ADMIN_PROBES (the probe/metrics port; read-only, safe to open to the
 *   kubelet and Prometheus):
 *   GET  /ready    200 "ready\n" or 503 "not ready\n"        (ops->ready)
 *   GET  /healthz  200 "ok\n" or 503 and the reason           (ops->healthy)
 *   GET  /metrics  Prometheus text format 0.0.4                (ops->metrics)
 *
 *   ADMIN_CONTROL (loopback or a Unix socket by default; a bearer token
 *   where it is opened wider) serves the three above and:
 *   GET  /config   the effective config, YAML                  (ops->config)
 *   GET  /denied   top denied names, JSON                      (ops->denied)
 *   POST /drain    202, calls ops->drain once per request      (ops->drain)
 *
 * A path the role does not serve, or whose callback is NULL, gets 404: the
 * probe port cannot be told that /drain exists. Where a token is set, every
 * request must carry "Authorization: Bearer <token>": none gets 401 with
 * WWW-Authenticate, a wrong one 403, compared in constant time. Then HEAD is
 * served wherever GET is, and a known path with another method gets 405 and
 * an Allow header. A request that does not parse gets 400. Every response
 * carries Content-Length and Connection: close; requests are not pipelined.
 *
 * The thread polls non-blocking sockets with a buffer per client, so one slow
 * client never blocks another. Limits (every one is a resource a local
 * client controls): a request head of at most ADMIN_HEAD_MAX bytes within
 * ADMIN_HEAD_TIMEOUT_MS, the response written within ADMIN_WRITE_TIMEOUT_MS,
 * at most ADMIN_MAX_CLIENTS at once. Past that limit the listener is not
 * accepted from (clients wait in its backlog), except that a client which has
 * sat on an incomplete head for ADMIN_EVICT_MS gives its slot to a newcomer:
 * a handful of stalled connections cannot starve the kubelet's probes.
 *
 * THREADING: every callback runs on the admin thread, concurrently with the
 * workers and the main thread; the caller makes them thread-safe. The module
 * never logs: admin_start() returns what went wrong and the caller reports it.
 */
#ifndef SNIGATE_ADMIN_H
#define SNIGATE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADMIN_HEAD_MAX	       8192  /* bytes of request line + headers */
#define ADMIN_HEAD_TIMEOUT_MS  5000  /* from accept to the end of the head */
#define ADMIN_WRITE_TIMEOUT_MS 10000 /* from the end of the head to the last byte out */
#define ADMIN_MAX_CLIENTS      64
#define ADMIN_EVICT_MS	       1000	   /* a head this late may be evicted when full */
#define ADMIN_BODY_MAX	       (64u << 20) /* a body larger than this is an error */

/*
 * A growable byte buffer the callbacks write their bodies into. Errors are
 * sticky: after the first failure (-ENOMEM, or -E2BIG past ADMIN_BODY_MAX)
 * every append is a no-op returning that error, and the admin thread answers
 * 500 instead of a truncated body, so callbacks may ignore return values.
 * Zero-initialise one to start; admin_buf_release() frees its memory.
 */
struct admin_buf {
	char *p;	 /* owned; not NUL-terminated; NULL until the first append */
	size_t len, cap; /* bytes used, bytes allocated */
	int err;	 /* 0, or the first error (negative errno) */
};

/* Both return 0 or b->err. */
int admin_buf_printf(struct admin_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int admin_buf_append(struct admin_buf *b, const void *p, size_t n);
void admin_buf_release(struct admin_buf *b);

/*
 * What the endpoint serves. A NULL callback makes its path 404. Each runs on
 * the admin thread (see THREADING above) with the arg given to admin_start().
 */
struct admin_ops {
	/* GET /ready: true while accepting (200), false while starting or draining (503). */
	bool (*ready)(void *arg);
	/* GET /healthz: true for 200 "ok\n"; false for 503 with *why as the body. */
	bool (*healthy)(void *arg, struct admin_buf *why);
	/* GET /metrics: the body, Prometheus text format 0.0.4 (see prom.h). */
	void (*metrics)(void *arg, struct admin_buf *out);
	/* GET /config: the body, YAML; the callee redacts secrets. */
	void (*config)(void *arg, struct admin_buf *out);
	/*
	 * GET /denied: the body, JSON. query is the request's query string
	 * without the '?' (printable ASCII, at most 159 bytes; "" for none).
	 */
	void (*denied)(void *arg, const char *query, struct admin_buf *out);
	/* POST /drain: start a drain; answered 202. Called once per request. */
	void (*drain)(void *arg);
};

enum admin_role {
	ADMIN_PROBES,  /* /ready, /healthz, /metrics */
	ADMIN_CONTROL, /* every route */
};

#define ADMIN_TOKEN_MAX 512 /* bytes of a bearer token */

struct admin;

/*
 * Bind addr and start the endpoint's thread. addr is "127.0.0.1:9901",
 * "[::1]:9901", "0.0.0.0:9901", "localhost:9901" (port 0 picks a free one,
 * see admin_port()), or "unix:/path" (a stale socket file is replaced; the
 * new one is made mode 0600 before it listens, and removed by admin_stop()).
 * *non_loopback is set to whether the address is reachable from other hosts.
 * ops and arg must outlive the admin. Returns 0 with *out set, or -errno with
 * a sentence in errbuf; then nothing was started and no callback will ever be
 * called.
 */
int admin_start(const char *addr, enum admin_role role, const struct admin_ops *ops, void *arg,
		bool *non_loopback, struct admin **out, char *errbuf, size_t errlen);

/*
 * Whether the endpoints admin_start() binds from now on share their address
 * with a takeover's successor or predecessor (core/takeover.h): a TCP port
 * with SO_REUSEPORT, a Unix socket file replaced even while one listens.
 * Off, a second gateway on the same address is an error, as it should be.
 */
void admin_share_addresses(bool on);

/*
 * The bearer token every request must carry from now on: len bytes of
 * tok (copied), or none when len is 0. Returns 0, or -EINVAL for a token
 * longer than ADMIN_TOKEN_MAX or with bytes outside RFC 6750's token68 set.
 * Safe to call while the thread serves (a reload rotates the token).
 */
int admin_set_token(struct admin *a, const char *tok, size_t len);

/*
 * addr as admin_start() reads it, into *ss and *len (AF_INET, AF_INET6 or
 * AF_UNIX); numeric only, no DNS. Returns 0 or -EINVAL.
 */
int admin_addr_parse(const char *addr, struct sockaddr_storage *ss, socklen_t *len);

/* The port actually bound; 0 for a Unix socket. */
uint16_t admin_port(const struct admin *a);

/*
 * Stop the thread (promptly, whatever the clients are doing), close the
 * listener and every client, free a. No callback runs once it returns.
 * Accepts NULL. Not to be called from a callback.
 */
void admin_stop(struct admin *a);

#endif
