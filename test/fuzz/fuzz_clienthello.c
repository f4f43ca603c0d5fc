/* SPDX-License-Identifier: MIT */
/*
 * fuzz_clienthello: libFuzzer target for sni_parse().
 *
 * Beyond "does not crash", it checks what the contract promises: the
 * result is one of the three statuses; a name is NUL-terminated, at most
 * 253 bytes and made only of lower-case host name bytes; a wait asks for
 * more than it was given; a complete hello parses the same when cut to
 * wire_len and waits when cut one byte shorter. It also runs the input with
 * a small scratch buffer: short of refusing it as too large, a smaller
 * buffer must give exactly the same answer.
 *
 * Then it replays the input as MSG_PEEK would hand it over: prefixes that
 * grow in steps drawn from a generator seeded by a hash of the input (so
 * every mutation picks other steps), sometimes jumping straight to the
 * 'want' of the last wait, as SO_RCVLOWAT makes the gateway do. Each prefix
 * must either wait, asking for more than it holds and never less than an
 * earlier wait asked for (a ClientHello the whole input completes is never
 * asked to go past its wire_len), or give exactly the answer of the whole
 * input: how the bytes are split never changes the decision.
 *
 * Built with -Dfuzzers=true; test/fuzz/replay.c runs the same checks over
 * the committed corpus in every build.
 */
#include "sni/sni.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t scratch[16384];
static uint8_t small[512];

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void check_name(const struct sni_hello *h)
{
	size_t i;

	check(h->name_len >= 1 && h->name_len <= SNI_NAME_MAX);
	check(h->name[h->name_len] == '\0' && strlen(h->name) == h->name_len);
	check(h->name[0] != '.' && h->name[h->name_len - 1] != '.');
	for (i = 0; i < h->name_len; i++) {
		char c = h->name[i];

		check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      (c == '.' && h->name[i + 1] != '.'));
	}
}

static bool same(const struct sni_hello *a, const struct sni_hello *b)
{
	return a->reason == b->reason && a->want == b->want && a->wire_len == b->wire_len &&
	       a->ech == b->ech && a->name_len == b->name_len && !strcmp(a->name, b->name);
}

/* FNV-1a of the input, then xorshift64: the split steps follow from the bytes. */
static uint64_t seed_of(const uint8_t *data, size_t size)
{
	uint64_t x = UINT64_C(0xcbf29ce484222325);
	size_t i;

	for (i = 0; i < size; i++)
		x = (x ^ data[i]) * UINT64_C(0x100000001b3);
	return x ? x : 1;
}

static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * Feed growing prefixes of data, as successive peeks would, and check each
 * against whole, the answer for all of data. At most about 40 prefixes, so
 * a large input costs a bounded number of parses.
 */
static void check_split(const uint8_t *data, size_t size, enum sni_status whole_st,
			const struct sni_hello *whole)
{
	uint64_t rng = seed_of(data, size);
	size_t len = 0, want_before = 0, stride = size / 16 + 1;
	struct sni_hello h;

	while (len < size) {
		uint64_t r = next_rand(&rng);
		size_t step =
			(r & 3) == 0 ? 1 + (size_t)(r >> 8) % 4 : 1 + (size_t)(r >> 8) % stride;

		len = len + step < size ? len + step : size;
		if ((r & 0x30) == 0 && want_before > len)
			len = want_before < size ? want_before : size;
		enum sni_status st = sni_parse(data, len, scratch, sizeof(scratch), &h);

		if (st == SNI_NEED_MORE) {
			check(h.want > len && h.want >= want_before);
			if (whole_st == SNI_OK)
				check(h.want <= whole->wire_len);
			want_before = h.want;
			continue;
		}
		/* Decided: the same answer as the whole input, and no later byte can change it. */
		check(st == whole_st && same(&h, whole));
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sni_hello h, h2;
	enum sni_status st, st2;

	st = sni_parse(data, size, scratch, sizeof(scratch), &h);
	switch (st) {
	case SNI_OK:
		check(h.reason == SNI_R_NONE);
		check(h.wire_len > 0 && h.wire_len <= size);
		check_name(&h);
		st2 = sni_parse(data, h.wire_len, scratch, sizeof(scratch), &h2);
		check(st2 == SNI_OK && same(&h, &h2));
		st2 = sni_parse(data, h.wire_len - 1, scratch, sizeof(scratch), &h2);
		check(st2 == SNI_NEED_MORE && h2.want <= h.wire_len);
		break;
	case SNI_NEED_MORE:
		check(h.reason == SNI_R_NONE);
		check(h.want > size);
		break;
	case SNI_REJECT:
		check(h.reason > SNI_R_NONE && h.reason < SNI_R__COUNT);
		check(h.name_len == 0 && h.name[0] == '\0');
		check(strcmp(sni_reason_str(h.reason), "unknown") != 0);
		break;
	default:
		check(false);
	}

	st2 = sni_parse(data, size, small, sizeof(small), &h2);
	if (!(st2 == SNI_REJECT && h2.reason == SNI_R_TOO_LARGE))
		check(st2 == st && same(&h, &h2));
	check_split(data, size, st, &h);
	return 0;
}
