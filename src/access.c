/*
 * The access log: one JSON object per line and per request, written when
 * the request closes (gather.c) or when server.c answers a request that
 * matched no endpoint.  It is off unless the config names stderr or a
 * file; the descriptor belongs to the config snapshot, so a request writes
 * to the file of the snapshot it began with, and a reload opens the file
 * again (log rotation is a rename and a SIGHUP).
 *
 * Workers are threads sharing the descriptor: each line goes out whole in
 * one write(2), which O_APPEND makes atomic for a regular file.  A failed
 * or short write loses that line and nothing else: the worker counts it
 * and warns at most once per ACCESS_WARN_INTERVAL_MS, never fatally.
 *
 * The request path is the client's, so it goes through jansson's escaping;
 * a path that is not UTF-8 has its bytes above 0x7f percent-encoded, since
 * a JSON text may hold only UTF-8.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "gatherd.h"

#define ACCESS_LINE_STACK	4096
/* Milliseconds are rounded to 0.1, so 10 significant digits are plenty. */
#define ACCESS_DUMP_FLAGS	(JSON_COMPACT | JSON_REAL_PRECISION(10))

/* Milliseconds rounded to a tenth, as the log line and Server-Timing do. */
static json_t *
do_ms(double ms)
{
	if (!(ms >= 0))
		ms = 0;
	return (json_real(floor(ms * 10 + 0.5) / 10));
}

/* A JSON string of untrusted bytes: as they are, or percent-encoded. */
static json_t *
do_string(const char *s)
{
	json_t		*j;
	char		*enc, *p;
	size_t		 i;

	if ((j = json_string(s)) != NULL)
		return (j);
	p = enc = xmalloc(strlen(s) * 3 + 1);
	for (i = 0; s[i] != '\0'; i++) {
		if ((unsigned char)s[i] > 0x7f)
			p += snprintf(p, 4, "%%%02X", (unsigned char)s[i]);
		else
			*p++ = s[i];
	}
	*p = '\0';
	j = json_string(enc);
	free(enc);
	return (j != NULL ? j : json_null());
}

/* The wall clock as RFC 3339 UTC with milliseconds. */
static json_t *
do_timestamp(void)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 buf[64];
	size_t		 n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	return (json_string(buf));
}

/* The members every line has, in this order; upstreams is added later. */
static json_t *
do_entry(const char *rid, const char *method, const char *path,
    const char *endpoint, int status, double ms, int complete,
    const char *reason)
{
	json_t	*o;

	o = json_object();
	json_object_set_new(o, "ts", do_timestamp());
	json_object_set_new(o, "id", do_string(rid));
	json_object_set_new(o, "method", do_string(method));
	json_object_set_new(o, "path", do_string(path));
	json_object_set_new(o, "endpoint", endpoint != NULL ?
	    do_string(endpoint) : json_null());
	json_object_set_new(o, "status", status != 0 ?
	    json_integer(status) : json_null());
	json_object_set_new(o, "ms", do_ms(ms));
	json_object_set_new(o, "complete", json_boolean(complete));
	json_object_set_new(o, "reason", do_string(reason));
	return (o);
}

/* A line was lost: count it, and say so unless that was said lately. */
static void
do_lost(struct worker *w, const struct gatherd_conf *cf, ssize_t n)
{
	uint64_t	 now = now_us();

	w->w_access_failed++;
	if (w->w_access_warn_us != 0 && now - w->w_access_warn_us <
	    ACCESS_WARN_INTERVAL_MS * 1000ULL)
		return;
	w->w_access_warn_us = now;
	if (n == -1)
		log_warn("access log %s: worker %d: %llu lines lost",
		    cf->cf_access_log, w->w_id,
		    (unsigned long long)w->w_access_failed);
	else
		log_warnx("access log %s: worker %d: short write, %llu lines "
		    "lost", cf->cf_access_log, w->w_id,
		    (unsigned long long)w->w_access_failed);
}

/* Write one line (the object, then a newline) with one write(2). */
static void
do_write(struct worker *w, const struct gatherd_conf *cf, json_t *o)
{
	char	 stack[ACCESS_LINE_STACK], *buf = stack;
	size_t	 len;
	ssize_t	 n = -1;

	len = json_dumpb(o, stack, sizeof(stack) - 1, ACCESS_DUMP_FLAGS);
	if (len == 0) {
		errno = ENOMEM;
		goto fail;
	}
	if (len > sizeof(stack) - 1) {
		buf = xmalloc(len + 1);
		if (json_dumpb(o, buf, len, ACCESS_DUMP_FLAGS) != len) {
			errno = ENOMEM;
			goto fail;
		}
	}
	buf[len++] = '\n';
	if ((n = write(cf->cf_access_fd, buf, len)) == (ssize_t)len)
		goto done;
fail:
	do_lost(w, cf, n);
done:
	if (buf != stack)
		free(buf);
}

/* Log a closed gather: its request, its reply and each upstream call. */
void
access_log_gather(struct gather *g, const char *reason)
{
	const struct ucall	*uc;
	json_t			*o, *ups;
	size_t			 i;

	if (g->g_conf->cf_access_fd == -1)
		return;
	o = do_entry(g->g_trace.tr_rid, g->g_creq.cr_method,
	    g->g_creq.cr_path, g->g_ep->ep_path, g->g_status,
	    (double)(now_us() - g->g_start_us) / 1000.0,
	    g->g_status != 0 && g->g_nok == g->g_ncalls, reason);
	ups = json_array();
	for (i = 0; i < g->g_ncalls; i++) {
		uc = &g->g_calls[i];
		json_array_append_new(ups, json_pack("{s:s, s:s, s:o, s:o}",
		    "name", uc->uc_conf->up_name,
		    "kind", merge_kind_name(uc->uc_kind),
		    "status", uc->uc_status != 0 ?
		    json_integer(uc->uc_status) : json_null(),
		    "ms", do_ms(uc->uc_end_us > uc->uc_start_us ?
		    (double)(uc->uc_end_us - uc->uc_start_us) / 1000.0 : 0)));
	}
	json_object_set_new(o, "upstreams", ups);
	do_write(g->g_worker, g->g_conf, o);
	json_decref(o);
}

/* Log a request server.c answered itself (no endpoint, 404/405/400). */
void
access_log_error(struct worker *w, const char *rid, const char *method,
    const char *path, int status, double ms, const char *why)
{
	json_t	*o;

	if (w->w_conf->cf_access_fd == -1)
		return;
	o = do_entry(rid, method, path, NULL, status, ms, 0, why);
	json_object_set_new(o, "upstreams", json_array());
	do_write(w, w->w_conf, o);
	json_decref(o);
}
