/* SPDX-License-Identifier: MIT */
/*
 * dump: struct conf back to snigate's YAML, and the reference table of the
 * docs, both from conf_settings[] (conf/conf.h).
 *
 * Every setting is written, defaults included, so the output documents the
 * configuration in force and does not depend on the defaults of the version
 * that reads it back. Rows are written in table order, each by its kind;
 * a row added to the table is dumped with no change here. Values use the
 * largest unit that is exact ("5s", not "5000ms"), which the loader reads
 * back to the same number. Strings are double-quoted with YAML escapes, so
 * no value can change the document's structure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static const void *at(const void *base, size_t off)
{
	return (const char *)base + off;
}

static unsigned count(const struct conf_setting *s, const void *base)
{
	unsigned n;

	memcpy(&n, at(base, s->n_offset), sizeof(n));
	return n;
}

static void ports(FILE *f, const struct conf_setting *s, const struct conf_listener *l);

static char vbuf[CONF_MAX_CPUS * 5]; /* the longest value: a CPU list */

/*
 * Whether a single-valued row is written: not an unset string, nor a
 * listener mode that follows the top-level one. An address that is off is
 * written so.
 */
static bool is_written(const struct conf_setting *s, const void *base)
{
	if (s->kind == CONF_K_PROXY_PROTOCOL)
		return count(s, base) > 0;
	return s->kind == CONF_K_ADDRESS || s->kind == CONF_K_PORTS ||
	       conf_setting_str(s, base, vbuf, sizeof(vbuf));
}

/* A single-valued row's value, or "null" when it is not written. */
static void scalar(FILE *f, const struct conf_setting *s, const void *base)
{
	const char *v = conf_setting_str(s, base, vbuf, sizeof(vbuf));

	if (!v)
		fputs(s->kind == CONF_K_ADDRESS ? "off" : "null", f);
	else if (s->kind == CONF_K_STRING || s->kind == CONF_K_ADDRESS ||
		 s->kind == CONF_K_AFFINITY || s->kind == CONF_K_LISTEN)
		str(f, v);
	else
		fputs(v, f);
}

/* A listener's field: connect_ports as a flow list, the rest as scalars. */
static void item(FILE *f, const struct conf_setting *s, const struct conf_listener *l)
{
	if (s->kind == CONF_K_PORTS) {
		ports(f, s, l);
	} else if (s->kind == CONF_K_PROXY_PROTOCOL) {
		char *const *v = *(char *const *const *)at(l, s->offset);
		fputs("{trusted: [", f);
		for (unsigned j = 0; j < count(s, l); j++) {
			fputs(j ? ", " : "", f);
			str(f, v[j]);
		}
		fputs("]}", f);
	} else {
		scalar(f, s, l);
	}
}

/* connect_ports as a flow list: "[443, 8443]". */
static void ports(FILE *f, const struct conf_setting *s, const struct conf_listener *l)
{
	const uint16_t *p = at(l, s->offset);

	fputc('[', f);
	for (unsigned j = 0; j < count(s, l); j++)
		fprintf(f, "%s%u", j ? ", " : "", p[j]);
	fputc(']', f);
}

/* Entry i of a list of texts, as the file writes it. */
static const char *text_at(const struct conf_setting *s, const struct conf *c, unsigned i,
			   char *buf, size_t len)
{
	char *const *v = *(char *const *const *)at(c, s->offset);

	return s->kind == CONF_K_FORWARDERS ? conf_forwarder_str(v[i], buf, len) : v[i];
}

static void host(FILE *f, const struct conf_host *h)
{
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

/* A flow list of quoted strings: ["a", "b"]. */
static void flow_strings(FILE *f, char *const *v, unsigned n)
{
	fputc('[', f);
	for (unsigned i = 0; i < n; i++) {
		fputs(i ? ", " : "", f);
		str(f, v[i]);
	}
	fputc(']', f);
}

/* A policy's match, in flow style: {listeners: [...], sources: [...]}; {} for any. */
static void policy_match(FILE *f, const struct conf_policy *p)
{
	const char *sep = "";

	fputc('{', f);
	if (p->n_listeners) {
		fputs("listeners: ", f);
		flow_strings(f, p->listeners, p->n_listeners);
		sep = ", ";
	}
	if (p->n_sources) {
		fprintf(f, "%ssources: ", sep);
		flow_strings(f, p->sources, p->n_sources);
		sep = ", ";
	}
	if (p->n_users) {
		fprintf(f, "%sproxy_users: ", sep);
		flow_strings(f, p->users, p->n_users);
		sep = ", ";
	}
	/* The file, not what it held: a reload of the dump reads it again. */
	if (p->sources_file) {
		fprintf(f, "%ssources_file: ", sep);
		str(f, p->sources_file);
	}
	fputc('}', f);
}

/* One allow entry of a policy: a quoted name, or a flow mapping when it says more. */
static void policy_entry(FILE *f, const struct conf_allow *e)
{
	if (!e->n_ports && !e->owner && !e->expires && !e->n_upstream_allow) {
		str(f, e->name);
		return;
	}
	fputs("{name: ", f);
	str(f, e->name);
	if (e->n_ports) {
		fputs(", ports: [", f);
		for (unsigned j = 0; j < e->n_ports; j++)
			fprintf(f, "%s%u", j ? ", " : "", e->ports[j]);
		fputc(']', f);
	}
	if (e->owner) {
		fputs(", owner: ", f);
		str(f, e->owner);
	}
	if (e->n_upstream_allow) {
		fputs(", upstream_allow: ", f);
		flow_strings(f, e->upstream_allow, e->n_upstream_allow);
	}
	if (e->expires) {
		char t[32];
		time_t tt = (time_t)e->expires;
		struct tm tm;
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
		fprintf(f, ", expires: \"%s\"", t);
	}
	fputc('}', f);
}

/* Policy p, block style at indent ("- name: ..." and its keys below). */
static void policy_block(FILE *f, const struct conf_policy *p, int indent)
{
	fprintf(f, "%*s- name: ", indent, "");
	str(f, p->name);
	fputc('\n', f);
	if (p->mode)
		fprintf(f, "%*s  mode: %s\n", indent, "", conf_mode_str(p->mode));
	if (p->ech)
		fprintf(f, "%*s  ech: %s\n", indent, "",
			p->ech == CONF_ECH_DENY ? "deny" : "allow");
	fprintf(f, "%*s  match: ", indent, "");
	policy_match(f, p);
	fprintf(f, "\n%*s  allow:%s\n", indent, "", p->n_allow ? "" : " []");
	for (unsigned k = 0; k < p->n_allow; k++) {
		fprintf(f, "%*s    - ", indent, "");
		policy_entry(f, &p->allow[k]);
		fputc('\n', f);
	}
}

/* Policy p in flow style. */
static void policy_flow(FILE *f, const struct conf_policy *p)
{
	fputs("{name: ", f);
	str(f, p->name);
	if (p->mode)
		fprintf(f, ", mode: %s", conf_mode_str(p->mode));
	if (p->ech)
		fprintf(f, ", ech: %s", p->ech == CONF_ECH_DENY ? "deny" : "allow");
	fputs(", match: ", f);
	policy_match(f, p);
	fputs(", allow: [", f);
	for (unsigned k = 0; k < p->n_allow; k++) {
		fputs(k ? ", " : "", f);
		policy_entry(f, &p->allow[k]);
	}
	fputs("]}", f);
}

/* The rows of a listener's fields, in table order. */
#define FOR_ITEMS(s)                                                                            \
	for (const struct conf_setting *s = conf_settings; s < conf_settings + conf_n_settings; \
	     s++)                                                                               \
		if (!conf_setting_is_item(s) || s->hidden) {                                    \
		} else

static const char *key_of(const struct conf_setting *s)
{
	const char *dot = strrchr(s->path, '.');

	return dot ? dot + 1 : s->path;
}

/* ------------------------------------------------------------------------ */
/* Flow style, one line a row                                               */

int conf_setting_write(const struct conf_setting *s, const struct conf *c, FILE *f)
{
	char buf[INET6_ADDRSTRLEN + 8];

	switch (s->kind) {
	case CONF_K_LISTENERS:
		fputc('[', f);
		for (unsigned i = 0; i < c->n_listeners; i++) {
			const struct conf_listener *l = &c->listeners[i];
			bool first = true;
			fputs(i ? ", {" : "{", f);
			FOR_ITEMS(t)
			{
				if (!is_written(t, l))
					continue;
				fprintf(f, "%s%s: ", first ? "" : ", ", key_of(t));
				item(f, t, l);
				first = false;
			}
			fputc('}', f);
		}
		fputc(']', f);
		break;
	case CONF_K_NAMES:
	case CONF_K_FORWARDERS:
	case CONF_K_CIDRS:
		fputc('[', f);
		for (unsigned i = 0; i < count(s, c); i++) {
			fputs(i ? ", " : "", f);
			str(f, text_at(s, c, i, buf, sizeof(buf)));
		}
		fputc(']', f);
		break;
	case CONF_K_HOSTS:
		fputc('{', f);
		for (unsigned i = 0; i < c->resolver.n_hosts; i++) {
			fputs(i ? ", " : "", f);
			host(f, &c->resolver.hosts[i]);
		}
		fputc('}', f);
		break;
	case CONF_K_POLICIES:
		fputc('[', f);
		for (unsigned i = 0; i < c->n_policies; i++) {
			fputs(i ? ", " : "", f);
			policy_flow(f, &c->policies[i]);
		}
		fputc(']', f);
		break;
	default:
		scalar(f, s, c);
	}
	return ferror(f) ? -EIO : 0;
}

/* ------------------------------------------------------------------------ */
/* The dump                                                                 */

/* A list row after its key, in block style: entries at indent. */
static void block(FILE *f, const struct conf_setting *s, const struct conf *c, int indent)
{
	char buf[INET6_ADDRSTRLEN + 8];
	unsigned n = s->kind == CONF_K_HOSTS ? c->resolver.n_hosts : count(s, c);

	if (s->kind == CONF_K_POLICIES && n) {
		fputc('\n', f);
		for (unsigned i = 0; i < n; i++)
			policy_block(f, &c->policies[i], indent);
		return;
	}

	if (!n) {
		fputs(s->kind == CONF_K_HOSTS ? " {}\n" : " []\n", f);
		return;
	}
	fputc('\n', f);
	for (unsigned i = 0; i < n; i++) {
		switch (s->kind) {
		case CONF_K_HOSTS:
			fprintf(f, "%*s", indent, "");
			host(f, &c->resolver.hosts[i]);
			break;
		case CONF_K_LISTENERS: {
			const char *lead = "- ";
			FOR_ITEMS(t)
			{
				if (!is_written(t, &c->listeners[i]))
					continue;
				fprintf(f, "%*s%s%s: ", indent, "", lead, key_of(t));
				item(f, t, &c->listeners[i]);
				fputc('\n', f);
				lead = "  ";
			}
			continue;
		}
		default:
			fprintf(f, "%*s- ", indent, "");
			str(f, text_at(s, c, i, buf, sizeof(buf)));
		}
		fputc('\n', f);
	}
}

/*
 * The headers of the mappings from section from (length fn) to section to
 * (length tn), which are setting paths cut there: "admin" to
 * "admin.control" writes "  control:".
 */
static void enter(FILE *f, const char *from, size_t fn, const char *to, size_t tn)
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
}

int conf_dump_yaml(const struct conf *c, FILE *f, unsigned flags)
{
	const char *sec = ""; /* the section written last */
	size_t sn = 0;

	(void)flags;
	for (unsigned i = 0; i < conf_n_settings; i++) {
		const struct conf_setting *s = &conf_settings[i];
		const char *dot = strrchr(s->path, '.');
		size_t n = dot ? (size_t)(dot - s->path) : 0;
		int indent = 0;

		if (conf_setting_is_item(s) || s->hidden)
			continue; /* inside "listeners" */
		if (n != sn || strncmp(sec, s->path, n)) {
			enter(f, sec, sn, s->path, n);
			sec = s->path;
			sn = n;
		}
		for (size_t j = 0; n && j <= n; j++)
			indent += j == n || s->path[j] == '.' ? 2 : 0;
		switch (s->kind) {
		case CONF_K_LISTENERS:
		case CONF_K_NAMES:
		case CONF_K_FORWARDERS:
		case CONF_K_CIDRS:
		case CONF_K_HOSTS:
		case CONF_K_POLICIES:
			fprintf(f, "%*s%s:", indent, "", key_of(s));
			block(f, s, c, indent + 2);
			break;
		default:
			if (!is_written(s, c))
				break;
			fprintf(f, "%*s%s: ", indent, "", key_of(s));
			scalar(f, s, c);
			fputc('\n', f);
		}
	}
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

/* ------------------------------------------------------------------------ */
/* The reference table                                                      */

int conf_reference_md(FILE *f)
{
	char range[64];

	fputs("| Field | Type | Default | Range / values |\n"
	      "|-------|------|---------|----------------|\n",
	      f);
	for (unsigned i = 0; i < conf_n_settings; i++) {
		const struct conf_setting *s = &conf_settings[i];

		if (s->hidden)
			continue;
		fprintf(f, "| `%s` | %s | ", s->path, s->type);
		if (s->def_doc)
			fputs(s->def_doc, f);
		else if (s->def)
			fprintf(f, "`%s`", s->def);
		else
			fputs("none", f);
		fprintf(f, " | %s%s |\n", conf_setting_range(s, range, sizeof(range)),
			s->doc ? s->doc : "");
	}
	return ferror(f) ? -EIO : 0;
}
