/* SPDX-License-Identifier: MIT */
/*
 * admin: a deliberately small HTTP/1.1 server on one thread. See admin.h for
 * the contract; this file is the poll loop, the per-client state machine and
 * the routing table.
 */
#include "core/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* After the response: read until the client closes, at most this long. */
#define ADMIN_LINGER_MS 2000
/* A 408 for a late head gets this long to leave. */
#define ADMIN_LATE_WRITE_MS 1000
/* accept() failed for lack of fds or memory: wait this long before retrying. */
#define ADMIN_ACCEPT_PAUSE_MS 100

#define CT_TEXT	   "text/plain; charset=utf-8"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CT_JSON	   "application/json"

/* ---- admin_buf ---- */

static int buf_reserve(struct admin_buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->err)
		return b->err;
	/* b->len never exceeds ADMIN_BODY_MAX, so the subtraction cannot wrap. */
	if (more > ADMIN_BODY_MAX - b->len)
		return b->err = -E2BIG;
	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	if (cap > ADMIN_BODY_MAX)
		cap = ADMIN_BODY_MAX;
	p = realloc(b->p, cap);
	if (!p)
		return b->err = -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int admin_buf_append(struct admin_buf *b, const void *p, size_t n)
{
	int r = buf_reserve(b, n);

	if (r)
		return r;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int admin_buf_printf(struct admin_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t avail = b->cap - b->len;
	int n;

	if (b->err)
		return b->err;
	/* First try in the room already there; vsnprintf needs one byte for its NUL. */
	va_start(ap, fmt);
	n = vsnprintf(avail ? b->p + b->len : NULL, avail, fmt, ap);
	va_end(ap);
	if (n < 0)
		return b->err = -EINVAL;
	if ((size_t)n >= avail) {
		int r = buf_reserve(b, (size_t)n + 1);

		if (r)
			return r;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

void admin_buf_release(struct admin_buf *b)
{
	free(b->p);
	*b = (struct admin_buf){0};
}

/* ---- clients ---- */

enum cl_state {
	CL_HEAD,   /* reading the request head */
	CL_WRITE,  /* writing hdr then body */
	CL_LINGER, /* all written, write side shut down: reading to EOF so close() sends no RST */
};

struct client {
	int fd; /* owned: the accepted socket */
	enum cl_state st;
	uint64_t since;	   /* ms: accepted */
	uint64_t deadline; /* ms: when the current state gives up */
	size_t hlen;	   /* bytes in head[] */
	bool head_req;	   /* a HEAD request: every response goes without its body */
	char head[ADMIN_HEAD_MAX];
	char hdr[384]; /* response status line and headers */
	size_t hdr_len;
	struct admin_buf body; /* response body; not sent for HEAD */
	size_t off;	       /* bytes of hdr + body already sent */
};

struct admin {
	int lfd;    /* owned: listening socket */
	int stopfd; /* owned: eventfd; admin_stop() writes it to end the loop */
	pthread_t thread;
	struct admin_ops ops;
	void *arg;
	enum admin_role role;
	uint16_t port;
	/* A Unix socket's file ("" for TCP), and its identity as made: stop removes only ours. */
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t unix_dev;
	ino_t unix_ino;
	pthread_mutex_t tok_mu; /* token, tok_len, tok_set: admin_set_token() runs elsewhere */
	bool tok_set;		/* ADMIN_CONTROL answers 503 until told its token (or none) */
	size_t tok_len;		/* 0: no token required */
	char token[ADMIN_TOKEN_MAX];
	uint64_t accept_pause_until; /* ms; 0 when accepting normally */
	unsigned n;		     /* clients in cl[] */
	struct client *cl[ADMIN_MAX_CLIENTS];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void client_free(struct client *c)
{
	if (!c)
		return;
	close(c->fd);
	admin_buf_release(&c->body);
	free(c);
}

static const char *status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

/*
 * Turn c into a writer of one response. body is taken over (the caller's copy
 * is reset); a failed body (body->err) becomes a 500. extra is NULL or one
 * more header line, CRLF included. For a HEAD request the length is
 * announced but no body is sent (RFC 9110 9.3.2).
 */
static void client_respond(struct client *c, int status, const char *ctype, const char *extra,
			   struct admin_buf *body, uint64_t deadline)
{
	int n;

	c->body = *body;
	*body = (struct admin_buf){0};
	if (c->body.err) {
		admin_buf_release(&c->body);
		status = 500;
		ctype = CT_TEXT;
		extra = NULL;
		admin_buf_printf(&c->body, "internal error\n");
	}
	n = snprintf(c->hdr, sizeof(c->hdr),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %zu\r\n"
		     "Cache-Control: no-store\r\n"
		     "%s"
		     "Connection: close\r\n"
		     "\r\n",
		     status, status_text(status), ctype, c->body.len, extra ? extra : "");
	/* The fields above are bounded constants and one number: it always fits. */
	c->hdr_len = n > 0 && (size_t)n < sizeof(c->hdr) ? (size_t)n : 0;
	if (c->head_req)
		admin_buf_release(&c->body);
	c->off = 0;
	c->st = CL_WRITE;
	c->deadline = deadline;
}

static void respond_text(struct client *c, int status, const char *text, const char *extra,
			 uint64_t deadline)
{
	struct admin_buf b = {0};

	admin_buf_printf(&b, "%s", text);
	client_respond(c, status, CT_TEXT, extra, &b, deadline);
}

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/*
 * End of the head in p[0..n): the offset just past the empty line, or 0 while
 * incomplete. Lines end in CRLF; a bare LF is tolerated (RFC 9112 2.2).
 */
static size_t head_end(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < n && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/*
 * A prefix that can never become a request line ("GET " needs upper-case
 * letters first): answer 400 at once instead of waiting out the timeout.
 */
static bool head_prefix_bad(const char *p, size_t n)
{
	for (size_t i = 0; i < n && i < 16; i++) {
		if (p[i] == ' ')
			return i == 0;
		if (p[i] < 'A' || p[i] > 'Z')
			return true;
	}
	return n >= 16;
}

struct request {
	char method[16];
	char path[256];
	char query[160];  /* after '?', up to '#': "policy=dev"; "" when none */
	const char *auth; /* the Authorization value, trimmed, inside the head; NULL if none */
	size_t auth_len;
};

/*
 * Parse the head p[0..n) (n includes the final empty line). Returns 0, or
 * -EINVAL for anything malformed, a second Authorization field included.
 * Only Authorization is interpreted; Connection: close makes keep-alive moot.
 */
static int parse_head(const char *p, size_t n, struct request *rq)
{
	const char *end = p + n, *line = p, *eol, *sp, *target, *q;
	size_t len;

	if (memchr(p, '\0', n))
		return -EINVAL;
	/* Request line: method SP request-target SP HTTP-version (RFC 9112 3). */
	eol = memchr(line, '\n', (size_t)(end - line));
	sp = memchr(line, ' ', (size_t)(eol - line));
	if (!sp || sp == line || (size_t)(sp - line) >= sizeof(rq->method))
		return -EINVAL;
	/* Upper-case tokens only, as head_prefix_bad() assumes. */
	for (q = line; q < sp; q++)
		if (*q < 'A' || *q > 'Z')
			return -EINVAL;
	memcpy(rq->method, line, (size_t)(sp - line));
	rq->method[sp - line] = '\0';
	target = sp + 1;
	sp = memchr(target, ' ', (size_t)(eol - target));
	if (!sp)
		return -EINVAL;
	len = (size_t)(eol - (sp + 1));
	if (len && sp[len] == '\r')
		len--;
	if (len != 8 || (memcmp(sp + 1, "HTTP/1.1", 8) && memcmp(sp + 1, "HTTP/1.0", 8)))
		return -EINVAL;
	/* Absolute form (RFC 9112 3.2.2): skip scheme and authority. */
	if (sp - target > 7 && !strncasecmp(target, "http://", 7)) {
		target = memchr(target + 7, '/', (size_t)(sp - target - 7));
		if (!target)
			return -EINVAL;
	}
	if (*target != '/')
		return -EINVAL;
	for (q = target; q < sp && *q != '?' && *q != '#'; q++)
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
			return -EINVAL;
	if ((size_t)(q - target) >= sizeof(rq->path))
		return -EINVAL;
	memcpy(rq->path, target, (size_t)(q - target));
	rq->path[q - target] = '\0';
	rq->query[0] = '\0';
	if (q < sp && *q == '?') {
		const char *qs = ++q;
		for (; q < sp && *q != '#'; q++)
			if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
				return -EINVAL;
		if ((size_t)(q - qs) >= sizeof(rq->query))
			return -EINVAL;
		memcpy(rq->query, qs, (size_t)(q - qs));
		rq->query[q - qs] = '\0';
	}
	rq->auth = NULL;
	rq->auth_len = 0;

	/* Header fields: a token, a colon, anything (no obsolete line folding). */
	for (line = eol + 1; line < end; line = eol + 1) {
		const char *v, *ve;

		eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == line || (eol == line + 1 && *line == '\r'))
			break; /* the empty line */
		for (q = line; q < eol && is_tchar((unsigned char)*q); q++)
			;
		if (q == line || *q != ':')
			return -EINVAL;
		if (q - line != 13 || strncasecmp(line, "Authorization", 13))
			continue;
		if (rq->auth)
			return -EINVAL; /* two credentials: which one counts is a guess */
		/* RFC 9110 5.5: optional whitespace around the value. */
		for (v = q + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		rq->auth = v;
		rq->auth_len = (size_t)(ve - v);
	}
	return 0;
}

/* ---- authorization ---- */

/*
 * Constant time in the bytes of the configured token: the loop always runs
 * tok_len times and never exits early on a mismatch, so the time taken says
 * nothing about how much of a guess was right. It depends on got_len only
 * through the index test, and the caller knows its own length.
 */
static bool token_equal(const char *tok, size_t tok_len, const char *got, size_t got_len)
{
	volatile unsigned char diff = (unsigned char)(tok_len != got_len);

	for (size_t i = 0; i < tok_len; i++)
		diff |= (unsigned char)tok[i] ^ (unsigned char)(i < got_len ? got[i] : 0);
	return diff == 0;
}

#define WWW_AUTH "WWW-Authenticate: Bearer realm=\"snigate\"\r\n"

/* 0 when the request may proceed, else the status already answered (401, 403). */
static int authorize(struct admin *a, struct client *c, const struct request *rq, uint64_t dl)
{
	bool need, ok = false;

	pthread_mutex_lock(&a->tok_mu);
	bool set = a->role != ADMIN_CONTROL || a->tok_set;
	need = a->tok_len > 0;
	if (need && rq->auth && rq->auth_len > 7 && !strncasecmp(rq->auth, "Bearer ", 7))
		ok = token_equal(a->token, a->tok_len, rq->auth + 7, rq->auth_len - 7);
	pthread_mutex_unlock(&a->tok_mu);
	if (!set) {
		/* Listening before the token is known must fail closed, not open. */
		respond_text(c, 503, "starting\n", NULL, dl);
		return 503;
	}
	if (!need || ok)
		return 0;
	/*
	 * No usable credentials: 401 with the challenge (RFC 6750 3). Credentials
	 * that do not match: 403, so that a client can tell "log in" from "your
	 * token is wrong" (RFC 6750 would also allow 401 invalid_token).
	 */
	if (!rq->auth || rq->auth_len <= 7 || strncasecmp(rq->auth, "Bearer ", 7)) {
		respond_text(c, 401, "unauthorized: send Authorization: Bearer <token>\n", WWW_AUTH,
			     dl);
		return 401;
	}
	respond_text(c, 403, "forbidden\n", NULL, dl);
	return 403;
}

/* ---- routing ---- */

enum route_kind { R_READY, R_HEALTHZ, R_METRICS, R_CONFIG, R_DENIED, R_DRAIN };

static const struct {
	const char *path;
	enum route_kind kind;
	bool control_only;
} routes[] = {
	{"/ready", R_READY, false},  {"/healthz", R_HEALTHZ, false}, {"/metrics", R_METRICS, false},
	{"/config", R_CONFIG, true}, {"/denied", R_DENIED, true},    {"/drain", R_DRAIN, true},
};

static bool route_served(const struct admin *a, size_t i)
{
	const struct admin_ops *ops = &a->ops;

	if (routes[i].control_only && a->role != ADMIN_CONTROL)
		return false;
	switch (routes[i].kind) {
	case R_READY:
		return ops->ready;
	case R_HEALTHZ:
		return ops->healthy;
	case R_METRICS:
		return ops->metrics;
	case R_CONFIG:
		return ops->config;
	case R_DENIED:
		return ops->denied;
	case R_DRAIN:
		return ops->drain;
	}
	return false;
}

static void dispatch(struct admin *a, struct client *c, const struct request *rq, uint64_t now)
{
	uint64_t dl = now + ADMIN_WRITE_TIMEOUT_MS;
	bool get = !strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD");
	struct admin_buf b = {0};
	const char *ctype = CT_TEXT;
	int status = 200;
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (!strcmp(rq->path, routes[i].path) && route_served(a, i))
			break;
	if (i == sizeof(routes) / sizeof(routes[0])) {
		respond_text(c, 404, "not found\n", NULL, dl);
		return;
	}
	if (authorize(a, c, rq, dl))
		return;
	if (routes[i].kind == R_DRAIN) {
		if (strcmp(rq->method, "POST")) {
			respond_text(c, 405, "method not allowed\n", "Allow: POST\r\n", dl);
			return;
		}
		a->ops.drain(a->arg);
		respond_text(c, 202, "draining\n", NULL, dl);
		return;
	}
	if (!get) {
		respond_text(c, 405, "method not allowed\n", "Allow: GET, HEAD\r\n", dl);
		return;
	}
	switch (routes[i].kind) {
	case R_READY:
		if (a->ops.ready(a->arg)) {
			admin_buf_printf(&b, "ready\n");
		} else {
			status = 503;
			admin_buf_printf(&b, "not ready\n");
		}
		break;
	case R_HEALTHZ:
		if (a->ops.healthy(a->arg, &b)) {
			admin_buf_release(&b);
			admin_buf_printf(&b, "ok\n");
		} else {
			status = 503;
			if (!b.len && !b.err)
				admin_buf_printf(&b, "unhealthy\n");
		}
		break;
	case R_METRICS:
		ctype = CT_METRICS;
		a->ops.metrics(a->arg, &b);
		break;
	case R_CONFIG:
		a->ops.config(a->arg, &b);
		break;
	case R_DENIED:
		ctype = CT_JSON;
		a->ops.denied(a->arg, rq->query, &b);
		break;
	case R_DRAIN:
		break; /* handled above */
	}
	client_respond(c, status, ctype, NULL, &b, dl);
}

/* ---- per-client I/O; each returns false when the client is done with ---- */

static bool client_write(struct client *c, uint64_t now)
{
	for (;;) {
		struct iovec iov[2];
		struct msghdr msg = {.msg_iov = iov};
		size_t total = c->hdr_len + c->body.len;
		ssize_t w;

		if (c->off == total) {
			/*
			 * Half-close and wait for the client's FIN: close() with
			 * unread request bytes would send an RST, which can
			 * destroy the response before the client has read it.
			 */
			shutdown(c->fd, SHUT_WR);
			c->st = CL_LINGER;
			c->deadline = now + ADMIN_LINGER_MS;
			return true;
		}
		if (c->off < c->hdr_len) {
			iov[0] = (struct iovec){c->hdr + c->off, c->hdr_len - c->off};
			iov[1] = (struct iovec){c->body.p, c->body.len};
			msg.msg_iovlen = c->body.len ? 2 : 1;
		} else {
			size_t boff = c->off - c->hdr_len;

			iov[0] = (struct iovec){c->body.p + boff, c->body.len - boff};
			msg.msg_iovlen = 1;
		}
		w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0)
			return errno == EAGAIN || errno == EINTR;
		c->off += (size_t)w;
	}
}

static bool client_read_head(struct admin *a, struct client *c, uint64_t now)
{
	for (;;) {
		struct request rq;
		size_t end;
		ssize_t r;

		r = recv(c->fd, c->head + c->hlen, sizeof(c->head) - c->hlen, MSG_DONTWAIT);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR;
		if (r == 0)
			return false; /* gone before asking anything */
		c->hlen += (size_t)r;
		end = head_end(c->head, c->hlen);
		if (!end) {
			if (head_prefix_bad(c->head, c->hlen)) {
				respond_text(c, 400, "bad request\n", NULL,
					     now + ADMIN_LATE_WRITE_MS);
				break;
			}
			if (c->hlen == sizeof(c->head)) {
				respond_text(c, 431, "request head too large\n", NULL,
					     now + ADMIN_LATE_WRITE_MS);
				break;
			}
			continue;
		}
		if (parse_head(c->head, end, &rq)) {
			respond_text(c, 400, "bad request\n", NULL, now + ADMIN_LATE_WRITE_MS);
		} else {
			c->head_req = !strcmp(rq.method, "HEAD");
			dispatch(a, c, &rq, now);
		}
		break;
	}
	return client_write(c, now);
}

static bool client_linger(struct client *c)
{
	char sink[512];

	for (;;) {
		ssize_t r = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (r > 0)
			continue;
		return r < 0 && (errno == EAGAIN || errno == EINTR);
	}
}

static bool client_event(struct admin *a, struct client *c, uint64_t now)
{
	switch (c->st) {
	case CL_HEAD:
		return client_read_head(a, c, now);
	case CL_WRITE:
		return client_write(c, now);
	case CL_LINGER:
		return client_linger(c);
	}
	return false;
}

/* Deadlines: a late head gets a 408; a late write or linger is simply closed. */
static bool client_tick(struct client *c, uint64_t now)
{
	if (now < c->deadline)
		return true;
	if (c->st != CL_HEAD)
		return false;
	respond_text(c, 408, "request timeout\n", NULL, now + ADMIN_LATE_WRITE_MS);
	return client_write(c, now);
}

/* The client that has waited longest for its own head, if it may be evicted. */
static int evictable(const struct admin *a, uint64_t now)
{
	int best = -1;

	for (unsigned i = 0; i < a->n; i++) {
		const struct client *c = a->cl[i];

		if (c->st == CL_HEAD && now - c->since >= ADMIN_EVICT_MS &&
		    (best < 0 || c->since < a->cl[best]->since))
			best = (int)i;
	}
	return best;
}

static void remove_client(struct admin *a, unsigned i)
{
	client_free(a->cl[i]);
	a->cl[i] = a->cl[--a->n];
}

static void accept_clients(struct admin *a, uint64_t now)
{
	for (;;) {
		struct client *c;
		int fd;

		if (a->n == ADMIN_MAX_CLIENTS) {
			int victim = evictable(a, now);

			if (victim < 0)
				return;
			remove_client(a, (unsigned)victim);
		}
		fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPERM)
				continue;
			if (errno != EAGAIN)
				a->accept_pause_until = now + ADMIN_ACCEPT_PAUSE_MS;
			return;
		}
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			a->accept_pause_until = now + ADMIN_ACCEPT_PAUSE_MS;
			return;
		}
		c->fd = fd;
		c->st = CL_HEAD;
		c->since = now;
		c->deadline = now + ADMIN_HEAD_TIMEOUT_MS;
		c->hlen = 0;
		c->head_req = false;
		c->hdr_len = 0;
		c->body = (struct admin_buf){0};
		c->off = 0;
		a->cl[a->n++] = c;
	}
}

static short client_events(const struct client *c)
{
	return c->st == CL_WRITE ? POLLOUT : POLLIN;
}

static void *admin_thread(void *arg)
{
	struct admin *a = arg;
	struct pollfd pfd[2 + ADMIN_MAX_CLIENTS];
	struct client *polled[ADMIN_MAX_CLIENTS];

	for (;;) {
		uint64_t now = now_ms(), wake = UINT64_MAX;
		unsigned np = 0, nc;
		bool listening;
		int timeout, r;

		/* Listen while a slot is free or can be freed, unless pausing after EMFILE. */
		if (a->accept_pause_until && now >= a->accept_pause_until)
			a->accept_pause_until = 0;
		listening = !a->accept_pause_until &&
			    (a->n < ADMIN_MAX_CLIENTS || evictable(a, now) >= 0);
		if (a->accept_pause_until)
			wake = a->accept_pause_until;
		pfd[np++] = (struct pollfd){.fd = a->stopfd, .events = POLLIN};
		pfd[np++] = (struct pollfd){.fd = listening ? a->lfd : -1, .events = POLLIN};
		for (unsigned i = 0; i < a->n; i++) {
			struct client *c = a->cl[i];

			polled[i] = c;
			pfd[np++] = (struct pollfd){.fd = c->fd, .events = client_events(c)};
			if (c->deadline < wake)
				wake = c->deadline;
			if (a->n == ADMIN_MAX_CLIENTS && c->st == CL_HEAD &&
			    c->since + ADMIN_EVICT_MS < wake)
				wake = c->since + ADMIN_EVICT_MS;
		}
		nc = a->n;
		timeout = wake == UINT64_MAX ? -1 : wake <= now ? 0 : (int)(wake - now);
		r = poll(pfd, np, timeout);
		if (r < 0 && errno != EINTR)
			break; /* cannot happen with valid fds; stop rather than spin */
		if (r > 0 && pfd[0].revents)
			break;
		now = now_ms();
		/* Clients first, so that slots they free can be used by accept. */
		for (unsigned i = 0; i < nc; i++) {
			struct client *c = polled[i];
			bool keep = true;

			if (r > 0 && pfd[2 + i].revents)
				keep = client_event(a, c, now);
			if (keep)
				keep = client_tick(c, now);
			if (!keep) {
				for (unsigned j = 0; j < a->n; j++) {
					if (a->cl[j] == c) {
						remove_client(a, j);
						break;
					}
				}
			}
		}
		if (r > 0 && listening && pfd[1].revents)
			accept_clients(a, now);
	}
	return NULL;
}

/* ---- start and stop ---- */

static bool is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && sin6->sin6_addr.s6_addr[12] == 127;
}

/* "a.b.c.d:port", "[v6]:port" or "localhost:port", numeric only (no DNS). */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[INET6_ADDRSTRLEN];
	const char *hs, *he, *port;
	unsigned long p = 0;

	if (s[0] == '[') {
		hs = s + 1;
		he = strchr(hs, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		port = he + 2;
	} else {
		hs = s;
		he = strrchr(s, ':');
		/* Another colon before it: an IPv6 address without brackets. */
		if (!he || memchr(s, ':', (size_t)(he - s)))
			return -EINVAL;
		port = he + 1;
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(host) || !*port || strlen(port) > 5)
		return -EINVAL;
	for (const char *q = port; *q; q++) {
		if (*q < '0' || *q > '9')
			return -EINVAL;
		p = p * 10 + (unsigned long)(*q - '0');
	}
	if (p > 65535)
		return -EINVAL;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");

	memset(ss, 0, sizeof(*ss));
	if (s[0] != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		*sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		*sslen = sizeof(*sin6);
	}
	return 0;
}

static int start_err(char *errbuf, size_t errlen, int err, const char *what, const char *addr)
{
	if (errlen)
		snprintf(errbuf, errlen, "admin: %s %s: %s", what, addr, strerror(-err));
	return err;
}

/* "unix:/abs/path": a Unix stream socket; 0 or -EINVAL. */
static int parse_unix(const char *s, struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;
	const char *path = s + 5;
	size_t n = strlen(path);

	if (path[0] != '/' || n >= sizeof(sun->sun_path))
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n + 1);
	*sslen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

/*
 * Replace a socket file left by a process that is gone, but never another
 * kind of file, nor a socket something still listens on.
 */
/* admin_share_addresses(); set before any endpoint starts, read by admin_start() only. */
static bool share_addresses;

void admin_share_addresses(bool on)
{
	share_addresses = on;
}

static int unlink_stale(const struct sockaddr_un *sun, socklen_t len)
{
	const char *path = sun->sun_path;
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	/* Non-blocking: a live listener with a full backlog must not hang the start. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sun, len) < 0 ? errno : 0;
	close(fd);
	/*
	 * Only a refusal proves nobody listens; EACCES or EAGAIN may hide a live
	 * one. A takeover's predecessor is live and takes the file's loss in its
	 * stride: unlink_own() leaves a file that is not its own.
	 */
	if (r != ECONNREFUSED && !share_addresses)
		return -EADDRINUSE;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

/* Remove the socket file, unless another process has replaced it since. */
static void unlink_own(const struct admin *a)
{
	struct stat st;

	if (a->unix_path[0] && lstat(a->unix_path, &st) == 0 && st.st_dev == a->unix_dev &&
	    st.st_ino == a->unix_ino)
		unlink(a->unix_path);
}

int admin_addr_parse(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	return !strncmp(addr, "unix:", 5) ? parse_unix(addr, ss, len) : parse_addr(addr, ss, len);
}

int admin_start(const char *addr, enum admin_role role, const struct admin_ops *ops, void *arg,
		bool *non_loopback, struct admin **out, char *errbuf, size_t errlen)
{
	bool is_unix = !strncmp(addr, "unix:", 5);
	struct sockaddr_storage ss;
	socklen_t sslen;
	sigset_t all, old;
	struct admin *a;
	int one = 1, r;

	*out = NULL;
	if (admin_addr_parse(addr, &ss, &sslen)) {
		if (errlen)
			snprintf(errbuf, errlen,
				 "admin: bad address \"%s\": want ip:port, [ipv6]:port or "
				 "unix:/absolute/path",
				 addr);
		return -EINVAL;
	}
	*non_loopback = !is_unix && !is_loopback(&ss);
	a = calloc(1, sizeof(*a));
	if (!a)
		return start_err(errbuf, errlen, -ENOMEM, "start", addr);
	a->ops = *ops;
	a->arg = arg;
	a->role = role;
	a->stopfd = -1;
	pthread_mutex_init(&a->tok_mu, NULL);
	a->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->lfd < 0) {
		r = start_err(errbuf, errlen, -errno, "socket for", addr);
		goto out_free;
	}
	if (is_unix) {
		r = unlink_stale((struct sockaddr_un *)&ss, sslen);
		if (r < 0) {
			start_err(errbuf, errlen, r, "replace", addr);
			goto out_close;
		}
	} else {
		/* A restarted gateway must not wait out TIME_WAIT of its own old port. */
		setsockopt(a->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (share_addresses)
			setsockopt(a->lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	}
	if (bind(a->lfd, (struct sockaddr *)&ss, sslen) < 0) {
		r = start_err(errbuf, errlen, -errno, "bind", addr);
		goto out_close;
	}
	if (is_unix) {
		const char *path = ((struct sockaddr_un *)&ss)->sun_path;
		struct stat st;

		if (lstat(path, &st) < 0) {
			r = start_err(errbuf, errlen, -errno, "stat", addr);
			unlink(path); /* just made by our bind() */
			goto out_close;
		}
		/* From here on admin_stop() or the error path removes the file. */
		memcpy(a->unix_path, path, sizeof(a->unix_path));
		a->unix_dev = st.st_dev;
		a->unix_ino = st.st_ino;
		/* Before listen(): until then a connect() is refused whatever the mode. */
		if (chmod(a->unix_path, 0600) < 0) {
			r = start_err(errbuf, errlen, -errno, "chmod", addr);
			goto out_close;
		}
	}
	if (listen(a->lfd, 128) < 0) {
		r = start_err(errbuf, errlen, -errno, "listen on", addr);
		goto out_close;
	}
	sslen = sizeof(ss);
	if (getsockname(a->lfd, (struct sockaddr *)&ss, &sslen) < 0) {
		r = start_err(errbuf, errlen, -errno, "getsockname of", addr);
		goto out_close;
	}
	a->port = ss.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
		  : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					     : 0;
	a->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stopfd < 0) {
		r = start_err(errbuf, errlen, -errno, "eventfd for", addr);
		goto out_close;
	}
	/* Signals belong to the main thread: the admin thread blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&a->thread, NULL, admin_thread, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		start_err(errbuf, errlen, r, "thread for", addr);
		goto out_close;
	}
	pthread_setname_np(a->thread, "snigate-admin");
	*out = a;
	return 0;

out_close:
	if (a->stopfd >= 0)
		close(a->stopfd);
	close(a->lfd);
	unlink_own(a);
out_free:
	pthread_mutex_destroy(&a->tok_mu);
	free(a);
	return r;
}

/* RFC 6750 2.1 b64token: what may follow "Bearer ". */
static bool is_token68(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("-._~+/=", ch));
}

int admin_set_token(struct admin *a, const char *tok, size_t len)
{
	if (len > ADMIN_TOKEN_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!is_token68((unsigned char)tok[i]))
			return -EINVAL;
	pthread_mutex_lock(&a->tok_mu);
	explicit_bzero(a->token, sizeof(a->token)); /* no tail of a longer old token stays */
	if (len)
		memcpy(a->token, tok, len);
	a->tok_len = len;
	a->tok_set = true;
	pthread_mutex_unlock(&a->tok_mu);
	return 0;
}

uint16_t admin_port(const struct admin *a)
{
	return a->port;
}

void admin_stop(struct admin *a)
{
	uint64_t one = 1;

	if (!a)
		return;
	/* An eventfd counter cannot overflow from one write; EAGAIN is impossible here. */
	(void)!write(a->stopfd, &one, sizeof(one));
	pthread_join(a->thread, NULL);
	while (a->n)
		remove_client(a, a->n - 1);
	close(a->stopfd);
	close(a->lfd);
	unlink_own(a);
	explicit_bzero(a->token, sizeof(a->token));
	pthread_mutex_destroy(&a->tok_mu);
	free(a);
}
