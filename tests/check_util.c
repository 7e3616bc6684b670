/*
 * check_util.c: the pieces every tests/check_*.c shares, so that each of
 * them holds only its cases.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <check.h>

#include "gatherd.h"
#include "check_util.h"

/*
 * Adds to s a TCase called name that runs fn once for each _i from lo up
 * to hi, and returns it for fixtures or a timeout.
 */
TCase *
check_tcase(Suite *s, const char *name, const TTest *fn, int lo, int hi)
{
	TCase	*tc;

	tc = tcase_create(name);
	tcase_add_loop_test(tc, fn, lo, hi);
	suite_add_tcase(s, tc);
	return (tc);
}

/* main() of a unit test: runs the suite, then frees it; the exit status. */
int
check_run(Suite *s)
{
	SRunner	*sr;
	int	 nfailed;

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nfailed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}

/*
 * The source tree: $top_srcdir as `make check` exports it, or ".".  It is
 * made absolute on the first call, so that a test's chdir does not move
 * it after that.  NULL, with errno set, when it does not resolve.
 */
const char *
check_srcdir(void)
{
	static char	 dir[PATH_MAX];
	const char	*top;

	if (dir[0] == '\0') {
		top = getenv("top_srcdir");
		if (realpath(top != NULL ? top : ".", dir) == NULL) {
			dir[0] = '\0';
			return (NULL);
		}
	}
	return (dir);
}

/*
 * The whole of a file, NUL-terminated, its length in *lenp when lenp is
 * not NULL; the caller frees it.  NULL when it cannot be opened; a file
 * that opens but does not read back whole fails the test.
 */
char *
check_read_file(const char *path, size_t *lenp)
{
	FILE	*fp;
	char	*buf;
	long	 len;

	if ((fp = fopen(path, "rb")) == NULL)
		return (NULL);
	ck_assert_msg(fseek(fp, 0, SEEK_END) == 0, "%s: cannot seek", path);
	len = ftell(fp);
	ck_assert_msg(len >= 0, "%s: no size", path);
	rewind(fp);
	buf = xmalloc((size_t)len + 1);
	ck_assert_msg(fread(buf, 1, (size_t)len, fp) == (size_t)len,
	    "%s: short read", path);
	fclose(fp);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = (size_t)len;
	return (buf);
}
