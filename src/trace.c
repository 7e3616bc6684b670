/*
 * Tracing one request: its X-Request-Id and its W3C trace context
 * (https://www.w3.org/TR/trace-context/), both decided once, when the
 * request arrives, from the client's headers.
 *
 * X-Request-Id: the client's value is kept when it is the only one and is
 * 1..128 bytes of visible ASCII (0x21-0x7e).  Anything else (too long,
 * empty, a blank or a control byte, two headers) is replaced by a
 * generated id, so that no untrusted byte reaches a reply header or a log
 * line.  A generated id is 32 lowercase hex digits: 16 of a random prefix
 * drawn once per worker, then the request number of the log line ("req N")
 * as 16 hex digits.  Request numbers do not repeat within a process, and
 * the prefix is new in every process.
 *
 * traceparent: a valid one keeps its trace-id and the flags this version
 * knows (sampled 0x01, and 0x02, Level 2's random trace-id; the others are
 * zeroed, as Level 1 asks), and its parent-id becomes gatherd's span id:
 * one span per request, shared by all its upstream calls.  Version 00 must
 * be exactly 55 bytes.  A later version is read by the spec's rule for
 * versions one does not know (its first four fields, then the end or a
 * '-') and passed on as version 00.  Version ff, uppercase hex, all-zero
 * ids, a wrong length and two traceparent headers are invalid.  Without a
 * valid one gatherd starts a trace: a random trace-id, flags 00 (gatherd
 * records no spans itself, so it asks nobody to sample this trace).
 *
 * tracestate is passed on unchanged, and only with a valid traceparent (the
 * spec forbids reading it otherwise).  Several headers are joined with ","
 * as HTTP allows; the result is dropped when longer than 512 bytes or when
 * it holds a byte outside 0x20-0x7e.
 *
 * Everything here is pure but do_seed(): the random state is the worker's,
 * so that the unit tests can fix it.  The generator is splitmix64: cheap,
 * and trace and span ids need to be unlikely to collide, not secret.
 */
#include <sys/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "gatherd.h"

#define TRACE_ID_HEX		32
#define TRACE_SPAN_HEX		16

/* The value of a lowercase hex digit, or -1. */
static int
do_lhex(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/* Two lowercase hex digits as a number, or -1. */
static int
do_lhex_byte(const char *s)
{
	int	 hi, lo;

	if ((hi = do_lhex(s[0])) == -1 || (lo = do_lhex(s[1])) == -1)
		return (-1);
	return (hi * 16 + lo);
}

/* Copy n lowercase hex digits, not all zero, to out (n + 1 bytes). */
static int
do_lhex_id(const char *s, size_t n, char *out)
{
	size_t	 i;
	int	 nonzero = 0;

	for (i = 0; i < n; i++) {
		if (do_lhex(s[i]) == -1)
			return (-1);
		if (s[i] != '0')
			nonzero = 1;
	}
	if (!nonzero)
		return (-1);
	memcpy(out, s, n);
	out[n] = '\0';
	return (0);
}

/* 1 when s has 1 to max bytes, each from lo to '~' (visible ASCII). */
static int
do_ascii_valid(const char *s, size_t max, char lo)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || s[i] < lo || s[i] > '~')
			return (0);
	return (i > 0);
}

/* 1 when s is an acceptable X-Request-Id from a client: no blank. */
int
trace_rid_valid(const char *s)
{
	return (do_ascii_valid(s, TRACE_RID_MAX, '!'));
}

/* A generated X-Request-Id: the worker's prefix, then the request number. */
void
trace_rid_format(uint64_t prefix, uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%016llx%016llx", (unsigned long long)prefix,
	    (unsigned long long)id);
}

/*
 * An HTTP field value without its leading and trailing blanks, which are
 * not part of it (RFC 9110 5.5): its start, its length in *len.
 */
static const char *
do_trim(const char *s, size_t *len)
{
	s += strspn(s, " \t");
	*len = strlen(s);
	while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
		(*len)--;
	return (s);
}

/* Parse a traceparent value: 0, or -1 when it is not a valid one. */
int
trace_parent_parse(const char *s, struct traceparent *tp)
{
	size_t	 len;
	int	 version, flags;

	s = do_trim(s, &len);
	if (len < TRACE_PARENT_LEN)
		return (-1);
	if ((version = do_lhex_byte(s)) == -1 || version == 0xff)
		return (-1);
	if (s[2] != '-' || s[35] != '-' || s[52] != '-')
		return (-1);
	if (do_lhex_id(s + 3, TRACE_ID_HEX, tp->tp_trace_id) == -1 ||
	    do_lhex_id(s + 36, TRACE_SPAN_HEX, tp->tp_parent_id) == -1 ||
	    (flags = do_lhex_byte(s + 53)) == -1)
		return (-1);
	/* Version 00 has four fields; a later one may have more. */
	if (len > TRACE_PARENT_LEN && (version == 0 || s[55] != '-'))
		return (-1);
	tp->tp_version = version;
	tp->tp_flags = flags;
	return (0);
}

/* Format a traceparent value (TRACE_PARENT_LEN + 1 bytes). */
void
trace_parent_format(const struct traceparent *tp, char *buf, size_t len)
{
	snprintf(buf, len, "%02x-%s-%s-%02x", tp->tp_version & 0xff,
	    tp->tp_trace_id, tp->tp_parent_id, tp->tp_flags & 0xff);
}

/* 1 when s may be passed on as tracestate: spaces allowed. */
int
trace_state_valid(const char *s)
{
	return (do_ascii_valid(s, TRACE_STATE_MAX, ' '));
}

/* 1 for the headers gatherd sets on upstream calls itself. */
int
trace_header_ours(const char *name)
{
	return (strcasecmp(name, "X-Request-Id") == 0 ||
	    strcasecmp(name, "traceparent") == 0 ||
	    strcasecmp(name, "tracestate") == 0);
}

/* The next number of a splitmix64 generator. */
uint64_t
trace_rand(uint64_t *state)
{
	uint64_t	 z;

	z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

/* Draw the worker's id prefix and generator seed, once. */
static void
do_seed(struct worker *w)
{
	uint64_t	 seed[2];
	struct timespec	 ts;

	if (w->w_rng_seeded)
		return;
	if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(seed)) {
		/* No entropy yet (early boot): unlikely to repeat will do. */
		clock_gettime(CLOCK_REALTIME, &ts);
		seed[0] = (uint64_t)ts.tv_sec * 1000000000ULL +
		    (uint64_t)ts.tv_nsec;
		seed[1] = ((uint64_t)getpid() << 32) ^ now_us() ^
		    (uint64_t)(uintptr_t)w;
		seed[0] = trace_rand(&seed[1]) ^ seed[0];
		seed[1] = trace_rand(&seed[0]);
	}
	w->w_rid_prefix = seed[0];
	w->w_rng = seed[1];
	w->w_rng_seeded = 1;
}

/* A random id of n hex digits (n a multiple of 16), never all zero. */
static void
do_random_id(struct worker *w, char *out, size_t n)
{
	uint64_t	 v[TRACE_ID_HEX / 16];
	size_t		 i, k = n / 16;
	int		 nonzero;

	do {
		nonzero = 0;
		for (i = 0; i < k; i++)
			if ((v[i] = trace_rand(&w->w_rng)) != 0)
				nonzero = 1;
	} while (!nonzero);
	for (i = 0; i < k; i++)
		snprintf(out + i * 16, 17, "%016llx", (unsigned long long)v[i]);
}

/* The one value of a header, or NULL when it is absent or repeated. */
static const char *
do_single(const struct kv *h, size_t n, const char *name)
{
	const char	*v = NULL;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (strcasecmp(h[i].kv_key, name) != 0)
			continue;
		if (v != NULL)
			return (NULL);
		v = h[i].kv_val;
	}
	return (v);
}

/* The client's tracestate headers joined, or NULL to send none. */
static char *
do_state(const struct kv *h, size_t n)
{
	char	 buf[TRACE_STATE_MAX + 2];
	size_t	 i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (strcasecmp(h[i].kv_key, "tracestate") != 0 ||
		    h[i].kv_val[0] == '\0')
			continue;
		if ((buf[0] != '\0' &&
		    strlcat(buf, ",", sizeof(buf)) >= sizeof(buf)) ||
		    strlcat(buf, h[i].kv_val, sizeof(buf)) >= sizeof(buf))
			return (NULL);
	}
	return (trace_state_valid(buf) ? xstrdup(buf) : NULL);
}

/* The X-Request-Id of request number id: the client's, or a new one. */
void
trace_request_id(struct worker *w, uint64_t id, const struct kv *h,
    size_t n, char *buf, size_t len)
{
	char		 rid[TRACE_RID_MAX + 1];
	const char	*v;
	size_t		 vlen;

	if ((v = do_single(h, n, "X-Request-Id")) != NULL) {
		v = do_trim(v, &vlen);
		if (vlen < sizeof(rid)) {
			memcpy(rid, v, vlen);
			rid[vlen] = '\0';
			if (trace_rid_valid(rid)) {
				strlcpy(buf, rid, len);
				return;
			}
		}
	}
	do_seed(w);
	trace_rid_format(w->w_rid_prefix, id, buf, len);
}

/* Decide the trace of request number id from its client headers. */
void
trace_init(struct trace *tr, struct worker *w, uint64_t id,
    const struct kv *h, size_t n)
{
	struct traceparent	 tp;
	const char		*v;

	memset(tr, 0, sizeof(*tr));
	trace_request_id(w, id, h, n, tr->tr_rid, sizeof(tr->tr_rid));
	do_seed(w);
	if ((v = do_single(h, n, "traceparent")) != NULL &&
	    trace_parent_parse(v, &tp) == 0) {
		tp.tp_flags &= TRACE_FLAGS_KNOWN;
		tr->tr_state = do_state(h, n);
	} else {
		do_random_id(w, tp.tp_trace_id, TRACE_ID_HEX);
		tp.tp_flags = 0;
	}
	tp.tp_version = 0;
	do_random_id(w, tp.tp_parent_id, TRACE_SPAN_HEX);
	trace_parent_format(&tp, tr->tr_parent, sizeof(tr->tr_parent));
}

/* Free what a trace holds (not the struct itself). */
void
trace_free(struct trace *tr)
{
	free(tr->tr_state);
	tr->tr_state = NULL;
}
