/*
 * The YAML side of the configuration: reading a file into a libyaml
 * document, the errors found on the way, and turning nodes into plain
 * values (strings with ${VAR}, lists of names, JSON text for "default:").
 * It knows nothing of struct gatherd_conf.  config.c walks the document
 * with its key tables and records its own errors here, so that all of them
 * come out together.
 *
 * The file is read in two passes over one buffer.  The first walks the
 * event stream and refuses what would make the second unbounded: anchors
 * and aliases (a billion-laughs file is small on disk and huge as a tree),
 * deep nesting, too many nodes, a second document.  The second loads the
 * tree.  Every error is collected with its line and column, and all are
 * reported at once, in file order.
 */
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
#define CONFIG_KEYLEN		256
#define CONFIG_MORE		"... more errors\n"

#define NITEMS(n)	((size_t)((n)->data.sequence.items.top - \
			    (n)->data.sequence.items.start))
#define STR(n)		((const char *)(n)->data.scalar.value)

struct cf_err {
	size_t		 e_line;
	size_t		 e_col;
	size_t		 e_seq;
	char		*e_text;
};

/* A config file being read: its document, its errors, the current key. */
struct cf_yaml {
	const char	*y_file;
	yaml_document_t	 y_doc;
	int		 y_loaded;	/* y_doc is loaded and has a root */
	struct cf_err	*y_errs;
	size_t		 y_nerrs;
	char		 y_key[CONFIG_KEYLEN];	/* dotted path of the node */
};

/* ------------------------------------------------------------------ */
/* Errors and key paths.                                               */

static void __attribute__((format(printf, 4, 0)))
do_errv(struct cf_yaml *y, yaml_mark_t m, const char *key, const char *fmt,
    va_list ap)
{
	struct cf_err	*e;
	char		 msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	y->y_errs = xreallocarray(y->y_errs, y->y_nerrs + 1,
	    sizeof(*y->y_errs));
	e = &y->y_errs[y->y_nerrs];
	e->e_line = m.line + 1;
	e->e_col = m.column + 1;
	e->e_seq = y->y_nerrs++;
	xasprintf(&e->e_text, "%s:%zu:%zu: %s: %s\n", y->y_file, e->e_line,
	    e->e_col, key[0] != '\0' ? key : "(root)", msg);
}

/* Records an error at a node, under the current key path. */
void
config_yaml_err(struct cf_yaml *y, yaml_node_t *n, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	do_errv(y, n->start_mark, y->y_key, fmt, ap);
	va_end(ap);
}

/* Records an error that has no node: file and YAML syntax problems. */
static void __attribute__((format(printf, 4, 5)))
do_err_at(struct cf_yaml *y, yaml_mark_t m, const char *key, const char *fmt,
    ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	do_errv(y, m, key, fmt, ap);
	va_end(ap);
}

/* Appends ".name" or "[i]" to the key path; returns the length to restore. */
size_t
config_yaml_push(struct cf_yaml *y, const char *name, size_t idx)
{
	size_t	 len = strlen(y->y_key), i;

	if (name == NULL)
		snprintf(y->y_key + len, sizeof(y->y_key) - len, "[%zu]", idx);
	else
		snprintf(y->y_key + len, sizeof(y->y_key) - len, "%s%s",
		    len > 0 ? "." : "", name);
	/* A key is user text: keep every error on one line. */
	for (i = len; y->y_key[i] != '\0'; i++)
		if ((unsigned char)y->y_key[i] < ' ')
			y->y_key[i] = '?';
	return (len);
}

/* Restores the key path to a length config_yaml_push() returned. */
void
config_yaml_pop(struct cf_yaml *y, size_t mark)
{
	y->y_key[mark] = '\0';
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
do_render(struct cf_yaml *y, char *errbuf, size_t errlen)
{
	size_t	 i, used = 0, len, total = 0;

	if (errlen == 0)
		return;
	errbuf[0] = '\0';
	qsort(y->y_errs, y->y_nerrs, sizeof(*y->y_errs), do_err_cmp);
	for (i = 0; i < y->y_nerrs; i++)
		total += strlen(y->y_errs[i].e_text);
	for (i = 0; i < y->y_nerrs; i++) {
		len = strlen(y->y_errs[i].e_text);
		if (total >= errlen &&
		    used + len + strlen(CONFIG_MORE) >= errlen)
			break;
		memcpy(errbuf + used, y->y_errs[i].e_text, len + 1);
		used += len;
	}
	if (i < y->y_nerrs)
		strlcat(errbuf, CONFIG_MORE, errlen);
}

/* Writes the errors into errbuf, or "" if none: -1 if any, else 0. */
int
config_yaml_render(struct cf_yaml *y, char *errbuf, size_t errlen)
{
	if (errlen > 0)
		errbuf[0] = '\0';
	if (y->y_nerrs == 0)
		return (0);
	do_render(y, errbuf, errlen);
	return (-1);
}

/* ------------------------------------------------------------------ */
/* Nodes.                                                              */

/* The node with a libyaml index, from a pair or a sequence item. */
yaml_node_t *
config_yaml_node(struct cf_yaml *y, int idx)
{
	return (yaml_document_get_node(&y->y_doc, idx));
}

/* The root node; NULL if the file did not load, after an error. */
yaml_node_t *
config_yaml_root(struct cf_yaml *y)
{
	return (y->y_loaded ? yaml_document_get_root_node(&y->y_doc) : NULL);
}

/* Whether a node is a string: a scalar free of NUL bytes; -1 if not. */
int
config_yaml_string(struct cf_yaml *y, yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE)
		config_yaml_err(y, n, "expected a string");
	else if (strlen(STR(n)) != n->data.scalar.length)
		config_yaml_err(y, n, "string contains a NUL byte");
	else
		return (0);
	return (-1);
}

/* ------------------------------------------------------------------ */
/* Strings with ${VAR}.                                                */

/* The value of the ${NAME} at s; *end is set past the '}'. */
static const char *
do_env(struct cf_yaml *y, yaml_node_t *n, const char *s, const char **end)
{
	const char	*close, *val;
	char		*name;
	size_t		 len;

	close = s[1] == '{' ? strchr(s, '}') : NULL;
	len = close != NULL ? (size_t)(close - s - 2) : 0;
	if (len == 0 || (s[2] >= '0' && s[2] <= '9') ||
	    strspn(s + 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_") != len) {
		config_yaml_err(y, n,
		    "bad '$' (use ${NAME}, or $$ for a literal '$')");
		return (NULL);
	}
	name = xstrndup(s + 2, len);
	if ((val = getenv(name)) == NULL)
		config_yaml_err(y, n, "environment variable %s is not set",
		    name);
	free(name);
	*end = close + 1;
	return (val);
}

/*
 * A scalar with ${VAR} expanded from the environment and $$ made '$'; the
 * caller frees it; NULL after an error.  Secrets stay out of the file this
 * way; a variable that is not set is an error rather than an empty
 * credential sent upstream.
 */
char *
config_yaml_expand(struct cf_yaml *y, yaml_node_t *n)
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
		} else if ((val = do_env(y, n, s, &s)) != NULL)
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

/* ------------------------------------------------------------------ */
/* Lists of names.                                                     */

struct cf_names {
	char		**n_list;
	size_t		 n_count;
	int		(*n_check)(const char *, const char **);
	int		 n_fold;	/* header names: case does not count */
};

static void
do_name_item(struct cf_yaml *y, yaml_node_t *n, struct cf_names *nl)
{
	const char	*why;
	size_t		 i;

	for (i = 0; i < nl->n_count; i++)
		if ((nl->n_fold ? strcasecmp(nl->n_list[i], STR(n)) :
		    strcmp(nl->n_list[i], STR(n))) == 0) {
			config_yaml_err(y, n, "duplicate name");
			return;
		}
	if (nl->n_check(STR(n), &why) == -1)
		config_yaml_err(y, n, "%s", why);
	else
		nl->n_list[nl->n_count++] = xstrdup(STR(n));
}

/*
 * A list node as distinct names, each checked by check(); with fold, names
 * that differ only in case are the same.  The caller frees the list; *np
 * is how many names it holds.
 */
char **
config_yaml_names(struct cf_yaml *y, yaml_node_t *n,
    int (*check)(const char *, const char **), int fold, size_t *np)
{
	struct cf_names	 nl = { NULL, 0, check, fold };
	yaml_node_t	*item;
	size_t		 i, mark;

	nl.n_list = xcalloc(NITEMS(n), sizeof(char *));
	for (i = 0; i < NITEMS(n); i++) {
		item = config_yaml_node(y, n->data.sequence.items.start[i]);
		mark = config_yaml_push(y, NULL, i);
		if (config_yaml_string(y, item) == 0)
			do_name_item(y, item, &nl);
		config_yaml_pop(y, mark);
	}
	*np = nl.n_count;
	return (nl.n_list);
}

/* ------------------------------------------------------------------ */
/* YAML to JSON, for "default:".                                       */

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
do_json_scalar(struct cf_yaml *y, yaml_node_t *n)
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
	config_yaml_err(y, n, "number out of range");
	return (NULL);
}

/* Any YAML value as a JSON value; NULL after an error. */
static json_t *
do_json(struct cf_yaml *y, yaml_node_t *n)
{
	yaml_node_pair_t	*pair;
	yaml_node_t		*k;
	json_t			*j, *v;
	size_t			 i, mark;

	if (n->type == YAML_SCALAR_NODE)
		return (do_json_scalar(y, n));
	if (n->type == YAML_SEQUENCE_NODE) {
		j = json_array();
		for (i = 0; i < NITEMS(n); i++) {
			mark = config_yaml_push(y, NULL, i);
			v = do_json(y, config_yaml_node(y,
			    n->data.sequence.items.start[i]));
			if (v != NULL)
				json_array_append_new(j, v);
			config_yaml_pop(y, mark);
		}
		return (j);
	}
	j = json_object();
	for (pair = n->data.mapping.pairs.start;
	    pair < n->data.mapping.pairs.top; pair++) {
		k = config_yaml_node(y, pair->key);
		if (config_yaml_string(y, k) == -1)
			continue;
		mark = config_yaml_push(y, STR(k), 0);
		if (json_object_get(j, STR(k)) != NULL)
			config_yaml_err(y, k, "duplicate key");
		else if ((v = do_json(y, config_yaml_node(y,
		    pair->value))) != NULL)
			json_object_set_new(j, STR(k), v);
		config_yaml_pop(y, mark);
	}
	return (j);
}

/* Any node as compact JSON text (the caller frees it); NULL after an error. */
char *
config_yaml_json(struct cf_yaml *y, yaml_node_t *n)
{
	json_t	*j;
	char	*s, *text;

	if ((j = do_json(y, n)) == NULL)
		return (NULL);
	if ((s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		fatalx("%s: json_dumps", __func__);
	json_decref(j);
	text = xstrdup(s);
	free(s);
	return (text);
}

/* ------------------------------------------------------------------ */
/* Loading.                                                            */

/* A libyaml error; a reader error has only a byte offset, so count. */
static void
do_yaml_err(struct cf_yaml *y, yaml_parser_t *p, const unsigned char *buf)
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
		do_err_at(y, m, "(yaml)", "%s", p->problem);
	} else if (p->context != NULL)
		do_err_at(y, p->problem_mark, "(yaml)", "%s %s at line %zu",
		    p->problem, p->context, p->context_mark.line + 1);
	else
		do_err_at(y, p->problem_mark, "(yaml)", "%s",
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
do_scan(struct cf_yaml *y, const unsigned char *buf, size_t len)
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
			do_yaml_err(y, &p, buf);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		if ((why = do_scan_event(&ev, &depth, &nodes, &docs)) != NULL)
			do_err_at(y, ev.start_mark, "(yaml)", "%s", why);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return (done && why == NULL ? 0 : -1);
}

/* Reads the whole file; NULL after an error. */
static unsigned char *
do_read(struct cf_yaml *y, size_t *lenp)
{
	yaml_mark_t	 m = { 0, 0, 0 };
	unsigned char	*buf = NULL;
	FILE		*fp;

	if ((fp = fopen(y->y_file, "rb")) == NULL) {
		do_err_at(y, m, "(file)", "cannot open: %s", strerror(errno));
		return (NULL);
	}
	buf = xmalloc(CONFIG_MAX_FILE + 1);
	*lenp = fread(buf, 1, CONFIG_MAX_FILE + 1, fp);
	if (ferror(fp))
		do_err_at(y, m, "(file)", "cannot read: %s", strerror(errno));
	else if (*lenp > CONFIG_MAX_FILE)
		do_err_at(y, m, "(file)", "file is larger than %d bytes",
		    CONFIG_MAX_FILE);
	fclose(fp);
	if (y->y_nerrs == 0)
		return (buf);
	free(buf);
	return (NULL);
}

/* The second pass: the document, unless it is empty. */
static void
do_load(struct cf_yaml *y, const unsigned char *buf, size_t len)
{
	yaml_parser_t	 p;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, buf, len);
	if (!yaml_parser_load(&p, &y->y_doc))
		do_yaml_err(y, &p, buf);
	else if (yaml_document_get_root_node(&y->y_doc) == NULL) {
		do_err_at(y, y->y_doc.start_mark, "(root)",
		    "the file holds no configuration");
		yaml_document_delete(&y->y_doc);
	} else
		y->y_loaded = 1;
	yaml_parser_delete(&p);
}

/*
 * Reads a config file for config_load(); always returns a cf_yaml, for
 * its errors.  file must outlive it.  config_yaml_free() releases it.
 */
struct cf_yaml *
config_yaml_load(const char *file)
{
	struct cf_yaml	*y;
	unsigned char	*buf;
	size_t		 len;

	y = xcalloc(1, sizeof(*y));
	y->y_file = file;
	if ((buf = do_read(y, &len)) != NULL && do_scan(y, buf, len) == 0)
		do_load(y, buf, len);
	free(buf);
	return (y);
}

/* Frees the document and the errors; called once config_load is done. */
void
config_yaml_free(struct cf_yaml *y)
{
	size_t	 i;

	if (y == NULL)
		return;
	if (y->y_loaded)
		yaml_document_delete(&y->y_doc);
	for (i = 0; i < y->y_nerrs; i++)
		free(y->y_errs[i].e_text);
	free(y->y_errs);
	free(y);
}
