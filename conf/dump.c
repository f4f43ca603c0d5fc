/* SPDX-License-Identifier: MIT */
/*
 * dump: struct conf back to snigate's YAML.
 *
 * Every setting is written, defaults included, so the output documents the
 * configuration in force and does not depend on the defaults of the version
 * that reads it back. Values use the largest unit that is exact ("5s", not
 * "5000ms"), which the loader reads back to the same number. Strings are
 * double-quoted with YAML escapes, so no value can change the document's
 * structure.
 *
 * When struct conf gains a field, it must be added here as well:
 * test/conf/test_envoy.c round-trips a dump through the loader.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/dump.h"

#define SEC_MS	1000ULL
#define MIN_MS	(60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)

/* A YAML double-quoted scalar: printable ASCII as is, the rest escaped. */
static void str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* For fields that hold credentials; none does yet. */
static void __attribute__((unused)) secret(FILE *f, const char *s, unsigned flags)
{
	str(f, flags & CONF_DUMP_REDACT ? "<redacted>" : s);
}

static void duration_ms(FILE *f, unsigned long long ms)
{
	static const struct {
		unsigned long long div;
		const char *suffix;
	} u[] = {{HOUR_MS, "h"}, {MIN_MS, "m"}, {SEC_MS, "s"}, {1, "ms"}};

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (ms && ms % u[i].div == 0) {
			fprintf(f, "%llu%s", ms / u[i].div, u[i].suffix);
			return;
		}
	}
	fprintf(f, "0ms");
}

/* Whole seconds: "0s" rather than "0ms", so the TTL fields read it back. */
static void duration_s(FILE *f, unsigned long long s)
{
	if (!s)
		fprintf(f, "0s");
	else
		duration_ms(f, s * SEC_MS);
}

static void size(FILE *f, unsigned long long v)
{
	static const struct {
		unsigned long long div;
		const char *suffix;
	} u[] = {{1ULL << 30, "GiB"}, {1ULL << 20, "MiB"}, {1ULL << 10, "KiB"}};

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (v && v % u[i].div == 0) {
			fprintf(f, "%llu%s", v / u[i].div, u[i].suffix);
			return;
		}
	}
	fprintf(f, "%llu", v);
}

/* head, then the list as "    - "..."" lines, or " []" on the head's line. */
static void strings(FILE *f, const char *head, char *const *v, unsigned n)
{
	fprintf(f, "%s%s\n", head, n ? "" : " []");
	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "    - ");
		str(f, v[i]);
		fputc('\n', f);
	}
}

int conf_dump_yaml(const struct conf *c, FILE *f, unsigned flags)
{
	(void)flags;
	char cpus[CONF_MAX_CPUS * 5];
	fprintf(f, "threads: %u\ncpu_affinity: \"%s\"\nmode: %s\n", c->threads,
		conf_affinity_str(c, cpus, sizeof(cpus)), conf_mode_str(c->mode));

	fprintf(f, "listeners:%s\n", c->n_listeners ? "" : " []");
	for (unsigned i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		char hp[INET6_ADDRSTRLEN + 8];
		snprintf(hp, sizeof(hp), strchr(l->address, ':') ? "[%s]:%u" : "%s:%u", l->address,
			 l->port);
		fprintf(f, "  - address: ");
		str(f, hp);
		fprintf(f, "\n    upstream_port: %u\n", l->upstream_port);
		fprintf(f, "    protocol: %s\n    connect_ports: [",
			conf_protocol_str(l->protocol));
		for (unsigned j = 0; j < l->n_connect_ports; j++)
			fprintf(f, "%s%u", j ? ", " : "", l->connect_ports[j]);
		fprintf(f, "]\n    require_sni_match: %s\n",
			l->require_sni_match ? "true" : "false");
		/* CONF_MODE_DEFAULT has no spelling: it is the absence of the key. */
		if (l->mode != CONF_MODE_DEFAULT)
			fprintf(f, "    mode: %s\n", conf_mode_str(l->mode));
		if (l->proxy_auth_file) {
			fprintf(f, "    proxy_auth_file: ");
			str(f, l->proxy_auth_file);
			fputc('\n', f);
		}
	}

	fprintf(f, "allow:%s\n", c->n_allow ? "" : " []");
	for (unsigned i = 0; i < c->n_allow; i++) {
		fprintf(f, "  - ");
		str(f, c->allow[i]);
		fputc('\n', f);
	}

	fprintf(f, "resolver:\n  forwarders:%s\n", c->resolver.n_forwarders ? "" : " []");
	for (unsigned i = 0; i < c->resolver.n_forwarders; i++) {
		char fwd[INET6_ADDRSTRLEN + 8];
		fprintf(f, "    - ");
		str(f, conf_forwarder_str(c->resolver.forwarders[i], fwd, sizeof(fwd)));
		fputc('\n', f);
	}
	fprintf(f, "  resolv_conf: ");
	str(f, c->resolver.resolv_conf);
	fprintf(f, "\n  lookup_family: %s\n  cache_size: %u\n  max_ttl: ",
		conf_family_str(c->resolver.family), c->resolver.cache_size);
	duration_s(f, c->resolver.max_ttl_s);
	fprintf(f, "\n  negative_ttl: ");
	duration_s(f, c->resolver.negative_ttl_s);
	fprintf(f, "\n  min_ttl: ");
	duration_s(f, c->resolver.min_ttl_s);
	fprintf(f, "\n  error_ttl: ");
	duration_s(f, c->resolver.error_ttl_s);
	fprintf(f, "\n  stale_ttl: ");
	duration_s(f, c->resolver.stale_ttl_s);
	fprintf(f, "\n  prefetch: %s\n  tcp: %s\n  hosts:%s",
		c->resolver.prefetch ? "true" : "false", c->resolver.tcp ? "true" : "false",
		c->resolver.n_hosts ? "" : " {}");
	for (unsigned i = 0; i < c->resolver.n_hosts; i++) {
		const struct conf_host *h = &c->resolver.hosts[i];
		fprintf(f, "\n    ");
		str(f, h->name);
		fprintf(f, ": [");
		for (unsigned j = 0; j < h->n; j++) {
			char ip[INET6_ADDRSTRLEN];
			inet_ntop(h->a[j].family, h->a[j].addr, ip, sizeof(ip));
			fprintf(f, "%s", j ? ", " : "");
			str(f, ip);
		}
		fputc(']', f);
	}
	strings(f, "\nupstream:\n  deny:", c->upstream.deny, c->upstream.n_deny);
	strings(f, "  allow:", c->upstream.allow, c->upstream.n_allow);

	fprintf(f, "timeouts:\n  client_hello: ");
	duration_ms(f, c->timeouts.client_hello_ms);
	fprintf(f, "\n  connect: ");
	duration_ms(f, c->timeouts.connect_ms);
	fprintf(f, "\n  dns: ");
	duration_ms(f, c->timeouts.dns_ms);
	fprintf(f, "\n  idle: ");
	duration_ms(f, c->timeouts.idle_ms);
	fprintf(f, "\n  request_head: ");
	duration_ms(f, c->timeouts.request_head_ms);

	fprintf(f,
		"\nlimits:\n  max_client_hello: %u\n  max_connections: %u\n"
		"  max_connections_per_thread: %u\n  max_pending_hellos: %u\n"
		"  max_per_source_ip: %u\n",
		c->limits.max_client_hello, c->limits.max_connections,
		c->limits.max_connections_per_thread, c->limits.max_pending_hellos,
		c->limits.max_per_source_ip);

	fprintf(f, "relay:\n  pipe_size: ");
	size(f, c->relay.pipe_size);
	fprintf(f, "\n  pipe_max_size: ");
	size(f, c->relay.pipe_max_size);
	fprintf(f, "\n  pipe_memory_max: ");
	size(f, c->relay.pipe_memory_max);
	fputc('\n', f);

	fprintf(f, "admin:\n  address: ");
	if (c->admin_address)
		str(f, c->admin_address);
	else
		fprintf(f, "off");
	fprintf(f, "\n  control:\n    address: ");
	if (c->control.address)
		str(f, c->control.address);
	else
		fprintf(f, "off");
	fputc('\n', f);
	/* The path only: the token itself never leaves the process. */
	if (c->control.token_file) {
		fprintf(f, "    token_file: ");
		str(f, c->control.token_file);
		fputc('\n', f);
	}
	fprintf(f, "drain:\n  delay: ");
	duration_ms(f, c->drain.delay_ms);
	fprintf(f, "\n  timeout: ");
	duration_ms(f, c->drain.timeout_ms);
	fputc('\n', f);

	fprintf(f, "log:\n  level: %s\n  access: %s\n", conf_log_level_str(c->log_level),
		c->access_log ? "true" : "false");
	if (c->access_log_file) {
		fprintf(f, "  access_file: ");
		str(f, c->access_log_file);
		fputc('\n', f);
	}
	/* %.17g: the double strtod() reads back is the same one. */
	fprintf(f, "  access_sample: %.17g\n  access_deny_rate: %u\n", c->access_log_sample,
		c->access_log_deny_rate);
	return ferror(f) ? -EIO : 0;
}

char *conf_dump_yaml_str(const struct conf *c, unsigned flags)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	int rc = conf_dump_yaml(c, f, flags);
	if (fclose(f) || rc) {
		free(buf);
		return NULL;
	}
	return buf;
}
