/*
 * control - the gRPC control API plumbing on gRPC's C core
 * (../shared/design/GRPC-C-CORE.md §2-§8, "model A").
 *
 * Threads: one CQ thread blocks in grpc_completion_queue_next() and only
 * forwards each (tag, ok) to the loop thread through the owner's inbox.
 * Everything else - every grpc_call_start_batch(), request_*call(),
 * shutdown_and_notify(), cancel_all_calls(), all call state - runs on the
 * loop thread, so no call needs a lock.
 *
 * Calls: a control_call is allocated when a request is posted (one posted
 * request per registered method plus one for unregistered methods, reposted
 * before any work is done on a new call). Its tags (op_new, op_send,
 * op_close) are embedded; `pending` counts those handed to gRPC and not yet
 * back, and the call is freed when it drops to 0. RECV_CLOSE_ON_SERVER is
 * armed first on every call, so a client that cancels or vanishes always
 * comes back through op_close (on_close lets the handler drop its waiter).
 * One send batch at a time: a status that must follow a message in flight is
 * deferred until that send completed.
 *
 * Shutdown: health NOT_SERVING, parked calls answered UNAVAILABLE,
 * grpc_server_shutdown_and_notify(), grpc_server_cancel_all_calls() after a
 * short grace (stalled streams), and once the shutdown tag came back AND no
 * call is left, grpc_completion_queue_shutdown(); the CQ thread sees
 * GRPC_QUEUE_SHUTDOWN, forwards a sentinel and exits; the sentinel runs
 * done() on the loop. control_free() joins and destroys.
 *
 * Memory (tests/integration/HTTP2_ABUSE.md): request headers at most
 * CONTROL_MAX_METADATA, streams per connection at most --max-waiters plus
 * CONTROL_STREAMS_SLACK (one client may park every wait), and a
 * resource quota of CONTROL_QUOTA_BASE plus one max message for the whole
 * transport (past it gRPC closes idle connections and cancels streams).
 * gRPC 1.51 cannot bound everything (CONTINUATION floods of small headers,
 * rapid reset, peers that never ACK SETTINGS): see that file. What its
 * threads free goes back to glibc's arenas, which keep it; a timer on the
 * loop calls malloc_trim() every CONTROL_TRIM_MS so the RSS comes back.
 */
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/event.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "config.h"
#include "control.h"
#include "control_call.h"
#include "inbox.h"
#include "log.h"
#include "pbgrpc.h"
#include "waiters.h"
#include "xmalloc.h"

#define CONTROL_GENERIC	      ((size_t)-1) /* midx of the unregistered-method request */
#define CONTROL_GRACE_MS      200	   /* before cancel_all_calls at shutdown */
#define CONTROL_METHODS_MAX   16
#define CONTROL_MAX_METADATA  8192		 /* request header bytes (gRPC's default) */
#define CONTROL_STREAMS_SLACK 100		 /* streams per connection beyond max waiters */
#define CONTROL_QUOTA_BASE    ((size_t)64 << 20) /* transport memory, plus one max message */
#define CONTROL_TRIM_MS	      2000		 /* malloc_trim() period */

TAILQ_HEAD(control_call_list, control_call);

struct control {
	struct control_env     env;
	struct event_base     *base;
	struct inbox	      *inbox;
	grpc_completion_queue *cq;
	grpc_server	      *gs;
	void		      *handles[CONTROL_METHODS_MAX];
	pthread_t	       thread;
	int		       thread_started;
	char		       addr[300];
	size_t		       max_message;
	int		       shutting_down;
	int		       server_down; /* shutdown tag came back */
	int		       cq_down;	    /* grpc_completion_queue_shutdown() called */
	int		       drained;	    /* GRPC_QUEUE_SHUTDOWN forwarded */
	struct control_op      op_shutdown; /* call == NULL */
	struct event	      *grace_ev;
	struct event	      *trim_ev;
	void (*done)(void *);
	void			*done_arg;
	struct control_call_list calls; /* posted requests and live calls */
	size_t			 ncalls;
	size_t			 nactive; /* client calls among them */

	/* Test hook only (control_test_new): batches go here, not to gRPC */
	control_test_observe_fn *test_observe;
	void			*test_arg;
	struct control_op      **test_ops; /* tags in flight, in order */
	size_t			 test_nops, test_cap;
};

static void control_request(struct control *, size_t);
static void control_call_free(struct control_call *);
static void control_maybe_cq_shutdown(struct control *);
static void control_test_batch(struct control_call *, const grpc_op *, size_t, struct control_op *);
static void control_local_batch(struct control_call *, const grpc_op *, size_t,
    struct control_op *);
static void control_dispatch(void *, int);
static void control_drained(void *, int);

const struct control_env *
control_env(const struct control *ctl)
{
	return &ctl->env;
}

int
control_serving(const struct control *ctl)
{
	return !ctl->shutting_down && ctl->env.serving(ctl->env.serving_arg);
}

int
control_stopping(const struct control *ctl)
{
	return ctl->shutting_down;
}

void
control_serving_changed(struct control *ctl)
{
	struct control_call *c, *next;

	for (c = TAILQ_FIRST(&ctl->calls); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->on_serving != NULL)
			c->on_serving(c);
	}
}

size_t
control_live_calls(const struct control *ctl)
{
	return ctl->nactive;
}

size_t
control_max_message(const struct control *ctl)
{
	return ctl->max_message;
}

const char *
control_address(const struct control *ctl)
{
	return ctl->addr;
}

/* Set while binding: gRPC's error blobs then go to debug (control_new reports). */
static volatile int control_binding;

/* gRPC's own log lines (any thread) as one line each through log.c. */
static void
control_grpc_log(gpr_log_func_args *a)
{
	char	    msg[1024];
	const char *file = a->file != NULL ? strrchr(a->file, '/') : NULL;
	size_t	    i;

	snprintf(msg, sizeof(msg), "%s", a->message != NULL ? a->message : "");
	for (i = 0; msg[i] != '\0'; i++) {
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = ' ';
		else if (msg[i] == '"')
			msg[i] = '\'';
	}
	file = file != NULL ? file + 1 : (a->file != NULL ? a->file : "?");
	switch (control_binding && a->severity == GPR_LOG_SEVERITY_ERROR ? GPR_LOG_SEVERITY_DEBUG :
									   a->severity) {
	case GPR_LOG_SEVERITY_ERROR:
		log_warnx("grpc error src=%s:%d msg=\"%s\"", file, a->line, msg);
		break;
	case GPR_LOG_SEVERITY_INFO:
		log_info("grpc info src=%s:%d msg=\"%s\"", file, a->line, msg);
		break;
	default:
		log_debug("grpc debug src=%s:%d msg=\"%s\"", file, a->line, msg);
		break;
	}
}

/* The CQ thread: forwards, nothing else. */

static void *
control_cq_thread(void *arg)
{
	struct control *ctl = arg;
	grpc_event	ev;

	for (;;) {
		ev = grpc_completion_queue_next(ctl->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN) {
			inbox_post(ctl->inbox, control_drained, ctl, 0);
			return NULL;
		}
		if (ev.type == GRPC_OP_COMPLETE)
			inbox_post(ctl->inbox, control_dispatch, ev.tag, ev.success);
	}
}

static void
control_server_down(struct control *ctl)
{
	ctl->server_down = 1;
	log_debug("grpc server shutdown complete calls=%zu", ctl->ncalls);
	control_maybe_cq_shutdown(ctl);
}

/* Loop thread: one completed op. */
static void
control_dispatch(void *arg, int ok)
{
	struct control_op   *op = arg;
	struct control_call *c = op->call;

	if (c == NULL) { /* the server's shutdown tag */
		control_server_down(
		    (struct control *)((char *)op - offsetof(struct control, op_shutdown)));
		return;
	}
	c->pending--;
	op->done(c, ok);
	if (c->pending == 0)
		control_call_free(c);
}

static void
control_drained(void *arg, int ok)
{
	struct control *ctl = arg;

	ctl->drained = 1;
	if (ctl->grace_ev != NULL) {
		event_free(ctl->grace_ev);
		ctl->grace_ev = NULL;
	}
	log_info("grpc stopped");
	if (ctl->done != NULL)
		ctl->done(ctl->done_arg);
}

static void
control_maybe_cq_shutdown(struct control *ctl)
{
	if (ctl->server_down && !ctl->cq_down && ctl->ncalls == 0) {
		ctl->cq_down = 1;
		if (ctl->cq == NULL) /* local calls only: nothing to drain */
			inbox_post(ctl->inbox, control_drained, ctl, 1);
		else
			grpc_completion_queue_shutdown(ctl->cq);
	}
}

/* Starts a batch; counts the tag only when gRPC accepted it. */
static int
control_batch(struct control_call *c, const grpc_op *ops, size_t n, struct control_op *op)
{
	grpc_call_error e;

	if (c->local) {
		control_local_batch(c, ops, n, op);
		c->pending++;
		return 0;
	}
	if (c->ctl->test_observe != NULL) {
		control_test_batch(c, ops, n, op);
		c->pending++;
		return 0;
	}
	if (c->ctl->cq_down || c->call == NULL)
		return -1;
	e = grpc_call_start_batch(c->call, ops, n, op, NULL);
	if (e != GRPC_CALL_OK) {
		log_warnx("grpc batch failed method=%s error=\"%s\"",
		    c->method != NULL ? c->method->path : "?", grpc_call_error_to_string(e));
		return -1;
	}
	c->pending++;
	return 0;
}

static void
control_op_init(grpc_op *op, grpc_op_type type)
{
	memset(op, 0, sizeof(*op));
	op->op = type;
}

/* Sends {[initial metadata], status}; the caller checked nothing is in flight. */
static void
control_send_status(struct control_call *c, grpc_status_code code, const char *msg)
{
	grpc_op	   ops[2];
	grpc_slice details;
	size_t	   n = 0;

	if (!c->md_sent)
		control_op_init(&ops[n++], GRPC_OP_SEND_INITIAL_METADATA);
	control_op_init(&ops[n], GRPC_OP_SEND_STATUS_FROM_SERVER);
	details = grpc_slice_from_copied_string(msg != NULL ? msg : "");
	ops[n].data.send_status_from_server.status = code;
	ops[n].data.send_status_from_server.status_details = msg != NULL ? &details : NULL;
	n++;
	c->md_sent = 1;
	c->status_sent = 1;
	if (control_batch(c, ops, n, &c->op_send) == 0)
		c->sending = 1;
	grpc_slice_unref(details);
}

void
control_fail(struct control_call *c, grpc_status_code code, const char *fmt, ...)
{
	va_list ap;
	char	msg[1024];

	if (c->status_sent || c->defer_status || c->closed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (code != GRPC_STATUS_OK)
		log_debug("grpc fail method=%s code=%d msg=\"%s\"",
		    c->method != NULL ? c->method->path : "?", (int)code, msg);
	if (c->sending) {
		c->defer_status = 1;
		c->defer_code = code;
		c->defer_msg = xstrdup(msg);
		return;
	}
	control_send_status(c, code, msg);
}

void
control_reply(struct control_call *c, const ProtobufCMessage *m)
{
	grpc_op ops[3];
	size_t	n = 0, size;

	if (c->status_sent || c->closed || c->sending)
		return;
	size = protobuf_c_message_get_packed_size(m);
	if (size > c->ctl->max_message) {
		control_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
		    "response of %zu bytes exceeds the max message size %zu "
		    "(use a limit, a narrower filter, or --grpc-max-message-size)",
		    size, c->ctl->max_message);
		return;
	}
	c->send_bb = pbgrpc_pack(m, size);
	if (!c->md_sent)
		control_op_init(&ops[n++], GRPC_OP_SEND_INITIAL_METADATA);
	control_op_init(&ops[n], GRPC_OP_SEND_MESSAGE);
	ops[n++].data.send_message.send_message = c->send_bb;
	control_op_init(&ops[n], GRPC_OP_SEND_STATUS_FROM_SERVER);
	ops[n].data.send_status_from_server.status = GRPC_STATUS_OK;
	n++;
	c->md_sent = 1;
	c->status_sent = 1;
	if (control_batch(c, ops, n, &c->op_send) == 0)
		c->sending = 1;
	else {
		grpc_byte_buffer_destroy(c->send_bb);
		c->send_bb = NULL;
	}
}

int
control_send(struct control_call *c, const ProtobufCMessage *m)
{
	grpc_op ops[2];
	size_t	n = 0, size;

	if (c->status_sent || c->defer_status || c->closed || c->sending || c->ctl->cq_down)
		return -1;
	if (m != NULL) {
		size = protobuf_c_message_get_packed_size(m);
		if (size > c->ctl->max_message) {
			control_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
			    "message of %zu bytes exceeds the max message size %zu", size,
			    c->ctl->max_message);
			return -1;
		}
		c->send_bb = pbgrpc_pack(m, size);
	}
	if (!c->md_sent)
		control_op_init(&ops[n++], GRPC_OP_SEND_INITIAL_METADATA);
	if (m != NULL) {
		control_op_init(&ops[n], GRPC_OP_SEND_MESSAGE);
		ops[n++].data.send_message.send_message = c->send_bb;
	}
	if (n == 0)
		return -1;
	c->md_sent = 1;
	if (control_batch(c, ops, n, &c->op_send) == -1) {
		if (c->send_bb != NULL)
			grpc_byte_buffer_destroy(c->send_bb);
		c->send_bb = NULL;
		return -1;
	}
	c->sending = 1;
	return 0;
}

long long
control_remaining_ms(const struct control_call *c)
{
	gpr_timespec dl = c->method != NULL ? c->deadline : c->details.deadline;
	gpr_timespec now;
	long long    ms;

	if (dl.tv_sec == INT64_MAX)
		return -1;
	dl = gpr_convert_clock_type(dl, GPR_CLOCK_MONOTONIC);
	now = gpr_now(GPR_CLOCK_MONOTONIC);
	ms = gpr_time_to_millis(gpr_time_sub(dl, now));
	return ms < 0 ? 0 : ms;
}

/* op_send: a message and/or status went out (ok) or the call is dead (!ok). */
static void
control_sent(struct control_call *c, int ok)
{
	char *msg;

	c->sending = 0;
	if (c->send_bb != NULL) {
		grpc_byte_buffer_destroy(c->send_bb);
		c->send_bb = NULL;
	}
	if (c->defer_status) {
		c->defer_status = 0;
		msg = c->defer_msg;
		c->defer_msg = NULL;
		if (!c->closed)
			control_send_status(c, c->defer_code, msg);
		free(msg);
		return;
	}
	if (c->on_sent != NULL && !c->status_sent)
		c->on_sent(c, ok);
}

/* op_close: the call is over (client cancel, deadline, or our status went out). */
static void
control_closed(struct control_call *c, int ok)
{
	void (*fn)(struct control_call *);

	c->closed = 1;
	c->on_shutdown = NULL;
	if (c->cancelled && log_enabled(LOG_LEVEL_DEBUG))
		log_debug("grpc call cancelled method=%s",
		    c->method != NULL ? c->method->path : "?");
	if ((fn = c->on_close) != NULL) {
		c->on_close = NULL;
		fn(c);
	}
}

/*
 * A client call arrived (its request was reposted already): arms
 * RECV_CLOSE_ON_SERVER, unpacks the request and runs the handler.
 */
static void
control_call_begin(struct control_call *c)
{
	struct control	 *ctl = c->ctl;
	grpc_op		  op;
	ProtobufCMessage *req;
	char		  path[128];

	c->started = 1;
	ctl->nactive++;
	control_op_init(&op, GRPC_OP_RECV_CLOSE_ON_SERVER);
	op.data.recv_close_on_server.cancelled = &c->cancelled;
	if (control_batch(c, &op, 1, &c->op_close) == -1)
		return; /* freed when pending drops to 0: unref cancels it */

	if (ctl->shutting_down) {
		control_fail(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
		return;
	}
	if (c->method == NULL) {
		snprintf(path, sizeof(path), "%.*s", (int)GRPC_SLICE_LENGTH(c->details.method),
		    (const char *)GRPC_SLICE_START_PTR(c->details.method));
		control_fail(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method %s", path);
		return;
	}
	if (c->payload == NULL) {
		control_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "no request message");
		return;
	}
	req = pbgrpc_unpack(c->method->req, c->payload);
	grpc_byte_buffer_destroy(c->payload);
	c->payload = NULL;
	if (req == NULL) {
		control_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "request is not a valid %s",
		    c->method->req->name);
		return;
	}
	c->method->start(c, req);
	protobuf_c_message_free_unpacked(req, NULL);
}

static void
control_new_call(struct control_call *c, int ok)
{
	if (!ok) /* server shutting down: c->call is NULL */
		return;
	if (!c->ctl->shutting_down)
		control_request(c->ctl, c->midx);
	control_call_begin(c);
}

/* A call of method midx (or CONTROL_GENERIC), linked, with its tags set up. */
static struct control_call *
control_call_new(struct control *ctl, size_t midx)
{
	struct control_call *c = xcalloc(1, sizeof(*c));

	c->ctl = ctl;
	c->midx = midx;
	c->op_new.done = control_new_call;
	c->op_send.done = control_sent;
	c->op_close.done = control_closed;
	c->op_new.call = c->op_send.call = c->op_close.call = c;
	grpc_metadata_array_init(&c->md);
	if (midx == CONTROL_GENERIC)
		grpc_call_details_init(&c->details);
	else
		c->method = &ctl->env.methods[midx];
	TAILQ_INSERT_TAIL(&ctl->calls, c, entry);
	ctl->ncalls++;
	return c;
}

/* Posts one request for method midx (or the unregistered-method catch-all). */
static void
control_request(struct control *ctl, size_t midx)
{
	struct control_call *c = control_call_new(ctl, midx);
	grpc_call_error	     e;

	if (midx == CONTROL_GENERIC) {
		e = grpc_server_request_call(ctl->gs, &c->call, &c->details, &c->md, ctl->cq,
		    ctl->cq, &c->op_new);
	} else {
		e = grpc_server_request_registered_call(ctl->gs, ctl->handles[midx], &c->call,
		    &c->deadline, &c->md, &c->payload, ctl->cq, ctl->cq, &c->op_new);
	}
	if (e != GRPC_CALL_OK) {
		log_warnx("grpc request failed error=\"%s\"", grpc_call_error_to_string(e));
		control_call_free(c);
		return;
	}
	c->pending = 1;
}

static void
control_call_free(struct control_call *c)
{
	struct control *ctl = c->ctl;

	if (ctl->test_observe != NULL)
		ctl->test_observe(ctl->test_arg, c, NULL, 0);
	TAILQ_REMOVE(&ctl->calls, c, entry);
	ctl->ncalls--;
	if (c->started)
		ctl->nactive--;
	if (c->waiter != NULL)
		waiters_cancel(c->waiter);
	match_filter_free(&c->filter);
	free(c->defer_msg);
	grpc_metadata_array_destroy(&c->md);
	if (c->midx == CONTROL_GENERIC)
		grpc_call_details_destroy(&c->details);
	if (c->payload != NULL)
		grpc_byte_buffer_destroy(c->payload);
	if (c->send_bb != NULL)
		grpc_byte_buffer_destroy(c->send_bb);
	if (c->call != NULL)
		grpc_call_unref(c->call);
	free(c);
	control_maybe_cq_shutdown(ctl);
}

/* "host:port" from the configured address and the bound port. */
static void
control_format_addr(char *dst, size_t dstsz, const char *addr, int port)
{
	const char *colon;

	if (strncmp(addr, "unix:", 5) == 0 || (colon = strrchr(addr, ':')) == NULL) {
		snprintf(dst, dstsz, "%s", addr);
		return;
	}
	snprintf(dst, dstsz, "%.*s:%d", (int)(colon - addr), addr, port);
}

/*
 * gRPC takes "host:99999" and binds port 99999 % 65536: check the range
 * first. unix: paths and forms without a port are left to gRPC.
 */
static int
control_port_ok(const char *addr)
{
	const char *colon, *p;

	if (strncmp(addr, "unix:", 5) == 0 || (colon = strrchr(addr, ':')) == NULL ||
	    (strchr(addr, ']') != NULL && colon < strchr(addr, ']')))
		return 1;
	p = colon + 1;
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5)
		return 0;
	return strtoul(p, NULL, 10) <= 65535;
}

/*
 * gRPC unlinks and re-binds a unix socket path even when another live server
 * listens there (a silent takeover): refuse if something accepts on it.
 */
static int
control_unix_in_use(const char *addr)
{
	struct sockaddr_un sun;
	int		   fd, rc;

	if (strncmp(addr, "unix:", 5) != 0 || strlen(addr + 5) >= sizeof(sun.sun_path))
		return 0;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, addr + 5, strlen(addr + 5));
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return 0;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return rc == 0;
}

static void
control_set_int_arg(grpc_arg *a, const char *key, int value)
{
	a->type = GRPC_ARG_INTEGER;
	a->key = (char *)key;
	a->value.integer = value;
}

/*
 * Concurrent streams per connection: one client may legitimately park every
 * allowed wait on one channel and still make calls next to them. 0 (no
 * limit on waiters) leaves gRPC's default, no limit.
 */
static int
control_max_streams(const struct config *cfg)
{
	if (cfg->waiters_max == 0 || cfg->waiters_max > INT_MAX - CONTROL_STREAMS_SLACK)
		return INT_MAX;
	return (int)cfg->waiters_max + CONTROL_STREAMS_SLACK;
}

static void
control_set_quota_arg(grpc_arg *a, grpc_resource_quota *quota)
{
	a->type = GRPC_ARG_POINTER;
	a->key = (char *)GRPC_ARG_RESOURCE_QUOTA;
	a->value.pointer.p = quota;
	a->value.pointer.vtable = grpc_resource_quota_arg_vtable();
}

/*
 * gRPC's threads allocate in glibc arenas of their own; what a flood made
 * them allocate stays in the process after it was freed. malloc_trim() hands
 * the free pages back: tens of microseconds when there is nothing to give,
 * tens of milliseconds once after a flood of GiBs.
 */
static void
control_trim_cb(evutil_socket_t fd, short what, void *arg)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/*
 * Undoes control_new() before grpc_server_start(): no call was posted and
 * the CQ thread does not run, so the server is destroyed directly.
 */
static void
control_abandon(struct control *ctl)
{
	grpc_server_destroy(ctl->gs);
	grpc_completion_queue_shutdown(ctl->cq);
	while (grpc_completion_queue_next(ctl->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	    GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(ctl->cq);
	free(ctl);
	grpc_shutdown();
}

struct control *
control_new(const struct control_env *env, const char *addr, char *err, size_t errlen)
{
	struct control	    *ctl;
	grpc_arg	     args[11];
	grpc_channel_args    cargs;
	grpc_resource_quota *quota;
	struct timeval	     trim_tv = { CONTROL_TRIM_MS / 1000, CONTROL_TRIM_MS % 1000 * 1000 };
	grpc_server_credentials *creds;
	size_t			 i, maxmsg = env->cfg->grpc_max_message;
	int			 port, n = 0, max = maxmsg > INT_MAX ? INT_MAX : (int)maxmsg;

	if (env->nmethods > CONTROL_METHODS_MAX) {
		snprintf(err, errlen, "gRPC: %zu methods, at most %d", env->nmethods,
		    CONTROL_METHODS_MAX);
		return NULL;
	}
	if (!control_port_ok(addr)) {
		snprintf(err, errlen,
		    "gRPC: bad listen address \"%s\" (want host:port with port "
		    "0-65535, or unix:/path)",
		    addr);
		return NULL;
	}
	if (control_unix_in_use(addr)) {
		snprintf(err, errlen,
		    "gRPC: cannot listen on %s (another server is listening there)", addr);
		return NULL;
	}
	gpr_set_log_function(control_grpc_log);
	grpc_init();
	if (getenv("GRPC_VERBOSITY") == NULL)
		gpr_set_log_verbosity(
		    log_enabled(LOG_LEVEL_DEBUG) ? GPR_LOG_SEVERITY_INFO : GPR_LOG_SEVERITY_ERROR);

	ctl = xcalloc(1, sizeof(*ctl));
	ctl->env = *env;
	ctl->base = env->base;
	ctl->inbox = env->inbox;
	ctl->max_message = (size_t)max;
	TAILQ_INIT(&ctl->calls);
	ctl->op_shutdown.call = NULL;
	ctl->cq = grpc_completion_queue_create_for_next(NULL);

	control_set_int_arg(&args[n++], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, max);
	control_set_int_arg(&args[n++], GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, max);
	/* A second instance on the same port must fail, not share it. */
	control_set_int_arg(&args[n++], GRPC_ARG_ALLOW_REUSEPORT, 0);
	/* Clients that ping often (keepalive_time_ms=1000) must not kill parked calls. */
	control_set_int_arg(&args[n++], GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
	    1000);
	control_set_int_arg(&args[n++], GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
	control_set_int_arg(&args[n++], GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
	/* Detect peers that vanished without a FIN while a wait is parked. */
	control_set_int_arg(&args[n++], GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
	control_set_int_arg(&args[n++], GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
	/* Hostile peers (tests/integration/HTTP2_ABUSE.md). */
	control_set_int_arg(&args[n++], GRPC_ARG_MAX_METADATA_SIZE, CONTROL_MAX_METADATA);
	control_set_int_arg(&args[n++], GRPC_ARG_MAX_CONCURRENT_STREAMS,
	    control_max_streams(env->cfg));
	quota = grpc_resource_quota_create("smtpsink-grpc");
	grpc_resource_quota_resize(quota, CONTROL_QUOTA_BASE + (size_t)max);
	control_set_quota_arg(&args[n++], quota);
	cargs.num_args = (size_t)n;
	cargs.args = args;
	ctl->gs = grpc_server_create(&cargs, NULL);
	grpc_resource_quota_unref(quota); /* the server holds its own */
	for (i = 0; i < env->nmethods; i++) {
		ctl->handles[i] = grpc_server_register_method(ctl->gs, env->methods[i].path, NULL,
		    GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
		if (ctl->handles[i] == NULL) {
			snprintf(err, errlen, "gRPC: cannot register method %s",
			    env->methods[i].path);
			control_abandon(ctl);
			return NULL;
		}
	}
	grpc_server_register_completion_queue(ctl->gs, ctl->cq, NULL);
	creds = grpc_insecure_server_credentials_create();
	control_binding = 1; /* a failure is reported as one clear line below */
	port = grpc_server_add_http2_port(ctl->gs, addr, creds);
	control_binding = 0;
	grpc_server_credentials_release(creds);
	if (port == 0) {
		snprintf(err, errlen,
		    "gRPC: cannot listen on %s (address in use or not a valid "
		    "host:port)",
		    addr);
		control_abandon(ctl);
		return NULL;
	}
	/* The CQ thread before the start, so that a failure leaves nothing started */
	if (pthread_create(&ctl->thread, NULL, control_cq_thread, ctl) != 0) {
		snprintf(err, errlen, "gRPC: cannot start the completion queue thread");
		control_abandon(ctl);
		return NULL;
	}
	ctl->thread_started = 1;
	control_format_addr(ctl->addr, sizeof(ctl->addr), addr, port);
	grpc_server_start(ctl->gs);
	for (i = 0; i < env->nmethods; i++)
		control_request(ctl, i);
	control_request(ctl, CONTROL_GENERIC);
	ctl->trim_ev = event_new(ctl->base, -1, EV_PERSIST, control_trim_cb, NULL);
	event_add(ctl->trim_ev, &trim_tv);
	log_info("grpc listening addr=%s max_message=%zu", ctl->addr, ctl->max_message);
	return ctl;
}

static void
control_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *ctl = arg;

	if (!ctl->server_down) {
		log_info("grpc cancelling remaining calls=%zu", ctl->nactive);
		grpc_server_cancel_all_calls(ctl->gs);
	}
}

/* Tells each call that the server is stopping (parked calls answer UNAVAILABLE). */
static void
control_shutdown_calls(struct control *ctl)
{
	struct control_call *c, *next;
	void (*fn)(struct control_call *);

	for (c = TAILQ_FIRST(&ctl->calls); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if ((fn = c->on_shutdown) != NULL) {
			c->on_shutdown = NULL;
			fn(c);
		}
	}
}

void
control_shutdown(struct control *ctl, void (*done)(void *), void *arg)
{
	struct timeval tv = { 0, CONTROL_GRACE_MS * 1000 };

	ctl->done = done;
	ctl->done_arg = arg;
	if (ctl->shutting_down) {
		if (ctl->drained && done != NULL)
			done(arg);
		return;
	}
	ctl->shutting_down = 1;
	log_info("grpc shutdown calls=%zu", ctl->nactive);
	if (ctl->trim_ev != NULL)
		event_del(ctl->trim_ev);
	control_shutdown_calls(ctl);
	if (ctl->gs == NULL) { /* local calls only */
		ctl->server_down = 1;
		control_maybe_cq_shutdown(ctl);
		return;
	}
	grpc_server_shutdown_and_notify(ctl->gs, ctl->cq, &ctl->op_shutdown);
	ctl->grace_ev = evtimer_new(ctl->base, control_grace_cb, ctl);
	evtimer_add(ctl->grace_ev, &tv);
}

void
control_free(struct control *ctl)
{
	if (ctl == NULL)
		return;
	if (!ctl->drained) {
		/* Not shut down through the loop (startup error, embedding): do it here. */
		if (!ctl->shutting_down)
			control_shutdown(ctl, NULL, NULL);
		ctl->done = NULL;
		while (!ctl->drained)
			if (event_base_loop(ctl->base, EVLOOP_ONCE) == 1)
				usleep(1000); /* nothing pending yet: the CQ thread will post */
	}
	if (ctl->thread_started)
		pthread_join(ctl->thread, NULL);
	if (ctl->gs != NULL)
		grpc_server_destroy(ctl->gs);
	if (ctl->cq != NULL)
		grpc_completion_queue_destroy(ctl->cq);
	if (ctl->grace_ev != NULL)
		event_free(ctl->grace_ev);
	if (ctl->trim_ev != NULL)
		event_free(ctl->trim_ev);
	free(ctl);
	grpc_shutdown();
}

/* ----- local calls (control.h) ----- */

/* Posted through the inbox: a completion as gRPC would deliver it, later. */
static void
control_local_complete(struct control_call *c, struct control_op *op, int ok)
{
	if (op == &c->op_close) {
		if (c->local_closed)
			return;
		c->local_closed = 1;
	}
	inbox_post(c->ctl->inbox, control_dispatch, op, ok);
}

/*
 * A local call's batch: RECV_CLOSE_ON_SERVER completes once the status went
 * (or the caller cancelled); a streamed message completes when the caller
 * consumed it (control_local_sent); the rest at once.
 */
static void
control_local_batch(struct control_call *c, const grpc_op *ops, size_t n, struct control_op *op)
{
	grpc_byte_buffer_reader rd;
	grpc_slice		sl = grpc_empty_slice();
	const grpc_op	       *status = NULL;
	control_local_fn       *fn = c->local_fn;
	char		       *msg = NULL;
	int			has_msg = 0;
	size_t			i;

	for (i = 0; i < n; i++) {
		if (ops[i].op == GRPC_OP_RECV_CLOSE_ON_SERVER) {
			if (c->local_fn == NULL) /* cancelled before the handler ran */
				control_local_complete(c, op, 1);
			return;
		}
		if (ops[i].op == GRPC_OP_SEND_STATUS_FROM_SERVER)
			status = &ops[i];
		if (ops[i].op == GRPC_OP_SEND_MESSAGE &&
		    grpc_byte_buffer_reader_init(&rd, ops[i].data.send_message.send_message)) {
			sl = grpc_byte_buffer_reader_readall(&rd);
			grpc_byte_buffer_reader_destroy(&rd);
			has_msg = 1;
		}
	}
	if (status != NULL) {
		c->local_fn = NULL;
		if (status->data.send_status_from_server.status_details != NULL)
			msg = grpc_slice_to_c_string(
			    *status->data.send_status_from_server.status_details);
		if (fn != NULL)
			fn(c->local_arg, 1, status->data.send_status_from_server.status, msg,
			    GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl));
		gpr_free(msg);
		control_local_complete(c, op, 1);
		control_local_complete(c, &c->op_close, 1);
	} else if (has_msg && fn != NULL) {
		c->local_held = op;
		fn(c->local_arg, 0, GRPC_STATUS_OK, NULL, GRPC_SLICE_START_PTR(sl),
		    GRPC_SLICE_LENGTH(sl));
	} else
		control_local_complete(c, op, fn != NULL);
	grpc_slice_unref(sl);
}

struct control_call *
control_local_call(struct control *ctl, const char *path, const ProtobufCMessage *req,
    control_local_fn *fn, void *arg)
{
	struct control_call *c;
	size_t		     i;

	for (i = 0; i < ctl->env.nmethods; i++)
		if (strcmp(ctl->env.methods[i].path, path) == 0)
			break;
	if (i == ctl->env.nmethods)
		return NULL;
	c = control_call_new(ctl, i);
	c->local = 1;
	c->local_fn = fn;
	c->local_arg = arg;
	c->deadline = gpr_inf_future(GPR_CLOCK_MONOTONIC);
	c->payload = pbgrpc_pack(req, protobuf_c_message_get_packed_size(req));
	control_call_begin(c);
	return c;
}

int
control_local_streaming(const struct control *ctl, const char *path)
{
	size_t i;

	for (i = 0; i < ctl->env.nmethods; i++)
		if (strcmp(ctl->env.methods[i].path, path) == 0)
			return ctl->env.methods[i].kind == CONTROL_SERVER_STREAM;
	return -1;
}

void
control_local_sent(struct control_call *c)
{
	struct control_op *op = c->local_held;

	if (op != NULL) {
		c->local_held = NULL;
		control_local_complete(c, op, 1);
	}
}

void
control_local_cancel(struct control_call *c)
{
	struct control_op *op = c->local_held;

	c->local_fn = NULL;
	c->local_held = NULL;
	if (op != NULL)
		control_local_complete(c, op, 0);
	if (!c->status_sent)
		c->cancelled = 1;
	control_local_complete(c, &c->op_close, 1);
}

struct control *
control_local_new(const struct control_env *env)
{
	struct control *ctl = xcalloc(1, sizeof(*ctl));

	grpc_init(); /* byte buffers and slices */
	ctl->env = *env;
	ctl->base = env->base;
	ctl->inbox = env->inbox;
	ctl->max_message = env->cfg->grpc_max_message > INT_MAX ? INT_MAX :
								  env->cfg->grpc_max_message;
	TAILQ_INIT(&ctl->calls);
	return ctl;
}

/* ----- test hook (tests/fuzz/fuzz_control.c; see control_call.h) ----- */

/* Test mode's control_batch(): shows the batch, queues its tag. */
static void
control_test_batch(struct control_call *c, const grpc_op *ops, size_t n, struct control_op *op)
{
	struct control *ctl = c->ctl;
	size_t		i;

	for (i = 0; i < ctl->test_nops; i++)
		if (ctl->test_ops[i] == op)
			fatalx("control test: a tag was handed over twice (method=%s)",
			    c->method != NULL ? c->method->path : "?");
	ctl->test_observe(ctl->test_arg, c, ops, n);
	if (ctl->test_nops == ctl->test_cap) {
		ctl->test_cap = ctl->test_cap ? ctl->test_cap * 2 : 16;
		ctl->test_ops = xreallocarray(ctl->test_ops, ctl->test_cap, sizeof(*ctl->test_ops));
	}
	ctl->test_ops[ctl->test_nops++] = op;
}

struct control *
control_test_new(const struct control_env *env, size_t max_message,
    control_test_observe_fn *observe, void *arg)
{
	struct control *ctl = xcalloc(1, sizeof(*ctl));

	ctl->env = *env;
	ctl->base = env->base;
	ctl->inbox = env->inbox;
	ctl->max_message = max_message;
	TAILQ_INIT(&ctl->calls);
	ctl->test_observe = observe;
	ctl->test_arg = arg;
	return ctl;
}

struct control_call *
control_test_call(struct control *ctl, size_t midx, const void *req, size_t len,
    long long deadline_ms)
{
	struct control_call *c;
	grpc_slice	     s;

	c = control_call_new(ctl, midx < ctl->env.nmethods ? midx : CONTROL_GENERIC);
	if (c->method == NULL) {
		grpc_slice_unref(c->details.method);
		c->details.method = grpc_slice_from_copied_buffer(req != NULL ? req : "",
		    req != NULL ? len : 0);
	} else if (req != NULL) {
		s = grpc_slice_from_copied_buffer(req, len);
		c->payload = grpc_raw_byte_buffer_create(&s, 1);
		grpc_slice_unref(s);
	}
	c->deadline = deadline_ms < 0 ? gpr_inf_future(GPR_CLOCK_MONOTONIC) :
					gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					    gpr_time_from_millis(deadline_ms, GPR_TIMESPAN));
	c->details.deadline = c->deadline;
	control_call_begin(c);
	return c;
}

/*
 * Completes the next tag in flight: a send as ok, the close only once its
 * call sent its status and nothing else of it is in flight (or cancel).
 * Returns 0 when no tag could complete.
 */
static int
control_test_next(struct control *ctl, int cancel)
{
	struct control_op   *op;
	struct control_call *c;
	size_t		     i, j;

	for (i = 0; i < ctl->test_nops; i++) {
		op = ctl->test_ops[i];
		c = op->call;
		if (op == &c->op_close && !cancel) {
			if (!c->status_sent || c->sending)
				continue;
			for (j = 0; j < ctl->test_nops; j++)
				if (j != i && ctl->test_ops[j]->call == c)
					break;
			if (j < ctl->test_nops)
				continue;
		}
		if (op == &c->op_close && cancel && !c->status_sent)
			c->cancelled = 1;
		memmove(&ctl->test_ops[i], &ctl->test_ops[i + 1],
		    (ctl->test_nops - i - 1) * sizeof(*ctl->test_ops));
		ctl->test_nops--;
		control_dispatch(op, !cancel || op == &c->op_close);
		return 1;
	}
	return 0;
}

size_t
control_test_step(struct control *ctl, size_t max)
{
	size_t n = 0;

	while (n < max && control_test_next(ctl, 0))
		n++;
	return n;
}

void
control_test_shutdown(struct control *ctl)
{
	ctl->shutting_down = 1;
	control_shutdown_calls(ctl);
}

void
control_test_free(struct control *ctl)
{
	if (ctl == NULL)
		return;
	while (control_test_next(ctl, 0) || control_test_next(ctl, 1))
		;
	if (ctl->ncalls != 0)
		fatalx("control test: %zu calls left", ctl->ncalls);
	free(ctl->test_ops);
	free(ctl);
}
