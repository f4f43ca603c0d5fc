/* SPDX-License-Identifier: MIT */
/*
 * credentials: read a proxy_auth_file into a credential set.
 *
 * The file holds one "user:{SHA256}hex" per line, where hex is the 64
 * lower- or upper-case hex digits of SHA-256 over the bytes "user:password"
 * (the exact string a client base64-encodes for Basic auth), e.g.
 *     printf '%s' 'alice:s3cret' | sha256sum
 * Blank lines and lines starting with '#' are ignored; a line may end in
 * CRLF. Users are unique and non-empty, without ':' or control bytes. A
 * plain password where the hash belongs is an error, not a fallback: the
 * file is meant to hold nothing a reader could replay (sni/proxyauth.h).
 */
#ifndef SNIGATE_CONF_CREDENTIALS_H
#define SNIGATE_CONF_CREDENTIALS_H

#include "sni/proxyauth.h"

#define CREDENTIALS_MAX_LINE 512 /* bytes per line, terminator not counted */

struct credentials_error {
	char file[256]; /* the path given */
	unsigned line;	/* 1-based; 0 when not tied to a line (open, read, empty file) */
	char msg[160];	/* never quotes a hash or a password */
};

/*
 * Load the credentials file at path. Returns 0 and *out (free with
 * proxy_auth_free()), or -EINVAL (content), -ENOMEM, -errno (I/O) with
 * *out NULL and *err filled. A file with no entry is -EINVAL: it would
 * refuse every client. Nothing is printed.
 */
int credentials_load(const char *path, struct proxy_auth **out, struct credentials_error *err);

#endif
