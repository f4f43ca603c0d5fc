/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the parts of core/ that stand alone: the pipe pool and its
 * process-wide budget, the slab cache, the connection's transition table,
 * which access lines are written, the user_data packing of ring requests,
 * the reason names and the counters' JSON.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/accesslog.h"
#include "core/conn.h"
#include "core/core.h"
#include "core/pipepool.h"
#include "core/slab.h"
#include "core/stats.h"

static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

Test(pipepool, pipes_are_reused_and_freed)
{
	int base = open_fds();
	pipepool_set_budget(~0ULL);
	struct pipepool *pp = pipepool_new(65536, 1 << 20);
	cr_assert_not_null(pp);

	struct pipe *p = pipe_get(pp);
	cr_assert_not_null(p);
	cr_assert_eq(p->size, 65536);
	cr_assert_eq(open_fds(), base + 2);
	int rfd = p->rfd;
	pipe_put(pp, p);
	struct pipe *q = pipe_get(pp);
	cr_assert_eq(q->rfd, rfd, "an empty pipe put back is handed out again");
	cr_assert_eq(open_fds(), base + 2, "no new pipe was made");

	struct pipe *big = pipe_get_large(pp);
	cr_assert_not_null(big);
	cr_assert_eq(big->size, 1 << 20);
	cr_assert_eq(pipepool_bytes(), 65536 + (1 << 20));

	/* A pipe with bytes in it is killed, never pooled. */
	cr_assert_eq(write(q->wfd, "x", 1), 1);
	pipe_kill(pp, q);
	pipe_put(pp, big);
	pipepool_free(pp);
	cr_assert_eq(open_fds(), base, "every pipe closed");
	cr_assert_eq(pipepool_bytes(), 0);
}

Test(pipepool, budget_is_enforced)
{
	pipepool_set_budget(3 * 65536);
	struct pipepool *pp = pipepool_new(65536, 1 << 20);
	struct pipe *p[4];
	for (int i = 0; i < 3; i++)
		cr_assert_not_null(p[i] = pipe_get(pp));
	errno = 0;
	cr_assert_null(pipe_get(pp));
	cr_assert_eq(errno, ENOBUFS);
	cr_assert_null(pipe_get_large(pp), "a large pipe does not fit the budget either");
	pipe_put(pp, p[0]);
	cr_assert_not_null(p[3] = pipe_get(pp), "a pooled pipe is still within budget");
	for (int i = 1; i < 4; i++)
		pipe_put(pp, p[i]);
	pipepool_free(pp);
	cr_assert_eq(pipepool_bytes(), 0);
	pipepool_set_budget(~0ULL);
}

Test(pipepool, pool_keeps_a_bounded_number)
{
	enum { N = 200 };
	static struct pipe *p[N];
	int base = open_fds();
	struct pipepool *pp = pipepool_new(65536, 65536);
	for (int i = 0; i < N; i++)
		cr_assert_not_null(p[i] = pipe_get(pp));
	for (int i = 0; i < N; i++)
		pipe_put(pp, p[i]);
	int kept = (open_fds() - base) / 2;
	cr_assert(kept > 0 && kept < N, "kept %d of %d pipes", kept, N);
	cr_assert_null(pipe_get_large(pp), "no large class when both sizes are equal");
	pipepool_free(pp);
	cr_assert_eq(open_fds(), base);
}

Test(slab, objects_are_aligned_zeroed_and_returned)
{
	enum { N = 300 };
	static uint8_t *o[N];
	struct slab_cache sc;

	slab_cache_init(&sc, 1000);
	for (int i = 0; i < N; i++) {
		o[i] = slab_alloc(&sc);
		cr_assert_not_null(o[i]);
		cr_assert_eq((uintptr_t)o[i] % _Alignof(max_align_t), 0);
		for (int k = 0; k < 1000; k++)
			cr_assert_eq(o[i][k], 0, "object %d byte %d", i, k);
		memset(o[i], 0xa5, 1000);
	}
	cr_assert_gt(sc.n, 1, "%d objects of 1000 bytes need more than one slab", N);
	for (int i = 1; i < N; i++)
		cr_assert(o[i] != o[i - 1]);
	for (int i = 0; i < N; i++)
		slab_free(&sc, o[i]);
	cr_assert_eq(sc.n, 1, "empty slabs are unmapped but for one");
	uint8_t *again = slab_alloc(&sc);
	cr_assert_eq(again[0], 0, "a reused object is zeroed");
	slab_free(&sc, again);
	slab_free(&sc, NULL);
	slab_cache_release(&sc);
	cr_assert_eq(sc.n, 0);
	cr_assert_null(sc.avail);
}

/* The transitions conn.c makes, written out again: a change to either must be deliberate. */
static const struct {
	enum conn_state from, to;
} legal[] = {
	{CONN_ST_NEW, CONN_ST_HELLO},	    {CONN_ST_HELLO, CONN_ST_RESOLVE},
	{CONN_ST_HELLO, CONN_ST_HEAD},	    {CONN_ST_HELLO, CONN_ST_RELAY},
	{CONN_ST_HELLO, CONN_ST_CLOSING},   {CONN_ST_HEAD, CONN_ST_RESOLVE},
	{CONN_ST_HEAD, CONN_ST_LINGER},	    {CONN_ST_HEAD, CONN_ST_CLOSING},
	{CONN_ST_LINGER, CONN_ST_CLOSING},  {CONN_ST_RESOLVE, CONN_ST_CONNECT},
	{CONN_ST_RESOLVE, CONN_ST_LINGER},  {CONN_ST_RESOLVE, CONN_ST_CLOSING},
	{CONN_ST_CONNECT, CONN_ST_CONNECT}, {CONN_ST_CONNECT, CONN_ST_RELAY},
	{CONN_ST_CONNECT, CONN_ST_HELLO},   {CONN_ST_CONNECT, CONN_ST_LINGER},
	{CONN_ST_CONNECT, CONN_ST_CLOSING}, {CONN_ST_RELAY, CONN_ST_CLOSING},
};

Test(conn, transition_table_is_exactly_the_legal_pairs)
{
	for (int from = 0; from < CONN_ST__COUNT; from++) {
		for (int to = 0; to < CONN_ST__COUNT; to++) {
			bool want = false;
			for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++)
				want |= legal[i].from == (enum conn_state)from &&
					legal[i].to == (enum conn_state)to;
			cr_assert_eq(conn_transition_ok((enum conn_state)from, (enum conn_state)to),
				     want, "%s -> %s", conn_state_name((enum conn_state)from),
				     conn_state_name((enum conn_state)to));
		}
	}
}

Test(conn, illegal_transitions_are_refused)
{
	/* A sample that would each be a real bug: going back, skipping the gate, reviving. */
	cr_assert_not(conn_transition_ok(CONN_ST_RELAY, CONN_ST_HELLO));
	cr_assert_not(conn_transition_ok(CONN_ST_HELLO, CONN_ST_CONNECT));
	cr_assert_not(conn_transition_ok(CONN_ST_NEW, CONN_ST_RELAY));
	cr_assert_not(conn_transition_ok(CONN_ST_NEW, CONN_ST_CLOSING));
	cr_assert_not(conn_transition_ok(CONN_ST_LINGER, CONN_ST_RELAY));
	cr_assert_not(conn_transition_ok(CONN_ST_RESOLVE, CONN_ST_RESOLVE));
	for (int to = 0; to < CONN_ST__COUNT; to++)
		cr_assert_not(conn_transition_ok(CONN_ST_CLOSING, (enum conn_state)to),
			      "CLOSING is final");
	cr_assert_not(conn_transition_ok(CONN_ST__COUNT, CONN_ST_CLOSING));
	cr_assert_not(conn_transition_ok(CONN_ST_HELLO, CONN_ST__COUNT));
}

Test(conn, every_state_has_a_distinct_name)
{
	for (int i = 0; i < CONN_ST__COUNT; i++) {
		const char *a = conn_state_name((enum conn_state)i);
		cr_assert(strcmp(a, "?"), "state %d has no name", i);
		for (int j = 0; j < i; j++)
			cr_assert(strcmp(a, conn_state_name((enum conn_state)j)));
	}
	cr_assert_str_eq(conn_state_name(CONN_ST__COUNT), "?");
}

Test(accesslog, denials_are_rate_limited_and_counted)
{
	struct conf c = {.access_log = true, .access_log_sample = 1, .access_log_deny_rate = 2};
	struct accesslog a;
	uint64_t dropped = 0;

	accesslog_init(&a, &c, 0);
	cr_assert(accesslog_wanted(&a, &c, false, 1000, &dropped));
	cr_assert(accesslog_wanted(&a, &c, false, 1000, &dropped));
	cr_assert_not(accesslog_wanted(&a, &c, false, 1000, &dropped), "two a second");
	cr_assert_eq(dropped, 1);
	cr_assert(accesslog_wanted(&a, &c, true, 1000, &dropped), "allowed lines are not rated");
	cr_assert(accesslog_wanted(&a, &c, false, 1500, &dropped), "half a second, one more");
	cr_assert_not(accesslog_wanted(&a, &c, false, 1500, &dropped));
	cr_assert_eq(dropped, 2);
	c.access_log = false;
	cr_assert_not(accesslog_wanted(&a, &c, true, 2000, &dropped));
	cr_assert_eq(dropped, 2, "off is not dropped");
}

Test(accesslog, allowed_lines_are_sampled)
{
	struct conf c = {.access_log = true, .access_log_sample = 0.25};
	struct accesslog a;
	uint64_t dropped = 0;
	int n = 0;

	accesslog_init(&a, &c, 3);
	for (int i = 0; i < 10000; i++)
		n += accesslog_wanted(&a, &c, true, 0, &dropped);
	cr_assert(n > 2200 && n < 2800, "%d of 10000 at 0.25", n);
	cr_assert_eq(dropped, 0);
	c.access_log_sample = 0;
	cr_assert_not(accesslog_wanted(&a, &c, true, 0, &dropped));
	cr_assert(accesslog_wanted(&a, &c, false, 0, &dropped), "denials are not sampled");
}

Test(accesslog, addresses_as_the_line_shows_them)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(443)};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(8443)};
	struct sockaddr none = {0};
	char buf[64];

	inet_pton(AF_INET, "192.0.2.1", &in.sin_addr);
	inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
	accesslog_addr((struct sockaddr *)&in, buf, sizeof(buf));
	cr_assert_str_eq(buf, "192.0.2.1:443");
	accesslog_addr((struct sockaddr *)&in6, buf, sizeof(buf));
	cr_assert_str_eq(buf, "[2001:db8::1]:8443");
	accesslog_addr(&none, buf, sizeof(buf));
	cr_assert_str_eq(buf, "?");
}

Test(ring, user_data_round_trips)
{
	void *objs[] = {malloc(64), malloc(200), malloc(4096)};
	for (int i = 0; i < 3; i++) {
		for (int op = OP_IGNORE; op <= OP_CONNECT; op++) {
			uint64_t ud = ud_pack(objs[i], (enum op)op);
			cr_assert_eq(ud_ptr(ud), objs[i]);
			cr_assert_eq(ud_op(ud), (enum op)op);
		}
		free(objs[i]);
	}
}

Test(stats, every_reason_has_a_distinct_name)
{
	for (int i = 1; i < RS__COUNT; i++) {
		const char *a = reason_str((enum reason)i);
		if (i >= SNI_R__COUNT && i < RS_NOT_ALLOWED) {
			cr_assert_null(a, "slot %d is unused", i);
			continue;
		}
		cr_assert_not_null(a, "reason %d has no name", i);
		for (int j = 1; j < i; j++) {
			const char *b = reason_str((enum reason)j);
			cr_assert(!b || strcmp(a, b), "reasons %d and %d are both %s", i, j, a);
		}
	}
}

Test(stats, json_sums_and_names)
{
	struct stats a = {.accepted = 3, .denied = 2}, b = {.accepted = 4, .relayed = 1};
	struct stats sum = {0};
	char buf[4096];
	a.reason[RS_NOT_ALLOWED] = 2;
	b.reason[RS_DNS_NXDOMAIN] = 1;
	stats_add(&sum, &a);
	stats_add(&sum, &b);
	size_t n = stats_json(&sum, buf, sizeof(buf));
	cr_assert_eq(n, strlen(buf));
	cr_assert(strstr(buf, "\"accepted\":7,"), "%s", buf);
	cr_assert(strstr(buf, "\"not_allowed\":2"), "%s", buf);
	cr_assert(strstr(buf, "\"dns_nxdomain\":1"), "%s", buf);
	cr_assert_eq(buf[0], '{');
	cr_assert_eq(buf[n - 1], '}');

	char small[16];
	n = stats_json(&sum, small, sizeof(small));
	cr_assert_lt(n, sizeof(small), "a short buffer is truncated, not overrun");
}
