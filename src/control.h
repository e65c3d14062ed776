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
#include <stdint.h>

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

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

/*
 * Local calls: a registered method run from inside the process (the HTTP
 * API) through the same handler as a gRPC call, with its answer handed to
 * fn instead of gRPC. fn(arg, final, code, msg, data, len): final == 0 for
 * one message of a server stream (data[0..len) is the packed message;
 * call control_local_sent() once it is consumed, the next one follows
 * only then), final == 1 once, for the status (code, msg) and for a unary
 * call its reply message (len 0 for an empty one or on error). Nothing is
 * called after that. fn may run before control_local_call() returns (a
 * handler that answers at once). The request is borrowed (packed here).
 * NULL when path is not a registered method. The call belongs to ctl: the
 * pointer is valid until fn ran with final == 1 or control_local_cancel().
 */
typedef void	     control_local_fn(void *arg, int final, grpc_status_code code, const char *msg,
	    const uint8_t *data, size_t len);
struct control_call *control_local_call(struct control *, const char *path,
    const ProtobufCMessage *req, control_local_fn *fn, void *arg);
/* 1 if path is a server-streaming method, 0 unary, -1 not registered */
int		     control_local_streaming(const struct control *, const char *path);
/* The message fn was given is consumed: the stream may send the next. */
void		     control_local_sent(struct control_call *);
/* The caller is gone: the handler is told (on_close), fn is not called again. */
void		     control_local_cancel(struct control_call *);
/*
 * A struct control for local calls only, when the gRPC listener is off:
 * no server, no thread. control_shutdown() and control_free() work on it.
 */
struct control	    *control_local_new(const struct control_env *);

#endif
