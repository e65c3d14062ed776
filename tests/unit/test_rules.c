/*
 * test_rules - validation, ids, order, times/hits and the action copied out
 * by rules_eval(); per-stage lists, the work bound (counted steps) and the
 * limits on count, glob length and compiled size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "globs.h"
#include "match.h"
#include "rules.h"

static struct rule
tmpl(enum rules_stage st, const char *match, unsigned code)
{
	struct rule t;

	memset(&t, 0, sizeof(t));
	t.stage = st;
	t.match = (char *)match;
	t.code = code;
	return t;
}

static const struct rule *
add_ok(struct rules *rs, const struct rule *t)
{
	char		   err[256] = "";
	const struct rule *r = rules_add(rs, t, err, sizeof(err));

	if (r == NULL)
		fail_msg("rules_add failed: %s", err);
	return r;
}

/* Expects rules_add to fail with a reason containing `want`. */
static void
add_bad(struct rules *rs, const struct rule *t, const char *want)
{
	char err[256] = "";

	assert_null(rules_add(rs, t, err, sizeof(err)));
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, want);
}

static void
test_ids_and_order(void **state)
{
	struct rules	  *rs = rules_new();
	struct rule	   t = tmpl(RULES_STAGE_RCPT_TO, "*@a.test", 550);
	const struct rule *r1, *r2, *r3;

	r1 = add_ok(rs, &t);
	r2 = add_ok(rs, &t);
	r3 = add_ok(rs, &t);
	assert_string_equal(r1->id, "1");
	assert_string_equal(r2->id, "2");
	assert_string_equal(r3->id, "3");
	assert_int_equal(rules_count(rs), 3);
	assert_ptr_equal(rules_first(rs), r1);
	assert_ptr_equal(r1->next, r2);
	assert_ptr_equal(r2->next, r3);

	assert_int_equal(rules_delete(rs, "2"), 1);
	assert_int_equal(rules_delete(rs, "2"), 0);
	assert_int_equal(rules_delete(rs, "99"), 0);
	assert_int_equal(rules_count(rs), 2);
	assert_ptr_equal(rules_first(rs)->next, r3);
	/* ids are never reused; appending after a delete of the tail works */
	assert_int_equal(rules_delete(rs, "3"), 1);
	r2 = add_ok(rs, &t);
	assert_string_equal(r2->id, "4");
	assert_ptr_equal(rules_first(rs)->next, r2);
	assert_int_equal(rules_delete(rs, ""), 2);
	assert_int_equal(rules_count(rs), 0);
	assert_null(rules_first(rs));
	r1 = add_ok(rs, &t);
	assert_string_equal(r1->id, "5");
	assert_int_equal(rules_delete(rs, NULL), 1);
	rules_free(rs);
	rules_free(NULL);
}

static void
test_validation(void **state)
{
	struct rules *rs = rules_new();
	struct rule   t;

	t = tmpl(RULES_STAGE_NONE, "", 550);
	add_bad(rs, &t, "stage");
	t = tmpl((enum rules_stage)(RULES_STAGE_LAST + 1), "", 550);
	add_bad(rs, &t, "stage");
	t = tmpl(RULES_STAGE_RCPT_TO, "", 250);
	add_bad(rs, &t, "4xx or 5xx");
	t = tmpl(RULES_STAGE_RCPT_TO, "", 600);
	add_bad(rs, &t, "4xx or 5xx");
	t = tmpl(RULES_STAGE_RCPT_TO, "", 0);
	add_bad(rs, &t, "delay_ms");
	t.delay_ms = 10;
	add_ok(rs, &t);
	t = tmpl(RULES_STAGE_RCPT_TO, "", 0);
	t.disconnect = 1;
	add_ok(rs, &t);
	t = tmpl(RULES_STAGE_RCPT_TO, "[abc", 550);
	add_bad(rs, &t, "bad glob");
	t = tmpl(RULES_STAGE_RCPT_TO, "", 550);
	snprintf(t.enhanced, sizeof(t.enhanced), "4.7.1");
	add_bad(rs, &t, "class");
	snprintf(t.enhanced, sizeof(t.enhanced), "5.7");
	add_bad(rs, &t, "5.7.1");
	snprintf(t.enhanced, sizeof(t.enhanced), "5.7.1x");
	add_bad(rs, &t, "5.7.1");
	snprintf(t.enhanced, sizeof(t.enhanced), "5.1234.1");
	add_bad(rs, &t, "5.7.1");
	snprintf(t.enhanced, sizeof(t.enhanced), "5.7.10");
	add_ok(rs, &t);
	t = tmpl(RULES_STAGE_RCPT_TO, "", 0);
	t.delay_ms = 5;
	snprintf(t.enhanced, sizeof(t.enhanced), "5.7.1");
	add_bad(rs, &t, "without a code");
	t = tmpl(RULES_STAGE_DATA, "", 554);
	t.message = "bad\r\n250 ok";
	add_bad(rs, &t, "control characters");
	t = tmpl(RULES_STAGE_DATA, "", 554);
	t.delay_ms = RULES_DELAY_MAX + 1;
	add_bad(rs, &t, "delay_ms");
	assert_int_equal(rules_count(rs), 3);
	rules_free(rs);
}

static void
test_default_enhanced_and_message(void **state)
{
	struct rules	   *rs = rules_new();
	struct rule	    t;
	const struct rule  *r;
	struct rules_action a;

	t = tmpl(RULES_STAGE_RCPT_TO, "", 550);
	r = add_ok(rs, &t);
	assert_string_equal(r->enhanced, "5.1.1");
	assert_string_equal(r->message, "rejected by rule 1");
	t = tmpl(RULES_STAGE_CONNECT, "", 421);
	r = add_ok(rs, &t);
	assert_string_equal(r->enhanced, "4.3.2");
	t = tmpl(RULES_STAGE_MAIL_FROM, "", 451);
	t.message = "try later";
	r = add_ok(rs, &t);
	assert_string_equal(r->enhanced, "4.7.1");
	assert_string_equal(r->message, "try later");

	assert_int_equal(rules_eval(rs, RULES_STAGE_MAIL_FROM, NULL, 0, &a), 1);
	assert_int_equal(a.code, 451);
	assert_string_equal(a.reply, "451 4.7.1 try later");
	assert_string_equal(a.rule_id, "3");
	assert_int_equal(rules_eval(rs, RULES_STAGE_RCPT_TO, NULL, 0, &a), 1);
	assert_string_equal(a.reply, "550 5.1.1 rejected by rule 1");
	rules_free(rs);
}

static void
test_eval_match_and_stage(void **state)
{
	struct rules	   *rs = rules_new();
	struct rule	    t;
	struct rules_action a;
	const char	   *one[] = { "bob@b.test" };
	const char	   *two[] = { "x@c.test", "Alice@A.TEST" };

	t = tmpl(RULES_STAGE_RCPT_TO, "*@a.test", 550);
	t.message = "no a";
	add_ok(rs, &t);
	t = tmpl(RULES_STAGE_RCPT_TO, "bob@*", 450);
	t.message = "no bob";
	snprintf(t.enhanced, sizeof(t.enhanced), "4.2.2");
	add_ok(rs, &t);

	assert_int_equal(rules_eval(rs, RULES_STAGE_RCPT_TO, one, 1, &a), 1);
	assert_string_equal(a.reply, "450 4.2.2 no bob");
	assert_string_equal(a.rule_id, "2");
	/* any subject; case-insensitive; first rule in creation order wins */
	assert_int_equal(rules_eval(rs, RULES_STAGE_RCPT_TO, two, 2, &a), 1);
	assert_string_equal(a.reply, "550 5.1.1 no a");
	assert_string_equal(a.rule_id, "1");
	assert_int_equal(a.code, 550);
	/* other stage: nothing */
	assert_int_equal(rules_eval(rs, RULES_STAGE_DATA, two, 2, &a), 0);
	assert_int_equal(rules_eval(rs, RULES_STAGE_RCPT_TO, two, 0, &a), 0);
	assert_int_equal(rules_first(rs)->hits, 1);
	assert_int_equal(rules_first(rs)->next->hits, 1);
	rules_free(rs);
}

static void
test_times_and_hits(void **state)
{
	struct rules	   *rs = rules_new();
	struct rule	    t;
	struct rules_action a;
	const struct rule  *r1, *r2;
	const char	   *subj[] = { "helo.test" };

	t = tmpl(RULES_STAGE_HELO, "", 421);
	t.times = 2;
	t.disconnect = 1;
	t.delay_ms = 7;
	r1 = add_ok(rs, &t);
	t = tmpl(RULES_STAGE_HELO, "*.test", 554);
	r2 = add_ok(rs, &t);

	assert_int_equal(rules_eval(rs, RULES_STAGE_HELO, subj, 1, &a), 1);
	assert_int_equal(a.code, 421);
	assert_int_equal(a.disconnect, 1);
	assert_int_equal(a.delay_ms, 7);
	assert_int_equal(rules_eval(rs, RULES_STAGE_HELO, subj, 1, &a), 1);
	assert_int_equal(a.code, 421);
	/* exhausted: stays listed, the next rule fires */
	assert_int_equal(rules_eval(rs, RULES_STAGE_HELO, subj, 1, &a), 1);
	assert_int_equal(a.code, 554);
	assert_int_equal(a.disconnect, 0);
	assert_int_equal(rules_count(rs), 2);
	assert_int_equal(r1->hits, 2);
	assert_int_equal(r2->hits, 1);
	rules_free(rs);
}

static void
test_delay_only(void **state)
{
	struct rules	   *rs = rules_new();
	struct rule	    t;
	struct rules_action a;
	const struct rule  *r;
	const char	   *subj[1];

	t = tmpl(RULES_STAGE_DATA, "", 0);
	t.delay_ms = 250;
	r = add_ok(rs, &t);
	assert_string_equal(r->enhanced, "");
	assert_int_equal(rules_eval(rs, RULES_STAGE_DATA, NULL, 0, &a), 1);
	assert_int_equal(a.code, 0);
	assert_string_equal(a.reply, "");
	assert_int_equal(a.delay_ms, 250);
	assert_string_equal(rules_stage_str(RULES_STAGE_DATA), "DATA");
	assert_string_equal(rules_stage_str(RULES_STAGE_RCPT_TO), "RCPT_TO");
	assert_string_equal(rules_stage_str(RULES_STAGE_AUTH), "AUTH");
	/* AUTH: 4.7.0 / 5.7.8 (RFC 4954), matched on the user name */
	t = tmpl(RULES_STAGE_AUTH, "bob", 535);
	add_ok(rs, &t);
	t = tmpl(RULES_STAGE_AUTH, "", 454);
	add_ok(rs, &t);
	subj[0] = "BOB";
	assert_int_equal(rules_eval(rs, RULES_STAGE_AUTH, subj, 1, &a), 1);
	assert_non_null(strstr(a.reply, "535 5.7.8 "));
	subj[0] = "alice";
	assert_int_equal(rules_eval(rs, RULES_STAGE_AUTH, subj, 1, &a), 1);
	assert_non_null(strstr(a.reply, "454 4.7.0 "));
	rules_free(rs);
}

/* Each stage keeps creation order through adds and deletes of other stages. */
static void
test_stage_lists(void **state)
{
	struct rules	   *rs = rules_new();
	struct rule	    t;
	struct rules_action a;
	const char	   *subj[] = { "x@y.test" };
	const char	   *ids[] = { "1", "2", "3", "4", "5", "6" };
	size_t		    i;

	for (i = 0; i < 6; i++) {
		t = tmpl(i % 2 ? RULES_STAGE_DATA : RULES_STAGE_RCPT_TO, "*@y.test", 550);
		add_ok(rs, &t);
	}
	assert_int_equal(rules_eval(rs, RULES_STAGE_RCPT_TO, subj, 1, &a), 1);
	assert_string_equal(a.rule_id, "1");
	assert_int_equal(rules_eval(rs, RULES_STAGE_DATA, subj, 1, &a), 1);
	assert_string_equal(a.rule_id, "2");
	assert_int_equal(rules_delete(rs, "1"), 1);
	assert_int_equal(rules_delete(rs, "2"), 1);
	assert_int_equal(rules_eval(rs, RULES_STAGE_RCPT_TO, subj, 1, &a), 1);
	assert_string_equal(a.rule_id, "3");
	assert_int_equal(rules_eval(rs, RULES_STAGE_DATA, subj, 1, &a), 1);
	assert_string_equal(a.rule_id, "4");
	assert_int_equal(rules_delete(rs, "5"), 1);
	t = tmpl(RULES_STAGE_RCPT_TO, "", 451);
	add_ok(rs, &t); /* "7" goes after "3" */
	assert_int_equal(rules_delete(rs, "3"), 1);
	assert_int_equal(rules_eval(rs, RULES_STAGE_RCPT_TO, subj, 1, &a), 1);
	assert_string_equal(a.rule_id, "7");
	assert_int_equal(rules_eval(rs, RULES_STAGE_HELO, subj, 1, &a), 0);
	assert_int_equal(rules_eval(rs, RULES_STAGE_NONE, subj, 1, &a), 0);
	assert_int_equal(rules_delete(rs, NULL), 3);
	for (i = 0; i < 6; i++)
		assert_int_equal(rules_delete(rs, ids[i]), 0);
	assert_int_equal(rules_eval(rs, RULES_STAGE_DATA, subj, 1, &a), 0);
	rules_free(rs);
}

/*
 * The hardening issue's rules case: long globs that the old matcher took
 * glob x subject steps for. Evaluating a command runs each compiled glob of
 * its stage once per subject, so the work is bounded by rules x subject
 * bytes x MATCH_WORDS_MAX; other stages' rules cost nothing.
 */
static void
test_eval_work_bound(void **state)
{
	struct rules	   *rs = rules_new();
	struct rule	    t;
	struct rules_action a;
	char		   *glob, *subject;
	const char	   *subj[1];
	uint64_t	    before, used;
	size_t		    i, nrules = 200, len = 1100;

	glob = globs_repeat("*", 'a', RULES_MATCH_MAX - 3, "b*"); /* 1024 bytes */
	subject = globs_repeat("", 'a', len, "");
	subj[0] = subject;
	for (i = 0; i < nrules; i++) {
		t = tmpl(i % 2 ? RULES_STAGE_DATA : RULES_STAGE_RCPT_TO, glob, 550);
		add_ok(rs, &t);
	}
	before = match_glob_steps();
	assert_int_equal(rules_eval(rs, RULES_STAGE_RCPT_TO, subj, 1, &a), 0);
	used = match_glob_steps() - before;
	if (used > nrules / 2 * len * MATCH_WORDS_MAX)
		fail_msg("%llu steps for %zu rules", (unsigned long long)used, nrules / 2);
	assert_true(used >= nrules / 2 * len); /* every RCPT_TO rule ran */
	before = match_glob_steps();
	assert_int_equal(rules_eval(rs, RULES_STAGE_HELO, subj, 1, &a), 0);
	assert_int_equal(match_glob_steps(), before);
	subject[len - 1] = 'b';
	assert_int_equal(rules_eval(rs, RULES_STAGE_RCPT_TO, subj, 1, &a), 1);
	assert_string_equal(a.rule_id, "1");
	free(subject);
	free(glob);
	rules_free(rs);
}

static void
test_limits(void **state)
{
	struct rules *rs = rules_new();
	struct rule   t;
	char	     *glob, id[16];
	size_t	      i, n;

	/* The count */
	t = tmpl(RULES_STAGE_CONNECT, "", 421);
	for (i = 0; i < RULES_MAX; i++)
		add_ok(rs, &t);
	add_bad(rs, &t, "too many rules");
	assert_true(rules_add_full(rs)); /* RESOURCE_EXHAUSTED over gRPC */
	assert_int_equal(rules_delete(rs, NULL), RULES_MAX);

	/* The glob length */
	glob = globs_repeat("", '?', RULES_MATCH_MAX + 1, "");
	t = tmpl(RULES_STAGE_RCPT_TO, glob, 550);
	add_bad(rs, &t, "longer than 1024");
	assert_false(rules_add_full(rs)); /* bad input: INVALID_ARGUMENT */
	free(glob);

	/*
	 * The compiled size: globs that name every byte take about 30 KiB each,
	 * so a few thousand of them reach RULES_GLOB_BYTES_MAX.
	 */
	glob = globs_widest(RULES_MATCH_MAX);
	t = tmpl(RULES_STAGE_RCPT_TO, glob, 550);
	for (n = 0; n < RULES_MAX; n++) {
		char err[256] = "";

		if (rules_add(rs, &t, err, sizeof(err)) == NULL) {
			if (strstr(err, "MiB") == NULL)
				fail_msg("error \"%s\"", err);
			break;
		}
	}
	assert_true(n > RULES_GLOB_BYTES_MAX / (32 * 1024));
	assert_true(n < RULES_MAX);
	add_bad(rs, &t, "MiB");
	snprintf(id, sizeof(id), "%zu", RULES_MAX + 1 + n / 2);
	assert_int_equal(rules_delete(rs, id), 1); /* room for one again */
	add_ok(rs, &t);
	add_bad(rs, &t, "MiB");
	assert_true(rules_add_full(rs));
	assert_int_equal(rules_delete(rs, NULL), n);
	for (i = 0; i < n; i++)
		add_ok(rs, &t);
	free(glob);
	rules_free(rs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_and_order),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_default_enhanced_and_message),
		cmocka_unit_test(test_eval_match_and_stage),
		cmocka_unit_test(test_times_and_hits),
		cmocka_unit_test(test_delay_only),
		cmocka_unit_test(test_stage_lists),
		cmocka_unit_test(test_eval_work_bound),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
