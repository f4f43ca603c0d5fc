/* SPDX-License-Identifier: MIT */
/*
 * The upstream address policy: default deny ranges, allow carving exceptions,
 * IPv4-mapped and NAT64 forms, the gateway's own listeners, CIDR parsing.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "resolver/policy.h"

static enum policy_verdict check(const struct upstream_policy *p, const char *ip, uint16_t port)
{
	uint8_t a[16];
	if (inet_pton(AF_INET, ip, a) == 1)
		return policy_check(p, AF_INET, a, port);
	cr_assert_eq(inet_pton(AF_INET6, ip, a), 1, "%s", ip);
	return policy_check(p, AF_INET6, a, port);
}

static struct upstream_policy *make(const char *const *deny, unsigned nd, const char *const *allow,
				    unsigned na)
{
	struct policy_opts o = {.deny = deny, .n_deny = nd, .allow = allow, .n_allow = na};
	struct upstream_policy *p;
	const char *bad = NULL;
	cr_assert_eq(policy_new(&p, &o, &bad), 0, "bad entry %s", bad ? bad : "?");
	return p;
}

static struct sockaddr_storage sa(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
	} else {
		cr_assert_eq(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
	}
	return ss;
}

Test(policy, default_deny)
{
	struct upstream_policy *p = make(NULL, 0, NULL, 0);
	const char *denied[] = {
		"127.0.0.1",
		"127.255.0.9",
		"0.0.0.0",
		"169.254.169.254",
		"10.1.2.3",
		"172.16.0.1",
		"172.31.255.255",
		"192.168.1.1",
		"100.64.0.1",
		"100.127.255.255",
		"224.0.0.1",
		"239.1.2.3",
		"255.255.255.255",
		"::",
		"::1",
		"fe80::1",
		"febf::1",
		"ff02::1",
		"fc00::1",
		"fd12:3456::1",
		"::ffff:127.0.0.1",
		"::ffff:169.254.169.254",
		"::ffff:10.1.2.3",
		"64:ff9b::127.0.0.1",
		"64:ff9b::a9fe:a9fe",
		"64:ff9b::10.0.0.1",
	};
	const char *allowed[] = {"1.1.1.1",	   "8.8.8.8",	      "172.32.0.1",
				 "172.15.255.255", "100.128.0.1",     "192.169.0.1",
				 "11.0.0.1",	   "2606:4700::1111", "fec0::1",
				 "::ffff:8.8.8.8", "64:ff9b::8.8.8.8"};
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		cr_assert_eq(check(p, denied[i], 443), POLICY_DENY, "%s must be denied", denied[i]);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		cr_assert_eq(check(p, allowed[i], 443), POLICY_ALLOW, "%s must be allowed",
			     allowed[i]);
	policy_free(p);
}

Test(policy, allow_carves_an_exception)
{
	const char *allow[] = {"127.0.0.0/8"};
	struct upstream_policy *p = make(NULL, 0, allow, 1);
	cr_assert_eq(check(p, "127.0.0.1", 443), POLICY_ALLOW);
	cr_assert_eq(check(p, "::ffff:127.0.0.1", 443), POLICY_ALLOW, "the mapped form too");
	cr_assert_eq(check(p, "64:ff9b::127.0.0.1", 443), POLICY_ALLOW, "and the NAT64 form");
	cr_assert_eq(check(p, "169.254.169.254", 443), POLICY_DENY, "metadata stays denied");
	cr_assert_eq(check(p, "10.1.2.3", 443), POLICY_DENY);
	cr_assert_eq(check(p, "::1", 443), POLICY_DENY, "IPv6 loopback is not 127/8");
	policy_free(p);

	const char *allow2[] = {"10.1.0.0/16", "::1"};
	p = make(NULL, 0, allow2, 2);
	cr_assert_eq(check(p, "10.1.2.3", 443), POLICY_ALLOW);
	cr_assert_eq(check(p, "10.2.0.1", 443), POLICY_DENY);
	cr_assert_eq(check(p, "::1", 443), POLICY_ALLOW);
	policy_free(p);
}

Test(policy, configured_deny_adds_to_defaults)
{
	const char *deny[] = {"203.0.113.0/24", "2001:db8::/32"};
	const char *allow[] = {"203.0.113.7"};
	struct upstream_policy *p = make(deny, 2, allow, 1);
	cr_assert_eq(check(p, "203.0.113.1", 443), POLICY_DENY);
	cr_assert_eq(check(p, "203.0.113.7", 443), POLICY_ALLOW);
	cr_assert_eq(check(p, "2001:db8::5", 443), POLICY_DENY);
	cr_assert_eq(check(p, "127.0.0.1", 443), POLICY_DENY, "defaults still apply");
	cr_assert_eq(check(p, "8.8.8.8", 443), POLICY_ALLOW);
	policy_free(p);
}

Test(policy, own_listeners_are_a_loop_that_allow_cannot_lift)
{
	const char *allow[] = {"0.0.0.0/0", "::/0"};
	struct sockaddr_storage ls[] = {sa("127.0.0.1", 8443), sa("::1", 9443)};
	struct policy_opts o = {.allow = allow, .n_allow = 2, .listeners = ls, .n_listeners = 2};
	struct upstream_policy *p;
	cr_assert_eq(policy_new(&p, &o, NULL), 0);
	cr_assert_eq(check(p, "127.0.0.1", 8443), POLICY_SELF);
	cr_assert_eq(check(p, "::ffff:127.0.0.1", 8443), POLICY_SELF);
	cr_assert_eq(check(p, "64:ff9b::127.0.0.1", 8443), POLICY_SELF);
	cr_assert_eq(check(p, "0.0.0.0", 8443), POLICY_SELF, "the unspecified address is the host");
	cr_assert_eq(check(p, "::1", 9443), POLICY_SELF);
	cr_assert_eq(check(p, "127.0.0.1", 443), POLICY_ALLOW, "another port is not a loop");
	cr_assert_eq(check(p, "127.0.0.2", 8443), POLICY_ALLOW, "nothing of ours listens there");
	uint8_t lo[4] = {127, 0, 0, 1};
	cr_assert(policy_is_listener_addr(p, AF_INET, lo));
	uint8_t other[4] = {8, 8, 8, 8};
	cr_assert(!policy_is_listener_addr(p, AF_INET, other));
	policy_free(p);
}

Test(policy, wildcard_listener_covers_every_local_address)
{
	const char *allow[] = {"0.0.0.0/0", "::/0"};
	struct sockaddr_storage ls[] = {sa("0.0.0.0", 443)};
	struct policy_opts o = {.allow = allow, .n_allow = 2, .listeners = ls, .n_listeners = 1};
	struct upstream_policy *p;
	cr_assert_eq(policy_new(&p, &o, NULL), 0);
	cr_assert_eq(check(p, "127.0.0.1", 443), POLICY_SELF);
	cr_assert_eq(check(p, "127.1.2.3", 443), POLICY_SELF);
	cr_assert_eq(check(p, "::1", 443), POLICY_SELF);
	cr_assert_eq(check(p, "8.8.8.8", 443), POLICY_ALLOW);
	cr_assert_eq(check(p, "127.0.0.1", 444), POLICY_ALLOW);
	policy_free(p);
}

Test(policy, cidr_parsing)
{
	struct policy_cidr c;
	cr_assert_null(policy_cidr_parse("10.0.0.0/8", &c));
	cr_assert_eq(c.bits, 104);
	cr_assert_null(policy_cidr_parse("192.0.2.7", &c));
	cr_assert_eq(c.bits, 128);
	cr_assert_null(policy_cidr_parse("fd00::/8", &c));
	cr_assert_eq(c.bits, 8);
	cr_assert_null(policy_cidr_parse("0.0.0.0/0", &c));
	cr_assert_null(policy_cidr_parse("::/0", &c));
	const char *bad[] = {
		"",    "10.0.0.0/",   "10.0.0.0/33", "::/129",	 "10.1.2.3/8",	 "fd00::1/8",
		"x/8", "10.0.0.0/8x", "10.0.0.0/-1", "1.2.3/24", "10.0.0.0/0008"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not_null(policy_cidr_parse(bad[i], &c), "\"%s\" must not parse", bad[i]);

	const char *deny[] = {"10.0.0.0/8", "nope"};
	struct policy_opts o = {.deny = deny, .n_deny = 2};
	struct upstream_policy *p = NULL;
	const char *which = NULL;
	cr_assert_eq(policy_new(&p, &o, &which), -EINVAL);
	cr_assert_str_eq(which, "nope");
}

Test(policy, no_defaults_for_tests)
{
	struct policy_opts o = {.no_default_deny = true};
	struct upstream_policy *p;
	cr_assert_eq(policy_new(&p, &o, NULL), 0);
	cr_assert_eq(check(p, "127.0.0.1", 443), POLICY_ALLOW);
	policy_free(p);
}
