/* SPDX-License-Identifier: MIT */
/*
 * conf: the shipped file, defaults, every field, and the errors an operator
 * sees. A bad file must be reported once, with the file, the exact line and
 * the field, so every bad case below pins all three.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf/conf.h"
#include "conf/dump.h"
#include "test/conf/reference.h"
#include "sni/rules.h"

static const char *data_path(const char *name)
{
	static char buf[1024];
	const char *dir = getenv("CONF_TEST_DATA");

	cr_assert(dir, "CONF_TEST_DATA is not set (run through meson test)");
	snprintf(buf, sizeof(buf), "%s/%s", dir, name);
	return buf;
}

static struct conf *load_data(const char *name)
{
	struct conf_error err = {0};
	struct conf *c = NULL;
	char msg[768];
	int rc = conf_load_file(data_path(name), &c, &err);

	cr_assert_eq(rc, 0, "%s: %s", name, conf_error_str(&err, msg, sizeof(msg)));
	cr_assert_not_null(c);
	return c;
}

static struct conf *load_str(const char *text, struct conf_error *err)
{
	struct conf *c = NULL;
	int rc = conf_load_buf(text, strlen(text), "test.yaml", &c, err);

	cr_assert_eq(rc == 0, c != NULL, "rc %d but conf %p", rc, (void *)c);
	return c;
}

static const char *err_str(const struct conf_error *err)
{
	static char buf[768];
	return conf_error_str(err, buf, sizeof(buf));
}

static bool ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);
	return a >= b && !strcmp(s + a - b, tail);
}

static uint16_t sa_port(const struct conf_listener *l)
{
	if (l->sa.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&l->sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&l->sa)->sin6_port);
}

/* ---- the shipped file ---- */

Test(shipped, loads_and_validates)
{
	const char *src = getenv("SNIGATE_SRCDIR");
	struct conf_error err = {0};
	struct conf *c = NULL;
	char path[1024];

	cr_assert(src, "SNIGATE_SRCDIR is not set (run through meson test)");
	snprintf(path, sizeof(path), "%s/conf/snigate.yaml", src);
	cr_assert_eq(conf_load_file(path, &c, &err), 0, "%s", err_str(&err));
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));

	cr_assert_str_eq(c->path, path);
	cr_assert_eq(c->threads, 0);
	cr_assert_eq(c->n_listeners, 1);
	cr_assert_str_eq(c->listeners[0].address, "127.0.0.1");
	cr_assert_eq(c->listeners[0].port, 8443);
	cr_assert_eq(c->listeners[0].upstream_port, 443);
	cr_assert_eq(c->listeners[0].sa.ss_family, AF_INET);
	cr_assert_eq(c->listeners[0].sa_len, sizeof(struct sockaddr_in));
	cr_assert_eq(sa_port(&c->listeners[0]), 8443);
	cr_assert_gt(c->listeners[0].line, 0);

	static const char *const envoy[] = {
		"api.anthropic.com",
		"api.github.com",
		"github.com",
		"codeload.github.com",
		"objects.githubusercontent.com",
		"raw.githubusercontent.com",
		"ghcr.io",
		"registry.npmjs.org",
	};
	cr_assert_eq(c->n_allow, 8);
	for (unsigned i = 0; i < 8; i++) {
		cr_assert_str_eq(c->allow[i], envoy[i]);
		cr_assert_gt(c->allow_lines[i], c->listeners[0].line);
		if (i)
			cr_assert_eq(c->allow_lines[i], c->allow_lines[i - 1] + 1);
	}
	cr_assert_eq(c->resolver.n_forwarders, 0);
	cr_assert_str_eq(c->resolver.resolv_conf, "/etc/resolv.conf");
	cr_assert_eq(c->resolver.family, CONF_V4_ONLY);
	cr_assert_eq(c->timeouts.connect_ms, 5000);
	cr_assert_str_eq(c->admin_address, "127.0.0.1:9901");
	conf_free(c);
}

/* The shipped file writes the defaults out: it must agree with the code. */
Test(shipped, spells_out_the_defaults)
{
	const char *src = getenv("SNIGATE_SRCDIR");
	struct conf_error err = {0};
	struct conf *c = NULL, *d = conf_new_default();
	char path[1024];

	snprintf(path, sizeof(path), "%s/conf/snigate.yaml", src ? src : ".");
	cr_assert_eq(conf_load_file(path, &c, &err), 0, "%s", err_str(&err));
	cr_assert_eq(c->threads, d->threads);
	cr_assert_str_eq(c->resolver.resolv_conf, d->resolver.resolv_conf);
	cr_assert_eq(c->resolver.family, d->resolver.family);
	cr_assert_eq(c->resolver.cache_size, d->resolver.cache_size);
	cr_assert_eq(c->resolver.max_ttl_s, d->resolver.max_ttl_s);
	cr_assert_eq(c->resolver.negative_ttl_s, d->resolver.negative_ttl_s);
	cr_assert_eq(c->resolver.min_ttl_s, d->resolver.min_ttl_s);
	cr_assert_eq(c->resolver.error_ttl_s, d->resolver.error_ttl_s);
	cr_assert_eq(c->resolver.stale_ttl_s, d->resolver.stale_ttl_s);
	cr_assert_eq(c->resolver.prefetch, d->resolver.prefetch);
	cr_assert_eq(c->resolver.tcp, d->resolver.tcp);
	cr_assert_eq(c->resolver.n_hosts, 0);
	cr_assert_eq(c->upstream.n_deny, 0);
	cr_assert_eq(c->upstream.n_allow, 0);
	cr_assert_eq(c->timeouts.client_hello_ms, d->timeouts.client_hello_ms);
	cr_assert_eq(c->timeouts.connect_ms, d->timeouts.connect_ms);
	cr_assert_eq(c->timeouts.dns_ms, d->timeouts.dns_ms);
	cr_assert_eq(c->timeouts.idle_ms, d->timeouts.idle_ms);
	cr_assert_eq(c->limits.max_client_hello, d->limits.max_client_hello);
	cr_assert_eq(c->limits.max_connections, d->limits.max_connections);
	cr_assert_eq(c->relay.pipe_size, d->relay.pipe_size);
	cr_assert_eq(c->relay.pipe_max_size, d->relay.pipe_max_size);
	cr_assert_eq(c->relay.pipe_memory_max, d->relay.pipe_memory_max);
	cr_assert_eq(c->log_level, d->log_level);
	cr_assert_eq(c->access_log, d->access_log);
	conf_free(c);
	conf_free(d);
}

/* ---- defaults and empty files ---- */

static void assert_defaults(const struct conf *c)
{
	cr_assert_eq(c->threads, 0);
	cr_assert_eq(c->n_listeners, 0);
	cr_assert_null(c->listeners);
	cr_assert_eq(c->n_allow, 0);
	cr_assert_eq(c->resolver.n_forwarders, 0);
	cr_assert_str_eq(c->resolver.resolv_conf, "/etc/resolv.conf");
	cr_assert_eq(c->resolver.family, CONF_V4_ONLY);
	cr_assert_eq(c->resolver.cache_size, 4096);
	cr_assert_eq(c->resolver.min_ttl_s, 5);
	cr_assert_eq(c->resolver.max_ttl_s, 300);
	cr_assert_eq(c->resolver.negative_ttl_s, 5);
	cr_assert_eq(c->resolver.error_ttl_s, 2);
	cr_assert_eq(c->resolver.stale_ttl_s, 300);
	cr_assert(c->resolver.prefetch);
	cr_assert_not(c->resolver.tcp);
	cr_assert_eq(c->resolver.n_hosts, 0);
	cr_assert_eq(c->upstream.n_deny, 0);
	cr_assert_eq(c->upstream.n_allow, 0);
	cr_assert_eq(c->timeouts.client_hello_ms, 10000);
	cr_assert_eq(c->timeouts.connect_ms, 5000);
	cr_assert_eq(c->timeouts.dns_ms, 5000);
	cr_assert_eq(c->timeouts.idle_ms, 3600000);
	cr_assert_eq(c->limits.max_client_hello, 16384);
	cr_assert_eq(c->limits.max_connections, 0);
	cr_assert_eq(c->relay.pipe_size, 65536);
	cr_assert_eq(c->relay.pipe_max_size, 1048576);
	cr_assert_eq(c->relay.pipe_memory_max, 256ULL << 20);
	cr_assert_str_eq(c->admin_address, "127.0.0.1:9901");
	cr_assert_eq(c->log_level, CONF_LOG_INFO);
	cr_assert(c->access_log);
	cr_assert_eq(c->mode, CONF_ENFORCE);
	cr_assert_eq(c->drain.delay_ms, 0);
	cr_assert_eq(c->drain.timeout_ms, 30000);
	cr_assert_eq(c->access_log_sample, 1.0);
	cr_assert_eq(c->access_log_deny_rate, 1000);
	cr_assert_null(c->access_log_file);
	cr_assert_eq(c->limits.max_connections_per_thread, 0);
	cr_assert_eq(c->limits.max_pending_hellos, 0);
	cr_assert_eq(c->limits.max_per_source_ip, 0);
}

Test(defaults, new_default)
{
	struct conf *c = conf_new_default();

	cr_assert_not_null(c);
	assert_defaults(c);
	cr_assert_null(c->path);
	conf_free(c);
	conf_free(NULL);
}

/* An empty file loads (the command line may add everything); validate then asks. */
Test(defaults, empty_files_load_and_fail_validation_on_listeners)
{
	static const char *const files[] = {"empty.yaml", "comments_only.yaml"};

	for (size_t i = 0; i < 2; i++) {
		struct conf_error err = {0};
		struct conf *c = load_data(files[i]);

		assert_defaults(c);
		cr_assert_eq(conf_validate(c, &err), -EINVAL, "%s validated", files[i]);
		cr_assert(ends_with(err.file, files[i]), "%s: file '%s'", files[i], err.file);
		cr_assert_eq(err.line, 0);
		cr_assert_str_eq(err.field, "listeners");
		cr_assert(strstr(err.msg, "no listener"), "%s", err.msg);
		conf_free(c);
	}
}

Test(defaults, null_documents_are_empty)
{
	static const char *const texts[] = {"", "---\n", "~\n", "--- null\n...\n", "\n\n  \n"};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct conf_error err = {0};
		struct conf *c = load_str(texts[i], &err);
		cr_assert_not_null(c, "'%s': %s", texts[i], err_str(&err));
		assert_defaults(c);
		conf_free(c);
	}
}

Test(defaults, no_allow_fails_validation_on_allow)
{
	struct conf_error err = {0};
	struct conf *c = load_str("listeners: [{address: 127.0.0.1:1}]\nallow: []\n", &err);

	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err.field, "allow");
	cr_assert_str_eq(err.file, "test.yaml");
	conf_free(c);
}

Test(defaults, null_sections_keep_defaults)
{
	struct conf_error err = {0};
	struct conf *c = load_data("null_sections.yaml");

	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	cr_assert_eq(c->threads, 0);
	cr_assert_eq(c->n_listeners, 1);
	cr_assert_eq(c->listeners[0].upstream_port, 443);
	cr_assert_eq(c->resolver.n_forwarders, 0);
	cr_assert_eq(c->timeouts.connect_ms, 5000);
	cr_assert_eq(c->relay.pipe_size, 65536);
	conf_free(c);
}

/* ---- every field ---- */

Test(fields, every_field_is_parsed)
{
	struct conf_error err = {0};
	struct conf *c = load_data("full.yaml");

	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	cr_assert_eq(c->threads, 4);

	cr_assert_eq(c->n_listeners, 3);
	cr_assert_str_eq(c->listeners[0].address, "127.0.0.1");
	cr_assert_eq(c->listeners[0].port, 8443);
	cr_assert_eq(c->listeners[0].upstream_port, 443);
	cr_assert_eq(c->listeners[0].line, 4);
	cr_assert_str_eq(c->listeners[1].address, "::1");
	cr_assert_eq(c->listeners[1].port, 9443);
	cr_assert_eq(c->listeners[1].upstream_port, 8443);
	cr_assert_eq(c->listeners[1].line, 6);
	cr_assert_eq(c->listeners[1].sa.ss_family, AF_INET6);
	cr_assert_eq(c->listeners[1].sa_len, sizeof(struct sockaddr_in6));
	cr_assert_eq(sa_port(&c->listeners[1]), 9443);
	struct in6_addr lo6 = IN6ADDR_LOOPBACK_INIT;
	cr_assert(!memcmp(&((struct sockaddr_in6 *)&c->listeners[1].sa)->sin6_addr, &lo6,
			  sizeof(lo6)));
	cr_assert_str_eq(c->listeners[2].address, "0.0.0.0");
	cr_assert_eq(c->listeners[2].port, 443);
	cr_assert_eq(c->listeners[2].line, 9);

	cr_assert_eq(c->n_allow, 4);
	cr_assert_str_eq(c->allow[0], "api.github.com");
	cr_assert_str_eq(c->allow[1], "*.githubusercontent.com");
	cr_assert_str_eq(c->allow[2], "Example.COM.");
	cr_assert_str_eq(c->allow[3], "api.github.com"); /* duplicates are fine */
	for (unsigned i = 0; i < 4; i++)
		cr_assert_eq(c->allow_lines[i], 12 + i);

	cr_assert_eq(c->resolver.n_forwarders, 3);
	cr_assert_str_eq(c->resolver.forwarders[0], "127.0.0.1@5353");
	cr_assert_str_eq(c->resolver.forwarders[1], "::1");
	cr_assert_str_eq(c->resolver.forwarders[2], "2001:db8::53@53");
	cr_assert_str_eq(c->resolver.resolv_conf, "/run/snigate/resolv.conf");
	cr_assert_eq(c->resolver.family, CONF_ALL);
	cr_assert_eq(c->resolver.cache_size, 100);
	cr_assert_eq(c->resolver.max_ttl_s, 300);
	cr_assert_eq(c->resolver.negative_ttl_s, 0);

	cr_assert_eq(c->timeouts.client_hello_ms, 250);
	cr_assert_eq(c->timeouts.connect_ms, 1500);
	cr_assert_eq(c->timeouts.dns_ms, 2000);
	cr_assert_eq(c->timeouts.idle_ms, 168u * 3600 * 1000);

	cr_assert_eq(c->limits.max_client_hello, 512);
	cr_assert_eq(c->limits.max_connections, 20000);

	cr_assert_eq(c->relay.pipe_size, 4096);
	cr_assert_eq(c->relay.pipe_max_size, 64u << 20);
	cr_assert_eq(c->relay.pipe_memory_max, 2ULL << 30);

	cr_assert_str_eq(c->admin_address, "[::1]:9901");
	cr_assert_eq(c->log_level, CONF_LOG_DEBUG);
	cr_assert_not(c->access_log);
	conf_free(c);
}

Test(fields, flow_style_and_aliases)
{
	struct conf_error err = {0};
	struct conf *c = load_data("flow.yaml");

	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	cr_assert_eq(c->n_listeners, 2);
	cr_assert_eq(c->listeners[1].upstream_port, 8443);
	cr_assert_eq(c->listeners[1].line, 2);
	cr_assert_eq(c->n_allow, 2);
	cr_assert_eq(c->allow_lines[1], 3);
	cr_assert_eq(c->timeouts.connect_ms, 60000);
	conf_free(c);
}

/*
 * libyaml's document keeps no mark for an alias, only the anchored node's:
 * an error about a value written as *alias still names the alias's line,
 * and so does a key written as one.
 */
Test(fields, an_alias_is_reported_where_it_stands)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *field, *msg;
	} t[] = {
		{"threads: &t 2\n# *t in a comment\ndrain:\n  timeout: *t\n", 4, "drain.timeout",
		 "has no unit"},
		{"upstream:\n  deny: [&d \"10.0.0.0/8\"]\n  allow: [\"127.0.0.1\", *d, *d]\n"
		 "allow: [*d]\n",
		 4, "allow[0]", ""},
		{"log:\n  level: &l info\n*l : 1\n", 3, "",
		 "keys must be plain names, not aliases"},
		{"log: {level: &l info}\ntimeouts: {*l : 1}\n", 2, "timeouts",
		 "keys must be plain names, not aliases"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct conf_error err = {0};
		struct conf *c = load_str(t[i].text, &err);
		if (c && !conf_validate(c, &err))
			cr_assert_fail("case %zu loaded", i);
		cr_assert_eq(err.line, t[i].line, "case %zu: %s", i, err_str(&err));
		cr_assert_str_eq(err.field, t[i].field, "case %zu: %s", i, err_str(&err));
		cr_assert(strstr(err.msg, t[i].msg), "case %zu: %s", i, err_str(&err));
		conf_free(c);
	}
}

Test(fields, durations_and_sizes)
{
	static const struct {
		const char *text;
		unsigned ms;
	} d[] = {
		{"1ms", 1},	 {"250ms", 250},    {"10s", 10000},   {"5m", 300000},
		{"1h", 3600000}, {"24h", 86400000}, {"\"7s\"", 7000}, {"86400000ms", 86400000},
	};
	static const struct {
		const char *text;
		unsigned long long bytes;
	} z[] = {
		{"131072", 131072},   {"128KiB", 131072},      {"1MiB", 1 << 20},
		{"3GiB", 3ULL << 30}, {"1024GiB", 1ULL << 40},
	};
	char buf[128];

	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		struct conf_error err = {0};
		snprintf(buf, sizeof(buf), "timeouts:\n  dns: %s\n", d[i].text);
		struct conf *c = load_str(buf, &err);
		cr_assert_not_null(c, "%s: %s", d[i].text, err_str(&err));
		cr_assert_eq(c->timeouts.dns_ms, d[i].ms, "%s: %u", d[i].text, c->timeouts.dns_ms);
		conf_free(c);
	}
	for (size_t i = 0; i < sizeof(z) / sizeof(z[0]); i++) {
		struct conf_error err = {0};
		snprintf(buf, sizeof(buf), "relay:\n  pipe_memory_max: %s\n", z[i].text);
		struct conf *c = load_str(buf, &err);
		cr_assert_not_null(c, "%s: %s", z[i].text, err_str(&err));
		cr_assert_eq(c->relay.pipe_memory_max, z[i].bytes, "%s", z[i].text);
		conf_free(c);
	}
}

Test(fields, booleans_families_levels)
{
	static const char *const yes[] = {"true", "True", "yes", "on"}, *const no[] = {"false",
										       "no", "OFF"};
	static const char *const fam[] = {"v4_only", "v6_only", "v4_preferred", "auto", "all"};
	static const char *const lvl[] = {"error", "warn", "info", "debug"};
	char buf[128];

	for (size_t i = 0; i < 4 + 3; i++) {
		struct conf_error err = {0};
		const char *v = i < 4 ? yes[i] : no[i - 4];
		snprintf(buf, sizeof(buf), "log: {access: %s}\n", v);
		struct conf *c = load_str(buf, &err);
		cr_assert_not_null(c, "%s: %s", v, err_str(&err));
		cr_assert_eq(c->access_log, i < 4, "%s", v);
		conf_free(c);
	}
	for (int i = 0; i < 5; i++) {
		struct conf_error err = {0};
		enum conf_family f;
		snprintf(buf, sizeof(buf), "resolver: {lookup_family: %s}\n", fam[i]);
		struct conf *c = load_str(buf, &err);
		cr_assert_not_null(c, "%s: %s", fam[i], err_str(&err));
		cr_assert_eq(c->resolver.family, (enum conf_family)i);
		cr_assert_str_eq(conf_family_str((enum conf_family)i), fam[i]);
		cr_assert_eq(conf_family_parse(fam[i], &f), 0);
		cr_assert_eq(f, (enum conf_family)i);
		conf_free(c);
	}
	for (int i = 0; i < 4; i++) {
		struct conf_error err = {0};
		enum conf_log_level l;
		snprintf(buf, sizeof(buf), "log: {level: %s}\n", lvl[i]);
		struct conf *c = load_str(buf, &err);
		cr_assert_not_null(c, "%s: %s", lvl[i], err_str(&err));
		cr_assert_eq(c->log_level, (enum conf_log_level)i);
		cr_assert_str_eq(conf_log_level_str((enum conf_log_level)i), lvl[i]);
		cr_assert_eq(conf_log_level_parse(lvl[i], &l), 0);
		cr_assert_eq(l, (enum conf_log_level)i);
		conf_free(c);
	}
	enum conf_family f = CONF_AUTO;
	/* The command line still takes Envoy's spelling. */
	cr_assert_eq(conf_family_parse("V6_ONLY", &f), 0);
	cr_assert_eq(f, CONF_V6_ONLY);
	f = CONF_AUTO;
	cr_assert_eq(conf_family_parse("v4", &f), -EINVAL);
	cr_assert_eq(conf_family_parse(NULL, &f), -EINVAL);
	cr_assert_eq(f, CONF_AUTO);
	cr_assert_str_eq(conf_family_str((enum conf_family)99), "?");
}

/* A long allowlist keeps one line per entry and loads quickly. */
Test(fields, large_allowlist, .timeout = 20)
{
	enum { N = 20000 };
	size_t cap = N * 32 + 64, o = 0;
	char *buf = malloc(cap);
	struct conf_error err = {0};

	o += (size_t)snprintf(buf + o, cap - o, "allow:\n");
	for (int i = 0; i < N; i++)
		o += (size_t)snprintf(buf + o, cap - o, "  - host%d.example.com\n", i);
	struct conf *c = load_str(buf, &err);
	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->n_allow, N);
	cr_assert_eq(c->allow_lines[0], 2);
	cr_assert_eq(c->allow_lines[N - 1], N + 1);
	conf_free(c);
	free(buf);
}

Test(fields, resolver_and_upstream)
{
	struct conf_error err = {0};
	struct conf *c = load_data("resolver_full.yaml");

	(void)err;
	cr_assert_eq(c->resolver.min_ttl_s, 1);
	cr_assert_eq(c->resolver.max_ttl_s, 600);
	cr_assert_eq(c->resolver.negative_ttl_s, 3);
	cr_assert_eq(c->resolver.error_ttl_s, 10);
	cr_assert_eq(c->resolver.stale_ttl_s, 3600);
	cr_assert_not(c->resolver.prefetch);
	cr_assert(c->resolver.tcp);
	cr_assert_eq(c->resolver.n_hosts, 3);
	cr_assert_str_eq(c->resolver.hosts[0].name, "pinned.test");
	cr_assert_eq(c->resolver.hosts[0].line, 11);
	cr_assert_eq(c->resolver.hosts[0].n, 2);
	cr_assert_eq(c->resolver.hosts[0].a[0].family, AF_INET);
	cr_assert_eq(c->resolver.hosts[0].a[0].addr[0], 192);
	cr_assert_eq(c->resolver.hosts[0].a[0].addr[3], 7);
	cr_assert_eq(c->resolver.hosts[0].a[1].family, AF_INET6);
	cr_assert_eq(c->resolver.hosts[0].a[1].addr[15], 1);
	cr_assert_str_eq(c->resolver.hosts[1].name, "upper.test", "lower-cased, dot removed");
	cr_assert_eq(c->resolver.hosts[1].n, 1);
	cr_assert_str_eq(c->resolver.hosts[2].name, "flow.test");
	cr_assert_eq(c->resolver.hosts[2].n, 2);
	cr_assert_eq(c->upstream.n_deny, 2);
	cr_assert_str_eq(c->upstream.deny[0], "203.0.113.0/24");
	cr_assert_str_eq(c->upstream.deny[1], "2001:db8::/32");
	cr_assert_eq(c->upstream.deny_lines[1], 18);
	cr_assert_eq(c->upstream.n_allow, 2);
	cr_assert_str_eq(c->upstream.allow[0], "10.20.0.0/16");
	cr_assert_str_eq(c->upstream.allow[1], "::1");
	cr_assert_eq(c->upstream.allow_lines[0], 20);
	conf_free(c);
}

Test(fields, max_ttl_zero_ignores_the_floor)
{
	struct conf_error err = {0};
	struct conf *c = load_str("resolver:\n  max_ttl: 0s\n", &err);
	cr_assert_not_null(c, "%s", err_str(&err));
	conf_free(c);
}

Test(cli, add_upstream_allow)
{
	struct conf_error err = {0};
	struct conf *c = load_str("upstream:\n  allow: [10.0.0.0/8]\n", &err);

	cr_assert_not_null(c, "%s", err_str(&err));
	conf_clear_upstream_allow(c);
	cr_assert_eq(c->upstream.n_allow, 0);
	cr_assert_eq(conf_add_upstream_allow(c, "127.0.0.0/8", &err), 0, "%s", err.msg);
	cr_assert_eq(conf_add_upstream_allow(c, "::1", &err), 0, "%s", err.msg);
	cr_assert_eq(c->upstream.n_allow, 2);
	cr_assert_str_eq(c->upstream.allow[1], "::1");
	cr_assert_eq(c->upstream.allow_lines[1], 0);
	cr_assert_eq(conf_add_upstream_allow(c, "127.0.0.1/8", &err), -EINVAL);
	cr_assert_str_eq(err.msg, "has bits set past the prefix length");
	cr_assert_eq(conf_add_upstream_allow(c, "x", &err), -EINVAL);
	cr_assert_str_eq(err.msg, "not an address or CIDR (e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)");
	cr_assert_eq(c->upstream.n_allow, 2);
	/* validate re-checks what the command line changed, with no line. */
	c->resolver.min_ttl_s = 400;
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err.field, "resolver.min_ttl");
	cr_assert_eq(err.line, 0);
	conf_free(c);
}

/* ---- bad files: one error, with the line and the field ---- */

struct bad {
	const char *file;
	unsigned line;
	const char *field;
	const char *msg; /* a substring of err.msg */
};

static const struct bad bad_files[] = {
	{"bad_duration.yaml", 9, "timeouts.connect",
	 "invalid duration \"5x\" (use 250ms, 10s, 5m, 1h)"},
	{"bad_duration_fraction.yaml", 2, "timeouts.dns", "invalid duration \"1.5s\""},
	{"bad_duration_zero.yaml", 2, "timeouts.client_hello", "0ms is out of range (1ms..24h)"},
	{"bad_duration_long.yaml", 2, "timeouts.connect", "25h is out of range (1ms..24h)"},
	{"bad_idle_long.yaml", 2, "timeouts.idle", "169h is out of range (1ms..168h)"},
	{"bad_ttl_ms.yaml", 4, "resolver.max_ttl", "\"3600\" has no unit: write 3600s or 1h"},
	{"bad_size.yaml", 2, "relay.pipe_size",
	 "invalid size \"64KB\" (use bytes, or a KiB, MiB or GiB suffix"},
	{"bad_pipe_order.yaml", 2, "relay.pipe_size",
	 "2MiB is larger than relay.pipe_max_size (1MiB)"},
	{"bad_pipe_max.yaml", 2, "relay.pipe_max_size", "128MiB is out of range (4KiB..64MiB)"},
	{"bad_pipe_memory.yaml", 3, "relay.pipe_memory_max",
	 "64KiB is out of range (128KiB..1024GiB)"},
	{"bad_unknown_key.yaml", 6, "timeouts.conect",
	 "unknown key (known here: client_hello, connect, dns, idle"},
	{"bad_unknown_top.yaml", 2, "listener",
	 "unknown key (known here: threads, cpu_affinity, mode, ech, listeners, allow, policies, resolver, "
	 "upstream, timeouts, limits, relay, admin, drain, log)"},
	{"bad_unknown_listener_key.yaml", 6, "listeners[1].upstream",
	 "unknown key (known here: name, address, upstream_port, protocol"},
	{"bad_port_zero.yaml", 2, "listeners[0].address",
	 "\"127.0.0.1:0\" has no valid port (1..65535) after the ':'"},
	{"bad_port_high.yaml", 4, "listeners[1].address",
	 "\"127.0.0.1:70000\" has no valid port (1..65535) after the ':'"},
	{"bad_upstream_port.yaml", 4, "listeners[0].upstream_port",
	 "\"https\" is not a whole number"},
	{"bad_port_missing.yaml", 2, "listeners[0].address",
	 "\"127.0.0.1\" has no port (write 127.0.0.1:8443)"},
	{"bad_ip.yaml", 4, "listeners[1].address",
	 "\"localhost:8444\" is not an IPv4 or IPv6 address and port"},
	{"bad_ip_octet.yaml", 2, "listeners[0].address",
	 "\"256.1.1.1:8443\" is not an IPv4 or IPv6 address and port"},
	{"bad_duplicate_listener.yaml", 6, "listeners[2]",
	 "127.0.0.1 port 8443 is already a listener (listeners[0], line 2)"},
	{"bad_allow_wildcard.yaml", 7, "allow[2]",
	 "\"*.*.x\" is not a valid name: wildcard only as a leading \"*.\" label"},
	{"bad_allow_space.yaml", 3, "allow[1]",
	 "\"bad name.test\" is not a valid name: a space is not allowed in a host name"},
	{"bad_allow_label.yaml", 1, "allow[1]",
	 "\"b..example\" is not a valid name: empty name or empty label"},
	{"bad_allow_empty.yaml", 3, "allow[1]", "\"\" is not a valid name"},
	{"bad_family.yaml", 2, "resolver.lookup_family",
	 "\"V5_ONLY\" is not a lookup family (use v4_only, v6_only, v4_preferred, auto or all)"},
	{"bad_forwarder.yaml", 4, "resolver.forwarders[1]",
	 "\"dns.google\" is not IP or IP:port (e.g. 127.0.0.1:5353, [::1]:5353, 10.96.0.10)"},
	{"bad_forwarder_port.yaml", 2, "resolver.forwarders[0]",
	 "\"127.0.0.1:99999\" has no valid port (1..65535) after the ':'"},
	{"bad_syntax.yaml", 3, "",
	 "YAML syntax error while parsing a flow mapping: did not find expected ',' or '}' "
	 "(reached the end of the file)"},
	{"bad_syntax_indent.yaml", 3, "", "mapping values are not allowed in this context"},
	{"bad_syntax_tab.yaml", 3, "", "(indent with spaces: YAML does not allow tabs)"},
	{"bad_type_listeners.yaml", 2, "listeners", "expected a list, found a mapping"},
	{"bad_type_allow_entry.yaml", 3, "allow[1]", "expected a single value, found a list"},
	{"bad_type_section.yaml", 2, "timeouts", "expected a mapping, found a single value"},
	{"bad_type_scalar.yaml", 1, "threads", "expected a single value, found a list"},
	{"bad_duplicate_key.yaml", 4, "timeouts.connect", "duplicate key (first set on line 2)"},
	{"bad_threads.yaml", 1, "threads", "2000 is out of range (0..1024)"},
	{"bad_threads_text.yaml", 1, "threads", "\"many\" is not a whole number"},
	{"bad_hello.yaml", 2, "limits.max_client_hello", "100 is out of range (512..65536)"},
	{"bad_cache.yaml", 2, "resolver.cache_size", "0 is out of range (1..10000000)"},
	{"bad_level.yaml", 2, "log.level",
	 "\"loud\" is not a log level (use error, warn, info or debug)"},
	{"bad_access.yaml", 3, "log.access", "\"maybe\" is not true or false"},
	{"bad_admin.yaml", 2, "admin.address", "\"127.0.0.1\" is not address:port"},
	{"bad_two_docs.yaml", 2, "", "a second YAML document starts here"},
	{"bad_top_list.yaml", 1, "", "found a list"},
	{"bad_alias.yaml", 4, "", "alias *nowhere has no anchor &nowhere"},
	{"bad_key_mapping.yaml", 2, "timeouts", "keys must be plain names"},
	{"bad_ttl_order.yaml", 3, "resolver.min_ttl", "10m is larger than resolver.max_ttl (5m)"},
	{"bad_ttl_order_default.yaml", 2, "resolver.max_ttl",
	 "3s is below resolver.min_ttl (5s, its default)"},
	{"bad_upstream_cidr.yaml", 5, "upstream.deny[2]",
	 "\"10.0.0.0/33\" has a prefix length outside 0..32"},
	{"bad_upstream_allow.yaml", 3, "upstream.allow[0]",
	 "\"localhost\" is not an address or CIDR (e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)"},
	{"bad_upstream_bits.yaml", 4, "upstream.allow[1]",
	 "\"10.1.2.3/8\" has bits set past the prefix length"},
	{"bad_hosts_addr.yaml", 6, "resolver.hosts.pinned.test[1]",
	 "\"10.0.0.x\" is not an IPv4 or IPv6 address"},
	{"bad_hosts_name.yaml", 3, "resolver.hosts.*.wild.test",
	 "is not a host name (no wildcards here)"},
	{"bad_hosts_type.yaml", 3, "resolver.hosts",
	 "expected a mapping of name: [addresses], found a list"},
	{"bad_hosts_empty.yaml", 3, "resolver.hosts.pinned.test", "no address"},
	{"bad_hosts_dup.yaml", 4, "resolver.hosts.Pinned.test",
	 "\"Pinned.test\" is already listed (line 3)"},
	{"bad_error_ttl.yaml", 2, "resolver.error_ttl", "0s is out of range (1s..1h)"},
	{"bad_tcp.yaml", 2, "resolver.tcp", "\"sometimes\" is not true or false"},
	{"bad_resolver_key.yaml", 2, "resolver.min_tll",
	 "unknown key (known here: forwarders, resolv_conf, lookup_family, cache_size, min_ttl, "
	 "max_ttl, negative_ttl, error_ttl, stale_ttl, prefetch, tcp, hosts)"},
};

Test(bad, every_bad_file_names_line_and_field)
{
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		const struct bad *b = &bad_files[i];
		struct conf_error err;
		struct conf *c = (struct conf *)1;

		memset(&err, 0x55, sizeof(err)); /* must be fully overwritten */
		int rc = conf_load_file(data_path(b->file), &c, &err);
		cr_expect_eq(rc, -EINVAL, "%s: rc %d", b->file, rc);
		cr_expect_null(c, "%s: conf returned on error", b->file);
		if (rc != -EINVAL)
			continue;
		cr_expect(ends_with(err.file, b->file), "%s: file '%s'", b->file, err.file);
		cr_expect_eq(err.line, b->line, "%s: line %u, want %u: %s", b->file, err.line,
			     b->line, err_str(&err));
		cr_expect_str_eq(err.field, b->field, "%s: field '%s', want '%s': %s", b->file,
				 err.field, b->field, err_str(&err));
		cr_expect(strstr(err.msg, b->msg), "%s: message\n  %s\nlacks\n  %s", b->file,
			  err.msg, b->msg);
	}
}

/* The two examples of the design, to the byte. */
Test(bad, exact_messages)
{
	struct conf_error err = {0};
	struct conf *c = NULL;
	const char *text = "# 1\n# 2\n# 3\n# 4\n# 5\n# 6\n# 7\n# 8\n# 9\n# 10\n# 11\n# 12\n"
			   "timeouts:\n  connect: 5x\n";

	cr_assert_eq(conf_load_buf(text, strlen(text), "snigate.yaml", &c, &err), -EINVAL);
	cr_assert_str_eq(
		err_str(&err),
		"snigate.yaml:14: timeouts.connect: invalid duration \"5x\" (use 250ms, 10s, 5m, 1h)");

	text = "listeners:\n  - address: 127.0.0.1:8443\n    protocol: auto\nallow:\n  - a.example\n"
	       "  - b.example\n  - \"*.*.x\"\n";
	cr_assert_eq(conf_load_buf(text, strlen(text), "bad.yaml", &c, &err), -EINVAL);
	cr_assert_str_eq(
		err_str(&err),
		"bad.yaml:7: allow[2]: \"*.*.x\" is not a valid name: wildcard only as a leading \"*.\" label");
	cr_assert_null(c);
}

Test(bad, too_many_listeners_and_forwarders)
{
	struct conf_error err = {0};
	size_t cap = 8192, o = 0;
	char *buf = malloc(cap);

	o += (size_t)snprintf(buf + o, cap - o, "listeners:\n");
	for (int i = 0; i <= CONF_MAX_LISTENERS; i++)
		o += (size_t)snprintf(buf + o, cap - o, "  - {address: 127.0.0.1:%d}\n", 1000 + i);
	cr_assert_null(load_str(buf, &err));
	cr_assert_eq(err.line, 1);
	cr_assert_str_eq(err.field, "listeners");
	cr_assert(strstr(err.msg, "at most 64"), "%s", err.msg);

	o = (size_t)snprintf(buf, cap, "resolver:\n  forwarders:\n");
	for (int i = 0; i <= CONF_MAX_FORWARDERS; i++)
		o += (size_t)snprintf(buf + o, cap - o, "    - 10.0.0.%d\n", i + 1);
	cr_assert_null(load_str(buf, &err));
	cr_assert_eq(err.line, 2);
	cr_assert_str_eq(err.field, "resolver.forwarders");
	cr_assert(strstr(err.msg, "at most 16"), "%s", err.msg);
	free(buf);
}

Test(bad, values_that_do_not_fit)
{
	static const struct bad cases[] = {
		{"threads: 99999999999999999999999\n", 1, "threads", "out of range (0..1024)"},
		{"threads: -1\n", 1, "threads", "\"-1\" is not a whole number"},
		{"threads: 0x10\n", 1, "threads", "\"0x10\" is not a whole number"},
		{"threads: \" 4\"\n", 1, "threads", "is not a whole number"},
		{"timeouts:\n  dns: 5 s\n", 2, "timeouts.dns", "invalid duration \"5 s\""},
		{"timeouts:\n  dns: -5s\n", 2, "timeouts.dns", "invalid duration"},
		{"timeouts:\n  dns: 99999999999999h\n", 2, "timeouts.dns", "is out of range"},
		{"timeouts:\n  dns: 5d\n", 2, "timeouts.dns", "invalid duration \"5d\""},
		{"relay:\n  pipe_memory_max: 99999999999GiB\n", 2, "relay.pipe_memory_max",
		 "out of range"},
		{"resolver:\n  negative_ttl: 1500ms\n", 2, "resolver.negative_ttl",
		 "not a whole number of seconds"},
		{"resolver:\n  max_ttl: 8d\n", 2, "resolver.max_ttl", "invalid duration"},
		{"resolver:\n  max_ttl: 169h\n", 2, "resolver.max_ttl", "out of range (0s..168h)"},
		{"limits:\n  max_connections: 100000001\n", 2, "limits.max_connections",
		 "out of range"},
		{"listeners:\n  - {address: \"[::1]\", port: 1}\n", 2, "listeners[0].address",
		 "\"[::1]\" is not an IPv4 or IPv6 address"},
		{"listeners:\n  - {port: 1}\n", 2, "listeners[0].address", "missing"},
		/* An empty value, quoted or not, is the same as none. */
		{"listeners:\n  - {address: 127.0.0.1, port: \"\"}\n", 2, "listeners[0].address",
		 "\"127.0.0.1\" has no port (write 127.0.0.1:8443)"},
		{"listeners:\n  - {address: \"::\"}\n", 2, "listeners[0].address",
		 "\"::\" has no port (write \"[::]:8443\")"},
		{"listeners:\n  - {address: \"[127.0.0.1]:8443\"}\n", 2, "listeners[0].address",
		 "has an IPv4 address in brackets"},
		{"listeners:\n  - address: [::1]:8443\n", 2, "",
		 "(quote an IPv6 address with its port: \"[::1]:8443\")"},
		{"resolver:\n  forwarders:\n    - [fd00::53]:53\n", 3, "",
		 "(quote an IPv6 address with its port: \"[::1]:8443\")"},
		{"listeners:\n  - {address: \"127.0.0.1:8443\", port: 8443}\n", 2,
		 "listeners[0].port", "address \"127.0.0.1:8443\" has a port already"},
		/* The old spelling is checked as before. */
		{"listeners:\n  - {address: 127.0.0.1, port: 0}\n", 2, "listeners[0].port",
		 "0 is out of range (1..65535)"},
		{"resolver:\n  forwarders: [\"[10.0.0.1]:53\"]\n", 2, "resolver.forwarders[0]",
		 "has an IPv4 address in brackets"},
		{"resolver:\n  forwarders: [\"10.0.0.1:\"]\n", 2, "resolver.forwarders[0]",
		 "has no valid port"},
		{"resolver:\n  forwarders: [\"[::1]\"]\n", 2, "resolver.forwarders[0]",
		 "is not IP or IP:port"},
		{"admin:\n  address: \"::1:9901\"\n", 2, "admin.address", "without brackets"},
		{"allow:\n  - \"a\\u0001b\"\n", 2, "allow[0]", "byte 0x01 is not allowed"},
		{"allow:\n  - \"*\"\n", 2, "allow[0]", "wildcard only"},
		{"allow:\n  - \"x.*.example\"\n", 2, "allow[0]", "wildcard only"},
		{"allow:\n  - \"a/b\"\n", 2, "allow[0]", "'/' is not allowed in a host name"},
		{"listeners: 5\n", 1, "listeners", "expected a list, found a single value"},
		{"timeouts: [5s]\n", 1, "timeouts", "expected a mapping, found a list"},
		{"log:\n  Level: info\n", 2, "log.Level",
		 "unknown key (known here: level, access, access_file, access_sample, "
		 "access_deny_rate)"},
		{"resolver:\n  forwarders: 127.0.0.1\n", 2, "resolver.forwarders",
		 "expected a list, found a single value"},
		{"hello\n", 1, "", "found a single value"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad *b = &cases[i];
		struct conf_error err = {0};
		struct conf *c = load_str(b->file, &err);

		cr_expect_null(c, "'%s' loaded", b->file);
		conf_free(c);
		cr_expect_str_eq(err.file, "test.yaml");
		cr_expect_eq(err.line, b->line, "'%s': line %u: %s", b->file, err.line,
			     err_str(&err));
		cr_expect_str_eq(err.field, b->field, "'%s': %s", b->file, err_str(&err));
		cr_expect(strstr(err.msg, b->msg), "'%s': message\n  %s\nlacks\n  %s", b->file,
			  err.msg, b->msg);
	}
}

/* Long user text is cut and control bytes never reach the message. */
Test(bad, quoted_values_are_bounded)
{
	struct conf_error err = {0};
	char buf[512];

	snprintf(buf, sizeof(buf), "timeouts:\n  dns: \"%0200d\\u0007x\"\n", 7);
	cr_assert_null(load_str(buf, &err));
	cr_assert(strstr(err.msg, "...\""), "%s", err.msg);
	snprintf(buf, sizeof(buf), "timeouts:\n  dns: \"1\\u001b[2Jx\"\n");
	cr_assert_null(load_str(buf, &err));
	cr_assert_null(strchr(err.msg, 0x1b), "%s", err.msg);
	cr_assert(strstr(err.msg, "\"1?[2Jx\""), "%s", err.msg);
}

Test(bad, io_errors_name_the_file)
{
	struct conf_error err = {0};
	struct conf *c = (struct conf *)1;

	cr_assert_eq(conf_load_file("/nonexistent/snigate.yaml", &c, &err), -ENOENT);
	cr_assert_null(c);
	cr_assert_str_eq(err.file, "/nonexistent/snigate.yaml");
	cr_assert_eq(err.line, 0);
	cr_assert_str_eq(err_str(&err),
			 "/nonexistent/snigate.yaml: cannot open: No such file or directory");

	cr_assert_eq(conf_load_file(getenv("CONF_TEST_DATA"), &c, &err), -EISDIR);
	cr_assert(strstr(err.msg, "directory"), "%s", err.msg);
}

Test(bad, null_err_is_allowed)
{
	struct conf *c = NULL;

	cr_assert_eq(conf_load_buf("threads: x\n", 11, NULL, &c, NULL), -EINVAL);
	cr_assert_eq(conf_load_buf(NULL, 0, NULL, &c, NULL), 0);
	cr_assert_eq(conf_validate(c, NULL), -EINVAL);
	cr_assert_eq(conf_add_listener(c, "x", NULL), -EINVAL);
	conf_free(c);
}

/* Without a name the errors still carry the line. */
Test(bad, unnamed_buffer)
{
	struct conf_error err = {0};
	struct conf *c = NULL;

	cr_assert_eq(conf_load_buf("\nthreads: x\n", 12, NULL, &c, &err), -EINVAL);
	cr_assert_str_eq(err_str(&err), "line 2: threads: \"x\" is not a whole number");
}

/* ---- the command line helpers ---- */

Test(cli, add_listener)
{
	struct conf_error err = {0};
	struct conf *c = conf_new_default();

	cr_assert_eq(conf_add_listener(c, "127.0.0.1:8443", &err), 0, "%s", err.msg);
	cr_assert_eq(conf_add_listener(c, "[::1]:9443", &err), 0, "%s", err.msg);
	cr_assert_eq(conf_add_listener(c, "0.0.0.0:1", &err), 0, "%s", err.msg);
	cr_assert_eq(conf_add_listener(c, "[::]:65535", &err), 0, "%s", err.msg);
	cr_assert_eq(c->n_listeners, 4);
	cr_assert_str_eq(c->listeners[0].address, "127.0.0.1");
	cr_assert_eq(c->listeners[0].port, 8443);
	cr_assert_eq(c->listeners[0].upstream_port, 443);
	cr_assert_eq(c->listeners[0].line, 0);
	cr_assert_eq(c->listeners[0].sa.ss_family, AF_INET);
	cr_assert_eq(sa_port(&c->listeners[0]), 8443);
	cr_assert_str_eq(c->listeners[1].address, "::1");
	cr_assert_eq(c->listeners[1].sa.ss_family, AF_INET6);
	cr_assert_eq(c->listeners[1].sa_len, sizeof(struct sockaddr_in6));
	cr_assert_eq(sa_port(&c->listeners[1]), 9443);
	cr_assert_str_eq(c->listeners[3].address, "::");
	cr_assert_eq(c->listeners[3].port, 65535);

	static const struct {
		const char *in, *msg;
	} bad[] = {
		{"nonsense", "not address:port"},
		{"127.0.0.1", "not address:port"},
		{"127.0.0.1:", "no valid port"},
		{"127.0.0.1:0", "no valid port"},
		{"127.0.0.1:70000", "no valid port"},
		{"127.0.0.1:84x", "no valid port"},
		{"127.0.0.1:+80", "no valid port"},
		{"::1:8443", "without brackets"},
		{"[::1]8443", "not [IPv6]:port"},
		{"[::1:8443", "not [IPv6]:port"},
		{"localhost:8443", "not an IPv4 or IPv6 address"},
		{"[fe80::1%lo]:80", "not an IPv4 or IPv6 address"},
		{"", "not address:port"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(conf_add_listener(c, bad[i].in, &err), -EINVAL, "'%s' accepted",
			     bad[i].in);
		cr_expect(strstr(err.msg, bad[i].msg), "'%s': %s", bad[i].in, err.msg);
		cr_expect_str_eq(err.file, "");
		cr_expect_eq(err.line, 0);
		/* main prints "--listen VALUE: msg"; the message must not start with "is". */
		cr_expect(strncmp(err.msg, "is ", 3), "'%s': %s", bad[i].in, err.msg);
	}
	cr_assert_eq(c->n_listeners, 4);

	conf_clear_listeners(c);
	cr_assert_eq(c->n_listeners, 0);
	cr_assert_null(c->listeners);
	for (int i = 0; i < CONF_MAX_LISTENERS; i++) {
		char hp[32];
		snprintf(hp, sizeof(hp), "127.0.0.1:%d", 1000 + i);
		cr_assert_eq(conf_add_listener(c, hp, &err), 0, "%s", err.msg);
	}
	cr_assert_eq(conf_add_listener(c, "127.0.0.1:1", &err), -EINVAL);
	cr_assert(strstr(err.msg, "at most 64"), "%s", err.msg);
	conf_free(c);
}

Test(cli, add_forwarder)
{
	struct conf_error err = {0};
	struct conf *c = conf_new_default();
	/* The file's spelling, and libunbound's, which --resolver took before. */
	static const char *const good[] = {"127.0.0.1:5353",	    "::1",
					   "[2001:db8::1]:53",	    "10.0.0.1",
					   "::ffff:10.0.0.1@65535", "127.0.0.1@5353"};
	static const char *const bad[] = {
		"not-an-ip",	"1.2.3.4@", "1.2.3.4@0", "1.2.3.4@x",	  "1.2.3.4#dns.example",
		"@53",		"",	    "[::1]@53",	 "1.2.3.4@53@53", "1.2.3.4:0",
		"[1.2.3.4]:53", "[::1]",    "[::1]:",	 "::1]:53"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(conf_add_forwarder(c, good[i], &err), 0, "%s: %s", good[i], err.msg);
	cr_assert_eq(c->resolver.n_forwarders, 6);
	/* Kept in libunbound's spelling, which resolver/ hands on. */
	cr_assert_str_eq(c->resolver.forwarders[0], "127.0.0.1@5353");
	cr_assert_str_eq(c->resolver.forwarders[2], "2001:db8::1@53");
	cr_assert_str_eq(c->resolver.forwarders[5], "127.0.0.1@5353");
	char buf[64];
	cr_assert_str_eq(conf_forwarder_str("2001:db8::1@53", buf, sizeof(buf)),
			 "[2001:db8::1]:53");
	cr_assert_str_eq(conf_forwarder_str("127.0.0.1@5353", buf, sizeof(buf)), "127.0.0.1:5353");
	cr_assert_str_eq(conf_forwarder_str("::1", buf, sizeof(buf)), "::1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(conf_add_forwarder(c, bad[i], &err), -EINVAL, "'%s' accepted", bad[i]);
		cr_expect(err.msg[0], "'%s': no message", bad[i]);
	}
	cr_assert_eq(c->resolver.n_forwarders, 6);
	conf_clear_forwarders(c);
	cr_assert_eq(c->resolver.n_forwarders, 0);
	for (int i = 0; i < CONF_MAX_FORWARDERS; i++)
		cr_assert_eq(conf_add_forwarder(c, "127.0.0.1", &err), 0);
	cr_assert_eq(conf_add_forwarder(c, "127.0.0.1", &err), -EINVAL);
	cr_assert(strstr(err.msg, "at most 16"), "%s", err.msg);
	conf_free(c);
}

Test(cli, add_allow)
{
	struct conf_error err = {0};
	struct conf *c = conf_new_default();

	cr_assert_eq(conf_add_allow(c, "allowed.test", &err), 0, "%s", err.msg);
	cr_assert_eq(conf_add_allow(c, "*.allowed.test", &err), 0, "%s", err.msg);
	cr_assert_eq(conf_add_allow(c, "bad name", &err), -EINVAL);
	cr_assert(strstr(err.msg, "not a valid name: a space"), "%s", err.msg);
	cr_assert_eq(conf_add_allow(c, "*", &err), -EINVAL);
	cr_assert(strstr(err.msg, "wildcard"), "%s", err.msg);
	cr_assert_eq(c->n_allow, 2);
	cr_assert_eq(c->allow_lines[1], 0);
	conf_clear_allow(c);
	cr_assert_eq(c->n_allow, 0);
	cr_assert_null(c->allow);
	cr_assert_null(c->allow_lines);
	conf_free(c);
}

/* The file, then the command line on top, as core/main.c does it. */
/* The flags go through the rows: the file's parsing, range and messages. */
/* ---- policies ---- */

static const char policies_text[] =
	"listeners:\n"
	"  - {name: main, address: 127.0.0.1:8443}\n"
	"  - {name: side, address: 127.0.0.1:8444}\n"
	"policies:\n"
	"  - name: review\n"
	"    match: {sources: [10.42.1.0/24], listeners: [main]}\n"
	"    allow: [api.github.com, \"*.githubusercontent.com\"]\n"
	"  - name: dev\n"
	"    match:\n"
	"      sources: 10.42.2.0/24\n"
	"      proxy_users: [ci, alice]\n"
	"    mode: audit\n"
	"    allow:\n"
	"      - registry.npmjs.org\n"
	"      - {name: git.example.com, ports: [443, 22], owner: platform,\n"
	"         expires: 2027-03-01T00:00:00Z}\n"
	"      - {name: b.example.com, expires: \"2027-03-01T01:00:00+01:00\"}\n"
	"allow: [fallback.example]\n";

Test(policies, load_in_order_with_their_entries)
{
	struct conf_error err = {0};
	struct conf *c = load_str(policies_text, &err);

	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	cr_assert_str_eq(c->listeners[1].name, "side");
	cr_assert_eq(c->n_policies, 2);
	const struct conf_policy *r = &c->policies[0], *d = &c->policies[1];
	cr_assert_str_eq(r->name, "review");
	cr_assert_eq(r->line, 5);
	cr_assert_eq(r->mode, CONF_MODE_DEFAULT);
	cr_assert_eq(r->n_sources, 1);
	cr_assert_str_eq(r->listeners[0], "main");
	cr_assert_eq(r->n_users, 0);
	cr_assert_eq(r->n_allow, 2);
	cr_assert_str_eq(r->allow[1].name, "*.githubusercontent.com");
	cr_assert_eq(d->mode, CONF_AUDIT);
	cr_assert_str_eq(d->sources[0], "10.42.2.0/24", "a single value is a list of one");
	cr_assert_eq(d->n_users, 2);
	cr_assert_str_eq(d->users[1], "alice");
	cr_assert_eq(d->n_allow, 3);
	const struct conf_allow *g = &d->allow[1];
	cr_assert_str_eq(g->name, "git.example.com");
	cr_assert_eq(g->n_ports, 2);
	cr_assert_eq(g->ports[1], 22);
	cr_assert_str_eq(g->owner, "platform");
	cr_assert_eq(g->expires, 1803859200); /* date -d 2027-03-01T00:00:00Z +%s */
	cr_assert_eq(g->line, 15);
	cr_assert_eq(d->allow[2].expires, 1803859200, "an offset is taken off");

	/* The top-level allow is one more policy, last, that matches everything. */
	struct rules *rl;
	cr_assert_eq(conf_build_rules(c, &rl, &err), 0, "%s", err_str(&err));
	cr_assert_eq(rules_count(rl), 3);
	cr_assert_str_eq(rules_name(rl, 2), CONF_DEFAULT_POLICY);
	uint8_t a[16] = {[10] = 0xff, [11] = 0xff, 10, 42, 1, 7};
	cr_assert_eq(rules_match(rl, 0, a, NULL, 0), 0);
	cr_assert_eq(rules_match(rl, 1, a, NULL, 0), 2, "review is for listener main only");
	a[14] = 2;
	cr_assert_eq(rules_match(rl, 1, a, NULL, 0), 2, "dev needs a proxy user");
	cr_assert_eq(rules_match(rl, 1, a, "ci", 2), 1);
	rules_free(rl);
	conf_free(c);
}

Test(policies, without_a_top_level_allow_no_match_is_no_policy)
{
	struct conf_error err = {0};
	struct conf *c = load_str("listeners: [{address: 127.0.0.1:8443}]\n"
				  "policies: [{name: only, match: {sources: [127.0.0.2]}, "
				  "allow: [a.example]}]\n",
				  &err);
	struct rules *rl;

	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(conf_validate(c, &err), 0, "no top-level allow is fine with policies: %s",
		     err_str(&err));
	cr_assert_eq(conf_build_rules(c, &rl, &err), 0, "%s", err_str(&err));
	cr_assert_eq(rules_count(rl), 1);
	uint8_t a[16] = {[10] = 0xff, [11] = 0xff, 127, 0, 0, 3};
	cr_assert_eq(rules_match(rl, 0, a, NULL, 0), -1);
	rules_free(rl);
	conf_free(c);
}

Test(policies, every_mistake_names_its_line_and_field)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *field, *msg;
	} t[] = {
		{"policies: {name: x}\n", 1, "policies", "expected a list of policies"},
		{"policies:\n  - name: x\n    alow: [a.com]\n", 3, "policies[0].alow",
		 "unknown key (known here: name, match, mode, allow, ech)"},
		{"policies:\n  - name: x\n    match: {source: [10.0.0.0/8]}\n    allow: [a.com]\n",
		 3, "policies[0].match.source",
		 "unknown key (known here: listeners, sources, proxy_users, sources_file)"},
		{"policies:\n  - match: {}\n    allow: [a.com]\n", 2, "policies[0]",
		 "a policy needs a name"},
		{"policies:\n  - {name: x, match: {sources: [10.0.0.1/8]}, allow: [a.com]}\n", 2,
		 "policies[0].match.sources[0]", "has bits set past the prefix length"},
		{"policies:\n  - {name: x, match: {listeners: [nope]}, allow: [a.com]}\n", 2,
		 "policies[0].match.listeners[0]", "\"nope\" is the name of no listener"},
		{"policies:\n  - {name: x, match: {sources: [10.0.0.0/8]}, allow: [a.com]}\n"
		 "  - {name: x, allow: [b.com]}\n",
		 3, "policies[1].name", "\"x\" is already the name of policies[0]"},
		{"allow: [c.com]\npolicies:\n  - {name: default, allow: [a.com]}\n", 3,
		 "policies[0].name", "is the name of the top-level allow's policy"},
		{"policies:\n  - {name: \"a b\", allow: [a.com]}\n", 2, "policies[0].name",
		 "a policy name is 1..63 of"},
		{"policies:\n  - {name: x, match: {sources: [10.0.0.0/8]}}\n", 2,
		 "policies[0].allow", "no names: every connection it matches would be reset"},
		{"policies:\n  - name: x\n    allow:\n      - {name: a.com, expires: tomorrow}\n",
		 4, "policies[0].allow[0].expires", "\"tomorrow\" is not an RFC 3339 time"},
		{"policies:\n  - name: x\n    allow:\n      - {name: a.com, expires: 2027-02-30T00:00:00Z}\n",
		 4, "policies[0].allow[0].expires", "is not an RFC 3339 time"},
		{"policies:\n  - name: x\n    allow:\n      - {name: a.com, ports: [0]}\n", 4,
		 "policies[0].allow[0].ports[0]", "0 is out of range (1..65535)"},
		{"policies:\n  - name: x\n    allow:\n      - {ports: [443]}\n", 4,
		 "policies[0].allow[0]", "an entry needs a name"},
		{"policies:\n  - name: x\n    allow:\n      - {name: a.com, upstream_allow: [10.0.0.1/8]}\n",
		 4, "policies[0].allow[0].upstream_allow[0]",
		 "has bits set past the prefix length"},
		{"policies:\n  - name: x\n    allow:\n      - \"a..com\"\n", 4,
		 "policies[0].allow[0]", "is not a valid name"},
		{"policies:\n  - {name: wide, match: {sources: [10.0.0.0/8]}, allow: [a.com]}\n"
		 "  - {name: narrow, match: {sources: [10.1.0.0/16]}, allow: [b.com]}\n",
		 3, "policies[1]",
		 "policy \"narrow\" can never match: \"wide\" (policies[0]) comes first"},
		{"policies:\n  - {name: all, allow: [a.com]}\nallow: [b.com]\n", 3, "allow",
		 "the top-level allow can never match: \"all\" (policies[0]) matches every "
		 "connection first"},
		{"policies:\n  - {name: x, match: {proxy_users: [\"a:b\"]}, allow: [a.com]}\n", 2,
		 "policies[0].match.proxy_users[0]", "a user name has no ':'"},
		{"listeners:\n  - {name: m, address: 127.0.0.1:1}\n  - {name: m, address: 127.0.0.1:2}\n"
		 "allow: [a.com]\n",
		 3, "listeners[1].name", "\"m\" is already the name of listeners[0]"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct conf_error err = {0};
		char text[512];
		snprintf(text, sizeof(text), "%s%s",
			 strstr(t[i].text, "listeners:") ? ""
							 : "listeners: [{address: 127.0.0.1:9}]\n",
			 t[i].text);
		struct conf *c = load_str(text, &err);
		if (c && !conf_validate(c, &err))
			cr_assert_fail("case %zu loaded:\n%s", i, text);
		unsigned want = t[i].line + (strstr(t[i].text, "listeners:") ? 0 : 1);
		cr_assert_eq(err.line, want, "case %zu: %s", i, err_str(&err));
		cr_assert_str_eq(err.field, t[i].field, "case %zu: %s", i, err_str(&err));
		cr_assert(strstr(err.msg, t[i].msg), "case %zu: %s", i, err_str(&err));
		conf_free(c);
	}
}

static const char *warning_str(const struct conf *c, unsigned i);

/* listeners[].proxy_protocol: loaded, checked, named by line and field when wrong. */
Test(proxy_protocol, trusted_peers_load_and_mistakes_name_their_line)
{
	struct conf_error err = {0};
	struct conf *c = load_str("listeners:\n"
				  "  - address: 127.0.0.1:8443\n"
				  "    proxy_protocol:\n"
				  "      trusted: [10.0.0.0/8, \"fd00::/8\", 192.0.2.7]\n"
				  "  - address: 127.0.0.1:8444\n"
				  "allow: [a.com]\n",
				  &err);
	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	cr_assert_eq(c->listeners[0].n_proxy_trusted, 3);
	cr_assert_str_eq(c->listeners[0].proxy_trusted[2], "192.0.2.7");
	cr_assert_eq(c->listeners[1].n_proxy_trusted, 0, "a listener without it takes no header");
	cr_assert_eq(c->n_warnings, 0);
	conf_free(c);

	static const struct {
		const char *text;
		unsigned line;
		const char *field, *msg;
	} t[] = {
		{"    proxy_protocol: [10.0.0.0/8]\n", 3, "listeners[0].proxy_protocol",
		 "expected {trusted: [CIDRs]}, found a list"},
		{"    proxy_protocol: {trust: [10.0.0.0/8]}\n", 3,
		 "listeners[0].proxy_protocol.trust", "unknown key (known here: trusted)"},
		{"    proxy_protocol: {}\n", 3, "listeners[0].proxy_protocol", "needs trusted"},
		{"    proxy_protocol: {trusted: []}\n", 3, "listeners[0].proxy_protocol.trusted",
		 "no CIDRs"},
		{"    proxy_protocol:\n      trusted:\n        - 10.0.0.0/8\n        - 10.0.0.1/8\n",
		 6, "listeners[0].proxy_protocol.trusted[1]",
		 "has bits set past the prefix length"},
		{"    proxy_protocol: {trusted: [lb.example]}\n", 3,
		 "listeners[0].proxy_protocol.trusted[0]", "is not an address or CIDR"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text),
			 "listeners:\n  - address: 127.0.0.1:8443\n%sallow: [a.com]\n", t[i].text);
		memset(&err, 0, sizeof(err));
		c = load_str(text, &err);
		if (c && !conf_validate(c, &err))
			cr_assert_fail("case %zu loaded:\n%s", i, text);
		cr_assert_eq(err.line, t[i].line, "case %zu: %s", i, err_str(&err));
		cr_assert_str_eq(err.field, t[i].field, "case %zu: %s", i, err_str(&err));
		cr_assert(strstr(err.msg, t[i].msg), "case %zu: %s", i, err_str(&err));
		conf_free(c);
	}

	/* Trusting every peer loads, with a warning: any client could then claim any source. */
	memset(&err, 0, sizeof(err));
	c = load_str("listeners:\n  - address: 127.0.0.1:8443\n"
		     "    proxy_protocol: {trusted: [0.0.0.0/0]}\nallow: [a.com]\n",
		     &err);
	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->n_warnings, 1);
	cr_assert(strstr(warning_str(c, 0), "trusts every peer"), "%s", warning_str(c, 0));
	conf_free(c);
}

/* An entry past or near its expiry still loads, with a warning that says when. */
Test(policies, expired_and_expiring_entries_are_warned_about)
{
	struct conf_error err = {0};
	char text[512], soon[32];
	time_t t = time(NULL) + 3 * 24 * 3600;
	struct tm tm;

	strftime(soon, sizeof(soon), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	snprintf(text, sizeof(text),
		 "listeners: [{address: 127.0.0.1:9}]\n"
		 "policies:\n"
		 "  - name: p\n"
		 "    allow:\n"
		 "      - {name: old.example, expires: 2020-01-01T00:00:00Z}\n"
		 "      - {name: soon.example, expires: \"%s\"}\n"
		 "      - {name: later.example, expires: 2099-01-01T00:00:00Z}\n",
		 soon);
	struct conf *c = load_str(text, &err);

	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->n_warnings, 2);
	cr_assert_eq(c->warnings[0].line, 5);
	cr_assert(strstr(c->warnings[0].msg, "has expired: \"old.example\" no longer matches"),
		  "%s", c->warnings[0].msg);
	cr_assert_eq(c->warnings[1].line, 6);
	cr_assert(strstr(c->warnings[1].msg, "\"soon.example\" stops matching in 72 h"), "%s",
		  c->warnings[1].msg);
	conf_free(c);
}

/* An entry that covers an ECH provider's client-facing name allows every site behind it. */
Test(policies, an_ech_client_facing_name_is_warned_about)
{
	struct conf_error err = {0};
	struct conf *c =
		load_str("listeners: [{address: 127.0.0.1:9}]\n"
			 "policies:\n"
			 "  - name: p\n"
			 "    ech: deny\n"
			 "    allow: [a.example, \"*.cloudflare-ech.com\", Cloudflare-ECH.com]\n",
			 &err);

	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->policies[0].ech, CONF_ECH_DENY);
	cr_assert_eq(c->ech, CONF_ECH_ALLOW, "the top-level default");
	cr_assert_eq(c->n_warnings, 1, "the wildcard does not cover the name itself");
	cr_assert_eq(c->warnings[0].line, 5);
	cr_assert(strstr(c->warnings[0].msg, "lets through cloudflare-ech.com"), "%s",
		  c->warnings[0].msg);
	conf_free(c);
}

/* A wildcard at a public suffix is refused; at or above a private one, warned about. */
Test(policies, wildcards_against_the_public_suffix_list)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *field, *msg;
	} bad[] = {
		{"allow: [a.example, \"*.com\"]\n", 2, "allow[1]",
		 "\"*.com\" covers every name anyone registers under com, a public suffix"},
		{"allow: [\"*.CO.UK.\"]\n", 2, "allow[0]", "under co.uk, a public suffix"},
		{"policies:\n  - name: p\n    allow: [a.example, \"*.foo.ck\"]\n", 4,
		 "policies[0].allow[1]", "under foo.ck, a public suffix"},
		{"allow: [\"*.zz-no-such-tld\"]\n", 2, "allow[0]", "a public suffix"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct conf_error err = {0};
		char text[256];
		snprintf(text, sizeof(text), "listeners: [{address: 127.0.0.1:9}]\n%s",
			 bad[i].text);
		struct conf *c = load_str(text, &err);
		cr_assert_null(c, "case %zu loaded", i);
		cr_assert_eq(err.line, bad[i].line, "case %zu: %s", i, err_str(&err));
		cr_assert_str_eq(err.field, bad[i].field, "case %zu: %s", i, err_str(&err));
		cr_assert(strstr(err.msg, bad[i].msg), "case %zu: %s", i, err_str(&err));
	}

	struct conf_error err = {0};
	struct conf *c =
		load_str("listeners: [{address: 127.0.0.1:9}]\n"
			 "allow: [\"*.github.io\", \"*.amazonaws.com\", \"*.example.co.uk\",\n"
			 "        \"*.www.ck\"]\n",
			 &err);
	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->n_warnings, 2);
	cr_assert(strstr(c->warnings[0].msg, "covers github.io, under which anyone can host"), "%s",
		  c->warnings[0].msg);
	cr_assert(strstr(c->warnings[1].msg, "covers suffixes under amazonaws.com"), "%s",
		  c->warnings[1].msg);
	conf_free(c);
}

/* sources_file: read at every load, its own line named in an error, kept as a path. */
Test(policies, sources_from_a_file)
{
	char path[] = "/tmp/snigate-test-sources-XXXXXX", text[512];
	struct conf_error err = {0};
	int fd = mkstemp(path);
	static const char good[] =
		"# the review namespace\n10.42.1.0/24\n\n  10.42.9.7  # one host\n"
		"fd00:42::/64\n";

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, good, sizeof(good) - 1), (ssize_t)sizeof(good) - 1);
	close(fd);
	snprintf(text, sizeof(text),
		 "listeners: [{address: 127.0.0.1:9}]\n"
		 "policies:\n"
		 "  - name: review\n"
		 "    match: {sources_file: %s, sources: [10.1.0.0/16]}\n"
		 "    allow: [a.example]\n",
		 path);
	struct conf *c = load_str(text, &err);
	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->policies[0].n_file_sources, 3);
	cr_assert_str_eq(c->policies[0].file_sources[1], "10.42.9.7");
	struct rules *rl;
	cr_assert_eq(conf_build_rules(c, &rl, &err), 0, "%s", err_str(&err));
	uint8_t a[16] = {[10] = 0xff, [11] = 0xff, 10, 42, 9, 7};
	cr_assert_eq(rules_match(rl, 0, a, NULL, 0), 0);
	a[13] = 43;
	cr_assert_eq(rules_match(rl, 0, a, NULL, 0), -1);
	rules_free(rl);
	/* The dump keeps the file, not its lines: loading it reads the file again. */
	char *dump = conf_dump_yaml_str(c, 0);
	cr_assert(strstr(dump, "sources_file: \""), "%s", dump);
	cr_assert_null(strstr(dump, "10.42.9.7"), "%s", dump);
	struct conf *d = NULL;
	cr_assert_eq(conf_load_buf(dump, strlen(dump), "dump.yaml", &d, &err), 0, "%s",
		     err_str(&err));
	cr_assert_eq(d->policies[0].n_file_sources, 3);
	conf_free(d);
	free(dump);
	conf_free(c);

	/* A bad line names the file and its line; an empty file is refused. */
	FILE *f = fopen(path, "w");
	fputs("10.0.0.0/8\n# x\n10.0.0.1/8\n", f);
	fclose(f);
	cr_assert_null(load_str(text, &err));
	cr_assert_eq(err.line, 4);
	cr_assert_str_eq(err.field, "policies[0].match.sources_file");
	cr_assert(strstr(err.msg, ":3: \"10.0.0.1/8\" has bits set past the prefix length"), "%s",
		  err.msg);
	f = fopen(path, "w");
	fputs("# nothing yet\n", f);
	fclose(f);
	cr_assert_null(load_str(text, &err));
	cr_assert(strstr(err.msg, "holds no address or CIDR"), "%s", err.msg);
	unlink(path);
	cr_assert_null(load_str(text, &err));
	cr_assert(strstr(err.msg, path) && strstr(err.msg, ": cannot open"), "%s", err.msg);
}

/* An empty policy is a way to learn what a group of clients reaches: audit only. */
Test(policies, an_empty_policy_is_fine_in_audit_mode)
{
	struct conf_error err = {0};
	struct conf *c = load_str("listeners: [{address: 127.0.0.1:9}]\n"
				  "policies: [{name: learn, mode: audit}]\n",
				  &err);

	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	conf_free(c);
}

Test(cli, set_by_path)
{
	struct conf_error err = {0};
	struct conf *c = load_str("allow: [a.example]\nupstream: {deny: [10.0.0.0/8]}\n"
				  "timeouts: {connect: 9s}\n",
				  &err);

	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(conf_set(c, "timeouts.connect", "1500ms", &err), 0, "%s", err.msg);
	cr_assert_eq(c->timeouts.connect_ms, 1500);
	cr_assert_eq(conf_set(c, "timeouts.connect", "5", &err), -EINVAL);
	cr_assert_str_eq(err.msg, "\"5\" has no unit: write 5s or 5ms");
	cr_assert_eq(err.line, 0);
	cr_assert_eq(conf_set(c, "threads", "1025", &err), -EINVAL);
	cr_assert_str_eq(err.msg, "1025 is out of range (0..1024)");
	cr_assert_eq(conf_set(c, "resolver.lookup_family", "V6_ONLY", &err), 0, "%s", err.msg);
	cr_assert_eq(c->resolver.family, CONF_V6_ONLY);
	cr_assert_eq(conf_set(c, "admin.address", "off", &err), 0, "%s", err.msg);
	cr_assert_null(c->admin_address);

	/* A list: cleared once, then one entry a call. */
	conf_clear(c, "allow");
	cr_assert_eq(c->n_allow, 0);
	cr_assert_eq(conf_set(c, "allow", "b.example", &err), 0, "%s", err.msg);
	cr_assert_eq(conf_set(c, "allow", "*.c.example", &err), 0, "%s", err.msg);
	cr_assert_eq(c->n_allow, 2);
	cr_assert_str_eq(c->allow[1], "*.c.example");
	cr_assert_eq(conf_set(c, "upstream.deny", "192.0.2.0/24", &err), 0, "%s", err.msg);
	cr_assert_eq(c->upstream.n_deny, 2);
	cr_assert_eq(conf_set(c, "upstream.deny", "192.0.2.0/33", &err), -EINVAL);
	cr_assert_eq(conf_set(c, "listeners", "127.0.0.1:8443", &err), 0, "%s", err.msg);
	cr_assert_eq(c->listeners[0].upstream_port, 443, "a listener's row defaults apply");
	cr_assert_eq(c->listeners[0].n_connect_ports, 1);

	/* Not settable: unknown, a listener's field, the old spelling, the file-only map. */
	cr_assert_eq(conf_set(c, "timeouts.conect", "1s", &err), -EINVAL);
	cr_assert_eq(conf_set(c, "listeners[].mode", "audit", &err), -EINVAL);
	cr_assert_eq(conf_set(c, "listeners[].port", "1", &err), -EINVAL);
	cr_assert_eq(conf_set(c, "resolver.hosts", "a", &err), -EINVAL);
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	conf_free(c);
}

Test(cli, file_then_flags)
{
	struct conf_error err = {0};
	struct conf *c = load_data("empty.yaml");

	cr_assert_eq(conf_add_listener(c, "[::1]:8443", &err), 0);
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err.field, "allow");
	cr_assert_eq(conf_add_allow(c, "allowed.test", &err), 0);
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));

	/* A duplicate from the command line names no file line. */
	cr_assert_eq(conf_add_listener(c, "[::1]:8443", &err), 0);
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err_str(&err),
			 "listeners[1]: ::1 port 8443 is already a listener (listeners[0])");
	conf_free(c);

	/* A flag that replaces the file's listeners and allowlist. */
	c = load_data("full.yaml");
	conf_clear_listeners(c);
	conf_clear_allow(c);
	conf_clear_forwarders(c);
	cr_assert_eq(conf_add_listener(c, "127.0.0.1:1", &err), 0);
	cr_assert_eq(conf_add_allow(c, "x.example", &err), 0);
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	conf_free(c);
}

/* Fields changed by hand are checked again, without a file line. */
Test(cli, validate_rechecks_fields)
{
	struct conf_error err = {0};
	struct conf *c = load_data("full.yaml");

	c->timeouts.connect_ms = 25 * 3600 * 1000;
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err_str(&err), "timeouts.connect: 25h is out of range (1ms..24h)");
	c->timeouts.connect_ms = 5000;

	c->threads = 1025;
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err.field, "threads");
	c->threads = 0;

	c->relay.pipe_size = c->relay.pipe_max_size * 2;
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err.field, "relay.pipe_size");
	c->relay.pipe_size = 4096;

	c->resolver.family = (enum conf_family)17;
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err.field, "resolver.lookup_family");
	c->resolver.family = CONF_AUTO;

	/* An entry from the file keeps its line. */
	free(c->allow[1]);
	c->allow[1] = strdup("*.*.bad");
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert(ends_with(err.file, "full.yaml"), "%s", err.file);
	cr_assert_eq(err.line, 13);
	cr_assert_str_eq(err.field, "allow[1]");
	free(c->allow[1]);
	c->allow[1] = strdup("ok.example");

	free(c->listeners[2].address);
	c->listeners[2].address = strdup("not-an-ip");
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_eq(err.line, 9);
	cr_assert_str_eq(err.field, "listeners[2].address");

	free(c->listeners[2].address);
	c->listeners[2].address = strdup("::");
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	cr_assert_eq(c->listeners[2].sa.ss_family, AF_INET6);
	cr_assert_eq(sa_port(&c->listeners[2]), 443);
	conf_free(c);
}

/* ---- conf_error_str ---- */

Test(error_str, formats)
{
	struct conf_error e = {.file = "a.yaml", .line = 3, .field = "timeouts.dns", .msg = "bad"};
	char buf[128];

	cr_assert_str_eq(conf_error_str(&e, buf, sizeof(buf)), "a.yaml:3: timeouts.dns: bad");
	e.line = 0;
	cr_assert_str_eq(conf_error_str(&e, buf, sizeof(buf)), "a.yaml: timeouts.dns: bad");
	e.field[0] = '\0';
	cr_assert_str_eq(conf_error_str(&e, buf, sizeof(buf)), "a.yaml: bad");
	e.file[0] = '\0';
	cr_assert_str_eq(conf_error_str(&e, buf, sizeof(buf)), "bad");
	strcpy(e.field, "allow[0]");
	cr_assert_str_eq(conf_error_str(&e, buf, sizeof(buf)), "allow[0]: bad");
	e.line = 9;
	cr_assert_str_eq(conf_error_str(&e, buf, sizeof(buf)), "line 9: allow[0]: bad");

	/* Cut to the buffer, always terminated. */
	strcpy(e.file, "file.yaml");
	cr_assert_str_eq(conf_error_str(&e, buf, 8), "file.ya");
	cr_assert_str_eq(conf_error_str(&e, buf, 1), "");
	cr_assert_eq(conf_error_str(&e, NULL, 0), NULL);
}

Test(error_str, long_paths_keep_their_end)
{
	char path[600];
	struct conf_error err = {0};
	struct conf *c = NULL;

	memset(path, 'd', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	memcpy(path + sizeof(path) - 12, "/snigate.ya", 11);
	cr_assert_eq(conf_load_buf("threads: x\n", 11, path, &c, &err), -EINVAL);
	cr_assert_eq(strlen(err.file), sizeof(err.file) - 1);
	cr_assert(!strncmp(err.file, "...", 3), "%s", err.file);
	cr_assert(ends_with(err.file, "/snigate.ya"), "%s", err.file);
}

/* ---- HTTP CONNECT fields ---- */

/* A credentials file for proxy_auth_file: "u:p" hashed, as sni/connect.h wants it. */
static const char *auth_file(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_conf_auth.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

#define UP_HASH "fd8f314419e0a57e5db989f5e6e52a211688682be2cb94c4c12938d7d842c2e0"

Test(connect, defaults)
{
	struct conf_error err = {0};
	struct conf *c = load_str("listeners:\n  - address: 127.0.0.1:8443\n", &err);

	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->listeners[0].protocol, CONF_PROTO_AUTO);
	cr_assert_eq(c->listeners[0].n_connect_ports, 1);
	cr_assert_eq(c->listeners[0].connect_ports[0], 443);
	cr_assert(c->listeners[0].require_sni_match);
	cr_assert_null(c->listeners[0].proxy_auth_file);
	cr_assert_eq(c->timeouts.request_head_ms, 10000);
	/* A listener from the command line gets the same. */
	cr_assert_eq(conf_add_listener(c, "127.0.0.1:9443", &err), 0, "%s", err.msg);
	cr_assert_eq(c->listeners[1].protocol, CONF_PROTO_AUTO);
	cr_assert_eq(c->listeners[1].n_connect_ports, 1);
	cr_assert_eq(c->listeners[1].connect_ports[0], 443);
	cr_assert(c->listeners[1].require_sni_match);
	cr_assert_str_eq(conf_protocol_str(CONF_PROTO_CONNECT), "connect");
	conf_free(c);
	c = conf_new_default();
	cr_assert_eq(c->timeouts.request_head_ms, 10000);
	conf_free(c);
}

Test(connect, every_field)
{
	const char *path = auth_file("# users\nu:{SHA256}" UP_HASH "\n");
	struct conf_error err = {0};
	char text[512];
	struct conf *c;

	snprintf(text, sizeof(text),
		 "listeners:\n"
		 "  - address: 127.0.0.1:8443\n"
		 "    protocol: connect\n"
		 "    connect_ports: [443, 8443]\n"
		 "    require_sni_match: false\n"
		 "    proxy_auth_file: %s\n"
		 "  - address: 127.0.0.1:443\n"
		 "    protocol: tls\n"
		 "timeouts:\n"
		 "  request_head: 3s\n",
		 path);
	c = load_str(text, &err);
	remove(path);
	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->listeners[0].protocol, CONF_PROTO_CONNECT);
	cr_assert_eq(c->listeners[0].n_connect_ports, 2);
	cr_assert_eq(c->listeners[0].connect_ports[0], 443);
	cr_assert_eq(c->listeners[0].connect_ports[1], 8443);
	cr_assert_not(c->listeners[0].require_sni_match);
	cr_assert_str_eq(c->listeners[0].proxy_auth_file, path);
	cr_assert_eq(c->listeners[1].protocol, CONF_PROTO_TLS);
	cr_assert_eq(c->timeouts.request_head_ms, 3000);
	conf_free(c);
}

Test(connect, errors_name_line_and_field)
{
	const char *bad_auth = auth_file("u:{SHA256}" UP_HASH "\nv:plaintext\n");
	static const char head[] =
		"listeners:\n  - address: 127.0.0.1:8443\n    upstream_port: 443\n";
	char text[512], want[512];
	struct conf_error err;
	static const struct {
		const char *tail, *want;
	} cases[] = {
		{"    protocol: http\n",
		 "test.yaml:4: listeners[0].protocol: \"http\" is not a protocol (use auto, tls or connect)"},
		{"    connect_ports: [443, 0]\n",
		 "test.yaml:4: listeners[0].connect_ports[1]: 0 is out of range (1..65535)"},
		{"    connect_ports:\n      - 443\n      - 70000\n",
		 "test.yaml:6: listeners[0].connect_ports[1]: 70000 is out of range (1..65535)"},
		{"    connect_ports: [https]\n",
		 "test.yaml:4: listeners[0].connect_ports[0]: \"https\" is not a whole number"},
		{"    require_sni_match: maybe\n",
		 "test.yaml:4: listeners[0].require_sni_match: \"maybe\" is not true or false"},
		{"    proxy_auth_file: /nonexistent/snigate-users\n",
		 "test.yaml:4: listeners[0].proxy_auth_file: \"/nonexistent/snigate-users\": cannot open: No such file or directory"},
		{"timeouts:\n  request_head: 0s\n",
		 "test.yaml:5: timeouts.request_head: 0ms is out of range (1ms..24h)"},
		{"timeouts:\n  request_head: 10s\n  request_head: 11s\n",
		 "test.yaml:6: timeouts.request_head: duplicate key (first set on line 5)"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", head, cases[i].tail);
		cr_assert_null(load_str(text, &err), "case %zu loaded", i);
		cr_expect_str_eq(err_str(&err), cases[i].want, "case %zu", i);
	}

	/* A bad credentials file: its own line, never its content. */
	snprintf(text, sizeof(text), "%s    proxy_auth_file: %s\n", head, bad_auth);
	cr_assert_null(load_str(text, &err));
	remove(bad_auth);
	snprintf(want, sizeof(want),
		 "test.yaml:4: listeners[0].proxy_auth_file: \"%s\" line 2: expected "
		 "user:{SHA256}hex (plain passwords are not accepted)",
		 bad_auth);
	cr_assert_str_eq(err_str(&err), want);
	cr_assert_null(strstr(err_str(&err), "plaintext"));
}

Test(connect, validate_rechecks_fields)
{
	struct conf_error err = {0};
	struct conf *c = conf_new_default();

	cr_assert_eq(conf_add_listener(c, "127.0.0.1:8443", &err), 0, "%s", err.msg);
	cr_assert_eq(conf_add_allow(c, "a.example", &err), 0, "%s", err.msg);
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	c->listeners[0].n_connect_ports = CONF_MAX_CONNECT_PORTS + 1;
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err.field, "listeners[0].connect_ports");
	c->listeners[0].n_connect_ports = 0;
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	c->listeners[0].protocol = CONF_PROTO_CONNECT;
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err.field, "listeners[0].connect_ports");
	c->listeners[0].protocol = CONF_PROTO_AUTO;
	c->listeners[0].n_connect_ports = 1;
	c->listeners[0].proxy_auth_file = strdup("/nonexistent/users");
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err.field, "listeners[0].proxy_auth_file");
	free(c->listeners[0].proxy_auth_file);
	c->listeners[0].proxy_auth_file = NULL;
	c->timeouts.request_head_ms = 0;
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err.field, "timeouts.request_head");
	conf_free(c);
}

/* ---- operations: mode, drain, admin, limits, access log ---- */

static const char *write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/snigate-token-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

Test(operations, control_endpoint_and_token)
{
	struct conf_error err = {0};
	struct conf *c = load_str("listeners: [{address: 127.0.0.1:8443}]\nallow: [a.b]\n", &err);
	cr_assert_not_null(c, "%s", err.msg);
	cr_assert_str_eq(c->control.address, "127.0.0.1:9902", "the default is loopback");
	cr_assert_null(c->control.token_file);
	cr_assert_null(c->control.token);
	conf_free(c);

	/* A token file: one line, the newline dropped; the path is dumped, the token never. */
	const char *tf = write_tmp("0123456789abcdef-TOKEN\n");
	char text[512];
	snprintf(text, sizeof(text),
		 "listeners: [{address: 127.0.0.1:8443}]\nallow: [a.b]\n"
		 "admin:\n  control:\n    address: 0.0.0.0:9902\n    token_file: %s\n",
		 tf);
	c = load_str(text, &err);
	cr_assert_not_null(c, "%s", err.msg);
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err.msg);
	cr_assert_str_eq(c->control.token, "0123456789abcdef-TOKEN");
	cr_assert_eq(c->control.token_len, 22);
	char *dump = conf_dump_yaml_str(c, 0);
	cr_assert_not_null(dump);
	cr_assert(strstr(dump, "  control:\n    address: \"0.0.0.0:9902\"\n    token_file: "), "%s",
		  dump);
	cr_assert_null(strstr(dump, "0123456789abcdef"), "the token was dumped: %s", dump);
	free(dump);
	conf_free(c);

	/* Loading needs no token (convert, corefile); the command line may name it. */
	c = load_str("listeners: [{address: 127.0.0.1:8443}]\nallow: [a.b]\n"
		     "admin:\n  control:\n    address: 0.0.0.0:9902\n",
		     &err);
	cr_assert_not_null(c, "loading asked for the token: %s", err.msg);
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert_str_eq(err.field, "admin.control.token_file");
	cr_assert_eq(err.line, 5, "the control address's line: %u", err.line);
	c->control.token_file = strdup(tf);
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err.msg);
	cr_assert_str_eq(c->control.token, "0123456789abcdef-TOKEN");
	conf_free(c);

	/* Not a regular file (a FIFO would block a reload): refused, not read. */
	char fifo[96];
	snprintf(fifo, sizeof(fifo), "%s.fifo", tf);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	snprintf(text, sizeof(text),
		 "listeners: [{address: 127.0.0.1:8443}]\nallow: [a.b]\n"
		 "admin:\n  control:\n    token_file: %s\n",
		 fifo);
	c = load_str(text, &err);
	cr_assert_not_null(c, "%s", err.msg);
	cr_assert_eq(conf_validate(c, &err), -EINVAL);
	cr_assert(strstr(err.msg, "is not a regular file"), "%s", err.msg);
	cr_assert_eq(err.line, 5);
	conf_free(c);
	unlink(fifo);
	snprintf(text, sizeof(text),
		 "listeners: [{address: 127.0.0.1:8443}]\nallow: [a.b]\n"
		 "admin:\n  control:\n    address: 0.0.0.0:9902\n    token_file: %s\n",
		 tf);

	/* Too short, or a byte no bearer token has: refused with the file named. */
	static const char *const bad[] = {"short\n", "0123456789abcdef ghij\n", "\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *tfp = fopen(tf, "w");
		fputs(bad[i], tfp);
		fclose(tfp);
		c = load_str(text, &err);
		cr_assert_not_null(c, "%s", err.msg);
		if (!conf_validate(c, &err))
			cr_assert_fail("token %zu accepted", i);
		conf_free(c);
		cr_assert_str_eq(err.field, "admin.control.token_file");
		cr_assert(strstr(err.msg, tf), "%s", err.msg);
	}
	unlink(tf);

	/* Loopback, IPv6 loopback and Unix sockets need no token; off turns it off. */
	static const char *const local[] = {"127.0.0.1:9902", "\"[::1]:0\"", "unix:/run/s.sock"};
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		snprintf(text, sizeof(text), "admin:\n  control:\n    address: %s\n", local[i]);
		c = load_str(text, &err);
		cr_assert_not_null(c, "%s: %s", local[i], err.msg);
		conf_free(c);
	}
	c = load_str("admin:\n  control:\n    address: off\n", &err);
	cr_assert_not_null(c, "%s", err.msg);
	cr_assert_null(c->control.address);
	conf_free(c);
}

Test(operations, cpu_affinity)
{
	struct conf_error err = {0};
	char buf[64];
	struct conf *c = load_str("cpu_affinity: 8,0-3,2,10-11\n", &err);
	cr_assert_not_null(c, "%s", err.msg);
	cr_assert_eq(c->cpu_affinity.mode, CONF_AFFINITY_LIST);
	cr_assert_eq(c->cpu_affinity.n_cpus, 7, "sorted, repeats dropped");
	cr_assert_eq(c->cpu_affinity.cpus[0], 0);
	cr_assert_eq(c->cpu_affinity.cpus[4], 8);
	cr_assert_str_eq(conf_affinity_str(c, buf, sizeof(buf)), "0-3,8,10-11");
	conf_free(c);
	c = load_str("cpu_affinity: auto\n", &err);
	cr_assert_not_null(c, "%s", err.msg);
	cr_assert_eq(c->cpu_affinity.mode, CONF_AFFINITY_AUTO);
	cr_assert_str_eq(conf_affinity_str(c, buf, sizeof(buf)), "auto");
	conf_free(c);
	c = load_str("threads: 2\n", &err);
	cr_assert_not_null(c, "%s", err.msg);
	cr_assert_eq(c->cpu_affinity.mode, CONF_AFFINITY_NONE, "pinning is opt-in");
	conf_free(c);
}

Test(operations, every_field)
{
	struct conf_error err = {0};
	struct conf *c = load_str("mode: audit\n"
				  "listeners:\n"
				  "  - address: 127.0.0.1:8443\n"
				  "    upstream_port: 443\n"
				  "    mode: enforce\n"
				  "  - address: 127.0.0.1:8444\n"
				  "    upstream_port: 443\n"
				  "drain:\n"
				  "  delay: 5s\n"
				  "  timeout: 45s\n"
				  "admin:\n"
				  "  address: off\n"
				  "limits:\n"
				  "  max_connections_per_thread: 500\n"
				  "  max_pending_hellos: 300\n"
				  "  max_per_source_ip: 20\n"
				  "log:\n"
				  "  access_file: /tmp/snigate-access.log\n"
				  "  access_sample: 25%\n"
				  "  access_deny_rate: 10\n",
				  &err);
	cr_assert_not_null(c, "%s", err.msg);
	cr_assert_eq(c->mode, CONF_AUDIT);
	cr_assert_eq(c->listeners[0].mode, CONF_ENFORCE);
	cr_assert_eq(c->listeners[1].mode, CONF_MODE_DEFAULT);
	cr_assert_eq(c->drain.delay_ms, 5000);
	cr_assert_eq(c->drain.timeout_ms, 45000);
	cr_assert_null(c->admin_address);
	cr_assert_eq(c->limits.max_connections_per_thread, 500);
	cr_assert_eq(c->limits.max_pending_hellos, 300);
	cr_assert_eq(c->limits.max_per_source_ip, 20);
	cr_assert_str_eq(c->access_log_file, "/tmp/snigate-access.log");
	cr_assert_eq(c->access_log_sample, 0.25);
	cr_assert_eq(c->access_log_deny_rate, 10);
	conf_free(c);
}

Test(operations, errors_name_line_and_field)
{
	static const struct {
		const char *text, *field, *msg;
		unsigned line;
	} cases[] = {
		{"mode: permissive\n", "mode", "is not a mode (use enforce or audit)", 1},
		{"listeners:\n  - address: 127.0.0.1:1\n    upstream_port: 443\n    mode: log\n",
		 "listeners[0].mode", "is not a mode", 4},
		{"drain:\n  delay: soon\n", "drain.delay", "soon", 2},
		{"log:\n  access_sample: 1.5\n", "log.access_sample", "is not a fraction", 2},
		{"log:\n  access_sample: -1\n", "log.access_sample", "is not a fraction", 2},
		{"log:\n  access_sample: 10%%\n", "log.access_sample", "is not a fraction", 2},
		{"admin:\n  address: 127.0.0.1\n", "admin.address", "127.0.0.1", 2},
		{"admin:\n  control:\n    address: 0.0.0.0:9902\n", "admin.control.token_file",
		 "required: admin.control.address \"0.0.0.0:9902\" is reachable from other hosts",
		 3},
		{"admin:\n  control:\n    address: \"[::]:9902\"\n", "admin.control.token_file",
		 "is reachable from other hosts", 3},
		{"admin:\n  control:\n    address: unix:run/c.sock\n", "admin.control.address",
		 "is not unix:/absolute/path", 3},
		{"admin:\n  control:\n    address: 10.0.0.1\n", "admin.control.address",
		 "is not address:port", 3},
		{"admin:\n  control:\n    address: \"[127.0.0.1]:9902\"\n", "admin.control.address",
		 "brackets are for IPv6", 3},
		{"admin:\n  control:\n    token_file: /nonexistent/snigate-token\n",
		 "admin.control.token_file", "/nonexistent/snigate-token: No such file", 3},
		{"admin:\n  control:\n    tokenfile: /x\n", "admin.control.tokenfile",
		 "known here: address, token_file", 3},
		{"cpu_affinity: some\n", "cpu_affinity", "is not none, auto or a CPU list", 1},
		{"cpu_affinity: 3-1\n", "cpu_affinity", "out of order", 1},
		{"cpu_affinity: 0-1024\n", "cpu_affinity", "above 1023", 1},
		{"cpu_affinity: 1,,2\n", "cpu_affinity", "is not none, auto", 1},
		{"cpu_affinity: \"1-\"\n", "cpu_affinity", "is not none, auto", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conf_error err = {0};
		struct conf *c = load_str(cases[i].text, &err);
		if (c && !conf_validate(c, &err)) {
			conf_free(c);
			cr_assert_fail("case %zu loaded: %s", i, cases[i].text);
		}
		conf_free(c);
		cr_assert_str_eq(err.field, cases[i].field, "case %zu: field %s", i, err.field);
		cr_assert(strstr(err.msg, cases[i].msg), "case %zu: %s", i, err.msg);
		cr_assert_eq(err.line, cases[i].line, "case %zu: line %u", i, err.line);
	}
}

/* ---- spellings: one per value; the old ones load, with a warning ---- */

static const char *warning_str(const struct conf *c, unsigned i)
{
	static char buf[768];
	cr_assert_lt(i, c->n_warnings);
	return conf_error_str(&c->warnings[i], buf, sizeof(buf));
}

Test(spellings, durations_need_a_unit)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"timeouts:\n  idle: 3600\n",
		 "test.yaml:2: timeouts.idle: \"3600\" has no unit: write 3600s or 1h"},
		{"timeouts:\n  dns: 250\n",
		 "test.yaml:2: timeouts.dns: \"250\" has no unit: write 250s or 250ms"},
		{"resolver:\n  min_ttl: 90\n",
		 "test.yaml:2: resolver.min_ttl: \"90\" has no unit: write 90s or 90ms"},
		{"drain:\n  timeout: \"120\"\n",
		 "test.yaml:2: drain.timeout: \"120\" has no unit: write 120s or 2m"},
	};
	struct conf_error err;
	unsigned long long ms;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_null(load_str(cases[i].text, &err), "%s loaded", cases[i].text);
		cr_expect_str_eq(err_str(&err), cases[i].want);
	}
	/* 0 is 0 in every unit. */
	struct conf *c = load_str("drain: {delay: 0, timeout: 0}\nresolver: {max_ttl: 0}\n", &err);
	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->drain.delay_ms, 0);
	cr_assert_eq(c->drain.timeout_ms, 0);
	cr_assert_eq(c->resolver.max_ttl_s, 0);
	cr_assert_eq(c->n_warnings, 0);
	conf_free(c);
	/* The command line reads durations the same way. */
	cr_assert_eq(conf_parse_duration_ms("3600", &ms), -EINVAL);
	cr_assert_eq(conf_parse_duration_ms("0", &ms), 0);
	cr_assert_eq(ms, 0);
	cr_assert_eq(conf_parse_duration_ms("2s", &ms), 0);
	cr_assert_eq(ms, 2000);
}

Test(spellings, values_are_lower_case_and_the_old_case_warns)
{
	static const char text[] = "mode: ENFORCE\n"
				   "cpu_affinity: Auto\n"
				   "listeners:\n"
				   "  - address: 127.0.0.1:8443\n"
				   "    upstream_port: 443\n"
				   "    protocol: TLS\n"
				   "    mode: Audit\n"
				   "resolver:\n"
				   "  lookup_family: V4_PREFERRED\n"
				   "admin:\n"
				   "  address: OFF\n"
				   "log:\n"
				   "  level: INFO\n";
	static const char *const want[] = {
		"test.yaml:7: listeners[0].mode: write audit: values are lower case now (\"Audit\")",
		"test.yaml:6: listeners[0].protocol: write tls: values are lower case now (\"TLS\")",
		"test.yaml:9: resolver.lookup_family: write v4_preferred: values are lower case now "
		"(\"V4_PREFERRED\")",
		"test.yaml:11: admin.address: write off: values are lower case now (\"OFF\")",
		"test.yaml:2: cpu_affinity: write auto: values are lower case now (\"Auto\")",
		"test.yaml:1: mode: write enforce: values are lower case now (\"ENFORCE\")",
		"test.yaml:13: log.level: write info: values are lower case now (\"INFO\")",
	};
	struct conf_error err = {0};
	struct conf *c = load_str(text, &err);
	unsigned n = 0;

	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->mode, CONF_ENFORCE);
	cr_assert_eq(c->cpu_affinity.mode, CONF_AFFINITY_AUTO);
	cr_assert_eq(c->listeners[0].protocol, CONF_PROTO_TLS);
	cr_assert_eq(c->listeners[0].mode, CONF_AUDIT);
	cr_assert_eq(c->resolver.family, CONF_V4_PREFERRED);
	cr_assert_null(c->admin_address);
	cr_assert_eq(c->log_level, CONF_LOG_INFO);
	/* Each old spelling once, wherever the loader meets it. */
	for (unsigned i = 0; i < c->n_warnings; i++)
		if (strstr(warning_str(c, i), "lower case"))
			n++;
	cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		bool found = false;
		for (unsigned j = 0; j < c->n_warnings && !found; j++)
			found = !strcmp(warning_str(c, j), want[i]);
		cr_expect(found, "no warning %s", want[i]);
	}
	/* What convert writes is the new spelling, with nothing to warn about. */
	char *dump = conf_dump_yaml_str(c, 0);
	cr_assert_not_null(dump);
	struct conf *d = load_str(dump, &err);
	cr_assert_not_null(d, "%s", err_str(&err));
	cr_assert_eq(d->n_warnings, 0, "%s", d->n_warnings ? warning_str(d, 0) : "");
	cr_assert(strstr(dump, "lookup_family: v4_preferred"), "%s", dump);
	conf_free(d);
	free(dump);
	conf_free(c);

	/* The new spelling loads without a word. */
	c = load_str("mode: audit\nresolver: {lookup_family: all}\nlog: {level: debug}\n", &err);
	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->n_warnings, 0);
	conf_free(c);
}

Test(spellings, empty_connect_ports_means_none)
{
	struct conf_error err = {0};
	struct conf *c = load_str("listeners:\n"
				  "  - address: 127.0.0.1:8443\n"
				  "    connect_ports: []\n"
				  "  - address: 127.0.0.1:9443\n"
				  "    connect_ports:\n",
				  &err);

	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->listeners[0].n_connect_ports, 0, "[] is no port");
	cr_assert_eq(c->listeners[1].n_connect_ports, 1, "no value keeps the default");
	cr_assert_eq(c->listeners[1].connect_ports[0], 443);
	char *dump = conf_dump_yaml_str(c, 0);
	cr_assert_not_null(dump);
	cr_assert(strstr(dump, "connect_ports: []"), "%s", dump);
	free(dump);
	conf_free(c);

	cr_assert_null(load_str("listeners:\n"
				"  - address: 127.0.0.1:8443\n"
				"    protocol: connect\n"
				"    connect_ports: []\n",
				&err));
	cr_assert_str_eq(
		err_str(&err),
		"test.yaml:4: listeners[0].connect_ports: no port, and protocol is connect: "
		"nothing could pass (list ports, or use protocol: tls)");
}

Test(spellings, addresses_are_ip_port_and_the_old_forms_warn)
{
	static const char text[] = "listeners:\n"
				   "  - address: 127.0.0.1\n"
				   "    port: 8443\n"
				   "  - address: \"::1\"\n"
				   "    port: 9443\n"
				   "  - address: \"[::1]:8443\"\n"
				   "resolver:\n"
				   "  forwarders:\n"
				   "    - 127.0.0.1@5353\n"
				   "    - 2001:db8::1@53\n"
				   "    - 10.0.0.1:53\n"
				   "    - 10.0.0.2\n";
	static const char *const want[] = {
		"test.yaml:3: listeners[0].port: write address: 127.0.0.1:8443 and leave port out: an "
		"address and its port are one value now",
		"test.yaml:5: listeners[1].port: write address: \"[::1]:9443\" and leave port out: an "
		"address and its port are one value now",
		"test.yaml:9: resolver.forwarders[0]: write 127.0.0.1:5353: addresses are IP:port "
		"everywhere now (\"127.0.0.1@5353\" is the old spelling)",
		"test.yaml:10: resolver.forwarders[1]: write [2001:db8::1]:53: addresses are IP:port "
		"everywhere now (\"2001:db8::1@53\" is the old spelling)",
	};
	struct conf_error err = {0};
	struct conf *c = load_str(text, &err);

	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->n_warnings, sizeof(want) / sizeof(want[0]));
	for (unsigned i = 0; i < c->n_warnings; i++)
		cr_expect_str_eq(warning_str(c, i), want[i]);
	cr_assert_str_eq(c->listeners[0].address, "127.0.0.1");
	cr_assert_eq(c->listeners[0].port, 8443);
	cr_assert_str_eq(c->listeners[2].address, "::1");
	cr_assert_eq(c->listeners[2].port, 8443);
	cr_assert_eq(c->listeners[2].sa.ss_family, AF_INET6);
	cr_assert_eq(sa_port(&c->listeners[2]), 8443);
	cr_assert_str_eq(c->resolver.forwarders[0], "127.0.0.1@5353");
	cr_assert_str_eq(c->resolver.forwarders[1], "2001:db8::1@53");
	cr_assert_str_eq(c->resolver.forwarders[2], "10.0.0.1@53");
	cr_assert_str_eq(c->resolver.forwarders[3], "10.0.0.2");
	cr_assert_eq(conf_validate(c, &err), -EINVAL, "no allow entry");
	cr_assert_str_eq(err.field, "allow");

	/* convert writes the new spellings. */
	char *dump = conf_dump_yaml_str(c, 0);
	cr_assert_not_null(dump);
	cr_assert(strstr(dump, "  - address: \"127.0.0.1:8443\"\n"), "%s", dump);
	cr_assert(strstr(dump, "  - address: \"[::1]:9443\"\n"), "%s", dump);
	cr_assert(strstr(dump, "    - \"[2001:db8::1]:53\"\n"), "%s", dump);
	cr_assert_null(strstr(dump, "@"), "%s", dump);
	cr_assert_null(strstr(dump, "    port:"), "%s", dump);
	free(dump);
	conf_free(c);

	/* Warnings stop at CONF_MAX_WARNINGS; the file still loads. */
	size_t cap = 16384, o = 0;
	char *buf = malloc(cap);
	o += (size_t)snprintf(buf + o, cap - o, "listeners:\n");
	for (int i = 0; i < CONF_MAX_LISTENERS; i++)
		o += (size_t)snprintf(buf + o, cap - o,
				      "  - {address: 127.0.0.1, port: %d, mode: AUDIT}\n",
				      1000 + i);
	c = load_str(buf, &err);
	free(buf);
	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(c->n_warnings, CONF_MAX_WARNINGS);
	conf_free(c);
}

/* ---- the reference table in conf/CONFIG.md is the one conf_settings[] gives ---- */

Test(docs, config_md_table_is_generated_from_the_settings_table)
{
	const char *src = getenv("SNIGATE_SRCDIR");
	static char md[1 << 17];
	char path[1024];
	size_t at, len;
	FILE *f;

	cr_assert(src, "SNIGATE_SRCDIR is not set (run through meson test)");
	snprintf(path, sizeof(path), "%s/conf/CONFIG.md", src);
	cr_assert(f = fopen(path, "r"), "%s", path);
	size_t n = fread(md, 1, sizeof(md) - 1, f);
	fclose(f);
	cr_assert_lt(n, sizeof(md) - 1, "CONFIG.md is larger than the test's buffer");
	md[n] = '\0';
	cr_assert(reference_find(md, &at, &len), "CONFIG.md has no \"%s\" table", REFERENCE_HEADER);
	char *want = reference_table();
	cr_assert_not_null(want);
	md[at + len] = '\0';
	cr_assert_str_eq(md + at, want,
			 "conf/CONFIG.md's table differs from conf_settings[]: run "
			 "ninja -C build config-reference, and commit the result");
	/* A row a setting, and every row of the table is there. */
	for (unsigned i = 0; i < conf_n_settings; i++) {
		char head[128];
		snprintf(head, sizeof(head), "\n| `%s` | ", conf_settings[i].path);
		cr_assert(conf_settings[i].hidden || strstr(md + at, head), "%s",
			  conf_settings[i].path);
	}
	free(want);
}

/* admin.takeover_socket: an absolute path that fits a sockaddr_un, named by line when not. */
Test(takeover, the_socket_path_is_checked)
{
	struct conf_error err = {0};
	struct conf *c = load_str("listeners: [{address: 127.0.0.1:9}]\nallow: [a.com]\n"
				  "admin:\n  takeover_socket: /run/snigate/takeover.sock\n",
				  &err);
	cr_assert_not_null(c, "%s", err_str(&err));
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	cr_assert_str_eq(c->takeover_socket, "/run/snigate/takeover.sock");
	conf_free(c);

	char text[512], longpath[120];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	const char *bad[] = {"takeover.sock", longpath};
	for (size_t i = 0; i < 2; i++) {
		snprintf(text, sizeof(text),
			 "listeners: [{address: 127.0.0.1:9}]\nallow: [a.com]\n"
			 "admin:\n  takeover_socket: %s\n",
			 bad[i]);
		memset(&err, 0, sizeof(err));
		c = load_str(text, &err);
		if (c && !conf_validate(c, &err))
			cr_assert_fail("%s loaded", bad[i]);
		cr_assert_eq(err.line, 4, "%s", err_str(&err));
		cr_assert_str_eq(err.field, "admin.takeover_socket");
		cr_assert(strstr(err.msg, "is not an absolute path of at most 107 bytes"), "%s",
			  err_str(&err));
		conf_free(c);
	}
}
