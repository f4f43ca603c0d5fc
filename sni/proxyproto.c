/* SPDX-License-Identifier: MIT */
#include "sni/proxyproto.h"

#include <string.h>
#include <sys/socket.h>

static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

enum {
	PP2_TYPE_AUTHORITY = 0x02,
	PP2_TYPE_CRC32C = 0x03,
};

int proxyproto_signature(const uint8_t *buf, size_t len)
{
	return memcmp(buf, sig, len < sizeof(sig) ? len : sizeof(sig)) == 0;
}

/*
 * CRC-32C (Castagnoli), bit by bit: a header is checked once per
 * connection, and only when the balancer sends the TLV, so a table would
 * buy nothing. The checksum field itself counts as zeros.
 */
static uint32_t crc32c(const uint8_t *p, size_t n, size_t skip_at)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		crc ^= i >= skip_at && i < skip_at + 4 ? 0 : p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static enum proxyproto_result reject(struct proxyproto_header *h, enum proxyproto_reason r)
{
	h->reason = r;
	return PROXYPROTO_REJECT;
}

static enum proxyproto_result need(struct proxyproto_header *h, size_t want)
{
	h->want = want;
	return PROXYPROTO_NEED_MORE;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The TLVs in buf[off..end): each one whole, the checksum right where there is one. */
static enum proxyproto_result tlvs(const uint8_t *buf, size_t off, size_t end,
				   struct proxyproto_header *h)
{
	while (off < end) {
		if (end - off < 3)
			return reject(h, PROXYPROTO_R_TLV);
		uint8_t type = buf[off];
		size_t vlen = be16(buf + off + 1), v = off + 3;
		if (vlen > end - v)
			return reject(h, PROXYPROTO_R_TLV);
		if (type == PP2_TYPE_CRC32C) {
			if (vlen != 4)
				return reject(h, PROXYPROTO_R_TLV);
			uint32_t want = (uint32_t)buf[v] << 24 | (uint32_t)buf[v + 1] << 16 |
					(uint32_t)buf[v + 2] << 8 | buf[v + 3];
			if (crc32c(buf, end, v) != want)
				return reject(h, PROXYPROTO_R_CRC);
		} else if (type == PP2_TYPE_AUTHORITY) {
			h->authority = buf + v;
			h->authority_len = (uint16_t)vlen;
		}
		off = v + vlen;
	}
	return PROXYPROTO_OK;
}

enum proxyproto_result proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto_header *h)
{
	memset(h, 0, sizeof(*h));
	if (!proxyproto_signature(buf, len))
		return reject(h, PROXYPROTO_R_SIGNATURE);
	if (len < PROXYPROTO_FIXED)
		return need(h, PROXYPROTO_FIXED);
	if (buf[12] >> 4 != 2)
		return reject(h, PROXYPROTO_R_VERSION);
	unsigned cmd = buf[12] & 0x0f, fam = buf[13];
	if (cmd > PROXYPROTO_PROXY)
		return reject(h, PROXYPROTO_R_COMMAND);
	size_t total = PROXYPROTO_FIXED + (size_t)be16(buf + 14);
	if (total > PROXYPROTO_MAX)
		return reject(h, PROXYPROTO_R_TOO_LARGE);
	/* Everything that can be refused from the fixed part was, before waiting for the rest. */
	size_t addr_len;
	switch (fam) {
	case 0x11: /* TCP over IPv4 */
		addr_len = 12;
		break;
	case 0x21: /* TCP over IPv6 */
		addr_len = 36;
		break;
	default:
		if (cmd == PROXYPROTO_PROXY)
			return reject(h, PROXYPROTO_R_FAMILY);
		addr_len = 0;
	}
	/* LOCAL names no client: whatever its block holds is skipped, however short. */
	if (cmd == PROXYPROTO_PROXY && total - PROXYPROTO_FIXED < addr_len)
		return reject(h, PROXYPROTO_R_SHORT);
	if (len < total)
		return need(h, total);

	h->command = (enum proxyproto_command)cmd;
	h->len = total;
	if (cmd == PROXYPROTO_LOCAL) {
		/*
		 * The balancer speaks for itself: whatever it put after the
		 * fixed part describes no client, and is skipped unread.
		 */
		return PROXYPROTO_OK;
	}
	const uint8_t *a = buf + PROXYPROTO_FIXED;
	size_t alen = addr_len == 12 ? 4 : 16;
	h->family = addr_len == 12 ? AF_INET : AF_INET6;
	memcpy(h->src, a, alen);
	memcpy(h->dst, a + alen, alen);
	h->src_port = be16(a + 2 * alen);
	h->dst_port = be16(a + 2 * alen + 2);
	enum proxyproto_result r = tlvs(buf, PROXYPROTO_FIXED + addr_len, total, h);
	if (r != PROXYPROTO_OK) {
		/* A refused header says nothing: only why it was refused. */
		enum proxyproto_reason why = h->reason;
		memset(h, 0, sizeof(*h));
		h->reason = why;
	}
	return r;
}

const char *proxyproto_reason_str(enum proxyproto_reason r)
{
	static const char *const names[PROXYPROTO_R__COUNT] = {
		[PROXYPROTO_R_NONE] = "none",	    [PROXYPROTO_R_SIGNATURE] = "signature",
		[PROXYPROTO_R_VERSION] = "version", [PROXYPROTO_R_COMMAND] = "command",
		[PROXYPROTO_R_FAMILY] = "family",   [PROXYPROTO_R_TOO_LARGE] = "too_large",
		[PROXYPROTO_R_SHORT] = "short",	    [PROXYPROTO_R_TLV] = "tlv",
		[PROXYPROTO_R_CRC] = "crc",
	};
	return (unsigned)r < PROXYPROTO_R__COUNT && names[r] ? names[r] : "?";
}
