/*
 * rules - reject / fault-injection rules (Postfix smtp-sink's -f/-r/-q/-W,
 * made dynamic and per address). Owned by the loop thread: the control API
 * adds and deletes, the SMTP session evaluates.
 *
 * The list is kept in creation order; ids are "1", "2", ... and never reused.
 * Each rule also sits on its stage's list (same order), which rules_eval()
 * walks, so a command never looks at another stage's rules. Validation and
 * glob compilation happen once, in rules_add(), so rules_eval() only runs
 * compiled globs (match_glob_exec(): linear in the subject) and counts.
 * Compiled globs are at most about 30 KiB each; RULES_GLOB_BYTES_MAX bounds
 * their sum. Every string a rule carries is bounded and free of CR, LF and
 * other control bytes, because it ends up in an SMTP reply line.
 *
 * Default enhanced status codes (RFC 3463), used when enhanced is "":
 *	CONNECT		4.3.2 / 5.3.2	system not accepting network messages
 *	HELO		4.7.1 / 5.7.1	delivery not authorized
 *	MAIL_FROM	4.7.1 / 5.7.1
 *	RCPT_TO		4.2.1 / 5.1.1	mailbox unavailable / bad mailbox
 *	DATA		4.7.1 / 5.7.1
 *	AUTH		4.7.0 / 5.7.8	temporary failure / bad credentials
 * Default message: "rejected by rule <id>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "rules.h"
#include "xmalloc.h"

_Static_assert(RULES_MATCH_MAX <= MATCH_PATTERN_MAX, "a rule's glob must compile");

/* A rule and what rules.c keeps beside it; rules_first() hands out &node->rule. */
struct rules_node {
	struct rule	   rule; /* first: a struct rule * is a node */
	struct match_glob *glob; /* NULL: the rule always matches */
	struct rules_node *stage_next;
};

struct rules {
	struct rule	   *head, **tailp;
	struct rules_node  *stage_head[RULES_STAGE_LAST + 1];
	struct rules_node **stage_tailp[RULES_STAGE_LAST + 1];
	size_t		    count;
	size_t		    glob_bytes; /* sum of match_glob_size() */
	uint64_t	    next_id;
	int		    full; /* the last rules_add() failed for room, not input */
};

/* Rebuilds the per-stage lists from the creation-order list. */
static void
rules_index(struct rules *rs)
{
	struct rule	  *r;
	struct rules_node *nd;
	int		   st;

	for (st = 0; st <= RULES_STAGE_LAST; st++) {
		rs->stage_head[st] = NULL;
		rs->stage_tailp[st] = &rs->stage_head[st];
	}
	for (r = rs->head; r != NULL; r = r->next) {
		nd = (struct rules_node *)r;
		nd->stage_next = NULL;
		*rs->stage_tailp[r->stage] = nd;
		rs->stage_tailp[r->stage] = &nd->stage_next;
	}
}

struct rules *
rules_new(void)
{
	struct rules *rs = xcalloc(1, sizeof(*rs));

	rs->tailp = &rs->head;
	rs->next_id = 1;
	rules_index(rs);
	return rs;
}

static void
rules_rule_free(struct rules *rs, struct rule *r)
{
	struct rules_node *nd = (struct rules_node *)r;

	if (nd->glob != NULL) {
		rs->glob_bytes -= match_glob_size(nd->glob);
		match_glob_free(nd->glob);
	}
	free(r->match);
	free(r->message);
	free(nd);
}

void
rules_free(struct rules *rs)
{
	if (rs == NULL)
		return;
	rules_delete(rs, NULL);
	free(rs);
}

const char *
rules_stage_str(enum rules_stage st)
{
	switch (st) {
	case RULES_STAGE_CONNECT:
		return "CONNECT";
	case RULES_STAGE_HELO:
		return "HELO";
	case RULES_STAGE_MAIL_FROM:
		return "MAIL_FROM";
	case RULES_STAGE_RCPT_TO:
		return "RCPT_TO";
	case RULES_STAGE_DATA:
		return "DATA";
	case RULES_STAGE_AUTH:
		return "AUTH";
	default:
		return "NONE";
	}
}

/* The default enhanced code for a stage and a reply class ('4' or '5'). */
static const char *
rules_default_enhanced(enum rules_stage st, unsigned code)
{
	int perm = code >= 500;

	switch (st) {
	case RULES_STAGE_CONNECT:
		return perm ? "5.3.2" : "4.3.2";
	case RULES_STAGE_RCPT_TO:
		return perm ? "5.1.1" : "4.2.1";
	case RULES_STAGE_AUTH:
		return perm ? "5.7.8" : "4.7.0";
	default:
		return perm ? "5.7.1" : "4.7.1";
	}
}

/* "C.S.D": class one digit, subject and detail 1-3 digits each (RFC 3463). */
static int
rules_enhanced_ok(const char *e)
{
	const char *p = e;
	size_t	    n;
	int	    part;

	if (!(p[0] == '2' || p[0] == '4' || p[0] == '5') || p[1] != '.')
		return 0;
	p += 2;
	for (part = 0; part < 2; part++) {
		n = strspn(p, "0123456789");
		if (n < 1 || n > 3)
			return 0;
		p += n;
		if (part == 0 && *p++ != '.')
			return 0;
	}
	return *p == '\0';
}

/* Text for an SMTP reply line: no control bytes (CR/LF would inject lines). */
static int
rules_text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

const struct rule *
rules_add(struct rules *rs, const struct rule *t, char *err, size_t errlen)
{
	struct rules_node *nd;
	struct rule	  *r;
	struct match_glob *glob = NULL;
	char		   gerr[128];
	const char	  *match = t->match != NULL ? t->match : "";
	const char	  *msg = t->message != NULL ? t->message : "";

	rs->full = 0;

	if (t->stage < RULES_STAGE_CONNECT || t->stage > RULES_STAGE_LAST) {
		snprintf(err, errlen,
		    "stage must be one of CONNECT, HELO, MAIL_FROM, RCPT_TO, DATA, AUTH");
		return NULL;
	}
	if (rs->count >= RULES_MAX) {
		rs->full = 1;
		snprintf(err, errlen, "too many rules (max %d)", RULES_MAX);
		return NULL;
	}
	if (strlen(match) > RULES_MATCH_MAX) {
		snprintf(err, errlen, "match: longer than %d bytes", RULES_MATCH_MAX);
		return NULL;
	}
	if (*match != '\0' && match_glob_check(match, gerr, sizeof(gerr)) == -1) {
		snprintf(err, errlen, "match: bad glob \"%.100s\": %s", match, gerr);
		return NULL;
	}
	if (t->code != 0 && (t->code < 400 || t->code > 599)) {
		snprintf(err, errlen,
		    "code %u: must be 4xx or 5xx (or 0 with delay_ms or disconnect)", t->code);
		return NULL;
	}
	if (t->code == 0 && t->delay_ms == 0 && !t->disconnect) {
		snprintf(err, errlen,
		    "code 0 needs delay_ms > 0 or disconnect (else the rule does nothing)");
		return NULL;
	}
	if (t->enhanced[0] != '\0') {
		if (t->code == 0) {
			snprintf(err, errlen, "enhanced_code given without a code");
			return NULL;
		}
		if (memchr(t->enhanced, '\0', sizeof(t->enhanced)) == NULL ||
		    !rules_enhanced_ok(t->enhanced)) {
			snprintf(err, errlen, "enhanced_code \"%.15s\": must look like 5.7.1",
			    t->enhanced);
			return NULL;
		}
		if (t->enhanced[0] != '0' + (char)(t->code / 100)) {
			snprintf(err, errlen, "enhanced_code %s: class must match code %u",
			    t->enhanced, t->code);
			return NULL;
		}
	}
	if (strlen(msg) > RULES_MESSAGE_MAX || !rules_text_ok(msg)) {
		snprintf(err, errlen,
		    "message: at most %d bytes and no control characters (CR, LF, ...)",
		    RULES_MESSAGE_MAX);
		return NULL;
	}
	if (t->delay_ms > RULES_DELAY_MAX) {
		snprintf(err, errlen, "delay_ms %u: at most %d", t->delay_ms, RULES_DELAY_MAX);
		return NULL;
	}
	/* Last, as it allocates; the glob passed the check above, so it compiles */
	if (*match != '\0') {
		glob = match_glob_compile(match, gerr, sizeof(gerr));
		if (rs->glob_bytes + match_glob_size(glob) > RULES_GLOB_BYTES_MAX) {
			match_glob_free(glob);
			rs->full = 1;
			snprintf(err, errlen,
			    "match: the rules' compiled globs would take more "
			    "than %u MiB (delete rules first)",
			    RULES_GLOB_BYTES_MAX >> 20);
			return NULL;
		}
	}

	nd = xcalloc(1, sizeof(*nd));
	nd->glob = glob;
	if (glob != NULL)
		rs->glob_bytes += match_glob_size(glob);
	r = &nd->rule;
	snprintf(r->id, sizeof(r->id), "%llu", (unsigned long long)rs->next_id++);
	r->stage = t->stage;
	r->match = xstrdup(match);
	r->code = t->code;
	if (t->code != 0)
		snprintf(r->enhanced, sizeof(r->enhanced), "%s",
		    t->enhanced[0] != '\0' ? t->enhanced :
					     rules_default_enhanced(t->stage, t->code));
	if (*msg != '\0')
		r->message = xstrdup(msg);
	else if (t->code != 0)
		xasprintf(&r->message, "rejected by rule %s", r->id);
	else
		r->message = xstrdup("");
	r->times = t->times;
	r->delay_ms = t->delay_ms;
	r->disconnect = t->disconnect != 0;
	r->hits = 0;
	r->next = NULL;
	*rs->tailp = r;
	rs->tailp = &r->next;
	*rs->stage_tailp[r->stage] = nd;
	rs->stage_tailp[r->stage] = &nd->stage_next;
	rs->count++;
	return r;
}

size_t
rules_delete(struct rules *rs, const char *id)
{
	struct rule **rp, *r;
	size_t	      n = 0;

	for (rp = &rs->head; (r = *rp) != NULL;) {
		if (id == NULL || *id == '\0' || strcmp(r->id, id) == 0) {
			*rp = r->next;
			rules_rule_free(rs, r);
			n++;
		} else
			rp = &r->next;
	}
	/* Re-find the tail */
	for (rp = &rs->head; *rp != NULL; rp = &(*rp)->next)
		;
	rs->tailp = rp;
	rs->count -= n;
	if (n > 0)
		rules_index(rs);
	return n;
}

const struct rule *
rules_first(const struct rules *rs)
{
	return rs->head;
}

int
rules_add_full(const struct rules *rs)
{
	return rs->full;
}

size_t
rules_count(const struct rules *rs)
{
	return rs->count;
}

static int
rules_matches(const struct rules_node *nd, const char *const *subjects, size_t n)
{
	size_t i;

	if (nd->glob == NULL)
		return 1;
	for (i = 0; i < n; i++)
		if (subjects[i] != NULL && match_glob_exec(nd->glob, subjects[i]))
			return 1;
	return 0;
}

int
rules_eval(struct rules *rs, enum rules_stage st, const char *const *subjects, size_t n,
    struct rules_action *out)
{
	struct rules_node *nd;
	struct rule	  *r;

	if (st < RULES_STAGE_CONNECT || st > RULES_STAGE_LAST)
		return 0;
	for (nd = rs->stage_head[st]; nd != NULL; nd = nd->stage_next) {
		r = &nd->rule;
		if (r->times != 0 && r->hits >= r->times)
			continue;
		if (!rules_matches(nd, subjects, n))
			continue;
		r->hits++;
		memset(out, 0, sizeof(*out));
		snprintf(out->rule_id, sizeof(out->rule_id), "%s", r->id);
		out->code = r->code;
		if (r->code != 0)
			snprintf(out->reply, sizeof(out->reply), "%u %s %s", r->code, r->enhanced,
			    r->message);
		out->delay_ms = r->delay_ms;
		out->disconnect = r->disconnect;
		return 1;
	}
	return 0;
}
