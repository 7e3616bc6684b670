/*
 * check_util.h: what every unit test shares: one TCase per case table, the
 * runner behind main(), the source tree and whole files from it.
 */
#ifndef CHECK_UTIL_H
#define CHECK_UTIL_H

#include <stddef.h>

#include <check.h>

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* A TCase that runs fn once for each row of the array cases. */
#define CHECK_TABLE(s, name, fn, cases)					\
	check_tcase((s), (name), (fn), 0, (int)NELEM(cases))

/* A TCase that runs fn once. */
#define CHECK_ONE(s, name, fn)	check_tcase((s), (name), (fn), 0, 1)

/* check_util.c */
TCase		*check_tcase(Suite *, const char *, const TTest *, int, int);
int		 check_run(Suite *);
const char	*check_srcdir(void);
char		*check_read_file(const char *, size_t *);

#endif /* CHECK_UTIL_H */
