/*
 * match - filters shared by store queries, waits, clears and reject rules.
 *
 * Globs are our own (not fnmatch(3)): ASCII case-insensitive, no special
 * meaning for '/' or a leading '.', '\' escapes the next byte (also inside a
 * set). Matching is iterative with a single backtrack point for the last '*'
 * seen, which is enough for globs (a later '*' makes earlier ones irrelevant),
 * so "*a*a*a*a*b" against a long string is O(len(pattern) * len(string)) at
 * worst and never recurses. A malformed pattern still matches (an unclosed
 * '[' is a literal '[', a trailing '\' a literal '\'), but callers are expected
 * to reject it first with match_glob_check().
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

/*
 * Parses the set starting just after '[' at p. Returns a pointer after the
 * closing ']' and sets *hit when c (a byte) is in the set; NULL when the set
 * is not closed. *bad (optional) is set to a reversed range's first byte.
 */
static const unsigned char *
match_set(const unsigned char *p, int c, int *hit, int *bad)
{
	int	 neg = 0, in = 0, lo, hi, first = 1;

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
	}
	*hit = in != neg;
	return p + 1;
}

/*
 * Matches one pattern element at *pp (not '*') against byte c. Advances *pp
 * past the element and returns 1 on a match, 0 otherwise.
 */
static int
match_elem(const unsigned char **pp, int c)
{
	const unsigned char	*p = *pp, *q;
	int			 hit;

	switch (*p) {
	case '?':
		*pp = p + 1;
		return 1;
	case '[':
		if ((q = match_set(p + 1, c, &hit, NULL)) != NULL) {
			*pp = q;
			return hit;
		}
		*pp = p + 1;		/* unclosed: a literal '[' */
		return c == '[';
	case '\\':
		if (p[1] != '\0')
			p++;
		/* FALLTHROUGH */
	default:
		*pp = p + 1;
		return match_lower(*p) == match_lower(c);
	}
}

int
match_glob(const char *pattern, const char *str)
{
	const unsigned char	*p = (const unsigned char *)pattern;
	const unsigned char	*s = (const unsigned char *)str;
	const unsigned char	*star_p = NULL, *star_s = NULL, *next;

	while (*s != '\0') {
		if (*p == '*') {
			while (*p == '*')
				p++;
			if (*p == '\0')
				return 1;
			star_p = p;
			star_s = s;
			continue;
		}
		next = p;
		if (*p != '\0' && match_elem(&next, *s)) {
			p = next;
			s++;
			continue;
		}
		if (star_p == NULL)
			return 0;
		/* Let the last '*' swallow one more byte and retry */
		p = star_p;
		s = ++star_s;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

int
match_glob_check(const char *pattern, char *err, size_t errlen)
{
	const unsigned char	*p = (const unsigned char *)pattern, *q;
	int			 hit, bad;

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
			if ((q = match_set(p + 1, 'a', &hit, &bad)) == NULL) {
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
