/*
 * smtp_session - per-connection ESMTP state machine on one bufferevent.
 *
 * Input is processed in smtp_session_process(), from the read callback, the
 * write callback (after output backpressure), the delay timer and the event
 * callback (EOF). It handles, in order and without ever buffering more than
 * the limits allow:
 *   - command lines: located with memchr / evbuffer_search_eol, length
 *     checked before the line is complete (cfg->smtp_line_max: 500 5.5.2 and
 *     close), parsed in place, then dispatched through smtp_cmds[] {verb,
 *     states, stage, check, proceed}; the reject rules of the command's stage
 *     run between check and proceed, re-evaluated for every command;
 *   - DATA and BDAT octets: scanned in place in the evbuffer's chains by
 *     smtp_proto_data_scan(), which appends runs to the transaction's bounded
 *     body and records anomalies in the same pass.
 * At most cfg->cmds_per_wakeup commands are handled per wakeup; then the
 * session yields with a deferred read trigger, so one pipelining client
 * cannot starve the others. Input processing stops while the output holds
 * more than SMTP_OUTPUT_HIGH octets and resumes below SMTP_OUTPUT_LOW;
 * reading stops while smtp_line_max + SMTP_INPUT_SLACK octets wait.
 *
 * Replies go through smtp_session_write(); while a rule delay is pending they
 * are held in s->delayed and released by the delay timer, and input is not
 * processed meanwhile.
 *
 * Timers: one per session (timer_ev), re-armed only when it fires, covers
 * the idle timeout (from the last read or write progress), the absolute
 * session deadline and the lingering close. Activity just records a time.
 *
 * Closing: smtp_session_close() sets SF_CLOSING; once the output is flushed
 * the write callback frees the session (QUIT, or the client already gone) or
 * starts a lingering close (shut the write side, discard input for up to
 * SMTP_LINGER_SECS) so that an error reply is not destroyed by a RST.
 * Only the event callback (errors, lingering done), the write callback, the
 * timer, smtp_session_shutdown_all() (force) and server_free() call
 * smtp_session_free(); no code runs on a freed session. A transaction not
 * completed at close is dropped: nothing partial reaches the store.
 *
 * Memory: an idle session is this struct, the bufferevent and one timer; no
 * transaction, no buffered input. A transaction (struct smtp_tx) exists from
 * MAIL to the end of data, and its body moves into the message.
 *
 * EXPN is answered "502 5.5.1" (a sink has no lists to expand); VRFY "252".
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "message.h"
#include "rules.h"
#include "server.h"
#include "smtp_proto.h"
#include "smtp_session.h"
#include "xmalloc.h"

#define SMTP_OUTPUT_HIGH	(64 * 1024)
#define SMTP_OUTPUT_LOW		(32 * 1024)
#define SMTP_INPUT_SLACK	(64 * 1024)	/* input kept beyond the line limit */
#define SMTP_REPLY_MAX		1024
#define SMTP_LINGER_SECS	2	/* lingering close: read and discard this long */
#define SMTP_LINGER_STOP_MS	100	/* ... while the server is stopping (docker stop) */

/* Session flags */
#define SF_EHLO		0x0001	/* greeted with EHLO: ESMTP */
#define SF_DELAY	0x0002	/* a rule delay is pending; replies held */
#define SF_BACKPRESSURE	0x0004	/* output too large: input paused */
#define SF_CLOSING	0x0008	/* free once the output is flushed */
#define SF_EOF		0x0010	/* the client closed its side */
#define SF_BDAT_SKIP	0x0020	/* current BDAT chunk is discarded */
#define SF_BDAT_LAST	0x0040	/* current BDAT chunk is the last */
#define SF_LINGER	0x0080	/* output done, write side shut, draining input */
#define SF_NOLINGER	0x0100	/* close at once after the output (QUIT) */
#define SF_INPUT_FULL	0x0200	/* reading paused: enough input is waiting */

struct smtp_tx {
	char			*mail_from;
	struct esmtp_param	*mail_params;
	size_t			 nmail_params;
	struct message_rcpt	*rcpts;
	size_t			 nrcpts;
	size_t			 rcpts_cap;
	struct buf		 body;
	struct smtp_proto_data	 scan;
	enum message_body_type	 body_type;
	int			 smtputf8;
	int			 bdat;		/* BDAT used: DATA and RCPT refused */
};

struct smtp_session {
	TAILQ_ENTRY(smtp_session) entry;
	struct server		*server;
	struct bufferevent	*bev;
	struct event		*timer_ev;	/* idle, deadline and linger: lazily re-armed */
	struct event		*delay_ev;	/* created on the first delay */
	struct evbuffer		*delayed;	/* replies held during a delay */
	struct smtp_tx		*tx;		/* NULL between transactions */
	char			*helo;
	const char		*close_reason;
	uint64_t		 id;
	uint64_t		 bdat_left;	/* octets of the BDAT chunk still to read */
	uint64_t		 active_ms;	/* last read or write progress */
	uint64_t		 deadline_ms;	/* absolute session deadline, 0 = none */
	unsigned		 errors;
	unsigned		 messages;	/* accepted in this session */
	unsigned		 flags;		/* SF_* */
	enum smtp_state		 state;
	enum smtp_state		 bdat_ret;	/* state after a skipped BDAT chunk */
	char			 peer[INET6_ADDRSTRLEN + 10];	/* "ip:port", "[v6]:port" */
};

/* What check() parsed, for the rules and for proceed() */
struct smtp_cmd_ctx {
	char			*args;
	const char		*subject;	/* rules match subject; NULL: no rules */
	char			*addr;
	struct smtp_proto_param	 params[SMTP_PROTO_PARAMS_MAX];
	size_t			 nparams;
	enum message_body_type	 body_type;
	int			 smtputf8;
	uint64_t		 bdat_size;
	int			 bdat_last;
};

struct smtp_cmd {
	const char	*verb;
	unsigned	 states;	/* bit per enum smtp_state where allowed */
	unsigned	 ext;		/* EXT_* bit the command needs, 0 = none */
	enum rules_stage stage;
	const char	*badseq;	/* text of the 503 when the state is wrong */
	int		(*check)(struct smtp_session *, struct smtp_cmd_ctx *);
	void		(*proceed)(struct smtp_session *, struct smtp_cmd_ctx *);
};

#define ST(x)		(1u << SMTP_STATE_##x)
#define ST_CMD		(ST(INIT) | ST(HELO) | ST(MAIL) | ST(RCPT))

static void	smtp_read_cb(struct bufferevent *, void *);
static void	smtp_write_cb(struct bufferevent *, void *);
static void	smtp_event_cb(struct bufferevent *, short, void *);
static void	smtp_timer_cb(evutil_socket_t, short, void *);
static void	smtp_delay_cb(evutil_socket_t, short, void *);
static void	smtp_session_process(struct smtp_session *);
static void	smtp_session_linger(struct smtp_session *);
static uint64_t	smtp_now_ms(struct smtp_session *);

static int	smtp_check_helo(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_helo(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_ehlo(struct smtp_session *, struct smtp_cmd_ctx *);
static int	smtp_check_mail(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_mail(struct smtp_session *, struct smtp_cmd_ctx *);
static int	smtp_check_rcpt(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_rcpt(struct smtp_session *, struct smtp_cmd_ctx *);
static int	smtp_check_data(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_data(struct smtp_session *, struct smtp_cmd_ctx *);
static int	smtp_check_bdat(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_bdat(struct smtp_session *, struct smtp_cmd_ctx *);
static int	smtp_check_noargs(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_rset(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_noop(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_quit(struct smtp_session *, struct smtp_cmd_ctx *);
static int	smtp_check_vrfy(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_vrfy(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_expn(struct smtp_session *, struct smtp_cmd_ctx *);
static void	smtp_proceed_help(struct smtp_session *, struct smtp_cmd_ctx *);

static const struct smtp_cmd smtp_cmds[] = {
	{ "EHLO", ST_CMD, 0, RULES_STAGE_HELO, "", smtp_check_helo, smtp_proceed_ehlo },
	{ "HELO", ST_CMD, 0, RULES_STAGE_HELO, "", smtp_check_helo, smtp_proceed_helo },
	{ "MAIL", ST_CMD, 0, RULES_STAGE_MAIL_FROM, "", smtp_check_mail, smtp_proceed_mail },
	{ "RCPT", ST(MAIL) | ST(RCPT), 0, RULES_STAGE_RCPT_TO, "Error: need MAIL command",
	  smtp_check_rcpt, smtp_proceed_rcpt },
	{ "DATA", ST_CMD, 0, RULES_STAGE_NONE, "", smtp_check_data, smtp_proceed_data },
	{ "BDAT", ST_CMD | ST(REJECTED), EXT_CHUNKING, RULES_STAGE_NONE, "",
	  smtp_check_bdat, smtp_proceed_bdat },
	{ "RSET", ST_CMD, 0, RULES_STAGE_NONE, "", smtp_check_noargs, smtp_proceed_rset },
	{ "NOOP", ST_CMD, 0, RULES_STAGE_NONE, "", NULL, smtp_proceed_noop },
	{ "QUIT", ST_CMD | ST(REJECTED), 0, RULES_STAGE_NONE, "", smtp_check_noargs,
	  smtp_proceed_quit },
	{ "VRFY", ST_CMD, 0, RULES_STAGE_NONE, "", smtp_check_vrfy, smtp_proceed_vrfy },
	{ "EXPN", ST_CMD, 0, RULES_STAGE_NONE, "", NULL, smtp_proceed_expn },
	{ "HELP", ST_CMD, 0, RULES_STAGE_NONE, "", NULL, smtp_proceed_help },
};
#define SMTP_NCMDS	(sizeof(smtp_cmds) / sizeof(smtp_cmds[0]))

static const char *const smtp_state_names[] = {
	"init", "helo", "mail", "rcpt", "data", "bdat", "rejected", "quit",
};

const char *
smtp_strstate(enum smtp_state st)
{
	if ((unsigned)st >= sizeof(smtp_state_names) / sizeof(smtp_state_names[0]))
		return "unknown";
	return smtp_state_names[st];
}

static void
smtp_session_set_state(struct smtp_session *s, enum smtp_state st)
{
	if (s->state == st)
		return;
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("smtp state session=%016" PRIx64 " from=%s to=%s", s->id,
		    smtp_strstate(s->state), smtp_strstate(st));
	s->state = st;
}

static int
smtp_session_ext(const struct smtp_session *s, unsigned bit)
{
	return (s->server->cfg->extensions & bit) != 0;
}

/* ----- transactions ----- */

static void
smtp_params_free(struct esmtp_param *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

static struct esmtp_param *
smtp_params_copy(const struct smtp_proto_param *in, size_t n)
{
	struct esmtp_param	*p;
	size_t			 i;

	if (n == 0)
		return NULL;
	p = xreallocarray(NULL, n, sizeof(*p));
	for (i = 0; i < n; i++) {
		p[i].name = xstrdup(in[i].keyword);
		p[i].value = xstrdup(in[i].value ? in[i].value : "");
	}
	return p;
}

static void
smtp_tx_free(struct smtp_tx *tx)
{
	size_t	 i;

	if (tx == NULL)
		return;
	free(tx->mail_from);
	smtp_params_free(tx->mail_params, tx->nmail_params);
	for (i = 0; i < tx->nrcpts; i++) {
		free(tx->rcpts[i].addr);
		smtp_params_free(tx->rcpts[i].params, tx->rcpts[i].nparams);
	}
	free(tx->rcpts);
	buf_release(&tx->body);
	free(tx);
}

static void
smtp_session_tx_end(struct smtp_session *s)
{
	smtp_tx_free(s->tx);
	s->tx = NULL;
	smtp_session_set_state(s, s->helo != NULL ? SMTP_STATE_HELO : SMTP_STATE_INIT);
}

/* ----- output ----- */

static void
smtp_session_write(struct smtp_session *s, const char *p, size_t n)
{
	if (s->flags & SF_DELAY)
		evbuffer_add(s->delayed, p, n);
	else
		evbuffer_add(bufferevent_get_output(s->bev), p, n);
}

static void
smtp_session_reply(struct smtp_session *s, unsigned code, const char *enh, const char *text)
{
	char	 r[SMTP_REPLY_MAX];
	size_t	 n;

	n = smtp_proto_reply(r, sizeof(r), code, enh,
	    smtp_session_ext(s, EXT_ENHANCEDSTATUSCODES), text, 0);
	smtp_session_write(s, r, n);
}

/* A whole reply line from a rule or server_deliver(): "550 5.7.1 text" */
static void
smtp_session_reply_line(struct smtp_session *s, const char *line)
{
	char	 r[SMTP_REPLY_MAX];
	size_t	 n;

	n = smtp_proto_reply_line(r, sizeof(r), line,
	    smtp_session_ext(s, EXT_ENHANCEDSTATUSCODES));
	smtp_session_write(s, r, n);
}

/*
 * Marks the session for closing: input stops, the output is flushed and the
 * write callback frees the session. Never frees here.
 */
static void
smtp_session_close(struct smtp_session *s, const char *reason)
{
	if (s->flags & SF_CLOSING)
		return;
	s->flags |= SF_CLOSING;
	s->close_reason = reason;
	smtp_session_set_state(s, SMTP_STATE_QUIT);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (!(s->flags & SF_DELAY))
		bufferevent_trigger(s->bev, EV_WRITE,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* A client error: counted; past cfg->error_max the session is closed. */
static void
smtp_session_error(struct smtp_session *s, unsigned code, const char *enh, const char *text)
{
	char	 host[128];

	smtp_session_reply(s, code, enh, text);
	if (++s->errors >= s->server->cfg->error_max) {
		s->server->stats.limit_breaches++;
		snprintf(host, sizeof(host), "%s Error: too many errors", s->server->cfg->hostname);
		smtp_session_reply(s, 421, "4.7.0", host);
		log_info("smtp limit session=%016" PRIx64 " limit=errors errors=%u", s->id, s->errors);
		smtp_session_close(s, "too many errors");
	}
}

/* Holds replies and input processing for ms milliseconds. */
static void
smtp_session_delay(struct smtp_session *s, unsigned ms)
{
	struct timeval	 tv;

	if (ms == 0)
		return;
	if (s->delay_ev == NULL)
		s->delay_ev = evtimer_new(bufferevent_get_base(s->bev), smtp_delay_cb, s);
	if (s->delayed == NULL)
		s->delayed = evbuffer_new();
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(s->delay_ev, &tv);
	s->flags |= SF_DELAY;
}

/* Releases held replies now. */
static void
smtp_session_undelay(struct smtp_session *s)
{
	if (!(s->flags & SF_DELAY))
		return;
	s->flags &= ~SF_DELAY;
	evtimer_del(s->delay_ev);
	evbuffer_add_buffer(bufferevent_get_output(s->bev), s->delayed);
}

static void
smtp_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session	*s = arg;

	smtp_session_undelay(s);
	if (s->flags & SF_CLOSING) {
		bufferevent_trigger(s->bev, EV_WRITE,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
		return;
	}
	smtp_session_process(s);
}

/* ----- rules ----- */

/*
 * Evaluates the rules of stage for subject. Returns 0 when nothing fired or
 * only a delay did (the caller proceeds normally), 1 when the rule replied
 * instead (the caller must not proceed). *disconnect tells the caller to
 * close once its reply is out.
 */
static int
smtp_session_rules(struct smtp_session *s, enum rules_stage stage, const char *subject,
    int *disconnect)
{
	struct rules_action	 act;
	char			 subj[LOG_SANITIZE_MAX];

	*disconnect = 0;
	if (!rules_eval(s->server->rules, stage, &subject, 1, &act))
		return 0;
	log_info("smtp rule session=%016" PRIx64 " rule=%s stage=%s subject=%s code=%u delay_ms=%u disconnect=%d",
	    s->id, act.rule_id, rules_stage_str(stage),
	    log_sanitize(subj, sizeof(subj), subject, strlen(subject)), act.code, act.delay_ms,
	    act.disconnect);
	smtp_session_delay(s, act.delay_ms);
	*disconnect = act.disconnect;
	if (act.code == 0)
		return 0;
	smtp_session_reply_line(s, act.reply);
	if (stage == RULES_STAGE_RCPT_TO)
		s->server->stats.rcpts_rejected++;
	return 1;
}

/* ----- commands ----- */

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
	smtp_session_reply(s, 250, NULL, s->server->cfg->hostname);
}

/*
 * Appends the EHLO keywords of the enabled extensions to dst, each as
 * prefix + keyword + suffix (no snprintf: EHLO runs once per session).
 * Returns the length.
 */
static size_t
smtp_session_ext_format(const struct config *cfg, char *dst, size_t dstsz,
    const char *prefix, const char *suffix, int last_space)
{
	unsigned	 bit;
	size_t		 o = 0, pl = strlen(prefix), sl = strlen(suffix), kl;
	const char	*kw;
	char		 num[32], *np;
	size_t		 v;

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
		o--;			/* no trailing separator */
	dst[o] = '\0';
	return o;
}

static void
smtp_proceed_ehlo(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	const struct config	*cfg = s->server->cfg;
	char			 r[SMTP_REPLY_MAX];
	size_t			 n, hl = strlen(cfg->hostname);

	smtp_session_set_helo(s, c->args, 1);
	if (hl > 200)
		hl = 200;
	memcpy(r, "250-", 4);
	memcpy(r + 4, cfg->hostname, hl);
	memcpy(r + 4 + hl, "\r\n", 2);
	n = 6 + hl;
	n += smtp_session_ext_format(cfg, r + n, sizeof(r) - n, "250-", "\r\n", 0);
	if (n == 6 + hl) {
		r[3] = ' ';		/* no extensions: a single line */
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
smtp_session_ext_line(const struct server *srv, char *dst, size_t dstsz)
{
	if (dstsz == 0)
		return;
	smtp_session_ext_format(srv->cfg, dst, dstsz, "", " ", 1);
}

static int
smtp_param_is_digits(const char *v, size_t maxlen)
{
	size_t	 n = 0;

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
	size_t	 i, j;
	int	 rc;

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
				smtp_session_error(s, 501, "5.5.4", "Syntax error: duplicate parameter");
				return 0;
			}
	return 1;
}

static void
smtp_session_unsupported(struct smtp_session *s, const char *kw)
{
	char	 text[128], safe[LOG_SANITIZE_MAX];

	snprintf(text, sizeof(text), "Unsupported option: %.40s",
	    log_sanitize(safe, sizeof(safe), kw, strlen(kw)));
	smtp_session_error(s, 555, "5.5.4", text);
}

static int
smtp_check_mail(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	const struct config	*cfg = s->server->cfg;
	char			*params;
	unsigned		 flags;
	size_t			 i;

	if (s->state == SMTP_STATE_INIT) {
		smtp_session_error(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return 0;
	}
	if (s->state != SMTP_STATE_HELO) {
		smtp_session_error(s, 503, "5.5.1", "Error: nested MAIL command");
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
				s->server->stats.limit_breaches++;
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
			else if (v != NULL && (strcasecmp(v, "8BITMIME") == 0 ||
			    strcasecmp(v, "BINARYMIME") == 0)) {
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
			if (v == NULL || (strcasecmp(v, "FULL") != 0 && strcasecmp(v, "HDRS") != 0)) {
				smtp_session_error(s, 501, "5.5.4", "Syntax error in RET");
				return 0;
			}
		} else if (strcmp(k, "ENVID") == 0 && (cfg->extensions & EXT_DSN)) {
			if (v == NULL || strlen(v) > 100) {
				smtp_session_error(s, 501, "5.5.4", "Syntax error in ENVID");
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
	c->subject = c->addr;
	return 1;
}

static void
smtp_proceed_mail(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	struct smtp_tx	*tx;

	tx = xcalloc(1, sizeof(*tx));
	tx->mail_from = xstrdup(c->addr);
	tx->mail_params = smtp_params_copy(c->params, c->nparams);
	tx->nmail_params = c->nparams;
	tx->body_type = c->body_type;
	tx->smtputf8 = c->smtputf8;
	buf_init(&tx->body, s->server->cfg->message_size_max);
	s->tx = tx;
	smtp_session_set_state(s, SMTP_STATE_MAIL);
	smtp_session_reply(s, 250, "2.1.0", "Ok");
}

static int
smtp_check_rcpt(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	const struct config	*cfg = s->server->cfg;
	char			*params;
	unsigned		 flags;
	size_t			 i;

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
			int never = 0, other = 0, bad = (v == NULL || strlen(v) >= sizeof(tmp));

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
		s->server->stats.rcpts_rejected++;
		return 0;
	}
	if (s->tx->nrcpts >= cfg->rcpt_max) {
		s->server->stats.limit_breaches++;
		s->server->stats.rcpts_rejected++;
		smtp_session_reply(s, 452, "4.5.3", "Error: too many recipients");
		return 0;
	}
	c->subject = c->addr;
	return 1;
}

static void
smtp_proceed_rcpt(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	struct smtp_tx		*tx = s->tx;
	struct message_rcpt	*r;

	if (tx->nrcpts == tx->rcpts_cap) {
		tx->rcpts_cap = tx->rcpts_cap ? tx->rcpts_cap * 2 : 2;
		tx->rcpts = xreallocarray(tx->rcpts, tx->rcpts_cap, sizeof(*tx->rcpts));
	}
	r = &tx->rcpts[tx->nrcpts++];
	r->addr = xstrdup(c->addr);
	r->params = smtp_params_copy(c->params, c->nparams);
	r->nparams = c->nparams;
	smtp_session_set_state(s, SMTP_STATE_RCPT);
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
	unsigned	 f = 0;

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
	    s->server->cfg->data_line_max);
	smtp_session_set_state(s, SMTP_STATE_DATA);
	smtp_session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/* "BDAT n [LAST]"; the chunk is skipped when the command is refused */
static int
smtp_check_bdat(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	char		*p = c->args, *end;
	const char	*why = NULL;

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
	struct smtp_tx	*tx = s->tx;

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

static void
smtp_proceed_help(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	char	 text[160];

	snprintf(text, sizeof(text), "Commands: EHLO HELO MAIL RCPT DATA %sRSET NOOP QUIT VRFY HELP",
	    smtp_session_ext(s, EXT_CHUNKING) ? "BDAT " : "");
	smtp_session_reply(s, 214, "2.0.0", text);
}

static const struct smtp_cmd *
smtp_cmd_lookup(const struct smtp_session *s, const char *verb)
{
	size_t	 i;

	if (strlen(verb) != 4)
		return NULL;
	for (i = 0; i < SMTP_NCMDS; i++)
		if (strcasecmp(verb, smtp_cmds[i].verb) == 0) {
			if (smtp_cmds[i].ext != 0 && !smtp_session_ext(s, smtp_cmds[i].ext))
				return NULL;
			return &smtp_cmds[i];
		}
	return NULL;
}

static void
smtp_session_command(struct smtp_session *s, char *line, int more)
{
	const struct smtp_cmd	*cmd;
	struct smtp_cmd_ctx	 c;
	char			*verb, safe[LOG_SANITIZE_MAX];
	int			 disconnect = 0;

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
		s->server->stats.limit_breaches++;
		log_info("smtp pipelining session=%016" PRIx64 " verb=%s advertised=0", s->id,
		    cmd->verb);
		smtp_session_reply(s, 554, "5.5.0",
		    "Error: SMTP protocol synchronization (PIPELINING not offered)");
		smtp_session_close(s, "improper pipelining");
		return;
	}
	if (!(cmd->states & (1u << s->state))) {
		smtp_session_error(s, 503, "5.5.1", s->state == SMTP_STATE_REJECTED ?
		    "Error: session rejected" : cmd->badseq);
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

/* ----- message end ----- */

static void
smtp_session_deliver(struct smtp_session *s)
{
	struct smtp_tx	*tx = s->tx;
	struct message	*m;
	char		 reply[SMTP_REPLY_MAX];
	unsigned	 delay_ms;
	int		 disconnect;

	if (tx->scan.status & SMTP_PROTO_DATA_SIZE) {
		s->server->stats.limit_breaches++;
		log_info("smtp limit session=%016" PRIx64 " limit=size size=%zu", s->id,
		    tx->scan.total);
		smtp_session_tx_end(s);
		smtp_session_reply(s, 552, "5.3.4", "Error: message size exceeds fixed maximum message size");
		return;
	}
	m = message_new();
	m->session_id = s->id;
	clock_gettime(CLOCK_REALTIME, &m->received);
	m->peer = xstrdup(s->peer);
	m->helo = xstrdup(s->helo != NULL ? s->helo : "");
	m->mail_from = tx->mail_from;
	tx->mail_from = NULL;
	m->mail_params = tx->mail_params;
	m->nmail_params = tx->nmail_params;
	tx->mail_params = NULL;
	tx->nmail_params = 0;
	m->rcpts = tx->rcpts;
	m->nrcpts = tx->nrcpts;
	tx->rcpts = NULL;
	tx->nrcpts = 0;
	m->data = buf_steal(&tx->body, &m->size);
	if (m->data == NULL)
		m->data = xstrdup("");
	m->anomalies = smtp_proto_data_finish(&tx->scan);
	if (tx->body_type == MSG_BODY_BINARYMIME)
		m->anomalies &= ~(MSG_ANOM_BARE_LF | MSG_ANOM_BARE_CR | MSG_ANOM_LONG_LINE |
		    MSG_ANOM_8BIT_BODY | MSG_ANOM_NUL);
	m->body_type = tx->body_type;
	m->smtputf8 = tx->smtputf8;
	smtp_session_tx_end(s);

	if (server_deliver(s->server, m, reply, sizeof(reply), &disconnect, &delay_ms) == 0)
		s->messages++;
	smtp_session_delay(s, delay_ms);
	smtp_session_reply_line(s, reply);
	if (disconnect)
		smtp_session_close(s, "rule disconnect");
}

/*
 * DATA octets: scans the input's chains in place. Returns 1 when the data
 * ended (or the session is closing), 0 when more input is needed.
 */
static int
smtp_session_data(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	 v[8];
	struct smtp_tx		*tx = s->tx;
	size_t			 used, consumed;
	int			 i, nv;

	while (evbuffer_get_length(in) > 0) {
		nv = evbuffer_peek(in, -1, NULL, v, 8);
		if (nv > 8)
			nv = 8;
		consumed = 0;
		for (i = 0; i < nv; i++) {
			used = smtp_proto_data_scan(&tx->scan, v[i].iov_base, v[i].iov_len,
			    &tx->body);
			consumed += used;
			if (tx->scan.status & (SMTP_PROTO_DATA_DONE | SMTP_PROTO_DATA_LINE))
				break;
		}
		evbuffer_drain(in, consumed);
		if (tx->scan.status & SMTP_PROTO_DATA_LINE) {
			s->server->stats.limit_breaches++;
			log_info("smtp limit session=%016" PRIx64 " limit=data_line", s->id);
			smtp_session_tx_end(s);
			smtp_session_reply(s, 500, "5.5.2", "Error: line too long");
			smtp_session_close(s, "data line too long");
			return 1;
		}
		if (tx->scan.status & SMTP_PROTO_DATA_DONE) {
			smtp_session_deliver(s);
			return 1;
		}
	}
	return 0;
}

/* BDAT chunk octets. Returns 1 when the chunk is complete, 0 for more input. */
static int
smtp_session_bdat(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	 v[8];
	struct smtp_tx		*tx = s->tx;
	size_t			 n, consumed;
	int			 i, nv;
	char			 text[64];

	while (s->bdat_left > 0 && evbuffer_get_length(in) > 0) {
		if (s->flags & SF_BDAT_SKIP) {
			n = evbuffer_get_length(in);
			if (n > s->bdat_left)
				n = s->bdat_left;
			evbuffer_drain(in, n);
			s->bdat_left -= n;
			continue;
		}
		nv = evbuffer_peek(in, -1, NULL, v, 8);
		if (nv > 8)
			nv = 8;
		consumed = 0;
		for (i = 0; i < nv && s->bdat_left > 0; i++) {
			n = v[i].iov_len;
			if (n > s->bdat_left)
				n = s->bdat_left;
			smtp_proto_data_scan(&tx->scan, v[i].iov_base, n, &tx->body);
			consumed += n;
			s->bdat_left -= n;
		}
		evbuffer_drain(in, consumed);
	}
	if (s->bdat_left > 0)
		return 0;

	if (s->flags & SF_BDAT_SKIP) {
		s->flags &= ~SF_BDAT_SKIP;
		smtp_session_set_state(s, s->bdat_ret);
		return 1;
	}
	if (tx->scan.status & SMTP_PROTO_DATA_SIZE) {
		s->server->stats.limit_breaches++;
		log_info("smtp limit session=%016" PRIx64 " limit=size size=%zu", s->id,
		    tx->scan.total);
		smtp_session_tx_end(s);
		smtp_session_reply(s, 552, "5.3.4", "Error: message size exceeds fixed maximum message size");
		return 1;
	}
	if (s->flags & SF_BDAT_LAST) {
		s->flags &= ~SF_BDAT_LAST;
		smtp_session_deliver(s);
		return 1;
	}
	smtp_session_set_state(s, SMTP_STATE_RCPT);
	snprintf(text, sizeof(text), "Ok: %zu octets received", tx->scan.total);
	smtp_session_reply(s, 250, "2.0.0", text);
	return 1;
}

/*
 * One command line. Returns 1 when a line was handled, 0 when no complete
 * line is buffered (or the session is closing).
 */
static int
smtp_session_line(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	 v;
	struct evbuffer_ptr	 ptr;
	size_t			 avail, len, total, max = s->server->cfg->smtp_line_max, eol;
	const char		*nl;
	char			*line;

	if ((avail = evbuffer_get_length(in)) == 0)
		return 0;
	evbuffer_peek(in, -1, NULL, &v, 1);
	nl = memchr(v.iov_base, '\n', v.iov_len < max ? v.iov_len : max);
	if (nl != NULL)
		len = nl - (const char *)v.iov_base + 1;
	else if (v.iov_len >= max)
		goto toolong;
	else if (v.iov_len < avail) {
		/* The line continues in the next chains */
		ptr = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
		if (ptr.pos == -1) {
			if (avail >= max)
				goto toolong;
			return 0;
		}
		len = ptr.pos + 1;
		if (len > max)
			goto toolong;
	} else
		return 0;

	/*
	 * Parse in place: make the line contiguous (no copy when it sits in
	 * one chain), terminate it over its LF, drain it afterwards. Nothing
	 * keeps a pointer into it: commands copy what they keep.
	 */
	line = (char *)evbuffer_pullup(in, len);
	total = len;
	len--;				/* LF */
	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	if (memchr(line, '\0', len) != NULL)
		smtp_session_error(s, 500, "5.5.2", "Error: NUL in command");
	else
		smtp_session_command(s, line, avail > total);
	evbuffer_drain(in, total);
	return 1;

 toolong:
	s->server->stats.limit_breaches++;
	log_info("smtp limit session=%016" PRIx64 " limit=line", s->id);
	smtp_session_reply(s, 500, "5.5.2", "Error: line too long");
	smtp_session_close(s, "line too long");
	return 0;
}

/*
 * Reading pauses while smtp_line_max + SMTP_INPUT_SLACK octets wait
 * unprocessed (a pipelining flood while we yield, input during a delay).
 * Checked once per processing round rather than with a bufferevent read
 * watermark, whose callback re-adds the read event on every drain.
 */
static void
smtp_session_input_limit(struct smtp_session *s)
{
	size_t	 len = evbuffer_get_length(bufferevent_get_input(s->bev));

	if (len >= s->server->cfg->smtp_line_max + SMTP_INPUT_SLACK) {
		if (!(s->flags & SF_INPUT_FULL)) {
			s->flags |= SF_INPUT_FULL;
			bufferevent_disable(s->bev, EV_READ);
		}
	} else if (s->flags & SF_INPUT_FULL) {
		s->flags &= ~SF_INPUT_FULL;
		if (!(s->flags & (SF_EOF | SF_BACKPRESSURE | SF_CLOSING)))
			bufferevent_enable(s->bev, EV_READ);
	}
}

static void
smtp_session_process(struct smtp_session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	struct server	*srv = s->server;
	unsigned	 n = 0, max = srv->cfg->cmds_per_wakeup ? srv->cfg->cmds_per_wakeup : 1;
	int		 r;

	while (!(s->flags & (SF_DELAY | SF_BACKPRESSURE | SF_CLOSING))) {
		if (n >= max && evbuffer_get_length(in) > 0) {
			/* Fairness: let other sessions run, come back later */
			bufferevent_trigger(s->bev, EV_READ,
			    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
			smtp_session_input_limit(s);
			return;
		}
		if (s->state == SMTP_STATE_DATA)
			r = smtp_session_data(s, in);
		else if (s->state == SMTP_STATE_BDAT)
			r = smtp_session_bdat(s, in);
		else
			r = smtp_session_line(s, in);
		if (!r)
			break;
		n++;
		if (srv->shutting_down && s->tx == NULL && !(s->flags & SF_CLOSING) &&
		    s->state != SMTP_STATE_BDAT) {
			smtp_session_reply(s, 421, "4.3.2", "Service shutting down");
			smtp_session_close(s, "shutdown");
		}
		if (evbuffer_get_length(out) > SMTP_OUTPUT_HIGH && !(s->flags & SF_CLOSING)) {
			s->flags |= SF_BACKPRESSURE;
			bufferevent_disable(s->bev, EV_READ);
			bufferevent_setwatermark(s->bev, EV_WRITE, SMTP_OUTPUT_LOW, 0);
		}
	}
	if ((s->flags & SF_EOF) && !(s->flags & (SF_DELAY | SF_BACKPRESSURE | SF_CLOSING))) {
		if (s->state == SMTP_STATE_DATA || s->state == SMTP_STATE_BDAT)
			log_info("smtp aborted session=%016" PRIx64 " state=%s", s->id,
			    smtp_strstate(s->state));
		smtp_session_close(s, "client closed");
	}
	if (!(s->flags & SF_CLOSING))
		smtp_session_input_limit(s);
}

/* ----- callbacks ----- */

static void
smtp_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session	*s = arg;
	struct evbuffer		*in;

	if (s->flags & SF_LINGER) {
		in = bufferevent_get_input(bev);
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	s->active_ms = smtp_now_ms(s);
	smtp_session_process(s);
}

/*
 * Lingering close (Apache, nginx lingering_close): a client may still be
 * sending when we close after an error reply; closing a socket with unread
 * input makes the kernel send RST, which can destroy the reply before the
 * client reads it. So shut the write side (FIN after the reply) and discard
 * input until EOF, for at most SMTP_LINGER_SECS.
 */
static void
smtp_session_linger(struct smtp_session *s)
{
	struct timeval	 tv = { SMTP_LINGER_SECS, 0 };
	struct evbuffer	*in = bufferevent_get_input(s->bev);

	/* Stopping: an idle client (a connection pool) must not hold up the exit */
	if (s->server->shutting_down) {
		tv.tv_sec = 0;
		tv.tv_usec = SMTP_LINGER_STOP_MS * 1000;
	}
	s->flags |= SF_LINGER;
	shutdown(bufferevent_getfd(s->bev), SHUT_WR);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_setwatermark(s->bev, EV_READ, 0, 0);
	evtimer_add(s->timer_ev, &tv);
	bufferevent_disable(s->bev, EV_WRITE);
	bufferevent_enable(s->bev, EV_READ);
}

static void
smtp_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session	*s = arg;
	struct evbuffer		*out = bufferevent_get_output(bev);

	s->active_ms = smtp_now_ms(s);
	if (s->flags & SF_CLOSING) {
		if ((s->flags & (SF_DELAY | SF_LINGER)) || evbuffer_get_length(out) > 0)
			return;
		if (s->flags & (SF_EOF | SF_NOLINGER))
			smtp_session_free(s, s->close_reason);
		else
			smtp_session_linger(s);
		return;
	}
	if ((s->flags & SF_BACKPRESSURE) && evbuffer_get_length(out) <= SMTP_OUTPUT_LOW) {
		s->flags &= ~SF_BACKPRESSURE;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		if (!(s->flags & (SF_EOF | SF_INPUT_FULL)))
			bufferevent_enable(bev, EV_READ);
		smtp_session_process(s);
	}
}

static void
smtp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session	*s = arg;

	if (s->flags & SF_LINGER) {
		smtp_session_free(s, s->close_reason);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		smtp_session_free(s, "connection error");
		return;
	}
	if (what & BEV_EVENT_EOF) {
		s->flags |= SF_EOF;
		if (s->flags & SF_CLOSING)
			return;
		smtp_session_process(s);
	}
}

static uint64_t
smtp_now_ms(struct smtp_session *s)
{
	struct timeval	 tv;

	event_base_gettimeofday_cached(bufferevent_get_base(s->bev), &tv);
	return (uint64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/*
 * Arms the session timer for the earlier of the idle limit (measured from
 * the last activity) and the deadline. Activity itself only records a
 * time: the timer is re-armed when it fires, not on every read and write,
 * which keeps the event heap out of the per-command path.
 */
static void
smtp_session_timer_arm(struct smtp_session *s, uint64_t now)
{
	const struct config	*cfg = s->server->cfg;
	uint64_t		 at = 0, idle_at;
	struct timeval		 tv;

	if (cfg->idle_timeout > 0) {
		idle_at = s->active_ms + (uint64_t)cfg->idle_timeout * 1000;
		at = idle_at;
	}
	if (s->deadline_ms != 0 && (at == 0 || s->deadline_ms < at))
		at = s->deadline_ms;
	if (at == 0)
		return;
	at = at > now ? at - now : 1;
	tv.tv_sec = at / 1000;
	tv.tv_usec = (at % 1000) * 1000;
	evtimer_add(s->timer_ev, &tv);
}

static void
smtp_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session	*s = arg;
	const struct config	*cfg = s->server->cfg;
	uint64_t		 now = smtp_now_ms(s);
	const char		*why = NULL;
	char			 text[128];

	if (s->flags & SF_LINGER) {
		smtp_session_free(s, s->close_reason);
		return;
	}
	if (s->deadline_ms != 0 && now >= s->deadline_ms)
		why = "session deadline";
	else if (cfg->idle_timeout > 0 && now - s->active_ms >= (uint64_t)cfg->idle_timeout * 1000) {
		if (s->flags & SF_DELAY)
			s->active_ms = now;	/* we are the ones waiting */
		else
			why = "idle timeout";
	}
	if (why == NULL) {
		smtp_session_timer_arm(s, now);
		return;
	}
	if (s->flags & SF_CLOSING) {
		/* The 421 or the last reply cannot be delivered: give up */
		smtp_session_free(s, why);
		return;
	}
	log_info("smtp timeout session=%016" PRIx64 " state=%s reason=\"%s\"", s->id,
	    smtp_strstate(s->state), why);
	snprintf(text, sizeof(text), "%s Error: %s exceeded", cfg->hostname,
	    s->deadline_ms != 0 && now >= s->deadline_ms ? "session deadline" : "timeout");
	smtp_session_undelay(s);
	smtp_session_reply(s, 421, "4.4.2", text);
	smtp_session_close(s, why);
	/* One more idle period for the 421 to leave, then free regardless */
	s->active_ms = now;
	s->deadline_ms = 0;
	if (cfg->idle_timeout == 0)
		s->deadline_ms = now + 1000 * SMTP_LINGER_SECS;
	smtp_session_timer_arm(s, now);
}

/* ----- life cycle ----- */

static void
smtp_session_format_peer(struct smtp_session *s, const struct sockaddr *sa, char *ip,
    size_t iplen)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	if (sa != NULL && sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, ip, iplen);
		snprintf(s->peer, sizeof(s->peer), "%s:%u", ip, ntohs(sin->sin_port));
	} else if (sa != NULL && sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		/* A dual-stack listener: show (and match rules on) the IPv4 address */
		inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], ip, iplen);
		snprintf(s->peer, sizeof(s->peer), "%s:%u", ip, ntohs(sin6->sin6_port));
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, iplen);
		snprintf(s->peer, sizeof(s->peer), "[%s]:%u", ip, ntohs(sin6->sin6_port));
	} else {
		snprintf(ip, iplen, "local");
		snprintf(s->peer, sizeof(s->peer), "local:0");
	}
}

struct smtp_session *
smtp_session_new(struct server *srv, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen)
{
	const struct config	*cfg = srv->cfg;
	struct smtp_session	*s;
	struct bufferevent	*bev;
	char			 ip[INET6_ADDRSTRLEN], text[256];
	int			 disconnect = 0;
	int			 one = 1;

	evutil_make_socket_nonblocking(fd);
	if (sa != NULL && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6))
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("smtp bufferevent_socket_new failed");
		evutil_closesocket(fd);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->server = srv;
	s->bev = bev;
	s->id = srv->next_session_id++;
	s->state = SMTP_STATE_INIT;
	smtp_session_format_peer(s, sa, ip, sizeof(ip));
	srv->stats.sessions_total++;
	srv->stats.sessions_active++;
	TAILQ_INSERT_TAIL(&srv->sessions, s, entry);

	bufferevent_setcb(bev, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	s->timer_ev = evtimer_new(srv->base, smtp_timer_cb, s);
	s->active_ms = smtp_now_ms(s);
	if (cfg->session_deadline > 0)
		s->deadline_ms = s->active_ms + (uint64_t)cfg->session_deadline * 1000;
	smtp_session_timer_arm(s, s->active_ms);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("smtp connect session=%016" PRIx64 " peer=%s", s->id, s->peer);

	if (srv->shutting_down) {
		smtp_session_reply(s, 421, "4.3.2", "Service shutting down");
		smtp_session_close(s, "shutdown");
		return s;
	}
	if (smtp_session_rules(s, RULES_STAGE_CONNECT, ip, &disconnect)) {
		/* The greeting was replaced; a refusal leaves only QUIT */
		smtp_session_set_state(s, SMTP_STATE_REJECTED);
	} else {
		snprintf(text, sizeof(text), "%s ESMTP smtpsink", cfg->hostname);
		smtp_session_reply(s, 220, NULL, text);
	}
	if (disconnect)
		smtp_session_close(s, "rule disconnect");
	return s;
}

void
smtp_session_free(struct smtp_session *s, const char *reason)
{
	struct server	*srv;

	if (s == NULL)
		return;
	srv = s->server;
	TAILQ_REMOVE(&srv->sessions, s, entry);
	/* One line per session (connect is at debug): keeps new-connection loads cheap */
	log_info("smtp session session=%016" PRIx64 " peer=%s messages=%u reason=\"%s\" state=%s",
	    s->id, s->peer, s->messages, reason ? reason : "", smtp_strstate(s->state));
	smtp_tx_free(s->tx);
	event_free(s->timer_ev);
	if (s->delay_ev != NULL)
		event_free(s->delay_ev);
	if (s->delayed != NULL)
		evbuffer_free(s->delayed);
	bufferevent_free(s->bev);
	free(s->helo);
	free(s);
	server_session_closed(srv);
}

void
smtp_session_shutdown_all(struct server *srv, int force)
{
	struct smtp_session	*s, *next;
	struct evbuffer		*out;
	struct evbuffer_iovec	 v[4];
	int			 i, nv;

	for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (force) {
			/* Best effort: whatever is pending plus the 421, then close */
			smtp_session_undelay(s);
			if (!(s->flags & SF_CLOSING))
				smtp_session_reply(s, 421, "4.3.2", "Service shutting down");
			/* The output is frozen for draining: peek, then send */
			out = bufferevent_get_output(s->bev);
			nv = evbuffer_peek(out, -1, NULL, v, 4);
			for (i = 0; i < nv && i < 4; i++)
				if (send(bufferevent_getfd(s->bev), v[i].iov_base, v[i].iov_len,
				    MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)v[i].iov_len)
					break;
			smtp_session_free(s, "shutdown");
			continue;
		}
		if (s->flags & SF_CLOSING)
			continue;
		if (s->tx != NULL || s->state == SMTP_STATE_BDAT)
			continue;	/* closed when the transaction ends */
		smtp_session_reply(s, 421, "4.3.2", "Service shutting down");
		smtp_session_close(s, "shutdown");
	}
}
