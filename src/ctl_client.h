/*
 * ctl_client - a small client of the control API on gRPC's C core, shared
 * by smtpsinkctl and tests/unit/test_control.c. Messages are protobuf-c
 * (packed and unpacked by pbgrpc.c).
 *
 * A struct ctl_client is one channel. A struct ctl_client_call is one call
 * on its own completion queue, driven by its caller's thread: batches only
 * complete inside ctl_client_* functions. Every batch has a struct ctl_op
 * as its tag. A call, unary or server streaming, is
 *   ctl_client_call_start()   {SEND_INITIAL_METADATA, SEND_MESSAGE,
 *                             SEND_CLOSE_FROM_CLIENT, RECV_INITIAL_METADATA}
 *                             and {RECV_STATUS_ON_CLIENT}
 *   ctl_client_call_recv()    {RECV_MESSAGE}, once per response message,
 *                             until it reports the end of the stream
 *   ctl_client_call_cancel()  optional, at any point
 *   ctl_client_call_end()     waits for every batch started, fills the
 *                             status, frees the call
 * ctl_client_unary() and ctl_client_stream() are that sequence for the two
 * shapes of call.
 *
 * Interruption: with a flag given to ctl_client_new() (set by a signal
 * handler), waits poll every CTL_CLIENT_POLL_MS and cancel the call once
 * the flag is set; the status then says interrupted.
 *
 * Ownership: requests are borrowed until ctl_client_call_start() returns;
 * response messages belong to the caller (protobuf_c_message_free_unpacked);
 * status details are malloc'd (ctl_client_status_clear).
 */
#ifndef SMTPSINK_CTL_CLIENT_H
#define SMTPSINK_CTL_CLIENT_H
#include <signal.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Largest message sent or received: raw messages of a long list add up. */
#define CTL_CLIENT_MAX_MESSAGE (256 * 1024 * 1024)
#define CTL_CLIENT_POLL_MS     100

struct ctl_client;
struct ctl_client_call;

/* Outcome of one call; see ctl_client_status_clear. */
struct ctl_client_status {
	int   code;	   /* grpc_status_code */
	char *details;	   /* malloc'd; NULL only after a stop */
	int   interrupted; /* the interrupt flag cancelled the call */
	int   stopped;	   /* ctl_client_stream: the callback stopped it */
	int   deadline;	   /* the call's own deadline ended it */
};

/*
 * grpc_init() plus a channel to target ("host:port", "unix:/path") that
 * never goes through a proxy and pings an idle connection. Never fails:
 * connection errors surface as UNAVAILABLE from the first call.
 * user_agent is the primary user agent string; interrupt may be NULL.
 */
struct ctl_client *ctl_client_new(const char *target, const char *user_agent,
    const volatile sig_atomic_t *interrupt);
/* Destroys the channel and shuts gRPC down (grpc_shutdown). NULL: no-op. */
void		   ctl_client_free(struct ctl_client *);

/*
 * Starts method ("/pkg.Service/Method") with request req; timeout_ms < 0
 * means no deadline. Never fails: a call that cannot start ends with
 * INTERNAL in ctl_client_call_end().
 */
struct ctl_client_call *ctl_client_call_start(struct ctl_client *, const char *method,
    const ProtobufCMessage *req, int64_t timeout_ms);
/*
 * Reads the next response message into *m (unpacked with desc; the caller
 * frees it). Returns 1 with *m set, 0 at the end of the stream (or when
 * the call failed), -1 if the message did not parse: the call is then
 * cancelled and ends with INTERNAL. *m is NULL unless 1 is returned.
 */
int  ctl_client_call_recv(struct ctl_client_call *, const ProtobufCMessageDescriptor *desc,
     ProtobufCMessage **m);
/* Cancels the call (CANCELLED, unless a status already came). */
void ctl_client_call_cancel(struct ctl_client_call *);
/*
 * Waits for the status and every batch started, fills st (clear it with
 * ctl_client_status_clear) and frees the call. Returns st->code.
 */
int  ctl_client_call_end(struct ctl_client_call *, struct ctl_client_status *st);

/*
 * A unary call: the single response goes to *resp (the caller frees it)
 * when the status is OK; a response missing or not parsing is INTERNAL.
 * Always fills st. Returns st->code (0 = OK).
 */
int ctl_client_unary(struct ctl_client *, const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int64_t timeout_ms,
    struct ctl_client_status *st);
/*
 * Called for each streamed message (freed after the call). Returns 0 to
 * go on, 1 to stop: the call is cancelled, st->stopped is set and the
 * outcome is OK.
 */
typedef int (*ctl_client_msg_fn)(const ProtobufCMessage *, void *);
/* A server-streaming call: every message goes to fn. As ctl_client_unary. */
int ctl_client_stream(struct ctl_client *, const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *msg_desc, ctl_client_msg_fn fn, void *arg, int64_t timeout_ms,
    struct ctl_client_status *st);

void	    ctl_client_status_clear(struct ctl_client_status *);
/* "DEADLINE_EXCEEDED" for 4; "STATUS_<n>" for unknown codes (static buffer). */
const char *ctl_client_status_name(int code);

#endif
