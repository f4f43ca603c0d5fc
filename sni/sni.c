/* SPDX-License-Identifier: MIT */
/*
 * sni: the record layer and the ClientHello parse, both re-run from byte 0.
 *
 * Two layers, kept apart so that record framing, which may split the
 * handshake anywhere, never reaches the message parse. The record walk
 * checks each TLS record header as soon as its bytes are there, so plain
 * HTTP or a bogus length is refused on the first peek, and gathers the
 * handshake message that may be spread over several records. The
 * ClientHello parse then runs on one contiguous body through a
 * bounds-checked cursor in which every nested vector must close exactly
 * where its length said (picotls-style, but with inline functions instead
 * of goto-carrying macros).
 *
 * Common case first: a hello that sits whole in the first record is parsed
 * in place; only a fragmented one is copied into the caller's scratch. Both
 * paths share every check, so they cannot disagree about what is valid.
 *
 * A record may not carry bytes past the end of the ClientHello. Nothing
 * legitimately follows it in the client's first flight before the server
 * answers, and refusing it keeps want bounded by the size of the largest
 * hello we accept, rather than by whatever a record header claims.
 */
#include "sni/sni.h"

#include <string.h>

#include "sni/hostname.h"

#define TLS_RECORD_HDR	    5
#define TLS_RECORD_MAX	    (16384 + 2048) /* RFC 8446 5.1 plus the RFC 5246 6.2.3 expansion */
#define TLS_CT_HANDSHAKE    22
#define TLS_HS_HDR	    4
#define TLS_HS_CLIENT_HELLO 1
#define TLS_EXT_SERVER_NAME 0x0000
#define TLS_EXT_ECH	    0xfe0d
#define SNI_HOST_NAME	    0

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A view of untrusted bytes. Every read checks end - p first, never p + n > end. */
struct rd {
	const uint8_t *p;
	const uint8_t *end;
};

static inline size_t rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static inline bool rd_done(const struct rd *r)
{
	return r->p == r->end;
}

static inline bool rd_u8(struct rd *r, uint8_t *v)
{
	if (rd_left(r) < 1)
		return false;
	*v = r->p[0];
	r->p += 1;
	return true;
}

static inline bool rd_u16(struct rd *r, uint16_t *v)
{
	if (rd_left(r) < 2)
		return false;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return true;
}

static inline bool rd_u24(struct rd *r, uint32_t *v)
{
	if (rd_left(r) < 3)
		return false;
	*v = (uint32_t)r->p[0] << 16 | (uint32_t)r->p[1] << 8 | r->p[2];
	r->p += 3;
	return true;
}

static inline bool rd_skip(struct rd *r, size_t n)
{
	if (rd_left(r) < n)
		return false;
	r->p += n;
	return true;
}

/*
 * Carve a vector with a lenbytes-wide length prefix out of r into sub and
 * move r past it. False when the length runs past r's end; the caller then
 * checks rd_done(sub) after decoding it, so a vector whose contents are
 * shorter than its length is refused as well.
 */
static inline bool rd_vec(struct rd *r, unsigned lenbytes, struct rd *sub)
{
	uint32_t n;
	uint16_t n16;
	uint8_t n8;

	switch (lenbytes) {
	case 1:
		if (!rd_u8(r, &n8))
			return false;
		n = n8;
		break;
	case 2:
		if (!rd_u16(r, &n16))
			return false;
		n = n16;
		break;
	default:
		if (!rd_u24(r, &n))
			return false;
		break;
	}
	if (rd_left(r) < n)
		return false;
	sub->p = r->p;
	sub->end = r->p + n;
	r->p += n;
	return true;
}

/*
 * Remembers extension types for the duplicate check. Real clients send
 * 10-25 extensions, so a short list does; a hostile hello can carry 16k
 * empty ones, and for those the 8 KiB bitmap, cleared only then, keeps the
 * check linear.
 */
struct ext_seen {
	unsigned n;	     /* types seen so far */
	uint16_t small[32];  /* the first ARRAY_SIZE(small) types */
	uint64_t bits[1024]; /* all 2^16 types; valid once n > ARRAY_SIZE(small) */
};

/* Returns false when type was seen before. */
static bool ext_seen_add(struct ext_seen *s, uint16_t type)
{
	unsigned i;

	if (s->n < ARRAY_SIZE(s->small)) {
		for (i = 0; i < s->n; i++)
			if (s->small[i] == type)
				return false;
		s->small[s->n++] = type;
		return true;
	}
	if (s->n == ARRAY_SIZE(s->small)) {
		memset(s->bits, 0, sizeof(s->bits));
		for (i = 0; i < ARRAY_SIZE(s->small); i++)
			s->bits[s->small[i] >> 6] |= UINT64_C(1) << (s->small[i] & 63);
	}
	if (s->bits[type >> 6] & UINT64_C(1) << (type & 63))
		return false;
	s->bits[type >> 6] |= UINT64_C(1) << (type & 63);
	s->n++;
	return true;
}

static enum sni_status reject(struct sni_hello *out, enum sni_reason why)
{
	out->reason = why;
	out->name_len = 0;
	out->name[0] = '\0';
	return SNI_REJECT;
}

static enum sni_status need_more(struct sni_hello *out, size_t want)
{
	out->want = want;
	return SNI_NEED_MORE;
}

/*
 * Check the HostName against the host name rule and store it, folded, in
 * out->name. The rule (sni/hostname.h) drops one trailing dot: RFC 6066 3
 * forbids it, but refusing what some clients send would buy nothing.
 */
static enum sni_status take_name(struct rd name, struct sni_hello *out)
{
	struct hostname h;

	switch (hostname_fold((const char *)name.p, rd_left(&name), &h)) {
	case HOSTNAME_OK:
		break;
	case HOSTNAME_E_EMPTY:
		return reject(out, SNI_R_NAME_EMPTY); /* RFC 6066 3: HostName<1..2^16-1> */
	case HOSTNAME_E_TOO_LONG:
	case HOSTNAME_E_LABEL_LONG:
		return reject(out, SNI_R_NAME_TOO_LONG);
	case HOSTNAME_E_EMPTY_LABEL:
	case HOSTNAME_E_BAD_BYTE:
	default:
		return reject(out, SNI_R_NAME_INVALID);
	}
	memcpy(out->name, h.name, (size_t)h.len + 1);
	out->name_len = h.len;
	return SNI_OK;
}

/* RFC 6066 3: the server_name extension_data. */
static enum sni_status parse_server_name(struct rd ext, struct sni_hello *out)
{
	struct rd list;
	struct rd host = {NULL, NULL};
	bool found = false;

	/* ServerName server_name_list<1..2^16-1> */
	if (!rd_vec(&ext, 2, &list) || !rd_done(&ext) || rd_done(&list))
		return reject(out, SNI_R_SNI_MALFORMED);
	while (!rd_done(&list)) {
		struct rd name;
		uint8_t type;

		if (!rd_u8(&list, &type) || !rd_vec(&list, 2, &name))
			return reject(out, SNI_R_SNI_MALFORMED);
		/*
		 * host_name is the only NameType ever defined; another type
		 * means a client we do not understand, not one to route.
		 */
		if (type != SNI_HOST_NAME)
			return reject(out, SNI_R_SNI_MALFORMED);
		/* "MUST NOT contain more than one name of the same name_type" */
		if (found)
			return reject(out, SNI_R_SNI_MALFORMED);
		found = true;
		host = name;
	}
	return take_name(host, out);
}

/* RFC 8446 4.1.2 (and RFC 5246 7.4.1.2) ClientHello body, without its handshake header. */
static enum sni_status parse_client_hello(const uint8_t *body, size_t len, struct sni_hello *out)
{
	struct rd r = {body, body + len};
	struct rd sid, suites, comp, exts;
	struct rd sni = {NULL, NULL};
	struct ext_seen seen;
	bool have_sni = false;
	uint16_t version;

	if (!rd_u16(&r, &version) || !rd_skip(&r, 32) || !rd_vec(&r, 1, &sid) ||
	    !rd_vec(&r, 2, &suites) || !rd_vec(&r, 1, &comp))
		return reject(out, SNI_R_MALFORMED);
	out->version = version;
	if ((version >> 8) != 3)
		return reject(out, SNI_R_MALFORMED);
	/* legacy_session_id<0..32>, cipher_suites<2..2^16-2>, compression_methods<1..2^8-1> */
	if (rd_left(&sid) > 32 || rd_left(&suites) < 2 || rd_left(&suites) % 2 || rd_done(&comp))
		return reject(out, SNI_R_MALFORMED);
	/* Before TLS 1.3 the extensions block is optional (RFC 5246 7.4.1.2). */
	if (rd_done(&r))
		return reject(out, SNI_R_NO_SNI);
	if (!rd_vec(&r, 2, &exts) || !rd_done(&r))
		return reject(out, SNI_R_MALFORMED);

	/*
	 * Walk all the framing before looking inside server_name, so a
	 * broken hello is "malformed" whatever order its extensions are in.
	 */
	seen.n = 0;
	while (!rd_done(&exts)) {
		struct rd ext;
		uint16_t type;

		if (!rd_u16(&exts, &type) || !rd_vec(&exts, 2, &ext))
			return reject(out, SNI_R_MALFORMED);
		/* RFC 8446 4.2: no more than one extension of the same type. */
		if (!ext_seen_add(&seen, type))
			return reject(out, SNI_R_DUP_EXTENSION);
		if (type == TLS_EXT_SERVER_NAME) {
			sni = ext;
			have_sni = true;
		} else if (type == TLS_EXT_ECH) {
			out->ech = true;
		}
	}
	if (!have_sni)
		return reject(out, SNI_R_NO_SNI);
	return parse_server_name(sni, out);
}

/*
 * Check a complete 4-byte handshake header and return the message length
 * (header included) in *msg_len.
 */
static enum sni_status hs_header(const uint8_t *h, size_t scratch_len, size_t *msg_len,
				 struct sni_hello *out)
{
	size_t body = (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];

	if (h[0] != TLS_HS_CLIENT_HELLO)
		return reject(out, SNI_R_NOT_CLIENT_HELLO);
	if (body > scratch_len)
		return reject(out, SNI_R_TOO_LARGE);
	*msg_len = TLS_HS_HDR + body;
	return SNI_OK;
}

enum sni_status sni_parse(const uint8_t *buf, size_t len, uint8_t *scratch, size_t scratch_len,
			  struct sni_hello *out)
{
	uint8_t hdr[TLS_HS_HDR];
	size_t msg_len = 0; /* handshake header + body; 0 until the header is in */
	size_t have = 0;    /* bytes of the handshake message gathered so far */
	size_t off = 0;	    /* start of the current record in buf */
	/* The handshake length field is 24 bits, so this cannot overflow. */
	size_t max_msg = TLS_HS_HDR + (scratch_len < 0xffffff ? scratch_len : 0xffffff);
	enum sni_status st;

	out->reason = SNI_R_NONE;
	out->want = 0;
	out->wire_len = 0;
	out->ech = false;
	out->version = 0;
	out->name_len = 0;
	out->name[0] = '\0';

	for (;;) {
		const uint8_t *rec = buf + off;
		size_t avail = len - off;
		const uint8_t *frag;
		size_t rlen, flen, i;

		/* Judge each header byte as it arrives: "GET " fails on the first peek. */
		if (avail >= 1 && rec[0] != TLS_CT_HANDSHAKE)
			return reject(out, off == 0 ? SNI_R_NOT_HANDSHAKE : SNI_R_NOT_CLIENT_HELLO);
		if (avail >= 2 && rec[1] != 3) /* any TLS 1.x or SSL 3.0 legacy_record_version */
			return reject(out, SNI_R_RECORD_VERSION);
		if (avail < TLS_RECORD_HDR)
			return need_more(out, off + TLS_RECORD_HDR);
		rlen = (size_t)rec[3] << 8 | rec[4];
		/* RFC 8446 5.1: no zero-length handshake fragments; 2^14 plus slack. */
		if (rlen == 0 || rlen > TLS_RECORD_MAX)
			return reject(out, SNI_R_RECORD_LENGTH);
		if (msg_len && rlen > msg_len - have)
			return reject(out, SNI_R_MALFORMED);
		/*
		 * Header not yet seen: a record longer than the largest hello
		 * we take can only be a too-large hello or carry trailing junk.
		 * Refusing here keeps want within what the caller can peek.
		 */
		if (!msg_len && rlen > max_msg - have)
			return reject(out, SNI_R_TOO_LARGE);

		frag = rec + TLS_RECORD_HDR;
		flen = avail - TLS_RECORD_HDR < rlen ? avail - TLS_RECORD_HDR : rlen;

		/* Fast path: the whole message in this (first) record, no copy. */
		if (have == 0 && flen >= TLS_HS_HDR) {
			st = hs_header(frag, scratch_len, &msg_len, out);
			if (st != SNI_OK)
				return st;
			if (rlen > msg_len)
				return reject(out, SNI_R_MALFORMED);
			if (flen == msg_len) {
				out->wire_len = off + TLS_RECORD_HDR + rlen;
				return parse_client_hello(frag + TLS_HS_HDR, msg_len - TLS_HS_HDR,
							  out);
			}
		}

		i = 0;
		while (i < flen && have < TLS_HS_HDR)
			hdr[have++] = frag[i++];
		/* The type byte alone tells a ServerHello or Finished from a hello. */
		if (have && hdr[0] != TLS_HS_CLIENT_HELLO)
			return reject(out, SNI_R_NOT_CLIENT_HELLO);
		if (have == TLS_HS_HDR && !msg_len) {
			st = hs_header(hdr, scratch_len, &msg_len, out);
			if (st != SNI_OK)
				return st;
			if (rlen - i > msg_len - have)
				return reject(out, SNI_R_MALFORMED);
		}
		if (flen > i) {
			memcpy(scratch + (have - TLS_HS_HDR), frag + i, flen - i);
			have += flen - i;
		}
		if (flen < rlen)
			return need_more(out, off + TLS_RECORD_HDR + rlen);
		off += TLS_RECORD_HDR + rlen;
		if (msg_len && have == msg_len) {
			out->wire_len = off;
			return parse_client_hello(scratch, msg_len - TLS_HS_HDR, out);
		}
	}
}

const char *sni_reason_str(enum sni_reason r)
{
	switch (r) {
	case SNI_R_NONE:
		return "none";
	case SNI_R_NOT_HANDSHAKE:
		return "not_handshake";
	case SNI_R_RECORD_VERSION:
		return "record_version";
	case SNI_R_RECORD_LENGTH:
		return "record_length";
	case SNI_R_NOT_CLIENT_HELLO:
		return "not_client_hello";
	case SNI_R_TOO_LARGE:
		return "too_large";
	case SNI_R_MALFORMED:
		return "malformed";
	case SNI_R_DUP_EXTENSION:
		return "dup_extension";
	case SNI_R_NO_SNI:
		return "no_sni";
	case SNI_R_SNI_MALFORMED:
		return "sni_malformed";
	case SNI_R_NAME_EMPTY:
		return "name_empty";
	case SNI_R_NAME_TOO_LONG:
		return "name_too_long";
	case SNI_R_NAME_INVALID:
		return "name_invalid";
	case SNI_R__COUNT:
		break;
	}
	return "unknown";
}
