/* SPDX-License-Identifier: MIT */
/*
 * conf: load and check snigate's YAML configuration.
 *
 * A file is parsed once into a libyaml document (conf/yamldoc.h), which
 * reports syntax errors with their line and refuses a second document. Then,
 * in three steps:
 *
 *  1. A walk of the document records the line of every key and value by its
 *     field path ("listeners[0].port") and rejects duplicate keys, because
 *     libcyaml 1.3.1 only puts positions in its error backtrace and none in
 *     the data it returns. resolver.hosts, a mapping of free-form names that
 *     no libcyaml schema can describe, is read from the same document.
 *  2. libcyaml maps the text onto struct raw_sec, where every leaf is still
 *     text (it takes text, not a libyaml document). Its log output is
 *     captured and turned into one error: the message names the kind of
 *     mistake, the backtrace names the field path.
 *  3. Each leaf is parsed and range checked by its row of conf_settings[],
 *     so a message can quote the value as written and the line map can name
 *     its line.
 *
 * conf_validate() reruns the checks of step 3 on the struct alone, because the
 * command line may have changed fields after loading.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "conf/conf.h"
#include "conf/credentials.h"
#include "conf/conf_error.h"
#include "conf/envoy.h"
#include "conf/yamldoc.h"
#include "sni/allowlist.h"
#include "sni/connect.h"
#include "sni/psl.h"
#include "sni/rules.h"

#define PATH_LEN  320 /* as conf_error.field: "resolver.hosts.<253 bytes>[i]" fits */
#define MAX_DEPTH 32  /* the schema is 3 deep; more is a mistake, not a config */

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)

#define DEFAULT_ADMIN	"127.0.0.1:9901" /* Envoy's admin port, loopback only */
#define DEFAULT_CONTROL "127.0.0.1:9902" /* /config, /denied, /drain: this host only */

#define SEC_MS	1000ULL
#define MIN_MS	(60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS	(24 * HOUR_MS)

/* Ranges, shared by the loader and conf_validate(). */
#define THREADS_MAX	1024
#define CACHE_SIZE_MIN	1
#define CACHE_SIZE_MAX	10000000
#define MAX_TTL_MAX_S	(7 * 24 * 3600)
#define NEG_TTL_MAX_S	(24 * 3600)
#define ERR_TTL_MAX_S	3600
#define STALE_MAX_S	(7 * 24 * 3600)
#define UPSTREAM_MAX	1024 /* entries per upstream list */
#define TIMEOUT_MAX_MS	DAY_MS
#define IDLE_MAX_MS	(7 * DAY_MS)
#define HELLO_MIN	512
#define HELLO_MAX	65536
#define MAX_CONNS_MAX	100000000
#define PIPE_MIN	(4 * KIB)
#define PIPE_MAX	(64 * MIB)
#define PIPE_MEMORY_MAX (1024 * GIB)

#define DEFAULT_UPSTREAM_PORT 443
#define EXPIRY_WARN_S	      (7 * 24 * 3600) /* an entry this close to expiring is warned about */
#define DEFAULT_RESOLV_CONF   "/etc/resolv.conf"

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

struct linemap;
struct schema;

struct ectx {
	const char *file;
	bool in_file;		  /* loading: every error belongs to the file */
	const struct linemap *lm; /* NULL outside a load */
	struct conf_error *err;
	struct conf *warn_to;	 /* loading: where warnings go; NULL drops them */
	const struct schema *sc; /* loading: libcyaml's schema, for "known here" */
	struct conf_yaml *y;	 /* loading: the parsed file */
};

static int __attribute__((format(printf, 5, 6)))
fail_rc(struct ectx *x, int rc, unsigned line, const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* Outside a load a line-less error came from the command line, not the file. */
	conf_error_vset(x->err, rc, x->in_file || line ? x->file : NULL, line, field, fmt, ap);
	va_end(ap);
	return rc;
}

#define fail(x, line, field, ...) fail_rc(x, -EINVAL, line, field, __VA_ARGS__)

static int oom(struct ectx *x)
{
	return fail_rc(x, -ENOMEM, 0, "", "out of memory");
}

/*
 * A spelling that still loads but will not in a later release. Returns 0 or
 * -ENOMEM: a warning is never a reason to refuse the file, so past
 * CONF_MAX_WARNINGS the rest are dropped rather than kept without bound.
 */
static int __attribute__((format(printf, 4, 5)))
warn(struct ectx *x, unsigned line, const char *field, const char *fmt, ...)
{
	struct conf *c = x->warn_to;
	struct conf_error *w;
	va_list ap;

	if (!c || c->n_warnings == CONF_MAX_WARNINGS)
		return 0;
	if (!(w = realloc(c->warnings, (c->n_warnings + 1) * sizeof(*w))))
		return oom(x);
	c->warnings = w;
	va_start(ap, fmt);
	conf_error_vset(&w[c->n_warnings++], 0, x->file, line, field, fmt, ap);
	va_end(ap);
	return 0;
}

/* User text quoted for a message: bounded, and no control bytes reach a terminal. */
#define Q(s) conf_quote((s), (char[72]){0}, 72)

/* ------------------------------------------------------------------------ */
/* The line map                                                             */

struct lm_entry {
	char *path;
	unsigned line;
	unsigned seq; /* order of appearance, to tell first from second of a duplicate */
	bool null;    /* a key whose value is null: written, but as "not set" */
};

struct linemap {
	struct lm_entry *v;
	size_t n, cap;
};

static void lm_free(struct linemap *lm)
{
	for (size_t i = 0; i < lm->n; i++)
		free(lm->v[i].path);
	free(lm->v);
	memset(lm, 0, sizeof(*lm));
}

static int lm_add(struct linemap *lm, const char *path, unsigned line)
{
	if (lm->n == lm->cap) {
		size_t cap = lm->cap ? lm->cap * 2 : 64;
		struct lm_entry *v = realloc(lm->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		lm->v = v;
		lm->cap = cap;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	lm->v[lm->n] = (struct lm_entry){.path = p, .line = line, .seq = (unsigned)lm->n};
	lm->n++;
	return 0;
}

static int lm_cmp(const void *a, const void *b)
{
	const struct lm_entry *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int lm_key_cmp(const void *key, const void *e)
{
	return strcmp(key, ((const struct lm_entry *)e)->path);
}

/*
 * Line of a path, or of its nearest recorded ancestor: a value reached through
 * an alias has no entries below the alias itself.
 */
static unsigned lm_line(const struct linemap *lm, const char *path)
{
	char p[PATH_LEN];

	if (!lm || !lm->n)
		return 0;
	snprintf(p, sizeof(p), "%s", path);
	for (;;) {
		const struct lm_entry *e = bsearch(p, lm->v, lm->n, sizeof(*lm->v), lm_key_cmp);
		if (e)
			return e->line;
		char *cut = strrchr(p, '.');
		char *br = strrchr(p, '[');
		if (br && (!cut || br > cut))
			cut = br;
		if (!cut)
			return 0;
		*cut = '\0';
	}
}

static unsigned line_of(const struct ectx *x, const char *path)
{
	return lm_line(x->lm, path);
}

/* The key is in the file with a value that is not null. */
static bool written(const struct ectx *x, const char *path)
{
	const struct lm_entry *e = NULL;

	if (x->lm && x->lm->n)
		e = bsearch(path, x->lm->v, x->lm->n, sizeof(*x->lm->v), lm_key_cmp);
	return e && !e->null;
}

static int report_duplicate(struct ectx *x, struct linemap *lm)
{
	const struct lm_entry *dup = NULL, *first = NULL;

	for (size_t i = 1; i < lm->n; i++) {
		/* Sorted by path, then order: v[i] repeats v[i-1]'s key. */
		if (strcmp(lm->v[i].path, lm->v[i - 1].path))
			continue;
		if (!dup || lm->v[i].seq < dup->seq) {
			dup = &lm->v[i];
			first = &lm->v[i - 1];
			while (first > lm->v && !strcmp((first - 1)->path, dup->path))
				first--;
		}
	}
	if (!dup)
		return 0;
	return fail(x, dup->line, dup->path, "duplicate key (first set on line %u)", first->line);
}

static int lm_visit(void *ctx, const struct conf_yaml_entry *e)
{
	struct ectx *x = ctx;
	struct linemap *lm = (struct linemap *)x->lm;

	if (lm_add(lm, e->path, e->line))
		return oom(x);
	/* A key's value on a line of its own is the more exact place. */
	if (e->key && !e->alias && e->val->type == YAML_SCALAR_NODE) {
		lm->v[lm->n - 1].line = conf_yaml_line(e->val);
		lm->v[lm->n - 1].null = conf_yaml_is_null(e->val);
	}
	return 0;
}

/*
 * The line of every key and list entry by its path, from the parsed
 * document; *empty when the file sets nothing (no document, or a null one).
 */
static int build_linemap(struct ectx *x, struct conf_yaml *y, struct linemap *lm, bool *empty)
{
	const yaml_node_t *root = conf_yaml_root(y);
	int rc;

	*empty = conf_yaml_is_null(root);
	if (*empty)
		return 0;
	if (root->type != YAML_MAPPING_NODE)
		return fail(x, conf_yaml_line(root), "",
			    "expected settings as \"key: value\" lines at the top level, found %s",
			    root->type == YAML_SEQUENCE_NODE ? "a list" : "a single value");
	x->lm = lm;
	if ((rc = conf_yaml_walk(y, root, MAX_DEPTH, PATH_LEN, lm_visit, x, x->file, x->err)))
		return rc;
	if (lm->n)
		qsort(lm->v, lm->n, sizeof(*lm->v), lm_cmp);
	return report_duplicate(x, lm);
}

/* ------------------------------------------------------------------------ */
/* libcyaml                                                                 */

static const char *const mode_names[] = {
	[CONF_MODE_DEFAULT] = "default",
	[CONF_ENFORCE] = "enforce",
	[CONF_AUDIT] = "audit",
};

static const char *const ech_names[] = {
	[CONF_ECH_DEFAULT] = "default",
	[CONF_ECH_ALLOW] = "allow",
	[CONF_ECH_DENY] = "deny",
};

static const char *const family_names[] = {
	[CONF_V4_ONLY] = "v4_only",
	[CONF_V6_ONLY] = "v6_only",
	[CONF_V4_PREFERRED] = "v4_preferred",
	[CONF_AUTO] = "auto",
	[CONF_ALL] = "all",
};

static const char *const protocol_names[] = {
	[CONF_PROTO_AUTO] = "auto",
	[CONF_PROTO_TLS] = "tls",
	[CONF_PROTO_CONNECT] = "connect",
};

static const char *const level_names[] = {
	[CONF_LOG_ERROR] = "error",
	[CONF_LOG_WARN] = "warn",
	[CONF_LOG_INFO] = "info",
	[CONF_LOG_DEBUG] = "debug",
};

#define FIELD(m) .offset = offsetof(struct conf, m), .size = sizeof(((struct conf *)NULL)->m)
#define LFIELD(m)                                    \
	.offset = offsetof(struct conf_listener, m), \
	.size = sizeof(((struct conf_listener *)NULL)->m)
#define NAMES(v) .names = v, .n_names = sizeof(v) / sizeof((v)[0])
/* A list: its array and its count; LINES: its source lines. */
#define LIST(m, n)  FIELD(m), .n_offset = offsetof(struct conf, n)
#define LLIST(m, n) LFIELD(m), .n_offset = offsetof(struct conf_listener, n)
#define LINES(l)    .lines_offset = offsetof(struct conf, l)

/*
 * Every setting, once, in the order the dump and the reference table write
 * them; a mapping's keys are listed in this order in "unknown key" messages
 * too. A section's rows stay together, and the rows of a listener's fields
 * follow "listeners".
 */
const struct conf_setting conf_settings[] = {
	{.path = "threads",
	 .kind = CONF_K_COUNT,
	 FIELD(threads),
	 .max = THREADS_MAX,
	 .def = "0",
	 .type = "integer",
	 .def_doc = "`0` (the CPUs the process may use)",
	 .doc = "; `0` is the cgroup's CPU quota (v2 `cpu.max`, v1 "
		"`cpu.cfs_quota_us`/`cpu.cfs_period_us`, the tightest along the cgroup "
		"path, rounded up) within the affinity mask (taskset, cpuset), at least "
		"1. A pod with a 250m limit on a 64-core node runs 1 worker, not 64. The "
		"ready line and `snigate_worker_threads_info` say which decided"},
	{.path = "cpu_affinity",
	 .kind = CONF_K_AFFINITY,
	 FIELD(cpu_affinity),
	 .def = "none",
	 .type = "`none`, `auto` or a CPU list",
	 .doc = "whether workers are pinned. `none`: the scheduler places them (right "
		"whenever the node is shared). `auto`: pin worker *i* to the *i*-th CPU "
		"of the affinity mask, but only when that mask is exactly as large as "
		"the thread count and smaller than the machine, which is what an "
		"exclusive cpuset (the kubelet's static CPU manager) looks like. A list "
		"(`\"0-3,8\"`, the kernel's cpulist format, a set): pin worker *i* to "
		"its *i* mod *n*-th CPU; every CPU must be in the affinity mask, and "
		"with `threads: 0` there is one worker per listed CPU (still capped by "
		"the quota)"},
	{.path = "mode",
	 .kind = CONF_K_ENUM,
	 FIELD(mode),
	 NAMES(mode_names),
	 .first = CONF_ENFORCE,
	 .def = "enforce",
	 .what = "mode",
	 .type = "name",
	 .doc = "`enforce`: a name off the allowlist is reset; `audit`: it is let "
		"through (resolved, connected, relayed), logged with "
		"`\"decision\":\"would_deny\"` and counted, so a new list can burn in on "
		"real traffic. No SNI, malformed hellos and the upstream policy are "
		"enforced in both modes"},
	{.path = "ech",
	 .kind = CONF_K_ENUM,
	 FIELD(ech),
	 NAMES(ech_names),
	 .first = CONF_ECH_ALLOW,
	 .def = "allow",
	 .what = "choice",
	 .type = "name",
	 .doc = "`allow` or `deny`: a ClientHello that offers Encrypted Client Hello "
		"names the provider's client-facing server in its SNI, not the site behind "
		"it, so allowing that name allows every site the provider fronts. `deny` "
		"resets such a hello (`ech`). A policy's own `ech` overrides this"},
	{.path = "listeners",
	 .kind = CONF_K_LISTENERS,
	 LIST(listeners, n_listeners),
	 .max = CONF_MAX_LISTENERS,
	 .type = "list of listeners",
	 .doc = "at most 64; each address once"},
	{.path = "listeners[].name",
	 .kind = CONF_K_STRING,
	 LFIELD(name),
	 .type = "name",
	 .doc = "what `policies[].match.listeners` calls this listener; unique"},
	{.path = "listeners[].address",
	 .kind = CONF_K_LISTEN,
	 LFIELD(address),
	 .type = "address",
	 .def_doc = "required",
	 .doc = "`IP:port` to listen on: `127.0.0.1:8443`, `0.0.0.0:443`, "
		"`\"[::]:443\"`. The old spelling, a bare IP here and the port in "
		"`listeners[].port`, loads with a warning in this release"},
	{.path = "listeners[].port",
	 .kind = CONF_K_COUNT,
	 LFIELD(port),
	 .min = 1,
	 .max = 65535,
	 .type = "integer",
	 .hidden = true},
	{.path = "listeners[].upstream_port",
	 .kind = CONF_K_COUNT,
	 LFIELD(upstream_port),
	 .min = 1,
	 .max = 65535,
	 .def = "443",
	 .type = "integer",
	 .doc = ": port dialled on the allowed name"},
	{.path = "listeners[].protocol",
	 .kind = CONF_K_ENUM,
	 LFIELD(protocol),
	 NAMES(protocol_names),
	 .def = "auto",
	 .what = "protocol",
	 .type = "name",
	 .doc = "`auto` (the first byte decides: a TLS record takes the SNI path, an "
		"upper-case letter the HTTP CONNECT path), `tls`, `connect`; anything "
		"else is reset"},
	{.path = "listeners[].connect_ports",
	 .kind = CONF_K_PORTS,
	 LLIST(connect_ports, n_connect_ports),
	 .max = CONF_MAX_CONNECT_PORTS,
	 .def = "[443]",
	 .type = "list of integers",
	 .doc = "at most 32, each 1..65535: the ports a CONNECT may name. `[]` is no "
		"port: every CONNECT is answered `403` (`port_not_allowed`) while TLS is "
		"still served under `protocol: auto`; with `protocol: connect` it is an "
		"error. No value keeps `[443]`"},
	{.path = "listeners[].require_sni_match",
	 .kind = CONF_K_BOOL,
	 LFIELD(require_sni_match),
	 .def = "true",
	 .type = "boolean",
	 .doc = "after `200 Connection Established`, the ClientHello's SNI must be the "
		"CONNECT host, else reset (`sni_mismatch`)"},
	{.path = "listeners[].mode",
	 .kind = CONF_K_ENUM,
	 LFIELD(mode),
	 NAMES(mode_names),
	 .first = CONF_ENFORCE,
	 .what = "mode",
	 .type = "name",
	 .def_doc = "the top-level `mode`",
	 .doc = "`enforce` or `audit`, for this listener only"},
	{.path = "listeners[].proxy_protocol",
	 .kind = CONF_K_PROXY_PROTOCOL,
	 LLIST(proxy_trusted, n_proxy_trusted),
	 .max = CONF_MAX_PROXY_TRUSTED,
	 .type = "mapping",
	 .def_doc = "none: no header is taken",
	 .doc = "`{trusted: [CIDRs]}`, at most 64: a peer in these CIDRs (a load balancer, "
		"an SNAT hop) must open with a PROXY protocol v2 header, and the client "
		"address it carries is the one policies, `limits.max_per_source_ip` and "
		"the access log see. Any other peer is served as it is, and a header from "
		"it is reset (`proxy_untrusted`). See [PROXY protocol](#proxy-protocol)"},
	{.path = "listeners[].proxy_auth_file",
	 .kind = CONF_K_STRING,
	 LFIELD(proxy_auth_file),
	 .type = "path",
	 .def_doc = "none: no proxy authentication",
	 .doc = "`Proxy-Authorization: Basic` credentials, one `user:{SHA256}hex` per "
		"line (see below); read and checked at load time"},
	{.path = "allow",
	 .kind = CONF_K_NAMES,
	 LIST(allow, n_allow),
	 LINES(allow_lines),
	 .type = "list of names",
	 .doc = "host names; `\"*.example.com\"` matches any name below `example.com`, "
		"not `example.com` itself; case-insensitive; a trailing dot is ignored; "
		"duplicates are fine"},
	{.path = "policies",
	 .kind = CONF_K_POLICIES,
	 LIST(policies, n_policies),
	 .max = CONF_MAX_POLICIES,
	 .type = "list of policies",
	 .doc = "at most 1024, in order; the first whose `match` fits a connection decides it. "
		"Each has a `name`, a `match` (`listeners`: listener names, `sources`: CIDRs or a `sources_file` of them, "
		"`proxy_users`: authenticated CONNECT users; a key left out matches any), its "
		"own `mode` and `ech` (default: the top-level ones) and its own `allow` entries: a name, "
		"or `{name, ports, owner, expires, upstream_allow}`. A connection no policy matches is reset "
		"(`no_policy`); a non-empty top-level `allow` is one more policy, `default`, "
		"after these, that matches every connection. See [Policies](#policies)"},
	{.path = "resolver.forwarders",
	 .kind = CONF_K_FORWARDERS,
	 LIST(resolver.forwarders, resolver.n_forwarders),
	 .max = CONF_MAX_FORWARDERS,
	 .type = "list",
	 .def_doc = "none: use `resolv_conf`",
	 .doc = "at most 16; `IP` (port 53) or `IP:port`: `10.96.0.10`, "
		"`127.0.0.1:5353`, `\"[fd00::53]:5353\"`. libunbound's `IP@port` loads "
		"with a warning in this release"},
	{.path = "resolver.resolv_conf",
	 .kind = CONF_K_STRING,
	 FIELD(resolver.resolv_conf),
	 .def = DEFAULT_RESOLV_CONF,
	 .type = "path",
	 .doc = "read when there are no forwarders"},
	{.path = "resolver.lookup_family",
	 .kind = CONF_K_ENUM,
	 FIELD(resolver.family),
	 NAMES(family_names),
	 .def = "v4_only",
	 .what = "lookup family",
	 .type = "name",
	 .doc = "`v4_only`, `v6_only`, `v4_preferred` (A, AAAA only without A), `auto` "
		"(AAAA, A only without AAAA), `all` (both, IPv4 first); Envoy's "
		"upper-case names load with a warning"},
	{.path = "resolver.cache_size",
	 .kind = CONF_K_COUNT,
	 FIELD(resolver.cache_size),
	 .min = CACHE_SIZE_MIN,
	 .max = CACHE_SIZE_MAX,
	 .def = "4096",
	 .type = "integer",
	 .doc = " names per thread"},
	{.path = "resolver.min_ttl",
	 .kind = CONF_K_SEC,
	 FIELD(resolver.min_ttl_s),
	 .max = MAX_TTL_MAX_S,
	 .def = "5s",
	 .type = "duration, whole seconds",
	 .doc = ", at most `max_ttl`; floor on an answer's TTL (a TTL of 0 or 1 would "
		"send every connection to DNS)"},
	{.path = "resolver.max_ttl",
	 .kind = CONF_K_SEC,
	 FIELD(resolver.max_ttl_s),
	 .max = MAX_TTL_MAX_S,
	 .def = "5m",
	 .type = "duration, whole seconds",
	 .doc = "; cap on an answer's TTL; `0s` = do not cache (then `min_ttl` does not "
		"apply)"},
	{.path = "resolver.negative_ttl",
	 .kind = CONF_K_SEC,
	 FIELD(resolver.negative_ttl_s),
	 .max = NEG_TTL_MAX_S,
	 .def = "5s",
	 .type = "duration, whole seconds",
	 .doc = "; how long NXDOMAIN and no-data are cached"},
	{.path = "resolver.error_ttl",
	 .kind = CONF_K_SEC,
	 FIELD(resolver.error_ttl_s),
	 .min = 1,
	 .max = ERR_TTL_MAX_S,
	 .def = "2s",
	 .type = "duration, whole seconds",
	 .doc = "; how long SERVFAIL, REFUSED and timeouts are cached"},
	{.path = "resolver.stale_ttl",
	 .kind = CONF_K_SEC,
	 FIELD(resolver.stale_ttl_s),
	 .max = STALE_MAX_S,
	 .def = "5m",
	 .type = "duration, whole seconds",
	 .doc = "; when refreshes fail, the last good answer is served this long past "
		"its expiry (`0s`: never)"},
	{.path = "resolver.prefetch",
	 .kind = CONF_K_BOOL,
	 FIELD(resolver.prefetch),
	 .def = "true",
	 .type = "boolean",
	 .doc = "an answer hit in the last 10% of its lifetime is refreshed in the "
		"background"},
	{.path = "resolver.tcp",
	 .kind = CONF_K_BOOL,
	 FIELD(resolver.tcp),
	 .def = "false",
	 .type = "boolean",
	 .doc = "ask the forwarders over TCP only (`tcp-upstream`)"},
	{.path = "resolver.hosts",
	 .kind = CONF_K_HOSTS,
	 LIST(resolver.hosts, resolver.n_hosts),
	 .type = "mapping",
	 .doc = "`name: [addresses]`: answered from here, never from DNS; at most 8 "
		"addresses a name; no wildcards"},
	{.path = "upstream.deny",
	 .kind = CONF_K_CIDRS,
	 LIST(upstream.deny, upstream.n_deny),
	 LINES(upstream.deny_lines),
	 .max = UPSTREAM_MAX,
	 .type = "list of CIDRs",
	 .def_doc = "none (the built-in list applies)",
	 .doc = "`10.0.0.0/8`, `fd00::/8`, or one address; added to the built-in deny "
		"list"},
	{.path = "upstream.allow",
	 .kind = CONF_K_CIDRS,
	 LIST(upstream.allow, upstream.n_allow),
	 LINES(upstream.allow_lines),
	 .max = UPSTREAM_MAX,
	 .type = "list of CIDRs",
	 .doc = "exceptions to every deny entry; `--allow-upstream CIDR` (repeatable) "
		"replaces this list"},
	{.path = "timeouts.client_hello",
	 .kind = CONF_K_MS,
	 FIELD(timeouts.client_hello_ms),
	 .min = 1,
	 .max = TIMEOUT_MAX_MS,
	 .def = "10s",
	 .type = "duration",
	 .doc = "; the whole ClientHello must arrive within it"},
	{.path = "timeouts.connect",
	 .kind = CONF_K_MS,
	 FIELD(timeouts.connect_ms),
	 .min = 1,
	 .max = TIMEOUT_MAX_MS,
	 .def = "5s",
	 .type = "duration",
	 .doc = "; upstream TCP connect, per address tried"},
	{.path = "timeouts.dns",
	 .kind = CONF_K_MS,
	 FIELD(timeouts.dns_ms),
	 .min = 1,
	 .max = TIMEOUT_MAX_MS,
	 .def = "5s",
	 .type = "duration",
	 .doc = "; name resolution"},
	{.path = "timeouts.idle",
	 .kind = CONF_K_MS,
	 FIELD(timeouts.idle_ms),
	 .min = 1,
	 .max = IDLE_MAX_MS,
	 .def = "1h",
	 .type = "duration",
	 .doc = "; a relayed connection with no bytes either way is closed"},
	{.path = "timeouts.request_head",
	 .kind = CONF_K_MS,
	 FIELD(timeouts.request_head_ms),
	 .min = 1,
	 .max = TIMEOUT_MAX_MS,
	 .def = "10s",
	 .type = "duration",
	 .doc = "; the whole CONNECT request head must arrive within it"},
	{.path = "limits.max_client_hello",
	 .kind = CONF_K_COUNT,
	 FIELD(limits.max_client_hello),
	 .min = HELLO_MIN,
	 .max = HELLO_MAX,
	 .def = "16384",
	 .type = "integer",
	 .doc = " bytes"},
	{.path = "limits.max_connections",
	 .kind = CONF_K_COUNT,
	 FIELD(limits.max_connections),
	 .max = MAX_CONNS_MAX,
	 .def = "0",
	 .type = "integer",
	 .def_doc = "`0` (only `RLIMIT_NOFILE`)",
	 .doc = " open connections per process, split evenly over the threads; the "
		"excess is reset (`overload`)"},
	{.path = "limits.max_connections_per_thread",
	 .kind = CONF_K_COUNT,
	 FIELD(limits.max_connections_per_thread),
	 .max = MAX_CONNS_MAX,
	 .def = "0",
	 .type = "integer",
	 .def_doc = "`0` (`max_connections` / threads)",
	 .doc = "; the lower of the two applies"},
	{.path = "limits.max_pending_hellos",
	 .kind = CONF_K_COUNT,
	 FIELD(limits.max_pending_hellos),
	 .max = MAX_CONNS_MAX,
	 .def = "0",
	 .type = "integer",
	 .def_doc = "`0` (no limit)",
	 .doc = "; connections still sending their ClientHello or CONNECT head, per "
		"process (split over the threads); the excess is reset "
		"(`pending_limit`): slowloris clients cannot hold every slot"},
	{.path = "limits.max_per_source_ip",
	 .kind = CONF_K_COUNT,
	 FIELD(limits.max_per_source_ip),
	 .max = MAX_CONNS_MAX,
	 .def = "0",
	 .type = "integer",
	 .def_doc = "`0` (no limit)",
	 .doc = "; concurrent connections per client address, all threads together; the "
		"excess is reset (`source_limit`). Counted in a fixed 65536-slot table: "
		"two addresses sharing a slot share a budget, which errs toward refusing"},
	{.path = "relay.pipe_size",
	 .kind = CONF_K_SIZE,
	 FIELD(relay.pipe_size),
	 .min = PIPE_MIN,
	 .max = PIPE_MAX,
	 .def = "64KiB",
	 .type = "size",
	 .doc = ", at most `relay.pipe_max_size`; pipe each direction starts with"},
	{.path = "relay.pipe_max_size",
	 .kind = CONF_K_SIZE,
	 FIELD(relay.pipe_max_size),
	 .min = PIPE_MIN,
	 .max = PIPE_MAX,
	 .def = "1MiB",
	 .type = "size",
	 .doc = "; a streaming flow's pipe may grow to it"},
	{.path = "relay.pipe_memory_max",
	 .kind = CONF_K_SIZE,
	 FIELD(relay.pipe_memory_max),
	 .max = PIPE_MEMORY_MAX,
	 .def = "256MiB",
	 .type = "size",
	 .doc = ", at least 2 x `relay.pipe_size`; pipe buffers of all threads"},
	{.path = "admin.address",
	 .kind = CONF_K_ADDRESS,
	 FIELD(admin_address),
	 .def = DEFAULT_ADMIN,
	 .type = "`IP:port` or `off`",
	 .doc = "the probe and metrics endpoint: `GET /ready`, `/healthz`, `/metrics` "
		"and nothing else ([operations](../docs/operations.md#admin-endpoints)), "
		"so it is safe to open to the kubelet and Prometheus; port `0` picks a "
		"free one (named in the ready line)"},
	{.path = "admin.control.address",
	 .kind = CONF_K_ADDRESS,
	 FIELD(control.address),
	 .def = DEFAULT_CONTROL,
	 .type = "`IP:port`, `unix:/path` or `off`",
	 .doc = "the control endpoint: `/config`, `/denied`, `POST /drain` (and the "
		"probes). A Unix socket is made mode `0600`. Any address other than "
		"loopback or a Unix socket needs `token_file`"},
	{.path = "admin.control.token_file",
	 .kind = CONF_K_STRING,
	 FIELD(control.token_file),
	 .type = "path",
	 .doc = "a file holding one bearer token (16..512 bytes of `A-Z a-z 0-9 - . _ ~ "
		"+ / =`; a final newline is dropped). Every control request must then "
		"send `Authorization: Bearer <token>`: none is answered 401, a wrong one "
		"403 (compared in constant time). Must be a regular file. Read at start "
		"and at every reload, and its directory is watched like the config "
		"file's (a Kubernetes Secret's `..data` swap counts), so a rotated token "
		"takes effect within a second without a signal; a file that no longer "
		"holds a valid token is refused and the token in force stays. Two "
		"gateways in one network namespace need distinct control addresses (or "
		"`off`). `/config` shows the path, never the token"},
	{.path = "admin.takeover_socket",
	 .kind = CONF_K_STRING,
	 FIELD(takeover_socket),
	 .type = "path",
	 .def_doc = "none",
	 .doc = "an absolute path (at most 107 bytes) where the gateway hands its listening "
		"sockets to a successor started with `snigate --takeover PATH`: the successor "
		"takes them, becomes ready, and the gateway drains. Made mode `0600`; a peer "
		"of another user is refused. `--takeover-socket PATH` sets it. See "
		"[operations](../docs/operations.md#restart-without-a-refused-connection)"},
	{.path = "drain.delay",
	 .kind = CONF_K_MS,
	 FIELD(drain.delay_ms),
	 .max = TIMEOUT_MAX_MS,
	 .def = "0s",
	 .type = "duration",
	 .doc = "; after SIGTERM/SIGINT or `POST /drain`: `/ready` answers 503 at once "
		"and new connections are still accepted for this long (Kubernetes: set "
		"it to the time endpoints take to update, e.g. `5s`)"},
	{.path = "drain.timeout",
	 .kind = CONF_K_MS,
	 FIELD(drain.timeout_ms),
	 .max = TIMEOUT_MAX_MS,
	 .def = "30s",
	 .type = "duration",
	 .doc = "; then the listeners close and open connections get this long to finish "
		"before they are reset; keep `delay + timeout` below "
		"`terminationGracePeriodSeconds`"},
	{.path = "drain.quiet",
	 .kind = CONF_K_MS,
	 FIELD(drain.quiet_ms),
	 .min = 1,
	 .max = 60000,
	 .def = "200ms",
	 .type = "duration",
	 .doc = ": at a drain each listener first drops new SYNs and keeps accepting what "
		"the kernel already took, and closes once nothing has arrived for this long. A "
		"handshake whose last ACK comes later (a client across a slow link, a lost "
		"SYN-ACK sent again after 1 s), or a client that sends nothing for longer, is "
		"reset when the listener closes: raise it where clients are far away"},
	{.path = "log.level",
	 .kind = CONF_K_ENUM,
	 FIELD(log_level),
	 NAMES(level_names),
	 .def = "info",
	 .what = "log level",
	 .type = "name",
	 .doc = "`error`, `warn`, `info`, `debug`"},
	{.path = "log.access",
	 .kind = CONF_K_BOOL,
	 FIELD(access_log),
	 .def = "true",
	 .type = "boolean",
	 .doc = "one JSON line per connection"},
	{.path = "log.access_file",
	 .kind = CONF_K_STRING,
	 FIELD(access_log_file),
	 .type = "path",
	 .def_doc = "none: stdout",
	 .doc = "access lines are appended here instead (created `0640`); changing it "
		"needs a restart"},
	{.path = "log.access_sample",
	 .kind = CONF_K_FRACTION,
	 FIELD(access_log_sample),
	 .def = "1",
	 .type = "fraction",
	 .doc = "`0`..`1` or `0%`..`100%`: the share of allowed connections logged"},
	{.path = "log.access_deny_rate",
	 .kind = CONF_K_COUNT,
	 FIELD(access_log_deny_rate),
	 .max = MAX_CONNS_MAX,
	 .def = "1000",
	 .type = "integer",
	 .doc = "; denial lines per second and worker thread (a token bucket, burst = "
		"rate); lines over it are not written but counted in "
		"`snigate_access_log_dropped_total`; `0` = no limit"},
};

#define N_SETTINGS (sizeof(conf_settings) / sizeof(conf_settings[0]))
const unsigned conf_n_settings = N_SETTINGS;

/* The mappings of the file; the settings say which one holds them. */
enum section {
	SEC_TOP,
	SEC_RESOLVER,
	SEC_UPSTREAM,
	SEC_TIMEOUTS,
	SEC_LIMITS,
	SEC_RELAY,
	SEC_ADMIN,
	SEC_CONTROL,
	SEC_DRAIN,
	SEC_LOG,
	N_SECTIONS,
};

static const char *const section_paths[N_SECTIONS] = {
	[SEC_TOP] = "",
	[SEC_RESOLVER] = "resolver",
	[SEC_UPSTREAM] = "upstream",
	[SEC_TIMEOUTS] = "timeouts",
	[SEC_LIMITS] = "limits",
	[SEC_RELAY] = "relay",
	[SEC_ADMIN] = "admin",
	[SEC_CONTROL] = "admin.control",
	[SEC_DRAIN] = "drain",
	[SEC_LOG] = "log",
};

#define ITEM_PREFIX "listeners[]."

bool conf_setting_is_item(const struct conf_setting *s)
{
	return !strncmp(s->path, ITEM_PREFIX, strlen(ITEM_PREFIX));
}

/*
 * The section a setting's path names; N_SECTIONS for a listener's field and
 * for none (a bug the tests catch).
 */
static unsigned section_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	size_t n = dot ? (size_t)(dot - path) : 0;

	for (unsigned k = 0; k < N_SECTIONS; k++)
		if (strlen(section_paths[k]) == n && !strncmp(section_paths[k], path, n))
			return k;
	return N_SECTIONS;
}

static unsigned parent_of(unsigned k)
{
	return k == SEC_CONTROL ? SEC_ADMIN : SEC_TOP;
}

static const char *last_key(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot ? dot + 1 : path;
}

/* The rows of a listener's fields: first_item .. first_item + n_items - 1. */
static unsigned first_item(void)
{
	unsigned i = 0;

	while (i < N_SETTINGS && !conf_setting_is_item(&conf_settings[i]))
		i++;
	return i;
}

/* The row of path; the table is small and this runs once a listener. */
static const struct conf_setting *row(const char *path)
{
	for (unsigned i = 0; i < N_SETTINGS; i++)
		if (!strcmp(conf_settings[i].path, path))
			return &conf_settings[i];
	return NULL;
}

#define MAX_ITEM_FIELDS 12

/*
 * Every leaf is text, so this file, not libcyaml, decides what a valid port or
 * duration is and can say so. A null or empty value counts as not written, so
 * a section whose lines are all commented out is just empty.
 *
 * One listener: v[j] is the text of row first_item() + j, ports the
 * connect_ports list.
 */
struct raw_item {
	char *v[MAX_ITEM_FIELDS];
	char **ports;
	unsigned n_ports;
};

/*
 * Every other mapping is one of these: v[i] holds the text of
 * conf_settings[i] where that setting is in this mapping, seq[i] a list
 * row's entries, and the child mappings that the section has are filled.
 */
struct raw_sec {
	char *v[N_SETTINGS];
	char **seq[N_SETTINGS];
	unsigned n_seq[N_SETTINGS];
	struct raw_item *items; /* listeners */
	unsigned n_items;
	struct raw_sec *sub[N_SECTIONS]; /* child mappings, by section */
};

#define OPT			(CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER_NULL_STR)
#define LEAF(key, type, member) CYAML_FIELD_STRING_PTR(key, OPT, type, member, 0, CYAML_UNLIMITED)

static const cyaml_schema_value_t string_entry = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

#define MAX_FIELDS (N_SETTINGS + N_SECTIONS + 1) /* a section's rows, children and the end */

/* libcyaml's schema, built from conf_settings[] for each load. */
struct schema {
	cyaml_schema_field_t f[N_SECTIONS][MAX_FIELDS];
	cyaml_schema_field_t item[MAX_ITEM_FIELDS + 1];
	cyaml_schema_value_t item_entry;
	cyaml_schema_value_t top;
};

static cyaml_schema_field_t child(struct schema *sc, unsigned k)
{
	cyaml_schema_field_t f = CYAML_FIELD_MAPPING_PTR(last_key(section_paths[k]), OPT,
							 struct raw_sec, sub[0], sc->f[k]);
	f.data_offset += k * sizeof(struct raw_sec *);
	return f;
}

/* The field of row i in the mapping of struct raw_sec. */
static cyaml_schema_field_t row_field(struct schema *sc, unsigned i)
{
	const struct conf_setting *s = &conf_settings[i];
	const char *key = last_key(s->path);
	cyaml_schema_field_t f;

	switch (s->kind) {
	case CONF_K_LISTENERS:
		return (cyaml_schema_field_t)CYAML_FIELD_SEQUENCE_COUNT(
			key, OPT, struct raw_sec, items, n_items, &sc->item_entry, 0,
			CYAML_UNLIMITED);
	case CONF_K_HOSTS:
	case CONF_K_POLICIES:
		/* Free-form names, or a name or a mapping: read from the document. */
		return (cyaml_schema_field_t)CYAML_FIELD_IGNORE(key, CYAML_FLAG_OPTIONAL);
	case CONF_K_NAMES:
	case CONF_K_FORWARDERS:
	case CONF_K_CIDRS:
		f = (cyaml_schema_field_t)CYAML_FIELD_SEQUENCE_COUNT(
			key, OPT, struct raw_sec, seq[0], n_seq[0], &string_entry, 0,
			CYAML_UNLIMITED);
		f.data_offset += i * sizeof(char **);
		f.count_offset += i * sizeof(unsigned);
		return f;
	default:
		f = (cyaml_schema_field_t)LEAF(key, struct raw_sec, v[0]);
		f.data_offset += i * sizeof(char *);
		return f;
	}
}

static void build_schema(struct schema *sc)
{
	unsigned fi = first_item(), n = 0;

	for (unsigned i = fi; i < N_SETTINGS && conf_setting_is_item(&conf_settings[i]); i++) {
		const struct conf_setting *s = &conf_settings[i];
		cyaml_schema_field_t *f = &sc->item[n++];
		if (s->kind == CONF_K_PORTS) {
			*f = (cyaml_schema_field_t)CYAML_FIELD_SEQUENCE_COUNT(
				last_key(s->path), OPT, struct raw_item, ports, n_ports,
				&string_entry, 0, CYAML_UNLIMITED);
		} else if (s->kind == CONF_K_PROXY_PROTOCOL) {
			/* A mapping: parse_proxy_protocol() reads it from the document. */
			*f = (cyaml_schema_field_t)CYAML_FIELD_IGNORE(last_key(s->path),
								      CYAML_FLAG_OPTIONAL);
		} else {
			*f = (cyaml_schema_field_t)LEAF(last_key(s->path), struct raw_item, v[0]);
			f->data_offset += (i - fi) * sizeof(char *);
		}
	}
	sc->item[n] = (cyaml_schema_field_t)CYAML_FIELD_END;
	sc->item_entry = (cyaml_schema_value_t){
		CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_item, sc->item),
	};

	for (unsigned k = 0; k < N_SECTIONS; k++) {
		bool added[N_SECTIONS] = {false};
		cyaml_schema_field_t *f = sc->f[k];

		n = 0;
		/* Rows in table order; a child mapping where its first row stands. */
		for (unsigned i = 0; i < N_SETTINGS; i++) {
			unsigned sec = section_of(conf_settings[i].path);
			if (sec == k) {
				f[n++] = row_field(sc, i);
				continue;
			}
			if (sec == N_SECTIONS || sec == SEC_TOP)
				continue;
			while (sec != SEC_TOP && parent_of(sec) != k)
				sec = parent_of(sec);
			if (sec != SEC_TOP && !added[sec]) {
				added[sec] = true;
				f[n++] = child(sc, sec);
			}
		}
		f[n] = (cyaml_schema_field_t)CYAML_FIELD_END;
	}
	sc->top = (cyaml_schema_value_t){
		CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_sec, sc->f[SEC_TOP]),
	};
}

/*
 * What libcyaml logged at error level: the first message, then the backtrace
 * it prints after "Backtrace:", innermost frame first.
 */
struct cylog {
	char msg[256];
	bool in_backtrace;
	unsigned n_frames;
	struct {
		char key[64];	/* mapping field; "" for a sequence entry or bare mapping */
		unsigned entry; /* sequence entry, 1-based as libcyaml prints it; 0 if none */
		unsigned line;
	} frames[MAX_DEPTH];
};

static void __attribute__((format(printf, 3, 0)))
cylog_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list ap)
{
	struct cylog *l = ctx;
	char buf[256];
	size_t line, col;
	unsigned entry;

	if (level < CYAML_LOG_ERROR)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	if (!strcmp(buf, "Load: Backtrace:")) {
		l->in_backtrace = true;
		return;
	}
	if (!l->in_backtrace) {
		if (!l->msg[0])
			snprintf(l->msg, sizeof(l->msg), "%s",
				 strncmp(buf, "Load: ", 6) ? buf : buf + 6);
		return;
	}
	if (l->n_frames == MAX_DEPTH)
		return;
	typeof(l->frames[0]) *f = &l->frames[l->n_frames];
	memset(f, 0, sizeof(*f));
	if (sscanf(buf, "  in mapping field '%63[^']' (line: %zu, column: %zu)", f->key, &line,
		   &col) == 3) {
		f->line = (unsigned)line;
	} else if (sscanf(buf, "  in sequence entry '%u' (line: %zu, column: %zu)", &entry, &line,
			  &col) == 3) {
		f->entry = entry;
		f->line = (unsigned)line;
	} else if (sscanf(buf, "  in mapping (line: %zu, column: %zu)", &line, &col) == 2) {
		f->line = (unsigned)line;
	} else if (sscanf(buf, "  in mapping field: %63s", f->key) != 1) {
		return;
	}
	l->n_frames++;
}

/* The field path the backtrace describes, outermost frame first. */
static void cylog_path(const struct cylog *l, char *path, size_t len)
{
	size_t o = 0;

	path[0] = '\0';
	for (unsigned i = l->n_frames; i-- > 0 && o < len;) {
		if (l->frames[i].key[0])
			o += (size_t)snprintf(path + o, len - o, "%s%s", o ? "." : "",
					      l->frames[i].key);
		else if (l->frames[i].entry)
			o += (size_t)snprintf(path + o, len - o, "[%u]", l->frames[i].entry - 1);
	}
}

static const char *yaml_kind(const char *s)
{
	static const struct {
		const char *cyaml, *text;
	} kinds[] = {
		{"SEQUENCE_START", "a list"},	{"SEQUENCE", "a list"},
		{"MAPPING_START", "a mapping"}, {"MAPPING", "a mapping"},
		{"SCALAR", "a single value"},	{"STRING", "a single value"},
		{"ALIAS", "an alias"},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(s, kinds[i].cyaml))
			return kinds[i].text;
	return s;
}

static void known_keys(const struct schema *sc, const char *parent, char *buf, size_t len)
{
	char norm[PATH_LEN];
	size_t o = 0;

	/* "listeners[3]" holds what every listeners entry holds. */
	for (const char *s = parent; *s && o < sizeof(norm) - 1; s++) {
		if (*s == '[')
			s += strcspn(s, "]");
		else
			norm[o++] = *s;
		if (!*s)
			break;
	}
	norm[o] = '\0';
	buf[0] = '\0';
	for (size_t i = 0; i <= N_SECTIONS; i++) {
		const cyaml_schema_field_t *fields = !sc	       ? NULL
						     : i == N_SECTIONS ? sc->item
								       : sc->f[i];
		if (!fields || strcmp(norm, i == N_SECTIONS ? "listeners" : section_paths[i]))
			continue;
		o = 0;
		for (const cyaml_schema_field_t *f = fields; f->key && o < len; f++) {
			char full[PATH_LEN + 80];
			snprintf(full, sizeof(full), "%s%s%s",
				 i == N_SECTIONS ? "listeners[]" : norm, *norm ? "." : "", f->key);
			const struct conf_setting *s = row(full);
			if (s && s->hidden)
				continue; /* an old spelling is not offered */
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", f->key);
		}
	}
}

static int cyaml_failure(struct ectx *x, cyaml_err_t e, const struct cylog *l)
{
	char path[PATH_LEN], key[64], want[32], got[32], keys[160];
	unsigned line = 0;

	if (e == CYAML_ERR_OOM)
		return oom(x);
	cylog_path(l, path, sizeof(path));
	for (unsigned i = 0; i < l->n_frames && !line; i++)
		line = l->frames[i].line;

	if (sscanf(l->msg, "Unexpected key: %63[^\n]", key) == 1) {
		size_t n = strlen(path);
		known_keys(x->sc, path, keys, sizeof(keys));
		snprintf(path + n, sizeof(path) - n, "%s%s", n ? "." : "", key);
		/* libcyaml's line is the enclosing mapping's; the line map has the key's. */
		unsigned kl = line_of(x, path);
		if (keys[0])
			return fail(x, kl ? kl : line, path, "unknown key (known here: %s)", keys);
		return fail(x, kl ? kl : line, path, "unknown key");
	}
	if (line_of(x, path))
		line = line_of(x, path);
	if (sscanf(l->msg, "No anchor found for alias: '%63[^']'", key) == 1)
		return fail(x, line, path, "alias *%s has no anchor &%s before it", key, key);
	if (sscanf(l->msg, "Expecting %31s got event: %31s", want, got) == 2) {
		want[strcspn(want, ",")] = '\0';
		return fail(x, line, path, "expected %s, found %s", yaml_kind(want),
			    yaml_kind(got));
	}
	if (l->msg[0])
		return fail(x, line, path, "%s", l->msg);
	return fail(x, line, path, "%s", cyaml_strerror(e));
}

/* ------------------------------------------------------------------------ */
/* Values                                                                   */

enum unit {
	U_NUM,	/* a whole number */
	U_MS,	/* a duration, kept in milliseconds */
	U_SEC,	/* a duration in whole seconds, kept in seconds */
	U_SIZE, /* bytes */
};

static enum unit unit_of(enum conf_kind k)
{
	return k == CONF_K_MS ? U_MS : k == CONF_K_SEC ? U_SEC : k == CONF_K_SIZE ? U_SIZE : U_NUM;
}

static bool is_number(enum conf_kind k)
{
	return k == CONF_K_COUNT || k == CONF_K_MS || k == CONF_K_SEC || k == CONF_K_SIZE;
}

/* A number field of base: unsigned long long, unsigned or uint16_t, by its size. */
static unsigned long long get_num(const struct conf_setting *s, const void *base)
{
	const char *p = (const char *)base + s->offset;
	unsigned long long v;
	unsigned u;
	uint16_t h;

	if (s->size == sizeof(v)) {
		memcpy(&v, p, sizeof(v));
		return v;
	}
	if (s->size == sizeof(h)) {
		memcpy(&h, p, sizeof(h));
		return h;
	}
	memcpy(&u, p, sizeof(u));
	return u;
}

static void set_num(const struct conf_setting *s, void *base, unsigned long long v)
{
	char *p = (char *)base + s->offset;
	unsigned u = (unsigned)v;
	uint16_t h = (uint16_t)v;

	if (s->size == sizeof(v))
		memcpy(p, &v, sizeof(v));
	else if (s->size == sizeof(h))
		memcpy(p, &h, sizeof(h));
	else
		memcpy(p, &u, sizeof(u));
}

static void fmt_value(enum unit u, unsigned long long v, char *buf, size_t len)
{
	static const struct {
		unsigned long long div;
		const char *suffix;
	} ms[] = {{HOUR_MS, "h"}, {MIN_MS, "m"}, {SEC_MS, "s"}, {1, "ms"}},
	  size[] = {{GIB, "GiB"}, {MIB, "MiB"}, {KIB, "KiB"}, {1, ""}};

	if (u == U_SEC)
		v *= SEC_MS;
	if (u == U_NUM || (u == U_SIZE && v == 0)) {
		snprintf(buf, len, "%llu", v);
		return;
	}
	if (v == 0) {
		snprintf(buf, len, "0%s", u == U_SEC ? "s" : "ms");
		return;
	}
	for (size_t i = 0; i < 4; i++) {
		const typeof(ms[0]) *t = u == U_SIZE ? &size[i] : &ms[i];
		if (v % t->div == 0) {
			snprintf(buf, len, "%llu%s", v / t->div, t->suffix);
			return;
		}
	}
}

static int check_range(struct ectx *x, unsigned line, const char *path, enum unit u,
		       unsigned long long v, unsigned long long min, unsigned long long max)
{
	char a[32], b[32], c[32];

	if (v >= min && v <= max)
		return 0;
	fmt_value(u, v, a, sizeof(a));
	fmt_value(u, min, b, sizeof(b));
	fmt_value(u, max, c, sizeof(c));
	return fail(x, line, path, "%s is out of range (%s..%s)", a, b, c);
}

/* Decimal digits only: no sign, no space, no 0x. -EINVAL or -ERANGE. */
static int parse_digits(const char *s, const char **end, unsigned long long *v)
{
	unsigned long long n = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (ULLONG_MAX - d) / 10)
			return -ERANGE;
		n = n * 10 + d;
	}
	*end = p;
	*v = n;
	return 0;
}

/*
 * Text to a value in the unit's storage; -EINVAL (bad form), -ERANGE, -EDOM
 * (not whole seconds), -ENODATA (a duration without a unit). A bare number
 * used to mean milliseconds, so "idle: 3600" was 3.6 s: it is refused now,
 * 0 excepted, which reads the same in every unit.
 */
static int parse_value(enum unit u, const char *s, unsigned long long *out)
{
	static const struct {
		const char *suffix;
		unsigned long long mul;
	} ms[] = {{"ms", 1}, {"s", SEC_MS}, {"m", MIN_MS}, {"h", HOUR_MS}, {NULL, 0}},
	  size[] = {{"", 1}, {"KiB", KIB}, {"MiB", MIB}, {"GiB", GIB}, {NULL, 0}};
	unsigned long long v;
	const char *end;
	int rc = parse_digits(s, &end, &v);

	if (rc)
		return rc;
	if (u == U_NUM)
		return *end ? -EINVAL : (*out = v, 0);
	if (u != U_SIZE && !*end)
		return *out = v, v ? -ENODATA : 0;
	for (const typeof(ms[0]) *t = u == U_SIZE ? size : ms; t->suffix; t++) {
		if (strcmp(end, t->suffix))
			continue;
		if (v > ULLONG_MAX / t->mul)
			return -ERANGE;
		v *= t->mul;
		if (u == U_SEC) {
			if (v % SEC_MS)
				return -EDOM;
			v /= SEC_MS;
		}
		*out = v;
		return 0;
	}
	return -EINVAL;
}

int conf_parse_duration_ms(const char *s, unsigned long long *ms)
{
	return parse_value(U_MS, s, ms) == 0 ? 0 : -EINVAL;
}

/*
 * A number, duration or size leaf: NULL (not written) leaves *v alone.
 * Range checked here because the value may not fit the field it goes to.
 */
static int get_value(struct ectx *x, const char *path, const char *s, enum unit u,
		     unsigned long long min, unsigned long long max, unsigned long long *v)
{
	unsigned line = line_of(x, path);
	char a[32], b[32];
	int rc;

	if (!s)
		return 0;
	rc = parse_value(u, s, v);
	if (rc == -ERANGE) {
		fmt_value(u, min, a, sizeof(a));
		fmt_value(u, max, b, sizeof(b));
		return fail(x, line, path, "%s is out of range (%s..%s)", Q(s), a, b);
	}
	if (rc == -EDOM)
		return fail(x, line, path,
			    "%s is not a whole number of seconds (write e.g. 30s, 5m, 1h)", Q(s));
	if (rc == -ENODATA) {
		/* Most who write "idle: 3600" mean seconds: offer that, and its largest unit. */
		fmt_value(U_SEC, *v <= ULLONG_MAX / SEC_MS ? *v : 0, a, sizeof(a));
		if (!strcmp(a + strspn(a, "0123456789"), "s"))
			snprintf(a, sizeof(a), "%sms", s);
		return fail(x, line, path, "%s has no unit: write %ss or %s", Q(s), s, a);
	}
	if (rc) {
		switch (u) {
		case U_NUM:
			return fail(x, line, path, "%s is not a whole number", Q(s));
		case U_MS:
		case U_SEC:
			return fail(x, line, path, "invalid duration %s (use 250ms, 10s, 5m, 1h)",
				    Q(s));
		case U_SIZE:
			return fail(
				x, line, path,
				"invalid size %s (use bytes, or a KiB, MiB or GiB suffix: 65536, 64KiB, 1MiB)",
				Q(s));
		}
	}
	return check_range(x, line, path, u, *v, min, max);
}

static int get_port(struct ectx *x, const char *path, const char *s, uint16_t *out)
{
	unsigned long long v = *out;
	int rc = get_value(x, path, s, U_NUM, 1, 65535, &v);

	if (!rc)
		*out = (uint16_t)v;
	return rc;
}

static int get_bool(struct ectx *x, const char *path, const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
									       "off"};

	if (!s)
		return 0;
	for (size_t i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*out = !strcasecmp(s, yes[i]);
			return 0;
		}
	}
	return fail(x, line_of(x, path), path, "%s is not true or false", Q(s));
}

const char *conf_mode_str(enum conf_mode m)
{
	return (unsigned)m <= CONF_AUDIT ? mode_names[m] : "?";
}

int conf_mode_parse(const char *s, enum conf_mode *out)
{
	if (!strcasecmp(s, "enforce"))
		*out = CONF_ENFORCE;
	else if (!strcasecmp(s, "audit"))
		*out = CONF_AUDIT;
	else
		return -EINVAL;
	return 0;
}

/* s is word in another case: the old spelling, which still loads. */
static int old_case(struct ectx *x, const char *path, const char *s, const char *word)
{
	if (!strcmp(s, word))
		return 0;
	return warn(x, line_of(x, path), path, "write %s: values are lower case now (%s)", word,
		    Q(s));
}

/*
 * A word from names[first..n-1], all lower case. Another case is the old
 * spelling (lookup_family took Envoy's V4_ONLY): it loads, with a warning
 * naming the new one. Returns 0 with *out, 1 when s is no name at all (the
 * caller says which names are), or -ENOMEM.
 */
static int get_word(struct ectx *x, const char *path, const char *s, const char *const *names,
		    unsigned first, unsigned n, unsigned *out)
{
	for (unsigned i = first; i < n; i++) {
		if (strcasecmp(s, names[i]))
			continue;
		*out = i;
		if (!strcmp(s, names[i]))
			return 0;
		return old_case(x, path, s, names[i]);
	}
	return 1;
}

/* A fraction written as 0.25 or 25%. */
static int get_ratio(struct ectx *x, const char *path, const char *s, double *out)
{
	char *end;
	double v;

	if (!s)
		return 0;
	errno = 0;
	v = strtod(s, &end);
	if (end != s && *end == '%' && !end[1]) {
		v /= 100;
		end++;
	}
	if (end == s || *end || errno || !(v >= 0 && v <= 1))
		return fail(x, line_of(x, path), path,
			    "%s is not a fraction from 0 to 1 (0.25 or 25%%)", Q(s));
	*out = v;
	return 0;
}

static int get_string(struct ectx *x, const char *path, const char *s, char **out)
{
	if (!s)
		return 0;
	if (!*s)
		return fail(x, line_of(x, path), path, "empty value");
	char *d = strdup(s);
	if (!d)
		return oom(x);
	free(*out);
	*out = d;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Addresses                                                                */

static const char *parse_ip(const char *s, uint16_t port, struct sockaddr_storage *ss,
			    socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*len = sizeof(*in);
		return NULL;
	}
	if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return NULL;
	}
	return "is not an IPv4 or IPv6 address";
}

static int port_of(const char *s, uint16_t *port)
{
	unsigned long long v;
	const char *end;

	if (parse_digits(s, &end, &v) || *end || v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/*
 * "IPv4:port" or "[IPv6]:port" into host (brackets removed), port and a
 * sockaddr. Returns NULL or why not.
 */
static const char *parse_hostport(const char *s, char *host, size_t hlen, uint16_t *port,
				  struct sockaddr_storage *ss, socklen_t *sl)
{
	const char *colon, *h = s;
	size_t n;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return "is not [IPv6]:port (e.g. [::1]:8443)";
		h = s + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return "is not address:port (e.g. 127.0.0.1:8443 or [::1]:8443)";
		if (memchr(s, ':', (size_t)(colon - s)))
			return "has an IPv6 address without brackets (write [::1]:8443)";
		n = (size_t)(colon - s);
	}
	if (n >= hlen)
		return "is not an IPv4 or IPv6 address and port";
	memcpy(host, h, n);
	host[n] = '\0';
	if (port_of(colon + 1, port))
		return "has no valid port (1..65535) after the ':'";
	if (parse_ip(host, *port, ss, sl))
		return "is not an IPv4 or IPv6 address and port";
	return NULL;
}

/*
 * libunbound's forwarder syntax, "IP" or "IP@port", which struct conf keeps
 * because resolver/ hands it to ub_ctx_set_fwd() as is. Returns NULL or why
 * not.
 */
static const char *check_forwarder(const char *s)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *at = strchr(s, '@');
	size_t n = at ? (size_t)(at - s) : strlen(s);
	struct sockaddr_storage ss;
	socklen_t sl;
	uint16_t port;

	if (n >= sizeof(host))
		return "is not IP or IP@port (e.g. 127.0.0.1@5353)";
	memcpy(host, s, n);
	host[n] = '\0';
	if (parse_ip(host, 53, &ss, &sl))
		return "is not IP or IP@port (e.g. 127.0.0.1@5353)";
	if (at && port_of(at + 1, &port))
		return "has no valid port (1..65535) after the '@'";
	return NULL;
}

#define FWD_FORM "is not IP or IP:port (e.g. 127.0.0.1:5353, [::1]:5353, 10.96.0.10)"

/*
 * A forwarder as written: "IP", "IPv4:port" or "[IPv6]:port", the spelling
 * of every other address; or libunbound's "IP@port", the old one (*old
 * set). out gets libunbound's spelling. Returns NULL or why not.
 */
static const char *parse_forwarder(const char *s, char *out, size_t len, bool *old)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon = strchr(s, ':'), *why;
	struct sockaddr_storage ss;
	socklen_t sl;
	uint16_t port;

	*old = strchr(s, '@') != NULL;
	if (*old) {
		if ((why = check_forwarder(s)))
			return why;
		snprintf(out, len, "%s", s);
		return NULL;
	}
	/* One colon is IPv4:port; more is a bare IPv6 address, port 53. */
	if (*s == '[' || (colon && colon == strrchr(s, ':'))) {
		why = parse_hostport(s, host, sizeof(host), &port, &ss, &sl);
		if (why && strstr(why, "no valid port"))
			return why;
		if (why)
			return FWD_FORM;
		if (*s == '[' && ss.ss_family != AF_INET6)
			return "has an IPv4 address in brackets (brackets are for IPv6)";
		snprintf(out, len, "%s@%u", host, port);
		return NULL;
	}
	if (parse_ip(s, 53, &ss, &sl))
		return FWD_FORM;
	snprintf(out, len, "%s", s);
	return NULL;
}

const char *conf_forwarder_str(const char *fwd, char *buf, size_t len)
{
	const char *at = strchr(fwd, '@');
	int n = at ? (int)(at - fwd) : (int)strlen(fwd);

	if (!at)
		snprintf(buf, len, "%s", fwd);
	else if (memchr(fwd, ':', (size_t)n))
		snprintf(buf, len, "[%.*s]:%s", n, fwd, at + 1);
	else
		snprintf(buf, len, "%.*s:%s", n, fwd, at + 1);
	return buf;
}

/*
 * An upstream CIDR: "10.0.0.0/8", "fd00::/8" or a bare address. The same
 * rules as resolver/policy.c, which parses it again when the gateway starts.
 * Returns NULL or why not.
 */
static const char *check_cidr(const char *s)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned char a[16];
	unsigned bits, max;

	if (n == 0 || n >= sizeof(host))
		return "is not an address or CIDR (e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)";
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, a) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, host, a) == 1)
		max = 128;
	else
		return "is not an address or CIDR (e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)";
	bits = max;
	if (slash) {
		const char *p = slash + 1;
		if (!isdigit((unsigned char)*p) || strlen(p) > 3)
			return "has no prefix length after the '/'";
		for (bits = 0; isdigit((unsigned char)*p); p++)
			bits = bits * 10 + (unsigned)(*p - '0');
		if (*p || bits > max)
			return max == 32 ? "has a prefix length outside 0..32"
					 : "has a prefix length outside 0..128";
	}
	for (unsigned i = bits; i < max; i++)
		if (a[i / 8] & (0x80 >> (i % 8)))
			return "has bits set past the prefix length";
	return NULL;
}

static const char *allow_reason(enum allowlist_err e, const char *name, char *buf, size_t len)
{
	switch (e) {
	case ALLOWLIST_E_EMPTY_NAME:
		return "empty name or empty label";
	case ALLOWLIST_E_TOO_LONG:
		return "too long (253 bytes at most, 63 per label)";
	case ALLOWLIST_E_BAD_CHAR: {
		size_t i = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"0123456789-_.*");
		unsigned char ch = (unsigned char)name[i];
		if (ch > 0x20 && ch < 0x7f)
			snprintf(
				buf, len,
				"'%c' is not allowed in a host name (letters, digits, '-', '_', '.')",
				ch);
		else if (ch == ' ')
			snprintf(
				buf, len,
				"a space is not allowed in a host name (letters, digits, '-', '_', '.')");
		else
			snprintf(
				buf, len,
				"byte 0x%02x is not allowed in a host name (letters, digits, '-', '_', '.')",
				ch);
		return buf;
	}
	case ALLOWLIST_E_BAD_WILDCARD:
		return "wildcard only as a leading \"*.\" label";
	default:
		return allowlist_strerror(e);
	}
}

/* ------------------------------------------------------------------------ */
/* Checks shared by the loader and conf_validate()                          */

static int listener_line(struct ectx *x, const struct conf_listener *l, const char *path)
{
	unsigned line = line_of(x, path);
	return line ? line : l->line;
}

/*
 * The CONNECT fields of listener i. The credentials file is loaded and
 * dropped here, so --check reports a bad one with its own line.
 */
static int check_listener_connect(struct ectx *x, const struct conf_listener *l, unsigned i)
{
	char path[PATH_LEN];
	struct credentials_error aerr;
	struct proxy_auth *auth;
	int rc;

	snprintf(path, sizeof(path), "listeners[%u].protocol", i);
	if ((unsigned)l->protocol > CONF_PROTO_CONNECT)
		return fail(x, listener_line(x, l, path), path, "unknown protocol %u",
			    (unsigned)l->protocol);
	snprintf(path, sizeof(path), "listeners[%u].connect_ports", i);
	if (l->n_connect_ports > CONF_MAX_CONNECT_PORTS)
		return fail(x, listener_line(x, l, path), path, "%u ports; 0..%u",
			    l->n_connect_ports, CONF_MAX_CONNECT_PORTS);
	/* Such a listener would answer every connection with a 403 or a reset. */
	if (!l->n_connect_ports && l->protocol == CONF_PROTO_CONNECT)
		return fail(x, listener_line(x, l, path), path,
			    "no port, and protocol is connect: nothing could pass (list ports, or "
			    "use protocol: tls)");
	for (unsigned j = 0; j < l->n_connect_ports; j++) {
		snprintf(path, sizeof(path), "listeners[%u].connect_ports[%u]", i, j);
		if (!l->connect_ports[j])
			return fail(x, listener_line(x, l, path), path,
				    "0 is out of range (1..65535)");
	}
	if (!l->proxy_auth_file)
		return 0;
	snprintf(path, sizeof(path), "listeners[%u].proxy_auth_file", i);
	if (!*l->proxy_auth_file)
		return fail(x, listener_line(x, l, path), path, "empty path");
	rc = credentials_load(l->proxy_auth_file, &auth, &aerr);
	if (rc == -ENOMEM)
		return oom(x);
	if (rc && aerr.line)
		return fail(x, listener_line(x, l, path), path, "%s line %u: %s",
			    Q(l->proxy_auth_file), aerr.line, aerr.msg);
	if (rc)
		return fail(x, listener_line(x, l, path), path, "%s: %s", Q(l->proxy_auth_file),
			    aerr.msg);
	proxy_auth_free(auth);
	return 0;
}

static int check_listeners(struct ectx *x, struct conf *c)
{
	char path[PATH_LEN];

	if (c->n_listeners > CONF_MAX_LISTENERS)
		return fail(x, line_of(x, "listeners"), "listeners", "%u listeners; at most %u",
			    c->n_listeners, CONF_MAX_LISTENERS);
	for (unsigned i = 0; i < c->n_listeners; i++) {
		struct conf_listener *l = &c->listeners[i];

		snprintf(path, sizeof(path), "listeners[%u].address", i);
		if (!l->address)
			return fail(x, listener_line(x, l, path), path,
				    "missing (a listener needs an address and a port)");
		if (parse_ip(l->address, l->port, &l->sa, &l->sa_len))
			return fail(x, listener_line(x, l, path), path,
				    "%s is not an IPv4 or IPv6 address", Q(l->address));
		snprintf(path, sizeof(path), "listeners[%u].port", i);
		if (!l->port)
			return fail(x, listener_line(x, l, path), path,
				    "0 is out of range (1..65535)");
		snprintf(path, sizeof(path), "listeners[%u].upstream_port", i);
		if (!l->upstream_port)
			return fail(x, listener_line(x, l, path), path,
				    "0 is out of range (1..65535)");
		int rc = check_listener_connect(x, l, i);
		if (rc)
			return rc;
		for (unsigned j = 0; j < i; j++) {
			const struct conf_listener *o = &c->listeners[j];
			if (o->sa_len != l->sa_len || memcmp(&o->sa, &l->sa, l->sa_len))
				continue;
			snprintf(path, sizeof(path), "listeners[%u]", i);
			if (o->line)
				return fail(
					x, listener_line(x, l, path), path,
					"%s port %u is already a listener (listeners[%u], line %u)",
					l->address, l->port, j, o->line);
			return fail(x, listener_line(x, l, path), path,
				    "%s port %u is already a listener (listeners[%u])", l->address,
				    l->port, j);
		}
	}
	return 0;
}

/*
 * A wildcard at a public suffix ("*.com", "*.co.uk") lets through every name
 * anyone registers there: refused. One at a suffix where anyone can host
 * content ("*.github.io"), or above one ("*.amazonaws.com" holds
 * s3.amazonaws.com), is allowed with a warning. The Public Suffix List is
 * compiled in (sni/psl.h).
 */
static int check_wildcard(struct ectx *x, const char *entry, unsigned line, const char *path)
{
	char s[256];
	size_t n;
	int below;

	if (strncmp(entry, "*.", 2) || (n = strlen(entry + 2)) >= sizeof(s))
		return 0;
	for (size_t i = 0; i <= n; i++)
		s[i] = (char)tolower((unsigned char)entry[2 + i]);
	if (n && s[n - 1] == '.')
		s[n - 1] = '\0';
	switch (psl_suffix(s, &below)) {
	case PSL_IS_ICANN:
		return fail(x, line, path,
			    "%s covers every name anyone registers under %s, a public suffix "
			    "(list the names, or a wildcard under a domain of your own)",
			    Q(entry), s);
	case PSL_IS_PRIVATE:
		return warn(x, line, path,
			    "%s covers %s, under which anyone can host content (the Public Suffix "
			    "List's private section): every tenant there is allowed",
			    Q(entry), s);
	case PSL_NOT:
		break;
	}
	if (below)
		return warn(x, line, path,
			    "%s covers suffixes under %s where anyone can host content (the Public "
			    "Suffix List's private section): every tenant there is allowed",
			    Q(entry), s);
	return 0;
}

static int check_allow(struct ectx *x, const struct conf *c)
{
	enum allowlist_err e;
	size_t bad = 0;
	char path[PATH_LEN];

	if (!c->n_allow)
		return 0;
	struct allowlist *al = allowlist_build((const char *const *)c->allow, c->n_allow, &e, &bad);
	if (al) {
		allowlist_free(al);
		for (unsigned i = 0; i < c->n_allow; i++) {
			snprintf(path, sizeof(path), "allow[%u]", i);
			int rc = check_wildcard(x, c->allow[i],
						c->allow_lines ? c->allow_lines[i] : 0, path);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (e == ALLOWLIST_E_NOMEM || bad >= c->n_allow)
		return oom(x);
	snprintf(path, sizeof(path), "allow[%zu]", bad);
	return fail(x, c->allow_lines ? c->allow_lines[bad] : 0, path, "%s is not a valid name: %s",
		    Q(c->allow[bad]), allow_reason(e, c->allow[bad], (char[96]){0}, 96));
}

/* A source CIDR as sni/rules takes it: IPv4 as IPv4-mapped IPv6. check_cidr() passed it. */
static void rules_cidr_of(const char *s, struct rules_cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned bits;

	memset(out, 0, sizeof(*out));
	snprintf(host, sizeof(host), "%.*s", (int)n, s);
	if (inet_pton(AF_INET, host, out->addr + 12) == 1) {
		out->addr[10] = out->addr[11] = 0xff;
		bits = slash ? (unsigned)atoi(slash + 1) : 32;
		out->bits = (uint8_t)(96 + bits);
	} else {
		inet_pton(AF_INET6, host, out->addr);
		out->bits = (uint8_t)(slash ? atoi(slash + 1) : 128);
	}
}

static unsigned at_line(const struct ectx *x, const char *path, unsigned fallback)
{
	unsigned line = line_of(x, path);
	return line ? line : fallback;
}

/* What sni/rules is built from, with the storage it points into. */
struct rules_spec {
	struct rules_policy *p;
	unsigned n;
	void *mem[4];
};

static void rules_spec_free(struct rules_spec *rs)
{
	for (size_t i = 0; i < sizeof(rs->mem) / sizeof(rs->mem[0]); i++)
		free(rs->mem[i]);
	free(rs->p);
}

/*
 * c's policies, then the top-level allow as "default" matching everything,
 * as sni/rules takes them. Listener names become indexes; check_policies()
 * has made sure each exists.
 */
static int rules_spec(const struct conf *c, struct rules_spec *rs)
{
	unsigned n_ent = 0, n_src = 0, n_lis = 0;

	memset(rs, 0, sizeof(*rs));
	for (unsigned i = 0; i < c->n_policies; i++) {
		n_ent += c->policies[i].n_allow;
		n_src += c->policies[i].n_sources + c->policies[i].n_file_sources;
		n_lis += c->policies[i].n_listeners;
		/* An entry's upstream_allow CIDRs go in the same pool as the sources. */
		for (unsigned k = 0; k < c->policies[i].n_allow; k++)
			n_src += c->policies[i].allow[k].n_upstream_allow;
	}
	rs->n = c->n_policies + (c->n_allow ? 1 : 0);
	struct rules_entry *ent = calloc(n_ent + c->n_allow + 1, sizeof(*ent));
	struct rules_cidr *src = calloc(n_src + 1, sizeof(*src));
	unsigned *lis = calloc(n_lis + 1, sizeof(*lis));
	rs->mem[0] = ent;
	rs->mem[1] = src;
	rs->mem[2] = lis;
	if (!(rs->p = calloc(rs->n + 1, sizeof(*rs->p))) || !ent || !src || !lis)
		return -ENOMEM;
	for (unsigned i = 0; i < c->n_policies; i++) {
		const struct conf_policy *cp = &c->policies[i];
		struct rules_policy *rp = &rs->p[i];
		enum conf_mode m = cp->mode ? cp->mode : c->mode;

		*rp = (struct rules_policy){
			.name = cp->name,
			.audit = m == CONF_AUDIT,
			.listeners = lis,
			.n_listeners = cp->n_listeners,
			.sources = src,
			.n_sources = cp->n_sources + cp->n_file_sources,
			.users = (const char *const *)cp->users,
			.n_users = cp->n_users,
			.entries = ent,
			.n_entries = cp->n_allow,
		};
		for (unsigned k = 0; k < cp->n_listeners; k++) {
			unsigned l = 0;
			while (l < c->n_listeners &&
			       (!c->listeners[l].name ||
				strcmp(c->listeners[l].name, cp->listeners[k])))
				l++;
			*lis++ = l;
		}
		for (unsigned k = 0; k < cp->n_sources; k++)
			rules_cidr_of(cp->sources[k], src++);
		for (unsigned k = 0; k < cp->n_file_sources; k++)
			rules_cidr_of(cp->file_sources[k], src++);
		for (unsigned k = 0; k < cp->n_allow; k++, ent++) {
			const struct conf_allow *a = &cp->allow[k];
			*ent = (struct rules_entry){.name = a->name,
						    .ports = a->ports,
						    .n_ports = a->n_ports,
						    .expires = a->expires,
						    .upstream_allow = src,
						    .n_upstream_allow = a->n_upstream_allow};
			for (unsigned j = 0; j < a->n_upstream_allow; j++)
				rules_cidr_of(a->upstream_allow[j], src++);
		}
	}
	if (c->n_allow) {
		struct rules_policy *rp = &rs->p[c->n_policies];
		*rp = (struct rules_policy){.name = CONF_DEFAULT_POLICY,
					    .audit = c->mode == CONF_AUDIT,
					    .entries = ent,
					    .n_entries = c->n_allow};
		for (unsigned k = 0; k < c->n_allow; k++)
			ent[k] = (struct rules_entry){.name = c->allow[k]};
	}
	return 0;
}

int conf_names(const struct conf *c, const char ***names, unsigned **lines, unsigned *n)
{
	unsigned total = c->n_allow, k = 0;

	for (unsigned i = 0; i < c->n_policies; i++)
		total += c->policies[i].n_allow;
	*names = calloc(total + 1, sizeof(**names));
	*lines = calloc(total + 1, sizeof(**lines));
	if (!*names || !*lines) {
		free(*names);
		free(*lines);
		*names = NULL;
		*lines = NULL;
		return -ENOMEM;
	}
	for (unsigned i = 0; i < c->n_allow; i++, k++) {
		(*names)[k] = c->allow[i];
		(*lines)[k] = c->allow_lines ? c->allow_lines[i] : 0;
	}
	for (unsigned i = 0; i < c->n_policies; i++)
		for (unsigned j = 0; j < c->policies[i].n_allow; j++, k++) {
			(*names)[k] = c->policies[i].allow[j].name;
			(*lines)[k] = c->policies[i].allow[j].line;
		}
	*n = total;
	return 0;
}

int conf_build_rules(const struct conf *c, struct rules **out, struct conf_error *err)
{
	struct conf_error dummy;
	/* Policies come from the file only; a line-less error still belongs to it. */
	struct ectx x = {.file = c->path, .in_file = c->path != NULL, .err = err ? err : &dummy};
	struct rules_error re;
	struct rules_spec rs;
	char path[PATH_LEN];
	int rc;

	*out = NULL;
	if ((rc = rules_spec(c, &rs))) {
		rules_spec_free(&rs);
		return oom(&x);
	}
	rc = rules_build(out, rs.p, rs.n, &re);
	rules_spec_free(&rs);
	if (!rc)
		return 0;
	if (re.code == RULES_E_NOMEM)
		return oom(&x);
	const struct conf_policy *cp = re.policy < c->n_policies ? &c->policies[re.policy] : NULL;
	unsigned line = cp ? cp->line : 0;
	snprintf(path, sizeof(path), cp ? "policies[%u]" : "allow", re.policy);
	if (re.code == RULES_E_SHADOWED && !cp && re.other < c->n_policies)
		return fail(&x, c->allow_lines ? c->allow_lines[0] : 0, "allow",
			    "the top-level allow can never match: %s (policies[%u]) matches every "
			    "connection first (give it a match, or move its names here)",
			    Q(c->policies[re.other].name), re.other);
	if (re.code == RULES_E_SHADOWED && cp) {
		const char *other = re.other < c->n_policies ? c->policies[re.other].name : "?";
		return fail(&x, line, path,
			    "policy %s can never match: %s (policies[%u]) comes first and matches "
			    "every connection it would",
			    Q(cp->name), Q(other), re.other);
	}
	if (re.code == RULES_E_NAME && cp && re.entry < cp->n_allow) {
		snprintf(path, sizeof(path), "policies[%u].allow[%u]", re.policy, re.entry);
		return fail(
			&x, cp->allow[re.entry].line, path, "%s is not a valid name: %s",
			Q(cp->allow[re.entry].name),
			allow_reason(re.allowlist, cp->allow[re.entry].name, (char[96]){0}, 96));
	}
	return fail(&x, line, path, "%s", rules_strerror(re.code));
}

/*
 * Client-facing server names of large Encrypted Client Hello deployments:
 * a hello to any site behind the provider carries this name in its SNI.
 */
static const char *const ech_public_names[] = {
	"cloudflare-ech.com",
};

/* Whether entry (exact or "*.suffix") lets a hello for name through. */
static bool covers(const char *entry, const char *name)
{
	if (strncmp(entry, "*.", 2))
		return !strcasecmp(entry, name);
	size_t n = strlen(name), s = strlen(entry + 1); /* ".suffix" */
	return n > s && !strcasecmp(name + n - s, entry + 1);
}

/* A warning for every entry that would let ECH hellos to a whole provider through. */
static int warn_ech_names(struct ectx *x, const struct conf *c)
{
	const char **names;
	unsigned *lines, n;

	if (!x->warn_to)
		return 0;
	int rc = 0;

	if (conf_names(c, &names, &lines, &n))
		return oom(x);
	for (unsigned i = 0; i < n && !rc; i++)
		for (size_t k = 0; k < sizeof(ech_public_names) / sizeof(ech_public_names[0]); k++)
			if (!rc && covers(names[i], ech_public_names[k]))
				rc = warn(
					x, lines[i], "",
					"%s lets through %s, the name every Encrypted Client "
					"Hello to that provider's sites carries, so it allows all "
					"of them (ech: deny resets such hellos)",
					Q(names[i]), ech_public_names[k]);
	free(names);
	free(lines);
	return rc;
}

/*
 * Names, references and entries of the policies; conf_build_rules() then
 * finds a policy that can never match.
 */
static int check_policies(struct ectx *x, const struct conf *c)
{
	char path[PATH_LEN];
	const char *why;

	for (unsigned i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		snprintf(path, sizeof(path), "listeners[%u].name", i);
		for (unsigned j = 0; l->name && j < i; j++)
			if (c->listeners[j].name && !strcmp(c->listeners[j].name, l->name))
				return fail(x, listener_line(x, l, path), path,
					    "%s is already the name of listeners[%u]", Q(l->name),
					    j);
	}
	if (c->n_policies > CONF_MAX_POLICIES)
		return fail(x, line_of(x, "policies"), "policies", "%u policies; at most %u",
			    c->n_policies, CONF_MAX_POLICIES);
	for (unsigned i = 0; i < c->n_policies; i++) {
		const struct conf_policy *p = &c->policies[i];
		enum conf_mode m = p->mode ? p->mode : c->mode;

		snprintf(path, sizeof(path), "policies[%u].name", i);
		/* It becomes a metrics label and a log field: keep it plain and short. */
		size_t nl = strlen(p->name);
		if (nl > CONF_POLICY_NAME_MAX || strspn(p->name, "abcdefghijklmnopqrstuvwxyz"
								 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
								 "0123456789_.-") != nl)
			return fail(x, at_line(x, path, p->line), path,
				    "%s: a policy name is 1..%u of A-Z a-z 0-9 _ . -", Q(p->name),
				    CONF_POLICY_NAME_MAX);
		if (c->n_allow && !strcmp(p->name, CONF_DEFAULT_POLICY))
			return fail(x, at_line(x, path, p->line), path,
				    "\"%s\" is the name of the top-level allow's policy; choose "
				    "another",
				    CONF_DEFAULT_POLICY);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(c->policies[j].name, p->name))
				return fail(x, at_line(x, path, p->line), path,
					    "%s is already the name of policies[%u] (line %u)",
					    Q(p->name), j, c->policies[j].line);
		for (unsigned k = 0; k < p->n_listeners; k++) {
			unsigned l = 0;
			while (l < c->n_listeners &&
			       (!c->listeners[l].name ||
				strcmp(c->listeners[l].name, p->listeners[k])))
				l++;
			snprintf(path, sizeof(path), "policies[%u].match.listeners[%u]", i, k);
			if (l == c->n_listeners)
				return fail(x, at_line(x, path, p->line), path,
					    "%s is the name of no listener (listeners[].name)",
					    Q(p->listeners[k]));
		}
		for (unsigned k = 0; k < p->n_sources; k++) {
			snprintf(path, sizeof(path), "policies[%u].match.sources[%u]", i, k);
			if ((why = check_cidr(p->sources[k])))
				return fail(x, at_line(x, path, p->line), path, "%s %s",
					    Q(p->sources[k]), why);
		}
		for (unsigned k = 0; k < p->n_users; k++) {
			snprintf(path, sizeof(path), "policies[%u].match.proxy_users[%u]", i, k);
			if (strchr(p->users[k], ':'))
				return fail(x, at_line(x, path, p->line), path,
					    "%s: a user name has no ':'", Q(p->users[k]));
		}
		for (unsigned k = 0; k < p->n_allow; k++) {
			const struct conf_allow *e = &p->allow[k];
			snprintf(path, sizeof(path), "policies[%u].allow[%u]", i, k);
			int rc = check_wildcard(x, e->name, e->line, path);
			if (rc)
				return rc;
			if (e->n_upstream_allow > UPSTREAM_MAX)
				return fail(x, e->line, path,
					    "%u upstream_allow entries; at most %u",
					    e->n_upstream_allow, UPSTREAM_MAX);
			for (unsigned j = 0; j < e->n_upstream_allow; j++) {
				snprintf(path, sizeof(path),
					 "policies[%u].allow[%u].upstream_allow[%u]", i, k, j);
				if ((why = check_cidr(e->upstream_allow[j])))
					return fail(x, at_line(x, path, e->line), path, "%s %s",
						    Q(e->upstream_allow[j]), why);
			}
		}
		/* Such a policy would take its connections and let none through. */
		snprintf(path, sizeof(path), "policies[%u].allow", i);
		if (!p->n_allow && m != CONF_AUDIT)
			return fail(x, at_line(x, path, p->line), path,
				    "no names: every connection it matches would be reset (list "
				    "names, or set mode: audit to learn them)");
	}
	if (!c->n_policies)
		return 0;
	struct rules *r;
	int rc = conf_build_rules(c, &r, x->err);
	rules_free(r);
	return rc;
}

static int check_resolver(struct ectx *x, const struct conf *c)
{
	char path[PATH_LEN];
	const char *why;

	if (c->resolver.n_forwarders > CONF_MAX_FORWARDERS)
		return fail(x, line_of(x, "resolver.forwarders"), "resolver.forwarders",
			    "%u forwarders; at most %u", c->resolver.n_forwarders,
			    CONF_MAX_FORWARDERS);
	for (unsigned i = 0; i < c->resolver.n_forwarders; i++) {
		snprintf(path, sizeof(path), "resolver.forwarders[%u]", i);
		if ((why = check_forwarder(c->resolver.forwarders[i])))
			return fail(x, line_of(x, path), path, "%s %s",
				    Q(c->resolver.forwarders[i]), why);
	}
	if (!c->resolver.resolv_conf || !*c->resolver.resolv_conf)
		return fail(x, line_of(x, "resolver.resolv_conf"), "resolver.resolv_conf",
			    "empty path");
	/* max_ttl 0s means "do not cache", which no floor can contradict. */
	if (c->resolver.max_ttl_s && c->resolver.min_ttl_s > c->resolver.max_ttl_s) {
		char a[32], b[32];
		unsigned line = line_of(x, "resolver.min_ttl");
		/* The floor was left at its default: the ceiling written in the file is wrong. */
		bool min_written = x->lm && x->lm->n &&
				   bsearch("resolver.min_ttl", x->lm->v, x->lm->n,
					   sizeof(*x->lm->v), lm_key_cmp);
		fmt_value(U_SEC, c->resolver.min_ttl_s, a, sizeof(a));
		fmt_value(U_SEC, c->resolver.max_ttl_s, b, sizeof(b));
		if (!min_written && line_of(x, "resolver.max_ttl"))
			return fail(x, line_of(x, "resolver.max_ttl"), "resolver.max_ttl",
				    "%s is below resolver.min_ttl (%s, its default)", b, a);
		return fail(x, line, "resolver.min_ttl", "%s is larger than resolver.max_ttl (%s)",
			    a, b);
	}
	return 0;
}

static int check_cidrs(struct ectx *x, const char *list, char *const *v, const unsigned *lines,
		       unsigned n)
{
	char path[PATH_LEN];
	const char *why;

	if (n > UPSTREAM_MAX)
		return fail(x, line_of(x, list), list, "%u entries; at most %u", n, UPSTREAM_MAX);
	for (unsigned i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s[%u]", list, i);
		if ((why = check_cidr(v[i])))
			return fail(x, lines ? lines[i] : line_of(x, path), path, "%s %s", Q(v[i]),
				    why);
	}
	return 0;
}

static int check_upstream(struct ectx *x, const struct conf *c)
{
	int rc = check_cidrs(x, "upstream.deny", c->upstream.deny, c->upstream.deny_lines,
			     c->upstream.n_deny);
	return rc ? rc
		  : check_cidrs(x, "upstream.allow", c->upstream.allow, c->upstream.allow_lines,
				c->upstream.n_allow);
}

#define RANGE(path, u, v, min, max)                                         \
	do {                                                                \
		if (check_range(x, line_of(x, path), path, u, v, min, max)) \
			return -EINVAL;                                     \
	} while (0)

static int check_scalars(struct ectx *x, const struct conf *c)
{
	for (unsigned i = 0; i < N_SETTINGS; i++) {
		const struct conf_setting *s = &conf_settings[i];
		unsigned v;

		if (conf_setting_is_item(s))
			continue; /* check_listeners() */
		if (is_number(s->kind))
			RANGE(s->path, unit_of(s->kind), get_num(s, c), s->min, s->max);
		if (s->kind != CONF_K_ENUM)
			continue;
		memcpy(&v, (const char *)c + s->offset, sizeof(v));
		/* "lookup family": "unknown family 9" */
		const char *word = strrchr(s->what, ' ');
		if (v < s->first || v >= s->n_names)
			return fail(x, line_of(x, s->path), s->path, "unknown %s %u",
				    word ? word + 1 : s->what, v);
	}
	if (c->relay.pipe_size > c->relay.pipe_max_size) {
		char a[32], b[32];
		fmt_value(U_SIZE, c->relay.pipe_size, a, sizeof(a));
		fmt_value(U_SIZE, c->relay.pipe_max_size, b, sizeof(b));
		return fail(x, line_of(x, "relay.pipe_size"), "relay.pipe_size",
			    "%s is larger than relay.pipe_max_size (%s)", a, b);
	}
	/* Below two pipes not even one connection could relay. */
	RANGE("relay.pipe_memory_max", U_SIZE, c->relay.pipe_memory_max, 2ULL * c->relay.pipe_size,
	      PIPE_MEMORY_MAX);
	return 0;
}

/*
 * An admin address: "IP:port", "[v6]:port", or with unix_ok "unix:/path".
 * Port 0 binds a free port (tests run many gateways; the ready line names
 * it). Sets *local to whether only this host can reach it.
 */
static int check_admin_address(struct ectx *x, const char *path, const char *a, bool unix_ok,
			       bool *local)
{
	char host[INET6_ADDRSTRLEN + 1], probe[128];
	struct sockaddr_storage ss;
	socklen_t sl;
	uint16_t port;
	size_t n = strlen(a);

	if (unix_ok && !strncmp(a, "unix:", 5)) {
		/* sockaddr_un's sun_path is 108 bytes, NUL included. */
		if (a[5] != '/' || n - 5 > 107)
			return fail(x, line_of(x, path), path,
				    "%s is not unix:/absolute/path (at most 107 bytes)", Q(a));
		*local = true;
		return 0;
	}
	snprintf(probe, sizeof(probe), "%s", a);
	if (n > 2 && n < sizeof(probe) && !strcmp(probe + n - 2, ":0"))
		probe[n - 1] = '1';
	const char *why = parse_hostport(probe, host, sizeof(host), &port, &ss, &sl);
	if (!why && a[0] == '[' && ss.ss_family != AF_INET6)
		why = "has an IPv4 address in brackets (brackets are for IPv6)";
	if (why)
		return fail(x, line_of(x, path), path, "%s %s%s", Q(a), why,
			    unix_ok ? ", or unix:/path" : "");
	if (ss.ss_family == AF_INET) {
		*local = ((const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr)[0] == 127;
	} else {
		const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		*local = IN6_IS_ADDR_LOOPBACK(a6) ||
			 (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
	}
	return 0;
}

/* RFC 6750 2.1 b64token, what may follow "Bearer ". */
static bool token68(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("-._~+/=", ch));
}

/* Read the control token: one line, trailing white space (a final newline) dropped. */
static int load_token(struct ectx *x, struct conf *c)
{
	const char *path = "admin.control.token_file", *f = c->control.token_file;
	const unsigned line = c->control.token_file_line;
	char buf[CONF_TOKEN_MAX + 64];
	size_t n = 0;
	ssize_t r;
	int fd;

	if (c->control.token) {
		explicit_bzero(c->control.token, c->control.token_len);
		free(c->control.token);
		c->control.token = NULL;
		c->control.token_len = 0;
	}
	if (!f)
		return 0;
	/* O_NONBLOCK: a FIFO put there must not hang a reload on the main thread. */
	fd = open(f, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail(x, line, path, "%s: %s", f, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(x, line, path, "%s is not a regular file", f);
	}
	while (n < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			explicit_bzero(buf, sizeof(buf));
			return fail(x, line, path, "%s: %s", f, strerror(e));
		}
		n += (size_t)r;
	}
	close(fd);
	while (n && strchr(" \t\r\n", buf[n - 1]))
		n--;
	const char *why = NULL;
	if (n < CONF_TOKEN_MIN || n > CONF_TOKEN_MAX)
		why = "must hold one token of 16 to 512 bytes";
	for (size_t i = 0; !why && i < n; i++)
		if (!token68((unsigned char)buf[i]))
			why = "holds a byte a bearer token cannot (A-Z a-z 0-9 - . _ ~ + / =)";
	if (!why && !(c->control.token = malloc(n + 1)))
		why = "out of memory";
	if (why) {
		explicit_bzero(buf, sizeof(buf));
		return fail(x, line, path, "%s %s", f, why);
	}
	memcpy(c->control.token, buf, n);
	c->control.token[n] = '\0';
	c->control.token_len = n;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

static int check_admin(struct ectx *x, struct conf *c)
{
	bool local = true;

	if (c->admin_address &&
	    check_admin_address(x, "admin.address", c->admin_address, false, &local))
		return -EINVAL;
	if (c->control.address &&
	    check_admin_address(x, "admin.control.address", c->control.address, true, &local))
		return -EINVAL;
	/* sockaddr_un's sun_path is 108 bytes, NUL included. */
	const char *t = c->takeover_socket;
	if (t && (t[0] != '/' || strlen(t) > 107))
		return fail(x, line_of(x, "admin.takeover_socket"), "admin.takeover_socket",
			    "%s is not an absolute path of at most 107 bytes", Q(t));
	return 0;
}

/*
 * The control token: required off loopback, and read from its file. Only in
 * conf_validate(), after the command line, which may name the file; so
 * loading a file (convert, corefile) never needs the secret.
 */
static int check_control_token(struct ectx *x, struct conf *c)
{
	bool local = true;

	if (c->control.address &&
	    check_admin_address(x, "admin.control.address", c->control.address, true, &local))
		return -EINVAL;
	/* Anyone who can reach it could drain every replica: never without a token. */
	if (c->control.address && !local && !c->control.token_file)
		return fail(x, c->control.address_line, "admin.control.token_file",
			    "required: admin.control.address %s is reachable from other hosts",
			    Q(c->control.address));
	return load_token(x, c);
}

static int check_conf(struct ectx *x, struct conf *c)
{
	int rc;

	if ((rc = check_scalars(x, c)) || (rc = check_admin(x, c)) ||
	    (rc = check_listeners(x, c)) || (rc = check_resolver(x, c)) ||
	    (rc = check_upstream(x, c)) || (rc = check_allow(x, c)) ||
	    (rc = check_policies(x, c)) || (rc = warn_ech_names(x, c)))
		return rc;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Raw to struct conf                                                       */

#define TRY(e)                      \
	do {                        \
		int rc_ = (e);      \
		if (rc_)            \
			return rc_; \
	} while (0)

static int set_setting(struct ectx *x, const struct conf_setting *s, const char *path,
		       const char *t, void *base);

/* connect_ports from a list of texts; NULL entries are empty ports. */
static int set_ports(struct ectx *x, const char *path, char *const *v, unsigned n,
		     struct conf_listener *l)
{
	char p[PATH_LEN];

	if (n > CONF_MAX_CONNECT_PORTS)
		return fail(x, line_of(x, path), path, "%u ports; at most %u", n,
			    CONF_MAX_CONNECT_PORTS);
	for (unsigned j = 0; j < n; j++) {
		snprintf(p, sizeof(p), "%s[%u]", path, j);
		if (!v[j] || !*v[j])
			return fail(x, line_of(x, p), p, "empty port");
		TRY(get_port(x, p, v[j], &l->connect_ports[j]));
	}
	l->n_connect_ports = n;
	return 0;
}

/* Every field of a listener at the default its row gives. */
static int listener_defaults(struct ectx *x, struct conf_listener *l)
{
	for (unsigned i = first_item(); i < N_SETTINGS; i++) {
		const struct conf_setting *s = &conf_settings[i];
		if (!conf_setting_is_item(s) || !s->def)
			continue;
		if (s->kind != CONF_K_PORTS) {
			TRY(set_setting(x, s, s->path, s->def, l));
			continue;
		}
		/* "[443]": the ports as a flow list. */
		char buf[8 * CONF_MAX_CONNECT_PORTS], *v[CONF_MAX_CONNECT_PORTS], *save = NULL;
		unsigned n = 0;
		snprintf(buf, sizeof(buf), "%s", s->def);
		for (char *t = strtok_r(buf, "[], ", &save); t && n < CONF_MAX_CONNECT_PORTS;
		     t = strtok_r(NULL, "[], ", &save))
			v[n++] = t;
		TRY(set_ports(x, s->path, v, n, l));
	}
	return 0;
}

/*
 * address: "127.0.0.1:8443" or "[::1]:8443", as admin.address and --listen.
 * The old spelling, a bare IP in address and the port in port, still loads
 * with a warning that gives the new one.
 */
static int convert_listen_address(struct ectx *x, const char *address, const char *port,
				  struct conf_listener *l, unsigned i)
{
	char path[PATH_LEN], host[INET6_ADDRSTRLEN + 1];
	const char *why;

	snprintf(path, sizeof(path), "listeners[%u].address", i);
	if (!address)
		return fail(x, l->line, path,
			    "missing (write address: 127.0.0.1:8443, or \"[::1]:8443\")");
	if (!port) {
		unsigned line = line_of(x, path);
		why = parse_hostport(address, host, sizeof(host), &l->port, &l->sa, &l->sa_len);
		if (why && !strchr(address, ':') && !parse_ip(address, 1, &l->sa, &l->sa_len))
			return fail(x, line, path, "%s has no port (write %s:8443)", Q(address),
				    address);
		if (why &&
		    !strcmp(why, "has an IPv6 address without brackets (write [::1]:8443)") &&
		    !parse_ip(address, 1, &l->sa, &l->sa_len))
			return fail(x, line, path, "%s has no port (write \"[%s]:8443\")",
				    Q(address), address);
		if (!why && address[0] == '[' && l->sa.ss_family != AF_INET6)
			why = "has an IPv4 address in brackets (brackets are for IPv6)";
		if (why)
			return fail(x, line, path, "%s %s", Q(address), why);
		if (!(l->address = strdup(host)))
			return oom(x);
		return 0;
	}
	TRY(get_string(x, path, address, &l->address));
	snprintf(path, sizeof(path), "listeners[%u].port", i);
	TRY(get_port(x, path, port, &l->port));
	uint16_t p;
	if (!parse_hostport(l->address, host, sizeof(host), &p, &l->sa, &l->sa_len))
		return fail(x, line_of(x, path), path,
			    "address %s has a port already (leave port out)", Q(l->address));
	return warn(x, line_of(x, path), path,
		    strchr(l->address, ':') ? "write address: \"[%s]:%u\" and leave port out: "
					      "an address and its port are one value now"
					    : "write address: %s:%u and leave port out: an address "
					      "and its port are one value now",
		    l->address, l->port);
}

/* Each listener's fields by their rows, in table order. */
static int parse_proxy_protocol(struct ectx *x, unsigned i, struct conf_listener *l);

static int convert_listeners(struct ectx *x, const struct raw_item *items, unsigned n,
			     struct conf *c)
{
	const unsigned fi = first_item();
	const unsigned port_row = (unsigned)(row(ITEM_PREFIX "port") - conf_settings);
	char path[PATH_LEN];

	if (!n)
		return 0;
	c->listeners = calloc(n, sizeof(*c->listeners));
	if (!c->listeners)
		return oom(x);
	for (unsigned i = 0; i < n; i++) {
		const struct raw_item *ri = &items[i];
		struct conf_listener *l = &c->listeners[i];

		snprintf(path, sizeof(path), "listeners[%u]", i);
		l->line = line_of(x, path);
		c->n_listeners = i + 1;
		TRY(listener_defaults(x, l));
		for (unsigned j = fi; j < N_SETTINGS && conf_setting_is_item(&conf_settings[j]);
		     j++) {
			const struct conf_setting *s = &conf_settings[j];
			snprintf(path, sizeof(path), "listeners[%u].%s", i, last_key(s->path));
			if (s->kind == CONF_K_LISTEN) {
				TRY(convert_listen_address(x, ri->v[j - fi], ri->v[port_row - fi],
							   l, i));
			} else if (s->kind == CONF_K_PORTS) {
				/* []: no port; a key with no value (null) keeps the default. */
				if (ri->n_ports || written(x, path))
					TRY(set_ports(x, path, ri->ports, ri->n_ports, l));
			} else if (s->kind == CONF_K_PROXY_PROTOCOL) {
				TRY(parse_proxy_protocol(x, i, l));
			} else if (!s->hidden) {
				TRY(set_setting(x, s, path, ri->v[j - fi], l));
			}
		}
	}
	return 0;
}

static int convert_strings(struct ectx *x, char *const *src, unsigned n, char ***dst,
			   unsigned *n_dst)
{
	if (!n)
		return 0;
	*dst = calloc(n, sizeof(**dst));
	if (!*dst)
		return oom(x);
	for (unsigned i = 0; i < n; i++) {
		if (!((*dst)[i] = strdup(src[i])))
			return oom(x);
		*n_dst = i + 1;
	}
	return 0;
}

/* libunbound's spelling for resolver/, with a warning for the old one. */
static int convert_forwarders(struct ectx *x, struct conf *c)
{
	char path[PATH_LEN], ub[INET6_ADDRSTRLEN + 8], now[INET6_ADDRSTRLEN + 8];
	const char *why;
	bool old;

	for (unsigned i = 0; i < c->resolver.n_forwarders; i++) {
		char **f = &c->resolver.forwarders[i];

		snprintf(path, sizeof(path), "resolver.forwarders[%u]", i);
		if ((why = parse_forwarder(*f, ub, sizeof(ub), &old)))
			return fail(x, line_of(x, path), path, "%s %s", Q(*f), why);
		if (old)
			TRY(warn(x, line_of(x, path), path,
				 "write %s: addresses are IP:port everywhere now (%s is the old "
				 "spelling)",
				 conf_forwarder_str(ub, now, sizeof(now)), Q(*f)));
		if (strcmp(ub, *f)) {
			char *d = strdup(ub);
			if (!d)
				return oom(x);
			free(*f);
			*f = d;
		}
	}
	return 0;
}

/* A list of texts (allow, resolver.forwarders, upstream.*) into its fields of c. */
static int convert_list(struct ectx *x, const struct conf_setting *s, char *const *src, unsigned n,
			struct conf *c)
{
	char path[PATH_LEN];

	if (!n)
		return 0;
	/* Refused before copying: a list can be as long as the file allows. */
	if (s->kind == CONF_K_FORWARDERS && n > s->max)
		return fail(x, line_of(x, s->path), s->path, "%u forwarders; at most %llu", n,
			    s->max);
	if (s->lines_offset) {
		unsigned **lines = (unsigned **)((char *)c + s->lines_offset);
		if (!(*lines = calloc(n, sizeof(**lines))))
			return oom(x);
		for (unsigned i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s[%u]", s->path, i);
			(*lines)[i] = line_of(x, path);
		}
	}
	TRY(convert_strings(x, src, n, (char ***)((char *)c + s->offset),
			    (unsigned *)((char *)c + s->n_offset)));
	return s->kind == CONF_K_FORWARDERS ? convert_forwarders(x, c) : 0;
}

/* ------------------------------------------------------------------------ */
/* resolver.hosts                                                           */

static int host_addr(struct ectx *x, const char *path, const yaml_node_t *v, struct conf_host *h)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (v->type != YAML_SCALAR_NODE)
		return fail(x, conf_yaml_line(v), path, "expected an address, found %s",
			    v->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
	const char *s = (const char *)v->data.scalar.value;
	if (parse_ip(s, 0, &ss, &sl))
		return fail(x, conf_yaml_line(v), path, "%s is not an IPv4 or IPv6 address", Q(s));
	if (h->n == CONF_MAX_HOST_ADDRS)
		return fail(x, conf_yaml_line(v), path, "more than %u addresses for one name",
			    CONF_MAX_HOST_ADDRS);
	h->a[h->n].family = ss.ss_family;
	if (ss.ss_family == AF_INET)
		memcpy(h->a[h->n].addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else
		memcpy(h->a[h->n].addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	h->n++;
	return 0;
}

static int host_entry(struct ectx *x, struct conf_yaml *y, const yaml_node_t *k,
		      const yaml_node_t *v, struct conf *c)
{
	char path[PATH_LEN], name[256];
	enum allowlist_err e;
	int rc;

	const char *raw = conf_yaml_scalar(k);
	if (!raw)
		return fail(x, conf_yaml_line(k), "resolver.hosts",
			    "names must be plain host names");
	snprintf(path, sizeof(path), "resolver.hosts.%s", raw);
	size_t n = strlen(raw);
	if (n && raw[n - 1] == '.')
		n--;
	if (n >= sizeof(name) || raw[0] == '*')
		return fail(x, conf_yaml_line(k), path, "%s is not a host name (no wildcards here)",
			    Q(raw));
	for (size_t i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)raw[i]);
	name[n] = '\0';
	const char *nm = name;
	struct allowlist *al = allowlist_build(&nm, 1, &e, NULL);
	if (!al)
		return e == ALLOWLIST_E_NOMEM
			       ? oom(x)
			       : fail(x, conf_yaml_line(k), path, "%s is not a valid name: %s",
				      Q(raw), allow_reason(e, name, (char[96]){0}, 96));
	allowlist_free(al);
	for (unsigned i = 0; i < c->resolver.n_hosts; i++)
		if (!strcmp(c->resolver.hosts[i].name, name))
			return fail(x, conf_yaml_line(k), path, "%s is already listed (line %u)",
				    Q(raw), c->resolver.hosts[i].line);

	struct conf_host h = {.line = conf_yaml_line(k)};
	if (v->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			char ipath[PATH_LEN + 16];
			snprintf(ipath, sizeof(ipath), "%s[%u]", path,
				 (unsigned)(it - v->data.sequence.items.start));
			if ((rc = host_addr(x, ipath, conf_yaml_node(y, *it), &h)))
				return rc;
		}
	} else if (v->type == YAML_SCALAR_NODE && !conf_yaml_is_null(v)) {
		if ((rc = host_addr(x, path, v, &h)))
			return rc;
	}
	if (!h.n)
		return fail(x, conf_yaml_line(v), path,
			    "no address (write name: [192.0.2.7, \"::1\"])");
	struct conf_host *hv = realloc(c->resolver.hosts, (c->resolver.n_hosts + 1) * sizeof(*hv));
	if (!hv)
		return oom(x);
	c->resolver.hosts = hv;
	if (!(h.name = strdup(name)))
		return oom(x);
	hv[c->resolver.n_hosts++] = h;
	return 0;
}

/*
 * resolver.hosts maps free-form names to addresses, which a libcyaml schema
 * cannot describe, so libcyaml skips it and it is read from the document
 * that the line map came from.
 */
static int parse_hosts(struct ectx *x, struct conf_yaml *y, struct conf *c)
{
	yaml_node_t *hosts =
		conf_yaml_get(y, conf_yaml_get(y, conf_yaml_root(y), "resolver"), "hosts");
	int rc = 0;

	if (hosts && hosts->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *pr = hosts->data.mapping.pairs.start;
		     !rc && pr < hosts->data.mapping.pairs.top; pr++)
			rc = host_entry(x, y, conf_yaml_node(y, pr->key),
					conf_yaml_node(y, pr->value), c);
	} else if (hosts && !conf_yaml_is_null(hosts)) {
		rc = fail(x, conf_yaml_line(hosts), "resolver.hosts",
			  "expected a mapping of name: [addresses], found %s",
			  hosts->type == YAML_SEQUENCE_NODE ? "a list" : "a single value");
	}
	return rc;
}

/* The raw mapping of section k, or NULL when the file has none. */
static const struct raw_sec *raw_section(const struct raw_sec *top, unsigned k)
{
	if (k == SEC_TOP || !top)
		return top;
	const struct raw_sec *p = raw_section(top, parent_of(k));
	return p ? p->sub[k] : NULL;
}

/* "a, b or c" of an enum setting's names. */
static const char *name_list(const struct conf_setting *s, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned i = s->first; i < s->n_names && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
				      i == s->first	    ? ""
				      : i + 1 == s->n_names ? " or "
							    : ", ",
				      s->names[i]);
	return buf;
}

/*
 * The text of one single-valued setting, from the file or its default, into
 * base (struct conf, or struct conf_listener for a listener's field); t
 * NULL: not written. path is where it stands, for messages.
 */
static int set_setting(struct ectx *x, const struct conf_setting *s, const char *path,
		       const char *t, void *base)
{
	void *p = (char *)base + s->offset;

	if (!t)
		return 0;
	switch (s->kind) {
	case CONF_K_COUNT:
	case CONF_K_MS:
	case CONF_K_SEC:
	case CONF_K_SIZE: {
		unsigned long long v = get_num(s, base);
		TRY(get_value(x, path, t, unit_of(s->kind), s->min, s->max, &v));
		set_num(s, base, v);
		return 0;
	}
	case CONF_K_BOOL:
		return get_bool(x, path, t, p);
	case CONF_K_ENUM: {
		unsigned v;
		int rc = get_word(x, path, t, s->names, s->first, s->n_names, &v);
		if (rc == 1)
			return fail(x, line_of(x, path), path, "%s is not a %s (use %s)", Q(t),
				    s->what, name_list(s, (char[96]){0}, 96));
		if (!rc)
			memcpy(p, &v, sizeof(v));
		return rc;
	}
	case CONF_K_ADDRESS:
		if (!strcasecmp(t, "off")) {
			free(*(char **)p);
			*(char **)p = NULL;
			return old_case(x, path, t, "off");
		}
		return get_string(x, path, t, p);
	case CONF_K_STRING:
		return get_string(x, path, t, p);
	case CONF_K_FRACTION:
		return get_ratio(x, path, t, p);
	case CONF_K_AFFINITY: {
		struct conf *c = base;
		const char *why;
		if (conf_affinity_parse(t, c, &why))
			return fail(x, line_of(x, path), path, "%s %s", Q(t), why);
		if (c->cpu_affinity.mode != CONF_AFFINITY_LIST)
			return old_case(x, path, t, conf_affinity_str(c, (char[8]){0}, 8));
		return 0;
	}
	default: /* lists: convert_list(), convert_listeners() */
		return 0;
	}
}

const char *conf_setting_str(const struct conf_setting *s, const void *base, char *buf, size_t len)
{
	const char *p = (const char *)base + s->offset;
	unsigned v;

	switch (s->kind) {
	case CONF_K_COUNT:
	case CONF_K_MS:
	case CONF_K_SEC:
	case CONF_K_SIZE:
		fmt_value(unit_of(s->kind), get_num(s, base), buf, len);
		return buf;
	case CONF_K_BOOL:
		return *(const bool *)p ? "true" : "false";
	case CONF_K_ENUM:
		memcpy(&v, p, sizeof(v));
		/* A listener's mode below first is "the top-level one": not written. */
		return v < s->first ? NULL : v < s->n_names ? s->names[v] : "?";
	case CONF_K_ADDRESS:
	case CONF_K_STRING:
		return *(char *const *)p;
	case CONF_K_FRACTION:
		/* %.17g: the double strtod() reads back is the same one. */
		snprintf(buf, len, "%.17g", *(const double *)p);
		return buf;
	case CONF_K_AFFINITY:
		return conf_affinity_str(base, buf, len);
	case CONF_K_LISTEN: {
		const struct conf_listener *l = base;
		snprintf(buf, len, l->address && strchr(l->address, ':') ? "[%s]:%u" : "%s:%u",
			 l->address ? l->address : "", l->port);
		return buf;
	}
	default:
		return NULL;
	}
}

const char *conf_setting_range(const struct conf_setting *s, char *buf, size_t len)
{
	char a[32], b[32];

	if (!is_number(s->kind)) {
		snprintf(buf, len, "%s", "");
		return buf;
	}
	fmt_value(unit_of(s->kind), s->min, a, sizeof(a));
	fmt_value(unit_of(s->kind), s->max, b, sizeof(b));
	snprintf(buf, len, "%s..%s", a, b);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* policies                                                                 */

/*
 * policies is a list of mappings whose allow entries are a name or a
 * mapping, which a libcyaml schema cannot describe, so it is read from the
 * document the line map came from. Every value is text handed to the same
 * get_*() helpers as the rest of the file, so a message reads the same.
 */

/* "2027-03-01T00:00:00Z" or with an offset ("+02:00"), fraction allowed: Unix seconds. */
static int parse_rfc3339(const char *s, int64_t *out)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, n = 0;
	long off = 0;

	if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	s += n;
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s); s++)
			;
	if ((*s == 'Z' || *s == 'z') && !s[1]) {
		off = 0;
	} else if ((*s == '+' || *s == '-') && isdigit((unsigned char)s[1]) &&
		   isdigit((unsigned char)s[2]) && s[3] == ':' && isdigit((unsigned char)s[4]) &&
		   isdigit((unsigned char)s[5]) && !s[6]) {
		off = ((s[1] - '0') * 10 + (s[2] - '0')) * 3600L +
		      ((s[4] - '0') * 10 + (s[5] - '0')) * 60L;
		if (*s == '-')
			off = -off;
	} else {
		return -EINVAL;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	/* timegm() normalises 2027-02-30 into March: such a date was not meant. */
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -EINVAL;
	*out = (int64_t)t - off;
	return 0;
}

/* The keys of a mapping checked against the known ones, each found once. */
static int known(struct ectx *x, struct conf_yaml *y, const yaml_node_t *m, const char *path,
		 const char *const *keys, size_t nk, const yaml_node_t **vals)
{
	char p[PATH_LEN], list[160];
	size_t o = 0;

	for (size_t k = 0; k < nk; k++)
		vals[k] = NULL;
	for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top;
	     pr++) {
		const char *key = conf_yaml_scalar(conf_yaml_node(y, pr->key));
		const yaml_node_t *v = conf_yaml_node(y, pr->value);
		size_t k;
		for (k = 0; key && k < nk && strcmp(key, keys[k]); k++)
			;
		if (k < nk) {
			vals[k] = conf_yaml_is_null(v) ? NULL : v;
			continue;
		}
		snprintf(p, sizeof(p), "%s.%s", path, key ? key : "?");
		for (size_t j = 0; j < nk && o < sizeof(list); j++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", j ? ", " : "",
					      keys[j]);
		return fail(x, line_of(x, p), p, "unknown key (known here: %s)", list);
	}
	return 0;
}

/* A scalar's text for the get_*() helpers; a collection is an error. */
static int text_of(struct ectx *x, const yaml_node_t *v, const char *path, const char **out)
{
	*out = NULL;
	if (!v)
		return 0;
	if (!(*out = conf_yaml_scalar(v)))
		return fail(x, line_of(x, path), path, "expected a value, found %s",
			    conf_yaml_kind(v));
	return 0;
}

/* A list of values (a single value is a list of one). */
static int strings_of(struct ectx *x, struct conf_yaml *y, const yaml_node_t *v, const char *path,
		      char ***out, unsigned *n)
{
	char p[PATH_LEN];
	const char *t;

	if (!v)
		return 0;
	if (v->type != YAML_SEQUENCE_NODE) {
		TRY(text_of(x, v, path, &t));
		TRY(convert_strings(x, (char *const *)&t, 1, out, n));
		return 0;
	}
	size_t k = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (k && !(*out = calloc(k, sizeof(**out))))
		return oom(x);
	for (size_t i = 0; i < k; i++) {
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		TRY(text_of(x, conf_yaml_node(y, v->data.sequence.items.start[i]), p, &t));
		if (!t || !*t)
			return fail(x, line_of(x, p), p, "empty value");
		if (!((*out)[i] = strdup(t)))
			return oom(x);
		*n = (unsigned)i + 1;
	}
	return 0;
}

/*
 * listeners[i].proxy_protocol: {trusted: [CIDRs]}. Read from the document,
 * as libcyaml reads a listener's single values only.
 */
static int parse_proxy_protocol(struct ectx *x, unsigned i, struct conf_listener *l)
{
	static const char *const keys[] = {"trusted"};
	struct conf_yaml *y = x->y;
	const yaml_node_t *val[1];
	char path[PATH_LEN], p[PATH_LEN + 16];
	const char *why;

	if (!y)
		return 0;
	yaml_node_t *ls = conf_yaml_get(y, conf_yaml_root(y), "listeners");
	if (!ls || ls->type != YAML_SEQUENCE_NODE ||
	    i >= (size_t)(ls->data.sequence.items.top - ls->data.sequence.items.start))
		return 0;
	const yaml_node_t *m = conf_yaml_get(y, conf_yaml_node(y, ls->data.sequence.items.start[i]),
					     "proxy_protocol");
	snprintf(path, sizeof(path), "listeners[%u].proxy_protocol", i);
	if (conf_yaml_is_null(m))
		return 0;
	if (m->type != YAML_MAPPING_NODE)
		return fail(x, line_of(x, path), path, "expected {trusted: [CIDRs]}, found %s",
			    conf_yaml_kind(m));
	TRY(known(x, y, m, path, keys, 1, val));
	snprintf(p, sizeof(p), "%s.trusted", path);
	if (!val[0])
		return fail(x, line_of(x, path), path,
			    "needs trusted: the CIDRs of the balancers whose header is believed");
	TRY(strings_of(x, y, val[0], p, &l->proxy_trusted, &l->n_proxy_trusted));
	if (!l->n_proxy_trusted)
		return fail(x, line_of(x, p), p,
			    "no CIDRs: a header would be taken from no peer (leave proxy_protocol "
			    "out to take none)");
	if (l->n_proxy_trusted > CONF_MAX_PROXY_TRUSTED)
		return fail(x, line_of(x, p), p, "%u entries; at most %u", l->n_proxy_trusted,
			    CONF_MAX_PROXY_TRUSTED);
	for (unsigned k = 0; k < l->n_proxy_trusted; k++) {
		char q[PATH_LEN + 32];
		const char *v = l->proxy_trusted[k];
		snprintf(q, sizeof(q), "%s[%u]", p, k);
		if ((why = check_cidr(v)))
			return fail(x, line_of(x, q), q, "%s %s", Q(v), why);
		if (!strcmp(strchr(v, '/') ? strchr(v, '/') : "", "/0"))
			TRY(warn(x, line_of(x, q), q,
				 "%s trusts every peer: any client may claim any source address",
				 Q(v)));
	}
	return 0;
}

static int policy_entry(struct ectx *x, struct conf_yaml *y, const yaml_node_t *v, const char *path,
			struct conf_allow *e)
{
	static const char *const keys[] = {"name", "ports", "owner", "expires", "upstream_allow"};
	const yaml_node_t *val[5];
	char p[160];
	const char *t;

	e->line = line_of(x, path);
	if (v && v->type != YAML_MAPPING_NODE) {
		TRY(text_of(x, v, path, &t));
		return get_string(x, path, t, &e->name);
	}
	if (!v)
		return fail(x, e->line, path, "empty entry");
	TRY(known(x, y, v, path, keys, 5, val));
	snprintf(p, sizeof(p), "%s.upstream_allow", path);
	TRY(strings_of(x, y, val[4], p, &e->upstream_allow, &e->n_upstream_allow));
	snprintf(p, sizeof(p), "%s.name", path);
	TRY(text_of(x, val[0], p, &t));
	if (!t)
		return fail(x, e->line, path,
			    "an entry needs a name (write {name: api.example.com})");
	TRY(get_string(x, p, t, &e->name));
	snprintf(p, sizeof(p), "%s.ports", path);
	if (val[1]) {
		char **ports = NULL;
		unsigned n = 0;
		int rc = strings_of(x, y, val[1], p, &ports, &n);
		if (!rc && n > CONF_MAX_CONNECT_PORTS)
			rc = fail(x, line_of(x, p), p, "%u ports; at most %u", n,
				  CONF_MAX_CONNECT_PORTS);
		for (unsigned i = 0; !rc && i < n; i++) {
			char q[192];
			snprintf(q, sizeof(q), "%s[%u]", p, i);
			rc = get_port(x, q, ports[i], &e->ports[i]);
		}
		if (!rc)
			e->n_ports = n;
		for (unsigned i = 0; i < n; i++)
			free(ports[i]);
		free(ports);
		TRY(rc);
	}
	snprintf(p, sizeof(p), "%s.owner", path);
	TRY(text_of(x, val[2], p, &t));
	TRY(get_string(x, p, t, &e->owner));
	snprintf(p, sizeof(p), "%s.expires", path);
	TRY(text_of(x, val[3], p, &t));
	if (t && parse_rfc3339(t, &e->expires))
		return fail(x, line_of(x, p), p,
			    "%s is not an RFC 3339 time (write 2027-03-01T00:00:00Z)", Q(t));
	/* Said at every load and --check, so a list is pruned before it bites. */
	int64_t left = e->expires ? e->expires - (int64_t)time(NULL) : INT64_MAX;
	if (left <= 0)
		return warn(x, line_of(x, p), p, "%s has expired: %s no longer matches", t,
			    Q(e->name));
	if (left < EXPIRY_WARN_S)
		return warn(x, line_of(x, p), p, "%s: %s stops matching in %lld h", t, Q(e->name),
			    (long long)(left + 3599) / 3600);
	return 0;
}

/*
 * sources_file: one address or CIDR a line; blank lines and "#" comments
 * are skipped. Read at every load, so a reload picks up its changes. An
 * error names the file's own line as well as the config's.
 */
static int read_sources(struct ectx *x, const char *path, struct conf_policy *pol)
{
	struct conf_error ferr;
	char *buf = NULL;
	size_t len = 0;
	unsigned fline = 0;
	int rc;

	if ((rc = conf_read_file(pol->sources_file, &buf, &len, &ferr)))
		return rc == -ENOMEM ? oom(x)
				     : fail(x, line_of(x, path), path, "%s: %s", pol->sources_file,
					    ferr.msg);
	char *text = realloc(buf, len + 1);
	if (!text) {
		free(buf);
		return oom(x);
	}
	text[len] = '\0';
	for (char *ln = text, *next; ln && *ln && !rc; ln = next) {
		if ((next = strchr(ln, '\n')))
			*next++ = '\0';
		fline++;
		char *hash = strchr(ln, '#');
		if (hash)
			*hash = '\0';
		char *s = ln + strspn(ln, " \t\r");
		size_t n = strcspn(s, " \t\r");
		if (!n)
			continue;
		const char *why;
		s[n] = '\0';
		if ((why = check_cidr(s))) {
			rc = fail(x, line_of(x, path), path, "%s:%u: %s %s", pol->sources_file,
				  fline, Q(s), why);
			break;
		}
		char **v = realloc(pol->file_sources, (pol->n_file_sources + 1) * sizeof(*v));
		if (!v || !(v[pol->n_file_sources] = strdup(s))) {
			if (v)
				pol->file_sources = v;
			rc = oom(x);
			break;
		}
		pol->file_sources = v;
		pol->n_file_sources++;
	}
	free(text);
	/* No sources at all would be "any source": every client, the opposite of meant. */
	if (!rc && !pol->n_file_sources)
		rc = fail(x, line_of(x, path), path,
			  "%s holds no address or CIDR: the policy would match every client",
			  pol->sources_file);
	return rc;
}

static int policy(struct ectx *x, struct conf_yaml *y, const yaml_node_t *v, const char *path,
		  struct conf_policy *pol)
{
	static const char *const keys[] = {"name", "match", "mode", "allow", "ech"};
	static const char *const mkeys[] = {"listeners", "sources", "proxy_users", "sources_file"};
	const yaml_node_t *val[5], *mval[4];
	char p[64];
	const char *t;

	pol->line = line_of(x, path);
	if (!v || v->type != YAML_MAPPING_NODE)
		return fail(x, pol->line, path,
			    "expected a policy (name, match, mode, allow), found %s",
			    v ? conf_yaml_kind(v) : "nothing");
	TRY(known(x, y, v, path, keys, 5, val));
	snprintf(p, sizeof(p), "%s.name", path);
	TRY(text_of(x, val[0], p, &t));
	if (!t)
		return fail(x, pol->line, path, "a policy needs a name");
	TRY(get_string(x, p, t, &pol->name));
	snprintf(p, sizeof(p), "%s.ech", path);
	TRY(text_of(x, val[4], p, &t));
	if (t) {
		unsigned e;
		int rc = get_word(x, p, t, ech_names, CONF_ECH_ALLOW, 3, &e);
		if (rc == 1)
			return fail(x, line_of(x, p), p, "%s is not a choice (use allow or deny)",
				    Q(t));
		TRY(rc);
		pol->ech = (enum conf_ech)e;
	}
	snprintf(p, sizeof(p), "%s.mode", path);
	TRY(text_of(x, val[2], p, &t));
	if (t) {
		unsigned m;
		int rc = get_word(x, p, t, mode_names, CONF_ENFORCE, 3, &m);
		if (rc == 1)
			return fail(x, line_of(x, p), p, "%s is not a mode (use enforce or audit)",
				    Q(t));
		TRY(rc);
		pol->mode = (enum conf_mode)m;
	}
	snprintf(p, sizeof(p), "%s.match", path);
	if (val[1]) {
		if (val[1]->type != YAML_MAPPING_NODE)
			return fail(x, line_of(x, p), p,
				    "expected listeners, sources and/or proxy_users, found %s",
				    conf_yaml_kind(val[1]));
		TRY(known(x, y, val[1], p, mkeys, 4, mval));
		char q[96];
		snprintf(q, sizeof(q), "%s.listeners", p);
		TRY(strings_of(x, y, mval[0], q, &pol->listeners, &pol->n_listeners));
		snprintf(q, sizeof(q), "%s.sources", p);
		TRY(strings_of(x, y, mval[1], q, &pol->sources, &pol->n_sources));
		snprintf(q, sizeof(q), "%s.proxy_users", p);
		TRY(strings_of(x, y, mval[2], q, &pol->users, &pol->n_users));
		snprintf(q, sizeof(q), "%s.sources_file", p);
		TRY(text_of(x, mval[3], q, &t));
		TRY(get_string(x, q, t, &pol->sources_file));
		if (pol->sources_file)
			TRY(read_sources(x, q, pol));
	}
	snprintf(p, sizeof(p), "%s.allow", path);
	const yaml_node_t *al = val[3];
	if (al && al->type != YAML_SEQUENCE_NODE)
		return fail(x, line_of(x, p), p, "expected a list of names, found %s",
			    conf_yaml_kind(al));
	size_t n = al ? (size_t)(al->data.sequence.items.top - al->data.sequence.items.start) : 0;
	if (n && !(pol->allow = calloc(n, sizeof(*pol->allow))))
		return oom(x);
	for (size_t i = 0; i < n; i++) {
		char q[96];
		snprintf(q, sizeof(q), "%s[%zu]", p, i);
		pol->n_allow = (unsigned)i + 1;
		TRY(policy_entry(x, y, conf_yaml_node(y, al->data.sequence.items.start[i]), q,
				 &pol->allow[i]));
	}
	return 0;
}

static int parse_policies(struct ectx *x, struct conf_yaml *y, const struct conf_setting *s,
			  struct conf *c)
{
	const yaml_node_t *v = conf_yaml_get(y, conf_yaml_root(y), "policies");
	char p[32];

	if (conf_yaml_is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(x, conf_yaml_line(v), s->path, "expected a list of policies, found %s",
			    conf_yaml_kind(v));
	size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (n > s->max)
		return fail(x, conf_yaml_line(v), s->path, "%zu policies; at most %llu", n, s->max);
	if (n && !(c->policies = calloc(n, sizeof(*c->policies))))
		return oom(x);
	for (size_t i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "policies[%zu]", i);
		c->n_policies = (unsigned)i + 1;
		TRY(policy(x, y, conf_yaml_node(y, v->data.sequence.items.start[i]), p,
			   &c->policies[i]));
	}
	return 0;
}

/* The file's settings into c, row by row. */
static int convert(struct ectx *x, const struct raw_sec *r, struct conf *c)
{
	for (unsigned i = 0; i < N_SETTINGS; i++) {
		const struct conf_setting *s = &conf_settings[i];
		const struct raw_sec *m;

		if (conf_setting_is_item(s))
			continue; /* convert_listeners() */
		m = raw_section(r, section_of(s->path));
		switch (s->kind) {
		case CONF_K_LISTENERS:
			if (m)
				TRY(convert_listeners(x, m->items, m->n_items, c));
			break;
		case CONF_K_HOSTS:
			TRY(parse_hosts(x, x->y, c));
			break;
		case CONF_K_POLICIES:
			TRY(parse_policies(x, x->y, s, c));
			break;
		case CONF_K_NAMES:
		case CONF_K_FORWARDERS:
		case CONF_K_CIDRS:
			if (m)
				TRY(convert_list(x, s, m->seq[i], m->n_seq[i], c));
			break;
		default:
			TRY(set_setting(x, s, s->path, m ? m->v[i] : NULL, c));
		}
	}
	/* The token is checked in conf_validate(), where no line map is left. */
	c->control.address_line = line_of(x, "admin.control.address");
	c->control.token_file_line = line_of(x, "admin.control.token_file");
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                               */

struct conf *conf_new_default(void)
{
	struct conf_error e;
	struct ectx x = {.err = &e};
	struct conf *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	for (unsigned i = 0; i < N_SETTINGS; i++) {
		const struct conf_setting *s = &conf_settings[i];
		if (!conf_setting_is_item(s) && set_setting(&x, s, s->path, s->def, c)) {
			conf_free(c);
			return NULL;
		}
	}
	return c;
}

/* The native format from its parsed document y. */
static int load_native(struct conf_yaml *y, const char *name, struct conf **out,
		       struct conf_error *err)
{
	struct ectx x = {.file = name, .in_file = true, .err = err, .y = y};
	struct linemap lm = {0};
	struct cylog captured = {0};
	const cyaml_config_t cfg = {
		.log_fn = cylog_fn,
		.log_ctx = &captured,
		.mem_fn = cyaml_mem,
		.log_level = CYAML_LOG_ERROR,
		.flags = CYAML_CFG_DEFAULT,
	};
	struct raw_sec *r = NULL;
	struct conf *c = NULL;
	struct schema *sc = calloc(1, sizeof(*sc));
	bool empty;
	int rc;

	*out = NULL;
	if (!sc) {
		rc = oom(&x);
		goto out;
	}
	build_schema(sc);
	x.sc = sc;
	if ((rc = build_linemap(&x, y, &lm, &empty)))
		goto out;
	x.lm = &lm;
	if (!(c = conf_new_default()) || (name && !(c->path = strdup(name)))) {
		rc = oom(&x);
		goto out;
	}
	x.warn_to = c;
	if (!empty) {
		/*
		 * libcyaml reads the text itself: it takes no libyaml document.
		 * It gives the typed values; positions, duplicates and
		 * resolver.hosts came from the document.
		 */
		cyaml_err_t e = cyaml_load_data((const uint8_t *)y->buf, y->len, &cfg, &sc->top,
						(cyaml_data_t **)&r, NULL);
		if (e != CYAML_OK) {
			rc = cyaml_failure(&x, e, &captured);
			goto out;
		}
		if ((rc = convert(&x, r, c)))
			goto out;
	}
	rc = check_conf(&x, c);
out:
	if (r)
		cyaml_free(&cfg, &sc->top, r, 0);
	free(sc);
	lm_free(&lm);
	if (rc) {
		conf_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* Parse buf once, then load it as fmt (CONF_FORMAT_AUTO: as its shape says). */
static int load_buf_as(const char *buf, size_t len, const char *name, enum conf_format fmt,
		       struct conf **out, enum conf_format *used, struct conf_error *err)
{
	struct conf_error dummy;
	struct conf_yaml y;
	int rc;

	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	*out = NULL;
	if ((rc = conf_yaml_parse(&y, buf, len, name, err)))
		return rc;
	if (fmt == CONF_FORMAT_AUTO)
		fmt = conf_envoy_detect_doc(&y) ? CONF_FORMAT_ENVOY : CONF_FORMAT_NATIVE;
	if (used)
		*used = fmt;
	if (fmt == CONF_FORMAT_ENVOY)
		rc = conf_envoy_load_doc(&y, name, out, err);
	else
		rc = load_native(&y, name, out, err);
	conf_yaml_free(&y);
	return rc;
}

int conf_load_buf(const char *buf, size_t len, const char *name, struct conf **out,
		  struct conf_error *err)
{
	return load_buf_as(buf, len, name, CONF_FORMAT_NATIVE, out, NULL, err);
}

int conf_load_envoy_buf(const char *buf, size_t len, const char *name, struct conf **out,
			struct conf_error *err)
{
	return load_buf_as(buf, len, name, CONF_FORMAT_ENVOY, out, NULL, err);
}

int conf_load_file_as(const char *path, enum conf_format fmt, struct conf **out,
		      enum conf_format *used, struct conf_error *err)
{
	struct conf_error dummy;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (!err)
		err = &dummy;
	if ((rc = conf_read_file(path, &buf, &len, err)))
		return rc;
	rc = load_buf_as(buf, len, path, fmt, out, used, err);
	free(buf);
	return rc;
}

int conf_load_file(const char *path, struct conf **out, struct conf_error *err)
{
	return conf_load_file_as(path, CONF_FORMAT_NATIVE, out, NULL, err);
}

int conf_load_envoy_file(const char *path, struct conf **out, struct conf_error *err)
{
	return conf_load_file_as(path, CONF_FORMAT_ENVOY, out, NULL, err);
}

bool conf_envoy_detect(const char *buf, size_t len)
{
	struct conf_error err;
	struct conf_yaml y;

	if (!buf || conf_yaml_parse(&y, buf, len, NULL, &err))
		return false;
	bool envoy = conf_envoy_detect_doc(&y);
	conf_yaml_free(&y);
	return envoy;
}

int conf_validate(struct conf *c, struct conf_error *err)
{
	struct conf_error dummy;
	struct ectx x = {.file = c->path, .err = err ? err : &dummy};
	int rc;

	memset(x.err, 0, sizeof(*x.err));
	if ((rc = check_conf(&x, c)) || (rc = check_control_token(&x, c)))
		return rc;
	/* Nothing on the command line filled the gap, so it is the file's. */
	x.in_file = true;
	if (!c->n_listeners)
		return fail(&x, 0, "listeners",
			    "no listener configured (add one under listeners:, or use --listen)");
	if (!c->n_allow && !c->n_policies)
		return fail(
			&x, 0, "allow",
			"the allowlist is empty, so every connection would be refused (add names under allow:, or use --allow)");
	return 0;
}

/*
 * The command line prints the value itself before the message
 * ("--listen x: not address:port"), so the reason drops its leading "is ".
 */
static const char *bare(const char *why)
{
	return strncmp(why, "is ", 3) ? why : why + 3;
}

int conf_add_listener(struct conf *c, const char *hostport, struct conf_error *err)
{
	struct conf_error dummy;
	struct ectx x = {.err = err ? err : &dummy};
	struct conf_listener l = {0};
	char host[INET6_ADDRSTRLEN + 1];
	const char *why;
	int rc;

	if ((rc = listener_defaults(&x, &l)))
		return rc;
	if (c->n_listeners >= CONF_MAX_LISTENERS)
		return fail(&x, 0, "", "too many listeners (at most %u)", CONF_MAX_LISTENERS);
	if ((why = parse_hostport(hostport, host, sizeof(host), &l.port, &l.sa, &l.sa_len)))
		return fail(&x, 0, "", "%s", bare(why));
	struct conf_listener *v = realloc(c->listeners, (c->n_listeners + 1) * sizeof(*v));
	if (!v)
		return oom(&x);
	c->listeners = v;
	if (!(l.address = strdup(host)))
		return oom(&x);
	c->listeners[c->n_listeners++] = l;
	return 0;
}

int conf_add_allow(struct conf *c, const char *name, struct conf_error *err)
{
	struct conf_error dummy;
	struct ectx x = {.err = err ? err : &dummy};
	enum allowlist_err e;
	struct allowlist *al = allowlist_build(&name, 1, &e, NULL);

	if (!al)
		return e == ALLOWLIST_E_NOMEM ? oom(&x)
					      : fail(&x, 0, "", "not a valid name: %s",
						     allow_reason(e, name, (char[96]){0}, 96));
	allowlist_free(al);

	char **v = realloc(c->allow, (c->n_allow + 1) * sizeof(*v));
	if (!v)
		return oom(&x);
	c->allow = v;
	unsigned *lines = realloc(c->allow_lines, (c->n_allow + 1) * sizeof(*lines));
	if (!lines)
		return oom(&x);
	c->allow_lines = lines;
	if (!(c->allow[c->n_allow] = strdup(name)))
		return oom(&x);
	c->allow_lines[c->n_allow++] = 0;
	return 0;
}

int conf_add_forwarder(struct conf *c, const char *fwd, struct conf_error *err)
{
	struct conf_error dummy;
	struct ectx x = {.err = err ? err : &dummy};
	char ub[INET6_ADDRSTRLEN + 8];
	bool old;
	const char *why = parse_forwarder(fwd, ub, sizeof(ub), &old);

	if (c->resolver.n_forwarders >= CONF_MAX_FORWARDERS)
		return fail(&x, 0, "", "too many forwarders (at most %u)", CONF_MAX_FORWARDERS);
	if (why)
		return fail(&x, 0, "", "%s", bare(why));
	char **v = realloc(c->resolver.forwarders, (c->resolver.n_forwarders + 1) * sizeof(*v));
	if (!v)
		return oom(&x);
	c->resolver.forwarders = v;
	if (!(v[c->resolver.n_forwarders] = strdup(ub)))
		return oom(&x);
	c->resolver.n_forwarders++;
	return 0;
}

/* One entry of upstream.deny or upstream.allow, as the command line gives it. */
static int add_cidr(struct ectx *x, const struct conf_setting *s, struct conf *c, const char *cidr)
{
	char ***v = (char ***)((char *)c + s->offset);
	unsigned **lines = (unsigned **)((char *)c + s->lines_offset);
	unsigned *n = (unsigned *)((char *)c + s->n_offset);
	const char *why = check_cidr(cidr);

	if (why)
		return fail(x, 0, "", "%s", bare(why));
	if (*n >= s->max)
		return fail(x, 0, "", "too many entries (at most %llu)", s->max);
	char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return oom(x);
	*v = nv;
	unsigned *nl = realloc(*lines, (*n + 1) * sizeof(*nl));
	if (!nl)
		return oom(x);
	*lines = nl;
	if (!(nv[*n] = strdup(cidr)))
		return oom(x);
	nl[(*n)++] = 0;
	return 0;
}

int conf_add_upstream_allow(struct conf *c, const char *cidr, struct conf_error *err)
{
	struct conf_error dummy;
	struct ectx x = {.err = err ? err : &dummy};

	return add_cidr(&x, row("upstream.allow"), c, cidr);
}

void conf_clear_listeners(struct conf *c)
{
	for (unsigned i = 0; i < c->n_listeners; i++) {
		free(c->listeners[i].address);
		free(c->listeners[i].proxy_auth_file);
		free(c->listeners[i].name);
		for (unsigned k = 0; k < c->listeners[i].n_proxy_trusted; k++)
			free(c->listeners[i].proxy_trusted[k]);
		free(c->listeners[i].proxy_trusted);
	}
	free(c->listeners);
	c->listeners = NULL;
	c->n_listeners = 0;
}

static void free_strings(char ***v, unsigned *n)
{
	for (unsigned i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

void conf_clear_policies(struct conf *c)
{
	for (unsigned i = 0; i < c->n_policies; i++) {
		struct conf_policy *p = &c->policies[i];
		free(p->name);
		free_strings(&p->listeners, &p->n_listeners);
		free_strings(&p->sources, &p->n_sources);
		free(p->sources_file);
		free_strings(&p->file_sources, &p->n_file_sources);
		free_strings(&p->users, &p->n_users);
		for (unsigned k = 0; k < p->n_allow; k++) {
			free(p->allow[k].name);
			free(p->allow[k].owner);
			free_strings(&p->allow[k].upstream_allow, &p->allow[k].n_upstream_allow);
		}
		free(p->allow);
	}
	free(c->policies);
	c->policies = NULL;
	c->n_policies = 0;
}

void conf_clear_allow(struct conf *c)
{
	free_strings(&c->allow, &c->n_allow);
	free(c->allow_lines);
	c->allow_lines = NULL;
}

void conf_clear_forwarders(struct conf *c)
{
	free_strings(&c->resolver.forwarders, &c->resolver.n_forwarders);
}

void conf_clear_upstream_allow(struct conf *c)
{
	free_strings(&c->upstream.allow, &c->upstream.n_allow);
	free(c->upstream.allow_lines);
	c->upstream.allow_lines = NULL;
}

int conf_set(struct conf *c, const char *path, const char *text, struct conf_error *err)
{
	struct conf_error dummy;
	struct ectx x = {.err = err ? err : &dummy};
	const struct conf_setting *s = row(path);
	int rc;

	memset(x.err, 0, sizeof(*x.err));
	if (!s || conf_setting_is_item(s) || s->hidden)
		return fail(&x, 0, "", "%s is not a setting the command line can set", path);
	switch (s->kind) {
	case CONF_K_LISTENERS:
		return conf_add_listener(c, text, err);
	case CONF_K_NAMES:
		return conf_add_allow(c, text, err);
	case CONF_K_FORWARDERS:
		return conf_add_forwarder(c, text, err);
	case CONF_K_CIDRS:
		return add_cidr(&x, s, c, text);
	case CONF_K_HOSTS:
		return fail(&x, 0, "", "%s is set in the file only", path);
	default:
		if ((rc = set_setting(&x, s, path, text, c)))
			return rc;
		/* Set here, not in the file: no line of it applies any more. */
		if (!strcmp(path, "admin.control.address"))
			c->control.address_line = 0;
		else if (!strcmp(path, "admin.control.token_file"))
			c->control.token_file_line = 0;
		return 0;
	}
}

void conf_clear(struct conf *c, const char *path)
{
	const struct conf_setting *s = row(path);

	if (!s)
		return;
	switch (s->kind) {
	case CONF_K_LISTENERS:
		conf_clear_listeners(c);
		break;
	case CONF_K_NAMES:
	case CONF_K_FORWARDERS:
	case CONF_K_CIDRS:
		free_strings((char ***)((char *)c + s->offset),
			     (unsigned *)((char *)c + s->n_offset));
		if (s->lines_offset) {
			unsigned **lines = (unsigned **)((char *)c + s->lines_offset);
			free(*lines);
			*lines = NULL;
		}
		break;
	default:
		break;
	}
}

static size_t append(char *buf, size_t len, size_t o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static size_t append(char *buf, size_t len, size_t o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o >= len)
		return o;
	va_start(ap, fmt);
	n = vsnprintf(buf + o, len - o, fmt, ap);
	va_end(ap);
	return n < 0 ? o : o + (size_t)n;
}

const char *conf_error_str(const struct conf_error *err, char *buf, size_t len)
{
	size_t o = 0;

	if (!buf || !len)
		return buf;
	buf[0] = '\0';
	if (!err)
		return buf;
	if (err->file[0] && err->line)
		o = append(buf, len, o, "%s:%u: ", err->file, err->line);
	else if (err->file[0])
		o = append(buf, len, o, "%s: ", err->file);
	else if (err->line)
		o = append(buf, len, o, "line %u: ", err->line);
	if (err->field[0])
		o = append(buf, len, o, "%s: ", err->field);
	append(buf, len, o, "%s", err->msg);
	return buf;
}

const char *conf_family_str(enum conf_family f)
{
	if ((unsigned)f < sizeof(family_names) / sizeof(family_names[0]))
		return family_names[f];
	return "?";
}

const char *conf_protocol_str(enum conf_protocol p)
{
	if ((unsigned)p < sizeof(protocol_names) / sizeof(protocol_names[0]))
		return protocol_names[p];
	return "?";
}

int conf_family_parse(const char *s, enum conf_family *out)
{
	for (unsigned i = 0; s && i < sizeof(family_names) / sizeof(family_names[0]); i++) {
		if (!strcasecmp(s, family_names[i])) {
			*out = (enum conf_family)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *conf_log_level_str(enum conf_log_level l)
{
	if ((unsigned)l < sizeof(level_names) / sizeof(level_names[0]))
		return level_names[l];
	return "?";
}

int conf_log_level_parse(const char *s, enum conf_log_level *out)
{
	for (unsigned i = 0; s && i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum conf_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	conf_clear_listeners(c);
	conf_clear_allow(c);
	conf_clear_policies(c);
	conf_clear_forwarders(c);
	conf_clear_upstream_allow(c);
	free_strings(&c->upstream.deny, &c->upstream.n_deny);
	free(c->upstream.deny_lines);
	for (unsigned i = 0; i < c->resolver.n_hosts; i++)
		free(c->resolver.hosts[i].name);
	free(c->resolver.hosts);
	free(c->resolver.resolv_conf);
	free(c->admin_address);
	free(c->control.address);
	free(c->control.token_file);
	free(c->takeover_socket);
	if (c->control.token)
		explicit_bzero(c->control.token, c->control.token_len);
	free(c->control.token);
	free(c->cpu_affinity.cpus);
	free(c->access_log_file);
	free(c->warnings);
	free(c->path);
	free(c);
}

int conf_affinity_parse(const char *s, struct conf *c, const char **why)
{
	uint8_t seen[CONF_MAX_CPUS / 8] = {0};
	unsigned n = 0;
	uint16_t *cpus;

	if (!strcasecmp(s, "none") || !strcasecmp(s, "auto")) {
		free(c->cpu_affinity.cpus);
		c->cpu_affinity.cpus = NULL;
		c->cpu_affinity.n_cpus = 0;
		c->cpu_affinity.mode =
			strcasecmp(s, "none") ? CONF_AFFINITY_AUTO : CONF_AFFINITY_NONE;
		return 0;
	}
	/* The kernel's cpulist format (cpuset.cpus, taskset -c): "0-3,8,10-11". */
	for (const char *p = s;;) {
		unsigned long a, b;
		char *end;

		if (*p < '0' || *p > '9')
			goto bad;
		a = strtoul(p, &end, 10);
		b = a;
		if (*end == '-') {
			p = end + 1;
			if (*p < '0' || *p > '9')
				goto bad;
			b = strtoul(p, &end, 10);
		}
		if (a > b || b >= CONF_MAX_CPUS) {
			*why = "has a range out of order or a CPU above 1023";
			return -EINVAL;
		}
		for (unsigned long i = a; i <= b; i++) {
			n += !(seen[i / 8] & (1u << (i % 8)));
			seen[i / 8] |= (uint8_t)(1u << (i % 8));
		}
		if (!*end)
			break;
		if (*end != ',')
			goto bad;
		p = end + 1;
	}
	cpus = malloc(n * sizeof(*cpus));
	if (!cpus) {
		*why = "could not be stored: out of memory";
		return -ENOMEM;
	}
	n = 0;
	for (unsigned i = 0; i < CONF_MAX_CPUS; i++)
		if (seen[i / 8] & (1u << (i % 8)))
			cpus[n++] = (uint16_t)i;
	free(c->cpu_affinity.cpus);
	c->cpu_affinity.cpus = cpus;
	c->cpu_affinity.n_cpus = n;
	c->cpu_affinity.mode = CONF_AFFINITY_LIST;
	return 0;
bad:
	*why = "is not none, auto or a CPU list such as 0-3,8";
	return -EINVAL;
}

const char *conf_affinity_str(const struct conf *c, char *buf, size_t len)
{
	size_t o = 0;

	if (c->cpu_affinity.mode != CONF_AFFINITY_LIST) {
		snprintf(buf, len, "%s",
			 c->cpu_affinity.mode == CONF_AFFINITY_AUTO ? "auto" : "none");
		return buf;
	}
	buf[0] = '\0';
	for (unsigned i = 0; i < c->cpu_affinity.n_cpus && o < len;) {
		unsigned j = i;
		while (j + 1 < c->cpu_affinity.n_cpus &&
		       c->cpu_affinity.cpus[j + 1] == c->cpu_affinity.cpus[j] + 1)
			j++;
		if (j == i)
			o += (size_t)snprintf(buf + o, len - o, "%s%u", o ? "," : "",
					      c->cpu_affinity.cpus[i]);
		else
			o += (size_t)snprintf(buf + o, len - o, "%s%u-%u", o ? "," : "",
					      c->cpu_affinity.cpus[i], c->cpu_affinity.cpus[j]);
		i = j + 1;
	}
	return buf;
}
