/*
 * The admin listener's requests, as a pure function of the method, the
 * path and the metrics registry: GET /metrics (Prometheus text), /healthz
 * (the process answers) and /readyz (serving: 503 while starting and once
 * a graceful stop began).  server.c owns the socket and sends the reply;
 * nothing here does I/O, so the unit tests call it directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatherd.h"

#define ADMIN_JSON	"application/json"
#define ADMIN_PROM	"text/plain; version=0.0.4; charset=utf-8"
#define ADMIN_ALLOW	"GET, HEAD"

/* Fill a JSON reply whose body is a copy of body. */
static int
do_json(struct admin_reply *ar, int status, const char *body)
{
	ar->ar_status = status;
	ar->ar_ctype = ADMIN_JSON;
	ar->ar_body = xstrdup(body);
	ar->ar_len = strlen(ar->ar_body);
	return (status);
}

/* GET /readyz: 200 only while serving. */
static int
do_readyz(struct metrics *m, struct admin_reply *ar)
{
	switch (metrics_state(m)) {
	case METRICS_READY:
		return (do_json(ar, 200, "{\"status\":\"ready\"}"));
	case METRICS_STOPPING:
		return (do_json(ar, 503, "{\"status\":\"stopping\"}"));
	default:
		return (do_json(ar, 503, "{\"status\":\"starting\"}"));
	}
}

/*
 * Answer one admin request (path without the query).  Fills ar (the body
 * is malloc'd, also for HEAD: the caller sends only its length) and
 * returns the reply status: 200, 503 (/readyz), 404 or 405 (with Allow).
 */
int
admin_handle(struct metrics *m, const char *method, const char *path,
    struct admin_reply *ar)
{
	char	*why;

	memset(ar, 0, sizeof(*ar));
	if (strcmp(path, "/metrics") != 0 && strcmp(path, "/healthz") != 0 &&
	    strcmp(path, "/readyz") != 0) {
		ar->ar_status = 404;
		ar->ar_ctype = ADMIN_JSON;
		ar->ar_body = merge_error_body("no such admin path; try "
		    "/metrics, /healthz or /readyz");
		ar->ar_len = strlen(ar->ar_body);
		return (404);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		xasprintf(&why, "method %s not allowed", method);
		ar->ar_status = 405;
		ar->ar_ctype = ADMIN_JSON;
		ar->ar_allow = ADMIN_ALLOW;
		ar->ar_body = merge_error_body(why);
		ar->ar_len = strlen(ar->ar_body);
		free(why);
		return (405);
	}
	if (strcmp(path, "/healthz") == 0)
		return (do_json(ar, 200, "{\"status\":\"ok\"}"));
	if (strcmp(path, "/readyz") == 0)
		return (do_readyz(m, ar));
	ar->ar_status = 200;
	ar->ar_ctype = ADMIN_PROM;
	ar->ar_body = metrics_render(m, &ar->ar_len);
	return (200);
}

/* Free what admin_handle() put in a reply. */
void
admin_reply_free(struct admin_reply *ar)
{
	free(ar->ar_body);
	ar->ar_body = NULL;
	ar->ar_len = 0;
}
