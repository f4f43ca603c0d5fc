/* SPDX-License-Identifier: MIT */
/*
 * connect: the untrusted-bytes half of HTTP CONNECT (RFC 9110 9.3.6).
 *
 * Pure functions over a buffer the caller peeked, in the style of sni.h:
 * nothing allocates on the data path, nothing reads outside [buf, buf + len),
 * every refusal carries a reason for logs and counters, and a parse is simply
 * re-run from byte 0 on the longer buffer (MSG_PEEK hands back the stream from
 * the start, so resumable state would buy nothing).
 *
 * The parser scans the head once, front to back, and stops at the first
 * problem, so a refusal depends only on the bytes before the point where it
 * was found: every prefix of an input either needs more or gets the same
 * answer, and a client that trickles bytes is refused as early as one that
 * sends them at once. The connection state machine (core/conn.c) owns the
 * socket, the deadline (timeouts.request_head) and the policy decisions
 * (allowlist, ports, IP literals, SNI match); this module only tells it what
 * the client asked for.
 *
 * Behaviour, decided here once:
 *  - Line endings: CRLF, or a bare LF (RFC 9112 2.2 lets a recipient accept
 *    it; hand-typed nc/telnet requests use it). The head is a tunnel
 *    preamble that nothing downstream re-parses, so accepting LF cannot
 *    split a request differently from another hop. A CR not followed by LF
 *    is malformed.
 *  - Request line: exactly "METHOD SP authority SP HTTP/d.d", single spaces.
 *    A method other than CONNECT (methods are case-sensitive) is answered
 *    405 as soon as its token is complete, without waiting for the rest.
 *  - Version: HTTP/1.1 and HTTP/1.0 are served. A well-formed "HTTP/d.d"
 *    naming another version (HTTP/2.0, HTTP/0.9) is 505; anything else in
 *    that place ("HTTP/2", "http/1.1", trailing bytes) is 400.
 *  - Authority (RFC 9110 9.3.6 authority-form): host ":" port, port digits
 *    only, 1..65535, at most 5 digits. The host is a DNS name, an IPv4
 *    dotted quad or a bracketed IPv6 address (no zone, no IPvFuture); no
 *    userinfo. Names follow the host name rule of sni/hostname.h, the
 *    ClientHello parser's too ([A-Za-z0-9-_] labels of at most 63 bytes,
 *    253 in all, one trailing dot removed, upper case folded), so a name
 *    valid on one path is valid on the other and require_sni_match compares
 *    like with like. A name made only of digits
 *    and dots that is not a dotted quad ("127.1"), or whose last label is
 *    all digits, is refused: resolvers differ on whether such text is an
 *    address, and the gate must know which it is.
 *  - Header fields: name is an RFC 9110 token followed directly by ':'.
 *    Obs-fold (a line starting with SP/HTAB), whitespace before the colon,
 *    a line without a colon, and CTL bytes (NUL, DEL, ...; HTAB allowed in
 *    values) are 400. Host is not required and not compared: the request
 *    target alone names the tunnel. A CONNECT carries no content (RFC 9110
 *    9.3.6), so Transfer-Encoding, or a Content-Length other than 0, is 400:
 *    otherwise body bytes would silently become tunnel bytes. A second
 *    Proxy-Authorization is 400 rather than a guess at which one counts.
 *  - Limits (connect_limits): a line longer than max_line (terminator not
 *    counted), more than max_headers fields, or a head whose end is not
 *    within max_head bytes are all 431, including an over-long request
 *    line (one status for "too big", so clients see one behaviour).
 */
#ifndef SNIGATE_SNI_CONNECT_H
#define SNIGATE_SNI_CONNECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sni/hostname.h"
/*
 * connect_req.auth is checked with proxy_auth_check(); that header comes
 * along so that a caller of the parser has the whole CONNECT contract.
 */
#include "sni/proxyauth.h"

#define CONNECT_HOST_MAX HOSTNAME_MAX /* a DNS name; IPv6 text (45) and IPv4 (15) fit too */

/* Defaults for struct connect_limits. */
#define CONNECT_MAX_LINE_DEFAULT    8192
#define CONNECT_MAX_HEADERS_DEFAULT 64
#define CONNECT_MAX_HEAD_DEFAULT    16384

/* ---- first byte ---- */

enum connect_first {
	CONNECT_FIRST_NEED_MORE = 0, /* no byte yet, or 0x16 without its second byte */
	CONNECT_FIRST_TLS,	     /* 0x16 0x03: a TLS handshake record; go to sni_parse() */
	CONNECT_FIRST_HTTP,	     /* 'A'..'Z': a request method starts; go to connect_parse() */
	CONNECT_FIRST_OTHER,	     /* anything else: reset and count */
};

/*
 * Which parser the first bytes of a connection belong to. Looks at p[0] and,
 * for 0x16, p[1]; never more, never past n. One upper-case letter is enough
 * for HTTP: connect_parse() answers 400/405 for whatever follows.
 */
enum connect_first connect_classify(const uint8_t *p, size_t n);

/* ---- request head ---- */

enum connect_status {
	CONNECT_NEED_MORE = 0, /* a valid prefix: peek again with more bytes */
	CONNECT_OK,	       /* a complete CONNECT head; out is filled */
	CONNECT_BAD_REQUEST,   /* 400 */
	CONNECT_BAD_METHOD,    /* 405: a method other than CONNECT */
	CONNECT_TOO_LARGE,     /* 431: a limit in connect_limits was exceeded */
	CONNECT_BAD_VERSION,   /* 505: well-formed HTTP version other than 1.0/1.1 */
};

enum connect_reason {
	CONNECT_R_NONE = 0,
	CONNECT_R_METHOD,	    /* method token complete and not CONNECT (405) */
	CONNECT_R_REQUEST_LINE,	    /* bad method token, spacing, or a missing part */
	CONNECT_R_VERSION,	    /* not HTTP/d.d (400) or not 1.0/1.1 (505) */
	CONNECT_R_AUTHORITY,	    /* target is not host:port (userinfo, no port, ...) */
	CONNECT_R_PORT,		    /* port not 1..65535 digits */
	CONNECT_R_HOST,		    /* host not a valid name, IPv4 or [IPv6] */
	CONNECT_R_LINE_ENDING,	    /* a CR not followed by LF */
	CONNECT_R_CTL,		    /* NUL or another control byte */
	CONNECT_R_OBS_FOLD,	    /* a header line starts with SP or HTAB */
	CONNECT_R_FIELD,	    /* header line without ':', or space before it */
	CONNECT_R_CONTENT,	    /* Transfer-Encoding, or Content-Length not 0 */
	CONNECT_R_DUP_AUTH,	    /* Proxy-Authorization twice */
	CONNECT_R_LINE_TOO_LONG,    /* a line over max_line (431) */
	CONNECT_R_TOO_MANY_HEADERS, /* more than max_headers fields (431) */
	CONNECT_R_HEAD_TOO_LARGE,   /* no end of head within max_head bytes (431) */
	CONNECT_R__COUNT
};

/* What a host names; the gate denies literals unless explicitly allowed. */
enum connect_host_kind {
	CONNECT_HOST_NAME = 0, /* a DNS name: look it up in the allowlist */
	CONNECT_HOST_IPV4,     /* dotted quad */
	CONNECT_HOST_IPV6,     /* written in brackets; host holds it without them */
};

struct connect_limits {
	size_t max_line;      /* bytes per line, terminator not counted; 0 = default */
	unsigned max_headers; /* header fields; 0 = default */
	size_t max_head;      /* bytes up to and including the empty line; 0 = default */
};

struct connect_req {
	enum connect_reason reason;	  /* set for every error status */
	size_t head_len;		  /* CONNECT_OK: bytes to consume, through the empty line */
	uint8_t http_minor;		  /* CONNECT_OK: 0 or 1, for HTTP/1.0 or HTTP/1.1 */
	enum connect_host_kind host_kind; /* CONNECT_OK */
	uint16_t port;			  /* CONNECT_OK: 1..65535 */
	uint8_t host_len;		  /* CONNECT_OK: strlen(host) */
	char host[CONNECT_HOST_MAX + 1];  /* CONNECT_OK: lower-case name, or canonical IP text */
	uint8_t addr[16];		  /* CONNECT_OK, IP literal: 4 or 16 bytes, network order */
	unsigned n_headers;		  /* CONNECT_OK: header fields seen */
	/*
	 * CONNECT_OK: the Proxy-Authorization value, OWS trimmed, pointing into
	 * buf (valid while buf is); NULL when the header is absent, non-NULL
	 * with auth_len 0 when it is empty. A credential: never log it.
	 */
	const uint8_t *auth;
	size_t auth_len;
};

/*
 * Parse the request head at the start of buf[0..len). lim NULL means the
 * defaults. Returns CONNECT_NEED_MORE while buf is a valid prefix shorter
 * than lim->max_head (the caller's peek buffer must hold max_head bytes),
 * CONNECT_OK with out filled, or an error status with out->reason. Bytes
 * after head_len are not looked at: they are the client's first tunnel
 * bytes and stay in the socket. Every field of out is written on every
 * call; out never points anywhere but into buf.
 */
enum connect_status connect_parse(const uint8_t *buf, size_t len, const struct connect_limits *lim,
				  struct connect_req *out);

/* The HTTP status for a status other than NEED_MORE (200 for OK). */
int connect_status_code(enum connect_status st);

/* A short stable token for a reason ("method", "host", ...), for logs and metrics. */
const char *connect_reason_str(enum connect_reason r);

/* ---- response ---- */

/*
 * Write the response for status into out[0..cap) and return its length, or
 * 0 when cap is too small or status is not one snigate sends (200, 400, 403,
 * 405, 407, 431, 502, 503, 504, 505). 200 is "HTTP/1.1 200 Connection
 * Established" and an empty line. Any other status carries Connection:
 * close, Content-Type: text/plain, Content-Length and a one-line body:
 * body, or the reason phrase when body is NULL; control and non-ASCII bytes
 * of body become '?' and it is cut at 200 bytes, so the caller may pass an
 * operator-facing reason but must not pass internals. 405 adds Allow:
 * CONNECT, 407 adds Proxy-Authenticate: Basic realm="snigate". 512 bytes
 * always suffice. Not NUL-terminated.
 */
size_t connect_response(int status, const char *body, char *out, size_t cap);

#endif
