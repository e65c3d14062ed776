/*
 * test_json - the JSON string escaper: one table of inputs and their
 * escaped forms, checked through every writer (bounded buffer, json_quote,
 * json_escaped_len), then the cuts of the bounded writer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"

#define LEN(s) (sizeof(s) - 1)

static const struct {
	const char *name;
	const char *in;
	size_t	    len;
	const char *want; /* escaped, without the quotes */
} cases[] = {
	{ "empty", "", 0, "" },
	{ "plain", "user@example.com", LEN("user@example.com"), "user@example.com" },
	{ "slash stays", "a/b", 3, "a/b" },
	{ "quote and backslash", "say \"hi\\\"", LEN("say \"hi\\\""), "say \\\"hi\\\\\\\"" },
	{ "short escapes", "\b\f\n\r\t", 5, "\\b\\f\\n\\r\\t" },
	{ "other controls", "\x01\x1f", 2, "\\u0001\\u001f" },
	{ "nul inside", "a\0b", 3, "a\\u0000b" },
	{ "del", "\x7f", 1, "\\u007f" },
	{ "utf-8 copied", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
	{ "stray continuation", "a\x80z", 3, "a\\ufffdz" },
	{ "latin-1 byte", "caf\xe9!", 5, "caf\\ufffd!" },
	{ "overlong slash", "\xc0\xaf", 2, "\\ufffd\\ufffd" },
	{ "overlong 3-byte", "\xe0\x80\xaf", 3, "\\ufffd\\ufffd\\ufffd" },
	{ "surrogate", "\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd" },
	{ "beyond U+10FFFF", "\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd" },
	{ "f5 lead", "\xf5", 1, "\\ufffd" },
	{ "cut at the end", "x\xe2\x82", 3, "x\\ufffd\\ufffd" },
	{ "bad continuation", "\xc3(", 2, "\\ufffd(" },
	{ "U+10FFFF", "\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf" },
};

static void
test_json_table(void **state)
{
	char   buf[256], *q;
	size_t i, off, used;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* bounded buffer */
		off = 0;
		memset(buf, 'X', sizeof(buf));
		used = json_escape(buf, sizeof(buf), &off, cases[i].in, cases[i].len);
		if (used != cases[i].len || strcmp(buf, cases[i].want) != 0 ||
		    off != strlen(cases[i].want))
			fail_msg("%s: json_escape got \"%s\" (used %zu, off %zu), want \"%s\"",
			    cases[i].name, buf, used, off, cases[i].want);
		if (json_escaped_len(cases[i].in, cases[i].len) != strlen(cases[i].want))
			fail_msg("%s: json_escaped_len got %zu, want %zu", cases[i].name,
			    json_escaped_len(cases[i].in, cases[i].len), strlen(cases[i].want));

		/* json_quote takes a C string */
		snprintf(buf, sizeof(buf), "\"%s\"", cases[i].want);
		if (strlen(cases[i].in) != cases[i].len)
			continue;
		q = json_quote(cases[i].in);
		if (strcmp(q, buf) != 0)
			fail_msg("%s: json_quote got %s, want %s", cases[i].name, q, buf);
		free(q);
	}
}

/* json_escape writes whole escapes only and keeps room for the NUL. */
static void
test_json_escape_cuts(void **state)
{
	static const struct {
		const char *name;
		const char *in;
		size_t	    start, dstsz;
		const char *want;
		size_t	    used;
	} cuts[] = {
		{ "fits exactly", "abc", 0, 4, "abc", 3 },
		{ "no room for the NUL", "abc", 0, 3, "ab", 2 },
		{ "escape not split", "ab\"c", 0, 4, "ab", 2 },
		{ "utf-8 not split", "a\xe2\x82\xac", 0, 4, "a", 1 },
		{ "\\u not split", "a\x01", 0, 6, "a", 1 },
		{ "\\u fits", "a\x01", 0, 8, "a\\u0001", 2 },
		{ "appends at off", "yz", 2, 8, "..yz", 2 },
		{ "off at the end", "yz", 4, 4, "....", 0 },
	};
	char   buf[16];
	size_t i, off, used;

	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		memset(buf, '.', sizeof(buf));
		buf[cuts[i].start] = '\0';
		off = cuts[i].start;
		used = json_escape(buf, cuts[i].dstsz, &off, cuts[i].in, strlen(cuts[i].in));
		buf[cuts[i].dstsz] = '\0'; /* the "off at the end" case wrote no NUL */
		if (cuts[i].start > 0)
			memset(buf, '.', cuts[i].start);
		if (used != cuts[i].used || strcmp(buf, cuts[i].want) != 0 ||
		    off != strlen(cuts[i].want))
			fail_msg("%s: got \"%s\" used %zu off %zu, want \"%s\" used %zu",
			    cuts[i].name, buf, used, off, cuts[i].want, cuts[i].used);
	}
	/* nothing at all fits: no write, not even the NUL */
	buf[0] = '#';
	off = 0;
	assert_int_equal(json_escape(buf, 0, &off, "a", 1), 0);
	assert_int_equal(buf[0], '#');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_table),
		cmocka_unit_test(test_json_escape_cuts),
	};
	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
