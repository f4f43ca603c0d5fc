/* SPDX-License-Identifier: MIT */
/*
 * gen_seeds: write hello_build() ClientHellos into a corpus directory.
 *
 *   ninja -C build test/fuzz/gen_seeds
 *   ./build/test/fuzz/gen_seeds test/fuzz/corpus/clienthello
 *
 * The shapes are the ones the parser must handle and a fuzzer would take
 * long to find on its own: split records, a post-quantum key share, ECH,
 * GREASE, an 8 KiB hello, a hello without server_name.
 */
#include "bench/hello.h"

#include <stdio.h>

static const struct {
	const char *file;
	struct hello_opts o;
} seeds[] = {
	{"built_plain.bin", {.sni = "example.com"}},
	{"built_grease_ech_pq.bin",
	 {.sni = "pq.example.com", .grease = true, .ech = true, .pq_keyshare = true}},
	{"built_pq_1800_3rec.bin",
	 {.sni = "split.example.net", .pq_keyshare = true, .size = 1800, .records = 3}},
	{"built_8k_2rec.bin", {.sni = "big.example.org", .size = 8192, .records = 2}},
	{"built_upper_dot.bin", {.sni = "WWW.Upper.Example.", .grease = true}},
	{"built_no_sni.bin", {.sni = NULL, .ech = true}},
	{"built_40rec.bin", {.sni = "tiny.records.example", .records = 40}},
	{"built_odd_pad.bin", {.sni = "pad.example", .size = 330}},
};

int main(int argc, char **argv)
{
	static uint8_t buf[65536];
	char path[4096];
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		long n = hello_build(&seeds[i].o, buf, sizeof(buf));
		FILE *f;

		if (n < 0) {
			fprintf(stderr, "%s: hello_build failed\n", seeds[i].file);
			return 1;
		}
		snprintf(path, sizeof(path), "%s/%s", argv[1], seeds[i].file);
		f = fopen(path, "wb");
		if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n || fclose(f)) {
			perror(path);
			return 1;
		}
	}
	return 0;
}
