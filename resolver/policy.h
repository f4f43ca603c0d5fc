/* SPDX-License-Identifier: MIT */
/*
 * policy: where an allowed name's connection may go (the SSRF and loop guard).
 *
 * An allowlisted name is only as safe as its DNS answer: if that answer is
 * changed to 169.254.169.254, 10.0.0.1 or the gateway itself, the gateway
 * would carry the client there. So every resolved address is checked here
 * before it is dialled, and the connection goes to exactly that address.
 *
 * Rules, in order:
 *  1. An address and port the gateway listens on is a loop and is always
 *     refused (POLICY_SELF); a wildcard listener (0.0.0.0, ::) counts for
 *     every local address, and the unspecified address reaches the host too.
 *  2. An address in a deny entry and in no allow entry is refused
 *     (POLICY_DENY): an allow entry carves an exception out of any deny.
 *  3. Anything else is allowed.
 * The deny list always starts with the defaults (policy_default_deny);
 * configured entries add to it. IPv4 is kept as IPv4-mapped IPv6, so
 * ::ffff:127.0.0.1 is 127.0.0.1 to every rule, and a NAT64 address
 * (64:ff9b::/96) is checked both as itself and as the IPv4 it embeds.
 *
 * Immutable once built: one policy may be read by any number of threads.
 * Nothing here logs.
 */
#ifndef SNIGATE_RESOLVER_POLICY_H
#define SNIGATE_RESOLVER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct policy_cidr {
	uint8_t addr[16]; /* IPv6, or IPv4-mapped; bits past the prefix are zero */
	uint8_t bits;	  /* prefix length in that 128-bit space */
};

/* The built-in deny entries, as text, for docs and --help. */
extern const char *const policy_default_deny[];
extern const unsigned policy_n_default_deny;

/*
 * "10.0.0.0/8", "fd00::/8", or a bare address (a single host). Returns NULL,
 * or why not ("has bits set past the prefix length", ...).
 */
const char *policy_cidr_parse(const char *s, struct policy_cidr *out);

struct policy_opts {
	const char *const *deny; /* CIDRs added to the defaults */
	unsigned n_deny;
	const char *const *allow; /* CIDRs exempted from deny */
	unsigned n_allow;
	const struct sockaddr_storage *listeners; /* the gateway's own addresses and ports */
	unsigned n_listeners;
	bool no_default_deny; /* tests only: start from an empty deny list */
};

enum policy_verdict {
	POLICY_ALLOW = 0,
	POLICY_DENY, /* in a deny entry, in no allow entry */
	POLICY_SELF, /* one of the gateway's own listeners: a loop */
};

struct upstream_policy;

/*
 * Returns 0, -ENOMEM, or -EINVAL with *bad (may be NULL) pointing at the
 * entry that did not parse. Reads the host's addresses once (getifaddrs) for
 * wildcard listeners.
 */
int policy_new(struct upstream_policy **out, const struct policy_opts *o, const char **bad);
void policy_free(struct upstream_policy *p);

/* family AF_INET (addr: 4 bytes) or AF_INET6 (16), network order; port in host order. */
enum policy_verdict policy_check(const struct upstream_policy *p, sa_family_t family,
				 const uint8_t *addr, uint16_t port);
/* addr is one the gateway listens on, whatever the port (the startup DNS loop check). */
bool policy_is_listener_addr(const struct upstream_policy *p, sa_family_t family,
			     const uint8_t *addr);

const char *policy_verdict_str(enum policy_verdict v);

#endif
