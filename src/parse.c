/*
 * Typed scalar parsers shared by config.c and the tests: durations, sizes,
 * HTTP status ranges, listen addresses, booleans and counts.
 *
 * Every parser takes the whole string: trailing garbage, signs and spaces
 * are errors, because a config value that is silently read as something
 * else ("2 s" as 2 ms, "-1" as a huge size) is worse than a refusal.  On
 * error nothing is allocated and *errstr points to a static reason.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gatherd.h"

#define PARSE_NUM_SYNTAX	-1
#define PARSE_NUM_RANGE		-2

struct unit {
	const char	*u_name;
	uint64_t	 u_mult;
};

static const struct unit duration_units[] = {
	{ "ms",		1 },
	{ "s",		1000 },
	{ "m",		60 * 1000 },
	{ "h",		3600 * 1000 },
	{ NULL,		0 }
};

static const struct unit size_units[] = {
	{ "",		1 },
	{ "B",		1 },
	{ "KB",		1000 },
	{ "MB",		1000 * 1000 },
	{ "GB",		1000 * 1000 * 1000 },
	{ "KiB",	1024 },
	{ "MiB",	1024 * 1024 },
	{ "GiB",	1024 * 1024 * 1024 },
	{ NULL,		0 }
};

/*
 * Reads an unsigned decimal amount followed by one of the units; the unit
 * must be the rest of the string.  Returns 0, PARSE_NUM_SYNTAX or, when
 * the amount or the product does not fit in 64 bits, PARSE_NUM_RANGE.
 */
static int
do_number(const char *s, const struct unit *units, uint64_t *v)
{
	const struct unit	*u;
	const char		*p;
	uint64_t		 n = 0;
	int			 overflow = 0;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			overflow = 1;
		else
			n = n * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return (PARSE_NUM_SYNTAX);
	for (u = units; u->u_name != NULL; u++)
		if (strcmp(p, u->u_name) == 0)
			break;
	if (u->u_name == NULL)
		return (PARSE_NUM_SYNTAX);
	if (overflow || n > UINT64_MAX / u->u_mult)
		return (PARSE_NUM_RANGE);
	*v = n * u->u_mult;
	return (0);
}

/* "250ms", "2s", "1m", "1h" to milliseconds; > 0 and <= MAX_DURATION_MS. */
int
parse_duration(const char *s, uint64_t *ms, const char **errstr)
{
	uint64_t	 v;
	int		 rc;

	/* A bare number is refused: is "30" seconds or milliseconds? */
	if ((rc = do_number(s, duration_units, &v)) == PARSE_NUM_SYNTAX) {
		*errstr = "bad duration (use e.g. 250ms, 2s, 1m)";
		return (-1);
	}
	if (rc == PARSE_NUM_RANGE || v > MAX_DURATION_MS) {
		*errstr = "duration too long (max 24h)";
		return (-1);
	}
	if (v == 0) {
		*errstr = "duration must be greater than 0";
		return (-1);
	}
	*ms = v;
	return (0);
}

/* "512B", "16KiB", "1MiB", "1GiB", "10KB", or plain bytes, to bytes. */
int
parse_size(const char *s, uint64_t *bytes, const char **errstr)
{
	uint64_t	 v;
	int		 rc;

	if ((rc = do_number(s, size_units, &v)) == PARSE_NUM_SYNTAX) {
		*errstr = "bad size (use e.g. 512B, 16KiB, 1MiB)";
		return (-1);
	}
	if (rc == PARSE_NUM_RANGE || v > SIZE_MAX) {
		*errstr = "size too large";
		return (-1);
	}
	*bytes = v;
	return (0);
}

/* Reads one status code of a range; -1 on syntax, -2 if not 100..599. */
static int
do_status(const char *s, size_t len, int *code)
{
	size_t	 i;
	int	 n = 0;

	if (len == 0 || len > 3)
		return (len > 3 && strspn(s, "0123456789") >= len ? -2 : -1);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		n = n * 10 + (s[i] - '0');
	}
	if (n < 100 || n > 599)
		return (-2);
	*code = n;
	return (0);
}

/* "200-299" or "204" to a range of HTTP status codes. */
int
parse_status_range(const char *s, struct status_range *sr,
    const char **errstr)
{
	const char	*dash;
	int		 lo = 0, hi = 0, rc;

	dash = strchr(s, '-');
	rc = do_status(s, dash != NULL ? (size_t)(dash - s) : strlen(s), &lo);
	if (rc == 0 && dash != NULL)
		rc = do_status(dash + 1, strlen(dash + 1), &hi);
	else if (rc == 0)
		hi = lo;
	if (rc == -1) {
		*errstr = "bad status (use e.g. 200 or 200-299)";
		return (-1);
	}
	if (rc == -2) {
		*errstr = "status out of range (use 100..599)";
		return (-1);
	}
	if (lo > hi) {
		*errstr = "status range is reversed (low end first)";
		return (-1);
	}
	sr->sr_lo = lo;
	sr->sr_hi = hi;
	return (0);
}

/* "true", "false", "yes" or "no", in any case. */
int
parse_bool(const char *s, int *v, const char **errstr)
{
	if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0)
		*v = 1;
	else if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0)
		*v = 0;
	else {
		*errstr = "expected true or false";
		return (-1);
	}
	return (0);
}

/* A plain unsigned decimal integer no greater than max. */
int
parse_uint(const char *s, uint64_t max, uint64_t *v, const char **errstr)
{
	static const struct unit none[] = { { "", 1 }, { NULL, 0 } };
	int	 rc;

	if ((rc = do_number(s, none, v)) == PARSE_NUM_SYNTAX) {
		*errstr = "expected an integer";
		return (-1);
	}
	if (rc == PARSE_NUM_RANGE || *v > max) {
		*errstr = "number too large";
		return (-1);
	}
	return (0);
}

/* The port after a host: 1..65535, digits only. */
static int
do_port(const char *s, uint16_t *port, const char **errstr)
{
	uint64_t	 v;

	if (*s == '\0') {
		*errstr = "missing port (use e.g. 127.0.0.1:8080)";
		return (-1);
	}
	if (parse_uint(s, 65535, &v, errstr) == -1 || v == 0) {
		*errstr = "bad port (use 1..65535)";
		return (-1);
	}
	*port = (uint16_t)v;
	return (0);
}

/* The unix:/path form: absolute, and short enough for sun_path. */
static int
do_listen_unix(const char *path, struct listen_addr *la, const char **errstr)
{
	struct sockaddr_un	 sun;

	if (path[0] != '/') {
		*errstr = "unix socket path must be absolute";
		return (-1);
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*errstr = "unix socket path too long";
		return (-1);
	}
	la->la_family = AF_UNIX;
	la->la_path = xstrdup(path);
	return (0);
}

/*
 * "127.0.0.1:8080", "[::1]:8080", "localhost:8080" or "unix:/path".  Only
 * numeric addresses are taken: a name would need a resolver at startup
 * and could bind somewhere other than what the operator read.  la_host is
 * the canonical form, so that "[::1]" and "[0::1]" compare equal.
 */
int
parse_listen(const char *s, struct listen_addr *la, const char **errstr)
{
	struct in6_addr	 a6;
	char		 host[INET6_ADDRSTRLEN], canon[INET6_ADDRSTRLEN];
	const char	*text = s, *end, *port;
	size_t		 len;
	int		 af;

	memset(la, 0, sizeof(*la));
	if (strncmp(s, "unix:", 5) == 0) {
		if (do_listen_unix(s + 5, la, errstr) == -1)
			return (-1);
		la->la_text = xstrdup(s);
		return (0);
	}
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':') {
			*errstr = "bad IPv6 address (use e.g. [::1]:8080)";
			return (-1);
		}
		af = AF_INET6;
		s++;
		port = end + 2;
	} else {
		if ((end = strrchr(s, ':')) == NULL) {
			*errstr = "missing port (use e.g. 127.0.0.1:8080)";
			return (-1);
		}
		af = memchr(s, ':', (size_t)(end - s)) != NULL ? -1 : AF_INET;
		port = end + 1;
	}
	if (af == -1) {
		*errstr = "an IPv6 address needs brackets, e.g. [::1]:8080";
		return (-1);
	}
	if ((len = (size_t)(end - s)) < sizeof(host)) {
		memcpy(host, s, len);
		host[len] = '\0';
	} else
		host[0] = '\0';
	if (af == AF_INET && strcmp(host, "localhost") == 0)
		strlcpy(host, "127.0.0.1", sizeof(host));
	if (inet_pton(af, host, &a6) != 1 ||
	    inet_ntop(af, &a6, canon, sizeof(canon)) == NULL) {
		*errstr = "host must be a numeric IPv4 or IPv6 address "
		    "or localhost";
		return (-1);
	}
	if (do_port(port, &la->la_port, errstr) == -1)
		return (-1);
	la->la_family = af;
	la->la_host = xstrdup(canon);
	la->la_text = xstrdup(text);
	return (0);
}

/* Whether two listen addresses name the same socket. */
int
listen_addr_same(const struct listen_addr *a, const struct listen_addr *b)
{
	if (a->la_family != b->la_family)
		return (0);
	if (a->la_family == AF_UNIX)
		return (strcmp(a->la_path, b->la_path) == 0);
	return (a->la_port == b->la_port && strcmp(a->la_host, b->la_host) == 0);
}

/* Free what a listen address holds (not the struct itself). */
void
listen_addr_free(struct listen_addr *la)
{
	if (la == NULL)
		return;
	free(la->la_host);
	free(la->la_path);
	free(la->la_text);
	memset(la, 0, sizeof(*la));
}

/* Whether s is an RFC 9110 token (method, header name). */
static int
do_is_token(const char *s)
{
	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
		    strchr("\"(),/:;<=>?@[\\]{}", *s) != NULL)
			return (0);
	return (1);
}

/* An HTTP method: an uppercase token such as GET or M-SEARCH. */
int
parse_method(const char *s, const char **errstr)
{
	if (!do_is_token(s) || strpbrk(s, "abcdefghijklmnopqrstuvwxyz")) {
		*errstr = "method must be an uppercase token such as GET";
		return (-1);
	}
	return (0);
}

/*
 * A header name that may be set on or forwarded to an upstream: a token,
 * and none of the headers that frame the message or name the host, which
 * curl must own or the upstream could read the request differently.
 */
int
parse_header_name(const char *s, const char **errstr)
{
	static const char *const reserved[] = { "Host", "Content-Length",
	    "Transfer-Encoding", "Connection", NULL };
	size_t	 i;

	if (!do_is_token(s)) {
		*errstr = "bad header name (use a token such as X-Request-Id)";
		return (-1);
	}
	for (i = 0; reserved[i] != NULL; i++)
		if (strcasecmp(s, reserved[i]) == 0) {
			*errstr = "this header is managed by gatherd and may "
			    "not be set or forwarded";
			return (-1);
		}
	return (0);
}

/* A header value: no control characters but tab, so no CR/LF injection. */
int
parse_header_value(const char *s, const char **errstr)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < ' ' && *s != '\t') || *s == 0x7f) {
			*errstr = "header value may not contain control "
			    "characters";
			return (-1);
		}
	return (0);
}

/* An upstream name: [A-Za-z0-9_.-]+, not starting with '_'. */
int
parse_name(const char *s, const char **errstr)
{
	if (*s == '\0' || s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.-")] != '\0') {
		*errstr = "bad name (use letters, digits, '_', '.' and '-')";
		return (-1);
	}
	if (*s == '_') {
		*errstr = "a name may not start with '_' (_errors is reserved)";
		return (-1);
	}
	return (0);
}

/* A query parameter name to forward: printable, no query syntax. */
int
parse_query_name(const char *s, const char **errstr)
{
	const char	*p;

	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f ||
		    strchr("&=#%+", *p) != NULL)
			break;
	if (*s == '\0' || *p != '\0') {
		*errstr = "bad query parameter name";
		return (-1);
	}
	return (0);
}

/* Whether s[0..len) is a {param} name: [A-Za-z_][A-Za-z0-9_]*. */
int
parse_param_name(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
		return (0);
	for (i = 0; i < len; i++)
		if (!(s[i] == '_' || (s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z')))
			return (0);
	return (1);
}

/*
 * Whether the server answers this request method: the methods libevhtp
 * knows (it cannot name any other), less CONNECT.  The gate answers 501
 * to the rest, and an endpoint may not be configured with one.
 */
int
parse_served_method(const char *m)
{
	static const char *const served[] = { "GET", "HEAD", "POST", "PUT",
	    "DELETE", "PATCH", "OPTIONS", "TRACE", "MKCOL", "COPY", "MOVE",
	    "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK" };
	size_t	 i;

	for (i = 0; i < sizeof(served) / sizeof(served[0]); i++)
		if (strcmp(m, served[i]) == 0)
			return (1);
	return (0);
}
