/* SPDX-License-Identifier: MIT */
#include "core/stats.h"

#include <stdio.h>

const char *reason_str(enum reason r)
{
	if (r > RS_NONE && (int)r < SNI_R__COUNT)
		return sni_reason_str((enum sni_reason)r);
	switch (r) {
	case RS_NOT_ALLOWED:
		return "not_allowed";
	case RS_HELLO_TIMEOUT:
		return "hello_timeout";
	case RS_HELLO_EOF:
		return "hello_eof";
	case RS_OVERLOAD:
		return "overload";
	case RS_DNS_NXDOMAIN:
		return "dns_nxdomain";
	case RS_DNS_NODATA:
		return "dns_nodata";
	case RS_DNS_ERROR:
		return "dns_error";
	case RS_DNS_TIMEOUT:
		return "dns_timeout";
	case RS_CONNECT_REFUSED:
		return "connect_refused";
	case RS_CONNECT_TIMEOUT:
		return "connect_timeout";
	case RS_CONNECT_ERROR:
		return "connect_error";
	case RS_DONE:
		return "done";
	case RS_CLIENT_RESET:
		return "client_reset";
	case RS_UPSTREAM_RESET:
		return "upstream_reset";
	case RS_IDLE_TIMEOUT:
		return "idle_timeout";
	case RS_SHUTDOWN:
		return "shutdown";
	case RS_INTERNAL:
		return "internal";
	case RS_PENDING_LIMIT:
		return "pending_limit";
	case RS_SOURCE_LIMIT:
		return "source_limit";
	case RS_UPSTREAM_DENIED:
		return "upstream_denied";
	case RS_PROTOCOL:
		return "unknown_protocol";
	case RS_BAD_REQUEST:
		return "bad_request";
	case RS_BAD_METHOD:
		return "bad_method";
	case RS_HEAD_TOO_LARGE:
		return "head_too_large";
	case RS_BAD_VERSION:
		return "bad_version";
	case RS_HEAD_TIMEOUT:
		return "head_timeout";
	case RS_HEAD_EOF:
		return "head_eof";
	case RS_PORT_NOT_ALLOWED:
		return "port_not_allowed";
	case RS_IP_LITERAL:
		return "ip_literal";
	case RS_AUTH_REQUIRED:
		return "auth_required";
	case RS_AUTH_FAILED:
		return "auth_failed";
	case RS_SNI_MISMATCH:
		return "sni_mismatch";
	case RS_NO_POLICY:
		return "no_policy";
	case RS_EXPIRED:
		return "expired";
	case RS_ECH:
		return "ech";
	case RS_PROXY_MISSING:
		return "proxy_missing";
	case RS_PROXY_MALFORMED:
		return "proxy_malformed";
	case RS_PROXY_UNTRUSTED:
		return "proxy_untrusted";
	default:
		return NULL;
	}
}

const double stats_hello_bounds[HELLO_BUCKETS] = {256,	512,  1024,  1536,  2048,
						  4096, 8192, 16384, 32768, 65536};
const double stats_connect_bounds[CONNECT_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

const char *path_str(enum path p)
{
	return p == PATH_CONNECT ? "connect" : "tls";
}

const char *decision_str(enum decision d)
{
	return d == DEC_ALLOW ? "allow" : d == DEC_WOULD_DENY ? "would_deny" : "deny";
}

void stats_hello(struct stats *s, size_t bytes)
{
	unsigned i = 0;
	while (i < HELLO_BUCKETS && (double)bytes > stats_hello_bounds[i])
		i++;
	s->hello_hist[i]++;
	s->hello_bytes += bytes;
}

void stats_connect(struct stats *s, uint64_t us)
{
	unsigned i = 0;
	while (i < CONNECT_BUCKETS && (double)us > stats_connect_bounds[i] * 1e6)
		i++;
	s->connect_hist[i]++;
	s->connect_us += us;
}

void stats_add(struct stats *sum, const struct stats *s)
{
	sum->accepted += s->accepted;
	sum->denied += s->denied;
	sum->allowed += s->allowed;
	sum->would_deny += s->would_deny;
	sum->log_dropped += s->log_dropped;
	sum->hello_bytes += s->hello_bytes;
	sum->connect_us += s->connect_us;
	for (int i = 0; i <= HELLO_BUCKETS; i++)
		sum->hello_hist[i] += s->hello_hist[i];
	for (int i = 0; i <= CONNECT_BUCKETS; i++)
		sum->connect_hist[i] += s->connect_hist[i];
	sum->relayed += s->relayed;
	sum->bytes_up += s->bytes_up;
	sum->bytes_down += s->bytes_down;
	sum->dns_queries += s->dns_queries;
	for (int i = 0; i < RS__COUNT; i++)
		sum->reason[i] += s->reason[i];
}

size_t stats_json(const struct stats *s, char *buf, size_t len)
{
	size_t n = 0;
#define PUT(...)                                                                \
	do {                                                                    \
		int k_ = snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__); \
		n += k_ > 0 ? (size_t)k_ : 0;                                   \
	} while (0)
	PUT("{\"accepted\":%llu,\"denied\":%llu,\"allowed\":%llu,\"would_deny\":%llu,"
	    "\"relayed\":%llu,\"bytes_up\":%llu,\"bytes_down\":%llu,\"dns_queries\":%llu",
	    (unsigned long long)s->accepted, (unsigned long long)s->denied,
	    (unsigned long long)s->allowed, (unsigned long long)s->would_deny,
	    (unsigned long long)s->relayed, (unsigned long long)s->bytes_up,
	    (unsigned long long)s->bytes_down, (unsigned long long)s->dns_queries);
	for (int i = 1; i < RS__COUNT; i++) {
		const char *name = reason_str((enum reason)i);
		if (name)
			PUT(",\"%s\":%llu", name, (unsigned long long)s->reason[i]);
	}
	PUT("}");
#undef PUT
	return n < len ? n : (len ? len - 1 : 0);
}
