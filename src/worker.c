/*
 * Workers: N threads, each with its own event_base, evhtp listeners
 * (SO_REUSEPORT sockets, so the kernel spreads connections) and curl
 * multi handle.  Nothing on the request path is shared or locked.
 *
 * The main thread owns the signals (they are blocked in every worker) and
 * talks to each worker through a pipe: one byte per command.  A new config
 * snapshot is handed over by pointer before the byte is written.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatherd.h"

#define WORKER_CMD_STOP		'S'
#define WORKER_CMD_CONF		'C'
#define WORKER_POLL_MS		50

struct wctl {
	struct worker		 wc_w;
	pthread_t		 wc_thread;
	int			 wc_pipe[2];
	struct event		*wc_cmd;
	struct event		*wc_poll;	/* drain watch while stopping */
	uint64_t		 wc_stop_us;	/* when in-flight work is cut */
	struct gatherd_conf	*wc_next;	/* handed over with CMD_CONF */
	int			*wc_fds;
	size_t			 wc_nfds;
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

/* Open every listening socket of every worker before any thread starts. */
static void
do_open_listeners(struct gatherd_conf *cf, struct wctl *wc, int n)
{
	const struct listen_addr	*la;
	size_t				 i;
	int				 k, fd = -1;

	for (k = 0; k < n; k++)
		wc[k].wc_fds = xcalloc(cf->cf_nlisten, sizeof(int));
	for (i = 0; i < cf->cf_nlisten; i++) {
		la = &cf->cf_listen[i];
		for (k = 0; k < n; k++) {
			if (la->la_family == AF_UNIX && k > 0)
				fd = dup(wc[0].wc_fds[i]);
			else
				fd = do_listen(la, k == 0);
			if (fd == -1)
				fatal("cannot listen on %s", la->la_text);
			wc[k].wc_fds[wc[k].wc_nfds++] = fd;
		}
		log_info("listening on %s", la->la_text);
	}
}

/* libevent: the stop drain watch; cut in-flight work once time is up. */
static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct wctl	*wc = arg;
	struct worker	*w = &wc->wc_w;
	struct timeval	 tv = { 0, WORKER_POLL_MS * 1000 };

	if (w->w_ngathers > 0 && now_us() < wc->wc_stop_us) {
		evtimer_add(wc->wc_poll, &tv);
		return;
	}
	gather_shutdown(w);
	server_free(w);
	if (TAILQ_EMPTY(&w->w_lingering)) {
		event_base_loopexit(w->w_base, NULL);
		return;
	}
	evtimer_add(wc->wc_poll, &tv);
}

/* Begin a graceful stop: no new connections, in-flight requests finish. */
static void
do_stop(struct wctl *wc)
{
	struct worker	*w = &wc->wc_w;

	if (w->w_stopping)
		return;
	w->w_stopping = 1;
	server_stop_accepting(w);
	wc->wc_stop_us = now_us() +
	    w->w_conf->cf_limits.lim_shutdown_timeout_ms * 1000;
	on_poll(-1, 0, wc);
}

/* libevent: a command byte from the main thread. */
static void
on_cmd(evutil_socket_t fd, short what, void *arg)
{
	struct wctl		*wc = arg;
	struct gatherd_conf	*old;
	char			 c;

	while (read(fd, &c, 1) == 1) {
		switch (c) {
		case WORKER_CMD_STOP:
			do_stop(wc);
			break;
		case WORKER_CMD_CONF:
			old = wc->wc_w.w_conf;
			wc->wc_w.w_conf = __atomic_exchange_n(&wc->wc_next,
			    NULL, __ATOMIC_ACQ_REL);
			config_unref(old);
			break;
		default:
			break;
		}
	}
}

/* The thread of one worker: run its loop until it has stopped. */
static void *
do_worker(void *arg)
{
	struct wctl	*wc = arg;
	struct worker	*w = &wc->wc_w;

	event_base_dispatch(w->w_base);
	/* Let queued gather frees run before the base goes. */
	event_base_loop(w->w_base, EVLOOP_NONBLOCK);
	return (NULL);
}

/*
 * An event base without locks (a worker's base is its own) that batches
 * epoll changes per loop turn: curl changes a socket's interest several
 * times during one exchange.
 */
static struct event_base *
do_base_new(void)
{
	struct event_config	*ec;
	struct event_base	*base;

	if ((ec = event_config_new()) == NULL)
		return (NULL);
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK |
	    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return (base);
}

/* Build one worker: event base, curl multi, listeners, command pipe. */
static void
do_worker_init(struct wctl *wc, int id, int n, struct gatherd_conf *cf)
{
	struct worker	*w = &wc->wc_w;

	w->w_id = id;
	w->w_nworkers = n;
	w->w_conf = config_ref(cf);
	TAILQ_INIT(&w->w_gathers);
	TAILQ_INIT(&w->w_lingering);
	if ((w->w_base = do_base_new()) == NULL)
		fatalx("%s: event_base_new", __func__);
	w->w_multi = upstream_multi_new(w->w_base);
	if (server_init(w, wc->wc_fds, wc->wc_nfds) == -1)
		fatalx("worker %d: cannot start its listeners", id);
	if (pipe2(wc->wc_pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("%s: pipe2", __func__);
	wc->wc_cmd = event_new(w->w_base, wc->wc_pipe[0], EV_READ |
	    EV_PERSIST, on_cmd, wc);
	wc->wc_poll = evtimer_new(w->w_base, on_poll, wc);
	if (wc->wc_cmd == NULL || wc->wc_poll == NULL ||
	    event_add(wc->wc_cmd, NULL) == -1)
		fatalx("%s: event_new", __func__);
}

/* Free a stopped worker. */
static void
do_worker_free(struct wctl *wc)
{
	struct worker	*w = &wc->wc_w;

	server_free(w);
	gate_free_lingering(w);
	upstream_multi_free(w->w_multi);
	event_free(wc->wc_cmd);
	event_free(wc->wc_poll);
	event_base_free(w->w_base);
	close(wc->wc_pipe[0]);
	close(wc->wc_pipe[1]);
	config_unref(w->w_conf);
	config_unref(wc->wc_next);
	free(wc->wc_fds);
}

/* Send one command byte to every worker. */
static void
do_tell(struct wctl *wc, int n, char cmd)
{
	int	 k;

	for (k = 0; k < n; k++)
		if (write(wc[k].wc_pipe[1], &cmd, 1) != 1)
			log_warn("%s: worker %d", __func__, k);
}

/* SIGHUP: load the file again and hand the new snapshot to every worker. */
static void
do_reload(struct gatherd_conf **cur, struct wctl *wc, int n)
{
	struct gatherd_conf	*cf, *prev;
	struct metrics		*m = wc[0].wc_w.w_metrics;
	char			 errbuf[8192];
	int			 k;

	if ((cf = config_load((*cur)->cf_file, errbuf, sizeof(errbuf))) ==
	    NULL) {
		log_warnx("reload failed, keeping the running config:\n%s",
		    errbuf);
		metrics_reload(m, 0);
		return;
	}
	metrics_bind(m, cf);
	metrics_reload(m, 1);
	if (cf->cf_workers != (*cur)->cf_workers)
		log_warnx("reload: a change of workers needs a restart");
	for (k = 0; k < n; k++) {
		prev = __atomic_exchange_n(&wc[k].wc_next, config_ref(cf),
		    __ATOMIC_ACQ_REL);
		config_unref(prev);
	}
	do_tell(wc, n, WORKER_CMD_CONF);
	config_unref(*cur);
	*cur = cf;
	log_info("reload: configuration from %s is live", cf->cf_file);
}

/* Wait for signals in the main thread until a stop has been asked. */
static void
do_signals(struct gatherd_conf **cur, struct wctl *wc, int n,
    const sigset_t *set)
{
	int	 sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			do_reload(cur, wc, n);
			continue;
		}
		log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		metrics_set_state(wc[0].wc_w.w_metrics, METRICS_STOPPING);
		do_tell(wc, n, WORKER_CMD_STOP);
		return;
	}
}

/* Number of workers: the configured count, or one per online CPU. */
static int
do_nworkers(const struct gatherd_conf *cf)
{
	long	 n;

	if (cf->cf_workers > 0)
		return (cf->cf_workers);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > CONFIG_MAX_WORKERS)
		n = CONFIG_MAX_WORKERS;
	return ((int)n);
}

/*
 * Run the daemon: open the listeners, start the workers, serve signals,
 * and return once every worker has stopped.  Takes over the config ref.
 */
int
worker_run_all(struct gatherd_conf *cf, int unused)
{
	struct wctl	*wc;
	struct metrics	*m;
	sigset_t	 set;
	size_t		 i;
	int		 n = do_nworkers(cf), k;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	wc = xcalloc((size_t)n, sizeof(*wc));
	m = metrics_new(n);
	metrics_bind(m, cf);
	do_open_listeners(cf, wc, n);
	for (k = 0; k < n; k++) {
		wc[k].wc_w.w_metrics = m;
		do_worker_init(&wc[k], k, n, cf);
	}
	for (k = 0; k < n; k++)
		if (pthread_create(&wc[k].wc_thread, NULL, do_worker, &wc[k]))
			fatalx("cannot start worker %d", k);
	metrics_set_state(m, METRICS_READY);
	log_info("gatherd %s: %d workers, %zu endpoints", PACKAGE_VERSION, n,
	    cf->cf_nendpoints);
	sd_notifyf(0, "READY=1\nSTATUS=serving %zu endpoints with %d workers",
	    cf->cf_nendpoints, n);
	do_signals(&cf, wc, n, &set);
	sd_notify(0, "STOPPING=1");
	for (k = 0; k < n; k++) {
		pthread_join(wc[k].wc_thread, NULL);
		do_worker_free(&wc[k]);
	}
	for (i = 0; i < cf->cf_nlisten; i++)
		if (cf->cf_listen[i].la_family == AF_UNIX)
			unlink(cf->cf_listen[i].la_path);
	free(wc);
	metrics_free(m);
	config_unref(cf);
	log_info("stopped");
	return (0);
}
