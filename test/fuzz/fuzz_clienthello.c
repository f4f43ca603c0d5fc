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
	return 0;
}
