/* SPDX-License-Identifier: MIT */
/*
 * The relay, end to end: bulk data both ways at once, half-close in either
 * direction, resets carried across, the idle timeout and a stop with a
 * connection in flight. The upstream is the C sink, which checks every byte
 * against the stream the client sent and sends its own stream back.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/integration/harness.h"

static void setup(void)
{
	h_start_unbound();
}

TestSuite(relay, .init = setup, .fini = h_teardown, .timeout = 180);

#define LOG_MS	 5000
#define SEED_UP	 0x5eed0001
#define SEED_DN	 0x5eed0002
#define CHUNK	 (1u << 20)
#define BULK_LEN (256ULL << 20)

static void expect_log(const struct h_gw *g, const char *const needles[], char *line, size_t len)
{
	if (h_log_wait(g, needles, LOG_MS, line, len))
		return;
	char *log = h_read_file(g->p->out);
	cr_assert_fail("no access log line with %s...; the log is:\n%s", needles[0], log);
}

/* Connect and send an allowed hello; *hello_len gets its size. */
static int open_relay(const struct h_gw *g, size_t *hello_len)
{
	uint8_t hello[4096];
	struct hello_opts o = {.sni = "allowed.test"};
	size_t n = h_hello(&o, hello, sizeof(hello));
	int fd = h_connect(g->port);

	h_send_all(fd, hello, n);
	if (hello_len)
		*hello_len = n;
	return fd;
}

/* What the client side of a stream saw. */
struct rx {
	int fd;
	uint64_t seed;
	uint64_t got;
	int64_t bad_at;
	struct h_hash hash;
	enum h_outcome end;
	uint64_t t_end;
};

/* Read fd to its end, checking the bytes against stream rx->seed. */
static void *rx_run(void *arg)
{
	struct rx *rx = arg;
	uint8_t *buf = malloc(CHUNK), *want = malloc(CHUNK);

	rx->bad_at = -1;
	h_hash_init(&rx->hash);
	for (;;) {
		ssize_t n = recv(rx->fd, buf, CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rx->end = n == 0 ? H_EOF : errno == ECONNRESET ? H_RESET : H_ERROR;
			break;
		}
		h_hash_update(&rx->hash, buf, (size_t)n);
		h_pattern(rx->seed, rx->got, want, (size_t)n);
		if (rx->bad_at < 0 && memcmp(buf, want, (size_t)n)) {
			for (ssize_t i = 0; i < n; i++) {
				if (buf[i] != want[i]) {
					rx->bad_at = (int64_t)(rx->got + (uint64_t)i);
					break;
				}
			}
		}
		rx->got += (uint64_t)n;
	}
	rx->t_end = h_now_ms();
	free(buf);
	free(want);
	return NULL;
}

/* Send len bytes of stream seed; returns the hash of what was sent. */
static uint64_t send_stream(int fd, uint64_t seed, uint64_t len)
{
	uint8_t *buf = malloc(CHUNK);
	struct h_hash hs;

	cr_assert_not_null(buf);
	h_hash_init(&hs);
	for (uint64_t off = 0; off < len;) {
		size_t k = len - off < CHUNK ? (size_t)(len - off) : CHUNK;
		h_pattern(seed, off, buf, k);
		h_hash_update(&hs, buf, k);
		h_send_all(fd, buf, k);
		off += k;
	}
	free(buf);
	return h_hash_final(&hs);
}

/* ---- 7. bulk, both ways at once ---- */

Test(relay, bulk_256_mib_each_way_at_once, .timeout = 180)
{
	struct h_sink_opts so = {.capture = 4096,
				 .send_len = BULK_LEN,
				 .send_seed = SEED_DN,
				 .verify_seed = SEED_UP};
	size_t hl;
	uint8_t hello[4096];
	struct hello_opts ho = {.sni = "allowed.test"};

	hl = h_hello(&ho, hello, sizeof(hello));
	so.verify_from = hl;
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);

	int fd = h_connect(g.port);
	uint64_t t0 = h_now_ms();
	h_send_all(fd, hello, hl);
	struct rx rx = {.fd = fd, .seed = SEED_DN};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, rx_run, &rx), 0);
	struct h_hash up;
	h_hash_init(&up);
	h_hash_update(&up, hello, hl);
	uint8_t *buf = malloc(CHUNK);
	for (uint64_t off = 0; off < BULK_LEN; off += CHUNK) {
		h_pattern(SEED_UP, off, buf, CHUNK);
		h_hash_update(&up, buf, CHUNK);
		h_send_all(fd, buf, CHUNK);
	}
	free(buf);
	uint64_t t_sent = h_now_ms();
	shutdown(fd, SHUT_WR);
	pthread_join(th, NULL);
	close(fd);

	const struct h_sink_conn *c = h_sink_wait(s, 0, 30000);
	cr_assert_not_null(c, "the upstream never finished");
	uint64_t dt = (rx.t_end > c->t_eof ? rx.t_end : c->t_eof) - t0;
	cr_log_info("256 MiB each way in %llu ms (client done sending after %llu ms): %.0f MiB/s "
		    "per direction",
		    (unsigned long long)dt, (unsigned long long)(t_sent - t0),
		    256.0 * 1000 / (double)(dt ? dt : 1));

	/* Upstream side: the hello, then the client's stream, every byte in place. */
	cr_assert(c->eof, "upstream read ended with errno %d, not EOF", c->rerr);
	cr_assert_eq(c->received, hl + BULK_LEN, "upstream got %llu bytes, want %llu",
		     (unsigned long long)c->received, (unsigned long long)(hl + BULK_LEN));
	cr_assert_arr_eq(c->cap, hello, hl, "the hello arrived altered");
	cr_assert_eq(c->bad_at, -1, "client stream corrupted at byte %lld", (long long)c->bad_at);
	cr_assert_eq(h_hash_final(&c->hash), h_hash_final(&up), "checksums differ upstream");
	cr_assert_eq(c->werr, 0, "upstream send failed: errno %d", c->werr);
	cr_assert_eq(c->sent, BULK_LEN);

	/* Client side: the upstream's stream, whole, then EOF. */
	cr_assert_eq(rx.end, H_EOF, "client read ended with %s", h_outcome_str(rx.end));
	cr_assert_eq(rx.got, BULK_LEN, "client got %llu bytes", (unsigned long long)rx.got);
	cr_assert_eq(rx.bad_at, -1, "upstream stream corrupted at byte %lld", (long long)rx.bad_at);
	cr_assert_eq(h_hash_final(&rx.hash), h_hash_final(&c->sent_hash),
		     "checksums differ downstream");

	char line[1024];
	const char *want[] = {"\"reason\":\"done\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	long long v;
	cr_assert(h_json_num(line, "bytes_up", &v));
	cr_assert_eq(v, (long long)(hl + BULK_LEN));
	cr_assert(h_json_num(line, "bytes_down", &v));
	cr_assert_eq(v, (long long)BULK_LEN);
}

/*
 * Large pipes that streaming flows gave back stay pooled, and they count
 * against relay.pipe_memory_max. Under a budget they fill, a new flow must
 * get its pipe from that idle memory instead of being reset.
 */
Test(relay, pooled_large_pipes_give_way_to_a_new_flow, .timeout = 120)
{
	const uint64_t len = 32 << 20;
	char conf[256];
	h_path(conf, sizeof(conf), "budget.yaml");
	h_write_file(conf, "relay:\n  pipe_size: 64KiB\n  pipe_max_size: 1MiB\n"
			   "  pipe_memory_max: 1088KiB\n");
	struct h_sink_opts so = {.send_len = len, .send_seed = SEED_DN};
	struct h_sink *s = h_sink_start(&so);
	const char *extra[] = {"-c", conf, "--threads", "1", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);

	/*
	 * One stream takes a small pipe, then a large one: the whole budget,
	 * pooled once it ends. Two streams at once then need a second small
	 * pipe, which only that pooled memory can pay for.
	 */
	for (int round = 0; round < 2; round++) {
		int n = round == 0 ? 1 : 2;
		int fds[2];
		struct rx rx[2];
		pthread_t th[2];
		for (int i = 0; i < n; i++) {
			fds[i] = open_relay(&g, NULL);
			rx[i] = (struct rx){.fd = fds[i], .seed = SEED_DN};
			cr_assert_eq(pthread_create(&th[i], NULL, rx_run, &rx[i]), 0);
		}
		for (int i = 0; i < n; i++) {
			pthread_join(th[i], NULL);
			close(fds[i]);
			cr_assert_eq(rx[i].end, H_EOF, "round %d flow %d ended with %s", round, i,
				     h_outcome_str(rx[i].end));
			cr_assert_eq(rx[i].got, len, "round %d flow %d got %llu of %llu bytes",
				     round, i, (unsigned long long)rx[i].got,
				     (unsigned long long)len);
			cr_assert_eq(rx[i].bad_at, -1);
		}
	}
	cr_assert_eq(h_log_count(&g, "\"reason\":\"internal\""), 0,
		     "a flow was reset for want of pipe memory");
}

/* ---- 8. half-close ---- */

Test(relay, client_half_close_then_upstream_replies, .timeout = 120)
{
	const uint64_t up_len = 1 << 20, reply = 4 << 20;
	uint8_t hello[4096];
	struct hello_opts ho = {.sni = "allowed.test"};
	size_t hl = h_hello(&ho, hello, sizeof(hello));
	struct h_sink_opts so = {.send_len = reply,
				 .send_seed = SEED_DN,
				 .send_after_eof = true,
				 .verify_from = hl,
				 .verify_seed = SEED_UP};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);

	int fd = h_connect(g.port);
	h_send_all(fd, hello, hl);
	uint64_t up_hash = send_stream(fd, SEED_UP, up_len);
	(void)up_hash;
	shutdown(fd, SHUT_WR);

	/* The upstream replies only after our EOF reached it. */
	struct rx rx = {.fd = fd, .seed = SEED_DN};
	rx_run(&rx);
	close(fd);
	cr_assert_eq(rx.end, H_EOF, "client read ended with %s after %llu bytes",
		     h_outcome_str(rx.end), (unsigned long long)rx.got);
	cr_assert_eq(rx.got, reply, "client got %llu bytes of the reply",
		     (unsigned long long)rx.got);
	cr_assert_eq(rx.bad_at, -1, "reply corrupted at byte %lld", (long long)rx.bad_at);

	const struct h_sink_conn *c = h_sink_wait(s, 0, 10000);
	cr_assert_not_null(c);
	cr_assert(c->eof, "upstream read ended with errno %d, not EOF", c->rerr);
	cr_assert_eq(c->received, hl + up_len);
	cr_assert_eq(c->bad_at, -1, "client data corrupted at byte %lld", (long long)c->bad_at);
	cr_assert_eq(c->sent, reply);

	char line[1024];
	const char *want[] = {"\"reason\":\"done\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	long long v;
	cr_assert(h_json_num(line, "bytes_up", &v));
	cr_assert_eq(v, (long long)(hl + up_len));
	cr_assert(h_json_num(line, "bytes_down", &v));
	cr_assert_eq(v, (long long)reply);
}

Test(relay, upstream_half_close_then_client_keeps_sending, .timeout = 120)
{
	const uint64_t greet = 64 << 10, more = 2 << 20;
	uint8_t hello[4096];
	struct hello_opts ho = {.sni = "allowed.test"};
	size_t hl = h_hello(&ho, hello, sizeof(hello));
	/* The sink sends its stream and FIN at once, then reads to our EOF. */
	struct h_sink_opts so = {
		.send_len = greet, .send_seed = SEED_DN, .verify_from = hl, .verify_seed = SEED_UP};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);

	int fd = h_connect(g.port);
	h_send_all(fd, hello, hl);
	struct rx rx = {.fd = fd, .seed = SEED_DN};
	rx_run(&rx);
	cr_assert_eq(rx.end, H_EOF, "client read ended with %s", h_outcome_str(rx.end));
	cr_assert_eq(rx.got, greet);
	cr_assert_eq(rx.bad_at, -1);

	/* Upstream said EOF; our direction must still flow. */
	h_sleep_ms(300);
	send_stream(fd, SEED_UP, more);
	shutdown(fd, SHUT_WR);
	enum h_outcome r = h_wait(fd, 10000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(r, H_EOF, "after both FINs the client saw %s", h_outcome_str(r));

	const struct h_sink_conn *c = h_sink_wait(s, 0, 10000);
	cr_assert_not_null(c);
	cr_assert(c->eof, "upstream read ended with errno %d", c->rerr);
	cr_assert_eq(c->received, hl + more, "upstream got %llu bytes, want %llu",
		     (unsigned long long)c->received, (unsigned long long)(hl + more));
	cr_assert_eq(c->bad_at, -1);

	char line[1024];
	const char *want[] = {"\"reason\":\"done\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

/* ---- resets carried across ---- */

Test(relay, client_reset_resets_the_upstream, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	size_t hl;

	int fd = open_relay(&g, &hl);
	/* Wait until the upstream has the hello, so the relay is up. */
	uint64_t end = h_now_ms() + 5000;
	while (h_sink_accepted(s) == 0 && h_now_ms() < end)
		h_sleep_ms(5);
	cr_assert_eq(h_sink_accepted(s), 1, "never connected upstream");
	h_sleep_ms(200);
	h_close_rst(fd);

	const struct h_sink_conn *c = h_sink_wait(s, 0, 5000);
	cr_assert_not_null(c, "the upstream connection outlived the client's reset");
	cr_assert_eq(c->rerr, ECONNRESET, "upstream saw %s, want a reset",
		     c->eof ? "EOF" : strerror(c->rerr));
	char line[1024];
	const char *want[] = {"\"reason\":\"client_reset\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

Test(relay, upstream_reset_resets_the_client, .timeout = 120)
{
	uint8_t hello[4096];
	struct hello_opts ho = {.sni = "allowed.test"};
	size_t hl = h_hello(&ho, hello, sizeof(hello));
	/* The sink resets as soon as it has the hello and 10 bytes more. */
	struct h_sink_opts so = {.rst_after = hl + 10};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);

	int fd = h_connect(g.port);
	h_send_all(fd, hello, hl);
	h_sleep_ms(100);
	h_send_all(fd, "0123456789", 10);
	enum h_outcome r = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(r, H_RESET, "upstream reset, the client saw %s", h_outcome_str(r));
	char line[1024];
	const char *want[] = {"\"reason\":\"upstream_reset\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

/* ---- idle timeout and stop ---- */

Test(relay, idle_connection_is_closed_at_the_idle_timeout, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	const char *extra[] = {"--idle-timeout", "1s", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);

	int fd = open_relay(&g, NULL);
	uint64_t t0 = h_now_ms();
	enum h_outcome r = h_wait(fd, 10000, NULL, 0, NULL);
	uint64_t dt = h_now_ms() - t0;
	close(fd);
	cr_log_info("idle connection: %s after %llu ms (idle timeout 1 s)", h_outcome_str(r),
		    (unsigned long long)dt);
	cr_assert(r == H_EOF || r == H_RESET, "idle connection: %s", h_outcome_str(r));
	cr_assert_geq(dt, 800, "closed after %llu ms, before the idle timeout",
		      (unsigned long long)dt);
	cr_assert_leq(dt, 4000, "closed only after %llu ms", (unsigned long long)dt);
	const struct h_sink_conn *c = h_sink_wait(s, 0, 5000);
	cr_assert_not_null(c, "the upstream connection stayed open");
	char line[1024];
	const char *want[] = {"\"reason\":\"idle_timeout\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

Test(relay, sigterm_with_a_live_relay_exits_cleanly, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);

	int fd = open_relay(&g, NULL);
	uint64_t end = h_now_ms() + 5000;
	while (h_sink_accepted(s) == 0 && h_now_ms() < end)
		h_sleep_ms(5);
	cr_assert_eq(h_sink_accepted(s), 1, "never connected upstream");
	h_sleep_ms(200);

	uint64_t t0 = h_now_ms();
	int code = h_snigate_stop(&g);
	uint64_t dt = h_now_ms() - t0;
	cr_assert_eq(code, 0, "exit %d on SIGTERM with a live connection", code);
	cr_assert_lt(dt, 5000, "stopping took %llu ms", (unsigned long long)dt);
	enum h_outcome r = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	cr_assert(r == H_EOF || r == H_RESET, "client saw %s", h_outcome_str(r));
	char line[1024];
	const char *want[] = {"\"reason\":\"shutdown\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	long long v;
	cr_assert(h_stats(&g, "shutdown", &v), "no stats line");
	cr_assert_eq(v, 1);
}

/* ---- resets after a half-close ---- */

Test(relay, client_reset_after_its_half_close_resets_the_upstream, .timeout = 120)
{
	/* The sink reads to EOF, then keeps the socket and watches for a reset. */
	struct h_sink_opts so = {.hold_ms = 8000};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);

	int fd = open_relay(&g, NULL);
	shutdown(fd, SHUT_WR);
	/* Let the FIN travel through to the upstream first. */
	h_sleep_ms(500);
	h_close_rst(fd);
	uint64_t t0 = h_now_ms();

	const struct h_sink_conn *c = h_sink_wait(s, 0, 10000);
	cr_assert_not_null(c);
	cr_assert(c->eof, "the upstream did not get the client's FIN first (errno %d)", c->rerr);
	/* Linux reports a reset that follows the peer's FIN as EPIPE. */
	cr_assert_neq(c->late_err, 0,
		      "the client reset after its FIN; the upstream saw no reset in %u ms",
		      so.hold_ms);
	cr_assert_lt(c->t_late - t0, 2000, "the reset took %llu ms to reach the upstream",
		     (unsigned long long)(c->t_late - t0));
	char line[1024];
	const char *want[] = {"\"reason\":\"client_reset\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

Test(relay, upstream_reset_after_its_half_close_resets_the_client, .timeout = 120)
{
	/* The sink sends 1000 bytes and FIN, waits, then resets without reading. */
	struct h_sink_opts so = {.send_len = 1000, .send_seed = SEED_DN, .rst_after_send_ms = 500};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	uint8_t buf[1000], want[1000];

	int fd = open_relay(&g, NULL);
	enum h_outcome r = h_recv_all(fd, buf, sizeof(buf), 5000);
	cr_assert_eq(r, H_DATA, "client got %s before the upstream's bytes", h_outcome_str(r));
	h_pattern(SEED_DN, 0, want, sizeof(want));
	cr_assert_arr_eq(buf, want, sizeof(want));
	r = h_wait(fd, 5000, NULL, 0, NULL);
	cr_assert_eq(r, H_EOF, "the upstream's FIN arrived as %s", h_outcome_str(r));
	uint64_t t0 = h_now_ms();
	bool reset = h_wait_peer_reset(fd, 5000);
	uint64_t dt = h_now_ms() - t0;
	close(fd);
	cr_assert(h_sink_wait(s, 0, 5000), "the sink never reset");
	cr_assert(reset, "the upstream reset after its FIN; the client saw no reset in 5 s");
	cr_assert_lt(dt, 2500, "the reset took %llu ms to reach the client",
		     (unsigned long long)dt);
	char line[1024];
	const char *want_log[] = {"\"reason\":\"upstream_reset\"", NULL};
	expect_log(&g, want_log, line, sizeof(line));
}

/* ---- half-closed sockets must not spin ---- */

/* CPU time (user + system, ms) pid has used so far, from /proc. */
static long long cpu_ms(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields after the command name, which may hold spaces: state is field 3. */
	char *p = strrchr(buf, ')');
	cr_assert_not_null(p);
	unsigned long long ut = 0, st = 0;
	cr_assert_eq(
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st),
		2);
	return (long long)((ut + st) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/*
 * Whatever the gateway waits on while one side has half-closed, it must
 * sleep: io_uring reports POLLRDHUP on such a socket for any poll, so a
 * one-shot poll re-armed on it completes at once, forever. A spinning
 * gateway burns a whole core over the window; an idle one a few ms.
 */
static void expect_idle_cpu(const struct h_gw *g, unsigned window_ms)
{
	long long before = cpu_ms(g->p->pid);
	h_sleep_ms(window_ms);
	long long used = cpu_ms(g->p->pid) - before;
	cr_assert_lt(used, (long long)window_ms / 5,
		     "snigate used %lld ms of CPU in %u ms with nothing to do (a poll loop)", used,
		     window_ms);
}

Test(relay, half_closed_client_with_a_silent_upstream_sleeps, .timeout = 120)
{
	/* The sink reads to our EOF, then holds its side open and says nothing. */
	struct h_sink_opts so = {.hold_ms = 4000};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);

	int fd = open_relay(&g, NULL);
	shutdown(fd, SHUT_WR);
	const struct h_sink_conn *c = NULL;
	uint64_t end = h_now_ms() + 5000;
	while (h_sink_accepted(s) == 0 && h_now_ms() < end)
		h_sleep_ms(5);
	h_sleep_ms(300); /* the FIN reaches the upstream */
	expect_idle_cpu(&g, 1500);
	close(fd);
	c = h_sink_wait(s, 0, 10000);
	cr_assert_not_null(c);
	cr_assert(c->eof, "the upstream did not get the client's FIN (errno %d)", c->rerr);
}

Test(relay, half_closed_client_that_does_not_read_sleeps, .timeout = 120)
{
	/* After our FIN the sink sends far more than the socket buffers hold. */
	const uint64_t len = 64 << 20;
	uint8_t hello[4096];
	struct hello_opts ho = {.sni = "allowed.test"};
	size_t hl = h_hello(&ho, hello, sizeof(hello));
	struct h_sink_opts so = {.send_len = len, .send_seed = SEED_DN, .send_after_eof = true};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);

	int fd = h_connect(g.port);
	h_send_all(fd, hello, hl);
	shutdown(fd, SHUT_WR);
	h_sleep_ms(1000); /* every buffer toward us fills; the gateway waits for POLLOUT */
	expect_idle_cpu(&g, 1500);

	/* Nothing was lost while it waited. */
	struct rx rx = {.fd = fd, .seed = SEED_DN};
	rx_run(&rx);
	close(fd);
	cr_assert_eq(rx.end, H_EOF, "client read ended with %s", h_outcome_str(rx.end));
	cr_assert_eq(rx.got, len, "client got %llu of %llu bytes", (unsigned long long)rx.got,
		     (unsigned long long)len);
	cr_assert_eq(rx.bad_at, -1, "corrupted at byte %lld", (long long)rx.bad_at);
}

/* ---- flow control, idle refresh, early FIN ---- */

Test(relay, client_that_pauses_reading_loses_nothing, .timeout = 120)
{
	const uint64_t len = 32 << 20;
	struct h_sink_opts so = {.send_len = len, .send_seed = SEED_DN};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);

	int fd = open_relay(&g, NULL);
	/* Every buffer on the way fills up and the upstream's send() blocks. */
	h_sleep_ms(2000);
	struct rx rx = {.fd = fd, .seed = SEED_DN};
	rx_run(&rx);
	cr_assert_eq(rx.end, H_EOF, "client read ended with %s", h_outcome_str(rx.end));
	cr_assert_eq(rx.got, len, "client got %llu of %llu bytes", (unsigned long long)rx.got,
		     (unsigned long long)len);
	cr_assert_eq(rx.bad_at, -1, "stream corrupted at byte %lld", (long long)rx.bad_at);
	shutdown(fd, SHUT_WR);
	enum h_outcome r = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(r, H_EOF, "after both FINs the client saw %s", h_outcome_str(r));
	const struct h_sink_conn *c = h_sink_wait(s, 0, 5000);
	cr_assert_not_null(c);
	cr_assert_eq(c->sent, len);
	char line[1024];
	const char *want[] = {"\"reason\":\"done\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

Test(relay, traffic_keeps_a_connection_past_the_idle_timeout, .timeout = 120)
{
	uint8_t hello[4096];
	struct hello_opts ho = {.sni = "allowed.test"};
	size_t hl = h_hello(&ho, hello, sizeof(hello));
	struct h_sink_opts so = {.verify_from = hl, .verify_seed = SEED_UP};
	struct h_sink *s = h_sink_start(&so);
	const char *extra[] = {"--idle-timeout", "1s", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	uint8_t buf[100];
	uint64_t off = 0;

	int fd = h_connect(g.port);
	h_send_all(fd, hello, hl);
	/* One way only, every 250 ms, for 3 s: never idle for 1 s. */
	for (int i = 0; i < 12; i++) {
		h_sleep_ms(250);
		h_pattern(SEED_UP, off, buf, sizeof(buf));
		h_send_all(fd, buf, sizeof(buf));
		off += sizeof(buf);
	}
	shutdown(fd, SHUT_WR);
	enum h_outcome r = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(r, H_EOF, "a busy connection ended with %s", h_outcome_str(r));
	const struct h_sink_conn *c = h_sink_wait(s, 0, 5000);
	cr_assert_not_null(c);
	cr_assert(c->eof, "upstream read ended with errno %d", c->rerr);
	cr_assert_eq(c->received, hl + off, "upstream got %llu of %llu bytes",
		     (unsigned long long)c->received, (unsigned long long)(hl + off));
	cr_assert_eq(h_log_count(&g, "idle_timeout"), 0, "closed as idle while busy");
}

Test(relay, fin_right_after_the_hello_still_gets_the_reply, .timeout = 120)
{
	const uint64_t reply = 100 << 10;
	struct h_sink_opts so = {
		.capture = 4096, .send_len = reply, .send_seed = SEED_DN, .send_after_eof = true};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	size_t hl;

	/* The FIN is there before the name is even resolved. */
	int fd = open_relay(&g, &hl);
	shutdown(fd, SHUT_WR);
	struct rx rx = {.fd = fd, .seed = SEED_DN};
	rx_run(&rx);
	close(fd);
	cr_assert_eq(rx.end, H_EOF, "client read ended with %s after %llu bytes",
		     h_outcome_str(rx.end), (unsigned long long)rx.got);
	cr_assert_eq(rx.got, reply);
	cr_assert_eq(rx.bad_at, -1);
	const struct h_sink_conn *c = h_sink_wait(s, 0, 5000);
	cr_assert_not_null(c);
	cr_assert_eq(c->received, hl);
}

Test(relay, hello_and_data_in_one_segment_arrive_in_order, .timeout = 120)
{
	uint8_t buf[8192];
	struct hello_opts ho = {.sni = "allowed.test"};
	size_t hl = h_hello(&ho, buf, sizeof(buf));
	struct h_sink_opts so = {.capture = 8192};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);

	h_pattern(SEED_UP, 0, buf + hl, 3000);
	int fd = h_connect(g.port);
	h_send_all(fd, buf, hl + 3000);
	shutdown(fd, SHUT_WR);
	enum h_outcome r = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(r, H_EOF, "client saw %s", h_outcome_str(r));
	const struct h_sink_conn *c = h_sink_wait(s, 0, 5000);
	cr_assert_not_null(c);
	cr_assert_eq(c->received, hl + 3000);
	cr_assert_arr_eq(c->cap, buf, hl + 3000, "hello + data arrived altered");
}

Test(relay, sigint_exits_cleanly_with_stats, .timeout = 60)
{
	struct h_gw g = h_snigate(h_free_port(), NULL);

	h_stop(g.p, SIGINT, 10000);
	cr_assert_eq(h_exit_code(g.p), 0, "exit %d on SIGINT", h_exit_code(g.p));
	long long v;
	cr_assert(h_stats(&g, "accepted", &v), "no stats line on SIGINT");
	cr_assert_eq(v, 0);
}

Test(relay, sigterm_with_connections_in_every_phase, .timeout = 120)
{
	uint8_t hello[4096];
	struct hello_opts ho = {.sni = "allowed.test"};
	size_t hl = h_hello(&ho, hello, sizeof(hello));
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);

	/*
	 * A stop without a drain period: what is still in a handshake when the
	 * listeners close is reset at once (the drain tests give them time).
	 */
	const char *now[] = {"--drain-timeout", "0s", NULL};
	/* a: one connection waiting for its hello, one for a DNS server that never answers */
	struct h_gw a = h_snigate_dns(h_sink_port(s), h_dns_blackhole(), now);
	/* b: one connecting to an upstream that never answers, one relaying */
	const char *extra[] = {"--connect-timeout", "30s", "--drain-timeout", "0s", NULL};
	struct h_gw b = h_snigate(h_listen_full(), extra);

	int in_hello = h_connect(a.port);
	h_send_all(in_hello, hello, hl / 2);
	int in_dns = h_connect(a.port);
	h_send_all(in_dns, hello, hl);
	int in_connect = h_connect(b.port);
	h_send_all(in_connect, hello, hl);
	h_sleep_ms(500);

	int fds[] = {in_hello, in_dns, in_connect};
	const char *what[] = {"waiting for its hello", "waiting for DNS", "connecting"};
	for (int i = 0; i < 3; i++) {
		enum h_outcome r = h_wait(fds[i], 0, NULL, 0, NULL);
		cr_assert_eq(r, H_TIMEOUT, "%s: %s before the stop", what[i], h_outcome_str(r));
	}
	uint64_t t0 = h_now_ms();
	int ca = h_snigate_stop(&a), cb = h_snigate_stop(&b);
	uint64_t dt = h_now_ms() - t0;
	cr_assert_eq(ca, 0, "exit %d with connections in hello and DNS", ca);
	cr_assert_eq(cb, 0, "exit %d with a connection connecting", cb);
	cr_assert_lt(dt, 5000, "stopping took %llu ms", (unsigned long long)dt);
	for (int i = 0; i < 3; i++) {
		enum h_outcome r = h_wait(fds[i], 2000, NULL, 0, NULL);
		cr_assert_eq(r, H_RESET, "%s at the stop: %s", what[i], h_outcome_str(r));
		close(fds[i]);
	}
	cr_assert_eq(h_log_count(&a, "\"reason\":\"shutdown\""), 2, "a's access log");
	cr_assert_eq(h_log_count(&b, "\"reason\":\"shutdown\""), 1, "b's access log");
	long long v;
	cr_assert(h_stats(&a, "shutdown", &v), "no stats line");
	cr_assert_eq(v, 2);
	cr_assert(h_stats(&b, "shutdown", &v), "no stats line");
	cr_assert_eq(v, 1);
}
