/*
 * fuzzclient: send malformed and mutated HTTP/1.x requests to a loopback
 * server, each on its own connection, and check that the server answers
 * every one with a well-formed reply or a close, in time, and stays up.
 *
 *	fuzzclient [-d] [-k] [-v] [-n N] [-s SEED] [-t MS] [-j J]
 *	    [-f FIRST | -i K] HOST PORT
 *
 * Case k (0 <= k < N, default N 500) is built from SEED and k alone, so
 * any case replays on its own with -i K (best with -j 1), and -f FIRST
 * starts the run at case FIRST.  A case starts from one of a few valid
 * requests (a GET with Host, a POST with a Content-Length body, a chunked
 * POST, a pipelined pair of GETs) and gets structural mutations
 * (duplicated or dropped header lines, header values up to 64 KiB,
 * absurd, padded, overflowing or repeated Content-Length,
 * Transfer-Encoding variants and broken chunked bodies: bad sizes,
 * extensions, no final chunk; obs-fold lines, odd methods, separators and
 * versions, HTTP/0.9 and HTTP/2-preface lines, absolute-form, asterisk-form
 * and %-garbage targets, bad header names and bytes, Expect, Upgrade, many
 * headers, a body shorter or longer than declared), then byte mutations
 * (bit flips, inserted NUL/CR/LF/SP/TAB and 0x80-0xff bytes, deletions,
 * duplicated ranges, a CRLF turned into LF or CR, a cut).  It is sent
 * whole, split at random points with pauses of up to 20 ms, or its first
 * bytes one at a time; sometimes the write side is shut down after.
 *
 * The reply is read for -t MS (default 3000) after the last byte sent and
 * checked: what the server sends must be a sequence of well-formed
 * HTTP/1.0 or HTTP/1.1 replies (status line, header lines, a body framed
 * by Content-Length or chunked, none after HEAD), with final statuses
 * 2xx, 4xx or 5xx (an interim 100 is allowed), nothing after a reply that
 * says "Connection: close", and no reply cut short by a close.  A close
 * with no reply at all is fine.  A case is over once the server has
 * closed, or has sent a complete reply and then been quiet for a moment
 * (keep-alive).
 *
 * Exit status 1, with the case, how it was sent, its request and the
 * reply printed escaped, when the server sends anything else, neither
 * answers nor closes in time (a hang), or refuses a connection (it died:
 * the cases in flight and those that just ended are shown, since with
 * -j > 1 any of them may be the cause).  Without -k the first failure
 * ends the run; with -k (keep going) every failure is reported and the
 * run goes on unless the server died.  2 on usage; 0 otherwise, after a
 * line of totals.  -j runs J cases at once (default 8, at most 64); -v
 * prints a line a case (and with -i the request and the reply); -d prints
 * the request bytes of each case to stdout and sends nothing, e.g.
 *	fuzzclient -d -s SEED -i K | rawclient -r HOST PORT
 *
 * Plain POSIX sockets and poll.  Only loopback addresses are accepted.
 * Every loop is bounded: by the number of cases, the sizes below, and a
 * deadline for the whole run.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "netutil.h"

#define FZ_DEFAULT_N		500
#define FZ_MAX_N		1000000
#define FZ_DEFAULT_TIMEOUT_MS	3000
#define FZ_DEFAULT_JOBS		8
#define FZ_MAX_JOBS		64
#define FZ_QUIET_MS		250	/* keep-alive: done after this quiet */
#define FZ_MAX_HEADERS		400
#define FZ_MAX_REQUEST		(256 * 1024)
#define FZ_MAX_REPLY		(1024 * 1024)
#define FZ_MAX_REPLY_HEAD	(64 * 1024)
#define FZ_MAX_SEGMENTS		40
#define FZ_MAX_PAUSE_MS		20
#define FZ_SHOW_REQUEST		6000	/* escaped bytes shown at most */
#define FZ_SHOW_REPLY		2000
#define FZ_RECENT		(2 * FZ_MAX_JOBS)

/* ---------------------------------------------------------------------- */
/* Small helpers */

struct sbuf {
	char		*d;
	size_t		 len;
	size_t		 cap;
};

static void die(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzzclient: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static void
sb_reserve(struct sbuf *b, size_t n)
{
	size_t cap;

	if (b->len + n + 1 <= b->cap)
		return;
	cap = b->cap == 0 ? 64 : b->cap;
	while (cap < b->len + n + 1)
		cap *= 2;
	if ((b->d = realloc(b->d, cap)) == NULL)
		die("out of memory");
	b->cap = cap;
}

static void
sb_add(struct sbuf *b, const void *p, size_t n)
{
	sb_reserve(b, n);
	if (n > 0)
		memcpy(b->d + b->len, p, n);
	b->len += n;
	b->d[b->len] = '\0';
}

static void
sb_adds(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void
sb_addc(struct sbuf *b, int c, size_t n)
{
	sb_reserve(b, n);
	memset(b->d + b->len, c, n);
	b->len += n;
	b->d[b->len] = '\0';
}

static void sb_printf(struct sbuf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	char tmp[512];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		die("vsnprintf failed");
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	sb_add(b, tmp, (size_t)n);
}

static void
sb_clear(struct sbuf *b)
{
	b->len = 0;
	sb_reserve(b, 0);
	b->d[0] = '\0';
}

static void
sb_set(struct sbuf *b, const char *s)
{
	sb_clear(b);
	sb_adds(b, s);
}

static void
sb_insert(struct sbuf *b, size_t at, const void *p, size_t n)
{
	if (at > b->len)
		at = b->len;
	sb_reserve(b, n);
	memmove(b->d + at + n, b->d + at, b->len - at);
	memcpy(b->d + at, p, n);
	b->len += n;
	b->d[b->len] = '\0';
}

static void
sb_delete(struct sbuf *b, size_t at, size_t n)
{
	if (at >= b->len)
		return;
	if (n > b->len - at)
		n = b->len - at;
	memmove(b->d + at, b->d + at + n, b->len - at - n);
	b->len -= n;
	b->d[b->len] = '\0';
}

static void
sb_free(struct sbuf *b)
{
	free(b->d);
	b->d = NULL;
	b->len = b->cap = 0;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Random numbers: splitmix64, so that a case is a function of its seed. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t
rnd(uint64_t *s, size_t n)
{
	return n == 0 ? 0 : (size_t)(rng_next(s) % n);
}

static int
chance(uint64_t *s, unsigned pct)
{
	return rnd(s, 100) < pct;
}

#define PICK(s, a)	((a)[rnd((s), sizeof(a) / sizeof((a)[0]))])

/* ---------------------------------------------------------------------- */
/* Requests: built as parts, mutated, then flattened to bytes */

struct hreq {
	struct sbuf	 method;
	struct sbuf	 target;
	struct sbuf	 version;
	const char	*sep1;		/* between method and target */
	const char	*sep2;		/* between target and version */
	struct sbuf	 hdr[FZ_MAX_HEADERS];	/* lines, without EOL */
	int		 nhdr;
	struct sbuf	 body;
	struct sbuf	 tail;		/* after the message: a second one */
	struct sbuf	 what;		/* the mutations, for the report */
};

/* A case: the request bytes and how they are sent. */
struct fcase {
	unsigned long	 idx;
	struct sbuf	 req;
	size_t		 cut[FZ_MAX_SEGMENTS];	/* segment ends */
	int		 pause[FZ_MAX_SEGMENTS];	/* ms after each */
	int		 nseg;
	int		 shut_wr;
	int		 head_first;	/* the first request is HEAD */
	struct sbuf	 what;
};

static const char *const json_payload = "{\"fuzz\": [1, 2.5, \"three\"]}";

static void
hdr_add(struct hreq *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
hdr_add(struct hreq *r, const char *fmt, ...)
{
	va_list ap;
	char tmp[512];
	int n;

	if (r->nhdr >= FZ_MAX_HEADERS)
		return;
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	sb_clear(&r->hdr[r->nhdr]);
	sb_add(&r->hdr[r->nhdr], tmp, (size_t)n);
	r->nhdr++;
}

/* Insert a copy of line at position at (0..nhdr). */
static void
hdr_insert(struct hreq *r, int at, const char *p, size_t n)
{
	struct sbuf tmp;
	int i;

	if (r->nhdr >= FZ_MAX_HEADERS)
		return;
	if (at < 0 || at > r->nhdr)
		at = r->nhdr;
	tmp = r->hdr[r->nhdr];		/* reuse the spare buffer */
	for (i = r->nhdr; i > at; i--)
		r->hdr[i] = r->hdr[i - 1];
	r->hdr[at] = tmp;
	sb_clear(&r->hdr[at]);
	sb_add(&r->hdr[at], p, n);
	r->nhdr++;
}

static void
hdr_remove(struct hreq *r, int at)
{
	struct sbuf tmp;
	int i;

	if (at < 0 || at >= r->nhdr)
		return;
	tmp = r->hdr[at];
	for (i = at; i + 1 < r->nhdr; i++)
		r->hdr[i] = r->hdr[i + 1];
	r->hdr[r->nhdr - 1] = tmp;
	r->nhdr--;
}

static int
hdr_is(const struct sbuf *h, const char *name)
{
	size_t n = strlen(name);

	return h->len > n && h->d[n] == ':' && strncasecmp(h->d, name, n) == 0;
}

static void
hdr_remove_all(struct hreq *r, const char *name)
{
	int i;

	for (i = r->nhdr - 1; i >= 0; i--)
		if (hdr_is(&r->hdr[i], name))
			hdr_remove(r, i);
}

static void
req_init(struct hreq *r)
{
	memset(r, 0, sizeof(*r));
	r->sep1 = r->sep2 = " ";
}

static void
req_free(struct hreq *r)
{
	int i;

	sb_free(&r->method);
	sb_free(&r->target);
	sb_free(&r->version);
	for (i = 0; i < FZ_MAX_HEADERS; i++)
		sb_free(&r->hdr[i]);
	sb_free(&r->body);
	sb_free(&r->tail);
	sb_free(&r->what);
}

static void
note(struct hreq *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
note(struct hreq *r, const char *fmt, ...)
{
	va_list ap;
	char tmp[160];

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (r->what.len > 0)
		sb_adds(&r->what, "; ");
	sb_adds(&r->what, tmp);
}

/* A chunked encoding of p, in chunks of 1..12 bytes. */
static void
chunk_good(uint64_t *s, struct sbuf *out, const char *p, size_t n, int upper)
{
	size_t k;

	while (n > 0) {
		k = 1 + rnd(s, 12);
		if (k > n)
			k = n;
		sb_printf(out, upper ? "%zX\r\n" : "%zx\r\n", k);
		sb_add(out, p, k);
		sb_adds(out, "\r\n");
		p += k;
		n -= k;
	}
	sb_adds(out, "0\r\n\r\n");
}

/* The four starting points. */
static void
template(uint64_t *s, struct hreq *r)
{
	size_t plen = strlen(json_payload);

	switch (rnd(s, 4)) {
	case 0:
		sb_set(&r->method, "GET");
		sb_set(&r->target, "/x");
		sb_set(&r->version, "HTTP/1.1");
		hdr_add(r, "Host: 127.0.0.1");
		hdr_add(r, "User-Agent: fuzzclient");
		hdr_add(r, "Accept: */*");
		note(r, "GET");
		break;
	case 1:
		sb_set(&r->method, "POST");
		sb_set(&r->target, "/p");
		sb_set(&r->version, "HTTP/1.1");
		hdr_add(r, "Host: 127.0.0.1");
		hdr_add(r, "Content-Type: application/json");
		hdr_add(r, "Content-Length: %zu", plen);
		sb_adds(&r->body, json_payload);
		note(r, "POST");
		break;
	case 2:
		sb_set(&r->method, "POST");
		sb_set(&r->target, "/p");
		sb_set(&r->version, "HTTP/1.1");
		hdr_add(r, "Host: 127.0.0.1");
		hdr_add(r, "Content-Type: application/json");
		hdr_add(r, "Transfer-Encoding: chunked");
		chunk_good(s, &r->body, json_payload, plen, 0);
		note(r, "chunked POST");
		break;
	default:
		sb_set(&r->method, "GET");
		sb_set(&r->target, "/x");
		sb_set(&r->version, "HTTP/1.1");
		hdr_add(r, "Host: 127.0.0.1");
		hdr_add(r, "Accept: */*");
		sb_adds(&r->tail, "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		    "Connection: close\r\n\r\n");
		note(r, "pipelined GET pair");
		break;
	}
}

/* --- structural mutations --- */

static void
m_dup_line(uint64_t *s, struct hreq *r)
{
	int i;

	if (r->nhdr == 0)
		return;
	i = (int)rnd(s, (size_t)r->nhdr);
	hdr_insert(r, (int)rnd(s, (size_t)r->nhdr + 1), r->hdr[i].d,
	    r->hdr[i].len);
	note(r, "duplicated header line %d", i);
}

static void
m_drop_line(uint64_t *s, struct hreq *r)
{
	int i;

	if (r->nhdr == 0)
		return;
	i = (int)rnd(s, (size_t)r->nhdr);
	note(r, "dropped header line %d (%.20s)", i, r->hdr[i].d);
	hdr_remove(r, i);
}

static void
m_huge_value(uint64_t *s, struct hreq *r)
{
	static const size_t sizes[] = { 100, 1000, 3000, 3900, 4050, 4096,
	    4200, 8192, 16384, 32768, 65000, 65536 - 16 };
	static const char *const names[] = { "X-Fuzz", "Cookie", "Host",
	    "User-Agent", "Content-Type", "Accept" };
	const char *name = PICK(s, names);
	size_t n = PICK(s, sizes), i;
	struct sbuf v = { NULL, 0, 0 };
	int c = "aZ9-=%"[rnd(s, 6)];

	sb_printf(&v, "%s: ", name);
	if (chance(s, 70))
		sb_addc(&v, c, n);
	else
		for (i = 0; i < n; i++)
			sb_addc(&v, 0x21 + (int)rnd(s, 0x5e), 1);
	hdr_insert(r, (int)rnd(s, (size_t)r->nhdr + 1), v.d, v.len);
	sb_free(&v);
	note(r, "%s value of %zu bytes", name, n);
}

/* An absurd Content-Length value; "@" stands for the body length. */
static void
cl_value(uint64_t *s, struct sbuf *v, size_t blen)
{
	static const char *const fixed[] = { "-1", "-0", "+@", " @", "@ ",
	    "@ @", "1 @", "0@", "0000000000000000000000@",
	    "18446744073709551615", "18446744073709551616",
	    "99999999999999999999999999999", "9223372036854775807",
	    "9223372036854775808", "4294967297", "0x10", "1e3", "", "@,@",
	    "@, 1", "abc", "16385", "16384", "1000000", "0", "1", "\t@",
	    "@\t", "@\x01", "@.0", "-@" };
	const char *f = PICK(s, fixed);

	sb_clear(v);
	for (; *f != '\0'; f++) {
		if (*f == '@')
			sb_printf(v, "%zu", blen);
		else
			sb_add(v, f, 1);
	}
}

static void
m_content_length(uint64_t *s, struct hreq *r)
{
	struct sbuf v = { NULL, 0, 0 }, line = { NULL, 0, 0 };

	cl_value(s, &v, r->body.len);
	if (chance(s, 60))
		hdr_remove_all(r, "Content-Length");
	sb_printf(&line, "%s:%s%s", chance(s, 90) ? "Content-Length" :
	    "content-length", chance(s, 90) ? " " : "", v.d);
	hdr_insert(r, (int)rnd(s, (size_t)r->nhdr + 1), line.d, line.len);
	note(r, "Content-Length \"%s\"", v.d);
	sb_free(&v);
	sb_free(&line);
}

static void
m_two_content_lengths(uint64_t *s, struct hreq *r)
{
	size_t a = r->body.len, b = chance(s, 50) ? a : rnd(s, 64);

	hdr_remove_all(r, "Content-Length");
	hdr_add(r, "Content-Length: %zu", a);
	hdr_add(r, "Content-Length: %zu", b);
	note(r, "two Content-Length %zu and %zu", a, b);
}

/* A broken or odd chunked encoding of the payload. */
static void
chunk_body(uint64_t *s, struct sbuf *out, const char **what)
{
	static const char *const badsize[] = { "zz", "-5", "0x5", " 5",
	    "5 ", "+5", "fffffffffffffffffff", "ffffffffffffffff",
	    "ffffffff", "0000000005", "5;ext=1", "5;ext=\"q\"", "5 ;x",
	    "5;", "5;;", "5;a=b;c", "5\t", "", "5" };
	const char *p = json_payload;
	size_t n = strlen(p);

	sb_clear(out);
	switch (rnd(s, 10)) {
	case 0:
		*what = "good";
		chunk_good(s, out, p, n, chance(s, 50));
		break;
	case 1:
		*what = "odd size line";
		sb_printf(out, "%s\r\n", PICK(s, badsize));
		sb_add(out, p, 5);
		sb_adds(out, "\r\n0\r\n\r\n");
		break;
	case 2:
		*what = "size larger than the data";
		sb_printf(out, "%zx\r\n", n + 1 + rnd(s, 40));
		sb_add(out, p, n);
		sb_adds(out, "\r\n0\r\n\r\n");
		break;
	case 3:
		*what = "size smaller than the data";
		sb_printf(out, "%zx\r\n", rnd(s, n));
		sb_add(out, p, n);
		sb_adds(out, "\r\n0\r\n\r\n");
		break;
	case 4:
		*what = "no final chunk";
		sb_printf(out, "%zx\r\n", n);
		sb_add(out, p, n);
		sb_adds(out, "\r\n");
		break;
	case 5:
		*what = "trailers";
		sb_printf(out, "%zx\r\n", n);
		sb_add(out, p, n);
		sb_adds(out, "\r\n0\r\nX-Trailer: 1\r\nContent-Length: 9"
		    "\r\n\r\n");
		break;
	case 6:
		*what = "no CRLF after the data";
		sb_printf(out, "%zx\r\n", n);
		sb_add(out, p, n);
		sb_adds(out, "0\r\n\r\n");
		break;
	case 7:
		*what = "bare LF";
		sb_printf(out, "%zx\n", n);
		sb_add(out, p, n);
		sb_adds(out, "\n0\n\n");
		break;
	case 8:
		/* Over a 16 KiB body limit: 0x5000 bytes of data. */
		*what = "chunk of 20480 bytes";
		sb_adds(out, "5000\r\n");
		sb_addc(out, 'c', 0x5000);
		sb_adds(out, "\r\n0\r\n\r\n");
		break;
	default:
		*what = "zero chunk first, then data";
		sb_adds(out, "0\r\n\r\n");
		sb_printf(out, "%zx\r\n", n);
		sb_add(out, p, n);
		sb_adds(out, "\r\n0\r\n\r\n");
		break;
	}
}

static void
m_transfer_encoding(uint64_t *s, struct hreq *r)
{
	static const char *const te[] = { "chunked", "Chunked", "CHUNKED",
	    "chunked, gzip", "gzip, chunked", "gzip", "identity",
	    "chunked, chunked", " chunked", "chunked ", "xchunked",
	    "chunkedx", "chunked;q=0", "chunked\t", "", "chunk",
	    "deflate,chunked", "chunked,", ",chunked" };
	const char *v = PICK(s, te), *how = "kept";
	struct sbuf line = { NULL, 0, 0 };

	if (chance(s, 70))
		hdr_remove_all(r, "Transfer-Encoding");
	if (chance(s, 60))
		hdr_remove_all(r, "Content-Length");
	sb_printf(&line, "Transfer-Encoding: %s", v);
	hdr_insert(r, (int)rnd(s, (size_t)r->nhdr + 1), line.d, line.len);
	sb_free(&line);
	if (chance(s, 75))
		chunk_body(s, &r->body, &how);
	note(r, "Transfer-Encoding \"%s\", body %s", v, how);
}

static void
m_obs_fold(uint64_t *s, struct hreq *r)
{
	static const char *const fold[] = { " folded", "\tfolded value",
	    " ", "\t", "  : not a header", " Host: 127.0.0.1",
	    " chunked" };
	const char *f = PICK(s, fold);
	int at = r->nhdr == 0 ? 0 : 1 + (int)rnd(s, (size_t)r->nhdr);

	hdr_insert(r, at, f, strlen(f));
	note(r, "obs-fold line \"%s\" at %d", f, at);
}

static void
m_method(uint64_t *s, struct hreq *r)
{
	static const char *const m[] = { "GET", "POST", "HEAD", "PUT",
	    "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH", "PRI", "get",
	    "GeT", "G", "", "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
	    "M-SEARCH", "PROPFIND", "SOURCE", "LINK", "PURGE", "GET GET",
	    "POST\x01" };

	sb_set(&r->method, PICK(s, m));
	note(r, "method \"%s\"", r->method.d);
}

/* A path of %-encoding garbage. */
static void
pct_garbage(uint64_t *s, struct sbuf *t)
{
	static const char *const bit[] = { "%", "%2", "%zz", "%00", "%ff",
	    "%2F", "%2f", "%25", "a", "/", "%%", "%0d%0a", "%C0%AE", "%u0041",
	    "%20", "+", "?", "&", "=", "#", "..", "%2e%2e", ";", "{", "}",
	    "%7B", "\\" };
	size_t n = 1 + rnd(s, 20), i;

	sb_clear(t);
	sb_adds(t, chance(s, 50) ? "/x/" : "/");
	for (i = 0; i < n; i++)
		sb_adds(t, PICK(s, bit));
}

static void
m_target(uint64_t *s, struct hreq *r)
{
	static const char *const t[] = { "/x", "*", "http://127.0.0.1/x",
	    "http://127.0.0.1:1/x?a=1", "HTTP://EXAMPLE.ORG/x",
	    "https://example.org/p", "//x", "/x?%zz", "/%00", "/%", "/%2",
	    "/%zz/%0a", "/%ff%fe%fd", "/x#frag", "", "/x y",
	    "/../../../etc/passwd", "/%2e%2e/%2e%2e/x", "/x?a=%%%&b=%",
	    "/x/%25/%2F", "127.0.0.1:80", "/p", "/x/", "/X", "/x;p=1",
	    "/\xff\xfe", "/%u0041", "/x%20y", "/%C0%AE%C0%AE/", "/x\t",
	    "http://[::1]/x", "http://user:pw@127.0.0.1/x", "http:/x",
	    "/x?" };

	switch (rnd(s, 4)) {
	case 0:
		pct_garbage(s, &r->target);
		break;
	case 1:
		sb_set(&r->target, "/");
		sb_addc(&r->target, "ax%/"[rnd(s, 4)], 100 + rnd(s, 6000));
		break;
	default:
		sb_set(&r->target, PICK(s, t));
		break;
	}
	note(r, "target \"%.60s\"%s", r->target.d,
	    r->target.len > 60 ? "..." : "");
}

static void
m_version(uint64_t *s, struct hreq *r)
{
	static const char *const v[] = { "HTTP/1.1", "HTTP/1.0", "HTTP/0.9",
	    "HTTP/2.0", "HTTP/2", "HTTP/1.2", "HTTP/9.9", "HTTP/1",
	    "HTTP/11.1", "http/1.1", "", "HTTP/1.1 x", "HTTP/1.10",
	    "HTTP/01.1", "HTTP/1.1\t", "HTTX/1.1", "HTTP/3.0", "HTTP/",
	    "HTTP/1.", "HTTP/1.1 " };

	sb_set(&r->version, PICK(s, v));
	note(r, "version \"%s\"", r->version.d);
}

static void
m_separators(uint64_t *s, struct hreq *r)
{
	static const char *const sep[] = { " ", "  ", "\t", "", " \t",
	    "\x0b" };

	r->sep1 = PICK(s, sep);
	r->sep2 = PICK(s, sep);
	note(r, "request line separators");
}

static void
m_http09(uint64_t *s, struct hreq *r)
{
	sb_set(&r->method, "GET");
	sb_set(&r->version, "");
	r->sep2 = "";
	if (chance(s, 60))
		r->nhdr = 0;
	r->body.len = 0;
	note(r, "HTTP/0.9 line%s", r->nhdr == 0 ? ", no headers" : "");
}

static void
m_h2_preface(uint64_t *s, struct hreq *r)
{
	/* A SETTINGS frame with no settings, then a PING. */
	static const char frames[] = "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	    "\x00\x00\x08\x06\x00\x00\x00\x00\x00" "01234567";

	sb_set(&r->method, "PRI");
	sb_set(&r->target, "*");
	sb_set(&r->version, "HTTP/2.0");
	r->sep1 = r->sep2 = " ";
	r->nhdr = 0;
	r->body.len = 0;
	sb_adds(&r->body, "SM\r\n\r\n");
	if (chance(s, 60))
		sb_add(&r->body, frames, sizeof(frames) - 1);
	note(r, "HTTP/2 preface");
}

static void
m_bad_header(uint64_t *s, struct hreq *r)
{
	static const char *const bad[] = { "NoColonHere", ": empty-name",
	    "Bad Name: x", "X-Ctl\x01: x", "X-High\xff: x", "X-Val: \x80\xff",
	    "X-CR: a\rb", "X-Empty:", "X-Sp:   ", "Host : 127.0.0.1",
	    "Host\t: 127.0.0.1", "Content-Length : 0",
	    "Transfer-Encoding : chunked", "X:y", "X-Colons: ::::",
	    "(): x", "X-Q\": x", "X-Lf\n: x", "X-Nul: a" };
	const char *b;
	int i;

	if (r->nhdr > 0 && chance(s, 25)) {
		/* Whitespace before the colon of an existing line. */
		i = (int)rnd(s, (size_t)r->nhdr);
		b = memchr(r->hdr[i].d, ':', r->hdr[i].len);
		if (b != NULL) {
			sb_insert(&r->hdr[i], (size_t)(b - r->hdr[i].d),
			    chance(s, 50) ? " " : "\t", 1);
			note(r, "whitespace before the colon of line %d", i);
			return;
		}
	}
	b = PICK(s, bad);
	if (strcmp(b, "X-Nul: a") == 0) {
		/* NUL in a value: strlen would stop there. */
		hdr_insert(r, (int)rnd(s, (size_t)r->nhdr + 1), "X-Nul: a\0b",
		    10);
	} else
		hdr_insert(r, (int)rnd(s, (size_t)r->nhdr + 1), b, strlen(b));
	note(r, "header line \"%s\"", b);
}

static void
m_expect(uint64_t *s, struct hreq *r)
{
	static const char *const e[] = { "100-continue", "100-Continue",
	    " 100-continue ", "nonsense", "100-continue, foo" };
	const char *v = PICK(s, e);

	hdr_add(r, "Expect: %s", v);
	note(r, "Expect \"%s\"", v);
}

static void
m_connection(uint64_t *s, struct hreq *r)
{
	switch (rnd(s, 5)) {
	case 0:
		hdr_add(r, "Connection: close");
		note(r, "Connection: close");
		break;
	case 1:
		hdr_add(r, "Connection: keep-alive");
		note(r, "Connection: keep-alive");
		break;
	case 2:
		hdr_add(r, "Connection: Upgrade");
		hdr_add(r, "Upgrade: websocket");
		note(r, "Upgrade: websocket");
		break;
	case 3:
		hdr_add(r, "Connection: Upgrade, HTTP2-Settings");
		hdr_add(r, "Upgrade: h2c");
		hdr_add(r, "HTTP2-Settings: AAMAAABkAAQAAP__");
		note(r, "Upgrade: h2c");
		break;
	default:
		hdr_add(r, "Connection: close, close, keep-alive, te");
		note(r, "Connection with a list");
		break;
	}
}

static void
m_host(uint64_t *s, struct hreq *r)
{
	static const char *const h[] = { "", " ", "[::1", "a b",
	    "example.org:99999", "\xff\xfe", "127.0.0.1:0", "@", "x:y:z",
	    "127.0.0.1, example.org" };
	const char *v;

	switch (rnd(s, 3)) {
	case 0:
		hdr_remove_all(r, "Host");
		note(r, "no Host");
		break;
	case 1:
		hdr_add(r, "Host: example.org");
		note(r, "a second Host");
		break;
	default:
		v = PICK(s, h);
		hdr_remove_all(r, "Host");
		hdr_add(r, "Host: %s", v);
		note(r, "Host \"%s\"", v);
		break;
	}
}

static void
m_many_headers(uint64_t *s, struct hreq *r)
{
	size_t n = 20 + rnd(s, 300), i;

	for (i = 0; i < n; i++)
		hdr_add(r, "X-H%zu: %zu", i, i);
	note(r, "%zu more headers", n);
}

static void
m_body_length(uint64_t *s, struct hreq *r)
{
	size_t n;

	if (r->body.len > 0 && chance(s, 50)) {
		n = rnd(s, r->body.len);
		note(r, "body cut to %zu of %zu bytes", n, r->body.len);
		r->body.len = n;
		r->body.d[n] = '\0';
	} else {
		n = 1 + rnd(s, chance(s, 80) ? 64 : 20000);
		sb_addc(&r->body, 'b', n);
		note(r, "%zu more body bytes", n);
	}
}

typedef void (*mutator)(uint64_t *, struct hreq *);

static const mutator mutators[] = {
	m_dup_line, m_dup_line, m_drop_line, m_drop_line, m_huge_value,
	m_content_length, m_content_length, m_two_content_lengths,
	m_transfer_encoding, m_transfer_encoding, m_obs_fold, m_method,
	m_target, m_target, m_version, m_separators, m_http09, m_h2_preface,
	m_bad_header, m_bad_header, m_expect, m_connection, m_host,
	m_many_headers, m_body_length
};

/* --- byte mutations, on the flat request --- */

static void
byte_mutate(uint64_t *s, struct sbuf *b, struct sbuf *what)
{
	static const char special[] = { '\0', '\r', '\n', ' ', '\t', ':',
	    '%', '\x7f' };
	size_t at, n;
	char c, *crlf;
	const char *w;

	if (b->len == 0)
		return;
	at = rnd(s, b->len);
	switch (rnd(s, 10)) {
	case 0:
		b->d[at] ^= (char)(1 << rnd(s, 8));
		w = "flipped a bit";
		break;
	case 1:
		b->d[at] = (char)rnd(s, 256);
		w = "replaced a byte";
		break;
	case 2:
		c = PICK(s, special);
		sb_insert(b, at, &c, 1);
		w = "inserted a control byte";
		break;
	case 3:
		c = (char)(0x80 + rnd(s, 0x80));
		sb_insert(b, at, &c, 1);
		w = "inserted a byte 0x80-0xff";
		break;
	case 4:
		sb_delete(b, at, 1);
		w = "deleted a byte";
		break;
	case 5:
		sb_delete(b, at, 1 + rnd(s, 32));
		w = "deleted a range";
		break;
	case 6:
		n = 1 + rnd(s, 64);
		if (n > b->len - at)
			n = b->len - at;
		{
			struct sbuf cp = { NULL, 0, 0 };

			sb_add(&cp, b->d + at, n);
			sb_insert(b, at, cp.d, cp.len);
			sb_free(&cp);
		}
		w = "duplicated a range";
		break;
	case 7:
	case 8:
		/* A CRLF from at on (or the first one) loses a byte. */
		crlf = b->len - at >= 2 ? memmem(b->d + at, b->len - at,
		    "\r\n", 2) : NULL;
		if (crlf == NULL)
			crlf = memmem(b->d, b->len, "\r\n", 2);
		if (crlf == NULL)
			return;
		sb_delete(b, (size_t)(crlf - b->d) + (rnd(s, 2) ? 0 : 1), 1);
		w = "a CRLF became LF or CR";
		break;
	default:
		b->len = at;
		b->d[at] = '\0';
		w = "truncated";
		break;
	}
	sb_printf(what, "; %s at %zu", w, at);
}

static void
flatten(const struct hreq *r, struct sbuf *out)
{
	int i;

	sb_add(out, r->method.d, r->method.len);
	sb_adds(out, r->sep1);
	sb_add(out, r->target.d, r->target.len);
	sb_adds(out, r->sep2);
	sb_add(out, r->version.d, r->version.len);
	sb_adds(out, "\r\n");
	for (i = 0; i < r->nhdr; i++) {
		sb_add(out, r->hdr[i].d, r->hdr[i].len);
		sb_adds(out, "\r\n");
	}
	sb_adds(out, "\r\n");
	sb_add(out, r->body.d, r->body.len);
	sb_add(out, r->tail.d, r->tail.len);
}

/* Build case idx of seed: the request bytes and how they are sent. */
static void
case_build(uint64_t seed, unsigned long idx, struct fcase *c)
{
	struct hreq r;
	uint64_t s = seed ^ ((uint64_t)(idx + 1) * 0xd1b54a32d192ed03ULL);
	size_t n, i, at, prev;
	int k;

	rng_next(&s);
	memset(c, 0, sizeof(*c));
	c->idx = idx;
	req_init(&r);
	sb_reserve(&r.method, 0);
	sb_reserve(&r.target, 0);
	sb_reserve(&r.version, 0);
	template(&s, &r);
	n = chance(&s, 8) ? 0 : 1 + rnd(&s, chance(&s, 20) ? 6 : 3);
	for (i = 0; i < n; i++)
		PICK(&s, mutators)(&s, &r);
	flatten(&r, &c->req);
	sb_add(&c->what, r.what.d, r.what.len);
	n = chance(&s, 50) || c->req.len > 20000 ? 0 : 1 + rnd(&s, 4);
	if (n == 0 && r.what.len > 0 && strchr(r.what.d, ';') == NULL &&
	    chance(&s, 70))
		n = 1;		/* the bare template is rare */
	for (i = 0; i < n; i++)
		byte_mutate(&s, &c->req, &c->what);
	if (c->req.len > FZ_MAX_REQUEST) {
		c->req.len = FZ_MAX_REQUEST;
		c->req.d[c->req.len] = '\0';
	}
	c->head_first = c->req.len >= 5 && memcmp(c->req.d, "HEAD ", 5) == 0;

	/* The send plan: whole, split at a few points, or byte by byte. */
	k = 0;
	switch (rnd(&s, 10)) {
	case 0:
		/* The first few bytes one by one, then the rest. */
		n = c->req.len < 24 ? c->req.len : 24;
		for (i = 1; i <= n && k < FZ_MAX_SEGMENTS - 1; i++) {
			c->cut[k] = i;
			c->pause[k++] = 1;
		}
		break;
	case 1: case 2: case 3: case 4:
		n = 1 + rnd(&s, 6);
		prev = 0;
		for (i = 0; i < n && k < FZ_MAX_SEGMENTS - 1; i++) {
			if (c->req.len <= prev + 1)
				break;
			at = prev + 1 + rnd(&s, (c->req.len - prev - 1) /
			    (n - i) + 1);
			if (at >= c->req.len)
				break;
			c->cut[k] = at;
			c->pause[k++] = 1 + (int)rnd(&s, FZ_MAX_PAUSE_MS);
			prev = at;
		}
		break;
	default:
		break;
	}
	c->cut[k] = c->req.len;
	c->pause[k++] = 0;
	c->nseg = k;
	c->shut_wr = chance(&s, 10);
	req_free(&r);
}

static void
case_free(struct fcase *c)
{
	sb_free(&c->req);
	sb_free(&c->what);
}

/* ---------------------------------------------------------------------- */
/* Printing, escaped */

static void
put_escaped(FILE *f, const char *d, size_t len, size_t max)
{
	size_t i, run, shown = 0;
	unsigned char c;

	for (i = 0; i < len && shown < max; i += run) {
		c = (unsigned char)d[i];
		for (run = 1; i + run < len && d[i + run] == d[i]; run++)
			;
		if (run >= 16) {
			fprintf(f, "\\{%zu x ", run);
		} else
			run = 1;
		if (c == '\\')
			fputs("\\\\", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\n')
			fputs(run > 1 ? "\\n" : "\\n\n    ", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
		if (run > 1)
			fputc('}', f);
		shown += run > 1 ? 12 : 1;
	}
	if (i < len)
		fprintf(f, "\\{... %zu more bytes}", len - i);
	fputc('\n', f);
}

static void
put_case(FILE *f, const struct fcase *c)
{
	int k;

	fprintf(f, "  mutations: %s\n", c->what.d != NULL ? c->what.d : "");
	fprintf(f, "  sent as: ");
	for (k = 0; k + 1 < c->nseg; k++)
		if (c->cut[k] != (size_t)k + 1 || c->pause[k] != 1)
			break;
	if (c->nseg == 1)
		fprintf(f, "one write");
	else if (k + 1 == c->nseg)
		fprintf(f, "the first %d bytes one at a time, 1 ms apart, "
		    "then the rest", k);
	else
		for (k = 0; k + 1 < c->nseg; k++)
			fprintf(f, "%s%zu (+%d ms)", k ? ", " : "cut at ",
			    c->cut[k], c->pause[k]);
	fprintf(f, "%s\n", c->shut_wr ? ", then shutdown(SHUT_WR)" : "");
	fprintf(f, "  request (%zu bytes, escaped; \\{N x c} is c N times):"
	    "\n    ", c->req.len);
	put_escaped(f, c->req.d, c->req.len, FZ_SHOW_REQUEST);
}

/* ---------------------------------------------------------------------- */
/* Replies */

enum verdict { V_PARTIAL, V_COMPLETE, V_BAD };

struct replies {
	int		 nfinal;	/* complete final replies */
	int		 first_status;	/* of the first final reply, or 0 */
	int		 closing;	/* the last said Connection: close */
	int		 until_close;	/* its body runs to the close */
	char		 why[160];
	size_t		 at;		/* where it went wrong */
};

static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum verdict
bad(struct replies *v, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum verdict
bad(struct replies *v, size_t at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
	v->at = at;
	return V_BAD;
}

/*
 * Is p[0..n) a good status line without its CRLF, or (partial) could it
 * still become one?
 */
static int
status_prefix_ok(const char *p, size_t n, int partial)
{
	static const char pat[] = "HTTP/1.# ### ";
	size_t i;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if (i < sizeof(pat) - 1) {
			if (pat[i] == '#' ? (c < '0' || c > '9') : c != pat[i])
				return 0;
		} else if (c != '\t' && (c < 0x20 || c == 0x7f))
			return partial && c == '\r' && i == n - 1;
	}
	return 1;
}

/* A header value: is token (case-insensitive) one of its list items? */
static int
list_has(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token), i = 0, j;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		for (j = i; j < n && v[j] != ','; j++)
			;
		while (j > i && (v[j - 1] == ' ' || v[j - 1] == '\t'))
			j--;
		if (j - i == tl && strncasecmp(v + i, token, tl) == 0)
			return 1;
		while (i < n && v[i] != ',')
			i++;
	}
	return 0;
}

/*
 * Check d[0..len): a sequence of well-formed replies, the last perhaps
 * not complete yet (V_PARTIAL).  The first final reply has no body when
 * head_first.
 */
static enum verdict
check_replies(const char *d, size_t len, int head_first, struct replies *v)
{
	const char *p, *eol, *colon, *e;
	size_t pos = 0, hstart, ln, i, need;
	unsigned long long cl, clv, csize;
	int status, has_cl, chunked, te, nobody, k;
	long long head_cl = -1;		/* a HEAD reply's Content-Length */

	memset(v, 0, sizeof(*v));
	while (pos < len) {
		if (v->closing && head_cl >= 0 && len - pos == (size_t)head_cl)
			return bad(v, pos, "the reply to a HEAD request has a "
			    "body (its %lld bytes of Content-Length)", head_cl);
		if (v->closing)
			return bad(v, pos, "bytes after a reply that said "
			    "Connection: close");
		v->until_close = 0;
		p = d + pos;
		if ((eol = memmem(p, len - pos, "\r\n", 2)) == NULL) {
			if (!status_prefix_ok(p, len - pos, 1))
				return bad(v, pos, "not an HTTP/1.x status "
				    "line");
			if (len - pos > 8192)
				return bad(v, pos, "status line over 8 KiB");
			return V_PARTIAL;
		}
		ln = (size_t)(eol - p);
		if (ln < 13 || !status_prefix_ok(p, ln, 0))
			return bad(v, pos, "not an HTTP/1.x status line");
		if (p[7] != '0' && p[7] != '1')
			return bad(v, pos, "HTTP/1.%c status line", p[7]);
		status = (p[9] - '0') * 100 + (p[10] - '0') * 10 +
		    (p[11] - '0');
		if (status != 100 && !(status >= 200 && status <= 299) &&
		    !(status >= 400 && status <= 599))
			return bad(v, pos, "status %d", status);
		/* Header lines, up to the empty one. */
		hstart = pos;
		pos += ln + 2;
		has_cl = chunked = te = 0;
		cl = 0;
		for (k = 0;; k++) {
			if (pos - hstart > FZ_MAX_REPLY_HEAD)
				return bad(v, hstart, "reply head over 64 KiB");
			p = d + pos;
			if ((eol = memmem(p, len - pos, "\r\n", 2)) == NULL) {
				for (i = 0; i < len - pos; i++)
					if (p[i] == '\n' || (p[i] == '\r' &&
					    i + 1 < len - pos))
						return bad(v, pos + i, "bare "
						    "CR or LF in the reply "
						    "head");
				return V_PARTIAL;
			}
			ln = (size_t)(eol - p);
			pos += ln + 2;
			if (ln == 0)
				break;
			if ((colon = memchr(p, ':', ln)) == NULL ||
			    colon == p)
				return bad(v, (size_t)(p - d), "reply header "
				    "line without a name and a colon");
			for (e = p; e < colon; e++)
				if (!is_tchar((unsigned char)*e))
					return bad(v, (size_t)(p - d), "bad "
					    "reply header name");
			for (e = colon + 1; e < p + ln; e++)
				if ((unsigned char)*e < 0x20 ? *e != '\t' :
				    *e == 0x7f)
					return bad(v, (size_t)(e - d), "control "
					    "byte in a reply header value");
			e = colon + 1;
			i = (size_t)(p + ln - e);
			while (i > 0 && (*e == ' ' || *e == '\t')) {
				e++;
				i--;
			}
			while (i > 0 && (e[i - 1] == ' ' || e[i - 1] == '\t'))
				i--;
			if (colon - p == 14 &&
			    strncasecmp(p, "Content-Length", 14) == 0) {
				if (i == 0 || i > 18)
					return bad(v, (size_t)(p - d), "bad "
					    "Content-Length in the reply");
				for (clv = 0; i > 0; e++, i--) {
					if (*e < '0' || *e > '9')
						return bad(v, (size_t)(p - d),
						    "bad Content-Length in "
						    "the reply");
					clv = clv * 10 + (unsigned)(*e - '0');
				}
				if (has_cl && clv != cl)
					return bad(v, (size_t)(p - d), "two "
					    "Content-Length in the reply");
				has_cl = 1;
				cl = clv;
			} else if (colon - p == 17 && strncasecmp(p,
			    "Transfer-Encoding", 17) == 0) {
				te = 1;
				chunked = list_has(e, i, "chunked");
			} else if (colon - p == 10 &&
			    strncasecmp(p, "Connection", 10) == 0 &&
			    list_has(e, i, "close") && status >= 200)
				v->closing = 1;
		}
		if (te && has_cl)
			return bad(v, hstart, "reply with both Content-Length "
			    "and Transfer-Encoding");
		if (te && !chunked)
			return bad(v, hstart, "reply Transfer-Encoding is not "
			    "chunked");
		if (status < 200)
			continue;		/* interim: no body */
		nobody = status == 204 || (head_first && v->nfinal == 0);
		head_cl = -1;
		if (nobody) {
			/* A HEAD reply: the next bytes start a reply. */
			if (has_cl && status != 204)
				head_cl = (long long)cl;
		} else if (chunked) {
			for (k = 0;; k++) {
				p = d + pos;
				if ((eol = memmem(p, len - pos, "\r\n", 2)) ==
				    NULL)
					return V_PARTIAL;
				ln = (size_t)(eol - p);
				for (csize = 0, i = 0; i < ln && i < 15; i++) {
					char h = p[i];
					int x = h >= '0' && h <= '9' ?
					    h - '0' : h >= 'a' && h <= 'f' ?
					    h - 'a' + 10 : h >= 'A' && h <= 'F' ?
					    h - 'A' + 10 : -1;

					if (x < 0)
						break;
					csize = csize * 16 + (unsigned)x;
				}
				if (i == 0 || (i < ln && p[i] != ';'))
					return bad(v, pos, "bad chunk size "
					    "line in the reply");
				pos += ln + 2;
				if (csize == 0)
					break;
				need = (size_t)csize + 2;
				if (csize > FZ_MAX_REPLY || len - pos < need)
					return V_PARTIAL;
				if (memcmp(d + pos + csize, "\r\n", 2) != 0)
					return bad(v, pos + csize, "chunk "
					    "data not followed by CRLF");
				pos += need;
			}
			/* Trailers, up to the empty line. */
			for (;;) {
				p = d + pos;
				if ((eol = memmem(p, len - pos, "\r\n", 2)) ==
				    NULL)
					return V_PARTIAL;
				pos += (size_t)(eol - p) + 2;
				if (eol == p)
					break;
			}
		} else if (has_cl) {
			if (len - pos < cl)
				return V_PARTIAL;
			pos += (size_t)cl;
		} else {
			/* No framing: the body runs to the close. */
			v->until_close = 1;
			v->nfinal++;
			if (v->nfinal == 1)
				v->first_status = status;
			return V_PARTIAL;
		}
		v->nfinal++;
		if (v->nfinal == 1)
			v->first_status = status;
	}
	return V_COMPLETE;
}

/* ---------------------------------------------------------------------- */
/* Connections */

enum cstate { CS_FREE, CS_CONNECTING, CS_SENDING, CS_READING };

struct conn {
	enum cstate	 st;
	int		 fd;
	struct fcase	 c;
	int		 seg;		/* segment being sent */
	size_t		 sent;
	long long	 resume_at;	/* end of a pause */
	long long	 deadline;	/* the server must have acted by then */
	long long	 last_rx;
	long long	 started;
	int		 send_failed;	/* the server stopped our sending */
	int		 failed;	/* -k: reported, to be dropped */
	int		 reset;
	int		 eof;
	struct sbuf	 reply;
};

struct opts {
	unsigned long	 n;
	uint64_t	 seed;
	long		 timeout_ms;
	int		 jobs;
	long		 only;		/* -i, or -1 */
	unsigned long	 first;		/* -f */
	int		 verbose;
	int		 dump;
	int		 keep_going;
	const char	*host;
	const char	*port;
};

struct totals {
	unsigned long	 cases;
	unsigned long	 by_class[6];	/* first final status / 100 */
	unsigned long	 closed;	/* closed with no reply */
	unsigned long	 resets;
	unsigned long	 failed;
};

/* Recently finished cases: the suspects when the server dies. */
struct recent {
	unsigned long	 idx;
	int		 outcome;	/* status, 0 close, -1 reset */
};

static struct opts	 O;
static struct totals	 TOT;
static struct recent	 RECENT[FZ_RECENT];
static unsigned		 NRECENT;
static struct sockaddr_storage ADDR;
static socklen_t	 ADDRLEN;

static void
resolve(void)
{
	char why[1024];

	if (net_resolve(O.host, O.port, AF_UNSPEC, &ADDR, &ADDRLEN, why,
	    sizeof(why)) == -1)
		die("%s", why);
}

static void
show_reply(FILE *f, const struct conn *cn)
{
	fprintf(f, "  reply (%zu bytes, escaped):\n    ", cn->reply.len);
	put_escaped(f, cn->reply.d, cn->reply.len, FZ_SHOW_REPLY);
}

/*
 * The server died: name the cases that were in flight or just ended, and
 * show those but the one (self) already shown.
 */
static void
show_suspects(const struct conn *self, struct conn *conns, int nconns)
{
	struct fcase c;
	unsigned i, k;
	int j;

	fprintf(stderr, "  cases in flight:");
	for (j = 0; j < nconns; j++)
		if (conns[j].st != CS_FREE)
			fprintf(stderr, " %lu", conns[j].c.idx);
	fprintf(stderr, "\n  cases just ended (status, 0 close, -1 reset):");
	k = NRECENT < FZ_RECENT ? NRECENT : FZ_RECENT;
	for (i = NRECENT - k; i < NRECENT; i++)
		fprintf(stderr, " %lu(%d)", RECENT[i % FZ_RECENT].idx,
		    RECENT[i % FZ_RECENT].outcome);
	fprintf(stderr, "\n");
	for (j = 0; j < nconns; j++)
		if (conns[j].st != CS_FREE && &conns[j] != self) {
			fprintf(stderr, "case %lu (in flight):\n",
			    conns[j].c.idx);
			put_case(stderr, &conns[j].c);
		}
	for (i = NRECENT - k; i < NRECENT; i++)
		if (RECENT[i % FZ_RECENT].outcome <= 0) {
			case_build(O.seed, RECENT[i % FZ_RECENT].idx, &c);
			fprintf(stderr, "case %lu (closed without a reply):\n",
			    c.idx);
			put_case(stderr, &c);
			case_free(&c);
		}
}

/*
 * A case failed: say why, with its request and what came back.  When the
 * server died (conns given: the suspects are shown) or without -k, the
 * run ends here with exit 1; with -k the case is marked and dropped.
 */
static void
fail_case(struct conn *cn, struct conn *conns, int nconns, const char *fmt,
    ...)
    __attribute__((format(printf, 4, 5)));

static void
fail_case(struct conn *cn, struct conn *conns, int nconns, const char *fmt,
    ...)
{
	va_list ap;

	fprintf(stderr, "fuzzclient: FAIL: seed %llu case %lu: ",
	    (unsigned long long)O.seed, cn->c.idx);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (after %lld ms)\n", now_ms() - cn->started);
	put_case(stderr, &cn->c);
	show_reply(stderr, cn);
	if (conns != NULL)
		show_suspects(cn, conns, nconns);
	fprintf(stderr, "  replay: fuzzclient -j 1 -v -s %llu -i %lu %s %s\n",
	    (unsigned long long)O.seed, cn->c.idx, O.host, O.port);
	fflush(stderr);
	if (conns != NULL || !O.keep_going)
		exit(1);
	cn->failed = 1;
	TOT.failed++;
}

static void
conn_start(struct conn *cn, unsigned long idx, struct conn *conns,
    int nconns)
{
	int fd, err;

	memset(cn, 0, sizeof(*cn));
	case_build(O.seed, idx, &cn->c);
	cn->started = now_ms();
	cn->deadline = cn->started + O.timeout_ms;
	cn->fd = -1;
	cn->st = CS_CONNECTING;
	if ((fd = net_socket(ADDR.ss_family, cn->c.nseg > 1)) == -1)
		die("socket: %s", strerror(errno));
	cn->fd = fd;
	err = connect(fd, (struct sockaddr *)&ADDR, ADDRLEN) == -1 ? errno :
	    0;
	if (err == 0)
		cn->st = CS_SENDING;
	else if (err != EINPROGRESS)
		fail_case(cn, conns, nconns, "connect: %s (the server "
		    "died?)", strerror(err));
}

static void
conn_free(struct conn *cn)
{
	if (cn->fd != -1)
		close(cn->fd);
	case_free(&cn->c);
	sb_free(&cn->reply);
	cn->st = CS_FREE;
	cn->fd = -1;
	cn->failed = 0;
}

/* The case is over and passed: count it, free the slot. */
static void
conn_done(struct conn *cn)
{
	struct replies v;
	int outcome;

	check_replies(cn->reply.d, cn->reply.len, cn->c.head_first, &v);
	TOT.cases++;
	if (v.nfinal > 0) {
		TOT.by_class[v.first_status / 100]++;
		outcome = v.first_status;
	} else if (cn->reset) {
		TOT.resets++;
		outcome = -1;
	} else {
		TOT.closed++;
		outcome = 0;
	}
	RECENT[NRECENT % FZ_RECENT].idx = cn->c.idx;
	RECENT[NRECENT % FZ_RECENT].outcome = outcome;
	NRECENT++;
	if (O.verbose) {
		printf("case %lu: %s%s in %lld ms: %s\n", cn->c.idx,
		    outcome > 0 ? "status " : outcome == 0 ? "closed" :
		    "reset", outcome > 0 ? "" : "", now_ms() - cn->started,
		    cn->c.what.d);
		if (outcome > 0)
			printf("  status %d, %d replies\n", outcome,
			    v.nfinal);
		if (O.only >= 0) {
			put_case(stdout, &cn->c);
			show_reply(stdout, cn);
		}
		fflush(stdout);
	}
	conn_free(cn);
}

/* Read what there is; sets eof/reset. */
static void
conn_read(struct conn *cn)
{
	char buf[16384];
	ssize_t n;
	int i;

	for (i = 0; i < 64 && !cn->eof; i++) {
		n = read(cn->fd, buf, sizeof(buf));
		if (n > 0) {
			if (cn->reply.len + (size_t)n > FZ_MAX_REPLY) {
				fail_case(cn, NULL, 0, "reply over %d bytes",
				    FZ_MAX_REPLY);
				return;
			}
			sb_add(&cn->reply, buf, (size_t)n);
			cn->last_rx = now_ms();
			continue;
		}
		if (n == 0) {
			cn->eof = 1;
			break;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			break;
		if (errno == ECONNRESET) {
			cn->eof = cn->reset = 1;
			break;
		}
		fail_case(cn, NULL, 0, "read: %s", strerror(errno));
		return;
	}
}

/* Send what the plan allows now. */
static void
conn_send(struct conn *cn, long long now)
{
	size_t end;
	ssize_t w;
	int i;

	for (i = 0; i < FZ_MAX_SEGMENTS + 64; i++) {
		if (cn->seg >= cn->c.nseg || now < cn->resume_at)
			return;
		end = cn->c.cut[cn->seg];
		if (cn->sent >= end) {
			cn->resume_at = now + cn->c.pause[cn->seg];
			cn->seg++;
			if (cn->seg >= cn->c.nseg) {
				if (cn->c.shut_wr)
					shutdown(cn->fd, SHUT_WR);
				cn->st = CS_READING;
				cn->deadline = now + O.timeout_ms;
				return;
			}
			continue;
		}
		w = send(cn->fd, cn->c.req.d + cn->sent, end - cn->sent,
		    MSG_NOSIGNAL);
		if (w > 0) {
			cn->sent += (size_t)w;
			cn->deadline = now + O.timeout_ms;
			continue;
		}
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return;
		if (w == -1 && (errno == EPIPE || errno == ECONNRESET)) {
			/* The server closed: what it said is what counts. */
			cn->send_failed = 1;
			cn->st = CS_READING;
			return;
		}
		fail_case(cn, NULL, 0, "send: %s", strerror(errno));
		return;
	}
}

/*
 * Judge a connection after its events: fail the run, finish the case, or
 * leave it going.
 */
static void
conn_judge(struct conn *cn, long long now)
{
	struct replies v;
	enum verdict r;

	r = check_replies(cn->reply.d, cn->reply.len, cn->c.head_first, &v);
	if (r == V_BAD) {
		fail_case(cn, NULL, 0, "malformed reply at byte %zu: %s",
		    v.at, v.why);
		return;
	}
	if (cn->eof) {
		if (r == V_PARTIAL && !v.until_close && !cn->reset)
			fail_case(cn, NULL, 0, "the server closed in the "
			    "middle of a reply");
		else
			conn_done(cn);
		return;
	}
	if (r == V_COMPLETE && v.nfinal > 0 && !v.closing &&
	    cn->st == CS_READING && now - cn->last_rx >= FZ_QUIET_MS) {
		conn_done(cn);		/* answered, kept alive */
		return;
	}
	if (now < cn->deadline)
		return;
	if (r == V_COMPLETE && v.closing)
		fail_case(cn, NULL, 0, "no close within %ld ms of a reply "
		    "that said Connection: close", O.timeout_ms);
	else if (r == V_COMPLETE && v.nfinal > 0)
		fail_case(cn, NULL, 0, "the server stopped reading for %ld ms "
		    "(it answered, but the request was not all sent)",
		    O.timeout_ms);
	else if (cn->reply.len > 0)
		fail_case(cn, NULL, 0, "a reply was begun but not finished "
		    "within %ld ms", O.timeout_ms);
	else
		fail_case(cn, NULL, 0, "no reply and no close within %ld ms "
		    "(a hang)", O.timeout_ms);
}

/* Once a close-marked reply is whole, the server must close in time. */
static void
conn_rearm(struct conn *cn, long long now)
{
	struct replies v;

	if (check_replies(cn->reply.d, cn->reply.len, cn->c.head_first,
	    &v) == V_COMPLETE && v.closing && cn->st != CS_READING) {
		/* The server has answered: stop sending, wait for close. */
		cn->st = CS_READING;
		cn->deadline = now + O.timeout_ms;
	}
}

static void
run(void)
{
	struct conn conns[FZ_MAX_JOBS];
	struct pollfd pfd[FZ_MAX_JOBS];
	int map[FZ_MAX_JOBS];
	unsigned long next, end;
	long long now, wake, stop_at;
	int j, np, active, r;

	next = O.only >= 0 ? (unsigned long)O.only : O.first;
	end = O.only >= 0 ? next + 1 : O.n;
	for (j = 0; j < O.jobs; j++) {
		conns[j].st = CS_FREE;
		conns[j].fd = -1;
	}
	/* A bound on the whole run, whatever happens. */
	stop_at = now_ms() + (long long)((end - next) / (unsigned)O.jobs + 2) *
	    (O.timeout_ms * 3 + 2000);
	for (;;) {
		now = now_ms();
		active = 0;
		for (j = 0; j < O.jobs; j++) {
			if (conns[j].st == CS_FREE && next < end)
				conn_start(&conns[j], next++, conns, O.jobs);
			if (conns[j].st != CS_FREE)
				active++;
		}
		if (active == 0)
			break;
		if (now > stop_at)
			die("the run took longer than its bound");
		wake = now + 50;
		np = 0;
		for (j = 0; j < O.jobs; j++) {
			struct conn *cn = &conns[j];

			if (cn->st == CS_FREE)
				continue;
			pfd[np].fd = cn->fd;
			pfd[np].events = POLLIN;
			if (cn->st == CS_CONNECTING ||
			    (cn->st == CS_SENDING && now >= cn->resume_at))
				pfd[np].events |= POLLOUT;
			pfd[np].revents = 0;
			map[np++] = j;
			if (cn->st == CS_SENDING && cn->resume_at > now &&
			    cn->resume_at < wake)
				wake = cn->resume_at;
			if (cn->deadline < wake)
				wake = cn->deadline;
		}
		r = poll(pfd, (nfds_t)np, wake > now ? (int)(wake - now) : 0);
		if (r == -1 && errno != EINTR)
			die("poll: %s", strerror(errno));
		now = now_ms();
		for (j = 0; j < np && r >= 0; j++) {
			struct conn *cn = &conns[map[j]];
			short ev = pfd[j].revents;

			if (cn->st == CS_CONNECTING && (ev & (POLLOUT |
			    POLLERR | POLLHUP))) {
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &err,
				    &len);
				if (err != 0)
					fail_case(cn, conns, O.jobs, "connect: "
					    "%s (the server died?)",
					    strerror(err));
				cn->st = CS_SENDING;
				cn->deadline = now + O.timeout_ms;
			}
			if (ev & (POLLIN | POLLHUP | POLLERR))
				conn_read(cn);
			if (cn->st == CS_SENDING && !cn->eof && !cn->failed)
				conn_send(cn, now);
			if (cn->eof && cn->st == CS_SENDING)
				cn->st = CS_READING;
			conn_rearm(cn, now);
		}
		now = now_ms();
		for (j = 0; j < O.jobs; j++) {
			if (conns[j].st != CS_FREE && !conns[j].failed &&
			    conns[j].st == CS_CONNECTING && now >=
			    conns[j].deadline)
				fail_case(&conns[j], conns, O.jobs, "connect "
				    "did not complete within %ld ms (the "
				    "server died?)", O.timeout_ms);
			else if (!conns[j].failed &&
			    (conns[j].st == CS_SENDING ||
			    conns[j].st == CS_READING))
				conn_judge(&conns[j], now);
			if (conns[j].st != CS_FREE && conns[j].failed)
				conn_free(&conns[j]);
		}
	}
}

/* After the last case: the server must still accept a connection. */
static void
final_probe(void)
{
	int fd, err;

	if ((fd = net_socket(ADDR.ss_family, 0)) == -1)
		die("socket: %s", strerror(errno));
	err = net_connect_wait(fd, (struct sockaddr *)&ADDR, ADDRLEN,
	    (int)O.timeout_ms);
	close(fd);
	if (err == 0)
		return;
	fprintf(stderr, "fuzzclient: FAIL: seed %llu: after the last case, "
	    "connect: %s (the server died?)\n", (unsigned long long)O.seed,
	    strerror(err));
	show_suspects(NULL, NULL, 0);
	exit(1);
}

static void
usage(void)
{
	fprintf(stderr, "usage: fuzzclient [-d] [-k] [-v] [-n N] [-s SEED] "
	    "[-t MS] [-j J] [-f FIRST | -i K] HOST PORT\n");
	exit(2);
}

static unsigned long long
parse_num(const char *s, unsigned long long max)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		usage();
	return v;
}

int
main(int argc, char *argv[])
{
	struct fcase c;
	unsigned long k, end;
	int i, npos = 0;

	O.n = FZ_DEFAULT_N;
	O.seed = 1;
	O.timeout_ms = FZ_DEFAULT_TIMEOUT_MS;
	O.jobs = FZ_DEFAULT_JOBS;
	O.only = -1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			O.verbose = 1;
		else if (strcmp(argv[i], "-d") == 0)
			O.dump = 1;
		else if (strcmp(argv[i], "-k") == 0)
			O.keep_going = 1;
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			O.n = (unsigned long)parse_num(argv[++i], FZ_MAX_N);
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			O.seed = parse_num(argv[++i], UINT64_MAX);
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			O.timeout_ms = (long)parse_num(argv[++i], 600000);
		else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc)
			O.jobs = (int)parse_num(argv[++i], FZ_MAX_JOBS);
		else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
			O.first = (unsigned long)parse_num(argv[++i], FZ_MAX_N);
		else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc)
			O.only = (long)parse_num(argv[++i], FZ_MAX_N);
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			usage();
		else if (npos == 0 && ++npos)
			O.host = argv[i];
		else if (npos == 1 && ++npos)
			O.port = argv[i];
		else
			usage();
	}
	if (O.jobs < 1 || O.timeout_ms < 100)
		usage();
	if (O.dump) {
		k = O.only >= 0 ? (unsigned long)O.only : O.first;
		end = O.only >= 0 ? k + 1 : O.n;
		for (; k < end; k++) {
			case_build(O.seed, k, &c);
			if (O.verbose) {
				fprintf(stderr, "case %lu:\n", k);
				put_case(stderr, &c);
			}
			fwrite(c.req.d, 1, c.req.len, stdout);
			case_free(&c);
		}
		return 0;
	}
	if (npos != 2)
		usage();
	signal(SIGPIPE, SIG_IGN);
	resolve();
	run();
	final_probe();
	printf("fuzzclient: seed %llu: %lu cases: 2xx %lu, 4xx %lu, 5xx %lu, "
	    "closed without a reply %lu, reset %lu, failed %lu\n",
	    (unsigned long long)O.seed, TOT.cases + TOT.failed,
	    TOT.by_class[2], TOT.by_class[4], TOT.by_class[5], TOT.closed,
	    TOT.resets, TOT.failed);
	return TOT.failed > 0 ? 1 : 0;
}
