/* test_relay_proto - the relay's pure parts: URL, EHLO capabilities, envelope mapping, dot-stuffing, backoff. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "message.h"
#include "relay_proto.h"

static void
test_relay_proto_url_forms(void **state)
{
	static const struct {
		const char *in, *host, *port, *user, *password, *shown;
		int	    tls;
	} ok[] = {
		{ "smtp://mx.example:25", "mx.example", "25", NULL, NULL, "smtp://mx.example:25",
		    RELAY_TLS_STARTTLS },
		{ "smtps://u:p@10.0.0.1:465", "10.0.0.1", "465", "u", "p", "smtps://10.0.0.1:465",
		    RELAY_TLS_IMPLICIT },
		{ "smtp://a%40b:p%3Aw@d@h:587?starttls=require", "h", "587", "a@b", "p:w@d",
		    "smtp://h:587", RELAY_TLS_REQUIRE },
		{ "smtp://[::1]:2525/?starttls=never", "::1", "2525", NULL, NULL,
		    "smtp://[::1]:2525", RELAY_TLS_NEVER },
	};
	static const char *const bad[] = { "http://h:25", "smtp://h", "smtp://h:0", "smtp://h:x",
		"smtp://:25", "smtp://u@h:25", "smtp://u:p%zz@h:25", "smtps://h:1?starttls=never",
		"smtp://h:25?foo=1", "smtp://h:25/path" };
	struct relay_url	 u;
	char			 err[256];
	size_t			 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(relay_url_parse(ok[i].in, &u, err, sizeof(err)), 0);
		assert_string_equal(u.host, ok[i].host);
		assert_string_equal(u.port, ok[i].port);
		assert_string_equal(u.shown, ok[i].shown);
		assert_int_equal(u.tls, ok[i].tls);
		if (ok[i].user == NULL)
			assert_null(u.user);
		else {
			assert_string_equal(u.user, ok[i].user);
			assert_string_equal(u.password, ok[i].password);
		}
		relay_url_clear(&u);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(relay_url_parse(bad[i], &u, err, sizeof(err)), -1);
		assert_null(strstr(err, "zz"));
		assert_null(u.user);
	}
}

static void
test_relay_proto_caps(void **state)
{
	struct relay_caps c = { 0, 0 };

	relay_caps_ehlo(&c, "PIPELINING");
	relay_caps_ehlo(&c, "SIZE 1000");
	relay_caps_ehlo(&c, "AUTH LOGIN CRAM-MD5");
	relay_caps_ehlo(&c, "8BITMIMEX");
	assert_int_equal(c.flags, RELAY_CAP_PIPELINING | RELAY_CAP_SIZE | RELAY_CAP_AUTH_LOGIN);
	assert_int_equal(c.size_max, 1000);
}

static void
test_relay_proto_stuff(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", ".\r\n" },
		{ ".a\r\nb\r\n", "..a\r\nb\r\n.\r\n" },
		{ "a\r\n.\r\n..\r\n", "a\r\n..\r\n...\r\n.\r\n" },
		{ "a\n.b\r\n", "a\n.b\r\n.\r\n" }, /* a bare LF does not start a line */
		{ "x\r.\r\n", "x\r.\r\n.\r\n" },
		{ ".", "...\r\n" },
		{ "\r\n.", "\r\n...\r\n" }, /* a last line without CRLF */
		{ "a\r\n.b", "a\r\n..b.\r\n" },
		{ ".\r\n.\r\n.\r\n", "..\r\n..\r\n..\r\n.\r\n" }, /* dot lines back to back */
		{ "\n.\r\r\n.", "\n.\r\r\n...\r\n" },
	};
	struct evbuffer *b;
	size_t		 i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = evbuffer_new();
		relay_proto_stuff(b, cases[i].in, strlen(cases[i].in));
		n = evbuffer_get_length(b);
		assert_int_equal(n, strlen(cases[i].want));
		assert_memory_equal(evbuffer_pullup(b, -1), cases[i].want, n);
		evbuffer_free(b);
	}
}

/* The plain definition, a byte at a time: the reference for the run-wise one */
static size_t
stuff_ref(char *out, const char *in, size_t len)
{
	size_t i, n = 0;
	int    bol = 1;

	for (i = 0; i < len; i++) {
		if (bol && in[i] == '.')
			out[n++] = '.';
		out[n++] = in[i];
		bol = in[i] == '\n' && i > 0 && in[i - 1] == '\r';
	}
	memcpy(out + n, ".\r\n", 3);
	return n + 3;
}

/*
 * Differential: random texts over ". \r \n a" (CRLF at every offset, dots
 * after bare CR and bare LF, runs of dot lines, more dots than the room
 * reserved), appended after bytes already in the buffer, against stuff_ref.
 */
static void
test_relay_proto_stuff_random(void **state)
{
	static const char alpha[] = ".\r\na";
	char		  in[600], want[1300];
	struct evbuffer	 *b;
	size_t		  len, n, i;
	unsigned	  seed = 12345, round;

	for (round = 0; round < 4000; round++) {
		len = (seed = seed * 1103515245 + 12345) >> 16;
		len %= round % 2 ? sizeof(in) : 12;
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			in[i] = alpha[(seed >> 16) % 4];
		}
		n = stuff_ref(want, in, len);
		b = evbuffer_new();
		evbuffer_add(b, "prefix", 6);
		relay_proto_stuff(b, in, len);
		assert_int_equal(evbuffer_get_length(b), n + 6);
		assert_memory_equal(evbuffer_pullup(b, -1), "prefix", 6);
		assert_memory_equal(evbuffer_pullup(b, -1) + 6, want, n);
		evbuffer_free(b);
	}
}

/* A message from s@x with params mp[0..n) and the data "a\r\n" */
static void
test_message(struct message *m, struct esmtp_param *mp, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->mail_from = "s@x";
	m->mail_params = mp;
	m->nmail_params = n;
	m->data = "a\r\n";
	m->size = 3;
}

static void
test_relay_proto_mail_params(void **state)
{
	struct esmtp_param mp[] = { { "SIZE", "1" }, { "BODY", "8BITMIME" }, { "RET", "HDRS" },
		{ "AUTH", "<>" }, { "SMTPUTF8", "" } };
	struct esmtp_param rp[] = { { "NOTIFY", "NEVER" }, { "ORCPT", "rfc822;x@y" } };
	struct relay_caps  all = { RELAY_CAP_SIZE | RELAY_CAP_8BITMIME | RELAY_CAP_SMTPUTF8 |
		     RELAY_CAP_DSN | RELAY_CAP_CHUNKING | RELAY_CAP_BINARYMIME,
		 0 };
	struct relay_caps  none = { 0, 0 };
	struct message	   m;
	char		   line[512], why[256];

	test_message(&m, mp, 5);
	m.body_type = MSG_BODY_8BITMIME;
	m.smtputf8 = 1;
	assert_int_equal(relay_proto_mail(line, sizeof(line), &m, NULL, &all, why, sizeof(why)), 0);
	assert_string_equal(line, "MAIL FROM:<s@x> SIZE=3 BODY=8BITMIME RET=HDRS SMTPUTF8");
	assert_int_equal(relay_proto_mail(line, sizeof(line), &m, "", &all, why, sizeof(why)), 0);
	assert_true(strncmp(line, "MAIL FROM:<> ", 13) == 0);
	assert_int_equal(relay_proto_mail(line, sizeof(line), &m, NULL, &none, why, sizeof(why)),
	    -1);
	assert_non_null(strstr(why, "SMTPUTF8"));
	m.smtputf8 = 0;
	mp[4].name = "RET";
	assert_int_equal(relay_proto_mail(line, sizeof(line), &m, NULL, &none, why, sizeof(why)),
	    -1);
	assert_non_null(strstr(why, "8BITMIME"));
	m.body_type = MSG_BODY_BINARYMIME;
	all.flags &= ~RELAY_CAP_CHUNKING;
	assert_int_equal(relay_proto_mail(line, sizeof(line), &m, NULL, &all, why, sizeof(why)),
	    -1);
	assert_non_null(strstr(why, "BINARYMIME"));
	all.flags |= RELAY_CAP_CHUNKING;
	assert_int_equal(relay_proto_use_bdat(&m), 1);
	m.body_type = MSG_BODY_7BIT;
	assert_int_equal(relay_proto_use_bdat(&m), 0);
	m.data = "no crlf";
	m.size = 7;
	assert_int_equal(relay_proto_use_bdat(&m), 1);
	all.size_max = 5;
	assert_int_equal(relay_proto_mail(line, sizeof(line), &m, NULL, &all, why, sizeof(why)),
	    -1);
	assert_non_null(strstr(why, "SIZE"));

	assert_int_equal(relay_proto_rcpt(line, sizeof(line), "r@x", rp, 2, &all), 0);
	assert_string_equal(line, "RCPT TO:<r@x> NOTIFY=NEVER ORCPT=rfc822;x@y");
	assert_int_equal(relay_proto_rcpt(line, sizeof(line), "r@x", rp, 2, &none), 0);
	assert_string_equal(line, "RCPT TO:<r@x>");
	assert_int_equal(relay_proto_rcpt(line, 10, "r@x", rp, 2, &none), -1);
}

/* The lines are built to the byte: what fits (with its NUL) is kept, a byte less is -1 */
static void
test_relay_proto_line_bounds(void **state)
{
	static const char  want_rcpt[] = "RCPT TO:<r@x> NOTIFY=NEVER ORCPT=rfc822;x@y";
	static const char  want_mail[] = "MAIL FROM:<s@x> SIZE=3 RET=HDRS";
	struct esmtp_param rp[] = { { "NOTIFY", "NEVER" }, { "ORCPT", "rfc822;x@y" } };
	struct esmtp_param mp[] = { { "SIZE", "99" }, { "RET", "HDRS" }, { "ENVID", "" } };
	struct relay_caps  caps = { RELAY_CAP_SIZE | RELAY_CAP_DSN, 0 };
	struct message	   m;
	char		   line[128], why[64];
	size_t		   sz;

	for (sz = 1; sz <= sizeof(want_rcpt) + 1; sz++) {
		memset(line, 'z', sizeof(line));
		if (sz < sizeof(want_rcpt)) {
			assert_int_equal(relay_proto_rcpt(line, sz, "r@x", rp, 2, &caps), -1);
			assert_int_equal(line[sz], 'z'); /* nothing past dstsz */
		} else {
			assert_int_equal(relay_proto_rcpt(line, sz, "r@x", rp, 2, &caps), 0);
			assert_string_equal(line, want_rcpt);
		}
	}
	test_message(&m, mp, 3);
	/* ENVID with an empty value: the keyword alone */
	assert_int_equal(relay_proto_mail(line, sizeof(line), &m, NULL, &caps, why, sizeof(why)),
	    0);
	assert_string_equal(line, "MAIL FROM:<s@x> SIZE=3 RET=HDRS ENVID");
	m.nmail_params = 2;
	for (sz = 1; sz <= sizeof(want_mail) + 1; sz++) {
		memset(line, 'z', sizeof(line));
		if (sz < sizeof(want_mail)) {
			assert_int_equal(
			    relay_proto_mail(line, sz, &m, NULL, &caps, why, sizeof(why)), -1);
			assert_string_equal(why, "MAIL command too long");
			assert_int_equal(line[sz], 'z');
		} else {
			assert_int_equal(
			    relay_proto_mail(line, sz, &m, NULL, &caps, why, sizeof(why)), 0);
			assert_string_equal(line, want_mail);
		}
	}
}

static void
test_relay_proto_backoff(void **state)
{
	assert_int_equal(relay_proto_backoff_ms(1000, 1), 1000);
	assert_int_equal(relay_proto_backoff_ms(1000, 2), 2000);
	assert_int_equal(relay_proto_backoff_ms(1000, 4), 8000);
	assert_int_equal(relay_proto_backoff_ms(1000, 100), RELAY_BACKOFF_MAX_MS);
	assert_int_equal(relay_proto_backoff_ms(100, 0), 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_proto_url_forms),
		cmocka_unit_test(test_relay_proto_caps),
		cmocka_unit_test(test_relay_proto_stuff),
		cmocka_unit_test(test_relay_proto_stuff_random),
		cmocka_unit_test(test_relay_proto_mail_params),
		cmocka_unit_test(test_relay_proto_line_bounds),
		cmocka_unit_test(test_relay_proto_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
