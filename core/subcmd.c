/* SPDX-License-Identifier: MIT */
/*
 * The subcommands read a configuration, print something and exit; they
 * never start the gateway. convert prints any accepted format as snigate's
 * own YAML. corefile writes the egress DNS's Corefile from the allowlist,
 * and check --corefile compares an existing one with it, since the two
 * drift apart whenever one is edited without the other (conf/corefile.h).
 */
#include "core/subcmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/corefile.h"
#include "conf/dump.h"

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
		"       snigate check --corefile FILE -c CONFIG [--gateway-service FQDN]\n");
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
