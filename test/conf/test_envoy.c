/* SPDX-License-Identifier: MIT */
/*
 * conf/envoy: the Envoy bootstrap of the pod snigate replaces must load
 * unchanged and decide exactly as the native config does; anything snigate
 * does not implement must be refused with the YAML path and the line, never
 * skipped. Also the dump: what `snigate convert` prints loads back to the
 * same configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf/conf.h"
#include "conf/dump.h"
#include "conf/envoy.h"
#include "sni/allowlist.h"

static const char *data_path(const char *name)
{
	static char buf[1024];
	const char *dir = getenv("CONF_TEST_DATA");

	cr_assert(dir, "CONF_TEST_DATA is not set (run through meson test)");
	snprintf(buf, sizeof(buf), "%s/envoy/%s", dir, name);
	return buf;
}

static const char *err_str(const struct conf_error *err)
{
	static char buf[768];
	return conf_error_str(err, buf, sizeof(buf));
}

static struct conf *load_envoy(const char *name)
{
	struct conf_error err = {0};
	struct conf *c = NULL;

	cr_assert_eq(conf_load_envoy_file(data_path(name), &c, &err), 0, "%s: %s", name,
		     err_str(&err));
	cr_assert_not_null(c);
	cr_assert_eq(conf_validate(c, &err), 0, "%s: %s", name, err_str(&err));
	return c;
}

static struct conf *load_native(void)
{
	const char *src = getenv("SNIGATE_SRCDIR");
	struct conf_error err = {0};
	struct conf *c = NULL;
	char path[1024];

	cr_assert(src, "SNIGATE_SRCDIR is not set (run through meson test)");
	snprintf(path, sizeof(path), "%s/conf/snigate.yaml", src);
	cr_assert_eq(conf_load_file(path, &c, &err), 0, "%s", err_str(&err));
	return c;
}

static struct allowlist *build(const struct conf *c)
{
	enum allowlist_err e;
	struct allowlist *al = allowlist_build((const char *const *)c->allow, c->n_allow, &e, NULL);

	cr_assert_not_null(al, "%s", allowlist_strerror(e));
	return al;
}

static bool match(const struct allowlist *al, const char *name)
{
	return allowlist_match(al, name, strlen(name));
}

/*
 * ---- the reference file ----
 *
 * data/envoy/reference.yaml is the bootstrap of the Envoy egress pod that
 * snigate replaces, byte for byte: one listener on 0.0.0.0:8443 with
 * tls_inspector, sni_dynamic_forward_proxy and tcp_proxy, eight
 * server_names, a dynamic forward proxy cluster with V4_ONLY lookups and a
 * 5 s connect timeout, and an admin on 0.0.0.0:9901. It must load as it is.
 */

Test(envoy_reference, loads_unchanged_and_decides_like_the_native_config)
{
	static const struct {
		const char *name;
		bool allowed;
	} table[] = {
		{"api.anthropic.com", true},
		{"API.Anthropic.COM", true},
		{"anthropic.com", false},
		{"api.github.com", true},
		{"github.com", true},
		{"www.github.com", false},
		{"codeload.github.com", true},
		{"evil-github.com", false},
		{"github.com.evil.net", false},
		{"objects.githubusercontent.com", true},
		{"raw.githubusercontent.com", true},
		{"x.raw.githubusercontent.com", false},
		{"githubusercontent.com", false},
		{"ghcr.io", true},
		{"registry.npmjs.org", true},
		{"registry.npmjs.org.", true},
		{"registry.npmjs.com", false},
		{"npmjs.org", false},
		{"example.com", false},
		{"localhost", false},
		{"", false},
	};
	struct conf *e = load_envoy("reference.yaml"), *n = load_native();
	struct allowlist *ae = build(e), *an = build(n);

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		cr_expect_eq(match(ae, table[i].name), table[i].allowed, "envoy: %s",
			     table[i].name);
		cr_expect_eq(match(an, table[i].name), table[i].allowed, "native: %s",
			     table[i].name);
	}
	cr_assert_eq(allowlist_count(ae), allowlist_count(an));

	/* The same gateway otherwise: port dialled, lookups, timeouts. */
	cr_assert_eq(e->n_listeners, 1);
	cr_assert_eq(e->listeners[0].port, n->listeners[0].port);
	cr_assert_eq(e->listeners[0].upstream_port, n->listeners[0].upstream_port);
	cr_assert_eq(e->listeners[0].upstream_port, 443);
	cr_assert_str_eq(e->listeners[0].address, "0.0.0.0");
	cr_assert_eq(e->listeners[0].line, 9);
	cr_assert_eq(e->listeners[0].protocol, CONF_PROTO_TLS, "no HTTP CONNECT: Envoy had none");
	cr_assert_eq(e->resolver.family, n->resolver.family);
	cr_assert_eq(e->resolver.family, CONF_V4_ONLY);
	cr_assert_eq(e->resolver.n_forwarders, 0, "no resolvers in the file: resolv.conf's");
	cr_assert_eq(e->timeouts.connect_ms, n->timeouts.connect_ms);
	cr_assert_eq(e->timeouts.connect_ms, 5000);
	cr_assert_eq(e->timeouts.dns_ms, n->timeouts.dns_ms);
	cr_assert_eq(e->timeouts.client_hello_ms, n->timeouts.client_hello_ms);
	cr_assert_eq(e->timeouts.idle_ms, n->timeouts.idle_ms);
	cr_assert_str_eq(e->admin_address, "0.0.0.0:9901");
	cr_assert_not(e->access_log, "the file configures no access log");
	/* Each allow entry remembers its line in the Envoy file. */
	cr_assert_str_eq(e->allow[0], "api.anthropic.com");
	cr_assert_eq(e->allow_lines[0], 18);
	cr_assert_str_eq(e->allow[7], "registry.npmjs.org");
	cr_assert_eq(e->allow_lines[7], 25);

	allowlist_free(ae);
	allowlist_free(an);
	conf_free(e);
	conf_free(n);
}

Test(envoy_reference, detected_by_shape)
{
	static const char native[] = "listeners: []\nadmin:\n  address: 127.0.0.1:9901\n";
	static const char envoy_admin[] =
		"admin:\n  address: { socket_address: { address: 0.0.0.0, port_value: 9901 } }\n";
	struct conf_error err = {0};
	enum conf_format used = CONF_FORMAT_AUTO;
	struct conf *c = NULL;

	cr_assert_not(conf_envoy_detect(native, strlen(native)));
	cr_assert(conf_envoy_detect(envoy_admin, strlen(envoy_admin)));
	cr_assert(conf_envoy_detect("node: {id: x}\n", 14));
	cr_assert_not(conf_envoy_detect("{{{", 3));
	cr_assert_not(conf_envoy_detect("", 0));

	cr_assert_eq(
		conf_load_file_as(data_path("reference.yaml"), CONF_FORMAT_AUTO, &c, &used, &err),
		0, "%s", err_str(&err));
	cr_assert_eq(used, CONF_FORMAT_ENVOY);
	conf_free(c);
	/* Forced native, an Envoy file is an unknown-key error, not a silent success. */
	cr_assert_eq(
		conf_load_file_as(data_path("reference.yaml"), CONF_FORMAT_NATIVE, &c, &used, &err),
		-EINVAL);
	cr_assert_eq(used, CONF_FORMAT_NATIVE);

	enum conf_format f;
	cr_assert_eq(conf_format_parse("envoy", &f), 0);
	cr_assert_eq(f, CONF_FORMAT_ENVOY);
	cr_assert_eq(conf_format_parse("native", &f), 0);
	cr_assert_eq(f, CONF_FORMAT_NATIVE);
	cr_assert_eq(conf_format_parse("yaml", &f), -EINVAL);
}

/* ---- everything the import maps ---- */

Test(envoy_full, every_mapped_setting)
{
	struct conf *c = load_envoy("full.yaml");
	struct allowlist *al = build(c);

	cr_assert_eq(c->n_listeners, 2);
	cr_assert_str_eq(c->listeners[0].address, "0.0.0.0");
	cr_assert_eq(c->listeners[0].port, 8443);
	cr_assert_eq(c->listeners[0].upstream_port, 443);
	cr_assert_str_eq(c->listeners[1].address, "::");
	cr_assert_eq(c->listeners[1].port, 443);
	cr_assert_eq(c->listeners[1].upstream_port, 8443, "portValue and port_value both read");
	/* Two chains on the second listener give the same names, once each. */
	cr_assert_eq(c->n_allow, 2);
	cr_assert(match(al, "api.github.com"));
	cr_assert(match(al, "objects.githubusercontent.com"));
	cr_assert(match(al, "a.b.githubusercontent.com"));
	cr_assert_not(match(al, "githubusercontent.com"));
	cr_assert_not(match(al, "github.com"));

	cr_assert_eq(c->resolver.family, CONF_ALL);
	cr_assert_eq(c->resolver.n_forwarders, 2);
	cr_assert_str_eq(c->resolver.forwarders[0], "10.43.0.10");
	cr_assert_str_eq(c->resolver.forwarders[1], "fd00::10@5353");
	cr_assert_eq(c->timeouts.dns_ms, 2500);
	cr_assert_eq(c->timeouts.connect_ms, 250);
	cr_assert_eq(c->timeouts.client_hello_ms, 3000, "3s and {seconds: 3} are the same");
	cr_assert_eq(c->timeouts.idle_ms, 600000);
	cr_assert_str_eq(c->admin_address, "[::1]:9902");
	cr_assert(c->access_log, "a stdout access logger turns the access log on");
	allowlist_free(al);
	conf_free(c);
}

Test(envoy_full, defaults_follow_envoy)
{
	/* No lookup family: Envoy's default, AUTO, not snigate's v4_only. */
	static const char text[] =
		"static_resources:\n"
		"  clusters:\n"
		"  - name: dfp\n"
		"    cluster_type:\n"
		"      name: envoy.clusters.dynamic_forward_proxy\n"
		"      typed_config:\n"
		"        \"@type\": type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig\n"
		"        dns_cache_config: { name: c }\n";
	struct conf_error err = {0};
	struct conf *c = NULL;

	cr_assert_eq(conf_load_envoy_buf(text, strlen(text), "t.yaml", &c, &err), 0, "%s",
		     err_str(&err));
	cr_assert_eq(c->resolver.family, CONF_AUTO);
	cr_assert_eq(c->timeouts.connect_ms, 5000);
	cr_assert_eq(c->n_listeners, 0);
	conf_free(c);
}

/* ---- refused, with the path and the line ---- */

Test(envoy_refused, unsupported_things_name_path_and_line)
{
	static const struct {
		const char *file;
		unsigned line;
		const char *field;
		const char *msg; /* a part of the message */
	} table[] = {
		{"bad_filter.yaml", 36,
		 "static_resources.listeners[0].filter_chains[0].filters[1].typed_config.@type",
		 "unsupported filter "
		 "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"},
		{"bad_cluster_type.yaml", 43, "static_resources.clusters[0].cluster_type.name",
		 "unsupported cluster type \"envoy.clusters.aggregate\""},
		{"bad_cluster_static.yaml", 41, "static_resources.clusters[0].type",
		 "unsupported cluster type \"STRICT_DNS\""},
		{"bad_type_url.yaml", 36,
		 "static_resources.listeners[0].filter_chains[0].filters[1].typed_config.@type",
		 "unsupported filter "
		 "type.googleapis.com/envoy.config.filter.network.tcp_proxy.v2.TcpProxy (snigate "
		 "reads type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy)"},
		{"bad_transport_socket.yaml", 26,
		 "static_resources.listeners[0].filter_chains[0].transport_socket",
		 "not implemented by snigate in a filter chain"},
		{"bad_default_chain.yaml", 15, "static_resources.listeners[0].default_filter_chain",
		 "not implemented by snigate in a listener"},
		{"bad_cache_mismatch.yaml", 32,
		 "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.dns_cache_"
		 "config",
		 "snigate has one resolver"},
		{"bad_tcp_cluster.yaml", 38,
		 "static_resources.listeners[0].filter_chains[0].filters[1].typed_config.cluster",
		 "no cluster named \"somewhere_else\""},
		{"bad_no_inspector.yaml", 9, "static_resources.listeners[0]",
		 "no tls_inspector listener filter"},
		{"bad_no_server_names.yaml", 16, "static_resources.listeners[0].filter_chains[0]",
		 "no filter_chain_match"},
		{"bad_server_name.yaml", 24,
		 "static_resources.listeners[0].filter_chains[0].filter_chain_match.server_names[6]",
		 "\"*.*.ghcr.io\" is not a valid name"},
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct conf_error err = {0};
		struct conf *c = (struct conf *)1;
		char want_file[1024];
		int rc = conf_load_envoy_file(data_path(table[i].file), &c, &err);

		snprintf(want_file, sizeof(want_file), "%s", data_path(table[i].file));
		cr_expect_eq(rc, -EINVAL, "%s: rc %d", table[i].file, rc);
		cr_expect_null(c, "%s", table[i].file);
		cr_expect_str_eq(err.file, want_file);
		cr_expect_eq(err.line, table[i].line, "%s: %s", table[i].file, err_str(&err));
		cr_expect_str_eq(err.field, table[i].field, "%s: %s", table[i].file, err_str(&err));
		cr_expect(strstr(err.msg, table[i].msg), "%s: %s", table[i].file, err_str(&err));
	}
}

/* Small documents, each refused at one key: the options that would change behaviour. */
Test(envoy_refused, behaviour_changing_options)
{
#define LISTENER_HEAD         \
	"static_resources:\n" \
	"  listeners:\n"      \
	"  - address: { socket_address: { address: 127.0.0.1, port_value: 8443 } }\n"
	static const struct {
		const char *text;
		unsigned line;
		const char *field;
		const char *msg;
	} table[] = {
		{LISTENER_HEAD "    continue_on_listener_filters_timeout: true\n", 4,
		 "static_resources.listeners[0].continue_on_listener_filters_timeout",
		 "true is not supported"},
		{LISTENER_HEAD "    listener_filters_timeout: 0s\n", 4,
		 "static_resources.listeners[0].listener_filters_timeout", "0s (no timeout)"},
		{LISTENER_HEAD "    socket_options: []\n", 4,
		 "static_resources.listeners[0].socket_options", "not implemented by snigate"},
		{"static_resources:\n  secrets: []\n", 2, "static_resources.secrets",
		 "not implemented by snigate in static_resources"},
		{"dynamic_resources: {}\n", 1, "dynamic_resources", "not implemented by snigate"},
		{"admin:\n  address: { pipe: { path: /tmp/a } }\n", 2, "admin.address.pipe",
		 "not implemented"},
		{"admin:\n  address: { socket_address: { address: admin.local, port_value: 1 } }\n",
		 2, "admin.address.socket_address.address", "not an IPv4 or IPv6 address"},
		{"admin:\n  address: { socket_address: { address: 1.2.3.4, port_value: 1, "
		 "protocol: UDP } }\n",
		 2, "admin.address.socket_address.protocol", "TCP only"},
		{"node: {}\nnode: {}\n", 2, "node", "duplicate key (first set on line 1)"},
		{"admin:\n  address: { socket_address: { address: \"127.0.0.1\\0x\", port_value: 1 } }\n",
		 2, "admin.address.socket_address.address", "found a value with a NUL byte"},
		{"static_resources: {}\n---\nnode: {}\n", 2, "", "a second YAML document"},
		{"static_resources: [\n", 2, "", "YAML syntax error"},
		{"", 0, "", "empty"},
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct conf_error err = {0};
		struct conf *c = NULL;
		int rc = conf_load_envoy_buf(table[i].text, strlen(table[i].text), "t.yaml", &c,
					     &err);
		cr_expect_eq(rc, -EINVAL, "case %zu: rc %d", i, rc);
		cr_expect_eq(err.line, table[i].line, "case %zu: %s", i, err_str(&err));
		cr_expect_str_eq(err.field, table[i].field, "case %zu: %s", i, err_str(&err));
		cr_expect(strstr(err.msg, table[i].msg), "case %zu: %s", i, err_str(&err));
		conf_free(c);
	}
}

/* An alias-built explosion is stopped, not walked for ever. */
Test(envoy_refused, alias_bomb)
{
	char text[4096];
	size_t o = 0;

	o += (size_t)snprintf(text + o, sizeof(text) - o, "!ignore a0: &a0 {name: x}\n");
	for (int i = 1; i < 12; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
				      "!ignore a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i,
				      i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	o += (size_t)snprintf(text + o, sizeof(text) - o, "static_resources:\n  clusters: *a11\n");
	struct conf_error err = {0};
	struct conf *c = NULL;
	int rc = conf_load_envoy_buf(text, o, "t.yaml", &c, &err);
	/* Entries are all the same list, not clusters: refused early either way. */
	cr_assert_eq(rc, -EINVAL, "%s", err_str(&err));
	conf_free(c);
}

/* ---- convert: the dump loads back to the same configuration ---- */

/* Row s of c as conf_setting_write() spells it; malloc'd. */
static char *row_text(const struct conf_setting *s, const struct conf *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	cr_assert_eq(conf_setting_write(s, c, f), 0);
	cr_assert_eq(fclose(f), 0);
	return buf;
}

static bool is_scalar(enum conf_kind k)
{
	return k != CONF_K_STRING && k != CONF_K_ADDRESS && k != CONF_K_AFFINITY &&
	       k < CONF_K_LISTENERS;
}

static void round_trip(struct conf *a)
{
	struct conf_error err = {0};
	struct conf *b = NULL;
	char *text = conf_dump_yaml_str(a, 0);

	cr_assert_not_null(text);
	cr_assert_eq(conf_load_buf(text, strlen(text), "dump.yaml", &b, &err), 0, "%s\n%s",
		     err_str(&err), text);
	cr_assert_eq(conf_validate(b, &err), 0, "%s", err_str(&err));

	/*
	 * Every row of the table the loader and the dump use, lists included;
	 * the "listeners" row spells every field of each listener.
	 */
	for (unsigned i = 0; i < conf_n_settings; i++) {
		const struct conf_setting *s = &conf_settings[i];
		if (conf_setting_is_item(s))
			continue;
		char *x = row_text(s, a), *y = row_text(s, b);
		cr_assert_str_eq(y, x, "%s: %s, read back as %s", s->path, x, y);
		free(x);
		free(y);
		if (is_scalar(s->kind))
			cr_assert_eq(memcmp((const char *)a + s->offset,
					    (const char *)b + s->offset, s->size),
				     0, "%s differs after the round trip", s->path);
	}
	cr_assert_eq(b->cpu_affinity.n_cpus, a->cpu_affinity.n_cpus);
	/* What validation derives from the listeners. */
	for (unsigned i = 0; i < a->n_listeners; i++) {
		cr_assert_eq(b->listeners[i].sa_len, a->listeners[i].sa_len);
		cr_assert_eq(
			memcmp(&b->listeners[i].sa, &a->listeners[i].sa, a->listeners[i].sa_len),
			0);
	}

	/* And the dump of the reloaded one is the same text. */
	char *again = conf_dump_yaml_str(b, 0);
	cr_assert_not_null(again);
	cr_assert_str_eq(again, text);
	free(again);
	free(text);
	conf_free(b);
}

Test(envoy_convert, reference_round_trips)
{
	struct conf *c = load_envoy("reference.yaml");
	round_trip(c);
	conf_free(c);
}

Test(envoy_convert, full_round_trips)
{
	struct conf *c = load_envoy("full.yaml");
	round_trip(c);
	conf_free(c);
}

Test(envoy_convert, native_round_trips_with_odd_values)
{
	static const char text[] =
		"listeners:\n"
		"  - address: 127.0.0.1:8443\n"
		"    protocol: connect\n"
		"    connect_ports: [443, 8443]\n"
		"    require_sni_match: false\n"
		"allow: [a.example, \"*.b.example\"]\n"
		"resolver:\n"
		"  prefetch: false\n"
		"  tcp: true\n"
		"  forwarders: [\"[fd00::53]:5353\", 10.0.0.53, \"10.0.0.54:53\"]\n"
		"  hosts:\n"
		"    a.example: [192.0.2.1, \"2001:db8::1\"]\n"
		"upstream:\n"
		"  deny: [192.0.2.0/24]\n"
		"  allow: [192.0.2.1]\n"
		"mode: audit\n"
		"admin:\n"
		"  address: off\n"
		"drain: {delay: 1500ms, timeout: 0ms}\n"
		"log: {access_sample: 0.1, access_file: /tmp/x.log}\n";
	struct conf_error err = {0};
	struct conf *c = NULL;

	cr_assert_eq(conf_load_buf(text, strlen(text), "odd.yaml", &c, &err), 0, "%s",
		     err_str(&err));

	/* Values that need the smaller units and quoting. */
	c->timeouts.connect_ms = 1500;
	c->timeouts.idle_ms = 90 * 60 * 1000;
	c->resolver.max_ttl_s = 0;
	c->relay.pipe_size = 4096 + 512;
	free(c->resolver.resolv_conf);
	c->resolver.resolv_conf = strdup("/etc/odd \"dir\"\\resolv: #conf");
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	round_trip(c);
	conf_free(c);
}

/*
 * Every row of conf_settings[] set away from its default, dumped and loaded
 * back: a setting the dump leaves out, or the loader does not read, comes
 * back as its default and fails round_trip().
 */
Test(envoy_convert, every_setting_round_trips)
{
	static const char text[] =
		"threads: 3\n"
		"cpu_affinity: auto\n"
		"mode: audit\n"
		"ech: deny\n"
		"listeners: [{name: main, address: 127.0.0.1:8443, upstream_port: 8443, "
		"protocol: connect, "
		"connect_ports: [443, 8443], require_sni_match: false, mode: enforce, "
		"proxy_protocol: {trusted: [10.0.0.0/8, \"fd00::/8\"]}, proxy_auth_file: AUTH}]\n"
		"allow: [a.example]\n"
		"policies:\n"
		"  - name: review\n"
		"    match: {listeners: [main], sources: [10.42.1.0/24, \"fd00::/8\"], "
		"proxy_users: [ci]}\n"
		"    mode: audit\n"
		"    ech: allow\n"
		"    allow:\n"
		"      - api.github.com\n"
		"      - {name: \"*.git.example.com\", ports: [443, 22], owner: platform, "
		"expires: 2027-03-01T00:00:00Z, upstream_allow: [10.20.0.0/16, \"fd00::/8\"]}\n"
		"resolver:\n"
		"  forwarders: [127.0.0.1:5353]\n"
		"  hosts: {a.example: [192.0.2.7]}\n"
		"  resolv_conf: /etc/odd.conf\n"
		"  lookup_family: all\n"
		"  cache_size: 77\n"
		"  max_ttl: 10m\n"
		"  negative_ttl: 7s\n"
		"  min_ttl: 3s\n"
		"  error_ttl: 9s\n"
		"  stale_ttl: 1h\n"
		"  prefetch: false\n"
		"  tcp: true\n"
		"timeouts: {client_hello: 11s, connect: 1500ms, dns: 3s, idle: 90m, "
		"request_head: 12s}\n"
		"limits: {max_client_hello: 2048, max_connections: 1000, "
		"max_connections_per_thread: 100, max_pending_hellos: 50, "
		"max_per_source_ip: 10}\n"
		"relay: {pipe_size: 8KiB, pipe_max_size: 2MiB, pipe_memory_max: 1GiB}\n"
		"upstream: {deny: [198.51.100.0/24], allow: [127.0.0.1]}\n"
		"admin:\n"
		"  address: 127.0.0.1:9911\n"
		"  control: {address: 127.0.0.1:9912, token_file: TOKEN}\n"
		"  takeover_socket: /run/snigate/takeover.sock\n"
		"drain: {delay: 2s, timeout: 45s, quiet: 1s}\n"
		"log: {level: debug, access: false, access_file: /tmp/a.log, "
		"access_sample: 0.25, access_deny_rate: 5}\n";
	char tok[] = "/tmp/snigate-test-token-XXXXXX", auth[] = "/tmp/snigate-test-auth-XXXXXX";
	char buf[sizeof(text) + 128];
	struct conf_error err = {0};
	struct conf *c = NULL, *d = conf_new_default();
	int fd = mkstemp(tok), fa = mkstemp(auth);
	/* sha256("secret") */
	static const char cred[] =
		"u:{SHA256}2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b\n";

	cr_assert(fd >= 0 && fa >= 0 && d);
	cr_assert_eq(write(fd, "0123456789abcdef0123\n", 21), 21);
	cr_assert_eq(write(fa, cred, strlen(cred)), (ssize_t)strlen(cred));
	close(fd);
	close(fa);
	const char *at = strstr(text, "TOKEN"), *aat = strstr(text, "AUTH");
	snprintf(buf, sizeof(buf), "%.*s%s%.*s%s%s", (int)(aat - text), text, auth,
		 (int)(at - aat - 4), aat + 4, tok, at + 5);
	cr_assert_eq(conf_load_buf(buf, strlen(buf), "every.yaml", &c, &err), 0, "%s",
		     err_str(&err));
	cr_assert_eq(conf_validate(c, &err), 0, "%s", err_str(&err));
	/* A row added to the table must be added to the text above. */
	cr_assert_eq(conf_add_listener(d, "127.0.0.1:1", &err), 0);
	for (unsigned i = 0; i < conf_n_settings; i++) {
		const struct conf_setting *s = &conf_settings[i];
		static char va[CONF_MAX_CPUS * 5], vd[CONF_MAX_CPUS * 5];
		if (s->hidden)
			continue;
		if (!conf_setting_is_item(s)) {
			char *x = row_text(s, c), *y = row_text(s, d);
			cr_assert(strcmp(x, y) || s->kind == CONF_K_LISTENERS,
				  "%s is at its default (%s) in the test text", s->path, y);
			free(x);
			free(y);
			continue;
		}
		/* A listener's field, against one that has every default. */
		const struct conf_listener *l = &c->listeners[0], *dl = &d->listeners[0];
		if (s->kind == CONF_K_PROXY_PROTOCOL) {
			cr_assert(l->n_proxy_trusted == 2, "%s is not in the test text", s->path);
			continue;
		}
		if (s->kind == CONF_K_PORTS) {
			cr_assert(l->n_connect_ports != dl->n_connect_ports ||
					  memcmp(l->connect_ports, dl->connect_ports,
						 sizeof(l->connect_ports)),
				  "%s is at its default in the test text", s->path);
			continue;
		}
		const char *x = conf_setting_str(s, l, va, sizeof(va));
		const char *y = conf_setting_str(s, dl, vd, sizeof(vd));
		cr_assert(x && (!y || strcmp(x, y)), "%s is at its default (%s) in the test text",
			  s->path, y ? y : "unset");
	}
	round_trip(c);
	unlink(tok);
	unlink(auth);
	conf_free(c);
	conf_free(d);
}
