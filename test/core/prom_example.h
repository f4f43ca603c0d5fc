/* SPDX-License-Identifier: MIT */
/*
 * A /metrics document shaped like snigate's (the families of issue 5), written
 * with core/prom: test_prom parses it strictly, prom_dump hands it to promtool.
 */
#ifndef SNIGATE_TEST_PROM_EXAMPLE_H
#define SNIGATE_TEST_PROM_EXAMPLE_H

#include <math.h>
#include <stdint.h>

#include "core/prom.h"

static const double prom_example_hello_bounds[] = {256, 512, 1024, 1536, 2048, 4096, 8192, 16384};
static const double prom_example_connect_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
						     0.025,  0.05,  0.1,    0.25,  1};

/* Returns 0 or the first error. */
static inline int prom_example(struct admin_buf *b)
{
	const struct prom_label build[] = {{"version", "0.1.0"}};
	const struct prom_label conn[][4] = {
		{{"listener", "127.0.0.1:8443"},
		 {"path", "tls"},
		 {"decision", "allow"},
		 {"reason", "done"}},
		{{"listener", "127.0.0.1:8443"},
		 {"path", "tls"},
		 {"decision", "deny"},
		 {"reason", "not_allowed"}},
		{{"listener", "odd \"name\"\\with\nnewline"},
		 {"path", "connect"},
		 {"decision", "would_deny"},
		 {"reason", "not_allowed"}},
	};
	const struct prom_label up[] = {{"direction", "up"}}, down[] = {{"direction", "down"}};
	const struct prom_label ok[] = {{"result", "success"}}, bad[] = {{"result", "failure"}};
	const struct prom_label sni[] = {{"sni", "api.github.com"}};
	const struct prom_label v4[] = {{"family", "ipv4"}}, v6[] = {{"family", "ipv6"}};
	const uint64_t hello[9] = {10, 200, 30, 4, 0, 1, 0, 0, 2};
	const uint64_t c4[11] = {0, 5, 20, 7, 1, 0, 0, 0, 0, 0, 1}, c6[11] = {0};
	int r = 0;

	r |= prom_header(b, "snigate_build_info", "Build information; always 1.", PROM_GAUGE);
	r |= prom_sample(b, "snigate_build_info", build, 1, 1);
	r |= prom_header(b, "snigate_connections_total",
			 "Connections ended, by listener, path, decision and reason.",
			 PROM_COUNTER);
	r |= prom_sample_u64(b, "snigate_connections_total", conn[0], 4, 9007199254740993ULL);
	r |= prom_sample_u64(b, "snigate_connections_total", conn[1], 4, 42);
	r |= prom_sample_u64(b, "snigate_connections_total", conn[2], 4, 0);
	r |= prom_header(b, "snigate_bytes_total", "Payload bytes relayed.\nBy direction.",
			 PROM_COUNTER);
	r |= prom_sample_u64(b, "snigate_bytes_total", up, 1, UINT64_MAX);
	r |= prom_sample_u64(b, "snigate_bytes_total", down, 1, 123456789);
	r |= prom_header(b, "snigate_active_connections", "Connections open now.", PROM_GAUGE);
	r |= prom_sample(b, "snigate_active_connections", NULL, 0, 17);
	r |= prom_header(b, "snigate_clienthello_bytes", "Size of whole ClientHellos \\ bytes.",
			 PROM_HISTOGRAM);
	r |= prom_histogram(b, "snigate_clienthello_bytes", NULL, 0, prom_example_hello_bounds,
			    hello, 8, 123456);
	r |= prom_header(b, "snigate_upstream_connect_seconds", "Time to connect upstream.",
			 PROM_HISTOGRAM);
	r |= prom_histogram(b, "snigate_upstream_connect_seconds", v4, 1,
			    prom_example_connect_bounds, c4, 10, 0.1 + 0.2);
	r |= prom_histogram(b, "snigate_upstream_connect_seconds", v6, 1,
			    prom_example_connect_bounds, c6, 10, 0);
	r |= prom_header(b, "snigate_config_reload_total", "Config reloads, by result.",
			 PROM_COUNTER);
	r |= prom_sample_u64(b, "snigate_config_reload_total", ok, 1, 3);
	r |= prom_sample_u64(b, "snigate_config_reload_total", bad, 1, 1);
	r |= prom_header(b, "snigate_config_last_reload_success_timestamp_seconds",
			 "When the config last loaded, Unix time.", PROM_GAUGE);
	r |= prom_sample(b, "snigate_config_last_reload_success_timestamp_seconds", NULL, 0,
			 1795867200.125);
	r |= prom_header(b, "snigate_sni_connections_total", "Allowed connections per SNI.",
			 PROM_COUNTER);
	r |= prom_sample_u64(b, "snigate_sni_connections_total", sni, 1, 7);
	r |= prom_header(b, "snigate_dns_cache_ratio", "A gauge that is not a number now.",
			 PROM_GAUGE);
	r |= prom_sample(b, "snigate_dns_cache_ratio", NULL, 0, NAN);
	return r;
}

#endif
