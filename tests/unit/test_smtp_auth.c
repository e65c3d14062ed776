/*
 * test_smtp_auth - the pure half of smtp_auth.c: mechanism names, the
 * PLAIN / LOGIN / CRAM-MD5 / XOAUTH2 exchanges step by step, strict base64,
 * cancel, malformed credentials, the check against a user list (CRAM-MD5
 * against RFC 2195's example) and the constant-time compare.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <glib.h>

#include "config.h"
#include "smtp_auth.h"

static const struct config_auth_user users[] = {
	{ "tim", "tanstaaftanstaaf" },
	{ "alice", "s3cret" },
};
#define NUSERS (sizeof(users) / sizeof(users[0]))

/* base64 of n bytes (NULs allowed), in a static buffer */
static const char *
b64(const char *s, size_t n)
{
	static char out[1024];
	gchar	   *e = g_base64_encode((const guchar *)s, n);

	snprintf(out, sizeof(out), "%s", e);
	g_free(e);
	return out;
}

static enum smtp_auth_rc
next(struct smtp_auth *a, const char *line, struct smtp_auth_reply *r)
{
	return smtp_auth_next(a, line, strlen(line), r);
}

static void
test_smtp_auth_mech_names(void **state)
{
	assert_int_equal(smtp_auth_mech_parse("plain"), SMTP_AUTH_PLAIN);
	assert_int_equal(smtp_auth_mech_parse("LOGIN"), SMTP_AUTH_LOGIN);
	assert_int_equal(smtp_auth_mech_parse("Cram-Md5"), SMTP_AUTH_CRAM_MD5);
	assert_int_equal(smtp_auth_mech_parse("XOAUTH2"), SMTP_AUTH_XOAUTH2);
	assert_int_equal(smtp_auth_mech_parse("GSSAPI"), SMTP_AUTH_NONE);
	assert_int_equal(smtp_auth_mech_parse(""), SMTP_AUTH_NONE);
	assert_string_equal(smtp_auth_mech_str(SMTP_AUTH_CRAM_MD5), "CRAM-MD5");
	assert_string_equal(smtp_auth_mech_str(SMTP_AUTH_NONE), "");
	assert_string_equal(smtp_auth_mech_str((enum smtp_auth_mech)99), "");
}

static void
test_smtp_auth_plain(void **state)
{
	struct smtp_auth       a = { 0 };
	struct smtp_auth_reply r;

	/* initial response, authzid empty */
	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_PLAIN, b64("\0alice\0s3cret", 13), "h", &r),
	    SMTP_AUTH_CREDENTIALS);
	assert_string_equal(a.user, "alice");
	assert_false(smtp_auth_in_progress(&a));
	assert_int_equal(smtp_auth_verify(&a, users, NUSERS), 1);
	assert_null(a.secret);
	/* no initial response: "334 " then the response; a wrong password */
	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_PLAIN, NULL, "h", &r), SMTP_AUTH_CHALLENGE);
	assert_int_equal(r.code, 334);
	assert_string_equal(r.text, "");
	assert_true(smtp_auth_in_progress(&a));
	assert_int_equal(next(&a, b64("alice\0alice\0wrong", 17), &r), SMTP_AUTH_CREDENTIALS);
	assert_int_equal(smtp_auth_verify(&a, users, NUSERS), 0);
	/* unknown user; any credentials without a list */
	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_PLAIN, b64("\0bob\0x", 6), "h", &r),
	    SMTP_AUTH_CREDENTIALS);
	assert_int_equal(smtp_auth_verify(&a, users, NUSERS), 0);
	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_PLAIN, b64("\0bob\0x", 6), "h", &r),
	    SMTP_AUTH_CREDENTIALS);
	assert_int_equal(smtp_auth_verify(&a, NULL, 0), 1);
	/* "=": the empty initial response (RFC 4954), which PLAIN refuses */
	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_PLAIN, "=", "h", &r), SMTP_AUTH_FAILED);
	assert_int_equal(r.code, 535);
	assert_string_equal(r.enh, "5.7.8");
	smtp_auth_clear(&a);
}

/* Decoded PLAIN messages that are not authzid NUL authcid NUL passwd */
static void
test_smtp_auth_plain_malformed(void **state)
{
	static const struct {
		const char *d;
		size_t	    n;
	} bad[] = {
		{ "alice", 5 },		     /* no NUL */
		{ "\0alice", 6 },	     /* one NUL */
		{ "\0alice\0", 7 },	     /* empty password */
		{ "\0\0pw", 4 },	     /* empty user */
		{ "\0alice\0pw\0more", 14 }, /* a third NUL */
		{ "", 0 },		     /* empty */
	};
	struct smtp_auth       a = { 0 };
	struct smtp_auth_reply r;
	char		       longuser[400];
	size_t		       i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_PLAIN, NULL, "h", &r),
		    SMTP_AUTH_CHALLENGE);
		if (next(&a, b64(bad[i].d, bad[i].n), &r) != SMTP_AUTH_FAILED || r.code != 535)
			fail_msg("case %zu: got %u, want 535", i, r.code);
		assert_null(a.user);
		assert_false(smtp_auth_in_progress(&a));
	}
	/* a user name over SMTP_AUTH_USER_MAX */
	memset(longuser, 'u', sizeof(longuser));
	longuser[0] = '\0';
	longuser[300] = '\0';
	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_PLAIN, b64(longuser, 310), "h", &r),
	    SMTP_AUTH_FAILED);
	smtp_auth_clear(&a);
}

static void
test_smtp_auth_base64_and_cancel(void **state)
{
	static const char *const invalid[] = { "abc", "ab=c", "a b c d", "ab\r\n",
		"====", "AB==CD==", "YWxpY2U=\x01" };
	struct smtp_auth	 a = { 0 };
	struct smtp_auth_reply	 r;
	size_t			 i, n;
	char			*d;

	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		assert_null(smtp_auth_b64_decode(invalid[i], strlen(invalid[i]), &n));
		smtp_auth_start(&a, SMTP_AUTH_LOGIN, NULL, "h", &r);
		assert_int_equal(next(&a, invalid[i], &r), SMTP_AUTH_FAILED);
		assert_int_equal(r.code, 501);
		assert_string_equal(r.enh, "5.5.2");
		assert_false(smtp_auth_in_progress(&a));
	}
	/* a NUL inside the line is not base64 either */
	smtp_auth_start(&a, SMTP_AUTH_PLAIN, NULL, "h", &r);
	assert_int_equal(smtp_auth_next(&a, "YW\0j", 4, &r), SMTP_AUTH_FAILED);
	assert_int_equal(r.code, 501);
	/* the invalid initial response too */
	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_PLAIN, "!!!!", "h", &r), SMTP_AUTH_FAILED);
	assert_int_equal(r.code, 501);
	/* valid: padded, binary, empty */
	assert_non_null(d = smtp_auth_b64_decode("AGEAYg==", 8, &n));
	assert_int_equal(n, 4);
	assert_memory_equal(d, "\0a\0b", 4);
	g_free(d);
	assert_non_null(d = smtp_auth_b64_decode("", 0, &n));
	assert_int_equal(n, 0);
	g_free(d);
	/* "*" cancels at any step */
	smtp_auth_start(&a, SMTP_AUTH_LOGIN, NULL, "h", &r);
	next(&a, b64("alice", 5), &r);
	assert_int_equal(next(&a, "*", &r), SMTP_AUTH_FAILED);
	assert_int_equal(r.code, 501);
	assert_string_equal(r.enh, "5.0.0");
	assert_null(a.user);
	smtp_auth_clear(&a);
}

static void
test_smtp_auth_login(void **state)
{
	struct smtp_auth       a = { 0 };
	struct smtp_auth_reply r;

	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_LOGIN, NULL, "h", &r), SMTP_AUTH_CHALLENGE);
	assert_string_equal(r.text, "VXNlcm5hbWU6");
	assert_int_equal(next(&a, b64("alice", 5), &r), SMTP_AUTH_CHALLENGE);
	assert_string_equal(r.text, "UGFzc3dvcmQ6");
	assert_int_equal(next(&a, b64("s3cret", 6), &r), SMTP_AUTH_CREDENTIALS);
	assert_string_equal(a.user, "alice");
	assert_int_equal(smtp_auth_verify(&a, users, NUSERS), 1);
	/* initial response = the user name */
	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_LOGIN, b64("alice", 5), "h", &r),
	    SMTP_AUTH_CHALLENGE);
	assert_string_equal(r.text, "UGFzc3dvcmQ6");
	assert_int_equal(next(&a, b64("nope", 4), &r), SMTP_AUTH_CREDENTIALS);
	assert_int_equal(smtp_auth_verify(&a, users, NUSERS), 0);
	/* an empty password line */
	smtp_auth_start(&a, SMTP_AUTH_LOGIN, b64("alice", 5), "h", &r);
	assert_int_equal(next(&a, "", &r), SMTP_AUTH_FAILED);
	assert_int_equal(r.code, 535);
	smtp_auth_clear(&a);
}

static void
test_smtp_auth_cram_md5(void **state)
{
	struct smtp_auth       a = { 0 };
	struct smtp_auth_reply r;
	char		      *d;
	size_t		       n;

	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_CRAM_MD5, NULL, "mx.test", &r),
	    SMTP_AUTH_CHALLENGE);
	assert_non_null(d = smtp_auth_b64_decode(r.text, strlen(r.text), &n));
	assert_string_equal(d, a.challenge);
	assert_true(d[0] == '<' && strstr(d, "@mx.test>") != NULL && strchr(d, '.') != NULL);
	g_free(d);
	/* RFC 2195's example */
	snprintf(a.challenge, sizeof(a.challenge), "<1896.697170952@postoffice.reston.mci.net>");
	assert_int_equal(next(&a, b64("tim b913a602c7eda7a495b4e6e7334d3890", 36), &r),
	    SMTP_AUTH_CREDENTIALS);
	assert_string_equal(a.user, "tim");
	assert_int_equal(smtp_auth_verify(&a, users, NUSERS), 1);
	/* upper-case hex is the same digest; a wrong digest is not */
	smtp_auth_start(&a, SMTP_AUTH_CRAM_MD5, NULL, "h", &r);
	snprintf(a.challenge, sizeof(a.challenge), "<1896.697170952@postoffice.reston.mci.net>");
	next(&a, b64("tim B913A602C7EDA7A495B4E6E7334D3890", 36), &r);
	assert_int_equal(smtp_auth_verify(&a, users, NUSERS), 1);
	smtp_auth_start(&a, SMTP_AUTH_CRAM_MD5, NULL, "h", &r);
	next(&a, b64("tim b913a602c7eda7a495b4e6e7334d3891", 36), &r);
	assert_int_equal(smtp_auth_verify(&a, users, NUSERS), 0);
	/* no list: any user */
	smtp_auth_start(&a, SMTP_AUTH_CRAM_MD5, NULL, "h", &r);
	next(&a, b64("zed 00000000000000000000000000000000", 36), &r);
	assert_int_equal(smtp_auth_verify(&a, NULL, 0), 1);
	/* malformed: no digest, short digest, not hex */
	smtp_auth_start(&a, SMTP_AUTH_CRAM_MD5, NULL, "h", &r);
	assert_int_equal(next(&a, b64("tim", 3), &r), SMTP_AUTH_FAILED);
	smtp_auth_start(&a, SMTP_AUTH_CRAM_MD5, NULL, "h", &r);
	assert_int_equal(next(&a, b64("tim abc", 7), &r), SMTP_AUTH_FAILED);
	smtp_auth_start(&a, SMTP_AUTH_CRAM_MD5, NULL, "h", &r);
	assert_int_equal(next(&a, b64("tim zz13a602c7eda7a495b4e6e7334d3890", 36), &r),
	    SMTP_AUTH_FAILED);
	/* server first: an initial response is refused with 501 */
	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_CRAM_MD5, "dGlt", "h", &r),
	    SMTP_AUTH_FAILED);
	assert_int_equal(r.code, 501);
	smtp_auth_clear(&a);
}

static void
test_smtp_auth_xoauth2(void **state)
{
	static const char      tok[] = "user=alice\x01"
				       "auth=Bearer ya29.token\x01\x01";
	struct smtp_auth       a = { 0 };
	struct smtp_auth_reply r;

	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_XOAUTH2, b64(tok, strlen(tok)), "h", &r),
	    SMTP_AUTH_CREDENTIALS);
	assert_string_equal(a.user, "alice");
	assert_null(a.secret); /* the token is not kept */
	assert_int_equal(smtp_auth_verify(&a, users, NUSERS), 1);
	/* after a 334; an unlisted user is refused the XOAUTH2 way */
	assert_int_equal(smtp_auth_start(&a, SMTP_AUTH_XOAUTH2, NULL, "h", &r),
	    SMTP_AUTH_CHALLENGE);
	assert_int_equal(next(&a,
			     b64("user=bob\x01"
				 "auth=Bearer t\x01\x01",
				 24),
			     &r),
	    SMTP_AUTH_CREDENTIALS);
	assert_int_equal(smtp_auth_verify(&a, users, NUSERS), 0);
	assert_int_equal(smtp_auth_refuse(&a, &r), SMTP_AUTH_CHALLENGE);
	assert_int_equal(r.code, 334);
	assert_string_equal(r.text,
	    "eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJod"
	    "HRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==");
	assert_true(smtp_auth_in_progress(&a));
	assert_int_equal(next(&a, "", &r), SMTP_AUTH_FAILED);
	assert_int_equal(r.code, 535);
	assert_false(smtp_auth_in_progress(&a));
	/* malformed */
	smtp_auth_start(&a, SMTP_AUTH_XOAUTH2, NULL, "h", &r);
	assert_int_equal(next(&a, b64("alice", 5), &r), SMTP_AUTH_FAILED);
	smtp_auth_start(&a, SMTP_AUTH_XOAUTH2, NULL, "h", &r);
	assert_int_equal(next(&a, b64("user=alice\x01", 11), &r), SMTP_AUTH_FAILED);
	/* other mechanisms refuse with 535 at once */
	smtp_auth_start(&a, SMTP_AUTH_PLAIN, b64("\0x\0y", 4), "h", &r);
	assert_int_equal(smtp_auth_refuse(&a, &r), SMTP_AUTH_FAILED);
	assert_int_equal(r.code, 535);
	smtp_auth_clear(&a);
}

static void
test_smtp_auth_ct_equal(void **state)
{
	assert_true(smtp_auth_ct_equal("abc", 3, "abc", 3));
	assert_false(smtp_auth_ct_equal("abc", 3, "abd", 3));
	assert_false(smtp_auth_ct_equal("abc", 3, "ab", 2));
	assert_false(smtp_auth_ct_equal("ab", 2, "abc", 3));
	assert_false(smtp_auth_ct_equal("", 0, "a", 1));
	assert_true(smtp_auth_ct_equal("", 0, "", 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_auth_mech_names),
		cmocka_unit_test(test_smtp_auth_plain),
		cmocka_unit_test(test_smtp_auth_plain_malformed),
		cmocka_unit_test(test_smtp_auth_base64_and_cancel),
		cmocka_unit_test(test_smtp_auth_login),
		cmocka_unit_test(test_smtp_auth_cram_md5),
		cmocka_unit_test(test_smtp_auth_xoauth2),
		cmocka_unit_test(test_smtp_auth_ct_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
