/* SPDX-License-Identifier: MIT */
/*
 * The main thread's job once the configuration is valid: workers, admin
 * endpoint, reloads, drain. It owns every configuration generation: one is
 * current, older ones live until every worker has switched past them.
 */
#include "core/gateway.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/credentials.h"
#include "conf/dump.h"
#include "core/admin.h"
#include "core/cpu.h"
#include "core/preflight.h"
#include "core/log.h"
#include "core/loopcheck.h"
#include "core/metrics.h"
#include "core/pipepool.h"
#include "core/stats.h"
#include "core/takeover.h"
#include "core/topk.h"
#include "core/worker.h"
#include "resolver/policy.h"
#include "resolver/resolver.h"
#include "sni/allowlist.h"
#include "sni/connect.h"

#define HEALTH_STALL_MS	  5000	/* a worker loop silent this long fails /healthz */
#define RELOAD_SETTLE_MS  300	/* let a burst of file events end before reading the file */
#define DENIED_SHOWN	  50	/* names in GET /denied */
#define TAKEOVER_READY_MS 30000 /* a successor not ready by then is given up */

enum state { ST_STARTING, ST_SERVING, ST_DRAINING };

struct gen {
	struct worker_config wc;
	struct conf *conf;
	struct rules *rules; /* owned: the access policies; wc.al is their union of names */
	/* Owned: the one upstream policy of this generation; wc.policy lends it out. */
	struct upstream_policy *policy;
	struct proxy_auth **auth;	/* per listener */
	struct worker_trusted *trusted; /* per listener; each v owned */
	uint8_t *policy_slot;		/* per policy of rules */
	struct gen *older;
};

/*
 * What a change of means a reload: the config file, and the control token's
 * file (a rotated Kubernetes Secret changes no ConfigMap). Their directories
 * are watched, since editors and kubelets replace files rather than write them.
 */
struct watch {
	int fd;			    /* owned: inotify; -1 when nothing is watched */
	char base[2][NAME_MAX + 1]; /* the config's and the token's names; "" when unused */
};

struct gw {
	pthread_mutex_t mu; /* cur and gens, reload figures: what the admin thread reads */
	struct gen *cur;
	struct worker **ws;
	unsigned n;
	atomic_int state;
	atomic_bool drain_asked; /* by POST /drain, with a write to wake_fd */
	int wake_fd;
	gateway_load_fn load;
	void *load_arg;
	unsigned next_gen;
	uint64_t reload_ok, reload_failed;
	bool last_reload_failed; /* the latest reload was refused: what runs is not the file */
	double reload_ok_at;	 /* wall clock seconds */
	double started_at;
	uint64_t file_hash; /* of the config and token files as last loaded */
	struct watch watch;
	struct admin *control; /* the control endpoint, or NULL; its token follows reloads */
	unsigned conn_limit; /* concurrent connections the process takes (snigate_connections_limit)
			      */
	struct cpu_plan plan; /* how many workers, where, and why */
	/* The startup DNS loop check, or NULL: it borrows the first generation's policy. */
	struct loopcheck *loop;
	/* Restarts without a refused connection (core/takeover.h). */
	int tk_lfd;  /* admin.takeover_socket, or -1 */
	int tk_conn; /* a successor that took the sockets and has not said READY, or -1 */
	char tk_buf[TAKEOVER_MAX * 4 + 16]; /* what it said so far */
	size_t tk_len;
	uint64_t tk_deadline; /* when a successor that is not ready is given up */
	bool handed;	      /* a successor took over: the socket path is its own now */
	dev_t tk_dev;	      /* the socket file we made, so as to remove only that one */
	ino_t tk_ino;
	/* per listener: every worker shares one handed-in socket (socket activation, takeover) */
	bool shared[TAKEOVER_MAX];
	char tk_path[108];
};

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* FNV-1a of the file, 0 when it cannot be read: tells a real change from a touch. */
static uint64_t file_hash(const char *path)
{
	FILE *f = path ? fopen(path, "re") : NULL;
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned char buf[4096];
	size_t n;

	if (!f)
		return 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 0x100000001b3ULL;
	fclose(f);
	return h;
}

static void watch_add(struct watch *w, int i, const char *path)
{
	char dir[PATH_MAX], tmp[PATH_MAX];

	w->base[i][0] = '\0';
	if (!path || w->fd < 0)
		return;
	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(w->base[i], sizeof(w->base[i]), "%s", basename(tmp));
	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	/* The same directory twice is one watch: inotify hands back the same descriptor. */
	if (inotify_add_watch(w->fd, dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB) <
	    0) {
		log_msg(CONF_LOG_WARN, "cannot watch %s for changes: %s; reload with SIGHUP", dir,
			strerror(errno));
		w->base[i][0] = '\0';
	}
}

static void watch_start(struct watch *w, const struct conf *c)
{
	w->fd = c->path ? inotify_init1(IN_NONBLOCK | IN_CLOEXEC) : -1;
	watch_add(w, 0, c->path);
	watch_add(w, 1, c->control.token_file);
}

/* True when an event in a watched directory may have changed a watched file. */
static bool watch_touched(const struct watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;

	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			/* A ConfigMap or Secret update swaps the "..data" symlink in one rename. */
			if (ev->len && (!strcmp(ev->name, w->base[0]) ||
					(w->base[1][0] && !strcmp(ev->name, w->base[1])) ||
					!strcmp(ev->name, "..data")))
				hit = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return hit;
}

/* The files a reload reads: a change of either is worth one. */
static uint64_t inputs_hash(const struct conf *c)
{
	uint64_t h = file_hash(c->path);

	if (c->control.token_file)
		h = h * 0x100000001b3ULL ^ file_hash(c->control.token_file);
	return h;
}

/* ---- configuration generations ---- */

/*
 * The names behind the policy label's slots (core/worker.h), for the life of
 * the process: a slot keeps its name across reloads, so a counter never
 * changes policy under a series. Appended by gen_build() only, under mu;
 * the metrics page reads them under the same lock.
 */
static struct {
	pthread_mutex_t mu;
	char *name[WORKER_POLICY_NAMES];
	unsigned n;
} slots = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The slot of policy name: its own, a new one while there is room, else the overflow. */
static uint8_t slot_of(const char *name)
{
	uint8_t s = WORKER_SLOT_OTHER;

	pthread_mutex_lock(&slots.mu);
	for (unsigned i = 0; i < slots.n; i++)
		if (!strcmp(slots.name[i], name)) {
			s = (uint8_t)(i + 2);
			goto out;
		}
	if (slots.n < WORKER_POLICY_NAMES && (slots.name[slots.n] = strdup(name)))
		s = (uint8_t)(2 + slots.n++);
out:
	pthread_mutex_unlock(&slots.mu);
	return s;
}

static void gen_free(struct gen *g)
{
	if (!g)
		return;
	policy_free(g->policy);
	for (unsigned i = 0; g->auth && i < g->conf->n_listeners; i++)
		proxy_auth_free(g->auth[i]);
	free(g->auth);
	for (unsigned i = 0; g->trusted && i < g->conf->n_listeners; i++)
		free((void *)g->trusted[i].v);
	free(g->trusted);
	free(g->policy_slot);
	rules_free(g->rules);
	conf_free(g->conf);
	free(g);
}

/* Everything the workers need from c; takes c. NULL with why filled on failure. */
static struct gen *gen_build(struct conf *c, unsigned id, char *why, size_t len)
{
	struct gen *g = calloc(1, sizeof(*g));
	struct conf_error cerr;
	const char *bad = NULL;

	if (!g) {
		conf_free(c);
		snprintf(why, len, "out of memory");
		return NULL;
	}
	g->conf = c;
	if (conf_build_rules(c, &g->rules, &cerr) < 0) {
		conf_error_str(&cerr, why, len);
		gen_free(g);
		return NULL;
	}
	struct sockaddr_storage *ls = calloc(c->n_listeners ? c->n_listeners : 1, sizeof(*ls));
	if (!ls) {
		snprintf(why, len, "out of memory");
		gen_free(g);
		return NULL;
	}
	for (unsigned i = 0; i < c->n_listeners; i++)
		ls[i] = c->listeners[i].sa;
	struct policy_opts po = {
		.deny = (const char *const *)c->upstream.deny,
		.n_deny = c->upstream.n_deny,
		.allow = (const char *const *)c->upstream.allow,
		.n_allow = c->upstream.n_allow,
		.listeners = ls,
		.n_listeners = c->n_listeners,
	};
	int rc = policy_new(&g->policy, &po, &bad);
	free(ls);
	if (rc < 0) {
		snprintf(why, len, "upstream policy: %s%s", bad ? bad : strerror(-rc),
			 bad ? " does not parse" : "");
		gen_free(g);
		return NULL;
	}
	g->auth = calloc(c->n_listeners ? c->n_listeners : 1, sizeof(*g->auth));
	if (!g->auth) {
		snprintf(why, len, "out of memory");
		gen_free(g);
		return NULL;
	}
	for (unsigned i = 0; i < c->n_listeners; i++) {
		struct credentials_error ae = {0};
		const char *f = c->listeners[i].proxy_auth_file;
		/* Read again at every load: a reload is how credentials change. */
		if (f && credentials_load(f, &g->auth[i], &ae) < 0) {
			snprintf(why, len, "listeners[%u].proxy_auth_file: %s:%u: %s", i, ae.file,
				 ae.line, ae.msg);
			gen_free(g);
			return NULL;
		}
	}
	g->trusted = calloc(c->n_listeners ? c->n_listeners : 1, sizeof(*g->trusted));
	if (!g->trusted) {
		snprintf(why, len, "out of memory");
		gen_free(g);
		return NULL;
	}
	for (unsigned i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *cl = &c->listeners[i];
		struct policy_cidr *v = calloc(cl->n_proxy_trusted + 1, sizeof(*v));
		if (!v) {
			snprintf(why, len, "out of memory");
			gen_free(g);
			return NULL;
		}
		g->trusted[i].v = v;
		for (unsigned k = 0; k < cl->n_proxy_trusted; k++) {
			/* conf checked every entry; a failure here is a disagreement between the
			 * two. */
			if ((bad = policy_cidr_parse(cl->proxy_trusted[k], &v[k]))) {
				snprintf(why, len,
					 "listeners[%u].proxy_protocol.trusted[%u]: %s %s", i, k,
					 cl->proxy_trusted[k], bad);
				gen_free(g);
				return NULL;
			}
		}
		g->trusted[i].n = cl->n_proxy_trusted;
	}
	unsigned np = rules_count(g->rules);
	if (!(g->policy_slot = calloc(np ? np : 1, 1))) {
		snprintf(why, len, "out of memory");
		gen_free(g);
		return NULL;
	}
	for (unsigned p = 0; p < np; p++)
		g->policy_slot[p] = slot_of(rules_name(g->rules, (int)p));
	g->wc.conf = c;
	g->wc.policy_slot = g->policy_slot;
	g->wc.trusted = g->trusted;
	g->wc.rules = g->rules;
	g->wc.need_source = rules_uses_sources(g->rules);
	g->wc.al = rules_allowlist(g->rules);
	g->wc.policy = g->policy;
	g->wc.auth = (const struct proxy_auth *const *)g->auth;
	g->wc.gen = id;
	return g;
}

/* Free the generations no worker reads any more. */
static void gens_collect(struct gw *gw)
{
	for (unsigned i = 0; i < gw->n; i++)
		if (!worker_done(gw->ws[i]) && worker_config_gen(gw->ws[i]) != gw->cur->wc.gen)
			return;
	pthread_mutex_lock(&gw->mu);
	struct gen *old = gw->cur->older;
	gw->cur->older = NULL;
	pthread_mutex_unlock(&gw->mu);
	if (old) {
		/* The first generation may be among them: the loop check borrows its policy. */
		loopcheck_stop(gw->loop);
		gw->loop = NULL;
	}
	while (old) {
		struct gen *o = old->older;
		gen_free(old);
		old = o;
	}
}

static bool strv_eq(char *const *a, unsigned na, char *const *b, unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/*
 * The settings a running gateway cannot change: they size per-thread
 * buffers, are bound sockets, or live in each thread's resolver. Returns the
 * first one that differs, or NULL.
 */
static const char *restart_only(const struct conf *a, const struct conf *b)
{
	if (a->threads != b->threads)
		return "threads";
	if (a->n_listeners != b->n_listeners)
		return "listeners (their number)";
	for (unsigned i = 0; i < a->n_listeners; i++)
		if (strcmp(a->listeners[i].address, b->listeners[i].address) ||
		    a->listeners[i].port != b->listeners[i].port)
			return "listeners (an address or port)";
	if (!strv_eq(a->resolver.forwarders, a->resolver.n_forwarders, b->resolver.forwarders,
		     b->resolver.n_forwarders) ||
	    !str_eq(a->resolver.resolv_conf, b->resolver.resolv_conf) ||
	    a->resolver.family != b->resolver.family ||
	    a->resolver.cache_size != b->resolver.cache_size ||
	    a->resolver.min_ttl_s != b->resolver.min_ttl_s ||
	    a->resolver.max_ttl_s != b->resolver.max_ttl_s ||
	    a->resolver.negative_ttl_s != b->resolver.negative_ttl_s ||
	    a->resolver.error_ttl_s != b->resolver.error_ttl_s ||
	    a->resolver.stale_ttl_s != b->resolver.stale_ttl_s ||
	    a->resolver.prefetch != b->resolver.prefetch || a->resolver.tcp != b->resolver.tcp ||
	    a->resolver.n_hosts != b->resolver.n_hosts)
		return "resolver";
	for (unsigned i = 0; i < a->resolver.n_hosts; i++) {
		const struct conf_host *x = &a->resolver.hosts[i], *y = &b->resolver.hosts[i];
		if (strcmp(x->name, y->name) || x->n != y->n || memcmp(x->a, y->a, sizeof(x->a)))
			return "resolver.hosts";
	}
	if (a->limits.max_client_hello != b->limits.max_client_hello)
		return "limits.max_client_hello";
	if (a->limits.max_connections != b->limits.max_connections ||
	    a->limits.max_connections_per_thread != b->limits.max_connections_per_thread ||
	    a->limits.max_pending_hellos != b->limits.max_pending_hellos)
		return "limits";
	if (a->relay.pipe_size != b->relay.pipe_size ||
	    a->relay.pipe_max_size != b->relay.pipe_max_size)
		return "relay";
	if (!str_eq(a->admin_address, b->admin_address))
		return "admin.address";
	if (!str_eq(a->control.address, b->control.address))
		return "admin.control.address";
	if (a->cpu_affinity.mode != b->cpu_affinity.mode ||
	    a->cpu_affinity.n_cpus != b->cpu_affinity.n_cpus ||
	    (a->cpu_affinity.n_cpus &&
	     memcmp(a->cpu_affinity.cpus, b->cpu_affinity.cpus,
		    a->cpu_affinity.n_cpus * sizeof(*a->cpu_affinity.cpus))))
		return "cpu_affinity";
	if (!str_eq(a->access_log_file, b->access_log_file))
		return "log.access_file";
	if (!str_eq(a->takeover_socket, b->takeover_socket))
		return "admin.takeover_socket";
	return NULL;
}

static void reload(struct gw *gw, const char *why)
{
	char err[768];
	struct conf *nc = NULL;

	if (!gw->load) {
		log_msg(CONF_LOG_WARN, "reload (%s): no configuration file to reload", why);
		return;
	}
	uint64_t h = inputs_hash(gw->cur->conf);
	if (gw->load(gw->load_arg, &nc, err, sizeof(err)) != 0) {
		log_msg(CONF_LOG_ERROR, "reload (%s) refused, the running configuration stays: %s",
			why, err);
		goto failed;
	}
	const char *field = restart_only(gw->cur->conf, nc);
	if (field) {
		log_msg(CONF_LOG_ERROR,
			"reload (%s) refused, the running configuration stays: %s changed, "
			"which needs a restart",
			why, field);
		conf_free(nc);
		goto failed;
	}
	struct gen *g = gen_build(nc, gw->next_gen, err, sizeof(err));
	if (!g) {
		log_msg(CONF_LOG_ERROR, "reload (%s) refused, the running configuration stays: %s",
			why, err);
		goto failed;
	}
	gw->next_gen++;
	pthread_mutex_lock(&gw->mu);
	g->older = gw->cur;
	gw->cur = g;
	gw->reload_ok++;
	gw->reload_ok_at = wall_s();
	gw->last_reload_failed = false;
	pthread_mutex_unlock(&gw->mu);
	gw->file_hash = inputs_hash(g->conf);
	watch_add(&gw->watch, 1, g->conf->control.token_file);
	if (gw->control)
		admin_set_token(gw->control, g->conf->control.token, g->conf->control.token_len);
	log_set_level(g->conf->log_level);
	pipepool_set_budget(g->conf->relay.pipe_memory_max);
	for (unsigned i = 0; i < gw->n; i++)
		worker_set_config(gw->ws[i], &g->wc);
	log_msg(CONF_LOG_INFO,
		"reload (%s): generation %u, %zu allowed names in %u policies, mode %s", why,
		g->wc.gen, allowlist_count(g->wc.al), rules_count(g->rules),
		conf_mode_str(g->conf->mode));
	return;
failed:
	pthread_mutex_lock(&gw->mu);
	gw->reload_failed++;
	gw->last_reload_failed = true;
	pthread_mutex_unlock(&gw->mu);
	gw->file_hash = h; /* a bad file is reported once, not at every event */
}

/* ---- admin callbacks (admin thread) ---- */

static bool cb_ready(void *arg)
{
	struct gw *gw = arg;
	return atomic_load(&gw->state) == ST_SERVING;
}

static bool cb_healthy(void *arg, struct admin_buf *why)
{
	struct gw *gw = arg;
	uint64_t now = mono_ms();
	bool ok = true;

	for (unsigned i = 0; i < gw->n; i++) {
		if (worker_done(gw->ws[i]))
			continue;
		uint64_t hb = worker_heartbeat(gw->ws[i]);
		if (now > hb + HEALTH_STALL_MS) {
			if (why) /* NULL from /metrics: only the verdict */
				admin_buf_printf(why,
						 "worker %u: no loop turn for %" PRIu64 " ms\n", i,
						 now - hb);
			ok = false;
		}
	}
	return ok;
}

static void cb_config(void *arg, struct admin_buf *out)
{
	struct gw *gw = arg;
	pthread_mutex_lock(&gw->mu);
	char *s = conf_dump_yaml_str(gw->cur->conf, CONF_DUMP_REDACT);
	pthread_mutex_unlock(&gw->mu);
	if (s)
		admin_buf_append(out, s, strlen(s));
	else
		out->err = -ENOMEM;
	free(s);
}

/*
 * GET /denied, or /denied?policy=NAME for one policy's. The workers count
 * "policy/name" (neither holds a '/'), so one table serves both.
 */
static void cb_denied(void *arg, const char *query, struct admin_buf *out)
{
	struct gw *gw = arg;
	struct topk *t = topk_new(TOPK_MAX_K);
	struct topk_item *items = calloc(TOPK_MAX_K, sizeof(*items));
	const char *only = !strncmp(query, "policy=", 7) ? query + 7 : NULL;
	uint64_t total = 0;

	if (!t || !items) {
		out->err = -ENOMEM;
		topk_free(t);
		free(items);
		return;
	}
	for (unsigned i = 0; i < gw->n; i++)
		worker_read_denied(gw->ws[i], t);
	unsigned n = topk_list(t, items, TOPK_MAX_K), shown = 0;
	for (unsigned i = 0; i < n; i++) {
		const char *slash = strchr(items[i].name, '/');
		size_t pl = slash ? (size_t)(slash - items[i].name) : 0;
		if (only && (!slash || strlen(only) != pl || strncmp(only, items[i].name, pl)))
			continue;
		total += items[i].count;
		items[shown++] = items[i];
	}
	admin_buf_printf(out, "{\"total\":%" PRIu64 ",\"names\":[", only ? total : topk_total(t));
	for (unsigned i = 0; i < shown && i < DENIED_SHOWN; i++) {
		const char *slash = strchr(items[i].name, '/');
		/* Names passed the SNI parser's check, policy names conf's: nothing to escape. */
		admin_buf_printf(out,
				 "%s\n{\"name\":\"%s\",\"policy\":\"%.*s\",\"count\":%" PRIu64
				 ",\"error\":%" PRIu64 "}",
				 i ? "," : "", slash ? slash + 1 : items[i].name,
				 slash ? (int)(slash - items[i].name) : 0, items[i].name,
				 items[i].count, items[i].err);
	}
	admin_buf_printf(out, "]}\n");
	topk_free(t);
	free(items);
}

static void cb_drain(void *arg)
{
	struct gw *gw = arg;
	uint64_t one = 1;
	int serving = ST_SERVING;

	/*
	 * /ready turns 503 before the 202 goes out, not when the main thread
	 * next wakes: whoever asked can rely on it at once. The main thread
	 * then starts the drain itself.
	 */
	atomic_compare_exchange_strong(&gw->state, &serving, ST_DRAINING);
	atomic_store(&gw->drain_asked, true);
	if (write(gw->wake_fd, &one, sizeof(one)) < 0) {
		/* The eventfd is then readable already. */
	}
}

static void cb_metrics(void *arg, struct admin_buf *b)
{
	struct gw *gw = arg;

	/* Outside the lock: /proc/self/fd can hold hundreds of thousands of entries. */
	metrics_process(b, gw->started_at);
	/* The lock keeps the generation read here alive until the page is written. */
	pthread_mutex_lock(&gw->mu);
	pthread_mutex_lock(&slots.mu);
	const struct metrics_view v = {
		.slot_names = (const char *const *)slots.name,
		.n_slot_names = slots.n,
		.ws = gw->ws,
		.n = gw->n,
		.conf = gw->cur->conf,
		.al = gw->cur->wc.al,
		.gen = gw->cur->wc.gen,
		.plan = &gw->plan,
		.started_at = gw->started_at,
		.now_ms = mono_ms(),
		.conn_limit = gw->conn_limit,
		.ready = cb_ready(gw),
		.healthy = cb_healthy(gw, NULL),
		.draining = atomic_load(&gw->state) == ST_DRAINING,
		.reload_ok = gw->reload_ok,
		.reload_failed = gw->reload_failed,
		.last_reload_failed = gw->last_reload_failed,
		.reload_ok_at = gw->reload_ok_at,
	};
	metrics_gateway(b, &v);
	pthread_mutex_unlock(&slots.mu);
	pthread_mutex_unlock(&gw->mu);
}

static const struct admin_ops admin_ops = {
	.ready = cb_ready,
	.healthy = cb_healthy,
	.metrics = cb_metrics,
	.config = cb_config,
	.denied = cb_denied,
	.drain = cb_drain,
};

/* ---- start ---- */

/*
 * Start one admin endpoint; shown[] gets the address as bound (the port of
 * ":0", which tests use to run side by side). Returns 0 or -1, reported.
 */
static int start_admin(struct gw *gw, const char *addr, enum admin_role role, struct admin **out,
		       char *shown, size_t len)
{
	const char *field = role == ADMIN_CONTROL ? "admin.control.address" : "admin.address";
	const struct conf *c = gw->cur->conf;
	bool exposed = false;
	char err[256];

	if (admin_start(addr, role, &admin_ops, gw, &exposed, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "snigate: error: %s %s: %s\n", field, addr, err);
		return -1;
	}
	if (role == ADMIN_CONTROL &&
	    admin_set_token(*out, c->control.token, c->control.token_len) < 0) {
		/* conf_validate() already refused such a token: a bug if reached. */
		fprintf(stderr, "snigate: error: admin.control.token_file: unusable token\n");
		return -1;
	}
	if (exposed && role == ADMIN_CONTROL)
		log_msg(CONF_LOG_INFO,
			"control endpoint on %s is reachable from other hosts; every request "
			"needs the bearer token of %s",
			addr, c->control.token_file);
	if (!strncmp(addr, "unix:", 5)) {
		snprintf(shown, len, "%s", addr);
	} else {
		const char *colon = strrchr(addr, ':');
		snprintf(shown, len, "%.*s:%u", (int)(colon ? colon - addr : 0), addr,
			 admin_port(*out));
	}
	return 0;
}

/* The admin-like endpoints: each holds its listener, an eventfd and its clients. */
static unsigned n_endpoints(const struct conf *c)
{
	return (c->admin_address != NULL) + (c->control.address != NULL);
}

/*
 * Raise the soft limit to the hard one, and say so when that is still short
 * of what limits.max_connections needs (preflight.h counts the fds, as
 * --check does).
 */
static void raise_nofile(const struct conf *c, unsigned threads)
{
	struct pf_fd_budget fb;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	pf_fd_budget(c, threads, n_endpoints(c), &fb);
	if (fb.max_conns && rl.rlim_cur < fb.need)
		log_msg(CONF_LOG_WARN,
			"RLIMIT_NOFILE is %llu; limits.max_connections %u may need %llu fds "
			"(%u per connection, %llu fixed): raise the hard limit, or expect "
			"accept errors before the limit",
			(unsigned long long)rl.rlim_cur, c->limits.max_connections, fb.need,
			PF_FDS_PER_CONN, fb.fixed);
}

/* What snigate_connections_limit reports: see its help text. */
static unsigned conn_limit(const struct conf *c, unsigned max_live, unsigned threads)
{
	unsigned long long v = (unsigned long long)max_live * threads;
	struct pf_fd_budget fb;
	struct rlimit rl;

	if (!max_live) {
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
			return 0;
		pf_fd_budget(c, threads, n_endpoints(c), &fb);
		v = pf_fd_capacity(&fb, rl.rlim_cur);
	}
	return v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

static void print_stats(struct gw *gw)
{
	struct stats sum = {0};
	char buf[4096];

	for (unsigned i = 0; i < gw->n; i++)
		worker_read(gw->ws[i], &sum, NULL, NULL);
	stats_json(&sum, buf, sizeof(buf));
	fprintf(stderr, "snigate: stats %s\n", buf);
}

static bool all_done(struct gw *gw)
{
	for (unsigned i = 0; i < gw->n; i++)
		if (!worker_done(gw->ws[i]))
			return false;
	return true;
}

/* A successor knocks: hand it worker 0's listening sockets (every worker's, when shared). */
static void takeover_accept(struct gw *gw)
{
	const struct conf *c = gw->cur->conf;
	int fds[TAKEOVER_MAX];
	char addrs[TAKEOVER_MAX][80], why[256];
	const char *ap[TAKEOVER_MAX];
	unsigned n = c->n_listeners < TAKEOVER_MAX ? c->n_listeners : TAKEOVER_MAX;

	if (gw->tk_conn >= 0) {
		/* One successor at a time: the next one may try once this one is done. */
		int x = accept4(gw->tk_lfd, NULL, NULL, SOCK_CLOEXEC);
		if (x >= 0)
			close(x);
		log_msg(CONF_LOG_WARN,
			"takeover: a second successor refused while one is starting");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct conf_listener *l = &c->listeners[i];
		snprintf(addrs[i], sizeof(addrs[i]), strchr(l->address, ':') ? "[%s]:%u" : "%s:%u",
			 l->address, l->port);
		ap[i] = addrs[i];
		fds[i] = worker_listener_fd(gw->ws[0], i);
	}
	gw->tk_conn = takeover_offer(gw->tk_lfd, fds, ap, n, why, sizeof(why));
	if (gw->tk_conn < 0) {
		log_msg(CONF_LOG_WARN, "%s", why);
		return;
	}
	/*
	 * From here the successor holds them too, ready or not: a drain must not
	 * put its SYN filter on a socket another process accepts from.
	 */
	uint64_t own = 0, shared = 0;
	for (unsigned i = 0; i < n; i++) {
		if (gw->shared[i])
			shared |= 1ULL << i;
		else
			own |= 1ULL << i;
	}
	for (unsigned w = 0; w < gw->n; w++)
		worker_hand_over(gw->ws[w], shared | (w == 0 ? own : 0));
	gw->tk_len = 0;
	gw->tk_deadline = mono_ms() + TAKEOVER_READY_MS;
	log_msg(CONF_LOG_INFO,
		"takeover: %u listening sockets handed to a successor; serving on until it is ready",
		n);
}

/* The successor's answer: true once it serves, and the drain may begin. */
static bool takeover_done(struct gw *gw)
{
	bool taken[TAKEOVER_MAX];
	unsigned n = gw->cur->conf->n_listeners < TAKEOVER_MAX ? gw->cur->conf->n_listeners
							       : TAKEOVER_MAX;
	int r = takeover_answer(gw->tk_conn, gw->tk_buf, sizeof(gw->tk_buf), &gw->tk_len, taken, n);

	if (r < 0 && mono_ms() < gw->tk_deadline)
		return false;
	close(gw->tk_conn);
	gw->tk_conn = -1;
	if (r <= 0) {
		log_msg(CONF_LOG_WARN,
			"takeover: the successor %s; still serving (its sockets will close without "
			"the drain's SYN filter)",
			r < 0 ? "was not ready within 30 s" : "went away before it was ready");
		return false;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++)
		k += taken[i];
	gw->handed = true;
	log_msg(CONF_LOG_INFO, "takeover: the successor serves %u of %u listeners; draining", k, n);
	return true;
}

static void serve(struct gw *gw, int sfd)
{
	uint64_t reload_at = 0, drain_at = 0, close_at = 0;
	bool closed = false;

	for (;;) {
		uint64_t now = mono_ms();
		int timeout = 1000;

		if (reload_at && now >= reload_at) {
			reload_at = 0;
			if (inputs_hash(gw->cur->conf) != gw->file_hash)
				reload(gw, "a file changed");
		}
		if (atomic_exchange(&gw->drain_asked, false) && !drain_at) {
			log_msg(CONF_LOG_INFO, "POST /drain: draining");
			atomic_store(&gw->state, ST_DRAINING);
			drain_at = now + gw->cur->conf->drain.delay_ms;
		}
		if (drain_at && !closed && now >= drain_at) {
			for (unsigned i = 0; i < gw->n; i++)
				worker_drain(gw->ws[i]);
			closed = true;
			close_at = now + gw->cur->conf->drain.timeout_ms;
		}
		if (closed && all_done(gw))
			return;
		if (closed && now >= close_at) {
			log_msg(CONF_LOG_WARN, "drain: timeout; resetting what is left");
			return;
		}
		gens_collect(gw);
		if (reload_at)
			timeout = (int)(reload_at > now ? reload_at - now : 0);
		if (drain_at && !closed)
			timeout = (int)(drain_at > now ? drain_at - now : 0);
		if (closed || gw->cur->older)
			timeout = timeout > 50 ? 50 : timeout;

		struct pollfd pf[5] = {{sfd, POLLIN, 0},
				       {gw->wake_fd, POLLIN, 0},
				       {gw->watch.fd, POLLIN, 0},
				       {drain_at ? -1 : gw->tk_lfd, POLLIN, 0},
				       {gw->tk_conn, POLLIN, 0}};
		if (poll(pf, 5, timeout) <= 0)
			continue;
		if (pf[3].revents)
			takeover_accept(gw);
		if (pf[4].revents && takeover_done(gw) && !drain_at) {
			atomic_store(&gw->state, ST_DRAINING);
			drain_at = mono_ms(); /* no delay: the successor already serves */
		}
		if (pf[1].revents) {
			uint64_t v;
			if (read(gw->wake_fd, &v, sizeof(v)) < 0) {
				/* Readable said there was something; nothing to do otherwise. */
			}
		}
		if (gw->watch.fd >= 0 && pf[2].revents && watch_touched(&gw->watch))
			reload_at = mono_ms() + RELOAD_SETTLE_MS;
		if (!pf[0].revents)
			continue;
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			switch (si.ssi_signo) {
			case SIGTERM:
			case SIGINT:
				if (drain_at) {
					log_msg(CONF_LOG_INFO, "second stop signal: stopping now");
					return;
				}
				log_msg(CONF_LOG_INFO,
					"%s: draining (accepting for %u ms more, then up to %u ms "
					"for open connections)",
					si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT",
					gw->cur->conf->drain.delay_ms,
					gw->cur->conf->drain.timeout_ms);
				atomic_store(&gw->state, ST_DRAINING);
				drain_at = mono_ms() + gw->cur->conf->drain.delay_ms;
				break;
			case SIGHUP:
				reload(gw, "SIGHUP");
				break;
			case SIGUSR1:
				print_stats(gw);
				break;
			default:
				break;
			}
		}
	}
}

static void stop_signals(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGINT);
	sigaddset(s, SIGTERM);
	sigaddset(s, SIGHUP);
	sigaddset(s, SIGUSR1);
}

void gateway_block_signals(void)
{
	sigset_t s;
	stop_signals(&s);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

int gateway_run(struct conf *c, const struct gateway_inherit *in, gateway_load_fn load, void *arg)
{
	/*
	 * Handed-in listening sockets: the workers dup them, and this copy is
	 * closed once they have, so that the socket lives exactly as long as a
	 * worker (or the socket unit, or a successor) accepts from it.
	 */
	int inh[TAKEOVER_MAX];
	int *inherited = in && in->fds ? inh : NULL;
	unsigned n_inherited = inherited ? c->n_listeners : 0;
	for (unsigned i = 0; i < n_inherited; i++)
		inh[i] = in->fds[i];
	struct gw gw = {.load = load,
			.load_arg = arg,
			.next_gen = 1,
			.wake_fd = -1,
			.watch.fd = -1,
			.tk_lfd = -1,
			.tk_conn = -1};
	struct admin *admin = NULL;
	char why[512];
	int rc = 0, sfd = -1, ready = -1;
	unsigned started = 0;

	pthread_mutex_init(&gw.mu, NULL);
	atomic_init(&gw.state, ST_STARTING);
	gw.started_at = wall_s();
	gw.file_hash = inputs_hash(c);
	gw.cur = gen_build(c, 0, why, sizeof(why));
	if (!gw.cur) {
		fprintf(stderr, "snigate: error: %s\n", why);
		return 1;
	}
	c = gw.cur->conf;
	gw.reload_ok_at = gw.started_at;
	if (c->access_log_file && log_access_to_file(c->access_log_file) < 0) {
		fprintf(stderr, "snigate: error: log.access_file %s: %s\n", c->access_log_file,
			strerror(errno));
		gen_free(gw.cur);
		return 1;
	}

	if (cpu_plan_make(c, &gw.plan) < 0) {
		fprintf(stderr, "snigate: error: %s\n", gw.plan.why);
		gen_free(gw.cur);
		return 2;
	}
	unsigned n = gw.plan.threads;
	unsigned max_live = c->limits.max_connections ? (c->limits.max_connections + n - 1) / n : 0;
	unsigned per = c->limits.max_connections_per_thread;
	if (per && (!max_live || per < max_live))
		max_live = per;
	unsigned max_hellos =
		c->limits.max_pending_hellos ? (c->limits.max_pending_hellos + n - 1) / n : 0;

	raise_nofile(c, n);
	gw.conn_limit = conn_limit(c, max_live, n);
	pipepool_set_budget(c->relay.pipe_memory_max);
	signal(SIGPIPE, SIG_IGN);
	sigset_t sigs;
	stop_signals(&sigs);
	/* Workers inherit the mask, so only the signalfd ever sees these signals. */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	gw.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ready = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
	gw.ws = calloc(n, sizeof(*gw.ws));
	if (sfd < 0 || gw.wake_fd < 0 || ready < 0 || !gw.ws) {
		fprintf(stderr, "snigate: error: setting up: %s\n", strerror(errno));
		rc = 1;
		goto out;
	}
	gw.loop = loopcheck_start(c, gw.cur->policy);
	for (unsigned i = 0; i < n; i++) {
		gw.ws[i] = worker_create(i, gw.plan.cpu[i], &gw.cur->wc, max_live, max_hellos,
					 ready, inherited, in && in->kept);
		if (!gw.ws[i] || worker_start(gw.ws[i]) < 0) {
			fprintf(stderr, "snigate: error: cannot start worker %u\n", i);
			worker_destroy(gw.ws[i]);
			gw.ws[i] = NULL;
			rc = 1;
			break;
		}
		started++;
	}
	gw.n = started;
	for (unsigned i = 0; i < started; i++) {
		uint64_t v;
		if (read(ready, &v, sizeof(v)) < 0)
			rc = 1;
	}
	for (unsigned i = 0; i < started; i++) {
		/* A worker that failed setup has exited; it is joined with the others below. */
		if (worker_start_msg(gw.ws[i]) && rc == 0) {
			int e = worker_start_error(gw.ws[i]);
			fprintf(stderr, "snigate: error: worker %u: %s: %s\n", i,
				worker_start_msg(gw.ws[i]), strerror(-e));
			rc = 1;
		}
	}
	for (unsigned i = 0; rc == 0 && i < n_inherited; i++)
		if (inh[i] >= 0) {
			gw.shared[i] = true;
			close(inh[i]);
			inh[i] = -1;
		}
	char adm[96] = "off", ctl[128] = "off";
	/* A takeover's successor binds them while this process still serves them. */
	admin_share_addresses(c->takeover_socket != NULL);
	if (rc == 0 && c->admin_address &&
	    start_admin(&gw, c->admin_address, ADMIN_PROBES, &admin, adm, sizeof(adm)) < 0)
		rc = 1;
	if (rc == 0 && c->control.address &&
	    start_admin(&gw, c->control.address, ADMIN_CONTROL, &gw.control, ctl, sizeof(ctl)) < 0)
		rc = 1;
	if (rc == 0) {
		char lst[512];
		size_t k = 0;
		for (unsigned i = 0; i < c->n_listeners && k < sizeof(lst); i++) {
			const struct conf_listener *l = &c->listeners[i];
			k += (size_t)snprintf(lst + k, sizeof(lst) - k,
					      strchr(l->address, ':') ? "%s[%s]:%u->%u"
								      : "%s%s:%u->%u",
					      i ? ", " : "", l->address, l->port, l->upstream_port);
		}
		atomic_store(&gw.state, ST_SERVING);
		fprintf(stderr,
			"snigate: ready: %u threads (%s), %zu allowed names, listening on %s, "
			"admin %s, control %s, mode %s\n",
			n, gw.plan.why, allowlist_count(gw.cur->wc.al), lst, adm, ctl,
			conf_mode_str(c->mode));
		watch_start(&gw.watch, c);
		if (in && in->takeover >= 0) {
			/* We serve: the predecessor may drain. */
			if (takeover_ready(in->takeover, in->src, c->n_listeners) < 0)
				log_msg(CONF_LOG_WARN,
					"takeover: could not tell the predecessor: %s",
					strerror(errno));
			close(in->takeover);
		}
		if (c->takeover_socket) {
			struct stat st;
			snprintf(gw.tk_path, sizeof(gw.tk_path), "%s", c->takeover_socket);
			gw.tk_lfd = takeover_listen(gw.tk_path, why, sizeof(why));
			if (gw.tk_lfd < 0)
				log_msg(CONF_LOG_WARN, "%s; a successor cannot take over", why);
			else if (lstat(gw.tk_path, &st) == 0) {
				gw.tk_dev = st.st_dev;
				gw.tk_ino = st.st_ino;
			}
		}
		serve(&gw, sfd);
	}
out:
	atomic_store(&gw.state, ST_DRAINING);
	for (unsigned i = 0; i < started; i++)
		worker_stop(gw.ws[i]);
	for (unsigned i = 0; i < started; i++)
		worker_join(gw.ws[i]);
	admin_stop(gw.control);
	admin_stop(admin);
	if (rc == 0)
		print_stats(&gw);
	for (unsigned i = 0; i < started; i++)
		worker_destroy(gw.ws[i]);
	free(gw.ws);
	loopcheck_stop(gw.loop);
	if (ready >= 0)
		close(ready);
	if (sfd >= 0)
		close(sfd);
	if (gw.watch.fd >= 0)
		close(gw.watch.fd);
	if (gw.wake_fd >= 0)
		close(gw.wake_fd);
	for (unsigned i = 0; i < n_inherited; i++)
		if (inherited[i] >= 0)
			close(inherited[i]); /* still ours: the start failed before the workers took
						them */
	if (gw.tk_conn >= 0)
		close(gw.tk_conn);
	if (gw.tk_lfd >= 0) {
		struct stat st;
		close(gw.tk_lfd);
		/* Only our own file: after a takeover the path is the successor's socket. */
		if (lstat(gw.tk_path, &st) == 0 && st.st_dev == gw.tk_dev && st.st_ino == gw.tk_ino)
			unlink(gw.tk_path);
	}
	while (gw.cur) {
		struct gen *o = gw.cur->older;
		gen_free(gw.cur);
		gw.cur = o;
	}
	pthread_mutex_destroy(&gw.mu);
	return rc;
}
