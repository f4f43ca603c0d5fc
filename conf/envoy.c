/* SPDX-License-Identifier: MIT */
/*
 * envoy: the Envoy bootstrap of the egress pod, read into a struct conf.
 *
 * libyaml's document loader builds the whole tree (aliases resolved to the
 * anchored node) with a start mark on every node, so an error can name the
 * field's YAML path and its line. The walk follows a fixed schema: each
 * message has a list of the keys snigate implements or knows to be
 * harmless, and any other key is refused where it stands. Nothing is
 * skipped silently: a filter or option that snigate ignored would change
 * what the gateway lets through without anyone seeing it.
 *
 * Keys are accepted in proto field form (port_value) and in the JSON form
 * Envoy also reads (portValue). A key tagged !ignore is skipped with its
 * value, as Envoy does, since that is how Envoy files hold anchor-only
 * blocks.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "conf/envoy.h"
#include "conf/conf_error.h"
#include "conf/yamldoc.h"

#define EPATH	   256	  /* longest YAML path built; conf_error.field is shorter */
#define MAX_VISITS 200000 /* mapping entries walked; aliases can multiply a tree */
#define MAX_NAMES  100000 /* server_names of one listener */

#define TYPE_PREFIX   "type.googleapis.com/"
#define T_TLS_INSPECT TYPE_PREFIX "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
#define T_SNI_DFP \
	TYPE_PREFIX "envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig"
#define T_TCP_PROXY   TYPE_PREFIX "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
#define T_DFP_CLUSTER TYPE_PREFIX "envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig"
#define T_CARES	      TYPE_PREFIX "envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig"
#define T_GETADDRINFO \
	TYPE_PREFIX   \
	"envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig"
#define T_STDOUT_LOG TYPE_PREFIX "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
#define T_FILE_LOG   TYPE_PREFIX "envoy.extensions.access_loggers.file.v3.FileAccessLog"

#define DFP_CLUSTER_NAME "envoy.clusters.dynamic_forward_proxy"

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

struct ex {
	const char *file;
	struct conf_yaml *y;
	struct conf_error *err;
	unsigned long visits;
};

static int __attribute__((format(printf, 5, 6)))
fail_rc(struct ex *x, int rc, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_error_vset(x->err, rc, x->file, conf_yaml_line(n), path, fmt, ap);
	va_end(ap);
	return rc;
}

#define fail(x, n, path, ...) fail_rc(x, -EINVAL, n, path, __VA_ARGS__)

static int oom(struct ex *x)
{
	return fail_rc(x, -ENOMEM, NULL, "", "out of memory");
}

/* User text quoted for a message: bounded, and no control bytes reach a terminal. */
#define Q(s) conf_quote((s), (char[100]){0}, 100)

/*
 * path + "." + key, or path + "[i]", cut at EPATH - 1 bytes; the walk never
 * nests deep enough to reach that.
 */
static const char *join(char *buf, const char *path, const char *sep, const char *key)
{
	size_t o = 0;

	for (const char *parts[] = {path, *path ? sep : "", key}, **q = parts; q < parts + 3; q++)
		for (const char *c = *q; *c && o < EPATH - 1; c++)
			buf[o++] = *c;
	buf[o] = '\0';
	return buf;
}

static const char *sub(char *buf, const char *path, const char *key)
{
	return join(buf, path, ".", key);
}

static const char *idx(char *buf, const char *path, size_t i)
{
	char n[24];
	size_t o = sizeof(n) - 1;

	n[o] = '\0';
	n[--o] = ']';
	do
		n[--o] = (char)('0' + i % 10);
	while ((i /= 10) && o > 1);
	n[--o] = '[';
	return join(buf, path, "", n + o);
}

/* ------------------------------------------------------------------------ */
/* Nodes                                                                    */

static yaml_node_t *node(struct ex *x, int id)
{
	return conf_yaml_node(x->y, id);
}

/* Envoy reads proto field names and their JSON form: "portValue" is "port_value". */
static void norm_key(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 2 < len; in++) {
		if (isupper((unsigned char)*in)) {
			out[o++] = '_';
			out[o++] = (char)tolower((unsigned char)*in);
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

/* One key a message may hold: val is its value (NULL when absent or null), key its key node. */
struct fld {
	const char *name;
	yaml_node_t *key;
	yaml_node_t *val;
};

#define FLD(n)              \
	{                   \
		.name = (n) \
	}
#define NF(a) (sizeof(a) / sizeof((a)[0]))

static yaml_node_t *get(const struct fld *f, size_t nf, const char *name)
{
	for (size_t i = 0; i < nf; i++)
		if (!strcmp(f[i].name, name))
			return f[i].val;
	return NULL;
}

#define GET(f, name) get(f, NF(f), name)

/*
 * Match the keys of map against f. A key that is not listed is refused at
 * its own line, with the keys snigate reads there, because an Envoy option
 * snigate does not implement must not pass for one it does.
 */
static int fields(struct ex *x, yaml_node_t *map, const char *path, const char *what, struct fld *f,
		  size_t nf)
{
	char p[EPATH], k[64];

	if (map->type != YAML_MAPPING_NODE)
		return fail(x, map, path, "expected %s (key: value lines), found %s", what,
			    conf_yaml_kind(map));
	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *kn = node(x, pr->key), *vn = node(x, pr->value);
		const char *key = conf_yaml_scalar(kn);

		if (++x->visits > MAX_VISITS)
			return fail(x, kn, path,
				    "the file expands to more than %u entries (aliases?)",
				    MAX_VISITS);
		if (!key)
			return fail(x, kn, path, "keys must be plain names, not %s",
				    conf_yaml_kind(kn));
		if (kn->tag && !strcmp((const char *)kn->tag, "!ignore"))
			continue;
		norm_key(key, k, sizeof(k));
		sub(p, path, key);
		size_t i;
		for (i = 0; i < nf && strcmp(f[i].name, k); i++)
			;
		if (i == nf) {
			char known[160] = "";
			size_t o = 0;
			for (size_t j = 0; j < nf && o < sizeof(known); j++)
				o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s",
						      j ? ", " : "", f[j].name);
			if (o >= sizeof(known))
				return fail(
					x, kn, p,
					"not implemented by snigate in %s (conf/CONFIG.md lists "
					"what it reads)",
					what);
			return fail(x, kn, p, "not implemented by snigate in %s (it reads: %s)",
				    what, known);
		}
		if (f[i].key)
			return fail(x, kn, p, "duplicate key (first set on line %u)",
				    conf_yaml_line(f[i].key));
		f[i].key = kn;
		f[i].val = conf_yaml_is_null(vn) ? NULL : vn;
	}
	return 0;
}

static int want_seq(struct ex *x, yaml_node_t *n, const char *path)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(x, n, path, "expected a list, found %s", conf_yaml_kind(n));
	return 0;
}

static size_t seq_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_at(struct ex *x, const yaml_node_t *n, size_t i)
{
	return node(x, n->data.sequence.items.start[i]);
}

static int want_str(struct ex *x, yaml_node_t *n, const char *path, const char **out)
{
	if (!(*out = conf_yaml_scalar(n)))
		return fail(x, n, path, "expected a single value, found %s", conf_yaml_kind(n));
	return 0;
}

static int want_uint(struct ex *x, yaml_node_t *n, const char *path, unsigned long long min,
		     unsigned long long max, unsigned long long *out)
{
	const char *s;
	unsigned long long v = 0;

	if (want_str(x, n, path, &s))
		return -EINVAL;
	if (!*s)
		return fail(x, n, path, "expected a number");
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p) || v > (ULLONG_MAX - 9) / 10)
			return fail(x, n, path, "%s is not a number in %llu..%llu", Q(s), min, max);
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (v < min || v > max)
		return fail(x, n, path, "%llu is out of range (%llu..%llu)", v, min, max);
	*out = v;
	return 0;
}

static int want_bool(struct ex *x, yaml_node_t *n, const char *path, bool *out)
{
	const char *s;

	if (want_str(x, n, path, &s))
		return -EINVAL;
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		*out = false;
	else
		return fail(x, n, path, "%s is not true or false", Q(s));
	return 0;
}

/* A setting snigate reads only at its default: anything else is refused. */
static int want_false(struct ex *x, yaml_node_t *n, const char *path, const char *why)
{
	bool b;

	if (!n)
		return 0;
	if (want_bool(x, n, path, &b))
		return -EINVAL;
	if (b)
		return fail(x, n, path, "true is not supported by snigate: %s", why);
	return 0;
}

/*
 * A protobuf Duration: "5s", "0.250s" (JSON form) or {seconds, nanos}. snigate
 * counts milliseconds, so a finer value is refused rather than rounded.
 */
static int want_duration_ms(struct ex *x, yaml_node_t *n, const char *path, unsigned long long *ms)
{
	unsigned long long sec = 0, nanos = 0;

	if (n->type == YAML_MAPPING_NODE) {
		struct fld f[] = {FLD("seconds"), FLD("nanos")};
		char p[EPATH];
		if (fields(x, n, path, "a duration", f, NF(f)))
			return -EINVAL;
		if (f[0].val &&
		    want_uint(x, f[0].val, sub(p, path, "seconds"), 0, 315576000000ULL, &sec))
			return -EINVAL;
		if (f[1].val &&
		    want_uint(x, f[1].val, sub(p, path, "nanos"), 0, 999999999ULL, &nanos))
			return -EINVAL;
	} else {
		const char *s, *p;
		unsigned digits = 0;
		if (want_str(x, n, path, &s))
			return -EINVAL;
		for (p = s; isdigit((unsigned char)*p) && sec < 315576000000ULL; p++)
			sec = sec * 10 + (unsigned)(*p - '0');
		if (p == s)
			goto bad;
		if (*p == '.') {
			for (p++; isdigit((unsigned char)*p) && digits < 9; p++, digits++)
				nanos = nanos * 10 + (unsigned)(*p - '0');
			if (!digits)
				goto bad;
			for (unsigned d = digits; d < 9; d++)
				nanos *= 10;
		}
		if (strcmp(p, "s"))
			goto bad;
	}
	if (nanos % 1000000)
		return fail(x, n, path, "finer than a millisecond, which snigate cannot honour");
	*ms = sec * 1000 + nanos / 1000000;
	return 0;
bad:
	return fail(x, n, path, "%s is not a duration (Envoy form: 5s, 0.250s)",
		    Q(conf_yaml_scalar(n)));
}

static const char *last_component(const char *url)
{
	const char *dot = strrchr(url, '.');
	return dot ? dot + 1 : url;
}

/*
 * The "@type" of a typed_config; *out gets its index in want, the URLs
 * accepted there. When the
 * message name matches one but the URL does not (a v2 or otherwise wrong
 * URL), the error says which URL snigate reads.
 */
static int want_type(struct ex *x, yaml_node_t *tc, const char *path, const char *what,
		     const char *const *want, size_t nwant, size_t *out)
{
	char p[EPATH];
	const char *t = NULL;

	if (tc->type != YAML_MAPPING_NODE)
		return fail(x, tc, path, "expected a mapping with \"@type\", found %s",
			    conf_yaml_kind(tc));
	for (yaml_node_pair_t *pr = tc->data.mapping.pairs.start; pr < tc->data.mapping.pairs.top;
	     pr++) {
		const char *k = conf_yaml_scalar(node(x, pr->key));
		yaml_node_t *v = node(x, pr->value);
		if (!k || strcmp(k, "@type"))
			continue;
		if (want_str(x, v, sub(p, path, "@type"), &t))
			return -EINVAL;
		for (size_t i = 0; i < nwant; i++) {
			if (!strcmp(t, want[i])) {
				*out = i;
				return 0;
			}
		}
		for (size_t i = 0; i < nwant; i++)
			if (!strcmp(last_component(t), last_component(want[i])))
				return fail(x, v, p, "unsupported %s %s (snigate reads %s)", what,
					    t, want[i]);
		return fail(x, v, p, "unsupported %s %s", what, t);
	}
	return fail(x, tc, path, "no \"@type\": snigate needs it to know which %s this is", what);
}

/*
 * Envoy's DnsLookupFamily names. Envoy reads them in upper case only, and
 * snigate's own spelling (v4_only) is not Envoy's, so the import keeps its
 * own table rather than the native loader's.
 */
static int envoy_family(const char *s, enum conf_family *out)
{
	static const struct {
		const char *name;
		enum conf_family f;
	} t[] = {
		{"V4_ONLY", CONF_V4_ONLY},
		{"V6_ONLY", CONF_V6_ONLY},
		{"V4_PREFERRED", CONF_V4_PREFERRED},
		{"AUTO", CONF_AUTO},
		{"ALL", CONF_ALL},
	};

	for (size_t i = 0; i < NF(t); i++) {
		if (!strcmp(s, t[i].name)) {
			*out = t[i].f;
			return 0;
		}
	}
	return -EINVAL;
}

/* ------------------------------------------------------------------------ */
/* What the walk collects                                                   */

/* A setting that must be the same wherever the Envoy file gives it. */
struct once {
	bool set;
	unsigned long long v;
	unsigned line;
	char path[EPATH];
};

static int once(struct ex *x, struct once *o, unsigned long long v, const yaml_node_t *n,
		const char *path, const char *what)
{
	if (!o->set) {
		*o = (struct once){.set = true, .v = v, .line = conf_yaml_line(n)};
		snprintf(o->path, sizeof(o->path), "%s", path);
		return 0;
	}
	if (o->v != v)
		return fail(x, n, path, "differs from %s (line %u): snigate has one %s", o->path,
			    o->line, what);
	return 0;
}

/* One dns_cache_config, as snigate can honour it. */
struct dns_cache {
	enum conf_family family;
	unsigned long long dns_ms; /* 0: not given */
	bool system;		   /* getaddrinfo resolver or none: /etc/resolv.conf */
	char fwd[CONF_MAX_FORWARDERS][INET6_ADDRSTRLEN + 32];
	unsigned n_fwd;
};

struct cluster {
	const char *name;
	const yaml_node_t *node;
};

struct envoy_listener {
	char addr[INET6_ADDRSTRLEN + 32]; /* "IP:port" or "[IP]:port" */
	const yaml_node_t *node;
	char path[EPATH];
	unsigned long long upstream_port;
	char **names; /* lower case, no trailing dot */
	unsigned *lines;
	size_t n_names;
};

struct st {
	struct dns_cache cache;
	bool cache_set;
	unsigned cache_line;
	char cache_path[EPATH];

	struct cluster clusters[64];
	size_t n_clusters;

	struct envoy_listener *ls;
	size_t n_ls;

	struct once connect, hello, idle;
	bool access_log;
	char admin[INET6_ADDRSTRLEN + 32];
};

static void st_free(struct st *s)
{
	for (size_t i = 0; i < s->n_ls; i++) {
		for (size_t j = 0; j < s->ls[i].n_names; j++)
			free(s->ls[i].names[j]);
		free(s->ls[i].names);
		free(s->ls[i].lines);
	}
	free(s->ls);
}

/* ------------------------------------------------------------------------ */
/* Addresses                                                                */

/*
 * A core.v3.Address holding a socket_address with an IP literal. out gets
 * "IP:port" ("[IP]:port" for IPv6); *port the port (0 when not given and
 * port_required is false).
 */
static int address(struct ex *x, yaml_node_t *n, const char *path, bool port_required, char *ip,
		   size_t iplen, unsigned long long *port)
{
	struct fld a[] = {FLD("socket_address")};
	struct fld s[] = {FLD("address"), FLD("port_value"), FLD("protocol"), FLD("ipv4_compat")};
	char p[EPATH], q[EPATH];
	const char *v;
	unsigned char buf[sizeof(struct in6_addr)];

	if (fields(x, n, path, "an address (snigate reads socket_address only)", a, NF(a)))
		return -EINVAL;
	if (!a[0].val)
		return fail(x, n, path, "no socket_address");
	sub(p, path, "socket_address");
	if (fields(x, a[0].val, p, "a socket_address", s, NF(s)))
		return -EINVAL;
	if (!GET(s, "address"))
		return fail(x, a[0].val, p, "no address");
	if (want_str(x, GET(s, "address"), sub(q, p, "address"), &v))
		return -EINVAL;
	if (inet_pton(AF_INET, v, buf) != 1 && inet_pton(AF_INET6, v, buf) != 1)
		return fail(x, GET(s, "address"), q,
			    "%s is not an IPv4 or IPv6 address (snigate takes no host names here)",
			    Q(v));
	if (strlen(v) >= iplen)
		return fail(x, GET(s, "address"), q, "%s is too long", Q(v));
	snprintf(ip, iplen, "%s", v);
	*port = 0;
	if (GET(s, "port_value") && want_uint(x, GET(s, "port_value"), sub(q, p, "port_value"),
					      port_required ? 1 : 0, 65535, port))
		return -EINVAL;
	if (port_required && !*port)
		return fail(x, a[0].val, p, "no port_value");
	if (GET(s, "protocol")) {
		if (want_str(x, GET(s, "protocol"), sub(q, p, "protocol"), &v))
			return -EINVAL;
		if (strcmp(v, "TCP"))
			return fail(x, GET(s, "protocol"), q,
				    "%s is not supported: snigate speaks TCP only", Q(v));
	}
	return want_false(x, GET(s, "ipv4_compat"), sub(q, p, "ipv4_compat"),
			  "an IPv6 listener takes IPv6 only (IPV6_V6ONLY); add an IPv4 listener");
}

static void hostport(char *out, size_t len, const char *ip, unsigned long long port)
{
	snprintf(out, len, strchr(ip, ':') ? "[%s]:%llu" : "%s:%llu", ip, port);
}

/* ------------------------------------------------------------------------ */
/* DNS cache                                                                */

static int resolver_config(struct ex *x, yaml_node_t *n, const char *path, struct dns_cache *d)
{
	static const char *const types[] = {T_CARES, T_GETADDRINFO};
	struct fld t[] = {FLD("name"), FLD("typed_config")};
	char p[EPATH], q[EPATH], r[EPATH];
	size_t type;

	if (fields(x, n, path, "typed_dns_resolver_config", t, NF(t)))
		return -EINVAL;
	if (!GET(t, "typed_config"))
		return fail(x, n, path, "no typed_config");
	sub(p, path, "typed_config");
	if (want_type(x, GET(t, "typed_config"), p, "DNS resolver", types, NF(types), &type))
		return -EINVAL;
	if (type == 1) /* getaddrinfo */ {
		struct fld g[] = {FLD("@type")};
		d->system = true;
		return fields(x, GET(t, "typed_config"), p, "the getaddrinfo resolver", g, NF(g));
	}

	struct fld c[] = {FLD("@type"), FLD("resolvers"), FLD("use_resolvers_as_fallback"),
			  FLD("filter_unroutable_families"), FLD("dns_resolver_options")};
	if (fields(x, GET(t, "typed_config"), p, "the c-ares resolver", c, NF(c)))
		return -EINVAL;
	if (want_false(x, GET(c, "use_resolvers_as_fallback"),
		       sub(q, p, "use_resolvers_as_fallback"),
		       "snigate uses the resolvers listed, or /etc/resolv.conf when none are"))
		return -EINVAL;
	bool b;
	if (GET(c, "filter_unroutable_families") &&
	    want_bool(x, GET(c, "filter_unroutable_families"),
		      sub(q, p, "filter_unroutable_families"), &b))
		return -EINVAL;
	if (GET(c, "dns_resolver_options")) {
		struct fld o[] = {FLD("use_tcp_for_dns_lookups"), FLD("no_default_search_domain")};
		sub(q, p, "dns_resolver_options");
		if (fields(x, GET(c, "dns_resolver_options"), q, "dns_resolver_options", o, NF(o)))
			return -EINVAL;
		if (want_false(
			    x, GET(o, "use_tcp_for_dns_lookups"),
			    sub(r, q, "use_tcp_for_dns_lookups"),
			    "snigate asks over UDP and retries over TCP when an answer is truncated"))
			return -EINVAL;
		/* snigate never appends search domains: an SNI is a full name. */
		if (GET(o, "no_default_search_domain") &&
		    want_bool(x, GET(o, "no_default_search_domain"),
			      sub(r, q, "no_default_search_domain"), &b))
			return -EINVAL;
	}
	d->system = true;
	if (!GET(c, "resolvers"))
		return 0;
	sub(q, p, "resolvers");
	if (want_seq(x, GET(c, "resolvers"), q))
		return -EINVAL;
	size_t n_res = seq_len(GET(c, "resolvers"));
	if (n_res > CONF_MAX_FORWARDERS)
		return fail(x, GET(c, "resolvers"), q, "%zu resolvers; snigate takes at most %u",
			    n_res, CONF_MAX_FORWARDERS);
	for (size_t i = 0; i < n_res; i++) {
		char ip[INET6_ADDRSTRLEN + 1];
		unsigned long long port;
		if (address(x, seq_at(x, GET(c, "resolvers"), i), idx(r, q, i), false, ip,
			    sizeof(ip), &port))
			return -EINVAL;
		/* libunbound's forwarder form; c-ares, too, dials 53 when no port is given. */
		if (!port || port == 53)
			snprintf(d->fwd[d->n_fwd++], sizeof(d->fwd[0]), "%s", ip);
		else
			snprintf(d->fwd[d->n_fwd++], sizeof(d->fwd[0]), "%s@%llu", ip, port);
	}
	d->system = d->n_fwd == 0;
	return 0;
}

/*
 * A dns_cache_config. snigate has one resolver, so every cache in the file
 * (the filter's and the cluster's, which Envoy shares by name) must come out
 * the same.
 */
static int dns_cache(struct ex *x, struct st *s, yaml_node_t *n, const char *path)
{
	struct fld f[] = {FLD("name"), FLD("dns_lookup_family"), FLD("typed_dns_resolver_config"),
			  FLD("dns_query_timeout"),
			  /* harmless: snigate follows record TTLs (capped by resolver.max_ttl) */
			  FLD("dns_refresh_rate"), FLD("dns_failure_refresh_rate"), FLD("host_ttl"),
			  FLD("max_hosts")};
	struct dns_cache d = {.family = CONF_AUTO, .system = true};
	char p[EPATH];
	const char *v;
	unsigned long long u;

	if (fields(x, n, path, "dns_cache_config", f, NF(f)))
		return -EINVAL;
	if (!GET(f, "name"))
		return fail(x, n, path, "no name (Envoy requires one)");
	if (want_str(x, GET(f, "name"), sub(p, path, "name"), &v))
		return -EINVAL;
	if (GET(f, "dns_lookup_family")) {
		if (want_str(x, GET(f, "dns_lookup_family"), sub(p, path, "dns_lookup_family"), &v))
			return -EINVAL;
		if (envoy_family(v, &d.family))
			return fail(x, GET(f, "dns_lookup_family"), p,
				    "%s is not V4_ONLY, V6_ONLY, V4_PREFERRED, AUTO or ALL", Q(v));
	}
	if (GET(f, "typed_dns_resolver_config") &&
	    resolver_config(x, GET(f, "typed_dns_resolver_config"),
			    sub(p, path, "typed_dns_resolver_config"), &d))
		return -EINVAL;
	if (GET(f, "dns_query_timeout")) {
		if (want_duration_ms(x, GET(f, "dns_query_timeout"),
				     sub(p, path, "dns_query_timeout"), &d.dns_ms))
			return -EINVAL;
		if (!d.dns_ms || d.dns_ms > 24ULL * 3600 * 1000)
			return fail(x, GET(f, "dns_query_timeout"), p,
				    "out of range (0.001s..86400s)");
	}
	static const char *const durs[] = {"dns_refresh_rate", "dns_failure_refresh_rate",
					   "host_ttl"};
	for (size_t i = 0; i < NF(durs); i++) {
		yaml_node_t *dn = get(f, NF(f), durs[i]);
		struct fld fr[] = {FLD("base_interval"), FLD("max_interval")};
		if (!dn)
			continue;
		sub(p, path, durs[i]);
		/* dns_failure_refresh_rate is a {base_interval, max_interval} backoff. */
		if (!strcmp(durs[i], "dns_failure_refresh_rate")) {
			if (fields(x, dn, p, "a refresh rate", fr, NF(fr)))
				return -EINVAL;
			continue;
		}
		if (want_duration_ms(x, dn, p, &u))
			return -EINVAL;
	}
	if (GET(f, "max_hosts") &&
	    want_uint(x, GET(f, "max_hosts"), sub(p, path, "max_hosts"), 1, UINT_MAX, &u))
		return -EINVAL;

	if (!s->cache_set) {
		s->cache = d;
		s->cache_set = true;
		s->cache_line = conf_yaml_line(n);
		snprintf(s->cache_path, sizeof(s->cache_path), "%s", path);
		return 0;
	}
	bool same = d.family == s->cache.family && d.dns_ms == s->cache.dns_ms &&
		    d.n_fwd == s->cache.n_fwd;
	for (unsigned i = 0; same && i < d.n_fwd; i++)
		same = !strcmp(d.fwd[i], s->cache.fwd[i]);
	if (!same)
		return fail(x, n, path,
			    "differs from the dns_cache_config at %s (line %u): snigate has one "
			    "resolver, so every DNS cache must have the same lookup family, "
			    "resolvers and query timeout",
			    s->cache_path, s->cache_line);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Clusters                                                                 */

static int cluster(struct ex *x, struct st *s, yaml_node_t *n, const char *path)
{
	static const char *const types[] = {T_DFP_CLUSTER};
	struct fld f[] = {FLD("name"),	    FLD("connect_timeout"),
			  FLD("lb_policy"), FLD("cluster_type"),
			  FLD("type"),	    FLD("per_connection_buffer_limit_bytes")};
	char p[EPATH], q[EPATH];
	const char *v;
	size_t type;
	unsigned long long u;

	if (fields(x, n, path, "a cluster", f, NF(f)))
		return -EINVAL;
	if (!GET(f, "name"))
		return fail(x, n, path, "no name");
	if (want_str(x, GET(f, "name"), sub(p, path, "name"), &v))
		return -EINVAL;
	for (size_t i = 0; i < s->n_clusters; i++)
		if (!strcmp(s->clusters[i].name, v))
			return fail(x, GET(f, "name"), p, "cluster %s is already defined (line %u)",
				    Q(v), conf_yaml_line(s->clusters[i].node));
	if (s->n_clusters == NF(s->clusters))
		return fail(x, n, path, "more than %zu clusters", NF(s->clusters));
	s->clusters[s->n_clusters++] = (struct cluster){.name = v, .node = n};

	if (GET(f, "type")) {
		if (want_str(x, GET(f, "type"), sub(p, path, "type"), &v))
			return -EINVAL;
		return fail(x, GET(f, "type"), p,
			    "unsupported cluster type %s: snigate implements only cluster_type "
			    "%s",
			    Q(v), DFP_CLUSTER_NAME);
	}
	if (!GET(f, "cluster_type"))
		return fail(x, n, path, "no cluster_type: snigate implements only cluster_type %s",
			    DFP_CLUSTER_NAME);
	struct fld ct[] = {FLD("name"), FLD("typed_config")};
	sub(p, path, "cluster_type");
	if (fields(x, GET(f, "cluster_type"), p, "cluster_type", ct, NF(ct)))
		return -EINVAL;
	if (!GET(ct, "name"))
		return fail(x, GET(f, "cluster_type"), p, "no name");
	if (want_str(x, GET(ct, "name"), sub(q, p, "name"), &v))
		return -EINVAL;
	if (strcmp(v, DFP_CLUSTER_NAME))
		return fail(x, GET(ct, "name"), q,
			    "unsupported cluster type %s: snigate implements only %s", Q(v),
			    DFP_CLUSTER_NAME);
	if (!GET(ct, "typed_config"))
		return fail(x, GET(f, "cluster_type"), p, "no typed_config");
	sub(q, p, "typed_config");
	if (want_type(x, GET(ct, "typed_config"), q, "cluster type", types, NF(types), &type))
		return -EINVAL;
	struct fld cc[] = {FLD("@type"), FLD("dns_cache_config"),
			   /* HTTP-only options: no effect on a TCP relay */
			   FLD("allow_insecure_cluster_options"),
			   FLD("allow_coalesced_connections")};
	if (fields(x, GET(ct, "typed_config"), q, "the dynamic forward proxy cluster", cc, NF(cc)))
		return -EINVAL;
	bool b;
	char r[EPATH];
	for (size_t i = 2; i < NF(cc); i++)
		if (cc[i].val && want_bool(x, cc[i].val, sub(r, q, cc[i].name), &b))
			return -EINVAL;
	if (!GET(cc, "dns_cache_config"))
		return fail(x, GET(ct, "typed_config"), q, "no dns_cache_config");
	if (dns_cache(x, s, GET(cc, "dns_cache_config"), sub(r, q, "dns_cache_config")))
		return -EINVAL;

	if (GET(f, "lb_policy")) {
		if (want_str(x, GET(f, "lb_policy"), sub(p, path, "lb_policy"), &v))
			return -EINVAL;
		if (strcmp(v, "CLUSTER_PROVIDED"))
			return fail(x, GET(f, "lb_policy"), p,
				    "%s: a dynamic forward proxy cluster needs CLUSTER_PROVIDED",
				    Q(v));
	}
	if (GET(f, "per_connection_buffer_limit_bytes") &&
	    want_uint(x, GET(f, "per_connection_buffer_limit_bytes"),
		      sub(p, path, "per_connection_buffer_limit_bytes"), 0, UINT_MAX, &u))
		return -EINVAL;
	/* Envoy's default connect_timeout is 5 s, as snigate's. */
	u = 5000;
	sub(p, path, "connect_timeout");
	if (GET(f, "connect_timeout")) {
		if (want_duration_ms(x, GET(f, "connect_timeout"), p, &u))
			return -EINVAL;
		if (!u || u > 24ULL * 3600 * 1000)
			return fail(x, GET(f, "connect_timeout"), p,
				    "out of range (0.001s..86400s)");
	}
	return once(x, &s->connect, u, GET(f, "connect_timeout") ? GET(f, "connect_timeout") : n, p,
		    "connect timeout for all clusters");
}

/* ------------------------------------------------------------------------ */
/* Access logs                                                              */

/*
 * An access_log list. snigate writes one JSON line per connection on stdout,
 * so a stdout logger (or a file logger writing to /dev/stdout) turns it on;
 * its format is snigate's own, whatever log_format says.
 */
static int access_logs(struct ex *x, struct st *s, yaml_node_t *n, const char *path)
{
	static const char *const types[] = {T_STDOUT_LOG, T_FILE_LOG};
	char p[EPATH], q[EPATH], r[EPATH];
	const char *v;
	size_t type;

	if (want_seq(x, n, path))
		return -EINVAL;
	for (size_t i = 0; i < seq_len(n); i++) {
		yaml_node_t *e = seq_at(x, n, i);
		struct fld f[] = {FLD("name"), FLD("typed_config")};
		idx(p, path, i);
		if (fields(x, e, p, "an access log", f, NF(f)))
			return -EINVAL;
		if (!GET(f, "typed_config"))
			return fail(x, e, p, "no typed_config");
		sub(q, p, "typed_config");
		if (want_type(x, GET(f, "typed_config"), q, "access logger", types, NF(types),
			      &type))
			return -EINVAL;
		struct fld l[] = {FLD("@type"), FLD("log_format"), FLD("path")};
		if (fields(x, GET(f, "typed_config"), q, "an access logger", l, type == 1 ? 3 : 2))
			return -EINVAL;
		if (type == 1) { /* the file logger */
			if (!GET(l, "path"))
				return fail(x, GET(f, "typed_config"), q, "no path");
			if (want_str(x, GET(l, "path"), sub(r, q, "path"), &v))
				return -EINVAL;
			if (strcmp(v, "/dev/stdout"))
				return fail(x, GET(l, "path"), r,
					    "%s: snigate writes its access log to stdout only "
					    "(use /dev/stdout)",
					    Q(v));
		}
		s->access_log = true;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Network filters                                                          */

static int sni_dfp(struct ex *x, struct st *s, yaml_node_t *tc, const char *path,
		   unsigned long long *port)
{
	struct fld f[] = {FLD("@type"), FLD("dns_cache_config"), FLD("port_value"),
			  /* filter state for other filters; there are none */
			  FLD("save_upstream_address")};
	char p[EPATH];
	bool b;

	if (fields(x, tc, path, "sni_dynamic_forward_proxy", f, NF(f)))
		return -EINVAL;
	if (!GET(f, "port_value"))
		return fail(x, tc, path, "no port_value (the port dialled on the SNI name)");
	if (want_uint(x, GET(f, "port_value"), sub(p, path, "port_value"), 1, 65535, port))
		return -EINVAL;
	if (GET(f, "save_upstream_address") && want_bool(x, GET(f, "save_upstream_address"),
							 sub(p, path, "save_upstream_address"), &b))
		return -EINVAL;
	if (!GET(f, "dns_cache_config"))
		return fail(x, tc, path, "no dns_cache_config");
	return dns_cache(x, s, GET(f, "dns_cache_config"), sub(p, path, "dns_cache_config"));
}

static int tcp_proxy(struct ex *x, struct st *s, yaml_node_t *tc, const char *path)
{
	struct fld f[] = {FLD("@type"), FLD("stat_prefix"), FLD("cluster"), FLD("idle_timeout"),
			  FLD("access_log")};
	char p[EPATH];
	const char *v;
	unsigned long long ms;
	size_t i;

	if (fields(x, tc, path, "tcp_proxy", f, NF(f)))
		return -EINVAL;
	if (GET(f, "stat_prefix") &&
	    want_str(x, GET(f, "stat_prefix"), sub(p, path, "stat_prefix"), &v))
		return -EINVAL;
	if (!GET(f, "cluster"))
		return fail(x, tc, path,
			    "no cluster: snigate relays to the dynamic forward proxy "
			    "cluster only");
	if (want_str(x, GET(f, "cluster"), sub(p, path, "cluster"), &v))
		return -EINVAL;
	for (i = 0; i < s->n_clusters && strcmp(s->clusters[i].name, v); i++)
		;
	if (i == s->n_clusters)
		return fail(x, GET(f, "cluster"), p,
			    "no cluster named %s in static_resources.clusters", Q(v));
	if (GET(f, "idle_timeout")) {
		sub(p, path, "idle_timeout");
		if (want_duration_ms(x, GET(f, "idle_timeout"), p, &ms))
			return -EINVAL;
		if (!ms)
			return fail(x, GET(f, "idle_timeout"), p,
				    "0s (no idle timeout) is not supported: snigate closes idle "
				    "relays after at most 168h");
		if (ms > 7ULL * 24 * 3600 * 1000)
			return fail(x, GET(f, "idle_timeout"), p, "out of range (0.001s..604800s)");
		if (once(x, &s->idle, ms, GET(f, "idle_timeout"), p,
			 "idle timeout for all listeners"))
			return -EINVAL;
	}
	if (GET(f, "access_log") &&
	    access_logs(x, s, GET(f, "access_log"), sub(p, path, "access_log")))
		return -EINVAL;
	return 0;
}

/* The filters of one chain: sni_dynamic_forward_proxy, then tcp_proxy, nothing else. */
static int filters(struct ex *x, struct st *s, yaml_node_t *n, const char *path,
		   unsigned long long *port)
{
	static const char *const types[] = {T_SNI_DFP, T_TCP_PROXY};
	char p[EPATH], q[EPATH];
	size_t type;
	bool seen_dfp = false, seen_tcp = false;

	if (want_seq(x, n, path))
		return -EINVAL;
	for (size_t i = 0; i < seq_len(n); i++) {
		yaml_node_t *e = seq_at(x, n, i);
		struct fld f[] = {FLD("name"), FLD("typed_config")};
		const char *v;
		idx(p, path, i);
		if (fields(x, e, p, "a network filter", f, NF(f)))
			return -EINVAL;
		if (GET(f, "name") && want_str(x, GET(f, "name"), sub(q, p, "name"), &v))
			return -EINVAL;
		if (!GET(f, "typed_config"))
			return fail(x, e, p,
				    "no typed_config: snigate tells filters apart by @type");
		sub(q, p, "typed_config");
		if (want_type(x, GET(f, "typed_config"), q, "filter", types, NF(types), &type))
			return -EINVAL;
		if (seen_tcp)
			return fail(x, e, p,
				    "a filter after tcp_proxy: tcp_proxy must be the last filter");
		if (type == 0) { /* sni_dynamic_forward_proxy */
			if (seen_dfp)
				return fail(x, e, p, "a second sni_dynamic_forward_proxy");
			seen_dfp = true;
			if (sni_dfp(x, s, GET(f, "typed_config"), q, port))
				return -EINVAL;
		} else {
			if (!seen_dfp)
				return fail(
					x, e, p,
					"tcp_proxy without sni_dynamic_forward_proxy before it: "
					"snigate always dials the SNI name");
			seen_tcp = true;
			if (tcp_proxy(x, s, GET(f, "typed_config"), q))
				return -EINVAL;
		}
	}
	if (!seen_tcp)
		return fail(x, n, path,
			    "the chain must be sni_dynamic_forward_proxy then tcp_proxy; no "
			    "tcp_proxy here");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Listeners                                                                */

static int add_name(struct ex *x, struct envoy_listener *l, const char *name, const yaml_node_t *n,
		    const char *path)
{
	size_t len = strlen(name);
	struct conf *probe = conf_new_default();
	struct conf_error e = {0};

	if (!probe)
		return oom(x);
	/* conf's own rules decide what a valid entry is, so both formats agree. */
	int rc = conf_add_allow(probe, name, &e);
	conf_free(probe);
	if (rc == -ENOMEM)
		return oom(x);
	if (rc)
		return fail(x, n, path, "%s is %s", Q(name), e.msg);
	if (l->n_names == MAX_NAMES)
		return fail(x, n, path, "more than %u server_names", MAX_NAMES);
	char **v = realloc(l->names, (l->n_names + 1) * sizeof(*v));
	if (!v)
		return oom(x);
	l->names = v;
	unsigned *lines = realloc(l->lines, (l->n_names + 1) * sizeof(*lines));
	if (!lines)
		return oom(x);
	l->lines = lines;
	if (len && name[len - 1] == '.')
		len--;
	char *s = strndup(name, len);
	if (!s)
		return oom(x);
	for (char *c = s; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	l->names[l->n_names] = s;
	l->lines[l->n_names++] = conf_yaml_line(n);
	return 0;
}

static int chain(struct ex *x, struct st *s, struct envoy_listener *l, yaml_node_t *n,
		 const char *path)
{
	struct fld f[] = {FLD("name"), FLD("filter_chain_match"), FLD("filters"), FLD("metadata")};
	struct fld m[] = {FLD("server_names"), FLD("transport_protocol")};
	char p[EPATH], q[EPATH], r[EPATH];
	const char *v;
	unsigned long long port = 0;

	if (fields(x, n, path, "a filter chain", f, NF(f)))
		return -EINVAL;
	sub(p, path, "filter_chain_match");
	if (!GET(f, "filter_chain_match"))
		return fail(x, n, path,
			    "no filter_chain_match: this chain would take every name, and snigate "
			    "only relays allowlisted names (list them in server_names)");
	if (fields(x, GET(f, "filter_chain_match"), p, "filter_chain_match", m, NF(m)))
		return -EINVAL;
	if (GET(m, "transport_protocol")) {
		if (want_str(x, GET(m, "transport_protocol"), sub(q, p, "transport_protocol"), &v))
			return -EINVAL;
		if (strcmp(v, "tls"))
			return fail(x, GET(m, "transport_protocol"), q,
				    "%s: snigate relays TLS only (transport_protocol: tls)", Q(v));
	}
	sub(q, p, "server_names");
	if (!GET(m, "server_names") || (GET(m, "server_names")->type == YAML_SEQUENCE_NODE &&
					!seq_len(GET(m, "server_names"))))
		return fail(x, GET(f, "filter_chain_match"), q,
			    "empty: this chain would take every name, and snigate only relays "
			    "allowlisted names");
	if (want_seq(x, GET(m, "server_names"), q))
		return -EINVAL;
	for (size_t i = 0; i < seq_len(GET(m, "server_names")); i++) {
		yaml_node_t *e = seq_at(x, GET(m, "server_names"), i);
		idx(r, q, i);
		if (want_str(x, e, r, &v) || add_name(x, l, v, e, r))
			return -EINVAL;
	}
	sub(p, path, "filters");
	if (!GET(f, "filters"))
		return fail(x, n, path, "no filters");
	if (filters(x, s, GET(f, "filters"), p, &port))
		return -EINVAL;
	if (!l->upstream_port) {
		l->upstream_port = port;
	} else if (l->upstream_port != port) {
		return fail(x, GET(f, "filters"), p,
			    "port_value %llu differs from another chain of this listener (%llu): "
			    "snigate dials one upstream port per listener",
			    port, l->upstream_port);
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in a but not in b (both sorted, duplicates allowed), for a message. */
static void names_missing(char **a, size_t na, char **b, size_t nb, char *out, size_t len)
{
	size_t o = 0, j = 0;

	out[0] = '\0';
	for (size_t i = 0; i < na && o < len; i++) {
		while (j < nb && strcmp(b[j], a[i]) < 0)
			j++;
		if (j < nb && !strcmp(b[j], a[i]))
			continue;
		if (i && !strcmp(a[i], a[i - 1]))
			continue;
		o += (size_t)snprintf(out + o, len - o, "%s%s", o ? ", " : "", a[i]);
	}
}

/*
 * snigate has one allowlist for all listeners, so every Envoy listener must
 * let through the same names.
 */
static int same_names(struct ex *x, struct st *s)
{
	char **ref = NULL, **cur = NULL;
	int rc = 0;

	for (size_t i = 1; i < s->n_ls && !rc; i++) {
		struct envoy_listener *a = &s->ls[0], *b = &s->ls[i];
		char only_b[160], only_a[160];
		ref = malloc((a->n_names + 1) * sizeof(*ref));
		cur = malloc((b->n_names + 1) * sizeof(*cur));
		if (!ref || !cur) {
			rc = oom(x);
			break;
		}
		memcpy(ref, a->names, a->n_names * sizeof(*ref));
		memcpy(cur, b->names, b->n_names * sizeof(*cur));
		qsort(ref, a->n_names, sizeof(*ref), name_cmp);
		qsort(cur, b->n_names, sizeof(*cur), name_cmp);
		names_missing(cur, b->n_names, ref, a->n_names, only_b, sizeof(only_b));
		names_missing(ref, a->n_names, cur, b->n_names, only_a, sizeof(only_a));
		if (only_a[0] || only_b[0])
			rc = fail(x, b->node, b->path,
				  "its server_names differ from %s's (snigate has one allowlist "
				  "for all listeners): only here: %s; only there: %s",
				  a->path, only_b[0] ? only_b : "none",
				  only_a[0] ? only_a : "none");
		free(ref);
		free(cur);
		ref = cur = NULL;
	}
	free(ref);
	free(cur);
	return rc;
}

static int listener(struct ex *x, struct st *s, yaml_node_t *n, const char *path)
{
	static const char *const ltypes[] = {T_TLS_INSPECT};
	struct fld f[] = {
		FLD("name"), FLD("address"), FLD("listener_filters"), FLD("filter_chains"),
		FLD("listener_filters_timeout"), FLD("continue_on_listener_filters_timeout"),
		FLD("access_log"),
		/* harmless: statistics, kernel hints snigate already applies, drain mode */
		FLD("stat_prefix"), FLD("traffic_direction"), FLD("enable_reuse_port"),
		FLD("per_connection_buffer_limit_bytes"), FLD("drain_type")};
	char p[EPATH], q[EPATH], ip[INET6_ADDRSTRLEN + 1];
	const char *v;
	size_t type;
	unsigned long long port, u;
	bool b, inspector = false;

	struct envoy_listener *ls = realloc(s->ls, (s->n_ls + 1) * sizeof(*ls));
	if (!ls)
		return oom(x);
	s->ls = ls;
	struct envoy_listener *l = &s->ls[s->n_ls++];
	*l = (struct envoy_listener){.node = n};
	snprintf(l->path, sizeof(l->path), "%s", path);

	if (fields(x, n, path, "a listener", f, NF(f)))
		return -EINVAL;
	if (!GET(f, "address"))
		return fail(x, n, path, "no address");
	if (address(x, GET(f, "address"), sub(p, path, "address"), true, ip, sizeof(ip), &port))
		return -EINVAL;
	hostport(l->addr, sizeof(l->addr), ip, port);
	for (size_t i = 0; i + 1 < s->n_ls; i++)
		if (!strcmp(s->ls[i].addr, l->addr))
			return fail(x, GET(f, "address"), p, "%s is already %s (line %u)", l->addr,
				    s->ls[i].path, conf_yaml_line(s->ls[i].node));

	static const char *const strs[] = {"name", "stat_prefix", "traffic_direction",
					   "drain_type"};
	for (size_t i = 0; i < NF(strs); i++)
		if (get(f, NF(f), strs[i]) &&
		    want_str(x, get(f, NF(f), strs[i]), sub(q, path, strs[i]), &v))
			return -EINVAL;
	if (GET(f, "enable_reuse_port") &&
	    want_bool(x, GET(f, "enable_reuse_port"), sub(q, path, "enable_reuse_port"), &b))
		return -EINVAL;
	if (GET(f, "per_connection_buffer_limit_bytes") &&
	    want_uint(x, GET(f, "per_connection_buffer_limit_bytes"),
		      sub(q, path, "per_connection_buffer_limit_bytes"), 0, UINT_MAX, &u))
		return -EINVAL;

	sub(p, path, "listener_filters");
	if (GET(f, "listener_filters")) {
		yaml_node_t *lf = GET(f, "listener_filters");
		if (want_seq(x, lf, p))
			return -EINVAL;
		for (size_t i = 0; i < seq_len(lf); i++) {
			yaml_node_t *e = seq_at(x, lf, i);
			struct fld g[] = {FLD("name"), FLD("typed_config")};
			struct fld t[] = {
				FLD("@type"),
				/* fingerprints and a read-size hint: no effect on what passes */
				FLD("enable_ja3_fingerprinting"), FLD("enable_ja4_fingerprinting"),
				FLD("initial_read_buffer_size")};
			char r[EPATH];
			idx(q, p, i);
			if (fields(x, e, q, "a listener filter", g, NF(g)))
				return -EINVAL;
			if (!GET(g, "typed_config"))
				return fail(
					x, e, q,
					"no typed_config: snigate tells filters apart by @type");
			sub(r, q, "typed_config");
			if (want_type(x, GET(g, "typed_config"), r, "listener filter", ltypes,
				      NF(ltypes), &type) ||
			    fields(x, GET(g, "typed_config"), r, "tls_inspector", t, NF(t)))
				return -EINVAL;
			inspector = true;
		}
	}

	if (GET(f, "listener_filters_timeout")) {
		sub(q, path, "listener_filters_timeout");
		if (want_duration_ms(x, GET(f, "listener_filters_timeout"), q, &u))
			return -EINVAL;
		if (!u)
			return fail(x, GET(f, "listener_filters_timeout"), q,
				    "0s (no timeout) is not supported: snigate bounds the time to "
				    "a whole ClientHello");
		if (u > 24ULL * 3600 * 1000)
			return fail(x, GET(f, "listener_filters_timeout"), q,
				    "out of range (0.001s..86400s)");
		if (once(x, &s->hello, u, GET(f, "listener_filters_timeout"), q,
			 "ClientHello timeout for all listeners"))
			return -EINVAL;
	}
	if (want_false(x, GET(f, "continue_on_listener_filters_timeout"),
		       sub(q, path, "continue_on_listener_filters_timeout"),
		       "a connection without a whole ClientHello is reset"))
		return -EINVAL;
	if (GET(f, "access_log") &&
	    access_logs(x, s, GET(f, "access_log"), sub(q, path, "access_log")))
		return -EINVAL;

	if (!inspector)
		return fail(x, n, path,
			    "no tls_inspector listener filter: without it Envoy matches no "
			    "server_names, while snigate always reads the SNI");
	sub(p, path, "filter_chains");
	if (!GET(f, "filter_chains"))
		return fail(x, n, path, "no filter_chains");
	if (want_seq(x, GET(f, "filter_chains"), p))
		return -EINVAL;
	if (!seq_len(GET(f, "filter_chains")))
		return fail(x, GET(f, "filter_chains"), p, "empty");
	for (size_t i = 0; i < seq_len(GET(f, "filter_chains")); i++)
		if (chain(x, s, l, seq_at(x, GET(f, "filter_chains"), i), idx(q, p, i)))
			return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The bootstrap                                                            */

static int admin(struct ex *x, struct st *s, yaml_node_t *n, const char *path)
{
	struct fld f[] = {FLD("address"),
			  /* the admin interface's own request log and profiler output */
			  FLD("access_log_path"), FLD("access_log"), FLD("profile_path")};
	char p[EPATH], ip[INET6_ADDRSTRLEN + 1];
	unsigned long long port;

	if (fields(x, n, path, "admin", f, NF(f)))
		return -EINVAL;
	if (!GET(f, "address"))
		return 0;
	if (address(x, GET(f, "address"), sub(p, path, "address"), true, ip, sizeof(ip), &port))
		return -EINVAL;
	hostport(s->admin, sizeof(s->admin), ip, port);
	return 0;
}

static int bootstrap(struct ex *x, struct st *s, yaml_node_t *root)
{
	/* node is identity for xDS and stats; without xDS it changes nothing. */
	struct fld f[] = {FLD("static_resources"), FLD("admin"), FLD("node")};
	struct fld r[] = {FLD("listeners"), FLD("clusters")};
	char p[EPATH];

	if (fields(x, root, "", "an Envoy bootstrap", f, NF(f)))
		return -EINVAL;
	if (GET(f, "admin") && admin(x, s, GET(f, "admin"), "admin"))
		return -EINVAL;
	if (!GET(f, "static_resources"))
		return 0;
	if (fields(x, GET(f, "static_resources"), "static_resources", "static_resources", r, NF(r)))
		return -EINVAL;
	/* Clusters first: a tcp_proxy names one. */
	if (GET(r, "clusters")) {
		if (want_seq(x, GET(r, "clusters"), "static_resources.clusters"))
			return -EINVAL;
		for (size_t i = 0; i < seq_len(GET(r, "clusters")); i++)
			if (cluster(x, s, seq_at(x, GET(r, "clusters"), i),
				    idx(p, "static_resources.clusters", i)))
				return -EINVAL;
	}
	if (GET(r, "listeners")) {
		if (want_seq(x, GET(r, "listeners"), "static_resources.listeners"))
			return -EINVAL;
		for (size_t i = 0; i < seq_len(GET(r, "listeners")); i++)
			if (listener(x, s, seq_at(x, GET(r, "listeners"), i),
				     idx(p, "static_resources.listeners", i)))
				return -EINVAL;
	}
	return same_names(x, s);
}

/* The collected settings into c, through conf's own setters and checks. */
static int build(struct ex *x, struct st *s, struct conf *c)
{
	struct conf_error e = {0};
	int rc;

	for (size_t i = 0; i < s->n_ls; i++) {
		if ((rc = conf_add_listener(c, s->ls[i].addr, &e)))
			return rc == -ENOMEM ? oom(x)
					     : fail(x, s->ls[i].node, s->ls[i].path, "%s", e.msg);
		c->listeners[c->n_listeners - 1].upstream_port = (uint16_t)s->ls[i].upstream_port;
		c->listeners[c->n_listeners - 1].line = conf_yaml_line(s->ls[i].node);
		/* The Envoy listener took TLS only: a CONNECT request matched no chain. */
		c->listeners[c->n_listeners - 1].protocol = CONF_PROTO_TLS;
	}
	for (size_t i = 0; s->n_ls && i < s->ls[0].n_names; i++) {
		if ((rc = conf_add_allow(c, s->ls[0].names[i], &e)))
			return rc == -ENOMEM ? oom(x) : fail(x, NULL, s->ls[0].path, "%s", e.msg);
		c->allow_lines[c->n_allow - 1] = s->ls[0].lines[i];
	}
	if (s->cache_set) {
		c->resolver.family = s->cache.family;
		for (unsigned i = 0; i < s->cache.n_fwd; i++)
			if ((rc = conf_add_forwarder(c, s->cache.fwd[i], &e)))
				return rc == -ENOMEM ? oom(x)
						     : fail(x, NULL, s->cache_path, "%s", e.msg);
		if (s->cache.dns_ms)
			c->timeouts.dns_ms = (unsigned)s->cache.dns_ms;
	} else {
		c->resolver.family = CONF_AUTO; /* Envoy's default */
	}
	if (s->connect.set)
		c->timeouts.connect_ms = (unsigned)s->connect.v;
	if (s->hello.set)
		c->timeouts.client_hello_ms = (unsigned)s->hello.v;
	if (s->idle.set)
		c->timeouts.idle_ms = (unsigned)s->idle.v;
	if (s->admin[0]) {
		/* Replaces the default admin address, if conf has one. */
		char *a = strdup(s->admin);
		if (!a)
			return oom(x);
		free(c->admin_address);
		c->admin_address = a;
	}
	/* Envoy writes no per-connection line unless an access_log says so. */
	c->access_log = s->access_log;
	return 0;
}

int conf_envoy_load_doc(struct conf_yaml *y, const char *name, struct conf **out,
			struct conf_error *err)
{
	struct ex x = {.file = name, .y = y, .err = err};
	yaml_node_t *root = conf_yaml_root(y);
	struct st s = {0};
	struct conf *c = NULL;
	int rc;

	*out = NULL;
	if (conf_yaml_is_null(root)) {
		rc = fail(&x, root, "", "empty: an Envoy bootstrap needs static_resources");
		goto out;
	}
	if ((rc = bootstrap(&x, &s, root)))
		goto out;
	if (!(c = conf_new_default()) || (name && !(c->path = strdup(name)))) {
		rc = oom(&x);
		goto out;
	}
	if ((rc = build(&x, &s, c)))
		goto out;
	/* conf's cross-field rules, once there is something to check them on. */
	if (c->n_listeners && c->n_allow && (rc = conf_validate(c, x.err)))
		goto out;
out:
	st_free(&s);
	if (rc) {
		conf_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Files and formats                                                        */

bool conf_envoy_detect_doc(struct conf_yaml *y)
{
	struct ex x = {.y = y};
	yaml_node_t *root = conf_yaml_root(y);
	bool envoy = false;

	for (yaml_node_pair_t *pr = root && root->type == YAML_MAPPING_NODE
					    ? root->data.mapping.pairs.start
					    : NULL;
	     pr && pr < root->data.mapping.pairs.top && !envoy; pr++) {
		const char *k = conf_yaml_scalar(node(&x, pr->key));
		yaml_node_t *v = node(&x, pr->value);
		if (!k)
			continue;
		envoy = !strcmp(k, "static_resources") || !strcmp(k, "staticResources") ||
			!strcmp(k, "dynamic_resources") || !strcmp(k, "dynamicResources") ||
			!strcmp(k, "node");
		if (strcmp(k, "admin") || v->type != YAML_MAPPING_NODE)
			continue;
		/* Envoy's admin.address is an Address mapping; snigate's is "IP:port". */
		for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
		     q < v->data.mapping.pairs.top; q++) {
			const char *ak = conf_yaml_scalar(node(&x, q->key));
			if (ak && !strcmp(ak, "address") &&
			    node(&x, q->value)->type == YAML_MAPPING_NODE)
				envoy = true;
		}
	}
	return envoy;
}

static const char *const format_names[] = {
	[CONF_FORMAT_AUTO] = "auto",
	[CONF_FORMAT_NATIVE] = "native",
	[CONF_FORMAT_ENVOY] = "envoy",
};

int conf_format_parse(const char *s, enum conf_format *out)
{
	for (unsigned i = 0; s && i < NF(format_names); i++) {
		if (!strcmp(s, format_names[i])) {
			*out = (enum conf_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *conf_format_str(enum conf_format f)
{
	return (unsigned)f < NF(format_names) ? format_names[f] : "?";
}
