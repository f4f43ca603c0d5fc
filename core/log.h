/* SPDX-License-Identifier: MIT */
/*
 * log: the one place snigate writes text. Diagnostics go to stderr as
 * "snigate: <level>: <message>"; access lines go to stdout, one JSON object
 * per connection. Each line is built in a buffer and written with a single
 * write(2), so lines from different threads never interleave.
 */
#ifndef SNIGATE_LOG_H
#define SNIGATE_LOG_H

#include <stddef.h>

#include "conf/conf.h"

void log_set_level(enum conf_log_level lvl);
int log_enabled(enum conf_log_level lvl);
void log_msg(enum conf_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Write one finished access line (the caller adds no newline). */
void log_access(const char *line, size_t len);
/*
 * Send access lines to path (appended, created 0640) instead of stdout. The
 * file takes stdout's place (dup2), so a switch is atomic for the threads
 * writing. Returns 0 or -errno.
 */
int log_access_to_file(const char *path);

#endif
