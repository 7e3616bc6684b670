/*
 * Listening sockets of the process, owned by the main thread.
 *
 * Every address of the config (each listen address, and admin.listen)
 * is one struct lsock.  A TCP address gets one SO_REUSEPORT socket per
 * worker, so the kernel spreads connections; a unix socket, or one that
 * systemd passed in (socket activation), is one socket that every worker
 * serves through its own dup.  The admin address is served by worker 0
 * only.
 *
 * A reload compares the new config's addresses with the open ones:
 * lset_plan() opens what is new (so new sockets are up before anything
 * is closed) and lists what goes; worker.c hands both to the workers,
 * which close their own descriptors; lset_commit() then forgets what
 * went.  If one new address cannot be opened, nothing changes.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <systemd/sd-daemon.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatherd.h"

struct lsock {
	struct listen_addr	 ls_la;		/* own copy */
	uint64_t		 ls_id;
	int			 ls_admin;
	int			 ls_activated;	/* systemd's: never unlink */
	TAILQ_ENTRY(lsock)	 ls_entry;
};

/* A socket systemd passed in: used by the address it is bound to. */
struct lactive {
	int			 la_fd;
	int			 la_used;	/* by an open lsock */
};

struct lset {
	int			 ls_nworkers;
	uint64_t		 ls_nextid;
	TAILQ_HEAD(, lsock)	 ls_socks;
	struct lactive		*ls_active;
	size_t			 ls_nactive;
};

/* Fill a sockaddr from a listen address; -1 if it does not convert. */
static int
do_sockaddr(const struct listen_addr *la, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	switch (la->la_family) {
	case AF_UNIX:
		sun->sun_family = AF_UNIX;
		strlcpy(sun->sun_path, la->la_path, sizeof(sun->sun_path));
		*len = sizeof(*sun);
		return (0);
	case AF_INET6:
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(la->la_port);
		*len = sizeof(*s6);
		return (inet_pton(AF_INET6, la->la_host, &s6->sin6_addr) == 1 ?
		    0 : -1);
	default:
		s4->sin_family = AF_INET;
		s4->sin_port = htons(la->la_port);
		*len = sizeof(*s4);
		return (inet_pton(AF_INET, la->la_host, &s4->sin_addr) == 1 ?
		    0 : -1);
	}
}

/*
 * Make sure nobody else serves the address.  SO_REUSEPORT would let a
 * second gatherd share a port with the first and take half its clients,
 * so a probe binds without it first; a unix socket that still answers
 * belongs to a live server, one that does not is left from a dead one.
 */
static int
do_probe(const struct listen_addr *la, const struct sockaddr_storage *ss,
    socklen_t len)
{
	struct stat	 st;
	int		 fd, on = 1, r, saved;

	if ((fd = socket(la->la_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (la->la_family == AF_UNIX) {
		r = 0;
		if (lstat(la->la_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			r = connect(fd, (const struct sockaddr *)ss, len);
			if (r == 0) {
				r = -1;
				errno = EADDRINUSE;
			} else {
				r = 0;
				unlink(la->la_path);
			}
		}
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (la->la_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			    sizeof(on));
		r = bind(fd, (const struct sockaddr *)ss, len);
	}
	saved = errno;
	close(fd);
	errno = saved;
	return (r);
}

/* Open one listening socket; SO_REUSEPORT lets every worker have its own. */
static int
do_listen(const struct listen_addr *la, int probe)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, on = 1, saved;

	if (do_sockaddr(la, &ss, &len) == -1) {
		errno = EINVAL;
		return (-1);
	}
	if (probe && do_probe(la, &ss, len) == -1)
		return (-1);
	if ((fd = socket(la->la_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (la->la_family != AF_UNIX) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		if (la->la_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			    sizeof(on));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, DEFAULT_BACKLOG) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/* Whether a socket systemd passed in is bound to the listen address. */
static int
do_active_match(int fd, const struct listen_addr *la)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;

	if (la->la_family == AF_UNIX)
		return (sd_is_socket_unix(fd, SOCK_STREAM, 1, la->la_path, 0) >
		    0);
	if (do_sockaddr(la, &ss, &len) == -1)
		return (0);
	return (sd_is_socket_sockaddr(fd, SOCK_STREAM,
	    (const struct sockaddr *)&ss, len, 1) > 0);
}

/* The unused socket systemd passed in for this address, or -1. */
static int
do_active_find(struct lset *ls, const struct listen_addr *la)
{
	size_t	 i;

	for (i = 0; i < ls->ls_nactive; i++)
		if (!ls->ls_active[i].la_used &&
		    do_active_match(ls->ls_active[i].la_fd, la))
			return ((int)i);
	return (-1);
}

/*
 * Open an address for every worker that serves it (fds[k], -1 where a
 * worker does not).  A socket from systemd is preferred; a unix socket
 * or one from systemd is shared through dups.
 */
static int
do_open(struct lset *ls, const struct listen_addr *la, int admin,
    int *fds, int *activated)
{
	int	 k, n = admin ? 1 : ls->ls_nworkers, a, shared = -1;

	for (k = 0; k < ls->ls_nworkers; k++)
		fds[k] = -1;
	*activated = 0;
	if ((a = do_active_find(ls, la)) != -1) {
		shared = ls->ls_active[a].la_fd;
		*activated = 1;
	}
	for (k = 0; k < n; k++) {
		if (shared != -1)
			fds[k] = fcntl(shared, F_DUPFD_CLOEXEC, 0);
		else
			fds[k] = do_listen(la, k == 0);
		if (fds[k] == -1)
			goto fail;
		if (la->la_family == AF_UNIX && shared == -1)
			shared = fds[k];
	}
	if (*activated)
		ls->ls_active[a].la_used = 1;
	return (0);
fail:
	while (k-- > 0) {
		close(fds[k]);
		fds[k] = -1;
	}
	return (-1);
}

/* Take the sockets systemd passed in (LISTEN_FDS) and log each one. */
static void
do_activation(struct lset *ls)
{
	int	 n, i, fd;

	if ((n = sd_listen_fds(1)) <= 0)
		return;
	ls->ls_active = xcalloc((size_t)n, sizeof(*ls->ls_active));
	for (i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			log_warnx("socket-activated fd %d is not a listening "
			    "stream socket; ignoring it", fd);
			close(fd);
			continue;
		}
		/*
		 * systemd passes blocking sockets, and every worker accepts
		 * on the same one: a blocking accept would hang a worker.
		 */
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			log_warn("socket-activated fd %d", fd);
			close(fd);
			continue;
		}
		ls->ls_active[ls->ls_nactive++].la_fd = fd;
	}
	log_info("socket activation: %zu sockets from systemd",
	    ls->ls_nactive);
}

/* The listening sockets of a process with n workers, none open yet. */
struct lset *
lset_new(int nworkers)
{
	struct lset	*ls;

	ls = xcalloc(1, sizeof(*ls));
	ls->ls_nworkers = nworkers;
	TAILQ_INIT(&ls->ls_socks);
	do_activation(ls);
	return (ls);
}

/* Whether the open lsock still has its address in the config. */
static int
do_wanted(const struct lsock *s, const struct gatherd_conf *cf)
{
	size_t	 i;

	if (s->ls_admin)
		return (cf->cf_admin != NULL &&
		    listen_addr_same(&s->ls_la, cf->cf_admin));
	for (i = 0; i < cf->cf_nlisten; i++)
		if (listen_addr_same(&s->ls_la, &cf->cf_listen[i]))
			return (1);
	return (0);
}

/* The open lsock of an address and role, or NULL. */
static struct lsock *
do_find(struct lset *ls, const struct listen_addr *la, int admin)
{
	struct lsock	*s;

	TAILQ_FOREACH(s, &ls->ls_socks, ls_entry)
		if (s->ls_admin == admin && listen_addr_same(&s->ls_la, la))
			return (s);
	return (NULL);
}

/* Add one address to the plan, opening it if it is not open yet. */
static int
do_plan_add(struct lset *ls, struct lplan *p, const struct listen_addr *la,
    int admin, char *err, size_t len)
{
	struct lnew	*ln;

	if (do_find(ls, la, admin) != NULL)
		return (0);
	p->lp_add = xreallocarray(p->lp_add, p->lp_nadd + 1,
	    sizeof(*p->lp_add));
	ln = &p->lp_add[p->lp_nadd];
	memset(ln, 0, sizeof(*ln));
	ln->ln_fds = xcalloc((size_t)ls->ls_nworkers, sizeof(int));
	if (do_open(ls, la, admin, ln->ln_fds, &ln->ln_activated) == -1) {
		snprintf(err, len, "cannot listen on %s%s: %s", la->la_text,
		    admin ? " (admin)" : "", strerror(errno));
		free(ln->ln_fds);
		return (-1);
	}
	ln->ln_id = ++ls->ls_nextid;
	ln->ln_admin = admin;
	ln->ln_la = la;
	p->lp_nadd++;
	return (0);
}

/*
 * Plan the move to a config's addresses: open every new one, list every
 * one that goes.  On failure nothing is left open, the plan is empty
 * and err says why.
 */
int
lset_plan(struct lset *ls, const struct gatherd_conf *cf, struct lplan *p,
    char *err, size_t len)
{
	struct lsock	*s;
	size_t		 i;
	int		 r = 0;

	memset(p, 0, sizeof(*p));
	for (i = 0; r == 0 && i < cf->cf_nlisten; i++)
		r = do_plan_add(ls, p, &cf->cf_listen[i], 0, err, len);
	if (r == 0 && cf->cf_admin != NULL)
		r = do_plan_add(ls, p, cf->cf_admin, 1, err, len);
	if (r == -1) {
		lset_plan_abort(ls, p);
		return (-1);
	}
	TAILQ_FOREACH(s, &ls->ls_socks, ls_entry) {
		if (do_wanted(s, cf))
			continue;
		p->lp_del = xreallocarray(p->lp_del, p->lp_ndel + 1,
		    sizeof(*p->lp_del));
		p->lp_del[p->lp_ndel++] = s->ls_id;
	}
	return (0);
}

/* Give a plan up: close what it opened. */
void
lset_plan_abort(struct lset *ls, struct lplan *p)
{
	size_t	 i;
	int	 k;

	for (i = 0; i < p->lp_nadd; i++)
		for (k = 0; k < ls->ls_nworkers; k++)
			if (p->lp_add[i].ln_fds[k] != -1)
				close(p->lp_add[i].ln_fds[k]);
	lset_plan_free(p);
}

/* Free a plan whose descriptors the workers have taken over. */
void
lset_plan_free(struct lplan *p)
{
	size_t	 i;

	for (i = 0; i < p->lp_nadd; i++)
		free(p->lp_add[i].ln_fds);
	free(p->lp_add);
	free(p->lp_del);
	memset(p, 0, sizeof(*p));
}

/* Forget one lsock; a unix socket that gatherd made is unlinked. */
static void
do_forget(struct lset *ls, struct lsock *s)
{
	size_t	 i;

	for (i = 0; s->ls_activated && i < ls->ls_nactive; i++)
		if (ls->ls_active[i].la_used &&
		    do_active_match(ls->ls_active[i].la_fd, &s->ls_la))
			ls->ls_active[i].la_used = 0;
	if (s->ls_la.la_family == AF_UNIX && !s->ls_activated)
		unlink(s->ls_la.la_path);
	log_info("no longer listening on %s%s", s->ls_la.la_text,
	    s->ls_admin ? " (admin)" : "");
	TAILQ_REMOVE(&ls->ls_socks, s, ls_entry);
	listen_addr_free(&s->ls_la);
	free(s);
}

/* Copy a listen address (its strings too). */
static void
do_copy_addr(struct listen_addr *dst, const struct listen_addr *src)
{
	*dst = *src;
	dst->la_host = src->la_host != NULL ? xstrdup(src->la_host) : NULL;
	dst->la_path = src->la_path != NULL ? xstrdup(src->la_path) : NULL;
	dst->la_text = xstrdup(src->la_text);
}

/* The workers have the plan: record what is open now, and log it. */
void
lset_commit(struct lset *ls, struct lplan *p)
{
	struct lsock	*s, *next;
	struct lnew	*ln;
	size_t		 i, j;

	for (i = 0; i < p->lp_nadd; i++) {
		ln = &p->lp_add[i];
		s = xcalloc(1, sizeof(*s));
		do_copy_addr(&s->ls_la, ln->ln_la);
		s->ls_id = ln->ln_id;
		s->ls_admin = ln->ln_admin;
		s->ls_activated = ln->ln_activated;
		TAILQ_INSERT_TAIL(&ls->ls_socks, s, ls_entry);
		log_info("listening on %s%s%s", s->ls_la.la_text,
		    s->ls_admin ? " (admin)" : "",
		    s->ls_activated ? " (socket-activated)" : "");
	}
	for (s = TAILQ_FIRST(&ls->ls_socks); s != NULL; s = next) {
		next = TAILQ_NEXT(s, ls_entry);
		for (j = 0; j < p->lp_ndel; j++)
			if (p->lp_del[j] == s->ls_id) {
				do_forget(ls, s);
				break;
			}
	}
	lset_plan_free(p);
}

/* The address a socket is bound to, as the config would write it. */
static const char *
do_bound_text(int fd, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_un	*sun = (struct sockaddr_un *)&ss;
	socklen_t		 sl = sizeof(ss);
	char			 host[INET6_ADDRSTRLEN];

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return ("?");
	if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6, &s6->sin6_addr,
	    host, sizeof(host)) != NULL)
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	else if (ss.ss_family == AF_INET && inet_ntop(AF_INET, &s4->sin_addr,
	    host, sizeof(host)) != NULL)
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	else if (ss.ss_family == AF_UNIX)
		snprintf(buf, len, "unix:%.*s", (int)sizeof(sun->sun_path),
		    sun->sun_path);
	else
		return ("?");
	return (buf);
}

/* Warn about each socket from systemd that no address of the config uses. */
void
lset_warn_unused(struct lset *ls)
{
	char	 text[sizeof(struct sockaddr_un) + 16];
	size_t	 i;
	int	 fd;

	for (i = 0; i < ls->ls_nactive; i++) {
		if (ls->ls_active[i].la_used)
			continue;
		fd = ls->ls_active[i].la_fd;
		log_warnx("socket-activated fd %d (%s) matches no listen or "
		    "admin.listen address; not serving it", fd,
		    do_bound_text(fd, text, sizeof(text)));
	}
}

/* At exit: forget every address (unlinking gatherd's unix sockets). */
void
lset_free(struct lset *ls)
{
	struct lsock	*s;
	size_t		 i;

	if (ls == NULL)
		return;
	while ((s = TAILQ_FIRST(&ls->ls_socks)) != NULL) {
		if (s->ls_la.la_family == AF_UNIX && !s->ls_activated)
			unlink(s->ls_la.la_path);
		TAILQ_REMOVE(&ls->ls_socks, s, ls_entry);
		listen_addr_free(&s->ls_la);
		free(s);
	}
	for (i = 0; i < ls->ls_nactive; i++)
		close(ls->ls_active[i].la_fd);
	free(ls->ls_active);
	free(ls);
}
