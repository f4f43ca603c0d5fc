/* SPDX-License-Identifier: MIT */
/*
 * connect: first-byte classification, the CONNECT request-head parser and
 * the responses.
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
 * The Proxy-Authorization value is only located here; checking it is
 * sni/proxyauth.c's job, and loading credentials is conf/'s.
 */
#include "sni/connect.h"

#include <arpa/inet.h>
#include <stdio.h>
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
