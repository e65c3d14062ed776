/*
 * match - filters shared by store queries, waits, clears and reject rules.
 *
 * Globs are our own (not fnmatch(3)): ASCII case-insensitive, no special
 * meaning for '/' or a leading '.', '\' escapes the next byte (also inside a
 * set). A malformed pattern still matches (an unclosed '[' is a literal '[',
 * a trailing '\' a literal '\'), but callers are expected to reject it first
 * with match_glob_check(), which also refuses more than MATCH_PATTERN_MAX
 * bytes.
 *
 * Cost. A glob is a row of one-byte elements (literal, '?', set) with stars
 * between some of them: an NFA whose state i is "the first i elements
 * matched" and whose only loops are the stars. match_glob_compile() builds
 * it once. The bytes fall into classes: each byte that a literal or a set
 * range names gets its own (a letter shares it with its other case), every
 * other byte is class 0, which NUL always stands for (no pattern names NUL).
 * Each class has a row of nelem bits, "element i accepts this byte".
 * match_glob_exec() keeps the live states as a bitset and, per text byte c,
 *	D' = ((D << 1 | state 0) & row[class(c)]) | (D & loops)
 * which is at most MATCH_WORDS_MAX word updates per byte whatever the
 * pattern: linear in the text. Two shortcuts make the usual case cheaper:
 * no live state left ends the scan (anchored patterns), and once a star's
 * state is live every lower state is dropped, since whatever they could
 * reach passes through that state, which stays live from then on (the
 * greedy-leftmost argument for globs); only the words from it up are updated.
 * A glob of at most 64 elements (the usual one) runs a one-word loop.
 *
 * The automaton's whole state is (text offset, the live words, lo/hi,
 * state 0 live): struct match_exec. So a match can stop after any byte and
 * go on later (match_glob_run() takes a limit of units), which is what
 * slices a 1024-byte glob over a 32 MiB body.
 *
 * match_glob() serves one-off checks: a pattern with no place to keep a
 * compiled form. It first runs the classic scan with one
 * backtrack point for the last '*' (enough for globs: a later '*' makes
 * earlier ones irrelevant), which takes a few steps per text byte for
 * ordinary patterns, within a budget of MATCH_SCAN_PER_BYTE units per byte
 * of the pattern and of the text reached so far (checked on backtracks,
 * which are what repeat work). A pattern that would make it rescan
 * ("*" + "a"*997 + "b" against lines of 'a': pattern x text steps) runs out
 * of budget and is compiled and matched by the NFA instead. So match_glob()
 * is linear in the text too, and a common filter costs about what it did
 * (ListMessages over 100k; the budget's bookkeeping adds some 10-25 %).
 *
 * Filters (match_query). A filter used on many messages is compiled once:
 * one NFA per given field. match_query_run() tests the fields in a fixed
 * order, cheap envelope first (so envelope-only filters never parse MIME),
 * then subject, headers, body, and keeps its place in a match_run: the
 * stage, the recipient or header index, the exec of the glob in progress.
 * Between items and stages it stops once the budget is spent; inside a glob
 * match_glob_run() does. Every call spends at least MATCH_RUN_MIN units on
 * the glob it resumes, so a run always gets somewhere. The indivisible
 * steps are parsing the MIME view (once per message, cached on it) and
 * getting the bodies (the caller's source: the store's cache), both bounded
 * by the message's size and charged by it. Header fields past the view's
 * listed ones are decoded one at a time (mime_view_more()) and the one in
 * progress is kept in the run, so a header of 200,000 fields is gone through
 * in slices and never costs more memory than one field.
 * match_message() is a query compiled for one call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "message.h"
#include "mime.h"
#include "xmalloc.h"

#define MATCH_SCAN_PER_BYTE 4 /* scan budget per text + pattern byte */

enum match_kind {
	MATCH_LIT,
	MATCH_ANY,
	MATCH_SET,
};

struct match_glob {
	size_t	      nelem;  /* elements; stars are not elements */
	size_t	      nwords; /* ceil(nelem / 64) */
	size_t	      nclass;
	size_t	      size;	  /* bytes allocated */
	int	      stars;	  /* any '*' (decides nelem == 0) */
	int	      lead_star;  /* state 0 loops */
	int	      trail_star; /* the final state loops */
	unsigned char cls[256];	  /* byte -> class */
	uint64_t      w[];	  /* loops[nwords], then rows[nclass][nwords] */
};

static _Thread_local uint64_t match_steps;

static int
match_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int
match_upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c;
}

/* The other case of an ASCII letter; c itself for any other byte. */
static int
match_pair(int c)
{
	return c >= 'a' && c <= 'z' ? match_upper(c) : match_lower(c);
}

/*
 * Parses the set starting just after '[' at p. Returns a pointer after the
 * closing ']' and sets *hit when c (a byte) is in the set; NULL when the set
 * is not closed. *bad (optional) is set to a reversed range's first byte.
 * named (optional, 256 bytes) gets a 1 for each byte a range names and for
 * its other case; whether the set is negated is then *hit for c == 0, as
 * no range names NUL.
 */
static const unsigned char *
match_set(const unsigned char *p, int c, int *hit, int *bad, unsigned char *named)
{
	int neg = 0, in = 0, lo, hi, first = 1, x;

	if (*p == '!' || *p == '^') {
		neg = 1;
		p++;
	}
	for (;;) {
		if (*p == '\0')
			return NULL;
		if (*p == ']' && !first)
			break;
		first = 0;
		if (*p == '\\') {
			if (p[1] == '\0')
				return NULL;
			p++;
		}
		lo = hi = *p++;
		if (p[0] == '-' && p[1] != ']' && p[1] != '\0') {
			p++;
			if (*p == '\\') {
				if (p[1] == '\0')
					return NULL;
				p++;
			}
			hi = *p++;
			if (hi < lo && bad != NULL)
				*bad = lo;
		}
		if ((c >= lo && c <= hi) || (match_lower(c) >= lo && match_lower(c) <= hi) ||
		    (match_upper(c) >= lo && match_upper(c) <= hi))
			in = 1;
		if (named != NULL)
			for (x = lo; x <= hi; x++)
				named[x] = named[match_pair(x)] = 1;
	}
	*hit = in != neg;
	return p + 1;
}

/*
 * Decodes the pattern element at p (not '*', not NUL): sets *kind and *hit
 * (whether byte c matches it) and returns the pattern after it. A literal's
 * byte is the one just before that. named: as for match_set(), for a set.
 */
static const unsigned char *
match_elem(const unsigned char *p, int c, enum match_kind *kind, int *hit, unsigned char *named)
{
	const unsigned char *q;

	switch (*p) {
	case '?':
		*kind = MATCH_ANY;
		*hit = 1;
		return p + 1;
	case '[':
		if ((q = match_set(p + 1, c, hit, NULL, named)) != NULL) {
			*kind = MATCH_SET;
			return q;
		}
		break; /* unclosed: a literal '[' */
	case '\\':
		if (p[1] != '\0')
			p++;
		break;
	default:
		break;
	}
	*kind = MATCH_LIT;
	*hit = match_lower(*p) == match_lower(c);
	return p + 1;
}

/*
 * The single-backtrack scan. Returns 1 or 0, or -1 once it has spent more
 * than MATCH_SCAN_PER_BYTE units (pattern bytes examined, backtracks) per
 * byte of the pattern (plen) and of the text it has reached so far.
 */
static int
match_scan(const unsigned char *p, const unsigned char *str, size_t plen)
{
	const unsigned char *s = str, *far = str, *star_p = NULL, *star_s = NULL, *next;
	enum match_kind	     kind;
	uint64_t	     used = 0;
	int		     hit, rc;

	for (;;) {
		if (*s == '\0') {
			while (*p == '*')
				p++;
			rc = *p == '\0';
			break;
		}
		if (*p == '*') {
			while (*p == '*')
				p++;
			used++;
			if (*p == '\0') {
				rc = 1;
				break;
			}
			star_p = p;
			star_s = s;
			continue;
		}
		if (*p == '?' || *p == '[' || *p == '\\') {
			next = match_elem(p, *s, &kind, &hit, NULL);
			if (*p == '[' && kind == MATCH_LIT) {
				/* Unclosed: match_set() read to the end; the NFA reads it once */
				used += plen;
				rc = -1;
				break;
			}
			used += (uint64_t)(next - p);
		} else {
			/* A literal (or the pattern's end: NUL matches no text byte) */
			next = p + 1;
			hit = match_lower(*p) == match_lower(*s);
			used++;
		}
		if (hit) {
			p = next;
			s++;
			continue;
		}
		if (star_p == NULL) {
			rc = 0;
			break;
		}
		/* Let the last '*' swallow one more byte and retry, within budget */
		if (s > far)
			far = s;
		if (++used > MATCH_SCAN_PER_BYTE * ((uint64_t)(far - str) + plen + 1)) {
			rc = -1;
			break;
		}
		p = star_p;
		s = ++star_s;
	}
	match_steps += used;
	return rc;
}

/*
 * match_elem() for the compiler: once a '[' is unclosed, every later '[' is
 * a literal at once, without reading to the pattern's end again (a later
 * set cannot be closed either: a ']' that closed it would close the earlier
 * one; checked for every pattern of up to 10 bytes over "[]\\-!^a").
 */
static const unsigned char *
match_elem_once(const unsigned char *p, int *unclosed, enum match_kind *kind, int *hit,
    unsigned char *named)
{
	const unsigned char *q;

	if (*p == '[' && *unclosed) {
		*kind = MATCH_LIT;
		*hit = 0;
		return p + 1;
	}
	q = match_elem(p, 0, kind, hit, named);
	if (*p == '[' && *kind == MATCH_LIT)
		*unclosed = 1;
	return q;
}

/*
 * Builds the NFA of a pattern of at most MATCH_PATTERN_MAX bytes, malformed
 * or not (read as match_elem() reads it). Never fails.
 */
static struct match_glob *
match_compile(const unsigned char *pat)
{
	struct match_glob   *g;
	const unsigned char *p, *q;
	unsigned char	     named[256], rep[256];
	uint64_t	     any[MATCH_WORDS_MAX], *loops, *rows, bit;
	size_t		     nelem = 0, nclass = 1, nw, i, j, word;
	enum match_kind	     kind;
	int		     c, hit, stars = 0, lead = 0, unclosed = 0;

	/* Pass 1: count elements, note every byte a literal or a set names */
	memset(named, 0, sizeof(named));
	for (p = pat; *p != '\0'; p = q) {
		if (*p == '*') {
			stars = 1;
			lead |= nelem == 0;
			q = p + 1;
			continue;
		}
		q = match_elem_once(p, &unclosed, &kind, &hit, named);
		if (kind == MATCH_LIT)
			named[q[-1]] = named[match_pair(q[-1])] = 1;
		nelem++;
	}
	nw = (nelem + 63) / 64;

	/* Classes: 0 for unnamed bytes (NUL stands for them), one per named pair */
	g = xcalloc(1, sizeof(*g));
	rep[0] = 0;
	for (c = 1; c < 256; c++) {
		if (!named[c])
			continue;
		if (match_pair(c) < c)
			g->cls[c] = g->cls[match_pair(c)];
		else {
			g->cls[c] = (unsigned char)nclass;
			rep[nclass++] = (unsigned char)c;
		}
	}
	g->size = sizeof(*g) + (1 + nclass) * nw * sizeof(uint64_t);
	g = xreallocarray(g, 1, g->size);
	memset(g->w, 0, (1 + nclass) * nw * sizeof(uint64_t));
	g->nelem = nelem;
	g->nwords = nw;
	g->nclass = nclass;
	g->stars = stars;
	g->lead_star = lead;
	loops = g->w;
	rows = g->w + nw;

	/* Pass 2: each element's bit in the rows of the classes it accepts */
	memset(any, 0, sizeof(any));
	unclosed = 0;
	for (i = 0, p = pat; *p != '\0'; p = q) {
		if (*p == '*') {
			if (i > 0)
				loops[(i - 1) / 64] |= (uint64_t)1 << ((i - 1) % 64);
			q = p + 1;
			continue;
		}
		word = i / 64;
		bit = (uint64_t)1 << (i % 64);
		if (*p == '[')
			memset(named, 0, sizeof(named));
		q = match_elem_once(p, &unclosed, &kind, &hit, named);
		switch (kind) {
		case MATCH_ANY:
			any[word] |= bit;
			break;
		case MATCH_LIT:
			rows[g->cls[q[-1]] * nw + word] |= bit;
			break;
		case MATCH_SET:
			/* hit for NUL: the set is negated */
			for (j = 0; j < nclass; j++)
				if ((named[rep[j]] != 0) != (hit != 0))
					rows[j * nw + word] |= bit;
			break;
		}
		i++;
	}
	for (j = 0; j < nclass; j++)
		for (word = 0; word < nw; word++)
			rows[j * nw + word] |= any[word];
	g->trail_star = nelem > 0 && (loops[(nelem - 1) / 64] >> ((nelem - 1) % 64) & 1);
	match_steps += (uint64_t)(p - pat) + 256 + (1 + nclass) * nw;
	return g;
}

/* e ready for a text with g (only g's state words are cleared) */
static void
match_exec_init(const struct match_glob *g, struct match_exec *e)
{
	e->active = 1;
	e->start = 1;
	e->pos = e->lo = e->hi = 0;
	memset(e->d, 0, (g->nwords > 0 ? g->nwords : 1) * sizeof(e->d[0]));
}

/*
 * match_glob_run() for at most 64 elements: one state word, nothing to
 * drop. At most limit bytes (a unit each).
 */
static int
match_exec1(const struct match_glob *g, struct match_exec *e, const unsigned char *str,
    uint64_t limit, uint64_t *used)
{
	const unsigned char *s = str + e->pos, *s0 = s;
	const uint64_t	    *rows = g->w + 1;
	uint64_t	     d = e->d[0], loops = g->w[0], last = (uint64_t)1 << (g->nelem - 1);
	uint64_t	     start = (uint64_t)e->start, lead = (uint64_t)g->lead_star;
	int		     rc = -1;

	for (; *s != '\0' && rc == -1 && (uint64_t)(s - s0) < limit; s++) {
		d = ((d << 1 | start) & rows[g->cls[*s]]) | (d & loops);
		start &= lead;
		if (d == 0 && start == 0)
			rc = 0;
		else if (g->trail_star && (d & last) != 0)
			rc = 1;
	}
	*used = (uint64_t)(s - s0);
	e->pos = (size_t)(s - str);
	e->d[0] = d;
	e->start = (int)start;
	if (rc != -1)
		return rc;
	return *s == '\0' ? (d & last) != 0 : -1;
}

/* match_glob_run() for more than 64 elements; about limit word updates. */
static int
match_execn(const struct match_glob *g, struct match_exec *e, const unsigned char *str,
    uint64_t limit, uint64_t *used)
{
	const unsigned char *s = str + e->pos;
	const uint64_t	    *loops = g->w, *row;
	uint64_t	    *d = e->d, old, carry, steps = 0;
	size_t		     nw = g->nwords, lo = e->lo, hi = e->hi, top, w, star_w;
	size_t		     last_w = (g->nelem - 1) / 64, last_b = (g->nelem - 1) % 64;
	int		     start = e->start, live, rc = -1; /* start: state 0 is live */

	for (; *s != '\0' && rc == -1 && steps < limit; s++) {
		row = g->w + nw + (size_t)g->cls[*s] * nw;
		top = hi + 1 < nw ? hi + 1 : hi;
		carry = (uint64_t)start; /* lo > 0 implies !start */
		live = 0;
		star_w = nw;
		for (w = lo; w <= top; w++) {
			old = d[w];
			d[w] = ((old << 1 | carry) & row[w]) | (old & loops[w]);
			carry = old >> 63;
			if (d[w] != 0) {
				hi = w;
				live = 1;
				if ((d[w] & loops[w]) != 0)
					star_w = w;
			}
		}
		steps += top - lo + 1;
		start &= g->lead_star;
		if (!live && !start)
			rc = 0;
		else if (g->trail_star && (d[last_w] >> last_b & 1))
			rc = 1;
		else if (star_w != nw) {
			/* Drop the states below the highest live star's */
			old = d[star_w] & loops[star_w];
			d[star_w] &= ~(((uint64_t)1 << (63 - __builtin_clzll(old))) - 1);
			for (w = lo; w < star_w; w++)
				d[w] = 0;
			lo = star_w;
			start = 0;
		}
		if (!live)
			hi = lo;
	}
	*used = steps;
	e->pos = (size_t)(s - str);
	e->lo = lo;
	e->hi = hi;
	e->start = start;
	if (rc != -1)
		return rc;
	return *s == '\0' ? (int)(d[last_w] >> last_b & 1) : -1;
}

/*
 * Runs g over str from where e stands, spending about limit units: *used
 * gets the state words updated (what match_glob_steps() counts) plus the
 * text bytes read, which is closer to the time taken when few states are
 * live. 1 or 0 once decided (e goes idle), -1 if the limit came first.
 */
static int
match_glob_run(const struct match_glob *g, struct match_exec *e, const char *str, uint64_t limit,
    uint64_t *used)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t		     pos = e->pos;
	int		     rc;

	*used = 0;
	if (g->nelem == 0)
		rc = g->stars || *s == '\0';
	else if (g->nwords == 1)
		rc = match_exec1(g, e, s, limit / 2 + 1, used);
	else
		rc = match_execn(g, e, s, limit / 2 + 1, used);
	match_steps += *used; /* once: a thread-local may cost a call */
	*used += e->pos - pos;
	if (rc != -1)
		e->active = 0;
	return rc;
}

int
match_glob_exec(const struct match_glob *g, const char *str)
{
	struct match_exec e;
	uint64_t	  used;

	match_exec_init(g, &e);
	return match_glob_run(g, &e, str, UINT64_MAX, &used);
}

struct match_glob *
match_glob_compile(const char *pattern, char *err, size_t errlen)
{
	if (match_glob_check(pattern, err, errlen) == -1)
		return NULL;
	return match_compile((const unsigned char *)pattern);
}

size_t
match_glob_size(const struct match_glob *g)
{
	return g->size;
}

void
match_glob_free(struct match_glob *g)
{
	free(g);
}

uint64_t
match_glob_steps(void)
{
	return match_steps;
}

int
match_glob(const char *pattern, const char *str)
{
	struct match_glob *g;
	size_t		   plen;
	int		   rc;

	plen = strnlen(pattern, MATCH_PATTERN_MAX + 1);
	if (plen > MATCH_PATTERN_MAX)
		return 0;
	rc = match_scan((const unsigned char *)pattern, (const unsigned char *)str, plen);
	if (rc != -1)
		return rc;
	g = match_compile((const unsigned char *)pattern);
	rc = match_glob_exec(g, str);
	match_glob_free(g);
	return rc;
}

int
match_glob_check(const char *pattern, char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)pattern, *q;
	int		     hit, bad;

	if (strnlen(pattern, MATCH_PATTERN_MAX + 1) > MATCH_PATTERN_MAX) {
		snprintf(err, errlen, "pattern longer than %d bytes", MATCH_PATTERN_MAX);
		return -1;
	}
	while (*p != '\0') {
		switch (*p) {
		case '\\':
			if (p[1] == '\0') {
				snprintf(err, errlen, "trailing '\\' in pattern");
				return -1;
			}
			p += 2;
			break;
		case '[':
			bad = -1;
			if ((q = match_set(p + 1, 'a', &hit, &bad, NULL)) == NULL) {
				snprintf(err, errlen, "unclosed '[' in pattern");
				return -1;
			}
			if (bad != -1) {
				snprintf(err, errlen, "reversed range in '%.*s'", (int)(q - p),
				    (const char *)p);
				return -1;
			}
			p = q;
			break;
		default:
			p++;
			break;
		}
	}
	return 0;
}

static int
match_given(const char *s)
{
	return s != NULL && *s != '\0';
}

/* The glob fields of a filter, in the order a query tests them */
enum match_field {
	MATCH_F_MAIL_FROM,
	MATCH_F_RCPT_TO,
	MATCH_F_SUBJECT,
	MATCH_F_HEADER_NAME,
	MATCH_F_HEADER_VALUE,
	MATCH_F_BODY,
	MATCH_F_AUTH_USER,
	MATCH_NFIELDS
};

static const struct {
	const char *name;
	size_t	    off;
} match_fields[MATCH_NFIELDS] = {
	{ "mail_from", offsetof(struct filter, mail_from) },
	{ "rcpt_to", offsetof(struct filter, rcpt_to) },
	{ "subject", offsetof(struct filter, subject) },
	{ "header_name", offsetof(struct filter, header_name) },
	{ "header_value", offsetof(struct filter, header_value) },
	{ "body", offsetof(struct filter, body) },
	{ "auth_user", offsetof(struct filter, auth_user) },
};

static const char *
match_field(const struct filter *f, int i)
{
	return *(char *const *)((const char *)f + match_fields[i].off);
}

int
match_filter_check(const struct filter *f, char *err, size_t errlen)
{
	char	    why[128];
	const char *pat;
	int	    i;

	if (f == NULL)
		return 0;
	for (i = 0; i < MATCH_NFIELDS; i++) {
		pat = match_field(f, i);
		if (match_given(pat) && match_glob_check(pat, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s: %s", match_fields[i].name, why);
			return -1;
		}
	}
	return 0;
}

int
match_filter_is_empty(const struct filter *f)
{
	int i;

	if (f == NULL)
		return 1;
	for (i = 0; i < MATCH_NFIELDS; i++)
		if (match_given(match_field(f, i)))
			return 0;
	return f->after_id == 0 && f->relay_state == 0;
}

/* ---- compiled filters, evaluated in slices ----------------------------- */

/*
 * Where a match_run stands: the fields are tested in this order, cheap
 * envelope first, so envelope-only filters never parse MIME.
 */
enum match_stage {
	MATCH_ST_FROM,
	MATCH_ST_AUTH,
	MATCH_ST_RCPT,
	MATCH_ST_SUBJECT,
	MATCH_ST_HEADERS, /* the fields the view lists */
	MATCH_ST_MORE,	  /* the ones after them, decoded one at a time */
	MATCH_ST_TEXT,
	MATCH_ST_HTML,
};

#define MATCH_COST_ITEM	 8  /* a recipient or header looked at */
#define MATCH_COST_FIELD 64 /* an unlisted header field decoded (+ its bytes) */

struct match_query {
	struct match_glob *g[MATCH_NFIELDS]; /* NULL: not given */
	uint64_t	   after_id;
	int		   relay_state; /* 0: any */
	int		   never;	/* a glob over MATCH_PATTERN_MAX */
	size_t		   size;
};

struct match_query *
match_query_new(const struct filter *f)
{
	struct match_query *q = xcalloc(1, sizeof(*q));
	const char	   *pat;
	int		    i;

	q->size = sizeof(*q);
	if (f == NULL)
		return q;
	q->after_id = f->after_id;
	q->relay_state = f->relay_state;
	for (i = 0; i < MATCH_NFIELDS; i++) {
		pat = match_field(f, i);
		if (!match_given(pat))
			continue;
		/* match_glob(): a pattern over the bound matches nothing */
		if (strnlen(pat, MATCH_PATTERN_MAX + 1) > MATCH_PATTERN_MAX) {
			q->never = 1;
			continue;
		}
		q->g[i] = match_compile((const unsigned char *)pat);
		q->size += q->g[i]->size;
	}
	return q;
}

void
match_query_free(struct match_query *q)
{
	int i;

	if (q == NULL)
		return;
	for (i = 0; i < MATCH_NFIELDS; i++)
		match_glob_free(q->g[i]);
	free(q);
}

int
match_query_is_empty(const struct match_query *q)
{
	int i;

	for (i = 0; i < MATCH_NFIELDS; i++)
		if (q->g[i] != NULL)
			return 0;
	return !q->never && q->after_id == 0 && q->relay_state == 0;
}

uint64_t
match_query_after_id(const struct match_query *q)
{
	return q->after_id;
}

size_t
match_query_size(const struct match_query *q)
{
	return q->size;
}

void
match_run_clear(struct match_run *r)
{
	if (r->name != NULL || r->value != NULL) {
		free(r->name);
		free(r->value);
		r->name = r->value = NULL;
	}
	/* the automaton's words are cleared when a glob starts */
	r->stage = r->part = 0;
	r->i = r->next = 0;
	r->exec.active = 0;
}

/*
 * One glob over one text, from where r->exec stands: 1 / 0, or -1 when
 * *budget ran out (at least MATCH_RUN_MIN units are spent first).
 */
static int
match_run_glob(const struct match_glob *g, struct match_run *r, const char *text, int64_t *budget)
{
	uint64_t used, limit = *budget > MATCH_RUN_MIN ? (uint64_t)*budget : MATCH_RUN_MIN;
	int	 rc;

	if (!r->exec.active)
		match_exec_init(g, &r->exec);
	rc = match_glob_run(g, &r->exec, text, limit, &used);
	*budget -= (int64_t)used;
	return rc;
}

/* One envelope string against its glob: 1 (also when not given), 0, -1 budget out */
static int
match_run_field(const struct match_query *q, struct match_run *r, int field, const char *text,
    int64_t *budget)
{
	if (q->g[field] == NULL)
		return 1;
	return match_run_glob(q->g[field], r, text != NULL ? text : "", budget);
}

/* The header summary; parsing it (once per message) is charged by its size */
static const struct mime_view *
match_view(struct message *m, int64_t *budget)
{
	const struct mime_view *v;

	if (m->mime != NULL)
		return m->mime;
	v = mime_view_get(m);
	if (v != NULL)
		*budget -= (int64_t)(mime_view_footprint(v) + v->header_end);
	return v;
}

/*
 * One header against header_name and header_value (the ones given), from
 * r->part: 1 both match, 0 not, -1 budget out.
 */
static int
match_run_header(const struct match_query *q, struct match_run *r, const char *name,
    const char *value, int64_t *budget)
{
	int rc;

	if (r->part == 0 && q->g[MATCH_F_HEADER_NAME] != NULL) {
		rc = match_run_glob(q->g[MATCH_F_HEADER_NAME], r, name, budget);
		if (rc != 1)
			return rc;
	}
	r->part = 1;
	rc = 1;
	if (q->g[MATCH_F_HEADER_VALUE] != NULL &&
	    (rc = match_run_glob(q->g[MATCH_F_HEADER_VALUE], r, value, budget)) == -1)
		return -1;
	r->part = 0;
	return rc;
}

/* The listed headers from r->i: 1 one matches, 0 none does, -1 budget out */
static int
match_run_listed(const struct match_query *q, struct match_run *r, const struct mime_view *v,
    int64_t *budget)
{
	int rc;

	for (; r->i < v->nheaders; r->i++) {
		*budget -= MATCH_COST_ITEM;
		rc = match_run_header(q, r, v->headers[r->i].name, v->headers[r->i].value, budget);
		if (rc != 0)
			return rc;
		if (*budget <= 0 && r->i + 1 < v->nheaders) {
			r->i++;
			return -1;
		}
	}
	return 0;
}

/* The unlisted fields from offset r->i, one decoded at a time: as above */
static int
match_run_more(const struct match_query *q, struct match_run *r, struct message *m,
    const struct mime_view *v, int64_t *budget)
{
	size_t off;
	int    rc;

	for (;;) {
		if (r->name == NULL) {
			off = r->i;
			if (!mime_view_more(m, v, &off, &r->name, &r->value))
				return 0;
			*budget -= (int64_t)(off - r->i) + MATCH_COST_FIELD;
			r->next = off;
		}
		if ((rc = match_run_header(q, r, r->name, r->value, budget)) == -1)
			return -1;
		free(r->name);
		free(r->value);
		r->name = r->value = NULL;
		if (rc == 1)
			return 1;
		r->i = r->next;
		if (*budget <= 0)
			return -1;
	}
}

/* Decoded bodies: the caller's source (a cache), else parsed now into *own */
static const struct mime_body *
match_bodies_get(const struct match_bodies *src, struct message *m, struct mime_body **own,
    int64_t *budget)
{
	if (src != NULL && src->get != NULL)
		return src->get(src->arg, m, budget);
	*own = mime_body_parse(m, 0);
	*budget -= 2 * (int64_t)m->size;
	return *own;
}

/* The body stages: 1 the text or the HTML matches, 0 neither, -1 budget out */
static int
match_run_body(const struct match_query *q, struct match_run *r, struct message *m,
    const struct match_bodies *src, int64_t *budget)
{
	const struct mime_body *b;
	struct mime_body       *own = NULL;
	const char	       *text;
	int			rc;

	b = match_bodies_get(src, m, &own, budget);
	for (;;) {
		if (r->stage == MATCH_ST_TEXT)
			text = b != NULL && b->text != NULL ? b->text : "";
		else if (b == NULL || b->html == NULL || *b->html == '\0') {
			rc = 0;
			break;
		} else
			text = b->html;
		rc = match_run_glob(q->g[MATCH_F_BODY], r, text, budget);
		if (rc != 0 || r->stage == MATCH_ST_HTML)
			break;
		r->stage = MATCH_ST_HTML;
	}
	mime_body_free(own);
	return rc;
}

/* The end of one evaluation: r rewound for the next message */
static int
match_run_end(struct match_run *r, int rc)
{
	match_run_clear(r);
	return rc;
}

int
match_query_run(const struct match_query *q, struct match_run *r, struct message *m,
    const struct match_bodies *src, int64_t *budget)
{
	const struct mime_view	*v;
	const struct match_glob *g;
	int			 rc, fresh;

	if (q->never || (q->after_id != 0 && m->id <= q->after_id) ||
	    (q->relay_state != 0 &&
		(m->relay == NULL ? MSG_RELAY_NONE : (int)m->relay->state) != q->relay_state))
		return match_run_end(r, 0);
	for (fresh = 1;; fresh = 0) {
		/* between stages too, once this call made some progress */
		if (!fresh && *budget <= 0)
			return -1;
		switch (r->stage) {
		case MATCH_ST_FROM:
		case MATCH_ST_AUTH:
			rc = r->stage == MATCH_ST_FROM ?
			    match_run_field(q, r, MATCH_F_MAIL_FROM, m->mail_from, budget) :
			    match_run_field(q, r, MATCH_F_AUTH_USER, m->auth_user, budget);
			if (rc != 1)
				return rc == -1 ? -1 : match_run_end(r, 0);
			r->stage = r->stage == MATCH_ST_FROM ? MATCH_ST_AUTH : MATCH_ST_RCPT;
			break;
		case MATCH_ST_RCPT:
			if ((g = q->g[MATCH_F_RCPT_TO]) != NULL) {
				for (; r->i < m->nrcpts; r->i++) {
					*budget -= MATCH_COST_ITEM;
					if ((rc = match_run_glob(g, r, m->rcpts[r->i].addr,
						 budget)) == -1)
						return -1;
					if (rc == 1)
						break;
					if (*budget <= 0 && r->i + 1 < m->nrcpts) {
						r->i++;
						return -1;
					}
				}
				if (r->i == m->nrcpts)
					return match_run_end(r, 0);
			}
			r->stage = MATCH_ST_SUBJECT;
			r->i = 0;
			break;
		case MATCH_ST_SUBJECT:
			if ((g = q->g[MATCH_F_SUBJECT]) != NULL) {
				v = match_view(m, budget);
				rc = match_run_glob(g, r,
				    v != NULL && v->subject != NULL ? v->subject : "", budget);
				if (rc != 1)
					return rc == -1 ? -1 : match_run_end(r, 0);
			}
			r->stage = MATCH_ST_HEADERS;
			break;
		case MATCH_ST_HEADERS:
		case MATCH_ST_MORE:
			if (q->g[MATCH_F_HEADER_NAME] == NULL &&
			    q->g[MATCH_F_HEADER_VALUE] == NULL) {
				r->stage = MATCH_ST_TEXT;
				break;
			}
			if ((v = match_view(m, budget)) == NULL)
				return match_run_end(r, 0);
			if (r->stage == MATCH_ST_HEADERS) {
				if ((rc = match_run_listed(q, r, v, budget)) == -1)
					return -1;
				if (rc == 0 && v->more == 0)
					return match_run_end(r, 0);
				if (rc == 0) {
					r->stage = MATCH_ST_MORE;
					r->i = v->more;
					r->part = 0;
					if (*budget <= 0)
						return -1;
				}
			}
			if (r->stage == MATCH_ST_MORE) {
				if ((rc = match_run_more(q, r, m, v, budget)) == -1)
					return -1;
				if (rc == 0)
					return match_run_end(r, 0);
			}
			r->stage = MATCH_ST_TEXT;
			r->i = 0;
			r->part = 0;
			break;
		case MATCH_ST_TEXT:
		case MATCH_ST_HTML:
			if (q->g[MATCH_F_BODY] == NULL)
				return match_run_end(r, 1);
			if ((rc = match_run_body(q, r, m, src, budget)) == -1)
				return -1;
			return match_run_end(r, rc);
		default:
			return match_run_end(r, 0);
		}
	}
}

int
match_query_message(const struct match_query *q, struct message *m, const struct match_bodies *src)
{
	struct match_run r;
	int64_t		 budget = INT64_MAX;

	memset(&r, 0, sizeof(r));
	return match_query_run(q, &r, m, src, &budget);
}

int
match_message(const struct filter *f, struct message *m)
{
	struct match_query *q = match_query_new(f);
	int		    rc;

	rc = match_query_message(q, m, NULL);
	match_query_free(q);
	return rc;
}

static char *
match_strdup(const char *s)
{
	return match_given(s) ? xstrdup(s) : NULL;
}

void
match_filter_copy(struct filter *dst, const struct filter *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src == NULL)
		return;
	dst->mail_from = match_strdup(src->mail_from);
	dst->rcpt_to = match_strdup(src->rcpt_to);
	dst->subject = match_strdup(src->subject);
	dst->header_name = match_strdup(src->header_name);
	dst->header_value = match_strdup(src->header_value);
	dst->body = match_strdup(src->body);
	dst->after_id = src->after_id;
	dst->relay_state = src->relay_state;
	dst->auth_user = match_strdup(src->auth_user);
}

void
match_filter_free(struct filter *f)
{
	if (f == NULL)
		return;
	free(f->mail_from);
	free(f->rcpt_to);
	free(f->subject);
	free(f->header_name);
	free(f->header_value);
	free(f->body);
	free(f->auth_user);
	memset(f, 0, sizeof(*f));
}
