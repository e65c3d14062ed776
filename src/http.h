/*
 * http - the HTTP side of the sink on libevent's evhttp, on the loop
 * thread: /healthz and /readyz, the control API as JSON (Connect's unary
 * form: POST /smtpsink.v1.Sink/<Method>, every unary RPC through the same
 * handlers as gRPC, see control.h's local calls), live messages as
 * Server-Sent Events (GET /api/events), raw .eml and attachment downloads,
 * a Mailpit-compatible subset under /api/v1/ (http_mailpit.c) and the web
 * UI's embedded assets (/ and /ui/...). Routes and security rules are listed
 * in the README ("HTTP API") and at the top of http.c.
 *
 * Everything runs on the loop thread; work whose size a client chooses
 * (listings, clears, replays) goes through the waiters' sliced scans.
 */
#ifndef SMTPSINK_HTTP_H
#define SMTPSINK_HTTP_H
#include <stddef.h>

struct config;
struct control;
struct event_base;
struct http;
struct stats;
struct store;
struct waiters;

/* What the HTTP side reads and acts on; owned by the caller, outliving it. */
struct http_env {
	const struct config *cfg;
	struct event_base   *base;
	struct store	    *store;
	struct waiters	    *waiters;
	struct control	    *control; /* local calls of the RPC handlers */
	const struct stats  *stats;
	int (*serving)(void *arg); /* readyz: is the sink up and not draining? */
	void *serving_arg;
};

/*
 * Binds cfg->http_listen ("host:port", port 0 allowed) and starts serving.
 * NULL with a one-line reason in err when it cannot (address in use, bad
 * address, unreadable --http-auth-file).
 */
struct http *http_new(const struct http_env *, char *err, size_t errlen);
/* Bound address ("127.0.0.1:8025", the real port when 0 was asked) */
const char  *http_address(const struct http *);
/*
 * Cancels what is in progress (event streams end, parked calls are
 * answered by the control API's own shutdown) and frees; NULL is a no-op.
 * Call before control_free().
 */
void	     http_free(struct http *);

#endif
