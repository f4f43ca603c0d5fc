/* SPDX-License-Identifier: MIT */
/*
 * test_hello: hello_build() makes what it promises. Sizes are exact, the
 * records are well formed, sni_parse() reads back the name for every option
 * combination, and a real TLS stack (OpenSSL's s_server on loopback, when
 * installed) answers it with a ServerHello: the load generator and the
 * parser tests lean on these hellos, so they must be ones a server takes.
 */
#include "bench/hello.h"
#include "sni/sni.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CAP	      (96 * 1024)

static uint8_t out[CAP];
static uint8_t scratch[65536];

/* Walk the records: count them, check framing, and return the handshake message length. */
static size_t check_records(const uint8_t *b, size_t n, unsigned *records)
{
	size_t off = 0, msg = 0;

	*records = 0;
	while (off < n) {
		size_t len;

		cr_assert_geq(n - off, 5);
		cr_assert_eq(b[off], 22);
		cr_assert_eq(b[off + 1], 3);
		len = (size_t)b[off + 3] << 8 | b[off + 4];
		cr_assert_gt(len, 0);
		cr_assert_leq(len, 16384);
		cr_assert_leq(len, n - off - 5);
		msg += len;
		off += 5 + len;
		(*records)++;
	}
	return msg;
}

static long build_checked(const struct hello_opts *o)
{
	long n = hello_build(o, out, sizeof(out));
	unsigned records;
	size_t msg;

	cr_assert_gt(n, 0, "sni=%s size=%zu records=%u", o->sni, o->size, o->records);
	if (o->size)
		cr_assert_eq((size_t)n, o->size);
	msg = check_records(out, (size_t)n, &records);
	cr_assert_eq(records, o->records ? o->records : 1);
	cr_assert_eq(out[5], 1, "a ClientHello");
	/* The fragments add up to exactly one handshake message. */
	cr_assert_eq(msg, 4 + ((size_t)out[6] << 16 | (size_t)out[7] << 8 | out[8]));
	return n;
}

static void lower(char *dst, const char *src)
{
	size_t i;

	for (i = 0; src[i]; i++)
		dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i]);
	if (i && dst[i - 1] == '.')
		i--;
	dst[i] = '\0';
}

Test(hello, every_option_combination_parses_back)
{
	static const char *const snis[] = {"example.com", "A.Mixed.Case.Example.", "x"};
	static const unsigned records[] = {0, 1, 2, 3, 7};
	static const size_t extra[] = {0, 1, 2, 3, 4, 5, 100, 1000};
	unsigned combos = 0;

	for (size_t s = 0; s < ARRAY_SIZE(snis); s++)
		for (unsigned flags = 0; flags < 8; flags++)
			for (size_t r = 0; r < ARRAY_SIZE(records); r++)
				for (size_t e = 0; e < ARRAY_SIZE(extra); e++) {
					struct hello_opts o = {
						.sni = snis[s],
						.records = records[r],
						.grease = flags & 1,
						.ech = flags & 2,
						.pq_keyshare = flags & 4,
					};
					struct sni_hello h;
					char want[300];
					long natural = hello_build(&o, out, sizeof(out));
					long n;

					cr_assert_gt(natural, 0);
					o.size = extra[e] ? (size_t)natural + extra[e] : 0;
					n = build_checked(&o);
					cr_assert_eq(sni_parse(out, (size_t)n, scratch,
							       sizeof(scratch), &h),
						     SNI_OK, "reason %s", sni_reason_str(h.reason));
					lower(want, snis[s]);
					cr_assert_str_eq(h.name, want);
					cr_assert_eq(h.ech, o.ech);
					cr_assert_eq(h.wire_len, (size_t)n);
					cr_assert_eq(h.version, 0x0303);
					combos++;
				}
	cr_log_info("%u combinations", combos);
}

Test(hello, sizes_are_exact)
{
	struct hello_opts o = {.sni = "size.example", .grease = true};
	long natural = hello_build(&o, out, sizeof(out));

	cr_assert_gt(natural, 200);
	cr_assert_lt(natural, 600, "a plain hello is about 300 bytes, got %ld", natural);
	for (size_t size = (size_t)natural; size < (size_t)natural + 300; size++) {
		o.size = size;
		cr_assert_eq(build_checked(&o), (long)size);
	}
	static const size_t big[] = {1500, 1800, 4096, 8192, 16384 + 5, 30000, 65000};
	for (size_t i = 0; i < ARRAY_SIZE(big); i++) {
		o.size = big[i];
		o.records = big[i] > 16384 ? 4 : 1;
		cr_assert_eq(build_checked(&o), (long)big[i]);
	}
}

Test(hello, pq_keyshare_is_1216_bytes)
{
	struct hello_opts o = {.sni = "pq.example", .pq_keyshare = true};
	long n = build_checked(&o);
	static const uint8_t share[] = {0x11, 0xec, 0x04, 0xc0}; /* group, length 1216 */

	cr_assert_not_null(memmem(out, (size_t)n, share, sizeof(share)));
	cr_assert_gt(n, 1216 + 250);
	cr_assert_lt(n, 1800, "a PQ hello pads up to 1.8 KB, not past it: %ld", n);
}

Test(hello, deterministic)
{
	static uint8_t again[CAP];
	struct hello_opts o = {.sni = "same.example", .grease = true, .ech = true, .records = 3};
	long a = hello_build(&o, out, sizeof(out));
	long b = hello_build(&o, again, sizeof(again));

	cr_assert_eq(a, b);
	cr_assert_eq(memcmp(out, again, (size_t)a), 0);
}

Test(hello, no_sni_means_no_server_name)
{
	struct hello_opts o = {.sni = NULL, .grease = true};
	struct sni_hello h;
	long n = build_checked(&o);

	cr_assert_eq(sni_parse(out, (size_t)n, scratch, sizeof(scratch), &h), SNI_REJECT);
	cr_assert_eq(h.reason, SNI_R_NO_SNI);
}

Test(hello, impossible_options_fail)
{
	char name[300];
	struct hello_opts o = {.sni = "example.com"};
	long natural = hello_build(&o, out, sizeof(out));

	memset(name, 'a', 256);
	name[256] = '\0';
	o.sni = name;
	cr_assert_eq(hello_build(&o, out, sizeof(out)), -1, "SNI over 255 bytes");
	name[255] = '\0';
	cr_assert_gt(hello_build(&o, out, sizeof(out)), 0, "255 is allowed");

	o.sni = "example.com";
	o.size = (size_t)natural - 1;
	cr_assert_eq(hello_build(&o, out, sizeof(out)), -1, "smaller than natural");
	o.size = 0;
	cr_assert_eq(hello_build(&o, out, (size_t)natural - 1), -1, "cap too small");
	cr_assert_eq(hello_build(&o, out, (size_t)natural), natural, "cap just right");
	o.size = 20000;
	cr_assert_eq(hello_build(&o, out, sizeof(out)), -1, "one record cannot hold 20000");
	o.records = 2;
	cr_assert_eq(hello_build(&o, out, sizeof(out)), 20000);
	o.size = 0;
	o.records = 5000;
	cr_assert_eq(hello_build(&o, out, sizeof(out)), -1, "more records than bytes");
}

/* ---- a real TLS server reads it ---- */

static bool have_openssl(void)
{
	return system("openssl version >/dev/null 2>&1") == 0;
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static int connect_retry(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	for (int tries = 0; tries < 250; tries++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct timespec ts = {0, 20 * 1000 * 1000};

		cr_assert_geq(fd, 0);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		nanosleep(&ts, NULL);
	}
	return -1;
}

/*
 * Send hello to a fresh `openssl s_server` and return true when it answers
 * with a ServerHello record. dir holds its certificate and key.
 */
static bool openssl_answers(const char *dir, const uint8_t *hello, size_t n)
{
	char cert[256], key[256], log[256], accept_arg[64], reply[64];
	int in[2], port = free_port(), fd, logfd;
	size_t got = 0;
	pid_t pid;

	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(log, sizeof(log), "%s/s_server.log", dir);
	snprintf(accept_arg, sizeof(accept_arg), "127.0.0.1:%d", port);
	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(logfd, 0);
	/* s_server quits on EOF on stdin, so hold a pipe open until we are done. */
	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execlp("openssl", "openssl", "s_server", "-cert", cert, "-key", key, "-accept",
		       accept_arg, "-naccept", "1", "-msg", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(logfd);

	fd = connect_retry(port);
	if (fd >= 0) {
		cr_assert_eq(write(fd, hello, n), (ssize_t)n);
		while (got < 6) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			ssize_t r;

			if (poll(&p, 1, 5000) <= 0)
				break;
			r = read(fd, reply + got, sizeof(reply) - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		close(fd);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	close(in[1]);
	cr_assert_geq(fd, 0, "s_server never listened on %d", port);
	/* Handshake record whose first message is server_hello (2). */
	return got >= 6 && reply[0] == 22 && reply[5] == 2;
}

Test(hello, openssl_s_server_answers_with_server_hello, .timeout = 60)
{
	static const struct hello_opts opts[] = {
		{.sni = "example.com"},
		{.sni = "example.com", .grease = true, .ech = true, .pq_keyshare = true},
		{.sni = "split.example", .records = 3, .grease = true},
		{.sni = "big.example", .size = 8192, .records = 2},
	};
	char dir[] = "/tmp/snigate-test-hello-XXXXXX";
	char cmd[512];

	if (!have_openssl())
		cr_skip_test("openssl not installed");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout %s/key.pem -out %s/cert.pem -subj /CN=snigate-test -days 1 "
		 ">/dev/null 2>&1",
		 dir, dir);
	cr_assert_eq(system(cmd), 0, "openssl req failed");

	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		long n = hello_build(&opts[i], out, sizeof(out));
		char log[256], text[4096];
		FILE *f;
		size_t len;

		cr_assert_gt(n, 0);
		cr_assert(openssl_answers(dir, out, (size_t)n), "hello %zu: no ServerHello", i);
		snprintf(log, sizeof(log), "%s/s_server.log", dir);
		f = fopen(log, "r");
		cr_assert_not_null(f);
		len = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[len] = '\0';
		cr_assert_not_null(strstr(text, "ClientHello"), "hello %zu: s_server -msg: %s", i,
				   text);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}
