/*
 * metrics.c and admin.c: the registry, its Prometheus text and the admin
 * replies.  Events are recorded as the workers record them, through two
 * struct worker that share one registry (slots 0 and 1), and the rendered
 * text is compared with a golden file, tests/data/metrics/render.prom,
 * whose version and reload time are placeholders (@VERSION@, @TIME@).
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "gatherd.h"
#include "check_util.h"

#define NTHREAD_EVENTS	100000
#define TIME_LINE	"gatherd_config_last_reload_success_timestamp_seconds "

/* A config from tests/data/metrics; fails the test if it does not load. */
static struct gatherd_conf *
load(const char *name)
{
	struct gatherd_conf	*cf;
	char			 path[PATH_MAX], errbuf[4096];

	snprintf(path, sizeof(path), "%s/tests/data/metrics/%s",
	    check_srcdir(), name);
	cf = config_load(path, errbuf, sizeof(errbuf));
	ck_assert_msg(cf != NULL, "%s: %s", path, errbuf);
	return (cf);
}

/* A worker as metrics.c sees one: its slot and the registry. */
static void
worker_init(struct worker *w, int id, struct metrics *m)
{
	memset(w, 0, sizeof(*w));
	w->w_id = id;
	w->w_nworkers = 2;
	w->w_metrics = m;
}

/* The rendered text; the caller frees it. */
static char *
render(struct metrics *m)
{
	char	*text;
	size_t	 len;

	text = metrics_render(m, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(strlen(text), len);
	return (text);
}

/* The text holds this line, whole. */
static void
assert_line(const char *text, const char *line)
{
	const char	*p = text;
	size_t		 len = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[len] == '\n')
			return;
		p += len;
	}
	ck_abort_msg("no line \"%s\" in:\n%s", line, text);
}

/* got is want; else the first line that differs fails the test. */
static void
assert_text(const char *got, const char *want)
{
	size_t	 line = 1, g, w;

	while (*got != '\0' || *want != '\0') {
		g = strcspn(got, "\n");
		w = strcspn(want, "\n");
		ck_assert_msg(g == w && memcmp(got, want, g) == 0 &&
		    got[g] == want[w], "line %zu:\nwant: %.*s\ngot:  %.*s",
		    line, (int)w, want, (int)g, got);
		got += g + (got[g] != '\0');
		want += w + (want[w] != '\0');
		line++;
	}
}

/*
 * The reload time line, checked to lie within [t0, t1] seconds, becomes
 * @TIME@ (in place: the placeholder is never longer than the value).
 */
static void
mask_time(char *text, time_t t0, time_t t1)
{
	char	*p, *end;
	double	 v;

	ck_assert_ptr_nonnull(p = strstr(text, "\n" TIME_LINE));
	p += strlen("\n" TIME_LINE);
	v = strtod(p, &end);
	ck_assert_msg(*end == '\n' && v >= (double)t0 && v < (double)t1 + 1,
	    "reload time %.3f not within [%lld, %lld]", v, (long long)t0,
	    (long long)t1);
	memcpy(p, "@TIME@", 6);
	memmove(p + 6, end, strlen(end) + 1);
}

/* The golden file with @VERSION@ replaced; the caller frees it. */
static char *
golden(const char *name)
{
	char	 path[PATH_MAX], *g, *p, *out;

	snprintf(path, sizeof(path), "%s/tests/data/metrics/%s",
	    check_srcdir(), name);
	ck_assert_msg((g = check_read_file(path, NULL)) != NULL, "no %s",
	    path);
	ck_assert_ptr_nonnull(p = strstr(g, "@VERSION@"));
	*p = '\0';
	xasprintf(&out, "%s%s%s", g, PACKAGE_VERSION, p + strlen("@VERSION@"));
	free(g);
	return (out);
}

/* One gather as gather.c reports it: calls with kinds and durations. */
struct fake_call {
	int		 fc_up;		/* index in the endpoint */
	enum call_kind	 fc_kind;
	uint64_t	 fc_us;
};

static void
fake_gather(struct worker *w, const struct endpoint *ep, int status,
    uint64_t us, const struct fake_call *fc, size_t n)
{
	size_t	 i;

	metrics_request_begin(w, ep);
	for (i = 0; i < n; i++)
		metrics_call_begin(w, &ep->ep_ups[fc[i].fc_up]);
	for (i = 0; i < n; i++) {
		metrics_call_end(w, &ep->ep_ups[fc[i].fc_up]);
		metrics_call_count(w, &ep->ep_ups[fc[i].fc_up], fc[i].fc_kind,
		    fc[i].fc_us);
	}
	metrics_request_end(w, ep, status, us);
}

/*
 * Known events from both workers: every series, histogram bucket edges
 * (le is inclusive), escaping of a path from the config, unrouted
 * statuses, client gone, a request and a call still in flight.
 */
START_TEST(test_metrics_render)
{
	static const struct fake_call	 ok2[] = {
		{ 0, CALL_OK, 5000 }, { 1, CALL_OK, 5001 } };
	static const struct fake_call	 slow[] = {
		{ 0, CALL_OK, 100000 }, { 1, CALL_TIMEOUT, 300000 } };
	static const struct fake_call	 failed[] = {
		{ 0, CALL_CONNECT, 1000 }, { 1, CALL_CANCELLED, 1500 } };
	static const struct fake_call	 gone[] = {
		{ 0, CALL_CANCELLED, 20000000 }, { 1, CALL_DECODE, 7 } };
	struct metrics		*m;
	struct gatherd_conf	*cf;
	struct worker		 w0, w1;
	struct endpoint		*dash, *q;
	char			*text, *want;
	time_t			 t0, t1;

	t0 = time(NULL);
	m = metrics_new(2);
	cf = load("a.yaml");
	metrics_bind(m, cf);
	dash = &cf->cf_endpoints[0];
	q = &cf->cf_endpoints[1];
	worker_init(&w0, 0, m);
	worker_init(&w1, 1, m);
	fake_gather(&w0, dash, 200, 12000, ok2, NELEM(ok2));
	fake_gather(&w0, dash, 200, 300500, slow, NELEM(slow));
	fake_gather(&w0, dash, 502, 1600, failed, NELEM(failed));
	fake_gather(&w1, dash, 0, 20000000, gone, NELEM(gone));
	metrics_request_begin(&w1, q);
	metrics_call_begin(&w1, &q->ep_ups[0]);
	metrics_unrouted(&w0, 404);
	metrics_unrouted(&w1, 404);
	metrics_unrouted(&w1, 431);
	metrics_unrouted(&w0, 405);
	metrics_unrouted(&w1, 299);
	metrics_conn_open(&w0);
	metrics_conn_open(&w0);
	metrics_conn_close(&w0);
	metrics_conn_open(&w1);
	metrics_reload(m, 0);
	metrics_reload(m, 1);
	metrics_reload(m, 0);
	text = render(m);
	t1 = time(NULL);
	mask_time(text, t0, t1);
	want = golden("render.prom");
	assert_text(text, want);
	free(want);
	free(text);
	config_unref(cf);
	metrics_free(m);
}
END_TEST

/*
 * A second config bound after a reload: what it keeps finds its series
 * with their counts, what it drops is still rendered, what it adds is
 * new; binding the same config again makes nothing new.
 */
START_TEST(test_metrics_rebind)
{
	static const struct fake_call	 ok[] = { { 0, CALL_OK, 1000 } };
	struct metrics		*m;
	struct gatherd_conf	*a, *b;
	struct worker		 w0, w1;
	char			*text, *again;

	m = metrics_new(2);
	worker_init(&w0, 0, m);
	worker_init(&w1, 1, m);
	a = load("a.yaml");
	metrics_bind(m, a);
	fake_gather(&w0, &a->cf_endpoints[0], 200, 1000, ok, NELEM(ok));
	b = load("b.yaml");
	metrics_bind(m, b);
	ck_assert_ptr_eq(b->cf_endpoints[1].ep_metrics,
	    a->cf_endpoints[0].ep_metrics);
	ck_assert_ptr_eq(b->cf_endpoints[1].ep_ups[0].up_metrics,
	    a->cf_endpoints[0].ep_ups[0].up_metrics);
	ck_assert_ptr_nonnull(b->cf_endpoints[0].ep_metrics);
	config_unref(a);
	fake_gather(&w1, &b->cf_endpoints[1], 200, 1000, ok, NELEM(ok));
	text = render(m);
	assert_line(text, "gatherd_requests_total{endpoint=\"/dashboard/"
	    "{user}\",method=\"GET\",status=\"200\"} 2");
	assert_line(text, "gatherd_upstream_calls_total{endpoint=\"/dashboard/"
	    "{user}\",upstream=\"profile\",kind=\"ok\"} 2");
	assert_line(text, "gatherd_upstream_calls_total{endpoint=\"/dashboard/"
	    "{user}\",upstream=\"orders\",kind=\"ok\"} 0");
	assert_line(text, "gatherd_requests_in_flight{endpoint=\"/q\\\"x\\\\y\","
	    "method=\"POST\"} 0");
	assert_line(text, "gatherd_requests_in_flight{endpoint=\"/new\","
	    "method=\"GET\"} 0");
	assert_line(text, "gatherd_request_duration_seconds_count{endpoint="
	    "\"/dashboard/{user}\",method=\"GET\"} 2");
	metrics_bind(m, b);
	again = render(m);
	ck_assert_str_eq(again, text);
	free(again);
	free(text);
	config_unref(b);
	metrics_free(m);
}
END_TEST

/*
 * Label values are escaped (backslash, double quote, newline).  No config
 * file can hold a newline in a path, so this config is built by hand.
 */
START_TEST(test_metrics_escape)
{
	struct upstream_conf	 up;
	struct endpoint		 ep;
	struct gatherd_conf	 cf;
	struct metrics		*m;
	struct worker		 w;
	char			*text;

	memset(&up, 0, sizeof(up));
	memset(&ep, 0, sizeof(ep));
	memset(&cf, 0, sizeof(cf));
	up.up_name = "u\"1\\";
	ep.ep_path = "/a\nb\"c\\d";
	ep.ep_method = "GET";
	ep.ep_ups = &up;
	ep.ep_nups = 1;
	cf.cf_endpoints = &ep;
	cf.cf_nendpoints = 1;
	m = metrics_new(1);
	metrics_bind(m, &cf);
	worker_init(&w, 0, m);
	metrics_request_begin(&w, &ep);
	metrics_request_end(&w, &ep, 504, 10);
	text = render(m);
	assert_line(text, "gatherd_requests_total{endpoint=\"/a\\nb\\\"c\\\\d\","
	    "method=\"GET\",status=\"504\"} 1");
	assert_line(text, "gatherd_upstream_calls_in_flight{endpoint="
	    "\"/a\\nb\\\"c\\\\d\",upstream=\"u\\\"1\\\\\"} 0");
	free(text);
	metrics_free(m);
}
END_TEST

/* A registry with no endpoint still renders every family's header. */
START_TEST(test_metrics_empty)
{
	struct metrics	*m;
	char		*text;

	m = metrics_new(3);
	text = render(m);
	assert_line(text, "gatherd_workers 3");
	assert_line(text, "gatherd_config_reloads_total{result=\"success\"} 0");
	assert_line(text, "gatherd_config_last_reload_successful 1");
	assert_line(text, "# TYPE gatherd_requests_total counter");
	assert_line(text, "# TYPE gatherd_upstream_duration_seconds histogram");
	ck_assert_ptr_null(strstr(text, "gatherd_requests_total{"));
	free(text);
	metrics_free(m);
}
END_TEST

struct thread_arg {
	struct worker		 ta_w;
	const struct endpoint	*ta_ep;
};

static void *
on_thread(void *arg)
{
	struct thread_arg	*ta = arg;
	int			 i;

	for (i = 0; i < NTHREAD_EVENTS; i++) {
		metrics_request_begin(&ta->ta_w, ta->ta_ep);
		metrics_request_end(&ta->ta_w, ta->ta_ep, 200, 1);
		metrics_conn_open(&ta->ta_w);
		metrics_conn_close(&ta->ta_w);
	}
	return (NULL);
}

/* Two worker threads count at once while the reader renders: no loss. */
START_TEST(test_metrics_threads)
{
	struct metrics		*m;
	struct gatherd_conf	*cf;
	struct thread_arg	 ta[2];
	pthread_t		 t[2];
	char			*text, line[256];
	int			 k;

	m = metrics_new(2);
	cf = load("a.yaml");
	metrics_bind(m, cf);
	for (k = 0; k < 2; k++) {
		worker_init(&ta[k].ta_w, k, m);
		ta[k].ta_ep = &cf->cf_endpoints[0];
		ck_assert_int_eq(pthread_create(&t[k], NULL, on_thread, &ta[k]),
		    0);
	}
	for (k = 0; k < 20; k++)
		free(render(m));
	for (k = 0; k < 2; k++)
		ck_assert_int_eq(pthread_join(t[k], NULL), 0);
	text = render(m);
	snprintf(line, sizeof(line), "gatherd_requests_total{endpoint="
	    "\"/dashboard/{user}\",method=\"GET\",status=\"200\"} %d",
	    2 * NTHREAD_EVENTS);
	assert_line(text, line);
	snprintf(line, sizeof(line), "gatherd_client_connections_accepted_total"
	    " %d", 2 * NTHREAD_EVENTS);
	assert_line(text, line);
	assert_line(text, "gatherd_client_connections 0");
	assert_line(text, "gatherd_requests_in_flight{endpoint=\"/dashboard/"
	    "{user}\",method=\"GET\"} 0");
	free(text);
	config_unref(cf);
	metrics_free(m);
}
END_TEST

/* admin_handle: one row per request, in a given readiness state. */
static const struct admin_case {
	enum metrics_state	 ac_state;
	const char		*ac_method;
	const char		*ac_path;
	int			 ac_status;
	const char		*ac_ctype;
	const char		*ac_allow;
	const char		*ac_body;	/* NULL: the metrics text */
} admin_cases[] = {
	{ METRICS_READY, "GET", "/healthz", 200, "application/json", NULL,
	    "{\"status\":\"ok\"}" },
	{ METRICS_STOPPING, "GET", "/healthz", 200, "application/json", NULL,
	    "{\"status\":\"ok\"}" },
	{ METRICS_READY, "GET", "/readyz", 200, "application/json", NULL,
	    "{\"status\":\"ready\"}" },
	{ METRICS_READY, "HEAD", "/readyz", 200, "application/json", NULL,
	    "{\"status\":\"ready\"}" },
	{ METRICS_STARTING, "GET", "/readyz", 503, "application/json", NULL,
	    "{\"status\":\"starting\"}" },
	{ METRICS_STOPPING, "GET", "/readyz", 503, "application/json", NULL,
	    "{\"status\":\"stopping\"}" },
	{ METRICS_READY, "GET", "/metrics", 200,
	    "text/plain; version=0.0.4; charset=utf-8", NULL, NULL },
	{ METRICS_STOPPING, "HEAD", "/metrics", 200,
	    "text/plain; version=0.0.4; charset=utf-8", NULL, NULL },
	{ METRICS_READY, "POST", "/metrics", 405, "application/json",
	    "GET, HEAD", "{\"error\":\"method POST not allowed\"}" },
	{ METRICS_READY, "DELETE", "/readyz", 405, "application/json",
	    "GET, HEAD", "{\"error\":\"method DELETE not allowed\"}" },
	{ METRICS_READY, "GET", "/", 404, "application/json", NULL,
	    "{\"error\":\"no such admin path; try /metrics, /healthz or "
	    "/readyz\"}" },
	{ METRICS_READY, "GET", "/metrics/", 404, "application/json", NULL,
	    "{\"error\":\"no such admin path; try /metrics, /healthz or "
	    "/readyz\"}" },
	{ METRICS_READY, "POST", "/nowhere", 404, "application/json", NULL,
	    "{\"error\":\"no such admin path; try /metrics, /healthz or "
	    "/readyz\"}" },
};

START_TEST(test_admin_handle)
{
	const struct admin_case	*ac = &admin_cases[_i];
	struct admin_reply	 ar;
	struct metrics		*m;
	char			*text;
	size_t			 len;

	m = metrics_new(1);
	metrics_set_state(m, ac->ac_state);
	ck_assert_int_eq(metrics_state(m), ac->ac_state);
	ck_assert_int_eq(admin_handle(m, ac->ac_method, ac->ac_path, &ar),
	    ac->ac_status);
	ck_assert_int_eq(ar.ar_status, ac->ac_status);
	ck_assert_str_eq(ar.ar_ctype, ac->ac_ctype);
	if (ac->ac_allow == NULL)
		ck_assert_ptr_null(ar.ar_allow);
	else
		ck_assert_str_eq(ar.ar_allow, ac->ac_allow);
	ck_assert_ptr_nonnull(ar.ar_body);
	ck_assert_uint_eq(strlen(ar.ar_body), ar.ar_len);
	if (ac->ac_body != NULL)
		ck_assert_str_eq(ar.ar_body, ac->ac_body);
	else {
		text = metrics_render(m, &len);
		ck_assert_str_eq(ar.ar_body, text);
		free(text);
	}
	admin_reply_free(&ar);
	ck_assert_ptr_null(ar.ar_body);
	metrics_free(m);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite	*s = suite_create("metrics");

	CHECK_ONE(s, "render", test_metrics_render);
	CHECK_ONE(s, "rebind", test_metrics_rebind);
	CHECK_ONE(s, "escape", test_metrics_escape);
	CHECK_ONE(s, "empty", test_metrics_empty);
	CHECK_ONE(s, "threads", test_metrics_threads);
	CHECK_TABLE(s, "admin_handle", test_admin_handle, admin_cases);
	return (s);
}

int
main(void)
{
	log_init(0, 0);
	return (check_run(metrics_suite()));
}
