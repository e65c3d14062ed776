/*
 * match - filters shared by store queries, waits, clears and reject rules.
 *
 * A filter field that is NULL (or "") is not given. Given fields are
 * case-insensitive globs matched against the whole value: '*', '?', '[set]',
 * '[!set]' / '[^set]' with ranges, '\' escapes the next byte. All given fields
 * must match; rcpt_to matches if any envelope recipient matches;
 * header_name and header_value must match the same header (the top-level
 * fields, also those past the MIME_VIEW_MAX_HEADERS that a view lists);
 * body matches the decoded text or HTML body; auth_user the user a session
 * authenticated as (a message without AUTH has ""); relay_state, when not
 * 0, the message's forwarding state (message.h).
 *
 * Cost: matching is linear in the text for any pattern (match.c says how),
 * with a pattern of at most MATCH_PATTERN_MAX bytes, which match_glob_check()
 * enforces. A glob used many times (a reject rule) is compiled once with
 * match_glob_compile(); the compiled form is immutable, so it may be shared
 * by threads, and is owned by the caller (match_glob_free()).
 *
 * A filter used on many messages (a listing, a wait, a clear) is compiled
 * once into a match_query (every given glob compiled). match_query_run()
 * evaluates it against one message in slices: it spends a budget of work
 * units (those of match_glob_steps(), plus the bytes of what it decodes) and
 * returns -1 when the budget ran out first; its match_run remembers where
 * (field, recipient, header, offset in the text), so the next call goes on
 * from there. That is what lets the loop thread interleave SMTP with a
 * listing over any number of messages of any size (store_scan, waiters).
 */
#ifndef SMTPSINK_MATCH_H
#define SMTPSINK_MATCH_H
#include <stddef.h>
#include <stdint.h>

struct message;

struct filter {
	char	*mail_from;
	char	*rcpt_to;
	char	*subject;
	char	*header_name;
	char	*header_value;
	char	*body;
	uint64_t after_id;
	char	*auth_user;   /* the user of the session's successful AUTH */
	int	 relay_state; /* enum message_relay_state; 0 (NONE) = any */
};

#define MATCH_PATTERN_MAX 1024				  /* bytes of one glob */
#define MATCH_WORDS_MAX	  ((MATCH_PATTERN_MAX + 63) / 64) /* 64-bit state words */

struct match_glob;  /* a compiled glob (opaque) */
struct match_query; /* a compiled filter (opaque) */
struct mime_body;

/* A compiled glob part-way through one text (match_run's; zeroed = idle) */
struct match_exec {
	int	 active;
	int	 start;	 /* state 0 is still live */
	size_t	 pos;	 /* text bytes consumed */
	size_t	 lo, hi; /* live state words */
	uint64_t d[MATCH_WORDS_MAX];
};

/*
 * Where one evaluation of a query against one message stands. Owned by the
 * caller (a store_scan); match_run_clear() frees what it holds and makes it
 * ready for the next message. Zeroed = at the start.
 */
struct match_run {
	int		  stage;	/* MATCH_ST_* (match.c) */
	int		  part;		/* header: 0 name, 1 value */
	size_t		  i;		/* recipient, listed header, or raw offset
					   of an unlisted header field */
	size_t		  next;		/* raw offset after that field */
	char		 *name, *value; /* that field, decoded (owned) */
	struct match_exec exec;
};

/*
 * Where a query gets the decoded bodies of a message with a body field:
 * get() returns them (borrowed until the next get() or store change) and
 * adds the work it did to *budget's debit. NULL: parsed for the call.
 */
struct match_bodies {
	const struct mime_body *(*get)(void *arg, struct message *m, int64_t *budget);
	void *arg;
};

/*
 * 1 if s matches the whole pattern (ASCII case-insensitive), else 0. A
 * pattern longer than MATCH_PATTERN_MAX matches nothing (callers reject it
 * first with match_glob_check()).
 */
int		   match_glob(const char *pattern, const char *s);
/*
 * 0 if the pattern is well formed and at most MATCH_PATTERN_MAX bytes; -1
 * with a reason in err (e.g. "unclosed '['", "pattern longer than 1024 bytes").
 */
int		   match_glob_check(const char *pattern, char *err, size_t errlen);
/*
 * Compiles a pattern that match_glob_check() accepts. Returns the compiled
 * glob, owned by the caller, or NULL with match_glob_check()'s reason in err.
 */
struct match_glob *match_glob_compile(const char *pattern, char *err, size_t errlen);
/* 1 if s matches the compiled glob, else 0; what match_glob() would say */
int		   match_glob_exec(const struct match_glob *, const char *s);
/* Bytes the compiled glob holds (at most about 30 KiB), for callers' budgets */
size_t		   match_glob_size(const struct match_glob *);
void		   match_glob_free(struct match_glob *);
/*
 * Test hook: units of matching work this thread has done so far (a pattern
 * byte examined by the scan, a 64-bit state word updated by the automaton,
 * a table word written by the compiler). Tests bound it; nothing else reads it.
 */
uint64_t	   match_glob_steps(void);
/* Checks every given field; -1 with "field: reason" in err. */
int		   match_filter_check(const struct filter *, char *err, size_t errlen);
/*
 * 1 if the message satisfies the filter (may parse and cache its MIME view);
 * compiles f for the call: a filter used on many messages is a match_query.
 */
int		   match_message(const struct filter *, struct message *);
/* 1 if no field is given and after_id is 0 */
int		   match_filter_is_empty(const struct filter *);

/* Deep copy / free of a filter's strings (filter_free does not free f itself) */
void match_filter_copy(struct filter *dst, const struct filter *src);
void match_filter_free(struct filter *);

/*
 * Compiles f (NULL: an empty filter, matching everything) once: every given
 * glob, whatever its form (a pattern match_glob_check() refuses reads as
 * match_glob() reads it; one longer than MATCH_PATTERN_MAX matches nothing).
 * Never fails; check user input with match_filter_check() first. Owned by
 * the caller (match_query_free()); immutable, so it may be shared.
 */
struct match_query *match_query_new(const struct filter *f);
void		    match_query_free(struct match_query *);
/* 1 if no field is given and after_id is 0 */
int		    match_query_is_empty(const struct match_query *);
uint64_t	    match_query_after_id(const struct match_query *);
/* Bytes the compiled query holds (at most 7 compiled globs of ~30 KiB) */
size_t		    match_query_size(const struct match_query *);
/*
 * Evaluates q against m from where r stands: 1 (matches) or 0 (does not),
 * with r cleared; or -1 when *budget (work units, decremented) ran out
 * first: call again with the same m and r to go on. Each call makes some
 * progress even with no budget left (at least MATCH_RUN_MIN units), and
 * *budget may go below 0 by one indivisible step (parsing m's MIME view or
 * decoding its bodies, bounded by the message's size). bodies may be NULL.
 */
int  match_query_run(const struct match_query *q, struct match_run *r, struct message *m,
     const struct match_bodies *bodies, int64_t *budget);
/* match_query_run() without a budget: 1 if m matches q */
int  match_query_message(const struct match_query *q, struct message *m,
     const struct match_bodies *bodies);
/* Frees what r holds (a decoded header field) and rewinds it */
void match_run_clear(struct match_run *);

#define MATCH_RUN_MIN 4096 /* units a match_query_run() call always may spend */

#endif
