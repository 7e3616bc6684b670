/*
 * Routing: endpoint path templates and the match of a request path.
 *
 * A template is a list of segments, each either a literal or exactly one
 * {param}; there are no regexes, prefixes or wildcards, so a reader can
 * tell from the config alone which endpoint a path reaches.  Literals are
 * stored percent-decoded and request segments are decoded before they are
 * compared, so "/caf%C3%A9" and "/café" are the same route.
 */
#include <stdlib.h>
#include <string.h>

#include "gatherd.h"

#define ROUTER_STR(x)	ROUTER_STR2(x)
#define ROUTER_STR2(x)	#x

/* Checks one literal segment of a template and stores it decoded. */
static const char *
do_literal(const char *s, size_t len, struct path_seg *seg)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (s[i] == '{' || s[i] == '}')
			return ("a {param} must be a whole segment, as in "
			    "/users/{id}");
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return ("path may not contain spaces or control "
			    "characters");
		if (s[i] == '?' || s[i] == '#')
			return ("path may not contain '?' or '#'");
	}
	if (url_decode(s, len, &seg->ps_text) == -1)
		return ("bad percent-encoding in path");
	seg->ps_param = -1;
	return (NULL);
}

/* Checks one {param} segment and adds its name to the parameter list. */
static const char *
do_param(const char *s, size_t len, struct path_seg *seg, char **params,
    size_t *nparams)
{
	size_t	 i;

	if (!parse_param_name(s + 1, len - 2))
		return ("bad parameter name (use letters, digits and '_', "
		    "as in {user_id})");
	for (i = 0; i < *nparams; i++)
		if (strlen(params[i]) == len - 2 &&
		    memcmp(params[i], s + 1, len - 2) == 0)
			return ("duplicate parameter name in path");
	if (*nparams == ROUTER_MAX_PARAMS)
		return ("too many parameters in path (max "
		    ROUTER_STR(ROUTER_MAX_PARAMS) ")");
	seg->ps_text = xstrndup(s + 1, len - 2);
	seg->ps_param = (int)*nparams;
	params[(*nparams)++] = xstrdup(seg->ps_text);
	return (NULL);
}

/* Splits a path template into segments and parameter names. */
int
router_parse(const char *path, struct path_seg **segsp, size_t *nsegsp,
    char ***paramsp, size_t *nparamsp, const char **errstr)
{
	struct path_seg	*segs = NULL;
	char		**params = NULL;
	const char	*p, *q, *why = NULL;
	size_t		 n = 0, nsegs = 0, nparams = 0, len;

	*segsp = NULL;
	*paramsp = NULL;
	*nsegsp = *nparamsp = 0;
	if (path[0] != '/') {
		*errstr = "path must start with '/'";
		return (-1);
	}
	if (strcmp(path, "/") == 0)
		return (0);
	for (p = path; (p = strchr(p, '/')) != NULL; p++)
		n++;
	if (n > ROUTER_MAX_SEGMENTS) {
		*errstr = "too many segments in path (max "
		    ROUTER_STR(ROUTER_MAX_SEGMENTS) ")";
		return (-1);
	}
	segs = xcalloc(n, sizeof(*segs));
	params = xcalloc(n, sizeof(*params));
	for (p = path + 1; why == NULL && nsegs < n; p = q + 1) {
		q = strchr(p, '/');
		len = q != NULL ? (size_t)(q - p) : strlen(p);
		/* A trailing slash is an empty last segment: it matters. */
		if (len == 0 && q != NULL)
			why = "empty segment ('//') in path";
		else if (len >= 2 && p[0] == '{' && p[len - 1] == '}')
			why = do_param(p, len, &segs[nsegs], params, &nparams);
		else
			why = do_literal(p, len, &segs[nsegs]);
		nsegs++;
		if (q == NULL)
			break;
	}
	if (why != NULL) {
		router_free_segs(segs, nsegs, params, nparams);
		*errstr = why;
		return (-1);
	}
	*segsp = segs;
	*nsegsp = nsegs;
	*paramsp = params;
	*nparamsp = nparams;
	return (0);
}

/* Frees what router_parse() returned. */
void
router_free_segs(struct path_seg *segs, size_t nsegs, char **params,
    size_t nparams)
{
	size_t	 i;

	for (i = 0; i < nsegs; i++)
		free(segs[i].ps_text);
	free(segs);
	for (i = 0; i < nparams; i++)
		free(params[i]);
	free(params);
}

/*
 * Splits a raw request path and decodes each segment.  Returns 0, 400 for
 * a path that is not origin-form or has bad percent-encoding, or 404 when
 * it has more segments than any endpoint can.
 */
static int
do_split(const char *raw, char **segs, size_t *nsegs)
{
	const char	*p, *q;
	size_t		 n = 0, len;
	int		 rc = 400;

	*nsegs = 0;
	if (raw[0] != '/')
		return (400);
	if (raw[1] == '\0')
		return (0);
	for (p = raw + 1;; p = q + 1) {
		if (n == ROUTER_MAX_SEGMENTS) {
			rc = 404;
			goto fail;
		}
		q = strchr(p, '/');
		len = q != NULL ? (size_t)(q - p) : strlen(p);
		if (url_decode(p, len, &segs[n]) == -1)
			goto fail;
		n++;
		if (q == NULL)
			break;
	}
	*nsegs = n;
	return (0);
fail:
	while (n > 0)
		free(segs[--n]);
	return (rc);
}

/* Whether an endpoint's template matches the decoded segments. */
static int
do_matches(const struct endpoint *ep, char **segs, size_t nsegs)
{
	size_t	 i;

	if (ep->ep_nsegs != nsegs)
		return (0);
	for (i = 0; i < nsegs; i++) {
		if (ep->ep_segs[i].ps_param >= 0) {
			if (segs[i][0] == '\0')
				return (0);
		} else if (strcmp(ep->ep_segs[i].ps_text, segs[i]) != 0)
			return (0);
	}
	return (1);
}

/* Whether a beats b: a literal where they first differ in kind. */
static int
do_better(const struct endpoint *a, const struct endpoint *b)
{
	size_t	 i;

	for (i = 0; i < a->ep_nsegs; i++) {
		if ((a->ep_segs[i].ps_param < 0) !=
		    (b->ep_segs[i].ps_param < 0))
			return (a->ep_segs[i].ps_param < 0);
	}
	return (0);
}

/* Appends a method to the Allow list unless it is there already. */
static void
do_allow_add(char *allow, size_t len, const char *method)
{
	const char	*p = allow;
	size_t		 mlen = strlen(method), cur = strlen(allow);

	while ((p = strstr(p, method)) != NULL) {
		if ((p == allow || p[-1] == ' ') &&
		    (p[mlen] == ',' || p[mlen] == '\0'))
			return;
		p += mlen;
	}
	if (cur + (cur > 0 ? 2 : 0) + mlen + 1 > len)
		return;
	if (cur > 0)
		strlcat(allow, ", ", len);
	strlcat(allow, method, len);
}

/*
 * Finds the endpoint for a request: 200 with m filled (the caller frees it
 * with route_match_free()), 400, 404, or 405 with allow filled.
 */
int
router_match(const struct gatherd_conf *conf, const char *method,
    const char *rawpath, struct route_match *m, char *allow, size_t allowlen)
{
	const struct endpoint	*ep, *best = NULL;
	char			*segs[ROUTER_MAX_SEGMENTS];
	size_t			 i, nsegs;
	int			 rc, pathmatch = 0;

	memset(m, 0, sizeof(*m));
	if (allowlen > 0)
		allow[0] = '\0';
	if ((rc = do_split(rawpath, segs, &nsegs)) != 0)
		return (rc);
	for (i = 0; i < conf->cf_nendpoints; i++) {
		ep = &conf->cf_endpoints[i];
		if (!do_matches(ep, segs, nsegs))
			continue;
		pathmatch = 1;
		if (allowlen > 0)
			do_allow_add(allow, allowlen, ep->ep_method);
		if (strcmp(ep->ep_method, method) != 0)
			continue;
		if (best == NULL || do_better(ep, best))
			best = ep;
	}
	rc = best != NULL ? 200 : pathmatch ? 405 : 404;
	if (best != NULL) {
		m->rm_ep = best;
		m->rm_nparams = best->ep_nparams;
		for (i = 0; i < nsegs; i++)
			if (best->ep_segs[i].ps_param >= 0) {
				m->rm_params[best->ep_segs[i].ps_param] =
				    segs[i];
				segs[i] = NULL;
			}
	}
	for (i = 0; i < nsegs; i++)
		free(segs[i]);
	return (rc);
}

/*
 * Whether two endpoints take exactly the same requests: the same method,
 * the same literals, and parameters in the same places.  config.c refuses
 * such a pair, since one of them could never be reached.
 */
int
router_same_route(const struct endpoint *a, const struct endpoint *b)
{
	size_t	 i;

	if (strcmp(a->ep_method, b->ep_method) != 0 ||
	    a->ep_nsegs != b->ep_nsegs)
		return (0);
	for (i = 0; i < a->ep_nsegs; i++) {
		if ((a->ep_segs[i].ps_param < 0) !=
		    (b->ep_segs[i].ps_param < 0))
			return (0);
		if (a->ep_segs[i].ps_param < 0 &&
		    strcmp(a->ep_segs[i].ps_text, b->ep_segs[i].ps_text) != 0)
			return (0);
	}
	return (1);
}

/* Frees the decoded parameters of a match; the endpoint is not owned. */
void
route_match_free(struct route_match *m)
{
	size_t	 i;

	for (i = 0; i < m->rm_nparams; i++) {
		free(m->rm_params[i]);
		m->rm_params[i] = NULL;
	}
	m->rm_nparams = 0;
	m->rm_ep = NULL;
}
