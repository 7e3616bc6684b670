/*
 * Configuration: a YAML file becomes one immutable, refcounted struct
 * gatherd_conf of plain data.  Reload builds a new one and swaps the
 * pointer; requests in flight keep the snapshot they started with.
 *
 * The file is read in two passes over one buffer.  The first walks the
 * event stream and refuses what would make the second unbounded: anchors
 * and aliases (a billion-laughs file is small on disk and huge as a tree),
 * deep nesting, too many nodes, a second document.  The second loads the
 * tree and walks it with one key table per mapping level.  Every error is
 * collected with its line and column, and all are reported at once, in
 * file order.
 */
#include <sys/socket.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <yaml.h>

#include "gatherd.h"

#define CONFIG_MAX_FILE		(4 * 1024 * 1024)
#define CONFIG_MAX_NODES	100000
#define CONFIG_MAX_DEPTH	32
#define CONFIG_MAX_KEYS		16
#define CONFIG_KEYLEN		256
#define CONFIG_MORE		"... more errors\n"

#define NITEMS(n)	((size_t)((n)->data.sequence.items.top - \
			    (n)->data.sequence.items.start))
#define NPAIRS(n)	((size_t)((n)->data.mapping.pairs.top - \
			    (n)->data.mapping.pairs.start))
#define STR(n)		((const char *)(n)->data.scalar.value)
#define FIELD(o, off, t) ((t *)(void *)((char *)(o) + (off)))

struct cf_err {
	size_t		 e_line;
	size_t		 e_col;
	size_t		 e_seq;
	char		*e_text;
};

/* Values under "defaults:", copied into each endpoint and upstream. */
struct cf_defaults {
	uint64_t	 d_timeout_ms;
	uint64_t	 d_connect_timeout_ms;
	uint64_t	 d_deadline_ms;
	struct status_range *d_ok;
	size_t		 d_nok;
};

struct cfctx {
	const char	*c_file;
	yaml_document_t	 c_doc;
	struct cf_err	*c_errs;
	size_t		 c_nerrs;
	char		 c_key[CONFIG_KEYLEN];	/* dotted path of the node */
	struct gatherd_conf *c_conf;
	struct cf_defaults c_def;
	struct endpoint	*c_ep;		/* endpoint being read */
	yaml_node_t	*c_path;	/* its path node, if the path is good */
};

enum cf_type { T_SCALAR, T_LIST, T_MAP, T_ANY, T_SCALAR_OR_LIST };

typedef void	(*cf_setter)(struct cfctx *, yaml_node_t *, void *, size_t);
typedef void	(*cf_item)(struct cfctx *, yaml_node_t *, size_t, void *);
typedef int	(*cf_check)(const char *, const char **);

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
/* Errors and key paths.                                               */

static void __attribute__((format(printf, 4, 0)))
do_errv(struct cfctx *c, yaml_mark_t m, const char *key, const char *fmt,
    va_list ap)
{
	struct cf_err	*e;
	char		 msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	c->c_errs = xreallocarray(c->c_errs, c->c_nerrs + 1,
	    sizeof(*c->c_errs));
	e = &c->c_errs[c->c_nerrs];
	e->e_line = m.line + 1;
	e->e_col = m.column + 1;
	e->e_seq = c->c_nerrs++;
	xasprintf(&e->e_text, "%s:%zu:%zu: %s: %s\n", c->c_file, e->e_line,
	    e->e_col, key[0] != '\0' ? key : "(root)", msg);
}

/* Records an error at a node, under the current key path. */
static void __attribute__((format(printf, 3, 4)))
do_err(struct cfctx *c, yaml_node_t *n, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	do_errv(c, n->start_mark, c->c_key, fmt, ap);
	va_end(ap);
}

/* Records an error that has no node: file and YAML syntax problems. */
static void __attribute__((format(printf, 4, 5)))
do_err_at(struct cfctx *c, yaml_mark_t m, const char *key, const char *fmt,
    ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	do_errv(c, m, key, fmt, ap);
	va_end(ap);
}

/* Appends ".name" or "[i]" to the key path; returns the length to restore. */
static size_t
do_push(struct cfctx *c, const char *name, size_t idx)
{
	size_t	 len = strlen(c->c_key), i;

	if (name == NULL)
		snprintf(c->c_key + len, sizeof(c->c_key) - len, "[%zu]", idx);
	else
		snprintf(c->c_key + len, sizeof(c->c_key) - len, "%s%s",
		    len > 0 ? "." : "", name);
	/* A key is user text: keep every error on one line. */
	for (i = len; c->c_key[i] != '\0'; i++)
		if ((unsigned char)c->c_key[i] < ' ')
			c->c_key[i] = '?';
	return (len);
}

static int
do_err_cmp(const void *a, const void *b)
{
	const struct cf_err	*x = a, *y = b;

	if (x->e_line != y->e_line)
		return (x->e_line < y->e_line ? -1 : 1);
	if (x->e_col != y->e_col)
		return (x->e_col < y->e_col ? -1 : 1);
	return (x->e_seq < y->e_seq ? -1 : x->e_seq > y->e_seq);
}

/*
 * Writes the errors into errbuf in file order, as many whole lines as fit;
 * if some do not, the last line is CONFIG_MORE.
 */
static void
do_render(struct cfctx *c, char *errbuf, size_t errlen)
{
	size_t	 i, used = 0, len, total = 0;

	if (errlen == 0)
		return;
	errbuf[0] = '\0';
	qsort(c->c_errs, c->c_nerrs, sizeof(*c->c_errs), do_err_cmp);
	for (i = 0; i < c->c_nerrs; i++)
		total += strlen(c->c_errs[i].e_text);
	for (i = 0; i < c->c_nerrs; i++) {
		len = strlen(c->c_errs[i].e_text);
		if (total >= errlen &&
		    used + len + strlen(CONFIG_MORE) >= errlen)
			break;
		memcpy(errbuf + used, c->c_errs[i].e_text, len + 1);
		used += len;
	}
	if (i < c->c_nerrs)
		strlcat(errbuf, CONFIG_MORE, errlen);
}

/* ------------------------------------------------------------------ */
/* The walk: node types, mappings, lists, scalar setters.              */

static yaml_node_t *
do_node(struct cfctx *c, int idx)
{
	return (yaml_document_get_node(&c->c_doc, idx));
}

/* Checks a node's type; scalars must also be free of NUL bytes. */
static int
do_type(struct cfctx *c, yaml_node_t *n, enum cf_type type)
{
	if (type == T_ANY)
		return (0);
	if (n->type == YAML_SCALAR_NODE && (type == T_SCALAR ||
	    type == T_SCALAR_OR_LIST)) {
		if (strlen(STR(n)) == n->data.scalar.length)
			return (0);
		do_err(c, n, "string contains a NUL byte");
		return (-1);
	}
	if ((n->type == YAML_SEQUENCE_NODE && (type == T_LIST ||
	    type == T_SCALAR_OR_LIST)) ||
	    (n->type == YAML_MAPPING_NODE && type == T_MAP))
		return (0);
	do_err(c, n, "%s", type == T_MAP ? "expected a mapping" :
	    type == T_LIST ? "expected a list" : type == T_SCALAR ?
	    "expected a string" : "expected a string or a list");
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
		item = do_node(c, n->data.sequence.items.start[i]);
		mark = do_push(c, NULL, i);
		if (do_type(c, item, type) == 0)
			fn(c, item, i, arg);
		c->c_key[mark] = '\0';
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
		if (do_type(c, (key = do_node(c, pair->key)), T_SCALAR) == -1)
			continue;
		mark = do_push(c, STR(key), 0);
		for (i = 0; keys[i].k_name != NULL; i++)
			if (strcmp(keys[i].k_name, STR(key)) == 0)
				break;
		if (keys[i].k_name == NULL)
			do_err(c, key, "unknown key");
		else if (found[i] != NULL)
			do_err(c, key, "duplicate key (first at line %zu)",
			    first[i]->start_mark.line + 1);
		else {
			found[i] = do_node(c, pair->value);
			first[i] = key;
		}
		c->c_key[mark] = '\0';
	}
	for (i = 0; keys[i].k_name != NULL; i++) {
		mark = do_push(c, keys[i].k_name, 0);
		if (found[i] == NULL && keys[i].k_required)
			do_err(c, map, "required key is missing");
		else if (found[i] != NULL &&
		    do_type(c, found[i], keys[i].k_type) == 0)
			keys[i].k_set(c, found[i], obj, keys[i].k_off);
		c->c_key[mark] = '\0';
	}
}

static void
set_duration(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	const char	*why;

	if (parse_duration(STR(n), FIELD(obj, off, uint64_t), &why) == -1)
		do_err(c, n, "%s", why);
}

static void
set_size(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	const char	*why;

	if (parse_size(STR(n), FIELD(obj, off, uint64_t), &why) == -1)
		do_err(c, n, "%s", why);
}

/* A request head limit below 1KiB cannot hold an ordinary browser head. */
static void
set_head_size(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	const char	*why;

	if (parse_size(STR(n), FIELD(obj, off, uint64_t), &why) == -1)
		do_err(c, n, "%s", why);
	else if (*FIELD(obj, off, uint64_t) < 1024)
		do_err(c, n, "must be at least 1KiB");
}

static void
set_count(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	const char	*why;

	if (parse_uint(STR(n), INT32_MAX, FIELD(obj, off, uint64_t),
	    &why) == -1)
		do_err(c, n, "%s", why);
	else if (*FIELD(obj, off, uint64_t) < 1)
		do_err(c, n, "must be at least 1");
}

static void
set_bool(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	const char	*why;

	if (parse_bool(STR(n), FIELD(obj, off, int), &why) == -1)
		do_err(c, n, "%s", why);
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
		do_err(c, n, "%s", why);
	else
		*m = xstrdup(STR(n));
}

static void
do_ok_item(struct cfctx *c, yaml_node_t *n, size_t i, void *arg)
{
	struct status_range	*ok = arg;
	const char		*why;

	if (parse_status_range(STR(n), &ok[i], &why) == -1)
		do_err(c, n, "%s", why);
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
		do_err(c, n, "expected at least one status");
	do_items(c, n, T_SCALAR, do_ok_item, *okp);
}

struct cf_names {
	char		**n_list;
	size_t		 n_count;
	cf_check	 n_check;
	int		 n_fold;	/* header names: case does not count */
};

static void
do_name_item(struct cfctx *c, yaml_node_t *n, size_t i, void *arg)
{
	struct cf_names	*nl = arg;
	const char	*why;

	for (i = 0; i < nl->n_count; i++)
		if ((nl->n_fold ? strcasecmp(nl->n_list[i], STR(n)) :
		    strcmp(nl->n_list[i], STR(n))) == 0) {
			do_err(c, n, "duplicate name");
			return;
		}
	if (nl->n_check(STR(n), &why) == -1)
		do_err(c, n, "%s", why);
	else
		nl->n_list[nl->n_count++] = xstrdup(STR(n));
}

/* A list of distinct names, each checked by check(). */
static void
do_name_list(struct cfctx *c, yaml_node_t *n, char ***listp, size_t *np,
    cf_check check)
{
	struct cf_names	 nl = { NULL, 0, check, check == parse_header_name };

	nl.n_list = xcalloc(NITEMS(n), sizeof(char *));
	do_items(c, n, T_SCALAR, do_name_item, &nl);
	*listp = nl.n_list;
	*np = nl.n_count;
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
		do_err(c, n, "%s", why);
		return;
	}
	for (i = 0; &c->c_ep->ep_ups[i] != up; i++)
		if (c->c_ep->ep_ups[i].up_name != NULL &&
		    strcmp(c->c_ep->ep_ups[i].up_name, STR(n)) == 0) {
			do_err(c, n, "duplicate upstream name (also "
			    "upstreams[%zu])", i);
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
		do_err(c, n, "%.*s is not a parameter of the endpoint path",
		    (int)len, p);
	else if (url_tmpl_parse(STR(n), c->c_ep->ep_params,
	    c->c_ep->ep_nparams, &up->up_tmpl, &why) == -1)
		do_err(c, n, "%s", why);
	else
		up->up_url = xstrdup(STR(n));
}

/* The value of the ${NAME} at s; *end is set past the '}'. */
static const char *
do_env(struct cfctx *c, yaml_node_t *n, const char *s, const char **end)
{
	const char	*close, *val;
	char		*name;
	size_t		 len;

	close = s[1] == '{' ? strchr(s, '}') : NULL;
	len = close != NULL ? (size_t)(close - s - 2) : 0;
	if (len == 0 || (s[2] >= '0' && s[2] <= '9') ||
	    strspn(s + 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_") != len) {
		do_err(c, n, "bad '$' (use ${NAME}, or $$ for a literal '$')");
		return (NULL);
	}
	name = xstrndup(s + 2, len);
	if ((val = getenv(name)) == NULL)
		do_err(c, n, "environment variable %s is not set", name);
	free(name);
	*end = close + 1;
	return (val);
}

/*
 * Expands ${VAR} from the environment and $$ to '$'.  Secrets stay out of
 * the file this way; a variable that is not set is an error rather than
 * an empty credential sent upstream.
 */
static char *
do_expand(struct cfctx *c, yaml_node_t *n)
{
	const char	*s = STR(n), *val;
	char		*out = NULL;
	size_t		 len = 0, vlen;

	while (*s != '\0') {
		if (*s != '$') {
			val = s;
			s += vlen = strcspn(s, "$");
		} else if (s[1] == '$') {
			val = "$";
			vlen = 1;
			s += 2;
		} else if ((val = do_env(c, n, s, &s)) != NULL)
			vlen = strlen(val);
		else {
			free(out);
			return (NULL);
		}
		out = xreallocarray(out, len + vlen + 1, 1);
		memcpy(out + len, val, vlen);
		len += vlen;
	}
	out = xreallocarray(out, len + 1, 1);
	out[len] = '\0';
	return (out);
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
		k = do_node(c, pair->key);
		v = do_node(c, pair->value);
		if (do_type(c, k, T_SCALAR) == -1)
			continue;
		mark = do_push(c, STR(k), 0);
		for (i = 0; i < up->up_nheaders; i++)
			if (strcasecmp(up->up_headers[i].kv_key, STR(k)) == 0)
				break;
		kv = &up->up_headers[up->up_nheaders];
		if (parse_header_name(STR(k), &why) == -1)
			do_err(c, k, "%s", why);
		else if (i < up->up_nheaders)
			do_err(c, k, "duplicate header");
		else if (do_type(c, v, T_SCALAR) == 0 &&
		    (kv->kv_val = do_expand(c, v)) != NULL) {
			if (parse_header_value(kv->kv_val, &why) == -1)
				do_err(c, v, "%s", why);
			kv->kv_key = xstrdup(STR(k));
			up->up_nheaders++;
		}
		c->c_key[mark] = '\0';
	}
}

static void
set_up_fwd_headers(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct upstream_conf	*up = obj;

	do_name_list(c, n, &up->up_fwd_headers, &up->up_nfwd_headers,
	    parse_header_name);
}

static void
set_up_fwd_query(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct upstream_conf	*up = obj;

	do_name_list(c, n, &up->up_fwd_query, &up->up_nfwd_query,
	    parse_query_name);
}

static void
set_up_ok(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct upstream_conf	*up = obj;

	do_ok_list(c, n, &up->up_ok, &up->up_nok);
}

/* Whether s is a YAML core-schema decimal int or float. */
static int
do_is_number(const char *s)
{
	static const char	 digits[] = "0123456789";
	size_t			 n;

	s += (*s == '-' || *s == '+');
	n = strspn(s, digits);
	s += n;
	if (*s == '.') {
		n += strspn(s + 1, digits);
		s += 1 + strspn(s + 1, digits);
	}
	if (n == 0)
		return (0);
	if (*s == 'e' || *s == 'E') {
		s += 1 + (s[1] == '-' || s[1] == '+');
		if (strspn(s, digits) == 0)
			return (0);
		s += strspn(s, digits);
	}
	return (*s == '\0');
}

/*
 * A plain scalar in YAML's core schema: null, bool, int or float.  Any
 * quoted scalar, and any other plain one, is a string.
 */
static json_t *
do_json_scalar(struct cfctx *c, yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL",
	    NULL }, *const trues[] = { "true", "True", "TRUE", NULL },
	    *const falses[] = { "false", "False", "FALSE", NULL };
	const char	*s = STR(n);
	char		*end;
	long long	 ll;
	double		 d;
	size_t		 i;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return (json_stringn(s, n->data.scalar.length));
	for (i = 0; nulls[i] != NULL; i++)
		if (strcmp(s, nulls[i]) == 0)
			return (json_null());
	for (i = 0; trues[i] != NULL; i++)
		if (strcmp(s, trues[i]) == 0 || strcmp(s, falses[i]) == 0)
			return (json_boolean(strcmp(s, trues[i]) == 0));
	if (!do_is_number(s))
		return (json_string(s));
	errno = 0;
	if (strpbrk(s, ".eE") == NULL) {
		ll = strtoll(s, &end, 10);
		if (errno == 0)
			return (json_integer(ll));
	} else if (isfinite(d = strtod(s, &end)))
		return (json_real(d));
	do_err(c, n, "number out of range");
	return (NULL);
}

/* Any YAML value as a JSON value; NULL after an error. */
static json_t *
do_json(struct cfctx *c, yaml_node_t *n)
{
	yaml_node_pair_t	*pair;
	yaml_node_t		*k;
	json_t			*j, *v;
	size_t			 i, mark;

	if (n->type == YAML_SCALAR_NODE)
		return (do_json_scalar(c, n));
	if (n->type == YAML_SEQUENCE_NODE) {
		j = json_array();
		for (i = 0; i < NITEMS(n); i++) {
			mark = do_push(c, NULL, i);
			v = do_json(c, do_node(c,
			    n->data.sequence.items.start[i]));
			if (v != NULL)
				json_array_append_new(j, v);
			c->c_key[mark] = '\0';
		}
		return (j);
	}
	j = json_object();
	for (pair = n->data.mapping.pairs.start;
	    pair < n->data.mapping.pairs.top; pair++) {
		if (do_type(c, (k = do_node(c, pair->key)), T_SCALAR) == -1)
			continue;
		mark = do_push(c, STR(k), 0);
		if (json_object_get(j, STR(k)) != NULL)
			do_err(c, k, "duplicate key");
		else if ((v = do_json(c, do_node(c, pair->value))) != NULL)
			json_object_set_new(j, STR(k), v);
		c->c_key[mark] = '\0';
	}
	return (j);
}

/* The value used when the upstream fails, kept as compact JSON text. */
static void
set_up_default(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct upstream_conf	*up = obj;
	json_t			*j;
	char			*s;

	if ((j = do_json(c, n)) == NULL)
		return;
	if ((s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		fatalx("%s: json_dumps", __func__);
	json_decref(j);
	free(up->up_default);
	up->up_default = xstrdup(s);
	free(s);
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
		do_err(c, n, NITEMS(n) == 0 ? "expected at least one upstream" :
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
		do_err(c, n, "%s", why);
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
	do_err(c, n, "merge must be keyed, shallow, deep or array");
}

static const struct cf_key endpoint_keys[] = {
	{ "path",		T_SCALAR, 1, set_ep_path, 0 },
	{ "method",		T_SCALAR, 0, set_method,
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
			do_push(c, "path", 0);
			do_err(c, c->c_path, "duplicate endpoint (same method "
			    "and path as endpoints[%zu])", j);
			break;
		}
	c->c_ep = NULL;
}

static void
set_endpoints(struct cfctx *c, yaml_node_t *n, void *obj, size_t off)
{
	struct gatherd_conf	*cf = obj;

	if (NITEMS(n) == 0)
		do_err(c, n, "expected at least one endpoint");
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
		do_err(c, n, "%s", why);
		return;
	}
	for (i = 0; i < cf->cf_nlisten; i++) {
		o = &cf->cf_listen[i];
		if (o->la_family == la->la_family &&
		    o->la_port == la->la_port &&
		    strcmp(o->la_path != NULL ? o->la_path : o->la_host,
		    la->la_path != NULL ? la->la_path : la->la_host) == 0)
			break;
	}
	cf->cf_nlisten++;
	if (i < cf->cf_nlisten - 1)
		do_err(c, n, "duplicate listen address (also %s)",
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
		do_err(c, n, "expected at least one address");
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
		do_err(c, n, "expected auto or a number from 1 to %d",
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

static const struct cf_key root_keys[] = {
	{ "listen",		T_SCALAR_OR_LIST, 0, set_listen, 0 },
	{ "workers",		T_SCALAR, 0, set_workers, 0 },
	{ "limits",		T_MAP, 0, set_limits, 0 },
	{ "defaults",		T_MAP, 0, set_defaults, 0 },
	{ "endpoints",		T_LIST, 1, set_endpoints, 0 },
	{ NULL,			T_ANY, 0, NULL, 0 }
};

/* Builds the conf from the loaded document, over the built-in defaults. */
static void
do_conf(struct cfctx *c)
{
	static const struct status_range ok = { DEFAULT_OK_LO, DEFAULT_OK_HI };
	static const struct limits lim = { DEFAULT_MAX_CONNECTIONS,
	    DEFAULT_MAX_REQUEST_HEAD, DEFAULT_MAX_REQUEST_BODY,
	    DEFAULT_MAX_UPSTREAM_BODY, DEFAULT_HEAD_TIMEOUT_MS,
	    DEFAULT_CLIENT_TIMEOUT_MS, DEFAULT_SHUTDOWN_TIMEOUT_MS };
	struct gatherd_conf	*cf = c->c_conf;
	yaml_node_t		*root;
	const char		*why;

	c->c_def.d_timeout_ms = DEFAULT_TIMEOUT_MS;
	c->c_def.d_connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	c->c_def.d_deadline_ms = DEFAULT_DEADLINE_MS;
	c->c_def.d_ok = xcalloc(1, sizeof(ok));
	*c->c_def.d_ok = ok;
	c->c_def.d_nok = 1;
	cf->cf_workers = DEFAULT_WORKERS;
	cf->cf_limits = lim;
	if ((root = yaml_document_get_root_node(&c->c_doc)) == NULL)
		do_err_at(c, c->c_doc.start_mark, "(root)",
		    "the file holds no configuration");
	else if (do_type(c, root, T_MAP) == 0)
		do_mapping(c, root, root_keys, cf);
	free(c->c_def.d_ok);
	if (cf->cf_listen != NULL)
		return;
	cf->cf_listen = xcalloc(1, sizeof(*cf->cf_listen));
	if (parse_listen(DEFAULT_LISTEN, cf->cf_listen, &why) == -1)
		fatalx("%s: DEFAULT_LISTEN: %s", __func__, why);
	cf->cf_nlisten = 1;
}

/* ------------------------------------------------------------------ */
/* Loading.                                                            */

/* A libyaml error; a reader error has only a byte offset, so count. */
static void
do_yaml_err(struct cfctx *c, yaml_parser_t *p, const unsigned char *buf)
{
	yaml_mark_t	 m;
	size_t		 i;

	if (p->error == YAML_MEMORY_ERROR)
		fatalx("%s: libyaml: out of memory", __func__);
	if (p->error == YAML_READER_ERROR) {
		memset(&m, 0, sizeof(m));
		for (i = 0; i < p->problem_offset; i++) {
			m.column = buf[i] == '\n' ? 0 : m.column + 1;
			m.line += buf[i] == '\n';
		}
		do_err_at(c, m, "(yaml)", "%s", p->problem);
	} else if (p->context != NULL)
		do_err_at(c, p->problem_mark, "(yaml)", "%s %s at line %zu",
		    p->problem, p->context, p->context_mark.line + 1);
	else
		do_err_at(c, p->problem_mark, "(yaml)", "%s",
		    p->problem != NULL ? p->problem : "not valid YAML");
}

/* Why the first pass refuses an event, or NULL. */
static const char *
do_scan_event(yaml_event_t *ev, size_t *depth, size_t *nodes, size_t *docs)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		return (++*docs > 1 ? "only one YAML document is allowed" :
		    NULL);
	case YAML_ALIAS_EVENT:
		return ("YAML anchors and aliases are not supported");
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		--*depth;
		return (NULL);
	case YAML_SCALAR_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		/* The anchor is the first member of each of these. */
		if (ev->data.scalar.anchor != NULL)
			return ("YAML anchors and aliases are not supported");
		if (++*nodes > CONFIG_MAX_NODES)
			return ("too many YAML nodes");
		if (ev->type != YAML_SCALAR_EVENT &&
		    ++*depth > CONFIG_MAX_DEPTH)
			return ("nesting too deep");
		return (NULL);
	default:
		return (NULL);
	}
}

/*
 * The first pass: refuses anchors, aliases, deep nesting, too many nodes
 * and a second document, so that the tree the second pass builds and
 * walks is small and acyclic.
 */
static int
do_scan(struct cfctx *c, const unsigned char *buf, size_t len)
{
	yaml_parser_t	 p;
	yaml_event_t	 ev;
	const char	*why = NULL;
	size_t		 nodes = 0, depth = 0, docs = 0;
	int		 done = 0;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, buf, len);
	while (!done && why == NULL) {
		if (!yaml_parser_parse(&p, &ev)) {
			do_yaml_err(c, &p, buf);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		if ((why = do_scan_event(&ev, &depth, &nodes, &docs)) != NULL)
			do_err_at(c, ev.start_mark, "(yaml)", "%s", why);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return (done && why == NULL ? 0 : -1);
}

/* Reads the whole file; NULL after an error. */
static unsigned char *
do_read(struct cfctx *c, size_t *lenp)
{
	yaml_mark_t	 m = { 0, 0, 0 };
	unsigned char	*buf = NULL;
	FILE		*fp;

	if ((fp = fopen(c->c_file, "rb")) == NULL) {
		do_err_at(c, m, "(file)", "cannot open: %s", strerror(errno));
		return (NULL);
	}
	buf = xmalloc(CONFIG_MAX_FILE + 1);
	*lenp = fread(buf, 1, CONFIG_MAX_FILE + 1, fp);
	if (ferror(fp))
		do_err_at(c, m, "(file)", "cannot read: %s", strerror(errno));
	else if (*lenp > CONFIG_MAX_FILE)
		do_err_at(c, m, "(file)", "file is larger than %d bytes",
		    CONFIG_MAX_FILE);
	fclose(fp);
	if (c->c_nerrs == 0)
		return (buf);
	free(buf);
	return (NULL);
}

/* Reads and checks a config file: a new conf (one reference), or NULL. */
struct gatherd_conf *
config_load(const char *file, char *errbuf, size_t errlen)
{
	struct cfctx	 c;
	yaml_parser_t	 p;
	unsigned char	*buf;
	size_t		 i, len;

	memset(&c, 0, sizeof(c));
	c.c_file = file;
	c.c_conf = xcalloc(1, sizeof(*c.c_conf));
	c.c_conf->cf_refs = 1;
	c.c_conf->cf_file = xstrdup(file);
	if ((buf = do_read(&c, &len)) != NULL && do_scan(&c, buf, len) == 0) {
		yaml_parser_initialize(&p);
		yaml_parser_set_input_string(&p, buf, len);
		if (!yaml_parser_load(&p, &c.c_doc))
			do_yaml_err(&c, &p, buf);
		else {
			do_conf(&c);
			yaml_document_delete(&c.c_doc);
		}
		yaml_parser_delete(&p);
	}
	free(buf);
	if (errlen > 0)
		errbuf[0] = '\0';
	if (c.c_nerrs == 0)
		return (c.c_conf);
	do_render(&c, errbuf, errlen);
	for (i = 0; i < c.c_nerrs; i++)
		free(c.c_errs[i].e_text);
	free(c.c_errs);
	config_unref(c.c_conf);
	return (NULL);
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

	for (i = 0; i < cf->cf_nlisten; i++) {
		free(cf->cf_listen[i].la_host);
		free(cf->cf_listen[i].la_path);
		free(cf->cf_listen[i].la_text);
	}
	free(cf->cf_listen);
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
