/* test_log - log_sanitize escapes client bytes and bounds them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"

static void
test_log_sanitize_table(void **state)
{
	static const struct { const char *name, *in; size_t len; const char *want; } cases[] = {
		{ "plain", "user@example.com", 16, "user@example.com" },
		{ "space and quote", "a b\"c", 5, "a\\x20b\\x22c" },
		{ "equals and backslash", "k=v\\", 4, "k\\x3dv\\x5c" },
		{ "crlf", "x\r\n", 3, "x\\x0d\\x0a" },
		{ "8bit", "\xc3\xa9", 2, "\\xc3\\xa9" },
		{ "nul inside", "a\0b", 3, "a\\x00b" },
	};
	char	 out[LOG_SANITIZE_MAX];
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		log_sanitize(out, sizeof(out), cases[i].in, cases[i].len);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, out, cases[i].want);
	}
}

static void
test_log_sanitize_truncates(void **state)
{
	char	 in[5000], out[LOG_SANITIZE_MAX];

	memset(in, 'a', sizeof(in));
	log_sanitize(out, sizeof(out), in, sizeof(in));
	assert_int_equal(strlen(out), 103);		/* 100 bytes + "..." */
	assert_memory_equal(out + 100, "...", 3);
	memset(in, '\n', sizeof(in));
	log_sanitize(out, sizeof(out), in, sizeof(in));
	assert_true(strlen(out) < sizeof(out));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_sanitize_table),
		cmocka_unit_test(test_log_sanitize_truncates),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
