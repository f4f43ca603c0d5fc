/* SPDX-License-Identifier: MIT */
/*
 * conf_error: error filling, quoting and the file reader that the native
 * and Envoy loaders share, so a message reads the same from both and a file
 * is read one way. Each loader keeps its own small fail() wrapper, because
 * one knows a line and the other a YAML node; both end here.
 */
#include "conf/conf_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_file(struct conf_error *err, const char *file)
{
	size_t n = file ? strlen(file) : 0;

	if (n < sizeof(err->file))
		memcpy(err->file, file ? file : "", n + 1);
	else
		snprintf(err->file, sizeof(err->file), "...%s", file + n - (sizeof(err->file) - 4));
}

static void set_field(struct conf_error *err, const char *path)
{
	size_t n = strlen(path), max = sizeof(err->field) - 1;

	if (n <= max) {
		memcpy(err->field, path, n + 1);
		return;
	}
	size_t head = 0;
	for (size_t i = 0; i < 48 && path[i]; i++)
		if (path[i] == '.')
			head = i;
	const char *tail = path + n - (max - head - 3);
	const char *dot = strchr(tail, '.');
	if (dot)
		tail = dot;
	snprintf(err->field, sizeof(err->field), "%.*s...%s", (int)head, path, tail);
}

int conf_error_vset(struct conf_error *err, int rc, const char *file, unsigned line,
		    const char *field, const char *fmt, va_list ap)
{
	memset(err, 0, sizeof(*err));
	set_file(err, file);
	err->line = line;
	set_field(err, field ? field : "");
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return rc;
}

int conf_error_set(struct conf_error *err, int rc, const char *file, unsigned line,
		   const char *field, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_error_vset(err, rc, file, line, field, fmt, ap);
	va_end(ap);
	return rc;
}

const char *conf_quote(const char *s, char *buf, size_t len)
{
	size_t o = 0, max = len - 6; /* room for both quotes, "...", NUL */

	buf[o++] = '"';
	for (; *s && o < max; s++)
		buf[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	if (*s) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

int conf_read_file(const char *path, char **out, size_t *olen, struct conf_error *err)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	struct stat st;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return conf_error_set(err, -e, path, 0, "", "cannot open: %s", strerror(e));
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return conf_error_set(err, -EISDIR, path, 0, "",
				      "is a directory, not a config file");
	}
	for (;;) {
		if (len == cap) {
			/* Not st_size alone: a pipe or /proc file reports 0. */
			size_t ncap = cap ? cap * 2 : 64 * 1024;
			char *nbuf;
			if (cap >= CONF_MAX_FILE_BYTES) {
				rc = conf_error_set(err, -EFBIG, path, 0, "", "larger than %u MiB",
						    CONF_MAX_FILE_BYTES >> 20);
				break;
			}
			if (!(nbuf = realloc(buf, ncap))) {
				rc = conf_error_set(err, -ENOMEM, path, 0, "", "out of memory");
				break;
			}
			buf = nbuf;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			rc = conf_error_set(err, -e, path, 0, "", "cannot read: %s", strerror(e));
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*olen = len;
	return 0;
}
