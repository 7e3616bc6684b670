/*
 * url.c: encoding, decoding, URL templates and their expansion, with the
 * cases a client could use to escape a segment or a query value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "gatherd.h"
#include "check_util.h"

static char *param_names[] = { "user", "id" };

static const struct {
	const char	*e_in;
	int		 e_dotseg;
	const char	*e_want;
} encode_cases[] = {
	{ "abc", 1, "abc" },
	{ "", 1, "" },
	{ "AZaz09-._~", 1, "AZaz09-._~" },
	{ "a b", 0, "a%20b" },
	{ "a/b?c#d&e=f", 1, "a%2Fb%3Fc%23d%26e%3Df" },
	{ "%+", 1, "%25%2B" },
	{ "\xc3\xa9", 1, "%C3%A9" },
	{ "\x01\x7f\xff", 1, "%01%7F%FF" },
	{ ".", 1, "%2E" },
	{ "..", 1, "%2E%2E" },
	{ ".", 0, "." },
	{ "..", 0, ".." },
	{ "...", 1, "..." },
	{ "a.", 1, "a." },
	{ "../x", 1, "..%2Fx" },
};

START_TEST(test_url_encode)
{
	char	*got;

	got = url_encode(encode_cases[_i].e_in, encode_cases[_i].e_dotseg);
	ck_assert_str_eq(got, encode_cases[_i].e_want);
	free(got);
}
END_TEST

static const struct {
	const char	*d_in;
	size_t		 d_len;		/* 0: strlen */
	const char	*d_want;	/* NULL: refused */
} decode_cases[] = {
	{ "abc", 0, "abc" },
	{ "", 0, "" },
	{ "a%20b", 0, "a b" },
	{ "%2F%2e", 0, "/." },
	{ "%c3%A9", 0, "\xc3\xa9" },
	{ "a+b", 0, "a+b" },
	{ "a%2", 1, "a" },
	{ "a%2", 2, NULL },
	{ "%", 0, NULL },
	{ "%2", 0, NULL },
	{ "a%2", 3, NULL },
	{ "%zz", 0, NULL },
	{ "%g0", 0, NULL },
	{ "%0g", 0, NULL },
	{ "%00", 0, NULL },
	{ "a\0b", 3, NULL },
};

START_TEST(test_url_decode)
{
	size_t	 len = decode_cases[_i].d_len;
	char	*got = (char *)1;

	if (len == 0)
		len = strlen(decode_cases[_i].d_in);
	if (decode_cases[_i].d_want == NULL) {
		ck_assert_int_eq(url_decode(decode_cases[_i].d_in, len, &got),
		    -1);
		ck_assert_ptr_null(got);
		return;
	}
	ck_assert_int_eq(url_decode(decode_cases[_i].d_in, len, &got), 0);
	ck_assert_str_eq(got, decode_cases[_i].d_want);
	free(got);
}
END_TEST

#define HOSTPARAM	"a {param} may not appear in the host"
#define BADPORT		"bad port in url (use 1..65535)"
#define SCHEME		"url must start with http:// or https://"
#define NOHOST		"url has no host"
#define BAD6		"bad IPv6 address in url"
#define SPACES		"url may not contain spaces or control characters"
#define BADNAME		"bad {param} name in url (use letters, digits and '_')"

static const struct {
	const char	*t_in;
	const char	*t_why;		/* NULL: accepted */
	const char	*t_parts;	/* "text:param|..." */
	int		 t_query;
} tmpl_cases[] = {
	{ "http://h/users/{user}", NULL, "http://h/users/:-1|user:0", 0 },
	{ "https://h:8443/o?u={user}&i={id}", NULL,
	    "https://h:8443/o?u=:-1|user:0|&i=:-1|id:1", 1 },
	{ "http://h/{id}{user}", NULL, "http://h/:-1|id:1|user:0", 0 },
	{ "HTTP://H", NULL, "HTTP://H:-1", 0 },
	{ "HttpS://h/", NULL, "HttpS://h/:-1", 0 },
	{ "http://h?x=1", NULL, "http://h?x=1:-1", 1 },
	{ "http://[::1]:9000/{id}", NULL, "http://[::1]:9000/:-1|id:1", 0 },
	{ "http://u:p@h:1/", NULL, "http://u:p@h:1/:-1", 0 },
	{ "http://h:65535", NULL, "http://h:65535:-1", 0 },
	{ "ftp://h/", SCHEME, NULL, 0 },
	{ "h/x", SCHEME, NULL, 0 },
	{ "http:/h/x", SCHEME, NULL, 0 },
	{ "", SCHEME, NULL, 0 },
	{ "http://", NOHOST, NULL, 0 },
	{ "http:///x", NOHOST, NULL, 0 },
	{ "http://:80/", NOHOST, NULL, 0 },
	{ "http://u@/", NOHOST, NULL, 0 },
	{ "http://h:/", BADPORT, NULL, 0 },
	{ "http://h:0/", BADPORT, NULL, 0 },
	{ "http://h:65536/", BADPORT, NULL, 0 },
	{ "http://h:80x/", BADPORT, NULL, 0 },
	{ "http://h:123456789/", BADPORT, NULL, 0 },
	{ "http://[::1/", BAD6, NULL, 0 },
	{ "http://[]/", BAD6, NULL, 0 },
	{ "http://[::1]x/", BAD6, NULL, 0 },
	{ "http://{user}.h/", HOSTPARAM, NULL, 0 },
	{ "http://h:{id}/", HOSTPARAM, NULL, 0 },
	{ "http://h/a b", SPACES, NULL, 0 },
	{ "http://h/a\x01", SPACES, NULL, 0 },
	{ "http://h/a\x7f", SPACES, NULL, 0 },
	{ "http://h/#x", "url may not contain a fragment ('#')", NULL, 0 },
	{ "http://h/{user", "unbalanced '{' in url", NULL, 0 },
	{ "http://h/{{user}}", "unbalanced '{' in url", NULL, 0 },
	{ "http://h/user}", "unbalanced '}' in url", NULL, 0 },
	{ "http://h/{}", BADNAME, NULL, 0 },
	{ "http://h/{1x}", BADNAME, NULL, 0 },
	{ "http://h/{a.b}", BADNAME, NULL, 0 },
	{ "http://h/{nope}",
	    "a {param} in the url is not a parameter of the endpoint path",
	    NULL, 0 },
};

START_TEST(test_url_tmpl_parse)
{
	struct url_tmpl	 t;
	const char	*why = NULL;
	char		 got[256];
	size_t		 i;
	int		 rc;

	rc = url_tmpl_parse(tmpl_cases[_i].t_in, param_names, 2, &t, &why);
	if (tmpl_cases[_i].t_why != NULL) {
		ck_assert_int_eq(rc, -1);
		ck_assert_str_eq(why, tmpl_cases[_i].t_why);
		ck_assert_uint_eq(t.t_nparts, 0);
		ck_assert_ptr_null(t.t_parts);
		return;
	}
	ck_assert_msg(rc == 0, "%s: %s", tmpl_cases[_i].t_in, why);
	got[0] = '\0';
	for (i = 0; i < t.t_nparts; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got),
		    "%s%s:%d", i > 0 ? "|" : "", t.t_parts[i].tp_text,
		    t.t_parts[i].tp_param);
	ck_assert_str_eq(got, tmpl_cases[_i].t_parts);
	ck_assert_int_eq(t.t_query, tmpl_cases[_i].t_query);
	url_tmpl_free(&t);
	ck_assert_uint_eq(t.t_nparts, 0);
}
END_TEST

static const struct {
	const char	*u_in;
	const char	*u_want;	/* NULL: none */
} unknown_cases[] = {
	{ "http://h/{user}/{id}", NULL },
	{ "http://h/{user}/{nope}?x={id}", "{nope}" },
	{ "http://h/?a={zz}&b={yy}", "{zz}" },
	{ "http://{nope}/", NULL },		/* the host: url_tmpl_parse */
	{ "http://h/{x", NULL },
	{ "http://h/{1x}/{zz}", "{zz}" },
	{ "http://h/{{zz}", "{zz}" },
	{ "no scheme/{zz}", "{zz}" },
};

START_TEST(test_url_unknown_param)
{
	const char	*p;
	size_t		 len = 0;

	p = url_tmpl_unknown_param(unknown_cases[_i].u_in, param_names, 2,
	    &len);
	if (unknown_cases[_i].u_want == NULL)
		ck_assert_ptr_null(p);
	else {
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq(len, strlen(unknown_cases[_i].u_want));
		ck_assert_int_eq(strncmp(p, unknown_cases[_i].u_want, len), 0);
	}
}
END_TEST

static const struct {
	const char	*x_tmpl;
	const char	*x_user;
	const char	*x_query;	/* client query, or NULL */
	const char	*x_fwd;		/* "a,b" forward_query, or "" */
	const char	*x_want;
} expand_cases[] = {
	{ "http://h/u/{user}", "bob", NULL, "", "http://h/u/bob" },
	{ "http://h/u/{user}", "a b/c", NULL, "", "http://h/u/a%20b%2Fc" },
	{ "http://h/u/{user}/x", "..", NULL, "", "http://h/u/%2E%2E/x" },
	{ "http://h/u/{user}/x", ".", NULL, "", "http://h/u/%2E/x" },
	{ "http://h/u/{user}", "...", NULL, "", "http://h/u/..." },
	{ "http://h/o?u={user}", "x&admin=1#f", NULL, "",
	    "http://h/o?u=x%26admin%3D1%23f" },
	{ "http://h/u/{user}", "bob", "limit=10&x=1&limit=20", "limit",
	    "http://h/u/bob?limit=10&limit=20" },
	{ "http://h/o?u={user}", "bob", "limit=10", "limit",
	    "http://h/o?u=bob&limit=10" },
	{ "http://h/o?", "bob", "limit=10", "limit", "http://h/o?limit=10" },
	{ "http://h/o?a=1&", "bob", "limit=10", "limit",
	    "http://h/o?a=1&limit=10" },
	{ "http://h/o", "bob", "limit&x=1", "limit", "http://h/o?limit=" },
	{ "http://h/o", "bob", "limit=", "limit", "http://h/o?limit=" },
	{ "http://h/o", "bob", "limit=1%26admin%3Dtrue", "limit",
	    "http://h/o?limit=1%26admin%3Dtrue" },
	{ "http://h/o", "bob", "limit=a/b?c", "limit",
	    "http://h/o?limit=a%2Fb%3Fc" },
	{ "http://h/o", "bob", "limit==x", "limit", "http://h/o?limit=%3Dx" },
	{ "http://h/o", "bob", "limit=a+b", "limit", "http://h/o?limit=a+b" },
	{ "http://h/o", "bob", "limit=a%2Bb", "limit",
	    "http://h/o?limit=a%2Bb" },
	{ "http://h/o", "bob", "limit=%2f%41", "limit",
	    "http://h/o?limit=%2FA" },
	{ "http://h/o", "bob", "q=%C3%A9&q=\xc3\xa9", "q",
	    "http://h/o?q=%C3%A9&q=%C3%A9" },
	{ "http://h/o", "bob", "limit=%zz&limit=2&limit=%00&limit=%4", "limit",
	    "http://h/o?limit=2" },
	{ "http://h/o", "bob", "li%6Dit=5", "limit", "http://h/o?limit=5" },
	{ "http://h/o", "bob", "limit=1&page=2", "page,limit",
	    "http://h/o?page=2&limit=1" },
	{ "http://h/o", "bob", "&&limit=1&", "limit", "http://h/o?limit=1" },
	{ "http://h/o", "bob", "=1&limit", "limit", "http://h/o?limit=" },
	{ "http://h/o", "bob", "limits=1&Limit=2", "limit", "http://h/o" },
	{ "http://h/o", "bob", "", "limit", "http://h/o" },
	{ "http://h/o", "bob", NULL, "limit", "http://h/o" },
	{ "http://h/o", "bob", "limit=1", "", "http://h/o" },
	{ "http://h/o", "bob", "page[size]=3", "page[size]",
	    "http://h/o?page%5Bsize%5D=3" },
};

START_TEST(test_url_expand)
{
	struct url_tmpl	 t;
	char		*params[2], *fwd[4], *list, *got, *p;
	const char	*why;
	size_t		 nfwd = 0;

	ck_assert_int_eq(url_tmpl_parse(expand_cases[_i].x_tmpl, param_names,
	    2, &t, &why), 0);
	params[0] = (char *)expand_cases[_i].x_user;
	params[1] = "42";
	list = xstrdup(expand_cases[_i].x_fwd);
	for (p = strtok(list, ","); p != NULL; p = strtok(NULL, ","))
		fwd[nfwd++] = p;
	got = url_expand(&t, params, 2, expand_cases[_i].x_query, fwd, nfwd);
	ck_assert_str_eq(got, expand_cases[_i].x_want);
	free(got);
	free(list);
	url_tmpl_free(&t);
}
END_TEST

static Suite *
url_suite(void)
{
	Suite	*s = suite_create("url");

	CHECK_TABLE(s, "encode", test_url_encode, encode_cases);
	CHECK_TABLE(s, "decode", test_url_decode, decode_cases);
	CHECK_TABLE(s, "tmpl_parse", test_url_tmpl_parse, tmpl_cases);
	CHECK_TABLE(s, "unknown_param", test_url_unknown_param, unknown_cases);
	CHECK_TABLE(s, "expand", test_url_expand, expand_cases);
	return (s);
}

int
main(void)
{
	return (check_run(url_suite()));
}
