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
 * The single-valued settings come from conf_settings[] (conf/conf.h), in
 * its order, spelled by conf_setting_str(); only the lists (listeners,
 * allow, forwarders, hosts, upstream) are written by hand here, in the
 * section they belong to. test/conf/test_envoy.c round-trips a dump through
 * the loader for every row of the table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/dump.h"

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

static void listeners(FILE *f, const struct conf *c)
{
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
}

static void forwarders(FILE *f, const struct conf *c)
{
	fprintf(f, "  forwarders:%s\n", c->resolver.n_forwarders ? "" : " []");
	for (unsigned i = 0; i < c->resolver.n_forwarders; i++) {
		char fwd[INET6_ADDRSTRLEN + 8];
		fprintf(f, "    - ");
		str(f, conf_forwarder_str(c->resolver.forwarders[i], fwd, sizeof(fwd)));
		fputc('\n', f);
	}
}

/* resolver.hosts, then the upstream section. */
static void hosts_upstream(FILE *f, const struct conf *c)
{
	fprintf(f, "  hosts:%s", c->resolver.n_hosts ? "" : " {}");
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
}

/* What the dump writes when it leaves section sec, of length n: the lists around it. */
static void leave(FILE *f, const struct conf *c, const char *sec, size_t n)
{
	if (n == 0)
		listeners(f, c);
	else if (n == strlen("resolver") && !strncmp(sec, "resolver", n))
		hosts_upstream(f, c);
}

/*
 * The headers of the mappings from section from (length fn) to section to
 * (length tn), which are setting paths cut there: "admin" to
 * "admin.control" writes "  control:".
 */
static void enter(FILE *f, const struct conf *c, const char *from, size_t fn, const char *to,
		  size_t tn)
{
	size_t i = 0, depth = 0;
	bool same = true;

	while (i < tn) {
		size_t k = strcspn(to + i, ".");
		/* The whole components both share are open already. */
		same = same && i + k <= fn && !strncmp(from + i, to + i, k) &&
		       (i + k == fn || from[i + k] == '.');
		if (!same)
			fprintf(f, "%*s%.*s:\n", (int)(2 * depth), "", (int)k, to + i);
		i += k + 1;
		depth++;
	}
	if (tn == strlen("resolver") && !strncmp(to, "resolver", tn))
		forwarders(f, c);
}

int conf_dump_yaml(const struct conf *c, FILE *f, unsigned flags)
{
	const char *sec = ""; /* the section written last */
	size_t sn = 0;
	char buf[CONF_MAX_CPUS * 5];

	(void)flags;
	for (unsigned i = 0; i < conf_n_settings; i++) {
		const struct conf_setting *s = &conf_settings[i];
		const char *dot = strrchr(s->path, '.');
		size_t n = dot ? (size_t)(dot - s->path) : 0;
		size_t depth = 0;

		if (n != sn || strncmp(sec, s->path, n)) {
			leave(f, c, sec, sn);
			enter(f, c, sec, sn, s->path, n);
			sec = s->path;
			sn = n;
		}
		for (size_t j = 0; j < n; j++)
			depth += s->path[j] == '.';
		const char *v = conf_setting_str(s, c, buf, sizeof(buf));
		/* An unset string is not written; an address that is off is written so. */
		if (!v && s->kind == CONF_K_STRING)
			continue;
		fprintf(f, "%*s%s: ", n ? (int)(2 * (depth + 1)) : 0, "", dot ? dot + 1 : s->path);
		if (!v)
			fprintf(f, "off");
		else if (s->kind == CONF_K_STRING || s->kind == CONF_K_ADDRESS ||
			 s->kind == CONF_K_AFFINITY)
			str(f, v);
		else
			fprintf(f, "%s", v);
		fputc('\n', f);
	}
	leave(f, c, sec, sn);
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
