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
	TAILQ_ENTRY(sconn)	 sc_entry;
};

struct server {
	struct worker		*s_worker;
	evhtp_t			**s_htps;	/* one per listening socket */
	size_t			 s_nhtps;
	size_t			 s_nconns;
	TAILQ_HEAD(, sconn)	 s_conns;
};

/* Add a header to a reply; evhtp copies both strings. */
static void
do_header(evhtp_request_t *req, const char *key, const char *val)
{
	evhtp_headers_add_header(req->headers_out,
	    evhtp_header_new(key, val, 1, 1));
}

/* Send a JSON reply with the given status (a HEAD reply without body). */
static void
do_send(evhtp_request_t *req, int status, const char *body, size_t len)
{
	char	 clen[32];

	do_header(req, "Content-Type", "application/json");
	if (evhtp_request_get_method(req) == htp_method_HEAD) {
		/* evhtp would send buffer_out even to HEAD. */
		snprintf(clen, sizeof(clen), "%zu", len);
		do_header(req, "Content-Length", clen);
	} else
		evbuffer_add(req->buffer_out, body, len);
	evhtp_send_reply(req, (evhtp_res)status);
}

/* Send {"error": why} with the given status, and log the request. */
static void
do_send_error(struct worker *w, evhtp_request_t *req, const char *method,
    int status, const char *why, uint64_t start_us)
{
	char	*body = merge_error_body(why);

	do_send(req, status, body, strlen(body));
	free(body);
	metrics_unrouted(w, status);
	log_info("req %llu %s %s -> %d, ok 0/0, %.1f ms, %s",
	    (unsigned long long)gather_next_id(w), method,
	    req->uri != NULL && req->uri->path != NULL &&
	    req->uri->path->full != NULL ? req->uri->path->full : "-",
	    status, (double)(now_us() - start_us) / 1000.0, why);
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
	do_header(req, "X-Gather-Complete", complete ? "true" : "false");
	if (timing != NULL && timing[0] != '\0')
		do_header(req, "Server-Timing", timing);
	do_send(req, status, body, len);
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

/* The sconn of a request's connection (the arg of its connection hooks). */
static struct sconn *
do_sconn(evhtp_request_t *req)
{
	evhtp_hooks_t	*hooks = evhtp_connection_get_hooks(req->conn);

	return (hooks->on_connection_fini_arg);
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
	sc->sc_server->s_nconns--;
	metrics_conn_close(sc->sc_server->s_worker);
	free(sc);
	return (EVHTP_RES_OK);
}

/* evhtp pre-accept: refuse a connection over this worker's share. */
static evhtp_res
on_pre_accept(evhtp_connection_t *conn, void *arg)
{
	struct worker	*w = arg;
	uint64_t	 max = w->w_conf->cf_limits.lim_max_connections;

	max = max / (uint64_t)w->w_nworkers;
	if (max == 0)
		max = 1;
	if (w->w_stopping || w->w_server->s_nconns >= max)
		return (EVHTP_RES_ERROR);
	return (EVHTP_RES_OK);
}

/* evhtp post-accept: put the gate in front of the connection. */
static evhtp_res
on_post_accept(evhtp_connection_t *conn, void *arg)
{
	struct worker	*w = arg;
	struct server	*s = w->w_server;
	struct sconn	*sc;

	sc = xcalloc(1, sizeof(*sc));
	sc->sc_conn = conn;
	sc->sc_server = s;
	sc->sc_gate = gate_new(w, evhtp_connection_get_bev(conn));
	evhtp_connection_set_bev(conn, gate_bev(sc->sc_gate));
	evhtp_connection_set_hook(conn, evhtp_hook_on_request_fini,
	    (evhtp_hook)on_req_fini, sc);
	evhtp_connection_set_hook(conn, evhtp_hook_on_connection_fini,
	    (evhtp_hook)on_conn_fini, sc);
	evhtp_connection_set_hook(conn, evhtp_hook_on_error,
	    (evhtp_hook)(void (*)(void))on_req_error, sc);
	TAILQ_INSERT_TAIL(&s->s_conns, sc, sc_entry);
	s->s_nconns++;
	metrics_conn_open(w);
	return (EVHTP_RES_OK);
}

/* Make one evhtp server on an already listening socket. */
static evhtp_t *
do_htp(struct worker *w, int fd)
{
	evhtp_t	*htp;

	if ((htp = evhtp_new(w->w_base, w)) == NULL)
		return (NULL);
	/* The gate answers "Expect: 100-continue" itself. */
	evhtp_disable_flag(htp, EVHTP_FLAG_ENABLE_100_CONT);
	evhtp_set_gencb(htp, on_request, w);
	evhtp_set_pre_accept_cb(htp, on_pre_accept, w);
	evhtp_set_post_accept_cb(htp, on_post_accept, w);
	if (evhtp_accept_socket(htp, fd, DEFAULT_BACKLOG) == -1) {
		evhtp_free(htp);
		return (NULL);
	}
	return (htp);
}

/* Start serving a worker's listening sockets (the fds are taken over). */
int
server_init(struct worker *w, const int *fds, size_t nfds)
{
	struct server	*s;
	size_t		 i;

	s = xcalloc(1, sizeof(*s));
	s->s_worker = w;
	TAILQ_INIT(&s->s_conns);
	s->s_htps = xcalloc(nfds, sizeof(*s->s_htps));
	w->w_server = s;
	for (i = 0; i < nfds; i++) {
		if ((s->s_htps[i] = do_htp(w, fds[i])) == NULL) {
			log_warnx("%s: worker %d: cannot serve socket %d",
			    __func__, w->w_id, fds[i]);
			close(fds[i]);
			return (-1);
		}
		s->s_nhtps++;
	}
	return (0);
}

/* Stop accepting: close this worker's listening sockets. */
void
server_stop_accepting(struct worker *w)
{
	struct server	*s = w->w_server;
	size_t		 i;

	for (i = 0; s != NULL && i < s->s_nhtps; i++)
		evhtp_unbind_socket(s->s_htps[i]);
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
	size_t		 i;

	if (s == NULL)
		return;
	while ((sc = TAILQ_FIRST(&s->s_conns)) != NULL)
		/* on_conn_fini frees sc */
		evhtp_connection_free(sc->sc_conn);
	for (i = 0; i < s->s_nhtps; i++) {
		evhtp_unbind_socket(s->s_htps[i]);
		evhtp_free(s->s_htps[i]);
	}
	free(s->s_htps);
	free(s);
	w->w_server = NULL;
}
