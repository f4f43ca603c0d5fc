/* SPDX-License-Identifier: MIT */
/*
 * The drop-in promise, end to end: the real snigate started the way the
 * Envoy pod's Deployment starts Envoy (--config-path, -l, --concurrency) on
 * a copy of the Envoy bootstrap, relays an allowed name to the real
 * upstream and resets a denied one; `--config-path FILE --check` and
 * `--mode validate` validate it; `snigate convert`'s output runs the same.
 *
 * The copy is the reference file with only what a loopback test must change:
 * the listener and admin ports, the port dialled (s_server's), the resolver
 * (unbound, through the c-ares resolver config Envoy itself would read) and
 * two test names added to server_names.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/integration/harness.h"

static void setup(void)
{
	h_start_unbound();
}

TestSuite(envoy, .init = setup, .fini = h_teardown, .timeout = 120);

static const char *bin(void)
{
	const char *b = getenv("SNIGATE_BIN");
	cr_assert(b && *b, "SNIGATE_BIN is not set (meson test sets it)");
	return b;
}

/* text with the one occurrence of from replaced by to; from must occur exactly once. */
static char *replace_once(char *text, const char *from, const char *to)
{
	char *p = strstr(text, from);

	cr_assert_not_null(p, "the reference file no longer holds:\n%s", from);
	cr_assert_null(strstr(p + 1, from), "the reference file holds twice:\n%s", from);
	size_t head = (size_t)(p - text), n = strlen(text) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);
	cr_assert_not_null(out);
	memcpy(out, text, head);
	strcpy(out + head, to);
	strcat(out, p + strlen(from));
	free(text);
	return out;
}

static char *reference_text(void)
{
	const char *src = getenv("SNIGATE_SRC");
	char path[1024];

	cr_assert(src && *src, "SNIGATE_SRC is not set (meson test sets it)");
	snprintf(path, sizeof(path), "%s/test/conf/data/envoy/reference.yaml", src);
	char *text = strdup(h_read_file(path));
	cr_assert(text && *text, "cannot read %s", path);
	return text;
}

/* The c-ares resolver block Envoy reads, at the given indent, pointing at unbound. */
static void resolver_block(char *buf, size_t len, const char *indent)
{
	snprintf(buf, len,
		 "%1$styped_dns_resolver_config:\n"
		 "%1$s  name: envoy.network.dns_resolver.cares\n"
		 "%1$s  typed_config:\n"
		 "%1$s    \"@type\": type.googleapis.com/"
		 "envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig\n"
		 "%1$s    resolvers:\n"
		 "%1$s    - socket_address: { address: 127.0.0.1, port_value: %2$d }\n",
		 indent, H.dns_port);
}

static int envoy_admin_port; /* the admin port envoy_file() last wrote */

/* The adapted copy of the reference bootstrap, written to the test's dir. */
static const char *envoy_file(char *path, size_t len, int port, int upstream_port)
{
	char from[256], to[1024], res[512];
	char *t = reference_text();

	envoy_admin_port = h_free_port();
	snprintf(to, sizeof(to),
		 "address: { socket_address: { address: 127.0.0.1, port_value: %d } }",
		 envoy_admin_port);
	t = replace_once(t, "address: { socket_address: { address: 0.0.0.0, port_value: 9901 } }",
			 to);
	snprintf(to, sizeof(to),
		 "address: { socket_address: { address: 127.0.0.1, port_value: %d } }", port);
	t = replace_once(t, "address: { socket_address: { address: 0.0.0.0, port_value: 8443 } }",
			 to);
	t = replace_once(t, "        - \"api.anthropic.com\"\n",
			 "        - \"allowed.test\"\n        - \"*.wild.test\"\n"
			 "        - \"api.anthropic.com\"\n");
	snprintf(to, sizeof(to), "          port_value: %d\n", upstream_port);
	t = replace_once(t, "          port_value: 443\n", to);
	/* The filter's DNS cache and the cluster's, which must stay the same. */
	snprintf(from, sizeof(from), "            dns_lookup_family: V4_ONLY\n");
	resolver_block(res, sizeof(res), "            ");
	snprintf(to, sizeof(to), "%s%s", from, res);
	t = replace_once(t, from, to);
	snprintf(from, sizeof(from), "          dns_lookup_family: V4_ONLY\n    connect_timeout");
	resolver_block(res, sizeof(res), "          ");
	snprintf(to, sizeof(to), "          dns_lookup_family: V4_ONLY\n%s    connect_timeout",
		 res);
	t = replace_once(t, from, to);

	h_path(path, len, "envoy.yaml");
	h_write_file(path, t);
	free(t);
	return path;
}

/* Another session adds a default that denies loopback upstreams, and a flag to allow them. */
static bool has_allow_upstream(void)
{
	struct h_proc *p;
	const char *argv[] = {bin(), "--help", NULL};

	cr_assert_eq(h_run("snigate", argv, NULL, 20000, &p), 0);
	return strstr(h_read_file(p->out), "--allow-upstream") != NULL;
}

static int curl(int port, const char *host, struct h_proc **p)
{
	char connect_to[128], url[128], body[300];

	h_make_cert();
	snprintf(connect_to, sizeof(connect_to), "%s:443:127.0.0.1:%d", host, port);
	snprintf(url, sizeof(url), "https://%s/", host);
	h_path(body, sizeof(body), "body");
	const char *argv[] = {"curl",	  "-sS",	  "--max-time", "20", "--connect-to",
			      connect_to, "--cacert",	  H.cert,	"-o", body,
			      "-w",	  "%{http_code}", url,		NULL};
	return h_run("curl", argv, NULL, 30000, p);
}

static enum h_outcome raw_hello(int port, const char *sni)
{
	uint8_t hello[4096];
	struct hello_opts o = {.sni = sni};
	size_t n = h_hello(&o, hello, sizeof(hello));
	int fd = h_connect(port);

	h_send_all(fd, hello, n);
	enum h_outcome r = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	return r;
}

/* snigate with the Envoy Deployment's argument shape: FLAG CONFIG -l info --concurrency 2. */
static struct h_gw run_gw(int port, const char *flag, const char *config)
{
	const char *args[16];
	int n = 0;

	args[n++] = flag;
	args[n++] = config;
	args[n++] = "-l";
	args[n++] = "info";
	args[n++] = "--concurrency";
	args[n++] = "2";
	if (has_allow_upstream()) {
		args[n++] = "--allow-upstream";
		args[n++] = "127.0.0.0/8";
	}
	args[n] = NULL;
	return h_snigate_args(port, args);
}

/* s_server as the upstream, the adapted Envoy file, and snigate on it. */
static struct h_gw start(const char *flag)
{
	int port = h_free_port();
	char path[300];

	h_start_s_server();
	envoy_file(path, sizeof(path), port, H.tls_port);
	return run_gw(port, flag, path);
}

Test(envoy, allowed_name_relays_denied_name_is_reset, .timeout = 120)
{
	struct h_proc *p;
	struct h_gw g = start("--config-path");

	int rc = curl(g.port, "allowed.test", &p);
	char *out = h_read_file(p->out), *err = h_read_file(p->err);
	cr_assert_eq(rc, 0, "curl exited %d: %s", rc, err);
	cr_assert_str_eq(out, "200", "HTTP status %s", out);
	char bp[300];
	char *body = h_read_file(h_path(bp, sizeof(bp), "body"));
	cr_assert(strstr(body, "s_server") || strstr(body, "Ciphers"),
		  "not s_server's page:\n%.400s", body);

	rc = curl(g.port, "x.wild.test", &p);
	cr_assert_eq(rc, 0, "wildcard: curl exited %d: %s", rc, h_read_file(p->err));

	enum h_outcome o = raw_hello(g.port, "denied.test");
	cr_assert_eq(o, H_RESET, "denied.test: %s, not a reset", h_outcome_str(o));
	o = raw_hello(g.port, "wild.test");
	cr_assert_eq(o, H_RESET, "the wildcard's apex: %s, not a reset", h_outcome_str(o));
	rc = curl(g.port, "denied.test", &p);
	cr_assert_eq(rc, 35, "curl to a denied name exited %d, not 35 (reset in the handshake)",
		     rc);

	/* The file configures no access log, as the Envoy pod had none. */
	cr_assert_eq(h_log_count(&g, NULL), 0, "access log lines:\n%s", h_read_file(g.p->out));
	cr_assert_eq(h_snigate_stop(&g), 0);
}

/* METHOD http://127.0.0.1:port/path with curl: the HTTP status, 0 when nothing answered. */
static int http_status(int port, const char *method, const char *path)
{
	char url[128];
	struct h_proc *p;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	const char *argv[] = {"curl", "-s",   "-o",	    "/dev/null", "-w", "%{http_code}",
			      "-X",   method, "--max-time", "5",	 url,  NULL};
	h_run("curl", argv, NULL, 10000, &p);
	return atoi(h_read_file(p->out));
}

/*
 * The bootstrap's admin address is where the Deployment's probes point: it
 * serves them (and /metrics), while /drain and /config are not there.
 */
Test(envoy, the_bootstraps_admin_address_serves_the_probes, .timeout = 120)
{
	char path[300], listen[32], want[64];
	int port = h_free_port();

	h_start_s_server();
	envoy_file(path, sizeof(path), port, H.tls_port);
	snprintf(listen, sizeof(listen), "%d", port);
	/* Not h_snigate_args(): its --admin would replace the file's. */
	const char *argv[] = {bin(),	     "--config-path",	path,
			      "--control",   "127.0.0.1:0",	"--allow-upstream",
			      "127.0.0.0/8", "--drain-timeout", "2s",
			      NULL};
	struct h_gw g = {.port = port, .p = h_spawn("snigate", argv, NULL)};
	g.p->gateway = true;
	cr_assert(h_file_wait(g.p->err, "snigate: ready", 15000), "%s", h_read_file(g.p->err));
	snprintf(want, sizeof(want), ", admin 127.0.0.1:%d,", envoy_admin_port);
	cr_assert(strstr(h_read_file(g.p->err), want), "%s", h_read_file(g.p->err));
	cr_assert_eq(http_status(envoy_admin_port, "GET", "/ready"), 200);
	cr_assert_eq(http_status(envoy_admin_port, "GET", "/healthz"), 200);
	cr_assert_eq(http_status(envoy_admin_port, "GET", "/metrics"), 200);
	cr_assert_eq(http_status(envoy_admin_port, "POST", "/drain"), 404);
	cr_assert_eq(http_status(envoy_admin_port, "GET", "/config"), 404);
	cr_assert_eq(http_status(envoy_admin_port, "GET", "/ready"), 200, "still ready");
	cr_assert_eq(h_snigate_stop(&g), 0);
}

Test(envoy, dash_c_detects_the_envoy_file, .timeout = 120)
{
	struct h_proc *p;
	struct h_gw g = start("-c");

	int rc = curl(g.port, "allowed.test", &p);
	cr_assert_eq(rc, 0, "curl exited %d: %s", rc, h_read_file(p->err));
	cr_assert_eq(raw_hello(g.port, "denied.test"), H_RESET);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

Test(envoy, config_path_check_and_mode_validate, .timeout = 60)
{
	const char *src = getenv("SNIGATE_SRC");
	char ref[1024], bad[1024];
	struct h_proc *p;

	cr_assert(src);
	snprintf(ref, sizeof(ref), "%s/test/conf/data/envoy/reference.yaml", src);
	snprintf(bad, sizeof(bad), "%s/test/conf/data/envoy/bad_filter.yaml", src);

	const char *check[] = {bin(), "--config-path", ref, "--check", NULL};
	cr_assert_eq(h_run("snigate", check, NULL, 20000, &p), 0, "%s", h_read_file(p->err));
	cr_assert(strstr(h_read_file(p->out), "ok (1 listeners, 8 allowlist entries)"), "%s",
		  h_read_file(p->out));

	const char *validate[] = {bin(), "--mode", "validate", "-c", ref, NULL};
	cr_assert_eq(h_run("snigate", validate, NULL, 20000, &p), 0, "%s", h_read_file(p->err));

	const char *subcmd[] = {bin(), "check", "--config-path", ref, NULL};
	cr_assert_eq(h_run("snigate", subcmd, NULL, 20000, &p), 0, "%s", h_read_file(p->err));

	const char *refused[] = {bin(), "--config-path", bad, "--check", NULL};
	cr_assert_eq(h_run("snigate", refused, NULL, 20000, &p), 2);
	char want[1200];
	snprintf(want, sizeof(want),
		 "%s:36: static_resources.listeners[0].filter_chains[0].filters[1].typed_config."
		 "@type: unsupported filter",
		 bad);
	cr_assert(strstr(h_read_file(p->err), want), "%s", h_read_file(p->err));

	/* Forced native, the Envoy file is refused too, never half-read. */
	const char *native[] = {bin(), "--config-format", "native", "-c", ref, "--check", NULL};
	cr_assert_eq(h_run("snigate", native, NULL, 20000, &p), 2);

	/* An Envoy flag with no meaning here is named, not fatal. */
	const char *flags[] = {
		bin(), "-c", ref, "--check", "--service-cluster", "egress", "--disable-hot-restart",
		NULL};
	cr_assert_eq(h_run("snigate", flags, NULL, 20000, &p), 0, "%s", h_read_file(p->err));
	cr_assert(strstr(h_read_file(p->err), "--service-cluster is an Envoy flag"), "%s",
		  h_read_file(p->err));
	const char *level[] = {bin(), "-c", ref, "--check", "-l", "loud", NULL};
	cr_assert_eq(h_run("snigate", level, NULL, 20000, &p), 2);
}

Test(envoy, converted_config_runs_the_same, .timeout = 120)
{
	char envoy[300], native[300];
	int port = h_free_port();
	struct h_proc *p;

	h_start_s_server();
	envoy_file(envoy, sizeof(envoy), port, H.tls_port);
	const char *conv[] = {bin(), "convert", envoy, NULL};
	cr_assert_eq(h_run("snigate", conv, NULL, 20000, &p), 0, "%s", h_read_file(p->err));
	h_path(native, sizeof(native), "native.yaml");
	h_write_file(native, h_read_file(p->out));
	const char *check[] = {bin(), "--check", "-c", native, NULL};
	cr_assert_eq(h_run("snigate", check, NULL, 20000, &p), 0, "%s\n%s", h_read_file(p->err),
		     h_read_file(native));

	/* The converted file relays and resets as the Envoy file does. */
	struct h_gw g = run_gw(port, "-c", native);
	int rc = curl(g.port, "allowed.test", &p);
	cr_assert_eq(rc, 0, "curl exited %d: %s", rc, h_read_file(p->err));
	cr_assert_eq(raw_hello(g.port, "denied.test"), H_RESET);
	cr_assert_eq(h_snigate_stop(&g), 0);
}
