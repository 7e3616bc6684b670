/*
 * access.c: the access log line of a closed gather and of an error reply,
 * read back from a temp file and parsed with jansson; and a descriptor
 * that refuses writes, which must cost the lines and one warning only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <check.h>

#include "gatherd.h"
#include "check_util.h"

#define NUPS	2

/* A closed gather, as access_log_gather() reads one. */
static const struct {
	const char	*a_path;
	const char	*a_want_path;
	int		 a_status;	/* 0: the client left */
	enum call_kind	 a_kinds[NUPS];
	int		 a_ustatus[NUPS];
	const char	*a_reason;
	int		 a_complete;
} gather_cases[] = {
	{ "/x/1", "/x/1", 200, { CALL_OK, CALL_OK }, { 200, 201 }, "done",
	    1 },
	{ "/x/2", "/x/2", 200, { CALL_OK, CALL_TIMEOUT }, { 200, 0 },
	    "deadline", 0 },
	{ "/x/3", "/x/3", 0, { CALL_CANCELLED, CALL_CANCELLED }, { 0, 0 },
	    "client gone", 0 },
	{ "/x/\"q\\\n", "/x/\"q\\\n", 502, { CALL_STATUS, CALL_OK },
	    { 503, 200 }, "required failed", 0 },
	{ "/x/caf\xc3\xa9", "/x/caf\xc3\xa9", 200, { CALL_OK, CALL_OK },
	    { 200, 200 }, "done", 1 },
	{ "/x/\xff\xfe%41", "/x/%FF%FE%41", 200, { CALL_OK, CALL_OK },
	    { 200, 200 }, "done", 1 },
};

static const char *const up_names[NUPS] = { "profile", "orders" };

/* A temp file for the log; its path in path, its fd returned. */
static int
temp_log(char *path, size_t len)
{
	const char	*tmp = getenv("TMPDIR");
	int		 fd;

	snprintf(path, len, "%s/check_access.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	ck_assert_int_ne(fd = mkstemp(path), -1);
	return (fd);
}

/* The one line of the file at path, parsed; it must end in '\n'. */
static json_t *
read_line(const char *path)
{
	json_error_t	 err;
	json_t		*j;
	size_t		 len;
	char		*buf;

	ck_assert_ptr_nonnull(buf = check_read_file(path, &len));
	ck_assert_msg(len > 0 && buf[len - 1] == '\n' &&
	    strchr(buf, '\n') == buf + len - 1, "not one line: %s", buf);
	j = json_loads(buf, JSON_REJECT_DUPLICATES, &err);
	ck_assert_msg(j != NULL, "not JSON (%s): %s", err.text, buf);
	free(buf);
	return (j);
}

/* Members every line has. */
static void
check_common(json_t *j, const char *rid, const char *path, int status,
    int complete, const char *reason)
{
	const char	*ts;

	ck_assert(json_is_object(j));
	ck_assert_ptr_nonnull(ts = json_string_value(json_object_get(j,
	    "ts")));
	/* 2024-05-02T09:14:03.512Z */
	ck_assert_uint_eq(strlen(ts), 24);
	ck_assert(ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z');
	ck_assert_str_eq(json_string_value(json_object_get(j, "id")), rid);
	ck_assert_str_eq(json_string_value(json_object_get(j, "method")),
	    "GET");
	ck_assert_str_eq(json_string_value(json_object_get(j, "path")), path);
	if (status == 0)
		ck_assert(json_is_null(json_object_get(j, "status")));
	else
		ck_assert_int_eq(json_integer_value(json_object_get(j,
		    "status")), status);
	ck_assert(json_is_real(json_object_get(j, "ms")));
	ck_assert(json_is_boolean(json_object_get(j, "complete")));
	ck_assert_int_eq(json_is_true(json_object_get(j, "complete")),
	    complete);
	ck_assert_str_eq(json_string_value(json_object_get(j, "reason")),
	    reason);
}

START_TEST(test_access_gather)
{
	struct gatherd_conf	 cf;
	struct upstream_conf	 ups[NUPS];
	struct ucall		 calls[NUPS];
	struct endpoint		 ep;
	struct worker		 w;
	struct gather		 g;
	json_t			*j, *u, *e;
	char			 path[PATH_MAX];
	size_t			 i;

	memset(&cf, 0, sizeof(cf));
	memset(&ep, 0, sizeof(ep));
	memset(&w, 0, sizeof(w));
	memset(&g, 0, sizeof(g));
	memset(ups, 0, sizeof(ups));
	memset(calls, 0, sizeof(calls));
	cf.cf_access_log = path;
	cf.cf_access_fd = temp_log(path, sizeof(path));
	ep.ep_path = (char *)"/x/{id}";
	g.g_conf = &cf;
	g.g_worker = &w;
	g.g_ep = &ep;
	g.g_creq.cr_method = (char *)"GET";
	g.g_creq.cr_path = (char *)gather_cases[_i].a_path;
	strlcpy(g.g_trace.tr_rid, "rid-1", sizeof(g.g_trace.tr_rid));
	g.g_status = gather_cases[_i].a_status;
	g.g_start_us = now_us() - 12345;
	g.g_calls = calls;
	g.g_ncalls = NUPS;
	for (i = 0; i < NUPS; i++) {
		ups[i].up_name = (char *)up_names[i];
		calls[i].uc_conf = &ups[i];
		calls[i].uc_kind = gather_cases[_i].a_kinds[i];
		calls[i].uc_status = gather_cases[_i].a_ustatus[i];
		calls[i].uc_start_us = 1000;
		calls[i].uc_end_us = 1000 + 2345 * (i + 1);
		if (calls[i].uc_kind == CALL_OK)
			g.g_nok++;
	}
	access_log_gather(&g, gather_cases[_i].a_reason);
	close(cf.cf_access_fd);
	j = read_line(path);
	unlink(path);
	check_common(j, "rid-1", gather_cases[_i].a_want_path,
	    gather_cases[_i].a_status, gather_cases[_i].a_complete,
	    gather_cases[_i].a_reason);
	ck_assert_str_eq(json_string_value(json_object_get(j, "endpoint")),
	    "/x/{id}");
	ck_assert(json_real_value(json_object_get(j, "ms")) >= 12.3);
	u = json_object_get(j, "upstreams");
	ck_assert_uint_eq(json_array_size(u), NUPS);
	for (i = 0; i < NUPS; i++) {
		e = json_array_get(u, i);
		ck_assert_uint_eq(json_object_size(e), 4);
		ck_assert_str_eq(json_string_value(json_object_get(e, "name")),
		    up_names[i]);
		ck_assert_str_eq(json_string_value(json_object_get(e, "kind")),
		    merge_kind_name(gather_cases[_i].a_kinds[i]));
		if (gather_cases[_i].a_ustatus[i] == 0)
			ck_assert(json_is_null(json_object_get(e, "status")));
		else
			ck_assert_int_eq(json_integer_value(json_object_get(e,
			    "status")), gather_cases[_i].a_ustatus[i]);
		/* Rounded to a tenth: 2.345 -> 2.3, 4.69 -> 4.7. */
		ck_assert_double_eq_tol(json_real_value(json_object_get(e,
		    "ms")), i == 0 ? 2.3 : 4.7, 1e-9);
	}
	json_decref(j);
}
END_TEST

/* server.c's own error reply: endpoint null, no upstreams. */
START_TEST(test_access_error)
{
	struct gatherd_conf	 cf;
	struct worker		 w;
	json_t			*j;
	char			 path[PATH_MAX];

	memset(&cf, 0, sizeof(cf));
	memset(&w, 0, sizeof(w));
	cf.cf_access_log = path;
	cf.cf_access_fd = temp_log(path, sizeof(path));
	w.w_conf = &cf;
	access_log_error(&w, "rid-2", "GET", "/nowhere", 404, 0.04,
	    "no endpoint for this path");
	close(cf.cf_access_fd);
	j = read_line(path);
	unlink(path);
	check_common(j, "rid-2", "/nowhere", 404, 0,
	    "no endpoint for this path");
	ck_assert(json_is_null(json_object_get(j, "endpoint")));
	ck_assert_double_eq(json_real_value(json_object_get(j, "ms")), 0.0);
	ck_assert(json_is_array(json_object_get(j, "upstreams")));
	ck_assert_uint_eq(json_array_size(json_object_get(j, "upstreams")), 0);
	json_decref(j);
}
END_TEST

/* Off: nothing is written, nothing is counted. */
START_TEST(test_access_off)
{
	struct gatherd_conf	 cf;
	struct worker		 w;

	memset(&cf, 0, sizeof(cf));
	memset(&w, 0, sizeof(w));
	cf.cf_access_fd = -1;
	w.w_conf = &cf;
	access_log_error(&w, "r", "GET", "/", 404, 0, "x");
	ck_assert_uint_eq(w.w_access_failed, 0);
}
END_TEST

/* Writes that fail are counted; the warning is not repeated at once. */
START_TEST(test_access_write_fails)
{
	struct gatherd_conf	 cf;
	struct worker		 w;
	char			 path[PATH_MAX];
	uint64_t		 warned;
	int			 i;

	memset(&cf, 0, sizeof(cf));
	memset(&w, 0, sizeof(w));
	cf.cf_access_log = path;
	/* Read-only: every write(2) fails with EBADF. */
	close(temp_log(path, sizeof(path)));
	ck_assert_int_ne(cf.cf_access_fd = open(path, O_RDONLY), -1);
	w.w_conf = &cf;
	access_log_error(&w, "r", "GET", "/", 404, 0, "x");
	ck_assert_uint_eq(w.w_access_failed, 1);
	ck_assert_uint_ne(warned = w.w_access_warn_us, 0);
	for (i = 0; i < 5; i++)
		access_log_error(&w, "r", "GET", "/", 404, 0, "x");
	ck_assert_uint_eq(w.w_access_failed, 6);
	ck_assert_uint_eq(w.w_access_warn_us, warned);
	close(cf.cf_access_fd);
	unlink(path);
}
END_TEST

static Suite *
access_suite(void)
{
	Suite	*s = suite_create("access");

	CHECK_TABLE(s, "gather", test_access_gather, gather_cases);
	CHECK_ONE(s, "error", test_access_error);
	CHECK_ONE(s, "off", test_access_off);
	CHECK_ONE(s, "write_fails", test_access_write_fails);
	return (s);
}

int
main(void)
{
	log_init(0, 0);
	return (check_run(access_suite()));
}
