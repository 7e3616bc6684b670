/*
 * notifyrecv: the receiving end of sd_notify(3) for gatherd's scenarios,
 * standing in for systemd's $NOTIFY_SOCKET.
 *
 *	notifyrecv -s SOCKPATH -o OUTFILE [-t SECONDS]
 *
 * It binds an AF_UNIX SOCK_DGRAM socket at SOCKPATH (a path; an existing
 * socket there is replaced), and appends what every datagram says to
 * OUTFILE, flushed after each datagram, one line per line of the datagram:
 *
 *	MS SEQ PID TEXT
 *
 * MS is when the datagram was received, in ms on CLOCK_MONOTONIC (the
 * clock of sd_notify's MONOTONIC_USEC=, so a test can compare the two);
 * SEQ numbers the datagrams from 1 (the lines of one datagram share it);
 * PID is the sender's pid from SCM_CREDENTIALS (0 when none came); TEXT
 * is the line as sent, with bytes below 0x20 (tab apart) and 0x7f written
 * as \xHH.  An empty datagram gives one line with an empty TEXT; a
 * datagram larger than the buffer is cut, and "notifyrecv: truncated"
 * follows it as its TEXT.  File descriptors a datagram passes (as
 * systemd-notify's BARRIER=1 does) are closed at once.
 *
 * It exits 0 after SECONDS (default 60, at most 3600) or on SIGTERM or
 * SIGINT, once it has written the datagrams already queued (so that a
 * test which stopped the sender, then notifyrecv, sees all it sent), and
 * removes SOCKPATH.  Exit status 1 on an error, 2 on usage.
 * Linux only (SO_PASSCRED, ppoll), like sd_notify itself.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NR_MAX_DGRAM		(64 * 1024)
#define NR_DEFAULT_SECONDS	60
#define NR_MAX_SECONDS		3600
#define NR_MAX_FDS		16	/* passed fds (closed at once) */
#define NR_MAX_DRAIN		1000	/* datagrams written after the end */

static volatile sig_atomic_t	stop;

static void
on_signal(int sig)
{
	stop = 1;
}

static void
warnx_(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "notifyrecv: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Write one line of a datagram, its control bytes escaped. */
static void
put_line(FILE *fp, long long ms, unsigned long seq, long pid,
    const unsigned char *p, size_t n)
{
	size_t	 i;

	fprintf(fp, "%lld %lu %ld ", ms, seq, pid);
	for (i = 0; i < n; i++) {
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			fprintf(fp, "\\x%02x", p[i]);
		else
			putc(p[i], fp);
	}
	putc('\n', fp);
}

/* Write every line of one datagram, then flush. */
static int
put_dgram(FILE *fp, unsigned long seq, long pid, const unsigned char *p,
    size_t n, int truncated)
{
	long long	 ms = now_ms();
	const unsigned char *nl;
	size_t		 len;

	if (n == 0)
		put_line(fp, ms, seq, pid, p, 0);
	while (n > 0) {
		nl = memchr(p, '\n', n);
		len = nl != NULL ? (size_t)(nl - p) : n;
		put_line(fp, ms, seq, pid, p, len);
		if (nl == NULL)
			break;
		p += len + 1;
		n -= len + 1;
	}
	if (truncated)
		put_line(fp, ms, seq, pid,
		    (const unsigned char *)"notifyrecv: truncated", 21);
	return (fflush(fp) == 0 && !ferror(fp) ? 0 : -1);
}

/*
 * Close the fds a datagram passed (sd_notify's FDSTORE=, or the pipe of
 * systemd-notify's BARRIER=1, which waits for it to be closed).
 */
static void
do_close_fds(struct cmsghdr *c)
{
	size_t	 i, n;
	int	 fd;

	n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	for (i = 0; i < n; i++) {
		memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		close(fd);
	}
}

/* Receive one datagram and write it out. */
static int
do_recv(int s, FILE *fp, unsigned char *buf, unsigned long seq)
{
	union {
		struct cmsghdr	 hdr;
		char		 space[CMSG_SPACE(sizeof(struct ucred)) +
		    CMSG_SPACE(NR_MAX_FDS * sizeof(int))];
	} ctl;
	struct iovec	 iov = { buf, NR_MAX_DGRAM };
	struct msghdr	 msg;
	struct cmsghdr	*c;
	struct ucred	 cred;
	ssize_t		 n;
	long		 pid = 0;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.space;
	msg.msg_controllen = sizeof(ctl.space);
	n = recvmsg(s, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == -1)
		return (errno == EAGAIN || errno == EINTR ? 1 : -1);
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(cred))) {
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
			pid = (long)cred.pid;
		} else if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_RIGHTS)
			do_close_fds(c);
	}
	return (put_dgram(fp, seq, pid, buf, (size_t)n,
	    (msg.msg_flags & MSG_TRUNC) != 0));
}

static int
do_bind(const char *path)
{
	struct sockaddr_un	 sun;
	int			 s, one = 1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		warnx_("%s: path too long for a unix socket", path);
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		warnx_("socket: %s", strerror(errno));
		return (-1);
	}
	if (setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == -1)
		warnx_("SO_PASSCRED: %s (pids will be 0)", strerror(errno));
	(void)unlink(path);
	if (bind(s, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		warnx_("bind %s: %s", path, strerror(errno));
		close(s);
		return (-1);
	}
	return (s);
}

static void
usage(void)
{
	fprintf(stderr, "usage: notifyrecv -s SOCKPATH -o OUTFILE "
	    "[-t SECONDS]\n");
	exit(2);
}

/*
 * Serve until the time is up or a signal came.  SIGTERM and SIGINT are
 * blocked but while in ppoll, so that one cannot slip in between the
 * check of the flag and the wait.
 */
static int
do_loop(int s, FILE *fp, long long deadline)
{
	unsigned char	*buf;
	struct pollfd	 pfd = { s, POLLIN, 0 };
	struct timespec	 ts;
	sigset_t	 during;
	unsigned long	 seq = 0;
	unsigned long	 drain;
	long long	 left;
	int		 rc = 0, r;

	if ((buf = malloc(NR_MAX_DGRAM)) == NULL) {
		warnx_("out of memory");
		return (-1);
	}
	sigprocmask(SIG_BLOCK, NULL, &during);
	sigdelset(&during, SIGTERM);
	sigdelset(&during, SIGINT);
	while (!stop && (left = deadline - now_ms()) > 0) {
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		r = ppoll(&pfd, 1, &ts, &during);
		if (r == -1 && errno != EINTR) {
			warnx_("ppoll: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (r <= 0)
			continue;
		r = do_recv(s, fp, buf, seq + 1);
		if (r == -1) {
			warnx_("recvmsg or write: %s", strerror(errno));
			rc = -1;
			break;
		}
		if (r == 0)
			seq++;
	}
	/* What was queued before the end is written too (bounded). */
	for (drain = 0; rc == 0 && drain < NR_MAX_DRAIN; drain++) {
		if ((r = do_recv(s, fp, buf, seq + 1)) != 0) {
			rc = r == -1 ? -1 : 0;
			break;
		}
		seq++;
	}
	free(buf);
	return (rc);
}

int
main(int argc, char *argv[])
{
	struct sigaction sa;
	sigset_t	 block;
	const char	*path = NULL, *out = NULL;
	char		*end;
	FILE		*fp;
	long		 secs = NR_DEFAULT_SECONDS;
	int		 ch, s, rc;

	while ((ch = getopt(argc, argv, "s:o:t:")) != -1) {
		switch (ch) {
		case 's':
			path = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 't':
			errno = 0;
			secs = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    secs < 1 || secs > NR_MAX_SECONDS)
				usage();
			break;
		default:
			usage();
		}
	}
	if (path == NULL || out == NULL || optind != argc)
		usage();

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if ((fp = fopen(out, "a")) == NULL) {
		warnx_("%s: %s", out, strerror(errno));
		return (1);
	}
	if ((s = do_bind(path)) == -1) {
		fclose(fp);
		return (1);
	}
	rc = do_loop(s, fp, now_ms() + secs * 1000LL);
	close(s);
	unlink(path);
	if (fclose(fp) != 0)
		rc = -1;
	return (rc == 0 ? 0 : 1);
}
