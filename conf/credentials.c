/* SPDX-License-Identifier: MIT */
/*
 * credentials: the proxy_auth_file reader.
 *
 * A line at a time with fgets into a fixed buffer one byte longer than the
 * longest line allowed, so an over-long line is noticed without reading it
 * whole. Each line is checked, its hash decoded, and the pair handed to
 * proxy_auth_add(), which owns the set's rules (unique users, the limit);
 * this file only knows the text format. An error names the line and never
 * quotes it: the line holds a hash, or, when someone wrote a plain password
 * by mistake, the password.
 *
 * Every buffer that held a line or a hash is wiped with explicit_bzero
 * before it goes out of scope.
 */
#include "conf/credentials.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sni/connect.h"

static int fail(struct credentials_error *err, int rc, unsigned line, const char *msg)
{
	err->line = line;
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * One non-comment line s, terminator removed: the user is s[0..*user_len)
 * and its hash goes to hash. Returns NULL, or why the line is wrong.
 */
static const char *parse_line(const char *s, size_t *user_len, uint8_t hash[SHA256_LEN])
{
	static const char tag[] = "{SHA256}";
	const char *colon = strchr(s, ':');
	const char *hex;
	size_t i;

	if (!colon)
		return "expected user:{SHA256}hex";
	if (colon == s)
		return "empty user name";
	for (i = 0; s + i < colon; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "control byte in user name";
	if (strncmp(colon + 1, tag, sizeof(tag) - 1))
		return "expected user:{SHA256}hex (plain passwords are not accepted)";
	hex = colon + 1 + sizeof(tag) - 1;
	if (strlen(hex) != 2 * SHA256_LEN)
		return "the SHA-256 must be 64 hex digits";
	for (i = 0; i < SHA256_LEN; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return "the SHA-256 must be 64 hex digits";
		hash[i] = (uint8_t)(hi << 4 | lo);
	}
	*user_len = (size_t)(colon - s);
	return NULL;
}

/* proxy_auth_add()'s refusals, in the file's terms. */
static int add_fail(struct credentials_error *err, int rc, unsigned line)
{
	switch (rc) {
	case -EEXIST:
		return fail(err, -EINVAL, line, "user listed twice");
	case -ENOSPC:
		return fail(err, -EINVAL, line, "too many users (at most 4096)");
	default:
		return fail(err, rc, line, "out of memory");
	}
}

int credentials_load(const char *path, struct proxy_auth **out, struct credentials_error *err)
{
	struct proxy_auth *a;
	char line[CREDENTIALS_MAX_LINE + 2];
	uint8_t hash[SHA256_LEN];
	unsigned lineno = 0;
	FILE *f;
	int rc;

	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", path);
	*out = NULL;
	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		snprintf(err->msg, sizeof(err->msg), "cannot open: %s", strerror(errno));
		return rc;
	}
	a = proxy_auth_new();
	if (!a) {
		rc = fail(err, -ENOMEM, 0, "out of memory");
		goto out_close;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line), user_len = 0;
		const char *why;

		lineno++;
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f)) {
			rc = fail(err, -EINVAL, lineno, "line too long");
			goto out_free;
		}
		if (n && line[n - 1] == '\r')
			line[--n] = '\0';
		if (n > CREDENTIALS_MAX_LINE) {
			rc = fail(err, -EINVAL, lineno, "line too long");
			goto out_free;
		}
		if (n == 0 || line[0] == '#')
			continue;
		why = parse_line(line, &user_len, hash);
		if (why) {
			rc = fail(err, -EINVAL, lineno, why);
			goto out_free;
		}
		rc = proxy_auth_add(a, line, user_len, hash);
		if (rc) {
			rc = add_fail(err, rc, lineno);
			goto out_free;
		}
	}
	if (ferror(f)) {
		rc = fail(err, -EIO, 0, "read error");
		goto out_free;
	}
	if (a->n == 0) {
		rc = fail(err, -EINVAL, 0, "no credentials in the file");
		goto out_free;
	}
	*out = a;
	rc = 0;
	goto out_close;

out_free:
	proxy_auth_free(a);
out_close:
	explicit_bzero(line, sizeof(line));
	explicit_bzero(hash, sizeof(hash));
	fclose(f);
	return rc;
}
