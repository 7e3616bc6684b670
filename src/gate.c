/*
 * The inbound gate (DESIGN.md): a libevent filter bufferevent between the
 * client's socket and evhtp that releases bytes to evhtp only as one
 * complete, checked request at a time.  libhttp-parser finds where each
 * request ends and checks its framing; the gate adds the head checks that
 * parser lets through (whitespace before a colon, obs-fold, Host), the
 * head size (431) and head deadline (408), the body limit (413), and the
 * idle timeout between requests.  A pipelined request waits in the socket
 * buffer until the reply to the one before has been handed to the socket.
 *
 * The gate also owns the end of the connection.  The filter does not own
 * the socket bufferevent (no BEV_OPT_CLOSE_ON_FREE): when evhtp frees its
 * connection, the gate flushes what is still queued for the client, shuts
 * down the write side, drains what the client still sends for a moment
 * (so a late read does not turn into a reset that eats the reply), and
 * only then closes.  Gate errors are short JSON replies closed that way.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <http_parser.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gatherd.h"

enum gate_state {
	GT_IDLE,	/* between requests */
	GT_READING,	/* a request has begun; not yet complete */
	GT_HELD,	/* a request went to evhtp; waiting for its reply */
	GT_REJECTED,	/* an error reply is queued; evhtp must let go */
	GT_LINGER	/* evhtp let go; flushing and draining to close */
};

struct gate {
	struct worker		*gt_worker;
	struct bufferevent	*gt_under;	/* the socket's bufferevent */
	struct bufferevent	*gt_filter;	/* what evhtp uses */
	struct event		*gt_timer;	/* head/idle/linger time */
	struct event		*gt_kick;	/* deferred work */
	struct event		*gt_drain;	/* linger: drain reads */
	http_parser		 gt_parser;
	enum gate_state		 gt_state;
	size_t			 gt_scanned;	/* request bytes parsed */
	size_t			 gt_msglen;	/* set once whole */
	uint64_t		 gt_body;
	int			 gt_head_done;
	int			 gt_started;	/* evhtp took the request */
	int			 gt_detached;	/* evhtp let go of the filter */
	int			 gt_status;	/* a failed check's status */
	const char		*gt_why;
	bufferevent_data_cb	 gt_rcb;	/* evhtp's callbacks */
	bufferevent_data_cb	 gt_wcb;
	bufferevent_event_cb	 gt_ecb;
	void			*gt_cbarg;
	TAILQ_ENTRY(gate)	 gt_entry;	/* worker's lingering list */
};

static int	on_message_begin(http_parser *);
static int	on_headers_complete(http_parser *);
static int	on_body(http_parser *, const char *, size_t);
static int	on_message_complete(http_parser *);

static const http_parser_settings gate_settings = {
	.on_message_begin = on_message_begin,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static const struct limits *
do_limits(struct gate *gt)
{
	return (&gt->gt_worker->w_conf->cf_limits);
}

static void
do_arm(struct gate *gt, uint64_t ms)
{
	struct timeval	 tv;

	evtimer_add(gt->gt_timer, ms_timeval(ms, &tv));
}

/* Reset the parser for the next request on this connection. */
static void
do_next(struct gate *gt)
{
	http_parser_init(&gt->gt_parser, HTTP_REQUEST);
	gt->gt_parser.data = gt;
	gt->gt_scanned = 0;
	gt->gt_msglen = 0;
	gt->gt_body = 0;
	gt->gt_head_done = 0;
	gt->gt_status = 0;
	gt->gt_state = GT_IDLE;
}

/* Record a check's verdict and stop the parser where it stands. */
static int
do_fail(struct gate *gt, int status, const char *why)
{
	if (gt->gt_status == 0) {
		gt->gt_status = status;
		gt->gt_why = why;
	}
	/* From a callback: stop here (a parser in error has stopped). */
	if (HTTP_PARSER_ERRNO(&gt->gt_parser) == HPE_OK)
		http_parser_pause(&gt->gt_parser, 1);
	return (0);
}

/* http_parser: the first byte of a request; the head deadline starts. */
static int
on_message_begin(http_parser *p)
{
	struct gate	*gt = p->data;

	gt->gt_state = GT_READING;
	do_arm(gt, do_limits(gt)->lim_head_timeout_ms);
	return (0);
}

/* http_parser: the head is complete; stop so the raw head can be checked. */
static int
on_headers_complete(http_parser *p)
{
	struct gate	*gt = p->data;

	gt->gt_head_done = 1;
	http_parser_pause(p, 1);
	return (0);
}

/* http_parser: body bytes; enforce max_request_body as they come. */
static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct gate	*gt = p->data;

	gt->gt_body += len;
	if (gt->gt_body > do_limits(gt)->lim_max_request_body)
		return (do_fail(gt, 413, "request body too large"));
	return (0);
}

/* http_parser: the request is whole; stop so it can be released alone. */
static int
on_message_complete(http_parser *p)
{
	http_parser_pause(p, 1);
	return (0);
}

/*
 * Check one header line that libhttp-parser accepted: no obs-fold, no
 * whitespace before the colon.  Count Host and note Expect: 100-continue.
 */
static const char *
do_check_line(const char *s, size_t len, int *hosts, int *expect)
{
	const char	*colon;
	const char	*v;
	size_t		 vlen;

	if (s[0] == ' ' || s[0] == '\t')
		return ("obsolete line folding in header");
	if ((colon = memchr(s, ':', len)) == NULL)
		return ("header line without a colon");
	if (colon == s)
		return ("empty header name");
	if (colon[-1] == ' ' || colon[-1] == '\t')
		return ("whitespace before colon in header");
	if (colon - s == 4 && strncasecmp(s, "host", 4) == 0)
		(*hosts)++;
	if (colon - s == 6 && strncasecmp(s, "expect", 6) == 0) {
		v = colon + 1;
		vlen = len - (size_t)(v - s);
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (vlen == 12 && strncasecmp(v, "100-continue", 12) == 0)
			*expect = 1;
	}
	return (NULL);
}

/* Check the raw head (the first headlen bytes of src). */
static int
do_check_head(struct gate *gt, struct evbuffer *src, size_t headlen)
{
	http_parser	*p = &gt->gt_parser;
	const char	*s, *end, *nl = NULL, *why;
	size_t		 line;
	int		 hosts = 0, expect = 0;

	if ((s = (const char *)evbuffer_pullup(src, (ev_ssize_t)headlen)) ==
	    NULL)
		return (do_fail(gt, 400, "bad request head"));
	end = s + headlen;
	/* Empty lines before the request line are allowed (RFC 9112 2.2). */
	while (s < end && (*s == '\r' || *s == '\n'))
		s++;
	for (line = 0; s < end; line++, s = nl + 1) {
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			return (do_fail(gt, 400, "bad request head"));
		/* evhtp knows only CRLF: a bare LF would leave it waiting. */
		if (nl == s || nl[-1] != '\r')
			return (do_fail(gt, 400, "line not ended by CRLF"));
		if (nl - s == 1)
			break;		/* the empty line that ends the head */
		if (line > 0 && (why = do_check_line(s, (size_t)(nl - s) - 1,
		    &hosts, &expect)) != NULL)
			return (do_fail(gt, 400, why));
	}
	if (hosts > 1)
		return (do_fail(gt, 400, "more than one Host header"));
	if (hosts == 0 && p->http_major == 1 && p->http_minor >= 1)
		return (do_fail(gt, 400, "missing Host header"));
	if (p->http_major != 1 || p->http_minor > 1)
		return (do_fail(gt, 505,
		    "only HTTP/1.0 and HTTP/1.1 are served"));
	if (!parse_served_method(http_method_str(p->method)))
		return (do_fail(gt, 501, "request method not implemented"));
	if ((p->flags & F_CONTENTLENGTH) &&
	    p->content_length > do_limits(gt)->lim_max_request_body)
		return (do_fail(gt, 413, "request body too large"));
	if (expect && p->http_minor >= 1 && ((p->flags & F_CHUNKED) ||
	    ((p->flags & F_CONTENTLENGTH) && p->content_length > 0)))
		bufferevent_write(gt->gt_under, "HTTP/1.1 100 Continue\r\n\r\n",
		    25);
	return (0);
}

/* Feed the parser from gt_scanned: 1 if it paused, 0 if it wants more. */
static int
do_feed(struct gate *gt, struct evbuffer *src)
{
	struct evbuffer_ptr	 pos;
	struct evbuffer_iovec	 v;
	size_t			 n, want;
	size_t			 headmax = do_limits(gt)->lim_max_request_head;

	while (gt->gt_scanned < evbuffer_get_length(src)) {
		if (evbuffer_ptr_set(src, &pos, gt->gt_scanned,
		    EVBUFFER_PTR_SET) == -1 ||
		    evbuffer_peek(src, -1, &pos, &v, 1) < 1)
			return (do_fail(gt, 400, "bad request"), 1);
		want = v.iov_len;
		/* Never parse more head than the limit allows, plus one. */
		if (!gt->gt_head_done && gt->gt_scanned + want > headmax + 1)
			want = headmax + 1 - gt->gt_scanned;
		n = http_parser_execute(&gt->gt_parser, &gate_settings,
		    v.iov_base, want);
		gt->gt_scanned += n;
		if (HTTP_PARSER_ERRNO(&gt->gt_parser) != HPE_OK)
			return (1);
		if (!gt->gt_head_done && gt->gt_scanned > headmax)
			return (do_fail(gt, 431, "request head too large"), 1);
	}
	return (0);
}

/* The parser paused or failed: decide what the pause means. */
static int
do_paused(struct gate *gt, struct evbuffer *src)
{
	enum http_errno	 err = HTTP_PARSER_ERRNO(&gt->gt_parser);

	if (gt->gt_status != 0)
		return (-1);
	if (err == HPE_HEADER_OVERFLOW)
		return (do_fail(gt, 431, "request head too large"), -1);
	if (err != HPE_PAUSED)
		return (do_fail(gt, 400, http_errno_description(err)), -1);
	http_parser_pause(&gt->gt_parser, 0);
	if (gt->gt_msglen == 0 && gt->gt_head_done == 1) {
		/* Paused at the head's last byte, which is not consumed. */
		gt->gt_head_done = 2;
		if (do_check_head(gt, src, gt->gt_scanned + 1) != 0 ||
		    gt->gt_status != 0)
			return (-1);
		/* The body, if any, gets client_timeout from here. */
		do_arm(gt, do_limits(gt)->lim_client_timeout_ms);
		return (0);
	}
	/* Paused at the end of the message. */
	gt->gt_msglen = gt->gt_scanned;
	return (1);
}

/*
 * Parse what has arrived of the current request.  Returns 1 when a whole
 * request is ready to go to evhtp, 0 when more bytes are needed, -1 when
 * the request was rejected (gt_status is set).
 */
static int
do_scan(struct gate *gt, struct evbuffer *src)
{
	int	 r;

	for (;;) {
		if (do_feed(gt, src) == 0)
			return (0);
		if ((r = do_paused(gt, src)) != 0)
			return (r);
	}
}

static void	do_reject(struct gate *);

/* Drop the CR and LF bytes at the front of src. */
static void
do_skip_crlf(struct evbuffer *src)
{
	struct evbuffer_iovec	 v;
	size_t			 n;

	while (evbuffer_peek(src, -1, NULL, &v, 1) == 1 && v.iov_len > 0) {
		for (n = 0; n < v.iov_len; n++) {
			char c = ((const char *)v.iov_base)[n];

			if (c != '\r' && c != '\n')
				break;
		}
		evbuffer_drain(src, n);
		if (n < v.iov_len)
			return;
	}
}

/*
 * Move one whole request from src (the socket's input) to dst (evhtp's
 * input).  Returns 1 if it moved one, 0 otherwise.
 */
static int
do_pump(struct gate *gt, struct evbuffer *src, struct evbuffer *dst)
{
	int	 r;

	if (gt->gt_state != GT_IDLE && gt->gt_state != GT_READING)
		return (0);
	/* Empty lines before a request are allowed, but evhtp trips on them. */
	if (gt->gt_scanned == 0)
		do_skip_crlf(src);
	if (evbuffer_get_length(src) == 0)
		return (0);
	if ((r = do_scan(gt, src)) == 0)
		return (0);
	if (r < 0) {
		do_reject(gt);
		return (0);
	}
	evbuffer_remove_buffer(src, dst, gt->gt_msglen);
	gt->gt_state = GT_HELD;
	/*
	 * evhtp dispatches a whole request at once (next loop turn).  If it
	 * has not within GATE_DISPATCH_MS, its parser disagrees with ours
	 * and waits for bytes that will never come: answer 400, not hang.
	 */
	gt->gt_started = 0;
	do_arm(gt, GATE_DISPATCH_MS);
	/* Bound what a pipelining client can queue while we are busy. */
	if (evbuffer_get_length(src) > do_limits(gt)->lim_max_request_head +
	    do_limits(gt)->lim_max_request_body)
		bufferevent_disable(gt->gt_under, EV_READ);
	return (1);
}

/* libevent filter: bytes arrived from the client. */
static enum bufferevent_filter_result
on_filter_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct gate	*gt = arg;

	if (gt->gt_state == GT_REJECTED) {
		evbuffer_drain(src, evbuffer_get_length(src));
		return (BEV_NEED_MORE);
	}
	return (do_pump(gt, src, dst) ? BEV_OK : BEV_NEED_MORE);
}

/* Log a rejected request with the client's address: one line each. */
static void
do_log_reject(struct gate *gt)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 host[INET6_ADDRSTRLEN] = "-";
	int			 port = 0;

	if (getpeername(bufferevent_getfd(gt->gt_under),
	    (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			port = ntohs(s4->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, host,
			    sizeof(host));
			port = ntohs(s6->sin6_port);
		}
	}
	log_info("req - from %s port %d -> %d, %s", host, port,
	    gt->gt_status, gt->gt_why);
}

/* Queue the JSON error reply of a failed check; evhtp is told later. */
static void
do_reject(struct gate *gt)
{
	const char	*reason;
	char		*body;

	switch (gt->gt_status) {
	case 408:
		reason = "Request Timeout";
		break;
	case 413:
		reason = "Payload Too Large";
		break;
	case 431:
		reason = "Request Header Fields Too Large";
		break;
	case 501:
		reason = "Not Implemented";
		break;
	case 505:
		reason = "HTTP Version Not Supported";
		break;
	default:
		gt->gt_status = 400;
		reason = "Bad Request";
		break;
	}
	body = merge_error_body(gt->gt_why != NULL ? gt->gt_why : reason);
	evbuffer_add_printf(bufferevent_get_output(gt->gt_under),
	    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    gt->gt_status, reason, strlen(body),
	    gt->gt_parser.method == HTTP_HEAD ? "" : body);
	free(body);
	metrics_unrouted(gt->gt_worker, gt->gt_status);
	do_log_reject(gt);
	gt->gt_state = GT_REJECTED;
	evtimer_del(gt->gt_timer);
	event_active(gt->gt_kick, EV_TIMEOUT, 0);
}

/*
 * libevent: an event on the connection, passed on to evhtp.  evhtp ignores
 * an end of file when errno happens to hold EAGAIN (a stale value, since
 * this callback is deferred), and would then never see the client leave:
 * an end of file is always reported to it as an error too.
 */
static void
on_filter_event(struct bufferevent *bev, short what, void *arg)
{
	struct gate	*gt = arg;

	if (what & BEV_EVENT_EOF)
		what |= BEV_EVENT_ERROR;
	gt->gt_ecb(bev, what, gt->gt_cbarg);
}

/* libevent: a whole request is in evhtp's input; evhtp reads it. */
static void
on_filter_read(struct bufferevent *bev, void *arg)
{
	struct gate	*gt = arg;

	gt->gt_rcb(bev, gt->gt_cbarg);
}

/* libevent: evhtp's output was handed to the socket. */
static void
on_filter_write(struct bufferevent *bev, void *arg)
{
	struct gate	*gt = arg;

	gt->gt_wcb(bev, gt->gt_cbarg);
}

/* Tell evhtp the connection is over; it frees it, and the gate lingers. */
static void
do_hangup(struct gate *gt)
{
	if (gt->gt_detached)
		return;
	bufferevent_trigger_event(gt->gt_filter, BEV_EVENT_EOF |
	    BEV_EVENT_ERROR, 0);
}

/* libevent: deferred gate work, run outside every library callback. */
static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct gate	*gt = arg;

	if (gt->gt_detached)
		return;
	switch (gt->gt_state) {
	case GT_REJECTED:
		do_hangup(gt);	/* the gate may now be lingering */
		return;
	case GT_IDLE:
	case GT_READING:
		if (do_pump(gt, bufferevent_get_input(gt->gt_under),
		    bufferevent_get_input(gt->gt_filter)))
			bufferevent_trigger(gt->gt_filter, EV_READ,
			    BEV_TRIG_IGNORE_WATERMARKS);
		else if (gt->gt_state == GT_IDLE &&
		    evbuffer_get_length(bufferevent_get_input(gt->gt_under)) ==
		    0)
			do_arm(gt, do_limits(gt)->lim_client_timeout_ms);
		return;
	default:
		return;
	}
}

static void	do_free(struct gate *);

/* libevent: the head deadline, the idle timeout or the linger ran out. */
static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct gate	*gt = arg;

	if (gt->gt_detached && gt->gt_state != GT_LINGER)
		return;
	switch (gt->gt_state) {
	case GT_HELD:
		if (!gt->gt_started) {
			gt->gt_status = 400;
			gt->gt_why = "malformed request";
			do_reject(gt);
		}
		return;
	case GT_READING:
		gt->gt_status = 408;
		gt->gt_why = gt->gt_head_done ?
		    "request body not received in time" :
		    "request head not received in time";
		do_reject(gt);
		return;
	case GT_IDLE:
		do_hangup(gt);
		return;
	case GT_LINGER:
		do_free(gt);
		return;
	default:
		return;
	}
}

/* libevent: linger; read and drop what the client sends until it closes. */
static void
on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct gate	*gt = arg;
	char		 buf[4096];
	ssize_t		 n;

	n = read(fd, buf, sizeof(buf));
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		do_free(gt);
}

/* libevent: linger; the queued reply has left, so shut down writing. */
static void
on_flushed(struct bufferevent *bev, void *arg)
{
	struct gate	*gt = arg;
	evutil_socket_t	 fd = bufferevent_getfd(bev);

	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	shutdown(fd, SHUT_WR);
	gt->gt_drain = event_new(gt->gt_worker->w_base, fd, EV_READ |
	    EV_PERSIST, on_drain, gt);
	if (gt->gt_drain == NULL || event_add(gt->gt_drain, NULL) == -1)
		do_free(gt);
}

/* libevent: linger; the client went away before the reply had left. */
static void
on_flush_error(struct bufferevent *bev, short what, void *arg)
{
	do_free(arg);
}

/*
 * libevent filter free_context: evhtp freed its connection, and with it
 * the filter.  Take over the socket bufferevent and close it gracefully.
 */
static void
on_filter_free(void *arg)
{
	struct gate	*gt = arg;
	struct worker	*w = gt->gt_worker;

	gt->gt_filter = NULL;
	gt->gt_state = GT_LINGER;
	event_del(gt->gt_kick);
	TAILQ_INSERT_TAIL(&w->w_lingering, gt, gt_entry);
	do_arm(gt, DEFAULT_LINGER_MS);
	bufferevent_setcb(gt->gt_under, NULL, on_flushed, on_flush_error, gt);
	bufferevent_enable(gt->gt_under, EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(gt->gt_under)) == 0)
		on_flushed(gt->gt_under, gt);
}

/* Close the socket and free a lingering gate. */
static void
do_free(struct gate *gt)
{
	TAILQ_REMOVE(&gt->gt_worker->w_lingering, gt, gt_entry);
	if (gt->gt_drain != NULL)
		event_free(gt->gt_drain);
	event_free(gt->gt_timer);
	event_free(gt->gt_kick);
	bufferevent_free(gt->gt_under);
	free(gt);
}

/* Free every lingering gate of a stopping worker. */
void
gate_free_lingering(struct worker *w)
{
	struct gate	*gt;

	while ((gt = TAILQ_FIRST(&w->w_lingering)) != NULL)
		do_free(gt);
}

/*
 * Put a gate in front of a new connection's socket bufferevent (evhtp's
 * post-accept hook).  The caller hands gate_bev() to evhtp in its place.
 */
struct gate *
gate_new(struct worker *w, struct bufferevent *under)
{
	struct gate		*gt;
	struct timeval		 tv;
	uint64_t		 ms;

	ms = w->w_conf->cf_limits.lim_client_timeout_ms;
	gt = xcalloc(1, sizeof(*gt));
	gt->gt_worker = w;
	gt->gt_under = under;
	gt->gt_timer = evtimer_new(w->w_base, on_timer, gt);
	gt->gt_kick = event_new(w->w_base, -1, 0, on_kick, gt);
	if (gt->gt_timer == NULL || gt->gt_kick == NULL)
		fatalx("%s: event_new", __func__);
	do_next(gt);
	bufferevent_getcb(under, &gt->gt_rcb, &gt->gt_wcb, &gt->gt_ecb,
	    &gt->gt_cbarg);
	/*
	 * Deferred callbacks, as evhtp's own bufferevents have: evhtp must
	 * never be re-entered from inside evhtp_send_reply().
	 */
	gt->gt_filter = bufferevent_filter_new(under, on_filter_in, NULL,
	    BEV_OPT_DEFER_CALLBACKS, on_filter_free, gt);
	if (gt->gt_filter == NULL)
		fatalx("%s: bufferevent_filter_new", __func__);
	bufferevent_setcb(gt->gt_filter, on_filter_read, on_filter_write,
	    on_filter_event, gt);
	bufferevent_enable(gt->gt_filter, EV_READ | EV_WRITE);
	/* A client that does not read its reply is dropped. */
	bufferevent_set_timeouts(under, NULL, ms_timeval(ms, &tv));
	do_arm(gt, ms);
	return (gt);
}

/* The bufferevent evhtp should use for this connection. */
struct bufferevent *
gate_bev(struct gate *gt)
{
	return (gt->gt_filter);
}

/*
 * evhtp finished a request (its fini hook): the reply has been handed to
 * the socket, so the next request may go.  Deferred: evhtp is mid-update.
 */
void
gate_request_done(struct gate *gt)
{
	if (gt->gt_state != GT_HELD || gt->gt_detached)
		return;
	do_next(gt);
	bufferevent_enable(gt->gt_under, EV_READ);
	event_active(gt->gt_kick, EV_TIMEOUT, 0);
}

/* server.c: evhtp dispatched the held request to its handler. */
void
gate_request_started(struct gate *gt)
{
	gt->gt_started = 1;
	if (gt->gt_state == GT_HELD)
		evtimer_del(gt->gt_timer);
}

/*
 * server.c: evhtp is freeing its connection, and with it the filter; the
 * filter must not be used from here on (its destructor runs later).  A
 * request that evhtp dropped without dispatching it was one its parser
 * refused: the client gets the 400 evhtp would not send.
 */
void
gate_detach(struct gate *gt)
{
	struct evbuffer	*out = bufferevent_get_output(gt->gt_under);

	if (gt->gt_state == GT_HELD && !gt->gt_started &&
	    evbuffer_get_length(out) == 0) {
		gt->gt_status = 400;
		gt->gt_why = "malformed request";
		do_reject(gt);
	}
	gt->gt_detached = 1;
	event_del(gt->gt_kick);
	evtimer_del(gt->gt_timer);
}
