/*
 * parse.c: each typed value parser against a table of inputs, with the
 * exact reason for every refusal.
 */
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "gatherd.h"
#include "check_util.h"

#define BAD_DURATION	"bad duration (use e.g. 250ms, 2s, 1m)"
#define LONG_DURATION	"duration too long (max 24h)"
#define ZERO_DURATION	"duration must be greater than 0"

/* A parser's result: rc 0 with a value, or rc -1 with a reason. */
struct num_case {
	const char	*n_in;
	int		 n_rc;
	uint64_t	 n_want;
	const char	*n_why;
};

static const struct num_case duration_cases[] = {
	{ "250ms",	0, 250, NULL },
	{ "2s",		0, 2000, NULL },
	{ "1m",		0, 60000, NULL },
	{ "1h",		0, 3600000, NULL },
	{ "24h",	0, 86400000, NULL },
	{ "1440m",	0, 86400000, NULL },
	{ "007s",	0, 7000, NULL },
	{ "25h",	-1, 0, LONG_DURATION },
	{ "86400001ms",	-1, 0, LONG_DURATION },
	{ "99999999999999999999999ms", -1, 0, LONG_DURATION },
	{ "0ms",	-1, 0, ZERO_DURATION },
	{ "0h",		-1, 0, ZERO_DURATION },
	{ "30",		-1, 0, BAD_DURATION },
	{ "",		-1, 0, BAD_DURATION },
	{ "ms",		-1, 0, BAD_DURATION },
	{ "2 s",	-1, 0, BAD_DURATION },
	{ " 2s",	-1, 0, BAD_DURATION },
	{ "2s ",	-1, 0, BAD_DURATION },
	{ "-1s",	-1, 0, BAD_DURATION },
	{ "+1s",	-1, 0, BAD_DURATION },
	{ "1.5s",	-1, 0, BAD_DURATION },
	{ "2S",		-1, 0, BAD_DURATION },
	{ "1d",		-1, 0, BAD_DURATION },
	{ "1sec",	-1, 0, BAD_DURATION },
};

/* One case of a duration or size parser: a refusal leaves *v alone. */
static void
num_case_run(int (*fn)(const char *, uint64_t *, const char **),
    const struct num_case *tc)
{
	const char	*why = NULL;
	uint64_t	 v = 12345;

	ck_assert_int_eq(fn(tc->n_in, &v, &why), tc->n_rc);
	if (tc->n_rc == 0)
		ck_assert_uint_eq(v, tc->n_want);
	else {
		ck_assert_str_eq(why, tc->n_why);
		ck_assert_uint_eq(v, 12345);
	}
}

START_TEST(test_parse_duration)
{
	num_case_run(parse_duration, &duration_cases[_i]);
}
END_TEST

#define BAD_SIZE	"bad size (use e.g. 512B, 16KiB, 1MiB)"
#define BIG_SIZE	"size too large"

static const struct num_case size_cases[] = {
	{ "512B",	0, 512, NULL },
	{ "16KiB",	0, 16384, NULL },
	{ "1MiB",	0, 1048576, NULL },
	{ "1GiB",	0, 1073741824, NULL },
	{ "10KB",	0, 10000, NULL },
	{ "1MB",	0, 1000000, NULL },
	{ "2GB",	0, 2000000000, NULL },
	{ "123",	0, 123, NULL },
	{ "0",		0, 0, NULL },
	{ "0B",		0, 0, NULL },
	{ "18446744073709551615", 0, UINT64_MAX, NULL },
	{ "18446744073709551616", -1, 0, BIG_SIZE },
	{ "17179869184GiB", -1, 0, BIG_SIZE },
	{ "1TiB",	-1, 0, BAD_SIZE },
	{ "1kib",	-1, 0, BAD_SIZE },
	{ "1K",		-1, 0, BAD_SIZE },
	{ "1 KiB",	-1, 0, BAD_SIZE },
	{ "-1",		-1, 0, BAD_SIZE },
	{ "1.5MiB",	-1, 0, BAD_SIZE },
	{ "",		-1, 0, BAD_SIZE },
	{ "KiB",	-1, 0, BAD_SIZE },
};

START_TEST(test_parse_size)
{
	num_case_run(parse_size, &size_cases[_i]);
}
END_TEST

static const struct num_case uint_cases[] = {
	{ "0",		0, 0, NULL },
	{ "42",		0, 42, NULL },
	{ "1000",	0, 1000, NULL },
	{ "1001",	-1, 0, "number too large" },
	{ "99999999999999999999999", -1, 0, "number too large" },
	{ "",		-1, 0, "expected an integer" },
	{ "-1",		-1, 0, "expected an integer" },
	{ "4x",		-1, 0, "expected an integer" },
	{ "auto",	-1, 0, "expected an integer" },
};

START_TEST(test_parse_uint)
{
	const struct num_case	*tc = &uint_cases[_i];
	const char		*why = NULL;
	uint64_t		 v = 0;

	ck_assert_int_eq(parse_uint(tc->n_in, 1000, &v, &why), tc->n_rc);
	if (tc->n_rc == 0)
		ck_assert_uint_eq(v, tc->n_want);
	else
		ck_assert_str_eq(why, tc->n_why);
}
END_TEST

#define BAD_STATUS	"bad status (use e.g. 200 or 200-299)"
#define RANGE_STATUS	"status out of range (use 100..599)"
#define REV_STATUS	"status range is reversed (low end first)"

static const struct {
	const char	*s_in;
	int		 s_lo;	/* 0: refused */
	int		 s_hi;
	const char	*s_why;
} status_cases[] = {
	{ "200",	200, 200, NULL },
	{ "204",	204, 204, NULL },
	{ "200-299",	200, 299, NULL },
	{ "100-599",	100, 599, NULL },
	{ "404-404",	404, 404, NULL },
	{ "99",		0, 0, RANGE_STATUS },
	{ "600",	0, 0, RANGE_STATUS },
	{ "2000",	0, 0, RANGE_STATUS },
	{ "200-600",	0, 0, RANGE_STATUS },
	{ "300-200",	0, 0, REV_STATUS },
	{ "2xx",	0, 0, BAD_STATUS },
	{ "200-",	0, 0, BAD_STATUS },
	{ "-200",	0, 0, BAD_STATUS },
	{ "200-299-300", 0, 0, BAD_STATUS },
	{ "200 - 299",	0, 0, BAD_STATUS },
	{ "",		0, 0, BAD_STATUS },
	{ " 200",	0, 0, BAD_STATUS },
};

START_TEST(test_parse_status_range)
{
	struct status_range	 sr = { 1, 1 };
	const char		*why = NULL;
	int			 rc;

	rc = parse_status_range(status_cases[_i].s_in, &sr, &why);
	if (status_cases[_i].s_lo != 0) {
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(sr.sr_lo, status_cases[_i].s_lo);
		ck_assert_int_eq(sr.sr_hi, status_cases[_i].s_hi);
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_str_eq(why, status_cases[_i].s_why);
		ck_assert_int_eq(sr.sr_lo, 1);
	}
}
END_TEST

static const struct {
	const char	*b_in;
	int		 b_want;	/* -1: refused */
} bool_cases[] = {
	{ "true", 1 }, { "yes", 1 }, { "True", 1 }, { "YES", 1 },
	{ "false", 0 }, { "no", 0 }, { "FALSE", 0 }, { "No", 0 },
	{ "1", -1 }, { "on", -1 }, { "", -1 }, { "truee", -1 },
};

START_TEST(test_parse_bool)
{
	const char	*why = NULL;
	int		 v = 7;

	if (bool_cases[_i].b_want == -1) {
		ck_assert_int_eq(parse_bool(bool_cases[_i].b_in, &v, &why), -1);
		ck_assert_str_eq(why, "expected true or false");
		ck_assert_int_eq(v, 7);
	} else {
		ck_assert_int_eq(parse_bool(bool_cases[_i].b_in, &v, &why), 0);
		ck_assert_int_eq(v, bool_cases[_i].b_want);
	}
}
END_TEST

#define LONG_PATH	"unix:/run/" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NUMERIC		"host must be a numeric IPv4 or IPv6 address or " \
	"localhost"

static const struct {
	const char	*l_in;
	int		 l_family;	/* 0: refused */
	const char	*l_host;	/* or path, or the reason */
	uint16_t	 l_port;
} listen_cases[] = {
	{ "127.0.0.1:8080",	AF_INET, "127.0.0.1", 8080 },
	{ "0.0.0.0:1",		AF_INET, "0.0.0.0", 1 },
	{ "10.1.2.3:65535",	AF_INET, "10.1.2.3", 65535 },
	{ "localhost:8080",	AF_INET, "127.0.0.1", 8080 },
	{ "[::1]:8080",		AF_INET6, "::1", 8080 },
	{ "[0:0::1]:80",	AF_INET6, "::1", 80 },
	{ "[::]:80",		AF_INET6, "::", 80 },
	{ "unix:/run/gatherd/gatherd.sock", AF_UNIX,
	    "/run/gatherd/gatherd.sock", 0 },
	{ "unix:run/x.sock",	0, "unix socket path must be absolute", 0 },
	{ "unix:",		0, "unix socket path must be absolute", 0 },
	{ LONG_PATH,		0, "unix socket path too long", 0 },
	{ "127.0.0.1",		0, "missing port (use e.g. 127.0.0.1:8080)", 0 },
	{ "127.0.0.1:",		0, "missing port (use e.g. 127.0.0.1:8080)", 0 },
	{ "127.0.0.1:0",	0, "bad port (use 1..65535)", 0 },
	{ "127.0.0.1:65536",	0, "bad port (use 1..65535)", 0 },
	{ "127.0.0.1:http",	0, "bad port (use 1..65535)", 0 },
	{ "127.0.0.1:+80",	0, "bad port (use 1..65535)", 0 },
	{ "::1:8080",	0, "an IPv6 address needs brackets, e.g. [::1]:8080",
	    0 },
	{ "[::1]",		0, "bad IPv6 address (use e.g. [::1]:8080)", 0 },
	{ "[::1]8080",		0, "bad IPv6 address (use e.g. [::1]:8080)", 0 },
	{ "[127.0.0.1]:80",	0, NUMERIC, 0 },
	{ "example.com:80",	0, NUMERIC, 0 },
	{ "1.2.3:80",		0, NUMERIC, 0 },
	{ ":80",		0, NUMERIC, 0 },
};

START_TEST(test_parse_listen)
{
	struct listen_addr	 la;
	const char		*why = NULL;
	int			 rc;

	rc = parse_listen(listen_cases[_i].l_in, &la, &why);
	if (listen_cases[_i].l_family == 0) {
		ck_assert_int_eq(rc, -1);
		ck_assert_str_eq(why, listen_cases[_i].l_host);
		return;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(la.la_family, listen_cases[_i].l_family);
	ck_assert_str_eq(la.la_text, listen_cases[_i].l_in);
	ck_assert_str_eq(la.la_family == AF_UNIX ? la.la_path : la.la_host,
	    listen_cases[_i].l_host);
	ck_assert_ptr_null(la.la_family == AF_UNIX ? la.la_host : la.la_path);
	ck_assert_uint_eq(la.la_port, listen_cases[_i].l_port);
	free(la.la_host);
	free(la.la_path);
	free(la.la_text);
}
END_TEST

#define METHOD_WHY	"method must be an uppercase token such as GET"
#define HNAME_WHY	"bad header name (use a token such as X-Request-Id)"
#define HOWN_WHY	"this header is managed by gatherd and may not be " \
	"set or forwarded"

static const struct {
	int		(*c_fn)(const char *, const char **);
	const char	*c_in;
	const char	*c_why;		/* NULL: accepted */
} name_cases[] = {
	{ parse_method, "GET", NULL },
	{ parse_method, "M-SEARCH", NULL },
	{ parse_method, "get", METHOD_WHY },
	{ parse_method, "GeT", METHOD_WHY },
	{ parse_method, "GE T", METHOD_WHY },
	{ parse_method, "POST/", METHOD_WHY },
	{ parse_method, "", METHOD_WHY },
	{ parse_header_name, "X-Request-Id", NULL },
	{ parse_header_name, "accept-language", NULL },
	{ parse_header_name, "Host", HOWN_WHY },
	{ parse_header_name, "content-length", HOWN_WHY },
	{ parse_header_name, "Transfer-Encoding", HOWN_WHY },
	{ parse_header_name, "CONNECTION", HOWN_WHY },
	{ parse_header_name, "X Y", HNAME_WHY },
	{ parse_header_name, "X:Y", HNAME_WHY },
	{ parse_header_name, "", HNAME_WHY },
	{ parse_header_value, "Bearer abc", NULL },
	{ parse_header_value, "a\tb", NULL },
	{ parse_header_value, "", NULL },
	{ parse_header_value, "a\r\nX-Injected: 1",
	    "header value may not contain control characters" },
	{ parse_header_value, "a\x7f",
	    "header value may not contain control characters" },
	{ parse_name, "profile", NULL },
	{ parse_name, "a.b-c_D9", NULL },
	{ parse_name, "_errors",
	    "a name may not start with '_' (_errors is reserved)" },
	{ parse_name, "my name", "bad name (use letters, digits, '_', '.' "
	    "and '-')" },
	{ parse_name, "", "bad name (use letters, digits, '_', '.' and '-')" },
	{ parse_query_name, "limit", NULL },
	{ parse_query_name, "page[size]", NULL },
	{ parse_query_name, "a&b", "bad query parameter name" },
	{ parse_query_name, "a=b", "bad query parameter name" },
	{ parse_query_name, "a b", "bad query parameter name" },
	{ parse_query_name, "", "bad query parameter name" },
};

START_TEST(test_parse_names)
{
	const char	*why = NULL;

	if (name_cases[_i].c_why == NULL)
		ck_assert_msg(name_cases[_i].c_fn(name_cases[_i].c_in,
		    &why) == 0, "%s: %s", name_cases[_i].c_in, why);
	else {
		ck_assert_int_eq(name_cases[_i].c_fn(name_cases[_i].c_in,
		    &why), -1);
		ck_assert_str_eq(why, name_cases[_i].c_why);
	}
}
END_TEST

static Suite *
parse_suite(void)
{
	Suite	*s = suite_create("parse");

	CHECK_TABLE(s, "duration", test_parse_duration, duration_cases);
	CHECK_TABLE(s, "size", test_parse_size, size_cases);
	CHECK_TABLE(s, "uint", test_parse_uint, uint_cases);
	CHECK_TABLE(s, "status_range", test_parse_status_range, status_cases);
	CHECK_TABLE(s, "bool", test_parse_bool, bool_cases);
	CHECK_TABLE(s, "listen", test_parse_listen, listen_cases);
	CHECK_TABLE(s, "names", test_parse_names, name_cases);
	return (s);
}

int
main(void)
{
	return (check_run(parse_suite()));
}
