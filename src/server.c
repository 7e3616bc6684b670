/*
 * The inbound HTTP server: libevhtp listeners of one worker, the request
 * entry point, replies and the client-gone hook.  This is the only file
 * that includes <evhtp.h>.
 *
 * Every accepted connection gets a gate (gate.c) in front of evhtp's
 * parser and a struct sconn that lives exactly as long as evhtp's
 * connection; the server keeps them on a list so that a stopping worker
 * can close what is left.
 */
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <evhtp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatherd.h"

struct sconn {
	evhtp_connection_t	*sc_conn;
	struct gate		*sc_gate;
	evhtp_request_t		*sc_req;	/* the request of sc_gather */
	struct gather		*sc_gather;	/* at most one at a time */
	struct server		*sc_server;
	struct slisten		*sc_listen;	/* that accepted it */
	int			 sc_admin;	/* on the admin listener */
	TAILQ_ENTRY(sconn)	 sc_entry;
};

/* One listening socket of this worker, served by its own evhtp. */
struct slisten {
	evhtp_t			*sl_htp;
	struct worker		*sl_worker;
	uint64_t		 sl_id;		/* listen.c's id */
	int			 sl_admin;
	size_t			 sl_nconns;	/* accepted, still open */
	TAILQ_ENTRY(slisten)	 sl_entry;
};

struct server {
	struct worker		*s_worker;
	TAILQ_HEAD(, slisten)	 s_listens;
	TAILQ_HEAD(, slisten)	 s_retired;	/* closed, conns remain */
	size_t			 s_nconns;	/* client connections */
	size_t			 s_nadmin;	/* admin connections */
	TAILQ_HEAD(, sconn)	 s_conns;	/* both kinds */
};

static int	on_copy_header(evhtp_kv_t *, void *);

/* Add a header to a reply; evhtp copies both strings. */
static void
do_header(evhtp_request_t *req, const char *key, const char *val)
{
	evhtp_headers_add_header(req->headers_out,
	    evhtp_header_new(key, val, 1, 1));
}

/* The sconn of a request's connection (the arg of its connection hooks). */
static struct sconn *
do_sconn(evhtp_request_t *req)
{
	evhtp_hooks_t	*hooks = evhtp_connection_get_hooks(req->conn);

	return (hooks->on_connection_fini_arg);
}

/* Send a JSON reply with the given status (a HEAD reply without body). */
static void
do_send(evhtp_request_t *req, int status, const char *ctype,
    const char *body, size_t len)
{
	char	 clen[32];

	/* A stopping worker lets no client reuse its connection. */
	if (do_sconn(req)->sc_server->s_worker->w_stopping) {
		evhtp_request_set_keepalive(req, 0);
		do_header(req, "Connection", "close");
	}
	do_header(req, "Content-Type", ctype);
	if (evhtp_request_get_method(req) == htp_method_HEAD) {
		/* evhtp would send buffer_out even to HEAD. */
		snprintf(clen, sizeof(clen), "%zu", len);
		do_header(req, "Content-Length", clen);
	} else
		evbuffer_add(req->buffer_out, body, len);
	evhtp_send_reply(req, (evhtp_res)status);
}

/* The X-Request-Id of a request no gather takes: as trace.c decides. */
static void
do_request_id(struct worker *w, evhtp_request_t *req, uint64_t id,
    char *rid, size_t len)
{
	struct client_req	 cr;

	memset(&cr, 0, sizeof(cr));
	evhtp_kvs_for_each(req->headers_in, on_copy_header, &cr);
	trace_request_id(w, id, cr.cr_headers, cr.cr_nheaders, rid, len);
	client_req_free(&cr);
}

/* Send {"error": why} with the given status, and log the request. */
static void
do_send_error(struct worker *w, evhtp_request_t *req, const char *method,
    int status, const char *why, uint64_t start_us)
{
	char		*body = merge_error_body(why);
	char		 rid[TRACE_RID_MAX + 1];
	const char	*path;
	uint64_t	 id = gather_next_id(w);
	double		 ms;

	do_request_id(w, req, id, rid, sizeof(rid));
	do_header(req, "X-Request-Id", rid);
	do_send(req, status, "application/json", body, strlen(body));
	free(body);
	metrics_unrouted(w, status);
	path = req->uri != NULL && req->uri->path != NULL &&
	    req->uri->path->full != NULL ? req->uri->path->full : "-";
	ms = (double)(now_us() - start_us) / 1000.0;
	log_info("req %llu %s %s -> %d, ok 0/0, %.1f ms, %s, id=%s",
	    (unsigned long long)id, method, path, status, ms, why, rid);
	access_log_error(w, rid, method, path, status, ms, why);
}

/*
 * Reply to a gather's client: merged body and the gather headers.  The
 * gather is detached first, since evhtp may finish the request at once.
 */
void
server_reply(struct gather *g, int status, const char *body, size_t len,
    const char *timing, int complete)
{
	struct sconn	*sc = g->g_req;
	evhtp_request_t	*req;

	if (sc == NULL || (req = sc->sc_req) == NULL)
		return;
	server_detach(g);
	do_header(req, "X-Request-Id", g->g_trace.tr_rid);
	do_header(req, "X-Gather-Complete", complete ? "true" : "false");
	if (timing != NULL && timing[0] != '\0')
		do_header(req, "Server-Timing", timing);
	do_send(req, status, "application/json", body, len);
}

/* Forget the gather's request: no hook of it may reach the gather again. */
void
server_detach(struct gather *g)
{
	struct sconn	*sc = g->g_req;

	if (sc != NULL) {
		sc->sc_gather = NULL;
		sc->sc_req = NULL;
	}
	g->g_req = NULL;
}

/* The client left, or evhtp dropped the request: the gather lets go. */
static void
do_client_gone(struct sconn *sc)
{
	struct gather	*g = sc->sc_gather;

	if (g == NULL)
		return;
	/* evhtp frees the request as its hook returns: forget it first. */
	server_detach(g);
	gather_client_gone(g);
}

/* evhtp on_error hook (connection level): the client left. */
static void
on_req_error(evhtp_request_t *req, evhtp_error_flags flags, void *arg)
{
	do_client_gone(arg);
}

/* evhtp header iterator: copy one client header. */
static int
on_copy_header(evhtp_kv_t *kv, void *arg)
{
	struct client_req	*cr = arg;
	struct kv		*h;

	if (kv->key == NULL || kv->val == NULL)
		return (0);
	cr->cr_headers = xreallocarray(cr->cr_headers, cr->cr_nheaders + 1,
	    sizeof(*cr->cr_headers));
	h = &cr->cr_headers[cr->cr_nheaders++];
	h->kv_key = xstrndup(kv->key, kv->klen);
	h->kv_val = xstrndup(kv->val, kv->vlen);
	return (0);
}

/* Copy what gather.c needs out of evhtp's request. */
static void
do_copy_request(evhtp_request_t *req, const char *method,
    struct client_req *cr)
{
	size_t	 len;

	memset(cr, 0, sizeof(*cr));
	cr->cr_method = xstrdup(method);
	cr->cr_path = xstrdup(req->uri->path->full);
	if (req->uri->query_raw != NULL)
		cr->cr_query = xstrdup((const char *)req->uri->query_raw);
	evhtp_kvs_for_each(req->headers_in, on_copy_header, cr);
	if ((len = evbuffer_get_length(req->buffer_in)) > 0) {
		cr->cr_body = xmalloc(len);
		evbuffer_copyout(req->buffer_in, cr->cr_body, len);
		cr->cr_bodylen = len;
	}
}


/*
 * Route a request: 0 with m filled, or -1 once the error reply (404, 405
 * with Allow, 400 for a bad parameter encoding) has been sent.
 */
static int
do_route(struct worker *w, evhtp_request_t *req, const char *method,
    const char *path, struct route_match *m, uint64_t t0)
{
	char	 allow[256], why[300];
	int	 st;

	memset(m, 0, sizeof(*m));
	st = router_match(w->w_conf, method, path, m, allow, sizeof(allow));
	/* HEAD is GET without the body, unless an endpoint says otherwise. */
	if (st != 200 && st != 400 && strcmp(method, "HEAD") == 0 &&
	    router_match(w->w_conf, "GET", path, m, why, sizeof(why)) == 200)
		st = 200;
	switch (st) {
	case 200:
		return (0);
	case 405:
		do_header(req, "Allow", allow);
		snprintf(why, sizeof(why), "method %s not allowed", method);
		do_send_error(w, req, method, 405, why, t0);
		return (-1);
	case 404:
		do_send_error(w, req, method, 404, "no endpoint for this path",
		    t0);
		return (-1);
	default:
		do_send_error(w, req, method, 400,
		    "bad percent-encoding in path", t0);
		return (-1);
	}
}

/* evhtp: a whole request passed the gate; route it and start its gather. */
static void
on_request(evhtp_request_t *req, void *arg)
{
	struct worker		*w = arg;
	struct route_match	 m;
	struct client_req	 cr;
	struct gather		*g;
	struct sconn		*sc;
	const char		*method, *path;
	uint64_t		 t0;

	t0 = now_us();
	sc = do_sconn(req);
	gate_request_started(sc->sc_gate);
	/* The gate lets only methods evhtp can name through; be safe anyway. */
	if ((method = htparser_get_methodstr_m(evhtp_request_get_method(req)))
	    == NULL) {
		do_send_error(w, req, "-", 501,
		    "request method not implemented", t0);
		return;
	}
	if (req->uri == NULL || req->uri->path == NULL ||
	    (path = req->uri->path->full) == NULL) {
		do_send_error(w, req, method, 400, "bad request target", t0);
		return;
	}
	if (do_route(w, req, method, path, &m, t0) == -1)
		return;
	do_copy_request(req, method, &cr);
	g = gather_new(w, &cr, &m, sc);
	sc->sc_req = req;
	sc->sc_gather = g;
	gather_start(g);
}

/* evhtp: a whole request on the admin listener; admin.c answers it. */
static void
on_admin_request(evhtp_request_t *req, void *arg)
{
	struct worker		*w = arg;
	struct sconn		*sc = do_sconn(req);
	struct admin_reply	 ar;
	const char		*method, *path = "/";

	gate_request_started(sc->sc_gate);
	method = htparser_get_methodstr_m(evhtp_request_get_method(req));
	if (req->uri != NULL && req->uri->path != NULL &&
	    req->uri->path->full != NULL)
		path = req->uri->path->full;
	admin_handle(w->w_metrics, method != NULL ? method : "-", path, &ar);
	if (ar.ar_allow != NULL)
		do_header(req, "Allow", ar.ar_allow);
	do_send(req, ar.ar_status, ar.ar_ctype, ar.ar_body, ar.ar_len);
	admin_reply_free(&ar);
}

/* evhtp hook: a request was freed, its reply handed to the socket. */
static evhtp_res
on_req_fini(evhtp_request_t *req, void *arg)
{
	struct sconn	*sc = arg;

	do_client_gone(sc);
	gate_request_done(sc->sc_gate);
	return (EVHTP_RES_OK);
}

/*
 * evhtp hook: a connection is being freed.  evhtp runs this before it
 * frees the connection's request, so the request hooks are unset here.
 */
static evhtp_res
on_conn_fini(evhtp_connection_t *conn, void *arg)
{
	struct sconn	*sc = arg;

	do_client_gone(sc);
	gate_detach(sc->sc_gate);
	evhtp_connection_unset_hook(conn, evhtp_hook_on_request_fini);
	evhtp_connection_unset_hook(conn, evhtp_hook_on_error);
	TAILQ_REMOVE(&sc->sc_server->s_conns, sc, sc_entry);
	sc->sc_listen->sl_nconns--;
	if (sc->sc_admin)
		sc->sc_server->s_nadmin--;
	else {
		sc->sc_server->s_nconns--;
		metrics_conn_close(sc->sc_server->s_worker);
	}
	free(sc);
	return (EVHTP_RES_OK);
}

/* evhtp pre-accept: refuse a connection over this worker's share. */
static evhtp_res
on_pre_accept(evhtp_connection_t *conn, void *arg)
{
	struct slisten	*sl = arg;
	struct worker	*w = sl->sl_worker;
	uint64_t	 max = w->w_conf->cf_limits.lim_max_connections;

	max = max / (uint64_t)w->w_nworkers;
	if (max == 0)
		max = 1;
	if (w->w_stopping || w->w_server->s_nconns >= max) {
		metrics_conn_refused(w);
		return (EVHTP_RES_ERROR);
	}
	return (EVHTP_RES_OK);
}

/* evhtp pre-accept on the admin listener: a few connections at most. */
static evhtp_res
on_admin_pre_accept(evhtp_connection_t *conn, void *arg)
{
	struct slisten	*sl = arg;
	struct worker	*w = sl->sl_worker;

	if (w->w_server->s_nadmin >= ADMIN_MAX_CONNECTIONS)
		return (EVHTP_RES_ERROR);
	return (EVHTP_RES_OK);
}

/*
 * Free the listeners a reload closed once their last connection is gone.
 * Connections point to their evhtp, so it lives until then; this runs
 * outside evhtp's hooks, on the next accept or listener change.
 */
static void
do_reap(struct server *s)
{
	struct slisten	*sl, *next;

	for (sl = TAILQ_FIRST(&s->s_retired); sl != NULL; sl = next) {
		next = TAILQ_NEXT(sl, sl_entry);
		if (sl->sl_nconns > 0)
			continue;
		TAILQ_REMOVE(&s->s_retired, sl, sl_entry);
		evhtp_free(sl->sl_htp);
		free(sl);
	}
}

/* Put the gate in front of a new connection, and track it. */
static struct sconn *
do_post_accept(evhtp_connection_t *conn, struct slisten *sl)
{
	struct worker	*w = sl->sl_worker;
	struct server	*s = w->w_server;
	struct sconn	*sc;
	int		 admin = sl->sl_admin;

	if (!TAILQ_EMPTY(&s->s_retired))
		do_reap(s);
	sc = xcalloc(1, sizeof(*sc));
	sc->sc_conn = conn;
	sc->sc_server = s;
	sc->sc_listen = sl;
	sl->sl_nconns++;
	sc->sc_admin = admin;
	sc->sc_gate = gate_new(w, evhtp_connection_get_bev(conn));
	evhtp_connection_set_bev(conn, gate_bev(sc->sc_gate));
	evhtp_connection_set_hook(conn, evhtp_hook_on_request_fini,
	    (evhtp_hook)on_req_fini, sc);
	evhtp_connection_set_hook(conn, evhtp_hook_on_connection_fini,
	    (evhtp_hook)on_conn_fini, sc);
	evhtp_connection_set_hook(conn, evhtp_hook_on_error,
	    (evhtp_hook)(void (*)(void))on_req_error, sc);
	TAILQ_INSERT_TAIL(&s->s_conns, sc, sc_entry);
	if (admin)
		s->s_nadmin++;
	else {
		s->s_nconns++;
		metrics_conn_open(w);
	}
	return (sc);
}

/* evhtp post-accept, on a client or the admin listener. */
static evhtp_res
on_post_accept(evhtp_connection_t *conn, void *arg)
{
	do_post_accept(conn, arg);
	return (EVHTP_RES_OK);
}

/* Make one listener's evhtp server on an already listening socket. */
static evhtp_t *
do_htp(struct slisten *sl, int fd)
{
	struct worker	*w = sl->sl_worker;
	evhtp_t		*htp;

	if ((htp = evhtp_new(w->w_base, w)) == NULL)
		return (NULL);
	/* The gate answers "Expect: 100-continue" itself. */
	evhtp_disable_flag(htp, EVHTP_FLAG_ENABLE_100_CONT);
	evhtp_set_gencb(htp, sl->sl_admin ? on_admin_request : on_request, w);
	evhtp_set_pre_accept_cb(htp, sl->sl_admin ? on_admin_pre_accept :
	    on_pre_accept, sl);
	evhtp_set_post_accept_cb(htp, on_post_accept, sl);
	/*
	 * Backlog 0: the socket already listens (listen.c, or systemd with
	 * the socket unit's Backlog=), and libevent must not listen() again.
	 */
	if (evhtp_accept_socket(htp, fd, 0) == -1) {
		evhtp_free(htp);
		return (NULL);
	}
	return (htp);
}

/* Make a worker's server, with no listening socket yet. */
void
server_init(struct worker *w)
{
	struct server	*s;

	s = xcalloc(1, sizeof(*s));
	s->s_worker = w;
	TAILQ_INIT(&s->s_conns);
	TAILQ_INIT(&s->s_listens);
	TAILQ_INIT(&s->s_retired);
	w->w_server = s;
}

/* Serve one more listening socket (taken over; closed on failure). */
int
server_listen_add(struct worker *w, int fd, uint64_t id, int admin)
{
	struct server	*s = w->w_server;
	struct slisten	*sl;

	sl = xcalloc(1, sizeof(*sl));
	sl->sl_worker = w;
	sl->sl_id = id;
	sl->sl_admin = admin;
	if (s == NULL || w->w_stopping ||
	    (sl->sl_htp = do_htp(sl, fd)) == NULL) {
		close(fd);
		free(sl);
		return (-1);
	}
	TAILQ_INSERT_TAIL(&s->s_listens, sl, sl_entry);
	return (0);
}

/*
 * Close one listening socket.  Its evhtp stays, retired, until the
 * connections it accepted have closed: they still point to it.
 */
static void
do_retire(struct server *s, struct slisten *sl)
{
	TAILQ_REMOVE(&s->s_listens, sl, sl_entry);
	evhtp_unbind_socket(sl->sl_htp);
	TAILQ_INSERT_TAIL(&s->s_retired, sl, sl_entry);
	do_reap(s);
}

/*
 * Stop serving a listening socket (a reload removed its address).  The
 * connections it accepted stay, and finish as usual.
 */
void
server_listen_remove(struct worker *w, uint64_t id)
{
	struct server	*s = w->w_server;
	struct slisten	*sl;

	if (s == NULL)
		return;
	TAILQ_FOREACH(sl, &s->s_listens, sl_entry)
		if (sl->sl_id == id) {
			do_retire(s, sl);
			return;
		}
}

/*
 * Stop accepting clients: close this worker's client listeners.  The
 * admin listener stays until the worker is freed, so that /readyz can
 * say "stopping" and /metrics show the drain.
 */
void
server_stop_accepting(struct worker *w)
{
	struct server	*s = w->w_server;
	struct slisten	*sl, *next;

	if (s == NULL)
		return;
	for (sl = TAILQ_FIRST(&s->s_listens); sl != NULL; sl = next) {
		next = TAILQ_NEXT(sl, sl_entry);
		if (!sl->sl_admin)
			do_retire(s, sl);
	}
}

/* Client connections open on this worker. */
size_t
server_nconnections(struct worker *w)
{
	return (w->w_server != NULL ? w->w_server->s_nconns : 0);
}

/* Free the server of a stopped worker, closing what connections remain. */
void
server_free(struct worker *w)
{
	struct server	*s = w->w_server;
	struct sconn	*sc;
	struct slisten	*sl;

	if (s == NULL)
		return;
	while ((sc = TAILQ_FIRST(&s->s_conns)) != NULL)
		/* on_conn_fini frees sc */
		evhtp_connection_free(sc->sc_conn);
	while ((sl = TAILQ_FIRST(&s->s_listens)) != NULL)
		do_retire(s, sl);
	do_reap(s);
	free(s);
	w->w_server = NULL;
}
