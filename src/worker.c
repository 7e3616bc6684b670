/*
 * Workers: N threads, each with its own event_base, evhtp listeners and
 * curl multi handle.  Nothing on the request path is shared or locked.
 *
 * The main thread owns the signals (they are blocked in every worker),
 * the listening sockets (listen.c) and the current config snapshot.  It
 * talks to a worker through a mailbox: messages (a listening socket to
 * serve or to close, a new snapshot) queued under the mailbox's mutex,
 * then one byte on the worker's pipe to wake it.  A worker applies a
 * batch of messages in order, in one turn of its loop, so a reload is a
 * single step for each worker: new sockets, new snapshot, old sockets
 * closed.  Stop is a byte of its own.
 */
#include <sys/types.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gatherd.h"

#define WORKER_CMD_STOP		'S'	/* graceful stop */
#define WORKER_CMD_QUIT		'Q'	/* stop now: cut in-flight work */
#define WORKER_CMD_MAIL		'M'	/* messages are waiting */
#define WORKER_POLL_MS		50
#define WORKER_BEAT_MAX_MS	1000	/* heartbeat period cap */

enum wmsg_type {
	WM_LISTEN,			/* serve wm_fd as listener wm_id */
	WM_UNLISTEN,			/* close listener wm_id */
	WM_CONF				/* switch to wm_conf */
};

struct wmsg {
	enum wmsg_type		 wm_type;
	uint64_t		 wm_id;
	int			 wm_fd;
	int			 wm_admin;
	struct gatherd_conf	*wm_conf;	/* a reference */
	TAILQ_ENTRY(wmsg)	 wm_entry;
};
TAILQ_HEAD(wmsg_list, wmsg);

struct wctl {
	struct worker		 wc_w;
	pthread_t		 wc_thread;
	int			 wc_pipe[2];
	struct event		*wc_cmd;
	struct event		*wc_poll;	/* drain watch while stopping */
	struct event		*wc_beat;	/* watchdog heartbeat */
	uint64_t		 wc_beat_ms;
	uint64_t		 wc_beat_us;	/* atomic: last beat */
	int			 wc_done;	/* atomic: loop has ended */
	uint64_t		 wc_stop_us;	/* when in-flight work is cut */
	int			*wc_ndraining;	/* the daemon's d_ndraining */
	int			 wc_drained;	/* counted out of it */
	pthread_mutex_t		 wc_mtx;	/* guards wc_mail */
	struct wmsg_list	 wc_mail;
};

/* What the main thread keeps while the daemon runs. */
struct daemon {
	struct wctl		*d_wc;
	int			 d_n;
	struct gatherd_conf	*d_conf;	/* current snapshot */
	struct lset		*d_lset;
	struct metrics		*d_metrics;
	int			 d_ndraining;	/* atomic: workers not done */
	sigset_t		 d_sigs;
	uint64_t		 d_wd_us;	/* watchdog period, 0: off */
	uint64_t		 d_wd_last;	/* last WATCHDOG=1 */
	int			 d_wd_stuck;	/* a worker missed its beat */
};

static int	do_nworkers(const struct gatherd_conf *);

/* ------------------------------------------------------------------ */
/* In a worker thread.                                                 */

/*
 * Whether a stopping worker still waits: for its own requests in flight,
 * and worker 0 also for the others, since it serves the admin listener
 * that shows the drain.  Nobody waits past the stop time.
 */
static int
do_draining(struct wctl *wc)
{
	struct worker	*w = &wc->wc_w;

	if (now_us() >= wc->wc_stop_us)
		return (0);
	if (w->w_ngathers > 0)
		return (1);
	if (!wc->wc_drained) {
		wc->wc_drained = 1;
		__atomic_sub_fetch(wc->wc_ndraining, 1, __ATOMIC_ACQ_REL);
	}
	return (w->w_id == 0 &&
	    __atomic_load_n(wc->wc_ndraining, __ATOMIC_ACQUIRE) > 0);
}

/* libevent: the stop drain watch; cut in-flight work once time is up. */
static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct wctl	*wc = arg;
	struct worker	*w = &wc->wc_w;
	struct timeval	 tv = { 0, WORKER_POLL_MS * 1000 };

	if (do_draining(wc)) {
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
do_stop(struct wctl *wc, int now)
{
	struct worker	*w = &wc->wc_w;

	if (now)
		wc->wc_stop_us = 0;
	if (w->w_stopping)
		return;
	w->w_stopping = 1;
	server_stop_accepting(w);
	if (!now)
		wc->wc_stop_us = now_us() +
		    w->w_conf->cf_limits.lim_shutdown_timeout_ms * 1000;
	on_poll(-1, 0, wc);
}

/* Free one message and what it still holds. */
static void
do_wmsg_free(struct wmsg *m)
{
	if (m->wm_type == WM_LISTEN && m->wm_fd != -1)
		close(m->wm_fd);
	config_unref(m->wm_conf);
	free(m);
}

/* Apply one message from the main thread. */
static void
do_wmsg(struct wctl *wc, struct wmsg *m)
{
	struct worker		*w = &wc->wc_w;
	struct gatherd_conf	*old;

	switch (m->wm_type) {
	case WM_LISTEN:
		if (server_listen_add(w, m->wm_fd, m->wm_id, m->wm_admin) ==
		    -1 && !w->w_stopping)
			log_warnx("worker %d: cannot serve listener %llu",
			    w->w_id, (unsigned long long)m->wm_id);
		m->wm_fd = -1;		/* taken over, even on failure */
		break;
	case WM_UNLISTEN:
		server_listen_remove(w, m->wm_id);
		break;
	case WM_CONF:
		old = w->w_conf;
		w->w_conf = m->wm_conf;
		m->wm_conf = NULL;
		config_unref(old);
		break;
	}
	do_wmsg_free(m);
}

/* Take every waiting message, and apply them in order. */
static void
do_mail(struct wctl *wc)
{
	struct wmsg_list	 batch;
	struct wmsg		*m;

	TAILQ_INIT(&batch);
	pthread_mutex_lock(&wc->wc_mtx);
	TAILQ_CONCAT(&batch, &wc->wc_mail, wm_entry);
	pthread_mutex_unlock(&wc->wc_mtx);
	while ((m = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, m, wm_entry);
		do_wmsg(wc, m);
	}
}

/* libevent: command bytes from the main thread. */
static void
on_cmd(evutil_socket_t fd, short what, void *arg)
{
	struct wctl	*wc = arg;
	char		 c;

	while (read(fd, &c, 1) == 1) {
		switch (c) {
		case WORKER_CMD_MAIL:
			do_mail(wc);
			break;
		case WORKER_CMD_STOP:
		case WORKER_CMD_QUIT:
			do_stop(wc, c == WORKER_CMD_QUIT);
			break;
		default:
			break;
		}
	}
}

/* libevent: the loop turns; tell the main thread, for the watchdog. */
static void
on_beat(evutil_socket_t fd, short what, void *arg)
{
	struct wctl	*wc = arg;

	__atomic_store_n(&wc->wc_beat_us, now_us(), __ATOMIC_RELAXED);
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
	__atomic_store_n(&wc->wc_done, 1, __ATOMIC_RELEASE);
	return (NULL);
}

/* ------------------------------------------------------------------ */
/* Building and freeing workers (main thread).                         */

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

/* Build one worker: event base, curl multi, server, mailbox, heartbeat. */
static void
do_worker_init(struct daemon *d, struct wctl *wc, int id)
{
	struct worker	*w = &wc->wc_w;
	struct timeval	 tv;

	w->w_id = id;
	w->w_nworkers = d->d_n;
	w->w_conf = config_ref(d->d_conf);
	w->w_metrics = d->d_metrics;
	wc->wc_ndraining = &d->d_ndraining;
	TAILQ_INIT(&w->w_gathers);
	TAILQ_INIT(&w->w_lingering);
	TAILQ_INIT(&wc->wc_mail);
	pthread_mutex_init(&wc->wc_mtx, NULL);
	if ((w->w_base = do_base_new()) == NULL)
		fatalx("%s: event_base_new", __func__);
	w->w_multi = upstream_multi_new(w->w_base);
	server_init(w);
	if (pipe2(wc->wc_pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("%s: pipe2", __func__);
	wc->wc_cmd = event_new(w->w_base, wc->wc_pipe[0], EV_READ |
	    EV_PERSIST, on_cmd, wc);
	wc->wc_poll = evtimer_new(w->w_base, on_poll, wc);
	wc->wc_beat = event_new(w->w_base, -1, EV_PERSIST, on_beat, wc);
	if (wc->wc_cmd == NULL || wc->wc_poll == NULL || wc->wc_beat == NULL ||
	    event_add(wc->wc_cmd, NULL) == -1)
		fatalx("%s: event_new", __func__);
	wc->wc_beat_us = now_us();
	if (d->d_wd_us > 0) {
		/* A beat a quarter period apart: two missed ones show. */
		wc->wc_beat_ms = d->d_wd_us / 4000;
		if (wc->wc_beat_ms > WORKER_BEAT_MAX_MS)
			wc->wc_beat_ms = WORKER_BEAT_MAX_MS;
		if (wc->wc_beat_ms == 0)
			wc->wc_beat_ms = 1;
		event_add(wc->wc_beat, ms_timeval(wc->wc_beat_ms, &tv));
	}
}

/* Free a stopped worker. */
static void
do_worker_free(struct wctl *wc)
{
	struct worker	*w = &wc->wc_w;
	struct wmsg	*m;

	while ((m = TAILQ_FIRST(&wc->wc_mail)) != NULL) {
		TAILQ_REMOVE(&wc->wc_mail, m, wm_entry);
		do_wmsg_free(m);
	}
	server_free(w);
	gate_free_lingering(w);
	upstream_multi_free(w->w_multi);
	event_free(wc->wc_cmd);
	event_free(wc->wc_poll);
	event_free(wc->wc_beat);
	event_base_free(w->w_base);
	close(wc->wc_pipe[0]);
	close(wc->wc_pipe[1]);
	pthread_mutex_destroy(&wc->wc_mtx);
	config_unref(w->w_conf);
}

/* ------------------------------------------------------------------ */
/* Talking to workers (main thread).                                   */

/* Queue one message for a worker (it runs once the worker is woken). */
static void
do_post(struct wctl *wc, enum wmsg_type type, uint64_t id, int fd, int admin,
    struct gatherd_conf *cf)
{
	struct wmsg	*m;

	m = xcalloc(1, sizeof(*m));
	m->wm_type = type;
	m->wm_id = id;
	m->wm_fd = fd;
	m->wm_admin = admin;
	m->wm_conf = cf != NULL ? config_ref(cf) : NULL;
	pthread_mutex_lock(&wc->wc_mtx);
	TAILQ_INSERT_TAIL(&wc->wc_mail, m, wm_entry);
	pthread_mutex_unlock(&wc->wc_mtx);
}

/* Send one command byte to every worker. */
static void
do_tell(struct daemon *d, char cmd)
{
	int	 k;

	for (k = 0; k < d->d_n; k++)
		if (write(d->d_wc[k].wc_pipe[1], &cmd, 1) != 1)
			log_warn("%s: worker %d", __func__, k);
}

/*
 * Hand a listener plan and (unless NULL) a snapshot to every worker, in
 * the order that loses no connection: new sockets, the snapshot, then
 * the sockets that go.  The plan's descriptors are the workers' now.
 */
static void
do_hand_over(struct daemon *d, struct lplan *p, struct gatherd_conf *cf)
{
	struct wctl	*wc;
	size_t		 i;
	int		 k;

	for (k = 0; k < d->d_n; k++) {
		wc = &d->d_wc[k];
		for (i = 0; i < p->lp_nadd; i++)
			if (p->lp_add[i].ln_fds[k] != -1)
				do_post(wc, WM_LISTEN, p->lp_add[i].ln_id,
				    p->lp_add[i].ln_fds[k],
				    p->lp_add[i].ln_admin, NULL);
		if (cf != NULL)
			do_post(wc, WM_CONF, 0, -1, 0, cf);
		for (i = 0; i < p->lp_ndel; i++)
			do_post(wc, WM_UNLISTEN, p->lp_del[i], -1, 0, NULL);
	}
	do_tell(d, WORKER_CMD_MAIL);
	lset_commit(d->d_lset, p);
}

/* ------------------------------------------------------------------ */
/* Reload, watchdog and signals (main thread).                         */

/* The workers setting as written: a number, or auto. */
static const char *
do_workers_text(int n, char *buf, size_t len)
{
	if (n == 0)
		return ("auto");
	snprintf(buf, len, "%d", n);
	return (buf);
}

/* Tell systemd that the daemon serves, and what. */
static void
do_notify_ready(struct daemon *d, const char *how)
{
	sd_notifyf(0, "READY=1\nSTATUS=serving %zu endpoints with %d "
	    "workers%s", d->d_conf->cf_nendpoints, d->d_n, how);
}

/*
 * The number of workers cannot change live: a file asking for another
 * number than the one running is told so (and what runs is kept).
 */
static void
do_check_workers(struct daemon *d, const struct gatherd_conf *cf)
{
	char	 b[16];

	if (do_nworkers(cf) == d->d_n)
		return;
	log_warnx("reload: workers: %s asks for %s, which needs a restart; "
	    "keeping %d workers", cf->cf_file,
	    do_workers_text(cf->cf_workers, b, sizeof(b)), d->d_n);
}

/*
 * A refused file's errors, one log line each, so that each one reaches
 * the journal whole and with its warning priority.
 */
static void
do_log_errors(char *errbuf)
{
	char	*line, *next;

	log_warnx("reload failed, keeping the running config:");
	for (line = errbuf; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line != '\0')
			log_warnx("%s", line);
	}
}

/* A reload was refused: count it, and tell systemd the old config runs. */
static void
do_reload_refused(struct daemon *d)
{
	metrics_reload(d->d_metrics, 0);
	do_notify_ready(d, "; reload failed, see the log");
}

/*
 * SIGHUP: load the file again; on success open its new addresses, hand
 * the snapshot to every worker and close the addresses that went.  On
 * any error the running config stays, and the log says why.
 */
static void
do_reload(struct daemon *d)
{
	struct gatherd_conf	*cf;
	struct lplan		 plan;
	char			 errbuf[CONFIG_ERRBUF];

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
	    (unsigned long long)now_us(), d->d_conf->cf_file);
	if ((cf = config_load(d->d_conf->cf_file, errbuf, sizeof(errbuf))) ==
	    NULL) {
		do_log_errors(errbuf);
		do_reload_refused(d);
		return;
	}
	if (lset_plan(d->d_lset, cf, &plan, errbuf, sizeof(errbuf)) == -1) {
		log_warnx("reload failed, keeping the running config: %s",
		    errbuf);
		config_unref(cf);
		do_reload_refused(d);
		return;
	}
	do_check_workers(d, cf);
	metrics_bind(d->d_metrics, cf);
	metrics_reload(d->d_metrics, 1);
	do_hand_over(d, &plan, cf);
	config_unref(d->d_conf);
	d->d_conf = cf;
	log_info("reload: configuration from %s is live", cf->cf_file);
	do_notify_ready(d, " (reloaded)");
}

/*
 * The watchdog: ping systemd only while every worker's loop turns, so a
 * stuck worker gets the daemon restarted.
 */
static void
do_watchdog(struct daemon *d)
{
	uint64_t	 now = now_us(), beat, late = 0;
	int		 k, stuck = -1;

	if (d->d_wd_us == 0 || now - d->d_wd_last < d->d_wd_us / 2)
		return;
	for (k = 0; k < d->d_n; k++) {
		if (__atomic_load_n(&d->d_wc[k].wc_done, __ATOMIC_ACQUIRE))
			continue;
		beat = __atomic_load_n(&d->d_wc[k].wc_beat_us,
		    __ATOMIC_RELAXED);
		if (now > beat && now - beat > d->d_wd_us / 2) {
			stuck = k;
			late = now - beat;
		}
	}
	if (stuck != -1) {
		if (!d->d_wd_stuck)
			log_warnx("watchdog: worker %d has not turned its loop "
			    "for %llu ms; not telling systemd we are alive",
			    stuck, (unsigned long long)(late / 1000));
		d->d_wd_stuck = 1;
		return;
	}
	d->d_wd_stuck = 0;
	d->d_wd_last = now;
	sd_notify(0, "WATCHDOG=1");
}

/*
 * Wait for a signal, at most poll_us (0: no limit) and no longer than the
 * next watchdog ping allows: the signal, or 0 if none came.
 */
static int
do_sigwait(struct daemon *d, uint64_t poll_us)
{
	struct timespec	 ts;
	uint64_t	 us = poll_us;
	int		 sig;

	if (d->d_wd_us > 0 && (us == 0 || us > d->d_wd_us / 4))
		us = d->d_wd_us / 4;
	if (us == 0) {
		if (sigwait(&d->d_sigs, &sig) != 0)
			return (0);
		return (sig);
	}
	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	sig = sigtimedwait(&d->d_sigs, NULL, &ts);
	do_watchdog(d);
	return (sig > 0 ? sig : 0);
}

/* Serve signals until a stop has been asked. */
static void
do_signals(struct daemon *d)
{
	int	 sig;

	for (;;) {
		if ((sig = do_sigwait(d, 0)) == 0)
			continue;
		if (sig == SIGHUP) {
			do_reload(d);
			continue;
		}
		log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		return;
	}
}

/*
 * Stop: every worker finishes what it has, up to shutdown_timeout.  The
 * main thread keeps the watchdog fed meanwhile; a second SIGTERM or
 * SIGINT cuts the in-flight requests at once.
 */
static void
do_drain(struct daemon *d)
{
	int	 k, sig, left;

	metrics_set_state(d->d_metrics, METRICS_STOPPING);
	sd_notifyf(0, "STOPPING=1\nSTATUS=stopping: finishing requests in "
	    "flight (up to %llu ms)", (unsigned long long)
	    d->d_conf->cf_limits.lim_shutdown_timeout_ms);
	do_tell(d, WORKER_CMD_STOP);
	for (;;) {
		for (k = 0, left = 0; k < d->d_n; k++)
			if (!__atomic_load_n(&d->d_wc[k].wc_done,
			    __ATOMIC_ACQUIRE))
				left++;
		if (left == 0)
			break;
		sig = do_sigwait(d, WORKER_POLL_MS * 1000);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("second stop signal: cutting requests in "
			    "flight");
			do_tell(d, WORKER_CMD_QUIT);
		}
	}
	for (k = 0; k < d->d_n; k++)
		pthread_join(d->d_wc[k].wc_thread, NULL);
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

/* Open the listeners, build and start the workers. */
static void
do_start(struct daemon *d)
{
	struct lplan	 plan;
	char		 err[512];
	uint64_t	 wd;
	int		 k;

	if (sd_watchdog_enabled(1, &wd) > 0)
		d->d_wd_us = wd;
	d->d_lset = lset_new(d->d_n);
	if (lset_plan(d->d_lset, d->d_conf, &plan, err, sizeof(err)) == -1)
		fatalx("%s", err);
	lset_warn_unused(d->d_lset);
	d->d_wc = xcalloc((size_t)d->d_n, sizeof(*d->d_wc));
	for (k = 0; k < d->d_n; k++)
		do_worker_init(d, &d->d_wc[k], k);
	do_hand_over(d, &plan, NULL);
	for (k = 0; k < d->d_n; k++)
		if (pthread_create(&d->d_wc[k].wc_thread, NULL, do_worker,
		    &d->d_wc[k]))
			fatalx("cannot start worker %d", k);
	if (d->d_wd_us > 0)
		log_info("watchdog: telling systemd every %llu ms",
		    (unsigned long long)(d->d_wd_us / 2000));
}

/*
 * Run the daemon: open the listeners, start the workers, serve signals,
 * and return once every worker has stopped.  Takes over the config ref.
 */
int
worker_run_all(struct gatherd_conf *cf)
{
	struct daemon	 d;
	int		 k;

	memset(&d, 0, sizeof(d));
	d.d_conf = cf;
	d.d_n = do_nworkers(cf);
	d.d_ndraining = d.d_n;
	d.d_metrics = metrics_new(d.d_n);
	metrics_bind(d.d_metrics, cf);
	sigemptyset(&d.d_sigs);
	sigaddset(&d.d_sigs, SIGHUP);
	sigaddset(&d.d_sigs, SIGTERM);
	sigaddset(&d.d_sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &d.d_sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	do_start(&d);
	log_info("gatherd %s: %d workers, %zu endpoints", PACKAGE_VERSION,
	    d.d_n, cf->cf_nendpoints);
	metrics_set_state(d.d_metrics, METRICS_READY);
	do_notify_ready(&d, "");
	do_signals(&d);
	do_drain(&d);
	for (k = 0; k < d.d_n; k++)
		do_worker_free(&d.d_wc[k]);
	free(d.d_wc);
	lset_free(d.d_lset);
	config_unref(d.d_conf);
	metrics_free(d.d_metrics);
	log_info("stopped");
	return (0);
}
