/*
 * test_control - the control API handlers in-process: an embedded sink
 * (smtpsink_start with gRPC on 127.0.0.1:0) driven from the test thread by
 * ctl_client (smtpsinkctl's client on gRPC's C core), mail sent over a
 * real SMTP socket. Covers the
 * dispatcher (unpack, unknown method, status details) and each handler's
 * contract; the Python suites cover the same against the daemon.
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <grpc/grpc.h>

#include "grpc/health/v1/health.pb-c.h"
#include "smtpsink/v1/smtpsink.pb-c.h"
#include "smtpsink/sink.h"
#include "ctl_client.h"

static struct smtpsink	 *sink;
static struct ctl_client *client;

/* --- calls through ctl_client ------------------------------------------------ */

/* Next message of the response stream, or NULL at its end; it must parse. */
static ProtobufCMessage *
crecv(struct ctl_client_call *cc, const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m;

	assert_int_not_equal(ctl_client_call_recv(cc, d, &m), -1);
	return m;
}

/* Waits for the status and frees the call. */
static int
cend(struct ctl_client_call *cc)
{
	struct ctl_client_status st;
	int			 code;

	code = ctl_client_call_end(cc, &st);
	ctl_client_status_clear(&st);
	return code;
}

/* One unary call; *resp (may be NULL) gets the answer when status is OK. */
static int
unary(const char *method, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
    ProtobufCMessage **resp, char *text, size_t textlen)
{
	struct ctl_client_status st;
	ProtobufCMessage	*m;
	int			 code;

	code = ctl_client_unary(client, method, req, d, &m, 10000, &st);
	if (text != NULL)
		snprintf(text, textlen, "%s", st.details != NULL ? st.details : "");
	if (resp != NULL)
		*resp = m;
	else if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
	ctl_client_status_clear(&st);
	return code;
}

/* --- SMTP ---------------------------------------------------------------------- */

/* Reads until a line starting with want (e.g. "354", "250 2.0.0"); returns its rest. */
static void
smtp_expect(int fd, char *buf, size_t bufsz, size_t *len, const char *want, char *line,
    size_t linesz)
{
	char   *p, *nl;
	ssize_t r;

	for (;;) {
		for (p = buf; (nl = memchr(p, '\n', buf + *len - p)) != NULL; p = nl + 1) {
			if (strncmp(p, want, strlen(want)) == 0) {
				snprintf(line, linesz, "%.*s", (int)(nl - p), p);
				*len -= (size_t)(nl + 1 - buf);
				memmove(buf, nl + 1, *len);
				return;
			}
		}
		assert_true(*len < bufsz - 1);
		r = read(fd, buf + *len, bufsz - 1 - *len);
		assert_true(r > 0);
		*len += (size_t)r;
	}
}

static uint64_t
smtp_send(const char *rcpt, const char *subject)
{
	struct sockaddr_in sin;
	char		   buf[8192], line[512], cmd[1024];
	size_t		   len = 0;
	const char	  *q;
	int		   fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)smtpsink_smtp_port(sink));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	snprintf(cmd, sizeof(cmd),
	    "EHLO unit.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<%s>\r\n"
	    "DATA\r\n",
	    rcpt);
	assert_int_equal(write(fd, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
	smtp_expect(fd, buf, sizeof(buf), &len, "354", line, sizeof(line));
	snprintf(cmd, sizeof(cmd),
	    "From: a@x.test\r\nTo: %s\r\nSubject: %s\r\n\r\nhello\r\n.\r\n"
	    "QUIT\r\n",
	    rcpt, subject);
	assert_int_equal(write(fd, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
	smtp_expect(fd, buf, sizeof(buf), &len, "250 2.0.0", line, sizeof(line));
	close(fd);
	assert_non_null(q = strstr(line, "queued as "));
	return strtoull(q + 10, NULL, 10);
}

/* --- tests ------------------------------------------------------------------- */

static void
test_server_info(void **state)
{
	Smtpsink__V1__GetServerInfoRequest req = SMTPSINK__V1__GET_SERVER_INFO_REQUEST__INIT;
	Smtpsink__V1__ServerInfo	  *info;
	size_t				   i;
	int				   size = 0, pipelining = 0;

	assert_int_equal(unary("/smtpsink.v1.Sink/GetServerInfo", &req.base,
			     &smtpsink__v1__server_info__descriptor, (ProtobufCMessage **)&info,
			     NULL, 0),
	    GRPC_STATUS_OK);
	assert_string_equal(info->grpc_address, smtpsink_grpc_address(sink));
	assert_int_equal(info->n_smtp_addresses, 1);
	assert_string_equal(info->smtp_addresses[0], smtpsink_smtp_address(sink));
	for (i = 0; i < info->n_extensions; i++) {
		if (strncmp(info->extensions[i], "SIZE ", 5) == 0)
			size = 1;
		if (strcmp(info->extensions[i], "PIPELINING") == 0)
			pipelining = 1;
		/* no entry is a bare number: "SIZE n" stays one entry */
		assert_true(info->extensions[i][strspn(info->extensions[i], "0123456789")] != '\0');
	}
	assert_true(size && pipelining);
	assert_non_null(info->counters);
	assert_int_equal(info->counters->grpc_calls, 1);
	assert_true(info->grpc_max_message_size > 0);
	protobuf_c_message_free_unpacked(&info->base, NULL);
}

static void
test_list_get_clear(void **state)
{
	Smtpsink__V1__ListMessagesRequest   lreq = SMTPSINK__V1__LIST_MESSAGES_REQUEST__INIT;
	Smtpsink__V1__Filter		    f = SMTPSINK__V1__FILTER__INIT;
	Smtpsink__V1__ListMessagesResponse *lr;
	Smtpsink__V1__GetMessageRequest	    greq = SMTPSINK__V1__GET_MESSAGE_REQUEST__INIT;
	Smtpsink__V1__Message		   *m;
	Smtpsink__V1__ClearRequest	    creq = SMTPSINK__V1__CLEAR_REQUEST__INIT;
	Smtpsink__V1__ClearResponse	   *cr;
	uint64_t			    a, b, c;
	char				    text[512];

	a = smtp_send("u1@list.test", "one");
	b = smtp_send("u2@list.test", "two");
	c = smtp_send("u3@other.test", "three");
	assert_true(a < b && b < c);

	f.rcpt_to = "*@LIST.test";
	lreq.filter = &f;
	assert_int_equal(unary("/smtpsink.v1.Sink/ListMessages", &lreq.base,
			     &smtpsink__v1__list_messages_response__descriptor,
			     (ProtobufCMessage **)&lr, NULL, 0),
	    GRPC_STATUS_OK);
	assert_int_equal(lr->n_messages, 2);
	assert_int_equal(lr->messages[0]->id, a);
	assert_int_equal(lr->messages[1]->id, b);
	assert_string_equal(lr->messages[1]->subject, "two");
	assert_int_equal(lr->messages[0]->raw.len, 0);
	assert_int_equal(lr->matched, 2);
	assert_true(lr->last_id >= c);
	protobuf_c_message_free_unpacked(&lr->base, NULL);

	lreq.limit = 1;
	lreq.include_raw = 1;
	assert_int_equal(unary("/smtpsink.v1.Sink/ListMessages", &lreq.base,
			     &smtpsink__v1__list_messages_response__descriptor,
			     (ProtobufCMessage **)&lr, NULL, 0),
	    GRPC_STATUS_OK);
	assert_int_equal(lr->n_messages, 1);
	assert_int_equal(lr->matched, 2);
	assert_int_equal(lr->messages[0]->raw.len, lr->messages[0]->size);
	protobuf_c_message_free_unpacked(&lr->base, NULL);

	greq.id = c;
	assert_int_equal(unary("/smtpsink.v1.Sink/GetMessage", &greq.base,
			     &smtpsink__v1__message__descriptor, (ProtobufCMessage **)&m, NULL, 0),
	    GRPC_STATUS_OK);
	assert_string_equal(m->rcpt_to[0], "u3@other.test");
	assert_string_equal(m->helo, "unit.test");
	protobuf_c_message_free_unpacked(&m->base, NULL);

	creq.filter = &f;
	assert_int_equal(unary("/smtpsink.v1.Sink/Clear", &creq.base,
			     &smtpsink__v1__clear_response__descriptor, (ProtobufCMessage **)&cr,
			     NULL, 0),
	    GRPC_STATUS_OK);
	assert_int_equal(cr->deleted, 2);
	protobuf_c_message_free_unpacked(&cr->base, NULL);

	greq.id = a;
	assert_int_equal(unary("/smtpsink.v1.Sink/GetMessage", &greq.base,
			     &smtpsink__v1__message__descriptor, NULL, text, sizeof(text)),
	    GRPC_STATUS_NOT_FOUND);
	assert_non_null(strstr(text, "not found"));

	f.rcpt_to = "[oops";
	assert_int_equal(unary("/smtpsink.v1.Sink/ListMessages", &lreq.base,
			     &smtpsink__v1__list_messages_response__descriptor, NULL, text,
			     sizeof(text)),
	    GRPC_STATUS_INVALID_ARGUMENT);
	assert_non_null(strstr(text, "rcpt_to"));
}

static void
test_wait(void **state)
{
	Smtpsink__V1__WaitForMessagesRequest req = SMTPSINK__V1__WAIT_FOR_MESSAGES_REQUEST__INIT;
	Smtpsink__V1__Filter		     f = SMTPSINK__V1__FILTER__INIT;
	Google__Protobuf__Duration	     d = GOOGLE__PROTOBUF__DURATION__INIT;
	Smtpsink__V1__ListMessagesResponse  *lr;
	struct ctl_client_call		    *cc;
	char				     text[512];
	uint64_t			     id;

	f.rcpt_to = "*@wait.test";
	req.filter = &f;
	req.count = 2;
	req.timeout = &d;
	d.nanos = 200 * 1000 * 1000;
	assert_int_equal(unary("/smtpsink.v1.Sink/WaitForMessages", &req.base,
			     &smtpsink__v1__list_messages_response__descriptor, NULL, text,
			     sizeof(text)),
	    GRPC_STATUS_DEADLINE_EXCEEDED);
	assert_non_null(strstr(text, "0 of 2"));

	/* parked, then satisfied by mail */
	req.count = 1;
	req.timeout = NULL;
	cc = ctl_client_call_start(client, "/smtpsink.v1.Sink/WaitForMessages", &req.base, 20000);
	usleep(100 * 1000);
	id = smtp_send("x@wait.test", "w");
	lr = (Smtpsink__V1__ListMessagesResponse *)crecv(cc,
	    &smtpsink__v1__list_messages_response__descriptor);
	assert_int_equal(cend(cc), GRPC_STATUS_OK);
	assert_non_null(lr);
	assert_int_equal(lr->n_messages, 1);
	assert_int_equal(lr->messages[0]->id, id);
	protobuf_c_message_free_unpacked(&lr->base, NULL);

	/* a cancelled wait is freed */
	f.rcpt_to = "nobody@wait.test";
	cc = ctl_client_call_start(client, "/smtpsink.v1.Sink/WaitForMessages", &req.base, 20000);
	usleep(100 * 1000);
	ctl_client_call_cancel(cc);
	assert_null(crecv(cc, &smtpsink__v1__list_messages_response__descriptor));
	assert_int_equal(cend(cc), GRPC_STATUS_CANCELLED);
}

static void
test_watch(void **state)
{
	Smtpsink__V1__WatchMessagesRequest req = SMTPSINK__V1__WATCH_MESSAGES_REQUEST__INIT;
	Smtpsink__V1__Filter		   f = SMTPSINK__V1__FILTER__INIT;
	Smtpsink__V1__Message		  *m;
	struct ctl_client_call		  *cc;
	uint64_t			   a, b, c;

	a = smtp_send("a@watch.test", "1");
	b = smtp_send("b@watch.test", "2");
	f.rcpt_to = "*@watch.test";
	req.filter = &f;
	cc = ctl_client_call_start(client, "/smtpsink.v1.Sink/WatchMessages", &req.base, 20000);
	m = (Smtpsink__V1__Message *)crecv(cc, &smtpsink__v1__message__descriptor);
	assert_non_null(m);
	assert_int_equal(m->id, a);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	m = (Smtpsink__V1__Message *)crecv(cc, &smtpsink__v1__message__descriptor);
	assert_int_equal(m->id, b);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	smtp_send("other@elsewhere.test", "x");
	c = smtp_send("c@watch.test", "3");
	m = (Smtpsink__V1__Message *)crecv(cc, &smtpsink__v1__message__descriptor);
	assert_int_equal(m->id, c);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	ctl_client_call_cancel(cc);
	assert_null(crecv(cc, &smtpsink__v1__message__descriptor));
	assert_int_equal(cend(cc), GRPC_STATUS_CANCELLED);
}

static void
test_rules(void **state)
{
	Smtpsink__V1__RejectRule	       rr = SMTPSINK__V1__REJECT_RULE__INIT, *out;
	Smtpsink__V1__ListRejectRulesRequest   lreq = SMTPSINK__V1__LIST_REJECT_RULES_REQUEST__INIT;
	Smtpsink__V1__ListRejectRulesResponse *lr;
	Smtpsink__V1__DeleteRejectRuleRequest dreq = SMTPSINK__V1__DELETE_REJECT_RULE_REQUEST__INIT;
	char				      text[512];

	rr.stage = SMTPSINK__V1__STAGE__RCPT_TO;
	rr.code = 250;
	assert_int_equal(unary("/smtpsink.v1.Sink/SetRejectRule", &rr.base,
			     &smtpsink__v1__reject_rule__descriptor, NULL, text, sizeof(text)),
	    GRPC_STATUS_INVALID_ARGUMENT);
	assert_non_null(strstr(text, "4xx or 5xx"));
	rr.code = 550;
	rr.match = "*@rules.test";
	assert_int_equal(unary("/smtpsink.v1.Sink/SetRejectRule", &rr.base,
			     &smtpsink__v1__reject_rule__descriptor, (ProtobufCMessage **)&out,
			     NULL, 0),
	    GRPC_STATUS_OK);
	assert_string_equal(out->enhanced_code, "5.1.1");
	assert_true(out->id[0] != '\0');
	assert_int_equal(unary("/smtpsink.v1.Sink/ListRejectRules", &lreq.base,
			     &smtpsink__v1__list_reject_rules_response__descriptor,
			     (ProtobufCMessage **)&lr, NULL, 0),
	    GRPC_STATUS_OK);
	assert_int_equal(lr->n_rules, 1);
	assert_string_equal(lr->rules[0]->id, out->id);
	protobuf_c_message_free_unpacked(&lr->base, NULL);
	dreq.id = "nope";
	assert_int_equal(unary("/smtpsink.v1.Sink/DeleteRejectRule", &dreq.base,
			     &smtpsink__v1__delete_reject_rule_response__descriptor, NULL, text,
			     sizeof(text)),
	    GRPC_STATUS_NOT_FOUND);
	dreq.id = out->id;
	assert_int_equal(unary("/smtpsink.v1.Sink/DeleteRejectRule", &dreq.base,
			     &smtpsink__v1__delete_reject_rule_response__descriptor, NULL, NULL, 0),
	    GRPC_STATUS_OK);
	protobuf_c_message_free_unpacked(&out->base, NULL);
}

static void
test_health_and_unknown(void **state)
{
	Grpc__Health__V1__HealthCheckRequest   req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	Grpc__Health__V1__HealthCheckResponse *r;
	Smtpsink__V1__GetServerInfoRequest     empty = SMTPSINK__V1__GET_SERVER_INFO_REQUEST__INIT;

	req.service = "";
	assert_int_equal(unary("/grpc.health.v1.Health/Check", &req.base,
			     &grpc__health__v1__health_check_response__descriptor,
			     (ProtobufCMessage **)&r, NULL, 0),
	    GRPC_STATUS_OK);
	assert_int_equal(r->status,
	    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	req.service = "smtpsink.v1.Sink";
	assert_int_equal(unary("/grpc.health.v1.Health/Check", &req.base,
			     &grpc__health__v1__health_check_response__descriptor, NULL, NULL, 0),
	    GRPC_STATUS_OK);
	req.service = "x.Y";
	assert_int_equal(unary("/grpc.health.v1.Health/Check", &req.base,
			     &grpc__health__v1__health_check_response__descriptor, NULL, NULL, 0),
	    GRPC_STATUS_NOT_FOUND);
	assert_int_equal(unary("/smtpsink.v1.Sink/Nope", &empty.base,
			     &smtpsink__v1__server_info__descriptor, NULL, NULL, 0),
	    GRPC_STATUS_UNIMPLEMENTED);
}

/* --- ctl_client's own contract ---------------------------------------------- */

/* A response that does not parse as the expected type is INTERNAL, no message. */
static void
test_client_bad_response(void **state)
{
	Smtpsink__V1__GetServerInfoRequest req = SMTPSINK__V1__GET_SERVER_INFO_REQUEST__INIT;
	struct ctl_client_status	   st;
	ProtobufCMessage		  *m = &req.base; /* must be reset */

	/* ServerInfo's field 1 is a string, Message's a varint */
	assert_int_equal(ctl_client_unary(client, "/smtpsink.v1.Sink/GetServerInfo", &req.base,
			     &smtpsink__v1__message__descriptor, &m, 10000, &st),
	    GRPC_STATUS_INTERNAL);
	assert_null(m);
	assert_string_equal(st.details, "cannot parse the server's response");
	assert_false(st.interrupted || st.stopped || st.deadline);
	ctl_client_status_clear(&st);
}

struct stop_after {
	int seen, want;
};

static int
stop_after_cb(const ProtobufCMessage *m, void *arg)
{
	struct stop_after *sa = arg;

	return ++sa->seen >= sa->want;
}

/* A stream the callback stops is cancelled and counts as OK. */
static void
test_client_stream_stop(void **state)
{
	Smtpsink__V1__WatchMessagesRequest req = SMTPSINK__V1__WATCH_MESSAGES_REQUEST__INIT;
	Smtpsink__V1__Filter		   f = SMTPSINK__V1__FILTER__INIT;
	struct ctl_client_status	   st;
	struct stop_after		   sa = { 0, 2 };

	smtp_send("a@stop.test", "1");
	smtp_send("b@stop.test", "2");
	smtp_send("c@stop.test", "3");
	f.rcpt_to = "*@stop.test";
	req.filter = &f;
	assert_int_equal(ctl_client_stream(client, "/smtpsink.v1.Sink/WatchMessages", &req.base,
			     &smtpsink__v1__message__descriptor, stop_after_cb, &sa, 20000, &st),
	    GRPC_STATUS_OK);
	assert_int_equal(sa.seen, 2);
	assert_true(st.stopped);
	assert_false(st.interrupted || st.deadline);
	ctl_client_status_clear(&st);

	/* the call's own deadline ends a stream that never stops */
	sa.seen = 0;
	sa.want = 100;
	assert_int_equal(ctl_client_stream(client, "/smtpsink.v1.Sink/WatchMessages", &req.base,
			     &smtpsink__v1__message__descriptor, stop_after_cb, &sa, 300, &st),
	    GRPC_STATUS_DEADLINE_EXCEEDED);
	assert_int_equal(sa.seen, 3);
	assert_true(st.deadline);
	assert_false(st.stopped || st.interrupted);
	ctl_client_status_clear(&st);
}

/* The interrupt flag cancels a parked call within a poll interval. */
static void
test_client_interrupt(void **state)
{
	Smtpsink__V1__WaitForMessagesRequest req = SMTPSINK__V1__WAIT_FOR_MESSAGES_REQUEST__INIT;
	Smtpsink__V1__Filter		     f = SMTPSINK__V1__FILTER__INIT;
	volatile sig_atomic_t		     flag = 1;
	struct ctl_client		    *cl;
	struct ctl_client_status	     st;
	ProtobufCMessage		    *m;

	cl = ctl_client_new(smtpsink_grpc_address(sink), "test_control", &flag);
	f.rcpt_to = "nobody@interrupt.test";
	req.filter = &f;
	assert_int_equal(ctl_client_unary(cl, "/smtpsink.v1.Sink/WaitForMessages", &req.base,
			     &smtpsink__v1__list_messages_response__descriptor, &m, 20000, &st),
	    GRPC_STATUS_CANCELLED);
	assert_null(m);
	assert_true(st.interrupted);
	ctl_client_status_clear(&st);
	ctl_client_free(cl);
}

/* Nobody listening: UNAVAILABLE from the call, not a failure to connect. */
static void
test_client_unreachable(void **state)
{
	Smtpsink__V1__GetServerInfoRequest req = SMTPSINK__V1__GET_SERVER_INFO_REQUEST__INIT;
	struct ctl_client		  *cl;
	struct ctl_client_status	   st;
	ProtobufCMessage		  *m;

	cl = ctl_client_new("127.0.0.1:1", "test_control", NULL);
	assert_int_equal(ctl_client_unary(cl, "/smtpsink.v1.Sink/GetServerInfo", &req.base,
			     &smtpsink__v1__server_info__descriptor, &m, 10000, &st),
	    GRPC_STATUS_UNAVAILABLE);
	assert_null(m);
	assert_non_null(st.details);
	ctl_client_status_clear(&st);
	ctl_client_free(cl);
	assert_string_equal(ctl_client_status_name(GRPC_STATUS_UNAVAILABLE), "UNAVAILABLE");
	assert_string_equal(ctl_client_status_name(99), "STATUS_99");
}

static int
setup(void **state)
{
	struct smtpsink_options opt;
	char			err[256];

	grpc_init();
	smtpsink_options_init(&opt);
	opt.grpc_listen = "127.0.0.1:0";
	if ((sink = smtpsink_start(&opt, err, sizeof(err))) == NULL) {
		fprintf(stderr, "smtpsink_start: %s\n", err);
		return -1;
	}
	client = ctl_client_new(smtpsink_grpc_address(sink), "test_control", NULL);
	return 0;
}

static int
teardown(void **state)
{
	ctl_client_free(client);
	smtpsink_stop(sink);
	grpc_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_info),
		cmocka_unit_test(test_list_get_clear),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_health_and_unknown),
		cmocka_unit_test(test_client_bad_response),
		cmocka_unit_test(test_client_stream_stop),
		cmocka_unit_test(test_client_interrupt),
		cmocka_unit_test(test_client_unreachable),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
