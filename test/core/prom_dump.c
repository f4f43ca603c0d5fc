/* SPDX-License-Identifier: MIT */
/* Write prom_example()'s document to stdout, for `promtool check metrics`. */
#include <stdio.h>
#include <unistd.h>

#include "prom_example.h"

int main(void)
{
	struct admin_buf b = {0};
	int r = prom_example(&b);

	if (r || fwrite(b.p, 1, b.len, stdout) != b.len || fflush(stdout)) {
		fprintf(stderr, "prom_dump: writing the example failed (%d)\n", r);
		admin_buf_release(&b);
		return 1;
	}
	admin_buf_release(&b);
	return 0;
}
