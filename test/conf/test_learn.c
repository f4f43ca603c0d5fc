/* SPDX-License-Identifier: MIT */
/*
 * conf/jsonline and conf/learn: the access-line reader on good, cut and
 * hostile lines (every input flush against a PROT_NONE page, so a read
 * past the end faults), and the proposal learn writes from such lines:
 * grouping, ports, wildcards and where they must never go, policy names,
 * and that every text it hands out loads and validates with conf/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf/conf.h"
#include "conf/jsonline.h"
#include "conf/learn.h"

#define SPAN 40000
#include "test/sni/guard.h"

/* An access line as core/accesslog.c writes it; NULL authority, sni and user are null. */
static const char *aline(const char *ts, const char *client, const char *listener,
			 const char *authority, const char *sni, const char *decision,
			 const char *user)
{
	static char buf[8][2048];
	static unsigned k;
	char auth[400], s[400], u[400];
	char *b = buf[k++ % 8];

	snprintf(auth, sizeof(auth), authority ? "\"%s\"" : "null", authority);
	snprintf(s, sizeof(s), sni ? "\"%s\"" : "null", sni);
	snprintf(u, sizeof(u), user ? "\"%s\"" : "null", user);
	snprintf(b, 2048,
		 "{\"ts\":\"%s\",\"client\":\"%s\",\"listener\":\"%s\",\"path\":\"%s\","
		 "\"authority\":%s,\"sni\":%s,\"decision\":\"%s\",\"reason\":\"done\","
		 "\"upstream\":\"192.0.2.1:443\",\"bytes_up\":517,\"bytes_down\":4242,"
		 "\"hello_ms\":0,\"dns_ms\":1,\"connect_ms\":2,\"duration_ms\":30,\"ech\":false,"
		 "\"policy\":\"default\",\"user\":%s,\"gen\":0}",
		 ts, client, listener, authority ? "connect" : "tls", auth, s, decision, u);
	return b;
}

#define TS1 "2026-12-07T10:00:00.000Z"
#define TS2 "2026-12-07T11:00:00.000Z"
#define TS3 "2026-12-07T12:00:00.000Z"
#define L1  "127.0.0.1:8443"

/* A TLS line: SNI name, allowed, from 10.0.0.1 on L1. */
static const char *tls(const char *name)
{
	return aline(TS1, "10.0.0.1:40000", L1, NULL, name, "allow", NULL);
}

static enum jsonline_err parse_flush(const char *s, size_t n, struct jsonline *o)
{
	return jsonline_parse((const char *)flush(s, n), n, o, NULL);
}

static enum jsonline_err parse_str(const char *s, struct jsonline *o)
{
	return parse_flush(s, strlen(s), o);
}

TestSuite(jsonline, .init = guard_setup, .fini = guard_teardown);

Test(jsonline, reads_an_access_line)
{
	static struct jsonline o;
	char buf[64];
	const char *l = aline(TS1, "[2001:db8::1]:40000", L1, "api.example.com:8443",
			      "api.example.com", "would_deny", "alice");

	cr_assert_eq(parse_str(l, &o), JSONLINE_OK);
	cr_assert_eq(o.n, 19);
	cr_assert_eq(jsonline_str(jsonline_get(&o, "client"), buf, sizeof(buf)), 19);
	cr_assert_str_eq(buf, "[2001:db8::1]:40000");
	cr_assert_eq(jsonline_get(&o, "bytes_up")->type, JSONLINE_NUMBER);
	cr_assert_eq(jsonline_get(&o, "bytes_up")->n, 3);
	cr_assert_eq(jsonline_get(&o, "ech")->type, JSONLINE_FALSE);
	cr_assert_eq(jsonline_get(&o, "gen")->type, JSONLINE_NUMBER);
	cr_assert_null(jsonline_get(&o, "nope"));
	cr_assert_eq(jsonline_str(jsonline_get(&o, "gen"), buf, sizeof(buf)), -1, "a number");
	cr_assert_eq(jsonline_str(NULL, buf, sizeof(buf)), -1);

	cr_assert_eq(parse_str("  {\"a\" : null , \"b\":true,\"c\":-0.5e+3}\r\n", &o), JSONLINE_OK);
	cr_assert_eq(jsonline_get(&o, "a")->type, JSONLINE_NULL);
	cr_assert_eq(jsonline_get(&o, "b")->type, JSONLINE_TRUE);
	cr_assert_eq(parse_str("{}", &o), JSONLINE_OK);
	cr_assert_eq(o.n, 0);
}

Test(jsonline, decodes_every_escape)
{
	static struct jsonline o;
	char buf[64];

	cr_assert_eq(parse_str("{\"v\":\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t\"}", &o), JSONLINE_OK);
	cr_assert_eq(jsonline_str(jsonline_get(&o, "v"), buf, sizeof(buf)), 16);
	cr_assert_str_eq(buf, "q\"b\\s/b\bf\fn\nr\rt\t");
	/* \u escapes become UTF-8, a surrogate pair one 4-byte character. */
	cr_assert_eq(parse_str("{\"v\":\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"}", &o), JSONLINE_OK);
	cr_assert_eq(jsonline_str(jsonline_get(&o, "v"), buf, sizeof(buf)), 10);
	cr_assert_str_eq(buf, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	/* Keys are decoded: an escaped key is the same key, and twice is refused. */
	cr_assert_eq(parse_str("{\"dec\\u0069sion\":\"allow\"}", &o), JSONLINE_OK);
	cr_assert_not_null(jsonline_get(&o, "decision"));
	cr_assert_eq(parse_str("{\"decision\":\"deny\",\"dec\\u0069sion\":\"allow\"}", &o),
		     JSONLINE_E_DUPLICATE);
	/* Raw bytes >= 0x80 pass as they are. */
	cr_assert_eq(parse_str("{\"v\":\"\xc3\xa9\"}", &o), JSONLINE_OK);
}

Test(jsonline, refuses_bad_escapes_and_control_bytes)
{
	static struct jsonline o;
	static const struct {
		const char *s;
		enum jsonline_err e;
	} bad[] = {
		{"{\"v\":\"\\x41\"}", JSONLINE_E_ESCAPE},
		{"{\"v\":\"\\u12g4\"}", JSONLINE_E_ESCAPE},
		{"{\"v\":\"\\u0000\"}", JSONLINE_E_ESCAPE},
		{"{\"v\":\"\\ud83d\"}", JSONLINE_E_ESCAPE},
		{"{\"v\":\"\\ud83dx\"}", JSONLINE_E_ESCAPE},
		{"{\"v\":\"\\ud83d\\u0041\"}", JSONLINE_E_ESCAPE},
		{"{\"v\":\"\\ude00\"}", JSONLINE_E_ESCAPE},
		{"{\"v\":\"a\tb\"}", JSONLINE_E_CONTROL},
		{"{\"v\":\"a\nb\"}", JSONLINE_E_CONTROL},
		{"{\"v\":1,}", JSONLINE_E_SYNTAX},
		{"{\"v\" 1}", JSONLINE_E_SYNTAX},
		{"{v:1}", JSONLINE_E_SYNTAX},
		{"{\"v\":tru}", JSONLINE_E_SYNTAX},
		{"{\"v\":nul1}", JSONLINE_E_SYNTAX},
		{"{\"v\":{}}", JSONLINE_E_NESTED},
		{"{\"v\":[1]}", JSONLINE_E_NESTED},
		{"{\"v\":1} x", JSONLINE_E_TRAILING},
		{"{\"v\":1}{}", JSONLINE_E_TRAILING},
		{"[1]", JSONLINE_E_NOT_OBJECT},
		{"snigate: ready", JSONLINE_E_NOT_OBJECT},
		{"", JSONLINE_E_NOT_OBJECT},
		{"{\"v\":01}", JSONLINE_E_NUMBER},
		{"{\"v\":1.}", JSONLINE_E_NUMBER},
		{"{\"v\":-}", JSONLINE_E_NUMBER},
		{"{\"v\":+1}", JSONLINE_E_NUMBER},
		{"{\"v\":.5}", JSONLINE_E_NUMBER},
		{"{\"v\":1e}", JSONLINE_E_NUMBER},
		{"{\"v\":0x10}", JSONLINE_E_SYNTAX},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(parse_str(bad[i].s, &o), bad[i].e, "%s: %s", bad[i].s,
			     jsonline_strerror(parse_str(bad[i].s, &o)));
	/* NUL bytes are bytes, not an end: inside a string and outside. */
	cr_assert_eq(parse_flush("{\"v\":\"a\0b\"}", 11, &o), JSONLINE_E_CONTROL);
	cr_assert_eq(parse_flush("{\"v\":1}\0", 8, &o), JSONLINE_E_TRAILING);
	cr_assert_eq(parse_flush("{\"v\":1\0}", 8, &o), JSONLINE_E_SYNTAX);
}

/* Every proper prefix of a valid line is an error, and none is read past its end. */
Test(jsonline, every_cut_of_a_line_is_refused_without_reading_past_it)
{
	static struct jsonline o;
	const char *l = aline(TS1, "10.0.0.1:1", L1, "a.example:8443", "a.example", "allow",
			      "al\\u00e9\\ud83d\\ude00");
	size_t n = strlen(l);

	cr_assert_eq(parse_flush(l, n, &o), JSONLINE_OK);
	for (size_t k = 0; k < n; k++) {
		enum jsonline_err e = parse_flush(l, k, &o);
		cr_assert_neq(e, JSONLINE_OK, "cut at %zu accepted", k);
		cr_assert(e == JSONLINE_E_TRUNCATED || e == JSONLINE_E_NOT_OBJECT ||
				  e == JSONLINE_E_ESCAPE || e == JSONLINE_E_NUMBER,
			  "cut at %zu: %s", k, jsonline_strerror(e));
	}
}

Test(jsonline, long_values_and_many_members)
{
	static struct jsonline o;
	static char big[SPAN], out[SPAN];
	size_t n = 0;

	/* A 30000-byte value: parsed; decoded only into a buffer that holds it. */
	n += (size_t)snprintf(big, sizeof(big), "{\"v\":\"");
	memset(big + n, 'a', 30000);
	n += 30000;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\"}");
	cr_assert_eq(parse_flush(big, n, &o), JSONLINE_OK);
	cr_assert_eq(jsonline_str(jsonline_get(&o, "v"), out, 30001), 30000);
	cr_assert_eq(jsonline_str(jsonline_get(&o, "v"), out, 30000), -1);
	cr_assert_str_eq(out, "", "a value that does not fit leaves \"\", not a cut value");
	cr_assert_eq(jsonline_str(jsonline_get(&o, "v"), out, 0), -1);
	/* \u escapes that grow when decoded are measured decoded. */
	cr_assert_eq(parse_str("{\"v\":\"\\u20ac\\u20ac\"}", &o), JSONLINE_OK);
	cr_assert_eq(jsonline_str(jsonline_get(&o, "v"), out, 7), 6);
	cr_assert_eq(jsonline_str(jsonline_get(&o, "v"), out, 6), -1);

	/* JSONLINE_MAX_MEMBERS members fit; one more does not. */
	n = (size_t)snprintf(big, sizeof(big), "{");
	for (unsigned i = 0; i < JSONLINE_MAX_MEMBERS + 1; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"k%u\":%u", i ? "," : "", i, i);
	big[n++] = '}';
	cr_assert_eq(parse_flush(big, n, &o), JSONLINE_E_TOO_MANY);
	n = (size_t)snprintf(big, sizeof(big), "{");
	for (unsigned i = 0; i < JSONLINE_MAX_MEMBERS; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"k%u\":%u", i ? "," : "", i, i);
	big[n++] = '}';
	cr_assert_eq(parse_flush(big, n, &o), JSONLINE_OK);
	cr_assert_eq(o.n, JSONLINE_MAX_MEMBERS);
	/* A key longer than the keys' room is refused, not cut. */
	n = (size_t)snprintf(big, sizeof(big), "{\"");
	memset(big + n, 'k', JSONLINE_KEY_BYTES);
	n += JSONLINE_KEY_BYTES;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\":1}");
	cr_assert_eq(parse_flush(big, n, &o), JSONLINE_E_TOO_MANY);
}

/* Random bytes and every single-byte change of a real line: no crash, no read past the end. */
Test(jsonline, hostile_input)
{
	static struct jsonline o;
	static const char alphabet[] = "{}[]\":,\\u0123456789abcdefeEtrunl -+.\x01\x7f\xff";
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char buf[512], v[512];

	for (unsigned round = 0; round < 20000; round++) {
		size_t n = (size_t)(x % sizeof(buf));
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = i == 0 && round % 2 ? '{' : alphabet[x % (sizeof(alphabet) - 1)];
		}
		if (parse_flush(buf, n, &o) == JSONLINE_OK)
			for (unsigned k = 0; k < o.n; k++)
				jsonline_str(&o.m[k].v, v, sizeof(v));
	}
	static const char subs[] = {'"', '\\', '{', '}', ':', ',', '\0', 'u', (char)0x80};
	const char *l = aline(TS1, "10.0.0.1:1", L1, NULL, "a.example", "allow", "bob");
	size_t n = strlen(l);
	for (size_t i = 0; i < n; i++) {
		for (size_t c = 0; c < sizeof(subs); c++) {
			memcpy(buf, l, n);
			buf[i] = subs[c];
			if (parse_flush(buf, n, &o) == JSONLINE_OK)
				for (unsigned k = 0; k < o.n; k++)
					jsonline_str(&o.m[k].v, v, sizeof(v));
		}
	}
}

/* ------------------------------------------------------------------------ */
/* learn                                                                    */

static const char *err_str(const struct conf_error *err)
{
	static char buf[768];
	return conf_error_str(err, buf, sizeof(buf));
}

static struct learn *start(const struct learn_opts *o)
{
	struct conf_error err = {0};
	struct learn *l = NULL;

	cr_assert_eq(learn_new(o, &l, &err), 0, "%s", err_str(&err));
	return l;
}

static void feed(struct learn *l, const char *s)
{
	cr_assert_eq(learn_line(l, s, strlen(s)), 0);
}

/*
 * learn_write() into a string that must load and validate as it is; *back
 * (may be NULL) gets the loaded configuration.
 */
static char *propose(struct learn *l, struct conf **back)
{
	const char *in[] = {"access.log"};
	struct conf_error err = {0};
	struct conf *c = NULL;
	char *text = NULL;

	cr_assert_eq(learn_write(l, in, 1, &text, &err), 0, "%s", err_str(&err));
	cr_assert_eq(conf_load_buf(text, strlen(text), "learned", &c, &err), 0, "%s\n%s",
		     err_str(&err), text);
	cr_assert_eq(conf_validate(c, &err), 0, "%s\n%s", err_str(&err), text);
	cr_assert_eq(c->n_warnings, 0, "%s\n%s", err_str(&c->warnings[0]), text);
	if (back)
		*back = c;
	else
		conf_free(c);
	return text;
}

static const struct conf_policy *policy(const struct conf *c, const char *name)
{
	for (unsigned i = 0; i < c->n_policies; i++)
		if (!strcmp(c->policies[i].name, name))
			return &c->policies[i];
	cr_assert_fail("no policy %s", name);
	return NULL;
}

/* The policy's entries, "name" or "name:port,port", joined by spaces. */
static const char *entries(const struct conf_policy *p)
{
	static char buf[4096];
	size_t o = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < p->n_allow; i++) {
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? " " : "",
				      p->allow[i].name);
		for (unsigned k = 0; k < p->allow[i].n_ports; k++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%c%u", k ? ',' : ':',
					      p->allow[i].ports[k]);
	}
	return buf;
}

TestSuite(learn);

Test(learn, groups_by_listener_and_skips_what_is_not_a_name)
{
	struct learn_opts o = {0};
	struct learn *l = start(&o);
	struct learn_counts n;
	struct conf *c;

	feed(l, "snigate: ready: 2 workers on 127.0.0.1:8443");
	feed(l, "");
	feed(l, "{\"ts\":");
	feed(l, aline(TS2, "10.0.0.1:1", L1, NULL, "b.example", "would_deny", NULL));
	feed(l, aline(TS1, "10.0.0.1:2", L1, NULL, "B.Example.", "allow", NULL));
	feed(l, aline(TS3, "10.0.0.1:3", L1, NULL, "b.example", "would_deny", NULL));
	feed(l, aline(TS1, "10.0.0.1:4", "[::1]:9443", NULL, "a.example", "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:5", L1, NULL, "not.allowed", "deny", NULL));
	feed(l, aline(TS1, "10.0.0.1:6", L1, NULL, NULL, "deny", NULL));
	feed(l, aline(TS1, "10.0.0.1:7", L1, NULL, NULL, "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:8", L1, "192.0.2.7:443", NULL, "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:9", L1, "[2001:db8::7]:443", NULL, "would_deny", NULL));
	feed(l, aline(TS1, "10.0.0.1:9", L1, NULL, "192.0.2.8", "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:9", L1, NULL, "bad name", "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:9", L1, NULL, "x.example", "maybe", NULL));
	feed(l, aline("2026-12-07 10:00", "10.0.0.1:9", L1, NULL, "x.example", "allow", NULL));
	learn_counts(l, &n);
	cr_assert_eq(n.lines, 16);
	cr_assert_eq(n.used, 4);
	cr_assert_eq(n.other, 2);
	cr_assert_eq(n.malformed, 4);
	cr_assert_eq(n.denied, 2);
	cr_assert_eq(n.no_name, 1);
	cr_assert_eq(n.ip_literal, 3);

	char *text = propose(l, &c);
	cr_assert_eq(c->n_listeners, 2);
	cr_assert_eq(c->n_policies, 2);
	cr_assert_eq(c->n_allow, 0);
	/* Sorted by address; each listener named after it, its policy too. */
	cr_assert_str_eq(c->listeners[0].name, "127.0.0.1_8443");
	cr_assert_str_eq(c->listeners[1].name, "__1_9443");
	const struct conf_policy *p = policy(c, "127.0.0.1_8443");
	cr_assert_eq(p->mode, CONF_ENFORCE);
	cr_assert_eq(p->n_listeners, 1);
	cr_assert_str_eq(p->listeners[0], "127.0.0.1_8443");
	cr_assert_str_eq(entries(p), "b.example");
	cr_assert_str_eq(entries(policy(c, "__1_9443")), "a.example");
	/* Above the entry: what was seen, first and last by "ts", not by order in the log. */
	cr_assert(strstr(text, "      # 3 connections (2 would_deny), first " TS1 ", last " TS3
			       ", ports: upstream_port (TLS)\n      - \"b.example\"\n"),
		  "%s", text);
	cr_assert(strstr(text, "  - {name: \"__1_9443\", address: \"[::1]:9443\"}\n"), "%s", text);
	free(text);
	conf_free(c);
	learn_free(l);
}

Test(learn, connect_ports_other_than_443_are_listed)
{
	struct learn_opts o = {.mode = CONF_AUDIT};
	struct learn *l = start(&o);
	struct conf *c;

	feed(l, aline(TS1, "10.0.0.1:1", L1, "plain.example:443", NULL, "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", L1, NULL, "plain.example", "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "odd.example:8443", NULL, "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "two.example:8443", NULL, "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "two.example:443", NULL, "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "two.example:22", NULL, "would_deny", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "bad.example:0", NULL, "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "bad.example:65536", NULL, "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "bad.example", NULL, "allow", NULL));
	char *text = propose(l, &c);
	const struct conf_policy *p = policy(c, "127.0.0.1_8443");
	cr_assert_eq(p->mode, CONF_AUDIT);
	cr_assert_str_eq(entries(p), "odd.example:8443 plain.example two.example:22,443,8443");
	cr_assert(strstr(text, "ports: 22, 443, 8443 (CONNECT)\n"), "%s", text);
	cr_assert(strstr(text, "ports: 443 (CONNECT), upstream_port (TLS)\n"), "%s", text);
	struct learn_counts n;
	learn_counts(l, &n);
	cr_assert_eq(n.malformed, 3);
	free(text);
	conf_free(c);
	learn_free(l);
}

Test(learn, more_ports_than_an_entry_holds)
{
	struct learn_opts o = {0};
	struct learn *l = start(&o);
	struct conf *c;
	char auth[64];

	for (unsigned port = 1000; port > 1000 - 40; port--) {
		snprintf(auth, sizeof(auth), "many.example:%u", port);
		feed(l, aline(TS1, "10.0.0.1:1", L1, auth, NULL, "allow", NULL));
	}
	free(propose(l, &c));
	const struct conf_policy *p = policy(c, "127.0.0.1_8443");
	cr_assert_eq(p->allow[0].n_ports, CONF_MAX_CONNECT_PORTS);
	cr_assert_eq(p->allow[0].ports[0], 961, "the lowest are kept");
	cr_assert_eq(learn_n_notes(l), 1);
	cr_assert(strstr(learn_note(l, 0), "many.example: more than 32 CONNECT ports"), "%s",
		  learn_note(l, 0));
	conf_free(c);
	learn_free(l);
}

static char *wild(unsigned wildcards, const char *const *names, size_t n, struct conf **c)
{
	struct learn_opts o = {.wildcards = wildcards};
	struct learn *l = start(&o);

	for (size_t i = 0; i < n; i++)
		feed(l, tls(names[i]));
	char *text = propose(l, c);
	learn_free(l);
	return text;
}

Test(learn, wildcards_for_a_shared_registrable_domain)
{
	const char *names[] = {"a.example.com", "b.x.example.com", "c.example.com", "example.com",
			       "api.other.org"};
	struct conf *c;

	/* 3 names below example.com: a wildcard at 2 and 3; the apex stays, "*." does not match it.
	 */
	char *text = wild(3, names, 5, &c);
	cr_assert_str_eq(entries(policy(c, "127.0.0.1_8443")),
			 "*.example.com api.other.org example.com");
	cr_assert(strstr(text, "      # 3 names (a.example.com, b.x.example.com, c.example.com), "
			       "3 connections, "),
		  "%s", text);
	free(text);
	conf_free(c);
	free(wild(2, names, 5, &c));
	cr_assert_str_eq(entries(policy(c, "127.0.0.1_8443")),
			 "*.example.com api.other.org example.com");
	conf_free(c);
	/* Not at 4; and without --wildcards, a comment says where one could be. */
	text = wild(4, names, 5, &c);
	cr_assert_eq(policy(c, "127.0.0.1_8443")->n_allow, 5);
	cr_assert_null(strstr(text, "could be"), "%s", text);
	free(text);
	conf_free(c);
	text = wild(0, names, 5, &c);
	cr_assert_eq(policy(c, "127.0.0.1_8443")->n_allow, 5);
	cr_assert(strstr(text, "      # could be \"*.example.com\" (3 names)\n"
			       "      # 1 connection, first " TS1 ", last " TS1
			       ", ports: upstream_port (TLS)\n"
			       "      - \"a.example.com\"\n"),
		  "%s", text);
	cr_assert_null(strstr(strstr(text, "could be") + 1, "could be"), "one comment:\n%s", text);
	free(text);
	conf_free(c);
}

/* Never at or above a public suffix, ICANN or PRIVATE; below a PRIVATE one it is a tenant's own. */
Test(learn, never_a_wildcard_at_or_above_a_public_suffix)
{
	const char *io[] = {"a.github.io", "b.github.io", "c.github.io"};
	const char *uk[] = {"a.co.uk", "b.co.uk", "c.co.uk"};
	const char *aws[] = {"a.amazonaws.com", "b.amazonaws.com", "c.amazonaws.com"};
	const char *suffix[] = {"github.io", "co.uk", "com"};
	const char *tenant[] = {"a.me.github.io", "b.me.github.io", "www.shop.co.uk",
				"api.shop.co.uk"};
	struct conf *c;

	const char *const *sets[] = {io, uk, aws, suffix};
	for (size_t s = 0; s < 4; s++) {
		for (unsigned w = 0; w <= 2; w += 2) {
			char *text = wild(w, sets[s], 3, &c);
			const struct conf_policy *p = policy(c, "127.0.0.1_8443");
			cr_assert_eq(p->n_allow, 3, "%s", text);
			for (unsigned i = 0; i < p->n_allow; i++)
				cr_assert_neq(p->allow[i].name[0], '*', "%s", text);
			cr_assert_null(strstr(text, "*."), "%s", text);
			free(text);
			conf_free(c);
		}
	}
	free(wild(2, tenant, 4, &c));
	cr_assert_str_eq(entries(policy(c, "127.0.0.1_8443")), "*.me.github.io *.shop.co.uk");
	conf_free(c);
}

Test(learn, policy_names_are_sanitized_and_unique)
{
	char cred[] = "/tmp/snigate-learn-XXXXXX", path[64], yaml[1024];
	int fd = mkstemp(cred);
	struct conf_error err = {0};
	struct conf *base = NULL, *c;
	char user[400];

	cr_assert_geq(fd, 0);
	/* alice:s3cret; the users' names matter here, not their passwords. */
	dprintf(fd,
		"alice:{SHA256}1fe25d9a2d615222be6f64cccdf98ccb67023a1b492f090876ad1bf896833f04\n");
	close(fd);
	snprintf(path, sizeof(path), "%s", cred);
	snprintf(yaml, sizeof(yaml),
		 "listeners:\n"
		 "  - {name: main, address: \"127.0.0.1:8443\", proxy_auth_file: \"%s\"}\n"
		 "  - {address: \"[::1]:8443\"}\n"
		 "  - {name: \"127.0.0.1_9443\", address: \"127.0.0.1:9999\"}\n"
		 "  - {address: \"127.0.0.1:9443\"}\n"
		 "policies:\n"
		 "  - {name: old, match: {listeners: [main]}, allow: [old.example]}\n"
		 "allow: [top.example]\n",
		 path);
	cr_assert_eq(conf_load_buf(yaml, strlen(yaml), "base.yaml", &base, &err), 0, "%s",
		     err_str(&err));
	struct learn_opts o = {.by = LEARN_BY_USER, .base = base};
	struct learn *l = start(&o);

	memset(user, 'u', 100);
	user[100] = '\0';
	feed(l, aline(TS1, "10.0.0.1:1", "main", "a.example:443", NULL, "allow", "alice smith"));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "b.example:443", NULL, "allow", "main"));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "c.example:443", NULL, "allow", "default"));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "d.example:443", NULL, "allow", user));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "e.example:443", NULL, "allow", "jos\\u00e9"));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "f.example:443", NULL, "allow", "a:b"));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "g.example:443", NULL, "allow", "tab\\there"));
	feed(l, aline(TS1, "10.0.0.1:1", L1, NULL, "h.example", "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", "[::1]:8443", NULL, "i.example", "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", "127.0.0.1:9443", NULL, "j.example", "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", "127.0.0.1:1234", NULL, "k.example", "allow", NULL));
	char *text = propose(l, &c);
	struct learn_counts n;
	learn_counts(l, &n);
	cr_assert_eq(n.malformed, 2, "a user with ':' or a control byte");
	cr_assert_eq(n.unknown_listener, 1);
	cr_assert(strstr(learn_note(l, 0), "listener \"127.0.0.1:1234\": 1 connection not in the "
					   "configuration, not used"),
		  "%s", learn_note(l, 0));

	/* Users first, by name; then the listeners, in the configuration's order. */
	cr_assert_eq(c->n_policies, 8, "%s", text);
	cr_assert_str_eq(c->policies[0].name, "alice_smith");
	cr_assert_str_eq(c->policies[0].users[0], "alice smith");
	cr_assert_str_eq(c->policies[1].name, "default-2");
	cr_assert_str_eq(c->policies[2].name, "jos__");
	cr_assert_str_eq(c->policies[2].users[0], "jos\xc3\xa9");
	cr_assert_str_eq(c->policies[3].name, "main");
	cr_assert_eq(strlen(c->policies[4].name), 63);
	cr_assert_str_eq(c->policies[4].users[0], user);
	cr_assert_str_eq(c->policies[5].name, "main-2", "the user took main");
	cr_assert_str_eq(c->policies[5].listeners[0], "main");
	cr_assert_str_eq(entries(&c->policies[5]), "h.example");
	/* Unnamed listeners get a name no listener has. */
	cr_assert_str_eq(c->listeners[1].name, "__1_8443");
	cr_assert_str_eq(c->policies[6].listeners[0], "__1_8443");
	cr_assert_str_eq(c->listeners[3].name, "127.0.0.1_9443-2");
	cr_assert_str_eq(c->policies[7].name, "127.0.0.1_9443-2");
	/* The old policies and top-level allow are gone; the rest is the base. */
	cr_assert_eq(c->n_allow, 0);
	cr_assert_str_eq(c->listeners[0].proxy_auth_file, path);
	for (unsigned i = 0; i < c->n_policies; i++)
		cr_assert_str_neq(c->policies[i].name, "old");
	free(text);
	conf_free(c);
	learn_free(l);
	conf_free(base);
	unlink(cred);
}

Test(learn, by_cidr_first_source_wins_and_others_are_noted)
{
	const struct learn_source src[] = {
		{"review", "10.42.1.0/24"}, {"v6", "fd00::/8"}, {"dev", "10.42.0.0/16"}};
	struct learn_opts o = {.by = LEARN_BY_CIDR, .sources = src, .n_sources = 3};
	struct learn *l = start(&o);
	struct conf *c;

	feed(l, aline(TS1, "10.42.1.7:1", L1, NULL, "r.example", "allow", NULL));
	feed(l, aline(TS1, "10.42.2.7:1", L1, NULL, "d.example", "allow", NULL));
	feed(l, aline(TS1, "[fd00::1]:1", L1, NULL, "six.example", "allow", NULL));
	feed(l, aline(TS1, "10.9.0.7:1", L1, NULL, "x.example", "allow", NULL));
	feed(l, aline(TS1, "10.9.0.7:2", L1, NULL, "x.example", "allow", NULL));
	feed(l, aline(TS1, "?", L1, NULL, "x.example", "allow", NULL));
	char *text = propose(l, &c);
	cr_assert_eq(c->n_policies, 3);
	cr_assert_str_eq(c->policies[0].name, "review");
	cr_assert_str_eq(c->policies[0].sources[0], "10.42.1.0/24");
	cr_assert_str_eq(entries(&c->policies[0]), "r.example");
	cr_assert_str_eq(c->policies[1].name, "v6");
	cr_assert_str_eq(entries(&c->policies[2]), "d.example");
	cr_assert_eq(learn_n_notes(l), 2);
	cr_assert_str_eq(learn_note(l, 0),
			 "client \"10.9.0.7\": 2 connections in no --source, not used");
	cr_assert_str_eq(learn_note(l, 1), "client \"?\": 1 connection in no --source, not used");
	free(text);
	conf_free(c);
	learn_free(l);
}

Test(learn, bad_options_are_refused)
{
	const struct learn_source shadow[] = {{"a", "10.0.0.0/8"}, {"b", "10.1.0.0/16"}};
	const struct learn_source bad_cidr[] = {{"a", "10.0.0.1/8"}};
	const struct learn_source bad_name[] = {{"a b", "10.0.0.0/8"}};
	const struct learn_source twice[] = {{"a", "10.0.0.0/8"}, {"a", "192.168.0.0/16"}};
	const struct learn_source dflt[] = {{"default", "10.0.0.0/8"}};
	const struct learn_opts bad[] = {
		{.by = LEARN_BY_CIDR, .sources = shadow, .n_sources = 2},
		{.by = LEARN_BY_CIDR, .sources = bad_cidr, .n_sources = 1},
		{.by = LEARN_BY_CIDR, .sources = bad_name, .n_sources = 1},
		{.by = LEARN_BY_CIDR, .sources = twice, .n_sources = 2},
		{.by = LEARN_BY_CIDR, .sources = dflt, .n_sources = 1},
		{.by = LEARN_BY_CIDR},
		{.by = LEARN_BY_LISTENER, .sources = shadow, .n_sources = 1},
		{.by = LEARN_BY_USER},
		{.wildcards = 1},
	};
	struct conf_error err = {0};
	struct learn *l;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(learn_new(&bad[i], &l, &err), -EINVAL, "case %zu", i);
		cr_expect_null(l);
	}
	learn_new(&bad[0], &l, &err);
	cr_assert_str_eq(err_str(&err), "--source b=10.1.0.0/16: inside an earlier --source, "
					"which takes all its clients");
	learn_new(&bad[1], &l, &err);
	cr_assert_str_eq(err_str(&err), "--source a=10.0.0.1/8: CIDR has bits set past the "
					"prefix length");
	enum learn_by by;
	cr_assert_eq(learn_by_parse("cidr", &by), 0);
	cr_assert_eq(by, LEARN_BY_CIDR);
	cr_assert_eq(learn_by_parse("users", &by), -EINVAL);
}

Test(learn, nothing_to_propose_is_an_error)
{
	struct learn_opts o = {0};
	struct learn *l = start(&o);
	struct conf_error err = {0};
	char *text = (char *)"x";

	feed(l, "snigate: ready");
	feed(l, tls(NULL));
	cr_assert_eq(learn_write(l, NULL, 0, &text, &err), -EINVAL);
	cr_assert_null(text);
	cr_assert(strstr(err.msg, "nothing to propose"), "%s", err.msg);
	learn_free(l);
}

Test(learn, reads_files_line_by_line_with_bounds)
{
	struct learn_opts o = {0};
	struct learn *l = start(&o);
	struct learn_counts n;
	struct conf_error err = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	fprintf(f, "%s\r\n", tls("crlf.example"));
	/* A line over LEARN_LINE_MAX is malformed however it goes on, even valid JSON. */
	fprintf(f, "{\"ts\":\"%s\",\"pad\":\"", TS1);
	for (size_t i = 0; i < LEARN_LINE_MAX; i++)
		fputc('a', f);
	fprintf(f, "\"}\n");
	for (size_t i = 0; i < LEARN_LINE_MAX + 10; i++)
		fputc('x', f);
	fputc('\n', f);
	fprintf(f, "%s", tls("last.example")); /* no final newline */
	fclose(f);
	f = fmemopen(buf, len, "r");
	cr_assert_eq(learn_read(l, f, "mem", &err), 0, "%s", err_str(&err));
	fclose(f);
	learn_counts(l, &n);
	cr_assert_eq(n.lines, 4);
	cr_assert_eq(n.used, 2);
	cr_assert_eq(n.malformed, 1);
	cr_assert_eq(n.other, 1);
	struct conf *c;
	free(propose(l, &c));
	cr_assert_str_eq(entries(policy(c, "127.0.0.1_8443")), "crlf.example last.example");
	conf_free(c);
	free(buf);
	learn_free(l);
}

/* Hostile lines through the whole path: whatever they hold, the proposal still loads. */
Test(learn, hostile_lines_never_reach_the_output)
{
	struct learn_opts o = {.by = LEARN_BY_CIDR,
			       .sources = (const struct learn_source[]){{"all", "0.0.0.0/0"}},
			       .n_sources = 1};
	struct learn *l = start(&o);
	struct conf *c;

	feed(l, tls("ok.example"));
	/* A "ts" that would end the comment and start YAML of its own. */
	feed(l,
	     aline("1\\nallow: [\\\"*\\\"]", "10.0.0.1:1", L1, NULL, "x.example", "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", L1, NULL, "x.example\\n- evil", "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", L1, NULL, "*.example", "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", "1.2.3.4:5\\n- x", NULL, "y.example", "allow", NULL));
	feed(l, aline(TS1, "10.0.0.1:1", L1, "z.example:443\\r\\n", NULL, "allow", NULL));
	char *text = propose(l, &c);
	struct learn_counts n;
	learn_counts(l, &n);
	/* By source, a listener that is no address is not needed, and not written. */
	cr_assert_eq(n.used, 2);
	cr_assert_eq(n.malformed, 4, "a ts, two names, an authority");
	cr_assert_str_eq(entries(policy(c, "all")), "ok.example y.example");
	cr_assert_eq(c->n_listeners, 1);
	free(text);
	conf_free(c);
	learn_free(l);
}
