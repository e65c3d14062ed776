/*
 * deliver - end of data: DATA rules, the embedding handler, the store, the
 * waiters' kick and the --print dump. See deliver.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "deliver.h"
#include "log.h"
#include "message.h"
#include "relay.h"
#include "rules.h"
#include "stats.h"
#include "store.h"
#include "waiters.h"
#include "xmalloc.h"

static void deliver_print(const struct message *);

/* A handler's reply must look like an SMTP reply: 4xx/5xx then text. */
static void
deliver_handler_reply(const char *r, char *reply, size_t replylen)
{
	size_t n = strcspn(r, "\r\n");

	if (n >= 3 && (r[0] == '4' || r[0] == '5') && r[1] >= '0' && r[1] <= '9' && r[2] >= '0' &&
	    r[2] <= '9' && (r[3] == ' ' || n == 3))
		snprintf(reply, replylen, "%.*s", (int)n, r);
	else
		snprintf(reply, replylen, "550 5.7.1 %.*s", (int)n, r);
}

int
deliver_is_full(const struct deliver *d)
{
	return d->cfg->on_full == CONFIG_ON_FULL_REJECT && !store_has_room(d->store, 0);
}

int
deliver_message(struct deliver *d, struct message *msg, char *reply, size_t replylen,
    int *disconnect, unsigned *delay_ms)
{
	struct rules_action act;
	const char	   *subjects[64] = { NULL }, **subj = subjects, *hr;
	char		    from[LOG_SANITIZE_MAX];
	uint64_t	    id;
	size_t		    i;
	int		    fired;

	*disconnect = 0;
	*delay_ms = 0;
	if (msg->nrcpts > sizeof(subjects) / sizeof(subjects[0]))
		subj = xreallocarray(NULL, msg->nrcpts, sizeof(*subj));
	for (i = 0; i < msg->nrcpts; i++)
		subj[i] = msg->rcpts[i].addr;
	fired = rules_eval(d->rules, RULES_STAGE_DATA, subj, msg->nrcpts, &act);
	if (subj != subjects)
		free(subj);
	if (fired) {
		*delay_ms = act.delay_ms;
		*disconnect = act.disconnect;
		if (act.code != 0) {
			snprintf(reply, replylen, "%s", act.reply);
			d->stats->messages_rejected++;
			log_info("message rejected session=%016llx rule=%s reply=%.3s",
			    (unsigned long long)msg->session_id, act.rule_id, act.reply);
			message_free(msg);
			return -1;
		}
	}
	if (d->handler != NULL && (hr = d->handler(d->handler_arg, msg)) != NULL) {
		deliver_handler_reply(hr, reply, replylen);
		d->stats->messages_rejected++;
		log_info("message rejected session=%016llx handler=1 reply=%.3s",
		    (unsigned long long)msg->session_id, reply);
		message_free(msg);
		return -1;
	}

	msg = message_pack(msg); /* one allocation per stored message */
	if (d->cfg->on_full == CONFIG_ON_FULL_REJECT &&
	    !store_has_room(d->store, message_footprint(msg))) {
		snprintf(reply, replylen, "452 4.3.1 Insufficient system storage");
		d->stats->messages_rejected++;
		log_info("message rejected session=%016llx store=full reply=452",
		    (unsigned long long)msg->session_id);
		message_free(msg);
		return -1;
	}
	id = store_put(d->store, msg); /* msg stays valid until we return to the loop */
	d->stored_id = id;
	d->stats->messages_received++;
	d->stats->bytes_received += msg->size;
	waiters_kick(d->waiters);
	if (d->relay != NULL)
		relay_message_stored(d->relay, msg);
	snprintf(reply, replylen, "250 2.0.0 Ok: queued as %llu", (unsigned long long)id);
	if (log_enabled(LOG_LEVEL_INFO))
		log_info("message stored session=%016llx id=%llu from=<%s> rcpts=%zu size=%zu",
		    (unsigned long long)msg->session_id, (unsigned long long)id,
		    log_sanitize(from, sizeof(from), msg->mail_from, strlen(msg->mail_from)),
		    msg->nrcpts, msg->size);
	if (d->cfg->print)
		deliver_print(msg);
	return 0;
}

/*
 * smtpd.DebuggingServer's format: the envelope, then the message with an
 * X-Peer header inserted at the end of the header block (display only: the
 * stored bytes are untouched).
 */
static void
deliver_print(const struct message *m)
{
	const char *p = m->data, *end = m->data + m->size, *nl;
	char	    peerip[128];
	size_t	    i, j, n;
	int	    inheaders = 1;

	snprintf(peerip, sizeof(peerip), "%s", m->peer);
	if (peerip[0] == '[') {
		memmove(peerip, peerip + 1, strlen(peerip));
		*strchrnul(peerip, ']') = '\0';
	} else if (strchr(peerip, ':') == strrchr(peerip, ':'))
		*strchrnul(peerip, ':') = '\0';
	printf("---------- MESSAGE FOLLOWS ----------\n");
	printf("mail from: <%s>", m->mail_from);
	for (j = 0; j < m->nmail_params; j++)
		printf(" %s%s%s", m->mail_params[j].name, *m->mail_params[j].value ? "=" : "",
		    m->mail_params[j].value);
	printf("\n");
	for (i = 0; i < m->nrcpts; i++) {
		printf("rcpt to: <%s>", m->rcpts[i].addr);
		for (j = 0; j < m->rcpts[i].nparams; j++)
			printf(" %s%s%s", m->rcpts[i].params[j].name,
			    *m->rcpts[i].params[j].value ? "=" : "", m->rcpts[i].params[j].value);
		printf("\n");
	}
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		n = (nl ? nl : end) - p;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (inheaders && n == 0) {
			printf("X-Peer: %s\n", peerip);
			inheaders = 0;
		}
		fwrite(p, 1, n, stdout);
		fputc('\n', stdout);
		p = nl ? nl + 1 : end;
	}
	if (inheaders)
		printf("X-Peer: %s\n", peerip);
	printf("------------ END MESSAGE ------------\n");
	fflush(stdout);
}
