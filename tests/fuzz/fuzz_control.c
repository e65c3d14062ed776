/*
 * fuzz_control - the control API's request handlers (src/control_rpc.c) on
 * arbitrary request bytes, through control.c's test hook (control_call.h):
 * the same unpacking, dispatch and call life cycle as a gRPC call, with
 * every batch observed here instead of sent, on a struct server's store,
 * waiters and rules (not started: no sockets, no gRPC server).
 *
 * Input: a settings byte (bit 0: a 300-byte max message size, so replies hit
 * RESOURCE_EXHAUSTED), then calls, each: method byte (index into the method
 * table; past its end an unregistered method named by the request bytes),
 * flags byte, 2-byte little-endian length, that many request bytes.
 * Flags: 0x01 no request message, 0x02 a deadline of (flags >> 5) * 20 ms,
 * 0x04 health flips (NOT_SERVING / SERVING) after the call, 0x08 a message
 * is stored after the call (waits and watches wake up), 0x10 the control
 * API starts shutting down after the call, 0x20 is part of the deadline.
 * Three messages are stored first. After each call the tags in flight are
 * completed and the loop runs; at the end the calls left are cancelled.
 *
 * Checked, per call: initial metadata at most once and not after the
 * status; the status exactly once (a call freed without one must have been
 * cancelled); no message after the status; at most one message on a unary
 * method; status codes 0-16 with details when not OK; messages no larger
 * than the max message size; a tag never in flight twice (control.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>

#include "config.h"
#include "control.h"
#include "control_call.h"
#include "control_rpc.h"
#include "fixture.h"
#include "fuzz.h"
#include "log.h"
#include "server.h"
#include "smtp_session.h"
#include "store.h"
#include "waiters.h"

#define CALLS_MAX 64

struct seen {
	const struct control_call *c;
	int			   md, status, msgs;
};

struct h {
	struct seen calls[CALLS_MAX];
	size_t	    max_message;
	int	    serving;
	unsigned    stored;
};

static struct seen *
seen_get(struct h *h, const struct control_call *c)
{
	size_t i, fresh = CALLS_MAX;

	for (i = 0; i < CALLS_MAX; i++) {
		if (h->calls[i].c == c)
			return &h->calls[i];
		if (h->calls[i].c == NULL && fresh == CALLS_MAX)
			fresh = i;
	}
	if (fresh == CALLS_MAX)
		fuzz_fail("control: more than %d calls alive", CALLS_MAX);
	memset(&h->calls[fresh], 0, sizeof(h->calls[fresh]));
	h->calls[fresh].c = c;
	return &h->calls[fresh];
}

static void
observe(void *arg, const struct control_call *c, const grpc_op *ops, size_t n)
{
	struct h    *h = arg;
	struct seen *s = seen_get(h, c);
	const char  *path = c->method != NULL ? c->method->path : "(unregistered)";
	size_t	     i, len;

	if (ops == NULL) { /* freed */
		if (!s->status && !c->cancelled)
			fuzz_fail("control: %s freed without a status", path);
		s->c = NULL;
		return;
	}
	for (i = 0; i < n; i++) {
		switch (ops[i].op) {
		case GRPC_OP_SEND_INITIAL_METADATA:
			if (s->md || s->status)
				fuzz_fail("control: %s: initial metadata sent again", path);
			s->md = 1;
			break;
		case GRPC_OP_SEND_MESSAGE:
			if (!s->md || s->status)
				fuzz_fail("control: %s: message %s", path,
				    s->status ? "after the status" : "before the metadata");
			len = grpc_byte_buffer_length(ops[i].data.send_message.send_message);
			if (len > h->max_message)
				fuzz_fail("control: %s: %zu-byte message, max %zu", path, len,
				    h->max_message);
			if (++s->msgs > 1 && c->method != NULL && c->method->kind == CONTROL_UNARY)
				fuzz_fail("control: %s: unary call sent %d messages", path,
				    s->msgs);
			break;
		case GRPC_OP_SEND_STATUS_FROM_SERVER:
			if (!s->md || s->status)
				fuzz_fail("control: %s: status %s", path,
				    s->status ? "sent twice" : "before the metadata");
			if ((int)ops[i].data.send_status_from_server.status < 0 ||
			    ops[i].data.send_status_from_server.status > 16)
				fuzz_fail("control: %s: status code %d", path,
				    (int)ops[i].data.send_status_from_server.status);
			if (ops[i].data.send_status_from_server.status != GRPC_STATUS_OK &&
			    ops[i].data.send_status_from_server.status_details == NULL)
				fuzz_fail("control: %s: status %d without details", path,
				    (int)ops[i].data.send_status_from_server.status);
			s->status = 1;
			break;
		case GRPC_OP_RECV_CLOSE_ON_SERVER:
			break;
		default:
			fuzz_fail("control: %s: unexpected op %d", path, (int)ops[i].op);
		}
	}
}

static int
serving(void *arg)
{
	return ((struct h *)arg)->serving;
}

static void
store_one(struct server *srv, struct h *h)
{
	static const char *const rcpts[] = { "b@example.com", "c@example.org", NULL };
	static const char *const msgs[] = {
		"From: A <a@example.com>\r\nTo: b@example.com\r\nSubject: hello\r\n\r\n"
		"body one\r\n",
		"From: c@example.org\r\nTo: d@example.org, e@example.net\r\nSubject: "
		"=?UTF-8?B?w6k=?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
		"--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n--b\r\nContent-Type: "
		"image/png\r\nContent-Disposition: attachment; filename=p.png\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n",
		"Subject: third\r\n\r\n\r\n",
	};
	const char *raw = msgs[h->stored % 3];

	store_put(server_store(srv),
	    fixture_message_new(raw, strlen(raw), h->stored % 2 ? "a@example.com" : "", rcpts));
	waiters_kick(server_waiters(srv));
	h->stored++;
}

static void
settle(struct control *ctl, struct event_base *base)
{
	int i;

	for (i = 0; i < 4; i++) {
		control_test_step(ctl, 256);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	control_test_step(ctl, 256);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(LOG_FORMAT_TEXT, getenv("FUZZ_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	grpc_init(); /* slices, byte buffers, clocks; never shut down */
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in	   in = { data, size };
	struct config	   cfg;
	struct event_base *base;
	struct server	  *srv;
	struct control_env env;
	struct control	  *ctl;
	struct h	   h;
	char		   ext[SMTP_EXT_LINE_MAX], *req;
	unsigned	   settings = fuzz_byte(&in), m, f, ncalls = 0;
	size_t		   len, got;

	memset(&h, 0, sizeof(h));
	h.serving = 1;
	h.max_message = settings & 1 ? 300 : 64 * 1024 * 1024;
	config_defaults(&cfg);
	base = event_base_new();
	srv = server_new(&cfg, base);
	smtp_session_ext_line(&cfg, ext, sizeof(ext));
	memset(&env, 0, sizeof(env));
	env.cfg = &cfg;
	env.base = base;
	env.inbox = server_inbox(srv);
	env.store = server_store(srv);
	env.waiters = server_waiters(srv);
	env.rules = server_rules(srv);
	env.stats = server_stats(srv);
	env.smtp_ext_line = ext;
	env.serving = serving;
	env.serving_arg = &h;
	env.methods = control_rpc_methods(&env.nmethods);
	ctl = control_test_new(&env, h.max_message, observe, &h);
	while (h.stored < 3)
		store_one(srv, &h);

	while (in.len > 0 && ncalls++ < CALLS_MAX / 2) {
		m = fuzz_byte(&in);
		f = fuzz_byte(&in);
		len = fuzz_byte(&in);
		len |= (size_t)fuzz_byte(&in) << 8;
		req = fuzz_take(&in, len, &got);
		control_test_call(ctl, m, f & 0x01 ? NULL : req, got,
		    f & 0x02 ? (long long)(f >> 5) * 20 : -1);
		free(req);
		settle(ctl, base);
		if (f & 0x04) {
			h.serving = !h.serving;
			control_serving_changed(ctl);
		}
		if (f & 0x08)
			store_one(srv, &h);
		if (f & 0x10)
			control_test_shutdown(ctl);
		settle(ctl, base);
	}
	control_test_free(ctl);
	server_free(srv);
	event_base_free(base);
	config_free(&cfg);
	return 0;
}
