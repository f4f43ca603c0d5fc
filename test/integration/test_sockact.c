/* SPDX-License-Identifier: MIT */
/*
 * Socket activation, with systemd's own systemd-socket-activate as the
 * socket unit: it binds the port, waits for the first connection, then
 * execs snigate with the socket as fd 3 (LISTEN_FDS, LISTEN_FDNAMES). That
 * first connection was queued before snigate existed and must be relayed;
 * a socket that matches no listener is refused with a message that says
 * how to fix it. The shipped units pass `systemd-analyze verify`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "test/integration/harness.h"

#define ACTIVATE "/usr/bin/systemd-socket-activate"

static void setup(void)
{
	h_start_unbound();
	h_start_s_server();
}

TestSuite(sockact, .init = setup, .fini = h_teardown, .timeout = 120);

/* A config with listener main on 127.0.0.1:port; returns its path. */
static const char *write_conf(int port)
{
	static char conf[256];
	char text[1024];

	h_path(conf, sizeof(conf), "sockact.yaml");
	snprintf(text, sizeof(text),
		 "listeners:\n"
		 "  - name: main\n"
		 "    address: 127.0.0.1:%d\n"
		 "    upstream_port: %d\n"
		 "allow: [allowed.test]\n"
		 "resolver:\n"
		 "  forwarders: [\"127.0.0.1:%d\"]\n"
		 "upstream:\n"
		 "  allow: [127.0.0.0/8]\n"
		 "admin: {address: \"off\", control: {address: \"off\"}}\n",
		 port, H.tls_port, H.dns_port);
	h_write_file(conf, text);
	return conf;
}

/* systemd-socket-activate on 127.0.0.1:port, naming the socket fdname, for snigate -c conf. */
static struct h_proc *activate(int port, const char *fdname, const char *conf)
{
	char listen[64], name[80];

	cr_assert_eq(access(ACTIVATE, X_OK), 0, "%s is missing (Debian's systemd package)",
		     ACTIVATE);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(name, sizeof(name), "--fdname=%s", fdname);
	const char *argv[] = {
		ACTIVATE, "-l", listen, name, "-E", "SNIGATE_ALLOW_ROOT=1", getenv("SNIGATE_BIN"),
		"-c",	  conf, NULL};
	struct h_proc *p = h_spawn("socket-activate", argv, NULL);
	cr_assert(h_port_wait(port, 5000), "systemd-socket-activate did not listen: %s",
		  h_read_file(p->err));
	return p;
}

static void no_sanitizer_report(const struct h_proc *p)
{
	const char *err = h_read_file(p->err);
	cr_assert_null(strstr(err, "Sanitizer"), "%s", err);
	cr_assert_null(strstr(err, "runtime error"), "%s", err);
}

Test(sockact, the_unit_socket_is_taken_and_the_first_connection_relayed)
{
	int port = h_free_port();
	const char *conf = write_conf(port);
	struct h_proc *p = activate(port, "main", conf);
	char err[2048];

	/* This connection is what makes systemd-socket-activate exec snigate. */
	cr_assert_eq(h_curl_from(port, "127.0.0.1", "allowed.test", err, sizeof(err)), 200,
		     "%s\n%s", err, h_read_file(p->err));
	cr_assert(h_file_wait(p->err, "listener main: the socket unit's socket (fd 3)", 5000), "%s",
		  h_read_file(p->err));
	/* The start's port probe left the unit's port alone: it would have found it taken. */
	cr_assert(strstr(h_read_file(p->err), "snigate: ready"), "%s", h_read_file(p->err));
	cr_assert_null(strstr(h_read_file(p->err), "cannot be bound"), "%s", h_read_file(p->err));
	/* And the ones after it, on the same socket. */
	for (int i = 0; i < 5; i++)
		cr_assert_eq(h_curl_from(port, "127.0.0.1", "allowed.test", err, sizeof(err)), 200,
			     "%s", err);
	cr_assert_lt(h_curl_from(port, "127.0.0.1", "x.wild.test", err, sizeof(err)), 0);
	int st = h_stop(p, SIGTERM, 10000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st, h_read_file(p->err));
	cr_assert(strstr(h_read_file(p->err), "\"relayed\":6,"), "%s", h_read_file(p->err));
	no_sanitizer_report(p);
}

Test(sockact, a_socket_that_matches_no_listener_is_refused)
{
	int port = h_free_port(), other = h_free_port();
	const char *conf = write_conf(other);
	struct h_proc *p = activate(port, "elsewhere", conf);

	/* The first connection execs snigate, which refuses the socket and exits 2. */
	int fd = h_connect(port);
	cr_assert(h_wait_exit(p, 10000), "snigate kept running: %s", h_read_file(p->err));
	close(fd);
	cr_assert_eq(h_exit_code(p), 2, "%s", h_read_file(p->err));
	cr_assert(strstr(h_read_file(p->err), "socket activation: the socket on 127.0.0.1:"), "%s",
		  h_read_file(p->err));
	cr_assert(strstr(h_read_file(p->err), "named elsewhere matches no listener"), "%s",
		  h_read_file(p->err));
	no_sanitizer_report(p);

	/* Named as the listener, but on another address: the two must agree. */
	port = h_free_port();
	conf = write_conf(h_free_port());
	p = activate(port, "main", conf);
	fd = h_connect(port);
	cr_assert(h_wait_exit(p, 10000), "snigate kept running: %s", h_read_file(p->err));
	close(fd);
	cr_assert_eq(h_exit_code(p), 2, "%s", h_read_file(p->err));
	cr_assert(strstr(h_read_file(p->err), "but listener main is on 127.0.0.1:"), "%s",
		  h_read_file(p->err));
}

Test(sockact, the_shipped_units_verify)
{
	const char *src = getenv("SNIGATE_SRC");
	char svc[512], sock[512], text[8192], *in;

	if (access("/usr/bin/systemd-analyze", X_OK) != 0)
		cr_skip_test("systemd-analyze is not installed");
	/* ExecStart must name a binary that exists: the one under test. */
	snprintf(svc, sizeof(svc), "%s/dist/systemd/snigate.service", src);
	in = h_read_file(svc);
	char *at = strstr(in, "/usr/local/bin/snigate");
	cr_assert_not_null(at);
	size_t o = 0;
	for (const char *s = in; *s && o < sizeof(text) - 256;) {
		if (!strncmp(s, "/usr/local/bin/snigate", 22)) {
			o += (size_t)snprintf(text + o, sizeof(text) - o, "%s",
					      getenv("SNIGATE_BIN"));
			s += 22;
		} else {
			text[o++] = *s++;
		}
	}
	text[o] = '\0';
	h_path(svc, sizeof(svc), "snigate.service");
	h_write_file(svc, text);
	snprintf(sock, sizeof(sock), "%s/dist/systemd/snigate.socket", src);
	in = h_read_file(sock);
	h_path(sock, sizeof(sock), "snigate.socket");
	h_write_file(sock, in);
	struct h_proc *p;
	const char *argv[] = {"systemd-analyze", "verify", sock, svc, NULL};
	int rc = h_run("systemd-analyze", argv, NULL, 30000, &p);
	cr_assert_eq(rc, 0, "%s%s", h_read_file(p->out), h_read_file(p->err));
	cr_assert_str_eq(h_read_file(p->err), "", "warnings: %s", h_read_file(p->err));
}
