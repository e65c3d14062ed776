/*
 * control_call - what the gRPC plumbing (control.c) offers the RPC handlers
 * (control_rpc.c): one struct control_call per gRPC call, the method table
 * row type, and the calls to answer. Not for other modules.
 *
 * Everything here runs on the loop thread. A control_call is one gRPC call;
 * control.c owns it and frees it when its last outstanding op (tag) came
 * back. Handlers answer with control_reply()/control_fail() (unary) or
 * control_send() (server streaming), and may park the call:
 * then they set on_close/on_shutdown so control.c can tell them the client
 * went away (drop the waiter, send nothing) or the server is stopping (send
 * UNAVAILABLE).
 */
#ifndef SMTPSINK_CONTROL_CALL_H
#define SMTPSINK_CONTROL_CALL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "match.h"

struct control;
struct control_call;
struct control_env;
struct relay_job;
struct waiter;

/* A tag handed to gRPC: exactly one delivery per accepted op. */
struct control_op {
	void (*done)(struct control_call *, int ok);
	struct control_call *call;
};

enum control_kind { CONTROL_UNARY, CONTROL_SERVER_STREAM };

struct control_method {
	const char			 *path;
	enum control_kind		  kind;
	const ProtobufCMessageDescriptor *req;
	/* The request is borrowed: freed by the dispatcher after return. */
	void (*start)(struct control_call *, const ProtobufCMessage *req);
};

struct control_call {
	struct control		    *ctl;
	const struct control_method *method; /* NULL: unregistered method */
	size_t			     midx;
	grpc_call		    *call;
	gpr_timespec		     deadline; /* GPR_CLOCK_MONOTONIC */
	grpc_metadata_array	     md;
	grpc_call_details	     details; /* unregistered methods only */
	grpc_byte_buffer	    *payload;
	grpc_byte_buffer	    *send_bb;
	int			     cancelled; /* from RECV_CLOSE_ON_SERVER */
	int			     closed;	/* RECV_CLOSE_ON_SERVER came back */
	int			     pending;	/* ops handed to gRPC, not back yet */
	int			     md_sent;
	int			     status_sent;
	int			     sending;	   /* a send batch is in flight */
	int			     started;	   /* a client call (not a posted request) */
	int			     defer_status; /* status waits for the send in flight */
	int			     local;	   /* control_local_call(): no gRPC call */
	int			     local_closed; /* local: op_close was completed */
	grpc_status_code	     defer_code;
	char			    *defer_msg;
	struct control_op	     op_new, op_send, op_close;
	struct control_op	    *local_held; /* local: a streamed message's op */
	/* control_local_fn (control.h); NULL once the status went or cancelled */
	void (*local_fn)(void *, int, grpc_status_code, const char *, const uint8_t *, size_t);
	void *local_arg;
	TAILQ_ENTRY(control_call) entry;

	/* Handler state (control_rpc.c) */
	void (*on_sent)(struct control_call *, int ok);
	void (*on_close)(struct control_call *);
	void (*on_shutdown)(struct control_call *);
	void (*on_serving)(struct control_call *); /* health changed */
	struct waiter	 *waiter;
	struct relay_job *release; /* ReleaseMessage in progress */
	struct filter	  filter;  /* owned copy (match_filter_copy) */
	uint64_t	  cursor;  /* watch: last id examined */
	size_t		  count;   /* wait: how many must match */
	unsigned	  pbflags; /* CONTROL_PB_* */
	int		  health;  /* health watch: last status sent */
};

const struct control_env *control_env(const struct control *);
/* 1 while serving; 0 once the owner's shutdown began (health NOT_SERVING). */
int			  control_serving(const struct control *);
/* 1 once control_shutdown() ran: parked calls end, no new calls. */
int			  control_stopping(const struct control *);
size_t			  control_live_calls(const struct control *);
size_t			  control_max_message(const struct control *);

/* Unary: {initial metadata, message, status OK}. RESOURCE_EXHAUSTED if too big. */
void control_reply(struct control_call *, const ProtobufCMessage *);
/* Any call: {initial metadata if not sent, status code with details}. */
void control_fail(struct control_call *, grpc_status_code, const char *, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * Streams: one message (with the initial metadata the first time; msg NULL
 * sends the metadata alone). on_sent(call, ok) runs when it completed.
 * Exactly one send may be in flight. -1 when nothing was started (call
 * closed, status sent, a send in flight, server draining).
 */
int	  control_send(struct control_call *, const ProtobufCMessage *msg);
/* Milliseconds left until the call's deadline; -1 for none. */
long long control_remaining_ms(const struct control_call *);

/*
 * Test hook (tests/fuzz/fuzz_control.c): a struct control with no gRPC
 * server, completion queue or thread. control_test_call() runs a method's
 * handler the way a call from a client would (request unpacked, status
 * INVALID_ARGUMENT when it is not a valid message, UNIMPLEMENTED for an
 * unknown method), and every batch a call starts is shown to observe(ops,
 * nops) and its tag queued instead of going to gRPC; observe(call, NULL, 0)
 * tells that a call is being freed. Nothing here is used by the sink.
 */
typedef void	control_test_observe_fn(void *arg, const struct control_call *, const grpc_op *ops,
       size_t nops);
/* env as for control_new() (methods, store, ...); never fails. */
struct control *control_test_new(const struct control_env *, size_t max_message,
    control_test_observe_fn *, void				   *arg);
/*
 * A call of env->methods[midx], or of an unregistered method named req when
 * midx >= nmethods; req[0..len) is the request message's bytes, NULL for a
 * call without one; deadline_ms < 0: no deadline. The call belongs to ctl.
 */
struct control_call *control_test_call(struct control *, size_t midx, const void *req, size_t len,
    long long deadline_ms);
/*
 * Completes up to max tags in flight, in order, as gRPC would with ok=1: a
 * send at once, a call's RECV_CLOSE_ON_SERVER once its status went out.
 * Returns how many completed (0: every call left is parked or streaming).
 */
size_t		     control_test_step(struct control *, size_t max);
/* What control_shutdown() does to the calls (parked ones answer UNAVAILABLE). */
void		     control_test_shutdown(struct control *);
/* Completes what can, cancels the calls left (client gone), frees them and ctl. */
void		     control_test_free(struct control *);

#endif
