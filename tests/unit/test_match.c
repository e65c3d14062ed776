/*
 * test_match - globs, pattern checks, filters on envelope / headers / body.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "match.h"
#include "message.h"
#include "mime.h"
#include "xmalloc.h"

static void
test_match_glob_table(void **state)
{
	static const struct {
		const char	*pat, *str;
		int		 want;
	} cases[] = {
		{ "", "", 1 },
		{ "", "a", 0 },
		{ "*", "", 1 },
		{ "*", "anything at all", 1 },
		{ "abc", "abc", 1 },
		{ "abc", "ABC", 1 },
		{ "ABC", "abc", 1 },
		{ "abc", "abcd", 0 },
		{ "abc", "ab", 0 },
		{ "a?c", "abc", 1 },
		{ "a?c", "ac", 0 },
		{ "*@example.com", "bob@example.com", 1 },
		{ "*@example.com", "bob@EXAMPLE.COM", 1 },
		{ "*@example.com", "bob@example.com.evil", 0 },
		{ "*@example.com", "@example.com", 1 },
		{ "*reset*", "Please reset your password", 1 },
		{ "*reset*", "Please re-set your password", 0 },
		{ "a*b*c", "aXXbYYc", 1 },
		{ "a*b*c", "aXXbYY", 0 },
		{ "a*b*c", "abcbc", 1 },
		{ "*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 1 },
		{ "*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
		{ "**a", "ba", 1 },
		{ "[abc]x", "bx", 1 },
		{ "[abc]x", "Bx", 1 },
		{ "[ABC]x", "bx", 1 },
		{ "[abc]x", "dx", 0 },
		{ "[!abc]x", "dx", 1 },
		{ "[!abc]x", "ax", 0 },
		{ "[^abc]x", "Ax", 0 },
		{ "[a-f]1", "e1", 1 },
		{ "[a-f]1", "E1", 1 },
		{ "[A-F]1", "e1", 1 },
		{ "[a-f]1", "g1", 0 },
		{ "[0-9][0-9]", "42", 1 },
		{ "[0-9][0-9]", "4x", 0 },
		{ "[]]", "]", 1 },
		{ "[!]]", "]", 0 },
		{ "[!]]", "a", 1 },
		{ "[a-]", "-", 1 },
		{ "[\\]]", "]", 1 },
		{ "\\*", "*", 1 },
		{ "\\*", "a", 0 },
		{ "\\?x", "?x", 1 },
		{ "a\\[b", "a[b", 1 },
		{ "*\\*", "abc*", 1 },
		{ "*\\*", "abc", 0 },
		/* malformed patterns match literally */
		{ "[abc", "[abc", 1 },
		{ "a\\", "a\\", 1 },
		{ "caf\xc3\xa9", "CAF\xc3\xa9", 1 },
	};
	size_t	i;
	int	got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = match_glob(cases[i].pat, cases[i].str);
		if (got != cases[i].want)
			fail_msg("match_glob(\"%s\", \"%s\"): got %d, want %d",
			    cases[i].pat, cases[i].str, got, cases[i].want);
	}
}

/* Many stars against a long near-miss: must stay polynomial (no recursion). */
static void
test_match_glob_pathological(void **state)
{
	char	*s = xmalloc(100001);

	memset(s, 'a', 100000);
	s[100000] = '\0';
	assert_false(match_glob("*a*a*a*a*a*a*a*a*b", s));
	s[99999] = 'b';
	assert_true(match_glob("*a*a*a*a*a*a*a*a*b", s));
	assert_true(match_glob("*", s));
	assert_false(match_glob("*c*", s));
	free(s);
}

static void
test_match_glob_check(void **state)
{
	static const struct {
		const char	*pat;
		const char	*err;	/* NULL: valid */
	} cases[] = {
		{ "*@example.com", NULL },
		{ "[a-z]*", NULL },
		{ "[]]", NULL },
		{ "\\[", NULL },
		{ "", NULL },
		{ "[abc", "unclosed '['" },
		{ "x[", "unclosed '['" },
		{ "[]", "unclosed '['" },
		{ "abc\\", "trailing '\\'" },
		{ "[a\\", "unclosed '['" },
		{ "[z-a]", "reversed range" },
	};
	char	err[128];
	size_t	i;
	int	rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		rc = match_glob_check(cases[i].pat, err, sizeof(err));
		if (cases[i].err == NULL && rc != 0)
			fail_msg("\"%s\": got error \"%s\", want valid", cases[i].pat, err);
		if (cases[i].err != NULL && (rc != -1 || strstr(err, cases[i].err) == NULL))
			fail_msg("\"%s\": got rc %d \"%s\", want \"%s\"", cases[i].pat, rc, err,
			    cases[i].err);
	}
}

static void
test_match_filter_check(void **state)
{
	struct filter	f = { 0 };
	char		err[128];

	assert_int_equal(match_filter_check(&f, err, sizeof(err)), 0);
	assert_int_equal(match_filter_check(NULL, err, sizeof(err)), 0);
	f.mail_from = "*@ok";
	f.rcpt_to = "[abc";
	assert_int_equal(match_filter_check(&f, err, sizeof(err)), -1);
	assert_string_equal(err, "rcpt_to: unclosed '[' in pattern");
	f.rcpt_to = NULL;
	f.body = "x\\";
	assert_int_equal(match_filter_check(&f, err, sizeof(err)), -1);
	assert_string_equal(err, "body: trailing '\\' in pattern");
	f.body = "";
	assert_int_equal(match_filter_check(&f, err, sizeof(err)), 0);
}

static struct message *
msg(const char *from, const char *const *rcpts, size_t nrcpts, const char *data)
{
	struct message	*m = message_new();
	size_t		 i;

	m->peer = xstrdup("127.0.0.1:1");
	m->helo = xstrdup("h");
	m->mail_from = xstrdup(from);
	m->nrcpts = nrcpts;
	m->rcpts = xcalloc(nrcpts, sizeof(*m->rcpts));
	for (i = 0; i < nrcpts; i++)
		m->rcpts[i].addr = xstrdup(rcpts[i]);
	m->data = xstrdup(data);
	m->size = strlen(data);
	return m;
}

static void
test_match_filter_envelope(void **state)
{
	const char	*rcpts[] = { "one@a.test", "two@b.test" };
	struct message	*m = msg("Sender@Example.com", rcpts, 2, "Subject: hi\r\n\r\nbody\r\n");
	struct filter	 f = { 0 };

	m->id = 10;
	assert_true(match_filter_is_empty(&f));
	assert_true(match_filter_is_empty(NULL));
	assert_true(match_message(&f, m));
	assert_true(match_message(NULL, m));
	f.mail_from = "sender@example.com";
	assert_true(match_message(&f, m));
	assert_false(match_filter_is_empty(&f));
	f.rcpt_to = "two@*";			/* any recipient */
	assert_true(match_message(&f, m));
	f.rcpt_to = "three@*";
	assert_false(match_message(&f, m));
	f.rcpt_to = "*@a.test";
	f.mail_from = "other@*";		/* all fields must match */
	assert_false(match_message(&f, m));
	f.mail_from = "";			/* "" = not given */
	assert_true(match_message(&f, m));
	f.after_id = 9;
	assert_true(match_message(&f, m));
	f.after_id = 10;
	assert_false(match_message(&f, m));
	message_free(m);

	/* the null sender is "" */
	m = msg("", rcpts, 1, "x");
	memset(&f, 0, sizeof(f));
	f.mail_from = "*";
	assert_true(match_message(&f, m));
	f.mail_from = "?*";
	assert_false(match_message(&f, m));
	message_free(m);
}

/* Without a MIME view (mime_view_get(), mime_view.c) the header/body tests
 * are skipped. */
static int
mime_available(void)
{
	const char	*r[] = { "x@y" };
	struct message	*m = msg("a@b", r, 1, "Subject: probe\r\n\r\nx\r\n");
	int		 ok = mime_view_get(m) != NULL;

	message_free(m);
	return ok;
}

static void
test_match_filter_headers_no_mime(void **state)
{
	const char	*r[] = { "x@y" };
	struct message	*m = msg("a@b", r, 1, "");
	struct filter	 f = { 0 };

	/* An empty message (or no MIME view) has no headers: must not crash */
	f.header_name = "X-Test";
	assert_false(match_message(&f, m));
	memset(&f, 0, sizeof(f));
	f.subject = "*";
	assert_true(match_message(&f, m));	/* no subject is "" */
	f.subject = "?*";
	assert_false(match_message(&f, m));
	memset(&f, 0, sizeof(f));
	f.body = "*needle*";
	assert_false(match_message(&f, m));
	message_free(m);
}

static void
test_match_filter_headers(void **state)
{
	const char	*r[] = { "x@y" };
	struct message	*m;
	struct filter	 f = { 0 };

	if (!mime_available())
		skip();
	m = msg("a@b", r, 1,
	    "From: A <a@b>\r\n"
	    "Subject: =?UTF-8?Q?Password_r=C3=A9set?=\r\n"
	    "X-Test-Id: run-42\r\n"
	    "X-Other: run-43\r\n"
	    "\r\n"
	    "Hello, the needle is here.\r\n");
	f.subject = "password r\xc3\xa9set";	/* decoded, case-insensitive */
	assert_true(match_message(&f, m));
	f.subject = "*reset*";
	assert_false(match_message(&f, m));
	memset(&f, 0, sizeof(f));
	f.header_name = "x-test-id";
	f.header_value = "run-42";
	assert_true(match_message(&f, m));
	f.header_value = "run-43";		/* same header, not any header */
	assert_false(match_message(&f, m));
	f.header_name = "x-*";
	assert_true(match_message(&f, m));
	f.header_value = NULL;
	f.header_name = "X-Missing";
	assert_false(match_message(&f, m));
	memset(&f, 0, sizeof(f));
	f.header_value = "run-43";		/* any header's value */
	assert_true(match_message(&f, m));
	memset(&f, 0, sizeof(f));
	f.body = "*needle*";
	assert_true(match_message(&f, m));
	f.body = "needle";			/* whole text */
	assert_false(match_message(&f, m));
	f.body = "*haystack*";
	assert_false(match_message(&f, m));
	message_free(m);
}

static void
test_match_filter_copy(void **state)
{
	struct filter	src = { 0 }, dst;
	char		rcpt[] = "*@x";

	src.rcpt_to = rcpt;
	src.subject = "";
	src.body = "*b*";
	src.after_id = 7;
	match_filter_copy(&dst, &src);
	rcpt[0] = 'z';
	assert_string_equal(dst.rcpt_to, "*@x");
	assert_ptr_not_equal(dst.body, src.body);
	assert_string_equal(dst.body, "*b*");
	assert_null(dst.subject);
	assert_null(dst.mail_from);
	assert_int_equal(dst.after_id, 7);
	match_filter_free(&dst);
	assert_null(dst.rcpt_to);
	match_filter_free(&dst);
	match_filter_copy(&dst, NULL);
	assert_true(match_filter_is_empty(&dst));
	match_filter_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_glob_table),
		cmocka_unit_test(test_match_glob_pathological),
		cmocka_unit_test(test_match_glob_check),
		cmocka_unit_test(test_match_filter_check),
		cmocka_unit_test(test_match_filter_envelope),
		cmocka_unit_test(test_match_filter_headers_no_mime),
		cmocka_unit_test(test_match_filter_headers),
		cmocka_unit_test(test_match_filter_copy),
	};

	mime_init(32, 1024);
	return cmocka_run_group_tests_name("match", tests, NULL, NULL);
}
