/* SPDX-License-Identifier: MIT */
/*
 * lg_server: the far ends of the load generator.
 *
 * sink   the upstream every gateway (and the direct target) connects to. One
 *        epoll thread skips ClientHellos by their record lengths, reads the
 *        header and serves connrate, rr and probe connections itself; a bulk
 *        connection is handed to a thread of its own, as it streams for long.
 *        It never reads past what it needs, so the hand-over loses nothing.
 * rstd   the direct baseline of the reset path: the least a server can do,
 *        peek a whole ClientHello and close with the hello unread (an RST).
 * fwd    a plain TCP forwarder, thread per connection: a "gateway" that lets
 *        every name through (and with --corrupt flips one byte), for the
 *        harness's own tests.
 */
#include "bench/loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define CHUNK (1 << 18)

static int listen_on(const struct opts *o, bool nonblock)
{
	int one = 1;
	int fd = socket(o->addr.ss_family,
			SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&o->addr, o->addr_len) < 0 || listen(fd, 4096) < 0) {
		perror("loadgen: listen");
		close(fd);
		return -1;
	}
	return fd;
}

static void spawn_detached(void *(*fn)(void *), void *arg)
{
	pthread_t th;
	pthread_attr_t at;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_create(&th, &at, fn, arg);
	pthread_attr_destroy(&at);
}

/* ---- sink: bulk on a thread ---- */

struct bulkjob {
	int fd;
	bool both;
	unsigned long long n;
	uint32_t seed;
};

static void *sink_tx(void *arg)
{
	struct bulkjob *j = arg;
	uint8_t *buf = malloc(CHUNK);

	if (!buf)
		return NULL;
	pattern_fill(buf, CHUNK, j->seed);
	for (unsigned long long left = j->n; left;) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		ssize_t w = send(j->fd, buf, n, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		left -= (size_t)w;
	}
	free(buf);
	return NULL;
}

/* Read n bytes, answer their checksum; with both, stream n bytes back meanwhile. */
static void *sink_bulk(void *arg)
{
	struct bulkjob *j = arg;
	uint8_t *buf = malloc(CHUNK);
	unsigned long long left = j->n;
	pthread_t th;
	struct csum h;

	if (j->both)
		pthread_create(&th, NULL, sink_tx, j);
	csum_init(&h);
	while (left && buf) {
		ssize_t r = recv(j->fd, buf, left < CHUNK ? (size_t)left : CHUNK, 0);
		if (r <= 0)
			break;
		csum_update(&h, buf, (size_t)r);
		left -= (size_t)r;
	}
	uint64_t sum = csum_final(&h);
	if (j->both)
		pthread_join(th, NULL);
	if (!left)
		write_full(j->fd, &sum, sizeof(sum));
	close(j->fd);
	free(buf);
	free(j);
	return NULL;
}

/* ---- sink: the epoll side ---- */

enum sphase {
	S_RECORD, /* reading 5 bytes: a record header, or the start of our header */
	S_SKIP,	  /* discarding a record body */
	S_HEADER, /* reading the rest of our 20-byte header */
	S_REQ,	  /* discarding a request */
	S_RESP,	  /* sending a response */
};

struct sconn {
	int fd;
	enum sphase phase;
	uint8_t hb[LG_HDR_LEN]; /* header bytes so far */
	size_t have;		/* of hb */
	uint64_t left;		/* S_SKIP, S_REQ: bytes to discard; S_RESP: to send */
	uint32_t kind, req, resp;
	bool out_armed;
};

static void sconn_close(int ep, struct sconn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static void sconn_arm(int ep, struct sconn *c, bool out)
{
	if (out == c->out_armed)
		return;
	struct epoll_event ev = {.events = out ? EPOLLOUT : EPOLLIN, .data.ptr = c};
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->out_armed = out;
}

/* Returns false when the connection is gone (closed or handed to a thread). */
static bool sconn_step(int ep, struct sconn *c)
{
	static uint8_t junk[65536];
	static const uint8_t zeros[65536];

	ssize_t r = 0;

	for (;;) {
		switch (c->phase) {
		case S_RECORD:
		case S_HEADER: {
			size_t need = c->phase == S_RECORD ? 5 : LG_HDR_LEN;
			r = recv(c->fd, c->hb + c->have, need - c->have, MSG_DONTWAIT);
			if (r <= 0)
				goto gone;
			c->have += (size_t)r;
			if (c->have < need)
				continue;
			if (c->phase == S_RECORD && c->hb[0] == 22) {
				c->left = (uint64_t)c->hb[3] << 8 | c->hb[4];
				c->have = 0;
				c->phase = S_SKIP;
				continue;
			}
			if (c->phase == S_RECORD) {
				c->phase = S_HEADER;
				continue;
			}
			uint32_t h[5];
			memcpy(h, c->hb, sizeof(h));
			if (ntohl(h[0]) != LG_MAGIC)
				goto close;
			c->kind = ntohl(h[1]);
			uint64_t n = (uint64_t)ntohl(h[2]) << 32 | ntohl(h[3]);
			if (c->kind == LG_BULK || c->kind == LG_BULK_BOTH) {
				struct bulkjob *j = malloc(sizeof(*j));
				if (!j)
					goto close;
				*j = (struct bulkjob){.fd = c->fd,
						      .both = c->kind == LG_BULK_BOTH,
						      .n = n,
						      .seed = ntohl(h[4])};
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
				free(c);
				spawn_detached(sink_bulk, j);
				return false;
			}
			if (c->kind == LG_PROBE) {
				/* Only a gateway that let a denied name through gets here. */
				send(c->fd, "LEAK", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
				goto close;
			}
			if (c->kind != LG_CONNRATE && c->kind != LG_RR)
				goto close;
			c->req = (uint32_t)n;
			c->resp = ntohl(h[4]);
			c->left = c->req;
			c->phase = S_REQ;
			continue;
		}
		case S_SKIP:
		case S_REQ:
			if (!c->left) {
				if (c->phase == S_SKIP) {
					c->phase = S_RECORD;
				} else {
					c->phase = S_RESP;
					c->left = c->resp;
				}
				continue;
			}
			r = recv(c->fd, junk,
				 c->left < sizeof(junk) ? (size_t)c->left : sizeof(junk),
				 MSG_DONTWAIT);
			if (r <= 0)
				goto gone;
			c->left -= (uint64_t)r;
			continue;
		case S_RESP:
			while (c->left) {
				r = send(c->fd, zeros,
					 c->left < sizeof(zeros) ? (size_t)c->left : sizeof(zeros),
					 MSG_NOSIGNAL | MSG_DONTWAIT);
				if (r < 0 && errno == EAGAIN) {
					sconn_arm(ep, c, true);
					return true;
				}
				if (r <= 0)
					goto close;
				c->left -= (uint64_t)r;
			}
			sconn_arm(ep, c, false);
			if (c->kind == LG_CONNRATE)
				goto close;
			c->left = c->req;
			c->phase = S_REQ;
			continue;
		}
	}
gone:
	if (r < 0 && errno == EAGAIN)
		return true;
close:
	sconn_close(ep, c);
	return false;
}

int run_sink(struct opts *o)
{
	int lfd = listen_on(o, true);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event evs[256];
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};

	if (lfd < 0)
		return 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	printf("sink: listening\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			struct sconn *c = evs[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					int one = 1;
					struct sconn *nc = calloc(1, sizeof(*nc));
					if (!nc) {
						close(fd);
						continue;
					}
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					nc->fd = fd;
					struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
					/* The hello usually arrived with the handshake. */
					sconn_step(ep, nc);
				}
				continue;
			}
			sconn_step(ep, c);
		}
	}
}

/* ---- rstd ---- */

int run_rstd(struct opts *o)
{
	int lfd = listen_on(o, true);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event evs[256];
	struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
	static uint8_t buf[16384 + 5];

	if (lfd < 0)
		return 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	printf("rstd: listening\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			/*
			 * Peek until the first record is whole (SO_RCVLOWAT saves the
			 * wakeups in between), then close with it unread: the kernel
			 * answers with an RST.
			 */
			ssize_t r = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r >= 5) {
				int need = 5 + (buf[3] << 8 | buf[4]);
				if (r < need) {
					setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &need,
						   sizeof(need));
					continue;
				}
			}
			struct linger lg = {1, 0};
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(fd);
		}
	}
}

/* ---- fwd ---- */

struct fpipe {
	int from, to;
	long corrupt_at; /* offset in this direction to flip, -1 = none */
};

static void *fwd_copy(void *arg)
{
	struct fpipe *p = arg;
	uint8_t *buf = malloc(CHUNK);
	long long off = 0;

	for (; buf;) {
		ssize_t r = recv(p->from, buf, CHUNK, 0);
		if (r <= 0)
			break;
		if (p->corrupt_at >= off && p->corrupt_at < off + r)
			buf[p->corrupt_at - off] ^= 0x5a;
		off += r;
		if (write_full(p->to, buf, (size_t)r) < 0)
			break;
	}
	shutdown(p->to, SHUT_WR);
	free(buf);
	return NULL;
}

struct fconn {
	const struct opts *o;
	int fd;
};

static void *fwd_conn(void *arg)
{
	struct fconn *f = arg;
	int up = socket(f->o->fwd_to.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pthread_t th;

	if (up >= 0 && connect(up, (const struct sockaddr *)&f->o->fwd_to, f->o->fwd_to_len) == 0) {
		struct fpipe a = {f->fd, up, f->o->corrupt_at}, b = {up, f->fd, -1};
		pthread_create(&th, NULL, fwd_copy, &a);
		fwd_copy(&b);
		pthread_join(th, NULL);
	}
	if (up >= 0)
		close(up);
	close(f->fd);
	free(f);
	return NULL;
}

int run_fwd(struct opts *o)
{
	int lfd = listen_on(o, false);

	if (lfd < 0)
		return 1;
	printf("fwd: listening\n");
	fflush(stdout);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct fconn *f = malloc(sizeof(*f));
		if (!f) {
			close(fd);
			continue;
		}
		*f = (struct fconn){o, fd};
		spawn_detached(fwd_conn, f);
	}
}
