/* SPDX-License-Identifier: MIT */
/*
 * The bytes the load generator really sends (`loadgen hello`, every size and
 * record knob the harness uses, up to 8 KiB) must parse back with snigate's
 * own parser to the name asked for. OpenSSL's view of the same bytes is
 * checked by harness.sh.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sni/sni.h"

struct hcase {
	char args[96]; /* loadgen hello options (an array: criterion copies the case to another
			  process) */
	size_t size;   /* expected bytes, 0 = do not check */
};

static size_t run_hello(const char *args, uint8_t *out, size_t cap)
{
	const char *lg = getenv("LOADGEN");
	char cmd[512];
	FILE *p;
	size_t n;

	cr_assert_not_null(lg, "LOADGEN is not set");
	snprintf(cmd, sizeof(cmd), "%s hello --sni allowed.test %s", lg, args);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	n = fread(out, 1, cap, p);
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
	return n;
}

static const struct hcase cases[] = {
	{"", 0},
	{"--size 517", 517},
	{"--size 1800 --pq", 1800},
	{"--size 4096 --records 2", 4096},
	{"--size 8192", 8192},
	{"--size 8192 --records 3 --grease", 8192},
	{"--size 8192 --records 2 --ech --pq --grease", 8192},
};

ParameterizedTestParameters(loadgen, hello_parses_back)
{
	return cr_make_param_array(struct hcase, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(const struct hcase *c, loadgen, hello_parses_back, .timeout = 30)
{
	static uint8_t buf[65536], scratch[16384];
	struct sni_hello h;
	size_t n = run_hello(c->args, buf, sizeof(buf));

	if (c->size)
		cr_assert_eq(n, c->size, "%s: %zu bytes", c->args, n);
	cr_assert_eq(sni_parse(buf, n, scratch, sizeof(scratch), &h), SNI_OK, "%s: reason %d",
		     c->args, h.reason);
	cr_assert_str_eq(h.name, "allowed.test");
	cr_assert_eq(h.wire_len, n);
	/* Every proper prefix is a valid start: the gateway waits, it never rejects. */
	for (size_t k = 1; k < n; k += 97)
		cr_assert_eq(sni_parse(buf, k, scratch, sizeof(scratch), &h), SNI_NEED_MORE,
			     "%s: prefix %zu", c->args, k);
}
