/*
 * rules - reject / fault-injection rules, evaluated by the SMTP session.
 *
 * Ordered by creation; the first matching, still active rule of a stage wins.
 * The match subject per stage: CONNECT the peer IP, HELO the HELO/EHLO name,
 * MAIL_FROM the sender, RCPT_TO that recipient, DATA any recipient, AUTH
 * the user name of an AUTH exchange (evaluated once the credentials are in).
 * A rule with times > 0 stops firing after `times` hits but stays listed.
 * rules_eval() copies the action out, so no pointer into the rule list
 * survives the call (rules can be deleted at any time by the control API).
 * Knows nothing about sockets.
 *
 * Work per command: rules_add() compiles the glob once; rules_eval() looks
 * only at the stage's rules and runs each compiled glob once per subject,
 * in time linear in the subject. So one evaluation costs at most
 * RULES_MAX x (total subject bytes) x MATCH_WORDS_MAX (16) 64-bit word
 * updates plus a constant per rule, whatever the globs: for one 256-byte
 * RCPT_TO address under 10,000 rules, 41 M word updates. DATA has one subject
 * per recipient, so its bound grows with the recipient count.
 */
#ifndef SMTPSINK_RULES_H
#define SMTPSINK_RULES_H
#include <stddef.h>
#include <stdint.h>

enum rules_stage {
	RULES_STAGE_NONE = 0,
	RULES_STAGE_CONNECT,
	RULES_STAGE_HELO,
	RULES_STAGE_MAIL_FROM,
	RULES_STAGE_RCPT_TO,
	RULES_STAGE_DATA,
	RULES_STAGE_AUTH, /* credentials received: replies instead of 235 */
	RULES_STAGE_LAST = RULES_STAGE_AUTH,
};

#define RULES_ID_MAX	     24
#define RULES_TEXT_MAX	     512
#define RULES_MAX	     10000	 /* rules at once */
#define RULES_MATCH_MAX	     1024	 /* bytes of a match glob (MATCH_PATTERN_MAX) */
#define RULES_GLOB_BYTES_MAX (64u << 20) /* all rules' compiled globs */
#define RULES_MESSAGE_MAX    400	 /* bytes of reply text */
#define RULES_DELAY_MAX	     600000	 /* ms */

struct rule {
	char		 id[RULES_ID_MAX];
	enum rules_stage stage;
	char		*match;	       /* NULL or "" = always */
	unsigned	 code;	       /* 4xx/5xx, or 0 = normal reply (delay only) */
	char		 enhanced[16]; /* "5.7.1"; "" = derived from code */
	char		*message;
	unsigned	 times; /* 0 = unlimited */
	unsigned	 delay_ms;
	int		 disconnect;
	uint64_t	 hits;
	struct rule	*next;
};

struct rules_action {
	char	 rule_id[RULES_ID_MAX];
	unsigned code;			/* 0 = proceed normally (after delay) */
	char	 reply[RULES_TEXT_MAX]; /* full reply line without CRLF, "550 5.7.1 text" */
	unsigned delay_ms;
	int	 disconnect;
};

struct rules	  *rules_new(void);
void		   rules_free(struct rules *);
/*
 * Validates tmpl (stage, glob, code 400-599 or 0 with delay/disconnect,
 * enhanced code class matching code, message without control bytes, the
 * *_MAX bounds, RULES_GLOB_BYTES_MAX), compiles its glob and appends a copy
 * with a new id ("1", "2", ...; tmpl->id and tmpl->hits are ignored).
 * enhanced "" takes the stage's default (table in rules.c), message ""
 * becomes "rejected by rule <id>".
 * Returns the stored rule (borrowed) or NULL with the reason in err.
 */
const struct rule *rules_add(struct rules *, const struct rule *tmpl, char *err, size_t errlen);
/* Did the last failed rules_add() fail for lack of room (RULES_MAX, RULES_GLOB_BYTES_MAX)? */
int		   rules_add_full(const struct rules *);
/* id NULL or "": deletes all. Returns how many were deleted. */
size_t		   rules_delete(struct rules *, const char *id);
const struct rule *rules_first(const struct rules *); /* iterate with ->next */
size_t		   rules_count(const struct rules *);
/*
 * First active rule of `stage` whose match globs one of subjects[0..n)
 * (an empty match fires even with n == 0).
 * On a hit: counts it, fills *out (reply "550 5.7.1 text", always with the
 * enhanced code; "" when code is 0) and returns 1; else returns 0.
 */
int	    rules_eval(struct rules *, enum rules_stage, const char *const *subjects, size_t n,
	    struct rules_action *out);
const char *rules_stage_str(enum rules_stage);

#endif
