/*
 * server - one sink instance: the state the loop thread owns, wired
 * together. Used by main.c (the daemon) and by sink.c (the embedding API),
 * so both run exactly the same code. It is the only module that knows all
 * the others; they know nothing of it (struct server is opaque): the
 * listener calls back on accept, the sessions call back when one closes,
 * the control API asks "serving?" through a callback.
 *
 * Lifecycle: server_new() -> server_start() -> event loop ->
 * server_shutdown() (asynchronous: stop accepting, let transactions in flight
 * finish within cfg->shutdown_grace, 421 to the rest, stop gRPC; then
 * event_base_loopbreak()) -> server_free() after the loop returned.
 * Everything here runs on the loop thread.
 */
#ifndef SMTPSINK_SERVER_H
#define SMTPSINK_SERVER_H
#include <stddef.h>

#include "deliver.h"

struct config;
struct event_base;
struct inbox;
struct relay;
struct rules;
struct server;
struct smtp_sessions;
struct stats;
struct store;
struct waiters;

/* cfg must outlive the server. Never fails (out of memory aborts). */
struct server *server_new(const struct config *cfg, struct event_base *);
/*
 * Sets up TLS when configured (certificate loaded or generated), binds the
 * SMTP and SMTPS listeners and, when with_control and cfg->grpc_listen is
 * set, the control API; then writes --tls-cert-out and the ready file. 0 on
 * success; -1 with a one-line reason in err (nothing is left listening;
 * call server_free()); -2 when the TLS configuration is unusable
 * (certificate or key missing, unreadable, not matching).
 */
int	       server_start(struct server *, int with_control, char *err, size_t errlen);
/* Starts a graceful shutdown; the loop breaks when it is complete. Idempotent. */
void	       server_shutdown(struct server *);
int	       server_is_stopping(const struct server *);
void	       server_free(struct server *);
/* The embedding program's handler for each complete message (NULL: none) */
void	       server_set_handler(struct server *, deliver_handler_fn *, void *arg);

/* Bound SMTP addresses ("127.0.0.1:40123"), i < server_smtp_count() */
size_t	    server_smtp_count(const struct server *);
const char *server_smtp_addr(const struct server *, size_t i);
/* Bound implicit-TLS addresses, i < server_smtps_count() */
size_t	    server_smtps_count(const struct server *);
const char *server_smtps_addr(const struct server *, size_t i);
/* Bound gRPC address, or NULL when the control API is off */
const char *server_grpc_addr(const struct server *);
/* Bound HTTP address, or NULL when HTTP is off */
const char *server_http_addr(const struct server *);
/* The JSON written to --ready-file: {"smtp":"...","grpc":"...","http":["..."]} (malloc'd) */
char	   *server_ready_json(const struct server *);

/* Parts, borrowed for the server's lifetime (sink.c, tests) */
struct store	     *server_store(struct server *);
struct waiters	     *server_waiters(struct server *);
struct rules	     *server_rules(struct server *);
struct inbox	     *server_inbox(struct server *);
struct stats	     *server_stats(struct server *);
struct smtp_sessions *server_sessions(struct server *);
struct relay	     *server_relay(struct server *); /* NULL before server_start() */

#endif
