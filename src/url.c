/*
 * Upstream URL templates: parse once at config time, expand per request.
 *
 * Everything a client controls (path parameters and forwarded query
 * values) is percent-encoded on the way in, so it can only ever be data in
 * one path segment or one query value: it cannot add a segment, climb with
 * "..", start a new query parameter or a fragment.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gatherd.h"

struct buf {
	char	*b_data;
	size_t	 b_len;
	size_t	 b_cap;
};

static const char hexdigits[] = "0123456789ABCDEF";

static void
do_add(struct buf *b, const char *s, size_t len)
{
	if (b->b_len + len + 1 > b->b_cap) {
		b->b_cap = (b->b_len + len + 1) * 2;
		b->b_data = xreallocarray(b->b_data, b->b_cap, 1);
	}
	memcpy(b->b_data + b->b_len, s, len);
	b->b_len += len;
	b->b_data[b->b_len] = '\0';
}

static int
do_unreserved(unsigned char c)
{
	return ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~');
}

static int
do_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Percent-encodes all but unreserved bytes; "." and ".." if dotseg too. */
char *
url_encode(const char *s, int dotseg)
{
	char		*out, *o;
	size_t		 len = strlen(s);
	int		 dots;

	dots = dotseg && (strcmp(s, ".") == 0 || strcmp(s, "..") == 0);
	o = out = xmalloc(len * 3 + 1);
	for (; *s != '\0'; s++) {
		unsigned char	 c = (unsigned char)*s;

		if (do_unreserved(c) && !(dots && c == '.'))
			*o++ = (char)c;
		else {
			*o++ = '%';
			*o++ = hexdigits[c >> 4];
			*o++ = hexdigits[c & 0x0f];
		}
	}
	*o = '\0';
	return (out);
}

/* Percent-decodes s[0..len) into a new string; -1 on bad %XX or a NUL. */
int
url_decode(const char *s, size_t len, char **out)
{
	char	*o;
	size_t	 i;
	int	 hi, lo;

	*out = o = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '\0')
			goto fail;
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (len - i < 3)
			goto fail;
		if ((hi = do_hex((unsigned char)s[i + 1])) == -1 ||
		    (lo = do_hex((unsigned char)s[i + 2])) == -1 ||
		    (hi == 0 && lo == 0))
			goto fail;
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	return (0);
fail:
	free(*out);
	*out = NULL;
	return (-1);
}

/* Index of a name in the endpoint's parameters, or -1. */
static int
do_param_index(const char *s, size_t len, char **names, size_t nnames)
{
	size_t	 i;

	for (i = 0; i < nnames; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return ((int)i);
	return (-1);
}

/* Where the path (or query) of a URL starts: after scheme and authority. */
static const char *
do_path_start(const char *text)
{
	const char	*p;

	if ((p = strstr(text, "://")) == NULL)
		return (text);
	p += 3;
	return (p + strcspn(p, "/?"));
}

/* Checks the scheme, host and port of a template. */
static const char *
do_authority(const char *text, const char *end)
{
	const char	*host, *p, *colon = NULL;
	uint64_t	 port;
	const char	*why;
	char		 buf[8];

	if (strncasecmp(text, "http://", 7) == 0)
		host = text + 7;
	else if (strncasecmp(text, "https://", 8) == 0)
		host = text + 8;
	else
		return ("url must start with http:// or https://");
	for (p = host; p < end; p++) {
		if (*p == '{' || *p == '}')
			return ("a {param} may not appear in the host");
		if (*p == '@')
			host = p + 1;	/* userinfo: leave it to curl */
	}
	if (host < end && *host == '[') {
		if ((p = memchr(host, ']', (size_t)(end - host))) == NULL ||
		    p == host + 1)
			return ("bad IPv6 address in url");
		if (p + 1 < end)
			colon = p + 1;
		if (colon != NULL && *colon != ':')
			return ("bad IPv6 address in url");
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
		if ((colon != NULL ? colon : end) == host)
			return ("url has no host");
	}
	if (colon == NULL)
		return (NULL);
	if ((size_t)(end - colon - 1) >= sizeof(buf))
		return ("bad port in url (use 1..65535)");
	memcpy(buf, colon + 1, (size_t)(end - colon - 1));
	buf[end - colon - 1] = '\0';
	if (parse_uint(buf, 65535, &port, &why) == -1 || port == 0)
		return ("bad port in url (use 1..65535)");
	return (NULL);
}

/* Appends one part to a template. */
static void
do_part(struct url_tmpl *t, const char *s, size_t len, int param)
{
	t->t_parts = xreallocarray(t->t_parts, t->t_nparts + 1,
	    sizeof(*t->t_parts));
	t->t_parts[t->t_nparts].tp_text = xstrndup(s, len);
	t->t_parts[t->t_nparts].tp_param = param;
	t->t_nparts++;
}

/* Splits a template into literals and {params}, found from path on. */
static const char *
do_parts(const char *text, const char *path, char **names, size_t nnames,
    struct url_tmpl *t)
{
	const char	*p, *lit = text, *close;
	int		 idx;

	for (p = path; *p != '\0'; p++) {
		if (*p == '}')
			return ("unbalanced '}' in url");
		if (*p != '{')
			continue;
		close = p + 1 + strcspn(p + 1, "{}");
		if (*close != '}')
			return ("unbalanced '{' in url");
		if (!parse_param_name(p + 1, (size_t)(close - p - 1)))
			return ("bad {param} name in url (use letters, digits "
			    "and '_')");
		idx = do_param_index(p + 1, (size_t)(close - p - 1), names,
		    nnames);
		if (idx == -1)
			return ("a {param} in the url is not a parameter of "
			    "the endpoint path");
		if (p > lit)
			do_part(t, lit, (size_t)(p - lit), -1);
		do_part(t, p + 1, (size_t)(close - p - 1), idx);
		lit = close + 1;
		p = close;
	}
	if (p > lit)
		do_part(t, lit, (size_t)(p - lit), -1);
	return (NULL);
}

/* Parses a URL template against the endpoint's path parameter names. */
int
url_tmpl_parse(const char *text, char **names, size_t nnames,
    struct url_tmpl *t, const char **errstr)
{
	const char	*p, *path, *why = NULL;

	memset(t, 0, sizeof(*t));
	for (p = text; *p != '\0' && why == NULL; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			why = "url may not contain spaces or control "
			    "characters";
		else if (*p == '#')
			why = "url may not contain a fragment ('#')";
	}
	path = do_path_start(text);
	if (why == NULL)
		why = do_authority(text, path);
	if (why == NULL)
		why = do_parts(text, path, names, nnames, t);
	if (why != NULL) {
		url_tmpl_free(t);
		*errstr = why;
		return (-1);
	}
	t->t_query = strchr(text, '?') != NULL;
	return (0);
}

/*
 * The first well-formed {name} in the path or query of a template that is
 * not one of names, with *len its length including the braces; or NULL.
 * config.c uses it to name the parameter in its error message.
 */
const char *
url_tmpl_unknown_param(const char *text, char **names, size_t nnames,
    size_t *len)
{
	const char	*p, *close;

	for (p = do_path_start(text); (p = strchr(p, '{')) != NULL; p++) {
		close = p + 1 + strcspn(p + 1, "{}");
		if (*close != '}' ||
		    !parse_param_name(p + 1, (size_t)(close - p - 1)))
			continue;
		if (do_param_index(p + 1, (size_t)(close - p - 1), names,
		    nnames) == -1) {
			*len = (size_t)(close - p + 1);
			return (p);
		}
	}
	return (NULL);
}

/* Frees the parts of a template; the struct itself is the caller's. */
void
url_tmpl_free(struct url_tmpl *t)
{
	size_t	 i;

	for (i = 0; i < t->t_nparts; i++)
		free(t->t_parts[i].tp_text);
	free(t->t_parts);
	memset(t, 0, sizeof(*t));
}

/*
 * Re-encodes one raw query value.  Decoding and encoding again would turn
 * a literal '+' into "%2B" and change what form decoders read, so '+' is
 * kept as it came and every other byte that is not unreserved, whether it
 * arrived raw or as %XX, leaves as %XX.  -1 on bad %XX or a NUL.
 */
static int
do_query_value(const char *s, size_t len, struct buf *b)
{
	char		 enc[3];
	size_t		 i;
	int		 c, hi, lo;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			if (len - i < 3 ||
			    (hi = do_hex((unsigned char)s[i + 1])) == -1 ||
			    (lo = do_hex((unsigned char)s[i + 2])) == -1 ||
			    (c = hi << 4 | lo) == 0)
				return (-1);
			i += 2;
		} else if (c == '+') {
			do_add(b, "+", 1);
			continue;
		}
		enc[0] = (char)c;
		if (do_unreserved((unsigned char)c))
			do_add(b, enc, 1);
		else {
			enc[0] = '%';
			enc[1] = hexdigits[c >> 4];
			enc[2] = hexdigits[c & 0x0f];
			do_add(b, enc, 3);
		}
	}
	return (0);
}

/* Appends every name=value of the client query whose name is fwd. */
static void
do_forward(struct buf *b, const char *query, const char *fwd)
{
	const char	*p, *end, *eq;
	char		*name, *encname;
	size_t		 mark, namelen;
	int		 same;
	char		 last;

	encname = url_encode(fwd, 0);
	for (p = query; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		end = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(end - p));
		namelen = (size_t)((eq != NULL ? eq : end) - p);
		if (namelen == 0 || url_decode(p, namelen, &name) == -1)
			continue;
		same = strcmp(name, fwd) == 0;
		free(name);
		if (!same)
			continue;
		mark = b->b_len;
		last = b->b_len > 0 ? b->b_data[b->b_len - 1] : '\0';
		if (strchr(b->b_data, '?') == NULL)
			do_add(b, "?", 1);
		else if (last != '?' && last != '&')
			do_add(b, "&", 1);
		do_add(b, encname, strlen(encname));
		do_add(b, "=", 1);
		if (eq != NULL &&
		    do_query_value(eq + 1, (size_t)(end - eq - 1), b) == -1) {
			/* A value we cannot read is not forwarded at all. */
			b->b_len = mark;
			b->b_data[mark] = '\0';
		}
	}
	free(encname);
}

/* Builds the URL of one upstream call; the caller frees it. */
char *
url_expand(const struct url_tmpl *t, char *const *params, size_t nparams,
    const char *query, char *const *fwd, size_t nfwd)
{
	struct buf	 b = { NULL, 0, 0 };
	char		*enc;
	size_t		 i;
	int		 idx;

	do_add(&b, "", 0);
	for (i = 0; i < t->t_nparts; i++) {
		idx = t->t_parts[i].tp_param;
		if (idx < 0)
			do_add(&b, t->t_parts[i].tp_text,
			    strlen(t->t_parts[i].tp_text));
		else if ((size_t)idx < nparams && params[idx] != NULL) {
			enc = url_encode(params[idx], 1);
			do_add(&b, enc, strlen(enc));
			free(enc);
		}
	}
	for (i = 0; query != NULL && i < nfwd; i++)
		do_forward(&b, query, fwd[i]);
	return (b.b_data);
}
