/*
 * test_message - message construction, destruction, names, footprint.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "message.h"
#include "xmalloc.h"

static struct esmtp_param *
param(const char *name, const char *value)
{
	struct esmtp_param *p = xcalloc(1, sizeof(*p));

	p->name = xstrdup(name);
	p->value = xstrdup(value);
	return p;
}

/* A fully populated message: message_free must release all of it (ASan/valgrind). */
static struct message *
full_message(void)
{
	struct message *m = message_new();

	m->peer = xstrdup("127.0.0.1:4242");
	m->helo = xstrdup("client.example");
	m->mail_from = xstrdup("a@example.com");
	m->mail_params = param("SIZE", "123");
	m->nmail_params = 1;
	m->nrcpts = 2;
	m->rcpts = xcalloc(2, sizeof(*m->rcpts));
	m->rcpts[0].addr = xstrdup("b@example.com");
	m->rcpts[0].params = param("NOTIFY", "NEVER");
	m->rcpts[0].nparams = 1;
	m->rcpts[1].addr = xstrdup("c@example.com");
	m->data = xstrdup("Subject: x\r\n\r\nbody\r\n");
	m->size = strlen(m->data);
	m->auth_user = xstrdup("user");
	return m;
}

static void
test_message_new_free(void **state)
{
	struct message *m = message_new();

	assert_int_equal(m->id, 0);
	assert_null(m->data);
	assert_int_equal(m->body_type, MSG_BODY_7BIT);
	message_free(m);
	message_free(NULL);
	message_free(full_message());
	message_params_free(NULL, 3);
}

static void
test_message_anomaly_str(void **state)
{
	static const struct {
		unsigned    bit;
		const char *want;
	} cases[] = {
		{ MSG_ANOM_BARE_LF, "bare_lf" },
		{ MSG_ANOM_BARE_CR, "bare_cr" },
		{ MSG_ANOM_LONG_LINE, "long_line" },
		{ MSG_ANOM_8BIT_HEADER, "8bit_header" },
		{ MSG_ANOM_8BIT_BODY, "8bit_body" },
		{ MSG_ANOM_NUL, "nul" },
		{ MSG_ANOM_NO_HEADER_END, "no_header_end" },
		{ MSG_ANOM_MIME, "mime" },
		{ 0, "unknown" },
		{ MSG_ANOM_BARE_LF | MSG_ANOM_NUL, "unknown" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(message_anomaly_str(cases[i].bit), cases[i].want);
}

static void
test_message_body_type_str(void **state)
{
	assert_string_equal(message_body_type_str(MSG_BODY_7BIT), "7BIT");
	assert_string_equal(message_body_type_str(MSG_BODY_8BITMIME), "8BITMIME");
	assert_string_equal(message_body_type_str(MSG_BODY_BINARYMIME), "BINARYMIME");
}

static void
test_message_footprint(void **state)
{
	struct message *e = message_new(), *m = full_message();
	size_t		fe = message_footprint(e), fm = message_footprint(m);

	assert_true(fe >= sizeof(struct message));
	/* at least the raw bytes and every envelope string */
	assert_true(fm >= fe + m->size + strlen("127.0.0.1:4242") + strlen("client.example") +
		strlen("a@example.com") + strlen("b@example.com") + strlen("c@example.com") +
		strlen("SIZE") + strlen("NOTIFY") + strlen("NEVER"));
	/* grows with the raw size, byte for byte */
	free(m->data);
	m->data = xcalloc(1, 100001);
	m->size = 100000;
	assert_int_equal(message_footprint(m), fm - strlen("Subject: x\r\n\r\nbody\r\n") + 100000);
	message_free(e);
	message_free(m);
}

/*
 * The cached MIME view is opaque here: message_free() frees it with the
 * function set next to it (mime_view_get() sets mime_view_free), packed or
 * not, and message.c needs no mime.h for that.
 */
static struct mime_view *freed_view;
static int		 nfreed;

static void
count_view_free(struct mime_view *v)
{
	freed_view = v;
	nfreed++;
}

static void
test_message_free_frees_cached_view(void **state)
{
	static char	  fake[16];
	struct mime_view *v = (struct mime_view *)(void *)fake;
	struct message	 *m;

	nfreed = 0;
	m = full_message();
	m->mime = v;
	m->mime_free = count_view_free;
	message_free(m);
	assert_int_equal(nfreed, 1);
	assert_ptr_equal(freed_view, v);

	m = message_pack(full_message());
	assert_null(m->mime);
	assert_null(m->mime_free);
	m->mime = v;
	m->mime_free = count_view_free;
	message_free(m);
	assert_int_equal(nfreed, 2);

	message_free(message_new()); /* no view: nothing called */
	assert_int_equal(nfreed, 2);
}

static void
test_message_pack_keeps_every_field(void **state)
{
	struct message *m = full_message(), *pm;
	size_t		i;

	m->id = 0;
	m->session_id = 77;
	m->anomalies = 5;
	m->body_type = MSG_BODY_8BITMIME;
	m->smtputf8 = 1;
	pm = message_pack(m); /* m is freed */
	assert_true(pm->packed);
	assert_int_equal(pm->session_id, 77);
	assert_int_equal(pm->anomalies, 5);
	assert_int_equal(pm->body_type, MSG_BODY_8BITMIME);
	assert_int_equal(pm->smtputf8, 1);
	assert_string_equal(pm->peer, "127.0.0.1:4242");
	assert_string_equal(pm->helo, "client.example");
	assert_string_equal(pm->mail_from, "a@example.com");
	assert_int_equal(pm->nmail_params, 1);
	assert_string_equal(pm->mail_params[0].name, "SIZE");
	assert_string_equal(pm->mail_params[0].value, "123");
	assert_int_equal(pm->nrcpts, 2);
	assert_string_equal(pm->rcpts[0].addr, "b@example.com");
	assert_int_equal(pm->rcpts[0].nparams, 1);
	assert_string_equal(pm->rcpts[0].params[0].name, "NOTIFY");
	assert_string_equal(pm->rcpts[0].params[0].value, "NEVER");
	for (i = 0; i < pm->nrcpts; i++)
		assert_true((char *)pm->rcpts[i].addr > (char *)pm &&
		    (char *)pm->rcpts[i].addr < (char *)pm + message_footprint(pm) + 64);
	assert_string_equal(pm->rcpts[1].addr, "c@example.com");
	assert_int_equal(pm->rcpts[1].nparams, 0);
	assert_string_equal(pm->auth_user, "user");
	assert_int_equal(pm->size, strlen("Subject: x\r\n\r\nbody\r\n"));
	assert_string_equal(pm->data, "Subject: x\r\n\r\nbody\r\n");
	message_free(pm); /* one free; ASan/valgrind see no leak */
}

static void
test_message_pack_binary_data_and_no_rcpts(void **state)
{
	struct message	 *m = message_new(), *pm;
	static const char raw[] = "A: b\r\n\r\n\0\xff\x80x";

	m->peer = xstrdup("[::1]:25");
	m->helo = xstrdup("");
	m->mail_from = xstrdup("");
	m->data = xmemdup(raw, sizeof(raw));
	m->size = sizeof(raw) - 1;
	pm = message_pack(m);
	assert_int_equal(pm->size, sizeof(raw) - 1);
	assert_memory_equal(pm->data, raw, sizeof(raw));
	assert_null(pm->rcpts);
	assert_null(pm->mail_params);
	assert_null(pm->auth_user);
	assert_string_equal(pm->mail_from, "");
	message_free(pm);
}

static void
test_message_pack_large_data_is_moved_not_copied(void **state)
{
	struct message *m = message_new(), *pm;
	size_t		n = MSG_PACK_INLINE_MAX + 1;
	char	       *data = xmalloc(n + 1);

	memset(data, 'x', n);
	data[n] = '\0';
	data[0] = 'A';
	data[n - 1] = 'Z';
	m->peer = xstrdup("127.0.0.1:1");
	m->helo = xstrdup("h");
	m->mail_from = xstrdup("a@b");
	m->data = data;
	m->size = n;
	pm = message_pack(m);
	assert_ptr_equal(pm->data, data); /* same block, moved */
	assert_int_equal(pm->packed, MSG_PACKED | MSG_PACKED_OWN_DATA);
	assert_int_equal(pm->size, n);
	assert_int_equal(pm->data[0], 'A');
	assert_int_equal(pm->data[n - 1], 'Z');
	assert_string_equal(pm->mail_from, "a@b");
	message_free(pm); /* frees both blocks (ASan/valgrind) */
}

/* Replies: each command and text copied and cut at 1000 bytes, in order, across growth */
static void
test_message_relay_replies(void **state)
{
	struct message	     *m = message_new();
	struct message_relay *st = message_relay_get(m);
	char		      long_s[1500], cmd[32];
	size_t		      i;

	memset(long_s, 'x', sizeof(long_s) - 1);
	long_s[sizeof(long_s) - 1] = '\0';
	for (i = 0; i < 9; i++) {
		snprintf(cmd, sizeof(cmd), "RCPT TO:<r%zu@x>", i);
		message_relay_add_reply(st, cmd, 250 + (unsigned)i, i == 0 ? NULL : "2.1.5 Ok");
	}
	message_relay_add_reply(st, long_s, 354, long_s);
	assert_int_equal(st->nreplies, 10);
	assert_string_equal(st->replies[0].text, "");
	assert_string_equal(st->replies[8].command, "RCPT TO:<r8@x>");
	assert_string_equal(st->replies[8].text, "2.1.5 Ok");
	assert_int_equal(st->replies[8].code, 258);
	assert_int_equal(strlen(st->replies[9].command), 1000);
	assert_int_equal(strlen(st->replies[9].text), 1000);
	message_relay_reset(st);
	assert_int_equal(st->nreplies, 0);
	message_relay_add_reply(st, "DATA", 354, "go");
	assert_string_equal(st->replies[0].command, "DATA");
	assert_string_equal(st->replies[0].text, "go");
	message_free(m); /* frees the record: ASan and valgrind check */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_new_free),
		cmocka_unit_test(test_message_anomaly_str),
		cmocka_unit_test(test_message_body_type_str),
		cmocka_unit_test(test_message_footprint),
		cmocka_unit_test(test_message_free_frees_cached_view),
		cmocka_unit_test(test_message_pack_keeps_every_field),
		cmocka_unit_test(test_message_pack_binary_data_and_no_rcpts),
		cmocka_unit_test(test_message_pack_large_data_is_moved_not_copied),
		cmocka_unit_test(test_message_relay_replies),
	};

	return cmocka_run_group_tests_name("message", tests, NULL, NULL);
}
