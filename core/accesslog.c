/* SPDX-License-Identifier: MIT */
/*
 * One line per connection, built in a stack buffer and written with one
 * write(2) (core/log.h), so lines from different threads never interleave.
 * Sampling uses a per-thread xorshift rather than rand(3): no lock, and no
 * state shared between workers.
 */
#include "core/accesslog.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

void accesslog_init(struct accesslog *a, const struct conf *c, unsigned seed)
{
	a->tokens = c->access_log_deny_rate;
	a->at = 0;
	a->rng = 0x9e3779b97f4a7c15ULL * (seed + 1);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

bool accesslog_wanted(struct accesslog *a, const struct conf *c, bool allowed, uint64_t now,
		      uint64_t *dropped)
{
	if (!c->access_log || !log_enabled(CONF_LOG_INFO))
		return false;
	if (allowed) {
		if (c->access_log_sample >= 1)
			return true;
		return (double)(xorshift(&a->rng) >> 11) * 0x1p-53 < c->access_log_sample;
	}
	if (!c->access_log_deny_rate)
		return true;
	if (now > a->at) {
		a->tokens += (double)(now - a->at) * c->access_log_deny_rate / 1000.0;
		if (a->tokens > c->access_log_deny_rate)
			a->tokens = c->access_log_deny_rate;
		a->at = now;
	}
	if (a->tokens >= 1) {
		a->tokens -= 1;
		return true;
	}
	(*dropped)++;
	return false;
}

size_t accesslog_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		return (size_t)snprintf(buf, len, "%s:%u", ip, ntohs(s->sin_port));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		return (size_t)snprintf(buf, len, "[%s]:%u", ip, ntohs(s->sin6_port));
	}
	return (size_t)snprintf(buf, len, "?");
}

/* s as a JSON string into buf ("null" for NULL): quotes, backslashes and control bytes escaped. */
static const char *json_str(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	if (!s)
		return "null";
	buf[o++] = '"';
	for (; *s && o + 8 < len; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\u%04x", ch);
		else
			buf[o++] = (char)ch;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

void accesslog_write(const struct access_entry *e)
{
	char line[1600], client[64] = "?", up[64] = "", ts[40], auth[300] = "null";
	char pol[160], user[160], gen[16] = "null", via[66] = "null";
	struct timespec rt;
	struct tm tm;

	if (e->client)
		accesslog_addr(e->client, client, sizeof(client));
	if (e->upstream)
		accesslog_addr(e->upstream, up, sizeof(up));
	if (e->via) {
		via[0] = '"';
		size_t vl = accesslog_addr(e->via, via + 1, sizeof(via) - 2);
		vl = vl < sizeof(via) - 2 ? vl : sizeof(via) - 3;
		via[1 + vl] = '"';
		via[2 + vl] = '\0';
	}
	clock_gettime(CLOCK_REALTIME, &rt);
	gmtime_r(&rt.tv_sec, &tm);
	size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + tl, sizeof(ts) - tl, ".%03ldZ", rt.tv_nsec / 1000000);
	if (e->policy)
		snprintf(gen, sizeof(gen), "%u", e->gen);
	if (e->host)
		snprintf(auth, sizeof(auth), strchr(e->host, ':') ? "\"[%s]:%u\"" : "\"%s:%u\"",
			 e->host, e->port);
	long long hello_ms = e->t_hello ? (long long)(e->t_hello - e->t0) : -1;
	long long dns_ms = e->t_dns && e->t_hello ? (long long)(e->t_dns - e->t_hello) : -1;
	long long conn_ms = e->t_connect && e->t_dns ? (long long)(e->t_connect - e->t_dns) : -1;
	/* sni and upstream are strings or null: the quotes come and go with them. */
	const char *sq = e->sni ? "\"" : "", *uq = up[0] ? "\"" : "";

	/* The name passed the parser's [a-z0-9._-] check, so it needs no escaping. */
	int n = snprintf(
		line, sizeof(line),
		"{\"ts\":\"%s\",\"client\":\"%s\",\"listener\":\"%s\",\"path\":\"%s\","
		"\"authority\":%s,\"sni\":%s%s%s,\"decision\":\"%s\",\"reason\":\"%s\",\"upstream\":%s%s%s,"
		"\"bytes_up\":%llu,\"bytes_down\":%llu,\"hello_ms\":%lld,\"dns_ms\":%lld,"
		"\"connect_ms\":%lld,\"duration_ms\":%llu,\"ech\":%s,\"policy\":%s,\"user\":%s,\"gen\":%s,\"via\":%s}",
		ts, client, e->listener, path_str(e->path), auth, sq, e->sni ? e->sni : "null", sq,
		decision_str(e->decision), reason_str(e->reason), uq, up[0] ? up : "null", uq,
		(unsigned long long)e->bytes_up, (unsigned long long)e->bytes_down, hello_ms,
		dns_ms, conn_ms, (unsigned long long)(e->now - e->t0), e->ech ? "true" : "false",
		json_str(e->policy, pol, sizeof(pol)), json_str(e->user, user, sizeof(user)), gen,
		via);
	if (n > 0)
		log_access(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}
