/* SPDX-License-Identifier: MIT */
/*
 * worker: one pinned thread, one io_uring ring, one SO_REUSEPORT listener per
 * configured address. Nothing on the connection path is shared between
 * workers: each has its own listeners (the kernel spreads connections, and
 * SO_INCOMING_CPU keeps each one on the CPU that took its packets), its own
 * resolver, pipe pool and counters.
 *
 * Deadlines are not ring timeouts: every connection in a given phase has the
 * same timeout, so each phase is a FIFO already sorted by deadline, and the
 * ring wait carries the nearest one. That costs no SQE or CQE per operation,
 * where a linked timeout would add one of each to every poll.
 */
#include "core/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/core.h"
#include "core/log.h"
#include "sni/connect.h"

#define RING_ENTRIES 4096
#define CQ_ENTRIES   (RING_ENTRIES * 4)
/* A client gets this long to send its first bytes before the kernel hands it to us anyway. */
#define DEFER_ACCEPT_S	2
#define ACCEPT_RETRY_MS 100
#define ACCEPT_WARN_MS	10000 /* one warning per listener burst of accept errors */
#define PUBLISH_MS	100   /* counters other threads see are at most this old */

#define DENIED_TOPK 256 /* denied names tracked per thread */

/*
 * Concurrent connections per client address, all workers together: a fixed
 * table of counters indexed by a hash of the address. Two addresses sharing a
 * slot share a budget, which errs on the side of refusing; 65536 slots keep
 * that rare for any realistic number of clients.
 */
#define SRC_SLOTS (1u << 16)
static atomic_uint src_slots[SRC_SLOTS];

static uint32_t src_slot(const struct sockaddr *ss)
{
	const uint8_t *p;
	size_t n;
	uint64_t h = 0xcbf29ce484222325ULL;

	if (ss->sa_family == AF_INET) {
		p = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
		n = 4;
	} else {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return (uint32_t)(h ^ (h >> 32)) & (SRC_SLOTS - 1);
}

bool srclimit_take(const struct sockaddr *ss, unsigned limit)
{
	atomic_uint *slot = &src_slots[src_slot(ss)];
	if (atomic_fetch_add_explicit(slot, 1, memory_order_relaxed) < limit)
		return true;
	atomic_fetch_sub_explicit(slot, 1, memory_order_relaxed);
	return false;
}

void srclimit_put(const struct sockaddr *ss)
{
	atomic_fetch_sub_explicit(&src_slots[src_slot(ss)], 1, memory_order_relaxed);
}

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct io_uring_sqe *worker_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	while (!sqe) {
		/* SQ full: hand what we have to the kernel, then there is room. */
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

static int listener_open(struct worker *w, struct listener *l)
{
	const struct conf_listener *cl = l->cl;
	int one = 1, fd, defer = DEFER_ACCEPT_S;

	if (l->inherited >= 0) {
		/*
		 * Every worker accepts from the unit's one socket, through its own
		 * descriptor, so each can close its own at a drain.
		 */
		if ((fd = fcntl(l->inherited, F_DUPFD_CLOEXEC, 0)) < 0)
			return -errno;
		/* A predecessor that drained it while handing it over may have left its filter. */
		setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &one, sizeof(one));
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
		l->fd = fd;
		return 0;
	}
	fd = socket(cl->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto err;
	/* "::" must not also take IPv4, or "0.0.0.0" on the same port could not bind. */
	if (cl->sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Accepted sockets inherit it: TLS handshakes are small writes that must not wait. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
	if (w->cpu >= 0)
		setsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &w->cpu, sizeof(w->cpu));
	if (bind(fd, (const struct sockaddr *)&cl->sa, cl->sa_len) < 0)
		goto err;
	if (listen(fd, 4096) < 0)
		goto err;
	l->fd = fd;
	return 0;
err:;
	int e = errno;
	close(fd);
	return -e;
}

static void arm_accept(struct worker *w, struct listener *l)
{
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud_pack(l, OP_ACCEPT));
	l->armed = true;
}

static void arm_fd_poll(struct worker *w, int fd, enum op op)
{
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, ud_pack(w, op));
}

static void stop_listener(struct worker *w, struct listener *l)
{
	if (l->fd < 0)
		return;
	/* The multishot accept holds the file: cancel it, or the port stays open. */
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_cancel_fd(sqe, l->fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, ud_pack(NULL, OP_IGNORE));
	io_uring_submit(&w->ring);
	close(l->fd);
	l->fd = -1;
}

static void stop_listeners(struct worker *w)
{
	for (unsigned i = 0; i < w->n_ls; i++)
		stop_listener(w, &w->ls[i]);
}

/*
 * A socket filter that drops SYNs (SYN set, ACK clear) and passes the rest.
 * On a TCP socket the filter sees the TCP header at offset 0; byte 13 holds
 * the flags.
 */
static int drop_syns(int fd)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

/*
 * Begin a drain without losing what the kernel already took. Closing a
 * listener resets every connection in its accept queue (and, under
 * TCP_DEFER_ACCEPT, every handshake waiting for its first bytes), although
 * those clients did nothing wrong. So new SYNs are dropped first (the
 * client retries, and a load balancer tries another backend), the queue is
 * accepted and served as usual, and the listener is closed only once it has
 * stayed empty for drain.quiet (drain_tick()).
 */
static void drain_listeners(struct worker *w)
{
	for (unsigned i = 0; i < w->n_ls; i++) {
		struct listener *l = &w->ls[i];
		/*
		 * A socket the unit keeps, or one handed to a successor, outlives
		 * our descriptor, queue and all: the next process accepts what
		 * waits in it. A filter would stay on it.
		 */
		if (l->kept || (atomic_load(&w->handed) >> i & 1)) {
			stop_listener(w, l);
			continue;
		}
		if (l->fd >= 0 && drop_syns(l->fd) < 0) {
			log_msg(CONF_LOG_WARN,
				"drain: %s: cannot drop new handshakes (%s); closing it now",
				l->name, strerror(errno));
			stop_listener(w, l);
		}
	}
	w->drain_close_at = w->now + w->conf->drain.quiet_ms;
}

/* Whether l's accept queue holds connections not yet accepted. */
static bool queued(const struct listener *l)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	/* On a listener, tcpi_unacked is the accept queue's length. */
	return getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_unacked > 0;
}

/* Close the draining listeners once their queues have been empty for drain.quiet. */
static void drain_tick(struct worker *w)
{
	if (!w->drain_close_at || w->now < w->drain_close_at)
		return;
	for (unsigned i = 0; i < w->n_ls; i++)
		if (w->ls[i].fd >= 0 && queued(&w->ls[i])) {
			w->drain_close_at = w->now + 10;
			return;
		}
	stop_listeners(w);
	w->drain_close_at = 0;
}

static void on_accept(struct worker *w, struct listener *l, struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		l->armed = false;
	if (cqe->res >= 0) {
		if (w->stopping) {
			close(cqe->res);
			return;
		}
		if (w->drain_close_at)
			w->drain_close_at = w->now + w->conf->drain.quiet_ms;
		conn_accept(w, l, cqe->res);
		return;
	}
	if (cqe->res == -ECANCELED || l->fd < 0)
		return;
	/* EMFILE and friends: re-arming at once would spin while nothing can change. */
	w->accept_errs++;
	if (w->now - w->accept_warned >= ACCEPT_WARN_MS || !w->accept_warned) {
		log_msg(CONF_LOG_WARN, "accept on %s: %s (%u errors; retrying every %u ms)",
			l->name, strerror(-cqe->res), w->accept_errs, ACCEPT_RETRY_MS);
		w->accept_warned = w->now;
		w->accept_errs = 0;
	}
	if (!l->armed)
		l->retry_at = w->now + ACCEPT_RETRY_MS;
}

/* Counters per allowlist entry follow the names into a new allowlist. */
static void switch_config(struct worker *w)
{
	const struct worker_config *wc = atomic_load(&w->next_wc);
	if (!wc || wc == w->wc)
		return;
	uint64_t *names = NULL;
	size_t n = allowlist_count(wc->al);
	if (wc->al != w->al) {
		names = calloc(n ? n : 1, sizeof(*names));
		if (!names) {
			log_msg(CONF_LOG_ERROR, "worker %u: out of memory switching config", w->id);
			return;
		}
		char name[300], probe[302], other[300];
		for (size_t i = 0; i < allowlist_count(w->al); i++) {
			size_t k = allowlist_entry(w->al, i, name, sizeof(name));
			/* A wildcard is found through a name under it; "_" is in no real name. */
			size_t pk =
				name[0] == '*'
					? (size_t)snprintf(probe, sizeof(probe), "_%s", name + 1)
					: (size_t)snprintf(probe, sizeof(probe), "%s", name);
			long at = allowlist_lookup(wc->al, probe, pk);
			/* ... and may find a broader entry instead: only the same entry counts. */
			if (at >= 0 &&
			    (allowlist_entry(wc->al, (size_t)at, other, sizeof(other)) != k ||
			     memcmp(other, name, k)))
				at = -1;
			if (at >= 0)
				names[at] += w->names[i];
		}
	}
	pthread_mutex_lock(&w->mu);
	if (names) {
		free(w->names);
		w->names = names;
		/* pub_names is sized for the old list: republish with the new one. */
		free(w->pub_names);
		w->pub_names = calloc(n ? n : 1, sizeof(*w->pub_names));
		w->pub_al = NULL;
		if (w->pub_names) {
			memcpy(w->pub_names, names, n * sizeof(*names));
			w->pub_al = wc->al;
		}
	}
	w->wc = wc;
	w->conf = wc->conf;
	w->al = wc->al;
	for (unsigned i = 0; i < w->n_ls; i++)
		w->ls[i].cl = &wc->conf->listeners[i];
	pthread_mutex_unlock(&w->mu);
	w->dirty = true;
	w->pub_at = 0;
	atomic_store_explicit(&w->gen, wc->gen, memory_order_release);
}

/* Copy the counters where other threads may read them. */
static void publish(struct worker *w)
{
	size_t nk = WORKER_NKEYS(w->n_ls);
	pthread_mutex_lock(&w->mu);
	w->pub_st = w->st;
	memcpy(w->pub_keys, w->keys, nk * sizeof(*w->keys));
	if (w->pub_names) {
		memcpy(w->pub_names, w->names, allowlist_count(w->al) * sizeof(*w->names));
		w->pub_al = w->al;
	}
	w->pub_live = w->live;
	memset(&w->pub_rs, 0, sizeof(w->pub_rs));
	resolver_stats(w->res, &w->pub_rs);
	pthread_mutex_unlock(&w->mu);
	w->pub_at = w->now;
	w->dirty = false;
}

static void handle_cqe(struct worker *w, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	void *obj = ud_ptr(ud);

	switch (ud_op(ud)) {
	case OP_IGNORE:
		return;
	case OP_ACCEPT:
		on_accept(w, obj, cqe);
		return;
	case OP_STOP: {
		uint64_t v;
		if (read(w->stop_fd, &v, sizeof(v)) < 0) {
			/* Nothing to do: the poll said it was readable. */
		}
		unsigned cmd = atomic_exchange(&w->cmd, 0);
		if (cmd & CMD_CONFIG)
			switch_config(w);
		if ((cmd & CMD_DRAIN) && !w->draining) {
			w->draining = true;
			drain_listeners(w);
		}
		if (cmd & CMD_STOP) {
			w->stopping = true;
			w->drain_close_at = 0;
			stop_listeners(w);
			conn_shutdown_all(w);
			return;
		}
		arm_fd_poll(w, w->stop_fd, OP_STOP);
		return;
	}
	case OP_DNS:
		if (resolver_process(w->res, w->now) < 0)
			log_msg(CONF_LOG_WARN, "worker %u: resolver failed to deliver answers",
				w->id);
		arm_fd_poll(w, resolver_fd(w->res), OP_DNS);
		return;
	default:
		conn_complete(w, obj, ud_op(ud), cqe->res, cqe->flags);
		return;
	}
}

static uint64_t next_deadline(struct worker *w)
{
	struct list *qs[] = {&w->q_hello, &w->q_head,	 &w->q_linger,
			     &w->q_dns,	  &w->q_connect, &w->q_relay};
	uint64_t best = w->now + 1000; /* wake at least once a second: the heartbeat */

	/* Unpublished counters wait no longer than PUBLISH_MS. */
	if (w->dirty && w->pub_at + PUBLISH_MS < best)
		best = w->pub_at + PUBLISH_MS;

	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		uint64_t dl = conn_first_deadline(qs[i]);
		if (dl < best)
			best = dl;
	}
	for (unsigned i = 0; i < w->n_ls; i++)
		if (w->ls[i].fd >= 0 && !w->ls[i].armed && w->ls[i].retry_at < best)
			best = w->ls[i].retry_at;
	if (w->drain_close_at && w->drain_close_at < best)
		best = w->drain_close_at;
	return best;
}

static void loop(struct worker *w)
{
	for (;;) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {0};
		unsigned head, n = 0;

		w->now = now_ms();
		if (list_empty(&w->q_ready)) {
			uint64_t dl = next_deadline(w);
			uint64_t wait = dl > w->now ? dl - w->now : 0;
			ts.tv_sec = (long long)(wait / 1000);
			ts.tv_nsec = (long long)(wait % 1000) * 1000000;
		}
		int rc = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			log_msg(CONF_LOG_ERROR, "worker %u: io_uring wait: %s", w->id,
				strerror(-rc));
		w->now = now_ms();
		atomic_store_explicit(&w->heartbeat, w->now, memory_order_relaxed);
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			handle_cqe(w, cqe);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
		if (n)
			w->dirty = true;

		conn_run_ready(w);
		conn_expire(w, &w->q_hello);
		conn_expire(w, &w->q_head);
		conn_expire(w, &w->q_linger);
		conn_expire(w, &w->q_dns);
		conn_expire(w, &w->q_connect);
		conn_expire(w, &w->q_relay);
		drain_tick(w);
		for (unsigned i = 0; i < w->n_ls; i++) {
			struct listener *l = &w->ls[i];
			if (l->fd >= 0 && !l->armed && l->retry_at <= w->now)
				arm_accept(w, l);
		}
		if (w->dirty && w->now >= w->pub_at + PUBLISH_MS)
			publish(w);
		if ((w->stopping || (w->draining && !w->drain_close_at)) && w->live == 0) {
			/* The last closes; with DEFER_TASKRUN they only complete when we
			 * enter the ring for events, so a plain submit would leave
			 * the listener open after the drain. */
			io_uring_submit_and_get_events(&w->ring);
			publish(w);
			return;
		}
	}
}

void worker_resolver_servers(const struct conf *c, struct resolver_opts *ro)
{
	*ro = (struct resolver_opts){
		.forwarders = (const char *const *)c->resolver.forwarders,
		.n_forwarders = c->resolver.n_forwarders,
		.resolv_conf = c->resolver.resolv_conf,
		.tcp = c->resolver.tcp,
		.family = (enum resolver_family)c->resolver.family,
	};
}

/* This thread's resolver, from c. */
static int resolver_setup(struct worker *w, const struct conf *c)
{
	struct resolver_host *hosts = calloc(c->resolver.n_hosts + 1, sizeof(*hosts));
	const char *err = NULL;
	struct resolver_opts ro;
	int rc = -ENOMEM;

	if (!hosts)
		goto out;
	for (unsigned i = 0; i < c->resolver.n_hosts; i++) {
		const struct conf_host *h = &c->resolver.hosts[i];
		hosts[i].name = h->name;
		hosts[i].ans.n = h->n;
		for (unsigned k = 0; k < h->n; k++) {
			hosts[i].ans.a[k].family = h->a[k].family;
			memcpy(hosts[i].ans.a[k].addr, h->a[k].addr, 16);
		}
	}
	/*
	 * A round gives up a little before the connection's own DNS deadline,
	 * so that a stale answer (stale-if-error) still reaches the connection.
	 */
	unsigned margin = c->timeouts.dns_ms / 10 < 250 ? c->timeouts.dns_ms / 10 : 250;
	worker_resolver_servers(c, &ro);
	ro.cache_size = c->resolver.cache_size;
	ro.min_ttl_s = c->resolver.max_ttl_s ? c->resolver.min_ttl_s : 0;
	ro.max_ttl_s = c->resolver.max_ttl_s;
	ro.negative_ttl_s = c->resolver.negative_ttl_s;
	ro.error_ttl_s = c->resolver.error_ttl_s;
	ro.stale_s = c->resolver.stale_ttl_s;
	ro.prefetch = c->resolver.prefetch;
	ro.timeout_ms = c->timeouts.dns_ms - margin;
	ro.hosts = hosts;
	ro.n_hosts = c->resolver.n_hosts;
	rc = resolver_new(&w->res, &ro, &err);
	if (rc < 0)
		w->start_msg = err ? err : "resolver setup failed";
out:
	free(hosts);
	return rc;
}

static int setup(struct worker *w)
{
	struct io_uring_params p = {0};
	int rc;

	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	/* The ring is only ever used by this thread: let the kernel skip the locking. */
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = CQ_ENTRIES;
	rc = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE;
		p.cq_entries = CQ_ENTRIES;
		rc = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
	}
	if (rc < 0) {
		w->start_msg = "io_uring setup failed";
		return rc;
	}
	w->ring_ok = true;
	io_uring_register_ring_fd(&w->ring);
	/* Nothing here should ever go to io-wq; if something does, keep it small. */
	unsigned iowq[2] = {2, 2};
	io_uring_register_iowq_max_workers(&w->ring, iowq);

	const struct conf *c = w->conf;
	if ((rc = resolver_setup(w, c)) < 0)
		return rc;
	w->pp = pipepool_new(c->relay.pipe_size, c->relay.pipe_max_size);
	size_t nk = WORKER_NKEYS(w->n_ls);
	size_t nn = allowlist_count(w->al);
	w->keys = calloc(nk, sizeof(*w->keys));
	w->pub_keys = calloc(nk, sizeof(*w->pub_keys));
	w->names = calloc(nn ? nn : 1, sizeof(*w->names));
	w->pub_names = calloc(nn ? nn : 1, sizeof(*w->pub_names));
	w->denied = topk_new(DENIED_TOPK);
	accesslog_init(&w->alog, c, w->id);
	w->scratch_len = c->limits.max_client_hello;
	/* Room for the records around the message, fragmented into small records. */
	w->peek_len = w->scratch_len * 2 + 1024;
	/* A whole CONNECT request head must fit too (sni/connect.h never waits past it). */
	if (w->peek_len < CONNECT_MAX_HEAD_DEFAULT + 1)
		w->peek_len = CONNECT_MAX_HEAD_DEFAULT + 1;
	w->peek = malloc(w->peek_len);
	w->scratch = malloc(w->scratch_len);
	if (!w->pp || !w->peek || !w->scratch || !w->keys || !w->pub_keys || !w->names ||
	    !w->pub_names || !w->denied) {
		w->start_msg = "out of memory";
		return -ENOMEM;
	}
	/* Both are zero: an idle thread reports its per-name counters from the start. */
	pthread_mutex_lock(&w->mu);
	w->pub_al = w->al;
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->n_ls; i++) {
		rc = listener_open(w, &w->ls[i]);
		if (rc < 0) {
			w->start_msg = w->ls[i].name;
			return rc;
		}
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int rc = setup(w);

	w->start_err = rc;
	/* Tell the gateway we are set up (or not); it waits on this before saying "ready". */
	uint64_t one = 1;
	if (write(w->ready_fd, &one, sizeof(one)) < 0) {
		/* The gateway reads start_err after joining anyway. */
	}
	if (rc < 0)
		return NULL;
	w->now = now_ms();
	/* /healthz must be 200 from the moment the gateway says ready. */
	atomic_store_explicit(&w->heartbeat, w->now, memory_order_relaxed);
	for (unsigned i = 0; i < w->n_ls; i++)
		arm_accept(w, &w->ls[i]);
	arm_fd_poll(w, w->stop_fd, OP_STOP);
	arm_fd_poll(w, resolver_fd(w->res), OP_DNS);
	loop(w);
	atomic_store(&w->done, true);
	return NULL;
}

struct worker *worker_create(unsigned id, int cpu, const struct worker_config *wc,
			     unsigned max_live, unsigned max_hellos, int ready_fd,
			     const int *inherited, bool kept)
{
	const struct conf *c = wc->conf;
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->id = id;
	w->cpu = cpu;
	w->wc = wc;
	w->conf = c;
	w->al = wc->al;
	atomic_init(&w->gen, wc->gen);
	atomic_init(&w->next_wc, wc);
	pthread_mutex_init(&w->mu, NULL);
	w->max_live = max_live;
	w->max_hellos = max_hellos;
	w->ready_fd = ready_fd;
	conn_cache_init(w);
	list_init(&w->q_hello);
	list_init(&w->q_head);
	list_init(&w->q_linger);
	list_init(&w->q_dns);
	list_init(&w->q_connect);
	list_init(&w->q_relay);
	list_init(&w->q_ready);
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->n_ls = c->n_listeners;
	w->ls = calloc(w->n_ls, sizeof(*w->ls));
	if (w->stop_fd < 0 || !w->ls) {
		worker_destroy(w);
		return NULL;
	}
	for (unsigned i = 0; i < w->n_ls; i++) {
		struct listener *l = &w->ls[i];
		l->fd = -1;
		l->inherited = inherited ? inherited[i] : -1;
		l->kept = kept && l->inherited >= 0;
		l->cl = &c->listeners[i];
		l->w = w;
		const char *a = l->cl->address;
		snprintf(l->name, sizeof(l->name), strchr(a, ':') ? "[%s]:%u" : "%s:%u", a,
			 l->cl->port);
	}
	return w;
}

int worker_listener_fd(const struct worker *w, unsigned i)
{
	return i < w->n_ls ? w->ls[i].fd : -1;
}

void worker_hand_over(struct worker *w, uint64_t mask)
{
	atomic_fetch_or(&w->handed, mask);
}

int worker_start(struct worker *w)
{
	int r = pthread_create(&w->thread, NULL, worker_main, w);
	char name[16];

	/* "snigate-w3" in top -H, perf and /proc/PID/task/TID/comm. */
	snprintf(name, sizeof(name), "snigate-w%u", w->id);
	if (!r)
		pthread_setname_np(w->thread, name);
	return -r;
}

static void kick(struct worker *w, unsigned cmd)
{
	uint64_t one = 1;
	atomic_fetch_or(&w->cmd, cmd);
	if (write(w->stop_fd, &one, sizeof(one)) < 0) {
		/* Only an overflow fails, and then the fd is readable anyway. */
	}
}

void worker_stop(struct worker *w)
{
	kick(w, CMD_STOP);
}

void worker_drain(struct worker *w)
{
	kick(w, CMD_DRAIN);
}

bool worker_done(const struct worker *w)
{
	return atomic_load(&((struct worker *)w)->done);
}

void worker_set_config(struct worker *w, const struct worker_config *wc)
{
	atomic_store(&w->next_wc, wc);
	kick(w, CMD_CONFIG);
}

unsigned worker_config_gen(const struct worker *w)
{
	return atomic_load_explicit(&((struct worker *)w)->gen, memory_order_acquire);
}

uint64_t worker_heartbeat(const struct worker *w)
{
	return atomic_load_explicit(&((struct worker *)w)->heartbeat, memory_order_relaxed);
}

void worker_read(const struct worker *w, struct stats *st, uint64_t *keys, unsigned *live)
{
	struct worker *m = (struct worker *)w; /* the lock is not part of the value */
	size_t nk = WORKER_NKEYS(w->n_ls);

	pthread_mutex_lock(&m->mu);
	if (st)
		stats_add(st, &m->pub_st);
	for (size_t i = 0; keys && m->pub_keys && i < nk; i++)
		keys[i] += m->pub_keys[i];
	if (live)
		*live += m->pub_live;
	pthread_mutex_unlock(&m->mu);
}

bool worker_read_names(const struct worker *w, const struct allowlist *al, uint64_t *names)
{
	struct worker *m = (struct worker *)w;
	bool ok;

	pthread_mutex_lock(&m->mu);
	ok = m->pub_al == al && m->pub_names;
	for (size_t i = 0; ok && i < allowlist_count(al); i++)
		names[i] += m->pub_names[i];
	pthread_mutex_unlock(&m->mu);
	return ok;
}

void worker_read_resolver(const struct worker *w, struct resolver_stats *sum)
{
	struct worker *m = (struct worker *)w;

	pthread_mutex_lock(&m->mu);
	resolver_stats_add(sum, &m->pub_rs);
	pthread_mutex_unlock(&m->mu);
}

void worker_read_denied(const struct worker *w, struct topk *t)
{
	struct worker *m = (struct worker *)w;

	pthread_mutex_lock(&m->mu);
	if (m->denied)
		topk_merge(t, m->denied);
	pthread_mutex_unlock(&m->mu);
}

int worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
	return w->start_err;
}

int worker_start_error(const struct worker *w)
{
	return w->start_err;
}

const char *worker_start_msg(const struct worker *w)
{
	return w->start_msg;
}

const struct stats *worker_stats(const struct worker *w)
{
	return &w->st;
}

void worker_destroy(struct worker *w)
{
	if (!w)
		return;
	for (unsigned i = 0; w->ls && i < w->n_ls; i++)
		if (w->ls[i].fd >= 0)
			close(w->ls[i].fd);
	if (w->ring_ok)
		io_uring_queue_exit(&w->ring);
	resolver_free(w->res);
	conn_cache_free(w);
	pipepool_free(w->pp);
	topk_free(w->denied);
	free(w->keys);
	free(w->pub_keys);
	free(w->names);
	free(w->pub_names);
	pthread_mutex_destroy(&w->mu);
	free(w->peek);
	free(w->scratch);
	free(w->ls);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	free(w);
}
