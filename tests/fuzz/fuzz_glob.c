/*
 * fuzz_glob - match_glob() and match_glob_check() (src/match.h) against a
 * reference written here, plus a bound on the matcher's work.
 *
 * Input: pattern, a NUL byte, text (a missing NUL: all pattern, empty text;
 * bytes after a second NUL are ignored). The glob language, as match.h and
 * match.c's header state it: ASCII case-insensitive; '*' any run, '?' one
 * byte, '[set]' / '[!set]' / '[^set]' with ranges, a ']' first in a set is
 * a member, '\' escapes the next byte (in a set too); an unclosed '[' is a
 * literal '[' and a trailing '\' a literal '\'. A byte is in a range if it,
 * its lower case or its upper case form lies in it (a range is not
 * case-folded itself).
 *
 * The reference compiles the pattern into elements (literal byte set per
 * position, star) and matches by recursive backtracking over (element,
 * text position) with a memo of failed pairs, so it stays polynomial; it is
 * run on patterns up to REF_PATTERN_MAX and texts up to REF_TEXT_MAX bytes.
 * It also says whether match_glob_check() must refuse the pattern (trailing
 * '\', unclosed '[', a reversed range).
 *
 * Work bound: the pattern (up to 1024 bytes, the longest a filter or rule
 * glob may be) is also matched against the text repeated to WORK_TEXT
 * bytes, and against its own bytes repeated (its literals), and each call
 * must stay linear in the text whatever the pattern, in two ways:
 *  - counted work: match_glob_steps() (match.h: pattern bytes the scan
 *    examines, state words the automaton updates, table words the compiler
 *    writes) may grow by at most work_steps_max(): twice what match.c's
 *    header allows, linear in the text. No clock: it cannot fail by noise.
 *  - work the counter does not see (a loop match.c does not count) shows
 *    as CPU time per counted step. This thread's CPU time for the call may
 *    be at most FUZZ_GLOB_TIME_FACTOR (default 8) times what as many steps
 *    cost in the heaviest linear matching there is (REF: "*" and 1023 '?'
 *    over WORK_TEXT bytes, every state word updated for every byte), plus
 *    twice the costliest compile (REF_COMPILE, work that does not depend on
 *    the text) and 1 ms. The references are timed in this process, so the
 *    instrumentation (ASan, UBSan, coverage) and the machine's load weigh
 *    on both sides alike; a legitimate pattern costs at most some 4.5 times
 *    the reference per step (sets in the scan, gcc -O2) and uses under a
 *    tenth of its allowance. The best of three runs counts (one within the
 *    allowance ends it), and a call over its allowance is timed again,
 *    references included, up to WORK_TIME_ROUNDS times before it is a
 *    finding, so one slow moment is not one; a run WORK_TIME_FAR times over
 *    is one at once. FUZZ_GLOB_TIME_FACTOR=0 turns this half off.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "match.h"
#include "xmalloc.h"

#define REF_PATTERN_MAX	 96
#define REF_TEXT_MAX	 256
#define WORK_PATTERN_MAX 1024
#define WORK_TEXT	 (16 * 1024)

/* One element of a compiled reference pattern */
struct ref_elem {
	int	      star;
	unsigned char accept[256]; /* bytes this element matches */
};

struct ref_glob {
	struct ref_elem *e;
	size_t		 n;
	int		 malformed; /* what match_glob_check() must say */
};

static int
ref_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
ref_upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

static struct ref_elem *
ref_add(struct ref_glob *g)
{
	g->e = xreallocarray(g->e, g->n + 1, sizeof(*g->e));
	memset(&g->e[g->n], 0, sizeof(g->e[g->n]));
	return &g->e[g->n++];
}

static void
ref_literal(struct ref_elem *e, int c)
{
	int b;

	for (b = 1; b < 256; b++)
		e->accept[b] = ref_lower(b) == ref_lower(c);
}

/*
 * The set whose body starts at pat[i] (just after '['). Returns the index
 * after its ']' and fills e, or 0 if the set is not closed.
 */
static size_t
ref_set(const unsigned char *pat, size_t i, struct ref_elem *e, int *reversed)
{
	int    lo[256], hi[256], neg = 0, b, k;
	size_t nr = 0, start;

	if (pat[i] == '!' || pat[i] == '^') {
		neg = 1;
		i++;
	}
	start = i;
	for (;;) {
		if (pat[i] == '\0')
			return 0;
		if (pat[i] == ']' && i > start)
			break;
		if (pat[i] == '\\' && pat[++i] == '\0')
			return 0;
		lo[nr] = hi[nr] = pat[i++];
		if (pat[i] == '-' && pat[i + 1] != ']' && pat[i + 1] != '\0') {
			i++;
			if (pat[i] == '\\' && pat[++i] == '\0')
				return 0;
			hi[nr] = pat[i++];
			if (hi[nr] < lo[nr])
				*reversed = 1;
		}
		if (nr < 255)
			nr++;
	}
	for (b = 1; b < 256; b++) {
		int in = 0;

		for (k = 0; k < (int)nr && !in; k++)
			in = (b >= lo[k] && b <= hi[k]) ||
			    (ref_lower(b) >= lo[k] && ref_lower(b) <= hi[k]) ||
			    (ref_upper(b) >= lo[k] && ref_upper(b) <= hi[k]);
		e->accept[b] = in != neg;
	}
	return i + 1;
}

static void
ref_compile(struct ref_glob *g, const char *pattern)
{
	const unsigned char *pat = (const unsigned char *)pattern;
	struct ref_elem	    *e;
	size_t		     i = 0, next;
	int		     b, reversed;

	memset(g, 0, sizeof(*g));
	while (pat[i] != '\0') {
		e = ref_add(g);
		switch (pat[i]) {
		case '*':
			e->star = 1;
			i++;
			break;
		case '?':
			for (b = 1; b < 256; b++)
				e->accept[b] = 1;
			i++;
			break;
		case '[':
			reversed = 0;
			if ((next = ref_set(pat, i + 1, e, &reversed)) == 0) {
				ref_literal(e, '[');
				g->malformed = 1;
				i++;
			} else {
				g->malformed |= reversed;
				i = next;
			}
			break;
		case '\\':
			if (pat[i + 1] == '\0') {
				ref_literal(e, '\\');
				g->malformed = 1;
				i++;
			} else {
				ref_literal(e, pat[i + 1]);
				i += 2;
			}
			break;
		default:
			ref_literal(e, pat[i]);
			i++;
			break;
		}
	}
}

/* memo[k * (len + 1) + j]: elements k.. against text j.. already failed */
static int
ref_match(const struct ref_glob *g, size_t k, const unsigned char *t, size_t j, size_t len,
    unsigned char *memo)
{
	unsigned char *m = &memo[k * (len + 1) + j];
	int	       r;

	if (k == g->n)
		return j == len;
	if (*m)
		return 0;
	if (g->e[k].star)
		r = ref_match(g, k + 1, t, j, len, memo) ||
		    (j < len && ref_match(g, k, t, j + 1, len, memo));
	else
		r = j < len && g->e[k].accept[t[j]] && ref_match(g, k + 1, t, j + 1, len, memo);
	if (!r)
		*m = 1;
	return r;
}

static int
ref_glob(const char *pattern, const char *text)
{
	struct ref_glob g;
	size_t		len = strlen(text);
	unsigned char  *memo;
	int		r;

	ref_compile(&g, pattern);
	memo = xcalloc((g.n + 1) * (len + 1), 1);
	r = ref_match(&g, 0, (const unsigned char *)text, 0, len, memo);
	free(memo);
	free(g.e);
	return r;
}

static int
ref_malformed(const char *pattern)
{
	struct ref_glob g;

	ref_compile(&g, pattern);
	free(g.e);
	return g.malformed;
}

#define WORK_SCAN_PER_BYTE 4 /* match.c's MATCH_SCAN_PER_BYTE */
#define WORK_TIME_ROUNDS   3
#define WORK_TIME_FAR	   20 /* times the allowance: not noise */
#define WORK_SLACK_NS	   1000000LL

/* The time check's calibration: see the header */
static struct {
	int	  done;
	long long factor;      /* FUZZ_GLOB_TIME_FACTOR */
	double	  ns_per_step; /* REF's */
	long long compile_ns;  /* REF_COMPILE's */
} work_ref;

static long long
thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The most steps one match_glob() of a pattern of plen bytes against
 * WORK_TEXT bytes may take: twice what match.c's header allows. Its scan
 * spends at most WORK_SCAN_PER_BYTE units per byte of text and pattern
 * (checked at each backtrack; one more run of the pattern after the last
 * check), the compiler passes over the pattern and the 256-byte class map
 * and writes (1 + classes) x words table words, and the automaton updates
 * at most MATCH_WORDS_MAX words per text byte.
 */
static uint64_t
work_steps_max(size_t plen)
{
	uint64_t scan, compile, exec;

	scan = WORK_SCAN_PER_BYTE * ((uint64_t)WORK_TEXT + plen + 1) + plen + 2;
	compile = plen + 256 + 257 * (uint64_t)MATCH_WORDS_MAX;
	exec = (uint64_t)MATCH_WORDS_MAX * WORK_TEXT;
	return 2 * (scan + compile + exec);
}

static long long work_allowance(uint64_t);

/*
 * Thread CPU time of match_glob(pattern, text), the best of three runs, or
 * with bounded set of fewer: once one is within work_allowance(), or once
 * one takes WORK_TIME_FAR times that (no noise does). Its steps go to
 * *steps.
 */
static long long
work_time(const char *pattern, const char *text, int bounded, uint64_t *steps)
{
	long long best = -1, t0, t, allowed;
	uint64_t  s0;
	int	  run;

	for (run = 0; run < 3; run++) {
		s0 = match_glob_steps();
		t0 = thread_ns();
		(void)match_glob(pattern, text);
		t = thread_ns() - t0;
		*steps = match_glob_steps() - s0;
		if (best == -1 || t < best)
			best = t;
		allowed = bounded ? work_allowance(*steps) : 0;
		if (bounded && (best <= allowed || t > WORK_TIME_FAR * allowed))
			break;
	}
	return best;
}

/* Best of three: thread CPU time of compiling and freeing pattern */
static long long
work_compile_time(const char *pattern)
{
	struct match_glob *g;
	long long	   best = -1, t0, t;
	char		   err[256];
	int		   run;

	for (run = 0; run < 3; run++) {
		t0 = thread_ns();
		if ((g = match_glob_compile(pattern, err, sizeof(err))) == NULL)
			fuzz_fail("glob work bound: reference pattern refused: %s", err);
		match_glob_free(g);
		t = thread_ns() - t0;
		if (best == -1 || t < best)
			best = t;
	}
	return best;
}

/* Times the references (again): see the header */
static void
work_calibrate(void)
{
	static char ref[MATCH_PATTERN_MAX + 1], text[WORK_TEXT + 1];
	static char compile[MATCH_PATTERN_MAX + 1];
	const char *env;
	uint64_t    steps;
	long long   t;
	size_t	    i;

	if (!work_ref.done) {
		env = getenv("FUZZ_GLOB_TIME_FACTOR");
		work_ref.factor = env != NULL ? atoll(env) : 8;
	}
	work_ref.done = 1;
	if (work_ref.factor <= 0)
		return;
	/* REF: the lead star keeps state 0 live, so no state is dropped */
	ref[0] = '*';
	memset(ref + 1, '?', MATCH_PATTERN_MAX - 1);
	memset(text, 'a', WORK_TEXT);
	t = work_time(ref, text, 0, &steps);
	work_ref.ns_per_step = (double)t / (double)(steps > 0 ? steps : 1);
	/* REF_COMPILE: a full range per 5 bytes, each named byte a class */
	for (i = 0; i + 5 <= MATCH_PATTERN_MAX; i += 5)
		memcpy(compile + i, "[\x01-\xff]", 5);
	compile[i] = '\0';
	work_ref.compile_ns = work_compile_time(compile);
}

static long long
work_allowance(uint64_t steps)
{
	return (long long)(work_ref.factor * work_ref.ns_per_step * (double)steps) +
	    2 * work_ref.compile_ns + WORK_SLACK_NS;
}

/* The pattern against text repeated (and varied) to WORK_TEXT bytes. */
static void
work_bound(const char *pattern, const char *text)
{
	static char big[WORK_TEXT + 1];
	size_t	    plen = strlen(pattern), sl, i;
	uint64_t    steps;
	long long   t, allowed;
	int	    variant, round;

	if (!work_ref.done)
		work_calibrate();
	for (variant = 0; variant < 2; variant++) {
		/* 0: the text over and over; 1: the pattern's own bytes (its literals) */
		const char *src = variant == 0 ? text : pattern;

		if ((sl = strlen(src)) == 0)
			continue;
		for (i = 0; i < WORK_TEXT; i++)
			big[i] = src[i % sl];
		big[WORK_TEXT] = '\0';
		t = work_time(pattern, big, work_ref.factor > 0, &steps);
		if (steps > work_steps_max(plen))
			fuzz_fail("glob work bound: pattern of %zu bytes against %d "
				  "text bytes took %llu steps (at most %llu)",
			    plen, WORK_TEXT, (unsigned long long)steps,
			    (unsigned long long)work_steps_max(plen));
		if (work_ref.factor <= 0)
			continue;
		for (round = 1; (allowed = work_allowance(steps)) < t; round++) {
			if (round == WORK_TIME_ROUNDS || t > WORK_TIME_FAR * allowed)
				fuzz_fail("glob work bound: pattern of %zu bytes "
					  "against %d text bytes took %lld ns for %llu "
					  "steps (allowed %lld: %lld x %.2f ns per step of "
					  "the reference + 2 x %lld ns + 1 ms), round %d",
				    plen, WORK_TEXT, t, (unsigned long long)steps, allowed,
				    work_ref.factor, work_ref.ns_per_step, work_ref.compile_ns,
				    round);
			work_calibrate();
			t = work_time(pattern, big, 1, &steps);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	const uint8_t *nul = memchr(data, '\0', size);
	char	      *pattern, *text, err[256];
	size_t	       plen;
	int	       got, want, checked;

	pattern = fuzz_take(&in, nul != NULL ? (size_t)(nul - data) : size, &plen);
	(void)fuzz_byte(&in);
	nul = memchr(in.p, '\0', in.len);
	text = fuzz_take(&in, nul != NULL ? (size_t)(nul - in.p) : in.len, NULL);
	if (plen > WORK_PATTERN_MAX)
		pattern[WORK_PATTERN_MAX] = '\0';

	checked = match_glob_check(pattern, err, sizeof(err));
	if (checked != 0 && checked != -1)
		fuzz_fail("match_glob_check returned %d", checked);
	if (checked == -1 && (err[0] == '\0' || strlen(err) >= sizeof(err)))
		fuzz_fail("match_glob_check gave no reason");
	if (strlen(pattern) <= REF_PATTERN_MAX && strlen(text) <= REF_TEXT_MAX) {
		if ((checked == -1) != ref_malformed(pattern))
			fuzz_fail("match_glob_check(\"%s\") = %d (%s), reference says %s", pattern,
			    checked, checked ? err : "ok",
			    ref_malformed(pattern) ? "malformed" : "well formed");
		got = match_glob(pattern, text);
		want = ref_glob(pattern, text);
		if (got != want)
			fuzz_fail("match_glob(\"%s\", \"%s\") = %d, reference says %d", pattern,
			    text, got, want);
	}
	work_bound(pattern, text);
	free(pattern);
	free(text);
	return 0;
}
