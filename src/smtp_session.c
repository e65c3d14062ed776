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
 * timer, smtp_session_shutdown_all() (force) and smtp_sessions_free_all() call
 * smtp_session_free(); no code runs on a freed session. A transaction not
 * completed at close is dropped: nothing partial reaches the store.
 *
 * TLS (tls.c does the OpenSSL side): an implicit-TLS session starts on a
 * TLS bufferevent, its greeting waiting in the output until the handshake
 * is done. STARTTLS (RFC 3207) writes its 220, discards the session's state
 * and every byte of input already buffered (plaintext pipelined after
 * STARTTLS is never executed inside TLS), stops reading, and once the 220
 * is out hands the descriptor from the plaintext bufferevent to a TLS one.
 * The handshake counts as idle time: a client that stalls in it is freed
 * by the timer; a failed handshake frees only its own session. SF_TLS is
 * set once the handshake completed. Nothing plain is written into a TLS
 * stream: the lingering close and the forced shutdown go through tls.c.
 *
 * Memory: an idle session is this struct, the bufferevent and one timer; no
 * transaction, no buffered input (TLS adds the SSL object, whose buffers
 * are released while idle). A transaction (struct smtp_tx) exists from
 * MAIL to the end of data, and its body moves into the message.
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

#include "deliver.h"
#include "log.h"
#include "relay_proxy.h"
#include "smtp_session_internal.h"
#include "stats.h"
#include "tls.h"
#include "xmalloc.h"

#define SMTP_OUTPUT_HIGH    (64 * 1024)
#define SMTP_OUTPUT_LOW	    (32 * 1024)
#define SMTP_SNDBUF	    (64 * 1024) /* SO_SNDBUF of accepted sockets */
#define SMTP_INPUT_SLACK    (64 * 1024) /* input kept beyond the line limit */
#define SMTP_LINGER_SECS    2		/* lingering close: read and discard this long */
#define SMTP_LINGER_STOP_MS 100		/* ... while the sink is stopping (docker stop) */

static void	smtp_read_cb(struct bufferevent *, void *);
static void	smtp_write_cb(struct bufferevent *, void *);
static void	smtp_event_cb(struct bufferevent *, short, void *);
static void	smtp_timer_cb(evutil_socket_t, short, void *);
static void	smtp_delay_cb(evutil_socket_t, short, void *);
static void	smtp_session_process(struct smtp_session *);
static void	smtp_session_linger(struct smtp_session *);
static uint64_t smtp_now_ms(struct smtp_session *);

static const char *const smtp_state_names[] = {
	"init",
	"helo",
	"mail",
	"rcpt",
	"data",
	"bdat",
	"rejected",
	"quit",
};

const char *
smtp_strstate(enum smtp_state st)
{
	if ((unsigned)st >= sizeof(smtp_state_names) / sizeof(smtp_state_names[0]))
		return "unknown";
	return smtp_state_names[st];
}

void
smtp_session_set_state(struct smtp_session *s, enum smtp_state st)
{
	if (s->state == st)
		return;
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("smtp state session=%016" PRIx64 " from=%s to=%s", s->id,
		    smtp_strstate(s->state), smtp_strstate(st));
	s->state = st;
}

/* ----- transactions ----- */

static void
smtp_params_free(struct esmtp_param *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

struct esmtp_param *
smtp_params_copy(const struct smtp_proto_param *in, size_t n)
{
	struct esmtp_param *p;
	size_t		    i;

	if (n == 0)
		return NULL;
	p = xreallocarray(NULL, n, sizeof(*p));
	for (i = 0; i < n; i++) {
		p[i].name = xstrdup(in[i].keyword);
		p[i].value = xstrdup(in[i].value ? in[i].value : "");
	}
	return p;
}

void
smtp_tx_free(struct smtp_tx *tx)
{
	size_t i;

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

void
smtp_session_tx_end(struct smtp_session *s)
{
	smtp_tx_free(s->tx);
	s->tx = NULL;
	smtp_session_set_state(s, s->helo != NULL ? SMTP_STATE_HELO : SMTP_STATE_INIT);
}

/* ----- output ----- */

void
smtp_session_write(struct smtp_session *s, const char *p, size_t n)
{
	if (s->flags & SF_HOLD)
		evbuffer_add(s->delayed, p, n);
	else
		evbuffer_add(bufferevent_get_output(s->bev), p, n);
}

void
smtp_session_reply(struct smtp_session *s, unsigned code, const char *enh, const char *text)
{
	char   r[SMTP_REPLY_MAX];
	size_t n;

	n = smtp_proto_reply(r, sizeof(r), code, enh, smtp_session_ext(s, EXT_ENHANCEDSTATUSCODES),
	    text, 0);
	smtp_session_write(s, r, n);
}

void
smtp_session_reply_line(struct smtp_session *s, const char *line)
{
	char   r[SMTP_REPLY_MAX];
	size_t n;

	n = smtp_proto_reply_line(r, sizeof(r), line, smtp_session_ext(s, EXT_ENHANCEDSTATUSCODES));
	smtp_session_write(s, r, n);
}

/*
 * Marks the session for closing: input stops, the output is flushed and the
 * write callback frees the session. Never frees here.
 */
void
smtp_session_close(struct smtp_session *s, const char *reason)
{
	if (s->flags & SF_CLOSING)
		return;
	s->flags |= SF_CLOSING;
	s->close_reason = reason;
	smtp_session_set_state(s, SMTP_STATE_QUIT);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (!(s->flags & SF_HOLD))
		bufferevent_trigger(s->bev, EV_WRITE,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* A client error: counted; past cfg->error_max the session is closed. */
void
smtp_session_error(struct smtp_session *s, unsigned code, const char *enh, const char *text)
{
	char host[128];

	smtp_session_reply(s, code, enh, text);
	if (++s->errors >= s->owner->cfg->error_max) {
		s->owner->stats->limit_breaches++;
		snprintf(host, sizeof(host), "%s Error: too many errors", s->owner->cfg->hostname);
		smtp_session_reply(s, 421, "4.7.0", host);
		log_info("smtp limit session=%016" PRIx64 " limit=errors errors=%u", s->id,
		    s->errors);
		smtp_session_close(s, "too many errors");
	}
}

/* Holds replies and input processing for ms milliseconds. */
void
smtp_session_delay(struct smtp_session *s, unsigned ms)
{
	struct timeval tv;

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
	if (!(s->flags & SF_PROXY_WAIT))
		evbuffer_add_buffer(bufferevent_get_output(s->bev), s->delayed);
}

void
smtp_session_proxy_wait(struct smtp_session *s)
{
	if (s->delayed == NULL)
		s->delayed = evbuffer_new();
	s->flags |= SF_PROXY_WAIT;
}

void
smtp_session_proxy_resume(struct smtp_session *s)
{
	if (!(s->flags & SF_PROXY_WAIT))
		return;
	s->flags &= ~SF_PROXY_WAIT;
	if (s->flags & SF_DELAY)
		return; /* the delay timer releases it all */
	evbuffer_add_buffer(bufferevent_get_output(s->bev), s->delayed);
	/* Input waiting: processed from the loop, not inside the upstream's callback */
	bufferevent_trigger(s->bev, (s->flags & SF_CLOSING) ? EV_WRITE : EV_READ,
	    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void
smtp_session_proxy_end(struct smtp_session *s)
{
	relay_proxy_free(s->proxy);
	s->proxy = NULL;
	s->proxy_step = SMTP_PROXY_NONE;
	free(s->proxy_rcpt.addr);
	message_params_free(s->proxy_rcpt.params, s->proxy_rcpt.nparams);
	memset(&s->proxy_rcpt, 0, sizeof(s->proxy_rcpt));
}

static void
smtp_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;

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
int
smtp_session_rules(struct smtp_session *s, enum rules_stage stage, const char *subject,
    int *disconnect)
{
	struct rules_action act;
	char		    subj[LOG_SANITIZE_MAX];

	*disconnect = 0;
	if (!rules_eval(s->owner->rules, stage, &subject, 1, &act))
		return 0;
	log_info("smtp rule session=%016" PRIx64
		 " rule=%s stage=%s subject=%s code=%u delay_ms=%u disconnect=%d",
	    s->id, act.rule_id, rules_stage_str(stage),
	    log_sanitize(subj, sizeof(subj), subject, strlen(subject)), act.code, act.delay_ms,
	    act.disconnect);
	smtp_session_delay(s, act.delay_ms);
	*disconnect = act.disconnect;
	if (act.code == 0)
		return 0;
	smtp_session_reply_line(s, act.reply);
	if (stage == RULES_STAGE_RCPT_TO)
		s->owner->stats->rcpts_rejected++;
	return 1;
}

/* ----- message end ----- */

static void
smtp_session_deliver(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct message *m;
	char		reply[SMTP_REPLY_MAX];
	unsigned	delay_ms;
	int		disconnect;

	if (tx->scan.status & SMTP_PROTO_DATA_SIZE) {
		s->owner->stats->limit_breaches++;
		log_info("smtp limit session=%016" PRIx64 " limit=size size=%zu", s->id,
		    tx->scan.total);
		smtp_session_tx_end(s);
		smtp_session_reply(s, 552, "5.3.4",
		    "Error: message size exceeds fixed maximum message size");
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
	smtp_auth_session_stamp(s, m);
	m->tls = (s->flags & SF_TLS) != 0;
	m->tls_version = s->tls_version;
	m->tls_cipher = s->tls_cipher;
	smtp_session_tx_end(s);

	if (deliver_message(s->owner->deliver, m, reply, sizeof(reply), &disconnect, &delay_ms) ==
	    0) {
		s->messages++;
		if (s->proxy != NULL && relay_proxy_accepted(s->proxy) > 0) {
			/* Proxy mode: the client's reply is the upstream's */
			smtp_session_delay(s, delay_ms);
			s->proxy_step = SMTP_PROXY_DATA;
			smtp_session_proxy_wait(s);
			relay_proxy_data(s->proxy, s->owner->deliver->stored_id);
			return;
		}
	}
	smtp_session_proxy_end(s);
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
	struct evbuffer_iovec v[8];
	struct smtp_tx	     *tx = s->tx;
	size_t		      used, consumed;
	int		      i, nv;

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
			s->owner->stats->limit_breaches++;
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
	struct evbuffer_iovec v[8];
	struct smtp_tx	     *tx = s->tx;
	size_t		      n, consumed;
	int		      i, nv;
	char		      text[64];

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
		s->owner->stats->limit_breaches++;
		log_info("smtp limit session=%016" PRIx64 " limit=size size=%zu", s->id,
		    tx->scan.total);
		smtp_session_tx_end(s);
		smtp_session_reply(s, 552, "5.3.4",
		    "Error: message size exceeds fixed maximum message size");
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
	struct evbuffer_iovec v;
	struct evbuffer_ptr   ptr;
	size_t		      avail, len, total, max, eol;
	const char	     *nl;
	char		     *line;

	if ((avail = evbuffer_get_length(in)) == 0)
		return 0;
	evbuffer_peek(in, -1, NULL, &v, 1);
	max = smtp_auth_line_max(s, v.iov_base, v.iov_len);
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
	len--; /* LF */
	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	if (smtp_auth_session_line(s, line, len))
		; /* an answer to a 334, not a command */
	else if (memchr(line, '\0', len) != NULL)
		smtp_session_error(s, 500, "5.5.2", "Error: NUL in command");
	else
		smtp_cmd_run(s, line, avail > total);
	evbuffer_drain(in, total);
	return 1;

toolong:
	s->owner->stats->limit_breaches++;
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
	size_t len = evbuffer_get_length(bufferevent_get_input(s->bev));

	if (len >= s->owner->cfg->smtp_line_max + SMTP_INPUT_SLACK) {
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

/*
 * Input buffered behind STARTTLS is plaintext the client sent before TLS:
 * dropped, never executed (CVE-2011-0411 and its kind).
 */
static void
smtp_session_starttls_discard(struct smtp_session *s, struct evbuffer *in)
{
	size_t n = evbuffer_get_length(in);

	if (n == 0)
		return;
	log_info("smtp starttls session=%016" PRIx64 " discarded=%zu", s->id, n);
	evbuffer_drain(in, n);
}

void
smtp_session_starttls(struct smtp_session *s)
{
	smtp_tx_free(s->tx);
	s->tx = NULL;
	free(s->helo);
	s->helo = NULL;
	smtp_auth_session_reset(s); /* RFC 3207 §4.2: AUTH state is discarded too */
	s->flags &= ~SF_EHLO;
	s->flags |= SF_STARTTLS;
	smtp_session_set_state(s, SMTP_STATE_INIT);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	bufferevent_trigger(s->bev, EV_WRITE,
	    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* The session's callbacks on a TLS bufferevent; the handshake begins */
static void
smtp_session_tls_attach(struct smtp_session *s, struct bufferevent *bev)
{
	s->bev = bev;
	s->flags |= SF_HANDSHAKE;
	bufferevent_setcb(bev, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* The 220 to STARTTLS is out: the descriptor moves to a TLS bufferevent. */
static void
smtp_session_tls_start(struct smtp_session *s)
{
	evutil_socket_t	    fd = bufferevent_getfd(s->bev);
	struct bufferevent *bev;

	s->flags &= ~(SF_STARTTLS | SF_INPUT_FULL | SF_BACKPRESSURE);
	if ((bev = tls_bev_new(s->owner->tls, s->owner->base, fd)) == NULL) {
		smtp_session_free(s, "tls setup failed");
		return;
	}
	/* The plaintext bufferevent must not close the descriptor it gives away */
	bufferevent_setfd(s->bev, -1);
	bufferevent_free(s->bev);
	smtp_session_tls_attach(s, bev);
}

/* The handshake completed */
static void
smtp_session_tls_ready(struct smtp_session *s)
{
	s->flags &= ~SF_HANDSHAKE;
	s->flags |= SF_TLS;
	s->active_ms = smtp_now_ms(s);
	tls_bev_info(s->bev, &s->tls_version, &s->tls_cipher);
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("smtp tls session=%016" PRIx64 " version=%s cipher=%s", s->id,
		    s->tls_version, s->tls_cipher);
}

static void
smtp_session_process(struct smtp_session *s)
{
	struct evbuffer	    *in = bufferevent_get_input(s->bev);
	struct evbuffer	    *out = bufferevent_get_output(s->bev);
	const struct config *cfg = s->owner->cfg;
	unsigned	     n = 0, max = cfg->cmds_per_wakeup ? cfg->cmds_per_wakeup : 1;
	int		     r;

	while (!(s->flags & (SF_HOLD | SF_BACKPRESSURE | SF_CLOSING | SF_STARTTLS))) {
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
		if (s->owner->stopping && s->tx == NULL &&
		    !(s->flags & (SF_CLOSING | SF_STARTTLS)) && s->state != SMTP_STATE_BDAT) {
			smtp_session_reply(s, 421, "4.3.2", "Service shutting down");
			smtp_session_close(s, "shutdown");
		}
		if (evbuffer_get_length(out) > SMTP_OUTPUT_HIGH && !(s->flags & SF_CLOSING)) {
			s->flags |= SF_BACKPRESSURE;
			bufferevent_disable(s->bev, EV_READ);
			bufferevent_setwatermark(s->bev, EV_WRITE, SMTP_OUTPUT_LOW, 0);
		}
	}
	if (s->flags & SF_STARTTLS) {
		smtp_session_starttls_discard(s, in);
		return;
	}
	if ((s->flags & SF_EOF) && !(s->flags & (SF_HOLD | SF_BACKPRESSURE | SF_CLOSING))) {
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
	struct smtp_session *s = arg;
	struct evbuffer	    *in;

	if (s->flags & (SF_LINGER | SF_STARTTLS)) {
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
	struct evbuffer *in = bufferevent_get_input(s->bev);

	/* Stopping: an idle client (a connection pool) must not hold up the exit */
	if (s->owner->stopping) {
		tv.tv_sec = 0;
		tv.tv_usec = SMTP_LINGER_STOP_MS * 1000;
	}
	s->flags |= SF_LINGER;
	if (s->flags & SF_TLS)
		tls_bev_close_notify(s->bev);
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
	struct smtp_session *s = arg;
	struct evbuffer	    *out = bufferevent_get_output(bev);

	s->active_ms = smtp_now_ms(s);
	if (s->flags & SF_CLOSING) {
		if ((s->flags & (SF_HOLD | SF_LINGER)) || evbuffer_get_length(out) > 0)
			return;
		if (s->flags & (SF_EOF | SF_NOLINGER)) {
			if ((s->flags & (SF_TLS | SF_EOF)) == SF_TLS)
				tls_bev_close_notify(s->bev);
			smtp_session_free(s, s->close_reason);
		} else
			smtp_session_linger(s);
		return;
	}
	if (s->flags & SF_STARTTLS) {
		if (evbuffer_get_length(out) == 0)
			smtp_session_tls_start(s);
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
	struct smtp_session *s = arg;
	char		     why[320], e[256];

	if (s->flags & SF_LINGER) {
		smtp_session_free(s, s->close_reason);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		smtp_session_tls_ready(s);
		return;
	}
	if ((what & BEV_EVENT_ERROR) && (s->flags & (SF_TLS | SF_HANDSHAKE))) {
		snprintf(why, sizeof(why), "tls %s: %s",
		    s->flags & SF_HANDSHAKE ? "handshake failed" : "error",
		    tls_bev_error(bev, e, sizeof(e)));
		smtp_session_free(s, why);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		smtp_session_free(s, "connection error");
		return;
	}
	if ((what & BEV_EVENT_EOF) && (s->flags & SF_HANDSHAKE)) {
		/* Nothing can reach a client that left mid-handshake */
		smtp_session_free(s, "client closed during tls handshake");
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
	struct timeval tv;

	event_base_gettimeofday_cached(bufferevent_get_base(s->bev), &tv);
	return (uint64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/*
 * Arms the session timer for the earlier of the idle limit (measured from
 * the last activity) and the deadline. Activity itself only records a
 * time: the timer is re-armed when it fires, not on every read and write,
 * which keeps the event heap out of the per-command path.
 */
/*
 * The idle limit in force: --idle-timeout, or the shorter
 * --stress-idle-timeout while the sessions are under stress (Postfix's
 * stress-adaptive behaviour: idle clients give their slots back quickly).
 */
static uint64_t
smtp_session_idle_ms(const struct smtp_session *s)
{
	const struct config *cfg = s->owner->cfg;
	uint64_t	     idle = cfg->idle_timeout_ms, st = cfg->stress_idle_timeout_ms;

	if (s->owner->stressed && st > 0 && (idle == 0 || st < idle))
		return st;
	return idle;
}

static void
smtp_session_timer_arm(struct smtp_session *s, uint64_t now)
{
	uint64_t       at = 0, idle = smtp_session_idle_ms(s);
	struct timeval tv;

	if (idle > 0)
		at = s->active_ms + idle;
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
	struct smtp_session *s = arg;
	const struct config *cfg = s->owner->cfg;
	uint64_t	     now = smtp_now_ms(s), idle = smtp_session_idle_ms(s);
	const char	    *why = NULL;
	char		     text[128];

	if (s->flags & SF_LINGER) {
		smtp_session_free(s, s->close_reason);
		return;
	}
	if (s->deadline_ms != 0 && now >= s->deadline_ms)
		why = "session deadline";
	else if (idle > 0 && now - s->active_ms >= idle) {
		if (s->flags & SF_HOLD)
			s->active_ms = now; /* we are the ones waiting */
		else
			why = "idle timeout";
	}
	if (why == NULL) {
		smtp_session_timer_arm(s, now);
		return;
	}
	if (s->flags & SF_HANDSHAKE) {
		/* No reply can be sent before the handshake is done */
		log_info("smtp timeout session=%016" PRIx64 " state=tls-handshake reason=\"%s\"",
		    s->id, why);
		smtp_session_free(s, "tls handshake timeout");
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
	smtp_session_proxy_end(s);
	s->flags &= ~SF_PROXY_WAIT;
	smtp_session_undelay(s);
	if (s->delayed != NULL)
		evbuffer_add_buffer(bufferevent_get_output(s->bev), s->delayed);
	smtp_session_reply(s, 421, "4.4.2", text);
	smtp_session_close(s, why);
	/* One more idle period for the 421 to leave, then free regardless */
	s->active_ms = now;
	s->deadline_ms = 0;
	if (idle == 0)
		s->deadline_ms = now + 1000 * SMTP_LINGER_SECS;
	smtp_session_timer_arm(s, now);
}

/* ----- life cycle ----- */

/*
 * Stress (Postfix's smtpd stress): on above 80 % of max_sessions, off below
 * 70 % (no flapping at the edge). Turning it on re-arms every session's
 * timer so idle ones get the short limit now, not at their old expiry.
 */
static void
smtp_sessions_stress_update(struct smtp_sessions *ss)
{
	uint64_t	     active = ss->stats->sessions_active, max = ss->cfg->max_sessions;
	struct smtp_session *s;
	int		     on;

	if (max == 0 || ss->cfg->stress_idle_timeout_ms == 0)
		return;
	on = ss->stressed ? active * 10 >= max * 7 : active * 10 > max * 8;
	if (on == ss->stressed)
		return;
	ss->stressed = on;
	log_info("smtp stress=%s sessions=%llu max_sessions=%llu", on ? "on" : "off",
	    (unsigned long long)active, (unsigned long long)max);
	if (!on)
		return; /* the longer limit applies when each timer fires */
	TAILQ_FOREACH(s, &ss->list, entry)
	if (!(s->flags & SF_LINGER))
		smtp_session_timer_arm(s, smtp_now_ms(s));
}

void
smtp_sessions_init(struct smtp_sessions *ss)
{
	TAILQ_INIT(&ss->list);
	ss->next_id = 1;
	ss->stopping = 0;
	ss->stressed = 0;
}

void
smtp_sessions_free_all(struct smtp_sessions *ss, const char *reason)
{
	struct smtp_session *s;

	while ((s = TAILQ_FIRST(&ss->list)) != NULL)
		smtp_session_free(s, reason);
}

int
smtp_sessions_empty(const struct smtp_sessions *ss)
{
	return TAILQ_EMPTY(&ss->list);
}

static void
smtp_session_format_peer(struct smtp_session *s, const struct sockaddr *sa, char *ip, size_t iplen)
{
	const struct sockaddr_in  *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

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

/* A new session on fd; tls: implicit TLS (the handshake comes first) */
static struct smtp_session *
smtp_session_start(struct smtp_sessions *ss, evutil_socket_t fd, const struct sockaddr *sa, int tls)
{
	const struct config *cfg = ss->cfg;
	struct smtp_session *s;
	struct bufferevent  *bev;
	char		     ip[INET6_ADDRSTRLEN], text[256];
	int		     disconnect = 0;
	int		     one = 1;
	int		     sndbuf = SMTP_SNDBUF;

	evutil_make_socket_nonblocking(fd);
	if (sa != NULL && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6))
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/*
	 * Bound what the kernel queues for a client that does not read: left
	 * to autotuning it grows to megabytes per socket, and the session goes
	 * on reading and answering long after SMTP_OUTPUT_HIGH should have
	 * stopped it. Replies are small; this does not slow a reading client.
	 */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	bev = tls ? tls_bev_new(ss->tls, ss->base, fd) :
		    bufferevent_socket_new(ss->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warnx("smtp bufferevent_socket_new failed tls=%d", tls);
		evutil_closesocket(fd);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->owner = ss;
	s->bev = bev;
	s->id = ss->next_id++;
	s->state = SMTP_STATE_INIT;
	smtp_session_format_peer(s, sa, ip, sizeof(ip));
	ss->stats->sessions_total++;
	ss->stats->sessions_active++;
	TAILQ_INSERT_TAIL(&ss->list, s, entry);

	bufferevent_setcb(bev, smtp_read_cb, smtp_write_cb, smtp_event_cb, s);
	if (tls)
		s->flags |= SF_HANDSHAKE;
	s->timer_ev = evtimer_new(ss->base, smtp_timer_cb, s);
	s->active_ms = smtp_now_ms(s);
	if (cfg->session_deadline_ms > 0)
		s->deadline_ms = s->active_ms + cfg->session_deadline_ms;
	smtp_session_timer_arm(s, s->active_ms);
	smtp_sessions_stress_update(ss); /* after the timer exists: it may re-arm all */
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("smtp connect session=%016" PRIx64 " peer=%s", s->id, s->peer);

	if (ss->stopping) {
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

struct smtp_session *
smtp_session_new(struct smtp_sessions *ss, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen)
{
	return smtp_session_start(ss, fd, sa, 0);
}

struct smtp_session *
smtp_session_new_tls(struct smtp_sessions *ss, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen)
{
	return smtp_session_start(ss, fd, sa, ss->tls != NULL);
}

void
smtp_session_free(struct smtp_session *s, const char *reason)
{
	struct smtp_sessions *ss;

	if (s == NULL)
		return;
	ss = s->owner;
	TAILQ_REMOVE(&ss->list, s, entry);
	if (ss->stats->sessions_active > 0)
		ss->stats->sessions_active--;
	smtp_sessions_stress_update(ss);
	/* One line per session (connect is at debug): keeps new-connection loads cheap */
	log_info("smtp session session=%016" PRIx64 " peer=%s messages=%u reason=\"%s\" state=%s",
	    s->id, s->peer, s->messages, reason ? reason : "", smtp_strstate(s->state));
	smtp_tx_free(s->tx);
	smtp_session_proxy_end(s);
	smtp_auth_session_reset(s);
	event_free(s->timer_ev);
	if (s->delay_ev != NULL)
		event_free(s->delay_ev);
	if (s->delayed != NULL)
		evbuffer_free(s->delayed);
	bufferevent_free(s->bev);
	free(s->helo);
	free(s);
	if (ss->closed != NULL)
		ss->closed(ss->closed_arg);
}

void
smtp_session_shutdown_all(struct smtp_sessions *ss, int force)
{
	struct smtp_session  *s, *next;
	struct evbuffer	     *out;
	struct evbuffer_iovec v[4];
	int		      i, nv;

	ss->stopping = 1;
	for (s = TAILQ_FIRST(&ss->list); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (force) {
			/* Best effort: whatever is pending plus the 421, then close */
			smtp_session_proxy_end(s);
			s->flags &= ~SF_PROXY_WAIT;
			smtp_session_undelay(s);
			if (s->delayed != NULL)
				evbuffer_add_buffer(bufferevent_get_output(s->bev), s->delayed);
			if (!(s->flags & SF_CLOSING))
				smtp_session_reply(s, 421, "4.3.2", "Service shutting down");
			if (s->flags & (SF_TLS | SF_HANDSHAKE)) {
				/* Encrypted, or nothing before the handshake is done */
				tls_bev_flush_now(s->bev);
				smtp_session_free(s, "shutdown");
				continue;
			}
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
			continue; /* closed when the transaction ends */
		smtp_session_reply(s, 421, "4.3.2", "Service shutting down");
		smtp_session_close(s, "shutdown");
	}
}
