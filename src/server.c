/*
 * server - one sink instance, owned by the loop thread: store, waiters,
 * rules, stats, SMTP listeners, the control API. main.c and sink.c both run
 * it, so the daemon and the embedded library behave the same.
 *
 * Shutdown (ARCHITECTURE.md §3.4), in two phases:
 *   1. SMTP drains: health says NOT_SERVING; idle sessions and new
 *      clients get 421 4.3.2 at once, sessions with a transaction in flight
 *      may finish it within cfg->shutdown_grace_ms (then 421, nothing partial
 *      stored). The control API keeps answering meanwhile, so every message
 *      that got its 250 can still be read, and parked waits can still be
 *      satisfied by the messages in flight.
 *   2. Once no session is left: parked waits end (UNAVAILABLE) and the
 *      control API drains. The loop breaks when it reported done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "control.h"
#include "control_rpc.h"
#include "deliver.h"
#include "http.h"
#include "inbox.h"
#include "json.h"
#include "listener.h"
#include "log.h"
#include "mime.h"
#include "relay.h"
#include "rules.h"
#include "server.h"
#include "smtp_session.h"
#include "stats.h"
#include "store.h"
#include "tls.h"
#include "waiters.h"
#include "xmalloc.h"

struct server {
	const struct config *cfg;
	struct event_base   *base;
	struct store	    *store;
	struct waiters	    *waiters;
	struct rules	    *rules;
	struct listener	    *listener;
	struct listener	    *smtps_listener; /* implicit TLS; NULL: none */
	struct tls	    *tls;	     /* NULL without TLS */
	struct control	    *control;	     /* NULL when gRPC and HTTP are off */
	int		     grpc_on;	     /* control serves gRPC (else local calls only) */
	struct http	    *http;	     /* NULL when HTTP is off */
	struct inbox	    *inbox;
	struct relay	    *relay; /* forwarding (NULL until started) */
	struct stats	     stats;
	struct deliver	     deliver; /* end of data */
	struct smtp_sessions sessions;
	int		     shutting_down;
	int		     control_stopping; /* SMTP drained: control API stopping */
	int		     control_stopped;  /* control API drained */
	int		     relay_abandoned;  /* grace over: what was queued is dropped */
	struct event	    *shutdown_ev;      /* grace timer */
	char		     smtp_ext_line[SMTP_EXT_LINE_MAX]; /* for GetServerInfo */
};

static void server_grace_cb(evutil_socket_t, short, void *);
static void server_control_done(void *);
static void server_check_done(struct server *);
static void server_session_closed(void *);
static void server_relay_idle(void *);

struct server *
server_new(const struct config *cfg, struct event_base *base)
{
	struct server *s = xcalloc(1, sizeof(*s));
	static int     mime_ready;

	if (!mime_ready) {
		mime_init(cfg->mime_max_depth, cfg->mime_max_parts);
		mime_ready = 1;
	}
	s->cfg = cfg;
	s->base = base;
	s->store = store_new(cfg->store_max_messages, cfg->store_max_bytes);
	s->waiters = waiters_new(base, s->store, cfg->waiters_max);
	s->rules = rules_new();
	s->inbox = inbox_new(base);
	s->deliver.cfg = cfg;
	s->deliver.rules = s->rules;
	s->deliver.store = s->store;
	s->deliver.waiters = s->waiters;
	s->deliver.stats = &s->stats;
	s->sessions.cfg = cfg;
	s->sessions.base = base;
	s->sessions.rules = s->rules;
	s->sessions.deliver = &s->deliver;
	s->sessions.stats = &s->stats;
	s->sessions.closed = server_session_closed;
	s->sessions.closed_arg = s;
	smtp_sessions_init(&s->sessions);
	smtp_session_ext_line(cfg, s->smtp_ext_line, sizeof(s->smtp_ext_line));
	return s;
}

void
server_set_handler(struct server *s, deliver_handler_fn *fn, void *arg)
{
	s->deliver.handler = fn;
	s->deliver.handler_arg = arg;
}

struct store *
server_store(struct server *s)
{
	return s->store;
}

struct waiters *
server_waiters(struct server *s)
{
	return s->waiters;
}

struct rules *
server_rules(struct server *s)
{
	return s->rules;
}

struct inbox *
server_inbox(struct server *s)
{
	return s->inbox;
}

struct stats *
server_stats(struct server *s)
{
	return &s->stats;
}

struct relay *
server_relay(struct server *s)
{
	return s->relay;
}

struct smtp_sessions *
server_sessions(struct server *s)
{
	return &s->sessions;
}

int
server_is_stopping(const struct server *s)
{
	return s->shutting_down;
}

size_t
server_smtp_count(const struct server *s)
{
	return listener_count(s->listener);
}

const char *
server_smtp_addr(const struct server *s, size_t i)
{
	return listener_addr(s->listener, i);
}

const char *
server_grpc_addr(const struct server *s)
{
	return s->grpc_on ? control_address(s->control) : NULL;
}

const char *
server_http_addr(const struct server *s)
{
	return s->http != NULL ? http_address(s->http) : NULL;
}

size_t
server_smtps_count(const struct server *s)
{
	return s->smtps_listener != NULL ? listener_count(s->smtps_listener) : 0;
}

const char *
server_smtps_addr(const struct server *s, size_t i)
{
	return listener_addr(s->smtps_listener, i);
}

/* The bound addresses of l as JSON array items: "a","b" (malloc'd) */
static char *
server_json_addrs(const struct listener *l)
{
	char  *list = xstrdup(""), *tmp, *q;
	size_t i, n = l != NULL ? listener_count(l) : 0;

	for (i = 0; i < n; i++) {
		q = json_quote(listener_addr(l, i));
		xasprintf(&tmp, "%s%s%s", list, i ? "," : "", q);
		free(q);
		free(list);
		list = tmp;
	}
	return list;
}

char *
server_ready_json(const struct server *s)
{
	char  *out, *list = server_json_addrs(s->listener), *smtp, *grpc, *smtps = NULL, *http, *q;
	size_t n = s->listener ? listener_count(s->listener) : 0;

	smtp = json_quote(n ? listener_addr(s->listener, 0) : "");
	grpc = s->grpc_on ? json_quote(control_address(s->control)) : xstrdup("");
	if (s->smtps_listener != NULL) {
		out = server_json_addrs(s->smtps_listener);
		xasprintf(&smtps, ",\"smtps\":[%s]", out);
		free(out);
	}
	if (s->http != NULL) {
		q = json_quote(http_address(s->http));
		xasprintf(&http, ",\"http\":[%s]", q);
		free(q);
	} else
		http = xstrdup("");
	xasprintf(&out, "{\"smtp\":%s,\"smtp_addresses\":[%s]%s%s%s%s}", smtp, list,
	    smtps != NULL ? smtps : "", s->grpc_on ? ",\"grpc\":" : "", grpc, http);
	free(http);
	free(smtps);
	free(smtp);
	free(grpc);
	free(list);
	return out;
}

/* Written to a temporary name and renamed, so readers never see half a file. */
static int
server_write_ready_file(const struct server *s, const char *path, char *err, size_t errlen)
{
	char *json = server_ready_json(s), *tmp;
	FILE *fp;
	int   rc = 0;

	xasprintf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	if ((fp = fopen(tmp, "w")) == NULL) {
		/* Name the file asked for; the temporary name means nothing to the user */
		snprintf(err, errlen, "ready file %s: %s", path, strerror(errno));
		rc = -1;
	} else {
		fprintf(fp, "%s\n", json);
		if (fclose(fp) != 0 || rename(tmp, path) == -1) {
			snprintf(err, errlen, "ready file %s: %s", path, strerror(errno));
			unlink(tmp);
			rc = -1;
		}
	}
	free(tmp);
	free(json);
	return rc;
}

/* Every SMTP listener stops accepting (max_sessions, shutdown). */
static void
server_pause(struct server *s)
{
	if (!s->shutting_down)
		log_info("smtp listen paused sessions=%llu max_sessions=%u",
		    (unsigned long long)s->stats.sessions_active, s->cfg->max_sessions);
	listener_pause(s->listener);
	if (s->smtps_listener != NULL)
		listener_pause(s->smtps_listener);
}

/* A new session (implicit TLS or not); pause at max_sessions. */
static void
server_accept_session(struct server *s, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen, int tls)
{
	if (tls)
		smtp_session_new_tls(&s->sessions, fd, sa, salen);
	else
		smtp_session_new(&s->sessions, fd, sa, salen);
	if (s->cfg->max_sessions > 0 && s->stats.sessions_active >= s->cfg->max_sessions)
		server_pause(s);
}

/* The accept callbacks of the SMTP and the implicit-TLS listeners */
static void
server_accept(void *arg, evutil_socket_t fd, const struct sockaddr *sa, socklen_t salen)
{
	server_accept_session(arg, fd, sa, salen, 0);
}

static void
server_accept_tls(void *arg, evutil_socket_t fd, const struct sockaddr *sa, socklen_t salen)
{
	server_accept_session(arg, fd, sa, salen, 1);
}

/* Health: serving while accepting SMTP and not stopping. */
static int
server_serving(void *arg)
{
	const struct server *s = arg;

	return !s->shutting_down && listener_count(s->listener) > 0;
}

/* An address option that is set and not "off" */
static int
server_listen_on(const char *addr)
{
	return addr != NULL && *addr != '\0' && strcmp(addr, "off") != 0;
}

static int
server_start_http(struct server *s, char *err, size_t errlen)
{
	struct http_env env;

	memset(&env, 0, sizeof(env));
	env.cfg = s->cfg;
	env.base = s->base;
	env.store = s->store;
	env.waiters = s->waiters;
	env.control = s->control;
	env.stats = &s->stats;
	env.serving = server_serving;
	env.serving_arg = s;
	s->http = http_new(&env, err, errlen);
	return s->http != NULL ? 0 : -1;
}

int
server_start(struct server *s, int with_control, char *err, size_t errlen)
{
	const struct config *cfg = s->cfg;
	struct control_env   env;

	if (config_tls_configured(cfg)) {
		if ((s->tls = tls_new(cfg, err, errlen)) == NULL)
			return -2;
		s->sessions.tls = s->tls;
	}
	if ((s->relay = relay_new(cfg, s->base, s->store, &s->stats, err, errlen)) == NULL)
		return -1;
	s->deliver.relay = s->relay;
	s->sessions.relay = s->relay;
	s->listener = listener_new(s->base, cfg->smtp_listen, cfg->smtp_listen_n, server_accept, s,
	    err, errlen);
	if (s->listener == NULL)
		return -1;
	if (cfg->smtps_listen_n > 0 &&
	    (s->smtps_listener = listener_new(s->base, cfg->smtps_listen, cfg->smtps_listen_n,
		 server_accept_tls, s, err, errlen)) == NULL)
		return -1;
	s->grpc_on = with_control && server_listen_on(cfg->grpc_listen);
	if (s->grpc_on || (with_control && server_listen_on(cfg->http_listen))) {
		memset(&env, 0, sizeof(env));
		env.cfg = cfg;
		env.base = s->base;
		env.inbox = s->inbox;
		env.store = s->store;
		env.waiters = s->waiters;
		env.rules = s->rules;
		env.stats = &s->stats;
		env.listener = s->listener;
		env.smtps_listener = s->smtps_listener;
		env.tls = s->tls;
		env.relay = s->relay;
		env.smtp_ext_line = s->smtp_ext_line;
		env.serving = server_serving;
		env.serving_arg = s;
		env.methods = control_rpc_methods(&env.nmethods);
		if (s->grpc_on)
			s->control = control_new(&env, cfg->grpc_listen, err, errlen);
		else
			s->control = control_local_new(&env); /* the HTTP API's calls */
		if (s->control == NULL)
			return -1;
	}
	if (with_control && server_listen_on(cfg->http_listen) &&
	    server_start_http(s, err, errlen) == -1)
		return -1;
	if (s->tls != NULL && cfg->tls_cert_out != NULL && *cfg->tls_cert_out != '\0' &&
	    tls_write_cert(s->tls, cfg->tls_cert_out, err, errlen) == -1)
		return -1;
	if (cfg->ready_file != NULL && *cfg->ready_file != '\0' &&
	    server_write_ready_file(s, cfg->ready_file, err, errlen) == -1)
		return -1;
	return 0;
}

void
server_shutdown(struct server *s)
{
	struct timeval tv;

	if (s->shutting_down)
		return;
	s->shutting_down = 1;
	log_info("shutdown sessions=%llu grace_ms=%llu",
	    (unsigned long long)s->stats.sessions_active,
	    (unsigned long long)s->cfg->shutdown_grace_ms);
	/* Accepting goes on while SMTP drains: a new client gets 421 4.3.2 at once */
	if (s->control != NULL)
		control_serving_changed(s->control); /* health: NOT_SERVING now */
	smtp_session_shutdown_all(&s->sessions, 0);
	if (s->relay != NULL)
		relay_shutdown(s->relay, server_relay_idle, s);
	if (!smtp_sessions_empty(&s->sessions) || (s->relay != NULL && relay_busy(s->relay))) {
		tv.tv_sec = s->cfg->shutdown_grace_ms / 1000;
		tv.tv_usec = (s->cfg->shutdown_grace_ms % 1000) * 1000;
		s->shutdown_ev = evtimer_new(s->base, server_grace_cb, s);
		evtimer_add(s->shutdown_ev, &tv);
	}
	server_check_done(s);
}

static void
server_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	log_info("shutdown grace over sessions=%llu", (unsigned long long)s->stats.sessions_active);
	server_pause(s);
	smtp_session_shutdown_all(&s->sessions, 1);
	if (s->relay != NULL && relay_busy(s->relay))
		relay_abandon(s->relay);
	s->relay_abandoned = 1; /* the grace is over: the relay is not waited for */
	server_check_done(s);
}

/* The relay has nothing left to try: the shutdown may go on */
static void
server_relay_idle(void *arg)
{
	server_check_done(arg);
}

static void
server_control_done(void *arg)
{
	struct server *s = arg;

	s->control_stopped = 1;
	server_check_done(s);
}

/* Moves the shutdown on: SMTP drained -> stop the control API -> break. */
static void
server_check_done(struct server *s)
{
	if (!s->shutting_down || !smtp_sessions_empty(&s->sessions))
		return;
	if (s->relay != NULL && relay_busy(s->relay) && !s->relay_abandoned)
		return;
	if (!s->control_stopping) {
		s->control_stopping = 1;
		server_pause(s);
		if (s->shutdown_ev != NULL)
			evtimer_del(s->shutdown_ev);
		waiters_shutdown(s->waiters);
		if (s->control != NULL)
			control_shutdown(s->control, server_control_done, s);
		else
			s->control_stopped = 1;
	}
	if (s->control_stopped)
		event_base_loopbreak(s->base);
}

/* A session ended (the sessions' closed callback): resume accepting. */
static void
server_session_closed(void *arg)
{
	struct server *s = arg;

	if (s->shutting_down) {
		server_check_done(s);
		return;
	}
	if (s->listener != NULL && s->stats.sessions_active + 1 == s->cfg->max_sessions) {
		listener_resume(s->listener);
		if (s->smtps_listener != NULL)
			listener_resume(s->smtps_listener);
	}
}

void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	smtp_sessions_free_all(&s->sessions, "server freed");
	http_free(s->http);
	if (s->control != NULL)
		control_free(s->control);
	listener_free(s->listener);
	listener_free(s->smtps_listener);
	tls_free(s->tls);
	relay_free(s->relay);
	waiters_free(s->waiters);
	store_free(s->store);
	rules_free(s->rules);
	inbox_free(s->inbox);
	if (s->shutdown_ev != NULL)
		event_free(s->shutdown_ev);
	free(s);
}
