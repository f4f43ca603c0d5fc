/* SPDX-License-Identifier: MIT */
/*
 * main: the command line. Reads the options and the config file, reports
 * what is wrong with them (exit 2), checks what the host lets them do
 * (core/preflight.h), and hands the configuration to the gateway
 * (core/gateway.h), which runs until stopped. The subcommands are
 * core/subcmd.c's. Everything below returns errors; this file prints them.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/envoy.h"
#include "core/cpu.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/preflight.h"
#include "core/sockact.h"
#include "core/takeover.h"
#include "core/subcmd.h"
#include "sni/allowlist.h"
#include "sni/rules.h"

#ifndef SNIGATE_VERSION
#define SNIGATE_VERSION "unknown"
#endif
#ifndef SNIGATE_DEFAULT_CONFIG
#define SNIGATE_DEFAULT_CONFIG "/etc/snigate/snigate.yaml"
#endif

enum {
	OPT_CHECK = 256,
	OPT_LISTEN,
	OPT_ALLOW,
	OPT_RESOLVER,
	OPT_UPSTREAM_PORT,
	OPT_THREADS,
	OPT_FAMILY,
	OPT_HELLO_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_DNS_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_HELLO,
	OPT_LOG_LEVEL,
	OPT_NO_ACCESS_LOG,
	OPT_ALLOW_UPSTREAM,
	OPT_VERSION,
	OPT_CONFIG_FORMAT,
	OPT_ADMIN,
	OPT_DRAIN_DELAY,
	OPT_DRAIN_TIMEOUT,
	OPT_AUDIT,
	OPT_DRAIN_TIME_S,
	OPT_CONCURRENCY,
	OPT_ENVOY_MODE,
	OPT_ENVOY_IGNORED,
	OPT_ALLOW_ROOT,
	OPT_CONTROL,
	OPT_CONTROL_TOKEN_FILE,
	OPT_CPU_AFFINITY,
	OPT_TAKEOVER_SOCKET,
	OPT_TAKEOVER,
};

/* -l is Envoy's --log-level, so a Deployment's Envoy args keep working. */
#define SHORT_OPTS "c:hl:"

static const struct option long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"check", no_argument, NULL, OPT_CHECK},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"allow", required_argument, NULL, OPT_ALLOW},
	{"resolver", required_argument, NULL, OPT_RESOLVER},
	{"upstream-port", required_argument, NULL, OPT_UPSTREAM_PORT},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"lookup-family", required_argument, NULL, OPT_FAMILY},
	{"client-hello-timeout", required_argument, NULL, OPT_HELLO_TIMEOUT},
	{"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
	{"dns-timeout", required_argument, NULL, OPT_DNS_TIMEOUT},
	{"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
	{"max-client-hello", required_argument, NULL, OPT_MAX_HELLO},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"no-access-log", no_argument, NULL, OPT_NO_ACCESS_LOG},
	{"allow-upstream", required_argument, NULL, OPT_ALLOW_UPSTREAM},
	{"version", no_argument, NULL, OPT_VERSION},
	{"config-format", required_argument, NULL, OPT_CONFIG_FORMAT},
	{"admin", required_argument, NULL, OPT_ADMIN},
	{"drain-delay", required_argument, NULL, OPT_DRAIN_DELAY},
	{"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
	{"audit", no_argument, NULL, OPT_AUDIT},
	{"allow-root", no_argument, NULL, OPT_ALLOW_ROOT},
	{"control", required_argument, NULL, OPT_CONTROL},
	{"control-token-file", required_argument, NULL, OPT_CONTROL_TOKEN_FILE},
	{"cpu-affinity", required_argument, NULL, OPT_CPU_AFFINITY},
	{"takeover-socket", required_argument, NULL, OPT_TAKEOVER_SOCKET},
	{"takeover", required_argument, NULL, OPT_TAKEOVER},
	/* Envoy's command line: the same meaning in snigate */
	{"config-path", required_argument, NULL, 'c'},
	{"concurrency", required_argument, NULL, OPT_CONCURRENCY},
	{"mode", required_argument, NULL, OPT_ENVOY_MODE},
	/* Envoy's command line: nothing to do in snigate; a warning says so */
	{"service-cluster", required_argument, NULL, OPT_ENVOY_IGNORED},
	{"service-node", required_argument, NULL, OPT_ENVOY_IGNORED},
	{"service-zone", required_argument, NULL, OPT_ENVOY_IGNORED},
	{"base-id", required_argument, NULL, OPT_ENVOY_IGNORED},
	{"restart-epoch", required_argument, NULL, OPT_ENVOY_IGNORED},
	{"drain-time-s", required_argument, NULL, OPT_DRAIN_TIME_S},
	{"parent-shutdown-time-s", required_argument, NULL, OPT_ENVOY_IGNORED},
	{"log-format", required_argument, NULL, OPT_ENVOY_IGNORED},
	{"component-log-level", required_argument, NULL, OPT_ENVOY_IGNORED},
	{"disable-hot-restart", no_argument, NULL, OPT_ENVOY_IGNORED},
	{"help", no_argument, NULL, 'h'},
	{0},
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: snigate [-c FILE] [--check] [options]\n"
		"       snigate check [-c FILE] | check --corefile COREFILE -c FILE\n"
		"       snigate convert FILE\n"
		"       snigate learn [-c FILE] [--by listener|user|cidr] [LOG...]\n"
		"       snigate corefile -c FILE --gateway-service NAME.NS.svc.DOMAIN\n"
		"\n"
		"An egress gateway that lets clients reach only allowlisted TLS host names,\n"
		"chosen by the SNI of their ClientHello, without terminating TLS.\n"
		"\n"
		"  -c, --config FILE           YAML config (default " SNIGATE_DEFAULT_CONFIG
		" when\n"
		"                              neither -c nor --listen/--allow is given)\n"
		"      --check                 validate the configuration and exit (0 ok, 2 bad)\n"
		"      --config-format F       envoy, native or auto (default auto: an Envoy\n"
		"                              bootstrap is known by its static_resources)\n"
		"\n"
		"Subcommands:\n"
		"  check                       the same as --check\n"
		"  check --corefile FILE -c CONFIG [--gateway-service FQDN]\n"
		"                              compare a CoreDNS Corefile's rewrites with the\n"
		"                              allowlist (0 in sync, 1 drift, 2 bad input)\n"
		"  convert FILE                print FILE (Envoy or native) as snigate YAML\n"
		"  learn [-c CONFIG] [--by listener|user|cidr] [--source NAME=CIDR]\n"
		"        [--wildcards N] [--mode enforce|audit] [LOG...]\n"
		"                              print a config whose policies allow what the\n"
		"                              access logs show was reached (learn --help)\n"
		"  corefile -c CONFIG --gateway-service NAME.NS.svc.DOMAIN [--upstream IP[:PORT]]\n"
		"                              print the egress-dns Corefile for the allowlist\n"
		"                              (other names: forward . /etc/resolv.conf)\n"
		"\n"
		"These override the file; a repeatable flag replaces that list of the file:\n"
		"      --listen ADDR:PORT      listen here (repeatable; [v6]:port for IPv6)\n"
		"      --allow NAME            allow this host name or *.suffix (repeatable)\n"
		"      --resolver IP[:PORT]    DNS server to forward to (repeatable;\n"
		"                              default: the servers in /etc/resolv.conf)\n"
		"      --upstream-port N       port dialled on the allowed name (default 443)\n"
		"      --threads N             worker threads; 0 = the CPUs this process may use:\n"
		"                              its cgroup's CPU quota within its affinity mask\n"
		"                              (default 0)\n"
		"      --cpu-affinity A        none (default), auto (pin only on an exclusive\n"
		"                              cpuset as large as the thread count) or a CPU\n"
		"                              list such as 0-3,8 (pin worker i to its i-th CPU)\n"
		"      --lookup-family F       v4_only, v6_only, v4_preferred, auto or all\n"
		"      --client-hello-timeout D  whole ClientHello within D (default 10s)\n"
		"      --connect-timeout D     upstream connect, per address (default 5s)\n"
		"      --dns-timeout D         name resolution (default 5s)\n"
		"      --idle-timeout D        relayed connection idle both ways (default 1h)\n"
		"      --max-client-hello N    largest ClientHello accepted, bytes (default 16384)\n"
		"      --log-level L           error, warn, info or debug (default info)\n"
		"      --no-access-log         no per-connection line on stdout\n"
		"      --allow-upstream CIDR   let connections reach CIDR although the upstream\n"
		"                              policy denies it (loopback, link-local, private\n"
		"                              ranges by default; repeatable; never the gateway)\n"
		"      --admin ADDR:PORT|off   probe and metrics endpoint: GET /ready, /healthz,\n"
		"                              /metrics only (default 127.0.0.1:9901)\n"
		"      --control ADDR:PORT|unix:PATH|off\n"
		"                              control endpoint: the probes, /config, /denied,\n"
		"                              POST /drain (default 127.0.0.1:9902)\n"
		"      --control-token-file F  bearer token every control request must carry;\n"
		"                              required where --control is not loopback or unix\n"
		"      --drain-delay D         after SIGTERM keep accepting for D, /ready 503\n"
		"                              (default 0s)\n"
		"      --drain-timeout D       then let open connections finish for up to D\n"
		"                              (default 30s)\n"
		"      --audit                 let names off the list through, logged and\n"
		"                              counted as would_deny (mode: audit)\n"
		"      --takeover-socket PATH  hand the listening sockets to a successor started\n"
		"                              with --takeover PATH (admin.takeover_socket)\n"
		"      --takeover PATH         take the listening sockets of the gateway serving\n"
		"                              at PATH, then tell it to drain: a restart that\n"
		"                              refuses no connection (same user only)\n"
		"      --allow-root            run although the effective uid is 0 (refused\n"
		"                              otherwise; SNIGATE_ALLOW_ROOT=1 does the same)\n"
		"      --version               print the version and exit\n"
		"\n"
		"Envoy's command line works too: --config-path FILE (-c), -l LEVEL\n"
		"(trace, debug, info, warning, error, critical, off), --concurrency N\n"
		"(--threads), --mode serve|validate (validate = --check), --drain-time-s S\n"
		"(--drain-timeout). --service-cluster, --service-node, --service-zone,\n"
		"--base-id, --restart-epoch, --parent-shutdown-time-s, --log-format,\n"
		"--component-log-level and --disable-hot-restart are accepted with a warning\n"
		"and have no effect.\n"
		"  -h, --help                  this text\n"
		"\n"
		"Durations: 250ms, 10s, 5m, 1h. Exit status: 0 clean stop, 1 runtime failure,\n"
		"2 bad configuration (or root without --allow-root); --check exits 1 when the\n"
		"configuration is good but io_uring is unusable on this host, and warns about\n"
		"fds and ports. SIGTERM/SIGINT drain the\n"
		"gateway (a second one stops it at once), SIGHUP or a change of the config\n"
		"file reloads it, SIGUSR1 prints its counters on stderr.\n");
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || *end || errno || *s == '-' || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/*
 * snigate's levels, and Envoy's for -l/--log-level: trace is debug, warning
 * warn, critical and off error (snigate always reports errors).
 */
static int log_level_parse(const char *s, enum conf_log_level *out)
{
	static const struct {
		const char *name;
		enum conf_log_level level;
	} envoy[] = {{"trace", CONF_LOG_DEBUG},
		     {"warning", CONF_LOG_WARN},
		     {"critical", CONF_LOG_ERROR},
		     {"off", CONF_LOG_ERROR}};

	if (conf_log_level_parse(s, out) == 0)
		return 0;
	for (size_t i = 0; i < sizeof(envoy) / sizeof(envoy[0]); i++) {
		if (!strcmp(s, envoy[i].name)) {
			*out = envoy[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

static int flag_error(const char *flag, const char *val, const char *what)
{
	fprintf(stderr, "snigate: error: --%s %s: %s\n", flag, val, what);
	return 2;
}

/*
 * The flags that set a row of conf_settings[]: the file's parsing, range
 * and message apply, and a list flag's first use replaces the file's list.
 */
static const struct {
	int opt;
	const char *path;
} flag_settings[] = {
	{OPT_LISTEN, "listeners"},
	{OPT_ALLOW, "allow"},
	{OPT_RESOLVER, "resolver.forwarders"},
	{OPT_ALLOW_UPSTREAM, "upstream.allow"},
	{OPT_THREADS, "threads"},
	{OPT_CONCURRENCY, "threads"}, /* Envoy's name for it */
	{OPT_CPU_AFFINITY, "cpu_affinity"},
	{OPT_FAMILY, "resolver.lookup_family"},
	{OPT_HELLO_TIMEOUT, "timeouts.client_hello"},
	{OPT_CONNECT_TIMEOUT, "timeouts.connect"},
	{OPT_DNS_TIMEOUT, "timeouts.dns"},
	{OPT_IDLE_TIMEOUT, "timeouts.idle"},
	{OPT_MAX_HELLO, "limits.max_client_hello"},
	{OPT_ADMIN, "admin.address"},
	{OPT_CONTROL, "admin.control.address"},
	{OPT_CONTROL_TOKEN_FILE, "admin.control.token_file"},
	{OPT_DRAIN_DELAY, "drain.delay"},
	{OPT_DRAIN_TIMEOUT, "drain.timeout"},
	{OPT_TAKEOVER_SOCKET, "admin.takeover_socket"},
};

#define N_FLAG_SETTINGS (sizeof(flag_settings) / sizeof(flag_settings[0]))

/* Applies the command line on top of c; returns 0 or the exit status. */
static int apply_flags(struct conf *c, int argc, char **argv)
{
	struct conf_error err = {0};
	bool seen[N_FLAG_SETTINGS] = {false};
	int port_set = -1, opt;
	unsigned v;

	optind = 1;
	while ((opt = getopt_long(argc, argv, SHORT_OPTS, long_opts, NULL)) != -1) {
		const char *name = NULL;
		size_t k;
		for (const struct option *o = long_opts; o->name; o++)
			if (o->val == opt)
				name = o->name;
		for (k = 0; k < N_FLAG_SETTINGS && flag_settings[k].opt != opt; k++)
			;
		if (k < N_FLAG_SETTINGS) {
			if (!seen[k])
				conf_clear(c, flag_settings[k].path);
			seen[k] = true;
			if (conf_set(c, flag_settings[k].path, optarg, &err) < 0)
				return flag_error(name, optarg, err.msg);
			continue;
		}
		switch (opt) {
		case OPT_UPSTREAM_PORT:
			if (parse_uint(optarg, 65535, &v) < 0 || v == 0)
				return flag_error(name, optarg, "not a port (1..65535)");
			port_set = (int)v;
			break;
		case 'l':
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &c->log_level) < 0)
				return flag_error(
					"log-level", optarg,
					"use error, warn, info or debug (or Envoy's trace, "
					"warning, critical, off)");
			break;
		case OPT_NO_ACCESS_LOG:
			c->access_log = false;
			break;
		case OPT_AUDIT:
			c->mode = CONF_AUDIT;
			break;
		case OPT_DRAIN_TIME_S:
			/* Envoy drains listeners for this long: snigate's drain.timeout. */
			if (parse_uint(optarg, 86400, &v) < 0)
				return flag_error(name, optarg,
						  "not a number of seconds (0..86400)");
			c->drain.timeout_ms = v * 1000;
			break;
		default:
			break;
		}
	}
	/* After the loop: --upstream-port applies to the listeners --listen adds too. */
	if (port_set > 0)
		for (unsigned i = 0; i < c->n_listeners; i++)
			c->listeners[i].upstream_port = (uint16_t)port_set;
	/* conf_validate() is the caller's: at start it exits 2, at a reload it refuses. */
	return 0;
}

/* What a reload needs to load the configuration again exactly as at start. */
struct loader {
	const char *config; /* NULL: command line only */
	enum conf_format format;
	int argc;
	char **argv;
};

static int reload_load(void *arg, struct conf **out, char *msg, size_t len)
{
	struct loader *ld = arg;
	struct conf_error err = {0};
	struct conf *c = NULL;

	if (!ld->config) {
		snprintf(msg, len, "configured on the command line only: nothing to reload");
		return -1;
	}
	if (conf_load_file_as(ld->config, ld->format, &c, NULL, &err) < 0) {
		conf_error_str(&err, msg, len);
		return -1;
	}
	/* The flags parsed once already, so only validation can fail here. */
	int saved = opterr;
	opterr = 0;
	int rc = apply_flags(c, ld->argc, ld->argv);
	opterr = saved;
	if (rc || conf_validate(c, &err) < 0) {
		if (rc)
			snprintf(msg, len, "command line no longer applies");
		else
			conf_error_str(&err, msg, len);
		conf_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

/* SNIGATE_ALLOW_ROOT=1|yes|true: for containers whose command line is fixed. */
static bool env_allow_root(void)
{
	const char *v = getenv("SNIGATE_ALLOW_ROOT");
	return v && (!strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "true"));
}

int main(int argc, char **argv)
{
	struct conf_error err = {0};
	struct conf *c = NULL;
	const char *config = NULL;
	enum conf_format format = CONF_FORMAT_AUTO;
	bool check = false, need_file = true, allow_root = env_allow_root();
	const char *takeover = NULL;
	int opt, rc;

	/* Subcommands first: their options are their own. */
	if (subcmd_wanted(argc, argv))
		return subcmd_run(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "check")) {
		/* "snigate check -c FILE" is "snigate --check -c FILE". */
		check = true;
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	opterr = 1;
	while ((opt = getopt_long(argc, argv, SHORT_OPTS, long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_ALLOW_ROOT:
			allow_root = true;
			break;
		case OPT_TAKEOVER:
			/* sockaddr_un's sun_path is 108 bytes, NUL included. */
			if (optarg[0] != '/' || strlen(optarg) > 107) {
				fprintf(stderr,
					"snigate: error: --takeover %s: not an absolute path of at "
					"most 107 bytes\n",
					optarg);
				return 2;
			}
			takeover = optarg;
			break;
		case OPT_LISTEN:
		case OPT_ALLOW:
			need_file = false;
			break;
		case OPT_CONFIG_FORMAT:
			if ((rc = subcmd_format_arg(optarg, &format)))
				return rc;
			break;
		case OPT_ENVOY_MODE:
			/* Envoy's --mode: serve runs, validate checks the config and exits. */
			if (!strcmp(optarg, "validate")) {
				check = true;
			} else if (strcmp(optarg, "serve")) {
				fprintf(stderr,
					"snigate: error: --mode %s: use serve or validate\n",
					optarg);
				return 2;
			}
			break;
		case OPT_ENVOY_IGNORED:
			fprintf(stderr,
				"snigate: warning: %s is an Envoy flag with no effect in "
				"snigate; ignored\n",
				argv[optind - 1 - (optarg && optarg == argv[optind - 1])]);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("snigate %s\n", SNIGATE_VERSION);
			return 0;
		case '?':
			usage(stderr);
			return 2;
		default:
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "snigate: error: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!config && need_file)
		config = SNIGATE_DEFAULT_CONFIG;
	if (config) {
		rc = conf_load_file_as(config, format, &c, NULL, &err);
		if (rc < 0)
			return subcmd_config_error(&err);
		/* Old spellings that still load: the loader collects, main says each once. */
		for (unsigned i = 0; i < c->n_warnings; i++)
			fprintf(stderr, "snigate: warning: %s\n",
				conf_error_str(&c->warnings[i], (char[768]){0}, 768));
	} else if (!(c = conf_new_default())) {
		fprintf(stderr, "snigate: error: out of memory\n");
		return 1;
	}
	rc = apply_flags(c, argc, argv);
	if (!rc && conf_validate(c, &err) < 0)
		rc = subcmd_config_error(&err);
	if (rc) {
		conf_free(c);
		return rc;
	}
	/* What the host lets this configuration do: io_uring, fds, ports (core/preflight.h). */
	static struct pf_report pf;
	struct pf_addr pf_addrs[] = {{"admin.address", c->admin_address},
				     {"admin.control.address", c->control.address}};
	struct pf_opts pfo = {.addrs = pf_addrs, .n_addrs = 2, .binds = true};
	static struct cpu_plan pf_plan; /* the workers the gateway will start */
	if (cpu_plan_make(c, &pf_plan) < 0) {
		/* cpu_affinity names a CPU this process may not use: the start would fail. */
		fprintf(stderr, "snigate: error: %s\n", pf_plan.why);
		conf_free(c);
		return 2;
	}
	pfo.threads = pf_plan.threads;
	if (check) {
		const char **names;
		unsigned *lines, n_names = 0;
		if (!conf_names(c, &names, &lines, &n_names)) {
			free(names);
			free(lines);
		}
		if (c->n_policies) {
			printf("snigate: %s: ok (%u listeners, %u policies%s, %u allow entries)\n",
			       config ? config : "command line", c->n_listeners,
			       c->n_policies + (c->n_allow ? 1 : 0),
			       c->n_allow ? " with default" : "", n_names);
			/* What the workers will hold, timed as a reload would build it. */
			struct timespec t0, t1;
			struct rules *rl;
			struct conf_error rerr;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			if (!conf_build_rules(c, &rl, &rerr)) {
				clock_gettime(CLOCK_MONOTONIC, &t1);
				printf("snigate: policies: %zu distinct names, tables built in %.1f ms, "
				       "%zu KiB\n",
				       allowlist_count(rules_allowlist(rl)),
				       (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
					       (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
				       (rules_bytes(rl) + 1023) / 1024);
				rules_free(rl);
			}
		} else
			printf("snigate: %s: ok (%u listeners, %u allowlist entries)\n",
			       config ? config : "command line", c->n_listeners, c->n_allow);
		fflush(stdout);
		preflight_run(c, &pfo, &pf);
		preflight_print(&pf, true);
		conf_free(c);
		/* The config is fine; 1 says this host cannot run it. A busy port only warns. */
		return pf.worst == PF_FATAL ? 1 : 0;
	}
	if (geteuid() == 0 && !allow_root) {
		/* A parser bug in a root process owns the node; see SECURITY.md. */
		fprintf(stderr,
			"snigate: error: refusing to run as root (uid 0): run as an unprivileged "
			"user, with CAP_NET_BIND_SERVICE for ports below 1024 (SECURITY.md), or "
			"pass --allow-root / set SNIGATE_ALLOW_ROOT=1\n");
		conf_free(c);
		return 2;
	}
	log_set_level(c->log_level);
	/* Listening sockets from systemd's socket unit, if any (core/sockact.h). */
	static int inherited[CONF_MAX_LISTENERS], src[CONF_MAX_LISTENERS];
	struct gateway_inherit gin = {.fds = inherited, .takeover = -1, .src = src};
	char why[512];
	int n_inh = sockact_take(c, inherited, why, sizeof(why));
	if (n_inh < 0) {
		fprintf(stderr, "snigate: error: %s\n", why);
		conf_free(c);
		return 2;
	}
	gin.kept = n_inh > 0;
	if (takeover && n_inh > 0) {
		fprintf(stderr, "snigate: error: --takeover with sockets from socket activation: "
				"the socket unit already keeps them across restarts\n");
		conf_free(c);
		return 2;
	}
	if (takeover) {
		/* Only now, with the configuration valid: a bad one leaves the running gateway be.
		 */
		static char addrs[CONF_MAX_LISTENERS][80];
		const char *ap[CONF_MAX_LISTENERS];
		for (unsigned i = 0; i < c->n_listeners; i++) {
			const struct conf_listener *l = &c->listeners[i];
			snprintf(addrs[i], sizeof(addrs[i]),
				 strchr(l->address, ':') ? "[%s]:%u" : "%s:%u", l->address,
				 l->port);
			ap[i] = addrs[i];
		}
		gin.takeover = takeover_take(takeover, ap, c->n_listeners, inherited, src, why,
					     sizeof(why));
		if (gin.takeover < 0) {
			fprintf(stderr, "snigate: error: %s\n", why);
			conf_free(c);
			return 1;
		}
		for (unsigned i = 0; i < c->n_listeners; i++) {
			/* The address text came from the predecessor: the socket itself says. */
			if (inherited[i] >= 0 &&
			    !sockact_bound_to(inherited[i], &c->listeners[i].sa)) {
				close(inherited[i]);
				inherited[i] = src[i] = -1;
			}
			n_inh += inherited[i] >= 0;
		}
		log_msg(CONF_LOG_INFO, "takeover: took %d listening sockets from %s", n_inh,
			takeover);
	}
	for (unsigned i = 0; n_inh > 0 && i < c->n_listeners; i++)
		if (inherited[i] >= 0)
			log_msg(CONF_LOG_INFO, "listener %s: %s socket (fd %d)",
				c->listeners[i].name ? c->listeners[i].name
						     : c->listeners[i].address,
				takeover ? "the predecessor's" : "the socket unit's", inherited[i]);
	pfo.inherited = inherited;
	pfo.share_addrs = c->takeover_socket != NULL;
	/* An unusable io_uring or port is one line with its fix, not a worker's errno. */
	preflight_run(c, &pfo, &pf);
	preflight_print(&pf, false);
	if (pf.worst >= PF_ERROR) {
		conf_free(c);
		return 1;
	}
	/* Before any thread exists: all inherit the mask; only the gateway reads signals. */
	gateway_block_signals();
	struct loader ld = {.config = config, .format = format, .argc = argc, .argv = argv};
	return gateway_run(c, &gin, reload_load, &ld);
}
