/*
 * Upstream calls: libcurl's multi-socket interface driven by the worker's
 * own event_base, in the shape of curl's hiperfifo.c.  This is the only
 * file that includes <curl/curl.h>.
 *
 * One upstream_multi per worker owns the CURLM, its timer, the events of
 * the sockets curl asks us to watch, and a pool of idle easy handles (an
 * easy handle keeps its DNS cache and TLS session when reused; the
 * connection pool itself lives in the multi handle).
 *
 * Completion is reported to gather.c from do_check_info(), i.e. after
 * curl_multi_socket_action() has returned, never from inside a libcurl
 * callback: gather.c may then cancel other calls of the same request.
 */
#include <sys/time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatherd.h"

struct upstream_multi {
	struct event_base	*um_base;
	CURLM			*um_multi;
	struct event		*um_timer;
	CURL			**um_pool;
	size_t			 um_npool;
	size_t			 um_nhandles;	/* easy handles in the multi */
};

/* The event of one socket curl asked us to watch. */
struct sockinfo {
	curl_socket_t		 si_fd;
	struct event		 si_ev;
	struct upstream_multi	*si_um;
};

static void	do_check_info(struct upstream_multi *);

/* Process-wide libcurl setup; main.c calls it once before any thread. */
int
upstream_global_init(void)
{
	return (curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1);
}

/* Process-wide libcurl teardown, after every worker has stopped. */
void
upstream_global_cleanup(void)
{
	curl_global_cleanup();
}

/* libevent: a watched socket is ready; tell curl and reap what finished. */
static void
on_sock(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_multi	*um = arg;
	int			 action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	if (curl_multi_socket_action(um->um_multi, fd, action, &running) !=
	    CURLM_OK)
		fatalx("%s: curl_multi_socket_action failed", __func__);
	do_check_info(um);
}

/* libevent: curl's timer expired. */
static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_multi	*um = arg;
	int			 running;

	if (curl_multi_socket_action(um->um_multi, CURL_SOCKET_TIMEOUT, 0,
	    &running) != CURLM_OK)
		fatalx("%s: curl_multi_socket_action failed", __func__);
	do_check_info(um);
}

/* libcurl CURLMOPT_TIMERFUNCTION: (re)arm or stop the multi's timer. */
static int
on_multi_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct upstream_multi	*um = arg;
	struct timeval		 tv;

	if (timeout_ms < 0) {
		evtimer_del(um->um_timer);
		return (0);
	}
	evtimer_add(um->um_timer, ms_timeval((uint64_t)timeout_ms, &tv));
	return (0);
}

/*
 * libcurl CURLMOPT_SOCKETFUNCTION: start, change or stop watching a socket.
 * The sockinfo is curl's to hand back (curl_multi_assign), and is freed
 * here on CURL_POLL_REMOVE: it belongs to no request.
 */
static int
on_multi_sock(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *sockp)
{
	struct upstream_multi	*um = arg;
	struct sockinfo		*si = sockp;
	short			 kind;

	if (what == CURL_POLL_REMOVE) {
		if (si != NULL) {
			event_del(&si->si_ev);
			free(si);
			curl_multi_assign(um->um_multi, fd, NULL);
		}
		return (0);
	}
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (si == NULL) {
		si = xcalloc(1, sizeof(*si));
		si->si_fd = fd;
		si->si_um = um;
		curl_multi_assign(um->um_multi, fd, si);
	} else
		event_del(&si->si_ev);
	/* The event lives in the sockinfo: a new interest allocates nothing. */
	if (event_assign(&si->si_ev, um->um_base, fd, kind, on_sock, um) ==
	    -1 || event_add(&si->si_ev, NULL) == -1)
		fatalx("%s: cannot watch socket %d", __func__, (int)fd);
	return (0);
}

/* Make the curl multi handle of one worker. */
struct upstream_multi *
upstream_multi_new(struct event_base *base)
{
	struct upstream_multi	*um;

	um = xcalloc(1, sizeof(*um));
	um->um_base = base;
	if ((um->um_multi = curl_multi_init()) == NULL)
		fatalx("%s: curl_multi_init", __func__);
	if ((um->um_timer = evtimer_new(base, on_timeout, um)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	um->um_pool = xcalloc(DEFAULT_EASY_POOL, sizeof(CURL *));
	curl_multi_setopt(um->um_multi, CURLMOPT_SOCKETFUNCTION, on_multi_sock);
	curl_multi_setopt(um->um_multi, CURLMOPT_SOCKETDATA, um);
	curl_multi_setopt(um->um_multi, CURLMOPT_TIMERFUNCTION, on_multi_timer);
	curl_multi_setopt(um->um_multi, CURLMOPT_TIMERDATA, um);
	curl_multi_setopt(um->um_multi, CURLMOPT_MAXCONNECTS,
	    (long)DEFAULT_EASY_POOL);
	return (um);
}

/* Free a worker's multi; every call must have been cancelled first. */
void
upstream_multi_free(struct upstream_multi *um)
{
	size_t	 i;

	if (um == NULL)
		return;
	if (um->um_nhandles != 0)
		fatalx("%s: %zu easy handles still attached", __func__,
		    um->um_nhandles);
	for (i = 0; i < um->um_npool; i++)
		curl_easy_cleanup(um->um_pool[i]);
	free(um->um_pool);
	/* Closes pooled connections; their sockets leave via on_multi_sock. */
	curl_multi_cleanup(um->um_multi);
	event_free(um->um_timer);
	free(um);
}

/* Easy handles currently attached to the multi (tests assert zero). */
size_t
upstream_multi_nhandles(struct upstream_multi *um)
{
	return (um->um_nhandles);
}

/* libcurl CURLOPT_WRITEFUNCTION: append body bytes, enforcing the cap. */
static size_t
on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct ucall	*uc = arg;
	size_t		 len = size * nmemb, want;

	if (len > uc->uc_cap_max - uc->uc_len) {
		/* A short count makes curl abort with CURLE_WRITE_ERROR. */
		uc->uc_too_large = 1;
		return (0);
	}
	if (uc->uc_len + len > uc->uc_cap) {
		want = uc->uc_cap == 0 ? 4096 : uc->uc_cap;
		while (want < uc->uc_len + len)
			want *= 2;
		if (want > uc->uc_cap_max)
			want = uc->uc_cap_max;
		uc->uc_buf = xreallocarray(uc->uc_buf, 1, want);
		uc->uc_cap = want;
	}
	memcpy(uc->uc_buf + uc->uc_len, data, len);
	uc->uc_len += len;
	return (len);
}

/* Detach an easy handle from the multi and keep it for reuse. */
static void
do_release(struct upstream_multi *um, struct ucall *uc)
{
	CURL	*easy = uc->uc_easy;

	if (easy == NULL)
		return;
	if (curl_multi_remove_handle(um->um_multi, easy) != CURLM_OK)
		fatalx("%s: curl_multi_remove_handle failed", __func__);
	um->um_nhandles--;
	uc->uc_easy = NULL;
	uc->uc_running = 0;
	curl_slist_free_all(uc->uc_slist);
	uc->uc_slist = NULL;
	if (um->um_npool < DEFAULT_EASY_POOL) {
		curl_easy_reset(easy);
		um->um_pool[um->um_npool++] = easy;
	} else
		curl_easy_cleanup(easy);
}

/* Find the client's value of a header, case-insensitively. */
static const char *
do_find_header(const struct client_req *cr, const char *name)
{
	size_t	 i;

	for (i = 0; i < cr->cr_nheaders; i++)
		if (strcasecmp(cr->cr_headers[i].kv_key, name) == 0)
			return (cr->cr_headers[i].kv_val);
	return (NULL);
}

/* Append one header line to a curl list; the list is never lost. */
static struct curl_slist *
do_append(struct curl_slist *sl, const char *line)
{
	struct curl_slist	*n;

	if ((n = curl_slist_append(sl, line)) == NULL)
		fatalx("%s: curl_slist_append", __func__);
	return (n);
}

/* The request's trace headers (trace.c): the same on each of its calls. */
static struct curl_slist *
do_trace_headers(struct curl_slist *sl, const struct trace *tr)
{
	char	*line;

	xasprintf(&line, "X-Request-Id: %s", tr->tr_rid);
	sl = do_append(sl, line);
	free(line);
	xasprintf(&line, "traceparent: %s", tr->tr_parent);
	sl = do_append(sl, line);
	free(line);
	if (tr->tr_state != NULL) {
		xasprintf(&line, "tracestate: %s", tr->tr_state);
		sl = do_append(sl, line);
		free(line);
	}
	return (sl);
}

/*
 * The request headers of one call: ours, forwarded and configured.  The
 * trace headers are gatherd's to set, so a client's or the config's
 * header of the same name is left out rather than sent twice.
 */
static struct curl_slist *
do_headers(const struct ucall *uc, const struct client_req *cr)
{
	const struct upstream_conf	*up = uc->uc_conf;
	struct curl_slist		*sl = NULL;
	const char			*v;
	char				*line;
	size_t				 i;

	sl = do_trace_headers(sl, &uc->uc_gather->g_trace);
	for (i = 0; i < up->up_nfwd_headers; i++) {
		if (trace_header_ours(up->up_fwd_headers[i]) ||
		    (v = do_find_header(cr, up->up_fwd_headers[i])) == NULL)
			continue;
		xasprintf(&line, "%s: %s", up->up_fwd_headers[i], v);
		sl = do_append(sl, line);
		free(line);
	}
	for (i = 0; i < up->up_nheaders; i++) {
		if (trace_header_ours(up->up_headers[i].kv_key))
			continue;
		xasprintf(&line, "%s: %s", up->up_headers[i].kv_key,
		    up->up_headers[i].kv_val);
		sl = do_append(sl, line);
		free(line);
	}
	/* No "Expect: 100-continue" round trip on request bodies. */
	return (do_append(sl, "Expect:"));
}

/* Set the method, and the client's body for methods that carry one. */
static void
do_method(CURL *easy, const struct upstream_conf *up,
    const struct client_req *cr)
{
	const char	*m = up->up_method;

	if (strcmp(m, "GET") == 0)
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	else if (strcmp(m, "HEAD") == 0)
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	else {
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, m);
		if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
		    strcmp(m, "PATCH") == 0) {
			curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)cr->cr_bodylen);
			curl_easy_setopt(easy, CURLOPT_POSTFIELDS,
			    cr->cr_body != NULL ? cr->cr_body : "");
		}
	}
}

/*
 * Start one call.  The client request must outlive the call (it is the
 * gather's), since curl reads a forwarded body from it.  budget_ms is what
 * is left of the request deadline; the call's timeout never exceeds it.
 */
int
upstream_start(struct upstream_multi *um, struct ucall *uc,
    const struct client_req *cr, uint64_t budget_ms)
{
	const struct upstream_conf	*up = uc->uc_conf;
	CURL				*easy;
	uint64_t			 tmo, ctmo;

	if (um->um_npool > 0)
		easy = um->um_pool[--um->um_npool];
	else if ((easy = curl_easy_init()) == NULL)
		fatalx("%s: curl_easy_init", __func__);
	tmo = up->up_timeout_ms < budget_ms ? up->up_timeout_ms : budget_ms;
	if (tmo == 0)
		tmo = 1;
	ctmo = up->up_connect_timeout_ms < tmo ? up->up_connect_timeout_ms :
	    tmo;
	uc->uc_slist = do_headers(uc, cr);
	uc->uc_errbuf[0] = '\0';
	curl_easy_setopt(easy, CURLOPT_URL, uc->uc_url);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, uc);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, uc);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, uc->uc_errbuf);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, uc->uc_slist);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)tmo);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)ctmo);
	curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)uc->uc_cap_max);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	/* A parameter like ".." must reach the upstream as written. */
	curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	/* libcurl's defaults, said out loud: HTTPS upstreams are verified. */
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "gatherd/" PACKAGE_VERSION);
	do_method(easy, up, cr);
	uc->uc_easy = easy;
	uc->uc_timeout_ms = tmo;
	uc->uc_start_us = now_us();
	if (curl_multi_add_handle(um->um_multi, easy) != CURLM_OK)
		fatalx("%s: curl_multi_add_handle failed", __func__);
	um->um_nhandles++;
	uc->uc_running = 1;
	return (0);
}

/* Cancel a running call: curl closes its connection, nothing is reported. */
void
upstream_cancel(struct upstream_multi *um, struct ucall *uc)
{
	if (!uc->uc_running)
		return;
	do_release(um, uc);
	uc->uc_end_us = now_us();
}

/* Turn a finished transfer into an outcome kind and message. */
static void
do_outcome(struct ucall *uc, CURL *easy, CURLcode res)
{
	long		 status = 0;
	char		*ctype = NULL;
	const char	*why = uc->uc_errbuf[0] != '\0' ? uc->uc_errbuf :
	    curl_easy_strerror(res);

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	uc->uc_status = (int)status;
	switch (res) {
	case CURLE_OK:
		if (!config_ok_status(uc->uc_conf, (int)status)) {
			uc->uc_kind = CALL_STATUS;
			xasprintf(&uc->uc_message, "upstream answered %ld",
			    status);
			return;
		}
		uc->uc_kind = CALL_OK;
		curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ctype);
		if (ctype != NULL)
			uc->uc_ctype = xstrdup(ctype);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		uc->uc_kind = CALL_TIMEOUT;
		xasprintf(&uc->uc_message, "no complete reply within %llu ms",
		    (unsigned long long)uc->uc_timeout_ms);
		return;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (uc->uc_too_large || res == CURLE_FILESIZE_EXCEEDED) {
			uc->uc_kind = CALL_TOO_LARGE;
			xasprintf(&uc->uc_message, "body larger than %zu bytes",
			    uc->uc_cap_max);
			return;
		}
		break;
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_UNSUPPORTED_PROTOCOL:
		uc->uc_kind = CALL_DECODE;
		uc->uc_message = xstrdup(why);
		return;
	default:
		break;
	}
	uc->uc_kind = CALL_CONNECT;
	uc->uc_message = xstrdup(why);
}

/* Reap finished transfers and report each one to its gather. */
static void
do_check_info(struct upstream_multi *um)
{
	CURLMsg		*msg;
	int		 left;
	CURL		*easy;
	CURLcode	 res;
	struct ucall	*uc;

	while ((msg = curl_multi_info_read(um->um_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		res = msg->data.result;
		if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&uc) !=
		    CURLE_OK || uc == NULL)
			fatalx("%s: easy handle without its call", __func__);
		uc->uc_end_us = now_us();
		do_outcome(uc, easy, res);
		do_release(um, uc);
		gather_call_done(uc);
	}
}
