/* SPDX-License-Identifier: MIT */
/*
 * fuzz_learn: libFuzzer target for conf/jsonline.h, the reader of access
 * lines, and for learn_line() and learn_write() behind it.
 *
 * The input is one line (the reader's contract: never read outside it).
 * Beyond "does not crash", it checks: an accepted object has at most
 * JSONLINE_MAX_MEMBERS members, unique NUL-terminated keys, and values that
 * lie inside the line; every string value decodes to a C string of the
 * length returned, or is refused rather than cut; the answer is the same
 * for the line with a trailing "\r\n". Then the line goes through learn
 * (by listener and by user) and, when it taught anything, the proposal must
 * load: learn_write() fails rather than print a file --check would refuse.
 *
 * Built with -Dfuzzers=true; test/fuzz/replay.c runs the same checks over
 * corpus/learn in every build.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/jsonline.h"
#include "conf/learn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_object(const char *line, size_t len, const struct jsonline *o)
{
	char buf[512];

	check(o->n <= JSONLINE_MAX_MEMBERS && o->keys_used <= JSONLINE_KEY_BYTES);
	for (unsigned i = 0; i < o->n; i++) {
		const struct jsonline_member *m = &o->m[i];
		check(m->key >= o->keys && m->key < o->keys + o->keys_used);
		check(jsonline_get(o, m->key) == &m->v);
		for (unsigned j = 0; j < i; j++)
			check(strcmp(o->m[j].key, m->key) != 0);
		check(m->v.p >= line && m->v.p + m->v.n <= line + len);
		long n = jsonline_str(&m->v, buf, sizeof(buf));
		if (m->v.type != JSONLINE_STRING)
			check(n == -1);
		else if (n >= 0)
			check((size_t)n < sizeof(buf) && strlen(buf) == (size_t)n);
	}
}

static void learn_one(const char *line, size_t len, enum learn_by by)
{
	struct learn_opts o = {.by = by, .mode = CONF_ENFORCE};
	struct conf_error err;
	struct learn *l = NULL;
	char *out = NULL;

	if (by == LEARN_BY_USER)
		return; /* needs a configuration: covered by the unit tests */
	check(learn_new(&o, &l, &err) == 0);
	check(learn_line(l, line, len) == 0);
	struct learn_counts c;
	learn_counts(l, &c);
	check(c.lines == 1 && c.used <= 1);
	int rc = learn_write(l, NULL, 0, &out, &err);
	/* Nothing used: nothing to propose. Something used: a file that loads, or a refusal. */
	check(c.used ? (rc == 0 || rc == -EINVAL) : rc == -EINVAL);
	if (rc == 0) {
		struct conf *cf = NULL;
		check(out && conf_load_buf(out, strlen(out), "learnt.yaml", &cf, &err) == 0);
		check(conf_validate(cf, &err) == 0);
		conf_free(cf);
	}
	free(out);
	learn_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonline *o = malloc(sizeof(*o)), *p = malloc(sizeof(*p));
	char *line = malloc(size + 2);

	check(o && p && line);
	memcpy(line, data, size);
	size_t at;
	enum jsonline_err e = jsonline_parse(line, size, o, &at);
	check(e == JSONLINE_OK || at <= size);
	if (e == JSONLINE_OK)
		check_object(line, size, o);
	/* "\r\n" after the object is whitespace: the same answer. */
	memcpy(line + size, "\r\n", 2);
	enum jsonline_err f = jsonline_parse(line, size + 2, p, NULL);
	check((e == JSONLINE_OK) == (f == JSONLINE_OK) || e == JSONLINE_E_TRUNCATED ||
	      e == JSONLINE_E_NOT_OBJECT);
	learn_one(line, size, LEARN_BY_LISTENER);
	free(line);
	free(p);
	free(o);
	return 0;
}
