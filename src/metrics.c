/*
 * Metrics: the counters, gauges and histograms of every worker, and their
 * Prometheus text rendering for the admin listener's GET /metrics.
 *
 * One registry (struct metrics) is made by the main thread and shared by
 * every worker through w_metrics.  A series (one endpoint, one upstream of
 * an endpoint, or the process-wide numbers) holds one slot per worker,
 * each on its own cache lines, and a worker writes only its own slot: a
 * relaxed atomic load and store, no lock, no shared cache line on the
 * request path.  The reader sums the slots with relaxed atomic loads, so
 * it sees each counter whole, though not every counter of the same
 * instant.
 *
 * Series are found or made by metrics_bind() on the main thread, before a
 * config snapshot is handed to the workers, and the snapshot keeps
 * pointers to them (ep_metrics, up_metrics).  They are keyed by their
 * labels and never freed before the registry, so a reload that keeps an
 * endpoint keeps its counters, and a gather still running on the old
 * snapshot counts into the same series.  Creation and rendering take
 * m_lock to add to or walk the lists; the request path never does.
 */
#include <sys/time.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatherd.h"

#define METRICS_LINE		128	/* a slot's alignment: two cache lines,
					   for the adjacent-line prefetcher */
#define METRICS_NBOUNDS		11
#define METRICS_NBUCKETS	(METRICS_NBOUNDS + 1)	/* and +Inf */
#define METRICS_NKINDS		(CALL_CANCELLED + 1)

/* Histogram bucket bounds (le), in microseconds and as rendered. */
static const uint64_t metrics_bound_us[METRICS_NBOUNDS] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
	2500000, 5000000, 10000000
};
static const char *const metrics_bound_text[METRICS_NBUCKETS] = {
	"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
	"5", "10", "+Inf"
};

/*
 * The reply statuses a request is counted under: every status gatherd
 * sends, then a client that left before its reply, then anything else.
 */
static const int metrics_status_code[] = {
	200, 400, 404, 405, 408, 413, 431, 500, 501, 502, 503, 504, 505
};
#define METRICS_NCODES		(sizeof(metrics_status_code) /		\
				    sizeof(metrics_status_code[0]))
#define METRICS_ST_GONE		METRICS_NCODES
#define METRICS_ST_OTHER	(METRICS_NCODES + 1)
#define METRICS_NSTATUS		(METRICS_NCODES + 2)

struct mhist {
	uint64_t	 h_bucket[METRICS_NBUCKETS];	/* not cumulative */
	uint64_t	 h_sum_us;
};

/* One worker's share of an endpoint's series. */
struct ep_slot {
	uint64_t	 es_status[METRICS_NSTATUS];
	uint64_t	 es_inflight;
	struct mhist	 es_dur;
} __attribute__((aligned(METRICS_LINE)));

/* One worker's share of an upstream's series. */
struct up_slot {
	uint64_t	 us_kind[METRICS_NKINDS];
	uint64_t	 us_inflight;
	struct mhist	 us_dur;
} __attribute__((aligned(METRICS_LINE)));

/* One worker's share of the process-wide series. */
struct glob_slot {
	uint64_t	 gs_conns;
	uint64_t	 gs_accepted;
	uint64_t	 gs_refused;
	uint64_t	 gs_unrouted[METRICS_NSTATUS];
} __attribute__((aligned(METRICS_LINE)));

struct metrics_ep {
	char			*me_method;
	char			*me_path;
	char			*me_labels;	/* endpoint="..",method=".." */
	struct ep_slot		*me_slots;
	struct metrics_ep	*me_next;
};

struct metrics_up {
	char			*mu_endpoint;
	char			*mu_name;
	char			*mu_labels;	/* endpoint="..",upstream=".." */
	struct up_slot		*mu_slots;
	struct metrics_up	*mu_next;
};

struct metrics {
	int			 m_nworkers;
	pthread_mutex_t		 m_lock;	/* the lists, not the slots */
	struct metrics_ep	*m_eps;		/* in creation order */
	struct metrics_ep	**m_eps_tail;
	struct metrics_up	*m_ups;
	struct metrics_up	**m_ups_tail;
	struct glob_slot	*m_glob;
	/* Written by the main thread only; read with relaxed loads. */
	int			 m_state;	/* enum metrics_state */
	uint64_t		 m_reload_ok;
	uint64_t		 m_reload_fail;
	int			 m_last_ok;	/* the last load succeeded */
	uint64_t		 m_last_ok_ms;	/* its wall clock time */
};

/* A growing text buffer: rendering is one pass of appends. */
struct mtext {
	char		*mt_buf;
	size_t		 mt_len;
	size_t		 mt_cap;
};

/* ------------------------------------------------------------------ */
/* Writers: one worker, its own slot.                                  */

static inline void
do_add(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v,
	    __ATOMIC_RELAXED);
}

static inline uint64_t
do_get(const uint64_t *p)
{
	return (__atomic_load_n(p, __ATOMIC_RELAXED));
}

static void
do_observe(struct mhist *h, uint64_t us)
{
	size_t	 i;

	for (i = 0; i < METRICS_NBOUNDS && us > metrics_bound_us[i]; i++)
		;
	do_add(&h->h_bucket[i], 1);
	do_add(&h->h_sum_us, us);
}

static size_t
do_status_index(int status)
{
	size_t	 i;

	if (status == 0)
		return (METRICS_ST_GONE);
	for (i = 0; i < METRICS_NCODES; i++)
		if (metrics_status_code[i] == status)
			return (i);
	return (METRICS_ST_OTHER);
}

/* The worker's slot index, or -1 when it has no registry (unit tests). */
static int
do_slot(const struct worker *w)
{
	if (w->w_metrics == NULL || w->w_id < 0 ||
	    w->w_id >= w->w_metrics->m_nworkers)
		return (-1);
	return (w->w_id);
}

/* gather_new: a routed request is in flight on this worker. */
void
metrics_request_begin(struct worker *w, const struct endpoint *ep)
{
	int	 k = do_slot(w);

	if (k != -1 && ep->ep_metrics != NULL)
		do_add(&ep->ep_metrics->me_slots[k].es_inflight, 1);
}

/*
 * gather_close: a routed request ended with this reply status (0: the
 * client left first) after us microseconds.
 */
void
metrics_request_end(struct worker *w, const struct endpoint *ep, int status,
    uint64_t us)
{
	struct ep_slot	*es;
	int		 k = do_slot(w);

	if (k == -1 || ep->ep_metrics == NULL)
		return;
	es = &ep->ep_metrics->me_slots[k];
	do_add(&es->es_inflight, (uint64_t)-1);
	do_add(&es->es_status[do_status_index(status)], 1);
	do_observe(&es->es_dur, us);
}

/* gather_start: one upstream call is in flight on this worker. */
void
metrics_call_begin(struct worker *w, const struct upstream_conf *up)
{
	int	 k = do_slot(w);

	if (k != -1 && up->up_metrics != NULL)
		do_add(&up->up_metrics->mu_slots[k].us_inflight, 1);
}

/* An upstream call finished or was cancelled: no longer in flight. */
void
metrics_call_end(struct worker *w, const struct upstream_conf *up)
{
	int	 k = do_slot(w);

	if (k != -1 && up->up_metrics != NULL)
		do_add(&up->up_metrics->mu_slots[k].us_inflight, (uint64_t)-1);
}

/* gather_close: count one call with its final kind and duration. */
void
metrics_call_count(struct worker *w, const struct upstream_conf *up,
    enum call_kind kind, uint64_t us)
{
	struct up_slot	*slot;
	int		 k = do_slot(w);

	if (k == -1 || up->up_metrics == NULL || (size_t)kind >= METRICS_NKINDS)
		return;
	slot = &up->up_metrics->mu_slots[k];
	do_add(&slot->us_kind[kind], 1);
	do_observe(&slot->us_dur, us);
}

/* server.c, gate.c: a request that reached no endpoint got this status. */
void
metrics_unrouted(struct worker *w, int status)
{
	int	 k = do_slot(w);

	if (k != -1)
		do_add(&w->w_metrics->m_glob[k].gs_unrouted[
		    do_status_index(status)], 1);
}

/* server.c: a client connection was accepted on this worker. */
void
metrics_conn_open(struct worker *w)
{
	int	 k = do_slot(w);

	if (k == -1)
		return;
	do_add(&w->w_metrics->m_glob[k].gs_conns, 1);
	do_add(&w->w_metrics->m_glob[k].gs_accepted, 1);
}

/* server.c: a client connection was closed at accept (over the limit). */
void
metrics_conn_refused(struct worker *w)
{
	int	 k = do_slot(w);

	if (k != -1)
		do_add(&w->w_metrics->m_glob[k].gs_refused, 1);
}

/* server.c: a client connection of this worker was closed. */
void
metrics_conn_close(struct worker *w)
{
	int	 k = do_slot(w);

	if (k != -1)
		do_add(&w->w_metrics->m_glob[k].gs_conns, (uint64_t)-1);
}

/* ------------------------------------------------------------------ */
/* The registry: made, bound and told about reloads by the main thread. */

/* n zeroed slots of size bytes, each on its own cache lines. */
static void *
do_slots(int n, size_t size)
{
	void	*p;

	if (posix_memalign(&p, METRICS_LINE, (size_t)n * size) != 0)
		fatalx("%s: out of memory", __func__);
	memset(p, 0, (size_t)n * size);
	return (p);
}

static uint64_t
do_wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/*
 * Make the registry of nworkers workers (main thread, once the count is
 * known).  The config loaded at start counts as the last good load.
 */
struct metrics *
metrics_new(int nworkers)
{
	struct metrics	*m;

	if (nworkers < 1)
		fatalx("%s: %d workers", __func__, nworkers);
	m = xcalloc(1, sizeof(*m));
	m->m_nworkers = nworkers;
	if (pthread_mutex_init(&m->m_lock, NULL) != 0)
		fatalx("%s: pthread_mutex_init", __func__);
	m->m_eps_tail = &m->m_eps;
	m->m_ups_tail = &m->m_ups;
	m->m_glob = do_slots(nworkers, sizeof(*m->m_glob));
	m->m_state = METRICS_STARTING;
	m->m_last_ok = 1;
	m->m_last_ok_ms = do_wall_ms();
	return (m);
}

/* Free the registry and every series, once no worker runs any more. */
void
metrics_free(struct metrics *m)
{
	struct metrics_ep	*me;
	struct metrics_up	*mu;

	if (m == NULL)
		return;
	while ((me = m->m_eps) != NULL) {
		m->m_eps = me->me_next;
		free(me->me_method);
		free(me->me_path);
		free(me->me_labels);
		free(me->me_slots);
		free(me);
	}
	while ((mu = m->m_ups) != NULL) {
		m->m_ups = mu->mu_next;
		free(mu->mu_endpoint);
		free(mu->mu_name);
		free(mu->mu_labels);
		free(mu->mu_slots);
		free(mu);
	}
	free(m->m_glob);
	pthread_mutex_destroy(&m->m_lock);
	free(m);
}

static void	do_text(struct mtext *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	do_escape(struct mtext *, const char *);

/* Two labels, their values escaped: k1="v1",k2="v2" (malloc'd). */
static char *
do_labels(const char *k1, const char *v1, const char *k2, const char *v2)
{
	struct mtext	 t;

	memset(&t, 0, sizeof(t));
	do_text(&t, "%s=\"", k1);
	do_escape(&t, v1);
	do_text(&t, "\",%s=\"", k2);
	do_escape(&t, v2);
	do_text(&t, "\"");
	return (t.mt_buf);
}

/* The series of an endpoint (method, path): found, or made (m_lock held). */
static struct metrics_ep *
do_ep(struct metrics *m, const struct endpoint *ep)
{
	struct metrics_ep	*me;

	for (me = m->m_eps; me != NULL; me = me->me_next)
		if (strcmp(me->me_path, ep->ep_path) == 0 &&
		    strcmp(me->me_method, ep->ep_method) == 0)
			return (me);
	me = xcalloc(1, sizeof(*me));
	me->me_method = xstrdup(ep->ep_method);
	me->me_path = xstrdup(ep->ep_path);
	me->me_labels = do_labels("endpoint", ep->ep_path, "method",
	    ep->ep_method);
	me->me_slots = do_slots(m->m_nworkers, sizeof(*me->me_slots));
	*m->m_eps_tail = me;
	m->m_eps_tail = &me->me_next;
	return (me);
}

/* The series of an upstream (endpoint path, name) (m_lock held). */
static struct metrics_up *
do_up(struct metrics *m, const char *path, const char *name)
{
	struct metrics_up	*mu;

	for (mu = m->m_ups; mu != NULL; mu = mu->mu_next)
		if (strcmp(mu->mu_endpoint, path) == 0 &&
		    strcmp(mu->mu_name, name) == 0)
			return (mu);
	mu = xcalloc(1, sizeof(*mu));
	mu->mu_endpoint = xstrdup(path);
	mu->mu_name = xstrdup(name);
	mu->mu_labels = do_labels("endpoint", path, "upstream", name);
	mu->mu_slots = do_slots(m->m_nworkers, sizeof(*mu->mu_slots));
	*m->m_ups_tail = mu;
	m->m_ups_tail = &mu->mu_next;
	return (mu);
}

/*
 * Point every endpoint and upstream of a config to its series, made on
 * first sight (main thread, before the snapshot reaches any worker).
 */
void
metrics_bind(struct metrics *m, struct gatherd_conf *cf)
{
	struct endpoint	*ep;
	size_t		 i, j;

	pthread_mutex_lock(&m->m_lock);
	for (i = 0; i < cf->cf_nendpoints; i++) {
		ep = &cf->cf_endpoints[i];
		ep->ep_metrics = do_ep(m, ep);
		for (j = 0; j < ep->ep_nups; j++)
			ep->ep_ups[j].up_metrics = do_up(m, ep->ep_path,
			    ep->ep_ups[j].up_name);
	}
	pthread_mutex_unlock(&m->m_lock);
}

/* The main thread tried a reload (SIGHUP): ok, or refused. */
void
metrics_reload(struct metrics *m, int ok)
{
	if (ok) {
		do_add(&m->m_reload_ok, 1);
		__atomic_store_n(&m->m_last_ok_ms, do_wall_ms(),
		    __ATOMIC_RELAXED);
	} else
		do_add(&m->m_reload_fail, 1);
	__atomic_store_n(&m->m_last_ok, ok != 0, __ATOMIC_RELAXED);
}

/* The main thread: starting, serving, or stopping (for /readyz). */
void
metrics_set_state(struct metrics *m, enum metrics_state st)
{
	__atomic_store_n(&m->m_state, (int)st, __ATOMIC_RELAXED);
}

/* The state last set. */
enum metrics_state
metrics_state(struct metrics *m)
{
	return ((enum metrics_state)__atomic_load_n(&m->m_state,
	    __ATOMIC_RELAXED));
}

/* ------------------------------------------------------------------ */
/* Rendering: Prometheus text format 0.0.4, one pass, one buffer.      */

/* Append printf output, doubling the buffer as needed. */
static void
do_text(struct mtext *t, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 want;
	int	 n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->mt_buf == NULL ? NULL : t->mt_buf + t->mt_len,
		    t->mt_cap - t->mt_len, fmt, ap);
		va_end(ap);
		if (n < 0)
			fatalx("%s: vsnprintf", __func__);
		if ((size_t)n < t->mt_cap - t->mt_len) {
			t->mt_len += (size_t)n;
			return;
		}
		want = t->mt_cap == 0 ? 4096 : t->mt_cap * 2;
		while (want < t->mt_len + (size_t)n + 1)
			want *= 2;
		t->mt_buf = xreallocarray(t->mt_buf, 1, want);
		t->mt_cap = want;
	}
}

/* Append a label value escaped as the text format wants: \\, \", \n. */
static void
do_escape(struct mtext *t, const char *s)
{
	size_t	 n;

	while (*s != '\0') {
		n = strcspn(s, "\\\"\n");
		if (n > 0)
			do_text(t, "%.*s", (int)n, s);
		s += n;
		if (*s == '\0')
			break;
		do_text(t, "\\%c", *s == '\n' ? 'n' : *s);
		s++;
	}
}

/* The # HELP and # TYPE lines of a metric family. */
static void
do_family(struct mtext *t, const char *name, const char *type,
    const char *help)
{
	do_text(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Microseconds as seconds, exactly: 1500 -> 0.001500. */
static void
do_seconds(struct mtext *t, uint64_t us)
{
	do_text(t, "%llu.%06llu", (unsigned long long)(us / 1000000),
	    (unsigned long long)(us % 1000000));
}

/* Add one slot's histogram into a total. */
static void
do_hist_add(struct mhist *tot, const struct mhist *h)
{
	size_t	 i;

	for (i = 0; i < METRICS_NBUCKETS; i++)
		tot->h_bucket[i] += do_get(&h->h_bucket[i]);
	tot->h_sum_us += do_get(&h->h_sum_us);
}

/*
 * The lines of one histogram series.  _count is the +Inf bucket itself,
 * so the two always agree even while workers are counting.
 */
static void
do_hist(struct mtext *t, const char *name, const char *labels,
    const struct mhist *h)
{
	uint64_t	 cum = 0;
	size_t		 i;

	for (i = 0; i < METRICS_NBUCKETS; i++) {
		cum += h->h_bucket[i];
		do_text(t, "%s_bucket{%s,le=\"%s\"} %llu\n", name, labels,
		    metrics_bound_text[i], (unsigned long long)cum);
	}
	do_text(t, "%s_sum{%s} ", name, labels);
	do_seconds(t, h->h_sum_us);
	do_text(t, "\n%s_count{%s} %llu\n", name, labels,
	    (unsigned long long)cum);
}

/* The label value of a status index. */
static void
do_status_label(char *buf, size_t len, size_t i)
{
	if (i < METRICS_NCODES)
		snprintf(buf, len, "%d", metrics_status_code[i]);
	else
		strlcpy(buf, i == METRICS_ST_GONE ? "client_gone" : "other",
		    len);
}

/* Build info, workers, reloads and connections. */
static void
do_render_process(struct metrics *m, struct mtext *t)
{
	uint64_t	 conns = 0, accepted = 0, refused = 0, ms;
	int		 k;

	for (k = 0; k < m->m_nworkers; k++) {
		conns += do_get(&m->m_glob[k].gs_conns);
		accepted += do_get(&m->m_glob[k].gs_accepted);
		refused += do_get(&m->m_glob[k].gs_refused);
	}
	do_family(t, "gatherd_build_info", "gauge",
	    "The gatherd version running; the value is always 1.");
	do_text(t, "gatherd_build_info{version=\"");
	do_escape(t, PACKAGE_VERSION);
	do_text(t, "\"} 1\n");
	do_family(t, "gatherd_workers", "gauge", "Event-loop worker threads.");
	do_text(t, "gatherd_workers %d\n", m->m_nworkers);
	do_family(t, "gatherd_config_reloads_total", "counter",
	    "Config reloads (SIGHUP) by result; the start is not one.");
	do_text(t, "gatherd_config_reloads_total{result=\"success\"} %llu\n"
	    "gatherd_config_reloads_total{result=\"failure\"} %llu\n",
	    (unsigned long long)do_get(&m->m_reload_ok),
	    (unsigned long long)do_get(&m->m_reload_fail));
	do_family(t, "gatherd_config_last_reload_successful", "gauge",
	    "1 if the last config load succeeded, 0 if it was refused.");
	do_text(t, "gatherd_config_last_reload_successful %d\n",
	    __atomic_load_n(&m->m_last_ok, __ATOMIC_RELAXED));
	ms = __atomic_load_n(&m->m_last_ok_ms, __ATOMIC_RELAXED);
	do_family(t, "gatherd_config_last_reload_success_timestamp_seconds",
	    "gauge", "Wall clock time of the last good config load "
	    "(the start counts as one).");
	do_text(t, "gatherd_config_last_reload_success_timestamp_seconds "
	    "%llu.%03llu\n", (unsigned long long)(ms / 1000),
	    (unsigned long long)(ms % 1000));
	do_family(t, "gatherd_client_connections", "gauge",
	    "Client connections open.");
	do_text(t, "gatherd_client_connections %llu\n",
	    (unsigned long long)conns);
	do_family(t, "gatherd_client_connections_accepted_total", "counter",
	    "Client connections accepted.");
	do_text(t, "gatherd_client_connections_accepted_total %llu\n",
	    (unsigned long long)accepted);
	do_family(t, "gatherd_client_connections_refused_total", "counter",
	    "Client connections closed at accept: over max_connections, "
	    "or stopping.");
	do_text(t, "gatherd_client_connections_refused_total %llu\n",
	    (unsigned long long)refused);
}

/* The non-zero request counters of one series, summed over workers. */
static void
do_render_statuses(struct mtext *t, const char *labels, const uint64_t *tot)
{
	char	 st[16];
	size_t	 i;

	for (i = 0; i < METRICS_NSTATUS; i++) {
		if (tot[i] == 0)
			continue;
		do_status_label(st, sizeof(st), i);
		do_text(t, "gatherd_requests_total{%s,status=\"%s\"} %llu\n",
		    labels, st, (unsigned long long)tot[i]);
	}
}

/* gatherd_requests_total: every endpoint, then the unrouted requests. */
static void
do_render_requests(struct metrics *m, struct mtext *t)
{
	struct metrics_ep	*me;
	uint64_t		 tot[METRICS_NSTATUS];
	size_t			 i;
	int			 k;

	do_family(t, "gatherd_requests_total", "counter",
	    "Requests by endpoint (\"\" when none matched), method and reply "
	    "status (client_gone: the client left before the reply).");
	for (me = m->m_eps; me != NULL; me = me->me_next) {
		memset(tot, 0, sizeof(tot));
		for (k = 0; k < m->m_nworkers; k++)
			for (i = 0; i < METRICS_NSTATUS; i++)
				tot[i] += do_get(&me->me_slots[k].es_status[i]);
		do_render_statuses(t, me->me_labels, tot);
	}
	memset(tot, 0, sizeof(tot));
	for (k = 0; k < m->m_nworkers; k++)
		for (i = 0; i < METRICS_NSTATUS; i++)
			tot[i] += do_get(&m->m_glob[k].gs_unrouted[i]);
	do_render_statuses(t, "endpoint=\"\",method=\"\"", tot);
}

/* In-flight gauges and duration histograms of the endpoints. */
static void
do_render_endpoints(struct metrics *m, struct mtext *t)
{
	struct metrics_ep	*me;
	struct mhist		 h;
	uint64_t		 n;
	int			 k;

	do_family(t, "gatherd_requests_in_flight", "gauge",
	    "Routed requests being gathered.");
	for (me = m->m_eps; me != NULL; me = me->me_next) {
		for (n = 0, k = 0; k < m->m_nworkers; k++)
			n += do_get(&me->me_slots[k].es_inflight);
		do_text(t, "gatherd_requests_in_flight{%s} %llu\n",
		    me->me_labels, (unsigned long long)n);
	}
	do_family(t, "gatherd_request_duration_seconds", "histogram",
	    "Time from a routed request's arrival to its reply.");
	for (me = m->m_eps; me != NULL; me = me->me_next) {
		memset(&h, 0, sizeof(h));
		for (k = 0; k < m->m_nworkers; k++)
			do_hist_add(&h, &me->me_slots[k].es_dur);
		do_hist(t, "gatherd_request_duration_seconds", me->me_labels,
		    &h);
	}
}

/* Calls by kind, in-flight gauges and duration histograms of upstreams. */
static void
do_render_upstreams(struct metrics *m, struct mtext *t)
{
	struct metrics_up	*mu;
	struct mhist		 h;
	uint64_t		 n;
	size_t			 i;
	int			 k;

	do_family(t, "gatherd_upstream_calls_total", "counter",
	    "Upstream calls by outcome kind.");
	for (mu = m->m_ups; mu != NULL; mu = mu->mu_next)
		for (i = 0; i < METRICS_NKINDS; i++) {
			for (n = 0, k = 0; k < m->m_nworkers; k++)
				n += do_get(&mu->mu_slots[k].us_kind[i]);
			do_text(t, "gatherd_upstream_calls_total{%s,kind=\"%s\"}"
			    " %llu\n", mu->mu_labels,
			    merge_kind_name((enum call_kind)i),
			    (unsigned long long)n);
		}
	do_family(t, "gatherd_upstream_calls_in_flight", "gauge",
	    "Upstream calls running.");
	for (mu = m->m_ups; mu != NULL; mu = mu->mu_next) {
		for (n = 0, k = 0; k < m->m_nworkers; k++)
			n += do_get(&mu->mu_slots[k].us_inflight);
		do_text(t, "gatherd_upstream_calls_in_flight{%s} %llu\n",
		    mu->mu_labels, (unsigned long long)n);
	}
	do_family(t, "gatherd_upstream_duration_seconds", "histogram",
	    "Time of an upstream call, from its start to its outcome.");
	for (mu = m->m_ups; mu != NULL; mu = mu->mu_next) {
		memset(&h, 0, sizeof(h));
		for (k = 0; k < m->m_nworkers; k++)
			do_hist_add(&h, &mu->mu_slots[k].us_dur);
		do_hist(t, "gatherd_upstream_duration_seconds", mu->mu_labels,
		    &h);
	}
}

/*
 * Render every series as Prometheus text (exposition format 0.0.4).
 * Returns a malloc'd NUL-terminated buffer, its length in *lenp.
 */
char *
metrics_render(struct metrics *m, size_t *lenp)
{
	struct mtext	 t;

	memset(&t, 0, sizeof(t));
	do_render_process(m, &t);
	pthread_mutex_lock(&m->m_lock);
	do_render_requests(m, &t);
	do_render_endpoints(m, &t);
	do_render_upstreams(m, &t);
	pthread_mutex_unlock(&m->m_lock);
	*lenp = t.mt_len;
	return (t.mt_buf);
}
