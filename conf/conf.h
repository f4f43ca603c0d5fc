/* SPDX-License-Identifier: MIT */
/*
 * conf: snigate's configuration, loaded from YAML with libcyaml and checked
 * before anything starts.
 *
 * struct conf is plain data and is the whole contract: core/ reads it and the
 * command line (core/main.c) may overwrite fields after loading, then calls
 * conf_validate() once more. Every error names the file, line and field, so
 * a bad file is reported as "snigate.yaml:12: timeouts.connect: ..." and a
 * reload can keep the old configuration.
 */
#ifndef SNIGATE_CONF_H
#define SNIGATE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONF_MAX_LISTENERS  64
#define CONF_MAX_FORWARDERS 16
#define CONF_MAX_HOST_ADDRS 8 /* addresses per resolver.hosts name (RESOLVER_MAX_ADDRS) */

enum conf_family {
	CONF_V4_ONLY = 0,  /* A records only (Envoy default for this deployment) */
	CONF_V6_ONLY,	   /* AAAA only */
	CONF_V4_PREFERRED, /* A; AAAA only when there is no A */
	CONF_AUTO,	   /* AAAA; A only when there is no AAAA (Envoy's AUTO) */
	CONF_ALL,	   /* both; IPv4 addresses tried first */
};

enum conf_mode {
	CONF_MODE_DEFAULT = 0, /* listeners only: whatever the top-level mode says */
	CONF_ENFORCE,	       /* names not on the allowlist are reset (default) */
	CONF_AUDIT,	       /* they are let through, logged and counted as would_deny */
};

enum conf_log_level {
	CONF_LOG_ERROR = 0,
	CONF_LOG_WARN,
	CONF_LOG_INFO, /* default: one access line per connection */
	CONF_LOG_DEBUG,
};

/* What a listener speaks; the first byte of a connection decides in CONF_PROTO_AUTO. */
enum conf_protocol {
	CONF_PROTO_AUTO = 0, /* TLS record: SNI path; request line: CONNECT path */
	CONF_PROTO_TLS,	     /* ClientHello only; anything else is reset */
	CONF_PROTO_CONNECT,  /* HTTP CONNECT only; anything else is reset */
};

#define CONF_MAX_CONNECT_PORTS 32
#define CONF_MAX_PROXY_TRUSTED 64 /* listeners[].proxy_protocol.trusted entries */

/* Whether workers are pinned to CPUs (core/cpu.h decides how). */
enum conf_affinity {
	CONF_AFFINITY_NONE = 0, /* default: the scheduler places the workers */
	CONF_AFFINITY_AUTO,	/* pin only on an exclusive cpuset as large as the thread count */
	CONF_AFFINITY_LIST,	/* pin worker i to cpus[i % n_cpus] */
};

#define CONF_MAX_CPUS  1024 /* CPU numbers 0..CONF_MAX_CPUS-1 in a cpu_affinity list */
#define CONF_TOKEN_MIN 16   /* bytes: a shorter control token is refused */
#define CONF_TOKEN_MAX 512

struct conf_listener {
	char *address;		    /* the IP of "address: IP:port": "127.0.0.1", "::" */
	uint16_t port;		    /* its port */
	uint16_t upstream_port;	    /* port dialled on the allowed name; default 443 */
	struct sockaddr_storage sa; /* filled when loaded, added or validated */
	socklen_t sa_len;	    /* likewise */
	unsigned line;		    /* source line, 0 when from the command line */
	enum conf_mode mode;	    /* CONF_MODE_DEFAULT: the top-level mode */
	/* HTTP CONNECT (sni/connect.h): what the listener speaks, where CONNECT may go. */
	enum conf_protocol protocol;			/* default CONF_PROTO_AUTO */
	uint16_t connect_ports[CONF_MAX_CONNECT_PORTS]; /* default {443} */
	unsigned n_connect_ports; /* 0..CONF_MAX_CONNECT_PORTS; 0: every CONNECT gets 403 */
	bool require_sni_match;	  /* the hello after CONNECT must name the host; default true */
	char *proxy_auth_file;	  /* owned; Proxy-Authorization credentials; NULL = none */
	char *name;		  /* owned; what policies[].match.listeners names; NULL = none */
	/*
	 * proxy_protocol.trusted: CIDRs, as written, of the peers (load
	 * balancers, SNAT hops) whose PROXY protocol v2 header is believed and
	 * required; none: the listener takes no header.
	 */
	char **proxy_trusted;
	unsigned n_proxy_trusted; /* 0..CONF_MAX_PROXY_TRUSTED */
};

/* resolver.hosts: one name answered from the config, never from DNS. */
struct conf_host {
	char *name; /* lower case, no trailing dot */
	unsigned n; /* 1..CONF_MAX_HOST_ADDRS */
	struct {
		sa_family_t family; /* AF_INET or AF_INET6 */
		uint8_t addr[16];   /* network order; 4 bytes used for AF_INET */
	} a[CONF_MAX_HOST_ADDRS];
	unsigned line; /* source line of the name */
};

#define CONF_MAX_POLICIES    1024 /* RULES_MAX_POLICIES */
#define CONF_POLICY_NAME_MAX 63	  /* bytes of A-Z a-z 0-9 _ . - */

/* policies[].allow: one name a policy lets through, with what it says besides. */
struct conf_allow {
	char *name;				/* owned; "api.github.com", "*.example.com" */
	uint16_t ports[CONF_MAX_CONNECT_PORTS]; /* CONNECT ports; none: the listener's */
	unsigned n_ports;
	char *owner; /* owned; who asked for it; NULL = not said */
	/* CIDRs this name may reach although upstream.deny (or the built-in list) denies them */
	char **upstream_allow;
	unsigned n_upstream_allow;
	int64_t expires; /* Unix seconds from which it no longer matches; 0 = never */
	unsigned line;
};

/* policies[]: who may reach which names. The first whose match fits decides. */
/* Whether a ClientHello that offers Encrypted Client Hello may pass. */
enum conf_ech {
	CONF_ECH_DEFAULT = 0, /* policies only: the top-level ech */
	CONF_ECH_ALLOW,	      /* routed by its outer SNI, as any hello (default) */
	CONF_ECH_DENY,	      /* reset, reason ech */
};

struct conf_policy {
	char *name;	     /* owned; unique */
	enum conf_mode mode; /* CONF_MODE_DEFAULT: the top-level mode */
	enum conf_ech ech;   /* CONF_ECH_DEFAULT: the top-level ech */
	/* match: each list empty = any */
	char **listeners; /* listener names */
	unsigned n_listeners;
	char **sources; /* CIDRs, as written */
	unsigned n_sources;
	/* A file of CIDRs (one a line, # comments), read at every load; NULL = none */
	char *sources_file;
	char **file_sources; /* what it held at the last load */
	unsigned n_file_sources;
	char **users; /* authenticated proxy users (HTTP CONNECT) */
	unsigned n_users;
	struct conf_allow *allow;
	unsigned n_allow;
	unsigned line;
};

struct conf {
	char *path; /* file it came from, or NULL */

	unsigned threads; /* 0 = the CPUs the process may use (core/cpu.h) */
	struct {
		enum conf_affinity mode; /* default CONF_AFFINITY_NONE */
		uint16_t *cpus;		 /* owned; CONF_AFFINITY_LIST: sorted, no repeats */
		unsigned n_cpus;
	} cpu_affinity;
	enum conf_mode mode; /* CONF_ENFORCE or CONF_AUDIT; default CONF_ENFORCE */
	enum conf_ech ech;   /* CONF_ECH_ALLOW or CONF_ECH_DENY; default CONF_ECH_ALLOW */

	struct conf_listener *listeners;
	unsigned n_listeners;

	char **allow;	       /* "api.github.com", "*.githubusercontent.com" */
	unsigned *allow_lines; /* source line per entry, 0 when from the command line */
	unsigned n_allow;

	/*
	 * Ordered; the first that matches a connection decides. The top-level
	 * allow, when not empty, is one more policy after these that matches
	 * every connection (named "default"); with no policies it is the only one.
	 */
	struct conf_policy *policies;
	unsigned n_policies;

	struct {
		/*
		 * libunbound's spelling, "IP" or "IP@port", which resolver/ passes
		 * on as is; the file and conf_forwarder_str() write "IP:port".
		 * None: use resolv_conf.
		 */
		char **forwarders;
		unsigned n_forwarders;
		char *resolv_conf;	 /* default "/etc/resolv.conf" */
		enum conf_family family; /* default CONF_V4_ONLY, as the Envoy pod */
		unsigned cache_size;	 /* names cached per thread; default 4096 */
		unsigned min_ttl_s;	 /* floor on a cached answer's TTL; default 5 */
		unsigned max_ttl_s;	 /* cap on a cached answer's TTL; default 300 */
		unsigned negative_ttl_s; /* how long NXDOMAIN/no-data is cached; default 5 */
		unsigned error_ttl_s;	 /* how long SERVFAIL/timeout is cached; default 2 */
		unsigned stale_ttl_s;	 /* stale answers served on errors; default 300 */
		bool prefetch;		 /* refresh hot answers before they expire; default true */
		bool tcp;		 /* ask the forwarders over TCP; default false */
		struct conf_host *hosts; /* static names, never looked up */
		unsigned n_hosts;
	} resolver;

	/* Where connections may go: CIDRs on top of the built-in deny list (resolver/policy.h). */
	struct {
		char **deny; /* "10.0.0.0/8", "fd00::/8", "192.0.2.7" */
		unsigned *deny_lines;
		unsigned n_deny;
		char **allow; /* exceptions to deny; --allow-upstream replaces the file's */
		unsigned *allow_lines;
		unsigned n_allow;
	} upstream;

	struct {
		unsigned client_hello_ms; /* whole ClientHello must arrive in; default 10000 */
		unsigned connect_ms;	  /* upstream connect, per address; default 5000 */
		unsigned dns_ms;	  /* name resolution; default 5000 */
		unsigned idle_ms;	  /* relayed, no bytes either way; default 3600000 */
		unsigned request_head_ms; /* CONNECT request head must arrive in; default 10000 */
	} timeouts;

	struct {
		unsigned max_client_hello; /* bytes; default 16384, range 512..65536 */
		unsigned max_connections;  /* per process, 0 = no limit beyond RLIMIT_NOFILE */
		unsigned max_connections_per_thread; /* 0 = max_connections / threads */
		unsigned max_pending_hellos; /* per process, awaiting a ClientHello; 0 = none */
		unsigned max_per_source_ip;  /* concurrent per client address; 0 = no limit */
	} limits;

	struct {
		unsigned pipe_size;	/* bytes; initial pipe size, default 65536 */
		unsigned pipe_max_size; /* bytes; a streaming flow may grow to, default 1048576 */
		/* bytes of pipe buffers, all threads together; default 256 MiB */
		unsigned long long pipe_memory_max;
	} relay;

	/* Probes and metrics only: "host:port"; default "127.0.0.1:9901"; NULL = none. */
	char *admin_address;
	/* The control endpoint: /config, /denied, POST /drain (core/admin.h). */
	struct {
		char *address; /* "host:port" or "unix:/path"; default "127.0.0.1:9902"; NULL = off
				*/
		char *token_file; /* bearer token file; required where address is not local */
		char *token;	  /* filled by validation: the file's token, NUL-ended; a secret */
		size_t token_len; /* 0: none */
		unsigned address_line, token_file_line; /* source lines; 0 from the command line */
	} control;

	/*
	 * A Unix socket (mode 0600) where a successor started with --takeover
	 * takes the listening sockets (core/takeover.h); NULL = none.
	 */
	char *takeover_socket;

	struct {
		unsigned delay_ms;   /* after SIGTERM: keep accepting, /ready says 503; default 0 */
		unsigned timeout_ms; /* then: established connections may finish; default 30000 */
		/* a draining listener closes once nothing arrived for this long; default 200 */
		unsigned quiet_ms;
	} drain;

	enum conf_log_level log_level;
	bool access_log;	  /* default true: one line per connection on stdout */
	char *access_log_file;	  /* NULL: stdout */
	double access_log_sample; /* fraction of allowed connections logged; default 1 */
	/* denial lines per second and thread, the rest counted as dropped; 0 = all; default 1000 */
	unsigned access_log_deny_rate;

	/*
	 * Spellings the loader still accepts but that a later release will
	 * refuse, each with the file, line, field and the new spelling. The
	 * loader only collects them (conf/ does not log); core/main.c prints
	 * them once. At most CONF_MAX_WARNINGS.
	 */
	struct conf_error *warnings; /* owned */
	unsigned n_warnings;
};

#define CONF_MAX_WARNINGS 64

struct conf_error {
	char file[256];	 /* "" when the error is not tied to a file */
	unsigned line;	 /* 1-based; 0 when unknown or from the command line */
	char field[320]; /* "timeouts.connect", "allow[3]", "listeners[0].port" */
	char msg[256];
};

/*
 * Every setting of the file, declared once in conf.c's conf_settings[]:
 * that table drives the defaults, loading (libcyaml's schema is built from
 * it), the range checks, the dump (conf/dump.c, and so /config), the
 * reference table in conf/CONFIG.md (generated from it) and the round-trip
 * and docs tests. A list is one row; the fields of each listener are rows
 * whose path starts "listeners[].".
 */
enum conf_kind {
	CONF_K_COUNT,	 /* a whole number: unsigned, or uint16_t for a port */
	CONF_K_MS,	 /* a duration, kept in milliseconds */
	CONF_K_SEC,	 /* a duration in whole seconds, kept in seconds */
	CONF_K_SIZE,	 /* bytes (unsigned or unsigned long long, by size) */
	CONF_K_BOOL,	 /* bool */
	CONF_K_ENUM,	 /* a lower-case word from names[first..n_names-1] */
	CONF_K_STRING,	 /* char *, owned; NULL: not set, and not written */
	CONF_K_ADDRESS,	 /* char *, owned; "off" in the file is NULL */
	CONF_K_FRACTION, /* double, 0..1 or 0%..100% */
	CONF_K_AFFINITY, /* cpu_affinity: conf_affinity_parse() and _str() */
	/* Lists and the fields of a listener: */
	CONF_K_LISTENERS,  /* listeners: a list of mappings of the "listeners[]." rows */
	CONF_K_LISTEN,	   /* listeners[].address: "IP:port" into address, port and sa */
	CONF_K_PORTS,	   /* listeners[].connect_ports: a list of ports */
	CONF_K_NAMES,	   /* allow: a list of host names and *.suffix wildcards */
	CONF_K_FORWARDERS, /* resolver.forwarders: a list of "IP" or "IP:port" */
	CONF_K_HOSTS,	   /* resolver.hosts: a mapping of name to addresses */
	CONF_K_CIDRS,	   /* upstream.deny, upstream.allow: a list of CIDRs */
	CONF_K_POLICIES,   /* policies: a list of mappings, read from the document */
	/* listeners[].proxy_protocol: {trusted: [CIDRs]}, read from the document */
	CONF_K_PROXY_PROTOCOL,
};

struct conf_setting {
	const char *path; /* "timeouts.connect": the section, then the key */
	enum conf_kind kind;
	/*
	 * Of the field in struct conf, or in struct conf_listener for a
	 * "listeners[]." row; for a list, of its array, with n_offset the
	 * offset of its count and lines_offset that of its source lines (0:
	 * none kept).
	 */
	size_t offset, size, n_offset, lines_offset;
	unsigned long long min, max; /* numbers: the range the loader and conf_validate() check */
	const char *def;	     /* the default as the file writes it; NULL: unset */
	const char *const *names;    /* CONF_K_ENUM */
	unsigned first, n_names;
	const char *what; /* CONF_K_ENUM: "lookup family" in "... is not a lookup family" */
	/* The reference table in conf/CONFIG.md: */
	const char *type;    /* its Type cell: "duration", "list of CIDRs" */
	const char *def_doc; /* its Default cell where that says more than def; NULL: def */
	const char *doc;     /* what it does; after a range it starts with its joiner ("; ") */
	bool hidden;	     /* an old spelling: read with a warning, never written */
};

extern const struct conf_setting conf_settings[];
extern const unsigned conf_n_settings;

/*
 * A single-valued setting's value as the file writes it, unquoted ("10s",
 * "64KiB", "v4_only", "/etc/resolv.conf"); NULL for an unset string,
 * address or listener mode. base is the struct conf, or for a
 * "listeners[]." row the struct conf_listener. A CONF_K_AFFINITY list needs
 * up to CONF_MAX_CPUS * 5 bytes. For a list it is NULL (conf/dump.h writes
 * lists).
 */
const char *conf_setting_str(const struct conf_setting *s, const void *base, char *buf, size_t len);
/* Whether the row is a field of each listener ("listeners[].mode"). */
bool conf_setting_is_item(const struct conf_setting *s);
/* A number setting's range as the docs write it ("1ms..24h"); "" for other kinds. */
const char *conf_setting_range(const struct conf_setting *s, char *buf, size_t len);

/* A struct conf with every default filled and no listeners or allowlist. */
struct conf *conf_new_default(void);

/*
 * Load a YAML file. Returns 0 and *out, or a negative errno-style value with
 * *err filled (-EINVAL for content, -ENOMEM, -errno for I/O). Every field is
 * checked before returning, but a file need not list any listener or allow
 * entry, because the command line may add them: call conf_validate() before
 * using the result. An empty file gives the defaults.
 */
int conf_load_file(const char *path, struct conf **out, struct conf_error *err);
/* Same, from memory; name is used as the file name in errors. */
int conf_load_buf(const char *buf, size_t len, const char *name, struct conf **out,
		  struct conf_error *err);

/*
 * Check every field and the cross-field rules (at least one listener and one
 * allow entry, no listener twice), and fill derived fields (listener
 * sockaddrs). Call again after changing fields by hand. Returns 0, or -EINVAL
 * (-ENOMEM) with *err; an error names the file and line only when the field
 * came from the file.
 */
int conf_validate(struct conf *c, struct conf_error *err);

/*
 * Helpers for the command line; each returns 0 or -EINVAL with err->msg set.
 * A listener is "127.0.0.1:8443" or "[::1]:8443", a forwarder "10.96.0.10",
 * "127.0.0.1:5353" or "[::1]:5353" (libunbound's "127.0.0.1@5353" still
 * reads).
 */
int conf_add_listener(struct conf *c, const char *hostport, struct conf_error *err);
int conf_add_allow(struct conf *c, const char *name, struct conf_error *err);
int conf_add_forwarder(struct conf *c, const char *fwd, struct conf_error *err);
/* An upstream.allow entry: "127.0.0.0/8", "::1". */
int conf_add_upstream_allow(struct conf *c, const char *cidr, struct conf_error *err);
/*
 * The command line's way in, by the path of a row of conf_settings[]: set
 * a single-valued setting from text as the file spells it, with the same
 * checks and range, or add text as one entry of a list. Returns 0, or
 * -EINVAL (-ENOMEM) with err->msg set and no file or line.
 */
int conf_set(struct conf *c, const char *path, const char *text, struct conf_error *err);
/* Empty the list at path: a list flag's first use replaces the file's list. */
void conf_clear(struct conf *c, const char *path);
void conf_clear_listeners(struct conf *c);
void conf_clear_policies(struct conf *c);
void conf_clear_allow(struct conf *c);
void conf_clear_forwarders(struct conf *c);
void conf_clear_upstream_allow(struct conf *c);

/* A forwarder of struct conf as the file writes it ("IP", "IP:port", "[IPv6]:port"); buf. */
const char *conf_forwarder_str(const char *fwd, char *buf, size_t len);

/* "file:line: field: msg" (parts left out when empty) into buf; returns buf. */
const char *conf_error_str(const struct conf_error *err, char *buf, size_t len);

/* "v4_only", "v6_only", "v4_preferred", "auto", "all" */
const char *conf_family_str(enum conf_family f);
/* "auto", "tls", "connect" */
const char *conf_protocol_str(enum conf_protocol p);
/* "v4_only" ... in any case (the command line took Envoy's V4_ONLY); 0 or -EINVAL */
int conf_family_parse(const char *s, enum conf_family *out);

/* "none", "auto" or a CPU list ("0-3,8"); 0 or -EINVAL with why set to a phrase. */
int conf_affinity_parse(const char *s, struct conf *c, const char **why);
/* Writes the mode or the list as conf_affinity_parse() reads it; returns buf. */
const char *conf_affinity_str(const struct conf *c, char *buf, size_t len);

/* "250ms", "10s", "5m", "1h", or a bare 0, as in the file; 0 or -EINVAL. */
int conf_parse_duration_ms(const char *s, unsigned long long *ms);

const char *conf_mode_str(enum conf_mode m);		 /* "enforce", "audit" */
int conf_mode_parse(const char *s, enum conf_mode *out); /* 0 or -EINVAL */

const char *conf_log_level_str(enum conf_log_level l);		   /* "error" ... "debug" */
int conf_log_level_parse(const char *s, enum conf_log_level *out); /* 0 or -EINVAL */

/*
 * Every name the configuration allows in any policy: the top-level allow,
 * then each policy's entries in order, duplicates kept. *names points into
 * c and *lines holds each one's source line (0: the command line); free
 * both arrays (not the names). 0 or -ENOMEM.
 */
int conf_names(const struct conf *c, const char ***names, unsigned **lines, unsigned *n);

/* The name of the policy that the top-level allow is. */
#define CONF_DEFAULT_POLICY "default"

struct rules;
/*
 * The access policies of c as sni/rules.h evaluates them: c's policies in
 * order, then the top-level allow (when not empty) as CONF_DEFAULT_POLICY
 * matching every connection. Returns 0 and *out (free with rules_free()),
 * or -EINVAL / -ENOMEM with err, which names a policy that can never match.
 * Call after conf_validate().
 */
int conf_build_rules(const struct conf *c, struct rules **out, struct conf_error *err);

void conf_free(struct conf *c);

#endif
