/*
 * mock_upstream: a scriptable HTTP/1.1 upstream for gatherd's integration
 * tests.  What it replies is driven by the query parameters of each request,
 * so that a scenario states the upstream's behaviour in the URL it puts in
 * gatherd's YAML and needs no other control channel:
 *
 *	delay=MS	wait before replying
 *	status=N	reply status (default 200)
 *	ct=TYPE		Content-Type (default application/json; "none": no header)
 *	body=TEXT	reply body, percent-decoded ('+' stays '+')
 *	close=1		close without replying (after delay)
 *	partial=N	Content-Length larger than the body, N bytes, then close
 *	drip=MS		send the body one byte every MS ms
 *	size=N		body is a JSON string of N bytes in all: "aaa..."
 *	invalid=1	body {"broken":  with the JSON content type
 *	chunked=1	chunked transfer encoding
 *	echo=1		body is the request body, byte for byte
 *
 * The default body is {"path":"<raw target as received, JSON-escaped>"}.
 * GET /_stats answers {"requests":N,"open":N,"aborted":N,"conns":N}:
 * requests counts the requests received, open those whose reply has not
 * finished, aborted those whose client closed the connection before the
 * reply was complete (how a test proves that gatherd cancelled a call),
 * conns the connections that carried at least one counted request (how a
 * test proves that gatherd keeps its upstream connections alive).
 * GET /_reset zeroes the counters.  Neither is counted nor logged, and a
 * connection that carries only those is not in conns.
 *
 * The log (-l) gets one flushed line per event: "REQ <method> <target>",
 * "HDR <name>: <value>" per header, "BODY <n>" (request body bytes) and
 * "ABORT <target>".
 *
 * It listens on 127.0.0.1 only, keeps connections alive (HTTP/1.1 rules),
 * answers pipelined requests one at a time in order, and exits on SIGTERM,
 * SIGINT or by itself after MOCK_LIFETIME_S seconds.
 *
 *	mock_upstream -p PORT|0 [-P PORTFILE] [-l LOGFILE]
 *	mock_upstream -F	print a free loopback port below the
 *				ephemeral range (for gatherd's listener)
 *
 * With -p 0 the kernel picks the port; -P writes it to PORTFILE (whole,
 * by rename) once the socket listens, so a test can poll for the file.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define MOCK_LIFETIME_S		600
#define MOCK_MAX_HEAD		(64 * 1024)
#define MOCK_MAX_HEADERS	100
#define MOCK_MAX_BODY		(64 * 1024 * 1024)
#define MOCK_MAX_DELAY_MS	(MOCK_LIFETIME_S * 1000)
#define MOCK_PORT_LO		20000	/* -F: below the ephemeral range */
#define MOCK_PORT_HI		32000
#define MOCK_PORT_TRIES		200

enum conn_state {
	C_HEAD = 0,		/* waiting for a complete request head */
	C_BODY,			/* reading a Content-Length body */
	C_CHUNK_SIZE,		/* reading a chunk-size line */
	C_CHUNK_DATA,		/* reading chunk data and its CRLF */
	C_TRAILER,		/* reading trailer lines up to the empty one */
	C_DELAY,		/* request read, reply waiting for delay= */
	C_DRIP,			/* writing the body a byte at a time */
	C_SEND,			/* reply queued, waiting for it to drain */
	C_CLOSE			/* partial reply queued, close once drained */
};

struct conn;
TAILQ_HEAD(conn_list, conn);

struct mock {
	struct event_base	*m_base;
	struct conn_list	 m_conns;
	FILE			*m_log;
	unsigned long		 m_requests;
	unsigned long		 m_open;
	unsigned long		 m_aborted;
	unsigned long		 m_nconns;
	unsigned long		 m_gen;		/* bumped by /_reset */
};

/* What the query parameters of one request asked for. */
struct script {
	long		 s_delay;
	int		 s_status;
	char		*s_ct;		/* NULL: application/json */
	int		 s_noct;
	char		*s_body;	/* NULL: default body */
	int		 s_close;
	long		 s_partial;	/* -1: off */
	long		 s_drip;	/* 0: off */
	long		 s_size;	/* -1: off */
	int		 s_invalid;
	int		 s_chunked;
	int		 s_echo;
};

struct conn {
	struct mock		*c_mock;
	struct bufferevent	*c_bev;
	struct event		*c_timer;
	enum conn_state		 c_state;
	int			 c_inflight;	/* counted in m_open */
	int			 c_keepalive;
	int			 c_head_only;	/* HEAD request */
	unsigned long		 c_gen;		/* m_gen when counted in conns */
	struct evbuffer		*c_body;	/* the request body */
	char			*c_method;
	char			*c_target;
	size_t			 c_want;	/* body or chunk bytes left */
	size_t			 c_bodylen;
	struct script		 c_script;
	char			*c_out;		/* reply body */
	size_t			 c_outlen;
	size_t			 c_outoff;	/* drip position */
	TAILQ_ENTRY(conn)	 c_entry;
};

static void	conn_free(struct conn *, int);
static void	on_read(struct bufferevent *, void *);
static void	do_reply(struct conn *);

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mock_upstream: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void *
xalloc(size_t n)
{
	void *p;

	if ((p = calloc(1, n == 0 ? 1 : n)) == NULL)
		die("out of memory");
	return p;
}

static char *
xdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		die("out of memory");
	return p;
}

static void
mock_log(struct mock *m, const char *fmt, ...)
{
	va_list ap;

	if (m->m_log == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(m->m_log, fmt, ap);
	va_end(ap);
	fputc('\n', m->m_log);
	fflush(m->m_log);
}

static long
parse_num(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return lo - 1;
	return v;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode src[0..len) into a new NUL-terminated string. */
static char *
pct_decode(const char *src, size_t len)
{
	char *out, *o;
	size_t i;
	int hi, lo;

	o = out = xalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (src[i] == '%' && i + 2 < len &&
		    (hi = hexval((unsigned char)src[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)src[i + 2])) >= 0) {
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else
			*o++ = src[i];
	}
	*o = '\0';
	return out;
}

static void
script_free(struct script *s)
{
	free(s->s_ct);
	free(s->s_body);
	memset(s, 0, sizeof(*s));
}

static void
script_param(struct script *s, const char *key, const char *val)
{
	if (strcmp(key, "delay") == 0)
		s->s_delay = parse_num(val, 0, MOCK_MAX_DELAY_MS);
	else if (strcmp(key, "status") == 0)
		s->s_status = (int)parse_num(val, 100, 599);
	else if (strcmp(key, "ct") == 0) {
		free(s->s_ct);
		s->s_ct = NULL;
		s->s_noct = strcmp(val, "none") == 0;
		if (!s->s_noct)
			s->s_ct = xdup(val);
	} else if (strcmp(key, "body") == 0) {
		free(s->s_body);
		s->s_body = xdup(val);
	} else if (strcmp(key, "close") == 0)
		s->s_close = strcmp(val, "0") != 0;
	else if (strcmp(key, "partial") == 0)
		s->s_partial = parse_num(val, 0, MOCK_MAX_BODY);
	else if (strcmp(key, "drip") == 0)
		s->s_drip = parse_num(val, 1, MOCK_MAX_DELAY_MS);
	else if (strcmp(key, "size") == 0)
		s->s_size = parse_num(val, 0, MOCK_MAX_BODY);
	else if (strcmp(key, "invalid") == 0)
		s->s_invalid = strcmp(val, "0") != 0;
	else if (strcmp(key, "chunked") == 0)
		s->s_chunked = strcmp(val, "0") != 0;
	else if (strcmp(key, "echo") == 0)
		s->s_echo = strcmp(val, "0") != 0;
}

/* Read the query parameters of target into a script; bad numbers are off. */
static void
script_parse(struct script *s, const char *target)
{
	const char *q, *amp, *eq;
	char *key, *val;

	memset(s, 0, sizeof(*s));
	s->s_status = 200;
	s->s_partial = -1;
	s->s_size = -1;
	if ((q = strchr(target, '?')) == NULL)
		return;
	for (q++; *q != '\0'; q = *amp == '\0' ? amp : amp + 1) {
		if ((amp = strchr(q, '&')) == NULL)
			amp = q + strlen(q);
		if ((eq = memchr(q, '=', amp - q)) == NULL)
			eq = amp;
		key = pct_decode(q, eq - q);
		val = eq == amp ? xdup("") : pct_decode(eq + 1, amp - eq - 1);
		script_param(s, key, val);
		free(key);
		free(val);
	}
	if (s->s_delay < 0)
		s->s_delay = 0;
	if (s->s_status < 100)
		s->s_status = 200;
	if (s->s_drip < 0)
		s->s_drip = 0;
}

/* Append s to b as the inside of a JSON string. */
static void
json_escape(struct evbuffer *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			evbuffer_add_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			evbuffer_add_printf(b, "\\u%04x", ch);
		else
			evbuffer_add(b, &ch, 1);
	}
}

/* Build the reply body the script asked for into c_out. */
static void
build_body(struct conn *c)
{
	struct script *s = &c->c_script;
	struct evbuffer *b;
	size_t n;

	if (s->s_invalid) {
		c->c_out = xdup("{\"broken\": ");
		c->c_outlen = strlen(c->c_out);
	} else if (s->s_size >= 0) {
		n = s->s_size < 2 ? 2 : (size_t)s->s_size;
		c->c_out = xalloc(n);
		memset(c->c_out, 'a', n);
		c->c_out[0] = c->c_out[n - 1] = '"';
		c->c_outlen = n;
	} else if (s->s_echo) {
		c->c_outlen = evbuffer_get_length(c->c_body);
		c->c_out = xalloc(c->c_outlen + 1);
		evbuffer_copyout(c->c_body, c->c_out, c->c_outlen);
	} else if (s->s_body != NULL) {
		c->c_out = xdup(s->s_body);
		c->c_outlen = strlen(c->c_out);
	} else {
		if ((b = evbuffer_new()) == NULL)
			die("evbuffer_new");
		evbuffer_add_printf(b, "{\"path\":\"");
		json_escape(b, c->c_target);
		evbuffer_add_printf(b, "\"}");
		c->c_outlen = evbuffer_get_length(b);
		c->c_out = xalloc(c->c_outlen + 1);
		evbuffer_remove(b, c->c_out, c->c_outlen);
		evbuffer_free(b);
	}
}

static const struct {
	int		 r_status;
	const char	*r_text;
} reasons[] = {
	{ 200, "OK" }, { 201, "Created" }, { 204, "No Content" },
	{ 301, "Moved Permanently" }, { 302, "Found" },
	{ 304, "Not Modified" }, { 400, "Bad Request" },
	{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" }, { 502, "Bad Gateway" },
	{ 503, "Service Unavailable" }, { 504, "Gateway Timeout" }
};

static const char *
reason(int status)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].r_status == status)
			return reasons[i].r_text;
	return "Status";
}

static int
is_control(const char *target)
{
	return strcmp(target, "/_stats") == 0 ||
	    strcmp(target, "/_reset") == 0;
}

/* The reply to GET /_stats and /_reset; answered at once, never counted. */
static void
do_control(struct conn *c, int reset)
{
	struct mock *m = c->c_mock;
	char body[160];
	int n;

	if (reset) {
		m->m_requests = m->m_open = m->m_aborted = m->m_nconns = 0;
		m->m_gen++;
	}
	n = snprintf(body, sizeof(body),
	    "{\"requests\":%lu,\"open\":%lu,\"aborted\":%lu,"
	    "\"conns\":%lu}",
	    m->m_requests, m->m_open, m->m_aborted, m->m_nconns);
	evbuffer_add_printf(bufferevent_get_output(c->c_bev),
	    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: %d\r\n%s\r\n%s", n,
	    c->c_keepalive ? "" : "Connection: close\r\n", body);
	c->c_state = C_SEND;
}

static void
on_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *out = bufferevent_get_output(c->c_bev);
	struct timeval tv;

	if (c->c_state == C_DELAY) {
		do_reply(c);
		return;
	}
	if (c->c_state != C_DRIP)
		return;
	if (c->c_outoff < c->c_outlen) {
		if (c->c_script.s_chunked)
			evbuffer_add_printf(out, "1\r\n%c\r\n",
			    c->c_out[c->c_outoff]);
		else
			evbuffer_add(out, c->c_out + c->c_outoff, 1);
		c->c_outoff++;
	}
	if (c->c_outoff < c->c_outlen) {
		tv.tv_sec = c->c_script.s_drip / 1000;
		tv.tv_usec = (c->c_script.s_drip % 1000) * 1000;
		evtimer_add(c->c_timer, &tv);
		return;
	}
	if (c->c_script.s_chunked)
		evbuffer_add_printf(out, "0\r\n\r\n");
	c->c_state = C_SEND;
}

/* The delay is over: write the reply the script asked for. */
static void
do_reply(struct conn *c)
{
	struct script *s = &c->c_script;
	struct evbuffer *out = bufferevent_get_output(c->c_bev);
	struct timeval tv;
	size_t clen, i;

	if (s->s_close) {
		conn_free(c, 0);
		return;
	}
	build_body(c);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", s->s_status,
	    reason(s->s_status));
	if (!s->s_noct)
		evbuffer_add_printf(out, "Content-Type: %s\r\n",
		    s->s_ct != NULL && !s->s_invalid ? s->s_ct :
		    "application/json");
	if (s->s_partial >= 0) {
		clen = (size_t)s->s_partial + 1;
		if (clen < c->c_outlen + 1)
			clen = c->c_outlen + 1;
		evbuffer_add_printf(out, "Content-Length: %zu\r\n"
		    "Connection: close\r\n\r\n", clen);
		for (i = 0; i < (size_t)s->s_partial; i++)
			evbuffer_add(out, i < c->c_outlen ? c->c_out + i : " ",
			    1);
		c->c_state = C_CLOSE;
		return;
	}
	if (s->s_chunked)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	else
		evbuffer_add_printf(out, "Content-Length: %zu\r\n",
		    c->c_outlen);
	evbuffer_add_printf(out, "%s\r\n",
	    c->c_keepalive ? "" : "Connection: close\r\n");
	if (c->c_head_only) {
		c->c_state = C_SEND;
		return;
	}
	if (s->s_drip > 0 && c->c_outlen > 0) {
		c->c_state = C_DRIP;
		c->c_outoff = 0;
		tv.tv_sec = 0;
		tv.tv_usec = 0;
		evtimer_add(c->c_timer, &tv);
		return;
	}
	if (s->s_chunked) {
		if (c->c_outlen > 0) {
			evbuffer_add_printf(out, "%zx\r\n", c->c_outlen);
			evbuffer_add(out, c->c_out, c->c_outlen);
			evbuffer_add_printf(out, "\r\n");
		}
		evbuffer_add_printf(out, "0\r\n\r\n");
	} else
		evbuffer_add(out, c->c_out, c->c_outlen);
	c->c_state = C_SEND;
}

/* The whole request has been read: count it and start the reply. */
static void
do_request(struct conn *c)
{
	struct mock *m = c->c_mock;
	struct timeval tv;

	if (is_control(c->c_target)) {
		do_control(c, strcmp(c->c_target, "/_reset") == 0);
		return;
	}
	mock_log(m, "BODY %zu", c->c_bodylen);
	m->m_requests++;
	if (c->c_gen != m->m_gen) {
		c->c_gen = m->m_gen;
		m->m_nconns++;
	}
	m->m_open++;
	c->c_inflight = 1;
	script_parse(&c->c_script, c->c_target);
	c->c_state = C_DELAY;
	tv.tv_sec = c->c_script.s_delay / 1000;
	tv.tv_usec = (c->c_script.s_delay % 1000) * 1000;
	evtimer_add(c->c_timer, &tv);
}

/* Parse one request line and its header lines; -1 on a malformed head. */
static int
parse_head(struct conn *c, struct evbuffer *in)
{
	char *line, *sp1, *sp2, *colon, *v, *end;
	size_t n;
	int nhdr = 0, log, http10, conn_close = 0, conn_keep = 0;

	if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) == NULL)
		return -1;
	if ((sp1 = strchr(line, ' ')) == NULL ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		free(line);
		return -1;
	}
	*sp1 = *sp2 = '\0';
	free(c->c_method);
	free(c->c_target);
	c->c_method = xdup(line);
	c->c_target = xdup(sp1 + 1);
	http10 = strcmp(sp2 + 1, "HTTP/1.0") == 0;
	free(line);
	log = !is_control(c->c_target);
	if (log)
		mock_log(c->c_mock, "REQ %s %s", c->c_method, c->c_target);
	c->c_head_only = strcmp(c->c_method, "HEAD") == 0;
	c->c_want = 0;
	c->c_bodylen = 0;
	evbuffer_drain(c->c_body, evbuffer_get_length(c->c_body));
	c->c_state = C_BODY;
	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		if (n == 0) {
			free(line);
			break;
		}
		if ((colon = strchr(line, ':')) == NULL ||
		    ++nhdr > MOCK_MAX_HEADERS) {
			free(line);
			return -1;
		}
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		end = v + strlen(v);
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (log)
			mock_log(c->c_mock, "HDR %s: %s", line, v);
		if (strcasecmp(line, "Content-Length") == 0)
			c->c_want = (size_t)parse_num(v, 0, MOCK_MAX_BODY);
		else if (strcasecmp(line, "Transfer-Encoding") == 0 &&
		    strcasecmp(v, "chunked") == 0)
			c->c_state = C_CHUNK_SIZE;
		else if (strcasecmp(line, "Connection") == 0) {
			conn_close |= strcasecmp(v, "close") == 0;
			conn_keep |= strcasecmp(v, "keep-alive") == 0;
		}
		free(line);
	}
	if (c->c_want == (size_t)-1)
		return -1;
	c->c_keepalive = http10 ? conn_keep : !conn_close;
	return 0;
}

/* Take body bytes from in; 1 once the whole request has been read. */
static int
read_body(struct conn *c, struct evbuffer *in)
{
	char *line;
	size_t n, avail;
	long sz;
	char *end;

	for (;;) {
		avail = evbuffer_get_length(in);
		switch (c->c_state) {
		case C_BODY:
			n = avail < c->c_want ? avail : c->c_want;
			evbuffer_remove_buffer(in, c->c_body, n);
			c->c_want -= n;
			c->c_bodylen += n;
			return c->c_want == 0;
		case C_CHUNK_SIZE:
			line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
			if (line == NULL)
				return 0;
			sz = strtol(line, &end, 16);
			if (end == line || sz < 0 || sz > MOCK_MAX_BODY) {
				free(line);
				return -1;
			}
			free(line);
			c->c_want = (size_t)sz + 2;
			c->c_state = sz == 0 ? C_TRAILER : C_CHUNK_DATA;
			break;
		case C_CHUNK_DATA:
			if (avail < c->c_want)
				return 0;
			evbuffer_remove_buffer(in, c->c_body, c->c_want - 2);
			evbuffer_drain(in, 2);
			c->c_bodylen += c->c_want - 2;
			c->c_state = C_CHUNK_SIZE;
			break;
		case C_TRAILER:
			line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
			if (line == NULL)
				return 0;
			free(line);
			if (n == 0)
				return 1;
			break;
		default:
			return 0;
		}
	}
}

/* Bytes arrived: read the next request if the previous one is answered. */
static void
on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr p;
	int r;

	if (c->c_state == C_HEAD) {
		p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (p.pos < 0) {
			if (evbuffer_get_length(in) > MOCK_MAX_HEAD)
				conn_free(c, 0);
			return;
		}
		if (parse_head(c, in) == -1) {
			conn_free(c, 0);
			return;
		}
	}
	/* While a reply is pending, pipelined bytes wait in the buffer. */
	if (c->c_state < C_BODY || c->c_state > C_TRAILER)
		return;
	if ((r = read_body(c, in)) == -1)
		conn_free(c, 0);
	else if (r == 1)
		do_request(c);
}

/* The output buffer drained: a reply may be complete. */
static void
on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct mock *m = c->c_mock;

	if (c->c_state == C_CLOSE) {
		conn_free(c, 0);
		return;
	}
	if (c->c_state != C_SEND)
		return;
	if (c->c_inflight) {
		c->c_inflight = 0;
		m->m_open--;
	}
	script_free(&c->c_script);
	free(c->c_out);
	c->c_out = NULL;
	c->c_outlen = c->c_outoff = 0;
	if (!c->c_keepalive) {
		conn_free(c, 0);
		return;
	}
	c->c_state = C_HEAD;
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		on_read(bev, c);
}

/* EOF or error from the client: if a reply was pending, it was aborted. */
static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(c, c->c_inflight && c->c_state != C_CLOSE);
}

static void
conn_free(struct conn *c, int aborted)
{
	struct mock *m = c->c_mock;

	if (c->c_inflight) {
		m->m_open--;
		if (aborted) {
			m->m_aborted++;
			mock_log(m, "ABORT %s", c->c_target);
		}
	}
	TAILQ_REMOVE(&m->m_conns, c, c_entry);
	event_free(c->c_timer);
	evbuffer_free(c->c_body);
	bufferevent_free(c->c_bev);
	script_free(&c->c_script);
	free(c->c_method);
	free(c->c_target);
	free(c->c_out);
	free(c);
}

static void
on_accept(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct mock *m = arg;
	struct conn *c;

	c = xalloc(sizeof(*c));
	c->c_mock = m;
	c->c_bev = bufferevent_socket_new(m->m_base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	c->c_timer = evtimer_new(m->m_base, on_timer, c);
	c->c_body = evbuffer_new();
	c->c_gen = m->m_gen - 1;	/* not yet counted in conns */
	if (c->c_bev == NULL || c->c_timer == NULL || c->c_body == NULL)
		die("cannot set up a connection");
	c->c_state = C_HEAD;
	TAILQ_INSERT_TAIL(&m->m_conns, c, c_entry);
	bufferevent_setcb(c->c_bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->c_bev, EV_READ | EV_WRITE);
}

static void
on_stop(evutil_socket_t sig, short ev, void *arg)
{
	event_base_loopexit(arg, NULL);
}

static void
write_portfile(const char *path, int port)
{
	char tmp[PATH_MAX];
	FILE *f;

	/* Written whole then renamed, so a reader never sees half of it. */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		die("port file name too long");
	if ((f = fopen(tmp, "w")) == NULL)
		die("%s: %s", tmp, strerror(errno));
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		die("%s: %s", path, strerror(errno));
}

/* -F: print a port in [MOCK_PORT_LO, MOCK_PORT_HI) that binds on loopback. */
static int
find_port(void)
{
	struct sockaddr_in sin;
	int fd, i, port, one = 1;

	srand((unsigned)(getpid() ^ time(NULL)));
	for (i = 0; i < MOCK_PORT_TRIES; i++) {
		port = MOCK_PORT_LO + rand() % (MOCK_PORT_HI - MOCK_PORT_LO);
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			die("socket: %s", strerror(errno));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons(port);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			close(fd);
			printf("%d\n", port);
			return 0;
		}
		close(fd);
	}
	fprintf(stderr, "mock_upstream: no free port found\n");
	return 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: mock_upstream -p PORT|0 [-P PORTFILE] "
	    "[-l LOGFILE]\n       mock_upstream -F\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct mock m;
	struct evconnlistener *lis;
	struct event *sigterm, *sigint, *life;
	struct sockaddr_in sin;
	socklen_t len;
	struct timeval tv = { MOCK_LIFETIME_S, 0 };
	const char *portfile = NULL, *logfile = NULL;
	long port = -1;
	int ch;

	while ((ch = getopt(argc, argv, "Fp:P:l:")) != -1) {
		switch (ch) {
		case 'F':
			return find_port();
		case 'p':
			if ((port = parse_num(optarg, 0, 65535)) < 0)
				usage();
			break;
		case 'P':
			portfile = optarg;
			break;
		case 'l':
			logfile = optarg;
			break;
		default:
			usage();
		}
	}
	if (port < 0 || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);

	memset(&m, 0, sizeof(m));
	TAILQ_INIT(&m.m_conns);
	if (logfile != NULL && (m.m_log = fopen(logfile, "a")) == NULL)
		die("%s: %s", logfile, strerror(errno));
	if ((m.m_base = event_base_new()) == NULL)
		die("event_base_new");

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	lis = evconnlistener_new_bind(m.m_base, on_accept, &m,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (lis == NULL)
		die("cannot listen on 127.0.0.1:%ld: %s", port,
		    strerror(errno));
	len = sizeof(sin);
	if (getsockname(evconnlistener_get_fd(lis), (struct sockaddr *)&sin,
	    &len) == -1)
		die("getsockname: %s", strerror(errno));
	if (portfile != NULL)
		write_portfile(portfile, ntohs(sin.sin_port));

	sigterm = evsignal_new(m.m_base, SIGTERM, on_stop, m.m_base);
	sigint = evsignal_new(m.m_base, SIGINT, on_stop, m.m_base);
	life = evtimer_new(m.m_base, on_stop, m.m_base);
	if (sigterm == NULL || sigint == NULL || life == NULL)
		die("cannot set up signals");
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	evtimer_add(life, &tv);

	event_base_dispatch(m.m_base);

	while (!TAILQ_EMPTY(&m.m_conns))
		conn_free(TAILQ_FIRST(&m.m_conns), 0);

	event_free(sigterm);
	event_free(sigint);
	event_free(life);
	evconnlistener_free(lis);
	event_base_free(m.m_base);
	if (m.m_log != NULL)
		fclose(m.m_log);
	return 0;
}
