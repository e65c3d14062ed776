/*
 * smtpsinkctl_rpc - client calls on gRPC's C core (see smtpsinkctl.h).
 *
 * Every call, unary or server-streaming, runs the same batch sequence on its
 * own completion queue:
 *   batch 1 {SEND_INITIAL_METADATA, SEND_MESSAGE, SEND_CLOSE_FROM_CLIENT,
 *            RECV_INITIAL_METADATA, RECV_MESSAGE}
 *   batch 2 {RECV_STATUS_ON_CLIENT}                  (started at once)
 *   batch 3.. {RECV_MESSAGE}   after each non-NULL message (streams only;
 *            a unary call reads one more to see the end of the stream)
 * The loop polls the queue every CTL_POLL_MS so a signal can cancel the call
 * (grpc_call_cancel), then waits for every started tag before unref'ing the
 * call, shutting the queue down and draining it to GRPC_QUEUE_SHUTDOWN.
 *
 * Ownership: the request byte buffer is destroyed after batch 1 completes;
 * each received buffer right after unpacking; status details are copied into
 * a malloc'd string; metadata arrays and slices are released before return.
 */
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "pbgrpc.h"
#include "smtpsinkctl.h"
#include "xmalloc.h"

#define CTL_POLL_MS			100
#define CTL_KEEPALIVE_MS		20000
#define CTL_KEEPALIVE_TIMEOUT_MS	10000

enum { TAG_START = 1, TAG_STATUS, TAG_RECV };

struct ctl_conn {
	grpc_channel	*channel;
};

volatile sig_atomic_t ctl_interrupted;
static int ctl_verbose;

static void
ctl_grpc_log(gpr_log_func_args *a)
{
	if (ctl_verbose)
		fprintf(stderr, "smtpsinkctl: grpc: %s\n", a->message);
}

struct ctl_conn *
ctl_conn_new(const char *target, int verbose)
{
	struct ctl_conn			*c;
	grpc_channel_credentials	*creds;
	grpc_arg			 args[7];
	grpc_channel_args		 cargs;

	ctl_verbose = verbose;
	gpr_set_log_function(ctl_grpc_log);
	if (!verbose)
		gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
	grpc_init();

	memset(args, 0, sizeof(args));
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = CTL_MAX_RECV;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[1].value.integer = CTL_MAX_RECV;
	/* The sink is local or in a container: never go through http_proxy. */
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = GRPC_ARG_ENABLE_HTTP_PROXY;
	args[2].value.integer = 0;
	args[3].type = GRPC_ARG_STRING;
	args[3].key = GRPC_ARG_PRIMARY_USER_AGENT_STRING;
	args[3].value.string = "smtpsinkctl/" SMTPSINK_VERSION;
	/*
	 * A watch or wait may idle for long: pings find a server that vanished
	 * without a FIN. smtpsink permits pings every second, without strikes.
	 */
	args[4].type = GRPC_ARG_INTEGER;
	args[4].key = GRPC_ARG_KEEPALIVE_TIME_MS;
	args[4].value.integer = CTL_KEEPALIVE_MS;
	args[5].type = GRPC_ARG_INTEGER;
	args[5].key = GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
	args[5].value.integer = CTL_KEEPALIVE_TIMEOUT_MS;
	args[6].type = GRPC_ARG_INTEGER;
	args[6].key = GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA;
	args[6].value.integer = 0;
	cargs.num_args = sizeof(args) / sizeof(args[0]);
	cargs.args = args;

	c = xcalloc(1, sizeof(*c));
	creds = grpc_insecure_credentials_create();
	c->channel = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	return c;
}

void
ctl_conn_free(struct ctl_conn *c)
{
	if (c == NULL)
		return;
	grpc_channel_destroy(c->channel);
	free(c);
	grpc_shutdown();
}

static const char *const status_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
	"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE",
	"DATA_LOSS", "UNAUTHENTICATED",
};

const char *
ctl_status_name(int code)
{
	static char	buf[32];

	if (code >= 0 && (size_t)code < sizeof(status_names) / sizeof(status_names[0]))
		return status_names[code];
	snprintf(buf, sizeof(buf), "STATUS_%d", code);
	return buf;
}

void
ctl_status_clear(struct ctl_status *st)
{
	free(st->details);
	memset(st, 0, sizeof(*st));
}

static void
ctl_set_error(struct ctl_status *st, int code, const char *msg)
{
	st->code = code;
	free(st->details);
	st->details = xstrdup(msg);
}

/* Starts {RECV_MESSAGE}; 0 on success. */
static int
ctl_start_recv(grpc_call *call, grpc_byte_buffer **bb)
{
	grpc_op	op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = bb;
	return grpc_call_start_batch(call, &op, 1, (void *)(intptr_t)TAG_RECV,
	    NULL) == GRPC_CALL_OK ? 0 : -1;
}

int
ctl_rpc_call(struct ctl_conn *c, const char *method,
    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
    ProtobufCMessage **resp, ctl_msg_fn fn, void *arg, int64_t timeout_ms,
    struct ctl_status *st)
{
	grpc_completion_queue	*cq;
	grpc_call		*call;
	grpc_metadata_array	 md_initial, md_trailing;
	grpc_byte_buffer	*req_bb, *recv_bb = NULL;
	grpc_status_code	 code = GRPC_STATUS_UNKNOWN;
	grpc_slice		 details = grpc_empty_slice();
	grpc_op			 ops[5], sop;
	grpc_event		 ev;
	gpr_timespec		 deadline;
	ProtobufCMessage	*m, *first = NULL;
	int			 outstanding = 0, cancelled = 0, got_status = 0;
	int			 bad = 0;
	char			*d;

	memset(st, 0, sizeof(*st));
	if (resp != NULL)
		*resp = NULL;
	if (timeout_ms < 0)
		deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
	else
		deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
		    gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));

	cq = grpc_completion_queue_create_for_next(NULL);
	call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
	    cq, grpc_slice_from_static_string(method), NULL, deadline, NULL);
	grpc_metadata_array_init(&md_initial);
	grpc_metadata_array_init(&md_trailing);
	req_bb = pbgrpc_pack(req, protobuf_c_message_get_packed_size(req));

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = req_bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &md_initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv_bb;
	if (grpc_call_start_batch(call, ops, 5, (void *)(intptr_t)TAG_START,
	    NULL) != GRPC_CALL_OK) {
		ctl_set_error(st, GRPC_STATUS_INTERNAL, "cannot start the call");
		goto done;
	}
	outstanding++;

	memset(&sop, 0, sizeof(sop));
	sop.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	sop.data.recv_status_on_client.trailing_metadata = &md_trailing;
	sop.data.recv_status_on_client.status = &code;
	sop.data.recv_status_on_client.status_details = &details;
	if (grpc_call_start_batch(call, &sop, 1, (void *)(intptr_t)TAG_STATUS,
	    NULL) != GRPC_CALL_OK) {
		grpc_call_cancel(call, NULL);
		ctl_set_error(st, GRPC_STATUS_INTERNAL, "cannot start the call");
	} else
		outstanding++;

	while (outstanding > 0) {
		if (ctl_interrupted && !cancelled) {
			st->interrupted = 1;
			cancelled = 1;
			grpc_call_cancel(call, NULL);
		}
		ev = grpc_completion_queue_next(cq, gpr_time_add(
		    gpr_now(GPR_CLOCK_MONOTONIC),
		    gpr_time_from_millis(CTL_POLL_MS, GPR_TIMESPAN)), NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT)
			continue;
		if (ev.type != GRPC_OP_COMPLETE)
			break;	/* impossible: the queue is not shut down yet */
		outstanding--;
		switch ((intptr_t)ev.tag) {
		case TAG_STATUS:
			got_status = 1;
			break;
		case TAG_START:
			grpc_byte_buffer_destroy(req_bb);
			req_bb = NULL;
			/* FALLTHROUGH */
		case TAG_RECV:
			if (recv_bb == NULL)
				break;	/* end of stream, or the call failed */
			m = pbgrpc_unpack(resp_desc, recv_bb);
			grpc_byte_buffer_destroy(recv_bb);
			recv_bb = NULL;
			if (m == NULL) {
				bad = 1;
				if (!cancelled) {
					cancelled = 1;
					grpc_call_cancel(call, NULL);
				}
				break;
			}
			if (fn == NULL) {
				if (first == NULL)
					first = m;
				else
					protobuf_c_message_free_unpacked(m, NULL);
			} else {
				if (!cancelled && fn(m, arg) != 0) {
					st->stopped = 1;
					cancelled = 1;
					grpc_call_cancel(call, NULL);
				}
				protobuf_c_message_free_unpacked(m, NULL);
			}
			if (!cancelled && ctl_start_recv(call, &recv_bb) == 0)
				outstanding++;
			break;
		}
	}
	if (st->details == NULL) {
		if (!got_status)
			ctl_set_error(st, GRPC_STATUS_INTERNAL, "call did not end");
		else if (bad && !st->stopped)
			ctl_set_error(st, GRPC_STATUS_INTERNAL,
			    "cannot parse the server's response");
		else if (st->stopped)
			st->code = GRPC_STATUS_OK;
		else {
			st->code = code;
			d = grpc_slice_to_c_string(details);
			st->details = xstrdup(d);
			gpr_free(d);
			if (code == GRPC_STATUS_OK && fn == NULL && first == NULL)
				ctl_set_error(st, GRPC_STATUS_INTERNAL,
				    "no response message");
			if (code == GRPC_STATUS_DEADLINE_EXCEEDED)
				st->deadline = 1;
		}
	}
	if (st->code == GRPC_STATUS_OK && resp != NULL) {
		*resp = first;
		first = NULL;
	}

done:
	if (first != NULL)
		protobuf_c_message_free_unpacked(first, NULL);
	if (req_bb != NULL)
		grpc_byte_buffer_destroy(req_bb);
	if (recv_bb != NULL)
		grpc_byte_buffer_destroy(recv_bb);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&md_initial);
	grpc_metadata_array_destroy(&md_trailing);
	grpc_call_unref(call);
	grpc_completion_queue_shutdown(cq);
	do {
		ev = grpc_completion_queue_next(cq,
		    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	} while (ev.type != GRPC_QUEUE_SHUTDOWN);
	grpc_completion_queue_destroy(cq);
	return st->code;
}
