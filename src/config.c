/*
 * Configuration: a YAML file becomes one immutable, refcounted struct
 * gatherd_conf of plain data.  Reload builds a new one and swaps the
 * pointer; requests in flight keep the snapshot they started with.
 *
 * config_yaml.c reads the file into a libyaml document, within limits,
 * keeps the error list and turns nodes into plain values.  This file walks
 * the document with one key table per mapping level and says what each key
 * means.  Errors from both are collected with their line and column, and
 * all are reported at once, in file order.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "gatherd.h"

#define CONFIG_MAX_KEYS		16

#define NITEMS(n)	((size_t)((n)->data.sequence.items.top - \
			    (n)->data.sequence.items.start))
#define NPAIRS(n)	((size_t)((n)->data.mapping.pairs.top - \
			    (n)->data.mapping.pairs.start))
#define STR(n)		((const char *)(n)->data.scalar.value)
#define FIELD(o, off, t) ((t *)(void *)((char *)(o) + (off)))

/* Values under "defaults:", copied into each endpoint and upstream. */
struct cf_defaults {
	uint64_t	 d_timeout_ms;
	uint64_t	 d_connect_timeout_ms;
	uint64_t	 d_deadline_ms;
	struct status_range *d_ok;
	size_t		 d_nok;
};

struct cfctx {
	struct cf_yaml	*c_y;		/* the document and the errors */
	struct gatherd_conf *c_conf;
	struct cf_defaults c_def;
	struct endpoint	*c_ep;		/* endpoint being read */
	yaml_node_t	*c_path;	/* its path node, if the path is good */
	int		 c_admin_set;	/* admin.listen was written */
	yaml_node_t	*c_admin_node;	/* and parsed, from this node */
};

enum cf_type { T_SCALAR, T_LIST, T_MAP, T_ANY, T_SCALAR_OR_LIST };

typedef void	(*cf_setter)(struct cfctx *, yaml_node_t *, void *, size_t);
typedef void	(*cf_item)(struct cfctx *, yaml_node_t *, size_t, void *);

/* One row of a key table: drives one mapping level. */
struct cf_key {
	const char	*k_name;
	enum cf_type	 k_type;
	int		 k_required;
	cf_setter	 k_set;
	size_t		 k_off;		/* field, for the generic setters */
};

static const char *const merge_names[] = {
	"keyed", "shallow", "deep", "array", NULL	/* enum merge_mode */
};

/* ------------------------------------------------------------------ */
/* The walk: node types, mappings, lists, scalar setters.              */

/* Checks a node's type; scalars must also be free of NUL bytes. */
static int
do_type(struct cfctx *c, yaml_node_t *n, enum cf_type type)
{
	if (type == T_ANY)
		return (0);
	if (type == T_SCALAR || (type == T_SCALAR_OR_LIST &&
	    n->type == YAML_SCALAR_NODE))
		return (config_yaml_string(c->c_y, n));
	if ((n->type == YAML_SEQUENCE_NODE && (type == T_LIST ||
	    type == T_SCALAR_OR_LIST)) ||
	    (n->type == YAML_MAPPING_NODE && type == T_MAP))
		return (0);
	config_yaml_err(c->c_y, n, "%s", type == T_MAP ? "expected a mapping" :
	    type == T_LIST ? "expected a list" : "expected a string or a list");
	return (-1);
}

/* Calls fn on each item of a list that has the given type, as key[i]. */
static void
do_items(struct cfctx *c, yaml_node_t *n, enum cf_type type, cf_item fn,
    void *arg)
{
	yaml_node_t	*item;
	size_t		 i, mark;

	for (i = 0; i < NITEMS(n); i++) {
		item = config_yaml_node(c->c_y,
		    n->data.sequence.items.start[i]);
		mark = config_yaml_push(c->c_y, NULL, i);
		if (do_type(c, item, type) == 0)
			fn(c, item, i, arg);
		config_yaml_pop(c->c_y, mark);
	}
}

/*
 * Reads every pair of a mapping against its key table: unknown and
 * duplicate keys are errors, then each known key is set in table order
 * (so "defaults" is read before "endpoints" wherever the file puts it)
 * and each missing required key is reported at the mapping.
 */
static void
do_mapping(struct cfctx *c, yaml_node_t *map, const struct cf_key *keys,
    void *obj)
{
	yaml_node_t		*found[CONFIG_MAX_KEYS] = { NULL }, *key;
	yaml_node_t		*first[CONFIG_MAX_KEYS];
	yaml_node_pair_t	*pair;
	size_t			 i, mark;

	for (pair = map->data.mapping.pairs.start;
	    pair < map->data.mapping.pairs.top; pair++) {
		key = config_yaml_node(c->c_y, pair->key);
		if (do_type(c, key, T_SCALAR) == -1)
			continue;
		mark = config_yaml_push(c->c_y, STR(key), 0);
		for (i = 0; keys[i].k_name != NULL; i++)
			if (strcmp(keys[i].k_name, STR(key)) == 0)
				break;
		if (keys[i].k_name == NULL)
			config_yaml_err(c->c_y, key, "unknown key");
		else if (found[i] != NULL)
			config_yaml_err(c->c_y, key, "duplicate key (first at "
			    "line %zu)", first[i]->start_mark.line + 1);
		else {
			found[i] = config_yaml_node(c->c_y, pair->value);
			first[i] = key;
		}
		config_yaml_pop(c->c_y, mark);
	}
	for (i = 0; keys[i].k_name != NULL; i++) {
		mark = config_yaml_push(c->c_y, keys[i].k_name, 0);
		if (found[i] == NULL && keys[i].k_required)
			config_yaml_err(c->c_y, map, "required key is missing");
		else if (found[i] != NULL &&
		    do_type(c, found[i], keys[i].k_type) == 0)
			keys[i].k_set(c, found[i], obj, keys[i].k_off);
		config_yaml_pop(c->c_y, mark);
	}
}

static void
set_duration(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	const char	*why;

	if (parse_duration(STR(n), FIELD(obj, off, uint64_t), &why) == -1)
		config_yaml_err(c->c_y, n, "%s", why);
}

static void
set_size(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	const char	*why;

	if (parse_size(STR(n), FIELD(obj, off, uint64_t), &why) == -1)
		config_yaml_err(c->c_y, n, "%s", why);
}

/* A request head limit below 1KiB cannot hold an ordinary browser head. */
static void
set_head_size(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	const char	*why;

	if (parse_size(STR(n), FIELD(obj, off, uint64_t), &why) == -1)
		config_yaml_err(c->c_y, n, "%s", why);
	else if (*FIELD(obj, off, uint64_t) < 1024)
		config_yaml_err(c->c_y, n, "must be at least 1KiB");
}

static void
set_count(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	const char	*why;

	if (parse_uint(STR(n), INT32_MAX, FIELD(obj, off, uint64_t),
	    &why) == -1)
		config_yaml_err(c->c_y, n, "%s", why);
	else if (*FIELD(obj, off, uint64_t) < 1)
		config_yaml_err(c->c_y, n, "must be at least 1");
}

static void
set_bool(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	const char	*why;

	if (parse_bool(STR(n), FIELD(obj, off, int), &why) == -1)
		config_yaml_err(c->c_y, n, "%s", why);
}

/* Replaces the default method; left NULL when bad, so no false dups. */
static void
set_method(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	char		**m = FIELD(obj, off, char *);
	const char	*why;

	free(*m);
	*m = NULL;
	if (parse_method(STR(n), &why) == -1)
		config_yaml_err(c->c_y, n, "%s", why);
	else
		*m = xstrdup(STR(n));
}

/* An endpoint's method: also one that the server can answer. */
static void
set_ep_method(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	char	**m = FIELD(obj, off, char *);

	set_method(c, n, obj, off);
	if (*m != NULL && !parse_served_method(*m)) {
		config_yaml_err(c->c_y, n, "method %s cannot be served (use "
		    "GET, HEAD, POST, PUT, DELETE, PATCH or OPTIONS)", *m);
		free(*m);
		*m = NULL;
	}
}

static void
do_ok_item(struct cfctx *c, yaml_node_t *n, size_t i, void *arg)
{
	struct status_range	*ok = arg;
	const char		*why;

	if (parse_status_range(STR(n), &ok[i], &why) == -1)
		config_yaml_err(c->c_y, n, "%s", why);
}

/* A list of "lo-hi" ranges or plain codes; replaces *okp. */
static void
do_ok_list(struct cfctx *c, yaml_node_t *n, struct status_range **okp,
    size_t *nokp)
{
	free(*okp);
	*okp = xcalloc(NITEMS(n), sizeof(**okp));
	*nokp = NITEMS(n);
	if (NITEMS(n) == 0)
		config_yaml_err(c->c_y, n, "expected at least one status");
	do_items(c, n, T_SCALAR, do_ok_item, *okp);
}

/* ------------------------------------------------------------------ */
/* Upstreams.                                                          */

static void
set_up_name(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct upstream_conf	*up = obj;
	const char		*why;
	size_t			 i;

	if (parse_name(STR(n), &why) == -1) {
		config_yaml_err(c->c_y, n, "%s", why);
		return;
	}
	for (i = 0; &c->c_ep->ep_ups[i] != up; i++)
		if (c->c_ep->ep_ups[i].up_name != NULL &&
		    strcmp(c->c_ep->ep_ups[i].up_name, STR(n)) == 0) {
			config_yaml_err(c->c_y, n, "duplicate upstream name "
			    "(also upstreams[%zu])", i);
			return;
		}
	up->up_name = xstrdup(STR(n));
}

static void
set_up_url(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct upstream_conf	*up = obj;
	const char		*p, *why;
	size_t			 len;

	/* With a broken path every {param} would look unknown: say nothing. */
	if (c->c_path == NULL)
		return;
	if ((p = url_tmpl_unknown_param(STR(n), c->c_ep->ep_params,
	    c->c_ep->ep_nparams, &len)) != NULL)
		config_yaml_err(c->c_y, n, "%.*s is not a parameter of the "
		    "endpoint path", (int)len, p);
	else if (url_tmpl_parse(STR(n), c->c_ep->ep_params,
	    c->c_ep->ep_nparams, &up->up_tmpl, &why) == -1)
		config_yaml_err(c->c_y, n, "%s", why);
	else
		up->up_url = xstrdup(STR(n));
}

static void
set_up_headers(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct upstream_conf	*up = obj;
	yaml_node_pair_t	*pair;
	yaml_node_t		*k, *v;
	struct kv		*kv;
	const char		*why;
	size_t			 mark, i;

	up->up_headers = xcalloc(NPAIRS(n), sizeof(*up->up_headers));
	for (pair = n->data.mapping.pairs.start;
	    pair < n->data.mapping.pairs.top; pair++) {
		k = config_yaml_node(c->c_y, pair->key);
		v = config_yaml_node(c->c_y, pair->value);
		if (do_type(c, k, T_SCALAR) == -1)
			continue;
		mark = config_yaml_push(c->c_y, STR(k), 0);
		for (i = 0; i < up->up_nheaders; i++)
			if (strcasecmp(up->up_headers[i].kv_key, STR(k)) == 0)
				break;
		kv = &up->up_headers[up->up_nheaders];
		if (parse_header_name(STR(k), &why) == -1)
			config_yaml_err(c->c_y, k, "%s", why);
		else if (i < up->up_nheaders)
			config_yaml_err(c->c_y, k, "duplicate header");
		else if (do_type(c, v, T_SCALAR) == 0 &&
		    (kv->kv_val = config_yaml_expand(c->c_y, v)) != NULL) {
			if (parse_header_value(kv->kv_val, &why) == -1)
				config_yaml_err(c->c_y, v, "%s", why);
			kv->kv_key = xstrdup(STR(k));
			up->up_nheaders++;
		}
		config_yaml_pop(c->c_y, mark);
	}
}

static void
set_up_fwd_headers(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct upstream_conf	*up = obj;

	up->up_fwd_headers = config_yaml_names(c->c_y, n, parse_header_name, 1,
	    &up->up_nfwd_headers);
}

static void
set_up_fwd_query(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct upstream_conf	*up = obj;

	up->up_fwd_query = config_yaml_names(c->c_y, n, parse_query_name, 0,
	    &up->up_nfwd_query);
}

static void
set_up_ok(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct upstream_conf	*up = obj;

	do_ok_list(c, n, &up->up_ok, &up->up_nok);
}

/* The value used when the upstream fails, kept as compact JSON text. */
static void
set_up_default(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct upstream_conf	*up = obj;
	char			*s;

	if ((s = config_yaml_json(c->c_y, n)) == NULL)
		return;
	free(up->up_default);
	up->up_default = s;
}

static const struct cf_key upstream_keys[] = {
	{ "name",		T_SCALAR, 1, set_up_name, 0 },
	{ "url",		T_SCALAR, 1, set_up_url, 0 },
	{ "method",		T_SCALAR, 0, set_method,
	    offsetof(struct upstream_conf, up_method) },
	{ "required",		T_SCALAR, 0, set_bool,
	    offsetof(struct upstream_conf, up_required) },
	{ "timeout",		T_SCALAR, 0, set_duration,
	    offsetof(struct upstream_conf, up_timeout_ms) },
	{ "connect_timeout",	T_SCALAR, 0, set_duration,
	    offsetof(struct upstream_conf, up_connect_timeout_ms) },
	{ "headers",		T_MAP, 0, set_up_headers, 0 },
	{ "forward_headers",	T_LIST, 0, set_up_fwd_headers, 0 },
	{ "forward_query",	T_LIST, 0, set_up_fwd_query, 0 },
	{ "default",		T_ANY, 0, set_up_default, 0 },
	{ "ok_status",		T_LIST, 0, set_up_ok, 0 },
	{ NULL,			T_ANY, 0, NULL, 0 }
};

/* ------------------------------------------------------------------ */
/* Endpoints.                                                          */

/* One upstream: the defaults first, then what the file says. */
static void
do_upstream(struct cfctx *c, yaml_node_t *n, size_t i, void *arg)
{
	struct upstream_conf	*up = &c->c_ep->ep_ups[i];

	up->up_method = xstrdup(DEFAULT_METHOD);
	up->up_timeout_ms = c->c_def.d_timeout_ms;
	up->up_connect_timeout_ms = c->c_def.d_connect_timeout_ms;
	up->up_nok = c->c_def.d_nok;
	up->up_ok = xcalloc(up->up_nok, sizeof(*up->up_ok));
	memcpy(up->up_ok, c->c_def.d_ok, up->up_nok * sizeof(*up->up_ok));
	up->up_default = xstrdup("null");
	do_mapping(c, n, upstream_keys, up);
}

static void
set_upstreams(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct endpoint	*ep = obj;

	if (NITEMS(n) == 0 || NITEMS(n) > GATHER_MAX_UPSTREAMS) {
		config_yaml_err(c->c_y, n, NITEMS(n) == 0 ?
		    "expected at least one upstream" :
		    "too many upstreams (max %d)", GATHER_MAX_UPSTREAMS);
		return;
	}
	ep->ep_ups = xcalloc(NITEMS(n), sizeof(*ep->ep_ups));
	ep->ep_nups = NITEMS(n);
	do_items(c, n, T_MAP, do_upstream, NULL);
}

static void
set_ep_path(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct endpoint	*ep = obj;
	const char	*why;

	if (router_parse(STR(n), &ep->ep_segs, &ep->ep_nsegs,
	    &ep->ep_params, &ep->ep_nparams, &why) == -1) {
		config_yaml_err(c->c_y, n, "%s", why);
		return;
	}
	ep->ep_path = xstrdup(STR(n));
	c->c_path = n;
}

static void
set_ep_merge(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct endpoint	*ep = obj;
	int		 i;

	for (i = 0; merge_names[i] != NULL; i++)
		if (strcmp(STR(n), merge_names[i]) == 0) {
			ep->ep_merge = (enum merge_mode)i;
			return;
		}
	config_yaml_err(c->c_y, n,
	    "merge must be keyed, shallow, deep or array");
}

static const struct cf_key endpoint_keys[] = {
	{ "path",		T_SCALAR, 1, set_ep_path, 0 },
	{ "method",		T_SCALAR, 0, set_ep_method,
	    offsetof(struct endpoint, ep_method) },
	{ "deadline",		T_SCALAR, 0, set_duration,
	    offsetof(struct endpoint, ep_deadline_ms) },
	{ "merge",		T_SCALAR, 0, set_ep_merge, 0 },
	{ "upstreams",		T_LIST, 1, set_upstreams, 0 },
	{ NULL,			T_ANY, 0, NULL, 0 }
};

/* One endpoint; one that takes the same requests as an earlier is bad. */
static void
do_endpoint(struct cfctx *c, yaml_node_t *n, size_t i, void *arg)
{
	struct endpoint	*ep, *eps = c->c_conf->cf_endpoints;
	size_t		 j;

	ep = c->c_ep = &eps[i];
	ep->ep_method = xstrdup(DEFAULT_METHOD);
	ep->ep_deadline_ms = c->c_def.d_deadline_ms;
	ep->ep_merge = MERGE_KEYED;
	c->c_path = NULL;
	do_mapping(c, n, endpoint_keys, ep);
	for (j = 0; c->c_path != NULL && ep->ep_method != NULL && j < i; j++)
		if (eps[j].ep_path != NULL && eps[j].ep_method != NULL &&
		    router_same_route(ep, &eps[j])) {
			config_yaml_push(c->c_y, "path", 0);
			config_yaml_err(c->c_y, c->c_path, "duplicate endpoint "
			    "(same method and path as endpoints[%zu])", j);
			break;
		}
	c->c_ep = NULL;
}

static void
set_endpoints(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct gatherd_conf	*cf = obj;

	if (NITEMS(n) == 0)
		config_yaml_err(c->c_y, n, "expected at least one endpoint");
	cf->cf_endpoints = xcalloc(NITEMS(n), sizeof(*cf->cf_endpoints));
	cf->cf_nendpoints = NITEMS(n);
	do_items(c, n, T_MAP, do_endpoint, NULL);
}

/* ------------------------------------------------------------------ */
/* The top level: listen, workers, limits, defaults.                   */

/* One listen address, into the next slot; a duplicate is an error. */
static void
do_listen(struct cfctx *c, yaml_node_t *n, size_t idx, void *arg)
{
	struct gatherd_conf	*cf = c->c_conf;
	struct listen_addr	*la = &cf->cf_listen[cf->cf_nlisten], *o;
	const char		*why;
	size_t			 i;

	if (parse_listen(STR(n), la, &why) == -1) {
		config_yaml_err(c->c_y, n, "%s", why);
		return;
	}
	for (i = 0; i < cf->cf_nlisten; i++) {
		o = &cf->cf_listen[i];
		if (listen_addr_same(o, la))
			break;
	}
	cf->cf_nlisten++;
	if (i < cf->cf_nlisten - 1)
		config_yaml_err(c->c_y, n, "duplicate listen address (also %s)",
		    cf->cf_listen[i].la_text);
}

static void
set_listen(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	size_t	 nitems;

	nitems = n->type == YAML_SEQUENCE_NODE ? NITEMS(n) : 1;
	c->c_conf->cf_listen = xcalloc(nitems, sizeof(struct listen_addr));
	if (n->type == YAML_SCALAR_NODE)
		do_listen(c, n, 0, NULL);
	else if (nitems == 0)
		config_yaml_err(c->c_y, n, "expected at least one address");
	else
		do_items(c, n, T_SCALAR, do_listen, NULL);
}

static void
set_workers(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	const char	*why;
	uint64_t	 v;

	if (strcmp(STR(n), "auto") == 0)
		c->c_conf->cf_workers = 0;
	else if (parse_uint(STR(n), CONFIG_MAX_WORKERS, &v, &why) == 0 &&
	    v > 0)
		c->c_conf->cf_workers = (int)v;
	else
		config_yaml_err(c->c_y, n,
		    "expected auto or a number from 1 to %d",
		    CONFIG_MAX_WORKERS);
}

static const struct cf_key limits_keys[] = {
	{ "max_connections",	T_SCALAR, 0, set_count,
	    offsetof(struct limits, lim_max_connections) },
	{ "max_request_head",	T_SCALAR, 0, set_head_size,
	    offsetof(struct limits, lim_max_request_head) },
	{ "max_request_body",	T_SCALAR, 0, set_size,
	    offsetof(struct limits, lim_max_request_body) },
	{ "max_upstream_body",	T_SCALAR, 0, set_size,
	    offsetof(struct limits, lim_max_upstream_body) },
	{ "head_timeout",	T_SCALAR, 0, set_duration,
	    offsetof(struct limits, lim_head_timeout_ms) },
	{ "client_timeout",	T_SCALAR, 0, set_duration,
	    offsetof(struct limits, lim_client_timeout_ms) },
	{ "shutdown_timeout",	T_SCALAR, 0, set_duration,
	    offsetof(struct limits, lim_shutdown_timeout_ms) },
	{ NULL,			T_ANY, 0, NULL, 0 }
};

static void
set_limits(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	do_mapping(c, n, limits_keys, &c->c_conf->cf_limits);
}

static void
set_def_ok(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	do_ok_list(c, n, &c->c_def.d_ok, &c->c_def.d_nok);
}

static const struct cf_key defaults_keys[] = {
	{ "timeout",		T_SCALAR, 0, set_duration,
	    offsetof(struct cf_defaults, d_timeout_ms) },
	{ "connect_timeout",	T_SCALAR, 0, set_duration,
	    offsetof(struct cf_defaults, d_connect_timeout_ms) },
	{ "deadline",		T_SCALAR, 0, set_duration,
	    offsetof(struct cf_defaults, d_deadline_ms) },
	{ "ok_status",		T_LIST, 0, set_def_ok, 0 },
	{ NULL,			T_ANY, 0, NULL, 0 }
};

static void
set_defaults(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	do_mapping(c, n, defaults_keys, &c->c_def);
}

/* admin.listen: an address, or "off" for no admin listener. */
static void
set_admin_listen(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct gatherd_conf	*cf = c->c_conf;
	const char		*why;

	c->c_admin_set = 1;
	if (strcmp(STR(n), "off") == 0) {
		listen_addr_free(cf->cf_admin);
		free(cf->cf_admin);
		cf->cf_admin = NULL;
		return;
	}
	listen_addr_free(cf->cf_admin);
	if (parse_listen(STR(n), cf->cf_admin, &why) == -1) {
		config_yaml_err(c->c_y, n, "%s", why);
		return;
	}
	c->c_admin_node = n;
}

static const struct cf_key admin_keys[] = {
	{ "listen",		T_SCALAR, 0, set_admin_listen, 0 },
	{ NULL,			T_ANY, 0, NULL, 0 }
};

static void
set_admin(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	do_mapping(c, n, admin_keys, NULL);
}

/* access_log: off, stderr, or an absolute path opened for appending. */
static void
set_access_log(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct gatherd_conf	*cf = c->c_conf;
	const char		*s = STR(n);

	if (strcmp(s, "off") == 0)
		return;
	if (strcmp(s, "stderr") == 0)
		cf->cf_access_fd = STDERR_FILENO;
	else if (s[0] != '/') {
		config_yaml_err(c->c_y, n, "expected off, stderr or an "
		    "absolute file path");
		return;
	} else if ((cf->cf_access_fd = open(s, O_WRONLY | O_APPEND |
	    O_CREAT | O_CLOEXEC | O_NOCTTY, 0640)) == -1) {
		config_yaml_err(c->c_y, n, "cannot open for appending: %s",
		    strerror(errno));
		return;
	}
	cf->cf_access_log = xstrdup(s);
}

static const struct cf_key root_keys[] = {
	{ "listen",		T_SCALAR_OR_LIST, 0, set_listen, 0 },
	{ "admin",		T_MAP, 0, set_admin, 0 },
	{ "access_log",		T_SCALAR, 0, set_access_log, 0 },
	{ "workers",		T_SCALAR, 0, set_workers, 0 },
	{ "limits",		T_MAP, 0, set_limits, 0 },
	{ "defaults",		T_MAP, 0, set_defaults, 0 },
	{ "endpoints",		T_LIST, 1, set_endpoints, 0 },
	{ NULL,			T_ANY, 0, NULL, 0 }
};

/*
 * The admin address must not be a listen address, whether either of them
 * was written or is the default.
 */
static void
do_admin_clash(struct cfctx *c, yaml_node_t *root)
{
	struct gatherd_conf	*cf = c->c_conf;
	yaml_node_t		*n = c->c_admin_node;
	size_t			 i, mark;

	if (cf->cf_admin == NULL || (c->c_admin_set && n == NULL))
		return;
	mark = config_yaml_push(c->c_y, "admin", 0);
	config_yaml_push(c->c_y, "listen", 0);
	for (i = 0; i < cf->cf_nlisten; i++) {
		if (!listen_addr_same(&cf->cf_listen[i], cf->cf_admin))
			continue;
		if (n != NULL)
			config_yaml_err(c->c_y, n, "the admin listener cannot "
			    "share an address with listen (%s)",
			    cf->cf_listen[i].la_text);
		else
			config_yaml_err(c->c_y, root, "the default admin "
			    "address %s is also a listen address; set "
			    "admin.listen to another address or off",
			    cf->cf_admin->la_text);
	}
	config_yaml_pop(c->c_y, mark);
}

/* Builds the conf from the document's root, over the built-in defaults. */
static void
do_conf(struct cfctx *c, yaml_node_t *root)
{
	static const struct status_range ok = { DEFAULT_OK_LO, DEFAULT_OK_HI };
	static const struct limits lim = { DEFAULT_MAX_CONNECTIONS,
	    DEFAULT_MAX_REQUEST_HEAD, DEFAULT_MAX_REQUEST_BODY,
	    DEFAULT_MAX_UPSTREAM_BODY, DEFAULT_HEAD_TIMEOUT_MS,
	    DEFAULT_CLIENT_TIMEOUT_MS, DEFAULT_SHUTDOWN_TIMEOUT_MS };
	struct gatherd_conf	*cf = c->c_conf;
	const char		*why;

	c->c_def.d_timeout_ms = DEFAULT_TIMEOUT_MS;
	c->c_def.d_connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	c->c_def.d_deadline_ms = DEFAULT_DEADLINE_MS;
	c->c_def.d_ok = xcalloc(1, sizeof(ok));
	*c->c_def.d_ok = ok;
	c->c_def.d_nok = 1;
	cf->cf_workers = DEFAULT_WORKERS;
	cf->cf_limits = lim;
	cf->cf_admin = xcalloc(1, sizeof(*cf->cf_admin));
	if (parse_listen(DEFAULT_ADMIN_LISTEN, cf->cf_admin, &why) == -1)
		fatalx("%s: DEFAULT_ADMIN_LISTEN: %s", __func__, why);
	if (do_type(c, root, T_MAP) == 0)
		do_mapping(c, root, root_keys, cf);
	free(c->c_def.d_ok);
	if (cf->cf_listen == NULL) {
		cf->cf_listen = xcalloc(1, sizeof(*cf->cf_listen));
		if (parse_listen(DEFAULT_LISTEN, cf->cf_listen, &why) == -1)
			fatalx("%s: DEFAULT_LISTEN: %s", __func__, why);
		cf->cf_nlisten = 1;
	}
	do_admin_clash(c, root);
}

/* ------------------------------------------------------------------ */
/* Loading.                                                            */

/* Reads and checks a config file: a new conf (one reference), or NULL. */
struct gatherd_conf *
config_load(const char *file, char *errbuf, size_t errlen)
{
	struct cfctx	 c;
	yaml_node_t	*root;

	memset(&c, 0, sizeof(c));
	c.c_conf = xcalloc(1, sizeof(*c.c_conf));
	c.c_conf->cf_refs = 1;
	c.c_conf->cf_access_fd = -1;
	c.c_conf->cf_file = xstrdup(file);
	c.c_y = config_yaml_load(file);
	if ((root = config_yaml_root(c.c_y)) != NULL)
		do_conf(&c, root);
	if (config_yaml_render(c.c_y, errbuf, errlen) == -1) {
		config_unref(c.c_conf);
		c.c_conf = NULL;
	}
	config_yaml_free(c.c_y);
	return (c.c_conf);
}

/* ------------------------------------------------------------------ */
/* References and teardown.                                            */

static void
do_free_strv(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

static void
do_free_upstream(struct upstream_conf *up)
{
	size_t	 i;

	free(up->up_name);
	free(up->up_url);
	url_tmpl_free(&up->up_tmpl);
	free(up->up_method);
	for (i = 0; i < up->up_nheaders; i++) {
		free(up->up_headers[i].kv_key);
		free(up->up_headers[i].kv_val);
	}
	free(up->up_headers);
	do_free_strv(up->up_fwd_headers, up->up_nfwd_headers);
	do_free_strv(up->up_fwd_query, up->up_nfwd_query);
	free(up->up_default);
	free(up->up_ok);
}

static void
do_free(struct gatherd_conf *cf)
{
	struct endpoint	*ep;
	size_t		 i, j;

	for (i = 0; i < cf->cf_nlisten; i++)
		listen_addr_free(&cf->cf_listen[i]);
	free(cf->cf_listen);
	if (cf->cf_admin != NULL)
		listen_addr_free(cf->cf_admin);
	free(cf->cf_admin);
	if (cf->cf_access_fd > STDERR_FILENO)
		close(cf->cf_access_fd);
	free(cf->cf_access_log);
	for (i = 0; i < cf->cf_nendpoints; i++) {
		ep = &cf->cf_endpoints[i];
		free(ep->ep_path);
		free(ep->ep_method);
		router_free_segs(ep->ep_segs, ep->ep_nsegs, ep->ep_params,
		    ep->ep_nparams);
		for (j = 0; j < ep->ep_nups; j++)
			do_free_upstream(&ep->ep_ups[j]);
		free(ep->ep_ups);
	}
	free(cf->cf_endpoints);
	free(cf->cf_file);
	free(cf);
}

/* Takes one more reference, for a worker or a request in flight. */
struct gatherd_conf *
config_ref(struct gatherd_conf *cf)
{
	__atomic_add_fetch(&cf->cf_refs, 1, __ATOMIC_RELAXED);
	return (cf);
}

/* Drops a reference; the last one frees the whole snapshot. */
void
config_unref(struct gatherd_conf *cf)
{
	if (cf != NULL &&
	    __atomic_sub_fetch(&cf->cf_refs, 1, __ATOMIC_ACQ_REL) == 0)
		do_free(cf);
}

/* Whether an upstream's reply status counts as success. */
int
config_ok_status(const struct upstream_conf *up, int status)
{
	size_t	 i;

	for (i = 0; i < up->up_nok; i++)
		if (status >= up->up_ok[i].sr_lo &&
		    status <= up->up_ok[i].sr_hi)
			return (1);
	return (up->up_nok == 0 && status >= DEFAULT_OK_LO &&
	    status <= DEFAULT_OK_HI);
}
