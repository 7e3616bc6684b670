/*
 * rawclient: send raw request bytes to a loopback server exactly as a
 * test wants them framed on the wire, and print the raw reply.
 *
 *	rawclient [-6] [-r] [-v] HOST PORT [-b | -s N] [-c MS] [-t MS]
 *
 * The request is read from stdin; a lone "\n" becomes "\r\n" unless -r.
 * The bytes go out whole, one byte per write about 1 ms apart (-b, with
 * TCP_NODELAY so that each is its own segment), or split once at byte N
 * with a 20 ms pause (-s N).  Then the reply is read until the server
 * closes, or for -c MS only that long before closing first (the client
 * that goes away).  -t bounds the whole wait for the reply (default
 * 5000 ms).  Whatever arrived is written to stdout.  Exit status: 0 when
 * the server closed (or -c ran out), 1 on timeout or error, 2 on usage.
 * -v reports on stderr when the first reply byte came, in ms after the
 * connection was made ("first-byte-ms N"), for tests of server timers.
 *
 * Plain POSIX sockets and poll; nothing else, so that it works the same
 * against any server.  Only loopback addresses are accepted.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netutil.h"

#define RAW_MAX_INPUT		(16 * 1024 * 1024)
#define RAW_MAX_REPLY		(64 * 1024 * 1024)
#define RAW_BYTE_GAP_MS		1
#define RAW_SPLIT_GAP_MS	20
#define RAW_DEFAULT_TIMEOUT_MS	5000

struct buf {
	char		*b_data;
	size_t		 b_len;
	size_t		 b_cap;
	long long	 b_first_ms;	/* when the first byte came, or -1 */
};

struct opts {
	int		 o_family;
	int		 o_rawlf;
	int		 o_bytewise;
	int		 o_verbose;
	long		 o_split;	/* -1: no split */
	long		 o_close_ms;	/* -1: read until EOF */
	long		 o_timeout_ms;
	const char	*o_host;
	const char	*o_port;
};

static void
warnx_(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rawclient: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	size_t cap;

	if (b->b_len + n > b->b_cap) {
		cap = b->b_cap == 0 ? 4096 : b->b_cap;
		while (cap < b->b_len + n)
			cap *= 2;
		if ((b->b_data = realloc(b->b_data, cap)) == NULL) {
			warnx_("out of memory");
			exit(1);
		}
		b->b_cap = cap;
	}
	memcpy(b->b_data + b->b_len, p, n);
	b->b_len += n;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long
parse_ms(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 3600000)
		return -1;
	return v;
}

static void
usage(void)
{
	fprintf(stderr, "usage: rawclient [-6] [-r] [-v] HOST PORT [-b | -s N] "
	    "[-c MS] [-t MS]\n");
	exit(2);
}

/* Options may stand before or after HOST PORT. */
static void
parse_args(int argc, char *argv[], struct opts *o)
{
	int i, npos = 0;

	memset(o, 0, sizeof(*o));
	o->o_family = AF_INET;
	o->o_split = -1;
	o->o_close_ms = -1;
	o->o_timeout_ms = RAW_DEFAULT_TIMEOUT_MS;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-6") == 0)
			o->o_family = AF_INET6;
		else if (strcmp(argv[i], "-r") == 0)
			o->o_rawlf = 1;
		else if (strcmp(argv[i], "-v") == 0)
			o->o_verbose = 1;
		else if (strcmp(argv[i], "-b") == 0)
			o->o_bytewise = 1;
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
			if ((o->o_split = parse_ms(argv[++i])) < 0)
				usage();
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			if ((o->o_close_ms = parse_ms(argv[++i])) < 0)
				usage();
		} else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
			if ((o->o_timeout_ms = parse_ms(argv[++i])) < 0)
				usage();
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			usage();
		else if (npos == 0 && ++npos)
			o->o_host = argv[i];
		else if (npos == 1 && ++npos)
			o->o_port = argv[i];
		else
			usage();
	}
	if (npos != 2 || (o->o_bytewise && o->o_split >= 0))
		usage();
}

/* Read stdin whole; turn each lone "\n" into "\r\n" unless rawlf. */
static void
read_input(struct buf *req, int rawlf)
{
	char chunk[8192];
	ssize_t n, i;
	char prev = '\0';

	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			warnx_("stdin: %s", strerror(errno));
			exit(1);
		}
		for (i = 0; i < n; i++) {
			if (!rawlf && chunk[i] == '\n' && prev != '\r')
				buf_add(req, "\r", 1);
			buf_add(req, &chunk[i], 1);
			prev = chunk[i];
		}
		if (req->b_len > RAW_MAX_INPUT) {
			warnx_("request larger than %d bytes", RAW_MAX_INPUT);
			exit(1);
		}
	}
}

/* Connect without blocking longer than timeout_ms; -1 on failure. */
static int
do_connect(const struct opts *o)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char why[1024];
	int fd, err;

	if (net_resolve(o->o_host, o->o_port, o->o_family, &ss, &len, why,
	    sizeof(why)) == -1) {
		warnx_("%s", why);
		return -1;
	}
	if ((fd = net_socket(ss.ss_family, o->o_bytewise)) == -1) {
		warnx_("socket: %s", strerror(errno));
		return -1;
	}
	err = net_connect_wait(fd, (struct sockaddr *)&ss, len,
	    (int)o->o_timeout_ms);
	if (err != 0) {
		warnx_("connect %s %s: %s", o->o_host, o->o_port,
		    strerror(err));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Wait until deadline (ms, monotonic) for fd to become readable (and
 * writable if want_write), collecting any reply bytes on the way, so that
 * a server that answers early is never lost.  Returns 1 when fd is
 * writable, 0 at the deadline, -1 once the server has closed, -2 on error.
 */
static int
pump(int fd, struct buf *reply, long long deadline, int want_write)
{
	struct pollfd pfd;
	char chunk[16384];
	long long left;
	ssize_t n;

	for (;;) {
		left = deadline - now_ms();
		if (left < 0)
			left = 0;
		pfd.fd = fd;
		pfd.events = POLLIN | (want_write ? POLLOUT : 0);
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)left) == -1) {
			if (errno == EINTR)
				continue;
			warnx_("poll: %s", strerror(errno));
			return -2;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(fd, chunk, sizeof(chunk));
			if (n == 0)
				return -1;
			if (n == -1 && errno != EAGAIN && errno != EINTR) {
				warnx_("read: %s", strerror(errno));
				return -2;
			}
			if (n > 0) {
				if (reply->b_first_ms < 0)
					reply->b_first_ms = now_ms();
				if (reply->b_len + n > RAW_MAX_REPLY) {
					warnx_("reply over %d bytes",
					    RAW_MAX_REPLY);
					return -2;
				}
				buf_add(reply, chunk, n);
			}
			continue;
		}
		if (want_write && (pfd.revents & POLLOUT))
			return 1;
		if (now_ms() >= deadline)
			return 0;
	}
}

/*
 * Send p[0..n) completely: 1 when sent, else what pump() said (0 timeout,
 * -1 the server closed, -2 error).  A server that resets the connection
 * while we send has closed it: what it replied first is in reply.
 */
static int
send_all(int fd, const char *p, size_t n, struct buf *reply, long timeout)
{
	ssize_t w;
	int r;

	while (n > 0) {
		if ((r = pump(fd, reply, now_ms() + timeout, 1)) != 1)
			return r;
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			if (errno == EPIPE || errno == ECONNRESET)
				return -1;
			warnx_("send: %s", strerror(errno));
			return -2;
		}
		p += w;
		n -= (size_t)w;
	}
	return 1;
}

/* Pause for ms while still reading: 1, or what pump() said. */
static int
pause_ms(int fd, struct buf *reply, long ms)
{
	int r;

	r = pump(fd, reply, now_ms() + ms, 0);
	return r == 0 ? 1 : r;
}

/* Send the request as -b or -s asked: 1 when all sent, as send_all(). */
static int
send_request(int fd, const struct opts *o, const struct buf *req,
    struct buf *reply)
{
	size_t i, at;
	int r;

	if (o->o_bytewise) {
		for (i = 0; i < req->b_len; i++) {
			if ((r = send_all(fd, req->b_data + i, 1, reply,
			    o->o_timeout_ms)) != 1)
				return r;
			if (i + 1 < req->b_len && (r = pause_ms(fd, reply,
			    RAW_BYTE_GAP_MS)) != 1)
				return r;
		}
		return 1;
	}
	at = req->b_len;
	if (o->o_split >= 0 && (size_t)o->o_split < req->b_len)
		at = (size_t)o->o_split;
	if ((r = send_all(fd, req->b_data, at, reply, o->o_timeout_ms)) != 1)
		return r;
	if (at == req->b_len)
		return 1;
	if ((r = pause_ms(fd, reply, RAW_SPLIT_GAP_MS)) != 1)
		return r;
	return send_all(fd, req->b_data + at, req->b_len - at, reply,
	    o->o_timeout_ms);
}

int
main(int argc, char *argv[])
{
	struct opts o;
	struct buf req = { NULL, 0, 0, -1 }, reply = { NULL, 0, 0, -1 };
	long long t0;
	size_t off;
	ssize_t w;
	int fd, r, rc = 0;

	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	read_input(&req, o.o_rawlf);
	if ((fd = do_connect(&o)) == -1) {
		free(req.b_data);
		return 1;
	}
	t0 = now_ms();

	/*
	 * Then read until the server closes (-1), the deadline (0) or an
	 * error (-2); with -c, the deadline is ours to close and not a
	 * failure.  A server that closed while we sent has still said
	 * something: it is printed all the same.
	 */
	r = send_request(fd, &o, &req, &reply);
	if (r == 1 && o.o_close_ms >= 0) {
		r = pump(fd, &reply, now_ms() + o.o_close_ms, 0);
		if (r == 0)
			r = -1;
	} else if (r == 1)
		r = pump(fd, &reply, now_ms() + o.o_timeout_ms, 0);
	if (r == 0)
		warnx_("timed out after %ld ms with %zu bytes read",
		    o.o_timeout_ms, reply.b_len);
	if (r != -1)
		rc = 1;
	close(fd);
	if (o.o_verbose && reply.b_first_ms >= 0)
		fprintf(stderr, "first-byte-ms %lld\n", reply.b_first_ms - t0);

	for (off = 0; off < reply.b_len; off += (size_t)w) {
		w = write(STDOUT_FILENO, reply.b_data + off, reply.b_len - off);
		if (w == -1) {
			if (errno == EINTR) {
				w = 0;
				continue;
			}
			return 1;
		}
	}
	free(req.b_data);
	free(reply.b_data);
	return rc;
}
