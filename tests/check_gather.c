/*
 * gather.c: who owns one fan-out request, pinned down with a real event
 * loop and real upstream calls against tests/mock_upstream.  One TCase per
 * way a gather ends: every call done, the client gone mid-flight, the
 * deadline with a call pending, a failed required upstream, every upstream
 * failing, shutdown mid-flight, many gathers at once with every second
 * client gone, and a second round of gathers on pooled easy handles.
 *
 * Every case ends the same way: once the loop has drained, no gather is
 * live and no easy handle is attached to the multi; then the frees that
 * gather_close() queued are run, the config snapshot must be back to the
 * test's one reference, and the worker is freed, so that ASan's leak check
 * sees whatever a gather left behind.  The worker's metrics must add up
 * too: nothing in flight, each gather and each call it started counted
 * exactly once.  The gathers have no client (req is
 * NULL), so their replies go nowhere: what the upstream saw is read from
 * the mock's GET /_stats, whose "aborted" rises when a connection closes
 * while the mock still owed it a reply, i.e. when a call was cancelled.
 *
 * Each TCase starts its own mock from an unchecked fixture (in the runner,
 * so the forked tests share it) and writes a config for its port into a
 * temp dir.  Waits run the loop until a condition holds, bounded in turns
 * and in time; nothing sleeps.  Without a built mock the test exits 77.
 */
#include <sys/types.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include <check.h>

#include "gatherd.h"
#include "check_util.h"

#define MOCK_START_MS	10000	/* for the mock's port file */
#define MOCK_STOP_MS	3000	/* for the mock to exit on SIGTERM */
#define MOCK_MAX_WAKES	1000	/* wake-ups while starting or stopping */
#define STATS_IO_S	2	/* one /_stats exchange */
#define RUN_TICK_MS	5	/* the loop wakes at least this often */
#define RUN_MAX_TURNS	200000
#define WAIT_MS		5000	/* the longest any wait may take */
#define TEST_TIMEOUT_S	30
#define NMANY		50	/* gathers in flight at once */

/* Endpoint deadlines, as the config below sets them. */
#define DONE_DEADLINE_MS	5000
#define GONE_DEADLINE_MS	1000
#define SHORT_DEADLINE_MS	200
#define REQUIRED_DEADLINE_MS	3000
#define FAIL_DEADLINE_MS	3000
#define SLOW_DEADLINE_MS	5000
#define SLOW_MS			1000	/* delay of the slow upstreams */
#define GONE_MS			500	/* delay of /gone's upstreams */
#define BAD_MS			200	/* delay of /required's 500 */

/*
 * The endpoints, one row per upstream: endpoint /ep/{id}, its deadline,
 * the upstream's name and its mock script (NULL: a port that refuses).
 */
static const struct test_up {
	const char	*tu_ep;
	int		 tu_deadline_ms;
	const char	*tu_name;
	const char	*tu_script;
	int		 tu_required;
} test_ups[] = {
	{ "done", DONE_DEADLINE_MS, "a", "", 0 },
	{ "done", DONE_DEADLINE_MS, "b", "delay=20", 0 },
	{ "done", DONE_DEADLINE_MS, "c", "delay=50", 1 },
	{ "gone", GONE_DEADLINE_MS, "a", "delay=500", 0 },
	{ "gone", GONE_DEADLINE_MS, "b", "delay=500", 1 },
	{ "gone", GONE_DEADLINE_MS, "c", "delay=500", 0 },
	{ "deadline", SHORT_DEADLINE_MS, "a", "", 0 },
	{ "deadline", SHORT_DEADLINE_MS, "b", "delay=20", 0 },
	{ "deadline", SHORT_DEADLINE_MS, "slow", "delay=1000", 0 },
	{ "required", REQUIRED_DEADLINE_MS, "bad", "status=500&delay=200", 1 },
	{ "required", REQUIRED_DEADLINE_MS, "slow1", "delay=1000", 0 },
	{ "required", REQUIRED_DEADLINE_MS, "slow2", "delay=1000", 0 },
	{ "fail", FAIL_DEADLINE_MS, "refused", NULL, 0 },
	{ "fail", FAIL_DEADLINE_MS, "closed", "close=1", 0 },
	{ "slow", SLOW_DEADLINE_MS, "a", "delay=1000", 0 },
	{ "slow", SLOW_DEADLINE_MS, "b", "delay=1000", 0 },
};
#define NTEST_UPS	NELEM(test_ups)

/* The mock of the running TCase: set in the runner, read by the tests. */
static struct {
	pid_t		 m_pid;
	int		 m_port;
	int		 m_refused_fd;	/* bound, never listening */
	int		 m_refused_port;
	int		 m_sigfd;	/* SIGCHLD, blocked while the mock runs */
	sigset_t	 m_oldmask;
	char		 m_dir[PATH_MAX];
	char		 m_portfile[PATH_MAX + 16];
	char		 m_conf[PATH_MAX + 16];
} mock = { .m_pid = -1, .m_refused_fd = -1, .m_sigfd = -1 };

static char	 mock_bin[PATH_MAX + 32];

/* What the test began, for the metrics to add up to at the end. */
static struct {
	unsigned long long	 b_gathers;
	unsigned long long	 b_calls;
} begun;

/* The mock's GET /_stats. */
struct stats {
	long	 st_requests;
	long	 st_open;
	long	 st_aborted;
};

/* ------------------------------------------------------------------ */
/* The mock upstream: start, stop, ask.                                */

/* The port in the mock's port file, or -1 while there is none. */
static int
read_port(const char *path)
{
	FILE	*fp;
	int	 port = -1;

	if ((fp = fopen(path, "r")) == NULL)
		return (-1);
	if (fscanf(fp, "%d", &port) != 1 || port <= 0 || port > 65535)
		port = -1;
	fclose(fp);
	return (port);
}

/* Wait for fd (or the mock's death on m_sigfd) until end_us; drain both. */
static void
wait_fds(int fd, uint64_t end_us)
{
	struct pollfd	 pfd[2];
	char		 buf[4096];
	uint64_t	 now = now_us();
	int		 n = 0, i;

	if (now >= end_us)
		return;
	if (fd != -1) {
		pfd[n].fd = fd;
		pfd[n++].events = POLLIN;
	}
	pfd[n].fd = mock.m_sigfd;
	pfd[n++].events = POLLIN;
	if (poll(pfd, n, (int)((end_us - now) / 1000) + 1) <= 0)
		return;
	for (i = 0; i < n; i++)
		while (read(pfd[i].fd, buf, sizeof(buf)) > 0)
			;
}

/* A loopback port with a socket bound to it that never listens. */
static void
open_refused_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	mock.m_refused_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(mock.m_refused_fd, -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(mock.m_refused_fd, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(mock.m_refused_fd,
	    (struct sockaddr *)&sin, &len), 0);
	mock.m_refused_port = ntohs(sin.sin_port);
}

/* Write the config: every endpoint of test_ups, on the mock's port. */
static void
write_conf(void)
{
	const struct test_up	*tu;
	FILE			*fp;
	size_t			 i;

	ck_assert_ptr_nonnull(fp = fopen(mock.m_conf, "w"));
	fprintf(fp, "# check_gather: mock upstream on port %d\n"
	    "defaults:\n  timeout: 5s\n  connect_timeout: 1s\n"
	    "endpoints:\n", mock.m_port);
	for (i = 0; i < NTEST_UPS; i++) {
		tu = &test_ups[i];
		if (i == 0 || strcmp(tu->tu_ep, test_ups[i - 1].tu_ep) != 0)
			fprintf(fp, "  - path: /%s/{id}\n    deadline: %dms\n"
			    "    upstreams:\n", tu->tu_ep, tu->tu_deadline_ms);
		fprintf(fp, "      - name: %s\n        url: "
		    "\"http://127.0.0.1:%d/%s/{id}%s%s\"\n"
		    "        required: %s\n", tu->tu_name,
		    tu->tu_script != NULL ? mock.m_port : mock.m_refused_port,
		    tu->tu_name, tu->tu_script != NULL &&
		    tu->tu_script[0] != '\0' ? "?" : "",
		    tu->tu_script != NULL ? tu->tu_script : "",
		    tu->tu_required ? "true" : "false");
	}
	ck_assert_int_eq(fclose(fp), 0);
}

/* Unchecked fixture: start this TCase's mock and write its config. */
static void
mock_start(void)
{
	const char	*tmp = getenv("TMPDIR");
	sigset_t	 chld;
	uint64_t	 end;
	int		 ino, status, i;

	snprintf(mock.m_dir, sizeof(mock.m_dir), "%s/check_gather.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(mock.m_dir));
	snprintf(mock.m_portfile, sizeof(mock.m_portfile), "%s/port",
	    mock.m_dir);
	snprintf(mock.m_conf, sizeof(mock.m_conf), "%s/gather.yaml",
	    mock.m_dir);
	open_refused_port();

	/* The mock's death and its port file both wake the wait below. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &chld, &mock.m_oldmask), 0);
	mock.m_sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	ck_assert_int_ne(mock.m_sigfd, -1);
	ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ck_assert_int_ne(ino, -1);
	ck_assert_int_ne(inotify_add_watch(ino, mock.m_dir, IN_MOVED_TO |
	    IN_CLOSE_WRITE), -1);

	ck_assert_int_ne(mock.m_pid = fork(), -1);
	if (mock.m_pid == 0) {
		sigprocmask(SIG_SETMASK, &mock.m_oldmask, NULL);
		execl(mock_bin, mock_bin, "-p", "0", "-P", mock.m_portfile,
		    (char *)NULL);
		_exit(127);
	}
	end = now_us() + MOCK_START_MS * 1000ULL;
	for (i = 0; i < MOCK_MAX_WAKES && now_us() < end; i++) {
		if ((mock.m_port = read_port(mock.m_portfile)) > 0)
			break;
		if (waitpid(mock.m_pid, &status, WNOHANG) == mock.m_pid) {
			mock.m_pid = -1;
			break;
		}
		wait_fds(ino, end);
	}
	close(ino);
	ck_assert_msg(mock.m_port > 0, "%s did not start", mock_bin);
	write_conf();
}

/* Unchecked fixture: stop the mock, bounded, and remove the temp dir. */
static void
mock_stop(void)
{
	uint64_t	 end = now_us() + MOCK_STOP_MS * 1000ULL;
	int		 status, i;

	if (mock.m_pid > 0) {
		kill(mock.m_pid, SIGTERM);
		for (i = 0; i < MOCK_MAX_WAKES; i++) {
			if (waitpid(mock.m_pid, &status, WNOHANG) != 0)
				break;
			if (now_us() >= end) {
				kill(mock.m_pid, SIGKILL);
				waitpid(mock.m_pid, &status, 0);
				break;
			}
			wait_fds(-1, end);
		}
		mock.m_pid = -1;
	}
	if (mock.m_sigfd != -1) {
		close(mock.m_sigfd);
		mock.m_sigfd = -1;
		sigprocmask(SIG_SETMASK, &mock.m_oldmask, NULL);
	}
	if (mock.m_refused_fd != -1) {
		close(mock.m_refused_fd);
		mock.m_refused_fd = -1;
	}
	unlink(mock.m_conf);
	unlink(mock.m_portfile);
	rmdir(mock.m_dir);
	mock.m_port = 0;
}

/* One GET /_stats exchange with the mock; 0, or -1 on any failure. */
static int
mock_stats(struct stats *st)
{
	static const char	 req[] = "GET /_stats HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\nConnection: close\r\n\r\n";
	struct sockaddr_in	 sin;
	struct timeval		 tv = { STATS_IO_S, 0 };
	json_t			*j;
	json_int_t		 r, o, a;
	char			 buf[2048], *body;
	size_t			 used = 0;
	ssize_t			 n;
	int			 fd, rc = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)mock.m_port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		goto fail;
	while (used < sizeof(buf) - 1 &&
	    (n = read(fd, buf + used, sizeof(buf) - 1 - used)) > 0)
		used += (size_t)n;
	buf[used] = '\0';
	if ((body = strstr(buf, "\r\n\r\n")) == NULL ||
	    (j = json_loads(body + 4, 0, NULL)) == NULL)
		goto fail;
	if (json_unpack(j, "{s:I, s:I, s:I}", "requests", &r, "open", &o,
	    "aborted", &a) == 0) {
		st->st_requests = (long)r;
		st->st_open = (long)o;
		st->st_aborted = (long)a;
		rc = 0;
	}
	json_decref(j);
fail:
	close(fd);
	return (rc);
}

/* The mock's counters now; the test fails if it cannot tell. */
static struct stats
stats_get(void)
{
	struct stats	 st;

	ck_assert_msg(mock_stats(&st) == 0, "cannot read the mock's /_stats");
	return (st);
}

/* ------------------------------------------------------------------ */
/* A worker built by hand, its loop, and its teardown.                 */

/* libevent: wakes the loop so that a condition is checked again. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
}

/* event_base_once: the sentinel queued behind the gathers' frees. */
static void
on_flag(evutil_socket_t fd, short what, void *arg)
{
	*(int *)arg = 1;
}

/* Run the loop until cond holds: 0, or -1 at the deadline of ms. */
static int
run_until(struct worker *w, int (*cond)(struct worker *, void *), void *arg,
    uint64_t ms)
{
	struct event	*tick;
	struct timeval	 tv = { 0, RUN_TICK_MS * 1000 };
	uint64_t	 end = now_us() + ms * 1000;
	int		 n, ok;

	tick = event_new(w->w_base, -1, EV_PERSIST, on_tick, NULL);
	ck_assert_ptr_nonnull(tick);
	ck_assert_int_eq(event_add(tick, &tv), 0);
	for (n = 0; n < RUN_MAX_TURNS; n++) {
		if (cond(w, arg) || now_us() >= end)
			break;
		ck_assert_int_ne(event_base_loop(w->w_base, EVLOOP_ONCE), -1);
	}
	ok = cond(w, arg);
	event_free(tick);
	return (ok ? 0 : -1);
}

/* No gather is live and no easy handle is attached. */
static int
cond_drained(struct worker *w, void *arg)
{
	return (w->w_ngathers == 0 && TAILQ_EMPTY(&w->w_gathers) &&
	    upstream_multi_nhandles(w->w_multi) == 0);
}

/* The clock has reached *(uint64_t *)arg. */
static int
cond_time(struct worker *w, void *arg)
{
	return (now_us() >= *(const uint64_t *)arg);
}

struct goal {
	size_t	 go_off;	/* a long in struct stats */
	long	 go_min;
};

/* A counter of the mock has reached its goal. */
static int
cond_stat(struct worker *w, void *arg)
{
	const struct goal	*go = arg;
	struct stats		 st;

	if (mock_stats(&st) == -1)
		return (0);
	return (*(long *)((char *)&st + go->go_off) >= go->go_min);
}

/* Run the loop until the mock's counter field reaches min. */
#define WAIT_STAT(w, field, min)					\
	wait_stat((w), offsetof(struct stats, field), (min), #field)

static void
wait_stat(struct worker *w, size_t off, long min, const char *what)
{
	struct goal	 go = { off, min };

	ck_assert_msg(run_until(w, cond_stat, &go, WAIT_MS) == 0,
	    "the mock's %s never reached %ld", what, min);
}

/* Run the loop until it has drained. */
static void
run_drained(struct worker *w)
{
	ck_assert_msg(run_until(w, cond_drained, NULL, WAIT_MS) == 0,
	    "not drained: %zu gathers live, %zu easy handles attached",
	    w->w_ngathers, upstream_multi_nhandles(w->w_multi));
}

/* The drain conditions, one by one for a precise message. */
static void
assert_drained(struct worker *w)
{
	ck_assert_uint_eq(w->w_ngathers, 0);
	ck_assert(TAILQ_EMPTY(&w->w_gathers));
	ck_assert_uint_eq(upstream_multi_nhandles(w->w_multi), 0);
}

/* A worker as worker.c builds one, without a server. */
static void
worker_init(struct worker *w)
{
	char	 errbuf[4096];

	memset(w, 0, sizeof(*w));
	w->w_nworkers = 1;
	TAILQ_INIT(&w->w_gathers);
	TAILQ_INIT(&w->w_lingering);
	w->w_conf = config_load(mock.m_conf, errbuf, sizeof(errbuf));
	ck_assert_msg(w->w_conf != NULL, "%s", errbuf);
	w->w_metrics = metrics_new(1);
	metrics_bind(w->w_metrics, w->w_conf);
	memset(&begun, 0, sizeof(begun));
	ck_assert_ptr_nonnull(w->w_base = event_base_new());
	w->w_multi = upstream_multi_new(w->w_base);
}

/*
 * The metrics of a drained worker: no gauge in flight, every gather
 * counted once (whatever its status) and every call once (whatever its
 * kind).
 */
static void
assert_metrics_settled(struct worker *w)
{
	unsigned long long	 v, nreq = 0, ncalls = 0;
	char			*text, *line, *save, *sp;
	size_t			 len;

	text = metrics_render(w->w_metrics, &len);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || (sp = strrchr(line, ' ')) == NULL)
			continue;
		v = strtoull(sp + 1, NULL, 10);
		if (strstr(line, "_in_flight{") != NULL)
			ck_assert_msg(v == 0, "still in flight: %s", line);
		else if (strncmp(line, "gatherd_requests_total{", 23) == 0)
			nreq += v;
		else if (strncmp(line, "gatherd_upstream_calls_total{", 29) == 0)
			ncalls += v;
	}
	free(text);
	ck_assert_uint_eq(nreq, begun.b_gathers);
	ck_assert_uint_eq(ncalls, begun.b_calls);
}

/*
 * Drained, then free: run the frees gather_close() queued, check that
 * every gather gave back its config reference, and free the worker.
 */
static void
worker_free(struct worker *w)
{
	struct timeval	 zero = { 0, 0 };
	int		 fired = 0, n;

	assert_drained(w);
	assert_metrics_settled(w);
	/*
	 * A zero-timeout event_base_once is made active at once, in order:
	 * when the sentinel has run, every free queued before it has too.
	 */
	ck_assert_int_eq(event_base_once(w->w_base, -1, EV_TIMEOUT, on_flag,
	    &fired, &zero), 0);
	for (n = 0; n < 100 && !fired; n++)
		event_base_loop(w->w_base, EVLOOP_NONBLOCK);
	ck_assert_msg(fired, "the queued frees never ran");
	ck_assert_int_eq(__atomic_load_n(&w->w_conf->cf_refs,
	    __ATOMIC_ACQUIRE), 1);
	upstream_multi_free(w->w_multi);
	event_base_free(w->w_base);
	config_unref(w->w_conf);
	metrics_free(w->w_metrics);
}

/* Route path as a client GET, make its gather (no client) and start it. */
static struct gather *
gather_begin(struct worker *w, const char *path)
{
	struct client_req	 cr;
	struct route_match	 m;
	struct gather		*g;

	memset(&cr, 0, sizeof(cr));
	cr.cr_method = xstrdup("GET");
	cr.cr_path = xstrdup(path);
	ck_assert_int_eq(router_match(w->w_conf, "GET", path, &m, NULL, 0),
	    200);
	g = gather_new(w, &cr, &m, NULL);
	ck_assert_ptr_null(cr.cr_method);
	ck_assert_ptr_null(m.rm_ep);
	gather_start(g);
	begun.b_gathers++;
	begun.b_calls += g->g_ncalls;
	return (g);
}

/*
 * A gather just closed by the test itself: its free is queued, not run,
 * so it may still be read.  Every call was cancelled and let go.
 */
static void
assert_cancelled(const struct gather *g)
{
	size_t	 i;

	ck_assert(g->g_flags & G_CLOSING);
	for (i = 0; i < g->g_ncalls; i++) {
		ck_assert_int_eq(g->g_calls[i].uc_running, 0);
		ck_assert_ptr_null(g->g_calls[i].uc_easy);
		ck_assert_int_eq(g->g_calls[i].uc_kind, CALL_CANCELLED);
	}
}

static uint64_t
ms_since(uint64_t t0)
{
	return ((now_us() - t0) / 1000);
}

/* Begin gathers on PREFIX/0 to PREFIX/n-1; kept in g[] unless it is NULL. */
static void
gather_begin_n(struct worker *w, const char *prefix, size_t n,
    struct gather **g)
{
	struct gather	*one;
	char		 path[64];
	size_t		 i;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%zu", prefix, i);
		one = gather_begin(w, path);
		if (g != NULL)
			g[i] = one;
	}
}

/* What began at t0 has closed now: at least lo_ms later, under hi_ms. */
static void
assert_closed_within(uint64_t t0, uint64_t lo_ms, uint64_t hi_ms)
{
	uint64_t	 ms = ms_since(t0);

	ck_assert_msg(ms >= lo_ms && ms < hi_ms,
	    "closed after %llu ms, not in [%llu, %llu) ms",
	    (unsigned long long)ms, (unsigned long long)lo_ms,
	    (unsigned long long)hi_ms);
}

/*
 * How every case ends.  Once the mock has seen `aborted' more calls cut
 * off than at b (a bounded wait), it must have seen exactly `requests'
 * more calls and exactly `aborted' more aborts, with none still open;
 * then the worker is checked and freed (worker_free).
 */
static void
expect_end(struct worker *w, const struct stats *b, long requests,
    long aborted)
{
	struct stats	 a;

	if (aborted > 0)
		WAIT_STAT(w, st_aborted, b->st_aborted + aborted);
	a = stats_get();
	ck_assert_int_eq(a.st_requests - b->st_requests, requests);
	ck_assert_int_eq(a.st_aborted - b->st_aborted, aborted);
	ck_assert_int_eq(a.st_open, 0);
	worker_free(w);
}

/* ------------------------------------------------------------------ */
/* The cases.                                                          */

/*
 * Every call finishes: the gather closes as "done", well before its
 * deadline, and the upstream saw nothing aborted.
 */
START_TEST(test_gather_done)
{
	struct worker	 w;
	struct stats	 b;
	uint64_t	 t0;

	worker_init(&w);
	b = stats_get();
	t0 = now_us();
	gather_begin(&w, "/done/1");
	ck_assert_uint_eq(w.w_ngathers, 1);
	ck_assert_uint_eq(upstream_multi_nhandles(w.w_multi), 3);
	run_drained(&w);
	assert_closed_within(t0, 0, DONE_DEADLINE_MS / 2);
	expect_end(&w, &b, 3, 0);
}
END_TEST

/*
 * The client leaves once the upstream has every call: the gather closes
 * at once, each upstream sees its connection closed, and nothing of the
 * gather fires later (not its calls' replies, not its deadline).
 */
START_TEST(test_gather_client_gone)
{
	struct worker	 w;
	struct gather	*g;
	struct stats	 b;
	uint64_t	 t0, later;

	worker_init(&w);
	b = stats_get();
	t0 = now_us();
	g = gather_begin(&w, "/gone/1");
	WAIT_STAT(&w, st_open, b.st_open + 3);
	ck_assert_msg(ms_since(t0) < GONE_MS, "the calls took too long");
	ck_assert_uint_eq(upstream_multi_nhandles(w.w_multi), 3);
	gather_client_gone(g);
	assert_drained(&w);
	assert_cancelled(g);
	WAIT_STAT(&w, st_aborted, b.st_aborted + 3);
	later = t0 + (GONE_DEADLINE_MS + 100) * 1000ULL;
	ck_assert_int_eq(run_until(&w, cond_time, &later, WAIT_MS), 0);
	expect_end(&w, &b, 3, 3);
}
END_TEST

/*
 * The deadline passes with one of three calls pending: the gather closes
 * near the deadline and the pending call's connection is closed.
 */
START_TEST(test_gather_deadline)
{
	struct worker	 w;
	struct stats	 b;
	uint64_t	 t0;

	worker_init(&w);
	b = stats_get();
	t0 = now_us();
	gather_begin(&w, "/deadline/1");
	run_drained(&w);
	assert_closed_within(t0, SHORT_DEADLINE_MS - 10, SLOW_MS * 3 / 4);
	expect_end(&w, &b, 3, 1);
}
END_TEST

/*
 * A required upstream answers 500: the gather closes then, not at its
 * deadline nor when the slow ones would reply, and cancels them.
 */
START_TEST(test_gather_required_failed)
{
	struct worker	 w;
	struct stats	 b;
	uint64_t	 t0;

	worker_init(&w);
	b = stats_get();
	t0 = now_us();
	gather_begin(&w, "/required/1");
	run_drained(&w);
	assert_closed_within(t0, BAD_MS - 10, SLOW_MS * 3 / 4);
	expect_end(&w, &b, 3, 2);
}
END_TEST

/*
 * Every upstream fails (a refused connection, a close without a reply):
 * the gather closes once both have failed, long before its deadline.
 */
START_TEST(test_gather_all_failed)
{
	struct worker	 w;
	struct stats	 b;
	uint64_t	 t0;

	worker_init(&w);
	b = stats_get();
	t0 = now_us();
	gather_begin(&w, "/fail/1");
	gather_begin(&w, "/fail/2");
	ck_assert_uint_eq(upstream_multi_nhandles(w.w_multi), 4);
	run_drained(&w);
	assert_closed_within(t0, 0, FAIL_DEADLINE_MS / 2);
	expect_end(&w, &b, 2, 0);
}
END_TEST

/*
 * Shutdown with every call pending: every gather closes at once and
 * every upstream sees its connection closed.
 */
START_TEST(test_gather_shutdown)
{
	struct worker	 w;
	struct gather	*g[3];
	struct stats	 b;
	size_t		 i;

	worker_init(&w);
	b = stats_get();
	gather_begin_n(&w, "/slow", 3, g);
	WAIT_STAT(&w, st_open, b.st_open + 6);
	ck_assert_uint_eq(w.w_ngathers, 3);
	ck_assert_uint_eq(upstream_multi_nhandles(w.w_multi), 6);
	gather_shutdown(&w);
	assert_drained(&w);
	for (i = 0; i < 3; i++) {
		assert_cancelled(g[i]);
		ck_assert(g[i]->g_flags & G_REPLIED);
	}
	expect_end(&w, &b, 6, 6);
}
END_TEST

/*
 * NMANY gathers in flight; every second client leaves: those close at
 * once with their calls aborted, the others still finish as "done".
 */
START_TEST(test_gather_many)
{
	struct worker	 w;
	struct gather	*g[NMANY];
	struct stats	 b;
	uint64_t	 t0;
	size_t		 i;

	worker_init(&w);
	b = stats_get();
	t0 = now_us();
	gather_begin_n(&w, "/slow", NMANY, g);
	ck_assert_uint_eq(upstream_multi_nhandles(w.w_multi), 2 * NMANY);
	WAIT_STAT(&w, st_open, b.st_open + 2 * NMANY);
	ck_assert_msg(ms_since(t0) < SLOW_MS, "the calls took too long");
	for (i = 1; i < NMANY; i += 2) {
		gather_client_gone(g[i]);
		assert_cancelled(g[i]);
	}
	ck_assert_uint_eq(w.w_ngathers, NMANY / 2);
	ck_assert_uint_eq(upstream_multi_nhandles(w.w_multi), NMANY);
	run_drained(&w);
	assert_closed_within(t0, SLOW_MS - 10, SLOW_DEADLINE_MS * 3 / 4);
	expect_end(&w, &b, 2 * NMANY, NMANY);
}
END_TEST

/*
 * Two rounds on one multi.  The first leaves idle easy handles in the
 * pool, three of them cancelled mid-transfer; the second takes them (and
 * more), and every call still completes.
 */
START_TEST(test_gather_pool_reuse)
{
	struct worker	 w;
	struct gather	*g;
	struct stats	 b, a;
	uint64_t	 t0;

	worker_init(&w);
	b = stats_get();
	g = gather_begin(&w, "/gone/1");
	WAIT_STAT(&w, st_open, b.st_open + 3);
	gather_client_gone(g);
	gather_begin_n(&w, "/done", 3, NULL);
	run_drained(&w);
	WAIT_STAT(&w, st_aborted, b.st_aborted + 3);
	a = stats_get();
	ck_assert_int_eq(a.st_requests - b.st_requests, 12);

	b = a;
	t0 = now_us();
	gather_begin_n(&w, "/done", 6, NULL);
	ck_assert_uint_eq(upstream_multi_nhandles(w.w_multi), 18);
	run_drained(&w);
	/* The second round was not closed by its deadline. */
	assert_closed_within(t0, 0, DONE_DEADLINE_MS / 2);
	expect_end(&w, &b, 18, 0);
}
END_TEST

static Suite *
gather_suite(void)
{
	Suite	*s = suite_create("gather");
	TCase	*tc;

#define TC(name, fn) do {						\
	tc = CHECK_ONE(s, name, fn);					\
	tcase_add_unchecked_fixture(tc, mock_start, mock_stop);		\
	tcase_set_timeout(tc, TEST_TIMEOUT_S);				\
} while (0)
	TC("done", test_gather_done);
	TC("client_gone", test_gather_client_gone);
	TC("deadline", test_gather_deadline);
	TC("required_failed", test_gather_required_failed);
	TC("all_failed", test_gather_all_failed);
	TC("shutdown", test_gather_shutdown);
	TC("many", test_gather_many);
	TC("pool_reuse", test_gather_pool_reuse);
#undef TC
	return (s);
}

int
main(void)
{
	const char	*top = getenv("top_builddir");
	int		 rc;

	snprintf(mock_bin, sizeof(mock_bin), "%s/tests/mock_upstream",
	    top != NULL ? top : ".");
	if (access(mock_bin, X_OK) == -1) {
		fprintf(stderr, "check_gather: SKIP: no %s\n", mock_bin);
		return (77);
	}
	/* Loopback only: no proxy from the environment. */
	setenv("no_proxy", "*", 1);
	setenv("NO_PROXY", "*", 1);
	log_init(getenv("CHECK_GATHER_DEBUG") != NULL, 0);
	if (upstream_global_init() == -1) {
		fprintf(stderr, "check_gather: curl_global_init failed\n");
		return (EXIT_FAILURE);
	}
	rc = check_run(gather_suite());
	upstream_global_cleanup();
	return (rc);
}
