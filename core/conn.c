/* SPDX-License-Identifier: MIT */
/*
 * conn: the life of one client connection, as one state machine. Every
 * state change goes through set_state(), checked against this table:
 *
 *   NEW      -> HELLO     accepted
 *   HELLO    -> RESOLVE   whole ClientHello, name allowed (or audit mode)
 *            -> HEAD      the first bytes are an HTTP request line
 *            -> RELAY     CONNECT tunnel: its ClientHello names the host asked for
 *   HEAD     -> RESOLVE   CONNECT request allowed (an address literal skips the resolver)
 *            -> LINGER    an HTTP error went out (400, 403, 405, 407, 431, 505)
 *   RESOLVE  -> CONNECT   an address of the answer that the upstream policy allows
 *            -> LINGER    CONNECT: no answer, or none allowed; 502 or 403 went out
 *   CONNECT  -> CONNECT   that address failed: the next one
 *            -> RELAY     connected (TLS, or CONNECT without require_sni_match)
 *            -> HELLO     connected, CONNECT with require_sni_match or ech: deny
 *            -> LINGER    CONNECT: no address left; 502, 504 or 403 went out
 *   all but NEW and CLOSING -> CLOSING   the end: done, refused, timed out, failed
 *
 * CLOSING waits for every request still in the ring to complete (a pending
 * poll keeps a socket alive after close(), so an RST would not go out), then
 * conn_finish() closes the fds, returns the pipes and frees the connection.
 * That is the only place either socket of an established connection is closed.
 *
 * The ClientHello is read with MSG_PEEK into a per-thread buffer, so a
 * connection waiting for its hello holds no buffer at all; SO_RCVLOWAT is
 * raised to the size the parser still needs, so a hello arriving in pieces
 * wakes us once per useful step, not once per segment. Nothing is consumed:
 * the hello is spliced upstream with the rest of the stream.
 *
 * Relay: io_uring says when a socket is ready; splice(2) moves the bytes,
 * socket -> pipe -> socket, never through user memory. io_uring's own SPLICE
 * op is avoided on purpose: it always runs on io-wq kernel worker threads
 * (200 idle connections made 400 of them), so the ring only reports
 * readiness and the splice is plain, non-blocking splice(2). Each direction
 * tries the splice first and arms a one-shot poll when the source is empty
 * (EAGAIN, or a short read).
 *
 * Except on a socket whose peer has sent its FIN: io_uring adds POLLRDHUP to
 * every poll's mask, so any poll on such a socket completes at once, and a
 * one-shot poll re-armed there would spin. Those sockets get a multishot
 * poll instead, which posts once per wakeup of the socket; completions that
 * carry nothing the poll was for (RDHUP alone) are dropped.
 */
#include "core/conn.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/accesslog.h"
#include "core/log.h"
#include "sni/connect.h"
#include "sni/proxyproto.h"

/* Bytes one direction may move per turn before yielding to other connections. */
#define PUMP_BUDGET (4u << 20)
/* After an HTTP error, how long the client may go on sending before we close. */
#define LINGER_MS 2000
/* Consecutive pipe-filling reads after which a flow gets a large pipe. */
#define PROMOTE_AFTER 3

struct dir {
	struct pipe *pipe; /* from the worker's pool, held only while bytes sit in it */
	size_t inpipe;	   /* bytes in pipe */
	uint64_t bytes;	   /* bytes read from the source so far */
	uint8_t full;	   /* consecutive reads that filled the pipe */
	bool large;	   /* streaming: takes a large pipe when it needs one */
	bool eof;	   /* the source said EOF */
	bool shut;	   /* SHUT_WR sent to the destination */
	bool ready;	   /* on the worker's q_ready: stopped at its byte budget */
};

/* An address as the kernel gives it, in the space it needs (not sockaddr_storage's 128). */
union addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/*
 * What only the resolve and connect phases need. Kept apart, and recycled
 * through a per-thread free list, so that a relayed connection (which may
 * idle for an hour) does not carry it: struct conn stays small.
 */
struct hs {
	struct resolver_wait rw;
	struct resolver_answer ans;
	unsigned addr_idx;
	uint64_t connect_start_us;
};

_Static_assert(sizeof(struct hs) <= SLAB_MAX_OBJ, "handshake objects fit the slabs");

struct conn {
	struct list tl; /* in one deadline queue of the worker, or detached */
	struct list rl; /* in q_ready while a direction has budget left to use */
	uint64_t deadline;
	struct worker *w;
	struct listener *l;
	int cfd; /* client socket; owned, closed in conn_finish() */
	/*
	 * Upstream socket or -1. Owned: closed in conn_finish(), or before the
	 * relay by connect_done() (that address failed) or http_reply().
	 */
	int ufd;
	enum conn_state state;
	uint16_t ops; /* requests in the ring: bit (1 << enum op) */
	bool cfin;    /* the client sent its FIN: polls on cfd must be multishot */
	bool ufin;    /* the upstream sent its FIN: polls on ufd must be multishot */
	bool lowat;   /* SO_RCVLOWAT was raised for the hello and must be reset */
	bool rdhup;   /* the client half-closed while we waited for its hello */
	bool unread;  /* peeked bytes are still in cfd: close() alone sends a reset */
	bool allowed;
	bool sorted;	 /* the first bytes said TLS or HTTP (protocol: auto) */
	bool replied;	 /* CONNECT: the HTTP status line went out */
	bool would_deny; /* audit mode: not on the list, let through */
	bool src_held;	 /* holds a srclimit slot for peer */
	bool pp_want;	 /* a trusted balancer: its PROXY v2 header comes first */
	enum path path;
	bool timed_out; /* the connect in flight was cancelled by its deadline */
	bool rst;	/* end with a reset rather than a FIN */
	bool ech;
	bool ech_denied; /* the deciding policy resets a hello that offers ECH */
	enum reason reason;
	enum reason connect_err; /* why the last address failed */
	uint8_t sni_len;
	uint8_t host_len;      /* CONNECT: the authority's host, as parsed */
	uint16_t connect_port; /* CONNECT: the authority's port */
	char *sni;	       /* owned, exactly sni_len + 1 bytes; NULL before the hello */
	char *host;	       /* owned: lower case name, or IP text; NULL unless CONNECT */
	char *user;	       /* owned: the authenticated proxy user (CONNECT), or NULL */
	/*
	 * Owned: the name of the policy that decided, or NULL before one did.
	 * A copy, since the connection may outlive its configuration.
	 */
	char *policy;
	unsigned gen;  /* the configuration generation that decided, once policy is set */
	uint8_t pslot; /* the policy label's slot (WORKER_SLOT_NONE until one decided) */
	/*
	 * Owned: the deciding entry's upstream_allow, copied for the same
	 * reason as policy; NULL when it has none.
	 */
	struct rules_cidr *up_allow;
	unsigned n_up_allow;
	struct hs *hs; /* while resolving and connecting; owned */
	union addr up;
	socklen_t up_len;
	union addr peer; /* the client, taken at accept: a reset socket forgets it */
	/*
	 * The balancer whose PROXY header named peer; family 0 when peer is the
	 * socket's own.
	 */
	union addr via;
	struct dir d[2];    /* 0: client -> upstream, 1: upstream -> client */
	uint64_t t0;	    /* accepted */
	uint64_t t_hello;   /* whole ClientHello seen, or 0 */
	uint64_t t_dns;	    /* name resolved, or 0 */
	uint64_t t_connect; /* upstream connected, or 0 */
};

static void conn_end(struct conn *c, enum reason why, bool rst);
static void up_fail(struct conn *c, enum reason why);
static void connect_established(struct conn *c);
static void hello_try(struct conn *c);

static bool busy(const struct conn *c, enum op op)
{
	return c->ops & (1u << op);
}

/* Waiting for the client's first message: what limits.max_pending_hellos bounds. */
static bool pending(enum conn_state s)
{
	return s == CONN_ST_HELLO || s == CONN_ST_HEAD;
}

/* Which states may follow each one: the table at the top of this file, as data. */
static const uint16_t next_ok[CONN_ST__COUNT] = {
	[CONN_ST_NEW] = CONN_SB(CONN_ST_HELLO),
	[CONN_ST_HELLO] = CONN_SB(CONN_ST_HEAD) | CONN_SB(CONN_ST_RESOLVE) |
			  CONN_SB(CONN_ST_RELAY) | CONN_SB(CONN_ST_CLOSING),
	[CONN_ST_HEAD] =
		CONN_SB(CONN_ST_LINGER) | CONN_SB(CONN_ST_RESOLVE) | CONN_SB(CONN_ST_CLOSING),
	[CONN_ST_LINGER] = CONN_SB(CONN_ST_CLOSING),
	[CONN_ST_RESOLVE] =
		CONN_SB(CONN_ST_CONNECT) | CONN_SB(CONN_ST_LINGER) | CONN_SB(CONN_ST_CLOSING),
	[CONN_ST_CONNECT] = CONN_SB(CONN_ST_CONNECT) | CONN_SB(CONN_ST_HELLO) |
			    CONN_SB(CONN_ST_RELAY) | CONN_SB(CONN_ST_LINGER) |
			    CONN_SB(CONN_ST_CLOSING),
	[CONN_ST_RELAY] = CONN_SB(CONN_ST_CLOSING),
	[CONN_ST_CLOSING] = 0,
};

static const char *const state_names[CONN_ST__COUNT] = {
	[CONN_ST_NEW] = "NEW",	     [CONN_ST_HELLO] = "HELLO",	    [CONN_ST_HEAD] = "HEAD",
	[CONN_ST_LINGER] = "LINGER", [CONN_ST_RESOLVE] = "RESOLVE", [CONN_ST_CONNECT] = "CONNECT",
	[CONN_ST_RELAY] = "RELAY",   [CONN_ST_CLOSING] = "CLOSING",
};

bool conn_transition_ok(enum conn_state from, enum conn_state to)
{
	return from < CONN_ST__COUNT && to < CONN_ST__COUNT && (next_ok[from] & CONN_SB(to));
}

const char *conn_state_name(enum conn_state s)
{
	return s < CONN_ST__COUNT && state_names[s] ? state_names[s] : "?";
}

/* The only writer of c->state. */
static void set_state(struct conn *c, enum conn_state s)
{
	/* A transition outside the table is our bug, whatever the peer sent. */
	assert(conn_transition_ok(c->state, s));
	log_msg(CONF_LOG_DEBUG, "conn %d: %s -> %s", c->cfd, conn_state_name(c->state),
		conn_state_name(s));
	if (pending(c->state) && !pending(s))
		c->w->n_hello--;
	else if (!pending(c->state) && pending(s))
		c->w->n_hello++;
	c->state = s;
}

static struct hs *hs_get(struct conn *c)
{
	if (!c->hs)
		c->hs = slab_alloc(&c->w->hs_cache);
	return c->hs;
}

static void hs_put(struct conn *c)
{
	slab_free(&c->w->hs_cache, c->hs);
	c->hs = NULL;
}

/*
 * Handshake objects come from per-thread slabs (core/slab.h), so that after
 * a burst of handshakes the memory goes back to the system instead of
 * staying in malloc's free lists under every idle relayed connection.
 */
void conn_cache_init(struct worker *w)
{
	slab_cache_init(&w->hs_cache, sizeof(struct hs));
}

void conn_cache_free(struct worker *w)
{
	slab_cache_release(&w->hs_cache);
}

/* A copy of name[0..len) with a NUL, or NULL when out of memory. */
static char *name_dup(const char *name, size_t len)
{
	char *s = malloc(len + 1);
	if (s) {
		memcpy(s, name, len);
		s[len] = 0;
	}
	return s;
}

static void submit_op(struct conn *c, enum op op, struct io_uring_sqe *sqe)
{
	io_uring_sqe_set_data64(sqe, ud_pack(c, op));
	c->ops |= 1u << op;
}

static bool peer_fin(const struct conn *c, enum op op)
{
	return op == OP_CIN || op == OP_COUT ? c->cfin : c->ufin;
}

/* A multishot poll still armed serves: its mask covers every later need of op. */
static void arm_poll(struct conn *c, enum op op, int fd, unsigned mask)
{
	if (busy(c, op))
		return;
	struct io_uring_sqe *sqe = worker_sqe(c->w);
	if (peer_fin(c, op)) {
		io_uring_prep_poll_multishot(sqe, fd, mask);
	} else {
		io_uring_prep_poll_add(sqe, fd, mask);
	}
	submit_op(c, op, sqe);
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void queue_deadline(struct conn *c, struct list *q, unsigned timeout_ms)
{
	list_del(&c->tl);
	c->deadline = c->w->now + timeout_ms;
	list_add_tail(q, &c->tl);
}

static void set_linger0(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* ---- access log ---- */

static enum decision decision_of(const struct conn *c)
{
	return c->would_deny ? DEC_WOULD_DENY : c->allowed ? DEC_ALLOW : DEC_DENY;
}

/* Whether c's access line is written: sampling and the denial rate (core/accesslog.h). */
static bool access_wanted(struct conn *c)
{
	struct worker *w = c->w;

	return accesslog_wanted(&w->alog, w->conf, c->allowed || c->would_deny, w->now,
				&w->st.log_dropped);
}

static void access_line(const struct conn *c)
{
	struct access_entry e = {
		.client = &c->peer.sa,
		.via = c->via.sa.sa_family ? &c->via.sa : NULL,
		.upstream = c->up_len ? &c->up.sa : NULL,
		.listener = c->l->name,
		.path = c->path,
		.host = c->host_len ? c->host : NULL,
		.port = c->connect_port,
		.sni = c->sni_len ? c->sni : NULL,
		.decision = decision_of(c),
		.reason = c->reason,
		.bytes_up = c->d[0].bytes,
		.bytes_down = c->d[1].bytes,
		.t0 = c->t0,
		.t_hello = c->t_hello,
		.t_dns = c->t_dns,
		.t_connect = c->t_connect,
		.now = c->w->now,
		.ech = c->ech,
		.policy = c->policy,
		.user = c->user,
		.gen = c->gen,
	};
	accesslog_write(&e);
}

/* ---- end of life ---- */

/*
 * Nothing else holds the file by now (conn_finish runs with no request in
 * flight), so a close through the ring is final and batches with the rest.
 */
static void ring_close(struct worker *w, int fd)
{
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data64(sqe, ud_pack(NULL, OP_IGNORE));
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

static void conn_finish(struct conn *c)
{
	struct worker *w = c->w;

	if (access_wanted(c))
		access_line(c);
	w->st.reason[c->reason]++;
	w->keys[WORKER_KEY(c->l - w->ls, c->pslot, c->path, decision_of(c), c->reason)]++;
	if (c->src_held)
		srclimit_put(&c->peer.sa);
	w->st.bytes_up += c->d[0].bytes;
	w->st.bytes_down += c->d[1].bytes;
	for (int i = 0; i < 2; i++) {
		struct dir *d = &c->d[i];
		if (d->pipe) {
			if (d->inpipe)
				pipe_kill(w->pp, d->pipe);
			else
				pipe_put(w->pp, d->pipe);
		}
	}
	if (c->rst) {
		/*
		 * Closing a socket with unread bytes resets it (tcp_close(), RFC 2525
		 * 2.17), so a TLS client ended before the relay, its hello still in
		 * the socket, needs no SO_LINGER call of its own.
		 */
		if (!c->unread)
			set_linger0(c->cfd);
		if (c->ufd >= 0)
			set_linger0(c->ufd);
	}
	ring_close(w, c->cfd);
	if (c->ufd >= 0)
		ring_close(w, c->ufd);
	list_del(&c->tl);
	list_del(&c->rl);
	w->live--;
	hs_put(c);
	free(c->sni);
	free(c->host);
	free(c->user);
	free(c->policy);
	free(c->up_allow);
	free(c);
}

static void cancel_fd(struct worker *w, int fd)
{
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, ud_pack(NULL, OP_IGNORE));
}

/*
 * The handshake stops short of the relay: a client still waiting at the gate
 * counts as denied, and a lookup in flight must not call back into c.
 */
static void leave_handshake(struct conn *c)
{
	if (pending(c->state) && !c->allowed && !c->would_deny)
		c->w->st.denied++;
	if (c->state == CONN_ST_RESOLVE && c->hs)
		resolver_cancel(&c->hs->rw);
}

/* The whole first message is in: from now on any byte must wake us. */
static void lowat_reset(struct conn *c)
{
	int one = 1;

	if (c->lowat)
		setsockopt(c->cfd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	c->lowat = false;
}

/*
 * End the connection: remember why, stop every request in flight, and free
 * it once they have all come back. The caller must not touch c afterwards.
 */
static void conn_end(struct conn *c, enum reason why, bool rst)
{
	if (c->state == CONN_ST_CLOSING)
		return;
	leave_handshake(c);
	set_state(c, CONN_ST_CLOSING);
	c->reason = why;
	c->rst = rst;
	list_del(&c->tl);
	list_del(&c->rl);
	if (c->ops == 0) {
		conn_finish(c);
		return;
	}
	if (c->ops & ((1u << OP_CIN) | (1u << OP_COUT)))
		cancel_fd(c->w, c->cfd);
	if (c->ufd >= 0 && (c->ops & ((1u << OP_UIN) | (1u << OP_UOUT) | (1u << OP_CONNECT))))
		cancel_fd(c->w, c->ufd);
}

/* ---- relay ---- */

static bool dir_pump(struct conn *c, int di);

static void touch(struct conn *c)
{
	queue_deadline(c, &c->w->q_relay, c->w->conf->timeouts.idle_ms);
}

static void relay_arm(struct conn *c, int di, bool dst_blocked)
{
	struct dir *d = &c->d[di];
	int src = di == 0 ? c->cfd : c->ufd;
	int dst = di == 0 ? c->ufd : c->cfd;

	if (dst_blocked)
		arm_poll(c, di == 0 ? OP_UOUT : OP_COUT, dst, POLLOUT);
	else if (!d->eof && !d->ready)
		arm_poll(c, di == 0 ? OP_CIN : OP_UIN, src, POLLIN | POLLRDHUP);
	else if (d->eof)
		/*
		 * A half-closed source is still watched, for errors only (poll
		 * always reports POLLERR and POLLHUP): a client that resets after
		 * its FIN must reset the upstream even when no byte flows back.
		 */
		arm_poll(c, di == 0 ? OP_CIN : OP_UIN, src, 0);
}

/*
 * Move what is there, source -> pipe -> destination, until the source is
 * empty, the destination is full or the budget is used. Returns false when
 * the connection ended (c is gone).
 */
static bool dir_pump(struct conn *c, int di)
{
	struct worker *w = c->w;
	struct dir *d = &c->d[di];
	int src = di == 0 ? c->cfd : c->ufd;
	int dst = di == 0 ? c->ufd : c->cfd;
	enum reason src_err = di == 0 ? RS_CLIENT_RESET : RS_UPSTREAM_RESET;
	enum reason dst_err = di == 0 ? RS_UPSTREAM_RESET : RS_CLIENT_RESET;
	bool dst_blocked = false, moved = false;
	size_t budget = PUMP_BUDGET;

	d->ready = false;
	for (;;) {
		ssize_t in = 0, out = 0;
		bool short_read = false, dst_again = false;

		if (!d->eof) {
			if (!d->pipe) {
				d->pipe = d->large ? pipe_get_large(w->pp) : NULL;
				if (!d->pipe)
					d->pipe = pipe_get(w->pp);
				if (!d->pipe) {
					conn_end(c, RS_INTERNAL, true);
					return false;
				}
			}
			size_t room = d->pipe->size - d->inpipe;
			if (room > 0) {
				in = splice(src, NULL, d->pipe->wfd, NULL, room,
					    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
				if (in > 0) {
					d->inpipe += (size_t)in;
					d->bytes += (size_t)in;
					d->full = (size_t)in == room ? d->full + 1 : 0;
					short_read = (size_t)in < room;
				} else if (in == 0) {
					d->eof = true;
					if (di == 0)
						c->cfin = true;
					else
						c->ufin = true;
				} else if (errno != EAGAIN && errno != EINTR) {
					conn_end(c, src_err, true);
					return false;
				}
			}
		}
		if (d->inpipe > 0) {
			out = splice(d->pipe->rfd, NULL, dst, NULL, d->inpipe,
				     SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (out > 0) {
				d->inpipe -= (size_t)out;
				budget = (size_t)out >= budget ? 0 : budget - (size_t)out;
			} else if (out < 0 && errno == EAGAIN) {
				dst_blocked = true;
			} else if (out < 0 && errno == EINTR) {
				/*
				 * Cut short, not full: try again. Breaking out here
				 * would leave the bytes in the pipe behind the source's
				 * poll, which only the peer's next byte wakes.
				 */
				dst_again = true;
			} else if (out < 0) {
				conn_end(c, dst_err, true);
				return false;
			}
		}
		if (in > 0 || out > 0)
			moved = true;
		if (dst_again)
			continue;
		if (dst_blocked || (in <= 0 && out <= 0))
			break;
		/*
		 * The source gave less than there was room for: it is most
		 * likely empty, and the splice that would say so (EAGAIN) is a
		 * sixth of a small message's syscalls. The one-shot poll armed
		 * next checks readiness when it is submitted, so bytes left
		 * behind (a splice also stops when the pipe runs out of buffer
		 * slots, one per skb) or an EOF wake us at once. Once the peer
		 * sent its FIN the source's poll is multishot and may be armed
		 * already: it posts only on a new wakeup, and after a FIN none
		 * comes, so bytes left behind would stall the relay (the soak
		 * saw a transfer hang). Then the pump reads on to EAGAIN or EOF.
		 */
		if (short_read && d->inpipe == 0 && !peer_fin(c, di == 0 ? OP_CIN : OP_UIN))
			break;
#ifdef SNIGATE_REVERT_346DCF3
		/* The pump before 346dcf3: test/faults must catch it (-Dfault_revert_346dcf3). */
		if (short_read && d->inpipe == 0)
			break;
#endif
		if (budget == 0) {
			/* Yield: the worker pumps us again after the others had a turn. */
			d->ready = true;
			if (list_empty(&c->rl))
				list_add_tail(&w->q_ready, &c->rl);
			break;
		}
	}

	if (d->inpipe == 0 && d->pipe) {
		/*
		 * A flow that keeps filling its pipe is streaming: from now on it
		 * takes a large pipe (relay.pipe_max_size): fewer, larger splices
		 * move the same bytes for about half the CPU. Either kind goes back
		 * as soon as it is empty, so an idle connection holds no pipe memory.
		 */
		if (d->full >= PROMOTE_AFTER)
			d->large = true;
		pipe_put(w->pp, d->pipe);
		d->pipe = NULL;
	}
	if (d->eof && d->inpipe == 0 && !d->shut) {
		shutdown(dst, SHUT_WR);
		d->shut = true;
	}
	if (c->d[0].shut && c->d[1].shut) {
		conn_end(c, RS_DONE, false);
		return false;
	}
	if (!c->d[0].ready && !c->d[1].ready)
		list_del(&c->rl);
	if (moved)
		touch(c);
	relay_arm(c, di, dst_blocked);
	return true;
}

/* A source poll fired: data, EOF, or an error on a source already at EOF. */
static void relay_event(struct conn *c, int di, int res)
{
	if (c->d[di].eof && res > 0 && (res & (POLLERR | POLLHUP))) {
		conn_end(c, di == 0 ? RS_CLIENT_RESET : RS_UPSTREAM_RESET, true);
		return;
	}
	dir_pump(c, di);
}

static void relay_start(struct conn *c)
{
	struct worker *w = c->w;

	lowat_reset(c);
	set_state(c, CONN_ST_RELAY);
	c->unread = false; /* splice will read it */
	w->st.relayed++;
	touch(c);
	if (dir_pump(c, 0))
		dir_pump(c, 1);
}

/* ---- connect ---- */

static uint16_t up_port(const struct conn *c)
{
	if (c->up.sa.sa_family == AF_INET)
		return ntohs(c->up.in.sin_port);
	return ntohs(c->up.in6.sin6_port);
}

/*
 * Whether the entry that allowed c names this denied upstream address in
 * its upstream_allow: an SSRF exception for that name alone. A loop back to
 * the gateway (POLICY_SELF) is never excepted.
 */
/* Whether a (16 bytes, IPv4 as IPv4-mapped) is in net/bits, bits 0..128. */
static bool prefix_has(const uint8_t net[16], unsigned bits, const uint8_t a[16])
{
	unsigned full = bits / 8, rest = bits % 8;

	return !memcmp(a, net, full) && (!rest || !((a[full] ^ net[full]) & (0xff00 >> rest)));
}

static bool excepted(const struct conn *c, sa_family_t family, const uint8_t *addr)
{
	uint8_t a[16] = {[10] = 0xff, [11] = 0xff};

	if (family == AF_INET)
		memcpy(a + 12, addr, 4);
	else
		memcpy(a, addr, 16);
	for (unsigned i = 0; i < c->n_up_allow; i++)
		if (prefix_has(c->up_allow[i].addr, c->up_allow[i].bits, a))
			return true;
	return false;
}

/*
 * The upstream policy refused the address in c->up: count it and say where
 * the name pointed. c->up keeps that address, so when no address is left
 * the access line names the refused one, with reason upstream_denied.
 */
static void upstream_refused(struct conn *c, enum policy_verdict v)
{
	struct worker *w = c->w;
	char up[64];

	resolver_count_denied(w->res, 1);
	c->connect_err = RS_UPSTREAM_DENIED;
	/* A line a second per thread at most: a hostile answer must not flood stderr. */
	if (w->policy_warned && w->now - w->policy_warned < 1000) {
		w->policy_quiet++;
		return;
	}
	accesslog_addr(&c->up.sa, up, sizeof(up));
	log_msg(CONF_LOG_WARN, "upstream denied: %s resolved to %s (%s; %u more held back)",
		c->path == PATH_CONNECT ? c->host : c->sni, up,
		v == POLICY_SELF ? "this gateway's own listener: a loop" : "upstream policy",
		w->policy_quiet);
	w->policy_warned = w->now ? w->now : 1;
	w->policy_quiet = 0;
}

static void connect_next(struct conn *c)
{
	struct worker *w = c->w;
	struct hs *hs = c->hs;

	while (hs->addr_idx < hs->ans.n) {
		const typeof(hs->ans.a[0]) *a = &hs->ans.a[hs->addr_idx];
		uint16_t port =
			htons(c->path == PATH_CONNECT ? c->connect_port : c->l->cl->upstream_port);

		memset(&c->up, 0, sizeof(c->up));
		if (a->family == AF_INET) {
			struct sockaddr_in *s = &c->up.in;
			s->sin_family = AF_INET;
			s->sin_port = port;
			memcpy(&s->sin_addr, a->addr, 4);
			c->up_len = sizeof(*s);
		} else {
			struct sockaddr_in6 *s = &c->up.in6;
			s->sin6_family = AF_INET6;
			s->sin6_port = port;
			memcpy(&s->sin6_addr, a->addr, 16);
			c->up_len = sizeof(*s);
		}
		/* The address dialled is the one checked: no second lookup, no rebinding. */
		enum policy_verdict pv =
			policy_check(w->wc->policy, a->family, a->addr, up_port(c));
		if (pv == POLICY_DENY && excepted(c, a->family, a->addr))
			pv = POLICY_ALLOW;
		if (pv != POLICY_ALLOW) {
			upstream_refused(c, pv);
			hs->addr_idx++;
			continue;
		}
		c->ufd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->ufd < 0) {
			c->connect_err = RS_INTERNAL;
			hs->addr_idx++;
			continue;
		}
		int one = 1;
		setsockopt(c->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		set_state(c, CONN_ST_CONNECT);
		c->timed_out = false;
		hs->connect_start_us = now_us();
		struct io_uring_sqe *sqe = worker_sqe(w);
		io_uring_prep_connect(sqe, c->ufd, &c->up.sa, c->up_len);
		submit_op(c, OP_CONNECT, sqe);
		queue_deadline(c, &w->q_connect, w->conf->timeouts.connect_ms);
		return;
	}
	up_fail(c, c->connect_err ? c->connect_err : RS_CONNECT_ERROR);
}

static void connect_done(struct conn *c, int res)
{
	if (c->w->stopping) {
		conn_end(c, RS_SHUTDOWN, true);
		return;
	}
	if (res == 0) {
		c->t_connect = c->w->now;
		stats_connect(&c->w->st, now_us() - c->hs->connect_start_us);
		hs_put(c);
		if (c->path == PATH_CONNECT)
			connect_established(c);
		else
			relay_start(c);
		return;
	}
	if (c->timed_out)
		c->connect_err = RS_CONNECT_TIMEOUT;
	else if (res == -ECONNREFUSED)
		c->connect_err = RS_CONNECT_REFUSED;
	else
		c->connect_err = RS_CONNECT_ERROR;
	close(c->ufd);
	c->ufd = -1;
	c->hs->addr_idx++;
	connect_next(c);
}

/* ---- resolve ---- */

static void resolved(void *arg, enum resolver_status st, const struct resolver_answer *ans)
{
	struct conn *c = arg;

	c->t_dns = c->w->now;
	switch (st) {
	case RESOLVER_OK:
		c->hs->ans = *ans;
		c->hs->addr_idx = 0;
		connect_next(c);
		return;
	case RESOLVER_NXDOMAIN:
		up_fail(c, RS_DNS_NXDOMAIN);
		return;
	case RESOLVER_NODATA:
		up_fail(c, RS_DNS_NODATA);
		return;
	case RESOLVER_TIMEOUT:
		up_fail(c, RS_DNS_TIMEOUT);
		return;
	case RESOLVER_ERROR:
		break;
	}
	up_fail(c, RS_DNS_ERROR);
}

static void resolve(struct conn *c)
{
	struct worker *w = c->w;
	enum resolver_status st;
	struct resolver_answer ans;
	uint64_t before = resolver_queries(w->res);

	set_state(c, CONN_ST_RESOLVE);
	queue_deadline(c, &w->q_dns, w->conf->timeouts.dns_ms);
	const char *name = c->path == PATH_CONNECT ? c->host : c->sni;
	size_t len = c->path == PATH_CONNECT ? c->host_len : c->sni_len;
	if (!hs_get(c)) {
		conn_end(c, RS_INTERNAL, true);
		return;
	}
	int rc = resolver_lookup(w->res, name, len, w->now, &c->hs->rw, resolved, c, &st, &ans);
	w->st.dns_queries += resolver_queries(w->res) - before;
	if (rc == 0)
		resolved(c, st, &ans);
	else if (rc != -EINPROGRESS)
		up_fail(c, RS_DNS_ERROR);
}

/* ---- HTTP CONNECT ---- */

/*
 * Answer an HTTP error and close gracefully: the status must reach the
 * client, so the request bytes are read first (closing with unread data
 * would send a reset), then FIN, then whatever else the client sends is read
 * and dropped for up to LINGER_MS (nginx's lingering close), so its own
 * sending cannot turn our close into a reset either.
 */
static void http_reply(struct conn *c, int status, const char *body, enum reason why)
{
	struct worker *w = c->w;
	char buf[512];

	while (recv(c->cfd, w->scratch, w->scratch_len, MSG_DONTWAIT) > 0)
		;
	size_t n = connect_response(status, body, buf, sizeof(buf));
	if (n && send(c->cfd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* A client that is gone gets its close below all the same. */
	}
	c->replied = true;
	leave_handshake(c);
	hs_put(c);
	lowat_reset(c);
	c->reason = why;
	shutdown(c->cfd, SHUT_WR);
	if (c->ufd >= 0) {
		/* Nothing was relayed yet: the upstream gets a reset, not a half-open connection.
		 */
		set_linger0(c->ufd);
		close(c->ufd);
		c->ufd = -1;
	}
	set_state(c, CONN_ST_LINGER);
	queue_deadline(c, &w->q_linger, LINGER_MS);
	arm_poll(c, OP_CIN, c->cfd, POLLIN | POLLRDHUP);
}

/* CONN_ST_LINGER: drop what arrives until EOF. */
static void linger_read(struct conn *c)
{
	struct worker *w = c->w;
	ssize_t n;

	while ((n = recv(c->cfd, w->scratch, w->scratch_len, MSG_DONTWAIT)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		conn_end(c, c->reason, n != 0);
		return;
	}
	arm_poll(c, OP_CIN, c->cfd, POLLIN | POLLRDHUP);
}

/* Resolution or connect failed: a CONNECT client is owed a status, a TLS client a reset. */
static void up_fail(struct conn *c, enum reason why)
{
	char body[320];
	int status = 502;

	if (c->path != PATH_CONNECT || c->replied) {
		conn_end(c, why, true);
		return;
	}
	switch (why) {
	case RS_DNS_NXDOMAIN:
	case RS_DNS_NODATA:
	case RS_DNS_ERROR:
	case RS_DNS_TIMEOUT:
		snprintf(body, sizeof(body), "cannot resolve %s", c->host);
		break;
	case RS_UPSTREAM_DENIED:
		status = 403;
		snprintf(body, sizeof(body), "%s resolves to an address that is not allowed",
			 c->host);
		break;
	case RS_CONNECT_TIMEOUT:
		status = 504;
		snprintf(body, sizeof(body), "connecting to %s timed out", c->host);
		break;
	default:
		snprintf(body, sizeof(body), "cannot connect to %s", c->host);
		break;
	}
	http_reply(c, status, body, why);
}

/*
 * The upstream is connected: say so, then hold the client to its word: the
 * ClientHello that follows must name the host it asked for, or a CONNECT to
 * an allowed name could carry TLS to any other.
 */
static void connect_established(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";

	if (send(c->cfd, ok, sizeof(ok) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof(ok) - 1) {
		conn_end(c, RS_CLIENT_RESET, true);
		return;
	}
	c->replied = true;
	/* Denying ECH needs the hello read even where its name need not match. */
	if (!c->l->cl->require_sni_match && !c->ech_denied) {
		relay_start(c);
		return;
	}
	set_state(c, CONN_ST_HELLO);
	queue_deadline(c, &c->w->q_hello, c->w->conf->timeouts.client_hello_ms);
	hello_try(c);
}

static bool port_allowed(const struct conf_listener *cl, uint16_t port)
{
	for (unsigned i = 0; i < cl->n_connect_ports; i++)
		if (cl->connect_ports[i] == port)
			return true;
	return false;
}

/*
 * Sleep until the client has sent want bytes in all (SO_RCVLOWAT), or any
 * byte when want is 0. A client that half-closed sends no more: it ends with
 * eof instead.
 */
static void wait_more(struct conn *c, size_t want, enum reason eof)
{
	int lowat = (int)want;

	if (c->rdhup) {
		conn_end(c, eof, true);
		return;
	}
	if (want && setsockopt(c->cfd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)) == 0)
		c->lowat = true;
	arm_poll(c, OP_CIN, c->cfd, POLLIN | POLLRDHUP);
}

/* The client's address as sni/rules takes it: 16 bytes, IPv4 as IPv4-mapped. */
static void peer16(const union addr *a, uint8_t out[16])
{
	if (a->sa.sa_family == AF_INET) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a->in.sin_addr, 4);
	} else {
		memcpy(out, &a->in6.sin6_addr, 16);
	}
}

/*
 * Whether policy p lets names off its list through: its own mode, else the
 * listener's, else the top-level one. p indexes w->conf->policies, with the
 * top-level allow's policy after them.
 */
static bool audit_of(const struct conn *c, int p)
{
	const struct conf *cf = c->w->conf;
	enum conf_mode m = (unsigned)p < cf->n_policies ? cf->policies[p].mode : CONF_MODE_DEFAULT;

	if (!m)
		m = c->l->cl->mode;
	if (!m)
		m = cf->mode;
	return m == CONF_AUDIT;
}

/* Whether policy p resets a hello that offers ECH: its own ech, else the top-level one. */
static bool ech_denied(const struct conn *c, int p)
{
	const struct conf *cf = c->w->conf;
	enum conf_ech e = (unsigned)p < cf->n_policies ? cf->policies[p].ech : CONF_ECH_DEFAULT;

	return (e ? e : cf->ech) == CONF_ECH_DENY;
}

/*
 * The access policies' verdict on name (port: the CONNECT port, 0 on the
 * TLS path), counted. RS_NONE when the connection may go on: allowed, or let
 * through by its policy's audit mode; else why not. A CONNECT port must be
 * in the entry's ports when it lists some, else in the listener's
 * connect_ports, whatever the mode. An IP address (ip_literal) that no
 * entry lists is refused in audit mode too: it names no host a policy
 * could vouch for.
 */
static enum reason gate(struct conn *c, const char *name, size_t len, uint16_t port,
			bool ip_literal)
{
	struct worker *w = c->w;
	const struct rules *r = w->wc->rules;
	bool ports_checked = false;
	uint8_t a[16];
	long at;

	peer16(&c->peer, a);
	int p = rules_match(r, (unsigned)(c->l - w->ls), a, c->user, c->user ? strlen(c->user) : 0);
	if (p < 0)
		return RS_NO_POLICY;
	free(c->policy);
	if (!(c->policy = strdup(rules_name(r, p))))
		return RS_INTERNAL;
	c->gen = w->wc->gen;
	c->pslot = w->wc->policy_slot[p];
	/*
	 * An ECH hello's SNI is the provider's client-facing name: allowing it
	 * would allow every site behind it. CONNECT learns of ECH only from the
	 * hello after the 200, where hello_try() checks ech_denied.
	 */
	c->ech_denied = ech_denied(c, p);
	if (c->ech && c->ech_denied)
		return RS_ECH;
	enum rules_verdict v =
		rules_check(r, p, name, len, port, (int64_t)time(NULL), &at, &ports_checked);
	if (port && !ports_checked && !port_allowed(c->l->cl, port))
		v = RULES_PORT;
	switch (v) {
	case RULES_ALLOW: {
		unsigned n;
		const struct rules_cidr *ua = rules_upstream_allow(r, p, at, &n);
		if (n) {
			if (!(c->up_allow = malloc(n * sizeof(*ua))))
				return RS_INTERNAL;
			memcpy(c->up_allow, ua, n * sizeof(*ua));
			c->n_up_allow = n;
		}
		c->allowed = true;
		w->st.allowed++;
		w->names[at]++;
		return RS_NONE;
	}
	case RULES_PORT:
		return RS_PORT_NOT_ALLOWED;
	case RULES_NOT_LISTED:
		if (ip_literal)
			return RS_IP_LITERAL;
		break;
	case RULES_EXPIRED:
		break;
	}
	/* Counted as "policy/name", so /denied can answer for one policy. */
	char key[TOPK_NAME_MAX + 1];
	int kl = snprintf(key, sizeof(key), "%s/%.*s", c->policy, (int)len, name);
	pthread_mutex_lock(&w->mu);
	topk_add(w->denied, key,
		 kl < 0			    ? 0
		 : (size_t)kl < sizeof(key) ? (size_t)kl
					    : sizeof(key) - 1);
	pthread_mutex_unlock(&w->mu);
	if (!audit_of(c, p))
		return v == RULES_EXPIRED ? RS_EXPIRED : RS_NOT_ALLOWED;
	c->would_deny = true;
	w->st.would_deny++;
	return RS_NONE;
}

/*
 * Read n bytes off the client socket, which peeking has shown are there:
 * what the gateway answers itself (a CONNECT head, a PROXY header) and
 * never relays. False when the client went away meanwhile.
 */
static bool consume(struct conn *c, size_t n)
{
	struct worker *w = c->w;

	while (n > 0) {
		ssize_t k = recv(c->cfd, w->scratch, n < w->scratch_len ? n : w->scratch_len,
				 MSG_DONTWAIT);
		if (k <= 0)
			return false;
		n -= (size_t)k;
	}
	return true;
}

/*
 * CONN_ST_HELLO, from a trusted balancer: n bytes of its PROXY v2 header
 * (at least the start of one) are in w->peek. The header is the balancer's
 * word, not the client's bytes: it is read off the socket, never relayed,
 * and the client it names is who the policies, the source limit and the
 * access log see from here on.
 */
static void proxy_try(struct conn *c, size_t n)
{
	struct worker *w = c->w;
	struct proxyproto_header h;

	switch (proxyproto_parse(w->peek, n, &h)) {
	case PROXYPROTO_NEED_MORE:
		wait_more(c, h.want, RS_HELLO_EOF);
		return;
	case PROXYPROTO_REJECT:
		log_msg(CONF_LOG_DEBUG, "conn %d: PROXY header refused (%s)", c->cfd,
			proxyproto_reason_str(h.reason));
		conn_end(c,
			 h.reason == PROXYPROTO_R_SIGNATURE ? RS_PROXY_MISSING : RS_PROXY_MALFORMED,
			 true);
		return;
	case PROXYPROTO_OK:
		break;
	}
	if (!consume(c, h.len)) {
		conn_end(c, RS_HELLO_EOF, true);
		return;
	}
	/* The low-water mark counted the header's bytes; the client's are counted afresh. */
	lowat_reset(c);
	c->pp_want = false;
	/* LOCAL: the balancer's own connection (a health check), which names no client. */
	if (h.command == PROXYPROTO_PROXY) {
		c->via = c->peer;
		memset(&c->peer, 0, sizeof(c->peer));
		if (h.family == AF_INET) {
			c->peer.in.sin_family = AF_INET;
			memcpy(&c->peer.in.sin_addr, h.src, 4);
			c->peer.in.sin_port = htons(h.src_port);
		} else {
			c->peer.in6.sin6_family = AF_INET6;
			memcpy(&c->peer.in6.sin6_addr, h.src, 16);
			c->peer.in6.sin6_port = htons(h.src_port);
		}
	}
	unsigned max = w->conf->limits.max_per_source_ip;
	if (max) {
		if (!srclimit_take(&c->peer.sa, max)) {
			conn_end(c, RS_SOURCE_LIMIT, true);
			return;
		}
		c->src_held = true;
	}
	hello_try(c);
}

/* Whether peer, the socket's, is one of l's trusted balancers (listeners[].proxy_protocol). */
static bool trusted_peer(const struct worker_trusted *t, const union addr *peer)
{
	uint8_t a[16];

	peer16(peer, a);
	for (unsigned i = 0; i < t->n; i++)
		if (prefix_has(t->v[i].addr, t->v[i].bits, a))
			return true;
	return false;
}

/* CONN_ST_HEAD: n bytes of the request head are in w->peek. */
static void head_try(struct conn *c, size_t n)
{
	struct worker *w = c->w;
	struct connect_req rq;
	char body[320];

	switch (connect_parse(w->peek, n, NULL, &rq)) {
	case CONNECT_NEED_MORE:
		wait_more(c, n + 1, RS_HEAD_EOF);
		return;
	case CONNECT_BAD_REQUEST:
		snprintf(body, sizeof(body), "malformed request (%s)",
			 connect_reason_str(rq.reason));
		http_reply(c, 400, body, RS_BAD_REQUEST);
		return;
	case CONNECT_BAD_METHOD:
		http_reply(c, 405, "this proxy serves CONNECT only", RS_BAD_METHOD);
		return;
	case CONNECT_TOO_LARGE:
		http_reply(c, 431, "request head too large", RS_HEAD_TOO_LARGE);
		return;
	case CONNECT_BAD_VERSION:
		http_reply(c, 505, "HTTP/1.1 or HTTP/1.0 only", RS_BAD_VERSION);
		return;
	case CONNECT_OK:
		break;
	}
	if (!(c->host = name_dup(rq.host, rq.host_len))) {
		conn_end(c, RS_INTERNAL, true);
		return;
	}
	c->host_len = rq.host_len;
	c->connect_port = rq.port;
	c->t_hello = w->now;

	/* Credentials first: who may not use the proxy learns nothing of its policy. */
	const struct proxy_auth *auth = w->wc->auth ? w->wc->auth[c->l - w->ls] : NULL;
	if (auth) {
		const char *user;
		enum proxy_auth_result r = proxy_auth_check_user(auth, rq.auth, rq.auth_len, &user);
		if (r != PROXY_AUTH_OK) {
			http_reply(c, 407, "proxy authentication required",
				   r == PROXY_AUTH_MISSING ? RS_AUTH_REQUIRED : RS_AUTH_FAILED);
			return;
		}
		if (!(c->user = strdup(user))) {
			conn_end(c, RS_INTERNAL, true);
			return;
		}
	}
	enum reason why = gate(c, c->host, c->host_len, rq.port, rq.host_kind != CONNECT_HOST_NAME);
	switch (why) {
	case RS_NONE:
		break;
	case RS_PORT_NOT_ALLOWED:
		snprintf(body, sizeof(body), "port %u is not allowed", rq.port);
		http_reply(c, 403, body, why);
		return;
	case RS_NO_POLICY:
		http_reply(c, 403, "no policy applies to this client", why);
		return;
	case RS_INTERNAL:
		conn_end(c, why, true);
		return;
	case RS_IP_LITERAL:
		http_reply(c, 403, "IP address targets are not allowed", why);
		return;
	default:
		snprintf(body, sizeof(body), "%s is not on the allowlist", c->host);
		http_reply(c, 403, body, why);
		return;
	}
	/* Exactly the head is consumed: whatever follows is the client's, and is relayed. */
	if (!consume(c, rq.head_len)) {
		conn_end(c, RS_HEAD_EOF, true);
		return;
	}
	if (rq.host_kind != CONNECT_HOST_NAME) {
		/* A listed address is dialled as it is, still through the upstream policy. */
		struct hs *hs = hs_get(c);
		if (!hs) {
			conn_end(c, RS_INTERNAL, true);
			return;
		}
		hs->ans.n = 1;
		hs->ans.a[0].family = rq.host_kind == CONNECT_HOST_IPV4 ? AF_INET : AF_INET6;
		memcpy(hs->ans.a[0].addr, rq.addr, sizeof(rq.addr));
		hs->addr_idx = 0;
		c->t_dns = w->now;
		set_state(c, CONN_ST_RESOLVE);
		connect_next(c);
		return;
	}
	resolve(c);
}

/* ---- ClientHello ---- */

static void hello_try(struct conn *c)
{
	struct worker *w = c->w;
	struct sni_hello h;
	ssize_t n;

	enum reason eof = c->state == CONN_ST_HEAD ? RS_HEAD_EOF : RS_HELLO_EOF;
	n = recv(c->cfd, w->peek, w->peek_len, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		wait_more(c, 0, eof);
		return;
	}
	if (n <= 0) {
		conn_end(c, eof, true);
		return;
	}
	if (c->pp_want) {
		proxy_try(c, (size_t)n);
		return;
	}
	if (c->state == CONN_ST_HEAD) {
		head_try(c, (size_t)n);
		return;
	}
	/*
	 * No TLS record or request line starts with CR: one that does may be a
	 * PROXY header from a peer not trusted to send one, which must not
	 * pass for a protocol error when a balancer is misconfigured.
	 */
	if (w->peek[0] == 0x0d && c->path == PATH_TLS && !c->sni &&
	    proxyproto_signature(w->peek, (size_t)n)) {
		if (n < 12)
			wait_more(c, 12, RS_HELLO_EOF);
		else
			conn_end(c, RS_PROXY_UNTRUSTED, true);
		return;
	}
	if (!c->sorted) {
		/* One byte tells a TLS record (0x16) from a request line (a method's capital). */
		enum conf_protocol proto = c->l->cl->protocol;
		switch (connect_classify(w->peek, (size_t)n)) {
		case CONNECT_FIRST_TLS:
			if (proto == CONF_PROTO_CONNECT) {
				conn_end(c, RS_PROTOCOL, true);
				return;
			}
			c->sorted = true;
			break;
		case CONNECT_FIRST_HTTP:
			c->sorted = true;
			c->path = PATH_CONNECT;
			set_state(c, CONN_ST_HEAD);
			queue_deadline(c, &w->q_head, w->conf->timeouts.request_head_ms);
			head_try(c, (size_t)n);
			return;
		case CONNECT_FIRST_OTHER:
			conn_end(c, RS_PROTOCOL, true);
			return;
		case CONNECT_FIRST_NEED_MORE:
			wait_more(c, (size_t)n + 1, RS_HELLO_EOF);
			return;
		}
	}
	/* Nothing is read from a TLS client before the relay splices it. */
	c->unread = c->path != PATH_CONNECT;
	switch (sni_parse(w->peek, (size_t)n, w->scratch, w->scratch_len, &h)) {
	case SNI_REJECT:
		conn_end(c, (enum reason)h.reason, true);
		return;
	case SNI_NEED_MORE:
		if (!c->rdhup && h.want > w->peek_len) {
			conn_end(c, (enum reason)SNI_R_TOO_LARGE, true);
			return;
		}
		/* Sleep until the bytes the parser needs are all there. */
		wait_more(c, h.want, RS_HELLO_EOF);
		return;
	case SNI_OK:
		break;
	}
	if (!c->sni && !(c->sni = name_dup(h.name, h.name_len))) {
		conn_end(c, RS_INTERNAL, true);
		return;
	}
	c->sni_len = h.name_len;
	c->ech = h.ech;
	stats_hello(&w->st, h.wire_len);
	if (c->path == PATH_CONNECT) {
		/* The gate already passed the host; the hello must not change the name. */
		if (c->l->cl->require_sni_match &&
		    (c->sni_len != c->host_len || memcmp(c->sni, c->host, c->host_len))) {
			c->allowed = c->would_deny = false;
			conn_end(c, RS_SNI_MISMATCH, true);
			return;
		}
		if (c->ech && c->ech_denied) {
			c->allowed = c->would_deny = false;
			conn_end(c, RS_ECH, true);
			return;
		}
		relay_start(c);
		return;
	}
	c->t_hello = w->now;
	enum reason why = gate(c, c->sni, c->sni_len, 0, false);
	if (why != RS_NONE) {
		conn_end(c, why, true);
		return;
	}
	resolve(c);
}

/* ---- entry points from the worker ---- */

/* Refuse at accept: one access line, a reset, and nothing allocated. */
static void refuse(struct worker *w, struct listener *l, int fd, enum reason why,
		   const union addr *peer)
{
	w->st.denied++;
	w->st.reason[why]++;
	w->keys[WORKER_KEY(l - w->ls, WORKER_SLOT_NONE, PATH_TLS, DEC_DENY, why)]++;
	struct conn tmp = {.w = w, .l = l, .reason = why, .t0 = w->now};
	if (access_wanted(&tmp)) {
		if (peer) {
			tmp.peer = *peer;
		} else {
			socklen_t sl = sizeof(tmp.peer);
			getpeername(fd, &tmp.peer.sa, &sl);
		}
		access_line(&tmp);
	}
	set_linger0(fd);
	ring_close(w, fd);
}

void conn_accept(struct worker *w, struct listener *l, int fd)
{
	const struct conf *cf = w->conf;
	union addr peer;
	bool have_peer = false;
	struct conn *c;

	w->st.accepted++;
	if (w->max_live && w->live >= w->max_live) {
		refuse(w, l, fd, RS_OVERLOAD, NULL);
		return;
	}
	if (w->max_hellos && w->n_hello >= w->max_hellos) {
		refuse(w, l, fd, RS_PENDING_LIMIT, NULL);
		return;
	}
	const struct worker_trusted *tr = w->wc->trusted ? &w->wc->trusted[l - w->ls] : NULL;
	if (tr && !tr->n)
		tr = NULL;
	if (cf->limits.max_per_source_ip || w->wc->need_source || tr ||
	    (cf->access_log && log_enabled(CONF_LOG_INFO))) {
		socklen_t sl = sizeof(peer);
		memset(&peer, 0, sizeof(peer));
		have_peer = getpeername(fd, &peer.sa, &sl) == 0;
	}
	/*
	 * Gone before it was accepted (a balancer's health check that reset at
	 * once): with no address there is no telling whose header it would be.
	 */
	if (tr && !have_peer) {
		refuse(w, l, fd, RS_HELLO_EOF, NULL);
		return;
	}
	/* A balancer's connections are counted against the client its header names. */
	bool pp = tr && trusted_peer(tr, &peer);
	bool src = false;
	if (cf->limits.max_per_source_ip && have_peer && !pp) {
		if (!srclimit_take(&peer.sa, cf->limits.max_per_source_ip)) {
			refuse(w, l, fd, RS_SOURCE_LIMIT, &peer);
			return;
		}
		src = true;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		if (src)
			srclimit_put(&peer.sa);
		refuse(w, l, fd, RS_OVERLOAD, have_peer ? &peer : NULL);
		return;
	}
	w->live++;
	list_init(&c->tl);
	list_init(&c->rl);
	c->w = w;
	c->l = l;
	c->cfd = fd;
	c->ufd = -1;
	set_state(c, CONN_ST_HELLO); /* from NEW, which calloc() left: counted as pending */
	c->t0 = w->now;
	c->sorted = c->l->cl->protocol == CONF_PROTO_TLS;
	c->src_held = src;
	c->pp_want = pp;
	if (have_peer)
		c->peer = peer;
	queue_deadline(c, &w->q_hello, cf->timeouts.client_hello_ms);
	/* With TCP_DEFER_ACCEPT the hello is usually there already: try at once. */
	hello_try(c);
}

/*
 * Whether a poll result is worth acting on. Only multishot polls ask: they
 * also post for wakeups that bring nothing but the RDHUP already known.
 */
static bool poll_useful(const struct conn *c, enum op op, int res)
{
	if (res <= 0)
		return true;
	switch (op) {
	case OP_COUT:
	case OP_UOUT:
		return res & (POLLOUT | POLLERR | POLLHUP);
	case OP_CIN:
	case OP_UIN:
		if (c->state != CONN_ST_RELAY)
			return true;
		if (c->d[op == OP_CIN ? 0 : 1].eof)
			return res & (POLLERR | POLLHUP);
		return true;
	default:
		return true;
	}
}

void conn_complete(struct worker *w, void *obj, enum op op, int res, unsigned flags)
{
	struct conn *c = obj;
	(void)w;

	if (!(flags & IORING_CQE_F_MORE))
		c->ops &= (uint16_t) ~(1u << op);
	if (c->state == CONN_ST_CLOSING) {
		if (c->ops == 0)
			conn_finish(c);
		return;
	}
	if (res > 0 && (res & POLLRDHUP) && op >= OP_CIN && op <= OP_UOUT) {
		if (op == OP_CIN || op == OP_COUT)
			c->cfin = true;
		else
			c->ufin = true;
	}
	/* Still armed and nothing new: it will post again on the next wakeup. */
	if ((flags & IORING_CQE_F_MORE) && !poll_useful(c, op, res))
		return;
	switch (op) {
	case OP_CIN:
		if (c->state == CONN_ST_LINGER) {
			linger_read(c);
			return;
		}
		if (c->state == CONN_ST_HELLO || c->state == CONN_ST_HEAD) {
			if (res > 0 && (res & (POLLRDHUP | POLLHUP | POLLERR)))
				c->rdhup = true;
			hello_try(c);
		} else {
			relay_event(c, 0, res);
		}
		return;
	case OP_UOUT:
		dir_pump(c, 0);
		return;
	case OP_UIN:
		relay_event(c, 1, res);
		return;
	case OP_COUT:
		dir_pump(c, 1);
		return;
	case OP_CONNECT:
		connect_done(c, res);
		return;
	default:
		return;
	}
}

/* Called for each queue; the queue a connection is in says what timed out. */
void conn_expire(struct worker *w, struct list *q)
{
	while (!list_empty(q)) {
		struct conn *c = (struct conn *)((char *)q->next - offsetof(struct conn, tl));
		if (c->deadline > w->now)
			return;
		list_del(&c->tl);
		switch (c->state) {
		case CONN_ST_HELLO:
			conn_end(c, RS_HELLO_TIMEOUT, true);
			break;
		case CONN_ST_HEAD:
			conn_end(c, RS_HEAD_TIMEOUT, true);
			break;
		case CONN_ST_LINGER:
			conn_end(c, c->reason, false);
			break;
		case CONN_ST_RESOLVE:
			up_fail(c, RS_DNS_TIMEOUT);
			break;
		case CONN_ST_CONNECT:
			/* The connect's completion (-ECANCELED) moves on to the next address. */
			c->timed_out = true;
			cancel_fd(w, c->ufd);
			break;
		case CONN_ST_RELAY:
			conn_end(c, RS_IDLE_TIMEOUT, false);
			break;
		case CONN_ST_NEW:
		case CONN_ST_CLOSING:
			break;
		}
	}
}

uint64_t conn_first_deadline(const struct list *q)
{
	if (list_empty(q))
		return UINT64_MAX;
	return ((const struct conn *)((const char *)q->next - offsetof(struct conn, tl)))->deadline;
}

void conn_run_ready(struct worker *w)
{
	struct list batch;

	/* Only what was ready when we started: a pump may requeue itself. */
	list_init(&batch);
	if (list_empty(&w->q_ready))
		return;
	batch.next = w->q_ready.next;
	batch.prev = w->q_ready.prev;
	batch.next->prev = &batch;
	batch.prev->next = &batch;
	list_init(&w->q_ready);
	while (!list_empty(&batch)) {
		struct conn *c = (struct conn *)((char *)batch.next - offsetof(struct conn, rl));
		list_del(&c->rl);
		bool r0 = c->d[0].ready, r1 = c->d[1].ready;
		c->d[0].ready = c->d[1].ready = false;
		if (r0 && !dir_pump(c, 0))
			continue;
		if (r1)
			dir_pump(c, 1);
	}
}

void conn_shutdown_all(struct worker *w)
{
	struct list *qs[] = {&w->q_hello, &w->q_head,	 &w->q_linger,
			     &w->q_dns,	  &w->q_connect, &w->q_relay};

	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		while (!list_empty(qs[i])) {
			struct conn *c =
				(struct conn *)((char *)qs[i]->next - offsetof(struct conn, tl));
			/*
			 * Reset, even a relay: its stream is cut short, and a FIN
			 * could pass for a complete response to the other side.
			 */
			conn_end(c, RS_SHUTDOWN, true);
		}
	}
}
