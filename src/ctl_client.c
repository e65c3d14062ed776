/*
 * ctl_client - client calls on gRPC's C core (sequence and ownership in
 * ctl_client.h).
 *
 * Each call has three tags, struct ctl_op, one per kind of batch: start,
 * recv (one RECV_MESSAGE at a time) and status. A tag is pending from the
 * accepted grpc_call_start_batch() to its event; nothing is freed while a
 * tag is pending. Waiting for one tag delivers whatever else completes on
 * the call's queue meanwhile. ctl_client_call_end() waits for every tag,
 * then unrefs the call and shuts its queue down, draining it to
 * GRPC_QUEUE_SHUTDOWN.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "ctl_client.h"
#include "pbgrpc.h"
#include "xmalloc.h"

#define CTL_CLIENT_KEEPALIVE_MS		20000
#define CTL_CLIENT_KEEPALIVE_TIMEOUT_MS 10000

struct ctl_client {
	grpc_channel		    *channel;
	const volatile sig_atomic_t *interrupt; /* may be NULL */
};

/* A batch's tag. */
struct ctl_op {
	int pending;   /* started, event not delivered yet */
	int delivered; /* its event came at least once */
};

struct ctl_client_call {
	struct ctl_client     *client;
	grpc_completion_queue *cq;
	grpc_call	      *call;
	grpc_metadata_array    md_initial, md_trailing;
	grpc_byte_buffer      *send, *recv;
	grpc_status_code       code;
	grpc_slice	       details;
	struct ctl_op	       op_start, op_recv, op_status;
	const char	      *error; /* our own failure: INTERNAL */
	int		       cancelled;
	int		       interrupted;
	int		       bad; /* a message did not parse */
};

static const char *const status_names[] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *
ctl_client_status_name(int code)
{
	static char buf[32];

	if (code >= 0 && (size_t)code < sizeof(status_names) / sizeof(status_names[0]))
		return status_names[code];
	snprintf(buf, sizeof(buf), "STATUS_%d", code);
	return buf;
}

void
ctl_client_status_clear(struct ctl_client_status *st)
{
	free(st->details);
	memset(st, 0, sizeof(*st));
}

static void
ctl_client_set_error(struct ctl_client_status *st, int code, const char *msg)
{
	st->code = code;
	free(st->details);
	st->details = xstrdup(msg);
}

static void
ctl_client_arg_int(grpc_arg *a, const char *key, int value)
{
	a->type = GRPC_ARG_INTEGER;
	a->key = (char *)key;
	a->value.integer = value;
}

struct ctl_client *
ctl_client_new(const char *target, const char *user_agent, const volatile sig_atomic_t *interrupt)
{
	struct ctl_client	 *cl;
	grpc_channel_credentials *creds;
	grpc_arg		  args[7];
	grpc_channel_args	  cargs;

	grpc_init();
	memset(args, 0, sizeof(args));
	ctl_client_arg_int(&args[0], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, CTL_CLIENT_MAX_MESSAGE);
	ctl_client_arg_int(&args[1], GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, CTL_CLIENT_MAX_MESSAGE);
	/* The sink is local or in a container: never go through http_proxy. */
	ctl_client_arg_int(&args[2], GRPC_ARG_ENABLE_HTTP_PROXY, 0);
	args[3].type = GRPC_ARG_STRING;
	args[3].key = GRPC_ARG_PRIMARY_USER_AGENT_STRING;
	args[3].value.string = (char *)user_agent;
	/*
	 * A watch or wait may idle for long: pings find a server that vanished
	 * without a FIN. smtpsink permits pings every second, without strikes.
	 */
	ctl_client_arg_int(&args[4], GRPC_ARG_KEEPALIVE_TIME_MS, CTL_CLIENT_KEEPALIVE_MS);
	ctl_client_arg_int(&args[5], GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
	    CTL_CLIENT_KEEPALIVE_TIMEOUT_MS);
	ctl_client_arg_int(&args[6], GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
	cargs.num_args = sizeof(args) / sizeof(args[0]);
	cargs.args = args;

	cl = xcalloc(1, sizeof(*cl));
	cl->interrupt = interrupt;
	creds = grpc_insecure_credentials_create();
	cl->channel = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	return cl;
}

void
ctl_client_free(struct ctl_client *cl)
{
	if (cl == NULL)
		return;
	grpc_channel_destroy(cl->channel);
	free(cl);
	grpc_shutdown();
}

/* Starts a batch with tag op; 0 if gRPC took it (one event will come). */
static int
ctl_client_batch(struct ctl_client_call *cc, const grpc_op *ops, size_t n, struct ctl_op *op)
{
	if (grpc_call_start_batch(cc->call, ops, n, op, NULL) != GRPC_CALL_OK)
		return -1;
	op->pending = 1;
	return 0;
}

/*
 * Waits until op is delivered (at once if it is not pending), delivering
 * the call's other events meanwhile and cancelling the call when the
 * interrupt flag is set. -1 if the queue failed, which cannot happen
 * before ctl_client_call_end() shuts it down.
 */
static int
ctl_client_wait(struct ctl_client_call *cc, struct ctl_op *op)
{
	const volatile sig_atomic_t *intr = cc->client->interrupt;
	struct ctl_op		    *done;
	grpc_event		     ev;
	gpr_timespec		     until;

	while (op->pending) {
		if (intr != NULL && *intr && !cc->cancelled) {
			cc->interrupted = 1;
			ctl_client_call_cancel(cc);
		}
		until = intr == NULL ? gpr_inf_future(GPR_CLOCK_REALTIME) :
				       gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					   gpr_time_from_millis(CTL_CLIENT_POLL_MS, GPR_TIMESPAN));
		ev = grpc_completion_queue_next(cc->cq, until, NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT)
			continue;
		if (ev.type != GRPC_OP_COMPLETE)
			return -1;
		done = ev.tag;
		done->pending = 0;
		done->delivered = 1;
	}
	return 0;
}

struct ctl_client_call *
ctl_client_call_start(struct ctl_client *cl, const char *method, const ProtobufCMessage *req,
    int64_t timeout_ms)
{
	struct ctl_client_call *cc;
	grpc_op			ops[4], sop;
	gpr_timespec		deadline;

	if (timeout_ms < 0)
		deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
	else
		deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
		    gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
	cc = xcalloc(1, sizeof(*cc));
	cc->client = cl;
	cc->code = GRPC_STATUS_UNKNOWN;
	cc->details = grpc_empty_slice();
	cc->cq = grpc_completion_queue_create_for_next(NULL);
	cc->call = grpc_channel_create_call(cl->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cc->cq,
	    grpc_slice_from_static_string(method), NULL, deadline, NULL);
	grpc_metadata_array_init(&cc->md_initial);
	grpc_metadata_array_init(&cc->md_trailing);
	cc->send = pbgrpc_pack(req, protobuf_c_message_get_packed_size(req));

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = cc->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &cc->md_initial;
	if (ctl_client_batch(cc, ops, 4, &cc->op_start) == -1) {
		cc->error = "cannot start the call";
		return cc;
	}
	memset(&sop, 0, sizeof(sop));
	sop.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	sop.data.recv_status_on_client.trailing_metadata = &cc->md_trailing;
	sop.data.recv_status_on_client.status = &cc->code;
	sop.data.recv_status_on_client.status_details = &cc->details;
	if (ctl_client_batch(cc, &sop, 1, &cc->op_status) == -1) {
		ctl_client_call_cancel(cc);
		cc->error = "cannot start the call";
	}
	return cc;
}

int
ctl_client_call_recv(struct ctl_client_call *cc, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **m)
{
	grpc_op op;

	*m = NULL;
	if (!cc->op_start.pending && !cc->op_start.delivered)
		return 0; /* the call never started */
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &cc->recv;
	if (ctl_client_batch(cc, &op, 1, &cc->op_recv) == -1 ||
	    ctl_client_wait(cc, &cc->op_recv) == -1 || cc->recv == NULL)
		return 0; /* end of stream, or the call failed */
	*m = pbgrpc_unpack(desc, cc->recv);
	grpc_byte_buffer_destroy(cc->recv);
	cc->recv = NULL;
	if (*m == NULL) {
		cc->bad = 1;
		ctl_client_call_cancel(cc);
		return -1;
	}
	return 1;
}

void
ctl_client_call_cancel(struct ctl_client_call *cc)
{
	if (cc->cancelled)
		return;
	cc->cancelled = 1;
	grpc_call_cancel(cc->call, NULL);
}

int
ctl_client_call_end(struct ctl_client_call *cc, struct ctl_client_status *st)
{
	grpc_event ev;
	char	  *d;

	memset(st, 0, sizeof(*st));
	if (ctl_client_wait(cc, &cc->op_start) == -1 || ctl_client_wait(cc, &cc->op_recv) == -1 ||
	    ctl_client_wait(cc, &cc->op_status) == -1) {
		if (cc->error == NULL)
			cc->error = "call did not end";
	}
	if (cc->error != NULL)
		ctl_client_set_error(st, GRPC_STATUS_INTERNAL, cc->error);
	else if (!cc->op_status.delivered)
		ctl_client_set_error(st, GRPC_STATUS_INTERNAL, "call did not end");
	else if (cc->bad)
		ctl_client_set_error(st, GRPC_STATUS_INTERNAL,
		    "cannot parse the server's response");
	else {
		st->code = cc->code;
		d = grpc_slice_to_c_string(cc->details);
		st->details = xstrdup(d);
		gpr_free(d);
		st->deadline = cc->code == GRPC_STATUS_DEADLINE_EXCEEDED;
	}
	st->interrupted = cc->interrupted;

	grpc_slice_unref(cc->details);
	grpc_metadata_array_destroy(&cc->md_initial);
	grpc_metadata_array_destroy(&cc->md_trailing);
	grpc_byte_buffer_destroy(cc->send);
	if (cc->recv != NULL)
		grpc_byte_buffer_destroy(cc->recv);
	grpc_call_unref(cc->call);
	grpc_completion_queue_shutdown(cc->cq);
	do {
		ev = grpc_completion_queue_next(cc->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	} while (ev.type != GRPC_QUEUE_SHUTDOWN);
	grpc_completion_queue_destroy(cc->cq);
	free(cc);
	return st->code;
}

int
ctl_client_unary(struct ctl_client *cl, const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int64_t timeout_ms,
    struct ctl_client_status *st)
{
	struct ctl_client_call *cc;
	ProtobufCMessage       *m, *first = NULL;

	*resp = NULL;
	cc = ctl_client_call_start(cl, method, req, timeout_ms);
	/* Read to the end of the stream; a second message is dropped. */
	while (ctl_client_call_recv(cc, resp_desc, &m) == 1) {
		if (first == NULL)
			first = m;
		else
			protobuf_c_message_free_unpacked(m, NULL);
	}
	if (ctl_client_call_end(cc, st) == GRPC_STATUS_OK && first == NULL)
		ctl_client_set_error(st, GRPC_STATUS_INTERNAL, "no response message");
	if (st->code == GRPC_STATUS_OK)
		*resp = first;
	else if (first != NULL)
		protobuf_c_message_free_unpacked(first, NULL);
	return st->code;
}

int
ctl_client_stream(struct ctl_client *cl, const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *msg_desc, ctl_client_msg_fn fn, void *arg, int64_t timeout_ms,
    struct ctl_client_status *st)
{
	struct ctl_client_call *cc;
	ProtobufCMessage       *m;
	int			stop, stopped = 0;

	cc = ctl_client_call_start(cl, method, req, timeout_ms);
	while (ctl_client_call_recv(cc, msg_desc, &m) == 1) {
		/* A message that came with an interrupt is not shown. */
		stop = cc->cancelled || fn(m, arg) != 0;
		protobuf_c_message_free_unpacked(m, NULL);
		if (stop) {
			if (!cc->cancelled) {
				stopped = 1;
				ctl_client_call_cancel(cc);
			}
			break;
		}
	}
	ctl_client_call_end(cc, st);
	if (stopped) {
		free(st->details);
		st->details = NULL;
		st->code = GRPC_STATUS_OK;
		st->deadline = 0;
		st->stopped = 1;
	}
	return st->code;
}
