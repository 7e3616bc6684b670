/*
 * trace.c: which X-Request-Id, traceparent and tracestate values a client
 * may hand gatherd, and what a request then sends to its upstreams.  The
 * worker's random state is fixed here, so generated ids are known.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "gatherd.h"
#include "check_util.h"

#define TID	"4bf92f3577b34da6a3ce929d0e0e4736"
#define PID	"00f067aa0ba902b7"
#define TP(v, f)	v "-" TID "-" PID "-" f
#define ZERO32	"00000000000000000000000000000000"
#define ZERO16	"0000000000000000"
#define PREFIX	0x0123456789abcdefULL
#define REQ_ID	42
#define GEN_RID	"0123456789abcdef000000000000002a"

/* s repeated n times (n 0: once); the caller frees it. */
static char *
repeat(const char *s, int n)
{
	size_t	 len = strlen(s);
	char	*out;
	int	 i;

	if (n == 0)
		n = 1;
	out = xmalloc(len * (size_t)n + 1);
	for (i = 0; i < n; i++)
		memcpy(out + len * (size_t)i, s, len);
	out[len * (size_t)n] = '\0';
	return (out);
}

static const struct {
	const char	*r_in;
	int		 r_repeat;
	int		 r_valid;
} rid_cases[] = {
	{ "abc-123", 0, 1 },
	{ "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", 0, 1 },
	{ "!~\"{}\\", 0, 1 },
	{ "a", 128, 1 },
	{ "a", 129, 0 },
	{ "", 0, 0 },
	{ "a b", 0, 0 },
	{ " ab", 0, 0 },
	{ "a\tb", 0, 0 },
	{ "a\x01", 0, 0 },
	{ "a\r\nX-Evil: 1", 0, 0 },
	{ "\x7f", 0, 0 },
	{ "caf\xc3\xa9", 0, 0 },
};

START_TEST(test_trace_rid_valid)
{
	char	*s = repeat(rid_cases[_i].r_in, rid_cases[_i].r_repeat);

	ck_assert_msg(trace_rid_valid(s) == rid_cases[_i].r_valid,
	    "case %d: \"%s\" should be %s", _i, s,
	    rid_cases[_i].r_valid ? "valid" : "invalid");
	free(s);
}
END_TEST

START_TEST(test_trace_rid_format)
{
	char	 buf[TRACE_RID_MAX + 1];

	trace_rid_format(PREFIX, REQ_ID, buf, sizeof(buf));
	ck_assert_str_eq(buf, GEN_RID);
	ck_assert_uint_eq(strlen(buf), TRACE_RID_LEN);
	trace_rid_format(~0ULL, ~0ULL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "ffffffffffffffffffffffffffffffff");
}
END_TEST

static const struct {
	const char	*p_in;
	int		 p_rc;
	int		 p_version;
	const char	*p_trace;
	const char	*p_parent;
	int		 p_flags;
} parent_cases[] = {
	{ TP("00", "01"), 0, 0, TID, PID, 0x01 },
	{ TP("00", "00"), 0, 0, TID, PID, 0x00 },
	{ TP("00", "ff"), 0, 0, TID, PID, 0xff },
	{ " " TP("00", "01") "\t", 0, 0, TID, PID, 0x01 },
	/* Later versions: four fields, then the end or '-' and more. */
	{ TP("01", "01"), 0, 1, TID, PID, 0x01 },
	{ TP("cc", "01") "-what-the-future-holds", 0, 0xcc, TID, PID, 1 },
	{ TP("01", "01") "x", -1, 0, NULL, NULL, 0 },
	{ TP("ff", "01"), -1, 0, NULL, NULL, 0 },
	/* Version 00 has exactly four fields. */
	{ TP("00", "01") "-extra", -1, 0, NULL, NULL, 0 },
	{ TP("00", "01") "0", -1, 0, NULL, NULL, 0 },
	{ TP("00", "1"), -1, 0, NULL, NULL, 0 },
	{ "00-" TID "-" PID, -1, 0, NULL, NULL, 0 },
	{ "00-" TID "0-" PID "-01", -1, 0, NULL, NULL, 0 },
	{ "00-" TID "-" PID "0-01", -1, 0, NULL, NULL, 0 },
	{ "00-4bf92f3577b34da6a3ce929d0e0e473-" PID "-01", -1, 0, NULL,
	    NULL, 0 },
	{ "", -1, 0, NULL, NULL, 0 },
	/* Lowercase hex only, ids not all zero, '-' between fields. */
	{ "00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01", -1, 0, NULL,
	    NULL, 0 },
	{ "00-" TID "-00F067AA0BA902B7-01", -1, 0, NULL, NULL, 0 },
	{ "0A-" TID "-" PID "-01", -1, 0, NULL, NULL, 0 },
	{ TP("00", "0F"), -1, 0, NULL, NULL, 0 },
	{ "00-" ZERO32 "-" PID "-01", -1, 0, NULL, NULL, 0 },
	{ "00-" TID "-" ZERO16 "-01", -1, 0, NULL, NULL, 0 },
	{ "00-" TID "-" PID "_01", -1, 0, NULL, NULL, 0 },
	{ "00_" TID "-" PID "-01", -1, 0, NULL, NULL, 0 },
	{ "00-4bf92f3577b34da6a3ce929d0e0e473g-" PID "-01", -1, 0, NULL,
	    NULL, 0 },
	{ "00-" TID "-" PID "-0x", -1, 0, NULL, NULL, 0 },
	{ "00-" TID "-00f067aa0ba902b-x01", -1, 0, NULL, NULL, 0 },
};

START_TEST(test_trace_parent_parse)
{
	struct traceparent	 tp;
	char			 out[TRACE_PARENT_LEN + 1];
	int			 rc;

	memset(&tp, 0, sizeof(tp));
	rc = trace_parent_parse(parent_cases[_i].p_in, &tp);
	ck_assert_msg(rc == parent_cases[_i].p_rc, "case %d: \"%s\": rc %d",
	    _i, parent_cases[_i].p_in, rc);
	if (rc == -1)
		return;
	ck_assert_int_eq(tp.tp_version, parent_cases[_i].p_version);
	ck_assert_str_eq(tp.tp_trace_id, parent_cases[_i].p_trace);
	ck_assert_str_eq(tp.tp_parent_id, parent_cases[_i].p_parent);
	ck_assert_int_eq(tp.tp_flags, parent_cases[_i].p_flags);
	/* What parses formats back as version 00's four fields. */
	if (tp.tp_version == 0) {
		trace_parent_format(&tp, out, sizeof(out));
		ck_assert_uint_eq(strlen(out), TRACE_PARENT_LEN);
		ck_assert_int_eq(trace_parent_parse(out, &tp), 0);
		ck_assert_str_eq(tp.tp_trace_id, parent_cases[_i].p_trace);
	}
}
END_TEST

static const struct {
	const char	*s_in;
	int		 s_repeat;
	int		 s_valid;
} state_cases[] = {
	{ "congo=t61rcWkgMzE", 0, 1 },
	{ "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 0, 1 },
	{ "a=1, b=2", 0, 1 },
	{ "a", 512, 1 },
	{ "a", 513, 0 },
	{ "", 0, 0 },
	{ "a=1\x01", 0, 0 },
	{ "a=1\tb=2", 0, 0 },
	{ "a=\x7f", 0, 0 },
	{ "a=\xc3\xa9", 0, 0 },
};

START_TEST(test_trace_state_valid)
{
	char	*s = repeat(state_cases[_i].s_in, state_cases[_i].s_repeat);

	ck_assert_msg(trace_state_valid(s) == state_cases[_i].s_valid,
	    "case %d: \"%s\"", _i, s);
	free(s);
}
END_TEST

static const struct {
	const char	*o_name;
	int		 o_ours;
} ours_cases[] = {
	{ "X-Request-Id", 1 },
	{ "x-request-id", 1 },
	{ "TraceParent", 1 },
	{ "tracestate", 1 },
	{ "X-Request", 0 },
	{ "traceparent2", 0 },
	{ "Accept-Language", 0 },
};

START_TEST(test_trace_header_ours)
{
	ck_assert_int_eq(trace_header_ours(ours_cases[_i].o_name),
	    ours_cases[_i].o_ours);
}
END_TEST

/* splitmix64 from seed 0: its published first outputs. */
START_TEST(test_trace_rand)
{
	uint64_t	 st = 0;

	ck_assert_uint_eq(trace_rand(&st), 0xe220a8397b1dcdafULL);
	ck_assert_uint_eq(trace_rand(&st), 0x6e789e6aa1b965f4ULL);
	ck_assert_uint_eq(trace_rand(&st), 0x06c45d188009454fULL);
}
END_TEST

/*
 * A request's client headers, and what it sends on: e_rid NULL for the
 * generated id, e_trace NULL for a new trace, e_state NULL for none.
 */
static const struct {
	const char	*e_hdrs[4];	/* "Name: value" */
	const char	*e_rid;
	const char	*e_trace;
	int		 e_flags;
	const char	*e_state;
} init_cases[] = {
	{ { NULL }, NULL, NULL, 0, NULL },
	{ { "X-Request-Id: abc-123" }, "abc-123", NULL, 0, NULL },
	{ { "x-request-id: abc-123" }, "abc-123", NULL, 0, NULL },
	{ { "X-Request-Id:  abc-123 \t" }, "abc-123", NULL, 0, NULL },
	{ { "X-Request-Id: a b" }, NULL, NULL, 0, NULL },
	{ { "X-Request-Id: a\tb" }, NULL, NULL, 0, NULL },
	{ { "X-Request-Id: " }, NULL, NULL, 0, NULL },
	{ { "X-Request-Id: one", "X-Request-Id: two" }, NULL, NULL, 0, NULL },
	{ { "traceparent: " TP("00", "01") }, NULL, TID, 1, NULL },
	{ { "Traceparent: " TP("00", "00"), "X-Request-Id: r" }, "r", TID,
	    0, NULL },
	{ { "traceparent: " TP("00", "ff") }, NULL, TID, 3, NULL },
	{ { "traceparent: " TP("02", "01") "-more" }, NULL, TID, 1, NULL },
	{ { "traceparent: " TP("00", "01"), "tracestate: a=1" }, NULL, TID,
	    1, "a=1" },
	{ { "tracestate: a=1", "traceparent: " TP("00", "01"),
	    "tracestate: b=2" }, NULL, TID, 1, "a=1,b=2" },
	{ { "traceparent: " TP("00", "01"), "tracestate: ",
	    "tracestate: b=2" }, NULL, TID, 1, "b=2" },
	{ { "traceparent: " TP("00", "01"), "tracestate: a=\x01" }, NULL,
	    TID, 1, NULL },
	/* Without a valid traceparent tracestate is not read. */
	{ { "tracestate: a=1" }, NULL, NULL, 0, NULL },
	{ { "traceparent: " TP("00", "01") "-x", "tracestate: a=1" }, NULL,
	    NULL, 0, NULL },
	{ { "traceparent: " TP("00", "01"), "traceparent: " TP("00", "01"),
	    "tracestate: a=1" }, NULL, NULL, 0, NULL },
};

/* Turn "Name: value" strings into a client_req's header list. */
static void
make_headers(const char *const *in, struct kv *h, size_t *n)
{
	const char	*colon;

	for (*n = 0; *n < 4 && in[*n] != NULL; (*n)++) {
		colon = strchr(in[*n], ':');
		ck_assert_ptr_nonnull(colon);
		h[*n].kv_key = xstrndup(in[*n], (size_t)(colon - in[*n]));
		h[*n].kv_val = xstrdup(colon + 2);
	}
}

/* A worker whose random state is fixed, as trace.c would have drawn it. */
static void
fixed_worker(struct worker *w)
{
	memset(w, 0, sizeof(*w));
	w->w_rid_prefix = PREFIX;
	w->w_rng = 7;
	w->w_rng_seeded = 1;
}

START_TEST(test_trace_init)
{
	struct worker		 w;
	struct trace		 tr;
	struct traceparent	 tp;
	struct kv		 h[4];
	size_t			 n, i;

	fixed_worker(&w);
	make_headers(init_cases[_i].e_hdrs, h, &n);
	trace_init(&tr, &w, REQ_ID, h, n);
	ck_assert_str_eq(tr.tr_rid, init_cases[_i].e_rid != NULL ?
	    init_cases[_i].e_rid : GEN_RID);
	ck_assert_uint_eq(strlen(tr.tr_parent), TRACE_PARENT_LEN);
	ck_assert_int_eq(trace_parent_parse(tr.tr_parent, &tp), 0);
	ck_assert_int_eq(tp.tp_version, 0);
	if (init_cases[_i].e_trace != NULL)
		ck_assert_str_eq(tp.tp_trace_id, init_cases[_i].e_trace);
	else
		ck_assert_str_ne(tp.tp_trace_id, TID);
	/* gatherd's own span, never the client's. */
	ck_assert_str_ne(tp.tp_parent_id, PID);
	ck_assert_int_eq(tp.tp_flags, init_cases[_i].e_flags);
	if (init_cases[_i].e_state != NULL) {
		ck_assert_ptr_nonnull(tr.tr_state);
		ck_assert_str_eq(tr.tr_state, init_cases[_i].e_state);
	} else
		ck_assert_ptr_null(tr.tr_state);
	trace_free(&tr);
	for (i = 0; i < n; i++) {
		free(h[i].kv_key);
		free(h[i].kv_val);
	}
}
END_TEST

/* tracestate of 512 bytes in all is passed on; one more is dropped. */
START_TEST(test_trace_state_bound)
{
	struct worker	 w;
	struct trace	 tr;
	struct kv	 h[3];
	char		*a, *b;
	int		 extra;

	for (extra = 0; extra <= 1; extra++) {
		fixed_worker(&w);
		/* "a...a" + "," + "b...b": 200 + 1 + 311 (+ extra) bytes. */
		a = repeat("a", 200);
		b = repeat("b", 311 + extra);
		h[0].kv_key = "traceparent";
		h[0].kv_val = TP("00", "01");
		h[1].kv_key = "tracestate";
		h[1].kv_val = a;
		h[2].kv_key = "tracestate";
		h[2].kv_val = b;
		trace_init(&tr, &w, REQ_ID, h, 3);
		if (extra)
			ck_assert_ptr_null(tr.tr_state);
		else {
			ck_assert_ptr_nonnull(tr.tr_state);
			ck_assert_uint_eq(strlen(tr.tr_state), TRACE_STATE_MAX);
		}
		trace_free(&tr);
		free(a);
		free(b);
	}
}
END_TEST

/* Two requests of one worker: different spans, new traces and ids. */
START_TEST(test_trace_unique)
{
	struct worker	 w;
	struct trace	 t1, t2;

	memset(&w, 0, sizeof(w));
	trace_init(&t1, &w, 1, NULL, 0);
	ck_assert_int_eq(w.w_rng_seeded, 1);
	trace_init(&t2, &w, 2, NULL, 0);
	ck_assert_uint_eq(strlen(t1.tr_rid), TRACE_RID_LEN);
	ck_assert_str_ne(t1.tr_rid, t2.tr_rid);
	ck_assert_int_eq(strncmp(t1.tr_rid, t2.tr_rid, 16), 0);
	ck_assert_str_ne(t1.tr_parent, t2.tr_parent);
	ck_assert_int_ne(strncmp(t1.tr_parent, t2.tr_parent, 35), 0);
	ck_assert_int_ne(strcmp(t1.tr_parent + 36, t2.tr_parent + 36), 0);
	trace_free(&t1);
	trace_free(&t2);
}
END_TEST

static Suite *
trace_suite(void)
{
	Suite	*s = suite_create("trace");

	CHECK_TABLE(s, "rid_valid", test_trace_rid_valid, rid_cases);
	CHECK_ONE(s, "rid_format", test_trace_rid_format);
	CHECK_TABLE(s, "parent_parse", test_trace_parent_parse,
	    parent_cases);
	CHECK_TABLE(s, "state_valid", test_trace_state_valid, state_cases);
	CHECK_TABLE(s, "header_ours", test_trace_header_ours, ours_cases);
	CHECK_ONE(s, "rand", test_trace_rand);
	CHECK_TABLE(s, "init", test_trace_init, init_cases);
	CHECK_ONE(s, "state_bound", test_trace_state_bound);
	CHECK_ONE(s, "unique", test_trace_unique);
	return (s);
}

int
main(void)
{
	return (check_run(trace_suite()));
}
