/*
 * config.c: every bad file in tests/data/config/bad gives exactly the
 * errors in its .err sibling, good files load field by field, and the
 * example conf/gatherd.yaml loads.  The files are loaded by a path
 * relative to their directory (the tests chdir there), so the .err files
 * name them as "NAME.yaml" in any build tree.  Sources are found through
 * $top_srcdir, as `make check` exports it; the default is ".".
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "gatherd.h"
#include "check_util.h"

#define ERRLEN	8192

static const char *const bad_cases[] = {
	"admin_clash_default_listen", "admin_default_clash", "aliases", "bad_access_log", "bad_admin",
	"bad_duration", "bad_headers", "bad_listen", "bad_name",
	"bad_path", "bad_size", "bad_status", "bad_url", "bad_utf8",
	"bad_values", "bad_workers", "duplicate_endpoint", "duplicate_key",
	"duplicate_upstream", "empty", "expected_list", "expected_mapping",
	"expected_string", "many_errors", "method_not_served",
	"missing_endpoints",
	"missing_required", "root_not_mapping", "syntax", "too_deep",
	"too_many_upstreams", "two_documents", "unknown_key", "unknown_param",
	"unset_env",
};
#define NBAD	NELEM(bad_cases)

/* chdir to a directory under tests/data/config. */
static void
enter(const char *sub)
{
	char	 path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/tests/data/config/%s", check_srcdir(),
	    sub);
	ck_assert_msg(chdir(path) == 0, "chdir %s", path);
}

/* Loads a bad case; the conf must be refused with exactly its .err. */
START_TEST(test_config_bad_errors)
{
	const char		*name = bad_cases[_i];
	struct gatherd_conf	*cf;
	char			 file[128], errfile[128], errbuf[ERRLEN], *want;

	enter("bad");
	unsetenv("GATHERD_TEST_UNSET_VAR");
	snprintf(file, sizeof(file), "%s.yaml", name);
	snprintf(errfile, sizeof(errfile), "%s.err", name);
	ck_assert_msg((want = check_read_file(errfile, NULL)) != NULL, "no %s",
	    errfile);
	cf = config_load(file, errbuf, sizeof(errbuf));
	ck_assert_msg(cf == NULL, "%s loaded", file);
	ck_assert_str_eq(errbuf, want);
	free(want);
}
END_TEST

static int
ends_with(const char *s, const char *suffix)
{
	size_t	 a = strlen(s), b = strlen(suffix);

	return (a >= b && strcmp(s + a - b, suffix) == 0);
}

/* Every file in the bad directory is a case above, with a .err. */
START_TEST(test_config_bad_listed)
{
	DIR		*d;
	struct dirent	*de;
	char		 name[256];
	size_t		 i, n = 0;

	enter("bad");
	ck_assert_ptr_nonnull(d = opendir("."));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		ck_assert_msg(ends_with(de->d_name, ".yaml") ||
		    ends_with(de->d_name, ".err"), "stray %s", de->d_name);
		if (!ends_with(de->d_name, ".yaml"))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)strlen(de->d_name) -
		    5, de->d_name);
		for (i = 0; i < NBAD; i++)
			if (strcmp(bad_cases[i], name) == 0)
				break;
		ck_assert_msg(i < NBAD, "%s is not in bad_cases", name);
		ck_assert_msg(access(strcat(name, ".err"), R_OK) == 0,
		    "no %s", name);
		n++;
	}
	closedir(d);
	ck_assert_uint_eq(n, NBAD);
	ck_assert_uint_ge(n, 20);
}
END_TEST

/* errbuf sizes against many_errors.err: whole lines, then "... more". */
static const struct {
	int	 ov_extra;	/* errlen relative to the full text's length */
	int	 ov_lines;	/* whole lines expected; -1: all, no trailer */
	size_t	 ov_len;	/* or an absolute errlen, when not 0 */
} overflow_cases[] = {
	{ 1, -1, 0 },		/* exactly fits with its NUL */
	{ 0, 9, 0 },		/* one byte short: the last line goes */
	{ 0, 2, 200 },
	{ 0, 0, 17 },		/* room for the trailer alone */
	{ 0, 0, 10 },		/* not even that: truncated trailer */
};

START_TEST(test_config_errbuf_overflow)
{
	char	 errbuf[ERRLEN], want[ERRLEN], *full, *p;
	size_t	 len;
	int	 i;

	enter("bad");
	ck_assert_ptr_nonnull(full = check_read_file("many_errors.err", NULL));
	len = overflow_cases[_i].ov_len;
	if (len == 0)
		len = strlen(full) + overflow_cases[_i].ov_extra;
	ck_assert_ptr_null(config_load("many_errors.yaml", errbuf, len));
	if (overflow_cases[_i].ov_lines == -1)
		strlcpy(want, full, sizeof(want));
	else {
		for (p = full, i = 0; i < overflow_cases[_i].ov_lines; i++)
			p = strchr(p, '\n') + 1;
		snprintf(want, sizeof(want), "%.*s... more errors\n",
		    (int)(p - full), full);
		want[len - 1 < sizeof(want) ? len - 1 : 0] = '\0';
	}
	ck_assert_str_eq(errbuf, want);
	free(full);
}
END_TEST

START_TEST(test_config_missing_file)
{
	char	 errbuf[ERRLEN];

	enter("bad");
	ck_assert_ptr_null(config_load("no-such-file.yaml", errbuf,
	    sizeof(errbuf)));
	ck_assert_str_eq(errbuf, "no-such-file.yaml:1:1: (file): cannot "
	    "open: No such file or directory\n");
	ck_assert_ptr_null(config_load(".", errbuf, sizeof(errbuf)));
	ck_assert_str_eq(errbuf, ".:1:1: (file): cannot read: Is a "
	    "directory\n");
	/* No room at all: nothing is written. */
	ck_assert_ptr_null(config_load("no-such-file.yaml", NULL, 0));
}
END_TEST

static struct gatherd_conf *
load_good(const char *name)
{
	struct gatherd_conf	*cf;
	char			 errbuf[ERRLEN];

	enter("good");
	setenv("GATHERD_TEST_TOKEN", "s3cret", 1);
	setenv("GATHERD_TEST_EMPTY", "", 1);
	cf = config_load(name, errbuf, sizeof(errbuf));
	ck_assert_msg(cf != NULL, "%s: %s", name, errbuf);
	ck_assert_str_eq(errbuf, "");
	return (cf);
}

/* Only the required keys: every other value is its DEFAULT_*. */
START_TEST(test_config_good_defaults)
{
	struct gatherd_conf	*cf = load_good("minimal.yaml");
	const struct limits	*lim = &cf->cf_limits;
	struct upstream_conf	*up;

	ck_assert_int_eq(cf->cf_refs, 1);
	ck_assert_str_eq(cf->cf_file, "minimal.yaml");
	ck_assert_uint_eq(cf->cf_nlisten, 1);
	ck_assert_str_eq(cf->cf_listen[0].la_text, DEFAULT_LISTEN);
	ck_assert_int_eq(cf->cf_workers, DEFAULT_WORKERS);
	ck_assert_ptr_nonnull(cf->cf_admin);
	ck_assert_str_eq(cf->cf_admin->la_text, DEFAULT_ADMIN_LISTEN);
	ck_assert_ptr_null(cf->cf_access_log);
	ck_assert_int_eq(cf->cf_access_fd, -1);
	ck_assert_uint_eq(lim->lim_max_connections, DEFAULT_MAX_CONNECTIONS);
	ck_assert_uint_eq(lim->lim_max_request_head, DEFAULT_MAX_REQUEST_HEAD);
	ck_assert_uint_eq(lim->lim_max_request_body, DEFAULT_MAX_REQUEST_BODY);
	ck_assert_uint_eq(lim->lim_max_upstream_body,
	    DEFAULT_MAX_UPSTREAM_BODY);
	ck_assert_uint_eq(lim->lim_head_timeout_ms, DEFAULT_HEAD_TIMEOUT_MS);
	ck_assert_uint_eq(lim->lim_client_timeout_ms,
	    DEFAULT_CLIENT_TIMEOUT_MS);
	ck_assert_uint_eq(lim->lim_shutdown_timeout_ms,
	    DEFAULT_SHUTDOWN_TIMEOUT_MS);
	ck_assert_uint_eq(cf->cf_nendpoints, 1);
	ck_assert_str_eq(cf->cf_endpoints[0].ep_method, DEFAULT_METHOD);
	ck_assert_uint_eq(cf->cf_endpoints[0].ep_deadline_ms,
	    DEFAULT_DEADLINE_MS);
	ck_assert_int_eq(cf->cf_endpoints[0].ep_merge, MERGE_KEYED);
	ck_assert_uint_eq(cf->cf_endpoints[0].ep_nups, 1);
	up = &cf->cf_endpoints[0].ep_ups[0];
	ck_assert_str_eq(up->up_method, DEFAULT_METHOD);
	ck_assert_int_eq(up->up_required, 0);
	ck_assert_uint_eq(up->up_timeout_ms, DEFAULT_TIMEOUT_MS);
	ck_assert_uint_eq(up->up_connect_timeout_ms,
	    DEFAULT_CONNECT_TIMEOUT_MS);
	ck_assert_str_eq(up->up_default, "null");
	ck_assert_uint_eq(up->up_nok, 1);
	ck_assert_int_eq(up->up_ok[0].sr_lo, DEFAULT_OK_LO);
	ck_assert_int_eq(up->up_ok[0].sr_hi, DEFAULT_OK_HI);
	ck_assert_uint_eq(up->up_nheaders + up->up_nfwd_headers +
	    up->up_nfwd_query, 0);
	config_unref(cf);
}
END_TEST

/* listen, workers and limits as written in full.yaml. */
START_TEST(test_config_good_top)
{
	struct gatherd_conf	*cf = load_good("full.yaml");
	const struct listen_addr *la = cf->cf_listen;

	ck_assert_uint_eq(cf->cf_nlisten, 4);
	ck_assert_int_eq(la[0].la_family, AF_INET);
	ck_assert_str_eq(la[0].la_host, "127.0.0.1");
	ck_assert_uint_eq(la[0].la_port, 8081);
	ck_assert_int_eq(la[1].la_family, AF_INET6);
	ck_assert_str_eq(la[1].la_host, "::1");
	ck_assert_str_eq(la[1].la_text, "[::1]:8082");
	ck_assert_str_eq(la[2].la_host, "127.0.0.1");
	ck_assert_str_eq(la[2].la_text, "localhost:8083");
	ck_assert_int_eq(la[3].la_family, AF_UNIX);
	ck_assert_str_eq(la[3].la_path, "/run/gatherd/test.sock");
	ck_assert_ptr_null(la[3].la_host);
	ck_assert_int_eq(cf->cf_workers, 4);
	ck_assert_int_eq(cf->cf_admin->la_family, AF_INET6);
	ck_assert_uint_eq(cf->cf_admin->la_port, 9092);
	ck_assert_str_eq(cf->cf_access_log, "stderr");
	ck_assert_int_eq(cf->cf_access_fd, STDERR_FILENO);
	ck_assert_uint_eq(cf->cf_limits.lim_max_connections, 500);
	ck_assert_uint_eq(cf->cf_limits.lim_max_request_head, 8192);
	ck_assert_uint_eq(cf->cf_limits.lim_max_request_body, 2000000);
	ck_assert_uint_eq(cf->cf_limits.lim_max_upstream_body, 1ULL << 30);
	ck_assert_uint_eq(cf->cf_limits.lim_head_timeout_ms, 3000);
	ck_assert_uint_eq(cf->cf_limits.lim_client_timeout_ms, 60000);
	ck_assert_uint_eq(cf->cf_limits.lim_shutdown_timeout_ms, 3600000);
	config_unref(cf);
}
END_TEST

/* Endpoints and upstreams: inheritance from defaults, and overrides. */
START_TEST(test_config_good_inherit)
{
	struct gatherd_conf	*cf = load_good("full.yaml");
	struct endpoint		*ep = cf->cf_endpoints;
	struct upstream_conf	*up = ep[0].ep_ups;

	ck_assert_uint_eq(cf->cf_nendpoints, 3);
	ck_assert_str_eq(ep[0].ep_path, "/dashboard/{user}");
	ck_assert_str_eq(ep[0].ep_method, "GET");
	ck_assert_uint_eq(ep[0].ep_deadline_ms, 4000);
	ck_assert_uint_eq(ep[0].ep_nparams, 1);
	ck_assert_str_eq(ep[0].ep_params[0], "user");
	ck_assert_str_eq(ep[1].ep_method, "POST");
	ck_assert_uint_eq(ep[1].ep_deadline_ms, 1500);
	ck_assert_int_eq(ep[1].ep_merge, MERGE_DEEP);
	ck_assert_int_eq(ep[2].ep_merge, MERGE_ARRAY);
	ck_assert_uint_eq(ep[2].ep_nsegs, 0);
	ck_assert_uint_eq(ep[0].ep_nups, 2);
	ck_assert_int_eq(up[0].up_required, 1);
	ck_assert_uint_eq(up[0].up_timeout_ms, 750);
	ck_assert_uint_eq(up[0].up_connect_timeout_ms, 100);
	ck_assert_uint_eq(up[0].up_nok, 2);
	ck_assert_int_eq(up[0].up_ok[1].sr_lo, 304);
	ck_assert_int_eq(up[0].up_ok[1].sr_hi, 304);
	ck_assert_int_eq(up[1].up_required, 0);
	ck_assert_str_eq(up[1].up_method, "POST");
	ck_assert_uint_eq(up[1].up_timeout_ms, 300);
	ck_assert_uint_eq(up[1].up_connect_timeout_ms, 50);
	ck_assert_uint_eq(up[1].up_nok, 2);
	ck_assert_int_eq(up[1].up_ok[1].sr_lo, 404);
	ck_assert_str_eq(ep[1].ep_ups[0].up_name, "a.b-c_d");
	ck_assert_uint_eq(ep[1].ep_ups[0].up_timeout_ms, 750);
	config_unref(cf);
}
END_TEST

/* URL templates, headers with ${VAR}, forward lists. */
START_TEST(test_config_good_upstream)
{
	struct gatherd_conf	*cf = load_good("full.yaml");
	struct upstream_conf	*up = &cf->cf_endpoints[0].ep_ups[1];

	ck_assert_str_eq(up->up_url,
	    "https://orders.internal:8443/v1/orders?user={user}");
	ck_assert_int_eq(up->up_tmpl.t_query, 1);
	ck_assert_uint_eq(up->up_tmpl.t_nparts, 2);
	ck_assert_int_eq(up->up_tmpl.t_parts[1].tp_param, 0);
	ck_assert_uint_eq(up->up_nheaders, 2);
	ck_assert_str_eq(up->up_headers[0].kv_key, "Authorization");
	ck_assert_str_eq(up->up_headers[0].kv_val, "Bearer s3cret");
	ck_assert_str_eq(up->up_headers[1].kv_key, "X-Price");
	ck_assert_str_eq(up->up_headers[1].kv_val, "$5 and .");
	ck_assert_uint_eq(up->up_nfwd_headers, 2);
	ck_assert_str_eq(up->up_fwd_headers[1], "X-Request-Id");
	/* Query names are case-sensitive, header names are not. */
	ck_assert_uint_eq(up->up_nfwd_query, 3);
	ck_assert_str_eq(up->up_fwd_query[0], "limit");
	ck_assert_str_eq(up->up_fwd_query[1], "page");
	ck_assert_str_eq(up->up_fwd_query[2], "Limit");
	ck_assert_str_eq(cf->cf_endpoints[2].ep_ups[0].up_url,
	    "HTTP://127.0.0.1:9003");
	config_unref(cf);
}
END_TEST

/* default: YAML values become compact JSON; quoted scalars stay strings. */
START_TEST(test_config_good_default_json)
{
	struct gatherd_conf	*cf = load_good("full.yaml");

	ck_assert_str_eq(cf->cf_endpoints[0].ep_ups[0].up_default, "null");
	ck_assert_str_eq(cf->cf_endpoints[0].ep_ups[1].up_default,
	    "{\"items\":[],\"total\":0,\"ratio\":1.5,\"note\":\"n/a\","
	    "\"quoted\":\"42\",\"missing\":null,\"ok\":true}");
	ck_assert_str_eq(cf->cf_endpoints[1].ep_ups[0].up_default, "[]");
	ck_assert_str_eq(cf->cf_endpoints[2].ep_ups[0].up_default,
	    "\"plain string\"");
	config_unref(cf);
}
END_TEST

/* The shipped example loads and points at the offline demo's ports. */
START_TEST(test_config_example)
{
	struct gatherd_conf	*cf;
	struct endpoint		*ep;
	char			 path[PATH_MAX * 2], errbuf[ERRLEN];

	snprintf(path, sizeof(path), "%s/conf/gatherd.yaml",
	    check_srcdir());
	cf = config_load(path, errbuf, sizeof(errbuf));
	ck_assert_msg(cf != NULL, "%s", errbuf);
	ck_assert_uint_eq(cf->cf_nendpoints, 1);
	ep = &cf->cf_endpoints[0];
	ck_assert_str_eq(ep->ep_path, "/dashboard/{user}");
	ck_assert_uint_eq(ep->ep_nups, 3);
	ck_assert_str_eq(ep->ep_ups[0].up_url,
	    "http://127.0.0.1:9001/users/{user}");
	ck_assert_str_eq(ep->ep_ups[1].up_url,
	    "http://127.0.0.1:9002/orders/{user}");
	ck_assert_str_eq(ep->ep_ups[2].up_url,
	    "http://127.0.0.1:9003/recommendations/{user}");
	config_unref(cf);
}
END_TEST

/*
 * Files too big to keep in tests/data: written to a temporary file, each
 * must be refused with one error of this text after "FILE:LINE:COL: ".
 */
static const struct {
	const char	*b_head;	/* written once */
	const char	*b_repeat;	/* then this, b_count times */
	size_t		 b_count;
	const char	*b_tail;
	const char	*b_want;
} bounds_cases[] = {
	{ "endpoints: [", "1,", 100000, "1]\n",
	    "(yaml): too many YAML nodes" },
	{ "# ", "padding ", 600000, "\n",
	    "(file): file is larger than 4194304 bytes" },
};

START_TEST(test_config_bounds)
{
	char	 path[] = "/tmp/check_config.XXXXXX", errbuf[ERRLEN], *p;
	FILE	*fp;
	size_t	 i;
	int	 fd;

	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_ptr_nonnull(fp = fdopen(fd, "w"));
	fputs(bounds_cases[_i].b_head, fp);
	for (i = 0; i < bounds_cases[_i].b_count; i++)
		fputs(bounds_cases[_i].b_repeat, fp);
	fputs(bounds_cases[_i].b_tail, fp);
	fclose(fp);
	ck_assert_ptr_null(config_load(path, errbuf, sizeof(errbuf)));
	unlink(path);
	/* One line: FILE:LINE:COL: then the reason. */
	ck_assert_int_eq(strncmp(errbuf, path, strlen(path)), 0);
	ck_assert_ptr_eq(strchr(errbuf, '\n'), errbuf + strlen(errbuf) - 1);
	errbuf[strlen(errbuf) - 1] = '\0';
	ck_assert_ptr_nonnull(p = strstr(errbuf, ": "));
	ck_assert_str_eq(p + 2, bounds_cases[_i].b_want);
}
END_TEST

/* References: the last unref frees (ASan reports a leak otherwise). */
START_TEST(test_config_refcount)
{
	struct gatherd_conf	*cf = load_good("minimal.yaml");

	ck_assert_ptr_eq(config_ref(cf), cf);
	ck_assert_ptr_eq(config_ref(cf), cf);
	ck_assert_int_eq(cf->cf_refs, 3);
	config_unref(cf);
	config_unref(cf);
	ck_assert_int_eq(cf->cf_refs, 1);
	config_unref(cf);
	config_unref(NULL);
}
END_TEST

static const struct {
	int	 ok_status;
	int	 ok_want;	/* with ranges 200-299 and 304 */
} ok_cases[] = {
	{ 199, 0 }, { 200, 1 }, { 204, 1 }, { 299, 1 }, { 300, 0 },
	{ 304, 1 }, { 404, 0 }, { 503, 0 }, { 0, 0 },
};

START_TEST(test_config_ok_status)
{
	struct gatherd_conf	*cf = load_good("full.yaml");
	struct upstream_conf	 none;

	ck_assert_int_eq(config_ok_status(&cf->cf_endpoints[0].ep_ups[0],
	    ok_cases[_i].ok_status), ok_cases[_i].ok_want);
	/* No ranges at all: the built-in default. */
	memset(&none, 0, sizeof(none));
	ck_assert_int_eq(config_ok_status(&none, ok_cases[_i].ok_status),
	    ok_cases[_i].ok_status >= DEFAULT_OK_LO &&
	    ok_cases[_i].ok_status <= DEFAULT_OK_HI);
	config_unref(cf);
}
END_TEST

/* Runs `$GATHERD -t -c file` here; its exit status and output. */
static int
run_gatherd(const char *gatherd, const char *file, char *out, size_t len)
{
	int	 fds[2], status;
	size_t	 used = 0;
	ssize_t	 n;
	pid_t	 pid;

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		execl(gatherd, gatherd, "-t", "-c", file, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (used < len - 1 &&
	    (n = read(fds[0], out + used, len - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/*
 * The real binary agrees: exit 1 and every expected line printed.  Only
 * when $GATHERD names an executable (main.c may not be built yet).
 */
START_TEST(test_config_binary_rejects)
{
	const char	*gatherd = getenv("GATHERD");
	char		 file[128], out[ERRLEN * 2], *want, *line, *nl;

	if (gatherd == NULL || access(gatherd, X_OK) == -1)
		return;
	enter("bad");
	unsetenv("GATHERD_TEST_UNSET_VAR");
	snprintf(file, sizeof(file), "%s.err", bad_cases[_i]);
	ck_assert_ptr_nonnull(want = check_read_file(file, NULL));
	snprintf(file, sizeof(file), "%s.yaml", bad_cases[_i]);
	ck_assert_int_eq(run_gatherd(gatherd, file, out, sizeof(out)), 1);
	for (line = want; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		ck_assert_msg(strstr(out, line) != NULL, "%s: missing \"%s\" "
		    "in:\n%s", file, line, out);
	}
	free(want);
}
END_TEST

START_TEST(test_config_binary_accepts)
{
	const char	*gatherd = getenv("GATHERD");
	char		 path[PATH_MAX * 2], out[ERRLEN];

	if (gatherd == NULL || access(gatherd, X_OK) == -1)
		return;
	snprintf(path, sizeof(path), "%s/conf/gatherd.yaml",
	    check_srcdir());
	ck_assert_int_eq(run_gatherd(gatherd, path, out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "configuration OK") != NULL, "%s", out);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");

	CHECK_TABLE(s, "bad_errors", test_config_bad_errors, bad_cases);
	CHECK_ONE(s, "bad_listed", test_config_bad_listed);
	CHECK_TABLE(s, "errbuf_overflow", test_config_errbuf_overflow,
	    overflow_cases);
	CHECK_ONE(s, "missing_file", test_config_missing_file);
	CHECK_TABLE(s, "bounds", test_config_bounds, bounds_cases);
	CHECK_ONE(s, "good_defaults", test_config_good_defaults);
	CHECK_ONE(s, "good_top", test_config_good_top);
	CHECK_ONE(s, "good_inherit", test_config_good_inherit);
	CHECK_ONE(s, "good_upstream", test_config_good_upstream);
	CHECK_ONE(s, "good_default_json", test_config_good_default_json);
	CHECK_ONE(s, "example", test_config_example);
	CHECK_ONE(s, "refcount", test_config_refcount);
	CHECK_TABLE(s, "ok_status", test_config_ok_status, ok_cases);
	CHECK_TABLE(s, "binary_rejects", test_config_binary_rejects, bad_cases);
	CHECK_ONE(s, "binary_accepts", test_config_binary_accepts);
	return (s);
}

int
main(void)
{
	/* Resolved first, so that a chdir in one test does not move it. */
	if (check_srcdir() == NULL) {
		perror("top_srcdir");
		return (EXIT_FAILURE);
	}
	return (check_run(config_suite()));
}
