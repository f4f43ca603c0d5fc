/* SPDX-License-Identifier: MIT */
/*
 * fuzz_conf: the configuration loaders on arbitrary text.
 *
 * The input goes to conf_load_buf() (snigate's own YAML) and to
 * conf_load_envoy_buf() (the Envoy bootstrap import). Beyond "no crash, no
 * over-read, no leak" (ASan's leak check runs when libFuzzer exits, and a
 * replay under ASan checks the committed corpus the same way), each result
 * must keep the loaders' contract: success gives a configuration that
 * conf_validate() can be run on and conf_free() releases; failure gives a
 * negative errno-style value and an error that names the file, says what is
 * wrong in a NUL-terminated message, and points at a field or a line unless
 * it is about the whole document (empty, or a second document).
 */
#include "conf/conf.h"
#include "conf/envoy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void check_result(int rc, struct conf *c, const struct conf_error *err)
{
	if (rc == 0) {
		struct conf_error verr;

		check(c != NULL);
		/* May fail (no listener yet), but must not crash, and must say why. */
		if (conf_validate(c, &verr) < 0)
			check(verr.msg[0] != '\0');
		conf_free(c);
		return;
	}
	check(rc < 0 && c == NULL);
	check(memchr(err->file, '\0', sizeof(err->file)) &&
	      memchr(err->msg, '\0', sizeof(err->msg)) &&
	      memchr(err->field, '\0', sizeof(err->field)));
	check(err->msg[0] != '\0');
	check(strcmp(err->file, "fuzz.yaml") == 0);
	if (rc == -EINVAL)
		check(err->field[0] || err->line > 0 || !strncmp(err->msg, "empty", 5) ||
		      strstr(err->msg, "YAML") != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_error err;
	struct conf *c = NULL;
	char *buf;
	int rc;

	/* Exactly size bytes and no terminator, so reading past the end is caught. */
	buf = malloc(size ? size : 1);
	check(buf != NULL);
	memcpy(buf, data, size);

	memset(&err, 0x55, sizeof(err));
	rc = conf_load_buf(buf, size, "fuzz.yaml", &c, &err);
	check_result(rc, c, &err);

	c = NULL;
	memset(&err, 0x55, sizeof(err));
	rc = conf_load_envoy_buf(buf, size, "fuzz.yaml", &c, &err);
	check_result(rc, c, &err);

	(void)conf_envoy_detect(buf, size);
	free(buf);
	return 0;
}
