/* SPDX-License-Identifier: MIT */
/*
 * jsonline: a reader for one flat JSON object on one line, the shape of
 * snigate's access-log lines (core/accesslog.c), for `snigate learn`.
 *
 * Contract:
 *  - The input is line[0..len); it need not be NUL-terminated and is never
 *    read outside that range. NUL bytes in it are an error, not an end.
 *  - The line is one JSON object (RFC 8259) whose values are strings,
 *    numbers, true, false or null, with JSON whitespace around tokens and
 *    nothing but whitespace after the closing brace. An object or array as a
 *    value is refused (JSONLINE_E_NESTED): the access line has none, and a
 *    reader without recursion cannot be driven deep by hostile input.
 *  - Strings are checked in full while parsing: every escape is one of
 *    \" \\ \/ \b \f \n \r \t \uXXXX; a \u high surrogate must be followed by
 *    a low one and a low one must follow a high one; \u0000 and raw bytes
 *    below 0x20 are refused, so a decoded string is a C string with nothing
 *    cut short. Bytes 0x80 and above pass as they are (no UTF-8 check).
 *  - Keys are decoded while parsing, so "dec\u0069sion" is "decision"; a
 *    key given twice is refused (JSONLINE_E_DUPLICATE), since a reader that
 *    took the first and another that took the last would disagree about
 *    the same line.
 *  - At most JSONLINE_MAX_MEMBERS members, whose decoded keys fit together
 *    in JSONLINE_KEY_BYTES (each with its NUL).
 *  - Values are not decoded until asked for: jsonline_str() writes one into
 *    a buffer of the caller's size and fails rather than cut it.
 *
 * No allocation; a struct jsonline holds everything and points into line,
 * which must outlive it. Nothing is printed.
 */
#ifndef SNIGATE_CONF_JSONLINE_H
#define SNIGATE_CONF_JSONLINE_H

#include <stdbool.h>
#include <stddef.h>

#define JSONLINE_MAX_MEMBERS 64
#define JSONLINE_KEY_BYTES   1024

enum jsonline_type {
	JSONLINE_STRING = 1,
	JSONLINE_NUMBER,
	JSONLINE_TRUE,
	JSONLINE_FALSE,
	JSONLINE_NULL,
};

struct jsonline_value {
	enum jsonline_type type;
	/* STRING: the bytes between the quotes, escapes not decoded; else the literal. */
	const char *p;
	size_t n;
};

struct jsonline_member {
	const char *key; /* decoded, NUL-terminated, in keys[] */
	struct jsonline_value v;
};

struct jsonline {
	struct jsonline_member m[JSONLINE_MAX_MEMBERS];
	unsigned n;
	char keys[JSONLINE_KEY_BYTES];
	size_t keys_used;
};

enum jsonline_err {
	JSONLINE_OK = 0,
	JSONLINE_E_NOT_OBJECT, /* the first non-blank byte is not '{' */
	JSONLINE_E_TRUNCATED,  /* the line ends inside the object */
	JSONLINE_E_SYNTAX,     /* anything else out of place, NUL bytes included */
	JSONLINE_E_ESCAPE,     /* a bad escape, a lone surrogate, \u0000 */
	JSONLINE_E_CONTROL,    /* a raw byte below 0x20 inside a string */
	JSONLINE_E_NUMBER,     /* not a JSON number: "01", "1.", "-", "+1", ".5" */
	JSONLINE_E_NESTED,     /* an object or an array as a value */
	JSONLINE_E_TOO_MANY,   /* more members, or more key bytes, than a struct jsonline holds */
	JSONLINE_E_DUPLICATE,  /* a key given twice */
	JSONLINE_E_TRAILING,   /* bytes other than whitespace after the closing brace */
};

/*
 * Parse line[0..len) into *out. Returns JSONLINE_OK, or the first problem
 * met reading left to right, with *at (may be NULL) its offset in line. On
 * error *out is unspecified.
 */
enum jsonline_err jsonline_parse(const char *line, size_t len, struct jsonline *out, size_t *at);

/* The value of key, or NULL when the object has no such member. */
const struct jsonline_value *jsonline_get(const struct jsonline *o, const char *key);

/*
 * A STRING value decoded into out[0..cap) with its NUL (\uXXXX as UTF-8).
 * Returns its length, or -1 when v is NULL, not a string, or needs more
 * than cap bytes (out is then "" when cap > 0).
 */
long jsonline_str(const struct jsonline_value *v, char *out, size_t cap);

/* Whether v is a string (not null, not missing). */
static inline bool jsonline_is_str(const struct jsonline_value *v)
{
	return v && v->type == JSONLINE_STRING;
}

const char *jsonline_strerror(enum jsonline_err e);

#endif
