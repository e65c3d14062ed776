/*
 * test_control_pb - struct message / filter / rule <-> protobuf-c, checked
 * through a real pack + unpack round trip (what the gRPC client sees).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "control_pb.h"
#include "match.h"
#include "message.h"
#include "mime.h"
#include "rules.h"
#include "xmalloc.h"

static const char raw_mail[] = "From: Alice <alice@x.test>\r\n"
			       "To: bob@y.test, Carol <carol@y.test>\r\n"
			       "Cc: dave@y.test\r\n"
			       "Subject: =?UTF-8?Q?caf=C3=A9?=\r\n"
			       "X-Tenant: blue\r\n"
			       "MIME-Version: 1.0\r\n"
			       "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
			       "\r\n"
			       "--b1\r\n"
			       "Content-Type: text/plain; charset=utf-8\r\n"
			       "\r\n"
			       "hello text\r\n"
			       "--b1\r\n"
			       "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
			       "Content-Disposition: attachment; filename=\"a.bin\"\r\n"
			       "Content-Transfer-Encoding: base64\r\n"
			       "\r\n"
			       "AAECAw==\r\n"
			       "--b1--\r\n";

static struct esmtp_param *
params(const char *name, const char *value)
{
	struct esmtp_param *p = xcalloc(1, sizeof(*p));

	p->name = xstrdup(name);
	p->value = xstrdup(value);
	return p;
}

static struct message *
sample(void)
{
	struct message *m = message_new();

	m->id = 42;
	m->session_id = 7;
	m->received.tv_sec = 1700000000;
	m->received.tv_nsec = 123456789;
	m->peer = xstrdup("127.0.0.1:5555");
	m->helo = xstrdup("client.test");
	m->mail_from = xstrdup("alice@x.test");
	m->mail_params = params("BODY", "8BITMIME");
	m->nmail_params = 1;
	m->rcpts = xcalloc(2, sizeof(*m->rcpts));
	m->nrcpts = 2;
	m->rcpts[0].addr = xstrdup("bob@y.test");
	m->rcpts[0].params = params("NOTIFY", "SUCCESS,FAILURE");
	m->rcpts[0].nparams = 1;
	m->rcpts[1].addr = xstrdup("carol@y.test");
	m->data = xstrdup(raw_mail);
	m->size = strlen(raw_mail);
	m->anomalies = MSG_ANOM_BARE_LF | MSG_ANOM_LONG_LINE;
	m->body_type = MSG_BODY_8BITMIME;
	m->smtputf8 = 1;
	m->auth_user = xstrdup("user1");
	m->auth_mechanism = "CRAM-MD5";
	return m;
}

/* Packs pm and unpacks it again, as a client would receive it. */
static Smtpsink__V1__Message *
roundtrip(const Smtpsink__V1__Message *pm)
{
	size_t		       n = protobuf_c_message_get_packed_size(&pm->base);
	uint8_t		      *buf = xmalloc(n ? n : 1);
	Smtpsink__V1__Message *out;

	assert_int_equal(protobuf_c_message_pack(&pm->base, buf), n);
	out = smtpsink__v1__message__unpack(NULL, n, buf);
	free(buf);
	assert_non_null(out);
	return out;
}

static void
test_message_envelope(void **state)
{
	struct message	       *m = sample();
	struct control_pb_arena a;
	Smtpsink__V1__Message  *u;

	control_pb_arena_init(&a);
	u = roundtrip(control_pb_message(&a, m, 0));
	control_pb_arena_release(&a);

	assert_int_equal(u->id, 42);
	assert_int_equal(u->session_id, 7);
	assert_non_null(u->received_at);
	assert_int_equal(u->received_at->seconds, 1700000000);
	assert_int_equal(u->received_at->nanos, 123456789);
	assert_string_equal(u->peer, "127.0.0.1:5555");
	assert_string_equal(u->helo, "client.test");
	assert_string_equal(u->mail_from, "alice@x.test");
	assert_int_equal(u->n_mail_params, 1);
	assert_string_equal(u->mail_params[0]->name, "BODY");
	assert_string_equal(u->mail_params[0]->value, "8BITMIME");
	assert_int_equal(u->n_rcpt_to, 2);
	assert_string_equal(u->rcpt_to[0], "bob@y.test");
	assert_string_equal(u->rcpt_to[1], "carol@y.test");
	assert_int_equal(u->n_rcpt_params, 2);
	assert_int_equal(u->rcpt_params[0]->n_params, 1);
	assert_string_equal(u->rcpt_params[0]->params[0]->name, "NOTIFY");
	assert_string_equal(u->rcpt_params[0]->params[0]->value, "SUCCESS,FAILURE");
	assert_int_equal(u->rcpt_params[1]->n_params, 0);
	assert_int_equal(u->size, strlen(raw_mail));
	assert_int_equal(u->raw.len, 0); /* only when asked */
	assert_true(u->eight_bit);
	assert_string_equal(u->body_type, "8BITMIME");
	assert_true(u->smtputf8);
	assert_false(u->tls);
	assert_string_equal(u->auth_user, "user1");
	assert_string_equal(u->auth_mechanism, "CRAM-MD5");
	assert_int_equal(u->n_anomalies, 2);
	assert_string_equal(u->anomalies[0], "bare_lf");
	assert_string_equal(u->anomalies[1], "long_line");

	smtpsink__v1__message__free_unpacked(u, NULL);
	message_free(m);
}

static void
test_message_mime_and_raw(void **state)
{
	struct message	       *m = sample();
	struct control_pb_arena a;
	Smtpsink__V1__Message  *u;
	size_t			i;
	int			tenant = 0;

	control_pb_arena_init(&a);
	u = roundtrip(control_pb_message(&a, m, CONTROL_PB_RAW | CONTROL_PB_ATT_CONTENT));
	control_pb_arena_release(&a);

	assert_int_equal(u->raw.len, strlen(raw_mail));
	assert_memory_equal(u->raw.data, raw_mail, u->raw.len);
	assert_string_equal(u->subject, "caf\xc3\xa9");
	assert_non_null(strstr(u->from, "alice@x.test"));
	assert_int_equal(u->n_to, 2);
	assert_int_equal(u->n_cc, 1);
	assert_non_null(strstr(u->cc[0], "dave@y.test"));
	for (i = 0; i < u->n_headers; i++)
		if (strcasecmp(u->headers[i]->name, "X-Tenant") == 0 &&
		    strcmp(u->headers[i]->value, "blue") == 0)
			tenant = 1;
	assert_true(tenant);
	assert_non_null(strstr(u->text_body, "hello text"));
	assert_int_equal(u->n_attachments, 1);
	assert_string_equal(u->attachments[0]->filename, "a.bin");
	assert_string_equal(u->attachments[0]->content_type, "application/octet-stream");
	assert_int_equal(u->attachments[0]->size, 4);
	assert_int_equal(u->attachments[0]->content.len, 4);
	assert_memory_equal(u->attachments[0]->content.data, "\0\1\2\3", 4);
	smtpsink__v1__message__free_unpacked(u, NULL);

	/* without the flags: metadata only */
	control_pb_arena_init(&a);
	u = roundtrip(control_pb_message(&a, m, 0));
	control_pb_arena_release(&a);
	assert_int_equal(u->n_attachments, 1);
	assert_int_equal(u->attachments[0]->size, 4);
	assert_int_equal(u->attachments[0]->content.len, 0);
	assert_int_equal(u->raw.len, 0);
	smtpsink__v1__message__free_unpacked(u, NULL);

	/* CONTROL_PB_NO_BODY skips bodies and attachments */
	control_pb_arena_init(&a);
	u = roundtrip(control_pb_message(&a, m, CONTROL_PB_NO_BODY));
	control_pb_arena_release(&a);
	assert_int_equal(u->n_attachments, 0);
	assert_string_equal(u->text_body, "");
	assert_string_equal(u->subject, "caf\xc3\xa9");
	smtpsink__v1__message__free_unpacked(u, NULL);
	message_free(m);
}

static void
test_minimal_message(void **state)
{
	struct message	       *m = message_new();
	struct control_pb_arena a;
	Smtpsink__V1__Message  *u;

	m->id = 1;
	m->peer = xstrdup("[::1]:25");
	m->helo = xstrdup("");
	m->mail_from = xstrdup(""); /* null sender */
	m->data = xstrdup("");
	control_pb_arena_init(&a);
	u = roundtrip(control_pb_message(&a, m, CONTROL_PB_RAW));
	control_pb_arena_release(&a);
	assert_int_equal(u->id, 1);
	assert_string_equal(u->mail_from, "");
	assert_int_equal(u->n_rcpt_to, 0);
	assert_int_equal(u->n_anomalies, 0);
	assert_false(u->eight_bit);
	assert_string_equal(u->body_type, "7BIT");
	assert_string_equal(u->auth_user, "");
	smtpsink__v1__message__free_unpacked(u, NULL);
	message_free(m);
}

static void
test_filter(void **state)
{
	Smtpsink__V1__Filter  pf = SMTPSINK__V1__FILTER__INIT, back;
	struct filter	      f;
	uint8_t		      buf[256];
	size_t		      n;
	Smtpsink__V1__Filter *u;

	control_pb_filter(&f, NULL);
	assert_true(match_filter_is_empty(&f));
	control_pb_filter(&f, &pf); /* all "" */
	assert_true(match_filter_is_empty(&f));
	assert_null(f.rcpt_to);

	pf.rcpt_to = "*@a.test";
	pf.header_name = "X-Tenant";
	pf.header_value = "blue";
	pf.after_id = 9;
	pf.auth_user = "Alice*";
	control_pb_filter(&f, &pf);
	assert_string_equal(f.auth_user, "Alice*");
	assert_false(match_filter_is_empty(&f));
	assert_string_equal(f.rcpt_to, "*@a.test");
	assert_string_equal(f.header_name, "X-Tenant");
	assert_string_equal(f.header_value, "blue");
	assert_null(f.mail_from);
	assert_null(f.subject);
	assert_null(f.body);
	assert_int_equal(f.after_id, 9);

	control_pb_filter_to(&back, &f);
	n = protobuf_c_message_pack(&back.base, buf);
	u = smtpsink__v1__filter__unpack(NULL, n, buf);
	assert_non_null(u);
	assert_string_equal(u->rcpt_to, "*@a.test");
	assert_string_equal(u->mail_from, "");
	assert_string_equal(u->auth_user, "Alice*");
	assert_int_equal(u->after_id, 9);
	smtpsink__v1__filter__free_unpacked(u, NULL);
}

static void
test_rule(void **state)
{
	Smtpsink__V1__RejectRule  pr = SMTPSINK__V1__REJECT_RULE__INIT, out;
	Smtpsink__V1__RejectRule *u;
	struct rule		  t;
	struct rules		 *rs = rules_new();
	const struct rule	 *r;
	struct rules_action	  act;
	const char		 *subj[] = { "x@bad.test" };
	char			  err[256];
	uint8_t			  buf[512];
	size_t			  n;

	pr.stage = SMTPSINK__V1__STAGE__RCPT_TO;
	pr.match = "*@bad.test";
	pr.code = 550;
	pr.message = "no such user";
	pr.times = 3;
	pr.delay_ms = 10;
	pr.disconnect = 1;
	pr.id = "ignored";
	pr.hits = 99;
	assert_int_equal(control_pb_rule_from(&t, &pr, err, sizeof(err)), 0);
	assert_int_equal(t.stage, RULES_STAGE_RCPT_TO);
	assert_string_equal(t.match, "*@bad.test");
	assert_string_equal(t.enhanced, "");
	r = rules_add(rs, &t, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(rules_eval(rs, RULES_STAGE_RCPT_TO, subj, 1, &act), 1);

	control_pb_rule_to(&out, r);
	n = protobuf_c_message_pack(&out.base, buf);
	u = smtpsink__v1__reject_rule__unpack(NULL, n, buf);
	assert_non_null(u);
	assert_string_equal(u->id, "1");
	assert_int_equal(u->stage, SMTPSINK__V1__STAGE__RCPT_TO);
	assert_string_equal(u->match, "*@bad.test");
	assert_int_equal(u->code, 550);
	assert_string_equal(u->enhanced_code, "5.1.1");
	assert_string_equal(u->message, "no such user");
	assert_int_equal(u->times, 3);
	assert_int_equal(u->delay_ms, 10);
	assert_true(u->disconnect);
	assert_int_equal(u->hits, 1);
	smtpsink__v1__reject_rule__free_unpacked(u, NULL);

	pr.stage = SMTPSINK__V1__STAGE__STAGE_UNSPECIFIED;
	assert_int_equal(control_pb_rule_from(&t, &pr, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "stage"));
	pr.stage = (Smtpsink__V1__Stage)17;
	assert_int_equal(control_pb_rule_from(&t, &pr, err, sizeof(err)), -1);
	pr.stage = SMTPSINK__V1__STAGE__DATA;
	pr.enhanced_code = "5.7.1.2.3.4.5.6.7.8.9";
	assert_int_equal(control_pb_rule_from(&t, &pr, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "enhanced_code"));
	rules_free(rs);
}

static int freed_marker;

static void
mark_free(void *p)
{
	freed_marker++;
	free(p);
}

static void
test_arena(void **state)
{
	struct control_pb_arena a;
	int		       *v;
	size_t			i;

	control_pb_arena_init(&a);
	for (i = 0; i < 100; i++) {
		v = control_pb_alloc(&a, 4, sizeof(*v));
		assert_int_equal(v[3], 0);
	}
	control_pb_adopt(&a, xmalloc(8), mark_free);
	control_pb_adopt(&a, xmalloc(8), mark_free);
	control_pb_arena_release(&a);
	assert_int_equal(freed_marker, 2);
	control_pb_arena_release(&a); /* empty: no-op */
	assert_int_equal(freed_marker, 2);
}

static int
setup(void **state)
{
	mime_init(32, 1024);
	return 0;
}

static int
teardown(void **state)
{
	mime_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_envelope),
		cmocka_unit_test(test_message_mime_and_raw),
		cmocka_unit_test(test_minimal_message),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_rule),
		cmocka_unit_test(test_arena),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
