/* SPDX-License-Identifier: MIT */
/*
 * policy: CIDR lists in one 128-bit space, scanned linearly. The lists are a
 * few dozen entries at most and are read once per connection, so a scan is
 * cheaper than anything cleverer would be to build.
 */
#include "resolver/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

const char *const policy_default_deny[] = {
	"0.0.0.0/8",	      /* "this network", and the unspecified address */
	"127.0.0.0/8",	      /* loopback */
	"169.254.0.0/16",     /* link-local, cloud metadata (169.254.169.254) */
	"224.0.0.0/4",	      /* multicast */
	"255.255.255.255/32", /* broadcast */
	"10.0.0.0/8",	      /* private */
	"172.16.0.0/12",      /* private */
	"192.168.0.0/16",     /* private */
	"100.64.0.0/10",      /* carrier-grade NAT, often pod or node addresses */
	"::/128",	      /* unspecified */
	"::1/128",	      /* loopback */
	"fe80::/10",	      /* link-local */
	"ff00::/8",	      /* multicast */
	"fc00::/7",	      /* unique local (private) */
};
const unsigned policy_n_default_deny = sizeof(policy_default_deny) / sizeof(policy_default_deny[0]);

static const uint8_t nat64_prefix[12] = {0x00, 0x64, 0xff, 0x9b};
static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

struct self {
	uint8_t addr[16];
	uint16_t port;
	bool wildcard;
};

struct upstream_policy {
	struct policy_cidr *deny, *allow;
	unsigned n_deny, n_allow;
	struct self *self; /* listeners */
	unsigned n_self;
	uint8_t (*local)[16]; /* the host's addresses, for wildcard listeners */
	unsigned n_local;
};

static void to16(sa_family_t family, const uint8_t *addr, uint8_t out[16])
{
	if (family == AF_INET) {
		memcpy(out, mapped_prefix, 12);
		memcpy(out + 12, addr, 4);
	} else {
		memcpy(out, addr, 16);
	}
}

static bool in_cidr(const struct policy_cidr *c, const uint8_t a[16])
{
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->addr, a, full))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == c->addr[full];
}

static bool in_list(const struct policy_cidr *v, unsigned n, const uint8_t a[16])
{
	for (unsigned i = 0; i < n; i++)
		if (in_cidr(&v[i], a))
			return true;
	return false;
}

static bool is_unspecified(const uint8_t a[16])
{
	static const uint8_t zero[16];
	/* :: and 0.0.0.0 (mapped): connecting there reaches this host. */
	return !memcmp(a, zero, 16) || (!memcmp(a, mapped_prefix, 12) && !memcmp(a + 12, zero, 4));
}

const char *policy_cidr_parse(const char *s, struct policy_cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned bits, max;
	uint8_t raw[16];

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(host))
		return "is not an address or CIDR (e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)";
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, raw) == 1) {
		to16(AF_INET, raw, out->addr);
		max = 32;
	} else if (inet_pton(AF_INET6, host, raw) == 1) {
		to16(AF_INET6, raw, out->addr);
		max = 128;
	} else {
		return "is not an address or CIDR (e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)";
	}
	bits = max;
	if (slash) {
		const char *p = slash + 1;
		if (*p < '0' || *p > '9' || strlen(p) > 3)
			return "has no prefix length after the '/'";
		bits = 0;
		for (; *p >= '0' && *p <= '9'; p++)
			bits = bits * 10 + (unsigned)(*p - '0');
		if (*p || bits > max)
			return max == 32 ? "has a prefix length outside 0..32"
					 : "has a prefix length outside 0..128";
	}
	out->bits = (uint8_t)(bits + (max == 32 ? 96 : 0));
	/* 10.1.2.3/8 is almost always a typo for 10.1.2.3/32 or 10.0.0.0/8: say so. */
	struct policy_cidr check = *out;
	for (unsigned i = out->bits; i < 128; i++)
		check.addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	if (memcmp(check.addr, out->addr, 16))
		return "has bits set past the prefix length";
	return NULL;
}

static int parse_list(const char *const *src, unsigned n, const char *const *pre, unsigned n_pre,
		      struct policy_cidr **dst, unsigned *n_dst, const char **bad)
{
	*dst = calloc(n + n_pre + 1, sizeof(**dst));
	if (!*dst)
		return -ENOMEM;
	for (unsigned i = 0; i < n_pre + n; i++) {
		const char *s = i < n_pre ? pre[i] : src[i - n_pre];
		if (policy_cidr_parse(s, &(*dst)[i])) {
			if (bad)
				*bad = s;
			return -EINVAL;
		}
	}
	*n_dst = n + n_pre;
	return 0;
}

static int read_local(struct upstream_policy *p)
{
	struct ifaddrs *ifa = NULL;
	unsigned n = 0;

	/* Without the list, wildcard listeners still cover 127/8, ::1 and the unspecified. */
	if (getifaddrs(&ifa) < 0)
		return 0;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
		n += i->ifa_addr &&
		     (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6);
	p->local = calloc(n + 1, sizeof(*p->local));
	if (!p->local) {
		freeifaddrs(ifa);
		return -ENOMEM;
	}
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			to16(AF_INET,
			     (const uint8_t *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr,
			     p->local[p->n_local++]);
		else if (i->ifa_addr->sa_family == AF_INET6)
			to16(AF_INET6,
			     (const uint8_t *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
			     p->local[p->n_local++]);
	}
	freeifaddrs(ifa);
	return 0;
}

int policy_new(struct upstream_policy **out, const struct policy_opts *o, const char **bad)
{
	struct upstream_policy *p = calloc(1, sizeof(*p));
	int rc;

	if (bad)
		*bad = NULL;
	if (!p)
		return -ENOMEM;
	rc = parse_list(o->deny, o->n_deny, policy_default_deny,
			o->no_default_deny ? 0 : policy_n_default_deny, &p->deny, &p->n_deny, bad);
	if (rc == 0)
		rc = parse_list(o->allow, o->n_allow, NULL, 0, &p->allow, &p->n_allow, bad);
	if (rc == 0 && !(p->self = calloc(o->n_listeners + 1, sizeof(*p->self))))
		rc = -ENOMEM;
	bool any_wild = false;
	for (unsigned i = 0; rc == 0 && i < o->n_listeners; i++) {
		const struct sockaddr_storage *ss = &o->listeners[i];
		struct self *s = &p->self[p->n_self];
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)ss;
			to16(AF_INET, (const uint8_t *)&in->sin_addr, s->addr);
			s->port = ntohs(in->sin_port);
		} else if (ss->ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const void *)ss;
			to16(AF_INET6, (const uint8_t *)&in6->sin6_addr, s->addr);
			s->port = ntohs(in6->sin6_port);
		} else {
			continue;
		}
		s->wildcard = is_unspecified(s->addr);
		any_wild |= s->wildcard;
		p->n_self++;
	}
	if (rc == 0 && any_wild)
		rc = read_local(p);
	if (rc) {
		policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void policy_free(struct upstream_policy *p)
{
	if (!p)
		return;
	free(p->deny);
	free(p->allow);
	free(p->self);
	free(p->local);
	free(p);
}

static bool is_local(const struct upstream_policy *p, const uint8_t a[16])
{
	static const struct policy_cidr lo4 = {
		.addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127}, .bits = 104};
	static const uint8_t lo6[16] = {[15] = 1};

	if (is_unspecified(a) || in_cidr(&lo4, a) || !memcmp(a, lo6, 16))
		return true;
	for (unsigned i = 0; i < p->n_local; i++)
		if (!memcmp(p->local[i], a, 16))
			return true;
	return false;
}

/* The forms an address reaches: itself, and the IPv4 a NAT64 address embeds. */
static unsigned forms(sa_family_t family, const uint8_t *addr, uint8_t f[2][16])
{
	to16(family, addr, f[0]);
	if (family == AF_INET6 && !memcmp(f[0], nat64_prefix, 12)) {
		to16(AF_INET, f[0] + 12, f[1]);
		return 2;
	}
	return 1;
}

static bool self_match(const struct upstream_policy *p, const uint8_t a[16], const struct self *s)
{
	if (s->wildcard)
		return is_local(p, a);
	/* Dialling the unspecified address reaches whatever listens on the host. */
	return !memcmp(s->addr, a, 16) || is_unspecified(a);
}

enum policy_verdict policy_check(const struct upstream_policy *p, sa_family_t family,
				 const uint8_t *addr, uint16_t port)
{
	uint8_t f[2][16];
	unsigned n = forms(family, addr, f);

	for (unsigned k = 0; k < n; k++)
		for (unsigned i = 0; i < p->n_self; i++)
			if (p->self[i].port == port && self_match(p, f[k], &p->self[i]))
				return POLICY_SELF;
	for (unsigned k = 0; k < n; k++)
		if (in_list(p->deny, p->n_deny, f[k]) && !in_list(p->allow, p->n_allow, f[k]))
			return POLICY_DENY;
	return POLICY_ALLOW;
}

bool policy_is_listener_addr(const struct upstream_policy *p, sa_family_t family,
			     const uint8_t *addr)
{
	uint8_t f[2][16];
	unsigned n = forms(family, addr, f);

	for (unsigned k = 0; k < n; k++)
		for (unsigned i = 0; i < p->n_self; i++)
			if (self_match(p, f[k], &p->self[i]))
				return true;
	return false;
}

const char *policy_verdict_str(enum policy_verdict v)
{
	switch (v) {
	case POLICY_ALLOW:
		return "allow";
	case POLICY_DENY:
		return "deny";
	case POLICY_SELF:
		return "self";
	}
	return "unknown";
}
