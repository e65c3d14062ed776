/*
 * test_match - globs, pattern checks, filters on envelope / headers / body.
 * The glob matcher is held to a recursive reference on random patterns, and
 * its cost on adversarial ones is bounded in counted steps (no clocks).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "globs.h"
#include "match.h"
#include "message.h"
#include "mime.h"
#include "xmalloc.h"

static void
test_match_glob_table(void **state)
{
	static const struct {
		const char *pat, *str;
		int	    want;
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
	size_t i;
	int    got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = match_glob(cases[i].pat, cases[i].str);
		if (got != cases[i].want)
			fail_msg("match_glob(\"%s\", \"%s\"): got %d, want %d", cases[i].pat,
			    cases[i].str, got, cases[i].want);
	}
}

/* Many stars against a long near-miss: must stay polynomial (no recursion). */
static void
test_match_glob_pathological(void **state)
{
	char *s = xmalloc(100001);

	memset(s, 'a', 100000);
	s[100000] = '\0';
	assert_false(match_glob("*a*a*a*a*a*a*a*a*b", s));
	s[99999] = 'b';
	assert_true(match_glob("*a*a*a*a*a*a*a*a*b", s));
	assert_true(match_glob("*", s));
	assert_false(match_glob("*c*", s));
	free(s);
}

/*
 * The reference: the obvious recursive matcher, written from the rules in
 * match.h rather than from match.c, memoised on (pattern, text) offsets so
 * that long patterns with many stars stay polynomial.
 */
struct ref {
	const char    *pat, *str;
	size_t	       slen;
	unsigned char *memo; /* 0 unknown, 1 no, 2 yes */
};

static int
ref_fold(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/*
 * The set whose text starts after '[' at p: *in tells whether c is in it.
 * Returns its length up to and including ']', or 0 when it is not closed.
 */
static size_t
ref_set(const char *p, int c, int *in)
{
	size_t i = 0, nrange = 0;
	int    b[2], k, hit = 0, neg = p[0] == '!' || p[0] == '^';
	int    v[3] = { c, ref_fold(c), c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c };

	i += (size_t)neg;
	while (p[i] != ']' || nrange == 0) {
		for (k = 0; k < 2; k++) {
			if (p[i] == '\\')
				i++;
			if (p[i] == '\0')
				return 0;
			b[k] = (unsigned char)p[i++];
			if (k == 0 && !(p[i] == '-' && p[i + 1] != ']' && p[i + 1] != '\0')) {
				b[1] = b[0];
				break;
			}
			if (k == 0)
				i++; /* the '-' */
		}
		for (k = 0; k < 3; k++)
			hit |= v[k] >= b[0] && v[k] <= b[1];
		nrange++;
	}
	*in = hit != neg;
	return i + 1;
}

static int
ref_at(struct ref *r, size_t pi, size_t si)
{
	const char    *p = r->pat + pi, *s = r->str + si;
	unsigned char *m = &r->memo[pi * (r->slen + 1) + si];
	size_t	       len;
	int	       c = (unsigned char)*s, in;

	if (*m != 0)
		return *m == 2;
	if (*p == '\0')
		in = *s == '\0';
	else if (*p == '*')
		in = ref_at(r, pi + 1, si) || (*s != '\0' && ref_at(r, pi, si + 1));
	else if (*s == '\0')
		in = 0;
	else if (*p == '?')
		in = ref_at(r, pi + 1, si + 1);
	else if (*p == '[' && (len = ref_set(p + 1, c, &in)) != 0)
		in = in && ref_at(r, pi + 1 + len, si + 1);
	else if (*p == '\\' && p[1] != '\0')
		in = ref_fold((unsigned char)p[1]) == ref_fold(c) && ref_at(r, pi + 2, si + 1);
	else
		in = ref_fold((unsigned char)*p) == ref_fold(c) && ref_at(r, pi + 1, si + 1);
	*m = in ? 2 : 1;
	return in;
}

static int
ref_glob(const char *pat, const char *str)
{
	struct ref r = { pat, str, strlen(str), NULL };
	int	   in;

	r.memo = xcalloc((strlen(pat) + 1) * (r.slen + 1), 1);
	in = ref_at(&r, 0, 0);
	free(r.memo);
	return in;
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static unsigned
rnd(unsigned n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (unsigned)(rnd_state % n);
}

static void
rnd_fill(char *dst, size_t n, const char *alphabet)
{
	size_t i, k = strlen(alphabet);

	for (i = 0; i < n; i++)
		dst[i] = alphabet[rnd((unsigned)k)];
	dst[n] = '\0';
}

/* match_glob() and, for a valid pattern, the compiled glob agree with ref_glob(). */
static void
check_against_ref(const char *pat, const char *str)
{
	struct match_glob *g;
	char		   err[128];
	int		   want = ref_glob(pat, str), got;

	if ((got = match_glob(pat, str)) != want)
		fail_msg("match_glob(\"%s\", \"%s\"): got %d, reference %d", pat, str, got, want);
	if ((g = match_glob_compile(pat, err, sizeof(err))) == NULL) {
		assert_int_equal(match_glob_check(pat, err, sizeof(err)), -1);
		return;
	}
	if ((got = match_glob_exec(g, str)) != want)
		fail_msg("match_glob_exec(\"%s\", \"%s\"): got %d, reference %d", pat, str, got,
		    want);
	match_glob_free(g);
}

/* Random short patterns over the metacharacters and texts over what they name. */
static void
test_match_glob_random(void **state)
{
	char pat[16], str[24];
	int  i;

	for (i = 0; i < 200000; i++) {
		rnd_fill(pat, rnd(sizeof(pat)), "aAb*?[]!^-\\z*");
		rnd_fill(str, rnd(i % 8 == 0 ? sizeof(str) : 10), "aAbB-][*?\\z");
		check_against_ref(pat, str);
	}
}

/*
 * Longer patterns (more than one 64-bit state word, many stars) against
 * texts built to match them or nearly.
 */
static void
test_match_glob_random_long(void **state)
{
	char   pat[301], str[700];
	size_t i, j, k, plen;
	int    n;

	for (n = 0; n < 3000; n++) {
		plen = 1 + rnd(sizeof(pat) - 1);
		for (i = 0; i < plen; i++) {
			j = rnd(100);
			pat[i] = j < 8 ? '*' : j < 12 ? '?' : j < 96 ? 'a' : "bB[]"[j - 96];
		}
		pat[plen] = '\0';
		for (i = k = 0; i < plen && k + 5 < sizeof(str); i++) {
			if (pat[i] == '*')
				for (j = rnd(4); j > 0; j--)
					str[k++] = 'A';
			else
				str[k++] = pat[i] == '?' ? 'x' : pat[i];
		}
		str[k] = '\0';
		if (k > 0 && rnd(2))
			str[rnd((unsigned)k)] = "ab"[rnd(2)]; /* a near miss, or not */
		check_against_ref(pat, str);
	}
}

/*
 * A prefix that makes match_glob()'s backtracking scan give up (40 steps
 * at each of the first 260 text offsets), so these cases are answered by
 * the automaton, malformed tails ("[a", "x\\") included.
 */
static void
test_match_glob_random_automaton(void **state)
{
	char	 tail[12], rest[12], pat[64], str[400];
	uint64_t before;
	int	 i, got;

	for (i = 0; i < 3000; i++) {
		rnd_fill(tail, rnd(sizeof(tail)), "aAb*?[]!^-\\z");
		rnd_fill(rest, rnd(sizeof(rest)), "aAbB-][*?\\z");
		snprintf(pat, sizeof(pat), "*%040db%s", 0, tail);
		memset(pat + 1, 'a', 40);
		memset(str, 'a', 300);
		snprintf(str + 300, sizeof(str) - 300, "b%s", rest);
		before = match_glob_steps();
		got = match_glob(pat, str);
		/* the scan would have spent 260 x 40: it gave up early */
		assert_true(match_glob_steps() - before < 260 * 40);
		assert_int_equal(got, ref_glob(pat, str));
		check_against_ref(pat, str);
	}
}

/*
 * The hardening issue's case: "*" + "a"*997 + "b" against two 998-byte lines
 * of 'a' cost pattern x text steps (about 2 M) with one backtrack point.
 * Now it is a few dozen units per text byte, counted, not timed.
 */
static void
test_match_glob_adversarial_steps(void **state)
{
	const char	  *tails[] = { "b", "b*", "?" };
	struct match_glob *g;
	char		  *text, *pat, *line, err[128];
	uint64_t	   before, used;
	size_t		   i, n, plen;

	line = globs_repeat("", 'a', 998, "\r\n");
	xasprintf(&text, "%s%s", line, line);
	n = strlen(text);
	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		pat = globs_repeat("*", 'a', 997, tails[i]);
		plen = strlen(pat);
		before = match_glob_steps();
		assert_int_equal(match_glob(pat, text), ref_glob(pat, text));
		used = match_glob_steps() - before;
		if (used > 32 * (n + plen) + 4096)
			fail_msg("%s: %llu steps for %zu text bytes", tails[i],
			    (unsigned long long)used, n);

		g = match_glob_compile(pat, err, sizeof(err));
		assert_non_null(g);
		before = match_glob_steps();
		assert_int_equal(match_glob_exec(g, text), ref_glob(pat, text));
		used = match_glob_steps() - before;
		if (used > (uint64_t)n * MATCH_WORDS_MAX)
			fail_msg("%s compiled: %llu steps for %zu text bytes", tails[i],
			    (unsigned long long)used, n);
		match_glob_free(g);
		free(pat);
	}
	free(line);
	free(text);
}

/*
 * Unclosed '[' (found by fuzz_glob): each one used to read to the pattern's
 * end again, uncounted, at every text position the scan tried, so a pattern
 * of 40 bytes took some 70 ns per text byte. The time is what the fuzz_glob
 * regressions (tests/fuzz/regressions/fuzz_glob/issue_8_*) replay; this
 * checks that such a pattern is still read as literal '[' bytes and stars,
 * and that what the scan now counts for it stays linear in the text.
 */
static void
test_match_glob_unclosed_sets_steps(void **state)
{
	char	 pat[1024], *text;
	uint64_t before, used;
	size_t	 i, n = 16 * 1024;

	pat[0] = '*';
	for (i = 0; i < 340; i++)
		memcpy(pat + 1 + 3 * i, "[a*", 3);
	pat[1 + 3 * 340] = '\0';
	text = globs_repeat("", 'a', n, "");
	before = match_glob_steps();
	assert_int_equal(match_glob(pat, text), 0);
	used = match_glob_steps() - before;
	if (used > 32 * (n + strlen(pat)) + 4096)
		fail_msg("%llu steps for %zu text bytes", (unsigned long long)used, n);
	/* Literal '[' and the stars between them */
	assert_int_equal(match_glob("*[a*[b", "x[ayy[b"), 1);
	assert_int_equal(match_glob("*[a*[b", "x[ayy[c"), 0);
	assert_int_equal(match_glob("[a]*[b", "a[b"), 1);
	assert_int_equal(match_glob("[a]*[b", "b[b"), 0);
	free(text);
}

/*
 * Many short segments: once a star's state is live the states below it are
 * dropped, so only a word or two of the 8 is updated per byte.
 */
static void
test_match_glob_many_stars_steps(void **state)
{
	struct match_glob *g;
	char		  *text, pat[1024], err[128];
	uint64_t	   before;
	size_t		   i, n = 100000;
	int		   want;

	for (i = 0; i < 500; i++)
		memcpy(pat + 2 * i, "*a", 2);
	snprintf(pat + 1000, sizeof(pat) - 1000, "*b");
	text = globs_repeat("", 'a', n, "");
	g = match_glob_compile(pat, err, sizeof(err));
	assert_non_null(g);
	for (want = 0; want <= 1; want++) {
		text[n - 1] = want ? 'b' : 'a';
		before = match_glob_steps();
		assert_int_equal(match_glob_exec(g, text), want);
		assert_true(match_glob_steps() - before <= 2 * n);
		assert_int_equal(match_glob(pat, text), want);
	}
	match_glob_free(g);
	free(text);
}

/* Pattern length: the bound, what a longer pattern gets, what compiled globs hold. */
static void
test_match_glob_bounds(void **state)
{
	struct match_glob *g;
	char		  *pat, err[128];
	uint64_t	   before;

	pat = globs_repeat("", 'x', MATCH_PATTERN_MAX, "");
	assert_int_equal(match_glob_check(pat, err, sizeof(err)), 0);
	assert_true(match_glob(pat, pat));
	free(pat);

	/* One byte over: refused, and match_glob() matches nothing without reading it */
	pat = globs_repeat("*", 'x', MATCH_PATTERN_MAX, "");
	assert_int_equal(match_glob_check(pat, err, sizeof(err)), -1);
	assert_string_equal(err, "pattern longer than 1024 bytes");
	err[0] = '\0';
	assert_null(match_glob_compile(pat, err, sizeof(err)));
	assert_string_equal(err, "pattern longer than 1024 bytes");
	assert_false(match_glob(pat, "xxx"));
	free(pat);
	pat = globs_repeat("*", 'a', 1024 * 1024, "b");
	before = match_glob_steps();
	assert_false(match_glob(pat, "aaaab"));
	assert_int_equal(match_glob_steps(), before);
	free(pat);

	/* The largest compiled glob: every byte a class of its own, 1020 elements */
	pat = globs_widest(MATCH_PATTERN_MAX);
	g = match_glob_compile(pat, err, sizeof(err));
	assert_non_null(g);
	assert_true(match_glob_size(g) <= 30 * 1024);
	assert_true(match_glob_exec(g, pat + 0) == 0); /* the escapes are not literal text */
	match_glob_free(g);
	free(pat);

	g = match_glob_compile("*@example.com", err, sizeof(err));
	assert_true(match_glob_size(g) <= 512);
	assert_true(match_glob_exec(g, "Bob@EXAMPLE.com"));
	assert_false(match_glob_exec(g, "bob@example.co"));
	match_glob_free(g);
	assert_null(match_glob_compile("[a", err, sizeof(err)));
	assert_string_equal(err, "unclosed '[' in pattern");
	g = match_glob_compile("", err, sizeof(err));
	assert_true(match_glob_exec(g, ""));
	assert_false(match_glob_exec(g, "a"));
	match_glob_free(g);
	g = match_glob_compile("**", err, sizeof(err));
	assert_true(match_glob_exec(g, ""));
	assert_true(match_glob_exec(g, "a"));
	match_glob_free(g);
}

static void
test_match_glob_check(void **state)
{
	static const struct {
		const char *pat;
		const char *err; /* NULL: valid */
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
	char   err[128];
	size_t i;
	int    rc;

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
	struct filter f = { 0 };
	char	      err[128];

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
	f.subject = xmalloc(MATCH_PATTERN_MAX + 2);
	memset(f.subject, '*', MATCH_PATTERN_MAX + 1);
	f.subject[MATCH_PATTERN_MAX + 1] = '\0';
	assert_int_equal(match_filter_check(&f, err, sizeof(err)), -1);
	assert_string_equal(err, "subject: pattern longer than 1024 bytes");
	free(f.subject);
}

static struct message *
msg(const char *from, const char *const *rcpts, size_t nrcpts, const char *data)
{
	struct message *m = message_new();
	size_t		i;

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
	const char     *rcpts[] = { "one@a.test", "two@b.test" };
	struct message *m = msg("Sender@Example.com", rcpts, 2, "Subject: hi\r\n\r\nbody\r\n");
	struct filter	f = { 0 };

	m->id = 10;
	assert_true(match_filter_is_empty(&f));
	assert_true(match_filter_is_empty(NULL));
	assert_true(match_message(&f, m));
	assert_true(match_message(NULL, m));
	f.mail_from = "sender@example.com";
	assert_true(match_message(&f, m));
	assert_false(match_filter_is_empty(&f));
	f.rcpt_to = "two@*"; /* any recipient */
	assert_true(match_message(&f, m));
	f.rcpt_to = "three@*";
	assert_false(match_message(&f, m));
	f.rcpt_to = "*@a.test";
	f.mail_from = "other@*"; /* all fields must match */
	assert_false(match_message(&f, m));
	f.mail_from = ""; /* "" = not given */
	assert_true(match_message(&f, m));
	f.after_id = 9;
	assert_true(match_message(&f, m));
	f.after_id = 10;
	assert_false(match_message(&f, m));
	/* auth_user: "" without AUTH, a glob on the user otherwise */
	f.after_id = 0;
	f.auth_user = "*";
	assert_true(match_message(&f, m));
	f.auth_user = "?*";
	assert_false(match_message(&f, m));
	m->auth_user = xstrdup("Alice");
	f.auth_user = "ALI*";
	assert_true(match_message(&f, m));
	f.auth_user = "bob";
	assert_false(match_message(&f, m));
	{
		char err[128];

		f.auth_user = "[a";
		assert_int_equal(match_filter_check(&f, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "auth_user: "));
	}
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
	const char     *r[] = { "x@y" };
	struct message *m = msg("a@b", r, 1, "Subject: probe\r\n\r\nx\r\n");
	int		ok = mime_view_get(m) != NULL;

	message_free(m);
	return ok;
}

static void
test_match_filter_headers_no_mime(void **state)
{
	const char     *r[] = { "x@y" };
	struct message *m = msg("a@b", r, 1, "");
	struct filter	f = { 0 };

	/* An empty message (or no MIME view) has no headers: must not crash */
	f.header_name = "X-Test";
	assert_false(match_message(&f, m));
	memset(&f, 0, sizeof(f));
	f.subject = "*";
	assert_true(match_message(&f, m)); /* no subject is "" */
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
	const char     *r[] = { "x@y" };
	struct message *m;
	struct filter	f = { 0 };

	if (!mime_available())
		skip();
	m = msg("a@b", r, 1,
	    "From: A <a@b>\r\n"
	    "Subject: =?UTF-8?Q?Password_r=C3=A9set?=\r\n"
	    "X-Test-Id: run-42\r\n"
	    "X-Other: run-43\r\n"
	    "\r\n"
	    "Hello, the needle is here.\r\n");
	f.subject = "password r\xc3\xa9set"; /* decoded, case-insensitive */
	assert_true(match_message(&f, m));
	f.subject = "*reset*";
	assert_false(match_message(&f, m));
	memset(&f, 0, sizeof(f));
	f.header_name = "x-test-id";
	f.header_value = "run-42";
	assert_true(match_message(&f, m));
	f.header_value = "run-43"; /* same header, not any header */
	assert_false(match_message(&f, m));
	f.header_name = "x-*";
	assert_true(match_message(&f, m));
	f.header_value = NULL;
	f.header_name = "X-Missing";
	assert_false(match_message(&f, m));
	memset(&f, 0, sizeof(f));
	f.header_value = "run-43"; /* any header's value */
	assert_true(match_message(&f, m));
	memset(&f, 0, sizeof(f));
	f.body = "*needle*";
	assert_true(match_message(&f, m));
	f.body = "needle"; /* whole text */
	assert_false(match_message(&f, m));
	f.body = "*haystack*";
	assert_false(match_message(&f, m));
	message_free(m);
}

static void
test_match_filter_copy(void **state)
{
	struct filter src = { 0 }, dst;
	char	      rcpt[] = "*@x";

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

/* ---- compiled filters, evaluated in slices ---- */

/* The filter semantics spelled out with match_glob(), as the oracle */
static int
ref_filter(const struct filter *f, struct message *m)
{
	const struct mime_view *v;
	struct mime_body       *b;
	char		       *name, *value;
	size_t			i, off;
	int			hit = 0;

#define GIVEN(s) ((s) != NULL && *(s) != '\0')
	if (f->after_id != 0 && m->id <= f->after_id)
		return 0;
	if (GIVEN(f->mail_from) && !match_glob(f->mail_from, m->mail_from))
		return 0;
	if (GIVEN(f->rcpt_to)) {
		for (i = 0; i < m->nrcpts && !match_glob(f->rcpt_to, m->rcpts[i].addr); i++)
			;
		if (i == m->nrcpts)
			return 0;
	}
	v = mime_view_get(m);
	if (GIVEN(f->subject) && !match_glob(f->subject, v->subject))
		return 0;
	if (GIVEN(f->header_name) || GIVEN(f->header_value)) {
		for (i = 0; i < v->nheaders && !hit; i++)
			hit = (!GIVEN(f->header_name) ||
				  match_glob(f->header_name, v->headers[i].name)) &&
			    (!GIVEN(f->header_value) ||
				match_glob(f->header_value, v->headers[i].value));
		for (off = v->more; !hit && mime_view_more(m, v, &off, &name, &value);) {
			hit = (!GIVEN(f->header_name) || match_glob(f->header_name, name)) &&
			    (!GIVEN(f->header_value) || match_glob(f->header_value, value));
			free(name);
			free(value);
		}
		if (!hit)
			return 0;
	}
	if (GIVEN(f->body)) {
		b = mime_body_parse(m, 0);
		hit = match_glob(f->body, b->text) ||
		    (*b->html != '\0' && match_glob(f->body, b->html));
		mime_body_free(b);
		return hit;
	}
#undef GIVEN
	return 1;
}

/* A body source that parses once per message, as the store's cache does */
struct one_body {
	struct message	 *m;
	struct mime_body *b;
};

static const struct mime_body *
one_body_get(void *arg, struct message *m, int64_t *budget)
{
	struct one_body *ob = arg;

	if (ob->m != m) {
		mime_body_free(ob->b);
		ob->b = mime_body_parse(m, 0);
		ob->m = m;
		*budget -= (int64_t)m->size;
	}
	return ob->b;
}

/*
 * Runs q on m with `budget` units per call until it decides; returns the
 * answer, the number of calls in *calls, and checks no call but the first
 * (which may parse MIME) spends much more than it was given.
 */
static int
run_sliced(const struct match_query *q, struct message *m, int64_t budget, size_t *calls)
{
	struct match_run    r;
	struct one_body	    ob = { NULL, NULL };
	struct match_bodies src = { one_body_get, &ob };
	int64_t		    left, allowed = budget > MATCH_RUN_MIN ? budget : MATCH_RUN_MIN;
	int		    rc;

	memset(&r, 0, sizeof(r));
	*calls = 0;
	do {
		left = budget;
		rc = match_query_run(q, &r, m, &src, &left);
		if (++*calls > 1 && rc == -1 && budget - left > allowed + 1024)
			fail_msg("a slice of %lld units spent %lld", (long long)budget,
			    (long long)(budget - left));
		if (*calls > 10000000)
			fail_msg("no progress");
	} while (rc == -1);
	mime_body_free(ob.b);
	return rc;
}

static struct message *
big_msg(size_t nheaders, size_t body_bytes)
{
	const char     *r[] = { "one@a.test", "two@b.test" };
	char	       *data, *p;
	size_t		i, cap = nheaders * 32 + body_bytes + 512;
	struct message *m;

	p = data = xmalloc(cap);
	p += sprintf(p, "From: A <a@b>\r\nSubject: first\r\n");
	for (i = 0; i < nheaders; i++)
		p += sprintf(p, "X-F%zu: v%zu\r\n", i, i);
	p += sprintf(p, "Subject: =?UTF-8?Q?late?=\r\nX-Late: needle\r\nX-Other: run-9\r\n\r\n");
	for (i = 0; i < body_bytes; i++)
		*p++ = (i % 1000 == 999) ? '\n' : 'a'; /* lines as long as SMTP allows */
	*p = '\0';
	m = msg("Sender@Example.com", r, 2, data);
	free(data);
	return m;
}

static void
test_match_query_vs_reference(void **state)
{
	struct message	   *msgs[3];
	char		   *nasty = globs_repeat("*", 'a', 1022, "b");
	const struct filter filters[] = {
		{ 0 },
		{ .mail_from = "sender@*" },
		{ .mail_from = "nobody@*" },
		{ .rcpt_to = "two@*" },
		{ .rcpt_to = "three@*" },
		{ .subject = "first" },
		{ .subject = "late" },
		{ .header_name = "x-late", .header_value = "needle" },
		{ .header_name = "x-late", .header_value = "run-9" }, /* not the same header */
		{ .header_value = "run-9" },
		{ .header_name = "x-f1500" },
		{ .header_name = "x-missing" },
		{ .body = "*aaa*" },
		{ .body = nasty },
		{ .body = "*needle*" },
		{ .rcpt_to = "*@b.test", .header_name = "x-late", .body = "a*" },
		{ .after_id = 1 },
	};
	size_t i, j, calls;
	int    want;

	if (!mime_available())
		skip();
	msgs[0] = big_msg(10, 100);
	msgs[1] = big_msg(2000, 64 * 1024); /* fields past the 1,024 listed */
	msgs[2] = msg("x@y", (const char *[]){ "two@b.test" }, 1, "");
	for (i = 0; i < 3; i++)
		msgs[i]->id = i + 1;
	for (i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		struct match_query *q = match_query_new(&filters[i]);

		for (j = 0; j < 3; j++) {
			want = ref_filter(&filters[i], msgs[j]);
			if (match_query_message(q, msgs[j], NULL) != want)
				fail_msg("filter %zu, message %zu: want %d", i, j, want);
			if (match_message(&filters[i], msgs[j]) != want)
				fail_msg("match_message: filter %zu, message %zu", i, j);
			if (run_sliced(q, msgs[j], 1, &calls) != want ||
			    run_sliced(q, msgs[j], 5000, &calls) != want)
				fail_msg("sliced: filter %zu, message %zu", i, j);
		}
		assert_int_equal(match_query_is_empty(q), i == 0);
		match_query_free(q);
	}
	for (i = 0; i < 3; i++)
		message_free(msgs[i]);
	free(nasty);
}

/*
 * The stall the hardening issue measured: a 1024-byte glob over a 1 MiB
 * body. Sliced at 256 Ki units a call, it takes many calls, each bounded,
 * and the answer is the unsliced one; so does a header filter over 200,000
 * fields (the unlisted ones decoded one at a time).
 */
static void
test_match_query_sliced_bounds(void **state)
{
	struct message	   *m;
	struct match_query *q;
	struct filter	    f = { 0 };
	char		   *nasty = globs_repeat("*", 'a', 1022, "b");
	size_t		    calls;

	if (!mime_available())
		skip();
	m = big_msg(10, 1024 * 1024);
	f.body = nasty;
	q = match_query_new(&f);
	assert_int_equal(run_sliced(q, m, 256 * 1024, &calls), 0);
	assert_true(calls >= 16);
	assert_int_equal(run_sliced(q, m, INT64_MAX, &calls), 0);
	assert_int_equal(calls, 1);
	match_query_free(q);
	f.body = "*a";
	q = match_query_new(&f);
	assert_int_equal(run_sliced(q, m, 4096, &calls), 1);
	assert_true(calls > 100);
	match_query_free(q);
	message_free(m);

	m = big_msg(200000, 10);
	memset(&f, 0, sizeof(f));
	f.header_name = "x-late";
	f.header_value = "need*";
	q = match_query_new(&f);
	assert_int_equal(run_sliced(q, m, 64 * 1024, &calls), 1);
	assert_true(calls > 20);
	match_query_free(q);
	f.header_value = "run-9";
	q = match_query_new(&f);
	assert_int_equal(run_sliced(q, m, 64 * 1024, &calls), 0);
	match_query_free(q);
	memset(&f, 0, sizeof(f));
	f.subject = "late";
	q = match_query_new(&f);
	assert_int_equal(match_query_message(q, m, NULL), 0); /* the first Subject counts */
	match_query_free(q);
	message_free(m);
	free(nasty);
}

static void
test_match_query_bounds(void **state)
{
	struct match_query *q;
	struct filter	    f = { 0 };
	struct message	   *m = msg("a@b", (const char *[]){ "x@y" }, 1, "Subject: s\r\n\r\nb\r\n");
	char		   *pat;

	q = match_query_new(NULL);
	assert_true(match_query_is_empty(q));
	assert_true(match_query_message(q, m, NULL));
	assert_true(match_query_size(q) < 256);
	match_query_free(q);
	match_query_free(NULL);

	/* what match_glob() does with a pattern over the bound: nothing matches */
	pat = globs_repeat("*", 'x', MATCH_PATTERN_MAX, "");
	f.mail_from = pat;
	q = match_query_new(&f);
	assert_false(match_query_is_empty(q));
	assert_false(match_query_message(q, m, NULL));
	match_query_free(q);
	free(pat);

	/* the largest compiled form, once per field */
	pat = globs_widest(MATCH_PATTERN_MAX);
	f.mail_from = f.rcpt_to = f.subject = f.header_name = f.header_value = f.body = pat;
	q = match_query_new(&f);
	assert_true(match_query_size(q) <= 6 * 30 * 1024 + 256);
	match_query_free(q);
	free(pat);
	message_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_glob_table),
		cmocka_unit_test(test_match_glob_pathological),
		cmocka_unit_test(test_match_glob_random),
		cmocka_unit_test(test_match_glob_random_long),
		cmocka_unit_test(test_match_glob_random_automaton),
		cmocka_unit_test(test_match_glob_adversarial_steps),
		cmocka_unit_test(test_match_glob_many_stars_steps),
		cmocka_unit_test(test_match_glob_unclosed_sets_steps),
		cmocka_unit_test(test_match_glob_bounds),
		cmocka_unit_test(test_match_glob_check),
		cmocka_unit_test(test_match_filter_check),
		cmocka_unit_test(test_match_filter_envelope),
		cmocka_unit_test(test_match_filter_headers_no_mime),
		cmocka_unit_test(test_match_filter_headers),
		cmocka_unit_test(test_match_filter_copy),
		cmocka_unit_test(test_match_query_vs_reference),
		cmocka_unit_test(test_match_query_sliced_bounds),
		cmocka_unit_test(test_match_query_bounds),
	};

	mime_init(32, 1024);
	return cmocka_run_group_tests_name("match", tests, NULL, NULL);
}
