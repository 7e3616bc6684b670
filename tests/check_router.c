/*
 * router.c: path templates, and the match of raw request paths against a
 * set of endpoints built from those templates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "gatherd.h"
#include "check_util.h"

#define WHOLE	"a {param} must be a whole segment, as in /users/{id}"
#define BADNAME	"bad parameter name (use letters, digits and '_', as in " \
	"{user_id})"
#define EMPTY	"empty segment ('//') in path"

static const struct {
	const char	*p_in;
	const char	*p_why;		/* NULL: accepted */
	size_t		 p_nsegs;
	const char	*p_segs;	/* "text:param|text:param" */
} parse_cases[] = {
	{ "/", NULL, 0, "" },
	{ "/users", NULL, 1, "users:-1" },
	{ "/users/{id}", NULL, 2, "users:-1|id:0" },
	{ "/users/", NULL, 2, "users:-1|:-1" },
	{ "/{a}/x/{b_2}", NULL, 3, "a:0|x:-1|b_2:1" },
	{ "/caf%C3%A9/%7Bx%7D", NULL, 2, "caf\xc3\xa9:-1|{x}:-1" },
	{ "/{_}", NULL, 1, "_:0" },
	{ "", "path must start with '/'", 0, NULL },
	{ "users", "path must start with '/'", 0, NULL },
	{ "//", EMPTY, 0, NULL },
	{ "/a//b", EMPTY, 0, NULL },
	{ "/a//", EMPTY, 0, NULL },
	{ "/a/x{id}", WHOLE, 0, NULL },
	{ "/a/{id}x", WHOLE, 0, NULL },
	{ "/a/{id", WHOLE, 0, NULL },
	{ "/a/id}", WHOLE, 0, NULL },
	{ "/a/{{id}}", BADNAME, 0, NULL },
	{ "/{}", BADNAME, 0, NULL },
	{ "/{1a}", BADNAME, 0, NULL },
	{ "/{a-b}", BADNAME, 0, NULL },
	{ "/{a}/{a}", "duplicate parameter name in path", 0, NULL },
	{ "/a b", "path may not contain spaces or control characters", 0,
	    NULL },
	{ "/a\tb", "path may not contain spaces or control characters", 0,
	    NULL },
	{ "/a?b", "path may not contain '?' or '#'", 0, NULL },
	{ "/a#b", "path may not contain '?' or '#'", 0, NULL },
	{ "/a%zz", "bad percent-encoding in path", 0, NULL },
	{ "/a%00", "bad percent-encoding in path", 0, NULL },
	{ "/a%2", "bad percent-encoding in path", 0, NULL },
};

/* Renders segments as "text:param|..." for one comparison. */
static void
render(const struct path_seg *segs, size_t n, char *buf, size_t len)
{
	size_t	 i;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s:%d",
		    i > 0 ? "|" : "", segs[i].ps_text, segs[i].ps_param);
}

START_TEST(test_router_parse)
{
	struct path_seg	*segs;
	char		**params, buf[256];
	const char	*why = NULL;
	size_t		 nsegs, nparams, i;
	int		 rc;

	rc = router_parse(parse_cases[_i].p_in, &segs, &nsegs, &params,
	    &nparams, &why);
	if (parse_cases[_i].p_why != NULL) {
		ck_assert_int_eq(rc, -1);
		ck_assert_str_eq(why, parse_cases[_i].p_why);
		ck_assert_ptr_null(segs);
		ck_assert_uint_eq(nsegs + nparams, 0);
		return;
	}
	ck_assert_msg(rc == 0, "%s: %s", parse_cases[_i].p_in, why);
	ck_assert_uint_eq(nsegs, parse_cases[_i].p_nsegs);
	render(segs, nsegs, buf, sizeof(buf));
	ck_assert_str_eq(buf, parse_cases[_i].p_segs);
	for (i = 0; i < nsegs; i++)
		if (segs[i].ps_param >= 0)
			ck_assert_str_eq(params[segs[i].ps_param],
			    segs[i].ps_text);
	router_free_segs(segs, nsegs, params, nparams);
}
END_TEST

/* "/{p0}/{p1}..." with n parameters, or "/s/s/..." with n segments. */
static void
make_path(char *buf, size_t len, size_t n, int params)
{
	size_t	 i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (params)
			snprintf(buf + strlen(buf), len - strlen(buf),
			    "/{p%zu}", i);
		else
			strlcat(buf, "/s", len);
	}
}

static const struct {
	size_t		 l_n;
	int		 l_params;
	const char	*l_why;
} limit_cases[] = {
	{ ROUTER_MAX_PARAMS, 1, NULL },
	{ ROUTER_MAX_PARAMS + 1, 1, "too many parameters in path (max 16)" },
	{ ROUTER_MAX_SEGMENTS, 0, NULL },
	{ ROUTER_MAX_SEGMENTS + 1, 0, "too many segments in path (max 64)" },
};

START_TEST(test_router_limits)
{
	struct path_seg	*segs;
	char		**params, path[512];
	const char	*why = NULL;
	size_t		 nsegs, nparams;

	make_path(path, sizeof(path), limit_cases[_i].l_n,
	    limit_cases[_i].l_params);
	if (limit_cases[_i].l_why != NULL) {
		ck_assert_int_eq(router_parse(path, &segs, &nsegs, &params,
		    &nparams, &why), -1);
		ck_assert_str_eq(why, limit_cases[_i].l_why);
		return;
	}
	ck_assert_int_eq(router_parse(path, &segs, &nsegs, &params, &nparams,
	    &why), 0);
	ck_assert_uint_eq(nsegs, limit_cases[_i].l_n);
	router_free_segs(segs, nsegs, params, nparams);
}
END_TEST

/* The endpoints every match case runs against, in config order. */
static const struct {
	const char	*e_method;
	const char	*e_path;
} route_eps[] = {
	{ "GET", "/users/{id}" },		/* 0 */
	{ "GET", "/users/me" },			/* 1 */
	{ "POST", "/users/{id}" },		/* 2 */
	{ "GET", "/" },				/* 3 */
	{ "GET", "/users/" },			/* 4 */
	{ "GET", "/caf%C3%A9/{x}" },		/* 5 */
	{ "GET", "/{a}/{b}/raw" },		/* 6 */
	{ "GET", "/files/{name}/raw" },		/* 7 */
	{ "PUT", "/only-put" },			/* 8 */
	{ "DELETE", "/users/{id}" },		/* 9 */
	{ "POST", "/users/me" },		/* 10 */
	{ "GET", "/{a}/x/{b}" },		/* 11 */
	{ "GET", "/{a}/{b}/y" },		/* 12 */
};

static void
conf_build(struct gatherd_conf *cf)
{
	struct endpoint	*ep;
	const char	*why;
	size_t		 i;

	memset(cf, 0, sizeof(*cf));
	cf->cf_nendpoints = NELEM(route_eps);
	cf->cf_endpoints = xcalloc(cf->cf_nendpoints, sizeof(*ep));
	for (i = 0; i < NELEM(route_eps); i++) {
		ep = &cf->cf_endpoints[i];
		ep->ep_method = xstrdup(route_eps[i].e_method);
		ep->ep_path = xstrdup(route_eps[i].e_path);
		ck_assert_int_eq(router_parse(ep->ep_path, &ep->ep_segs,
		    &ep->ep_nsegs, &ep->ep_params, &ep->ep_nparams, &why), 0);
	}
}

static void
conf_free(struct gatherd_conf *cf)
{
	struct endpoint	*ep;
	size_t		 i;

	for (i = 0; i < cf->cf_nendpoints; i++) {
		ep = &cf->cf_endpoints[i];
		router_free_segs(ep->ep_segs, ep->ep_nsegs, ep->ep_params,
		    ep->ep_nparams);
		free(ep->ep_method);
		free(ep->ep_path);
	}
	free(cf->cf_endpoints);
}

#define ALL_USERS	"GET, POST, DELETE"

static const struct {
	const char	*m_method;
	const char	*m_path;
	int		 m_status;
	int		 m_ep;		/* on 200 */
	const char	*m_params;	/* on 200: "a|b"; on 405: Allow */
} match_cases[] = {
	{ "GET", "/users/42", 200, 0, "42" },
	{ "GET", "/users/me", 200, 1, "" },
	{ "POST", "/users/me", 200, 10, "" },
	{ "POST", "/users/7", 200, 2, "7" },
	{ "DELETE", "/users/me", 200, 9, "me" },
	{ "GET", "/", 200, 3, "" },
	{ "GET", "/users/", 200, 4, "" },
	{ "GET", "/users/a%2Fb", 200, 0, "a/b" },
	{ "GET", "/users/%41%62", 200, 0, "Ab" },
	{ "GET", "/users/%2E%2E", 200, 0, ".." },
	{ "GET", "/users/a+b", 200, 0, "a+b" },
	{ "GET", "/caf\xc3\xa9/1", 200, 5, "1" },
	{ "GET", "/caf%c3%a9/2", 200, 5, "2" },
	{ "GET", "/files/x/raw", 200, 7, "x" },
	{ "GET", "/other/z/raw", 200, 6, "other|z" },
	{ "GET", "/other/x/raw", 200, 11, "other|raw" },
	{ "GET", "/q/x/y", 200, 11, "q|y" },
	{ "GET", "/q/z/y", 200, 12, "q|z" },
	{ "PUT", "/users/42", 405, -1, ALL_USERS },
	{ "PUT", "/users/me", 405, -1, ALL_USERS },
	{ "HEAD", "/users/42", 405, -1, ALL_USERS },
	{ "get", "/users/42", 405, -1, ALL_USERS },
	{ "GET", "/only-put", 405, -1, "PUT" },
	{ "GET", "/users", 404, -1, "" },
	{ "GET", "/users/42/", 404, -1, "" },
	{ "GET", "/users//", 404, -1, "" },
	{ "GET", "//", 404, -1, "" },
	{ "GET", "/nothing", 404, -1, "" },
	{ "GET", "/files//raw", 404, -1, "" },
	{ "GET", "/users/%zz", 400, -1, "" },
	{ "GET", "/users/%4", 400, -1, "" },
	{ "GET", "/users/%00", 400, -1, "" },
	{ "GET", "users/42", 400, -1, "" },
	{ "GET", "", 400, -1, "" },
	{ "GET", "*", 400, -1, "" },
};

START_TEST(test_router_match)
{
	struct gatherd_conf	 cf;
	struct route_match	 m;
	char			 allow[64], got[256];
	size_t			 i;

	conf_build(&cf);
	memset(allow, 'x', sizeof(allow));
	ck_assert_int_eq(router_match(&cf, match_cases[_i].m_method,
	    match_cases[_i].m_path, &m, allow, sizeof(allow)),
	    match_cases[_i].m_status);
	if (match_cases[_i].m_status == 200) {
		ck_assert_ptr_eq(m.rm_ep, &cf.cf_endpoints[
		    match_cases[_i].m_ep]);
		ck_assert_uint_eq(m.rm_nparams, m.rm_ep->ep_nparams);
		got[0] = '\0';
		for (i = 0; i < m.rm_nparams; i++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got),
			    "%s%s", i > 0 ? "|" : "", m.rm_params[i]);
		ck_assert_str_eq(got, match_cases[_i].m_params);
	} else {
		ck_assert_ptr_null(m.rm_ep);
		ck_assert_uint_eq(m.rm_nparams, 0);
	}
	if (match_cases[_i].m_status == 405)
		ck_assert_str_eq(allow, match_cases[_i].m_params);
	route_match_free(&m);
	ck_assert_uint_eq(m.rm_nparams, 0);
	conf_free(&cf);
}
END_TEST

/* Too many segments to match any endpoint: 404 without decoding all. */
START_TEST(test_router_match_long)
{
	struct gatherd_conf	 cf;
	struct route_match	 m;
	char			 path[512], allow[64];

	conf_build(&cf);
	make_path(path, sizeof(path), ROUTER_MAX_SEGMENTS + 1, 0);
	ck_assert_int_eq(router_match(&cf, "GET", path, &m, allow,
	    sizeof(allow)), 404);
	make_path(path, sizeof(path), ROUTER_MAX_SEGMENTS, 0);
	ck_assert_int_eq(router_match(&cf, "GET", path, &m, allow,
	    sizeof(allow)), 404);
	conf_free(&cf);
}
END_TEST

/* A short Allow buffer holds whole method names only. */
static const struct {
	size_t		 a_len;
	const char	*a_want;
} allow_cases[] = {
	{ 64, "GET, POST, DELETE" },
	{ 18, "GET, POST, DELETE" },
	{ 17, "GET, POST" },
	{ 4, "GET" },
	{ 3, "" },
	{ 1, "" },
};

START_TEST(test_router_allow)
{
	struct gatherd_conf	 cf;
	struct route_match	 m;
	char			 allow[64];

	conf_build(&cf);
	ck_assert_int_eq(router_match(&cf, "PATCH", "/users/1", &m, allow,
	    allow_cases[_i].a_len), 405);
	ck_assert_str_eq(allow, allow_cases[_i].a_want);
	ck_assert_int_eq(router_match(&cf, "PATCH", "/users/1", &m, NULL, 0),
	    405);
	conf_free(&cf);
}
END_TEST

static const struct {
	const char	*s_a;
	const char	*s_b;
	const char	*s_ma;
	const char	*s_mb;
	int		 s_same;
} same_cases[] = {
	{ "/users/{id}", "/users/{name}", "GET", "GET", 1 },
	{ "/users/{id}", "/users/{id}", "GET", "POST", 0 },
	{ "/users/{id}", "/users/me", "GET", "GET", 0 },
	{ "/users/{id}", "/users/{id}/", "GET", "GET", 0 },
	{ "/a/b", "/a/b", "GET", "GET", 1 },
	{ "/a/b", "/a/c", "GET", "GET", 0 },
	{ "/caf%C3%A9", "/caf\xc3\xa9", "GET", "GET", 1 },
	{ "/", "/", "GET", "GET", 1 },
	{ "/{a}/x", "/x/{a}", "GET", "GET", 0 },
};

START_TEST(test_router_same_route)
{
	struct endpoint	 a, b;
	const char	*why;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.ep_method = (char *)same_cases[_i].s_ma;
	b.ep_method = (char *)same_cases[_i].s_mb;
	ck_assert_int_eq(router_parse(same_cases[_i].s_a, &a.ep_segs,
	    &a.ep_nsegs, &a.ep_params, &a.ep_nparams, &why), 0);
	ck_assert_int_eq(router_parse(same_cases[_i].s_b, &b.ep_segs,
	    &b.ep_nsegs, &b.ep_params, &b.ep_nparams, &why), 0);
	ck_assert_int_eq(router_same_route(&a, &b), same_cases[_i].s_same);
	ck_assert_int_eq(router_same_route(&b, &a), same_cases[_i].s_same);
	router_free_segs(a.ep_segs, a.ep_nsegs, a.ep_params, a.ep_nparams);
	router_free_segs(b.ep_segs, b.ep_nsegs, b.ep_params, b.ep_nparams);
}
END_TEST

static Suite *
router_suite(void)
{
	Suite	*s = suite_create("router");

	CHECK_TABLE(s, "parse", test_router_parse, parse_cases);
	CHECK_TABLE(s, "limits", test_router_limits, limit_cases);
	CHECK_TABLE(s, "match", test_router_match, match_cases);
	CHECK_ONE(s, "match_long", test_router_match_long);
	CHECK_TABLE(s, "allow", test_router_allow, allow_cases);
	CHECK_TABLE(s, "same_route", test_router_same_route, same_cases);
	return (s);
}

int
main(void)
{
	return (check_run(router_suite()));
}
