/* SPDX-License-Identifier: MIT */
/*
 * The PROXY protocol v2 parser against headers built byte by byte here:
 * what a balancer sends (IPv4, IPv6, TLVs, a CRC32C, LOCAL), and what a
 * hostile or broken one might (v1 text, UNIX and UDP families, a length
 * over the limit, TLVs that run past the header, a wrong checksum), each
 * also cut at every length to check that a short read only ever waits.
 */
#include "sni/proxyproto.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include <criterion/criterion.h>

static const uint8_t SIG[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A header into buf: ver_cmd, family byte, then body (addresses and TLVs); returns its size. */
static size_t build(uint8_t *buf, uint8_t ver_cmd, uint8_t fam, const void *body, size_t n)
{
	memcpy(buf, SIG, 12);
	buf[12] = ver_cmd;
	buf[13] = fam;
	buf[14] = (uint8_t)(n >> 8);
	buf[15] = (uint8_t)n;
	memcpy(buf + 16, body, n);
	return 16 + n;
}

/* 10.42.1.7:40000 -> 10.0.0.1:8443 */
static const uint8_t V4[12] = {10, 42, 1, 7, 10, 0, 0, 1, 0x9c, 0x40, 0x20, 0xfb};

/* Every prefix of buf[0..n) waits, or (prefixes long enough to say) gives the same refusal. */
static void prefixes(const uint8_t *buf, size_t n, enum proxyproto_result full,
		     enum proxyproto_reason why)
{
	struct proxyproto_header h;

	for (size_t k = 0; k < n; k++) {
		enum proxyproto_result r = proxyproto_parse(buf, k, &h);
		if (r == PROXYPROTO_NEED_MORE) {
			cr_assert_gt(h.want, k);
			continue;
		}
		cr_assert_eq(r, PROXYPROTO_REJECT, "cut at %zu accepted", k);
		cr_assert_eq(full, PROXYPROTO_REJECT, "cut at %zu refused a good header", k);
		cr_assert_eq(h.reason, why, "cut at %zu: %s", k, proxyproto_reason_str(h.reason));
	}
}

static enum proxyproto_reason refused(const uint8_t *buf, size_t n)
{
	struct proxyproto_header h;

	cr_assert_eq(proxyproto_parse(buf, n, &h), PROXYPROTO_REJECT);
	cr_assert_eq(h.len, 0);
	cr_assert_eq(h.family, 0);
	prefixes(buf, n, PROXYPROTO_REJECT, h.reason);
	return h.reason;
}

Test(proxyproto, ipv4_proxy_names_the_client)
{
	uint8_t buf[64], tail[80];
	struct proxyproto_header h;
	size_t n = build(buf, 0x21, 0x11, V4, sizeof(V4));

	cr_assert_eq(proxyproto_parse(buf, n, &h), PROXYPROTO_OK);
	cr_assert_eq(h.len, 28);
	cr_assert_eq(h.command, PROXYPROTO_PROXY);
	cr_assert_eq(h.family, AF_INET);
	cr_assert_arr_eq(h.src, ((uint8_t[]){10, 42, 1, 7}), 4);
	cr_assert_arr_eq(h.dst, ((uint8_t[]){10, 0, 0, 1}), 4);
	cr_assert_eq(h.src_port, 40000);
	cr_assert_eq(h.dst_port, 8443);
	prefixes(buf, n, PROXYPROTO_OK, 0);
	/* The ClientHello behind it is not the header's business. */
	memcpy(tail, buf, n);
	memcpy(tail + n, "\x16\x03\x01\x00\x05hello", 10);
	cr_assert_eq(proxyproto_parse(tail, n + 10, &h), PROXYPROTO_OK);
	cr_assert_eq(h.len, 28);
}

Test(proxyproto, ipv6_proxy)
{
	uint8_t body[36] = {0}, buf[64];
	struct proxyproto_header h;

	body[0] = 0xfd;
	body[15] = 7;
	body[16] = 0xfd;
	body[31] = 1;
	body[32] = 0x01;
	body[33] = 0xbb;
	body[34] = 0x01;
	body[35] = 0xbb;
	size_t n = build(buf, 0x21, 0x21, body, sizeof(body));
	cr_assert_eq(proxyproto_parse(buf, n, &h), PROXYPROTO_OK);
	cr_assert_eq(h.family, AF_INET6);
	cr_assert_eq(h.len, 52);
	cr_assert_eq(h.src[0], 0xfd);
	cr_assert_eq(h.src[15], 7);
	cr_assert_eq(h.src_port, 443);
}

Test(proxyproto, tlvs_are_walked_and_the_authority_kept)
{
	uint8_t body[128], buf[160];
	struct proxyproto_header h;
	size_t o = 0;

	memcpy(body, V4, 12);
	o = 12;
	/* PP2_TYPE_AUTHORITY, then AWS's VPC endpoint TLV (0xEA), then a NOOP. */
	memcpy(body + o,
	       "\x02\x00\x0e"
	       "api.github.com",
	       17);
	o += 17;
	memcpy(body + o, "\xea\x00\x05\x01vpce", 8);
	o += 8;
	memcpy(body + o, "\x04\x00\x00", 3);
	o += 3;
	size_t n = build(buf, 0x21, 0x11, body, o);
	cr_assert_eq(proxyproto_parse(buf, n, &h), PROXYPROTO_OK);
	cr_assert_eq(h.len, n);
	cr_assert_eq(h.authority_len, 14);
	cr_assert_arr_eq(h.authority, "api.github.com", 14);
	prefixes(buf, n, PROXYPROTO_OK, 0);
}

/*
 * 10.42.1.7:40000 -> 10.0.0.1:8443 with a PP2_TYPE_CRC32C TLV, the checksum
 * computed by an independent implementation (Python, bit by bit).
 */
static const uint8_t CRC_GOOD[] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55,
				   0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x13, 0x0a, 0x2a,
				   0x01, 0x07, 0x0a, 0x00, 0x00, 0x01, 0x9c, 0x40, 0x20,
				   0xfb, 0x03, 0x00, 0x04, 0x6e, 0x32, 0x05, 0x5b};

Test(proxyproto, crc32c_is_checked)
{
	uint8_t bad[sizeof(CRC_GOOD)];
	struct proxyproto_header h;

	cr_assert_eq(proxyproto_parse(CRC_GOOD, sizeof(CRC_GOOD), &h), PROXYPROTO_OK);
	memcpy(bad, CRC_GOOD, sizeof(bad));
	bad[sizeof(bad) - 1] ^= 1;
	cr_assert_eq(refused(bad, sizeof(bad)), PROXYPROTO_R_CRC);
	/* A changed address with the old checksum is caught too. */
	memcpy(bad, CRC_GOOD, sizeof(bad));
	bad[19] = 8;
	cr_assert_eq(refused(bad, sizeof(bad)), PROXYPROTO_R_CRC);
	/* A checksum TLV must be 4 bytes. */
	uint8_t body[12 + 5], buf[64];
	memcpy(body, V4, 12);
	memcpy(body + 12, "\x03\x00\x02\x00\x00", 5);
	cr_assert_eq(refused(buf, build(buf, 0x21, 0x11, body, sizeof(body))), PROXYPROTO_R_TLV);
}

Test(proxyproto, local_names_no_client)
{
	uint8_t buf[64];
	struct proxyproto_header h;

	/* HAProxy's health checks: LOCAL, UNSPEC, no address. */
	size_t n = build(buf, 0x20, 0x00, "", 0);
	cr_assert_eq(proxyproto_parse(buf, n, &h), PROXYPROTO_OK);
	cr_assert_eq(h.command, PROXYPROTO_LOCAL);
	cr_assert_eq(h.family, 0);
	cr_assert_eq(h.len, 16);
	/* With an address block, which is skipped unread. */
	n = build(buf, 0x20, 0x11, V4, sizeof(V4));
	cr_assert_eq(proxyproto_parse(buf, n, &h), PROXYPROTO_OK);
	cr_assert_eq(h.family, 0);
	cr_assert_eq(h.len, 28);
	/* Even one shorter than its family's: LOCAL names no address to read. */
	n = build(buf, 0x20, 0x21, V4, sizeof(V4));
	cr_assert_eq(proxyproto_parse(buf, n, &h), PROXYPROTO_OK);
	cr_assert_eq(h.len, 28);
}

Test(proxyproto, hostile_headers_are_refused_with_their_reason)
{
	uint8_t buf[512], body[256] = {0};

	/* Not a v2 header at all: TLS, v1's text. */
	cr_assert_eq(refused((const uint8_t *)"\x16\x03\x01", 3), PROXYPROTO_R_SIGNATURE);
	const char *v1 = "PROXY TCP4 10.42.1.7 10.0.0.1 40000 8443\r\n";
	cr_assert_eq(refused((const uint8_t *)v1, strlen(v1)), PROXYPROTO_R_SIGNATURE);
	/* Version 1 or 3 in the binary form; commands 2..15. */
	cr_assert_eq(refused(buf, build(buf, 0x11, 0x11, V4, 12)), PROXYPROTO_R_VERSION);
	cr_assert_eq(refused(buf, build(buf, 0x31, 0x11, V4, 12)), PROXYPROTO_R_VERSION);
	cr_assert_eq(refused(buf, build(buf, 0x22, 0x11, V4, 12)), PROXYPROTO_R_COMMAND);
	cr_assert_eq(refused(buf, build(buf, 0x2f, 0x11, V4, 12)), PROXYPROTO_R_COMMAND);
	/* PROXY for a client we cannot match on: UNSPEC, UNIX, UDP, unknown. */
	cr_assert_eq(refused(buf, build(buf, 0x21, 0x00, "", 0)), PROXYPROTO_R_FAMILY);
	cr_assert_eq(refused(buf, build(buf, 0x21, 0x31, body, 216)), PROXYPROTO_R_FAMILY);
	cr_assert_eq(refused(buf, build(buf, 0x21, 0x12, V4, 12)), PROXYPROTO_R_FAMILY);
	cr_assert_eq(refused(buf, build(buf, 0x21, 0x41, V4, 12)), PROXYPROTO_R_FAMILY);
	/* An address block longer than the header. */
	cr_assert_eq(refused(buf, build(buf, 0x21, 0x11, V4, 8)), PROXYPROTO_R_SHORT);
	cr_assert_eq(refused(buf, build(buf, 0x21, 0x21, V4, 12)), PROXYPROTO_R_SHORT);
	/* TLVs: one that claims more than is left, one cut inside its own header. */
	memcpy(body, V4, 12);
	memcpy(body + 12,
	       "\xea\x10\x00"
	       "abc",
	       6);
	cr_assert_eq(refused(buf, build(buf, 0x21, 0x11, body, 18)), PROXYPROTO_R_TLV);
	memcpy(body + 12, "\xea\x00", 2);
	cr_assert_eq(refused(buf, build(buf, 0x21, 0x11, body, 14)), PROXYPROTO_R_TLV);
}

Test(proxyproto, an_oversized_header_is_refused_before_it_is_read)
{
	uint8_t buf[16];
	struct proxyproto_header h;

	memcpy(buf, SIG, 12);
	buf[12] = 0x21;
	buf[13] = 0x11;
	buf[14] = 0xff;
	buf[15] = 0xff;
	/* 16 bytes suffice: no waiting for 64 KiB that will be refused anyway. */
	cr_assert_eq(proxyproto_parse(buf, 16, &h), PROXYPROTO_REJECT);
	cr_assert_eq(h.reason, PROXYPROTO_R_TOO_LARGE);
	/* The largest one taken is waited for. */
	buf[14] = (PROXYPROTO_MAX - 16) >> 8;
	buf[15] = (PROXYPROTO_MAX - 16) & 0xff;
	cr_assert_eq(proxyproto_parse(buf, 16, &h), PROXYPROTO_NEED_MORE);
	cr_assert_eq(h.want, PROXYPROTO_MAX);
	buf[15]++;
	cr_assert_eq(proxyproto_parse(buf, 16, &h), PROXYPROTO_REJECT);
}

Test(proxyproto, signature_prefixes)
{
	cr_assert(proxyproto_signature(SIG, 1));
	cr_assert(proxyproto_signature(SIG, 12));
	cr_assert(!proxyproto_signature((const uint8_t *)"\r\n\r\nX", 5));
	cr_assert(!proxyproto_signature((const uint8_t *)"\x16", 1));
}
