/* test_config - defaults, flags, SMTPSINK_* variables, precedence, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static int
parse(struct config *cfg, int argc, char **argv)
{
	config_defaults(cfg);
	return config_parse(cfg, argc, argv);
}

static void
test_config_defaults(void **state)
{
	struct config cfg;
	char	     *argv[] = { "smtpsink", NULL };

	assert_int_equal(parse(&cfg, ARGC(argv), argv), 0);
	assert_int_equal(cfg.smtp_listen_n, 1);
	assert_string_equal(cfg.smtp_listen[0], "127.0.0.1:1025");
	assert_string_equal(cfg.grpc_listen, "127.0.0.1:50051");
	assert_int_equal(cfg.message_size_max, 32u * 1024 * 1024);
	assert_int_equal(cfg.store_max_messages, 10000);
	assert_int_equal(cfg.extensions, EXT_ALL);
	assert_int_equal(cfg.idle_timeout_ms, 300000);
	assert_int_equal(cfg.max_sessions, 10000);
	assert_int_equal(cfg.stress_idle_timeout_ms, 5000);
	assert_int_equal(cfg.on_full, CONFIG_ON_FULL_EVICT);
	config_free(&cfg);
}

static void
test_config_flags(void **state)
{
	struct config cfg;
	char *argv[] = { "smtpsink", "--smtp-listen", "127.0.0.1:0", "--smtp-listen=[::1]:2525",
		"--max-message-size", "10M", "--idle-timeout", "2m", "--no-chunking", "--no-dsn",
		"--print", "--max-bytes", "64K", "--log-format", "json", NULL };

	assert_int_equal(parse(&cfg, ARGC(argv), argv), 0);
	assert_int_equal(cfg.smtp_listen_n, 2);
	assert_string_equal(cfg.smtp_listen[0], "127.0.0.1:0");
	assert_string_equal(cfg.smtp_listen[1], "[::1]:2525");
	assert_int_equal(cfg.message_size_max, 10u * 1024 * 1024);
	assert_int_equal(cfg.store_max_bytes, 64 * 1024);
	assert_int_equal(cfg.idle_timeout_ms, 120000);
	assert_int_equal(cfg.extensions, EXT_ALL & ~(EXT_CHUNKING | EXT_DSN));
	assert_int_equal(cfg.print, 1);
	assert_int_equal(cfg.log_format, 1);
	config_free(&cfg);
}

static void
test_config_env_and_precedence(void **state)
{
	struct config cfg;
	char	     *argv[] = { "smtpsink", "--max-messages", "7", NULL };

	setenv("SMTPSINK_MAX_MESSAGES", "99", 1);
	setenv("SMTPSINK_SMTP_LISTEN", "0.0.0.0:1025,[::]:1025", 1);
	setenv("SMTPSINK_NO_PIPELINING", "true", 1);
	setenv("SMTPSINK_MAX_SESSIONS", "12", 1);
	assert_int_equal(parse(&cfg, ARGC(argv), argv), 0);
	assert_int_equal(cfg.store_max_messages, 7); /* flag wins */
	assert_int_equal(cfg.max_sessions, 12);	     /* env applies */
	assert_int_equal(cfg.smtp_listen_n, 2);
	assert_string_equal(cfg.smtp_listen[1], "[::]:1025");
	assert_int_equal(cfg.extensions & EXT_PIPELINING, 0);
	config_free(&cfg);
	unsetenv("SMTPSINK_MAX_MESSAGES");
	unsetenv("SMTPSINK_SMTP_LISTEN");
	unsetenv("SMTPSINK_NO_PIPELINING");
	unsetenv("SMTPSINK_MAX_SESSIONS");
}

static void
test_config_bad_values(void **state)
{
	static const struct {
		const char *flag, *value;
	} cases[] = {
		{ "--max-message-size", "12Q" }, { "--max-message-size", "-1" },
		{ "--idle-timeout", "soon" }, { "--smtp-listen", "nocolon" },
		{ "--smtp-listen", ":25" }, { "--log-format", "xml" },
		{ "--max-line-length", "100" },				 /* below RFC 5321's 512 */
		{ "--max-recipients", "0" }, { "--idle-timeout", "5x" }, /* no such unit */
		{ "--max-message-size", "99999999G" }, /* over the maximum (issue 8) */
		{ "--max-bytes", "0" }, { "--on-full", "drop" }, { "--max-wait", "1.5x" },
		{ "--session-deadline", "8785h" }, /* beyond 366 days */
	};
	struct config cfg;
	size_t	      i;
	FILE	     *saved = stderr;

	stderr = fopen("/dev/null", "w");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = { "smtpsink", (char *)cases[i].flag, (char *)cases[i].value, NULL };
		int   rc = parse(&cfg, ARGC(argv), argv);
		if (rc != -1)
			fail_msg("%s %s: got %d, want -1", cases[i].flag, cases[i].value, rc);
		config_free(&cfg);
	}
	{
		char *argv[] = { "smtpsink", "--no-such-flag", NULL };
		assert_int_equal(parse(&cfg, ARGC(argv), argv), -1);
		config_free(&cfg);
	}
	fclose(stderr);
	stderr = saved;
}

/* Issue 8: the message names the flag (was "limits must be greater than 0"). */
static void
test_config_errors_name_the_flag(void **state)
{
	static const struct {
		const char *flag, *value, *want;
	} cases[] = {
		{ "--max-message-size", "0", "--max-message-size must be greater than 0" },
		{ "--max-sessions", "0", "--max-sessions must be greater than 0" },
		{ "--max-message-size", "99999999G",
		    "--max-message-size: \"99999999G\" is over the maximum 4G" },
		{ "--grpc-max-message-size", "3G", "is over the maximum 2G" },
	};
	struct config cfg;
	size_t	      i, len;
	char	     *text;
	FILE	     *saved = stderr;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = { "smtpsink", (char *)cases[i].flag, (char *)cases[i].value, NULL };
		assert_non_null(stderr = open_memstream(&text, &len));
		assert_int_equal(parse(&cfg, ARGC(argv), argv), -1);
		fclose(stderr);
		stderr = saved;
		if (strstr(text, cases[i].want) == NULL)
			fail_msg("%s %s: got \"%s\", want \"%s\"", cases[i].flag, cases[i].value,
			    text, cases[i].want);
		free(text);
		config_free(&cfg);
	}
}

/* config_parse() with stderr captured: returns its result, *text the message (free it) */
static int
parse_captured(struct config *cfg, int argc, char **argv, char **text)
{
	FILE  *saved = stderr;
	size_t len;
	int    rc;

	assert_non_null(stderr = open_memstream(text, &len));
	rc = parse(cfg, argc, argv);
	fclose(stderr);
	stderr = saved;
	return rc;
}

/* --auth, --auth-users FILE, SMTPSINK_AUTH_USERS, --require-auth, the TLS rule */
static void
test_config_auth(void **state)
{
	char	      path[] = "/tmp/test_config_auth_XXXXXX";
	struct config cfg;
	char	     *text;
	FILE	     *f;
	int	      fd;
	char	     *noinsecure[] = { "smtpsink", "--auth", NULL };
	char	     *ok[] = { "smtpsink", "--auth", "--auth-allow-insecure", NULL };
	char	     *file[] = { "smtpsink", "--auth-users", path, "--auth-allow-insecure",
			"--require-auth", NULL };
	char	     *file_notls[] = { "smtpsink", "--auth-users", path, NULL };
	char	     *reqonly[] = { "smtpsink", "--require-auth", NULL };
	char	     *env[] = { "smtpsink", "--auth-allow-insecure", NULL };

	assert_int_equal(parse_captured(&cfg, ARGC(noinsecure), noinsecure, &text), -1);
	assert_non_null(strstr(text,
	    "--auth needs TLS (--starttls or --smtps-listen) or --auth-allow-insecure"));
	free(text);
	config_free(&cfg);
	assert_int_equal(parse(&cfg, ARGC(ok), ok), 0);
	assert_true(cfg.auth && cfg.auth_allow_insecure && !cfg.require_auth);
	assert_int_equal(cfg.auth_users_n, 0);
	config_free(&cfg);
	assert_int_equal(parse_captured(&cfg, ARGC(reqonly), reqonly, &text), -1);
	assert_non_null(strstr(text, "--require-auth needs --auth"));
	free(text);
	config_free(&cfg);

	/* a file: comments and blank lines skipped, the password split at the first ':' */
	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fputs("# users\n\nalice:pw:with:colons\r\n  # indented comment\nbob:x\n", f);
	fclose(f);
	assert_int_equal(parse(&cfg, ARGC(file), file), 0);
	assert_true(cfg.auth && cfg.require_auth);
	assert_int_equal(cfg.auth_users_n, 2);
	assert_string_equal(cfg.auth_users[0].name, "alice");
	assert_string_equal(cfg.auth_users[0].password, "pw:with:colons");
	assert_string_equal(cfg.auth_users[1].name, "bob");
	config_free(&cfg);
	assert_int_equal(parse_captured(&cfg, ARGC(file_notls), file_notls, &text), -1);
	assert_non_null(strstr(text, "--auth-users needs TLS"));
	free(text);
	config_free(&cfg);
	/* a malformed line: FILE:LINE, never the line (it holds a password) */
	assert_non_null(f = fopen(path, "w"));
	fputs("alice:pw\n# c\nsecretpass-no-colon\n", f);
	fclose(f);
	assert_int_equal(parse_captured(&cfg, ARGC(file), file, &text), -1);
	assert_non_null(strstr(text, ":3: malformed line"));
	assert_non_null(strstr(text, path));
	assert_null(strstr(text, "secretpass"));
	free(text);
	config_free(&cfg);
	unlink(path);
	file[2] = "/nonexistent/users";
	assert_int_equal(parse_captured(&cfg, ARGC(file), file, &text), -1);
	assert_non_null(strstr(text, "/nonexistent/users"));
	free(text);
	config_free(&cfg);

	/* the environment holds the list itself */
	setenv("SMTPSINK_AUTH_USERS", "u1:p1,u2:p:2", 1);
	assert_int_equal(parse(&cfg, ARGC(env), env), 0);
	assert_true(cfg.auth);
	assert_int_equal(cfg.auth_users_n, 2);
	assert_string_equal(cfg.auth_users[1].name, "u2");
	assert_string_equal(cfg.auth_users[1].password, "p:2");
	config_free(&cfg);
	setenv("SMTPSINK_AUTH_USERS", "u1:p1,u2", 1);
	assert_int_equal(parse_captured(&cfg, ARGC(env), env, &text), -1);
	assert_non_null(strstr(text, "SMTPSINK_AUTH_USERS: entry 2 malformed"));
	free(text);
	config_free(&cfg);
	unsetenv("SMTPSINK_AUTH_USERS");
}

/* The one duration grammar (daemon flags and smtpsinkctl --timeout). */
static void
test_config_duration(void **state)
{
	static const struct {
		const char *in;
		int64_t	    want;
	} cases[] = {
		{ "30", 30000 },
		{ "30s", 30000 },
		{ "0", 0 },
		{ "0s", 0 },
		{ "500ms", 500 },
		{ "1.5s", 1500 },
		{ "1.5", 1500 },
		{ ".5", 500 },
		{ "5.", 5000 },
		{ "2m", 120000 },
		{ "1.5m", 90000 },
		{ "1h", 3600000 },
		{ "1.5ms", 2 },
		{ "0.0004", 0 },
		{ "0.0005", 1 },
		{ "007", 7000 },
		{ "0.1234567891239s", 123 },
		{ "8784h", 8784LL * 3600000 },
		{ "31622400", 31622400000LL },
		{ "31622400000ms", 31622400000LL },
		{ "", -1 },
		{ ".", -1 },
		{ "s", -1 },
		{ "ms", -1 },
		{ "-1", -1 },
		{ "+1", -1 },
		{ " 1", -1 },
		{ "1 ", -1 },
		{ "1 s", -1 },
		{ "1x", -1 },
		{ "1S", -1 },
		{ "1e3", -1 },
		{ "0x10", -1 },
		{ "1.2.3", -1 },
		{ "1d", -1 },
		{ "8785h", -1 },
		{ "31622400001ms", -1 },
		{ "99999999999999999999", -1 },
		{ "soon", -1 },
	};
	int64_t ms;
	size_t	i;
	int	rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ms = -42;
		rc = config_parse_duration_ms(cases[i].in, &ms);
		if (cases[i].want == -1 ? rc != -1 || ms != -42 : rc != 0 || ms != cases[i].want)
			fail_msg("\"%s\": got rc %d ms %lld, want %lld", cases[i].in, rc,
			    (long long)ms, (long long)cases[i].want);
	}
}

static void
test_config_duration_flags(void **state)
{
	struct config cfg;
	char	     *argv[] = { "smtpsink", "--idle-timeout", "1.5m", "--max-wait", "2000ms",
			"--shutdown-grace", "7", "--session-deadline", "1h", "--stress-idle-timeout",
			"250ms", "--on-full", "reject", NULL };

	assert_int_equal(parse(&cfg, ARGC(argv), argv), 0);
	assert_int_equal(cfg.idle_timeout_ms, 90000);
	assert_int_equal(cfg.wait_max_ms, 2000);
	assert_int_equal(cfg.shutdown_grace_ms, 7000);
	assert_int_equal(cfg.session_deadline_ms, 3600000);
	assert_int_equal(cfg.stress_idle_timeout_ms, 250); /* sub-second works now */
	assert_int_equal(cfg.on_full, CONFIG_ON_FULL_REJECT);
	config_free(&cfg);
}

/*
 * Every default --help shows is read back from config_defaults(): fed to
 * the flags, the shown values give the defaults again.
 */
static void
test_config_usage_defaults(void **state)
{
	struct config def, cfg;
	char	     *text, *line, *save, *argv[128], flag[64], *p, *q;
	char	      vals[64][160];
	size_t	      len, nv = 0;
	int	      argc = 1;
	FILE	     *f;

	assert_non_null(f = open_memstream(&text, &len));
	config_usage(f);
	fclose(f);
	argv[0] = "smtpsink";
	flag[0] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, " --%63s VALUE", flag) == 1 && strstr(line, " VALUE ") != NULL)
			continue;
		if ((p = strstr(line, " (default ")) != NULL && flag[0] != '\0' &&
		    strstr(line, " env SMTPSINK_") != NULL) {
			p += strlen(" (default ");
			assert_non_null(q = strrchr(p, ')'));
			assert_true(nv < 64 && argc + 2 < 128);
			assert_true(snprintf(vals[nv], sizeof(vals[nv]), "--%s=%.*s", flag,
					(int)(q - p), p) < (int)sizeof(vals[nv]));
			argv[argc++] = vals[nv++];
		}
		flag[0] = '\0';
	}
	argv[argc] = NULL;
	assert_true(argc > 20); /* the valued options were found */

	config_defaults(&def);
	config_defaults(&cfg);
	/* start from other values, so the flags must set each one */
	cfg.message_size_max = cfg.store_max_bytes = cfg.grpc_max_message = 1;
	cfg.idle_timeout_ms = cfg.wait_max_ms = cfg.session_deadline_ms = 1;
	cfg.stress_idle_timeout_ms = cfg.shutdown_grace_ms = cfg.http_idle_timeout_ms = 1;
	cfg.max_sessions = 1;
	cfg.on_full = CONFIG_ON_FULL_REJECT;
	cfg.log_level = LOG_LEVEL_DEBUG;
	assert_int_equal(config_parse(&cfg, argc, argv), 0);
	assert_string_equal(cfg.smtp_listen[0], def.smtp_listen[0]);
	assert_string_equal(cfg.grpc_listen, def.grpc_listen);
	assert_string_equal(cfg.hostname, def.hostname);
	assert_int_equal(cfg.message_size_max, DEF_MESSAGE_SIZE_MAX);
	assert_int_equal(cfg.store_max_bytes, DEF_STORE_MAX_BYTES);
	assert_int_equal(cfg.grpc_max_message, DEF_GRPC_MAX_MESSAGE);
	assert_int_equal(cfg.data_line_max, DEF_DATA_LINE_MAX);
	assert_int_equal(cfg.idle_timeout_ms, DEF_IDLE_TIMEOUT_MS);
	assert_int_equal(cfg.session_deadline_ms, DEF_SESSION_DEADLINE_MS);
	assert_int_equal(cfg.wait_max_ms, DEF_WAIT_MAX_MS);
	assert_int_equal(cfg.stress_idle_timeout_ms, DEF_STRESS_IDLE_TIMEOUT_MS);
	assert_int_equal(cfg.shutdown_grace_ms, DEF_SHUTDOWN_GRACE_MS);
	assert_int_equal(cfg.http_idle_timeout_ms, DEF_HTTP_IDLE_TIMEOUT_MS);
	assert_int_equal(cfg.max_sessions, DEF_MAX_SESSIONS);
	assert_int_equal(cfg.on_full, CONFIG_ON_FULL_EVICT);
	assert_int_equal(cfg.log_level, def.log_level);
	assert_int_equal(cfg.log_format, def.log_format);
	config_free(&cfg);
	config_free(&def);
	free(text);
}

/*
 * README's configuration table is config_markdown()'s output, byte for byte.
 * On a difference the table is written to config_table.md in the current
 * directory, to paste into README.md.
 */
static void
test_config_readme_table(void **state)
{
	char  *table, *readme = NULL, *at;
	size_t tlen, rlen = 0;
	FILE  *f;

	assert_non_null(f = open_memstream(&table, &tlen));
	config_markdown(f);
	fclose(f);
	assert_non_null(f = fopen(FIXTURES_DIR "/../../README.md", "r"));
	assert_int_equal(getdelim(&readme, &rlen, '\0', f) > 0, 1);
	fclose(f);
	if ((at = strstr(readme, table)) == NULL) {
		assert_non_null(f = fopen("config_table.md", "w"));
		fputs(table, f);
		fclose(f);
		fail_msg("README.md's configuration table is out of date: see config_table.md");
	}
	free(readme);
	free(table);
}

static void
test_config_ext_names(void **state)
{
	assert_string_equal(config_ext_name(EXT_PIPELINING), "PIPELINING");
	assert_string_equal(config_ext_name(EXT_DSN), "DSN");
	assert_null(config_ext_name(0x8000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_flags),
		cmocka_unit_test(test_config_env_and_precedence),
		cmocka_unit_test(test_config_bad_values),
		cmocka_unit_test(test_config_errors_name_the_flag),
		cmocka_unit_test(test_config_duration),
		cmocka_unit_test(test_config_duration_flags),
		cmocka_unit_test(test_config_usage_defaults),
		cmocka_unit_test(test_config_ext_names),
		cmocka_unit_test(test_config_readme_table),
		cmocka_unit_test(test_config_auth),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
