/* SPDX-License-Identifier: MIT */
/*
 * lg_engine: many short connections from a few epoll threads, for reset,
 * connrate and mixed.
 *
 * Each connection has a plan: the bytes to send (ClientHello, header,
 * payload, prebuilt once) and what must come back. A denied connection
 * must see EOF or RST and not one byte; a connrate one exactly --resp bytes
 * then EOF; an allowed transfer the sink's 8-byte checksum of the payload.
 *
 * Closed loop keeps --conns connections busy. Open loop (--rate) starts
 * connections at fixed arrival times whatever the gateway does, so a
 * saturated gateway shows up as a lower achieved rate and as latency from
 * the scheduled arrival, not as a slower client (coordinated omission).
 * Arrivals that find --conns connections still open are counted as late
 * and not started.
 */
#include "bench/loadgen.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

enum plan_kind {
	P_DENY,	    /* denied hello + probe: must be closed */
	P_CONNRATE, /* allowed hello + req bytes: must get resp bytes, then EOF */
	P_ALLOW,    /* allowed hello + payload: must get the payload's checksum */
	P__COUNT,
};

struct plan {
	uint8_t *out;	   /* hello, header, payload */
	size_t hello_len;  /* the first hello_len bytes of out are the hello */
	size_t len;	   /* all of out */
	uint64_t want;	   /* bytes that must come back before EOF */
	uint64_t want_sum; /* P_ALLOW: the checksum the sink must answer */
	uint64_t payload;  /* bytes of payload (for throughput) */
};

struct econn {
	int fd;		  /* -1: slot free */
	uint8_t kind;	  /* enum plan_kind */
	bool connected;	  /* the connect completed */
	bool want_out;	  /* EPOLLOUT is armed */
	uint64_t t0;	  /* scheduled arrival (open loop) or connect start */
	uint64_t t_syn;	  /* connect() was called */
	uint64_t t_hello; /* the last hello byte went out; 0 = not yet */
	size_t off;	  /* bytes of the plan's out sent */
	uint64_t got;	  /* bytes received */
	bool alert;	  /* deny: what came back so far is a TLS alert record */
	uint8_t tail[8];  /* the last 8 bytes received */
};

struct result {
	unsigned long ok, leaked, stuck, errors, bad;
	/*
	 * The connect never completed (refused, or its SYN went unanswered):
	 * a failure, but told apart from a connection cut short, which is what
	 * a drain must never do.
	 */
	unsigned long refused;
	unsigned long alerts; /* deny: closed after a TLS alert (sniproxy does that) */
	unsigned long early;  /* deny: closed before the whole hello was sent (too large?) */
	/*
	 * What a denied client saw. A reset (ECONNRESET or EPIPE) and a FIN
	 * (EOF) are the two clean answers; the rest are kept apart because an
	 * overloaded gateway shows up there: noanswer is a connect no SYN-ACK
	 * ever completed within --deadline (the listener's accept queue was
	 * full and the kernel dropped the SYN), synretry a connect that took a
	 * second or more, which is TCP's first SYN retransmission.
	 */
	unsigned long rst, fin, noanswer, synretry;
	struct lat lat;	      /* deny: last hello byte to close; else t0 to done */
	struct lat lat_sched; /* deny: t0 to close */
	struct lat lat_rst;   /* deny: last hello byte to a reset */
	struct lat lat_fin;   /* deny: last hello byte to a FIN, alert or not */
	struct lat lat_conn;  /* deny: connect() to its completion */
};

/* How a connection ended, as the client saw it. */
enum close_how {
	C_FIN,	 /* read returned 0 */
	C_RST,	 /* ECONNRESET or EPIPE */
	C_OTHER, /* anything else: an error */
};

struct ethread {
	const struct opts *o;
	const struct plan *plans;
	unsigned idx;
	unsigned slots;
	double rate;	     /* arrivals per second for this thread; 0 = closed loop */
	unsigned mix;	     /* percent of arrivals that are P_ALLOW (mixed), else 0 */
	enum plan_kind base; /* the kind when mix does not pick P_ALLOW */
	unsigned long todo;  /* 0 = no limit */
	uint64_t end_ns;     /* 0 = no limit */
	struct progress *prog;
	struct result r[P__COUNT];
	unsigned long offered, late;
	pthread_t th;
};

static void econn_close(int ep, struct econn *c, unsigned *inflight)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	(*inflight)--;
}

static int econn_open(struct ethread *t, int ep, struct econn *c, enum plan_kind kind, uint64_t t0)
{
	const struct opts *o = t->o;
	int one = 1;

	*c = (struct econn){.kind = (uint8_t)kind, .t0 = t0, .t_syn = now_ns()};
	c->fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	/* Each send is its own segment: that is what --segments asks for. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* --deny-target: the spray of a direct run goes to the RST server, not the sink. */
	bool other = kind == P_DENY && o->deny_addr_len;
	if (connect(c->fd, (const struct sockaddr *)(other ? &o->deny_addr : &o->addr),
		    other ? o->deny_addr_len : o->addr_len) < 0 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c};
	c->want_out = true;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return 0;
}

/* Send what the socket takes; returns -1 on a send error. */
static int econn_send(struct ethread *t, int ep, struct econn *c)
{
	const struct plan *p = &t->plans[c->kind];
	unsigned segs = t->o->segments > 1 ? t->o->segments : 1;

	while (c->off < p->len) {
		size_t end = p->len;
		if (c->off < p->hello_len) {
			/* The next segment boundary of the hello. */
			for (unsigned k = 1; k <= segs; k++) {
				size_t b = p->hello_len * k / segs;
				if (b > c->off) {
					end = b;
					break;
				}
			}
		}
		/*
		 * On loopback the gateway may answer before send() returns, so the
		 * clock is read before the call that hands over the last hello byte.
		 */
		uint64_t th = c->t_hello || end < p->hello_len ? 0 : now_ns();
		ssize_t w = send(c->fd, p->out + c->off, end - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN)
				break;
			return -1;
		}
		c->off += (size_t)w;
		if (!c->t_hello && c->off >= p->hello_len)
			c->t_hello = th ? th : now_ns();
	}
	bool want_out = c->off < p->len;
	if (want_out != c->want_out) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0),
					 .data.ptr = c};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want_out;
	}
	return 0;
}

/* Record how a connection ended. ok_close: EOF, or RST for a denied connection. */
static void finish(struct ethread *t, struct econn *c, bool ok_close, enum close_how how,
		   uint64_t now)
{
	const struct plan *p = &t->plans[c->kind];
	struct result *r = &t->r[c->kind];

	if (c->kind == P_DENY && ok_close && (!c->got || c->alert)) {
		if (how == C_RST)
			r->rst++;
		else
			r->fin++;
		if (c->t_hello)
			lat_add(how == C_RST ? &r->lat_rst : &r->lat_fin, now - c->t_hello);
	}
	if (!ok_close) {
		r->errors++;
	} else if (c->kind == P_DENY) {
		if (c->got && !c->alert) {
			r->leaked++;
		} else if (!c->t_hello) {
			/* Refused mid-hello: a denial, but there is no latency to take. */
			r->ok++;
			r->early++;
		} else {
			r->alerts += c->alert;
			r->ok++;
			lat_add(&r->lat, now - c->t_hello);
			lat_add(&r->lat_sched, now - c->t0);
		}
	} else {
		uint64_t sum;
		memcpy(&sum, c->tail, sizeof(sum));
		if (c->got != p->want || (c->kind == P_ALLOW && sum != p->want_sum)) {
			r->bad++;
		} else {
			r->ok++;
			lat_add(&r->lat, now - c->t0);
		}
	}
	atomic_fetch_add(&t->prog->done, 1);
}

static void econn_event(struct ethread *t, int ep, struct econn *c, uint32_t events,
			unsigned *inflight)
{
	uint64_t now;

	if (!c->connected) {
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			t->r[c->kind].refused++;
			atomic_fetch_add(&t->prog->done, 1);
			econn_close(ep, c, inflight);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		c->connected = true;
		if (c->kind == P_DENY) {
			uint64_t took = now_ns() - c->t_syn;
			lat_add(&t->r[P_DENY].lat_conn, took);
			t->r[P_DENY].synretry += took >= 1000000000;
		}
	}
	if (c->want_out && econn_send(t, ep, c) < 0) {
		/* A gateway may reset a denied connection while the probe is still going out. */
		bool reset = c->kind == P_DENY && (!c->got || c->alert) &&
			     (errno == ECONNRESET || errno == EPIPE);
		finish(t, c, reset, reset ? C_RST : C_OTHER, now_ns());
		econn_close(ep, c, inflight);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		uint8_t buf[16384];
		ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0) {
			size_t k = (size_t)r < 8 ? (size_t)r : 8;
			memmove(c->tail, c->tail + k, 8 - k);
			memcpy(c->tail + 8 - k, buf + r - (ssize_t)k, k);
			/*
			 * A denied connection may get a TLS alert record (content type
			 * 21, at most 7 bytes: sniproxy sends one) and then the close;
			 * any other byte means the name was let through.
			 */
			if (c->kind == P_DENY && !c->got && buf[0] == 21 && r <= 7)
				c->alert = true;
			c->got += (uint64_t)r;
			if (c->kind == P_DENY && (!c->alert || c->got > 7)) {
				c->alert = false;
				finish(t, c, true, C_OTHER, now_ns()); /* counted as leaked */
				econn_close(ep, c, inflight);
				return;
			}
			continue;
		}
		if (r < 0 && errno == EAGAIN)
			return;
		now = now_ns();
		if (r == 0)
			finish(t, c, true, C_FIN, now);
		else
			finish(t, c, c->kind == P_DENY && errno == ECONNRESET,
			       errno == ECONNRESET ? C_RST : C_OTHER, now);
		econn_close(ep, c, inflight);
		return;
	}
}

static enum plan_kind pick(const struct ethread *t, unsigned long seq)
{
	/* Spread the allowed share evenly: seq is allowed when mix/100 crosses an integer. */
	if (t->mix && (seq + 1) * t->mix / 100 != seq * t->mix / 100)
		return P_ALLOW;
	return t->base;
}

static void *engine_thread(void *arg)
{
	struct ethread *t = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct econn *cs = calloc(t->slots, sizeof(*cs));
	unsigned *free_slots = calloc(t->slots, sizeof(*free_slots));
	unsigned nfree = t->slots, inflight = 0;
	unsigned long started = 0, seq = 0;
	uint64_t deadline = (uint64_t)(t->o->deadline * 1e9), next, last_sweep = 0;
	double gap = t->rate > 0 ? 1e9 / t->rate : 0;
	struct epoll_event evs[256];

	pin_thread(t->idx);
	for (unsigned i = 0; i < t->slots; i++) {
		cs[i].fd = -1;
		free_slots[i] = t->slots - 1 - i;
	}
	next = now_ns();
	/* Threads start their arrival clocks a fraction of a gap apart. */
	if (gap > 0)
		next += (uint64_t)(gap * t->idx / (t->o->threads ? t->o->threads : 1));
	for (;;) {
		uint64_t now = now_ns();
		bool stopping = (t->end_ns && now >= t->end_ns) || (t->todo && started >= t->todo);

		/* Reclaim slots whose connections ended (closed fd, slot not yet free). */
		if (!stopping) {
			if (gap > 0) {
				while (next <= now && !(t->todo && started >= t->todo)) {
					t->offered++;
					if (nfree) {
						unsigned s = free_slots[--nfree];
						if (econn_open(t, ep, &cs[s], pick(t, seq), next) <
						    0) {
							t->r[pick(t, seq)].errors++;
							free_slots[nfree++] = s;
						} else {
							inflight++;
						}
						started++;
					} else {
						t->late++;
					}
					seq++;
					next += (uint64_t)gap;
				}
			} else {
				while (nfree && !(t->todo && started >= t->todo)) {
					unsigned s = free_slots[--nfree];
					enum plan_kind k = pick(t, seq++);
					started++;
					if (econn_open(t, ep, &cs[s], k, now) < 0) {
						t->r[k].errors++;
						free_slots[nfree++] = s;
						break;
					}
					inflight++;
				}
			}
		}
		if (stopping && !inflight)
			break;
		int timeout = gap > 0 ? 1 : 50;
		if (gap > 0 && next > now && next - now > 1000000)
			timeout = (int)((next - now) / 1000000);
		int n = epoll_wait(ep, evs, 256, timeout);
		for (int i = 0; i < n; i++) {
			struct econn *c = evs[i].data.ptr;
			econn_event(t, ep, c, evs[i].events, &inflight);
			if (c->fd < 0)
				free_slots[nfree++] = (unsigned)(c - cs);
		}
		/* A connection the gateway never finishes is counted, then dropped. */
		now = now_ns();
		if (now - last_sweep > 20000000) {
			last_sweep = now;
			for (unsigned i = 0; i < t->slots; i++) {
				struct econn *c = &cs[i];
				uint64_t from =
					c->kind == P_DENY && c->t_hello ? c->t_hello : c->t0;
				if (c->fd >= 0 && now > from + deadline) {
					if (c->connected)
						t->r[c->kind].stuck++;
					else if (c->kind == P_DENY)
						t->r[c->kind].noanswer++;
					else
						t->r[c->kind].refused++;
					atomic_fetch_add(&t->prog->done, 1);
					econn_close(ep, c, &inflight);
					free_slots[nfree++] = i;
				}
			}
		}
	}
	free(free_slots);
	free(cs);
	close(ep);
	return NULL;
}

static void plan_build(const struct opts *o, struct plan *p, enum plan_kind kind)
{
	uint8_t hello[65536];
	const char *sni = kind == P_DENY ? (o->deny_sni ? o->deny_sni : o->sni) : o->sni;
	long hl = hello_for(o, sni, hello, sizeof(hello));
	uint32_t hdr[5];
	uint64_t payload = 0;

	*p = (struct plan){.hello_len = (size_t)hl};
	switch (kind) {
	case P_DENY:
		hdr_build(hdr, LG_PROBE, 0, 0);
		break;
	case P_CONNRATE:
		hdr_build(hdr, LG_CONNRATE, o->req, o->resp);
		payload = o->req;
		p->want = o->resp;
		break;
	default:
		hdr_build(hdr, LG_BULK, o->bytes, 7);
		payload = o->bytes;
		p->want = 8;
		break;
	}
	/* A proxy client: the CONNECT head, then (without waiting for 200) the hello. */
	char head[320] = "";
	size_t pre = 0;
	if (kind == P_CONNRATE && o->connect_port) {
		static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
		pre = (size_t)snprintf(head, sizeof(head),
				       "CONNECT %s:%u HTTP/1.1\r\nHost: %s:%u\r\n\r\n", sni,
				       o->connect_port, sni, o->connect_port);
		p->want += sizeof(ok) - 1;
		p->hello_len += pre;
	}
	p->payload = payload;
	p->len = pre + (size_t)hl + LG_HDR_LEN + payload;
	p->out = malloc(p->len);
	if (!p->out) {
		fprintf(stderr, "loadgen: out of memory\n");
		exit(2);
	}
	memcpy(p->out, head, pre);
	p->out += pre; /* the rest is laid out as without CONNECT; rewound below */
	memcpy(p->out, hello, (size_t)hl);
	memcpy(p->out + hl, hdr, LG_HDR_LEN);
	if (kind == P_CONNRATE) {
		memset(p->out + hl + LG_HDR_LEN, 'q', payload);
	} else if (kind == P_ALLOW) {
		struct csum cs;
		pattern_fill(p->out + hl + LG_HDR_LEN, payload, 7);
		csum_init(&cs);
		csum_update(&cs, p->out + hl + LG_HDR_LEN, payload);
		p->want_sum = csum_final(&cs);
	}
	p->out -= pre;
}

struct erun {
	struct result r[P__COUNT];
	unsigned long offered, late;
	double secs, cpu;
	double self; /* the client's own CPU: a direct run's other endpoint */
};

static void engine_run(struct opts *o, enum plan_kind base, unsigned mix, struct erun *er,
		       const char *what)
{
	struct plan plans[P__COUNT];
	struct ethread *ts = calloc(o->threads, sizeof(*ts));
	struct progress prog;
	unsigned slots = o->conc / o->threads ? o->conc / o->threads : 1;

	if (!o->n && o->duration <= 0)
		o->duration = 5;
	/* Only the plans this run uses: an allowed one carries its whole payload. */
	memset(plans, 0, sizeof(plans));
	plan_build(o, &plans[base], base);
	if (mix)
		plan_build(o, &plans[P_ALLOW], P_ALLOW);
	memset(er, 0, sizeof(*er));
	progress_start(&prog, o, what, o->n, o->duration);
	double cpu0 = pids_cpu(o), self0 = self_cpu();
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < o->threads; i++) {
		struct ethread *t = &ts[i];
		t->o = o;
		t->plans = plans;
		t->idx = i;
		t->slots = slots;
		t->rate = o->rate / o->threads;
		t->mix = mix;
		t->base = base;
		t->todo = o->n ? o->n / o->threads + (i < o->n % o->threads) : 0;
		t->end_ns = o->duration > 0 ? t0 + (uint64_t)(o->duration * 1e9) : 0;
		t->prog = &prog;
		pthread_create(&t->th, NULL, engine_thread, t);
	}
	for (unsigned i = 0; i < o->threads; i++) {
		struct ethread *t = &ts[i];
		pthread_join(t->th, NULL);
		for (int k = 0; k < P__COUNT; k++) {
			er->r[k].ok += t->r[k].ok;
			er->r[k].leaked += t->r[k].leaked;
			er->r[k].stuck += t->r[k].stuck;
			er->r[k].errors += t->r[k].errors;
			er->r[k].refused += t->r[k].refused;
			er->r[k].bad += t->r[k].bad;
			er->r[k].alerts += t->r[k].alerts;
			er->r[k].early += t->r[k].early;
			er->r[k].rst += t->r[k].rst;
			er->r[k].fin += t->r[k].fin;
			er->r[k].noanswer += t->r[k].noanswer;
			er->r[k].synretry += t->r[k].synretry;
			lat_merge(&er->r[k].lat, &t->r[k].lat);
			lat_merge(&er->r[k].lat_sched, &t->r[k].lat_sched);
			lat_merge(&er->r[k].lat_rst, &t->r[k].lat_rst);
			lat_merge(&er->r[k].lat_fin, &t->r[k].lat_fin);
			lat_merge(&er->r[k].lat_conn, &t->r[k].lat_conn);
		}
		er->offered += t->offered;
		er->late += t->late;
	}
	/*
	 * The run ends when the last connection does, but the arrival window
	 * is what the rate is over: a tail of slow closes must not dilute it.
	 */
	er->secs = (double)(now_ns() - t0) / 1e9;
	if (o->duration > 0 && o->rate > 0)
		er->secs = o->duration;
	er->cpu = pids_cpu(o) - cpu0;
	er->self = self_cpu() - self0;
	progress_stop(&prog);
	for (int k = 0; k < P__COUNT; k++) {
		lat_sort(&er->r[k].lat);
		lat_sort(&er->r[k].lat_sched);
		lat_sort(&er->r[k].lat_rst);
		lat_sort(&er->r[k].lat_fin);
		lat_sort(&er->r[k].lat_conn);
		free(plans[k].out);
	}
	free(ts);
}

static unsigned long failures(const struct result *r)
{
	return r->leaked + r->stuck + r->errors + r->bad + r->refused + r->noanswer;
}

static void free_lats(struct erun *er)
{
	for (int k = 0; k < P__COUNT; k++) {
		free(er->r[k].lat.v);
		free(er->r[k].lat_sched.v);
		free(er->r[k].lat_rst.v);
		free(er->r[k].lat_fin.v);
		free(er->r[k].lat_conn.v);
	}
}

int run_reset(struct opts *o)
{
	struct erun er;
	struct result *r = &er.r[P_DENY];

	o->deny_sni = o->sni;
	engine_run(o, P_DENY, 0, &er, "reset");
	double rate = (double)r->ok / er.secs;
	printf("reset: %lu closed, %lu leaked, %lu not closed, %lu errors in %.2f s: %.0f "
	       "closes/s\n",
	       r->ok, r->leaked, r->stuck, r->errors + r->refused + r->noanswer, er.secs, rate);
	printf("reset: the client saw %lu resets (p50 %.0f us), %lu FINs (p50 %.0f us), %lu "
	       "timeouts; %lu connects never answered, %lu refused, %lu answered only after a "
	       "SYN retransmission (connect p99 %.0f us)\n",
	       r->rst, lat_pct_us(&r->lat_rst, 0.5), r->fin, lat_pct_us(&r->lat_fin, 0.5), r->stuck,
	       r->noanswer, r->refused, r->synretry, lat_pct_us(&r->lat_conn, 0.99));
	if (r->alerts || r->early)
		printf("reset: %lu closed after a TLS alert, %lu before the whole hello was sent\n",
		       r->alerts, r->early);
	if (o->rate > 0)
		printf("reset: open loop, %.0f/s offered (%lu arrivals, %lu late: all connections "
		       "busy)\n",
		       o->rate, er.offered, er.late);
	printf("reset latency us (last hello byte to close): p50 %.0f p99 %.0f p99.9 %.0f max "
	       "%.0f\n",
	       lat_pct_us(&r->lat, 0.5), lat_pct_us(&r->lat, 0.99), lat_pct_us(&r->lat, 0.999),
	       lat_pct_us(&r->lat, 1));
	if (o->npids)
		printf("reset cpu: %.2f s of the gateway, %.1f us per connection\n", er.cpu,
		       r->ok ? er.cpu * 1e6 / (double)r->ok : 0.0);
	printf("result mode=reset ok=%lu leaked=%lu stuck=%lu errors=%lu alerts=%lu early=%lu "
	       "secs=%.3f rate=%.1f "
	       "offered=%.1f late=%lu p50=%.1f p99=%.1f p999=%.1f max=%.1f sp50=%.1f sp99=%.1f "
	       "cpu=%.3f cpu_us=%.2f rst=%lu fin=%lu noanswer=%lu refused=%lu synretry=%lu "
	       "rst_p50=%.1f rst_p99=%.1f fin_p50=%.1f fin_p99=%.1f conn_p50=%.1f conn_p99=%.1f\n",
	       r->ok, r->leaked, r->stuck, r->errors + r->refused + r->noanswer, r->alerts,
	       r->early, er.secs, rate, o->rate, er.late, lat_pct_us(&r->lat, 0.5),
	       lat_pct_us(&r->lat, 0.99), lat_pct_us(&r->lat, 0.999), lat_pct_us(&r->lat, 1),
	       lat_pct_us(&r->lat_sched, 0.5), lat_pct_us(&r->lat_sched, 0.99), er.cpu,
	       r->ok && o->npids ? er.cpu * 1e6 / (double)r->ok : 0.0, r->rst, r->fin, r->noanswer,
	       r->refused, r->synretry, lat_pct_us(&r->lat_rst, 0.5), lat_pct_us(&r->lat_rst, 0.99),
	       lat_pct_us(&r->lat_fin, 0.5), lat_pct_us(&r->lat_fin, 0.99),
	       lat_pct_us(&r->lat_conn, 0.5), lat_pct_us(&r->lat_conn, 0.99));
	if (r->leaked)
		fprintf(stderr,
			"loadgen: reset: %lu denied connections got bytes back: the target "
			"let a denied name through\n",
			r->leaked);
	if (r->stuck)
		fprintf(stderr,
			"loadgen: reset: %lu denied connections were not closed within "
			"%.1f s\n",
			r->stuck, o->deadline);
	unsigned long bad = failures(r);
	free_lats(&er);
	return bad ? 1 : 0;
}

int run_connrate(struct opts *o)
{
	struct erun er;
	struct result *r = &er.r[P_CONNRATE];

	engine_run(o, P_CONNRATE, 0, &er, "connrate");
	double rate = (double)r->ok / er.secs;
	printf("connrate: %lu complete, %lu wrong answers, %lu stuck, %lu errors, %lu never "
	       "connected in %.2f s: %.0f conns/s\n",
	       r->ok, r->bad, r->stuck, r->errors, r->refused, er.secs, rate);
	printf("connrate latency us (connect to EOF, %u + %u bytes): p50 %.0f p99 %.0f p99.9 %.0f "
	       "max %.0f\n",
	       o->req, o->resp, lat_pct_us(&r->lat, 0.5), lat_pct_us(&r->lat, 0.99),
	       lat_pct_us(&r->lat, 0.999), lat_pct_us(&r->lat, 1));
	if (o->npids)
		printf("connrate cpu: %.2f s of the gateway, %.1f us per connection\n", er.cpu,
		       r->ok ? er.cpu * 1e6 / (double)r->ok : 0.0);
	printf("result mode=connrate ok=%lu bad=%lu stuck=%lu errors=%lu refused=%lu secs=%.3f "
	       "rate=%.1f "
	       "offered=%.1f late=%lu p50=%.1f p99=%.1f p999=%.1f max=%.1f cpu=%.3f cpu_us=%.2f "
	       "self_us=%.2f\n",
	       r->ok, r->bad, r->stuck, r->errors, r->refused, er.secs, rate, o->rate, er.late,
	       lat_pct_us(&r->lat, 0.5), lat_pct_us(&r->lat, 0.99), lat_pct_us(&r->lat, 0.999),
	       lat_pct_us(&r->lat, 1), er.cpu,
	       r->ok && o->npids ? er.cpu * 1e6 / (double)r->ok : 0.0,
	       r->ok ? er.self * 1e6 / (double)r->ok : 0.0);
	unsigned long bad = failures(r);
	free_lats(&er);
	return bad ? 1 : 0;
}

int run_mixed(struct opts *o)
{
	struct erun er;
	struct result *a = &er.r[P_ALLOW], *d = &er.r[P_DENY];

	if (o->rate <= 0) {
		fprintf(stderr, "loadgen: mixed needs --rate\n");
		return 2;
	}
	if (o->conc < 1024)
		o->conc = 4096; /* open loop: the cap on connections in flight */
	engine_run(o, P_DENY, o->mix, &er, "mixed");
	double mib = (double)a->ok * (double)o->bytes / (1 << 20) / er.secs;
	printf("mixed: %.0f arrivals/s, %u%% allowed transfers of %llu bytes, the rest denied; "
	       "%lu late\n",
	       o->rate, o->mix, o->bytes, er.late);
	printf("mixed: allowed %lu ok, %lu bad, %lu stuck, %lu errors: %.1f MiB/s; latency us "
	       "p50 %.0f p99 %.0f max %.0f\n",
	       a->ok, a->bad, a->stuck, a->errors + a->refused, mib, lat_pct_us(&a->lat, 0.5),
	       lat_pct_us(&a->lat, 0.99), lat_pct_us(&a->lat, 1));
	printf("mixed: denied %lu closed, %lu leaked, %lu not closed, %lu errors: %.0f closes/s; "
	       "p99 %.0f us\n",
	       d->ok, d->leaked, d->stuck, d->errors + d->refused + d->noanswer,
	       (double)d->ok / er.secs, lat_pct_us(&d->lat, 0.99));
	printf("result mode=mixed rate=%.1f mix=%u bytes=%llu late=%lu allow_ok=%lu allow_fail=%lu "
	       "allow_mibs=%.2f allow_p50=%.1f allow_p99=%.1f allow_max=%.1f deny_ok=%lu "
	       "deny_leaked=%lu deny_fail=%lu deny_rate=%.1f deny_p99=%.1f cpu=%.3f secs=%.3f\n",
	       o->rate, o->mix, o->bytes, er.late, a->ok, failures(a), mib,
	       lat_pct_us(&a->lat, 0.5), lat_pct_us(&a->lat, 0.99), lat_pct_us(&a->lat, 1), d->ok,
	       d->leaked, failures(d), (double)d->ok / er.secs, lat_pct_us(&d->lat, 0.99), er.cpu,
	       er.secs);
	unsigned long bad = failures(a) + failures(d);
	free_lats(&er);
	return bad ? 1 : 0;
}
