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
 * match_glob() serves filters: one pattern against many messages, with no
 * place to keep a compiled form. It first runs the classic scan with one
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
 * match_message() checks the cheap envelope fields first and touches the MIME
 * view only when a subject/header/body field is given, so envelope-only
 * filters never parse MIME (ListMessages over 100k messages).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "message.h"
#include "mime.h"
#include "xmalloc.h"

#define MATCH_SCAN_PER_BYTE	4	/* scan budget per text + pattern byte */

enum match_kind {
	MATCH_LIT,
	MATCH_ANY,
	MATCH_SET,
};

struct match_glob {
	size_t		 nelem;		/* elements; stars are not elements */
	size_t		 nwords;	/* ceil(nelem / 64) */
	size_t		 nclass;
	size_t		 size;		/* bytes allocated */
	int		 stars;		/* any '*' (decides nelem == 0) */
	int		 lead_star;	/* state 0 loops */
	int		 trail_star;	/* the final state loops */
	unsigned char	 cls[256];	/* byte -> class */
	uint64_t	 w[];		/* loops[nwords], then rows[nclass][nwords] */
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
	int	 neg = 0, in = 0, lo, hi, first = 1, x;

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
		if ((c >= lo && c <= hi) ||
		    (match_lower(c) >= lo && match_lower(c) <= hi) ||
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
match_elem(const unsigned char *p, int c, enum match_kind *kind, int *hit,
    unsigned char *named)
{
	const unsigned char	*q;

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
		break;			/* unclosed: a literal '[' */
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
	const unsigned char	*s = str, *far = str, *star_p = NULL, *star_s = NULL, *next;
	enum match_kind		 kind;
	uint64_t		 used = 0;
	int			 hit, rc;

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
 * Builds the NFA of a pattern of at most MATCH_PATTERN_MAX bytes, malformed
 * or not (read as match_elem() reads it). Never fails.
 */
static struct match_glob *
match_compile(const unsigned char *pat)
{
	struct match_glob	*g;
	const unsigned char	*p, *q;
	unsigned char		 named[256], rep[256];
	uint64_t		 any[MATCH_WORDS_MAX], *loops, *rows, bit;
	size_t			 nelem = 0, nclass = 1, nw, i, j, word;
	enum match_kind		 kind;
	int			 c, hit, stars = 0, lead = 0;

	/* Pass 1: count elements, note every byte a literal or a set names */
	memset(named, 0, sizeof(named));
	for (p = pat; *p != '\0'; p = q) {
		if (*p == '*') {
			stars = 1;
			lead |= nelem == 0;
			q = p + 1;
			continue;
		}
		q = match_elem(p, 0, &kind, &hit, named);
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
		q = match_elem(p, 0, &kind, &hit, named);
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

/* match_glob_exec() for at most 64 elements: one state word, nothing to drop. */
static int
match_exec1(const struct match_glob *g, const unsigned char *s)
{
	const unsigned char	*s0 = s;
	const uint64_t		*rows = g->w + 1;
	uint64_t		 d = 0, loops = g->w[0], last = (uint64_t)1 << (g->nelem - 1);
	uint64_t		 start = 1, lead = (uint64_t)g->lead_star;
	int			 rc = -1;

	for (; *s != '\0' && rc == -1; s++) {
		d = ((d << 1 | start) & rows[g->cls[*s]]) | (d & loops);
		start &= lead;
		if (d == 0 && start == 0)
			rc = 0;
		else if (g->trail_star && (d & last) != 0)
			rc = 1;
	}
	match_steps += (uint64_t)(s - s0);
	return rc != -1 ? rc : (d & last) != 0;
}

int
match_glob_exec(const struct match_glob *g, const char *str)
{
	const unsigned char	*s = (const unsigned char *)str;
	const uint64_t		*loops = g->w, *row;
	uint64_t		 d[MATCH_WORDS_MAX], old, carry, steps = 0;
	size_t			 nw = g->nwords, lo = 0, hi = 0, top, w, star_w;
	size_t			 last_w, last_b;
	int			 start = 1, live, rc = -1;	/* start: state 0 is live */

	if (g->nelem == 0)
		return g->stars || *s == '\0';
	if (nw == 1)
		return match_exec1(g, s);
	last_w = (g->nelem - 1) / 64;
	last_b = (g->nelem - 1) % 64;
	memset(d, 0, nw * sizeof(d[0]));
	for (; *s != '\0' && rc == -1; s++) {
		row = g->w + nw + (size_t)g->cls[*s] * nw;
		top = hi + 1 < nw ? hi + 1 : hi;
		carry = (uint64_t)start;	/* lo > 0 implies !start */
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
	match_steps += steps;	/* once: a thread-local may cost a call */
	return rc != -1 ? rc : (int)(d[last_w] >> last_b & 1);
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
	struct match_glob	*g;
	size_t			 plen;
	int			 rc;

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
	const unsigned char	*p = (const unsigned char *)pattern, *q;
	int			 hit, bad;

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
				snprintf(err, errlen, "reversed range in '%.*s'",
				    (int)(q - p), (const char *)p);
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

int
match_filter_check(const struct filter *f, char *err, size_t errlen)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} fields[] = {
		{ "mail_from", offsetof(struct filter, mail_from) },
		{ "rcpt_to", offsetof(struct filter, rcpt_to) },
		{ "subject", offsetof(struct filter, subject) },
		{ "header_name", offsetof(struct filter, header_name) },
		{ "header_value", offsetof(struct filter, header_value) },
		{ "body", offsetof(struct filter, body) },
	};
	char		 why[128];
	const char	*pat;
	size_t		 i;

	if (f == NULL)
		return 0;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		pat = *(char *const *)((const char *)f + fields[i].off);
		if (match_given(pat) && match_glob_check(pat, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s: %s", fields[i].name, why);
			return -1;
		}
	}
	return 0;
}

int
match_filter_is_empty(const struct filter *f)
{
	return f == NULL || (!match_given(f->mail_from) && !match_given(f->rcpt_to) &&
	    !match_given(f->subject) && !match_given(f->header_name) &&
	    !match_given(f->header_value) && !match_given(f->body) && f->after_id == 0);
}

static int
match_headers(const struct filter *f, struct message *m)
{
	const struct mime_view	*v;
	size_t			 i;

	v = mime_view_get(m);
	if (match_given(f->subject) &&
	    !match_glob(f->subject, v != NULL && v->subject != NULL ? v->subject : ""))
		return 0;
	if (!match_given(f->header_name) && !match_given(f->header_value))
		return 1;
	if (v == NULL)
		return 0;
	for (i = 0; i < v->nheaders; i++) {
		if (match_given(f->header_name) && !match_glob(f->header_name, v->headers[i].name))
			continue;
		if (match_given(f->header_value) &&
		    !match_glob(f->header_value, v->headers[i].value))
			continue;
		return 1;
	}
	return 0;
}

static int
match_body(const struct filter *f, const struct message *m)
{
	struct mime_body	*b;
	int			 hit;

	b = mime_body_parse(m, 0);
	if (b == NULL)
		return match_glob(f->body, "");
	hit = match_glob(f->body, b->text != NULL ? b->text : "") ||
	    (b->html != NULL && *b->html != '\0' && match_glob(f->body, b->html));
	mime_body_free(b);
	return hit;
}

int
match_message(const struct filter *f, struct message *m)
{
	size_t	i;

	if (f == NULL)
		return 1;
	if (m->id <= f->after_id && f->after_id != 0)
		return 0;
	if (match_given(f->mail_from) &&
	    !match_glob(f->mail_from, m->mail_from != NULL ? m->mail_from : ""))
		return 0;
	if (match_given(f->rcpt_to)) {
		for (i = 0; i < m->nrcpts; i++)
			if (match_glob(f->rcpt_to, m->rcpts[i].addr))
				break;
		if (i == m->nrcpts)
			return 0;
	}
	if ((match_given(f->subject) || match_given(f->header_name) ||
	    match_given(f->header_value)) && !match_headers(f, m))
		return 0;
	if (match_given(f->body) && !match_body(f, m))
		return 0;
	return 1;
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
	memset(f, 0, sizeof(*f));
}
