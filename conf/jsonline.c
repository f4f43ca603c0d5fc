/* SPDX-License-Identifier: MIT */
/*
 * jsonline: one flat JSON object, checked in one left-to-right pass with an
 * index that is compared with len before every byte it reads. Strings are
 * validated while scanning and decoded only on demand, from the span that
 * passed, so the decoder never meets an escape it has to doubt.
 */
#include "conf/jsonline.h"

#include <stdint.h>
#include <string.h>

struct cur {
	const char *s;
	size_t len, i;
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct cur *c)
{
	while (c->i < c->len && is_ws(c->s[c->i]))
		c->i++;
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

/* Four hex digits at s[i..i+4) into *u; TRUNCATED when the line ends first. */
static enum jsonline_err hex4(const struct cur *c, size_t i, unsigned *u)
{
	*u = 0;
	for (size_t k = 0; k < 4; k++) {
		if (i + k >= c->len)
			return JSONLINE_E_TRUNCATED;
		int h = hexval(c->s[i + k]);
		if (h < 0)
			return JSONLINE_E_ESCAPE;
		*u = *u << 4 | (unsigned)h;
	}
	return JSONLINE_OK;
}

/*
 * The string whose opening quote is at c->i: checked to its closing quote,
 * which c->i is left just after. *p and *n get the bytes between the quotes.
 */
static enum jsonline_err scan_string(struct cur *c, const char **p, size_t *n)
{
	size_t start = ++c->i;
	enum jsonline_err e;
	unsigned u, lo;

	for (;;) {
		if (c->i >= c->len)
			return JSONLINE_E_TRUNCATED;
		unsigned char ch = (unsigned char)c->s[c->i];
		if (ch == '"')
			break;
		if (ch < 0x20)
			return JSONLINE_E_CONTROL;
		if (ch != '\\') {
			c->i++;
			continue;
		}
		if (c->i + 1 >= c->len)
			return JSONLINE_E_TRUNCATED;
		switch (c->s[c->i + 1]) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			c->i += 2;
			continue;
		case 'u':
			break;
		default:
			return JSONLINE_E_ESCAPE;
		}
		if ((e = hex4(c, c->i + 2, &u)))
			return e;
		c->i += 6;
		/* NUL would end the decoded C string early: a name that is not what was logged. */
		if (u == 0 || (u >= 0xdc00 && u <= 0xdfff))
			return JSONLINE_E_ESCAPE;
		if (u < 0xd800 || u > 0xdbff)
			continue;
		/* A high surrogate: its low half must follow as the next escape. */
		if (c->i + 1 >= c->len)
			return JSONLINE_E_TRUNCATED;
		if (c->s[c->i] != '\\' || c->s[c->i + 1] != 'u')
			return JSONLINE_E_ESCAPE;
		if ((e = hex4(c, c->i + 2, &lo)))
			return e;
		if (lo < 0xdc00 || lo > 0xdfff)
			return JSONLINE_E_ESCAPE;
		c->i += 6;
	}
	*p = c->s + start;
	*n = c->i - start;
	c->i++;
	return JSONLINE_OK;
}

/* Code point u as UTF-8 into out[o..cap); the new o, or cap + 1 when it does not fit. */
static size_t put_utf8(char *out, size_t o, size_t cap, uint32_t u)
{
	uint8_t b[4];
	size_t n;

	if (u < 0x80) {
		b[0] = (uint8_t)u;
		n = 1;
	} else if (u < 0x800) {
		b[0] = (uint8_t)(0xc0 | u >> 6);
		b[1] = (uint8_t)(0x80 | (u & 0x3f));
		n = 2;
	} else if (u < 0x10000) {
		b[0] = (uint8_t)(0xe0 | u >> 12);
		b[1] = (uint8_t)(0x80 | (u >> 6 & 0x3f));
		b[2] = (uint8_t)(0x80 | (u & 0x3f));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | u >> 18);
		b[1] = (uint8_t)(0x80 | (u >> 12 & 0x3f));
		b[2] = (uint8_t)(0x80 | (u >> 6 & 0x3f));
		b[3] = (uint8_t)(0x80 | (u & 0x3f));
		n = 4;
	}
	if (n > cap - o)
		return cap + 1;
	memcpy(out + o, b, n);
	return o + n;
}

static unsigned hex4_of(const char *p)
{
	unsigned u = 0;

	for (int k = 0; k < 4; k++)
		u = u << 4 | (unsigned)hexval(p[k]);
	return u;
}

/*
 * Decode raw[0..n), a span scan_string() accepted, into out[0..cap) with
 * its NUL. The length, or -1 when it does not fit.
 */
static long decode(const char *raw, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	if (!cap)
		return -1;
	cap--; /* room for the NUL */
	for (size_t i = 0; i < n;) {
		char ch = raw[i];
		if (ch != '\\') {
			if (o == cap)
				goto full;
			out[o++] = ch;
			i++;
			continue;
		}
		char e = raw[i + 1];
		if (e != 'u') {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			if (o == cap)
				goto full;
			out[o++] = to[strchr(from, e) - from];
			i += 2;
			continue;
		}
		uint32_t u = hex4_of(raw + i + 2);
		i += 6;
		if (u >= 0xd800 && u <= 0xdbff) {
			u = 0x10000 + ((u - 0xd800) << 10) + (hex4_of(raw + i + 2) - 0xdc00);
			i += 6;
		}
		if ((o = put_utf8(out, o, cap, u)) > cap)
			goto full;
	}
	out[o] = '\0';
	return (long)o;
full:
	out[0] = '\0';
	return -1;
}

/* A JSON number at c->i: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static enum jsonline_err scan_number(struct cur *c)
{
#define AT(k)	 (c->i < c->len && (k))
#define DIGIT(x) ((x) >= '0' && (x) <= '9')
	if (AT(c->s[c->i] == '-'))
		c->i++;
	if (c->i >= c->len)
		return JSONLINE_E_TRUNCATED;
	if (c->s[c->i] == '0')
		c->i++;
	else if (DIGIT(c->s[c->i]))
		while (AT(DIGIT(c->s[c->i])))
			c->i++;
	else
		return JSONLINE_E_NUMBER;
	if (AT(c->s[c->i] == '.')) {
		c->i++;
		if (c->i >= c->len)
			return JSONLINE_E_TRUNCATED;
		if (!DIGIT(c->s[c->i]))
			return JSONLINE_E_NUMBER;
		while (AT(DIGIT(c->s[c->i])))
			c->i++;
	}
	if (AT(c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
		c->i++;
		if (AT(c->s[c->i] == '+' || c->s[c->i] == '-'))
			c->i++;
		if (c->i >= c->len)
			return JSONLINE_E_TRUNCATED;
		if (!DIGIT(c->s[c->i]))
			return JSONLINE_E_NUMBER;
		while (AT(DIGIT(c->s[c->i])))
			c->i++;
	}
	/* "01": JSON has no leading zeros; the caller would call the 1 a syntax error. */
	if (AT(DIGIT(c->s[c->i])))
		return JSONLINE_E_NUMBER;
	return JSONLINE_OK;
#undef AT
#undef DIGIT
}

static enum jsonline_err scan_literal(struct cur *c, const char *word)
{
	size_t n = strlen(word);

	for (size_t k = 0; k < n; k++) {
		if (c->i + k >= c->len)
			return JSONLINE_E_TRUNCATED;
		if (c->s[c->i + k] != word[k])
			return JSONLINE_E_SYNTAX;
	}
	c->i += n;
	return JSONLINE_OK;
}

static enum jsonline_err scan_value(struct cur *c, struct jsonline_value *v)
{
	size_t start = c->i;
	enum jsonline_err e;

	if (c->i >= c->len)
		return JSONLINE_E_TRUNCATED;
	switch (c->s[c->i]) {
	case '"':
		v->type = JSONLINE_STRING;
		return scan_string(c, &v->p, &v->n);
	case '{':
	case '[':
		return JSONLINE_E_NESTED;
	case 't':
		v->type = JSONLINE_TRUE;
		e = scan_literal(c, "true");
		break;
	case 'f':
		v->type = JSONLINE_FALSE;
		e = scan_literal(c, "false");
		break;
	case 'n':
		v->type = JSONLINE_NULL;
		e = scan_literal(c, "null");
		break;
	default:
		v->type = JSONLINE_NUMBER;
		e = scan_number(c);
		break;
	}
	v->p = c->s + start;
	v->n = c->i - start;
	return e;
}

static enum jsonline_err parse(struct cur *c, struct jsonline *o)
{
	enum jsonline_err e;

	o->n = 0;
	o->keys_used = 0;
	skip_ws(c);
	if (c->i >= c->len || c->s[c->i] != '{')
		return JSONLINE_E_NOT_OBJECT;
	c->i++;
	skip_ws(c);
	if (c->i >= c->len)
		return JSONLINE_E_TRUNCATED;
	if (c->s[c->i] == '}') {
		c->i++;
		goto end;
	}
	for (;;) {
		const char *kp;
		size_t kn;

		if (c->i >= c->len)
			return JSONLINE_E_TRUNCATED;
		if (c->s[c->i] != '"')
			return JSONLINE_E_SYNTAX;
		size_t key_at = c->i;
		if ((e = scan_string(c, &kp, &kn)))
			return e;
		if (o->n == JSONLINE_MAX_MEMBERS) {
			c->i = key_at;
			return JSONLINE_E_TOO_MANY;
		}
		char *key = o->keys + o->keys_used;
		long kl = decode(kp, kn, key, sizeof(o->keys) - o->keys_used);
		if (kl < 0) {
			c->i = key_at;
			return JSONLINE_E_TOO_MANY;
		}
		for (unsigned k = 0; k < o->n; k++) {
			if (!strcmp(o->m[k].key, key)) {
				c->i = key_at;
				return JSONLINE_E_DUPLICATE;
			}
		}
		o->keys_used += (size_t)kl + 1;
		skip_ws(c);
		if (c->i >= c->len)
			return JSONLINE_E_TRUNCATED;
		if (c->s[c->i] != ':')
			return JSONLINE_E_SYNTAX;
		c->i++;
		skip_ws(c);
		struct jsonline_member *m = &o->m[o->n];
		m->key = key;
		if ((e = scan_value(c, &m->v)))
			return e;
		o->n++;
		skip_ws(c);
		if (c->i >= c->len)
			return JSONLINE_E_TRUNCATED;
		if (c->s[c->i] == '}') {
			c->i++;
			break;
		}
		if (c->s[c->i] != ',')
			return JSONLINE_E_SYNTAX;
		c->i++;
		skip_ws(c);
	}
end:
	skip_ws(c);
	return c->i < c->len ? JSONLINE_E_TRAILING : JSONLINE_OK;
}

enum jsonline_err jsonline_parse(const char *line, size_t len, struct jsonline *out, size_t *at)
{
	struct cur c = {.s = line, .len = line ? len : 0};
	enum jsonline_err e = parse(&c, out);

	if (at)
		*at = c.i;
	return e;
}

const struct jsonline_value *jsonline_get(const struct jsonline *o, const char *key)
{
	for (unsigned k = 0; k < o->n; k++)
		if (!strcmp(o->m[k].key, key))
			return &o->m[k].v;
	return NULL;
}

long jsonline_str(const struct jsonline_value *v, char *out, size_t cap)
{
	if (cap)
		out[0] = '\0';
	if (!v || v->type != JSONLINE_STRING)
		return -1;
	return decode(v->p, v->n, out, cap);
}

const char *jsonline_strerror(enum jsonline_err e)
{
	switch (e) {
	case JSONLINE_OK:
		return "ok";
	case JSONLINE_E_NOT_OBJECT:
		return "not a JSON object";
	case JSONLINE_E_TRUNCATED:
		return "the line ends inside the object";
	case JSONLINE_E_SYNTAX:
		return "syntax error";
	case JSONLINE_E_ESCAPE:
		return "bad escape in a string";
	case JSONLINE_E_CONTROL:
		return "control byte in a string";
	case JSONLINE_E_NUMBER:
		return "bad number";
	case JSONLINE_E_NESTED:
		return "an object or array as a value";
	case JSONLINE_E_TOO_MANY:
		return "too many members or key bytes";
	case JSONLINE_E_DUPLICATE:
		return "a key given twice";
	case JSONLINE_E_TRAILING:
		return "bytes after the object";
	}
	return "?";
}
