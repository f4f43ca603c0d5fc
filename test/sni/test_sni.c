/* SPDX-License-Identifier: MIT */
/*
 * test_sni: sni_parse() hit from every side (STYLE 3.16).
 *
 * Every input is copied so that its last byte sits right before a PROT_NONE
 * page, and the scratch buffer ends at one too: a read past len or a write
 * past scratch_len is a SIGSEGV even in the plain gcc build, not a silent
 * pass. Inputs are real captures (test/sni/data), hello_build() output and
 * small hand-built ClientHellos for each rejection reason; the "every
 * prefix", "every split" and "every length +-1" sweeps run over them all.
 */
#include "sni/sni.h"
#include "bench/hello.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SPAN	      (160 * 1024) /* largest input any test feeds */
#define SCRATCH	      16384	   /* scratch_len unless a test says otherwise */
#define SCRATCH_MAP   32768	   /* the most any test asks for */

/* ---- guard pages ---- */

struct guarded {
	uint8_t *map;
	size_t map_len;
	uint8_t *end; /* first byte of the PROT_NONE page */
};

static struct guarded in_g, sc_g;

static void guard_map(struct guarded *g, size_t span)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (span + page - 1) / page * page;

	g->map_len = len + page;
	g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(g->map, MAP_FAILED);
	cr_assert_eq(mprotect(g->map + len, page, PROT_NONE), 0);
	g->end = g->map + len;
}

static void setup(void)
{
	guard_map(&in_g, SPAN);
	guard_map(&sc_g, SCRATCH_MAP);
}

static void teardown(void)
{
	munmap(in_g.map, in_g.map_len);
	munmap(sc_g.map, sc_g.map_len);
}

TestSuite(clienthello, .init = setup, .fini = teardown);
TestSuite(record, .init = setup, .fini = teardown);

/* Parse src[0..len) flush against the guard page, with scratch_len of guarded scratch. */
static enum sni_status parse_sc(const uint8_t *src, size_t len, size_t scratch_len,
				struct sni_hello *h)
{
	uint8_t *p = in_g.end - len;

	cr_assert_leq(len, SPAN);
	cr_assert_leq(scratch_len, SCRATCH_MAP);
	if (len)
		memmove(p, src, len);
	memset(h, 0xa5, sizeof(*h)); /* no field may be left over from a previous call */
	return sni_parse(p, len, sc_g.end - scratch_len, scratch_len, h);
}

static enum sni_status parse(const uint8_t *src, size_t len, struct sni_hello *h)
{
	return parse_sc(src, len, SCRATCH, h);
}

/* ---- building inputs ---- */

struct buf {
	uint8_t b[SPAN];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	cr_assert_leq(b->n + n, sizeof(b->b));
	if (n) /* memcpy(dst, NULL, 0) is still undefined */
		memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put8(struct buf *b, unsigned v)
{
	uint8_t x = (uint8_t)v;

	put(b, &x, 1);
}

static void put16(struct buf *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void put24(struct buf *b, unsigned v)
{
	put8(b, v >> 16);
	put16(b, v & 0xffff);
}

/* The ClientHello body fields a test may bend. */
struct body_opts {
	unsigned version;
	size_t sid_len;
	size_t suites_len;
	size_t comp_len;
	bool no_exts;	 /* omit the extensions block altogether (TLS 1.2 style) */
	size_t trailing; /* zero bytes after the extensions block */
};

#define BODY_DEFAULT                                                             \
	{                                                                        \
		.version = 0x0303, .sid_len = 32, .suites_len = 4, .comp_len = 1 \
	}

static void body(struct buf *out, const struct body_opts *o, const struct buf *exts)
{
	size_t i;

	put16(out, o->version);
	for (i = 0; i < 32; i++)
		put8(out, i);
	put8(out, o->sid_len);
	for (i = 0; i < o->sid_len; i++)
		put8(out, 0x40 + i);
	put16(out, o->suites_len);
	for (i = 0; i < o->suites_len; i++)
		put8(out, i & 1 ? 0x01 : 0x13);
	put8(out, o->comp_len);
	for (i = 0; i < o->comp_len; i++)
		put8(out, 0);
	if (!o->no_exts) {
		put16(out, exts->n);
		put(out, exts->b, exts->n);
	}
	for (i = 0; i < o->trailing; i++)
		put8(out, 0);
}

/* Handshake header around body, then one record around that. */
static void wrap(struct buf *out, const struct buf *b)
{
	out->n = 0;
	put8(out, 22);
	put16(out, 0x0301);
	put16(out, b->n + 4);
	put8(out, 1);
	put24(out, b->n);
	put(out, b->b, b->n);
}

static void ext(struct buf *exts, unsigned type, const void *data, size_t len)
{
	put16(exts, type);
	put16(exts, len);
	put(exts, data, len);
}

/* A server_name extension holding one host_name. */
static void ext_sni(struct buf *exts, const void *name, size_t len)
{
	put16(exts, 0x0000);
	put16(exts, len + 5);
	put16(exts, len + 3);
	put8(exts, 0);
	put16(exts, len);
	put(exts, name, len);
}

static struct buf g_exts, g_body, g_wire;

/* A whole single-record ClientHello with these extensions and default body fields. */
static const struct buf *hello_with(const struct buf *exts)
{
	struct body_opts o = BODY_DEFAULT;

	g_body.n = 0;
	body(&g_body, &o, exts);
	wrap(&g_wire, &g_body);
	return &g_wire;
}

static const struct buf *hello_named(const void *name, size_t len)
{
	g_exts.n = 0;
	ext(&g_exts, 0x0017, NULL, 0);
	ext_sni(&g_exts, name, len);
	ext(&g_exts, 0x002b, "\x02\x03\x04", 3);
	return hello_with(&g_exts);
}

static void expect_reject(const struct buf *w, enum sni_reason why)
{
	struct sni_hello h;

	cr_assert_eq(parse(w->b, w->n, &h), SNI_REJECT, "expected %s", sni_reason_str(why));
	cr_assert_eq(h.reason, why, "got %s, expected %s", sni_reason_str(h.reason),
		     sni_reason_str(why));
	cr_assert_eq(h.name_len, 0);
	cr_assert_eq(h.name[0], '\0');
}

static void expect_ok(const uint8_t *b, size_t n, const char *name)
{
	struct sni_hello h;
	enum sni_status st = parse(b, n, &h);

	cr_assert_eq(st, SNI_OK, "status %d reason %s", st, sni_reason_str(h.reason));
	cr_assert_str_eq(h.name, name);
	cr_assert_eq(h.name_len, strlen(name));
	cr_assert_eq(h.wire_len, n);
	cr_assert_eq(h.reason, SNI_R_NONE);
}

/* ---- inputs from files and from hello_build() ---- */

static struct buf *load(const char *file)
{
	static struct buf b;
	const char *dir = getenv("SNI_TEST_DATA");
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "test/sni/data", file);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s (set SNI_TEST_DATA)", path);
	b.n = fread(b.b, 1, sizeof(b.b), f);
	fclose(f);
	cr_assert_gt(b.n, 0);
	return &b;
}

static struct buf *built(const struct hello_opts *o)
{
	static struct buf b;
	long n = hello_build(o, b.b, sizeof(b.b));

	cr_assert_gt(n, 0);
	b.n = (size_t)n;
	return &b;
}

struct capture {
	const char *file;
	const char *name;
};

static const struct capture captures[] = {
	{"openssl_s_client.bin", "example.com"},
	{"curl.bin", "example.com"},
	{"openssl_tls12_upper.bin", "www.example.org"},
	{"openssl_trailing_dot.bin", "example.com"},
};

static const struct hello_opts shapes[] = {
	{.sni = "example.com"},
	{.sni = "a.example.net", .records = 3},
	{.sni = "pq.example.com", .pq_keyshare = true, .grease = true, .ech = true, .size = 1800},
	{.sni = "big.example.com", .size = 8192, .records = 2},
	{.sni = "Upper.Example.COM.", .grease = true, .records = 7},
};

/* ---- accepted shapes ---- */

Test(clienthello, accepts_captures)
{
	for (size_t i = 0; i < ARRAY_SIZE(captures); i++) {
		struct buf *b = load(captures[i].file);

		expect_ok(b->b, b->n, captures[i].name);
	}
}

Test(clienthello, reports_version_and_no_ech)
{
	struct sni_hello h;
	struct buf *b = load("openssl_tls12_upper.bin");

	cr_assert_eq(parse(b->b, b->n, &h), SNI_OK);
	cr_assert_eq(h.version, 0x0303);
	cr_assert_not(h.ech);
}

Test(clienthello, accepts_single_record)
{
	struct hello_opts o = {.sni = "example.com"};
	struct buf *b = built(&o);

	expect_ok(b->b, b->n, "example.com");
}

Test(clienthello, accepts_split_records)
{
	static const unsigned counts[] = {2, 3, 5, 17, 100};

	for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
		struct hello_opts o = {.sni = "split.example.com", .records = counts[i]};
		struct buf *b = built(&o);

		expect_ok(b->b, b->n, "split.example.com");
	}
}

Test(clienthello, accepts_pq_hello)
{
	struct hello_opts o = {.sni = "pq.example.com", .pq_keyshare = true, .size = 1800};
	struct buf *b = built(&o);

	cr_assert_eq(b->n, 1800);
	expect_ok(b->b, b->n, "pq.example.com");
}

Test(clienthello, accepts_8k_hello)
{
	struct hello_opts o = {.sni = "big.example.com", .size = 8192};
	struct buf *b = built(&o);

	expect_ok(b->b, b->n, "big.example.com");
	o.records = 4;
	b = built(&o);
	expect_ok(b->b, b->n, "big.example.com");
}

Test(clienthello, accepts_grease)
{
	struct hello_opts o = {.sni = "grease.example", .grease = true, .pq_keyshare = true};
	struct buf *b = built(&o);

	expect_ok(b->b, b->n, "grease.example");
}

Test(clienthello, reports_ech)
{
	struct sni_hello h;
	struct hello_opts o = {.sni = "public.example", .ech = true};
	struct buf *b = built(&o);

	cr_assert_eq(parse(b->b, b->n, &h), SNI_OK);
	cr_assert(h.ech);
	o.ech = false;
	b = built(&o);
	cr_assert_eq(parse(b->b, b->n, &h), SNI_OK);
	cr_assert_not(h.ech);
}

Test(clienthello, folds_upper_case)
{
	struct hello_opts o = {.sni = "WWW.Example.COM"};
	struct buf *b = built(&o);

	expect_ok(b->b, b->n, "www.example.com");
}

Test(clienthello, drops_one_trailing_dot)
{
	struct hello_opts o = {.sni = "example.com."};
	struct buf *b = built(&o);

	expect_ok(b->b, b->n, "example.com");
}

Test(clienthello, scratch_exactly_the_body_is_enough)
{
	struct sni_hello h;
	struct hello_opts o = {.sni = "fit.example", .records = 3};
	struct buf *b = built(&o);
	size_t body_len = (size_t)b->b[6] << 16 | (size_t)b->b[7] << 8 | b->b[8];

	cr_assert_eq(parse_sc(b->b, b->n, body_len, &h), SNI_OK);
	cr_assert_str_eq(h.name, "fit.example");
	cr_assert_eq(parse_sc(b->b, b->n, body_len - 1, &h), SNI_REJECT);
	cr_assert_eq(h.reason, SNI_R_TOO_LARGE);
}

Test(record, ignores_bytes_after_the_hello_records)
{
	struct sni_hello h;
	struct hello_opts o = {.sni = "early.example", .records = 2};
	struct buf *b = built(&o);
	size_t n = b->n;

	/* 0-RTT data or whatever the client pipelines is not ours to judge. */
	put(b, "\x17\x03\x03\x00\x05hello", 10);
	cr_assert_eq(parse(b->b, b->n, &h), SNI_OK);
	cr_assert_eq(h.wire_len, n);
	cr_assert_str_eq(h.name, "early.example");
}

/* ---- every prefix, every split ---- */

/* Each proper prefix of a valid hello is a wait, for more bytes that really exist. */
static void every_prefix(const struct buf *b)
{
	struct sni_hello h;

	for (size_t len = 0; len < b->n; len++) {
		enum sni_status st = parse(b->b, len, &h);

		cr_assert_eq(st, SNI_NEED_MORE, "prefix %zu of %zu: status %d (%s)", len, b->n, st,
			     sni_reason_str(h.reason));
		cr_assert_gt(h.want, len, "prefix %zu: want %zu", len, h.want);
		cr_assert_leq(h.want, b->n, "prefix %zu: want %zu past the hello", len, h.want);
	}
}

Test(clienthello, every_prefix_of_captures_needs_more)
{
	for (size_t i = 0; i < ARRAY_SIZE(captures); i++)
		every_prefix(load(captures[i].file));
}

Test(clienthello, every_prefix_of_built_hellos_needs_more)
{
	for (size_t i = 0; i < ARRAY_SIZE(shapes); i++)
		every_prefix(built(&shapes[i]));
}

/* Re-frame the (single-record) hello w so that its message is cut at the given offsets. */
static void reframe(const struct buf *w, const size_t *cuts, size_t n_cuts, struct buf *out)
{
	const uint8_t *msg = w->b + 5;
	size_t msg_len = w->n - 5, start = 0;

	out->n = 0;
	for (size_t k = 0; k <= n_cuts; k++) {
		size_t end = k < n_cuts ? cuts[k] : msg_len;

		put8(out, 22);
		put16(out, 0x0301);
		put16(out, end - start);
		put(out, msg + start, end - start);
		start = end;
	}
}

Test(record, every_two_record_split_parses_the_same)
{
	static struct buf r;

	for (size_t i = 0; i < ARRAY_SIZE(captures); i++) {
		struct buf *b = load(captures[i].file);

		for (size_t cut = 1; cut < b->n - 5; cut++) {
			reframe(b, &cut, 1, &r);
			expect_ok(r.b, r.n, captures[i].name);
		}
	}
}

Test(record, every_three_record_split_parses_the_same)
{
	static struct buf r;
	struct buf *b = load("openssl_s_client.bin");
	size_t msg_len = b->n - 5;

	for (size_t a = 1; a < msg_len; a++) {
		for (size_t c = a + 1; c < msg_len; c++) {
			size_t cuts[2] = {a, c};

			reframe(b, cuts, 2, &r);
			expect_ok(r.b, r.n, "example.com");
		}
	}
}

Test(record, one_byte_records)
{
	static size_t cuts[SCRATCH];
	static struct buf r;
	struct buf *b = load("curl.bin");
	size_t msg_len = b->n - 5;

	for (size_t k = 0; k + 1 < msg_len; k++)
		cuts[k] = k + 1;
	reframe(b, cuts, msg_len - 1, &r);
	cr_assert_eq(r.n, msg_len * 6);
	expect_ok(r.b, r.n, "example.com");
	every_prefix(&r);
}

/* ---- every vector length +-1 ---- */

struct lenfield {
	size_t off;
	unsigned width;
	bool framing; /* record or handshake length: +1 may rightly mean "wait" */
};

/*
 * The test's own walk of a valid single-record hello, listing each length
 * the parser frames. Deliberately separate code from sni.c: an oracle.
 */
static size_t length_fields(const struct buf *w, struct lenfield *f)
{
	const uint8_t *b = w->b;
	size_t n = 0, p, end;

	f[n++] = (struct lenfield){3, 2, true};
	f[n++] = (struct lenfield){6, 3, true};
	p = 9 + 2 + 32;
	f[n++] = (struct lenfield){p, 1, false};
	p += 1 + b[p];
	f[n++] = (struct lenfield){p, 2, false};
	p += 2 + (b[p] << 8 | b[p + 1]);
	f[n++] = (struct lenfield){p, 1, false};
	p += 1 + b[p];
	f[n++] = (struct lenfield){p, 2, false};
	end = p + 2 + (b[p] << 8 | b[p + 1]);
	cr_assert_eq(end, w->n, "oracle walk lost its way");
	for (p += 2; p < end;) {
		unsigned type = b[p] << 8 | b[p + 1];
		size_t len = (size_t)b[p + 2] << 8 | b[p + 3];

		f[n++] = (struct lenfield){p + 2, 2, false};
		if (type == 0) {
			f[n++] = (struct lenfield){p + 4, 2, false}; /* server_name_list */
			f[n++] = (struct lenfield){p + 7, 2, false}; /* HostName */
		}
		p += 4 + len;
	}
	return n;
}

static void mutate_lengths(const struct buf *w)
{
	static struct buf m;
	struct lenfield f[128];
	size_t n = length_fields(w, f);

	for (size_t i = 0; i < n; i++) {
		for (int delta = -1; delta <= 1; delta += 2) {
			uint32_t v = 0;
			struct sni_hello h;
			enum sni_status st;

			m = *w;
			for (unsigned k = 0; k < f[i].width; k++)
				v = v << 8 | m.b[f[i].off + k];
			if ((delta < 0 && v == 0) ||
			    (delta > 0 && v == (1u << (8 * f[i].width)) - 1))
				continue;
			v += (uint32_t)delta;
			for (unsigned k = 0; k < f[i].width; k++)
				m.b[f[i].off + k] = (uint8_t)(v >> (8 * (f[i].width - 1 - k)));
			st = parse(m.b, m.n, &h);
			if (f[i].framing)
				cr_assert_neq(st, SNI_OK, "length at %zu %+d", f[i].off, delta);
			else
				cr_assert_eq(st, SNI_REJECT, "length at %zu %+d: status %d",
					     f[i].off, delta, st);
		}
	}
}

Test(clienthello, every_length_off_by_one_is_rejected)
{
	for (size_t i = 0; i < ARRAY_SIZE(captures); i++)
		mutate_lengths(load(captures[i].file));
	for (size_t i = 0; i < ARRAY_SIZE(shapes); i++) {
		struct hello_opts o = shapes[i];

		o.records = 1;
		if (o.size > 8192)
			continue;
		mutate_lengths(built(&o));
	}
}

/* ---- record layer rejections ---- */

static void expect_bytes_reject(const void *p, size_t n, enum sni_reason why)
{
	struct buf b = {.n = 0};

	put(&b, p, n);
	expect_reject(&b, why);
}

Test(record, rejects_plain_http_on_first_byte)
{
	expect_bytes_reject("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 37, SNI_R_NOT_HANDSHAKE);
	expect_bytes_reject("G", 1, SNI_R_NOT_HANDSHAKE);
}

Test(record, rejects_non_handshake_first_record)
{
	expect_bytes_reject("\x17\x03\x03\x00\x01\x00", 6, SNI_R_NOT_HANDSHAKE);
	expect_bytes_reject("\x15\x03\x01\x00\x02\x02\x28", 7, SNI_R_NOT_HANDSHAKE);
	expect_bytes_reject("\x80\x2e\x01\x03\x01", 5, SNI_R_NOT_HANDSHAKE); /* SSLv2 hello */
}

Test(record, rejects_bad_record_version)
{
	expect_bytes_reject("\x16\x02", 2, SNI_R_RECORD_VERSION);
	expect_bytes_reject("\x16\x04\x01\x00\x10", 5, SNI_R_RECORD_VERSION);
}

Test(record, rejects_record_length_zero)
{
	expect_bytes_reject("\x16\x03\x01\x00\x00", 5, SNI_R_RECORD_LENGTH);
}

Test(record, rejects_record_length_over_2_14_plus_2048)
{
	struct sni_hello h;

	expect_bytes_reject("\x16\x03\x01\x48\x01", 5, SNI_R_RECORD_LENGTH);
	/* 2^14 + 2048 itself is tolerated when scratch could hold such a hello. */
	cr_assert_eq(parse_sc((const uint8_t *)"\x16\x03\x01\x48\x00", 5, SCRATCH_MAP, &h),
		     SNI_NEED_MORE);
	cr_assert_eq(h.want, 5 + 0x4800);
	cr_assert_eq(parse_sc((const uint8_t *)"\x16\x03\x01\x48\x01", 5, SCRATCH_MAP, &h),
		     SNI_REJECT);
	cr_assert_eq(h.reason, SNI_R_RECORD_LENGTH);
}

Test(record, rejects_record_longer_than_scratch_allows_at_once)
{
	struct sni_hello h;

	/* 2000-byte record, 1024 bytes of scratch: no valid hello fits, and want stays bounded. */
	cr_assert_eq(parse_sc((const uint8_t *)"\x16\x03\x01\x07\xd0", 5, 1024, &h), SNI_REJECT);
	cr_assert_eq(h.reason, SNI_R_TOO_LARGE);
	cr_assert_eq(parse_sc((const uint8_t *)"\x16\x03\x01\x04\x04", 5, 1024, &h), SNI_NEED_MORE);
	cr_assert_eq(h.want, 5 + 1028);
}

Test(record, rejects_zero_length_second_record)
{
	struct hello_opts o = {.sni = "example.com", .records = 2};
	struct buf *b = built(&o);
	size_t first = 5 + ((size_t)b->b[3] << 8 | b->b[4]);

	b->n = first;
	put(b, "\x16\x03\x01\x00\x00", 5);
	expect_reject(b, SNI_R_RECORD_LENGTH);
}

Test(record, rejects_bad_version_in_second_record)
{
	struct hello_opts o = {.sni = "example.com", .records = 2};
	struct buf *b = built(&o);
	size_t first = 5 + ((size_t)b->b[3] << 8 | b->b[4]);

	b->b[first + 1] = 0x07;
	expect_reject(b, SNI_R_RECORD_VERSION);
}

Test(record, rejects_change_cipher_spec_between_fragments)
{
	struct hello_opts o = {.sni = "example.com", .records = 2};
	struct buf *b = built(&o);
	size_t first = 5 + ((size_t)b->b[3] << 8 | b->b[4]);

	b->b[first] = 20;
	expect_reject(b, SNI_R_NOT_CLIENT_HELLO);
	b->b[first] = 23;
	b->n = first + 1; /* judged on its first byte alone */
	expect_reject(b, SNI_R_NOT_CLIENT_HELLO);
}

Test(record, rejects_trailing_bytes_in_the_hello_record)
{
	struct hello_opts o = {.sni = "example.com"};
	struct buf *b = built(&o);
	size_t rlen = (size_t)b->b[3] << 8 | b->b[4];

	/* The record says one byte more than the handshake message holds. */
	rlen++;
	b->b[3] = (uint8_t)(rlen >> 8);
	b->b[4] = (uint8_t)rlen;
	put8(b, 0);
	expect_reject(b, SNI_R_MALFORMED);
	b->n -= 1; /* ... and it is refused before that byte even arrives */
	expect_reject(b, SNI_R_MALFORMED);
}

Test(record, rejects_other_handshake_types)
{
	/* ServerHello (2), Certificate (11), Finished (20) */
	expect_bytes_reject("\x16\x03\x03\x00\x04\x02\x00\x00\x00", 9, SNI_R_NOT_CLIENT_HELLO);
	expect_bytes_reject("\x16\x03\x03\x00\x04\x0b\x00\x00\x00", 9, SNI_R_NOT_CLIENT_HELLO);
	/* The type byte alone, in a 1-byte record, is enough. */
	expect_bytes_reject("\x16\x03\x03\x00\x01\x14", 6, SNI_R_NOT_CLIENT_HELLO);
	expect_bytes_reject("\x16\x03\x03\x00\x05\x02", 6, SNI_R_NOT_CLIENT_HELLO);
}

Test(record, rejects_hello_larger_than_scratch)
{
	struct sni_hello h;
	struct hello_opts o = {.sni = "big.example.com", .size = 8192, .records = 3};
	struct buf *b = built(&o);

	cr_assert_eq(parse_sc(b->b, b->n, 4096, &h), SNI_REJECT);
	cr_assert_eq(h.reason, SNI_R_TOO_LARGE);
	/* Known from the handshake header alone, nine bytes in. */
	cr_assert_eq(parse_sc(b->b, 9, 4096, &h), SNI_REJECT);
	cr_assert_eq(h.reason, SNI_R_TOO_LARGE);
	cr_assert_eq(parse_sc(b->b, 9, 0, &h), SNI_REJECT);
}

Test(record, empty_input_wants_a_record_header)
{
	struct sni_hello h;

	cr_assert_eq(parse(NULL, 0, &h), SNI_NEED_MORE);
	cr_assert_eq(h.want, 5);
}

/* ---- ClientHello rejections ---- */

static void expect_body_reject(const struct body_opts *o, enum sni_reason why)
{
	static struct buf bb, w;

	g_exts.n = 0;
	ext_sni(&g_exts, "example.com", 11);
	bb.n = 0;
	body(&bb, o, &g_exts);
	wrap(&w, &bb);
	expect_reject(&w, why);
}

Test(clienthello, baseline_hand_built_hello_is_accepted)
{
	const struct buf *w = hello_named("example.com", 11);

	expect_ok(w->b, w->n, "example.com");
}

Test(clienthello, rejects_truncated_body)
{
	static struct buf bb, w;

	bb.n = 0;
	put(&bb, "\x03\x03", 2);
	put(&bb, "0123456789", 10); /* random cut short */
	wrap(&w, &bb);
	expect_reject(&w, SNI_R_MALFORMED);
	bb.n = 0;
	wrap(&w, &bb);
	expect_reject(&w, SNI_R_MALFORMED); /* a zero-length ClientHello */
}

Test(clienthello, rejects_bad_body_vectors)
{
	struct body_opts o = BODY_DEFAULT;

	o.sid_len = 33;
	expect_body_reject(&o, SNI_R_MALFORMED);
	o = (struct body_opts)BODY_DEFAULT;
	o.suites_len = 3;
	expect_body_reject(&o, SNI_R_MALFORMED);
	o.suites_len = 0;
	expect_body_reject(&o, SNI_R_MALFORMED);
	o = (struct body_opts)BODY_DEFAULT;
	o.comp_len = 0;
	expect_body_reject(&o, SNI_R_MALFORMED);
	o = (struct body_opts)BODY_DEFAULT;
	o.version = 0x0202;
	expect_body_reject(&o, SNI_R_MALFORMED);
	o = (struct body_opts)BODY_DEFAULT;
	o.trailing = 1;
	expect_body_reject(&o, SNI_R_MALFORMED);
}

Test(clienthello, accepts_empty_session_id_and_sslv3_version)
{
	static struct buf bb, w;
	struct body_opts o = BODY_DEFAULT;

	g_exts.n = 0;
	ext_sni(&g_exts, "example.com", 11);
	o.sid_len = 0;
	o.version = 0x0300;
	body(&bb, &o, &g_exts);
	wrap(&w, &bb);
	expect_ok(w.b, w.n, "example.com");
}

Test(clienthello, no_extensions_block_is_no_sni)
{
	struct body_opts o = BODY_DEFAULT;

	o.no_exts = true;
	expect_body_reject(&o, SNI_R_NO_SNI);
}

Test(clienthello, rejects_extension_overrunning_block)
{
	g_exts.n = 0;
	ext_sni(&g_exts, "example.com", 11);
	put16(&g_exts, 0x0017);
	put16(&g_exts, 4); /* claims 4 bytes, 2 follow */
	put16(&g_exts, 0);
	expect_reject(hello_with(&g_exts), SNI_R_MALFORMED);
	g_exts.n = 0;
	ext_sni(&g_exts, "example.com", 11);
	put8(&g_exts, 0x00); /* half an extension type */
	expect_reject(hello_with(&g_exts), SNI_R_MALFORMED);
}

Test(clienthello, rejects_duplicate_extension)
{
	g_exts.n = 0;
	ext(&g_exts, 0x0017, NULL, 0);
	ext_sni(&g_exts, "example.com", 11);
	ext(&g_exts, 0x0017, NULL, 0);
	expect_reject(hello_with(&g_exts), SNI_R_DUP_EXTENSION);
}

Test(clienthello, rejects_duplicate_server_name)
{
	g_exts.n = 0;
	ext_sni(&g_exts, "example.com", 11);
	ext_sni(&g_exts, "evil.example", 12);
	expect_reject(hello_with(&g_exts), SNI_R_DUP_EXTENSION);
}

Test(clienthello, rejects_duplicate_grease)
{
	g_exts.n = 0;
	ext(&g_exts, 0x3a3a, NULL, 0);
	ext_sni(&g_exts, "example.com", 11);
	ext(&g_exts, 0x3a3a, "\0", 1);
	expect_reject(hello_with(&g_exts), SNI_R_DUP_EXTENSION);
}

Test(clienthello, duplicates_found_among_many_extensions)
{
	/* Past the short list, the bitmap path; 3000 extensions still parse in a blink. */
	g_exts.n = 0;
	ext_sni(&g_exts, "example.com", 11);
	for (unsigned t = 0x1000; t < 0x1000 + 3000; t++)
		ext(&g_exts, t, NULL, 0);
	hello_with(&g_exts);
	expect_ok(g_wire.b, g_wire.n, "example.com");
	ext(&g_exts, 0x1000 + 2999, NULL, 0);
	expect_reject(hello_with(&g_exts), SNI_R_DUP_EXTENSION);
	g_exts.n -= 4;
	ext(&g_exts, 0x0000, NULL, 0); /* a second server_name after the 33rd extension */
	expect_reject(hello_with(&g_exts), SNI_R_DUP_EXTENSION);
}

Test(clienthello, rejects_missing_server_name)
{
	struct hello_opts o = {.sni = NULL, .ech = true};
	struct buf *b = built(&o);
	struct sni_hello h;

	expect_reject(b, SNI_R_NO_SNI);
	cr_assert_eq(parse(b->b, b->n, &h), SNI_REJECT);
	cr_assert(h.ech, "ech is reported even without a name");
}

Test(clienthello, rejects_malformed_server_name_extension)
{
	/* empty extension_data */
	g_exts.n = 0;
	ext(&g_exts, 0x0000, NULL, 0);
	expect_reject(hello_with(&g_exts), SNI_R_SNI_MALFORMED);
	/* empty server_name_list */
	g_exts.n = 0;
	ext(&g_exts, 0x0000, "\x00\x00", 2);
	expect_reject(hello_with(&g_exts), SNI_R_SNI_MALFORMED);
	/* list longer than the extension */
	g_exts.n = 0;
	ext(&g_exts, 0x0000,
	    "\x00\x09\x00\x00\x03"
	    "abc",
	    8);
	expect_reject(hello_with(&g_exts), SNI_R_SNI_MALFORMED);
	/* a byte after the list */
	g_exts.n = 0;
	ext(&g_exts, 0x0000,
	    "\x00\x06\x00\x00\x03"
	    "abc"
	    "\x00",
	    9);
	expect_reject(hello_with(&g_exts), SNI_R_SNI_MALFORMED);
	/* name longer than the list */
	g_exts.n = 0;
	ext(&g_exts, 0x0000,
	    "\x00\x06\x00\x00\x04"
	    "abc",
	    8);
	expect_reject(hello_with(&g_exts), SNI_R_SNI_MALFORMED);
	/* name type truncated */
	g_exts.n = 0;
	ext(&g_exts, 0x0000,
	    "\x00\x07\x00\x00\x03"
	    "abc"
	    "\x00",
	    9);
	expect_reject(hello_with(&g_exts), SNI_R_SNI_MALFORMED);
}

Test(clienthello, rejects_name_type_other_than_host_name)
{
	g_exts.n = 0;
	ext(&g_exts, 0x0000,
	    "\x00\x06\x01\x00\x03"
	    "abc",
	    8);
	expect_reject(hello_with(&g_exts), SNI_R_SNI_MALFORMED);
}

Test(clienthello, rejects_two_host_names)
{
	g_exts.n = 0;
	ext(&g_exts, 0x0000,
	    "\x00\x0c\x00\x00\x03"
	    "abc"
	    "\x00\x00\x03"
	    "def",
	    14);
	expect_reject(hello_with(&g_exts), SNI_R_SNI_MALFORMED);
}

/* ---- host names ---- */

/*
 * Inline arrays, not pointers: criterion copies parameters into a test
 * process that may not share our address layout.
 */
struct name_case {
	char in[40];
	size_t len;
	enum sni_reason reason; /* SNI_R_NONE: accepted as want */
	char want[40];
};

#define NC(s, r, w)                    \
	{                              \
		s, sizeof(s) - 1, r, w \
	}

static struct name_case name_cases[] = {
	NC("example.com", SNI_R_NONE, "example.com"),
	NC("EXAMPLE.Com", SNI_R_NONE, "example.com"),
	NC("example.com.", SNI_R_NONE, "example.com"),
	NC("a", SNI_R_NONE, "a"),
	NC("xn--bcher-kva.example", SNI_R_NONE, "xn--bcher-kva.example"),
	NC("_dmarc.under_score.example", SNI_R_NONE, "_dmarc.under_score.example"),
	NC("192.0.2.1", SNI_R_NONE, "192.0.2.1"),
	NC("", SNI_R_NAME_EMPTY, ""),
	NC(".", SNI_R_NAME_EMPTY, ""),
	NC("example.com..", SNI_R_NAME_INVALID, ""),
	NC("a..b", SNI_R_NAME_INVALID, ""),
	NC(".example.com", SNI_R_NAME_INVALID, ""),
	NC("ex\0ample.com", SNI_R_NAME_INVALID, ""),
	NC("example.com\0", SNI_R_NAME_INVALID, ""),
	NC("exa mple.com", SNI_R_NAME_INVALID, ""),
	NC("ex\xc3\xa4mple.com", SNI_R_NAME_INVALID, ""),
	NC("*.example.com", SNI_R_NAME_INVALID, ""),
	NC("example.com:443", SNI_R_NAME_INVALID, ""),
	NC("a/b", SNI_R_NAME_INVALID, ""),
	NC("tab\there", SNI_R_NAME_INVALID, ""),
	NC("del\x7f", SNI_R_NAME_INVALID, ""),
};

ParameterizedTestParameters(clienthello, host_names)
{
	return cr_make_param_array(struct name_case, name_cases, ARRAY_SIZE(name_cases));
}

ParameterizedTest(struct name_case *c, clienthello, host_names)
{
	const struct buf *w = hello_named(c->in, c->len);

	if (c->reason == SNI_R_NONE)
		expect_ok(w->b, w->n, c->want);
	else
		expect_reject(w, c->reason);
}

/* The oracle for which bytes a host name may hold, written out plainly. */
static char host_byte(int c)
{
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')
		return (char)c;
	if (c >= 'A' && c <= 'Z')
		return (char)(c + 32);
	return 0;
}

Test(clienthello, every_byte_value_in_a_label)
{
	for (int c = 0; c < 256; c++) {
		char in[] = {'a', (char)c, 'b', '.', 'c', 'o', 'm'};
		char want[] = {'a', host_byte(c), 'b', '.', 'c', 'o', 'm', '\0'};
		const struct buf *w = hello_named(in, sizeof(in));

		if (c == '.')
			expect_ok(w->b, w->n, "a.b.com");
		else if (host_byte(c))
			expect_ok(w->b, w->n, want);
		else
			expect_reject(w, SNI_R_NAME_INVALID);
	}
}

Test(clienthello, rejects_embedded_nul)
{
	expect_reject(hello_named("good.example\0.evil.example", 26), SNI_R_NAME_INVALID);
}

/* A name of total length n made of labels of at most label bytes. */
static size_t long_name(char *out, size_t n, size_t label)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (i % (label + 1) == label) ? '.' : (char)('a' + i % 26);
	if (n && out[n - 1] == '.')
		out[n - 1] = 'z';
	return n;
}

Test(clienthello, name_length_limits)
{
	char name[400];
	struct sni_hello h;
	const struct buf *w;

	w = hello_named(name, long_name(name, 253, 63));
	cr_assert_eq(parse(w->b, w->n, &h), SNI_OK);
	cr_assert_eq(h.name_len, 253);
	cr_assert_eq(memcmp(h.name, name, 253), 0);
	cr_assert_eq(h.name[253], '\0');

	name[253] = '.'; /* 254 with the trailing dot is still 253 */
	w = hello_named(name, 254);
	cr_assert_eq(parse(w->b, w->n, &h), SNI_OK);
	cr_assert_eq(h.name_len, 253);

	expect_reject(hello_named(name, long_name(name, 254, 63)), SNI_R_NAME_TOO_LONG);
	expect_reject(hello_named(name, long_name(name, 399, 63)), SNI_R_NAME_TOO_LONG);

	memset(name, 'x', 63);
	memcpy(name + 63, ".com", 4);
	w = hello_named(name, 67);
	expect_ok(w->b, w->n,
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.com");
	memset(name, 'x', 64);
	memcpy(name + 64, ".com", 4);
	expect_reject(hello_named(name, 68), SNI_R_NAME_TOO_LONG);
}

/* ---- reason tokens ---- */

Test(clienthello, reason_tokens)
{
	static const char *const want[SNI_R__COUNT] = {
		"none",		 "not_handshake",    "record_version",
		"record_length", "not_client_hello", "too_large",
		"malformed",	 "dup_extension",    "no_sni",
		"sni_malformed", "name_empty",	     "name_too_long",
		"name_invalid",
	};

	for (int r = 0; r < SNI_R__COUNT; r++)
		cr_assert_str_eq(sni_reason_str((enum sni_reason)r), want[r]);
	cr_assert_str_eq(sni_reason_str(SNI_R__COUNT), "unknown");
	cr_assert_str_eq(sni_reason_str((enum sni_reason)999), "unknown");
}
