/*
 * control - the gRPC control API plumbing on gRPC's C core (see
 * ../shared/design/GRPC-C-CORE.md): server, completion queue, the CQ thread
 * that forwards (tag, ok) to the loop through the inbox, method table.
 * The handlers live in control_rpc.c (the call API they use: control_call.h;
 * their method table, passed in by the owner: control_rpc.h),
 * the proto conversions in control_pb.c.
 *
 * Threads: control_new() starts one CQ thread that only forwards to
 * env->inbox; every gRPC call and all state stay on the loop thread.
 * Listening options: SO_REUSEPORT off (a second instance on the same port
 * fails), max message size cfg->grpc_max_message both ways, keepalive
 * policy that lets clients ping every second without losing parked calls,
 * limits against hostile HTTP/2 peers (header size, streams per connection,
 * a resource quota) and a malloc_trim() timer on the loop that hands
 * memory freed by gRPC's threads back to the system.
 * gRPC's own log lines go through log.c (GRPC_VERBOSITY still wins).
 */
#ifndef SMTPSINK_CONTROL_H
#define SMTPSINK_CONTROL_H
#include <stddef.h>

struct config;
struct control;
struct control_method;
struct event_base;
struct inbox;
struct listener;
struct relay;
struct rules;
struct stats;
struct store;
struct tls;
struct waiters;

/*
 * What the control API reads and acts on, all owned by the caller and
 * outliving the control API. Filled by the owner (server.c); copied.
 */
struct control_env {
	const struct config   *cfg;
	struct event_base     *base;
	struct inbox	      *inbox; /* CQ thread -> loop thread */
	struct store	      *store;
	struct waiters	      *waiters;
	struct rules	      *rules;
	const struct stats    *stats;
	const struct listener *listener;       /* SMTP addresses, for GetServerInfo */
	const char	      *smtp_ext_line;  /* "PIPELINING SIZE 33554432 ..." */
	const struct listener *smtps_listener; /* implicit TLS; NULL: none */
	const struct tls      *tls;	       /* certificate; NULL without TLS */
	struct relay	      *relay;	       /* ReleaseMessage, relay counters */
	int (*serving)(void *arg);	       /* health: is the SMTP side up? */
	void			    *serving_arg;
	const struct control_method *methods; /* registered methods (control_rpc.h) */
	size_t			     nmethods;
};

/*
 * grpc_init(), binds addr ("host:port", port 0 allowed, or "unix:/path")
 * and starts serving. NULL with a one-line reason in err when the address
 * cannot be bound (in use, unresolvable); gRPC's details are logged.
 * Needs evthread_use_pthreads() before the event base was created.
 */
struct control *control_new(const struct control_env *, const char *addr, char *err, size_t errlen);
/* Bound address, "127.0.0.1:50051" (the real port when 0 was asked). */
const char     *control_address(const struct control *);
/*
 * Starts the graceful shutdown: health NOT_SERVING, parked waits and
 * streams get UNAVAILABLE, no new calls; calls still running after 200 ms
 * (stalled streams) are cancelled. done(arg) runs on the loop thread once
 * the completion queue is drained. Calling it again only replaces done.
 */
void		control_shutdown(struct control *, void (*done)(void *), void *arg);
/*
 * The owner's "serving?" answer changed (its shutdown began): calls that
 * follow it (health Watch) are told at once, before control_shutdown().
 */
void		control_serving_changed(struct control *);
/*
 * Joins the CQ thread, destroys server and CQ, grpc_shutdown(). If the
 * shutdown was not run through the loop (startup error, embedding), it is
 * done here first, running the event loop until drained. NULL is a no-op.
 */
void		control_free(struct control *);

#endif
