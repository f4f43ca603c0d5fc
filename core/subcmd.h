/* SPDX-License-Identifier: MIT */
/*
 * subcmd: snigate convert, snigate corefile and snigate check --corefile.
 * main.c hands them the command line before it reads its own options,
 * since theirs are their own; each returns the process's exit status.
 */
#ifndef SNIGATE_CORE_SUBCMD_H
#define SNIGATE_CORE_SUBCMD_H

#include <stdbool.h>

#include "conf/conf.h"
#include "conf/envoy.h"

/* True when argv (main's) asks for one of these subcommands. */
bool subcmd_wanted(int argc, char **argv);
/* Run it; argv[0] is the subcommand's name. Returns the exit status (0, 1, 2). */
int subcmd_run(int argc, char **argv);

/* What main.c prints the same way. */
/* err as snigate's one-line error on stderr; returns 2, the status of a bad configuration. */
int subcmd_config_error(const struct conf_error *err);
/* --config-format's value into *fmt: 0, or 2 with the error printed. */
int subcmd_format_arg(const char *arg, enum conf_format *fmt);

#endif
