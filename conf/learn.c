/* SPDX-License-Identifier: MIT */
/*
 * learn: access lines in, a proposed configuration out.
 *
 * Lines are read once and folded into groups (one per policy to be), each
 * a hash map of host names with what was seen of them: how often, first
 * and last "ts", the CONNECT ports, whether a raw TLS client asked. Nothing
 * of a line is kept, so the memory is the distinct names, not the log.
 *
 * The writing reuses conf/dump.c for everything but the policies, so the
 * rest of a given configuration comes out as `snigate convert` writes it;
 * the policies are written here because each entry carries a comment,
 * which struct conf has no room for. The text is then loaded back and
 * validated: conf/ decides whether it is a configuration, not this file.
 */
#include "conf/learn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_error.h"
#include "conf/dump.h"
#include "conf/jsonline.h"
#include "sni/hostname.h"
#include "sni/psl.h"

#define TS_MAX	    40	 /* "2026-12-07T10:51:00.123Z" and room for other offsets */
#define USER_MAX    256	 /* bytes of a proxy user */
#define TALLY_MAX   4096 /* distinct clients or listeners remembered for the notes */
#define NOTE_LIST   20	 /* of those, the most frequent named one by one */
#define HINT_NAMES  5	 /* names listed in a wildcard's comment */
#define SOURCE_NAME "--source"

/* An address as sni/rules matches it: IPv4 as IPv4-mapped IPv6. */
struct addr {
	uint8_t a[16];
	uint16_t port;
	bool v6; /* written as [v6]:port */
};

struct cidr {
	uint8_t a[16];
	unsigned bits; /* 0..128, IPv4 as 96 + its prefix */
};

/* Open addressing over strings owned by the map; a value per key. */
struct map_e {
	char *key;
	size_t val;
	uint64_t h;
};

struct map {
	struct map_e *e;
	size_t cap, n; /* cap: 0 or a power of two */
};

/* One host name in one group. */
struct obs {
	const char *name; /* the group's map owns it */
	unsigned long long n, would;
	char first[TS_MAX], last[TS_MAX];
	uint16_t ports[CONF_MAX_CONNECT_PORTS]; /* CONNECT ports, sorted */
	unsigned n_ports;
	bool more_ports; /* more distinct ports than an entry may list */
	bool tls;	 /* a raw TLS client asked: the listener's upstream_port */
};

enum gkind { G_USER = 0, G_LISTENER, G_SOURCE }; /* also the order --by user writes them in */

struct group {
	enum gkind kind;
	char *label;  /* user, listener as the log or the config says, source name */
	int listener; /* the base's listener, or -1 */
	unsigned source;
	struct map names;
	struct obs *obs;
	size_t n_obs, cap_obs;
	unsigned long long conns;
	char policy[CONF_POLICY_NAME_MAX + 1]; /* chosen by learn_write() */
	const char *lname;		       /* listener groups: the name match lists */
};

/* How often each of a bounded set of keys was seen, for a note. */
struct tally {
	struct map m;
	unsigned long long *n;
	unsigned long long rest; /* lines of keys past TALLY_MAX */
};

struct learn {
	struct learn_opts o;
	struct cidr *src;
	unsigned long long *src_conns;
	struct learn_counts c;
	struct group *g;
	size_t n_g, cap_g;
	struct map gmap;      /* group key to index */
	struct map listeners; /* no base: listener addresses seen, to write */
	struct tally unmatched, unknown;
	char first[TS_MAX], last[TS_MAX];
	char **notes;
	unsigned n_notes;
	char *buf; /* LEARN_LINE_MAX bytes: learn_read()'s line */
	struct jsonline jl;
};

/* ------------------------------------------------------------------------ */
/* Maps                                                                     */

/*
 * FNV-1a: keys are short. Clients choose their SNI, so a crafted log could
 * make keys collide; that slows learn down and changes nothing it writes.
 */
static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h;
}

/* The slot of key, or the empty slot where it would go. */
static size_t map_slot(const struct map *m, const char *key, size_t n, uint64_t h)
{
	size_t i = (size_t)h & (m->cap - 1);

	while (m->e[i].key && (m->e[i].h != h || strncmp(m->e[i].key, key, n) || m->e[i].key[n]))
		i = (i + 1) & (m->cap - 1);
	return i;
}

/* The value of key[0..n), or -1. */
static long map_get(const struct map *m, const char *key, size_t n)
{
	if (!m->cap)
		return -1;
	size_t i = map_slot(m, key, n, hash(key, n));
	return m->e[i].key ? (long)m->e[i].val : -1;
}

/* Add key[0..n) (not in m yet) with val; the stored copy of the key, or NULL (no memory). */
static const char *map_add(struct map *m, const char *key, size_t n, size_t val)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct map_e *e = calloc(cap, sizeof(*e));
		if (!e)
			return NULL;
		struct map old = *m;
		m->e = e;
		m->cap = cap;
		for (size_t i = 0; i < old.cap; i++)
			if (old.e[i].key)
				m->e[map_slot(m, old.e[i].key, strlen(old.e[i].key), old.e[i].h)] =
					old.e[i];
		free(old.e);
	}
	uint64_t h = hash(key, n);
	size_t i = map_slot(m, key, n, h);
	char *k = malloc(n + 1);
	if (!k)
		return NULL;
	memcpy(k, key, n);
	k[n] = '\0';
	m->e[i] = (struct map_e){.key = k, .val = val, .h = h};
	m->n++;
	return k;
}

static void map_free(struct map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->e[i].key);
	free(m->e);
	*m = (struct map){0};
}

/* One more line for key; keys past TALLY_MAX are only counted. 0 or -ENOMEM. */
static int tally_add(struct tally *t, const char *key)
{
	size_t n = strlen(key);
	long at = map_get(&t->m, key, n);

	if (at >= 0) {
		t->n[at]++;
		return 0;
	}
	if (t->m.n >= TALLY_MAX) {
		t->rest++;
		return 0;
	}
	if (!t->n && !(t->n = calloc(TALLY_MAX, sizeof(*t->n))))
		return -ENOMEM;
	if (!map_add(&t->m, key, n, t->m.n))
		return -ENOMEM;
	t->n[t->m.n - 1] = 1;
	return 0;
}

static void tally_free(struct tally *t)
{
	map_free(&t->m);
	free(t->n);
}

/* ------------------------------------------------------------------------ */
/* Addresses                                                                */

static bool parse_ip(const char *s, struct addr *out)
{
	memset(out->a, 0, sizeof(out->a));
	if (inet_pton(AF_INET, s, out->a + 12) == 1) {
		out->a[10] = out->a[11] = 0xff;
		out->v6 = false;
		return true;
	}
	out->v6 = true;
	return inet_pton(AF_INET6, s, out->a) == 1;
}

/* "1..65535" exactly; 0 when not. */
static unsigned parse_port(const char *s, size_t n)
{
	unsigned v = 0;

	if (!n || n > 5 || (s[0] == '0'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535 ? v : 0;
}

/* "192.0.2.1:443" or "[2001:db8::1]:443", as the access log writes client and listener. */
static bool parse_hostport(const char *s, struct addr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	bool bracketed = s[0] == '[';
	const char *colon;
	size_t hn;

	if (bracketed) {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		hn = (size_t)(close - s - 1);
		s++;
		colon = close + 1;
	} else {
		if (!(colon = strrchr(s, ':')))
			return false;
		hn = (size_t)(colon - s);
	}
	if (!hn || hn >= sizeof(host))
		return false;
	memcpy(host, s, hn);
	host[hn] = '\0';
	unsigned port = parse_port(colon + 1, strlen(colon + 1));
	/* IPv6 only in brackets, IPv4 only without: "::1:80" and "[1.2.3.4]:80" are neither. */
	if (!port || !parse_ip(host, out) || out->v6 != bracketed)
		return false;
	out->port = (uint16_t)port;
	return true;
}

/* a's address alone: "192.0.2.1", "2001:db8::1"; buf. */
static const char *ip_str(const struct addr *a, char *buf, size_t len)
{
	inet_ntop(a->v6 ? AF_INET6 : AF_INET, a->v6 ? a->a : a->a + 12, buf, (socklen_t)len);
	return buf;
}

/* a as the access log writes it: "192.0.2.1:443", "[2001:db8::1]:443"; buf. */
static const char *addr_str(const struct addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->v6) {
		inet_ntop(AF_INET6, a->a, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, a->port);
	} else {
		inet_ntop(AF_INET, a->a + 12, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, a->port);
	}
	return buf;
}

/* A source as conf/ reads one: "10.0.0.0/8", "fd00::/8" or an address; NULL or why not. */
static const char *parse_cidr(const char *s, struct cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	struct addr a;
	unsigned bits, max;

	if (!n || n >= sizeof(host))
		return "is not an address or CIDR (e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)";
	memcpy(host, s, n);
	host[n] = '\0';
	if (!parse_ip(host, &a))
		return "is not an address or CIDR (e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)";
	max = a.v6 ? 128 : 32;
	bits = max;
	if (slash) {
		size_t dn = strlen(slash + 1);
		if (!dn || dn > 3 || strspn(slash + 1, "0123456789") != dn)
			return "has no prefix length after the '/'";
		bits = (unsigned)atoi(slash + 1);
		if (bits > max)
			return a.v6 ? "has a prefix length outside 0..128"
				    : "has a prefix length outside 0..32";
	}
	bits += a.v6 ? 0 : 96;
	for (unsigned i = bits; i < 128; i++)
		if (a.a[i / 8] & (0x80 >> (i % 8)))
			return "has bits set past the prefix length";
	memcpy(out->a, a.a, sizeof(out->a));
	out->bits = bits;
	return NULL;
}

/* Whether a's first c->bits bits are c's. */
static bool in_cidr(const struct cidr *c, const uint8_t a[16])
{
	unsigned whole = c->bits / 8, rest = c->bits % 8;

	if (memcmp(a, c->a, whole))
		return false;
	return !rest || ((a[whole] ^ c->a[whole]) & (0xff00 >> rest) & 0xff) == 0;
}

/* The base's listener that the log's "listener" names (by name, or by address), or -1. */
static int base_listener(const struct conf *c, const char *text)
{
	struct addr a, b;

	for (unsigned i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].name && !strcmp(c->listeners[i].name, text))
			return (int)i;
	if (!parse_hostport(text, &a))
		return -1;
	for (unsigned i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		if (l->address && parse_ip(l->address, &b) && l->port == a.port &&
		    !memcmp(a.a, b.a, sizeof(a.a)))
			return (int)i;
	}
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

int learn_by_parse(const char *s, enum learn_by *out)
{
	static const char *const names[] = {"listener", "user", "cidr"};

	for (unsigned i = 0; i < 3; i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum learn_by)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* A policy name: 1..63 of A-Z a-z 0-9 _ . - (conf/CONFIG.md). */
static bool policy_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n <= CONF_POLICY_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

int learn_new(const struct learn_opts *o, struct learn **out, struct conf_error *err)
{
	struct learn *l;

	*out = NULL;
	if (o->by > LEARN_BY_CIDR)
		return conf_error_set(err, -EINVAL, "", 0, "--by", "use listener, user or cidr");
	if (o->wildcards == 1)
		return conf_error_set(err, -EINVAL, "", 0, "--wildcards",
				      "1 would turn every name into a wildcard: use 2 or more");
	if (o->mode != CONF_MODE_DEFAULT && o->mode != CONF_ENFORCE && o->mode != CONF_AUDIT)
		return conf_error_set(err, -EINVAL, "", 0, "--mode", "use enforce or audit");
	if (o->by == LEARN_BY_USER && !o->base)
		return conf_error_set(err, -EINVAL, "", 0, "--by",
				      "user needs -c CONFIG: the users authenticate with its "
				      "listeners' proxy_auth_file");
	if ((o->by == LEARN_BY_CIDR) != (o->n_sources > 0))
		return conf_error_set(err, -EINVAL, "", 0, SOURCE_NAME,
				      o->n_sources ? "only with --by cidr"
						   : "--by cidr needs at least one --source "
						     "NAME=CIDR");
	if (o->n_sources > CONF_MAX_POLICIES)
		return conf_error_set(err, -EINVAL, "", 0, SOURCE_NAME, "at most %u",
				      CONF_MAX_POLICIES);
	if (!(l = calloc(1, sizeof(*l))))
		return -ENOMEM;
	l->o = *o;
	if (!l->o.mode)
		l->o.mode = CONF_ENFORCE;
	if (!(l->buf = malloc(LEARN_LINE_MAX)) ||
	    (o->n_sources && (!(l->src = calloc(o->n_sources, sizeof(*l->src))) ||
			      !(l->src_conns = calloc(o->n_sources, sizeof(*l->src_conns)))))) {
		learn_free(l);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < o->n_sources; i++) {
		const struct learn_source *s = &o->sources[i];
		const char *why, *cidr_why = NULL;

		if (!policy_name_ok(s->name))
			why = "NAME is the policy's name: 1..63 of A-Z a-z 0-9 _ . -";
		else if (!strcmp(s->name, CONF_DEFAULT_POLICY))
			why = "\"default\" is the top-level allow's policy: choose another NAME";
		else
			why = cidr_why = parse_cidr(s->cidr, &l->src[i]);
		for (unsigned j = 0; !why && j < i; j++) {
			if (!strcmp(o->sources[j].name, s->name))
				why = "NAME given twice";
			/* conf/ refuses a policy an earlier one shadows: say so here, by flag. */
			else if (l->src[j].bits <= l->src[i].bits &&
				 in_cidr(&l->src[j], l->src[i].a))
				why = "inside an earlier --source, which takes all its clients";
		}
		if (why) {
			char flag[160];
			snprintf(flag, sizeof(flag), "%s=%s", s->name, s->cidr);
			for (char *p = flag; *p; p++)
				*p = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
			conf_error_set(err, -EINVAL, "", 0, "", SOURCE_NAME " %s: %s%s", flag,
				       cidr_why ? "CIDR " : "", why);
			learn_free(l);
			return -EINVAL;
		}
	}
	*out = l;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Lines                                                                    */

/* A "ts" as the log writes it: digits, letters, ":.+-"; nothing that could end a comment. */
static bool ts_ok(const char *s)
{
	size_t n = strlen(s);

	return n && strspn(s, "0123456789abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ:.+-") == n;
}

/*
 * A proxy user that YAML can carry in a double-quoted scalar as it is: no
 * ':' (conf/ refuses one), no control byte, and otherwise printable UTF-8
 * as libyaml counts it (a user comes from the credentials file, which
 * allows any of that).
 */
static bool user_ok(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	if (!*p)
		return false;
	while (*p) {
		uint32_t u;
		unsigned k;
		if (*p < 0x80) {
			if (*p < 0x20 || *p == 0x7f || *p == ':')
				return false;
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			u = *p & 0x1f, k = 1;
		else if ((*p & 0xf0) == 0xe0)
			u = *p & 0x0f, k = 2;
		else if ((*p & 0xf8) == 0xf0)
			u = *p & 0x07, k = 3;
		else
			return false;
		for (unsigned j = 1; j <= k; j++) {
			if ((p[j] & 0xc0) != 0x80)
				return false;
			u = u << 6 | (p[j] & 0x3f);
		}
		/* Overlong forms, surrogates, and what libyaml calls unprintable. */
		if ((k == 1 && u < 0x80) || (k == 2 && u < 0x800) || (k == 3 && u < 0x10000) ||
		    u > 0x10ffff || u < 0xa0 || (u >= 0xd800 && u <= 0xdfff) || u == 0xfeff ||
		    u == 0xfffe || u == 0xffff)
			return false;
		p += k + 1;
	}
	return true;
}

static struct group *group_get(struct learn *l, enum gkind kind, const char *label, int listener,
			       unsigned source)
{
	char key[USER_MAX + 16];
	int kn = kind == G_LISTENER && listener >= 0 ? snprintf(key, sizeof(key), "l#%d", listener)
		 : kind == G_SOURCE
			 ? snprintf(key, sizeof(key), "s#%u", source)
			 : snprintf(key, sizeof(key), "%c=%s", kind == G_USER ? 'u' : 'l', label);
	if (kn < 0 || (size_t)kn >= sizeof(key))
		return NULL;
	long at = map_get(&l->gmap, key, (size_t)kn);
	if (at >= 0)
		return &l->g[at];
	if (l->n_g == l->cap_g) {
		size_t cap = l->cap_g ? l->cap_g * 2 : 8;
		struct group *g = realloc(l->g, cap * sizeof(*g));
		if (!g)
			return NULL;
		l->g = g;
		l->cap_g = cap;
	}
	struct group *g = &l->g[l->n_g];
	*g = (struct group){.kind = kind, .listener = listener, .source = source};
	if (!(g->label = strdup(label)))
		return NULL;
	if (!map_add(&l->gmap, key, (size_t)kn, l->n_g)) {
		free(g->label);
		return NULL;
	}
	l->n_g++;
	return g;
}

/* port: the CONNECT port, 0 for a raw TLS client. 0 or -ENOMEM. */
static int observe(struct group *g, const char *name, size_t n, const char *ts, bool would,
		   unsigned port)
{
	long at = map_get(&g->names, name, n);
	struct obs *o;

	if (at < 0) {
		if (g->n_obs == g->cap_obs) {
			size_t cap = g->cap_obs ? g->cap_obs * 2 : 16;
			struct obs *v = realloc(g->obs, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			g->obs = v;
			g->cap_obs = cap;
		}
		o = &g->obs[g->n_obs];
		*o = (struct obs){0};
		if (!(o->name = map_add(&g->names, name, n, g->n_obs)))
			return -ENOMEM;
		g->n_obs++;
		snprintf(o->first, sizeof(o->first), "%s", ts);
		snprintf(o->last, sizeof(o->last), "%s", ts);
	} else {
		o = &g->obs[at];
		if (strcmp(ts, o->first) < 0)
			snprintf(o->first, sizeof(o->first), "%s", ts);
		if (strcmp(ts, o->last) > 0)
			snprintf(o->last, sizeof(o->last), "%s", ts);
	}
	o->n++;
	o->would += would;
	g->conns++;
	if (!port) {
		o->tls = true;
		return 0;
	}
	unsigned k = 0;
	while (k < o->n_ports && o->ports[k] < port)
		k++;
	if (k < o->n_ports && o->ports[k] == port)
		return 0;
	if (o->n_ports == CONF_MAX_CONNECT_PORTS) {
		/* Keep the lowest ones: the list stays what some connections used. */
		o->more_ports = true;
		if (k == o->n_ports)
			return 0;
		o->n_ports--;
	}
	memmove(o->ports + k + 1, o->ports + k, (o->n_ports - k) * sizeof(o->ports[0]));
	o->ports[k] = (uint16_t)port;
	o->n_ports++;
	return 0;
}

static int overlong(struct learn *l, const char *line, size_t len)
{
	size_t i = 0;

	l->c.lines++;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i < len && line[i] == '{')
		l->c.malformed++;
	else
		l->c.other++;
	return 0;
}

int learn_line(struct learn *l, const char *line, size_t len)
{
	char ts[TS_MAX], dec[16], path[16], lis[128], client[64], user[USER_MAX], name[320];
	const struct jsonline_value *v;
	struct hostname hn;
	size_t i = 0;
	unsigned port = 0;
	bool has_user = false;

	l->c.lines++;
	while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
		i++;
	if (i == len || line[i] != '{') {
		l->c.other++;
		return 0;
	}
	if (len > LEARN_LINE_MAX || jsonline_parse(line, len, &l->jl, NULL))
		goto malformed;
	const struct jsonline *o = &l->jl;
	if (jsonline_str(jsonline_get(o, "ts"), ts, sizeof(ts)) < 0 || !ts_ok(ts) ||
	    jsonline_str(jsonline_get(o, "decision"), dec, sizeof(dec)) < 0 ||
	    jsonline_str(jsonline_get(o, "path"), path, sizeof(path)) < 0 ||
	    jsonline_str(jsonline_get(o, "listener"), lis, sizeof(lis)) <= 0 ||
	    jsonline_str(jsonline_get(o, "client"), client, sizeof(client)) < 0)
		goto malformed;
	if ((v = jsonline_get(o, "user")) && v->type != JSONLINE_NULL) {
		if (jsonline_str(v, user, sizeof(user)) < 0 || !user_ok(user))
			goto malformed;
		has_user = true;
	}
	bool connect = !strcmp(path, "connect");
	if (!connect && strcmp(path, "tls"))
		goto malformed;
	bool would = !strcmp(dec, "would_deny");
	if (!strcmp(dec, "deny")) {
		l->c.denied++;
		return 0;
	}
	if (!would && strcmp(dec, "allow"))
		goto malformed;

	/* The name: the SNI for TLS, the authority's host for CONNECT. */
	v = jsonline_get(o, connect ? "authority" : "sni");
	if (!v || v->type == JSONLINE_NULL) {
		l->c.no_name++;
		return 0;
	}
	long n = jsonline_str(v, name, sizeof(name));
	if (n <= 0)
		goto malformed;
	if (connect) {
		/* "host:port" or "[v6]:port": a bracketed host is an IPv6 address. */
		if (name[0] == '[') {
			char *close = strchr(name, ']');
			if (!close || close[1] != ':' || !parse_port(close + 2, strlen(close + 2)))
				goto malformed;
			l->c.ip_literal++;
			return 0;
		}
		char *colon = strrchr(name, ':');
		if (!colon || !(port = parse_port(colon + 1, strlen(colon + 1))))
			goto malformed;
		*colon = '\0';
		n = colon - name;
	}
	struct addr ip;
	if (!strchr(name, ':') && parse_ip(name, &ip)) {
		l->c.ip_literal++;
		return 0;
	}
	if (hostname_fold(name, (size_t)n, &hn) != HOSTNAME_OK)
		goto malformed;

	/* The group. */
	struct group *g;
	if (l->o.by == LEARN_BY_CIDR) {
		struct addr a;
		unsigned s = 0;
		if (parse_hostport(client, &a))
			while (s < l->o.n_sources && !in_cidr(&l->src[s], a.a))
				s++;
		else
			s = l->o.n_sources;
		if (s == l->o.n_sources) {
			char ipb[INET6_ADDRSTRLEN];
			/* By address without the port: a note per client, not per connection. */
			l->c.unmatched++;
			return tally_add(&l->unmatched, parse_hostport(client, &a)
								? ip_str(&a, ipb, sizeof(ipb))
								: client);
		}
		l->src_conns[s]++;
		g = group_get(l, G_SOURCE, l->o.sources[s].name, -1, s);
	} else if (l->o.by == LEARN_BY_USER && has_user) {
		g = group_get(l, G_USER, user, -1, 0);
	} else if (l->o.base) {
		int li = base_listener(l->o.base, lis);
		if (li < 0) {
			l->c.unknown_listener++;
			return tally_add(&l->unknown, lis);
		}
		g = group_get(l, G_LISTENER, lis, li, 0);
	} else {
		struct addr a;
		char norm[INET6_ADDRSTRLEN + 8];
		if (!parse_hostport(lis, &a)) {
			l->c.unknown_listener++;
			return tally_add(&l->unknown, lis);
		}
		g = group_get(l, G_LISTENER, addr_str(&a, norm, sizeof(norm)), -1, 0);
	}
	if (!g)
		return -ENOMEM;
	/* Without a base, every listener a used line came in on is written. */
	if (!l->o.base) {
		struct addr a;
		char norm[INET6_ADDRSTRLEN + 8];
		if (parse_hostport(lis, &a)) {
			addr_str(&a, norm, sizeof(norm));
			if (map_get(&l->listeners, norm, strlen(norm)) < 0 &&
			    !map_add(&l->listeners, norm, strlen(norm), l->listeners.n))
				return -ENOMEM;
		}
	}
	if (observe(g, hn.name, hn.len, ts, would, port) < 0)
		return -ENOMEM;
	l->c.used++;
	if (!l->first[0] || strcmp(ts, l->first) < 0)
		snprintf(l->first, sizeof(l->first), "%s", ts);
	if (strcmp(ts, l->last) > 0)
		snprintf(l->last, sizeof(l->last), "%s", ts);
	return 0;
malformed:
	l->c.malformed++;
	return 0;
}

int learn_read(struct learn *l, FILE *f, const char *name, struct conf_error *err)
{
	size_t n = 0;
	bool over = false;
	int ch, rc;

	while ((ch = getc_unlocked(f)) != EOF) {
		if (ch != '\n') {
			if (n < LEARN_LINE_MAX)
				l->buf[n++] = (char)ch;
			else
				over = true;
			continue;
		}
		rc = over ? overlong(l, l->buf, n) : learn_line(l, l->buf, n);
		if (rc < 0)
			return rc;
		n = 0;
		over = false;
	}
	if (ferror(f))
		return conf_error_set(err, -EIO, name, 0, "", "cannot read: %s", strerror(errno));
	/* The last line may lack its newline. */
	if (n || over)
		return over ? overlong(l, l->buf, n) : learn_line(l, l->buf, n);
	return 0;
}

void learn_counts(const struct learn *l, struct learn_counts *out)
{
	*out = l->c;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */

static int note(struct learn *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int note(struct learn *l, const char *fmt, ...)
{
	char **v = realloc(l->notes, (l->n_notes + 1) * sizeof(*v));
	va_list ap;

	if (!v)
		return -ENOMEM;
	l->notes = v;
	va_start(ap, fmt);
	int rc = vasprintf(&v[l->n_notes], fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -ENOMEM;
	l->n_notes++;
	return 0;
}

unsigned learn_n_notes(const struct learn *l)
{
	return l->n_notes;
}

const char *learn_note(const struct learn *l, unsigned i)
{
	return i < l->n_notes ? l->notes[i] : NULL;
}

static const struct tally *sort_tally;

static int by_count(const void *a, const void *b)
{
	const struct map_e *x = *(const struct map_e *const *)a,
			   *y = *(const struct map_e *const *)b;
	unsigned long long nx = sort_tally->n[x->val], ny = sort_tally->n[y->val];

	return nx != ny ? (nx < ny ? 1 : -1) : strcmp(x->key, y->key);
}

/* A note a key of t, the most frequent first, then one for the rest. 0 or -ENOMEM. */
static int tally_notes(struct learn *l, const struct tally *t, const char *what, const char *why)
{
	const struct map_e **v = t->m.n ? malloc(t->m.n * sizeof(*v)) : NULL;
	size_t k = 0;
	unsigned long long rest = t->rest;
	char q[96];

	if (t->m.n && !v)
		return -ENOMEM;
	for (size_t i = 0; i < t->m.cap; i++)
		if (t->m.e[i].key)
			v[k++] = &t->m.e[i];
	sort_tally = t;
	if (k) /* v is NULL when the tally is empty, and qsort() takes no NULL */
		qsort(v, k, sizeof(*v), by_count);
	for (size_t i = 0; i < k; i++) {
		if (i >= NOTE_LIST) {
			rest += t->n[v[i]->val];
			continue;
		}
		unsigned long long n = t->n[v[i]->val];
		if (note(l, "%s %s: %llu connection%s %s, not used", what,
			 conf_quote(v[i]->key, q, sizeof(q)), n, n == 1 ? "" : "s", why) < 0) {
			free(v);
			return -ENOMEM;
		}
	}
	free(v);
	if (rest && note(l, "%llu more connection%s of other %ss %s, not used", rest,
			 rest == 1 ? "" : "s", what, why) < 0)
		return -ENOMEM;
	return 0;
}

/* s as a policy name: A-Z a-z 0-9 _ . - kept, brackets dropped, the rest '_'. */
static void sanitize(const char *s, char out[CONF_POLICY_NAME_MAX + 1])
{
	size_t o = 0;

	for (; *s && o < CONF_POLICY_NAME_MAX; s++) {
		char ch = *s;
		if (ch == '[' || ch == ']')
			continue;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
		out[o++] = ok ? ch : '_';
	}
	if (!o)
		o = (size_t)snprintf(out, CONF_POLICY_NAME_MAX + 1, "group");
	out[o] = '\0';
}

/* want, or want-2, want-3 ... (cut to fit), whichever taken() says is free; into out. */
static void unique(const char *want, char out[CONF_POLICY_NAME_MAX + 1],
		   bool (*taken)(const struct learn *, const char *), const struct learn *l)
{
	snprintf(out, CONF_POLICY_NAME_MAX + 1, "%s", want);
	for (unsigned k = 2; taken(l, out); k++) {
		char suf[16];
		int sn = snprintf(suf, sizeof(suf), "-%u", k);
		snprintf(out, CONF_POLICY_NAME_MAX + 1, "%.*s%s", CONF_POLICY_NAME_MAX - sn, want,
			 suf);
	}
}

static bool policy_taken(const struct learn *l, const char *name)
{
	if (!strcmp(name, CONF_DEFAULT_POLICY))
		return true;
	for (size_t i = 0; i < l->n_g; i++)
		if (!strcmp(l->g[i].policy, name))
			return true;
	return false;
}

static bool listener_taken(const struct learn *l, const char *name)
{
	const struct conf *c = l->o.base;

	for (unsigned i = 0; c && i < c->n_listeners; i++)
		if (c->listeners[i].name && !strcmp(c->listeners[i].name, name))
			return true;
	return false;
}

/* Where the registrable domain of name starts (a public suffix and one label), or NULL. */
static const char *registrable(const char *name)
{
	const char *prev = NULL;

	/* The first suffix the list calls public, reading from the whole name, is the longest. */
	for (const char *s = name; s;) {
		if (psl_suffix(s, NULL) != PSL_NOT)
			return prev;
		prev = s;
		const char *dot = strchr(s, '.');
		s = dot ? dot + 1 : NULL;
	}
	return NULL;
}

/* A name of a group with its registrable domain (NULL: it is a public suffix itself). */
struct ref {
	const struct obs *o;
	const char *reg;
	bool apex; /* the name is reg itself */
};

/* What one allow entry will say: a name, or a wildcard standing for several. */
struct entry {
	char name[HOSTNAME_MAX + 3];
	struct obs s;		   /* what was seen, all members together for a wildcard */
	const struct ref *members; /* a wildcard's names */
	size_t n_members;
	char hint[HOSTNAME_MAX + 3]; /* without --wildcards: the wildcard it could be */
	size_t hint_n;
};

static int by_entry_name(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* By registrable domain, the apex last, so the names one wildcard covers sit together. */
static int by_reg(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	int c = strcmp(x->reg ? x->reg : "", y->reg ? y->reg : "");

	if (c)
		return c;
	if (x->apex != y->apex)
		return x->apex ? 1 : -1;
	return strcmp(x->o->name, y->o->name);
}

static void merge(struct obs *into, const struct obs *o)
{
	if (!into->n || strcmp(o->first, into->first) < 0)
		memcpy(into->first, o->first, sizeof(into->first));
	if (!into->n || strcmp(o->last, into->last) > 0)
		memcpy(into->last, o->last, sizeof(into->last));
	into->n += o->n;
	into->would += o->would;
	into->tls |= o->tls;
	into->more_ports |= o->more_ports;
	for (unsigned j = 0; j < o->n_ports; j++) {
		unsigned k = 0, port = o->ports[j];
		while (k < into->n_ports && into->ports[k] < port)
			k++;
		if (k < into->n_ports && into->ports[k] == port)
			continue;
		if (into->n_ports == CONF_MAX_CONNECT_PORTS) {
			into->more_ports = true;
			if (k == into->n_ports)
				continue;
			into->n_ports--;
		}
		memmove(into->ports + k + 1, into->ports + k,
			(into->n_ports - k) * sizeof(into->ports[0]));
		into->ports[k] = (uint16_t)port;
		into->n_ports++;
	}
}

/*
 * The entries of group g, sorted by name, into *out (*n of them), and *refs,
 * which the wildcards' members point into (free both).
 */
static int group_entries(const struct learn *l, const struct group *g, struct entry **out,
			 size_t *n, struct ref **refs)
{
	struct ref *r = calloc(g->n_obs + 1, sizeof(*r));
	struct entry *e = calloc(g->n_obs + 1, sizeof(*e));
	size_t ne = 0;

	*out = NULL;
	*refs = NULL;
	if (!r || !e) {
		free(r);
		free(e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < g->n_obs; i++) {
		r[i].o = &g->obs[i];
		r[i].reg = registrable(g->obs[i].name);
		r[i].apex = r[i].reg == g->obs[i].name;
	}
	qsort(r, g->n_obs, sizeof(*r), by_reg);
	for (size_t i = 0, j; i < g->n_obs; i = j) {
		const char *reg = r[i].reg;
		size_t below = 0;
		int under_private = 0;

		for (j = i; j < g->n_obs && !strcmp(reg ? reg : "", r[j].reg ? r[j].reg : ""); j++)
			below += !r[j].apex;
		/*
		 * Never at or above a public suffix: reg is one label more than
		 * the longest one, so only a PRIVATE suffix below it (names
		 * anyone can publish under, as below amazonaws.com) is left to
		 * rule out. "*.reg" matches the names below reg, never reg
		 * itself, so an apex that was seen stays an entry of its own.
		 */
		bool can = reg && below >= 2 && psl_suffix(reg, &under_private) == PSL_NOT &&
			   !under_private;
		bool wild = can && l->o.wildcards && below >= l->o.wildcards;
		if (wild) {
			struct entry *w = &e[ne++];
			snprintf(w->name, sizeof(w->name), "*.%s", reg);
			w->members = r + i;
			w->n_members = below;
			for (size_t k = i; k < i + below; k++)
				merge(&w->s, r[k].o);
		}
		for (size_t k = wild ? i + below : i; k < j; k++) {
			struct entry *x = &e[ne++];
			snprintf(x->name, sizeof(x->name), "%s", r[k].o->name);
			x->s = *r[k].o;
		}
		if (can && !l->o.wildcards) {
			/* On the first name it could replace: r[i], as entries sort by name too. */
			struct entry *at = &e[ne - (j - i)];
			snprintf(at->hint, sizeof(at->hint), "*.%s", reg);
			at->hint_n = below;
		}
	}
	qsort(e, ne, sizeof(*e), by_entry_name);
	*out = e;
	*n = ne;
	*refs = r;
	return 0;
}

/* A YAML double-quoted scalar: printable text as is, '"' and '\' escaped, control bytes as \x. */
static void yq(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* "# 3 connections (1 would_deny), first T, last T, ports: 443, 8443 (CONNECT), upstream_port
 * (TLS)" */
static void entry_comment(FILE *f, const struct entry *e)
{
	fprintf(f, "      # ");
	if (e->n_members) {
		fprintf(f, "%zu names (", e->n_members);
		for (size_t k = 0; k < e->n_members && k < HINT_NAMES; k++)
			fprintf(f, "%s%s", k ? ", " : "", e->members[k].o->name);
		fprintf(f, "%s), ", e->n_members > HINT_NAMES ? ", ..." : "");
	}
	fprintf(f, "%llu connection%s", e->s.n, e->s.n == 1 ? "" : "s");
	if (e->s.would)
		fprintf(f, " (%llu would_deny)", e->s.would);
	fprintf(f, ", first %s, last %s, ports: ", e->s.first, e->s.last);
	for (unsigned k = 0; k < e->s.n_ports; k++)
		fprintf(f, "%s%u", k ? ", " : "", e->s.ports[k]);
	if (e->s.n_ports)
		fprintf(f, "%s (CONNECT)", e->s.more_ports ? " and more" : "");
	if (e->s.tls)
		fprintf(f, "%supstream_port (TLS)", e->s.n_ports ? ", " : "");
	fputc('\n', f);
}

/* The entry: a name, or {name, ports} when CONNECT clients used other ports than 443. */
static void entry_yaml(FILE *f, const struct entry *e)
{
	fprintf(f, "      - ");
	if (!e->s.n_ports || (e->s.n_ports == 1 && e->s.ports[0] == 443)) {
		yq(f, e->name);
		fputc('\n', f);
		return;
	}
	fprintf(f, "{name: ");
	yq(f, e->name);
	fprintf(f, ", ports: [");
	for (unsigned k = 0; k < e->s.n_ports; k++)
		fprintf(f, "%s%u", k ? ", " : "", e->s.ports[k]);
	fprintf(f, "]}\n");
}

static const struct learn *sort_learn;

static int by_group(const void *a, const void *b)
{
	const struct group *x = &sort_learn->g[*(const size_t *)a];
	const struct group *y = &sort_learn->g[*(const size_t *)b];

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->kind == G_SOURCE)
		return x->source < y->source ? -1 : x->source > y->source;
	if (x->kind == G_LISTENER && x->listener >= 0)
		return x->listener < y->listener ? -1 : x->listener > y->listener;
	return strcmp(x->label, y->label);
}

static int by_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "listener "main" (127.0.0.1:8443)", "proxy user "alice"", "source 10.0.0.0/8" */
static void group_comment(FILE *f, const struct learn *l, const struct group *g)
{
	char q[96], addr[INET6_ADDRSTRLEN + 8];

	fprintf(f, "  # ");
	switch (g->kind) {
	case G_USER:
		fprintf(f, "proxy user %s", conf_quote(g->label, q, sizeof(q)));
		break;
	case G_SOURCE:
		fprintf(f, "clients in %s", conf_quote(l->o.sources[g->source].cidr, q, sizeof(q)));
		break;
	case G_LISTENER:
		if (g->listener >= 0) {
			const struct conf_listener *cl = &l->o.base->listeners[g->listener];
			snprintf(addr, sizeof(addr), strchr(cl->address, ':') ? "[%s]:%u" : "%s:%u",
				 cl->address, cl->port);
		} else {
			snprintf(addr, sizeof(addr), "%s", g->label);
		}
		fprintf(f, "listener %s (%s)%s", conf_quote(g->lname, q, sizeof(q)), addr,
			l->o.by == LEARN_BY_USER ? ", clients without a proxy user" : "");
		break;
	}
	fprintf(f, ": %llu connection%s, %zu name%s\n", g->conns, g->conns == 1 ? "" : "s",
		g->n_obs, g->n_obs == 1 ? "" : "s");
}

static int write_policy(FILE *f, const struct learn *l, const struct group *g)
{
	struct entry *e;
	struct ref *refs;
	size_t n;

	if (group_entries(l, g, &e, &n, &refs) < 0)
		return -ENOMEM;
	group_comment(f, l, g);
	fprintf(f, "  - name: ");
	yq(f, g->policy);
	fprintf(f, "\n    mode: %s\n    match: {", conf_mode_str(l->o.mode));
	switch (g->kind) {
	case G_USER:
		fprintf(f, "proxy_users: [");
		yq(f, g->label);
		break;
	case G_SOURCE:
		fprintf(f, "sources: [");
		yq(f, l->o.sources[g->source].cidr);
		break;
	case G_LISTENER:
		fprintf(f, "listeners: [");
		yq(f, g->lname);
		break;
	}
	fprintf(f, "]}\n    allow:\n");
	for (size_t k = 0; k < n; k++) {
		if (e[k].hint[0])
			fprintf(f, "      # could be \"%s\" (%zu names)\n", e[k].hint, e[k].hint_n);
		entry_comment(f, &e[k]);
		entry_yaml(f, &e[k]);
	}
	free(e);
	free(refs);
	return 0;
}

/* Names for the groups' policies and the listeners they match; notes for what is odd. */
static int name_groups(struct learn *l, const size_t *order, char ***gen_names, char ***gen_addrs,
		       size_t *n_gen)
{
	char want[CONF_POLICY_NAME_MAX + 1], got[CONF_POLICY_NAME_MAX + 1];
	struct conf *c = l->o.base;

	*gen_names = *gen_addrs = NULL;
	*n_gen = 0;
	for (size_t i = 0; i < l->n_g; i++)
		l->g[i].policy[0] = '\0';
	/* No base: the listeners the logs name, each named after its address. */
	if (!c && l->listeners.n) {
		size_t k = 0;
		*gen_addrs = calloc(l->listeners.n, sizeof(char *));
		*gen_names = calloc(l->listeners.n, sizeof(char *));
		if (!*gen_addrs || !*gen_names)
			return -ENOMEM;
		for (size_t i = 0; i < l->listeners.cap; i++)
			if (l->listeners.e[i].key)
				(*gen_addrs)[k++] = l->listeners.e[i].key;
		qsort(*gen_addrs, k, sizeof(char *), by_key);
		*n_gen = k; /* freed by the caller, also when a strdup() below fails */
		for (size_t i = 0; i < k; i++) {
			sanitize((*gen_addrs)[i], want);
			snprintf(got, sizeof(got), "%s", want);
			for (unsigned s = 2;; s++) {
				size_t j = 0;
				while (j < i && strcmp((*gen_names)[j], got))
					j++;
				if (j == i)
					break;
				snprintf(got, sizeof(got), "%.*s-%u", CONF_POLICY_NAME_MAX - 12,
					 want, s);
			}
			if (!((*gen_names)[i] = strdup(got)))
				return -ENOMEM;
		}
	}
	for (size_t i = 0; i < l->n_g; i++) {
		struct group *g = &l->g[order[i]];
		if (g->kind == G_LISTENER) {
			if (c) {
				struct conf_listener *cl = &c->listeners[g->listener];
				/* An unnamed listener gets one: match.listeners names it. */
				if (!cl->name) {
					char addr[INET6_ADDRSTRLEN + 8];
					snprintf(addr, sizeof(addr),
						 strchr(cl->address, ':') ? "[%s]:%u" : "%s:%u",
						 cl->address, cl->port);
					sanitize(addr, want);
					unique(want, got, listener_taken, l);
					if (!(cl->name = strdup(got)))
						return -ENOMEM;
				}
				g->lname = cl->name;
			} else {
				size_t j = 0;
				while (j < *n_gen && strcmp((*gen_addrs)[j], g->label))
					j++;
				g->lname = (*gen_names)[j];
			}
			sanitize(g->lname, want);
		} else {
			sanitize(g->label, want);
		}
		unique(want, got, policy_taken, l);
		memcpy(g->policy, got, sizeof(got));
	}
	return 0;
}

static int notes_for(struct learn *l)
{
	const char *where =
		l->o.base ? "not in the configuration" : "not an address (give -c CONFIG)";

	if (tally_notes(l, &l->unmatched, "client", "in no --source") < 0 ||
	    tally_notes(l, &l->unknown, "listener", where) < 0)
		return -ENOMEM;
	for (unsigned s = 0; s < l->o.n_sources; s++) {
		char q[80];
		if (!l->src_conns[s] && note(l, "--source %s: no connection, so no policy",
					     conf_quote(l->o.sources[s].name, q, sizeof(q))) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < l->n_g; i++)
		for (size_t k = 0; k < l->g[i].n_obs; k++)
			if (l->g[i].obs[k].more_ports &&
			    note(l, "%s: more than %u CONNECT ports; its entry lists the lowest",
				 l->g[i].obs[k].name, CONF_MAX_CONNECT_PORTS) < 0)
				return -ENOMEM;
	return 0;
}

static const char *by_str(enum learn_by b)
{
	return b == LEARN_BY_USER   ? "proxy user (by listener without one)"
	       : b == LEARN_BY_CIDR ? "source"
				    : "listener";
}

/* Bytes a comment can hold: control bytes as '?'. */
static void comment_text(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

static int compose(struct learn *l, const size_t *order, char *const *gen_names,
		   char *const *gen_addrs, size_t n_gen, const char *const *inputs,
		   unsigned n_inputs, char **out)
{
	char *pol = NULL, *rest = NULL;
	size_t pol_len = 0, rest_len = 0;
	FILE *f = open_memstream(&pol, &pol_len);
	int rc = 0;

	if (!f)
		return -ENOMEM;
	fprintf(f, "policies:\n");
	for (size_t i = 0; i < l->n_g && !rc; i++)
		rc = write_policy(f, l, &l->g[order[i]]);
	if (fclose(f) || rc) {
		free(pol);
		return -ENOMEM;
	}
	if (!(f = open_memstream(&rest, &rest_len))) {
		free(pol);
		return -ENOMEM;
	}
	fprintf(f, "# snigate configuration proposed by `snigate learn` from ");
	for (unsigned i = 0; i < n_inputs; i++) {
		fputs(i ? ", " : "", f);
		comment_text(f, strcmp(inputs[i], "-") ? inputs[i] : "stdin");
	}
	if (!n_inputs)
		fputs("stdin", f);
	fprintf(f,
		"\n# %llu connection%s from %s to %s;\n# one policy per %s, mode %s.\n"
		"# Each entry's comment says how often, when and on which ports it was seen;\n"
		"# review every name before deploying this.\n",
		l->c.used, l->c.used == 1 ? "" : "s", l->first, l->last, by_str(l->o.by),
		conf_mode_str(l->o.mode));
	if (l->o.base) {
		fprintf(f, "# Everything but the policies is ");
		comment_text(f, l->o.base->path ? l->o.base->path : "the configuration");
		fprintf(f, " as `snigate convert` writes it;\n"
			   "# its policies and top-level allow are replaced by those learnt.\n");
		conf_clear_policies(l->o.base);
		conf_clear_allow(l->o.base);
		char *dump = conf_dump_yaml_str(l->o.base, 0);
		/* The dump writes every setting; "policies: []" is where the learnt ones go. */
		char *at = dump ? strstr(dump, "\npolicies: []\n") : NULL;
		if (!at) {
			free(dump);
			fclose(f);
			free(rest);
			free(pol);
			return dump ? -EINVAL : -ENOMEM;
		}
		fwrite(dump, 1, (size_t)(at + 1 - dump), f);
		fputs(pol, f);
		fputs(at + strlen("\npolicies: []\n"), f);
		free(dump);
	} else {
		fprintf(f, "# Without -c: the listeners the logs name, every other setting at its "
			   "default.\nlisteners:\n");
		for (size_t i = 0; i < n_gen; i++) {
			fprintf(f, "  - {name: ");
			yq(f, gen_names[i]);
			fprintf(f, ", address: ");
			yq(f, gen_addrs[i]);
			fprintf(f, "}\n");
		}
		fputs(pol, f);
	}
	free(pol);
	if (fclose(f)) {
		free(rest);
		return -ENOMEM;
	}
	*out = rest;
	return 0;
}

int learn_write(struct learn *l, const char *const *inputs, unsigned n_inputs, char **out,
		struct conf_error *err)
{
	char **gen_names = NULL, **gen_addrs = NULL;
	size_t n_gen = 0, *order = NULL;
	struct conf *back = NULL;
	int rc;

	*out = NULL;
	if ((rc = notes_for(l)) < 0)
		return rc;
	if (!l->c.used)
		return conf_error_set(err, -EINVAL, "", 0, "",
				      "no connection in the input was let through by name "
				      "(%llu lines): nothing to propose",
				      l->c.lines);
	if (l->n_g > CONF_MAX_POLICIES)
		return conf_error_set(err, -EINVAL, "", 0, "",
				      "%zu groups, one policy each; a configuration holds at most "
				      "%u policies",
				      l->n_g, CONF_MAX_POLICIES);
	if (!l->o.base && !l->listeners.n)
		return conf_error_set(err, -EINVAL, "", 0, "",
				      "no listener address in the logs to write: give -c CONFIG");
	if (!(order = malloc(l->n_g * sizeof(*order))))
		return -ENOMEM;
	for (size_t i = 0; i < l->n_g; i++)
		order[i] = i;
	sort_learn = l;
	qsort(order, l->n_g, sizeof(*order), by_group);
	if ((rc = name_groups(l, order, &gen_names, &gen_addrs, &n_gen)) < 0 ||
	    (rc = compose(l, order, gen_names, gen_addrs, n_gen, inputs, n_inputs, out)) < 0) {
		if (rc == -EINVAL)
			conf_error_set(err, rc, "", 0, "",
				       "the configuration's dump has no policies");
		goto out;
	}
	/* What --check will say: the text must load and validate as it is. */
	struct conf_error e2 = {0};
	if (conf_load_buf(*out, strlen(*out), "snigate learn's output", &back, &e2) < 0 ||
	    conf_validate(back, &e2) < 0) {
		char msg[768];
		rc = conf_error_set(err, -EINVAL, "", 0, "",
				    "the proposed configuration does not load: %s",
				    conf_error_str(&e2, msg, sizeof(msg)));
		free(*out);
		*out = NULL;
	}
out:
	conf_free(back);
	for (size_t i = 0; i < n_gen; i++)
		free(gen_names[i]);
	free(gen_names);
	free(gen_addrs);
	free(order);
	return rc;
}

void learn_free(struct learn *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_g; i++) {
		free(l->g[i].label);
		free(l->g[i].obs);
		map_free(&l->g[i].names);
	}
	free(l->g);
	map_free(&l->gmap);
	map_free(&l->listeners);
	tally_free(&l->unmatched);
	tally_free(&l->unknown);
	for (unsigned i = 0; i < l->n_notes; i++)
		free(l->notes[i]);
	free(l->notes);
	free(l->src);
	free(l->src_conns);
	free(l->buf);
	free(l);
}
