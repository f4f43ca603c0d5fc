/* SPDX-License-Identifier: MIT */
/*
 * hello: build the ClientHello a 2024-era browser or curl would send.
 *
 * The extension set resembles what Chrome and OpenSSL 3 put on the wire;
 * values that would be random (client random, session id, key shares,
 * the ECH payload) come from a fixed-seed generator, so equal options give
 * equal bytes and tests can compare them.
 *
 * The size is met exactly. The message is laid out once with a writer that
 * only counts, to learn its natural length; the gap to the wanted size is
 * filled by the padding extension (RFC 7685). A gap of 1..3 bytes is smaller
 * than an empty padding extension, so the session id, 32 bytes by default as
 * in TLS 1.3 "middlebox compatibility mode", is shortened to make up for it.
 *
 * Records are cut by moving the finished message apart in place: it is
 * written at out + 5 * records, and fragment k only ever moves towards the
 * front, past bytes that have already been moved.
 */
#include "bench/hello.h"

#include <string.h>

#define RECORD_HDR	     5
#define RECORD_MAX	     16384
#define HS_HDR		     4
#define SESSION_ID_LEN	     32
#define PQ_SHARE_LEN	     1216 /* ML-KEM-768 encapsulation key (1184) + X25519 (32) */
#define ECH_ENC_LEN	     32
#define ECH_PAYLOAD_LEN	     208 /* 6 * 32 + 16-byte AEAD tag, a typical GREASE ECH size */
#define GROUP_X25519MLKEM768 0x11ec
#define GROUP_X25519	     0x001d

/* A writer that refuses to pass end; with p == NULL it only counts. */
struct wr {
	uint8_t *p;   /* next byte, or NULL when counting */
	uint8_t *end; /* when writing: one past the last writable byte */
	size_t n;     /* bytes written or counted */
	bool err;     /* ran out of room or a length did not fit its prefix */
	uint64_t rng; /* splitmix64 state for "random" bytes */
};

static void put(struct wr *w, const void *src, size_t n)
{
	if (w->err)
		return;
	if (w->p) {
		if ((size_t)(w->end - w->p) < n) {
			w->err = true;
			return;
		}
		if (src)
			memcpy(w->p, src, n);
		else
			memset(w->p, 0, n);
		w->p += n;
	}
	w->n += n;
}

static void put8(struct wr *w, unsigned v)
{
	uint8_t b = (uint8_t)v;

	put(w, &b, 1);
}

static void put16(struct wr *w, unsigned v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(w, b, 2);
}

static uint64_t rng_next(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void put_random(struct wr *w, size_t n)
{
	while (n--)
		put8(w, (unsigned)rng_next(&w->rng));
}

/*
 * Open a vector with a lenbytes-wide length prefix: returns the offset at
 * which vec_close() fills in the length once the contents are written.
 */
static size_t vec_open(struct wr *w, unsigned lenbytes)
{
	size_t at = w->n;

	put(w, NULL, lenbytes);
	return at;
}

static void vec_close(struct wr *w, size_t at, unsigned lenbytes)
{
	size_t len = w->n - at - lenbytes;
	uint8_t *q;

	if (len >> (8 * lenbytes)) {
		w->err = true;
		return;
	}
	if (w->err || !w->p)
		return;
	q = w->p - (w->n - at);
	for (unsigned i = 0; i < lenbytes; i++)
		q[i] = (uint8_t)(len >> (8 * (lenbytes - 1 - i)));
}

/* RFC 8701: 0x0a0a, 0x1a1a, ..., 0xfafa. */
static unsigned grease(unsigned i)
{
	return (i & 15) << 12 | 0x0a00 | (i & 15) << 4 | 0x0a;
}

static void ext_begin(struct wr *w, unsigned type, size_t *at)
{
	put16(w, type);
	*at = vec_open(w, 2);
}

/*
 * The handshake message: header and ClientHello body. pad < 0: no padding
 * extension; otherwise one with pad zero bytes, last.
 */
static void client_hello(struct wr *w, const struct hello_opts *o, size_t sid_len, long pad)
{
	static const unsigned suites[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
					  0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
					  0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
	static const unsigned sigalgs[] = {0x0403, 0x0804, 0x0401, 0x0503,
					   0x0805, 0x0501, 0x0806, 0x0601};
	size_t hs, exts, e, v, v2;
	size_t i;

	put8(w, 1); /* client_hello */
	hs = w->n;
	put(w, NULL, 3);
	put16(w, 0x0303);
	put_random(w, 32);
	v = vec_open(w, 1);
	put_random(w, sid_len);
	vec_close(w, v, 1);

	v = vec_open(w, 2);
	if (o->grease)
		put16(w, grease(1));
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		put16(w, suites[i]);
	vec_close(w, v, 2);
	put8(w, 1); /* compression_methods: null only */
	put8(w, 0);

	exts = vec_open(w, 2);
	if (o->grease) {
		ext_begin(w, grease(2), &e);
		vec_close(w, e, 2);
	}
	if (o->sni) {
		ext_begin(w, 0x0000, &e);
		v = vec_open(w, 2);
		put8(w, 0); /* host_name */
		v2 = vec_open(w, 2);
		put(w, o->sni, strlen(o->sni));
		vec_close(w, v2, 2);
		vec_close(w, v, 2);
		vec_close(w, e, 2);
	}
	ext_begin(w, 0x0017, &e); /* extended_master_secret */
	vec_close(w, e, 2);
	ext_begin(w, 0xff01, &e); /* renegotiation_info: empty */
	put8(w, 0);
	vec_close(w, e, 2);
	ext_begin(w, 0x000a, &e); /* supported_groups */
	v = vec_open(w, 2);
	if (o->grease)
		put16(w, grease(3));
	if (o->pq_keyshare)
		put16(w, GROUP_X25519MLKEM768);
	put16(w, GROUP_X25519);
	put16(w, 0x0017);
	put16(w, 0x0018);
	vec_close(w, v, 2);
	vec_close(w, e, 2);
	ext_begin(w, 0x000b, &e); /* ec_point_formats: uncompressed */
	put8(w, 1);
	put8(w, 0);
	vec_close(w, e, 2);
	ext_begin(w, 0x0023, &e); /* session_ticket */
	vec_close(w, e, 2);
	ext_begin(w, 0x0010, &e); /* ALPN: h2, http/1.1 */
	v = vec_open(w, 2);
	put8(w, 2);
	put(w, "h2", 2);
	put8(w, 8);
	put(w, "http/1.1", 8);
	vec_close(w, v, 2);
	vec_close(w, e, 2);
	ext_begin(w, 0x0005, &e); /* status_request: OCSP, no responders, no extensions */
	put8(w, 1);
	put16(w, 0);
	put16(w, 0);
	vec_close(w, e, 2);
	ext_begin(w, 0x000d, &e); /* signature_algorithms */
	v = vec_open(w, 2);
	for (i = 0; i < sizeof(sigalgs) / sizeof(sigalgs[0]); i++)
		put16(w, sigalgs[i]);
	vec_close(w, v, 2);
	vec_close(w, e, 2);
	ext_begin(w, 0x0012, &e); /* signed_certificate_timestamp */
	vec_close(w, e, 2);
	ext_begin(w, 0x0033, &e); /* key_share */
	v = vec_open(w, 2);
	if (o->grease) {
		put16(w, grease(3)); /* same value as the GREASE group, as BoringSSL does */
		put16(w, 1);
		put8(w, 0);
	}
	if (o->pq_keyshare) {
		put16(w, GROUP_X25519MLKEM768);
		put16(w, PQ_SHARE_LEN);
		put_random(w, PQ_SHARE_LEN);
	}
	put16(w, GROUP_X25519);
	put16(w, 32);
	put_random(w, 32);
	vec_close(w, v, 2);
	vec_close(w, e, 2);
	ext_begin(w, 0x002d, &e); /* psk_key_exchange_modes: psk_dhe_ke */
	put8(w, 1);
	put8(w, 1);
	vec_close(w, e, 2);
	ext_begin(w, 0x002b, &e); /* supported_versions */
	v = vec_open(w, 1);
	if (o->grease)
		put16(w, grease(4));
	put16(w, 0x0304);
	put16(w, 0x0303);
	vec_close(w, v, 1);
	vec_close(w, e, 2);
	ext_begin(w, 0x001b, &e); /* compress_certificate: brotli */
	put8(w, 2);
	put16(w, 0x0002);
	vec_close(w, e, 2);
	if (o->ech) {
		/* draft-ietf-tls-esni: ECHClientHello, type outer, HKDF-SHA256 + AES-128-GCM */
		ext_begin(w, 0xfe0d, &e);
		put8(w, 0);
		put16(w, 0x0001);
		put16(w, 0x0001);
		put_random(w, 1);
		v = vec_open(w, 2);
		put_random(w, ECH_ENC_LEN);
		vec_close(w, v, 2);
		v = vec_open(w, 2);
		put_random(w, ECH_PAYLOAD_LEN);
		vec_close(w, v, 2);
		vec_close(w, e, 2);
	}
	if (o->grease) {
		/* A second GREASE extension must differ from the first (RFC 8446 4.2). */
		ext_begin(w, grease(5), &e);
		put8(w, 0);
		vec_close(w, e, 2);
	}
	if (pad >= 0) {
		ext_begin(w, 0x0015, &e); /* padding: zero bytes */
		put(w, NULL, (size_t)pad);
		vec_close(w, e, 2);
	}
	vec_close(w, exts, 2);
	vec_close(w, hs, 3);
}

long hello_build(const struct hello_opts *o, uint8_t *out, size_t cap)
{
	const uint64_t seed = UINT64_C(0x68656c6c6f);
	unsigned records = o->records ? o->records : 1;
	struct wr w = {.rng = seed};
	size_t sid_len = SESSION_ID_LEN;
	size_t natural, total, msg_len, hdrs, start, k;
	long pad = -1;

	if (o->sni && strlen(o->sni) > 255)
		return -1;
	if (records > RECORD_MAX * 4)
		return -1;
	hdrs = (size_t)records * RECORD_HDR;

	client_hello(&w, o, sid_len, -1);
	if (w.err)
		return -1;
	natural = hdrs + w.n;
	total = o->size ? o->size : natural;
	if (total < natural)
		return -1;
	if (total > natural) {
		size_t gap = total - natural;

		if (gap < 4) {
			/* Even an empty padding extension is 4 bytes: give back the rest. */
			sid_len -= 4 - gap;
			pad = 0;
		} else {
			pad = (long)(gap - 4);
		}
	}
	if (total > cap)
		return -1;

	w = (struct wr){.p = out + hdrs, .end = out + cap, .rng = seed};
	client_hello(&w, o, sid_len, pad);
	if (w.err)
		return -1;
	msg_len = w.n;
	if (hdrs + msg_len != total || records > msg_len)
		return -1;
	if ((msg_len + records - 1) / records > RECORD_MAX)
		return -1;

	/* Cut into records of near-equal size, front to back. */
	start = 0;
	for (k = 0; k < records; k++) {
		size_t flen = msg_len / records + (k < msg_len % records);
		uint8_t *hdr = out + k * RECORD_HDR + start;

		memmove(hdr + RECORD_HDR, out + hdrs + start, flen);
		hdr[0] = 22;
		hdr[1] = 3;
		hdr[2] = 1; /* legacy_record_version of a first flight: TLS 1.0 */
		hdr[3] = (uint8_t)(flen >> 8);
		hdr[4] = (uint8_t)flen;
		start += flen;
	}
	return (long)total;
}
