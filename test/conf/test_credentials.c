/* SPDX-License-Identifier: MIT */
/*
 * test_credentials: the proxy_auth_file reader (conf/credentials.h). Each
 * case is a file written to /tmp; an error must name the file and the line
 * and never quote it.
 */
#include "conf/credentials.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sni/connect.h"

static char *write_file(const char *text)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_credentials.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void hex(const uint8_t *h, char *out)
{
	for (int i = 0; i < SHA256_LEN; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

/* sha256("u:p") and sha256("alice:s3cret"), as `printf '%s' ... | sha256sum` prints them. */
static char HASH_UP[65], HASH_ALICE[65];

static void hashes(void)
{
	uint8_t h[SHA256_LEN];

	sha256("u:p", 3, h);
	hex(h, HASH_UP);
	sha256("alice:s3cret", 12, h);
	hex(h, HASH_ALICE);
}

/* A run of 8 hex digits: a piece of a hash. */
static bool quotes_hex(const char *s)
{
	size_t run = 0;

	for (; *s; s++) {
		run = strchr("0123456789abcdefABCDEF", *s) ? run + 1 : 0;
		if (run == 8)
			return true;
	}
	return false;
}

/* Load text; on error, check the line and that the message names no part of the file. */
static struct proxy_auth *load_text(const char *text, int want_rc, unsigned want_line)
{
	struct proxy_auth *a = (struct proxy_auth *)1;
	struct credentials_error err;
	char *path = write_file(text);
	int rc = credentials_load(path, &a, &err);

	unlink(path);
	cr_assert_eq(rc, want_rc, "rc %d (%s:%u: %s)", rc, err.file, err.line, err.msg);
	if (rc) {
		cr_assert_null(a);
		cr_assert_eq(err.line, want_line, "line %u: %s", err.line, err.msg);
		cr_assert_str_eq(err.file, path);
		cr_assert_neq(err.msg[0], '\0');
		cr_assert_null(strstr(err.msg, "s3cret"));
		cr_assert(!quotes_hex(err.msg), "%s", err.msg);
	}
	return a;
}

static struct proxy_auth *two_users(void)
{
	char text[512];

	hashes();
	snprintf(text, sizeof(text), "# proxy users\n\nu:{SHA256}%s\r\nalice:{SHA256}%s", HASH_UP,
		 HASH_ALICE);
	return load_text(text, 0, 0);
}

Test(credentials, load_good)
{
	struct proxy_auth *a = two_users();

	cr_assert_eq(a->n, 2);
	cr_assert_str_eq(a->v[0].user, "u");
	cr_assert_str_eq(a->v[1].user, "alice");
	cr_assert_eq(proxy_auth_check(a, (const uint8_t *)"Basic dTpw", 10), PROXY_AUTH_OK);
	proxy_auth_free(a);
}

Test(credentials, errors_name_the_line)
{
	char text[512];
	struct credentials_error err;
	struct proxy_auth *a;

	hashes();
	load_text("# nothing\n\n", -EINVAL, 0);
	load_text("", -EINVAL, 0);
	load_text("# c\nalice:s3cret\n", -EINVAL, 2); /* plain password */
	load_text("alice\n", -EINVAL, 1);
	load_text(":{SHA256}00\n", -EINVAL, 1);
	load_text("a\x01:{SHA256}00\n", -EINVAL, 1);
	snprintf(text, sizeof(text), "u:{SHA256}%.63s\n", HASH_UP);
	load_text(text, -EINVAL, 1); /* 63 digits */
	snprintf(text, sizeof(text), "u:{SHA256}%.63sg\n", HASH_UP);
	load_text(text, -EINVAL, 1);
	snprintf(text, sizeof(text), "u:{SHA256}%s\n#\nu:{SHA256}%s\n", HASH_UP, HASH_ALICE);
	load_text(text, -EINVAL, 3); /* user twice */
	char *longline = malloc(2000);
	memset(longline, 'x', 1999);
	longline[1999] = '\0';
	load_text(longline, -EINVAL, 1);
	free(longline);

	cr_assert_eq(credentials_load("/nonexistent/auth", &a, &err), -ENOENT);
	cr_assert_eq(err.line, 0);
	cr_assert_str_eq(err.file, "/nonexistent/auth");
	cr_assert_null(a);
}

/* The exact messages, which the conf check and the reload log show operators. */
Test(credentials, messages)
{
	static const struct {
		const char *text;
		const char *msg;
	} v[] = {
		{"# c\nalice:s3cret\n",
		 "expected user:{SHA256}hex (plain passwords are not accepted)"},
		{"alice\n", "expected user:{SHA256}hex"},
		{":{SHA256}00\n", "empty user name"},
		{"a\x7f:{SHA256}00\n", "control byte in user name"},
		{"u:{SHA256}00\n", "the SHA-256 must be 64 hex digits"},
		{"\n", "no credentials in the file"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct credentials_error err;
		struct proxy_auth *a;
		char *path = write_file(v[i].text);

		cr_assert_eq(credentials_load(path, &a, &err), -EINVAL);
		unlink(path);
		cr_assert_str_eq(err.msg, v[i].msg);
	}
}

Test(credentials, limits)
{
	size_t cap = (PROXY_AUTH_MAX_USERS + 1) * 96, o = 0;
	char *text = malloc(cap);
	struct proxy_auth *a;

	hashes();
	cr_assert_not_null(text);
	/* A last line of CREDENTIALS_MAX_LINE + 1 bytes without a newline. */
	memset(text, 'x', CREDENTIALS_MAX_LINE + 1);
	text[CREDENTIALS_MAX_LINE + 1] = '\0';
	load_text(text, -EINVAL, 1);
	/* PROXY_AUTH_MAX_USERS users load; one more is refused on its line. */
	for (unsigned i = 0; i < PROXY_AUTH_MAX_USERS; i++)
		o += (size_t)snprintf(text + o, cap - o, "user%u:{SHA256}%s\n", i, HASH_UP);
	a = load_text(text, 0, 0);
	cr_assert_eq(a->n, PROXY_AUTH_MAX_USERS);
	proxy_auth_free(a);
	snprintf(text + o, cap - o, "one-more:{SHA256}%s\n", HASH_UP);
	load_text(text, -EINVAL, PROXY_AUTH_MAX_USERS + 1);
	free(text);
}

Test(credentials, accepts_upper_case_hex)
{
	char text[256];
	struct proxy_auth *a;

	hashes();
	for (char *p = HASH_UP; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	snprintf(text, sizeof(text), "u:{SHA256}%s\n", HASH_UP);
	a = load_text(text, 0, 0);
	cr_assert_eq(proxy_auth_check(a, (const uint8_t *)"Basic dTpw", 10), PROXY_AUTH_OK);
	proxy_auth_free(a);
}
