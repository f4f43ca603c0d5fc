/* SPDX-License-Identifier: MIT */
/*
 * The command line and --check, as an operator meets them: exit codes 0, 1
 * and 2, and config errors that point at file and line.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/integration/harness.h"

TestSuite(cli, .fini = h_teardown, .timeout = 60);

static const char *bin(void)
{
	const char *b = getenv("SNIGATE_BIN");
	cr_assert(b && *b, "SNIGATE_BIN is not set (meson test sets it)");
	return b;
}

/* Run snigate with args (NULL-terminated); returns the exit code. */
static int run(struct h_proc **p, const char *const args[])
{
	const char *argv[32] = {bin()};
	int n = 1;

	for (int i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return h_run("snigate", argv, NULL, 20000, p);
}

Test(cli, help_lists_every_flag, .timeout = 60)
{
	static const char *const flags[] = {
		"-c",
		"--check",
		"--listen",
		"--allow",
		"--resolver",
		"--upstream-port",
		"--threads",
		"--lookup-family",
		"--client-hello-timeout",
		"--connect-timeout",
		"--idle-timeout",
		"--log-level",
		"--no-access-log",
		"--version",
		"--allow-root",
		"--admin",
		"--control",
		"--control-token-file",
		"--cpu-affinity",
		"--audit",
		"--help",
		NULL,
	};
	struct h_proc *p;
	const char *args[] = {"--help", NULL};
	int rc = run(&p, args);
	char *out = h_read_file(p->out);

	cr_assert_eq(rc, 0, "--help exited %d", rc);
	for (int i = 0; flags[i]; i++)
		cr_assert(strstr(out, flags[i]), "--help does not mention %s:\n%s", flags[i], out);

	const char *args_h[] = {"-h", NULL};
	cr_assert_eq(run(&p, args_h), 0, "-h");
}

Test(cli, version_prints_the_version, .timeout = 60)
{
	struct h_proc *p;
	const char *args[] = {"--version", NULL};
	int rc = run(&p, args);
	char *out = h_read_file(p->out);

	cr_assert_eq(rc, 0, "--version exited %d", rc);
	cr_assert(strstr(out, "snigate"), "--version printed: %s", out);
}

Test(cli, check_accepts_the_shipped_config, .timeout = 60)
{
	const char *src = getenv("SNIGATE_SRC");
	char path[512];
	struct h_proc *p;

	cr_assert(src && *src, "SNIGATE_SRC is not set (meson test sets it)");
	snprintf(path, sizeof(path), "%s/conf/snigate.yaml", src);
	cr_assert_eq(access(path, R_OK), 0, "%s is missing", path);
	const char *args[] = {"--check", "-c", path, NULL};
	int rc = run(&p, args);
	char *err = h_read_file(p->err);
	cr_assert_eq(rc, 0, "--check on %s exited %d:\n%s", path, rc, err);
}

Test(cli, check_accepts_flags_without_a_file, .timeout = 60)
{
	struct h_proc *p;
	const char *args[] = {"--check",	"--listen",
			      "127.0.0.1:8443", "--allow",
			      "allowed.test",	"--allow",
			      "*.wild.test",	"--resolver",
			      "127.0.0.1@5353", "--client-hello-timeout",
			      "250ms",		NULL};
	int rc = run(&p, args);
	char *err = h_read_file(p->err);
	cr_assert_eq(rc, 0, "--check with flags only exited %d:\n%s", rc, err);
}

/* A bad YAML file must exit 2 and name the file, the line and (when given) the field. */
static void bad_yaml(const char *name, const char *text, unsigned line, const char *field)
{
	char path[300], want[340];
	struct h_proc *p;

	h_write_file(h_path(path, sizeof(path), name), text);
	const char *args[] = {"--check", "-c", path, NULL};
	int rc = run(&p, args);
	char *err = h_read_file(p->err);
	cr_assert_eq(rc, 2, "%s: --check exited %d (want 2):\n%s", name, rc, err);
	snprintf(want, sizeof(want), "%s:%u:", name, line);
	cr_assert(strstr(err, want), "%s: the error does not say '%s':\n%s", name, want, err);
	if (field) {
		snprintf(want, sizeof(want), "%s:%u: %s:", name, line, field);
		cr_assert(strstr(err, want), "%s: the error does not say '%s':\n%s", name, want,
			  err);
	}
}

Test(cli, check_rejects_bad_yaml_with_file_and_line, .timeout = 60)
{
	/* Not YAML at all: an unclosed flow sequence. */
	bad_yaml("syntax.yaml",
		 "allow:\n"
		 "  - allowed.test\n"
		 "listeners: [ {address: 127.0.0.1:8443\n",
		 3, NULL);
	/* A host name with a space in it. */
	bad_yaml("name.yaml",
		 "listeners:\n"
		 "  - address: 127.0.0.1:8443\n"
		 "allow:\n"
		 "  - allowed.test\n"
		 "  - \"bad name.test\"\n",
		 5, "allow[1]");
	bad_yaml("wildcard.yaml",
		 "listeners:\n"
		 "  - address: 127.0.0.1:8443\n"
		 "allow:\n"
		 "  - \"*.*.x\"\n",
		 4, "allow[0]");
	bad_yaml("duration.yaml",
		 "listeners:\n"
		 "  - address: 127.0.0.1:8443\n"
		 "allow: [allowed.test]\n"
		 "timeouts:\n"
		 "  connect: 5x\n",
		 5, "timeouts.connect");
	/* A typo must not pass silently. */
	bad_yaml("typo.yaml",
		 "listeners:\n"
		 "  - address: 127.0.0.1:8443\n"
		 "allow: [allowed.test]\n"
		 "timeouts:\n"
		 "  conect: 5s\n",
		 5, NULL);
	bad_yaml("port.yaml",
		 "listeners:\n"
		 "  - address: 127.0.0.1:70000\n"
		 "allow: [allowed.test]\n",
		 2, "listeners[0].address");
	/* A bare number of milliseconds is no duration any more. */
	bad_yaml("bare.yaml",
		 "listeners:\n"
		 "  - address: 127.0.0.1:8443\n"
		 "allow: [allowed.test]\n"
		 "timeouts:\n"
		 "  idle: 3600\n",
		 5, "timeouts.idle");
}

Test(cli, check_rejects_a_missing_file, .timeout = 60)
{
	struct h_proc *p;
	const char *args[] = {"--check", "-c", "/nonexistent/snigate.yaml", NULL};
	int rc = run(&p, args);
	char *err = h_read_file(p->err);
	cr_assert_eq(rc, 2, "missing file: exit %d:\n%s", rc, err);
	cr_assert(strstr(err, "/nonexistent/snigate.yaml"), "the error does not name the file:\n%s",
		  err);
}

Test(cli, bad_flags_exit_2, .timeout = 60)
{
	static const char *const cases[][3] = {
		{"--listen", "nonsense", NULL},
		{"--allow", "bad name", NULL},
		{"--allow", "*", NULL},
		{"--client-hello-timeout", "5x", NULL},
		{"--upstream-port", "70000", NULL},
		{"--lookup-family", "V5_ONLY", NULL},
		{"--log-level", "loud", NULL},
		{"--resolver", "not-an-ip", NULL},
		{"--no-such-flag", NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct h_proc *p;
		const char *args[8] = {"--check", "--listen", "127.0.0.1:8443", "--allow",
				       "allowed.test"};
		int n = 5;
		for (int k = 0; cases[i][k]; k++)
			args[n++] = cases[i][k];
		args[n] = NULL;
		int rc = run(&p, args);
		char *err = h_read_file(p->err);
		cr_assert_eq(rc, 2, "%s %s: exit %d (want 2):\n%s", cases[i][0],
			     cases[i][1] ? cases[i][1] : "", rc, err);
		cr_assert(strlen(err) > 0, "%s: no message on stderr", cases[i][0]);
	}
}

Test(cli, port_in_use_is_a_runtime_failure, .timeout = 60)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	char listen_on[64];
	struct h_proc *p;

	/* Held without SO_REUSEPORT, so snigate's listener cannot share it. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", ntohs(a.sin_port));
	const char *args[] = {"--listen",   listen_on,	    "--allow", "allowed.test",
			      "--resolver", "127.0.0.1@53", NULL};
	int rc = run(&p, args);
	char *err = h_read_file(p->err);
	close(fd);
	cr_assert_eq(rc, 1, "listening on a taken port: exit %d (want 1):\n%s", rc, err);
	cr_assert_null(strstr(err, "snigate: ready"), "said ready on a port it could not bind");
}

/*
 * Root is refused unless asked for (SECURITY.md): a parser bug in a root
 * process would own the node. meson sets SNIGATE_ALLOW_ROOT=1 for every
 * other test, so that `make test` runs as root; this one takes it away.
 */
Test(cli, refuses_root_unless_told_to, .timeout = 60)
{
	char listen_on[64];
	struct h_proc *p;

	if (geteuid() != 0)
		cr_skip_test("not root: there is no refusal to see");
	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", h_free_port());
	const char *plain[] = {"--listen",   listen_on,	     "--allow", "allowed.test",
			       "--resolver", "127.0.0.1@53", "--admin", "off",
			       "--control",  "off",	     NULL};
	static const char *const refused_env[] = {NULL, "0", "no", ""};
	for (size_t i = 0; i < sizeof(refused_env) / sizeof(refused_env[0]); i++) {
		if (refused_env[i])
			setenv("SNIGATE_ALLOW_ROOT", refused_env[i], 1);
		else
			unsetenv("SNIGATE_ALLOW_ROOT");
		int rc = run(&p, plain);
		char *err = h_read_file(p->err);
		cr_assert_eq(rc, 2, "as root, SNIGATE_ALLOW_ROOT=%s: exit %d (want 2):\n%s",
			     refused_env[i] ? refused_env[i] : "(unset)", rc, err);
		cr_assert_not_null(strstr(err, "refusing to run as root"), "%s", err);
		cr_assert_null(strstr(err, "snigate: ready"), "said ready as root:\n%s", err);
	}

	/* --check only reads the config: no need to refuse it. */
	const char *check[] = {"--check", "--listen", listen_on, "--allow", "allowed.test", NULL};
	cr_assert_eq(run(&p, check), 0, "--check as root: %s", h_read_file(p->err));

	/* Told to, by the flag or by the environment: it starts and stops cleanly. */
	for (int way = 0; way < 2; way++) {
		const char *argv[16] = {bin()};
		int n = 1;
		if (way == 0) {
			unsetenv("SNIGATE_ALLOW_ROOT");
			argv[n++] = "--allow-root";
		} else {
			setenv("SNIGATE_ALLOW_ROOT", "true", 1);
		}
		for (int i = 0; plain[i]; i++)
			argv[n++] = plain[i];
		argv[n] = NULL;
		p = h_spawn("snigate", argv, NULL);
		p->gateway = true;
		cr_assert(h_file_wait(p->err, "snigate: ready", 10000), "%s: not ready:\n%s",
			  way ? "SNIGATE_ALLOW_ROOT=true" : "--allow-root", h_read_file(p->err));
		cr_assert_eq(h_stop(p, SIGTERM, 10000), 0, "%s", h_read_file(p->err));
	}
}
