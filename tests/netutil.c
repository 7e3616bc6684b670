/*
 * netutil.c: resolve a numeric loopback address, make a non-blocking
 * socket for it and connect within a bound, for the test clients.  The
 * clients report failures their own way: nothing here prints or exits.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "netutil.h"

/* The test clients talk to loopback only. */
static int
is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	return 0;
}

/*
 * Numeric HOST and PORT of family (or AF_UNSPEC) into *ss and *lenp: 0,
 * or -1 with the reason in why when it does not resolve or is not a
 * loopback address.
 */
int
net_resolve(const char *host, const char *port, int family,
    struct sockaddr_storage *ss, socklen_t *lenp, char *why, size_t len)
{
	struct addrinfo hints, *res;
	int err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((err = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(why, len, "%s %s: %s", host, port, gai_strerror(err));
		return -1;
	}
	if (!is_loopback(res->ai_addr)) {
		snprintf(why, len, "%s: not a loopback address", host);
		freeaddrinfo(res);
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*lenp = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * A non-blocking stream socket of family, with TCP_NODELAY when nodelay
 * (so that each write is its own segment); -1 with errno set.
 */
int
net_socket(int family, int nodelay)
{
	int fd, one = 1;

	if ((fd = socket(family, SOCK_STREAM, 0)) == -1)
		return -1;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/*
 * Connect the non-blocking fd to sa, waiting at most timeout_ms for it:
 * 0, or the errno value of the failure (ETIMEDOUT when the wait ran out).
 */
int
net_connect_wait(int fd, const struct sockaddr *sa, socklen_t salen,
    int timeout_ms)
{
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int err;

	if (connect(fd, sa, salen) == 0)
		return 0;
	if ((err = errno) != EINPROGRESS)
		return err;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	pfd.revents = 0;
	if (poll(&pfd, 1, timeout_ms) != 1)
		return ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return errno;
	return err;
}
