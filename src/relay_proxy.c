/*
 * relay_proxy - the upstream side of proxy mode; see relay_proxy.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "log.h"
#include "message.h"
#include "relay.h"
#include "relay_proto.h"
#include "relay_proxy.h"
#include "smtp_client.h"
#include "stats.h"
#include "store.h"
#include "xmalloc.h"

#define PROXY_LINE_MAX 2048

struct relay_proxy {
	struct relay	     *r;
	struct smtp_client   *client;
	relay_proxy_fn	     *fn;
	void		     *arg;
	int		      ready;
	int		      failed;
	struct message	      mail; /* MAIL's sender and parameters until connected */
	struct message_relay *st;   /* until the data: then on the message */
	uint64_t	      id;
	struct evbuffer	     *payload;
	int		      bdat;
	size_t		      accepted;
	char		      cmd[PROXY_LINE_MAX]; /* the command waiting for its reply */
};

static void relay_proxy_ready(void *, int, unsigned, const char *);

struct relay_proxy *
relay_proxy_new(struct relay *r, relay_proxy_fn *fn, void *arg)
{
	struct relay_proxy *p = xcalloc(1, sizeof(*p));

	p->r = r;
	p->fn = fn;
	p->arg = arg;
	p->st = xcalloc(1, sizeof(*p->st));
	p->st->state = MSG_RELAY_PENDING;
	p->st->upstream = xstrdup(relay_upstream(r));
	p->st->attempts = 1;
	relay_stats(r)->relay_attempts++;
	p->client = relay_client_new(r, relay_proxy_ready, p);
	return p;
}

void
relay_proxy_free(struct relay_proxy *p)
{
	if (p == NULL)
		return;
	smtp_client_free(p->client);
	free(p->mail.mail_from);
	message_params_free(p->mail.mail_params, p->mail.nmail_params);
	message_relay_free(p->st);
	if (p->payload != NULL)
		evbuffer_free(p->payload);
	free(p);
}

size_t
relay_proxy_accepted(const struct relay_proxy *p)
{
	return p->accepted;
}

/* Where the upstream's replies go: the proxy's record, then the message's */
static struct message_relay *
relay_proxy_status(struct relay_proxy *p)
{
	struct message *m;

	if (p->st != NULL)
		return p->st;
	m = store_get(relay_store(p->r), p->id);
	return m != NULL ? message_relay_get(m) : NULL;
}

static void
relay_proxy_record(struct relay_proxy *p, const char *cmd, unsigned code, const char *text)
{
	struct message_relay *st = relay_proxy_status(p);

	if (st != NULL)
		message_relay_add_reply(st, cmd, code, text);
}

/* Answers the session: the upstream's reply, or 451 4.4.1 when there was none */
static void
relay_proxy_answer(struct relay_proxy *p, unsigned code, const char *text)
{
	char line[600];

	if (code == 0) {
		p->failed = 1;
		snprintf(line, sizeof(line), "451 4.4.1 upstream unavailable: %.400s", text);
		code = 451;
	} else
		snprintf(line, sizeof(line), "%u %.*s", code, (int)strcspn(text, "\n"), text);
	p->fn(p->arg, code, line);
}

static void
relay_proxy_mail_reply(void *arg, unsigned code, const char *text)
{
	struct relay_proxy *p = arg;

	relay_proxy_record(p, p->cmd, code, text);
	relay_proxy_answer(p, code, text);
}

static void
relay_proxy_send_mail(struct relay_proxy *p)
{
	char why[256], line[700];

	if (relay_proto_mail(p->cmd, sizeof(p->cmd), &p->mail, NULL, smtp_client_caps(p->client),
		why, sizeof(why)) == -1) {
		relay_proxy_record(p, "MAIL", 0, why);
		p->failed = 1;
		snprintf(line, sizeof(line), "550 5.6.0 upstream cannot take it: %s", why);
		p->fn(p->arg, 550, line);
		return;
	}
	smtp_client_cmd(p->client, p->cmd, relay_proxy_mail_reply, p);
}

static void
relay_proxy_ready(void *arg, int ok, unsigned code, const char *text)
{
	struct relay_proxy *p = arg;

	if (!ok) {
		relay_proxy_record(p, "CONNECT", code, text);
		relay_proxy_answer(p, 0, text);
		return;
	}
	p->ready = 1;
	if (p->mail.mail_from != NULL)
		relay_proxy_send_mail(p);
}

void
relay_proxy_mail(struct relay_proxy *p, const char *from, const struct esmtp_param *params,
    size_t nparams, enum message_body_type body_type, int smtputf8)
{
	size_t i;

	p->mail.mail_from = xstrdup(from);
	p->mail.nmail_params = nparams;
	p->mail.mail_params = nparams ? xcalloc(nparams, sizeof(*params)) : NULL;
	for (i = 0; i < nparams; i++) {
		p->mail.mail_params[i].name = xstrdup(params[i].name);
		p->mail.mail_params[i].value = xstrdup(params[i].value);
	}
	p->mail.body_type = body_type;
	p->mail.smtputf8 = smtputf8;
	if (p->ready)
		relay_proxy_send_mail(p);
}

static void
relay_proxy_rcpt_reply(void *arg, unsigned code, const char *text)
{
	struct relay_proxy   *p = arg;
	struct message_relay *st = relay_proxy_status(p);
	const char	     *addr = p->cmd + 9; /* "RCPT TO:<" */

	relay_proxy_record(p, p->cmd, code, text);
	if (code / 100 == 2 && st != NULL) {
		p->accepted++;
		st->rcpt_to = xreallocarray(st->rcpt_to, st->nrcpt_to + 1, sizeof(*st->rcpt_to));
		st->rcpt_to[st->nrcpt_to++] = xstrndup(addr, strcspn(addr, ">"));
	}
	relay_proxy_answer(p, code, text);
}

void
relay_proxy_rcpt(struct relay_proxy *p, const char *addr, const struct esmtp_param *params,
    size_t nparams)
{
	if (relay_proto_rcpt(p->cmd, sizeof(p->cmd), addr, params, nparams,
		smtp_client_caps(p->client)) == -1)
		snprintf(p->cmd, sizeof(p->cmd), "RCPT TO:<%.*s>", (int)sizeof(p->cmd) - 16, addr);
	smtp_client_cmd(p->client, p->cmd, relay_proxy_rcpt_reply, p);
}

/* The upstream's answer to the data: the message's state, then the client's reply */
static void
relay_proxy_final(void *arg, unsigned code, const char *text)
{
	struct relay_proxy   *p = arg;
	struct message_relay *st;
	char		      shown[600];

	/* No reply: the connection is gone (recorded as the async relay does) */
	relay_proxy_record(p,
	    code == 0	? "CONNECTION" :
		p->bdat ? "BDAT" :
			  "END-OF-MESSAGE",
	    code, text);
	if ((st = relay_proxy_status(p)) != NULL) {
		if (code != 0)
			snprintf(shown, sizeof(shown), "%u %.*s", code, (int)strcspn(text, "\n"),
			    text);
		else
			snprintf(shown, sizeof(shown), "%.500s", text);
		message_relay_set_last(st, shown);
		st->state = code / 100 == 2 ? MSG_RELAY_RELAYED : MSG_RELAY_FAILED;
		if (code / 100 == 2)
			clock_gettime(CLOCK_REALTIME, &st->relayed_at);
	}
	if (code / 100 == 2)
		relay_stats(p->r)->relay_relayed++;
	else
		relay_stats(p->r)->relay_failed++;
	log_info("relay proxy id=%llu reply=%u", (unsigned long long)p->id, code);
	relay_proxy_answer(p, code, text);
}

static void
relay_proxy_data_reply(void *arg, unsigned code, const char *text)
{
	struct relay_proxy *p = arg;

	if (code == 354) {
		relay_proxy_record(p, "DATA", code, text);
		smtp_client_raw(p->client, p->payload, relay_proxy_final, p);
		p->payload = NULL;
		return;
	}
	relay_proxy_final(p, code, text);
}

/* The data would have to change to go by DATA: refused, never altered */
static void
relay_proxy_nochunk(void *arg, unsigned code, const char *text)
{
	struct relay_proxy *p = arg;

	relay_proxy_final(p, 554,
	    "5.6.0 message does not end in CRLF and upstream does not offer CHUNKING");
}

void
relay_proxy_data(struct relay_proxy *p, uint64_t id)
{
	struct message *m = store_get(relay_store(p->r), id);

	p->id = id;
	if (m == NULL) {
		relay_proxy_answer(p, 0, "message no longer stored");
		return;
	}
	message_relay_free(m->relay);
	m->relay = p->st; /* the record moves onto the message */
	p->st = NULL;
	p->payload = evbuffer_new();
	p->bdat = relay_proto_use_bdat(m);
	if (p->bdat && !(smtp_client_caps(p->client)->flags & RELAY_CAP_CHUNKING)) {
		/* Answered from the loop (after an RSET), as every other step */
		smtp_client_cmd(p->client, "RSET", relay_proxy_nochunk, p);
		return;
	}
	if (p->bdat) {
		evbuffer_add_printf(p->payload, "BDAT %zu LAST\r\n", m->size);
		evbuffer_add(p->payload, m->data, m->size);
		smtp_client_raw(p->client, p->payload, relay_proxy_final, p);
		p->payload = NULL;
	} else {
		relay_proto_stuff(p->payload, m->data, m->size);
		smtp_client_cmd(p->client, "DATA", relay_proxy_data_reply, p);
	}
}
