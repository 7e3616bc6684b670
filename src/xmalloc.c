/*
 * Allocation wrappers that never return NULL: running out of memory is
 * fatal, as in tmux, h2o and Redis, so callers never check.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatherd.h"

/* malloc or die. */
void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		fatal("%s: %zu bytes", __func__, size);
	return (p);
}

/* calloc or die. */
void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if ((p = calloc(nmemb, size)) == NULL)
		fatal("%s: %zu * %zu bytes", __func__, nmemb, size);
	return (p);
}

/* reallocarray or die, with the multiplication checked for overflow. */
void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if (nmemb > SIZE_MAX / size)
		fatalx("%s: %zu * %zu overflows", __func__, nmemb, size);
	if ((p = realloc(ptr, nmemb * size)) == NULL)
		fatal("%s: %zu * %zu bytes", __func__, nmemb, size);
	return (p);
}

/* strdup or die. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("%s", __func__);
	return (p);
}

/* strndup or die. */
char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		fatal("%s", __func__);
	return (p);
}

/* asprintf or die; returns the length. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("%s", __func__);
	return (n);
}
