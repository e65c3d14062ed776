/*
 * smtp_cmd - the SMTP command table and the commands (RFC 5321 with
 * PIPELINING, SIZE, 8BITMIME, BINARYMIME, CHUNKING, SMTPUTF8, DSN,
 * ENHANCEDSTATUSCODES): each row is {verb, allowed states, extension,
 * rules stage, 503 text, check, proceed}. check validates state and syntax
 * and, when it fails, has replied itself; the stage's reject rules run
 * between check and proceed; proceed does the work and replies. New
 * commands are rows here, not branches in the session.
 *
 * EXPN is answered "502 5.5.1" (a sink has no lists to expand); VRFY "252".
 * STARTTLS (RFC 3207) exists only with --starttls and outside TLS; with
 * --require-tls everything but EHLO HELO STARTTLS NOOP RSET QUIT gets
 * "530 5.7.0" before it. The switch to TLS is smtp_session_starttls().
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "log.h"
#include "relay.h"
#include "relay_proxy.h"
#include "smtp_auth.h"
#include "smtp_session_internal.h"
#include "stats.h"
#include "xmalloc.h"

struct smtp_cmd {
	const char	*verb;
	unsigned	 states; /* bit per enum smtp_state where allowed */
	unsigned	 ext;	 /* EXT_* bit the command needs, 0 = none */
	enum rules_stage stage;
	const char	*badseq; /* text of the 503 when the state is wrong */
	int (*check)(struct smtp_session *, struct smtp_cmd_ctx *);
	void (*proceed)(struct smtp_session *, struct smtp_cmd_ctx *);
};

#define ST(x)  (1u << SMTP_STATE_##x)
#define ST_CMD (ST(INIT) | ST(HELO) | ST(MAIL) | ST(RCPT))

static int  smtp_check_helo(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_helo(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_ehlo(struct smtp_session *, struct smtp_cmd_ctx *);
static int  smtp_check_mail(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_mail(struct smtp_session *, struct smtp_cmd_ctx *);
static int  smtp_check_rcpt(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_rcpt(struct smtp_session *, struct smtp_cmd_ctx *);
static int  smtp_check_data(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_data(struct smtp_session *, struct smtp_cmd_ctx *);
static int  smtp_check_bdat(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_bdat(struct smtp_session *, struct smtp_cmd_ctx *);
static int  smtp_check_noargs(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_rset(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_noop(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_quit(struct smtp_session *, struct smtp_cmd_ctx *);
static int  smtp_check_vrfy(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_vrfy(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_expn(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_help(struct smtp_session *, struct smtp_cmd_ctx *);
static int  smtp_check_starttls(struct smtp_session *, struct smtp_cmd_ctx *);
static void smtp_proceed_starttls(struct smtp_session *, struct smtp_cmd_ctx *);

static const struct smtp_cmd smtp_cmds[] = {
	{ "EHLO", ST_CMD, 0, RULES_STAGE_HELO, "", smtp_check_helo, smtp_proceed_ehlo },
	{ "HELO", ST_CMD, 0, RULES_STAGE_HELO, "", smtp_check_helo, smtp_proceed_helo },
	{ "MAIL", ST_CMD, 0, RULES_STAGE_MAIL_FROM, "", smtp_check_mail, smtp_proceed_mail },
	{ "RCPT", ST(MAIL) | ST(RCPT), 0, RULES_STAGE_RCPT_TO, "Error: need MAIL command",
	    smtp_check_rcpt, smtp_proceed_rcpt },
	{ "DATA", ST_CMD, 0, RULES_STAGE_NONE, "", smtp_check_data, smtp_proceed_data },
	{ "BDAT", ST_CMD | ST(REJECTED), EXT_CHUNKING, RULES_STAGE_NONE, "", smtp_check_bdat,
	    smtp_proceed_bdat },
	{ "RSET", ST_CMD, 0, RULES_STAGE_NONE, "", smtp_check_noargs, smtp_proceed_rset },
	{ "NOOP", ST_CMD, 0, RULES_STAGE_NONE, "", NULL, smtp_proceed_noop },
	{ "QUIT", ST_CMD | ST(REJECTED), 0, RULES_STAGE_NONE, "", smtp_check_noargs,
	    smtp_proceed_quit },
	{ "VRFY", ST_CMD, 0, RULES_STAGE_NONE, "", smtp_check_vrfy, smtp_proceed_vrfy },
	{ "EXPN", ST_CMD, 0, RULES_STAGE_NONE, "", NULL, smtp_proceed_expn },
	{ "HELP", ST_CMD, 0, RULES_STAGE_NONE, "", NULL, smtp_proceed_help },
	{ "AUTH", ST_CMD, 0, RULES_STAGE_NONE, "", smtp_auth_cmd_check, smtp_auth_cmd_proceed },
	{ "STARTTLS", ST_CMD, 0, RULES_STAGE_NONE, "", smtp_check_starttls, smtp_proceed_starttls },
};
#define SMTP_NCMDS (sizeof(smtp_cmds) / sizeof(smtp_cmds[0]))

static int
smtp_check_noargs(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	if (*c->args != '\0') {
		smtp_session_error(s, 501, "5.5.4", "Syntax error: no arguments allowed");
		return 0;
	}
	return 1;
}

static int
smtp_check_helo(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	if (*c->args == '\0') {
		smtp_session_error(s, 501, "5.5.4", "Syntax: EHLO hostname");
		return 0;
	}
	c->subject = c->args;
	return 1;
}

static void
smtp_session_set_helo(struct smtp_session *s, const char *name, int ehlo)
{
	smtp_tx_free(s->tx);
	s->tx = NULL;
	free(s->helo);
	s->helo = xstrdup(name);
	if (ehlo)
		s->flags |= SF_EHLO;
	else
		s->flags &= ~SF_EHLO;
	smtp_session_set_state(s, SMTP_STATE_HELO);
}

static void
smtp_proceed_helo(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	smtp_session_set_helo(s, c->args, 0);
	smtp_session_reply(s, 250, NULL, s->owner->cfg->hostname);
}

/*
 * Appends the EHLO keywords of the enabled extensions to dst, each as
 * prefix + keyword + suffix (no snprintf: EHLO runs once per session).
 * Returns the length.
 */
static size_t
smtp_session_ext_format(const struct config *cfg, char *dst, size_t dstsz, const char *prefix,
    const char *suffix, int last_space)
{
	unsigned    bit;
	size_t	    o = 0, pl = strlen(prefix), sl = strlen(suffix), kl;
	const char *kw;
	char	    num[32], *np;
	size_t	    v;

	for (bit = 1; bit <= EXT_ALL; bit <<= 1) {
		if (!(cfg->extensions & bit) || (kw = config_ext_name(bit)) == NULL)
			continue;
		kl = strlen(kw);
		np = num + sizeof(num);
		if (bit == EXT_SIZE) {
			v = cfg->message_size_max;
			do {
				*--np = '0' + v % 10;
				v /= 10;
			} while (v > 0);
			*--np = ' ';
		}
		if (o + pl + kl + (num + sizeof(num) - np) + sl + 1 > dstsz)
			break;
		memcpy(dst + o, prefix, pl);
		o += pl;
		memcpy(dst + o, kw, kl);
		o += kl;
		memcpy(dst + o, np, num + sizeof(num) - np);
		o += num + sizeof(num) - np;
		memcpy(dst + o, suffix, sl);
		o += sl;
	}
	if (last_space && o > 0)
		o--; /* no trailing separator */
	dst[o] = '\0';
	return o;
}

static void
smtp_proceed_ehlo(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	const struct config *cfg = s->owner->cfg;
	char		     r[SMTP_REPLY_MAX];
	size_t		     n, hl = strlen(cfg->hostname);

	smtp_session_set_helo(s, c->args, 1);
	if (hl > 200)
		hl = 200;
	memcpy(r, "250-", 4);
	memcpy(r + 4, cfg->hostname, hl);
	memcpy(r + 4 + hl, "\r\n", 2);
	n = 6 + hl;
	n += smtp_session_ext_format(cfg, r + n, sizeof(r) - n, "250-", "\r\n", 0);
	if (smtp_auth_session_offered(s))
		n += snprintf(r + n, sizeof(r) - n, "250-AUTH " SMTP_AUTH_MECHS "\r\n");
	if (cfg->starttls && !(s->flags & SF_TLS) && n + 14 < sizeof(r)) {
		memcpy(r + n, "250-STARTTLS\r\n", 14); /* RFC 3207: not inside TLS */
		n += 14;
	}
	if (n == 6 + hl) {
		r[3] = ' '; /* no extensions: a single line */
	} else {
		/* the last line is "250 KEYWORD" */
		char *last = r + n - 2;
		while (last > r && !(last[-1] == '\n' && last[0] == '2'))
			last--;
		last[3] = ' ';
	}
	smtp_session_write(s, r, n);
}

void
smtp_session_ext_line(const struct config *cfg, char *dst, size_t dstsz)
{
	size_t n;

	if (dstsz == 0)
		return;
	n = smtp_session_ext_format(cfg, dst, dstsz, "", " ", 1);
	if (cfg->starttls)
		snprintf(dst + n, dstsz - n, "%sSTARTTLS", n > 0 ? " " : "");
}

static int
smtp_param_is_digits(const char *v, size_t maxlen)
{
	size_t n = 0;

	if (v == NULL || *v == '\0')
		return 0;
	for (; *v != '\0'; v++, n++)
		if (!isdigit((unsigned char)*v) || n >= maxlen)
			return 0;
	return 1;
}

/* Parses and checks the parameters; replies and returns 0 on error. */
static int
smtp_session_params(struct smtp_session *s, struct smtp_cmd_ctx *c, char *params)
{
	size_t i, j;
	int    rc;

	rc = smtp_proto_parse_params(params, c->params, SMTP_PROTO_PARAMS_MAX, &c->nparams);
	if (rc == -2) {
		smtp_session_error(s, 501, "5.5.4", "Syntax error: too many parameters");
		return 0;
	}
	if (rc == -1) {
		smtp_session_error(s, 501, "5.5.4", "Syntax error in parameters");
		return 0;
	}
	for (i = 0; i < c->nparams; i++)
		for (j = 0; j < i; j++)
			if (strcmp(c->params[i].keyword, c->params[j].keyword) == 0) {
				smtp_session_error(s, 501, "5.5.4",
				    "Syntax error: duplicate parameter");
				return 0;
			}
	return 1;
}

static void
smtp_session_unsupported(struct smtp_session *s, const char *kw)
{
	char text[128], safe[LOG_SANITIZE_MAX];

	snprintf(text, sizeof(text), "Unsupported option: %.40s",
	    log_sanitize(safe, sizeof(safe), kw, strlen(kw)));
	smtp_session_error(s, 555, "5.5.4", text);
}

static int
smtp_check_mail(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	const struct config *cfg = s->owner->cfg;
	char		    *params;
	unsigned	     flags;
	size_t		     i;

	if (s->state == SMTP_STATE_INIT) {
		smtp_session_error(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return 0;
	}
	if (s->state != SMTP_STATE_HELO) {
		smtp_session_error(s, 503, "5.5.1", "Error: nested MAIL command");
		return 0;
	}
	if (cfg->require_auth && !smtp_auth_session_ok(s)) {
		smtp_session_error(s, 530, "5.7.0", "Authentication required");
		return 0;
	}
	if (smtp_proto_parse_mailrcpt(c->args, "FROM:", &c->addr, &params, &flags) == -1) {
		smtp_session_error(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return 0;
	}
	if (!smtp_session_params(s, c, params))
		return 0;
	c->body_type = MSG_BODY_7BIT;
	c->smtputf8 = 0;
	for (i = 0; i < c->nparams; i++) {
		const char *k = c->params[i].keyword, *v = c->params[i].value;

		if (strcmp(k, "SIZE") == 0 && (cfg->extensions & EXT_SIZE)) {
			if (!smtp_param_is_digits(v, 20)) {
				smtp_session_error(s, 501, "5.5.4", "Syntax error in SIZE");
				return 0;
			}
			if (strlen(v) > 19 || strtoull(v, NULL, 10) > cfg->message_size_max) {
				s->owner->stats->limit_breaches++;
				smtp_session_reply(s, 552, "5.3.4",
				    "Message size exceeds fixed maximum message size");
				return 0;
			}
		} else if (strcmp(k, "BODY") == 0 &&
		    (cfg->extensions & (EXT_8BITMIME | EXT_BINARYMIME))) {
			if (v != NULL && strcasecmp(v, "7BIT") == 0)
				c->body_type = MSG_BODY_7BIT;
			else if (v != NULL && strcasecmp(v, "8BITMIME") == 0 &&
			    (cfg->extensions & EXT_8BITMIME))
				c->body_type = MSG_BODY_8BITMIME;
			else if (v != NULL && strcasecmp(v, "BINARYMIME") == 0 &&
			    (cfg->extensions & EXT_BINARYMIME))
				c->body_type = MSG_BODY_BINARYMIME;
			else if (v != NULL &&
			    (strcasecmp(v, "8BITMIME") == 0 || strcasecmp(v, "BINARYMIME") == 0)) {
				smtp_session_unsupported(s, "BODY");
				return 0;
			} else {
				smtp_session_error(s, 501, "5.5.4", "Syntax error in BODY");
				return 0;
			}
		} else if (strcmp(k, "SMTPUTF8") == 0 && (cfg->extensions & EXT_SMTPUTF8)) {
			if (v != NULL) {
				smtp_session_error(s, 501, "5.5.4", "Syntax error in SMTPUTF8");
				return 0;
			}
			c->smtputf8 = 1;
		} else if (strcmp(k, "RET") == 0 && (cfg->extensions & EXT_DSN)) {
			if (v == NULL ||
			    (strcasecmp(v, "FULL") != 0 && strcasecmp(v, "HDRS") != 0)) {
				smtp_session_error(s, 501, "5.5.4", "Syntax error in RET");
				return 0;
			}
		} else if (strcmp(k, "ENVID") == 0 && (cfg->extensions & EXT_DSN)) {
			if (v == NULL || strlen(v) > 100) {
				smtp_session_error(s, 501, "5.5.4", "Syntax error in ENVID");
				return 0;
			}
		} else if (strcmp(k, "AUTH") == 0 && smtp_auth_session_offered(s)) {
			/* RFC 4954 §5: recorded with the other parameters */
			if (v == NULL || !smtp_proto_is_xtext(v)) {
				smtp_session_error(s, 501, "5.5.4", "Syntax error in AUTH");
				return 0;
			}
		} else {
			smtp_session_unsupported(s, k);
			return 0;
		}
	}
	if ((flags & SMTP_PROTO_PATH_8BIT) && !c->smtputf8) {
		smtp_session_reply(s, 553, "5.6.7",
		    "Must declare SMTPUTF8 to send non-ASCII addresses");
		return 0;
	}
	if (deliver_is_full(s->owner->deliver)) {
		smtp_session_reply(s, 452, "4.3.1", "Insufficient system storage");
		return 0;
	}
	c->subject = c->addr;
	return 1;
}

static void
smtp_proceed_mail(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	struct smtp_tx *tx;

	tx = xcalloc(1, sizeof(*tx));
	tx->mail_from = xstrdup(c->addr);
	tx->mail_params = smtp_params_copy(c->params, c->nparams);
	tx->nmail_params = c->nparams;
	tx->body_type = c->body_type;
	tx->smtputf8 = c->smtputf8;
	buf_init(&tx->body, s->owner->cfg->message_size_max);
	s->tx = tx;
	smtp_session_set_state(s, SMTP_STATE_MAIL);
	smtp_session_proxy_end(s);
	if (relay_proxying(s->owner->relay)) {
		/* Proxy mode: the upstream's reply is the client's */
		s->proxy = relay_proxy_new(s->owner->relay, smtp_cmd_proxy_reply, s);
		s->proxy_step = SMTP_PROXY_MAIL;
		smtp_session_proxy_wait(s);
		relay_proxy_mail(s->proxy, tx->mail_from, tx->mail_params, tx->nmail_params,
		    tx->body_type, tx->smtputf8);
		return;
	}
	smtp_session_reply(s, 250, "2.1.0", "Ok");
}

/* Adds a recipient to the transaction; takes addr and params */
static void
smtp_tx_add_rcpt(struct smtp_session *s, char *addr, struct esmtp_param *params, size_t n)
{
	struct smtp_tx	    *tx = s->tx;
	struct message_rcpt *r;

	if (tx->nrcpts == tx->rcpts_cap) {
		tx->rcpts_cap = tx->rcpts_cap ? tx->rcpts_cap * 2 : 2;
		tx->rcpts = xreallocarray(tx->rcpts, tx->rcpts_cap, sizeof(*tx->rcpts));
	}
	r = &tx->rcpts[tx->nrcpts++];
	r->addr = addr;
	r->params = params;
	r->nparams = n;
	smtp_session_set_state(s, SMTP_STATE_RCPT);
}

void
smtp_cmd_proxy_reply(void *arg, unsigned code, const char *line)
{
	struct smtp_session *s = arg;
	enum smtp_proxy_step step = s->proxy_step;

	s->proxy_step = SMTP_PROXY_NONE;
	if (step == SMTP_PROXY_NONE)
		return;			  /* nothing waits: a late answer */
	smtp_session_reply_line(s, line); /* held until resumed, after what was */
	switch (step) {
	case SMTP_PROXY_MAIL:
		if (code / 100 != 2) {
			smtp_session_tx_end(s);
			smtp_session_proxy_end(s);
		}
		break;
	case SMTP_PROXY_RCPT:
		if (code / 100 == 2 && s->tx != NULL) {
			smtp_tx_add_rcpt(s, s->proxy_rcpt.addr, s->proxy_rcpt.params,
			    s->proxy_rcpt.nparams);
			memset(&s->proxy_rcpt, 0, sizeof(s->proxy_rcpt));
		} else
			s->owner->stats->rcpts_rejected++;
		break;
	case SMTP_PROXY_DATA:
		smtp_session_proxy_end(s);
		break;
	case SMTP_PROXY_NONE:
		break;
	}
	smtp_session_proxy_resume(s);
}

static int
smtp_check_rcpt(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	const struct config *cfg = s->owner->cfg;
	char		    *params;
	unsigned	     flags;
	size_t		     i;

	if (s->tx->bdat) {
		smtp_session_error(s, 503, "5.5.1", "Error: BDAT transfer in progress");
		return 0;
	}
	if (smtp_proto_parse_mailrcpt(c->args, "TO:", &c->addr, &params, &flags) == -1 ||
	    (flags & SMTP_PROTO_PATH_NULL)) {
		smtp_session_error(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return 0;
	}
	if (!smtp_session_params(s, c, params))
		return 0;
	for (i = 0; i < c->nparams; i++) {
		const char *k = c->params[i].keyword, *v = c->params[i].value;

		if (strcmp(k, "NOTIFY") == 0 && (cfg->extensions & EXT_DSN)) {
			char tmp[64], *tok, *save;
			int  never = 0, other = 0, bad = (v == NULL || strlen(v) >= sizeof(tmp));

			if (!bad) {
				snprintf(tmp, sizeof(tmp), "%s", v);
				for (tok = strtok_r(tmp, ",", &save); tok != NULL;
				     tok = strtok_r(NULL, ",", &save)) {
					if (strcasecmp(tok, "NEVER") == 0)
						never++;
					else if (strcasecmp(tok, "SUCCESS") == 0 ||
					    strcasecmp(tok, "FAILURE") == 0 ||
					    strcasecmp(tok, "DELAY") == 0)
						other++;
					else
						bad = 1;
				}
				if ((never && other) || never > 1 || (!never && !other))
					bad = 1;
			}
			if (bad) {
				smtp_session_error(s, 501, "5.5.4", "Syntax error in NOTIFY");
				return 0;
			}
		} else if (strcmp(k, "ORCPT") == 0 && (cfg->extensions & EXT_DSN)) {
			if (v == NULL || strchr(v, ';') == NULL || *v == ';') {
				smtp_session_error(s, 501, "5.5.4", "Syntax error in ORCPT");
				return 0;
			}
		} else {
			smtp_session_unsupported(s, k);
			return 0;
		}
	}
	if ((flags & SMTP_PROTO_PATH_8BIT) && !s->tx->smtputf8) {
		smtp_session_reply(s, 553, "5.6.7",
		    "Must declare SMTPUTF8 to send non-ASCII addresses");
		s->owner->stats->rcpts_rejected++;
		return 0;
	}
	if (s->tx->nrcpts >= cfg->rcpt_max) {
		s->owner->stats->limit_breaches++;
		s->owner->stats->rcpts_rejected++;
		smtp_session_reply(s, 452, "4.5.3", "Error: too many recipients");
		return 0;
	}
	c->subject = c->addr;
	return 1;
}

static void
smtp_proceed_rcpt(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	char		   *addr = xstrdup(c->addr);
	struct esmtp_param *params = smtp_params_copy(c->params, c->nparams);

	if (s->proxy != NULL && relay_rcpt_wanted(s->owner->relay, addr)) {
		/* Forwarded: added once the upstream accepted it */
		free(s->proxy_rcpt.addr);
		message_params_free(s->proxy_rcpt.params, s->proxy_rcpt.nparams);
		s->proxy_rcpt.addr = addr;
		s->proxy_rcpt.params = params;
		s->proxy_rcpt.nparams = c->nparams;
		s->proxy_step = SMTP_PROXY_RCPT;
		smtp_session_proxy_wait(s);
		relay_proxy_rcpt(s->proxy, addr, params, c->nparams);
		return;
	}
	smtp_tx_add_rcpt(s, addr, params, c->nparams);
	smtp_session_reply(s, 250, "2.1.5", "Ok");
}

static int
smtp_check_data(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	if (*c->args != '\0') {
		smtp_session_error(s, 501, "5.5.4", "Syntax: DATA");
		return 0;
	}
	if (s->tx == NULL) {
		smtp_session_error(s, 503, "5.5.1", "Error: need RCPT command");
		return 0;
	}
	if (s->tx->bdat) {
		smtp_session_error(s, 503, "5.5.1", "Error: DATA after BDAT");
		return 0;
	}
	if (s->tx->body_type == MSG_BODY_BINARYMIME) {
		smtp_session_error(s, 503, "5.5.1", "Error: BODY=BINARYMIME requires BDAT");
		return 0;
	}
	if (s->tx->nrcpts == 0) {
		smtp_session_error(s, 554, "5.5.1", "Error: no valid recipients");
		return 0;
	}
	return 1;
}

static unsigned
smtp_tx_scan_flags(const struct smtp_tx *tx)
{
	unsigned f = 0;

	if (tx->smtputf8)
		f |= SMTP_PROTO_DATA_UTF8;
	if (tx->body_type != MSG_BODY_7BIT)
		f |= SMTP_PROTO_DATA_8BIT;
	return f;
}

static void
smtp_proceed_data(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	smtp_proto_data_init(&s->tx->scan, SMTP_PROTO_DATA_DOTS | smtp_tx_scan_flags(s->tx),
	    s->owner->cfg->data_line_max);
	smtp_session_set_state(s, SMTP_STATE_DATA);
	smtp_session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/* "BDAT n [LAST]"; the chunk is skipped when the command is refused */
static int
smtp_check_bdat(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	char	   *p = c->args, *end;
	const char *why = NULL;

	if (!isdigit((unsigned char)*p))
		goto syntax;
	errno = 0;
	c->bdat_size = strtoull(p, &end, 10);
	if (errno != 0 || end - p > 20)
		goto syntax;
	p = end;
	c->bdat_last = 0;
	if (*p == ' ') {
		while (*p == ' ')
			p++;
		if (strcasecmp(p, "LAST") != 0)
			goto syntax;
		c->bdat_last = 1;
	} else if (*p != '\0')
		goto syntax;

	if (s->state == SMTP_STATE_REJECTED)
		why = "Error: session rejected";
	else if (s->tx == NULL)
		why = "Error: need MAIL command";
	else if (s->tx->nrcpts == 0)
		why = "Error: need RCPT command";
	if (why != NULL) {
		/* Skip the chunk so the stream stays in sync */
		s->bdat_left = c->bdat_size;
		s->bdat_ret = s->state;
		s->flags |= SF_BDAT_SKIP;
		s->flags &= ~SF_BDAT_LAST;
		smtp_session_set_state(s, SMTP_STATE_BDAT);
		smtp_session_error(s, 503, "5.5.1", why);
		return 0;
	}
	return 1;
syntax:
	smtp_session_error(s, 501, "5.5.4", "Syntax: BDAT count [LAST]");
	return 0;
}

static void
smtp_proceed_bdat(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	struct smtp_tx *tx = s->tx;

	if (!tx->bdat) {
		tx->bdat = 1;
		smtp_proto_data_init(&tx->scan, smtp_tx_scan_flags(tx), 0);
	}
	s->bdat_left = c->bdat_size;
	s->flags &= ~(SF_BDAT_SKIP | SF_BDAT_LAST);
	if (c->bdat_last)
		s->flags |= SF_BDAT_LAST;
	smtp_session_set_state(s, SMTP_STATE_BDAT);
}

static void
smtp_proceed_rset(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	smtp_session_tx_end(s);
	smtp_session_proxy_end(s);
	smtp_session_reply(s, 250, "2.0.0", "Ok");
}

static void
smtp_proceed_noop(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	smtp_session_reply(s, 250, "2.0.0", "Ok");
}

static void
smtp_proceed_quit(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	smtp_session_reply(s, 221, "2.0.0", "Bye");
	s->flags |= SF_NOLINGER;
	smtp_session_close(s, "quit");
}

static int
smtp_check_vrfy(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	if (*c->args == '\0') {
		smtp_session_error(s, 501, "5.5.4", "Syntax: VRFY address");
		return 0;
	}
	return 1;
}

static void
smtp_proceed_vrfy(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	smtp_session_reply(s, 252, "2.5.2",
	    "Cannot VRFY user, but will accept message and attempt delivery");
}

static void
smtp_proceed_expn(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	smtp_session_reply(s, 502, "5.5.1", "Error: EXPN not supported");
}

static int
smtp_check_starttls(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	if (!s->owner->cfg->starttls || s->owner->tls == NULL) {
		smtp_session_error(s, 500, "5.5.1", "Error: command not recognized");
		return 0;
	}
	if (*c->args != '\0') {
		smtp_session_error(s, 501, "5.5.4", "Syntax error (no parameters allowed)");
		return 0;
	}
	if (s->flags & SF_TLS) {
		smtp_session_error(s, 503, "5.5.1", "Error: TLS already active");
		return 0;
	}
	return 1;
}

static void
smtp_proceed_starttls(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	smtp_session_reply(s, 220, "2.0.0", "Ready to start TLS");
	smtp_session_starttls(s);
}

/* --require-tls: what a client may do before STARTTLS (RFC 3207 section 4) */
static int
smtp_cmd_allowed_before_tls(const struct smtp_cmd *cmd)
{
	static const char *const verbs[] = { "EHLO", "HELO", "STARTTLS", "NOOP", "RSET", "QUIT" };
	size_t			 i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(cmd->verb, verbs[i]) == 0)
			return 1;
	return 0;
}

static void
smtp_proceed_help(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	char text[160];

	snprintf(text, sizeof(text),
	    "Commands: EHLO HELO %s%sMAIL RCPT DATA %sRSET NOOP QUIT VRFY HELP",
	    s->owner->cfg->starttls && !(s->flags & SF_TLS) ? "STARTTLS " : "",
	    smtp_auth_session_offered(s) ? "AUTH " : "",
	    smtp_session_ext(s, EXT_CHUNKING) ? "BDAT " : "");
	smtp_session_reply(s, 214, "2.0.0", text);
}

static const struct smtp_cmd *
smtp_cmd_lookup(const struct smtp_session *s, const char *verb)
{
	size_t i, n = strlen(verb);

	if (n != 4 && n != 8)
		return NULL;
	for (i = 0; i < SMTP_NCMDS; i++)
		if (strcasecmp(verb, smtp_cmds[i].verb) == 0) {
			if (smtp_cmds[i].ext != 0 && !smtp_session_ext(s, smtp_cmds[i].ext))
				return NULL;
			return &smtp_cmds[i];
		}
	return NULL;
}

void
smtp_cmd_run(struct smtp_session *s, char *line, int more)
{
	const struct smtp_cmd *cmd;
	struct smtp_cmd_ctx    c;
	char		      *verb, safe[LOG_SANITIZE_MAX];
	int		       disconnect = 0;

	smtp_proto_split(line, &verb, &c.args);
	c.subject = NULL;
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("smtp command session=%016" PRIx64 " state=%s verb=%s", s->id,
		    smtp_strstate(s->state), log_sanitize(safe, sizeof(safe), verb, strlen(verb)));
	if ((cmd = smtp_cmd_lookup(s, verb)) == NULL) {
		smtp_session_error(s, 500, "5.5.1", "Error: command not recognized");
		return;
	}
	/*
	 * Without PIPELINING a client must wait for each reply (RFC 2920);
	 * one that does not is told so and cut off, as Exim and Postfix do.
	 * BDAT is followed by its chunk, which is not a command.
	 */
	if (more && !smtp_session_ext(s, EXT_PIPELINING) && strcmp(cmd->verb, "BDAT") != 0) {
		s->owner->stats->limit_breaches++;
		log_info("smtp pipelining session=%016" PRIx64 " verb=%s advertised=0", s->id,
		    cmd->verb);
		smtp_session_reply(s, 554, "5.5.0",
		    "Error: SMTP protocol synchronization (PIPELINING not offered)");
		smtp_session_close(s, "improper pipelining");
		return;
	}
	if (s->owner->cfg->require_tls && !(s->flags & SF_TLS) &&
	    !smtp_cmd_allowed_before_tls(cmd)) {
		smtp_session_error(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		return;
	}
	if (!(cmd->states & (1u << s->state))) {
		smtp_session_error(s, 503, "5.5.1",
		    s->state == SMTP_STATE_REJECTED ? "Error: session rejected" : cmd->badseq);
		return;
	}
	if (cmd->check != NULL && !cmd->check(s, &c))
		return;
	if (cmd->stage == RULES_STAGE_NONE || c.subject == NULL ||
	    !smtp_session_rules(s, cmd->stage, c.subject, &disconnect))
		cmd->proceed(s, &c);
	if (disconnect)
		smtp_session_close(s, "rule disconnect");
}
