/* SPDX-License-Identifier: MIT */
/*
 * The subcommands read a configuration, print something and exit; they
 * never start the gateway. convert prints any accepted format as snigate's
 * own YAML. corefile writes the egress DNS's Corefile from the allowlist,
 * and check --corefile compares an existing one with it, since the two
 * drift apart whenever one is edited without the other (conf/corefile.h).
 * learn reads access logs and prints the policies they call for
 * (conf/learn.h).
 */
#include "core/subcmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/corefile.h"
#include "conf/dump.h"
#include "conf/learn.h"

int subcmd_config_error(const struct conf_error *err)
{
	char buf[768];
	fprintf(stderr, "snigate: error: %s\n", conf_error_str(err, buf, sizeof(buf)));
	return 2;
}

int subcmd_format_arg(const char *arg, enum conf_format *fmt)
{
	if (conf_format_parse(arg, fmt) == 0)
		return 0;
	fprintf(stderr, "snigate: error: --config-format %s: use envoy, native or auto\n", arg);
	return 2;
}

/* argv holds flag, alone or as "flag=value". */
static bool has_arg(int argc, char **argv, const char *flag)
{
	size_t n = strlen(flag);

	for (int i = 1; i < argc; i++)
		if (!strncmp(argv[i], flag, n) && (!argv[i][n] || argv[i][n] == '='))
			return true;
	return false;
}

bool subcmd_wanted(int argc, char **argv)
{
	return argc > 1 && (!strcmp(argv[1], "convert") || !strcmp(argv[1], "corefile") ||
			    !strcmp(argv[1], "learn") ||
			    (!strcmp(argv[1], "check") && has_arg(argc, argv, "--corefile")));
}

/* Whole file, NUL-terminated; NULL with errno set. */
static char *read_text(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			char *b = cap < (64u << 20) ? realloc(buf, cap + 65536) : NULL;
			if (!b) {
				free(buf);
				fclose(f);
				errno = cap < (64u << 20) ? ENOMEM : EFBIG;
				return NULL;
			}
			buf = b;
			cap += 65536;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		errno = EIO;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void sub_usage(FILE *f)
{
	fprintf(f,
		"usage: snigate convert [--config-format F] FILE\n"
		"       snigate corefile -c CONFIG --gateway-service NAME.NS.svc.CLUSTER_DOMAIN\n"
		"                        [--upstream IP[:PORT]|/PATH/resolv.conf ...]\n"
		"                        (default: forward . /etc/resolv.conf, the cluster DNS)\n"
		"       snigate check --corefile FILE -c CONFIG [--gateway-service FQDN]\n"
		"       snigate learn [-c CONFIG] [--by listener|user|cidr] [--source NAME=CIDR]...\n"
		"                     [--wildcards N] [--mode enforce|audit] [FILE|-]...\n");
}

/* Load a config for a subcommand; the shape decides the format unless given. */
static int sub_load(const char *config, enum conf_format fmt, struct conf **c)
{
	struct conf_error err = {0};
	enum conf_format used;

	if (!config) {
		fprintf(stderr, "snigate: error: no config: give -c FILE\n");
		return 2;
	}
	if (conf_load_file_as(config, fmt, c, &used, &err) < 0)
		return subcmd_config_error(&err);
	if (!(*c)->n_allow && !(*c)->n_policies) {
		fprintf(stderr, "snigate: error: %s: the allowlist is empty\n", config);
		conf_free(*c);
		*c = NULL;
		return 2;
	}
	return 0;
}

static int cmd_convert(const char *config, enum conf_format fmt)
{
	struct conf_error err = {0};
	enum conf_format used;
	struct conf *c = NULL;

	if (!config) {
		fprintf(stderr, "snigate: error: convert needs a file: snigate convert FILE\n");
		return 2;
	}
	if (conf_load_file_as(config, fmt, &c, &used, &err) < 0)
		return subcmd_config_error(&err);
	printf("# snigate configuration, converted by `snigate convert` from %s (%s format).\n"
	       "# Every setting is spelled out; conf/CONFIG.md describes each.\n",
	       config, conf_format_str(used));
	int rc = conf_dump_yaml(c, stdout, 0);
	conf_free(c);
	if (rc < 0 || fflush(stdout)) {
		fprintf(stderr, "snigate: error: cannot write the converted config\n");
		return 1;
	}
	return 0;
}

static int cmd_corefile(const char *config, enum conf_format fmt, const char *gateway,
			const char *const *upstreams, unsigned n_up)
{
	struct corefile_opts o = {
		.gateway = gateway, .upstreams = upstreams, .n_upstreams = n_up, .source = config};
	struct conf_error err = {0};
	struct conf *c = NULL;
	char *text = NULL;
	int rc;

	if (!gateway) {
		fprintf(stderr, "snigate: error: corefile needs --gateway-service "
				"NAME.NAMESPACE.svc.CLUSTER_DOMAIN\n");
		return 2;
	}
	if ((rc = sub_load(config, fmt, &c)))
		return rc;
	rc = corefile_generate(c, &o, &text, &err);
	conf_free(c);
	if (rc < 0) {
		if (!strcmp(err.field, "gateway"))
			fprintf(stderr, "snigate: error: --gateway-service: %s\n", err.msg);
		else
			fprintf(stderr, "snigate: error: --upstream: %s\n", err.msg);
		return rc == -ENOMEM ? 1 : 2;
	}
	fputs(text, stdout);
	free(text);
	return fflush(stdout) ? 1 : 0;
}

static int cmd_check_corefile(const char *corefile, const char *config, enum conf_format fmt,
			      const char *gateway)
{
	struct conf_error err = {0};
	struct corefile cf = {0};
	struct corefile_drift *d = NULL;
	struct conf *c = NULL;
	size_t len = 0, n = 0;
	char *text;
	int rc;

	if ((rc = sub_load(config, fmt, &c)))
		return rc;
	if (!(text = read_text(corefile, &len))) {
		fprintf(stderr, "snigate: error: %s: cannot read: %s\n", corefile, strerror(errno));
		conf_free(c);
		return 2;
	}
	rc = corefile_parse(text, len, corefile, &cf, &err);
	free(text);
	if (rc < 0) {
		conf_free(c);
		return subcmd_config_error(&err);
	}
	if (corefile_diff(c, &cf, gateway, &d, &n) < 0) {
		fprintf(stderr, "snigate: error: out of memory\n");
		rc = 1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		switch (d[i].kind) {
		case COREFILE_ONLY_IN_CONFIG:
			printf("snigate: drift: %s: allowlisted (%s:%u) but the Corefile does not "
			       "send it to the gateway\n",
			       d[i].name, config, d[i].line);
			break;
		case COREFILE_ONLY_IN_COREFILE:
			printf("snigate: drift: %s: the Corefile sends it to the gateway (%s:%u) but "
			       "it is not allowlisted, so the gateway resets it\n",
			       d[i].name, corefile, d[i].line);
			break;
		case COREFILE_WRONG_TARGET:
			printf("snigate: drift: %s: %s:%u rewrites it to %s, not to the gateway\n",
			       d[i].name, corefile, d[i].line, d[i].target);
			break;
		}
	}
	if (n) {
		printf("snigate: %s: %zu difference%s from %s\n", corefile, n, n == 1 ? "" : "s",
		       config);
		rc = 1;
	} else {
		printf("snigate: %s: in sync with %s (%zu names)\n", corefile, config, cf.n);
		rc = 0;
	}
out:
	corefile_drift_free(d, n);
	corefile_free(&cf);
	conf_free(c);
	return rc;
}

static void learn_usage(FILE *f)
{
	fprintf(f,
		"usage: snigate learn [-c CONFIG] [--by listener|user|cidr] [--source NAME=CIDR]...\n"
		"                     [--wildcards N] [--mode enforce|audit] [FILE|-]...\n"
		"\n"
		"Read snigate access logs (the FILEs, or stdin when none is given or FILE is -),\n"
		"audit mode's would_deny lines included, and print a configuration whose\n"
		"policies allow the names those connections reached: one policy per group,\n"
		"each name with a comment (connections, first and last seen, ports). Lines\n"
		"that are not access lines, denials and IP addresses are counted and skipped.\n"
		"\n"
		"  -c, --config CONFIG     the configuration the logs came from: the output is\n"
		"                          CONFIG with its policies and top-level allow replaced.\n"
		"                          Without it: the listeners the logs name, every other\n"
		"                          setting at its default\n"
		"      --config-format F   envoy, native or auto (default) for CONFIG\n"
		"      --by G              listener (default): a policy per listener;\n"
		"                          user: a policy per HTTP CONNECT proxy user (needs -c;\n"
		"                          clients without a user: per listener);\n"
		"                          cidr: a policy per --source\n"
		"      --source NAME=CIDR  with --by cidr: policy NAME for clients in CIDR\n"
		"                          (repeatable; the first that holds a client takes it;\n"
		"                          other clients are named on stderr and not used)\n"
		"      --wildcards N       N or more names below one registrable domain become\n"
		"                          \"*.domain\" (N >= 2; never at or above a public\n"
		"                          suffix). Without it a comment says where one could be\n"
		"      --mode M            enforce (default) or audit: each policy's mode\n"
		"  -h, --help              this text\n"
		"\n"
		"stderr ends with \"snigate: learn: N lines, M connections used, K skipped\".\n"
		"The output passes snigate --check as it is. Exit status: 0; 1 when it cannot\n"
		"be written; 2 for bad flags, an unreadable file or nothing to learn.\n");
}

/* "2 denied, 1 malformed" for the counts that are not 0; "" when all are. */
static void learn_summary(const struct learn_counts *n)
{
	const struct {
		unsigned long long v;
		const char *what;
	} parts[] = {
		{n->other, "not access lines"},
		{n->malformed, "malformed"},
		{n->denied, "denied"},
		{n->no_name, "without a name"},
		{n->ip_literal, "IP addresses"},
		{n->unmatched, "in no --source"},
		{n->unknown_listener, "on unknown listeners"},
	};
	const char *sep = " (";

	fprintf(stderr, "snigate: learn: %llu lines, %llu connections used, %llu skipped", n->lines,
		n->used, n->lines - n->used);
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (!parts[i].v)
			continue;
		fprintf(stderr, "%s%llu %s", sep, parts[i].v, parts[i].what);
		sep = ", ";
	}
	fprintf(stderr, "%s\n", *sep == ',' ? ")" : "");
}

enum {
	LEARN_FORMAT = 256,
	LEARN_BY,
	LEARN_SOURCE,
	LEARN_WILDCARDS,
	LEARN_MODE,
};

/* A failure of conf/learn.h's: out of memory (1), or its message (2). */
static int learn_fail(int rc, const struct conf_error *err)
{
	if (rc != -ENOMEM)
		return subcmd_config_error(err);
	fprintf(stderr, "snigate: error: out of memory\n");
	return 1;
}

static int cmd_learn(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"config-path", required_argument, NULL, 'c'},
		{"config-format", required_argument, NULL, LEARN_FORMAT},
		{"by", required_argument, NULL, LEARN_BY},
		{"source", required_argument, NULL, LEARN_SOURCE},
		{"wildcards", required_argument, NULL, LEARN_WILDCARDS},
		{"mode", required_argument, NULL, LEARN_MODE},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static struct learn_source src[CONF_MAX_POLICIES];
	static char *src_names[CONF_MAX_POLICIES];
	struct learn_opts o = {.mode = CONF_ENFORCE};
	enum conf_format fmt = CONF_FORMAT_AUTO;
	const char *config = NULL;
	struct conf_error err = {0};
	struct learn *l = NULL;
	struct conf *base = NULL;
	FILE **files = NULL;
	char *text = NULL, *end;
	unsigned n_files = 0;
	int opt, rc = 2;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case LEARN_FORMAT:
			if ((rc = subcmd_format_arg(optarg, &fmt)))
				goto out;
			rc = 2;
			break;
		case LEARN_BY:
			if (learn_by_parse(optarg, &o.by) < 0) {
				fprintf(stderr,
					"snigate: error: --by %s: use listener, user or cidr\n",
					optarg);
				goto out;
			}
			break;
		case LEARN_SOURCE: {
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1]) {
				fprintf(stderr, "snigate: error: --source %s: write NAME=CIDR\n",
					optarg);
				goto out;
			}
			if (o.n_sources == CONF_MAX_POLICIES) {
				fprintf(stderr, "snigate: error: at most %u --source\n",
					CONF_MAX_POLICIES);
				goto out;
			}
			if (!(src_names[o.n_sources] = strndup(optarg, (size_t)(eq - optarg)))) {
				fprintf(stderr, "snigate: error: out of memory\n");
				rc = 1;
				goto out;
			}
			src[o.n_sources] = (struct learn_source){.name = src_names[o.n_sources],
								 .cidr = eq + 1};
			o.n_sources++;
			break;
		}
		case LEARN_WILDCARDS:
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (end == optarg || *end || errno || *optarg == '-' || v < 2 ||
			    v > 1000000) {
				fprintf(stderr,
					"snigate: error: --wildcards %s: a number of names, 2 or more\n",
					optarg);
				goto out;
			}
			o.wildcards = (unsigned)v;
			break;
		case LEARN_MODE:
			if (conf_mode_parse(optarg, &o.mode) < 0) {
				fprintf(stderr, "snigate: error: --mode %s: use enforce or audit\n",
					optarg);
				goto out;
			}
			break;
		case 'h':
			learn_usage(stdout);
			rc = 0;
			goto out;
		default:
			learn_usage(stderr);
			goto out;
		}
	}
	o.sources = src;
	/* Every file opens before any is read: a typo costs no work and prints nothing. */
	if (!(files = calloc((size_t)(argc - optind) + 1, sizeof(*files)))) {
		fprintf(stderr, "snigate: error: out of memory\n");
		rc = 1;
		goto out;
	}
	for (int i = optind; i < argc; i++, n_files++) {
		if (!strcmp(argv[i], "-")) {
			files[n_files] = stdin;
			continue;
		}
		if (!(files[n_files] = fopen(argv[i], "re"))) {
			fprintf(stderr, "snigate: error: %s: cannot read: %s\n", argv[i],
				strerror(errno));
			goto out;
		}
	}
	if (!n_files)
		files[n_files++] = stdin;
	if (config && conf_load_file_as(config, fmt, &base, NULL, &err) < 0) {
		rc = subcmd_config_error(&err);
		goto out;
	}
	o.base = base;
	if ((rc = learn_new(&o, &l, &err)) < 0) {
		rc = learn_fail(rc, &err);
		goto out;
	}
	for (unsigned i = 0; i < n_files; i++) {
		if ((rc = learn_read(l, files[i], optind + (int)i < argc ? argv[optind + i] : "-",
				     &err)) < 0) {
			rc = learn_fail(rc, &err);
			goto out;
		}
	}
	rc = learn_write(l, (const char *const *)argv + optind, (unsigned)(argc - optind), &text,
			 &err);
	for (unsigned i = 0; i < learn_n_notes(l); i++)
		fprintf(stderr, "snigate: learn: %s\n", learn_note(l, i));
	struct learn_counts counts;
	learn_counts(l, &counts);
	learn_summary(&counts);
	if (rc < 0) {
		rc = learn_fail(rc, &err);
		goto out;
	}
	fputs(text, stdout);
	rc = 0;
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "snigate: error: cannot write the proposed config\n");
		rc = 1;
	}
out:
	free(text);
	learn_free(l);
	conf_free(base);
	for (unsigned i = 0; files && i < n_files; i++)
		if (files[i] && files[i] != stdin)
			fclose(files[i]);
	free(files);
	for (unsigned i = 0; i < o.n_sources; i++)
		free(src_names[i]);
	return rc;
}

enum {
	SUB_FORMAT = 256,
	SUB_GATEWAY,
	SUB_UPSTREAM,
	SUB_COREFILE,
};

int subcmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"config-path", required_argument, NULL, 'c'},
		{"config-format", required_argument, NULL, SUB_FORMAT},
		{"gateway-service", required_argument, NULL, SUB_GATEWAY},
		{"upstream", required_argument, NULL, SUB_UPSTREAM},
		{"corefile", required_argument, NULL, SUB_COREFILE},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *cmd = argv[0], *config = NULL, *gateway = NULL, *corefile = NULL;
	const char *upstreams[COREFILE_MAX_UPSTREAMS];
	enum conf_format fmt = CONF_FORMAT_AUTO;
	unsigned n_up = 0;
	int opt, rc;

	/* learn's options are its own. */
	if (!strcmp(cmd, "learn"))
		return cmd_learn(argc, argv);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case SUB_FORMAT:
			if ((rc = subcmd_format_arg(optarg, &fmt)))
				return rc;
			break;
		case SUB_GATEWAY:
			gateway = optarg;
			break;
		case SUB_UPSTREAM:
			if (n_up == COREFILE_MAX_UPSTREAMS) {
				fprintf(stderr, "snigate: error: at most %u --upstream\n",
					COREFILE_MAX_UPSTREAMS);
				return 2;
			}
			upstreams[n_up++] = optarg;
			break;
		case SUB_COREFILE:
			corefile = optarg;
			break;
		case 'h':
			sub_usage(stdout);
			return 0;
		default:
			sub_usage(stderr);
			return 2;
		}
	}
	if (!strcmp(cmd, "convert")) {
		if (optind < argc && !config)
			config = argv[optind++];
		if (optind < argc || gateway || n_up || corefile) {
			fprintf(stderr, "snigate: error: convert takes one FILE and "
					"--config-format\n");
			return 2;
		}
		return cmd_convert(config, fmt);
	}
	if (optind < argc) {
		fprintf(stderr, "snigate: error: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!strcmp(cmd, "corefile"))
		return cmd_corefile(config, fmt, gateway, upstreams, n_up);
	return cmd_check_corefile(corefile, config, fmt, gateway);
}
