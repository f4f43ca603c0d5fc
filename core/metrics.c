/* SPDX-License-Identifier: MIT */
/*
 * The series, in the order the page lists them: process_*, then the build,
 * the threads and each worker, connections by outcome, bytes, the
 * histograms, DNS, and the configuration's reloads. Names and help texts are
 * an interface (dashboards, alert rules, test/monitoring): change them only
 * together with those.
 */
#include "core/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/pipepool.h"
#include "core/prom.h"
#include "core/stats.h"
#include "resolver/resolver.h"

#include "core/revision.h"

#ifndef SNIGATE_VERSION
#define SNIGATE_VERSION "unknown"
#endif

static void hist_u64(struct admin_buf *b, const char *name, const char *help, const double *bounds,
		     const uint64_t *counts, size_t n, double sum)
{
	prom_header(b, name, help, PROM_HISTOGRAM);
	prom_histogram(b, name, NULL, 0, bounds, counts, n, sum);
}

static void counter(struct admin_buf *b, const char *name, const char *help, uint64_t v)
{
	prom_header(b, name, help, PROM_COUNTER);
	prom_sample_u64(b, name, NULL, 0, v);
}

static void gauge(struct admin_buf *b, const char *name, const char *help, double v)
{
	prom_header(b, name, help, PROM_GAUGE);
	prom_sample(b, name, NULL, 0, v);
}

static void metrics_dns(const struct metrics_view *v, struct admin_buf *b)
{
	struct resolver_stats rs = {0};
	for (unsigned i = 0; i < v->n; i++)
		worker_read_resolver(v->ws[i], &rs);

	static const char *const outcome[] = {"hit",	  "miss",    "coalesced", "stale",
					      "prefetch", "hosts",   "nxdomain",  "nodata",
					      "servfail", "timeout", "denied"};
	const uint64_t count[] = {rs.hit,      rs.miss,	   rs.coalesced, rs.stale,
				  rs.prefetch, rs.hosts,   rs.nxdomain,	 rs.nodata,
				  rs.servfail, rs.timeout, rs.denied};
	prom_header(b, "snigate_dns_lookups_total",
		    "Name lookups and upstream rounds by outcome (denied: addresses the upstream "
		    "policy refused).",
		    PROM_COUNTER);
	for (size_t i = 0; i < sizeof(count) / sizeof(count[0]); i++) {
		struct prom_label l = {"outcome", outcome[i]};
		prom_sample_u64(b, "snigate_dns_lookups_total", &l, 1, count[i]);
	}
	counter(b, "snigate_dns_queries_total", "Queries handed to libunbound.", rs.queries);
	double bounds[RESOLVER_LAT_BUCKETS - 1];
	for (size_t i = 0; i + 1 < RESOLVER_LAT_BUCKETS; i++)
		bounds[i] = resolver_lat_bounds_us[i] / 1e6;
	hist_u64(b, "snigate_dns_upstream_seconds", "Latency of upstream DNS rounds.", bounds,
		 rs.lat, RESOLVER_LAT_BUCKETS - 1, (double)rs.lat_sum_us / 1e6);
}

/* process_*, as the Prometheus client libraries name them. */
void metrics_process(struct admin_buf *b, double started_at)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long vsz = 0, rss = 0;
	struct rusage ru;
	struct rlimit rl;
	unsigned fds = 0;
	FILE *f;
	DIR *d;

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		prom_header(b, "process_cpu_seconds_total", "User and system CPU time, seconds.",
			    PROM_COUNTER);
		prom_sample(b, "process_cpu_seconds_total", NULL, 0,
			    (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
				    ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) /
					    1e6);
	}
	/* The fds open now; the client libraries count /proc/self/fd the same way. */
	if ((d = opendir("/proc/self/fd"))) {
		struct dirent *e;
		while ((e = readdir(d)))
			fds += e->d_name[0] != '.';
		closedir(d);
		gauge(b, "process_open_fds", "Open file descriptors.", fds ? fds - 1 : 0);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		gauge(b, "process_max_fds", "The soft RLIMIT_NOFILE.",
		      rl.rlim_cur == RLIM_INFINITY ? 0 : (double)rl.rlim_cur);
	if ((f = fopen("/proc/self/statm", "re"))) {
		if (fscanf(f, "%llu %llu", &vsz, &rss) == 2) {
			gauge(b, "process_virtual_memory_bytes", "Virtual memory size, bytes.",
			      (double)vsz * (double)page);
			gauge(b, "process_resident_memory_bytes", "Resident memory size, bytes.",
			      (double)rss * (double)page);
		}
		fclose(f);
	}
	gauge(b, "process_start_time_seconds", "When the process started, Unix time.", started_at);
}

/* Per worker: SO_REUSEPORT spreads connections by hash, so imbalance shows here. */
static void metrics_workers(const struct metrics_view *v, struct admin_buf *b)
{
	static const char *const name[] = {"snigate_worker_active_connections",
					   "snigate_worker_accepted_total",
					   "snigate_worker_loop_age_seconds"};
	static const char *const help[] = {
		"Connections open now, per worker.", "Connections accepted, per worker.",
		"Time since the worker's last loop turn; /healthz fails past 5 s."};
	static const enum prom_type type[] = {PROM_GAUGE, PROM_COUNTER, PROM_GAUGE};
	uint64_t now = v->now_ms;

	for (int k = 0; k < 3; k++) {
		prom_header(b, name[k], help[k], type[k]);
		for (unsigned i = 0; i < v->n; i++) {
			struct stats st = {0};
			unsigned live = 0;
			char id[16];
			snprintf(id, sizeof(id), "%u", i);
			struct prom_label l = {"worker", id};
			worker_read(v->ws[i], &st, NULL, &live);
			uint64_t hb = worker_heartbeat(v->ws[i]);
			double x = k == 0			       ? live
				   : k == 1			       ? (double)st.accepted
				   : worker_done(v->ws[i]) || now < hb ? 0
								       : (double)(now - hb) / 1e3;
			prom_sample(b, name[k], &l, 1, x);
		}
	}
}

void metrics_gateway(struct admin_buf *b, const struct metrics_view *v)
{
	const struct conf *c = v->conf;
	struct stats st = {0};
	unsigned live = 0;

	size_t nk = WORKER_NKEYS(c->n_listeners);
	size_t nn = allowlist_count(v->al);
	uint64_t *keys = calloc(nk ? nk : 1, sizeof(*keys));
	uint64_t *names = calloc(nn ? nn : 1, sizeof(*names));
	if (!keys || !names) {
		free(keys);
		free(names);
		b->err = -ENOMEM;
		return;
	}
	bool names_ok = true;
	for (unsigned i = 0; i < v->n; i++) {
		worker_read(v->ws[i], &st, keys, &live);
		names_ok &= worker_read_names(v->ws[i], v->al, names);
	}

	prom_header(b, "snigate_build_info", "snigate's version and source revision; always 1.",
		    PROM_GAUGE);
	struct prom_label vl[] = {{"version", SNIGATE_VERSION}, {"revision", SNIGATE_REVISION}};
	prom_sample(b, "snigate_build_info", vl, 2, 1);
	gauge(b, "snigate_start_time_seconds", "When the process started, Unix time.",
	      v->started_at);
	gauge(b, "snigate_worker_threads", "Worker threads, one ring each.", v->n);
	prom_header(b, "snigate_worker_threads_info",
		    "Why that many threads (source: config, cgroup_quota, affinity, "
		    "cpu_affinity_list) and whether they are pinned; always 1.",
		    PROM_GAUGE);
	struct prom_label tl[] = {{"source", cpu_source_str(v->plan->source)},
				  {"pinned", v->plan->pinned ? "true" : "false"}};
	prom_sample(b, "snigate_worker_threads_info", tl, 2, 1);
	gauge(b, "snigate_cgroup_cpu_quota", "CPUs the cgroup's quota allows; 0 when none.",
	      v->plan->quota);
	gauge(b, "snigate_ready", "1 while GET /ready answers 200.", v->ready);
	gauge(b, "snigate_healthy", "1 while GET /healthz answers 200.", v->healthy);
	gauge(b, "snigate_draining", "1 while draining (readiness is 503).", v->draining);
	gauge(b, "snigate_connections_limit",
	      "Concurrent connections the process takes: limits.max_connections (or the "
	      "per-thread limit times threads), else what RLIMIT_NOFILE holds beside the "
	      "fixed fds at two sockets and two pipes each.",
	      v->conn_limit);
	metrics_workers(v, b);

	counter(b, "snigate_connections_accepted_total", "Connections accepted.", st.accepted);
	prom_header(
		b, "snigate_connections_total",
		"Connections ended, by listener, policy, path, gate decision and reason (series "
		"appear when first counted; no policy label when none decided, \"(other)\" past "
		"the first 32 policy names).",
		PROM_COUNTER);
	for (unsigned l = 0; l < c->n_listeners; l++) {
		char lname[80];
		const struct conf_listener *cl = &c->listeners[l];
		snprintf(lname, sizeof(lname), strchr(cl->address, ':') ? "[%s]:%u" : "%s:%u",
			 cl->address, cl->port);
		for (unsigned s = 0; s < WORKER_POLICY_SLOTS; s++) {
			const char *pn = s == WORKER_SLOT_NONE	   ? ""
					 : s == WORKER_SLOT_OTHER  ? "(other)"
					 : s - 2 < v->n_slot_names ? v->slot_names[s - 2]
								   : NULL;
			for (int p = 0; pn && p < PATH__COUNT; p++)
				for (int d = 0; d < DEC__COUNT; d++)
					for (int r = 1; r < RS__COUNT; r++) {
						uint64_t x = keys[WORKER_KEY(l, s, p, d, r)];
						const char *rn = reason_str((enum reason)r);
						if (!x || !rn)
							continue;
						struct prom_label lb[] = {
							{"listener", lname},
							{"policy", pn},
							{"path", path_str((enum path)p)},
							{"decision",
							 decision_str((enum decision)d)},
							{"reason", rn}};
						/* No policy decided: no policy label, as "" would
						 * say. */
						if (s == WORKER_SLOT_NONE)
							lb[1] = lb[0];
						prom_sample_u64(b, "snigate_connections_total",
								lb + (s == WORKER_SLOT_NONE),
								s == WORKER_SLOT_NONE ? 4 : 5, x);
					}
		}
	}
	gauge(b, "snigate_active_connections", "Connections open now, in every phase.", live);
	prom_header(b, "snigate_bytes_total",
		    "Bytes relayed: upstream is client to upstream, downstream the way back.",
		    PROM_COUNTER);
	struct prom_label up = {"direction", "upstream"}, down = {"direction", "downstream"};
	prom_sample_u64(b, "snigate_bytes_total", &up, 1, st.bytes_up);
	prom_sample_u64(b, "snigate_bytes_total", &down, 1, st.bytes_down);
	hist_u64(b, "snigate_clienthello_bytes",
		 "Size of whole ClientHellos, record headers included.", stats_hello_bounds,
		 st.hello_hist, HELLO_BUCKETS, (double)st.hello_bytes);
	hist_u64(b, "snigate_upstream_connect_seconds", "Time to connect to the upstream.",
		 stats_connect_bounds, st.connect_hist, CONNECT_BUCKETS, st.connect_us / 1e6);
	if (names_ok) {
		prom_header(b, "snigate_allowed_connections_total",
			    "Allowed connections per allowlist entry (denied names: GET /denied).",
			    PROM_COUNTER);
		char nm[300];
		for (size_t i = 0; i < nn; i++) {
			allowlist_entry(v->al, i, nm, sizeof(nm));
			struct prom_label l = {"name", nm};
			prom_sample_u64(b, "snigate_allowed_connections_total", &l, 1, names[i]);
		}
	}
	counter(b, "snigate_access_log_dropped_total",
		"Denial access lines not written (over log.access_deny_rate).", st.log_dropped);
	gauge(b, "snigate_pipe_bytes", "Pipe buffer bytes held, in use or pooled.",
	      (double)pipepool_bytes());
	metrics_dns(v, b);
	prom_header(b, "snigate_config_reload_total", "Configuration reloads by result.",
		    PROM_COUNTER);
	struct prom_label ok = {"result", "success"}, bad = {"result", "failure"};
	prom_sample_u64(b, "snigate_config_reload_total", &ok, 1, v->reload_ok);
	prom_sample_u64(b, "snigate_config_reload_total", &bad, 1, v->reload_failed);
	gauge(b, "snigate_config_last_reload_successful",
	      "0 while the latest reload was refused (the running configuration is not the "
	      "file's), else 1.",
	      !v->last_reload_failed);
	gauge(b, "snigate_config_last_reload_success_timestamp_seconds",
	      "When the running configuration was loaded, Unix time.", v->reload_ok_at);
	gauge(b, "snigate_config_generation", "Generation of the running configuration.", v->gen);
	free(keys);
	free(names);
}
