/*
 * test_log - log_sanitize escapes client bytes and bounds them; JSON lines
 * escape through json.c and stay one valid object even when cut; text lines
 * are "time level message" with the message cut at 2047 bytes.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

static void
test_log_sanitize_table(void **state)
{
	static const struct {
		const char *name, *in;
		size_t	    len;
		const char *want;
	} cases[] = {
		{ "plain", "user@example.com", 16, "user@example.com" },
		{ "space and quote", "a b\"c", 5, "a\\x20b\\x22c" },
		{ "equals and backslash", "k=v\\", 4, "k\\x3dv\\x5c" },
		{ "crlf", "x\r\n", 3, "x\\x0d\\x0a" },
		{ "8bit", "\xc3\xa9", 2, "\\xc3\\xa9" },
		{ "nul inside", "a\0b", 3, "a\\x00b" },
	};
	char   out[LOG_SANITIZE_MAX];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		log_sanitize(out, sizeof(out), cases[i].in, cases[i].len);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, out, cases[i].want);
	}
}

static void
test_log_sanitize_truncates(void **state)
{
	char in[5000], out[LOG_SANITIZE_MAX];

	memset(in, 'a', sizeof(in));
	log_sanitize(out, sizeof(out), in, sizeof(in));
	assert_int_equal(strlen(out), 103); /* 100 bytes + "..." */
	assert_memory_equal(out + 100, "...", 3);
	memset(in, '\n', sizeof(in));
	log_sanitize(out, sizeof(out), in, sizeof(in));
	assert_true(strlen(out) < sizeof(out));
}

/*
 * Runs one log_info("%s", msg) (log_warn with errno ENOENT when warn) in
 * format fmt; returns the line (malloc'd, no newline).
 */
static char *
log_capture(enum log_format fmt, int warn, const char *msg)
{
	char	path[] = "/tmp/test_log.XXXXXX", *line = NULL;
	size_t	cap = 0;
	ssize_t n;
	FILE   *f;
	int	fd, saved;

	assert_true((fd = mkstemp(path)) >= 0);
	unlink(path);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	log_init(fmt, LOG_LEVEL_INFO);
	if (warn) {
		errno = ENOENT;
		log_warn("%s", msg);
	} else
		log_info("%s", msg);
	log_init(LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	assert_non_null(f = fdopen(fd, "r"));
	assert_true((n = getline(&line, &cap, f)) > 0);
	assert_int_equal(line[n - 1], '\n');
	line[n - 1] = '\0';
	assert_int_equal(getline(&line, &cap, f), -1); /* one line */
	fclose(f);
	return line;
}

static char *
log_json_line(const char *msg)
{
	return log_capture(LOG_FORMAT_JSON, 0, msg);
}

/* Text: "2026-12-03T18:55:07.123Z level msg", the message cut at 2047 bytes */
static void
test_log_text_line(void **state)
{
	char	    big[3000], *line;
	const char *p;
	size_t	    i;

	line = log_capture(LOG_FORMAT_TEXT, 0, "relay done id=7 reply=\"250 ok\"");
	assert_int_equal(strlen(line), 24 + strlen(" info relay done id=7 reply=\"250 ok\""));
	for (i = 0, p = "dddd-dd-ddTdd:dd:dd.dddZ"; p[i] != '\0'; i++)
		if (p[i] == 'd' ? !isdigit((unsigned char)line[i]) : line[i] != p[i])
			fail_msg("bad time stamp: %s", line);
	assert_string_equal(line + 24, " info relay done id=7 reply=\"250 ok\"");
	free(line);
	line = log_capture(LOG_FORMAT_TEXT, 1, "open x");
	assert_string_equal(line + 24, " warn open x error=\"No such file or directory\"");
	free(line);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	line = log_capture(LOG_FORMAT_TEXT, 0, big);
	assert_int_equal(strlen(line), 24 + 6 + 2047);
	free(line);
	big[2040] = '\0'; /* the error text is cut at the same place */
	line = log_capture(LOG_FORMAT_TEXT, 1, big);
	assert_int_equal(strlen(line), 24 + 6 + 2047);
	assert_memory_equal(line + 24 + 6 + 2040, " error=", 7);
	free(line);
}

static void
test_log_json_escapes(void **state)
{
	static const struct {
		const char *name, *msg, *want;
	} cases[] = {
		{ "plain", "smtp connect id=7 peer=1.2.3.4",
		    "\"event\":\"smtp connect\",\"id\":\"7\",\"peer\":\"1.2.3.4\"}" },
		{ "quoted value", "ev k=\"a b\\c\" n=1",
		    "\"event\":\"ev\",\"k\":\"a b\\\\c\",\"n\":\"1\"}" },
		{ "controls", "ev k=\"a\x01\tb\"", "\"event\":\"ev\",\"k\":\"a\\u0001\\tb\"}" },
		{ "invalid utf-8", "ev k=caf\xe9", "\"event\":\"ev\",\"k\":\"caf\\ufffd\"}" },
		{ "free text", "ev k=v then words",
		    "\"event\":\"ev\",\"k\":\"v\",\"msg\":\"then words\"}" },
	};
	char  *line, *p;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		line = log_json_line(cases[i].msg);
		if (strncmp(line, "{\"time\":\"", 9) != 0 ||
		    (p = strstr(line, "\"level\":\"info\",")) == NULL ||
		    strcmp(p + strlen("\"level\":\"info\","), cases[i].want) != 0)
			fail_msg("%s: got %s, want ...%s", cases[i].name, line, cases[i].want);
		free(line);
	}
}

/* A line whose escapes overflow the buffer is cut at a whole escape and closed. */
static void
test_log_json_cut(void **state)
{
	char   msg[2000], *line;
	size_t len, i;

	memcpy(msg, "ev k=", 5);
	memset(msg + 5, '\x01', sizeof(msg) - 6); /* 6 bytes each once escaped */
	msg[sizeof(msg) - 1] = '\0';
	line = log_json_line(msg);
	len = strlen(line);
	assert_true(len < 4096);
	assert_string_equal(line + len - 2, "\"}");
	/* only whole \u0001 escapes before the closing quote */
	i = strstr(line, "\"k\":\"") - line + 5;
	assert_int_equal((len - 2 - i) % 6, 0);
	assert_memory_equal(line + len - 8, "\\u0001", 6);
	free(line);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_sanitize_table),
		cmocka_unit_test(test_log_sanitize_truncates),
		cmocka_unit_test(test_log_text_line),
		cmocka_unit_test(test_log_json_escapes),
		cmocka_unit_test(test_log_json_cut),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
