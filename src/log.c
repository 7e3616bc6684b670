/*
 * Logging: the only writer to stderr.  Each line is formatted whole and
 * written with one write(2), so lines from several workers never interleave.
 * Under systemd (JOURNAL_STREAM set) lines carry sd-daemon "<N>" priority
 * prefixes instead of timestamps, since the journal stamps them itself.
 */
#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gatherd.h"

#define LOG_LINE_MAX	4096

/* Written once by main.c before any thread starts; read-only afterwards. */
static int	 log_debug_on;
static int	 log_journal;

enum log_prio { PRIO_ERR = 3, PRIO_WARNING = 4, PRIO_INFO = 6,
	PRIO_DEBUG = 7 };

/* Set up logging; called by main.c before the workers start. */
void
log_init(int debug, int journal)
{
	log_debug_on = debug;
	log_journal = journal || getenv("JOURNAL_STREAM") != NULL;
}

/* Turn debug logging on or off. */
void
log_setverbose(int debug)
{
	log_debug_on = debug;
}

static void	do_log(enum log_prio, const char *, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));

static void
do_log(enum log_prio prio, const char *errstr, const char *fmt, va_list ap)
{
	char		 line[LOG_LINE_MAX];
	size_t		 len = 0;
	int		 n;

	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>", (int)prio);
	else {
		struct timeval	 tv;
		struct tm	 tm;

		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - n, ".%03ld gatherd: ",
		    (long)tv.tv_usec / 1000);
	}
	len = (size_t)n;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n > 0)
		len += (size_t)n;
	if (len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	if (errstr != NULL) {
		n = snprintf(line + len, sizeof(line) - len, ": %s", errstr);
		if (n > 0)
			len += (size_t)n;
		if (len >= sizeof(line) - 1)
			len = sizeof(line) - 2;
	}
	line[len++] = '\n';
	/* A short write to stderr cannot be reported anywhere better. */
	if (write(STDERR_FILENO, line, len) == -1)
		return;
}

/* Log a warning with the current errno's text appended. */
void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	do_log(PRIO_WARNING, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Log a warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	do_log(PRIO_WARNING, NULL, fmt, ap);
	va_end(ap);
}

/* Log an informational line (one per request, startup, reload). */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	do_log(PRIO_INFO, NULL, fmt, ap);
	va_end(ap);
}

/* Log a debug line when -d is given. */
void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	do_log(PRIO_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

/* Log with errno's text and exit: startup failures and broken invariants. */
void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	do_log(PRIO_ERR, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log and exit: startup failures and broken invariants. */
void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	do_log(PRIO_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
