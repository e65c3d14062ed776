/*
 * match - filters shared by store queries, waits, clears and reject rules.
 *
 * A filter field that is NULL (or "") is not given. Given fields are
 * case-insensitive globs matched against the whole value: '*', '?', '[set]',
 * '[!set]' / '[^set]' with ranges, '\' escapes the next byte. All given fields
 * must match; rcpt_to matches if any envelope recipient matches;
 * header_name and header_value must match the same header.
 *
 * Cost: matching is linear in the text for any pattern (match.c says how),
 * with a pattern of at most MATCH_PATTERN_MAX bytes, which match_glob_check()
 * enforces. A glob used many times (a reject rule) is compiled once with
 * match_glob_compile(); the compiled form is immutable, so it may be shared
 * by threads, and is owned by the caller (match_glob_free()).
 */
#ifndef SMTPSINK_MATCH_H
#define SMTPSINK_MATCH_H
#include <stddef.h>
#include <stdint.h>

struct message;

struct filter {
	char		*mail_from;
	char		*rcpt_to;
	char		*subject;
	char		*header_name;
	char		*header_value;
	char		*body;
	uint64_t	 after_id;
};

#define MATCH_PATTERN_MAX	1024	/* bytes of one glob */
#define MATCH_WORDS_MAX		((MATCH_PATTERN_MAX + 63) / 64)	/* 64-bit state words */

struct match_glob;		/* a compiled glob (opaque) */

/*
 * 1 if s matches the whole pattern (ASCII case-insensitive), else 0. A
 * pattern longer than MATCH_PATTERN_MAX matches nothing (callers reject it
 * first with match_glob_check()).
 */
int	match_glob(const char *pattern, const char *s);
/*
 * 0 if the pattern is well formed and at most MATCH_PATTERN_MAX bytes; -1
 * with a reason in err (e.g. "unclosed '['", "pattern longer than 1024 bytes").
 */
int	match_glob_check(const char *pattern, char *err, size_t errlen);
/*
 * Compiles a pattern that match_glob_check() accepts. Returns the compiled
 * glob, owned by the caller, or NULL with match_glob_check()'s reason in err.
 */
struct match_glob *match_glob_compile(const char *pattern, char *err, size_t errlen);
/* 1 if s matches the compiled glob, else 0; what match_glob() would say */
int	match_glob_exec(const struct match_glob *, const char *s);
/* Bytes the compiled glob holds (at most about 30 KiB), for callers' budgets */
size_t	match_glob_size(const struct match_glob *);
void	match_glob_free(struct match_glob *);
/*
 * Test hook: units of matching work this thread has done so far (a pattern
 * byte examined by the scan, a 64-bit state word updated by the automaton,
 * a table word written by the compiler). Tests bound it; nothing else reads it.
 */
uint64_t match_glob_steps(void);
/* Checks every given field; -1 with "field: reason" in err. */
int	match_filter_check(const struct filter *, char *err, size_t errlen);
/* 1 if the message satisfies the filter (may parse and cache its MIME view) */
int	match_message(const struct filter *, struct message *);
/* 1 if no field is given and after_id is 0 */
int	match_filter_is_empty(const struct filter *);

/* Deep copy / free of a filter's strings (filter_free does not free f itself) */
void	match_filter_copy(struct filter *dst, const struct filter *src);
void	match_filter_free(struct filter *);

#endif
