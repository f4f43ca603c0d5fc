/* SPDX-License-Identifier: MIT */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum conf_log_level level = CONF_LOG_INFO;

static const char *const names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum conf_log_level lvl)
{
	level = lvl;
}

int log_enabled(enum conf_log_level lvl)
{
	return lvl <= level;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n <= 0)
			return; /* a closed stdout must not stop the gateway */
		buf += n;
		len -= (size_t)n;
	}
}

void log_msg(enum conf_log_level lvl, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (!log_enabled(lvl))
		return;
	n = snprintf(buf, sizeof(buf), "snigate: %s: ", names[lvl]);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	write_all(2, buf, (size_t)n);
}

void log_access(const char *line, size_t len)
{
	char buf[2048];
	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	memcpy(buf, line, len);
	buf[len++] = '\n';
	write_all(1, buf, len);
}

int log_access_to_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	int rc = dup2(fd, 1) < 0 ? -errno : 0;
	close(fd);
	return rc;
}
