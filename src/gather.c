/*
 * Gather: one struct gather per aggregate request.  It owns its upstream
 * calls, its deadline timer, the copy of the client request and its
 * route parameters, and holds a reference to the config snapshot it began
 * with.  Four triggers end it, all through gather_close(): every call
 * finished ("done"), the deadline ("deadline"), a failed required upstream
 * ("required failed"), the client leaving ("client gone") and shutdown.
 *
 * It includes neither evhtp.h nor curl.h: server.c and upstream.c do the
 * I/O.  Memory is released one loop turn after the close, from
 * event_base_once(), so no library callback ever sees it freed.
 */
#include <sys/time.h>

#include <event2/event.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gatherd.h"

static void	do_finish(struct gather *, const char *);

/* Microseconds on the monotonic clock. */
uint64_t
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/* A duration in milliseconds as a struct timeval, for libevent timers. */
struct timeval *
ms_timeval(uint64_t ms, struct timeval *tv)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return (tv);
}

/* Free what a client_req holds (not the struct itself). */
void
client_req_free(struct client_req *cr)
{
	size_t	 i;

	for (i = 0; i < cr->cr_nheaders; i++) {
		free(cr->cr_headers[i].kv_key);
		free(cr->cr_headers[i].kv_val);
	}
	free(cr->cr_headers);
	free(cr->cr_method);
	free(cr->cr_path);
	free(cr->cr_query);
	free(cr->cr_body);
	memset(cr, 0, sizeof(*cr));
}

/* The next request id of this worker: increasing, unique across workers. */
uint64_t
gather_next_id(struct worker *w)
{
	return (w->w_seq++ * (uint64_t)w->w_nworkers + (uint64_t)w->w_id + 1);
}

/*
 * Make the gather of one routed request.  It takes over the client request
 * and the route match (both are zeroed in the caller's hands), and holds a
 * reference to the worker's current config snapshot.
 */
struct gather *
gather_new(struct worker *w, struct client_req *cr, struct route_match *m,
    void *req)
{
	struct gather			*g;
	const struct endpoint		*ep = m->rm_ep;
	const struct upstream_conf	*up;
	struct ucall			*uc;
	size_t				 i;

	g = xcalloc(1, sizeof(*g));
	g->g_id = gather_next_id(w);
	g->g_worker = w;
	g->g_conf = config_ref(w->w_conf);
	g->g_ep = ep;
	g->g_req = req;
	g->g_creq = *cr;
	memset(cr, 0, sizeof(*cr));
	g->g_match = *m;
	memset(m, 0, sizeof(*m));
	trace_init(&g->g_trace, w, g->g_id, g->g_creq.cr_headers,
	    g->g_creq.cr_nheaders);
	g->g_start_us = now_us();
	g->g_ncalls = ep->ep_nups;
	g->g_calls = xcalloc(ep->ep_nups, sizeof(*g->g_calls));
	for (i = 0; i < ep->ep_nups; i++) {
		up = &ep->ep_ups[i];
		uc = &g->g_calls[i];
		uc->uc_gather = g;
		uc->uc_conf = up;
		uc->uc_index = i;
		uc->uc_cap_max = g->g_conf->cf_limits.lim_max_upstream_body;
		uc->uc_url = url_expand(&up->up_tmpl, g->g_match.rm_params,
		    g->g_match.rm_nparams, g->g_creq.cr_query,
		    up->up_fwd_query, up->up_nfwd_query);
	}
	TAILQ_INSERT_TAIL(&w->w_gathers, g, g_entry);
	w->w_ngathers++;
	metrics_request_begin(w, ep);
	return (g);
}

/* libevent: the request deadline passed; answer with what has arrived. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	do_finish(arg, "deadline");
}

/* Start every upstream call at once, and the deadline timer. */
void
gather_start(struct gather *g)
{
	struct worker	*w = g->g_worker;
	struct timeval	 tv;
	uint64_t	 dl = g->g_ep->ep_deadline_ms;
	size_t		 i;

	g->g_deadline = evtimer_new(w->w_base, on_deadline, g);
	if (g->g_deadline == NULL)
		fatalx("%s: evtimer_new", __func__);
	evtimer_add(g->g_deadline, ms_timeval(dl, &tv));
	for (i = 0; i < g->g_ncalls; i++) {
		upstream_start(w->w_multi, &g->g_calls[i], &g->g_creq, dl);
		metrics_call_begin(w, g->g_calls[i].uc_conf);
		g->g_npending++;
	}
	log_debug("%s: req %llu: %zu calls started", __func__,
	    (unsigned long long)g->g_id, g->g_ncalls);
}

/*
 * upstream.c reports a finished call (outside any libcurl callback).  A
 * failed required upstream ends the request at once; otherwise the last
 * call to finish does.
 */
void
gather_call_done(struct ucall *uc)
{
	struct gather	*g = uc->uc_gather;

	g->g_npending--;
	metrics_call_end(g->g_worker, uc->uc_conf);
	log_debug("%s: req %llu: %s: %s in %.1f ms", __func__,
	    (unsigned long long)g->g_id, uc->uc_conf->up_name,
	    merge_kind_name(uc->uc_kind),
	    (double)(uc->uc_end_us - uc->uc_start_us) / 1000.0);
	if (g->g_flags & G_CLOSING)
		return;
	if (uc->uc_kind != CALL_OK && uc->uc_conf->up_required)
		do_finish(g, "required failed");
	else if (g->g_npending == 0)
		do_finish(g, "done");
}

/* What a call that has not finished counts as when the request ends. */
static void
do_pending_outcome(struct gather *g, struct ucall *uc, const char *reason)
{
	uc->uc_end_us = now_us();
	metrics_call_end(g->g_worker, uc->uc_conf);
	if (strcmp(reason, "deadline") == 0) {
		uc->uc_kind = CALL_TIMEOUT;
		xasprintf(&uc->uc_message, "request deadline of %llu ms passed",
		    (unsigned long long)g->g_ep->ep_deadline_ms);
	} else {
		uc->uc_kind = CALL_CANCELLED;
		xasprintf(&uc->uc_message, "cancelled: %s", reason);
	}
}

/* Cancel every call still running; each gets its pending outcome. */
static void
do_cancel_pending(struct gather *g, const char *reason)
{
	struct ucall	*uc;
	size_t		 i;

	for (i = 0; i < g->g_ncalls; i++) {
		uc = &g->g_calls[i];
		if (uc->uc_running) {
			upstream_cancel(g->g_worker->w_multi, uc);
			do_pending_outcome(g, uc, reason);
		}
	}
}

/* Fill the merge input from the calls, in config order. */
static struct outcome *
do_outcomes(struct gather *g, const char *reason)
{
	struct outcome	*out, *o;
	struct ucall	*uc;
	size_t		 i;

	do_cancel_pending(g, reason);
	out = xcalloc(g->g_ncalls, sizeof(*out));
	for (i = 0; i < g->g_ncalls; i++) {
		uc = &g->g_calls[i];
		o = &out[i];
		o->o_name = uc->uc_conf->up_name;
		o->o_required = uc->uc_conf->up_required;
		o->o_kind = uc->uc_kind;
		o->o_status = uc->uc_status;
		o->o_ctype = uc->uc_ctype;
		o->o_body = uc->uc_buf;
		o->o_len = uc->uc_len;
		o->o_ms = (double)(uc->uc_end_us - uc->uc_start_us) / 1000.0;
		o->o_message = uc->uc_message;
		o->o_default = uc->uc_conf->up_default;
	}
	return (out);
}

/* Merge what arrived, reply to the client, and close the gather. */
static void
do_finish(struct gather *g, const char *reason)
{
	struct outcome		*out;
	struct merge_result	 mr;
	size_t			 i;

	if (g->g_flags & (G_CLOSING | G_REPLIED))
		return;
	out = do_outcomes(g, reason);
	memset(&mr, 0, sizeof(mr));
	if (merge_reply(g->g_ep->ep_merge, out, g->g_ncalls, &mr) == -1) {
		mr.mr_status = 500;
		mr.mr_body = merge_error_body("cannot build the reply");
		mr.mr_len = strlen(mr.mr_body);
	}
	g->g_nok = 0;
	for (i = 0; i < g->g_ncalls; i++) {
		g->g_calls[i].uc_kind = out[i].o_kind;
		if (out[i].o_kind == CALL_OK)
			g->g_nok++;
	}
	free(out);
	if (g->g_req != NULL) {
		g->g_status = mr.mr_status;
		server_reply(g, mr.mr_status, mr.mr_body, mr.mr_len,
		    mr.mr_timing, mr.mr_complete);
	}
	g->g_flags |= G_REPLIED;
	merge_result_free(&mr);
	gather_close(g, reason);
}

/* evhtp reported that the client left: forget the request, then close. */
void
gather_client_gone(struct gather *g)
{
	g->g_req = NULL;
	gather_close(g, "client gone");
}

/* event_base_once: release the gather one loop turn after its close. */
static void
on_free(evutil_socket_t fd, short what, void *arg)
{
	struct gather	*g = arg;
	struct ucall	*uc;
	size_t		 i;

	for (i = 0; i < g->g_ncalls; i++) {
		uc = &g->g_calls[i];
		free(uc->uc_url);
		free(uc->uc_buf);
		free(uc->uc_ctype);
		free(uc->uc_message);
	}
	free(g->g_calls);
	client_req_free(&g->g_creq);
	route_match_free(&g->g_match);
	trace_free(&g->g_trace);
	config_unref(g->g_conf);
	free(g);
}

/* Write the one log line of a request, and its access log line. */
static void
do_log_close(struct gather *g, const char *reason)
{
	char	 status[8];

	if (g->g_status != 0)
		snprintf(status, sizeof(status), "%d", g->g_status);
	else
		strlcpy(status, "-", sizeof(status));
	log_info("req %llu %s %s -> %s, ok %zu/%zu, %.1f ms, %s, id=%s",
	    (unsigned long long)g->g_id, g->g_creq.cr_method,
	    g->g_creq.cr_path, status, g->g_nok, g->g_ncalls,
	    (double)(now_us() - g->g_start_us) / 1000.0, reason,
	    g->g_trace.tr_rid);
	access_log_gather(g, reason);
}

/*
 * Count the request and each call it started, with final kinds: a merge
 * may have turned an ok call into decode, and every pending call has just
 * been given its outcome.  A request closed without a reply counts as
 * status 0, rendered "client_gone".
 */
static void
do_count(struct gather *g)
{
	struct ucall	*uc;
	size_t		 i;

	for (i = 0; i < g->g_ncalls; i++) {
		uc = &g->g_calls[i];
		if (uc->uc_start_us != 0)	/* upstream_start() ran */
			metrics_call_count(g->g_worker, uc->uc_conf,
			    uc->uc_kind, uc->uc_end_us - uc->uc_start_us);
	}
	metrics_request_end(g->g_worker, g->g_ep, g->g_status,
	    now_us() - g->g_start_us);
}

/*
 * The one close path, idempotent: cancel every pending call, stop the
 * timer, detach from the client request, log one line, and queue the free.
 */
void
gather_close(struct gather *g, const char *reason)
{
	struct worker	*w = g->g_worker;
	struct timeval	 tv = { 0, 0 };

	if (g->g_flags & G_CLOSING)
		return;
	g->g_flags |= G_CLOSING;
	do_cancel_pending(g, reason);
	if (g->g_deadline != NULL) {
		event_free(g->g_deadline);
		g->g_deadline = NULL;
	}
	if (g->g_req != NULL)
		server_detach(g);
	do_log_close(g, reason);
	do_count(g);
	TAILQ_REMOVE(&w->w_gathers, g, g_entry);
	w->w_ngathers--;
	if (event_base_once(w->w_base, -1, EV_TIMEOUT, on_free, g, &tv) == -1)
		fatalx("%s: event_base_once", __func__);
}

/* Shutdown: answer and close every live gather of this worker. */
void
gather_shutdown(struct worker *w)
{
	struct gather	*g;

	while ((g = TAILQ_FIRST(&w->w_gathers)) != NULL)
		do_finish(g, "shutdown");
}
