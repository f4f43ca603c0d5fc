/* SPDX-License-Identifier: MIT */
/*
 * corefile: generate the egress-dns Corefile from the allowlist, and read one
 * back to compare.
 *
 * The generated file is one "." server block. Rewrites turn each allowlisted
 * name into the gateway Service's name; everything else, the rewritten names
 * included, goes to one forward, by default "forward . /etc/resolv.conf": the
 * pod's own resolver, i.e. the cluster DNS, so no cluster address is
 * hard-coded and the file is the same on every cluster.
 *
 * "template IN HTTPS ." and "template IN SVCB ." answer those types for every
 * name with an empty NOERROR before anything is forwarded. The template
 * plugin runs after rewrite (CoreDNS's plugin.cfg order), so a rewritten name
 * is caught as well as the rest. Without them an allowlisted name's HTTPS
 * query would reach the cluster DNS as the Service's name (NODATA from the
 * kubernetes plugin), but "_8443._https.NAME" and "_dns.resolver.arpa" would
 * not be rewritten at all and would bring back the real records: ECH keys
 * (the ClientHello then carries a public name, not the allowlisted one),
 * address hints that go around the gateway, DoH resolvers. Through an SNI
 * gateway that relays TCP none of it is usable anyway (no ECH, no QUIC).
 *
 * "lameduck 5s": a terminating replica keeps answering while it leaves the
 * Service's endpoints. Clients have egress-dns as their only nameserver, and
 * a query lost to a pod that already stopped costs them a resolver timeout.
 *
 * "reload" makes CoreDNS re-read the file when the ConfigMap changes, as
 * snigate does with its own config, and keep the old one when the new one
 * does not load: an allowlist change reaches both without a rollout.
 *
 * The reader refuses the Envoy deployment's crash loop: "forward cluster.local
 * in-addr.arpa ip6.arpa 10.43.0.10" names one FROM zone, so CoreDNS took the
 * other zones for upstreams and the pods crash-looped with
 * "plugin/forward: not an IP address or file".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/corefile.h"

#define MAX_TOKENS 1000000 /* a Corefile of a million words is not an egress-dns config */

static int __attribute__((format(printf, 5, 6)))
fail(struct conf_error *err, const char *file, unsigned line, const char *field, const char *fmt,
     ...)
{
	va_list ap;

	if (!err)
		return -EINVAL;
	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
	err->line = line;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int nomem(struct conf_error *err)
{
	if (err) {
		memset(err, 0, sizeof(*err));
		snprintf(err->msg, sizeof(err->msg), "out of memory");
	}
	return -ENOMEM;
}

/* Lower case, one trailing dot removed: how names compare on both sides. */
static char *norm_name(const char *s)
{
	size_t n = strlen(s);
	char *o;

	if (n && s[n - 1] == '.')
		n--;
	if (!(o = strndup(s, n)))
		return NULL;
	for (char *c = o; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return o;
}

/* [a-z0-9_-] labels of 1..63, 253 in all: what the allowlist takes, and a gateway name. */
static bool host_name(const char *s)
{
	size_t label = 0, n = strlen(s);

	if (!n || n > 253)
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (!label)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*s) || *s == '-' || *s == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

/* "IP", "IP:port" or "[IPv6]:port". */
static bool upstream_ok(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL;
	size_t n;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		n = (size_t)(close - s - 1);
		s++;
		port = close + 2;
	} else {
		const char *colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		n = colon ? (size_t)(colon - s) : strlen(s);
		port = colon ? colon + 1 : NULL;
	}
	if (n >= sizeof(host))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
		return false;
	if (port) {
		char *end;
		unsigned long p = strtoul(port, &end, 10);
		if (!isdigit((unsigned char)*port) || *end || p < 1 || p > 65535)
			return false;
	}
	return true;
}

/* An upstream, or an absolute path to a resolv.conf-style file. */
static bool upstream_or_file_ok(const char *s)
{
	if (*s == '/')
		return !strpbrk(s, " \t\n\"{}#");
	return upstream_ok(s);
}

/* The generated regex for "*.suffix": one or more labels, then suffix, anchored. */
#define WILD_HEAD "^([a-z0-9_-]+\\.)+"
#define WILD_TAIL "\\.$"

int corefile_generate(const struct conf *c, const struct corefile_opts *o, char **out,
		      struct conf_error *err)
{
	char *gw = NULL, *buf = NULL, **seen = NULL;
	size_t len = 0, n_seen = 0;
	const char **names = NULL;
	unsigned *lines = NULL, n_names = 0;
	const char *zone;
	FILE *f = NULL;
	int rc = 0;

	*out = NULL;
	if (!o->gateway || !(gw = norm_name(o->gateway)))
		return o->gateway ? nomem(err)
				  : fail(err, "", 0, "gateway", "the gateway Service is missing");
	zone = strstr(gw, ".svc.");
	/* The first dot must come before ".svc.": NAME.svc.x has no namespace. */
	if (!host_name(gw) || !zone || strchr(gw, '.') == zone) {
		rc = fail(err, "", 0, "gateway",
			  "\"%s\" is not a Service name NAME.NAMESPACE.svc.CLUSTER_DOMAIN", gw);
		goto out;
	}
	if (o->n_upstreams > COREFILE_MAX_UPSTREAMS) {
		rc = fail(err, "", 0, "upstream", "%u upstreams; give at most %u (the cluster DNS)",
			  o->n_upstreams, COREFILE_MAX_UPSTREAMS);
		goto out;
	}
	for (unsigned i = 0; i < o->n_upstreams; i++) {
		if (!upstream_or_file_ok(o->upstreams[i])) {
			char field[32];
			snprintf(field, sizeof(field), "upstream[%u]", i);
			rc = fail(err, "", 0, field,
				  "\"%s\" is not IP, IP:port, [IPv6]:port or an absolute path to a "
				  "resolv.conf (CoreDNS would crash-loop on it)",
				  o->upstreams[i]);
			goto out;
		}
	}
	/* Every policy's names: DNS must send each of them to the gateway. */
	if (conf_names(c, &names, &lines, &n_names) || !(f = open_memstream(&buf, &len)) ||
	    !(seen = calloc(n_names + 1, sizeof(*seen)))) {
		rc = nomem(err);
		goto out;
	}

	fprintf(f, "# egress-dns: generated by `snigate corefile`%s%s; do not edit by hand.\n",
		o->source ? " from " : "", o->source ? o->source : "");
	fprintf(f,
		"# Allowlisted names resolve to the gateway Service %s; every other name\n"
		"# goes to the cluster DNS unchanged. Compare with the gateway's config:\n"
		"#   snigate check --corefile Corefile -c CONFIG\n"
		"# HTTPS and SVCB queries (types 65, 64) get an empty answer for every name:\n"
		"# a real one would give clients ECH keys and addresses that bypass the gateway.\n"
		"# reload: a changed ConfigMap is picked up without a restart.\n",
		gw);
	fprintf(f, ". {\n    errors\n    health :8080 {\n        lameduck 5s\n    }\n"
		   "    ready :8181\n    reload\n");
	for (unsigned i = 0; i < n_names; i++) {
		char *name = norm_name(names[i]);
		bool dup = false;
		if (!name) {
			rc = nomem(err);
			goto out;
		}
		for (size_t j = 0; j < n_seen && !dup; j++)
			dup = !strcmp(seen[j], name);
		if (dup) {
			free(name);
			continue;
		}
		seen[n_seen++] = name;
		if (strncmp(name, "*.", 2)) {
			fprintf(f, "    rewrite name exact %s %s answer auto\n", name, gw);
			continue;
		}
		fprintf(f, "    rewrite name regex " WILD_HEAD);
		for (const char *s = name + 2; *s; s++)
			fprintf(f, *s == '.' ? "\\." : "%c", *s);
		fprintf(f, WILD_TAIL " %s answer auto\n", gw);
	}
	fprintf(f, "    template IN HTTPS .\n    template IN SVCB .\n    forward .");
	if (!o->n_upstreams)
		fprintf(f, " %s", COREFILE_DEFAULT_UPSTREAM);
	for (unsigned i = 0; i < o->n_upstreams; i++)
		fprintf(f, " %s", o->upstreams[i]);
	fprintf(f, "\n}\n");
	if (ferror(f))
		rc = nomem(err);
out:
	if (f && fclose(f) && !rc)
		rc = nomem(err);
	for (size_t j = 0; j < n_seen; j++)
		free(seen[j]);
	free(seen);
	free(names);
	free(lines);
	free(gw);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading a Corefile                                                       */

struct tok {
	char *s;
	unsigned line;
	bool quoted;
};

struct toks {
	struct tok *v;
	size_t n, cap;
};

static void toks_free(struct toks *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].s);
	free(t->v);
}

static int toks_add(struct toks *t, const char *s, size_t n, unsigned line, bool quoted)
{
	if (t->n == MAX_TOKENS)
		return -E2BIG;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct tok *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	if (!(t->v[t->n].s = strndup(s, n)))
		return -ENOMEM;
	t->v[t->n].line = line;
	t->v[t->n++].quoted = quoted;
	return 0;
}

/* Caddyfile words: blanks separate, '#' at a word's start comments to the line end. */
static int tokenize(const char *buf, size_t len, const char *file, struct toks *t,
		    struct conf_error *err)
{
	unsigned line = 1;
	size_t i = 0;
	char *w = malloc(len + 1);
	int rc = 0;

	if (!w)
		return nomem(err);
	while (i < len && !rc) {
		char ch = buf[i];
		if (ch == '\n') {
			line++;
			i++;
			continue;
		}
		if (isspace((unsigned char)ch)) {
			i++;
			continue;
		}
		if (ch == '#') {
			while (i < len && buf[i] != '\n')
				i++;
			continue;
		}
		size_t n = 0;
		unsigned at = line;
		if (ch == '"' || ch == '`') {
			char close = ch;
			for (i++; i < len && buf[i] != close; i++) {
				if (buf[i] == '\\' && close == '"' && i + 1 < len &&
				    buf[i + 1] == '"')
					i++;
				line += buf[i] == '\n';
				w[n++] = buf[i];
			}
			if (i >= len) {
				rc = fail(err, file, at, "", "a quoted word is not closed");
				break;
			}
			i++;
			rc = toks_add(t, w, n, at, true);
		} else {
			while (i < len && !isspace((unsigned char)buf[i]))
				w[n++] = buf[i++];
			rc = toks_add(t, w, n, at, false);
		}
		if (rc == -ENOMEM)
			rc = nomem(err);
		else if (rc == -E2BIG)
			rc = fail(err, file, at, "", "more than %u words", MAX_TOKENS);
	}
	free(w);
	return rc;
}

static bool is(const struct tok *t, const char *s)
{
	return !t->quoted && !strcmp(t->s, s);
}

static int add_name(struct corefile *cf, const char *name, const char *target, unsigned line,
		    bool understood)
{
	struct corefile_name *v = realloc(cf->v, (cf->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	cf->v = v;
	v[cf->n] = (struct corefile_name){.line = line, .understood = understood};
	if (!(v[cf->n].name = understood ? norm_name(name) : strdup(name)))
		return -ENOMEM;
	if (!(v[cf->n].target = norm_name(target))) {
		free(v[cf->n].name);
		return -ENOMEM;
	}
	cf->n++;
	return 0;
}

/*
 * "*.suffix" back from a rewrite regex, when the regex is the generated form
 * or an equivalent hand-written one; NULL otherwise. Unanchored ends are not
 * equivalent ("x.com" would also match "x.com.evil.net."), so they are not
 * recognised.
 */
static char *regex_to_wildcard(const char *re)
{
	static const char *const heads[] = {WILD_HEAD, "^([^.]+\\.)+", "^(.+)\\.",
					    "(.+)\\.", "^.+\\.",       ".+\\."};
	const char *s = NULL;
	char *o, *p;

	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]) && !s; i++)
		if (!strncmp(re, heads[i], strlen(heads[i])))
			s = re + strlen(heads[i]);
	if (!s || !(o = malloc(strlen(s) + 3)))
		return NULL;
	p = o;
	*p++ = '*';
	*p++ = '.';
	for (; *s; s++) {
		if (!strcmp(s, "\\.$") || !strcmp(s, "$"))
			break;
		if (s[0] == '\\' && s[1] == '.') {
			*p++ = '.';
			s++;
		} else if (isalnum((unsigned char)*s) || *s == '-' || *s == '_') {
			*p++ = *s;
		} else {
			free(o);
			return NULL;
		}
	}
	*p = '\0';
	if (!*s || !host_name(o + 2)) {
		free(o);
		return NULL;
	}
	return o;
}

/* One "name ..." rule of a rewrite, tokens a[0..n). */
static int name_rule(struct corefile *cf, struct tok *a, size_t n)
{
	const char *type = "exact", *from, *to;
	char pat[300];

	if (n < 3)
		return 0; /* CoreDNS refuses it; nothing to compare */
	if (n == 3) {
		from = a[1].s;
		to = a[2].s;
	} else {
		type = a[1].s;
		from = a[2].s;
		to = a[3].s;
	}
	if (!strcasecmp(type, "exact"))
		return add_name(cf, from, to, a[0].line, true);
	if (!strcasecmp(type, "regex")) {
		char *w = regex_to_wildcard(from);
		int rc;
		if (w) {
			rc = add_name(cf, w, to, a[0].line, true);
			free(w);
			return rc;
		}
	}
	snprintf(pat, sizeof(pat), "%s %s", type, from);
	return add_name(cf, pat, to, a[0].line, false);
}

/* A forward's TO: an address or a resolv.conf-style file, never a zone. */
static bool forward_to_ok(const char *s)
{
	if (!strncmp(s, "dns://", 6))
		s += 6;
	else if (!strncmp(s, "tls://", 6))
		s += 6;
	else if (*s == '/' || *s == '.')
		return true;
	return upstream_ok(s);
}

int corefile_parse(const char *buf, size_t len, const char *file, struct corefile *out,
		   struct conf_error *err)
{
	struct toks t = {0};
	size_t i = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	/* A NUL would cut a word short: "a.com\0x" must not pass for "a.com". */
	if (buf && memchr(buf, '\0', len))
		return fail(err, file, 0, "", "holds a NUL byte: not a Corefile");
	if ((rc = tokenize(buf ? buf : "", buf ? len : 0, file, &t, err)))
		goto out;
	while (i < t.n) {
		/* Server block keys up to "{". */
		size_t start = i;
		while (i < t.n && !is(&t.v[i], "{")) {
			if (t.v[i].s[0] == '(' || is(&t.v[i], "import")) {
				rc = fail(err, file, t.v[i].line, "",
					  "snippets and import are not supported by the check");
				goto out;
			}
			if (is(&t.v[i], "}")) {
				rc = fail(err, file, t.v[i].line, "", "a '}' that closes nothing");
				goto out;
			}
			i++;
		}
		if (i == t.n) {
			rc = fail(err, file, t.v[start].line, "",
				  "server block keys without a '{' block");
			goto out;
		}
		unsigned open_line = t.v[i].line;
		i++;
		/* Directives: one per line; a line ending in "{" opens a nested block. */
		while (i < t.n && !is(&t.v[i], "}")) {
			size_t d = i;
			unsigned line = t.v[i].line;
			while (i < t.n && t.v[i].line == line && !is(&t.v[i], "{") &&
			       !(is(&t.v[i], "}") && i > d))
				i++;
			size_t nargs = i - d;
			size_t body = i, body_end = i;
			if (i < t.n && is(&t.v[i], "{")) {
				unsigned depth = 1;
				body = ++i;
				while (i < t.n && depth) {
					if (is(&t.v[i], "{"))
						depth++;
					else if (is(&t.v[i], "}"))
						depth--;
					i++;
				}
				if (depth) {
					rc = fail(err, file, line, "",
						  "a '{' that is never closed");
					goto out;
				}
				body_end = i - 1;
			}
			struct tok *a = &t.v[d];
			if (t.v[d].s[0] == '{' && t.v[d].s[1] == '$') {
				rc = fail(err, file, line, "",
					  "environment variables are not supported by the check");
				goto out;
			}
			if (is(a, "import")) {
				rc = fail(err, file, line, "",
					  "snippets and import are not supported by the check");
				goto out;
			}
			if (is(a, "forward")) {
				for (size_t k = 2; k < nargs; k++) {
					if (forward_to_ok(a[k].s))
						continue;
					rc = fail(
						err, file, a[k].line, "forward",
						"\"%s\" is not an IP address or file: forward takes "
						"one zone (FROM), so CoreDNS crash-loops on this; use "
						"one server block and one forward per zone",
						a[k].s);
					goto out;
				}
			}
			if (is(a, "rewrite")) {
				size_t k = 1;
				if (k < nargs && (is(&a[k], "stop") || is(&a[k], "continue")))
					k++;
				if (k < nargs && is(&a[k], "name"))
					rc = name_rule(out, &a[k], nargs - k);
				/* rewrite [stop|continue] { name ... \n answer ... } */
				for (size_t b = body; !rc && b < body_end;) {
					unsigned bl = t.v[b].line;
					size_t e = b;
					while (e < body_end && t.v[e].line == bl)
						e++;
					if (is(&t.v[b], "name"))
						rc = name_rule(out, &t.v[b], e - b);
					b = e;
				}
				if (rc) {
					rc = nomem(err);
					goto out;
				}
			}
		}
		if (i == t.n) {
			rc = fail(err, file, open_line, "", "a '{' that is never closed");
			goto out;
		}
		i++; /* the block's "}" */
	}
out:
	toks_free(&t);
	if (rc)
		corefile_free(out);
	return rc;
}

void corefile_free(struct corefile *cf)
{
	for (size_t i = 0; i < cf->n; i++) {
		free(cf->v[i].name);
		free(cf->v[i].target);
	}
	free(cf->v);
	memset(cf, 0, sizeof(*cf));
}

/* ------------------------------------------------------------------------ */
/* Drift                                                                    */

static int drift_add(struct corefile_drift **v, size_t *n, enum corefile_drift_kind kind,
		     const char *name, unsigned line, const char *target)
{
	struct corefile_drift *d = realloc(*v, (*n + 1) * sizeof(*d));

	if (!d)
		return -ENOMEM;
	*v = d;
	d[*n] = (struct corefile_drift){.kind = kind, .line = line};
	if (!(d[*n].name = strdup(name)) || (target && !(d[*n].target = strdup(target)))) {
		free(d[*n].name);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

int corefile_diff(const struct conf *c, const struct corefile *cf, const char *gateway,
		  struct corefile_drift **out, size_t *n)
{
	struct corefile_drift *v = NULL;
	size_t nv = 0;
	const char **all = NULL;
	unsigned *lines = NULL, n_all = 0;
	char **names = NULL;
	char *gw = gateway ? norm_name(gateway) : NULL;
	int rc = 0;

	*out = NULL;
	*n = 0;
	/* Every policy's names, as the Corefile must send each to the gateway. */
	if (conf_names(c, &all, &lines, &n_all) || !(names = calloc(n_all + 1, sizeof(*names))) ||
	    (gateway && !gw)) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n_all; i++)
		if (!(names[i] = norm_name(all[i]))) {
			rc = -ENOMEM;
			goto out;
		}
	for (unsigned i = 0; i < n_all && !rc; i++) {
		bool found = false, dup = false;
		for (unsigned j = 0; j < i && !dup; j++)
			dup = !strcmp(names[j], names[i]);
		for (size_t j = 0; j < cf->n && !found; j++)
			found = cf->v[j].understood && !strcmp(cf->v[j].name, names[i]);
		if (!found && !dup)
			rc = drift_add(&v, &nv, COREFILE_ONLY_IN_CONFIG, names[i], lines[i], NULL);
	}
	const char *want = gw ? gw : cf->n ? cf->v[0].target : NULL;
	for (size_t j = 0; j < cf->n && !rc; j++) {
		bool found = false;
		for (unsigned i = 0; i < n_all && !found; i++)
			found = cf->v[j].understood && !strcmp(cf->v[j].name, names[i]);
		if (!found)
			rc = drift_add(&v, &nv, COREFILE_ONLY_IN_COREFILE, cf->v[j].name,
				       cf->v[j].line, NULL);
		else if (want && strcmp(cf->v[j].target, want))
			rc = drift_add(&v, &nv, COREFILE_WRONG_TARGET, cf->v[j].name, cf->v[j].line,
				       cf->v[j].target);
	}
out:
	for (unsigned i = 0; names && i < n_all; i++)
		free(names[i]);
	free(names);
	free(all);
	free(lines);
	free(gw);
	if (rc) {
		corefile_drift_free(v, nv);
		return rc;
	}
	*out = v;
	*n = nv;
	return 0;
}

void corefile_drift_free(struct corefile_drift *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].name);
		free(d[i].target);
	}
	free(d);
}
