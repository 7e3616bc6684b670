/*
 * Unit tests for merge.c: outcomes in, reply out.
 *
 * Each table row is one fan-out.  Its expected body is the golden file
 * tests/data/merge/<name>.json, compared byte for byte (one trailing
 * newline in the file is not part of the body); its expected status,
 * completeness, final call kinds and Server-Timing are in the row.
 * Every body is also parsed back, since a reply must always be JSON.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "gatherd.h"
#include "check_util.h"

#define MC_MAX		4

struct mcase {
	const char	*mc_name;	/* golden file; NULL: no body check */
	enum merge_mode	 mc_mode;
	size_t		 mc_n;
	struct outcome	 mc_o[MC_MAX];
	int		 mc_status;
	int		 mc_complete;
	enum call_kind	 mc_kinds[MC_MAX];	/* after merge_reply */
	const char	*mc_timing;	/* exact Server-Timing, or NULL */
};

/* A successful outcome; body must be a string literal. */
#define UP(name, req, ctype, body, ms)					\
	{ .o_name = (name), .o_required = (req), .o_kind = CALL_OK,	\
	  .o_status = 200, .o_ctype = (ctype), .o_body = (body),	\
	  .o_len = sizeof(body) - 1, .o_ms = (ms) }
#define JS(name, body, ms)	UP(name, 0, "application/json", body, ms)

/* A failed outcome. */
#define DOWN(name, req, kind, status, ms, msg, def)			\
	{ .o_name = (name), .o_required = (req), .o_kind = (kind),	\
	  .o_status = (status), .o_ms = (ms), .o_message = (msg),	\
	  .o_default = (def) }
#define TMO(name, req, ms)						\
	DOWN(name, req, CALL_TIMEOUT, 0, ms, "timed out", NULL)

static char *
golden_read(const char *name, size_t *lenp)
{
	const char	*top;
	char		 path[PATH_MAX * 2];
	char		*buf;

	ck_assert_msg((top = check_srcdir()) != NULL, "no top_srcdir");
	snprintf(path, sizeof(path), "%s/tests/data/merge/%s.json", top,
	    name);
	buf = check_read_file(path, lenp);
	ck_assert_msg(buf != NULL, "cannot open %s", path);
	if (*lenp > 0 && buf[*lenp - 1] == '\n')
		buf[--*lenp] = '\0';
	return (buf);
}

static void
body_is_json(const char *body, size_t len)
{
	json_error_t	 err;
	json_t		*v;

	v = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	ck_assert_msg(v != NULL, "reply is not JSON (byte %d): %s",
	    err.position, body);
	json_decref(v);
}

static void
case_run(const struct mcase *mc)
{
	struct outcome		 o[MC_MAX];
	struct merge_result	 res;
	char			*want;
	size_t			 i, wlen;

	ck_assert_uint_le(mc->mc_n, MC_MAX);
	memcpy(o, mc->mc_o, sizeof(o));
	ck_assert_int_eq(merge_reply(mc->mc_mode, o, mc->mc_n, &res), 0);
	ck_assert_ptr_nonnull(res.mr_body);
	ck_assert_ptr_nonnull(res.mr_timing);
	ck_assert_uint_eq(strlen(res.mr_body), res.mr_len);
	body_is_json(res.mr_body, res.mr_len);
	if (mc->mc_name != NULL) {
		want = golden_read(mc->mc_name, &wlen);
		ck_assert_msg(wlen == res.mr_len &&
		    memcmp(want, res.mr_body, wlen) == 0,
		    "%s:\n got: %s\nwant: %s", mc->mc_name, res.mr_body, want);
		free(want);
	}
	ck_assert_int_eq(res.mr_status, mc->mc_status);
	ck_assert_int_eq(res.mr_complete, mc->mc_complete);
	for (i = 0; i < mc->mc_n; i++) {
		ck_assert_msg(o[i].o_kind == mc->mc_kinds[i],
		    "%s: outcome %zu is %s, want %s", mc->mc_name, i,
		    merge_kind_name(o[i].o_kind),
		    merge_kind_name(mc->mc_kinds[i]));
		/* A reclassified outcome says why, for the caller's log. */
		if (mc->mc_o[i].o_kind == CALL_OK && o[i].o_kind != CALL_OK)
			ck_assert_ptr_nonnull(o[i].o_message);
	}
	if (mc->mc_timing != NULL)
		ck_assert_str_eq(res.mr_timing, mc->mc_timing);
	merge_result_free(&res);
}

/* ------------------------------------------------------------------ */
/* keyed: members in config order, JSON spliced, text as a string.     */

static const struct mcase keyed_cases[] = {
	{ "keyed_all_ok", MERGE_KEYED, 3, {
		JS("profile", "{\"id\":12345,\"name\":\"Ada\"}", 12.3),
		JS("orders", "[{\"id\":1},{\"id\":2}]", 40),
		JS("flags", "true", 1) },
	    200, 1, { 0 }, NULL },
	{ "keyed_splice_format", MERGE_KEYED, 2, {
		JS("profile", "\r\n  { \"id\" : 1,\n    \"tags\": "
		    "[ 1.50, 2e3 ] } \t\n", 1),
		UP("raw", 0, "application/vnd.api+json; charset=utf-8",
		    "\"\\u00e9\\/x\"", 1) },
	    200, 1, { 0 }, NULL },
	{ "keyed_text_body", MERGE_KEYED, 2, {
		UP("note", 0, "text/plain; charset=utf-8",
		    "say \"hi\" \\ back\x01\x1f\t\r\n caf\xc3\xa9 \xe2\x98\x83 "
		    "\xf0\x9f\x98\x80 \x7f nul:\0:end", 1),
		UP("bare", 0, NULL, "{\"not\": \"parsed\"}", 1) },
	    200, 1, { 0 }, NULL },
	{ "keyed_empty_null", MERGE_KEYED, 3, {
		JS("json", "", 1),
		UP("text", 0, "text/plain", "", 1),
		UP("none", 0, NULL, "", 1) },
	    200, 1, { 0 }, NULL },
	{ "keyed_none", MERGE_KEYED, 0, { { 0 } }, 200, 1, { 0 }, "" },
	{ "keyed_name_escape", MERGE_KEYED, 1, {
		JS("we\"ird\\na\xc3\xafve", "1", 1) },
	    200, 1, { 0 }, NULL },
};

START_TEST(test_merge_keyed)
{
	case_run(&keyed_cases[_i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Step 1: bodies that do not decode become CALL_DECODE.               */

static const struct mcase decode_cases[] = {
	{ "decode_invalid_json", MERGE_KEYED, 2, {
		JS("profile", "{\"id\": 1}", 1),
		JS("orders", "{\"id\": 1,}", 2) },
	    200, 0, { CALL_OK, CALL_DECODE }, NULL },
	{ "decode_invalid_json_default", MERGE_KEYED, 2, {
		JS("profile", "{\"id\": 1}", 1),
		{ .o_name = "orders", .o_ctype = "application/json",
		  .o_body = "[1, 2] trailing", .o_len = 15, .o_ms = 2,
		  .o_default = "[]" } },
	    200, 0, { CALL_OK, CALL_DECODE }, NULL },
	{ "decode_json_bad_utf8", MERGE_KEYED, 1, {
		JS("orders", "[\"\xff\"]", 2) },
	    502, 0, { CALL_DECODE }, NULL },
	{ "decode_text_bad_utf8", MERGE_KEYED, 3, {
		UP("a", 0, "text/plain", "ok\xff", 1),
		UP("b", 0, "text/html", "\xc0\xaf overlong", 1),
		UP("c", 0, NULL, "\xed\xa0\x80 surrogate", 1) },
	    502, 0, { CALL_DECODE, CALL_DECODE, CALL_DECODE }, NULL },
	{ "decode_whitespace_json", MERGE_KEYED, 2, {
		JS("a", " \n", 1),
		JS("b", "{\"ok\":true}", 1) },
	    200, 0, { CALL_DECODE, CALL_OK }, NULL },
};

START_TEST(test_merge_decode)
{
	case_run(&decode_cases[_i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Failed optional upstreams: default member plus _errors, status 200. */

static const struct mcase errors_cases[] = {
	{ "errors_optional_timeout", MERGE_KEYED, 2, {
		UP("profile", 1, "application/json", "{\"id\":1}", 12.34),
		DOWN("orders", 0, CALL_TIMEOUT, 0, 299.6,
		    "no reply within 300 ms", "[]") },
	    200, 0, { CALL_OK, CALL_TIMEOUT },
	    "profile;dur=12.3, orders;dur=299.6;desc=\"timeout\"" },
	{ "errors_status", MERGE_KEYED, 2, {
		DOWN("orders", 0, CALL_STATUS, 503, 8.04,
		    "HTTP 503 from upstream", NULL),
		JS("profile", "{}", 3) },
	    200, 0, { CALL_STATUS, CALL_OK },
	    "orders;dur=8.0;desc=\"status\", profile;dur=3.0" },
	{ "errors_every_kind", MERGE_KEYED, 4, {
		DOWN("a", 0, CALL_CONNECT, 0, 0.4, NULL, "{\"x\": [1, 2]}"),
		DOWN("b", 0, CALL_TOO_LARGE, 200, 10, "over 8 MiB", "0"),
		DOWN("c", 0, CALL_CIRCUIT_OPEN, 0, 0, NULL, "not json"),
		JS("d", "null", 1) },
	    200, 0, { CALL_CONNECT, CALL_TOO_LARGE, CALL_CIRCUIT_OPEN,
	    CALL_OK }, NULL },
	{ "errors_cancelled_message", MERGE_KEYED, 2, {
		DOWN("a", 0, CALL_CANCELLED, 0, 5, "line\nbreak \"q\" \xff",
		    NULL),
		JS("b", "1", 1) },
	    200, 0, { CALL_CANCELLED, CALL_OK }, NULL },
};

START_TEST(test_merge_errors)
{
	case_run(&errors_cases[_i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 502 and 504.                                                        */

static const struct mcase status_cases[] = {
	{ "status_required_failed", MERGE_KEYED, 2, {
		DOWN("profile", 1, CALL_CONNECT, 0, 1, "connection refused",
		    NULL),
		JS("orders", "[]", 2) },
	    502, 0, { CALL_CONNECT, CALL_OK }, NULL },
	{ "status_required_timeout", MERGE_KEYED, 3, {
		JS("orders", "[]", 2),
		TMO("profile", 1, 300),
		DOWN("ads", 0, CALL_CONNECT, 0, 1, "connection refused",
		    NULL) },
	    504, 0, { CALL_OK, CALL_TIMEOUT, CALL_CONNECT }, NULL },
	{ "status_required_mixed", MERGE_KEYED, 2, {
		TMO("profile", 1, 300),
		DOWN("orders", 1, CALL_STATUS, 500, 3, "HTTP 500", NULL) },
	    502, 0, { CALL_TIMEOUT, CALL_STATUS }, NULL },
	{ "status_required_decode", MERGE_SHALLOW, 2, {
		UP("profile", 1, "application/json", "[1]", 4),
		JS("orders", "{}", 2) },
	    502, 0, { CALL_DECODE, CALL_OK }, NULL },
	{ "status_all_failed", MERGE_KEYED, 2, {
		TMO("a", 0, 100),
		DOWN("b", 0, CALL_CONNECT, 0, 1, "connection refused", "[]") },
	    502, 0, { CALL_TIMEOUT, CALL_CONNECT }, NULL },
	{ "status_all_timeouts", MERGE_ARRAY, 2, {
		TMO("a", 0, 100),
		TMO("b", 0, 100.04) },
	    504, 0, { CALL_TIMEOUT, CALL_TIMEOUT },
	    "a;dur=100.0;desc=\"timeout\", b;dur=100.0;desc=\"timeout\"" },
};

START_TEST(test_merge_status)
{
	case_run(&status_cases[_i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Server-Timing: one decimal, desc for failures, names kept to tokens. */

static const struct mcase timing_cases[] = {
	{ NULL, MERGE_KEYED, 2, {
		JS("profile", "{}", 12.34),
		TMO("orders", 0, 300) },
	    200, 0, { CALL_OK, CALL_TIMEOUT },
	    "profile;dur=12.3, orders;dur=300.0;desc=\"timeout\"" },
	{ NULL, MERGE_KEYED, 3, {
		JS("a", "{}", 0.04),
		JS("b", "{}", 0.05),
		JS("c", "{}", 1234567.89) },
	    200, 1, { 0 }, "a;dur=0.0, b;dur=0.1, c;dur=1234567.9" },
	{ NULL, MERGE_KEYED, 2, {
		JS("neg", "{}", -5),
		JS("bad name\r\n", "{}", 1) },
	    200, 1, { 0 }, "neg;dur=0.0, bad_name__;dur=1.0" },
	{ NULL, MERGE_KEYED, 1, {
		DOWN("c", 0, CALL_CIRCUIT_OPEN, 0, 0, NULL, NULL) },
	    502, 0, { CALL_CIRCUIT_OPEN }, "c;dur=0.0;desc=\"circuit_open\"" },
	{ NULL, MERGE_KEYED, 1, {
		JS("j", "nope", 7) },
	    502, 0, { CALL_DECODE }, "j;dur=7.0;desc=\"decode\"" },
};

START_TEST(test_merge_timing)
{
	case_run(&timing_cases[_i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* shallow: top-level members combined, later upstreams win.           */

static const struct mcase shallow_cases[] = {
	{ "shallow_override", MERGE_SHALLOW, 3, {
		JS("a", "{\"id\": 1, \"name\": \"a\", \"n\": {\"x\": 1}}", 1),
		JS("b", "{\"name\": \"b\", \"extra\": [1, 2]}", 1),
		JS("c", "{\"n\": {\"y\": 2}, \"price\": 0.1}", 1) },
	    200, 1, { 0 }, NULL },
	{ "shallow_defaults", MERGE_SHALLOW, 4, {
		JS("a", "{\"id\": 1, \"_errors\": \"upstream's own\"}", 1),
		DOWN("b", 0, CALL_TIMEOUT, 0, 50, "timed out",
		    "{\"orders\": [], \"id\": 0}"),
		DOWN("c", 0, CALL_CONNECT, 0, 1, "refused", "[]"),
		UP("d", 0, "text/plain", "hello", 1) },
	    200, 0, { CALL_OK, CALL_TIMEOUT, CALL_CONNECT, CALL_DECODE },
	    NULL },
	{ "shallow_empty_body", MERGE_SHALLOW, 2, {
		JS("a", "{\"id\": 1}", 1),
		JS("b", "", 1) },
	    200, 0, { CALL_OK, CALL_DECODE }, NULL },
};

START_TEST(test_merge_shallow)
{
	case_run(&shallow_cases[_i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* deep: nested objects merge recursively, anything else: later wins.  */

static const struct mcase deep_cases[] = {
	{ "deep_nested", MERGE_DEEP, 3, {
		JS("a", "{\"user\": {\"id\": 1, \"name\": "
		    "{\"first\": \"Ada\"}}, \"list\": [1, 2], "
		    "\"v\": {\"x\": 1}}", 1),
		JS("b", "{\"user\": {\"name\": {\"last\": \"L\"}, \"age\": 36},"
		    " \"list\": [3], \"v\": 5}", 1),
		DOWN("c", 0, CALL_STATUS, 404, 2, "HTTP 404",
		    "{\"user\": {\"plan\": null}}") },
	    200, 0, { CALL_OK, CALL_OK, CALL_STATUS }, NULL },
	{ "deep_numbers", MERGE_DEEP, 1, {
		JS("n", "{\"r\": [0.1, 1.0, 1e2, 2.5e-7, 1.5e300, -0.0, "
		    "0.30000000000000004, 123456.789, 1e21], "
		    "\"i\": [0, -0, -9223372036854775808, 9223372036854775807],"
		    " \"s\": \"\\u0000\\u00e9\\ud83d\\ude00\\/\"}", 1) },
	    200, 1, { 0 }, NULL },
	{ "deep_not_object", MERGE_DEEP, 2, {
		JS("a", "{\"a\": 1}", 1),
		JS("b", "[{\"b\": 2}]", 1) },
	    200, 0, { CALL_OK, CALL_DECODE }, NULL },
};

START_TEST(test_merge_deep)
{
	case_run(&deep_cases[_i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* array: values in config order; failures keep the array bare.        */

static const struct mcase array_cases[] = {
	{ "array_all_ok", MERGE_ARRAY, 4, {
		JS("a", " {\"id\": 1} ", 1),
		JS("b", "[1, 2]", 1),
		UP("c", 0, "text/plain", "t\"x", 1),
		JS("d", "", 1) },
	    200, 1, { 0 }, NULL },
	{ "array_failed", MERGE_ARRAY, 3, {
		JS("a", "1", 1),
		TMO("b", 0, 300),
		DOWN("c", 0, CALL_CONNECT, 0, 1, "refused", "{\"c\": []}") },
	    200, 0, { CALL_OK, CALL_TIMEOUT, CALL_CONNECT }, NULL },
	{ "array_none", MERGE_ARRAY, 0, { { 0 } }, 200, 1, { 0 }, "" },
};

START_TEST(test_merge_array)
{
	case_run(&array_cases[_i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* merge_is_json_type                                                  */

static const struct {
	const char	*ctype;
	int		 json;
} json_type_cases[] = {
	{ "application/json", 1 },
	{ "application/json; charset=utf-8", 1 },
	{ "APPLICATION/JSON", 1 },
	{ "  Application/Json ;charset=UTF-8", 1 },
	{ "application/problem+json", 1 },
	{ "application/vnd.api+JSON; ext=x", 1 },
	{ "text/json", 1 },		/* WHATWG "JSON MIME type" */
	{ "text/plain", 0 },
	{ "text/html; charset=utf-8", 0 },
	{ "application/jsonx", 0 },
	{ "application/json-seq", 0 },
	{ "application/x-ndjson", 0 },
	{ "+json", 0 },
	{ "/+json", 0 },
	{ "json", 0 },
	{ "", 0 },
	{ NULL, 0 },
};

START_TEST(test_merge_json_type)
{
	ck_assert_msg(merge_is_json_type(json_type_cases[_i].ctype) ==
	    json_type_cases[_i].json, "\"%s\"", json_type_cases[_i].ctype ?
	    json_type_cases[_i].ctype : "(null)");
}
END_TEST

/* ------------------------------------------------------------------ */
/* merge_error_body and merge_kind_name                                */

static const struct {
	const char	*message;
	const char	*body;
} error_body_cases[] = {
	{ "not found", "{\"error\":\"not found\"}" },
	{ "method \"POST\" not allowed", "{\"error\":\"method \\\"POST\\\" "
	    "not allowed\"}" },
	{ "tab\there\\", "{\"error\":\"tab\\there\\\\\"}" },
	{ "bad \xff byte", "{\"error\":\"bad ? byte\"}" },
	{ "", "{\"error\":\"\"}" },
	{ NULL, "{\"error\":\"\"}" },
};

START_TEST(test_merge_error_body)
{
	char	*body;

	body = merge_error_body(error_body_cases[_i].message);
	ck_assert_str_eq(body, error_body_cases[_i].body);
	free(body);
}
END_TEST

static const char *const kind_names[] = {
	"ok", "timeout", "connect", "status", "decode", "too_large",
	"circuit_open", "cancelled"
};

START_TEST(test_merge_kind_name)
{
	ck_assert_str_eq(merge_kind_name(_i), kind_names[_i]);
	ck_assert_str_eq(merge_kind_name(CALL_CANCELLED + 1), "unknown");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Scale: many large bodies in every mode, checked by parsing back.    */

START_TEST(test_merge_scale)
{
	struct outcome		*o;
	struct merge_result	 res;
	char			*body, name[16];
	json_t			*v;
	size_t			 i, n = GATHER_MAX_UPSTREAMS, len = 256 * 1024;

	body = xmalloc(len);
	memset(body, ' ', len);
	body[0] = '{';
	memcpy(body + 1, "\"k\":\"", 5);
	memset(body + 6, 'x', len - 9);
	memcpy(body + len - 3, "\"}", 2);
	o = xcalloc(n, sizeof(*o));
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "u%zu", i);
		o[i].o_name = xstrdup(name);
		o[i].o_ctype = "application/json";
		o[i].o_body = body;
		o[i].o_len = len;
	}
	ck_assert_int_eq(merge_reply(_i, o, n, &res), 0);
	ck_assert_int_eq(res.mr_status, 200);
	v = json_loadb(res.mr_body, res.mr_len, JSON_DECODE_ANY, NULL);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(_i == MERGE_ARRAY ? json_array_size(v) :
	    json_object_size(v), _i == MERGE_SHALLOW || _i == MERGE_DEEP ?
	    1 : n);
	json_decref(v);
	merge_result_free(&res);
	for (i = 0; i < n; i++)
		free((char *)o[i].o_name);
	free(o);
	free(body);
}
END_TEST

static Suite *
merge_suite(void)
{
	Suite	*s;

	s = suite_create("merge");
	CHECK_TABLE(s, "keyed", test_merge_keyed, keyed_cases);
	CHECK_TABLE(s, "decode", test_merge_decode, decode_cases);
	CHECK_TABLE(s, "errors", test_merge_errors, errors_cases);
	CHECK_TABLE(s, "status", test_merge_status, status_cases);
	CHECK_TABLE(s, "timing", test_merge_timing, timing_cases);
	CHECK_TABLE(s, "shallow", test_merge_shallow, shallow_cases);
	CHECK_TABLE(s, "deep", test_merge_deep, deep_cases);
	CHECK_TABLE(s, "array", test_merge_array, array_cases);
	CHECK_TABLE(s, "json_type", test_merge_json_type, json_type_cases);
	CHECK_TABLE(s, "error_body", test_merge_error_body, error_body_cases);
	CHECK_TABLE(s, "kind_name", test_merge_kind_name, kind_names);
	check_tcase(s, "scale", test_merge_scale, MERGE_KEYED,
	    MERGE_ARRAY + 1);
	return (s);
}

int
main(void)
{
	return (check_run(merge_suite()));
}
