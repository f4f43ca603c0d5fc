/* SPDX-License-Identifier: MIT */
/*
 * connect: first-byte classification, the CONNECT request-head parser, the
 * responses, and Basic proxy authentication.
 *
 * The head parser is one loop over the bytes with one state enum and one
 * switch, as nginx's sw_* parsers are: each byte is looked at once and only
 * after the bytes before it, so the first problem found is the answer and a
 * prefix of the input can never get a different one. Checks that need a
 * whole piece (the method token, the authority, the version, a header
 * field) run at the byte that ends that piece. picohttpparser's approach of
 * finding the line end first and then checking the line was rejected: it
 * would let a slow client hold a 405 or 400 until its line is complete.
 *
 * SHA-256 and base64 are written here, bounded, rather than taken from
 * OpenSSL: this module sits on the data path and links nothing.
 */
#include "sni/connect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sni/hostname.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define PORT_DIGITS   5
#define VERSION_LEN   8	 /* "HTTP/1.1" */
#define IPV6_TEXT_MAX 45 /* INET6_ADDRSTRLEN - 1 */
#define BODY_MAX      200

enum connect_first connect_classify(const uint8_t *p, size_t n)
{
	if (n == 0)
		return CONNECT_FIRST_NEED_MORE;
	/* RFC 8446 5.1: ContentType handshake(22), then legacy_record_version 3.x. */
	if (p[0] == 0x16) {
		if (n < 2)
			return CONNECT_FIRST_NEED_MORE;
		return p[1] == 0x03 ? CONNECT_FIRST_TLS : CONNECT_FIRST_OTHER;
	}
	/* Every method a client sends through a proxy is upper-case letters. */
	if (p[0] >= 'A' && p[0] <= 'Z')
		return CONNECT_FIRST_HTTP;
	return CONNECT_FIRST_OTHER;
}

/* ------------------------------------------------------------------------ */
/* Request head                                                             */

/* RFC 9110 5.6.2 tchar: "!#$%&'*+-.^_`|~", DIGIT, ALPHA. */
static bool is_tchar(uint8_t c)
{
	static const uint8_t map[256] = {
		['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
		['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1,  ['|'] = 1,
		['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,  ['5'] = 1,
		['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1,  ['C'] = 1,
		['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,  ['J'] = 1,
		['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,  ['Q'] = 1,
		['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1,  ['X'] = 1,
		['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,  ['e'] = 1,
		['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1,
		['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,  ['s'] = 1,
		['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,  ['z'] = 1,
	};
	return map[c];
}

/* RFC 9110 5.5 field-vchar and the whitespace a value may hold: not a CTL or DEL. */
static bool is_value_byte(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static bool token_eq(const uint8_t *p, size_t n, const char *lc)
{
	size_t i;

	if (strlen(lc) != n)
		return false;
	for (i = 0; i < n; i++)
		if (lower(p[i]) != (uint8_t)lc[i])
			return false;
	return true;
}

static enum connect_status fail(struct connect_req *out, enum connect_status st,
				enum connect_reason why)
{
	/* Nothing half-filled is left for a caller to trust. */
	memset(out, 0, sizeof(*out));
	out->reason = why;
	return st;
}

static enum connect_status bad(struct connect_req *out, enum connect_reason why)
{
	return fail(out, CONNECT_BAD_REQUEST, why);
}

static enum connect_status take_port(const uint8_t *p, size_t n, struct connect_req *out)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > PORT_DIGITS)
		return bad(out, CONNECT_R_PORT);
	for (i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return bad(out, CONNECT_R_PORT);
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return bad(out, CONNECT_R_PORT);
	out->port = (uint16_t)v;
	return CONNECT_OK;
}

/* Store the canonical text of an address already in out->addr. */
static void ip_text(int af, struct connect_req *out)
{
	/* Cannot fail: the address came from inet_pton and host has room for any. */
	if (!inet_ntop(af, out->addr, out->host, sizeof(out->host)))
		out->host[0] = '\0';
	out->host_len = (uint8_t)strlen(out->host);
}

static enum connect_status take_ipv6(const uint8_t *p, size_t n, struct connect_req *out)
{
	char text[IPV6_TEXT_MAX + 1];

	/* inet_pton refuses zones ('%') and IPvFuture ("v1.x"), as wanted. */
	if (n == 0 || n > IPV6_TEXT_MAX)
		return bad(out, CONNECT_R_HOST);
	memcpy(text, p, n);
	text[n] = '\0';
	if (memchr(text, '\0', n) || inet_pton(AF_INET6, text, out->addr) != 1)
		return bad(out, CONNECT_R_HOST);
	out->host_kind = CONNECT_HOST_IPV6;
	ip_text(AF_INET6, out);
	return CONNECT_OK;
}

/*
 * A DNS name or a dotted quad, into out->host. Names follow the host name
 * rule of sni/hostname.h, the one the ClientHello parser uses, so a name
 * valid on one path is valid on the other.
 */
static enum connect_status take_host(const uint8_t *p, size_t n, struct connect_req *out)
{
	struct hostname h;
	size_t last;

	if (hostname_fold((const char *)p, n, &h) != HOSTNAME_OK)
		return bad(out, CONNECT_R_HOST);
	memcpy(out->host, h.name, (size_t)h.len + 1);
	out->host_len = h.len;
	if (strspn(h.name, "0123456789.") == h.len) {
		/* glibc's inet_pton takes exactly four decimal parts, no leading zeros. */
		if (inet_pton(AF_INET, out->host, out->addr) != 1)
			return bad(out, CONNECT_R_HOST);
		out->host_kind = CONNECT_HOST_IPV4;
		ip_text(AF_INET, out);
		return CONNECT_OK;
	}
	/* RFC 3696 2: a top-level label is never all digits; "a.123" is not a name. */
	last = h.n_dots ? (size_t)h.dot[h.n_dots - 1] + 1 : 0;
	if (strspn(h.name + last, "0123456789") == h.len - last)
		return bad(out, CONNECT_R_HOST);
	out->host_kind = CONNECT_HOST_NAME;
	return CONNECT_OK;
}

/* RFC 9110 9.3.6 / RFC 9112 3.2.3 authority-form: uri-host ":" port, no userinfo. */
static enum connect_status take_authority(const uint8_t *t, size_t n, struct connect_req *out)
{
	const uint8_t *colon;
	enum connect_status st;

	if (t[0] == '[') {
		const uint8_t *close = memchr(t, ']', n);

		if (!close)
			return bad(out, CONNECT_R_HOST);
		if ((size_t)(close - t) + 1 == n || close[1] != ':')
			return bad(out, CONNECT_R_AUTHORITY); /* "[::1]" without a port */
		st = take_ipv6(t + 1, (size_t)(close - t) - 1, out);
		colon = close + 1;
	} else {
		colon = memchr(t, ':', n);
		if (!colon)
			return bad(out, CONNECT_R_AUTHORITY);
		st = take_host(t, (size_t)(colon - t), out);
	}
	if (st != CONNECT_OK)
		return st;
	return take_port(colon + 1, n - (size_t)(colon + 1 - t), out);
}

/* "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3): 1.0 and 1.1 served, other digits 505. */
static enum connect_status take_version(const uint8_t *v, size_t n, struct connect_req *out)
{
	if (n != VERSION_LEN || memcmp(v, "HTTP/", 5) || !is_digit(v[5]) || v[6] != '.' ||
	    !is_digit(v[7]))
		return bad(out, CONNECT_R_VERSION);
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return fail(out, CONNECT_BAD_VERSION, CONNECT_R_VERSION);
	out->http_minor = (uint8_t)(v[7] - '0');
	return CONNECT_OK;
}

/* A complete header field line: name[0..nl), value[0..vl) with OWS already trimmed. */
static enum connect_status take_field(const uint8_t *name, size_t nl, const uint8_t *value,
				      size_t vl, struct connect_req *out)
{
	size_t i;

	if (token_eq(name, nl, "proxy-authorization")) {
		if (out->auth)
			return bad(out, CONNECT_R_DUP_AUTH);
		out->auth = value;
		out->auth_len = vl;
	} else if (token_eq(name, nl, "transfer-encoding")) {
		return bad(out, CONNECT_R_CONTENT);
	} else if (token_eq(name, nl, "content-length")) {
		if (vl == 0)
			return bad(out, CONNECT_R_CONTENT);
		for (i = 0; i < vl; i++)
			if (value[i] != '0')
				return bad(out, CONNECT_R_CONTENT);
	}
	return CONNECT_OK;
}

enum parse_state {
	ST_METHOD,     /* method token, up to the first SP */
	ST_TARGET,     /* request target, up to the second SP */
	ST_VERSION,    /* HTTP version, up to the line end */
	ST_LINE_START, /* first byte of a header line, or of the empty line */
	ST_NAME,       /* field name, up to ':' */
	ST_VALUE,      /* field value, up to the line end */
	ST_CR,	       /* after a CR: only LF may follow */
};

/* Which line a CR ended, so the LF after it knows what to finish. */
enum line_kind {
	LINE_REQUEST,
	LINE_FIELD,
	LINE_EMPTY,
};

enum connect_status connect_parse(const uint8_t *buf, size_t len, const struct connect_limits *lim,
				  struct connect_req *out)
{
	size_t max_line = lim && lim->max_line ? lim->max_line : CONNECT_MAX_LINE_DEFAULT;
	unsigned max_headers =
		lim && lim->max_headers ? lim->max_headers : CONNECT_MAX_HEADERS_DEFAULT;
	size_t max_head = lim && lim->max_head ? lim->max_head : CONNECT_MAX_HEAD_DEFAULT;
	size_t end = len < max_head ? len : max_head;
	enum parse_state state = ST_METHOD;
	enum line_kind kind = LINE_REQUEST;
	size_t line_start = 0;	/* first byte of the current line */
	size_t mark = 0;	/* start of the current piece (target, version, name) */
	size_t name_len = 0;	/* ST_VALUE: length of the field name at line_start */
	size_t value_start = 0; /* ST_VALUE: first byte after the colon and its OWS */
	size_t value_end = 0;	/* ST_VALUE: one past the last byte that is not OWS */
	size_t i;
	enum connect_status st;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < end; i++) {
		uint8_t c = buf[i];

		/* A line's content is every byte before its CR or LF. */
		if (c != '\r' && c != '\n' && i - line_start + 1 > max_line)
			return fail(out, CONNECT_TOO_LARGE, CONNECT_R_LINE_TOO_LONG);

		switch (state) {
		case ST_METHOD:
			if (is_tchar(c))
				break;
			if (c != ' ' || i == 0)
				return bad(out, CONNECT_R_REQUEST_LINE);
			/* RFC 9110 9.1: the method token is case-sensitive. */
			if (i != 7 || memcmp(buf, "CONNECT", 7))
				return fail(out, CONNECT_BAD_METHOD, CONNECT_R_METHOD);
			state = ST_TARGET;
			mark = i + 1;
			break;
		case ST_TARGET:
			if (c == ' ') {
				if (i == mark)
					return bad(out, CONNECT_R_REQUEST_LINE); /* two spaces */
				st = take_authority(buf + mark, i - mark, out);
				if (st != CONNECT_OK)
					return st;
				state = ST_VERSION;
				mark = i + 1;
			} else if (c <= 0x20 || c >= 0x7f) {
				/* CR/LF here: no version (HTTP/0.9 shape); else a CTL. */
				return bad(out, c == '\r' || c == '\n' ? CONNECT_R_REQUEST_LINE
								       : CONNECT_R_AUTHORITY);
			}
			break;
		case ST_VERSION:
			if (c == '\r' || c == '\n') {
				st = take_version(buf + mark, i - mark, out);
				if (st != CONNECT_OK)
					return st;
				if (c == '\r') {
					state = ST_CR;
					kind = LINE_REQUEST;
				} else {
					state = ST_LINE_START;
					line_start = i + 1;
				}
			} else if (i - mark >= VERSION_LEN) {
				return bad(out, CONNECT_R_VERSION); /* "HTTP/1.1 x", "HTTP/1.10" */
			}
			break;
		case ST_LINE_START:
			if (c == '\r') {
				state = ST_CR;
				kind = LINE_EMPTY;
				break;
			}
			if (c == '\n') {
				out->head_len = i + 1;
				return CONNECT_OK;
			}
			/*
			 * RFC 9112 5.2: obs-fold is rejected with 400; so is
			 * whitespace before the first field (2.2).
			 */
			if (c == ' ' || c == '\t')
				return bad(out, CONNECT_R_OBS_FOLD);
			if (++out->n_headers > max_headers)
				return fail(out, CONNECT_TOO_LARGE, CONNECT_R_TOO_MANY_HEADERS);
			if (!is_tchar(c))
				return bad(out,
					   c < 0x20 || c == 0x7f ? CONNECT_R_CTL : CONNECT_R_FIELD);
			state = ST_NAME;
			break;
		case ST_NAME:
			if (is_tchar(c))
				break;
			/* RFC 9112 5.1: no whitespace between field name and colon. */
			if (c != ':')
				return bad(out, (c < 0x20 && c != '\t' && c != '\r' && c != '\n') ||
								c == 0x7f
							? CONNECT_R_CTL
							: CONNECT_R_FIELD);
			name_len = i - line_start;
			value_start = value_end = i + 1;
			state = ST_VALUE;
			break;
		case ST_VALUE:
			if (c == '\r' || c == '\n') {
				st = take_field(buf + line_start, name_len, buf + value_start,
						value_end - value_start, out);
				if (st != CONNECT_OK)
					return st;
				if (c == '\r') {
					state = ST_CR;
					kind = LINE_FIELD;
				} else {
					state = ST_LINE_START;
					line_start = i + 1;
				}
				break;
			}
			if (!is_value_byte(c))
				return bad(out, CONNECT_R_CTL);
			if (c == ' ' || c == '\t') {
				/* Leading OWS moves the start; trailing OWS is never kept. */
				if (value_start == i)
					value_start = value_end = i + 1;
			} else {
				value_end = i + 1;
			}
			break;
		case ST_CR:
			if (c != '\n')
				return bad(out, CONNECT_R_LINE_ENDING);
			if (kind == LINE_EMPTY) {
				out->head_len = i + 1;
				return CONNECT_OK;
			}
			state = ST_LINE_START;
			line_start = i + 1;
			break;
		}
	}
	/*
	 * Out of bytes. If that is because max_head bytes went by without the
	 * empty line, more bytes cannot help.
	 */
	if (end == max_head)
		return fail(out, CONNECT_TOO_LARGE, CONNECT_R_HEAD_TOO_LARGE);
	/* Nothing of a half-parsed head is reported. */
	memset(out, 0, sizeof(*out));
	return CONNECT_NEED_MORE;
}

int connect_status_code(enum connect_status st)
{
	switch (st) {
	case CONNECT_NEED_MORE:
		return 0;
	case CONNECT_OK:
		return 200;
	case CONNECT_BAD_REQUEST:
		return 400;
	case CONNECT_BAD_METHOD:
		return 405;
	case CONNECT_TOO_LARGE:
		return 431;
	case CONNECT_BAD_VERSION:
		return 505;
	}
	return 400;
}

const char *connect_reason_str(enum connect_reason r)
{
	static const char *const names[] = {
		[CONNECT_R_NONE] = "none",
		[CONNECT_R_METHOD] = "method",
		[CONNECT_R_REQUEST_LINE] = "request_line",
		[CONNECT_R_VERSION] = "version",
		[CONNECT_R_AUTHORITY] = "authority",
		[CONNECT_R_PORT] = "port",
		[CONNECT_R_HOST] = "host",
		[CONNECT_R_LINE_ENDING] = "line_ending",
		[CONNECT_R_CTL] = "control_byte",
		[CONNECT_R_OBS_FOLD] = "obs_fold",
		[CONNECT_R_FIELD] = "field",
		[CONNECT_R_CONTENT] = "content",
		[CONNECT_R_DUP_AUTH] = "duplicate_auth",
		[CONNECT_R_LINE_TOO_LONG] = "line_too_long",
		[CONNECT_R_TOO_MANY_HEADERS] = "too_many_headers",
		[CONNECT_R_HEAD_TOO_LARGE] = "head_too_large",
	};
	if ((unsigned)r >= ARRAY_SIZE(names) || !names[r])
		return "unknown";
	return names[r];
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                */

static const char *status_phrase(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 405:
		return "Method Not Allowed";
	case 407:
		return "Proxy Authentication Required";
	case 431:
		return "Request Header Fields Too Large";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return NULL;
	}
}

size_t connect_response(int status, const char *body, char *out, size_t cap)
{
	static const char established[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
	const char *phrase, *extra = "";
	char text[BODY_MAX + 2];
	size_t n = 0;
	int w;

	if (status == 200) {
		if (cap < sizeof(established) - 1)
			return 0;
		memcpy(out, established, sizeof(established) - 1);
		return sizeof(established) - 1;
	}
	phrase = status_phrase(status);
	if (!phrase)
		return 0;
	if (!body)
		body = phrase;
	/* One line of printable ASCII: the body reaches a terminal or a log. */
	for (; body[n] && n < BODY_MAX; n++)
		text[n] = (unsigned char)body[n] < 0x20 || (unsigned char)body[n] >= 0x7f ? '?'
											  : body[n];
	text[n++] = '\n';
	text[n] = '\0';
	if (status == 405)
		extra = "Allow: CONNECT\r\n";
	else if (status == 407)
		extra = "Proxy-Authenticate: Basic realm=\"snigate\"\r\n";
	w = snprintf(out, cap,
		     "HTTP/1.1 %d %s\r\n%sConnection: close\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\n\r\n%s",
		     status, phrase, extra, n, text);
	if (w < 0 || (size_t)w >= cap)
		return 0;
	return (size_t)w;
}

/* ------------------------------------------------------------------------ */
/* SHA-256, FIPS 180-4                                                      */

struct sha256 {
	uint32_t h[8];
	uint64_t total;	   /* bytes hashed so far */
	uint8_t block[64]; /* pending bytes of a partial block */
	size_t fill;	   /* bytes in block */
};

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n)
{
	return x >> n | x << (32 - n);
}

static void sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	unsigned i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++)
		w[i] = w[i - 16] + (ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ w[i - 15] >> 3) +
		       w[i - 7] + (ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ w[i - 2] >> 10);
	a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
	e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) +
		     sha256_k[i] + w[i];
		t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g, g = f, f = e, e = d + t1;
		d = c, c = b, b = a, a = t1 + t2;
	}
	s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
	s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_update(struct sha256 *s, const uint8_t *p, size_t n)
{
	s->total += n;
	while (n) {
		size_t take = 64 - s->fill < n ? 64 - s->fill : n;

		memcpy(s->block + s->fill, p, take);
		s->fill += take;
		p += take;
		n -= take;
		if (s->fill == 64) {
			sha256_block(s, s->block);
			s->fill = 0;
		}
	}
}

void proxy_auth_sha256(const void *p, size_t n, uint8_t out[32])
{
	struct sha256 s = {.h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f,
				 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}};
	uint64_t bits;
	uint8_t pad[72] = {0x80};
	size_t padn;
	unsigned i;

	sha256_update(&s, p, n);
	bits = s.total * 8;
	/* 0x80, zeros to 56 mod 64, then the 64-bit big-endian bit count. */
	padn = (s.fill < 56 ? 56 : 120) - s.fill;
	for (i = 0; i < 8; i++)
		pad[padn + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(&s, pad, padn + 8);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s.h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s.h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s.h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s.h[i];
	}
	/* The input was a credential; leave none of it in the block buffer. */
	memset(&s, 0, sizeof(s));
	__asm__ __volatile__("" : : "r"(&s) : "memory");
}

/* ------------------------------------------------------------------------ */
/* Proxy authentication                                                     */

static void wipe(void *p, size_t n)
{
	memset(p, 0, n);
	/* Keeps the compiler from dropping a store to memory about to go out of scope. */
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

static int auth_fail(struct proxy_auth_error *err, int rc, unsigned line, const char *msg)
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

/* One non-comment line, terminator removed. Returns NULL or why it is wrong. */
static const char *auth_line(char *s, struct proxy_auth_entry *e)
{
	static const char tag[] = "{SHA256}";
	char *colon = strchr(s, ':');
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
	const char *hex = colon + 1 + sizeof(tag) - 1;
	if (strlen(hex) != 64)
		return "the SHA-256 must be 64 hex digits";
	for (i = 0; i < 32; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return "the SHA-256 must be 64 hex digits";
		e->hash[i] = (uint8_t)(hi << 4 | lo);
	}
	e->user = strndup(s, (size_t)(colon - s));
	return e->user ? NULL : "out of memory";
}

int proxy_auth_load(const char *path, struct proxy_auth **out, struct proxy_auth_error *err)
{
	struct proxy_auth *a = NULL;
	char line[PROXY_AUTH_MAX_LINE + 2];
	unsigned lineno = 0;
	size_t cap = 0, i;
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
	a = calloc(1, sizeof(*a));
	if (!a) {
		rc = auth_fail(err, -ENOMEM, 0, "out of memory");
		goto out_close;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);
		struct proxy_auth_entry e = {0};
		const char *why;

		lineno++;
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f)) {
			rc = auth_fail(err, -EINVAL, lineno, "line too long");
			goto out_free;
		}
		if (n && line[n - 1] == '\r')
			line[--n] = '\0';
		if (n > PROXY_AUTH_MAX_LINE) {
			rc = auth_fail(err, -EINVAL, lineno, "line too long");
			goto out_free;
		}
		if (n == 0 || line[0] == '#')
			continue;
		why = auth_line(line, &e);
		wipe(line, sizeof(line));
		if (why) {
			rc = auth_fail(err, strcmp(why, "out of memory") ? -EINVAL : -ENOMEM,
				       lineno, why);
			free(e.user);
			goto out_free;
		}
		for (i = 0; i < a->n; i++) {
			if (!strcmp(a->v[i].user, e.user)) {
				free(e.user);
				rc = auth_fail(err, -EINVAL, lineno, "user listed twice");
				goto out_free;
			}
		}
		if (a->n == PROXY_AUTH_MAX_USERS) {
			free(e.user);
			rc = auth_fail(err, -EINVAL, lineno, "too many users (at most 4096)");
			goto out_free;
		}
		if (a->n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct proxy_auth_entry *v = realloc(a->v, ncap * sizeof(*v));

			if (!v) {
				free(e.user);
				rc = auth_fail(err, -ENOMEM, lineno, "out of memory");
				goto out_free;
			}
			a->v = v;
			cap = ncap;
		}
		a->v[a->n++] = e;
	}
	if (ferror(f)) {
		rc = auth_fail(err, -EIO, 0, "read error");
		goto out_free;
	}
	if (a->n == 0) {
		rc = auth_fail(err, -EINVAL, 0, "no credentials in the file");
		goto out_free;
	}
	fclose(f);
	*out = a;
	return 0;

out_free:
	proxy_auth_free(a);
out_close:
	wipe(line, sizeof(line));
	fclose(f);
	return rc;
}

void proxy_auth_free(struct proxy_auth *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->n; i++)
		free(a->v[i].user);
	if (a->v)
		wipe(a->v, a->n * sizeof(*a->v));
	free(a->v);
	free(a);
}

/* RFC 4648 4 alphabet value, or -1. */
static int b64val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict padded base64 of in[0..n) into out (room for cap bytes). Returns the
 * decoded length, or -1 for a bad length, byte or padding, or too much.
 */
static long b64_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	size_t i, o = 0;

	if (n == 0 || n % 4 || n / 4 * 3 > cap)
		return -1;
	for (i = 0; i < n; i += 4) {
		int v[4], k, pad = 0;
		uint32_t bits;

		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad) /* "a=b=" */
				return -1;
			v[k] = b64val(in[i + k]);
			if (v[k] < 0)
				return -1;
		}
		bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		       (uint32_t)v[3];
		out[o++] = (uint8_t)(bits >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(bits >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)bits;
	}
	return (long)o;
}

enum proxy_auth_result proxy_auth_check(const struct proxy_auth *a, const uint8_t *value,
					size_t len)
{
	uint8_t text[PROXY_AUTH_MAX_USER_PASS + 3];
	uint8_t hash[32];
	unsigned match = 0;
	size_t i, j;
	long n;

	if (!value)
		return PROXY_AUTH_MISSING;
	/* RFC 9110 11.1: the scheme is case-insensitive; 11.4: token68 after 1*SP. */
	if (len < 6 || !token_eq(value, 5, "basic") || value[5] != ' ')
		return PROXY_AUTH_SCHEME;
	for (i = 5; i < len && value[i] == ' '; i++)
		;
	n = b64_decode(value + i, len - i, text, sizeof(text));
	if (n < 0 || (size_t)n > PROXY_AUTH_MAX_USER_PASS || !memchr(text, ':', (size_t)n)) {
		wipe(text, sizeof(text));
		return PROXY_AUTH_MALFORMED;
	}
	proxy_auth_sha256(text, (size_t)n, hash);
	wipe(text, sizeof(text));
	/*
	 * Every entry, every byte, no early exit: the time depends on the
	 * number of entries only.
	 */
	for (i = 0; a && i < a->n; i++) {
		unsigned diff = 0;

		for (j = 0; j < 32; j++)
			diff |= (unsigned)(a->v[i].hash[j] ^ hash[j]);
		/* 1 when diff == 0, without a branch on it. */
		match |= ((diff | (0u - diff)) >> (sizeof(unsigned) * 8 - 1)) ^ 1u;
	}
	wipe(hash, sizeof(hash));
	return match ? PROXY_AUTH_OK : PROXY_AUTH_WRONG;
}

const char *proxy_auth_result_str(enum proxy_auth_result r)
{
	switch (r) {
	case PROXY_AUTH_OK:
		return "ok";
	case PROXY_AUTH_MISSING:
		return "missing";
	case PROXY_AUTH_SCHEME:
		return "scheme";
	case PROXY_AUTH_MALFORMED:
		return "malformed";
	case PROXY_AUTH_WRONG:
		return "wrong";
	}
	return "unknown";
}
