/*
 * match - filters shared by store queries, waits, clears and reject rules.
 *
 * A filter field that is NULL (or "") is not given. Given fields are
 * case-insensitive globs matched against the whole value: '*', '?', '[set]',
 * '[!set]' / '[^set]' with ranges, '\' escapes the next byte. All given fields
 * must match; rcpt_to matches if any envelope recipient matches;
 * header_name and header_value must match the same header.
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

/* 1 if s matches the whole pattern (ASCII case-insensitive), else 0 */
int	match_glob(const char *pattern, const char *s);
/* 0 if the pattern is well formed; -1 with a reason in err (e.g. "unclosed '['") */
int	match_glob_check(const char *pattern, char *err, size_t errlen);
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
