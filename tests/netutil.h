/*
 * netutil.h: the loopback-only TCP connect that tests/rawclient and
 * tests/fuzzclient share.  Plain POSIX sockets and poll.
 */
#ifndef NETUTIL_H
#define NETUTIL_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>

/* netutil.c */
int	net_resolve(const char *, const char *, int,
	    struct sockaddr_storage *, socklen_t *, char *, size_t);
int	net_socket(int, int);
int	net_connect_wait(int, const struct sockaddr *, socklen_t, int);

#endif /* NETUTIL_H */
