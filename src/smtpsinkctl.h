/*
 * smtpsinkctl - private interface between the files of the command-line
 * client (smtpsinkctl.c: options and commands; smtpsinkctl_rpc.c: calls on
 * gRPC's C core; smtpsinkctl_out.c: JSON and human output).
 *
 * The client is single-threaded from the application's point of view: every
 * call has its own completion queue, driven by ctl_rpc_call() until the
 * status arrives; nothing gRPC-owned survives a ctl_rpc_call() return.
 * Protobuf messages handed to callbacks are owned by the rpc layer and freed
 * after the callback returns; the unary result (*resp) belongs to the caller
 * (protobuf_c_message_free_unpacked).
 */
#ifndef SMTPSINK_SMTPSINKCTL_H
#define SMTPSINK_SMTPSINKCTL_H
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

/* Exit statuses (documented in the usage text). */
#define CTL_EXIT_OK		0
#define CTL_EXIT_RPC		1	/* gRPC status error, bad response */
#define CTL_EXIT_USAGE		2	/* bad command line */
#define CTL_EXIT_DEADLINE	3	/* DEADLINE_EXCEEDED (wait not satisfied) */
#define CTL_EXIT_UNAVAILABLE	4	/* unreachable, or health not SERVING */
#define CTL_EXIT_INTERRUPTED	130	/* SIGINT/SIGTERM (not for watch) */

/* Largest response accepted: raw messages of a long list add up. */
#define CTL_MAX_RECV		(256 * 1024 * 1024)

struct ctl_conn;

/* Outcome of one call; details is malloc'd (or NULL), see ctl_status_clear. */
struct ctl_status {
	int	 code;		/* grpc_status_code */
	char	*details;
	int	 interrupted;	/* a signal cancelled the call */
	int	 stopped;	/* the message callback asked to stop */
	int	 deadline;	/* our own deadline ended the call */
};

/* Set by the signal handler; ctl_rpc_call() cancels the call when it is set. */
extern volatile sig_atomic_t ctl_interrupted;

/*
 * Called for each streamed message (owned by the rpc layer, valid only during
 * the call). Returns 0 to go on, 1 to stop the stream (the call is cancelled
 * and the outcome counts as success).
 */
typedef int (*ctl_msg_fn)(const ProtobufCMessage *, void *);

/*
 * grpc_init() plus a channel to target ("host:port", "unix:/path"). Never
 * fails: connection errors surface as UNAVAILABLE from the first call.
 * verbose != 0 lets gRPC's own log lines through to stderr.
 */
struct ctl_conn	*ctl_conn_new(const char *target, int verbose);
/* Destroys the channel and shuts gRPC down. NULL is a no-op. */
void		 ctl_conn_free(struct ctl_conn *);

/*
 * One call of method ("/pkg.Service/Method") with request req. timeout_ms < 0
 * means no deadline. Unary (fn == NULL): the single response is unpacked with
 * resp_desc into *resp (caller frees) when the status is OK. Server streaming
 * (fn != NULL): every message goes to fn. Always fills st (clear it with
 * ctl_status_clear). Returns st->code (0 = OK).
 */
int		 ctl_rpc_call(struct ctl_conn *, const char *method,
		    const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc,
		    ProtobufCMessage **resp, ctl_msg_fn fn, void *arg,
		    int64_t timeout_ms, struct ctl_status *st);
void		 ctl_status_clear(struct ctl_status *);
/* "DEADLINE_EXCEEDED" for 4; "STATUS_<n>" for unknown codes (static buffer). */
const char	*ctl_status_name(int code);

/*
 * JSON output (smtpsinkctl_out.c). ctl_json_message writes m as one JSON
 * object using the proto field names; all fields are written (proto3
 * defaults included), uint64 as numbers, bytes as base64, enums as their
 * names, google.protobuf.Timestamp as RFC 3339 UTC, Duration as "1.5s".
 */
void		 ctl_json_message(FILE *, const ProtobufCMessage *m);
void		 ctl_base64(FILE *, const uint8_t *p, size_t len);

/*
 * Human output: s with C0 controls, DEL and invalid UTF-8 replaced by '?'
 * (newline and tab kept when keep_nl), cut to at most width code points
 * ("..." marks a cut; width 0 = no limit), padded with spaces to pad code
 * points. Returns the number of code points written.
 */
size_t		 ctl_put_text(FILE *, const char *s, size_t width, size_t pad,
		    int keep_nl);
/* Code points of s as ctl_put_text would print them before cutting. */
size_t		 ctl_text_width(const char *s);
/* "2026-11-28T13:45:01Z" (+ fraction when nanos != 0, if frac) into buf. */
char		*ctl_format_time(char *buf, size_t len, int64_t secs,
		    int32_t nanos, int frac);

#endif
