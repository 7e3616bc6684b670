/*
 * merge.c: the outcomes of one fan-out become one JSON reply.
 *
 * This file is pure: no I/O, no globals, no clock and no logging.  It
 * takes the outcomes in config order and returns the status, the body
 * and the Server-Timing value; the caller sends and logs them.
 *
 * Step 1 classifies every successful outcome: an empty body is null, a
 * JSON content type must parse as JSON, anything else is embedded as a
 * JSON string.  An outcome that fails this becomes CALL_DECODE in the
 * caller's array, so that the caller logs the kind that was answered.
 *
 * keyed and array splice the upstream's JSON in as it came: parsing it
 * only proves it valid, and re-serializing it would change the bytes
 * the upstream chose.  shallow and deep have to build a new object, so
 * they parse with jansson, merge the trees and write them out again.
 * Upstream bodies never reach an error message: jansson's error text
 * quotes input bytes, so only its byte position is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "gatherd.h"

#define MERGE_LOAD_FLAGS	(JSON_DECODE_ANY | JSON_ALLOW_NUL)
/* Durations are clamped to this, so that converting them is defined. */
#define MERGE_MAX_MS		1000000000000000LL

/* A growing output buffer; mb_err records a jansson allocation failure. */
struct mbuf {
	char	*mb_data;
	size_t	 mb_len;
	size_t	 mb_cap;
	int	 mb_err;
};

static const char *const merge_kinds[] = {
	"ok", "timeout", "connect", "status", "decode", "too_large",
	"circuit_open", "cancelled"
};

/* Used when the caller gave no message of its own. */
static const char *const merge_kind_msgs[] = {
	"ok", "timed out", "could not connect", "unexpected HTTP status",
	"could not decode the reply", "reply too large", "circuit open",
	"cancelled"
};

static void
do_add(struct mbuf *mb, const void *p, size_t len)
{
	size_t	 cap;

	if (len > mb->mb_cap - mb->mb_len || mb->mb_data == NULL) {
		cap = mb->mb_cap < 256 ? 256 : mb->mb_cap;
		while (cap - mb->mb_len <= len)
			cap *= 2;
		mb->mb_data = xreallocarray(mb->mb_data, cap, 1);
		mb->mb_cap = cap;
	}
	memcpy(mb->mb_data + mb->mb_len, p, len);
	mb->mb_len += len;
}

static void
do_adds(struct mbuf *mb, const char *s)
{
	do_add(mb, s, strlen(s));
}

/* jansson's dump callback: append to the mbuf. */
static int
on_dump(const char *p, size_t len, void *arg)
{
	do_add(arg, p, len);
	return (0);
}

/* NUL-terminate and hand the buffer over. */
static char *
do_finish(struct mbuf *mb, size_t *lenp)
{
	do_add(mb, "", 1);
	mb->mb_len--;
	if (lenp != NULL)
		*lenp = mb->mb_len;
	return (mb->mb_data);
}

static int
do_is_ws(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

/* Drop JSON whitespace around a body. */
static void
do_trim(const char **p, size_t *len)
{
	while (*len > 0 && do_is_ws((*p)[0])) {
		(*p)++;
		(*len)--;
	}
	while (*len > 0 && do_is_ws((*p)[*len - 1]))
		(*len)--;
}

/*
 * A jansson string for text that should be valid UTF-8 (names, messages).
 * Should it not be, every non-ASCII byte becomes '?': the reply must stay
 * valid JSON whatever a caller passes.
 */
static json_t *
do_jstr(const char *s)
{
	json_t	*v;
	char	*copy;
	size_t	 i;

	if (s == NULL)
		s = "";
	if ((v = json_string(s)) != NULL)
		return (v);
	copy = xstrdup(s);
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	v = json_string(copy);
	free(copy);
	return (v);
}

/* Write a jansson value and drop the reference. */
static void
do_dump_new(struct mbuf *mb, json_t *v)
{
	if (v == NULL || json_dump_callback(v, on_dump, mb,
	    JSON_ENCODE_ANY | JSON_COMPACT) == -1)
		mb->mb_err = 1;
	json_decref(v);
}

/*
 * The shortest of %.15g, %.16g and %.17g that reads back as the same
 * double: jansson always writes 17 digits, which turns an upstream's
 * 0.1 into 0.10000000000000001.  Any value with a round-tripping form
 * of 15 digits or fewer comes out of %.15g as exactly that form.  The
 * daemon never calls setlocale(), so the decimal point is '.'.
 */
static void
do_emit_real(struct mbuf *mb, double d)
{
	char	 num[48], *p, *q, *r;
	int	 prec;

	for (prec = 15; prec < 17; prec++) {
		(void)snprintf(num, sizeof(num), "%.*g", prec, d);
		if (strtod(num, NULL) == d)
			break;
	}
	if (prec == 17)
		(void)snprintf(num, sizeof(num), "%.17g", d);
	if ((p = strchr(num, 'e')) != NULL) {
		/* 1e-07 and 1.5e+300 read better as 1e-7 and 1.5e300. */
		q = p + 1 + (p[1] == '-');
		r = q + (*q == '+');
		while (r[0] == '0' && r[1] != '\0')
			r++;
		memmove(q, r, strlen(r) + 1);
	} else if (strchr(num, '.') == NULL)
		(void)strlcat(num, ".0", sizeof(num));
	do_adds(mb, num);
}

static void	do_emit(struct mbuf *, json_t *);

static void
do_emit_object(struct mbuf *mb, json_t *v)
{
	const char	*key;
	json_t		*m;
	int		 first = 1;

	do_add(mb, "{", 1);
	json_object_foreach(v, key, m) {
		if (!first)
			do_add(mb, ",", 1);
		first = 0;
		/* Parsed keys are valid UTF-8 without NUL: jansson checked. */
		do_dump_new(mb, json_string_nocheck(key));
		do_add(mb, ":", 1);
		do_emit(mb, m);
	}
	do_add(mb, "}", 1);
}

/* Compact JSON for a parsed tree, members in their stored order. */
static void
do_emit(struct mbuf *mb, json_t *v)
{
	json_t	*m;
	size_t	 i;
	char	 num[32];

	if (v == NULL) {
		mb->mb_err = 1;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		do_emit_object(mb, v);
		break;
	case JSON_ARRAY:
		do_add(mb, "[", 1);
		json_array_foreach(v, i, m) {
			if (i > 0)
				do_add(mb, ",", 1);
			do_emit(mb, m);
		}
		do_add(mb, "]", 1);
		break;
	case JSON_STRING:
		if (json_dump_callback(v, on_dump, mb, JSON_ENCODE_ANY) == -1)
			mb->mb_err = 1;
		break;
	case JSON_INTEGER:
		(void)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		do_adds(mb, num);
		break;
	case JSON_REAL:
		do_emit_real(mb, json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_NULL:
		do_adds(mb, json_is_true(v) ? "true" :
		    json_is_false(v) ? "false" : "null");
		break;
	}
}

/* The name of a call kind as it appears in replies, logs and metrics. */
const char *
merge_kind_name(enum call_kind kind)
{
	if ((size_t)kind >= sizeof(merge_kinds) / sizeof(merge_kinds[0]))
		return ("unknown");
	return (merge_kinds[kind]);
}

/*
 * Whether a Content-Type names JSON: application/json, text/json or any
 * type whose subtype ends in +json, case-insensitive, parameters ignored.
 * This is the WHATWG MIME Sniffing "JSON MIME type"; text/json is in it
 * because older servers still send it for JSON.  NULL is not JSON.
 */
int
merge_is_json_type(const char *ctype)
{
	const char	*slash;
	size_t		 len;

	if (ctype == NULL)
		return (0);
	ctype += strspn(ctype, " \t");
	len = strcspn(ctype, ";");
	while (len > 0 && (ctype[len - 1] == ' ' || ctype[len - 1] == '\t'))
		len--;
	if ((len == 16 && strncasecmp(ctype, "application/json", len) == 0) ||
	    (len == 9 && strncasecmp(ctype, "text/json", len) == 0))
		return (1);
	if ((slash = memchr(ctype, '/', len)) == NULL || slash == ctype)
		return (0);
	return (len >= 5 && slash < ctype + len - 5 &&
	    strncasecmp(ctype + len - 5, "+json", 5) == 0);
}

static json_t *
do_decode_fail(struct outcome *o, const char *message)
{
	o->o_kind = CALL_DECODE;
	o->o_message = message;
	return (NULL);
}

/*
 * Step 1 for one successful outcome: its value, or NULL once it has
 * become CALL_DECODE (the message is kept in the outcome itself).  With
 * splice set, a JSON body is only checked, and NULL means "splice it".
 */
static json_t *
do_classify(struct outcome *o, enum merge_mode mode, int splice)
{
	json_error_t	 err;
	json_t		*v;

	if (o->o_len == 0)
		v = json_null();
	else if (merge_is_json_type(o->o_ctype)) {
		v = json_loadb(o->o_body, o->o_len, MERGE_LOAD_FLAGS, &err);
		if (v == NULL) {
			(void)snprintf(o->o_msgbuf, sizeof(o->o_msgbuf),
			    "invalid JSON from upstream (byte %d)",
			    err.position);
			return (do_decode_fail(o, o->o_msgbuf));
		}
		if (splice) {
			json_decref(v);
			return (NULL);
		}
	} else if ((v = json_stringn(o->o_body, o->o_len)) == NULL)
		return (do_decode_fail(o, "body is not valid UTF-8"));
	if ((mode == MERGE_SHALLOW || mode == MERGE_DEEP) &&
	    !json_is_object(v)) {
		json_decref(v);
		return (do_decode_fail(o, mode == MERGE_SHALLOW ?
		    "not a JSON object (merge: shallow)" :
		    "not a JSON object (merge: deep)"));
	}
	return (v);
}

/* A failed outcome's default as a tree; null if unset or not JSON. */
static json_t *
do_default(const struct outcome *o)
{
	json_t	*v = NULL;

	if (o->o_default != NULL)
		v = json_loads(o->o_default, MERGE_LOAD_FLAGS, NULL);
	return (v != NULL ? v : json_null());
}

/*
 * One keyed member or array element, spliced: the upstream's JSON as it
 * came (surrounding whitespace trimmed), a text body's string, or for a
 * failure its default.  The default is checked so the reply stays JSON.
 */
static void
do_splice(struct mbuf *mb, const struct outcome *o, json_t *v)
{
	const char	*p;
	size_t		 len;
	json_t		*d;

	if (o->o_kind == CALL_OK && v != NULL) {
		do_emit(mb, v);
		return;
	}
	if (o->o_kind == CALL_OK) {
		p = o->o_body;
		len = o->o_len;
	} else if ((p = o->o_default) == NULL ||
	    (d = json_loads(p, MERGE_LOAD_FLAGS, NULL)) == NULL) {
		do_adds(mb, "null");
		return;
	} else {
		json_decref(d);
		len = strlen(p);
	}
	do_trim(&p, &len);
	do_add(mb, p, len);
}

/* The _errors entry of one failed outcome: kind, status, ms, message. */
static json_t *
do_error_entry(const struct outcome *o)
{
	const char	*msg = o->o_message;
	json_t		*e;
	json_int_t	 ms = 0;

	if (o->o_ms > 0)
		ms = o->o_ms < MERGE_MAX_MS ? (json_int_t)(o->o_ms + 0.5) :
		    MERGE_MAX_MS;
	if (msg == NULL)
		msg = (size_t)o->o_kind < sizeof(merge_kind_msgs) /
		    sizeof(merge_kind_msgs[0]) ? merge_kind_msgs[o->o_kind] :
		    "failed";
	e = json_object();
	json_object_set_new(e, "kind", json_string(merge_kind_name(o->o_kind)));
	if (o->o_kind == CALL_STATUS)
		json_object_set_new(e, "status", json_integer(o->o_status));
	json_object_set_new(e, "ms", json_integer(ms));
	json_object_set_new(e, "message", do_jstr(msg));
	return (e);
}

/* The _errors object: one member per failed outcome, in config order. */
static json_t *
do_errors(const struct outcome *o, size_t n)
{
	json_t	*errs, *name;
	size_t	 i;

	errs = json_object();
	for (i = 0; i < n; i++) {
		if (o[i].o_kind == CALL_OK)
			continue;
		name = do_jstr(o[i].o_name);
		json_object_set_new(errs, json_string_value(name),
		    do_error_entry(&o[i]));
		json_decref(name);
	}
	return (errs);
}

/*
 * The reply status; *why is set to the error text for 502 and 504.  S is
 * the set of failed required outcomes, or every outcome when all failed
 * and none of them is required; 504 when every member of S timed out.
 */
static int
do_status(const struct outcome *o, size_t n, size_t nfail, char **why)
{
	const struct outcome	*req = NULL;
	size_t			 i;
	int			 timeouts = 1;

	*why = NULL;
	for (i = 0; i < n && req == NULL; i++)
		if (o[i].o_kind != CALL_OK && o[i].o_required)
			req = &o[i];
	if (req == NULL && (n == 0 || nfail < n))
		return (200);
	for (i = 0; i < n; i++)
		if (o[i].o_kind != CALL_OK && o[i].o_kind != CALL_TIMEOUT &&
		    (req == NULL || o[i].o_required))
			timeouts = 0;
	if (req != NULL)
		(void)xasprintf(why, "required upstream \"%s\" failed: %s",
		    req->o_name != NULL ? req->o_name : "",
		    merge_kind_name(req->o_kind));
	else
		*why = xstrdup("every upstream failed");
	return (timeouts ? 504 : 502);
}

/* keyed and array: members spliced in config order, then _errors. */
static void
do_body_splice(struct mbuf *mb, enum merge_mode mode,
    const struct outcome *o, json_t **vals, size_t n, size_t nfail)
{
	size_t	 i;

	do_add(mb, mode == MERGE_ARRAY ? "[" : "{", 1);
	for (i = 0; i < n; i++) {
		if (i > 0)
			do_add(mb, ",", 1);
		if (mode != MERGE_ARRAY) {
			do_dump_new(mb, do_jstr(o[i].o_name));
			do_add(mb, ":", 1);
		}
		do_splice(mb, &o[i], vals[i]);
	}
	/*
	 * An array has no place for an _errors member, and wrapping it in
	 * an object would change the reply's shape exactly when something
	 * failed, which clients would then have to test for.  So a 200
	 * array reply stays a bare array (with the defaults in place); the
	 * caller reports the failures in X-Gather-Complete, Server-Timing
	 * and its log.  502 and 504 bodies are objects in every mode.
	 */
	if (mode == MERGE_ARRAY) {
		do_add(mb, "]", 1);
		return;
	}
	if (nfail > 0) {
		do_adds(mb, ",\"_errors\":");
		do_dump_new(mb, do_errors(o, n));
	}
	do_add(mb, "}", 1);
}

/*
 * shallow and deep: the objects combined in config order, a later
 * member overriding an earlier one in the earlier one's place.  A
 * failed upstream's default counts if it is an object.  _errors goes
 * last, replacing any upstream member of that name.
 */
static void
do_body_merge(struct mbuf *mb, enum merge_mode mode,
    const struct outcome *o, json_t **vals, size_t n, size_t nfail)
{
	json_t	*dst, *src;
	size_t	 i;

	dst = json_object();
	for (i = 0; i < n; i++) {
		src = o[i].o_kind == CALL_OK ? json_incref(vals[i]) :
		    do_default(&o[i]);
		if (json_is_object(src) && mode == MERGE_SHALLOW)
			json_object_update(dst, src);
		else if (json_is_object(src))
			json_object_update_recursive(dst, src);
		json_decref(src);
	}
	if (nfail > 0) {
		json_object_del(dst, "_errors");
		json_object_set_new(dst, "_errors", do_errors(o, n));
	}
	do_emit(mb, dst);
	json_decref(dst);
}

/* 502 and 504: {"error": why, "_errors": {...}} in every merge mode. */
static void
do_body_fail(struct mbuf *mb, const char *why, const struct outcome *o,
    size_t n)
{
	json_t	*body;

	body = json_object();
	json_object_set_new(body, "error", do_jstr(why));
	json_object_set_new(body, "_errors", do_errors(o, n));
	do_dump_new(mb, body);
}

/* RFC 9110 tchar: what a Server-Timing metric name may hold. */
static int
do_is_tchar(char c)
{
	return ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL));
}

/* The Server-Timing value: name;dur=12.3[;desc="kind"] in config order. */
static char *
do_timing(const struct outcome *o, size_t n)
{
	struct mbuf		 mb;
	const char		*p;
	char			 num[64];
	unsigned long long	 tenths;
	size_t			 i;

	memset(&mb, 0, sizeof(mb));
	for (i = 0; i < n; i++) {
		if (i > 0)
			do_add(&mb, ", ", 2);
		/* Names are config-checked; this only guards the header. */
		p = o[i].o_name != NULL && *o[i].o_name != '\0' ?
		    o[i].o_name : "_";
		for (; *p != '\0'; p++)
			do_add(&mb, do_is_tchar(*p) ? p : "_", 1);
		tenths = 0;
		if (o[i].o_ms > 0)
			tenths = o[i].o_ms < MERGE_MAX_MS ?
			    (unsigned long long)(o[i].o_ms * 10 + 0.5) :
			    MERGE_MAX_MS * 10;
		(void)snprintf(num, sizeof(num), ";dur=%llu.%llu",
		    tenths / 10, tenths % 10);
		do_adds(&mb, num);
		if (o[i].o_kind != CALL_OK) {
			do_adds(&mb, ";desc=\"");
			do_adds(&mb, merge_kind_name(o[i].o_kind));
			do_adds(&mb, "\"");
		}
	}
	return (do_finish(&mb, NULL));
}

/*
 * Build the reply from n outcomes in config order (see the top of this
 * file).  Successful outcomes that fail to decode are rewritten in place
 * to CALL_DECODE.  Returns 0 and fills res, which merge_result_free()
 * releases; -1 only if jansson ran out of memory, with res empty.
 */
int
merge_reply(enum merge_mode mode, struct outcome *o, size_t n,
    struct merge_result *res)
{
	struct mbuf	  mb;
	json_t		**vals;
	char		 *why;
	size_t		  i, nfail = 0;
	int		  splice = mode == MERGE_KEYED || mode == MERGE_ARRAY;

	memset(res, 0, sizeof(*res));
	memset(&mb, 0, sizeof(mb));
	mb.mb_cap = 64;
	vals = xcalloc(n, sizeof(*vals));
	for (i = 0; i < n; i++) {
		if (o[i].o_kind == CALL_OK)
			vals[i] = do_classify(&o[i], mode, splice);
		if (o[i].o_kind != CALL_OK)
			nfail++;
		mb.mb_cap += 64 + (o[i].o_kind == CALL_OK ? o[i].o_len : 0);
	}
	/* Room for the whole reply up front: one allocation, usually. */
	mb.mb_data = xmalloc(mb.mb_cap);
	res->mr_status = do_status(o, n, nfail, &why);
	res->mr_complete = nfail == 0;
	if (why != NULL)
		do_body_fail(&mb, why, o, n);
	else if (splice)
		do_body_splice(&mb, mode, o, vals, n, nfail);
	else
		do_body_merge(&mb, mode, o, vals, n, nfail);
	free(why);
	for (i = 0; i < n; i++)
		json_decref(vals[i]);
	free(vals);
	if (mb.mb_err) {
		free(mb.mb_data);
		memset(res, 0, sizeof(*res));
		return (-1);
	}
	res->mr_body = do_finish(&mb, &res->mr_len);
	res->mr_timing = do_timing(o, n);
	return (0);
}

/* Free what merge_reply() allocated; safe on an empty result. */
void
merge_result_free(struct merge_result *res)
{
	free(res->mr_body);
	free(res->mr_timing);
	memset(res, 0, sizeof(*res));
}

/* {"error":"message"} for replies that never reach a merge; caller frees. */
char *
merge_error_body(const char *message)
{
	struct mbuf	 mb;
	json_t		*body;

	memset(&mb, 0, sizeof(mb));
	body = json_object();
	json_object_set_new(body, "error", do_jstr(message));
	do_dump_new(&mb, body);
	if (mb.mb_err) {
		free(mb.mb_data);
		return (xstrdup("{\"error\":\"internal error\"}"));
	}
	return (do_finish(&mb, NULL));
}
