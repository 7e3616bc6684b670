/*
 * gatherd: a local HTTP aggregation proxy daemon.
 *
 * This is the only internal header.  It holds every struct, every DEFAULT_*
 * value and one prototype block per source file, in the order of the
 * request path: config, router, url, gate, server, trace, gather, upstream,
 * merge, access, then metrics and admin.
 */
#ifndef GATHERD_H
#define GATHERD_H

#include <sys/types.h>
#include <sys/queue.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

/* Defaults: this is the one place where they are defined. */
#define DEFAULT_LISTEN			"127.0.0.1:8080"
#define DEFAULT_ADMIN_LISTEN		"127.0.0.1:9091"
#define DEFAULT_WORKERS			0	/* 0: one per online CPU */
#define DEFAULT_MAX_CONNECTIONS		10000
#define DEFAULT_MAX_REQUEST_HEAD	(16ULL * 1024)
#define DEFAULT_MAX_REQUEST_BODY	(1024ULL * 1024)
#define DEFAULT_MAX_UPSTREAM_BODY	(8ULL * 1024 * 1024)
#define DEFAULT_HEAD_TIMEOUT_MS		10000
#define DEFAULT_CLIENT_TIMEOUT_MS	30000
#define DEFAULT_SHUTDOWN_TIMEOUT_MS	10000
#define DEFAULT_DEADLINE_MS		5000
#define DEFAULT_TIMEOUT_MS		2000
#define DEFAULT_CONNECT_TIMEOUT_MS	500
#define DEFAULT_METHOD			"GET"
#define DEFAULT_OK_LO			200
#define DEFAULT_OK_HI			299
#define DEFAULT_BACKLOG			1024
#define DEFAULT_LINGER_MS		2000	/* gate: drain before close */
#define GATE_DISPATCH_MS		1000	/* gate: evhtp takes a request */
#define DEFAULT_EASY_POOL		256	/* idle curl handles kept */
#define ADMIN_MAX_CONNECTIONS		64	/* per admin listener */

#define GATHER_MAX_UPSTREAMS		64
#define ROUTER_MAX_PARAMS		16
#define ROUTER_MAX_SEGMENTS		64
#define CONFIG_MAX_WORKERS		256
#define CONFIG_ERRBUF			16384	/* all of a file's errors */
#define UPSTREAM_ERRBUF			256
#define MAX_DURATION_MS			(24ULL * 3600 * 1000)
#define TRACE_RID_MAX			128	/* X-Request-Id taken, bytes */
#define TRACE_RID_LEN			32	/* X-Request-Id made, hex */
#define TRACE_PARENT_LEN		55	/* traceparent, version 00 */
#define TRACE_STATE_MAX			512	/* tracestate passed on */
#define TRACE_FLAGS_KNOWN		0x03	/* sampled, random trace-id */
#define ACCESS_WARN_INTERVAL_MS		10000	/* access log write errors */

/* ------------------------------------------------------------------ */
/* Configuration snapshot: plain data, immutable once loaded.          */

struct metrics_ep;		/* metrics.c: an endpoint's series */
struct metrics_up;		/* metrics.c: an upstream's series */

struct listen_addr {
	int		 la_family;	/* AF_INET, AF_INET6 or AF_UNIX */
	char		*la_host;	/* numeric address; NULL for unix */
	uint16_t	 la_port;
	char		*la_path;	/* unix socket path, else NULL */
	char		*la_text;	/* as written, for logs */
};

struct status_range {
	int		 sr_lo;
	int		 sr_hi;
};

struct kv {
	char		*kv_key;
	char		*kv_val;
};

/* One piece of a URL template: literal text, or a path parameter. */
struct tmpl_part {
	char		*tp_text;	/* literal text (param: its name) */
	int		 tp_param;	/* -1 literal, else param index */
};

struct url_tmpl {
	struct tmpl_part *t_parts;
	size_t		  t_nparts;
	int		  t_query;	/* the template already holds a '?' */
};

/* One segment of an endpoint path template. */
struct path_seg {
	char		*ps_text;	/* literal segment, or param name */
	int		 ps_param;	/* -1 literal, else param index */
};

enum merge_mode {
	MERGE_KEYED = 0,
	MERGE_SHALLOW,
	MERGE_DEEP,
	MERGE_ARRAY
};

struct upstream_conf {
	char		*up_name;
	char		*up_url;	/* template as written */
	struct url_tmpl	 up_tmpl;
	char		*up_method;
	int		 up_required;
	uint64_t	 up_timeout_ms;
	uint64_t	 up_connect_timeout_ms;
	struct kv	*up_headers;	/* ${VAR} already expanded */
	size_t		 up_nheaders;
	char		**up_fwd_headers;
	size_t		 up_nfwd_headers;
	char		**up_fwd_query;
	size_t		 up_nfwd_query;
	char		*up_default;	/* compact JSON text; "null" if unset */
	struct status_range *up_ok;
	size_t		 up_nok;
	struct metrics_up *up_metrics;	/* metrics_bind(); not owned */
};

struct endpoint {
	char		*ep_path;	/* template as written */
	struct path_seg	*ep_segs;
	size_t		 ep_nsegs;
	char		**ep_params;	/* param names, by index */
	size_t		 ep_nparams;
	char		*ep_method;
	uint64_t	 ep_deadline_ms;
	enum merge_mode	 ep_merge;
	struct upstream_conf *ep_ups;
	size_t		 ep_nups;
	struct metrics_ep *ep_metrics;	/* metrics_bind(); not owned */
};

struct limits {
	uint64_t	 lim_max_connections;
	uint64_t	 lim_max_request_head;
	uint64_t	 lim_max_request_body;
	uint64_t	 lim_max_upstream_body;
	uint64_t	 lim_head_timeout_ms;
	uint64_t	 lim_client_timeout_ms;
	uint64_t	 lim_shutdown_timeout_ms;
};

struct gatherd_conf {
	char		*cf_file;
	int		 cf_refs;	/* atomic; see config_ref() */
	struct listen_addr *cf_listen;
	size_t		 cf_nlisten;
	int		 cf_workers;	/* 0: auto */
	struct listen_addr *cf_admin;	/* admin listener, NULL when off */
	char		*cf_access_log;	/* "stderr", a path, or NULL (off) */
	int		 cf_access_fd;	/* open for appending, or -1 */
	struct limits	 cf_limits;
	struct endpoint	*cf_endpoints;
	size_t		 cf_nendpoints;
};

/* ------------------------------------------------------------------ */
/* A client request as gather.c sees it: copied out of evhtp.          */

struct client_req {
	char		*cr_method;
	char		*cr_path;	/* raw path, no query */
	char		*cr_query;	/* raw query without '?', or NULL */
	struct kv	*cr_headers;
	size_t		 cr_nheaders;
	char		*cr_body;
	size_t		 cr_bodylen;
};

/* Route match: the endpoint and its decoded path parameters. */
struct route_match {
	const struct endpoint *rm_ep;
	char		*rm_params[ROUTER_MAX_PARAMS];	/* decoded */
	size_t		 rm_nparams;
};

/* ------------------------------------------------------------------ */
/* One upstream call's result, as merge.c consumes it.                 */

enum call_kind {
	CALL_OK = 0,
	CALL_TIMEOUT,
	CALL_CONNECT,
	CALL_STATUS,
	CALL_DECODE,
	CALL_TOO_LARGE,
	CALL_CIRCUIT_OPEN,
	CALL_CANCELLED
};

struct outcome {
	const char	*o_name;
	int		 o_required;
	enum call_kind	 o_kind;	/* CALL_OK on success */
	int		 o_status;	/* HTTP status, 0 if none */
	const char	*o_ctype;	/* Content-Type, or NULL */
	const char	*o_body;
	size_t		 o_len;
	double		 o_ms;
	const char	*o_message;	/* failure reason; never the body */
	const char	*o_default;	/* JSON text used on failure */
	char		 o_msgbuf[64];	/* merge.c: o_message may point here */
};

struct merge_result {
	int		 mr_status;	/* 200, 502 or 504 */
	int		 mr_complete;	/* every upstream succeeded */
	char		*mr_body;	/* malloc'd JSON, caller frees */
	size_t		 mr_len;
	char		*mr_timing;	/* malloc'd Server-Timing value */
};

/* ------------------------------------------------------------------ */
/* Tracing one request (trace.c): X-Request-Id and W3C trace context.  */

/* A traceparent header, parsed: ids as lowercase hex text. */
struct traceparent {
	int		 tp_version;
	char		 tp_trace_id[33];
	char		 tp_parent_id[17];
	int		 tp_flags;
};

/* What one request echoes to its client and sends to its upstreams. */
struct trace {
	char		 tr_rid[TRACE_RID_MAX + 1];	/* X-Request-Id */
	char		 tr_parent[TRACE_PARENT_LEN + 1]; /* traceparent */
	char		*tr_state;	/* tracestate passed on, or NULL */
};

/* ------------------------------------------------------------------ */
/* Per-worker state: one event loop thread, shared with nothing.       */

struct server;			/* server.c: evhtp state */
struct timeval;
struct upstream_multi;		/* upstream.c: curl multi state */
struct gather;
struct gate;
struct metrics;			/* metrics.c: shared, one slot per worker */
TAILQ_HEAD(gather_list, gather);
TAILQ_HEAD(gate_list, gate);

struct worker {
	int		 w_id;
	int		 w_nworkers;
	struct event_base *w_base;
	struct server	*w_server;
	struct upstream_multi *w_multi;
	struct gatherd_conf *w_conf;	/* current snapshot (ref held) */
	struct gather_list w_gathers;	/* live gathers */
	size_t		 w_ngathers;
	struct gate_list w_lingering;	/* gates closing their socket */
	uint64_t	 w_seq;		/* id = seq * nworkers + id + 1 */
	uint64_t	 w_rid_prefix;	/* trace.c: random, per worker */
	uint64_t	 w_rng;		/* trace.c: trace and span ids */
	int		 w_rng_seeded;
	uint64_t	 w_access_failed;	/* access log lines lost */
	uint64_t	 w_access_warn_us;	/* last warning about them */
	int		 w_stopping;
	struct metrics	*w_metrics;	/* writes only slot w_id; may be NULL */
};

#define G_CLOSING	0x01
#define G_REPLIED	0x02

struct ucall {
	struct gather	*uc_gather;
	const struct upstream_conf *uc_conf;
	size_t		 uc_index;
	void		*uc_easy;	/* CURL *, owned by upstream.c */
	void		*uc_slist;	/* struct curl_slist * */
	char		*uc_url;
	char		*uc_buf;	/* body read so far */
	size_t		 uc_len;
	size_t		 uc_cap;
	size_t		 uc_cap_max;	/* max_upstream_body */
	char		*uc_ctype;
	int		 uc_status;
	int		 uc_running;
	int		 uc_too_large;
	enum call_kind	 uc_kind;
	char		*uc_message;
	char		 uc_errbuf[UPSTREAM_ERRBUF];	/* CURL_ERROR_SIZE */
	uint64_t	 uc_timeout_ms;
	uint64_t	 uc_start_us;
	uint64_t	 uc_end_us;
};

struct gather {
	uint64_t	 g_id;
	int		 g_flags;
	struct worker	*g_worker;
	struct gatherd_conf *g_conf;	/* ref held while alive */
	const struct endpoint *g_ep;
	void		*g_req;		/* evhtp_request_t *, server.c only */
	struct client_req g_creq;
	struct route_match g_match;
	struct ucall	*g_calls;
	size_t		 g_ncalls;
	size_t		 g_npending;
	struct event	*g_deadline;
	uint64_t	 g_start_us;
	int		 g_status;	/* reply status, 0 until replied */
	size_t		 g_nok;
	struct trace	 g_trace;
	TAILQ_ENTRY(gather) g_entry;
};

/* ------------------------------------------------------------------ */
/* Prototypes, one block per file.                                     */

/* log.c */
void	 log_init(int, int);
void	 log_setverbose(int);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2),
	    noreturn));
void	 fatalx(const char *, ...) __attribute__((format(printf, 1, 2),
	    noreturn));

/* xmalloc.c */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* parse.c: durations and sizes, shared by config.c and tests */
int	 parse_duration(const char *, uint64_t *, const char **);
int	 parse_size(const char *, uint64_t *, const char **);
int	 parse_status_range(const char *, struct status_range *,
	    const char **);
int	 parse_bool(const char *, int *, const char **);
int	 parse_uint(const char *, uint64_t, uint64_t *, const char **);
int	 parse_listen(const char *, struct listen_addr *, const char **);
int	 listen_addr_same(const struct listen_addr *,
	    const struct listen_addr *);
void	 listen_addr_free(struct listen_addr *);
int	 parse_method(const char *, const char **);
int	 parse_header_name(const char *, const char **);
int	 parse_header_value(const char *, const char **);
int	 parse_name(const char *, const char **);
int	 parse_query_name(const char *, const char **);
int	 parse_param_name(const char *, size_t);
int	 parse_served_method(const char *);

/* config.c */
struct gatherd_conf *config_load(const char *, char *, size_t);
struct gatherd_conf *config_ref(struct gatherd_conf *);
void	 config_unref(struct gatherd_conf *);
int	 config_ok_status(const struct upstream_conf *, int);

/* config_yaml.c: the file, its errors and node values, for config.c */
struct cf_yaml;
struct yaml_node_s;		/* yaml_node_t: only config*.c include yaml.h */
struct cf_yaml *config_yaml_load(const char *);
struct yaml_node_s *config_yaml_root(struct cf_yaml *);
struct yaml_node_s *config_yaml_node(struct cf_yaml *, int);
int	 config_yaml_render(struct cf_yaml *, char *, size_t);
void	 config_yaml_free(struct cf_yaml *);
void	 config_yaml_err(struct cf_yaml *, struct yaml_node_s *, const char *,
	    ...) __attribute__((format(printf, 3, 4)));
size_t	 config_yaml_push(struct cf_yaml *, const char *, size_t);
void	 config_yaml_pop(struct cf_yaml *, size_t);
int	 config_yaml_string(struct cf_yaml *, struct yaml_node_s *);
char	*config_yaml_expand(struct cf_yaml *, struct yaml_node_s *);
char	**config_yaml_names(struct cf_yaml *, struct yaml_node_s *,
	    int (*)(const char *, const char **), int, size_t *);
char	*config_yaml_json(struct cf_yaml *, struct yaml_node_s *);

/* router.c */
int	 router_parse(const char *, struct path_seg **, size_t *, char ***,
	    size_t *, const char **);
void	 router_free_segs(struct path_seg *, size_t, char **, size_t);
int	 router_match(const struct gatherd_conf *, const char *,
	    const char *, struct route_match *, char *, size_t);
void	 route_match_free(struct route_match *);
int	 router_same_route(const struct endpoint *, const struct endpoint *);

/* url.c */
int	 url_tmpl_parse(const char *, char **, size_t, struct url_tmpl *,
	    const char **);
const char *url_tmpl_unknown_param(const char *, char **, size_t, size_t *);
void	 url_tmpl_free(struct url_tmpl *);
char	*url_expand(const struct url_tmpl *, char *const *, size_t,
	    const char *, char *const *, size_t);
char	*url_encode(const char *, int);
int	 url_decode(const char *, size_t, char **);

/* gate.c: see the comment at the top of gate.c */
struct bufferevent;
struct gate *gate_new(struct worker *, struct bufferevent *);
void	 gate_request_done(struct gate *);
struct bufferevent *gate_bev(struct gate *);
void	 gate_free_lingering(struct worker *);
void	 gate_request_started(struct gate *);
void	 gate_detach(struct gate *);

/* server.c */
void	 server_init(struct worker *);
int	 server_listen_add(struct worker *, int, uint64_t, int);
void	 server_listen_remove(struct worker *, uint64_t);
void	 server_free(struct worker *);
void	 server_reply(struct gather *, int, const char *, size_t,
	    const char *, int);
void	 server_detach(struct gather *);
void	 server_stop_accepting(struct worker *);
size_t	 server_nconnections(struct worker *);

/* trace.c */
int	 trace_rid_valid(const char *);
void	 trace_rid_format(uint64_t, uint64_t, char *, size_t);
int	 trace_parent_parse(const char *, struct traceparent *);
void	 trace_parent_format(const struct traceparent *, char *, size_t);
int	 trace_state_valid(const char *);
int	 trace_header_ours(const char *);
uint64_t trace_rand(uint64_t *);
void	 trace_request_id(struct worker *, uint64_t, const struct kv *,
	    size_t, char *, size_t);
void	 trace_init(struct trace *, struct worker *, uint64_t,
	    const struct kv *, size_t);
void	 trace_free(struct trace *);

/* gather.c */
struct gather *gather_new(struct worker *, struct client_req *,
	    struct route_match *, void *);
void	 gather_start(struct gather *);
void	 gather_call_done(struct ucall *);
void	 gather_client_gone(struct gather *);
void	 gather_close(struct gather *, const char *);
void	 gather_shutdown(struct worker *);
void	 client_req_free(struct client_req *);
uint64_t gather_next_id(struct worker *);
uint64_t now_us(void);
struct timeval *ms_timeval(uint64_t, struct timeval *);

/* upstream.c */
int	 upstream_global_init(void);
void	 upstream_global_cleanup(void);
struct upstream_multi *upstream_multi_new(struct event_base *);
void	 upstream_multi_free(struct upstream_multi *);
size_t	 upstream_multi_nhandles(struct upstream_multi *);
int	 upstream_start(struct upstream_multi *, struct ucall *,
	    const struct client_req *, uint64_t);
void	 upstream_cancel(struct upstream_multi *, struct ucall *);

/* merge.c */
int	 merge_reply(enum merge_mode, struct outcome *, size_t,
	    struct merge_result *);
void	 merge_result_free(struct merge_result *);
int	 merge_is_json_type(const char *);
char	*merge_error_body(const char *);
const char *merge_kind_name(enum call_kind);

/* listen.c: the listening sockets, main thread only */
struct lset;
struct lnew {				/* an address a plan opened */
	uint64_t	 ln_id;
	int		 ln_admin;
	int		 ln_activated;	/* a socket from systemd */
	const struct listen_addr *ln_la;	/* in the planned config */
	int		*ln_fds;	/* per worker, -1 if not served there */
};
struct lplan {				/* a move to a config's addresses */
	struct lnew	*lp_add;
	size_t		 lp_nadd;
	uint64_t	*lp_del;	/* ids of the addresses that go */
	size_t		 lp_ndel;
};
struct lset *lset_new(int);
int	 lset_plan(struct lset *, const struct gatherd_conf *, struct lplan *,
	    char *, size_t);
void	 lset_plan_abort(struct lset *, struct lplan *);
void	 lset_plan_free(struct lplan *);
void	 lset_commit(struct lset *, struct lplan *);
void	 lset_warn_unused(struct lset *);
void	 lset_free(struct lset *);
/* access.c */
void	 access_log_gather(struct gather *, const char *);
void	 access_log_error(struct worker *, const char *, const char *,
	    const char *, int, double, const char *);

/* worker.c */
int	 worker_run_all(struct gatherd_conf *);

/* metrics.c */
enum metrics_state {
	METRICS_STARTING = 0,
	METRICS_READY,
	METRICS_STOPPING
};
struct metrics *metrics_new(int);
void	 metrics_free(struct metrics *);
void	 metrics_bind(struct metrics *, struct gatherd_conf *);
void	 metrics_reload(struct metrics *, int);
void	 metrics_set_state(struct metrics *, enum metrics_state);
enum metrics_state metrics_state(struct metrics *);
char	*metrics_render(struct metrics *, size_t *);
void	 metrics_request_begin(struct worker *, const struct endpoint *);
void	 metrics_request_end(struct worker *, const struct endpoint *, int,
	    uint64_t);
void	 metrics_call_begin(struct worker *, const struct upstream_conf *);
void	 metrics_call_end(struct worker *, const struct upstream_conf *);
void	 metrics_call_count(struct worker *, const struct upstream_conf *,
	    enum call_kind, uint64_t);
void	 metrics_unrouted(struct worker *, int);
void	 metrics_conn_open(struct worker *);
void	 metrics_conn_close(struct worker *);
void	 metrics_conn_refused(struct worker *);

/* admin.c: the admin listener's replies, pure */
struct admin_reply {
	int		 ar_status;
	const char	*ar_ctype;	/* Content-Type */
	const char	*ar_allow;	/* Allow, for a 405; else NULL */
	char		*ar_body;	/* malloc'd, also for HEAD */
	size_t		 ar_len;
};
int	 admin_handle(struct metrics *, const char *, const char *,
	    struct admin_reply *);
void	 admin_reply_free(struct admin_reply *);

#endif /* GATHERD_H */
