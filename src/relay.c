/*
 * relay - the relay queue and its policy; see relay.h.
 *
 * A job is one message to forward: in r->ready (waiting for a connection),
 * waiting on its own backoff timer, or on a connection (job->conn). An
 * attempt is one SMTP transaction: [RSET] MAIL RCPT... DATA|BDAT, pipelined
 * when the upstream allows; the replies come back in that order to
 * relay_tx_reply(), counted by job->step. The attempt ends on its last
 * reply, or on the first code 0 (the connection is gone: the client is
 * freed, so no other callback of that attempt can follow).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "match.h"
#include "message.h"
#include "relay.h"
#include "relay_proto.h"
#include "smtp_client.h"
#include "stats.h"
#include "store.h"
#include "tls.h"
#include "xmalloc.h"

#define RELAY_TIMEOUT_MS  (120 * 1000) /* a wait for the upstream */
#define RELAY_IDLE_MS	  (10 * 1000)  /* an unused connection is closed */
#define RELAY_LINE_MAX	  2048
#define RELAY_REPLY_SHOWN 512

struct relay_rcpt {
	char		   *addr;
	struct esmtp_param *params; /* borrowed from nothing: owned copies */
	size_t		    nparams;
	unsigned	    code; /* this attempt's reply */
};

struct relay_conn;

struct relay_job {
	TAILQ_ENTRY(relay_job) entry; /* r->ready, or r->jobs_other */
	struct relay	     *r;
	uint64_t	      id;
	unsigned	      attempts;
	int		      release;
	int		      final;  /* shutdown: no retry */
	int		      queued; /* in r->ready */
	struct relay_url     *url;    /* release: its upstream; NULL: the configured one */
	char		     *from;   /* NULL: the message's sender */
	struct relay_rcpt    *rcpts;  /* still to forward; built on the first attempt */
	size_t		      nrcpts;
	int		      built;
	char		    **over; /* release: the recipients given */
	size_t		      nover;
	struct event	     *timer;
	relay_done_fn	     *done;
	void		     *done_arg;
	struct message_relay *shadow; /* the status when the message is gone */
	/* The attempt in flight */
	struct relay_conn    *conn;
	struct evbuffer	     *payload;
	char		     *mail_line;
	int		      bdat, rset;
	size_t		      step;
	unsigned	      mail_code, data_code;
	char		     *first_bad; /* the first refusal shown; NULL: none */
};

TAILQ_HEAD(relay_jobs, relay_job);

struct relay_conn {
	TAILQ_ENTRY(relay_conn) entry;
	struct relay	   *r;
	struct smtp_client *client;
	struct relay_job   *job;
	struct relay_job   *next; /* pipelined behind job's data (PIPELINING) */
	int		    used;
	int		    release;
};

TAILQ_HEAD(relay_conns, relay_conn);

struct relay {
	const struct config *cfg;
	struct event_base   *base;
	struct store	    *store;
	struct stats	    *stats;
	struct relay_url     url; /* url.host[0] == '\0': none configured */
	struct tls_client   *tls;
	struct evdns_base   *dns;
	struct match_glob  **globs;
	size_t		     nglobs;
	struct relay_jobs    ready;
	struct relay_jobs    other; /* waiting on a backoff timer (or ending) */
	struct relay_conns   conns;
	size_t		     nconns; /* pool connections (not releases) */
	size_t		     nqueued;
	size_t		     nrelease;
	struct event	    *kick_ev;
	int		     stopping;
	void (*idle)(void *);
	void *idle_arg;
};

static void relay_kick(struct relay *);
static void relay_conn_ready(void *, int, unsigned, const char *);
static void relay_tx_reply(void *, unsigned, const char *);
static void relay_conn_free(struct relay_conn *);
static void relay_conn_prefetch(struct relay_conn *);
static void relay_job_assign(struct relay_job *, struct relay_conn *);

static void
relay_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	relay_kick(arg);
}

struct relay *
relay_new(const struct config *cfg, struct event_base *base, struct store *store,
    struct stats *stats, char *err, size_t errlen)
{
	struct relay *r = xcalloc(1, sizeof(*r));
	char	      why[128];
	size_t	      i;

	r->cfg = cfg;
	r->base = base;
	r->store = store;
	r->stats = stats;
	TAILQ_INIT(&r->ready);
	TAILQ_INIT(&r->other);
	TAILQ_INIT(&r->conns);
	r->kick_ev = evtimer_new(base, relay_kick_cb, r);
	if (cfg->relay_url != NULL && *cfg->relay_url != '\0' &&
	    relay_url_parse(cfg->relay_url, &r->url, err, errlen) == -1)
		goto fail;
	if ((r->tls = tls_client_new(cfg->relay_ca, cfg->relay_insecure, err, errlen)) == NULL)
		goto fail;
	r->nglobs = cfg->relay_rcpt_n;
	r->globs = xcalloc(r->nglobs ? r->nglobs : 1, sizeof(*r->globs));
	for (i = 0; i < r->nglobs; i++)
		if ((r->globs[i] = match_glob_compile(cfg->relay_rcpt[i], why, sizeof(why))) ==
		    NULL) {
			snprintf(err, errlen, "--relay-rcpt %s: %s", cfg->relay_rcpt[i], why);
			goto fail;
		}
	return r;
fail:
	relay_free(r);
	return NULL;
}

static void
relay_rcpts_free(struct relay_rcpt *rc, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(rc[i].addr);
		message_params_free(rc[i].params, rc[i].nparams);
	}
	free(rc);
}

static void
relay_job_free(struct relay_job *j)
{
	size_t i;

	if (j->timer != NULL)
		event_free(j->timer);
	if (j->url != NULL) {
		relay_url_clear(j->url);
		free(j->url);
	}
	free(j->from);
	relay_rcpts_free(j->rcpts, j->nrcpts);
	for (i = 0; i < j->nover; i++)
		free(j->over[i]);
	free(j->over);
	if (j->payload != NULL)
		evbuffer_free(j->payload);
	free(j->mail_line);
	free(j->first_bad);
	message_relay_free(j->shadow);
	free(j);
}

void
relay_free(struct relay *r)
{
	struct relay_job  *j;
	struct relay_conn *c;
	size_t		   i;

	if (r == NULL)
		return;
	while ((c = TAILQ_FIRST(&r->conns)) != NULL) {
		if (c->job != NULL)
			relay_job_free(c->job);
		if (c->next != NULL)
			relay_job_free(c->next);
		c->job = c->next = NULL;
		relay_conn_free(c);
	}
	while ((j = TAILQ_FIRST(&r->ready)) != NULL) {
		TAILQ_REMOVE(&r->ready, j, entry);
		relay_job_free(j);
	}
	while ((j = TAILQ_FIRST(&r->other)) != NULL) {
		TAILQ_REMOVE(&r->other, j, entry);
		relay_job_free(j);
	}
	for (i = 0; i < r->nglobs && r->globs != NULL; i++)
		match_glob_free(r->globs[i]);
	free(r->globs);
	tls_client_free(r->tls);
	if (r->dns != NULL)
		evdns_base_free(r->dns, 0);
	if (r->kick_ev != NULL)
		event_free(r->kick_ev);
	relay_url_clear(&r->url);
	free(r);
}

const char *
relay_upstream(const struct relay *r)
{
	return r->url.shown;
}

size_t
relay_queued(const struct relay *r)
{
	return r->nqueued;
}

int
relay_busy(const struct relay *r)
{
	return r->nqueued > 0 || r->nrelease > 0;
}

/* ----- status ----- */

/* The status record of j: on the message while stored, else the job's own */
static struct message_relay *
relay_status(struct relay_job *j)
{
	struct message *m = store_get(j->r->store, j->id);

	if (m != NULL)
		return message_relay_get(m);
	if (j->shadow == NULL)
		j->shadow = xcalloc(1, sizeof(*j->shadow));
	return j->shadow;
}

/* "250 2.0.0 Ok: queued as 7" from a reply: code and its first line */
static void
relay_reply_shown(char *dst, size_t len, unsigned code, const char *text)
{
	size_t n = strcspn(text, "\n");

	if (code == 0) {
		snprintf(dst, len, "%s", text);
		return;
	}
	if (code < 100 || code > 999) {
		snprintf(dst, len, "%u %.*s", code, (int)n, text);
		return;
	}
	/* Once per message (its final reply): no printf */
	if (n > len - 5)
		n = len - 5;
	dst[0] = '0' + code / 100;
	dst[1] = '0' + code / 10 % 10;
	dst[2] = '0' + code % 10;
	dst[3] = ' ';
	memcpy(dst + 4, text, n);
	dst[4 + n] = '\0';
}

static void
relay_record(struct relay_job *j, const char *cmd, unsigned code, const char *text)
{
	message_relay_add_reply(relay_status(j), cmd, code, text);
}

/* ----- the queue ----- */

int
relay_rcpt_wanted(const struct relay *r, const char *addr)
{
	size_t i;

	if (r->nglobs == 0)
		return 1;
	for (i = 0; i < r->nglobs; i++)
		if (match_glob_exec(r->globs[i], addr))
			return 1;
	return 0;
}

static struct relay_job *
relay_job_new(struct relay *r, uint64_t id)
{
	struct relay_job *j = xcalloc(1, sizeof(*j));

	j->r = r;
	j->id = id;
	j->final = r->stopping;
	return j;
}

static void
relay_schedule(struct relay *r)
{
	struct timeval tv = { 0, 0 };

	if (!evtimer_pending(r->kick_ev, NULL))
		evtimer_add(r->kick_ev, &tv);
}

static void
relay_enqueue(struct relay *r, struct relay_job *j)
{
	TAILQ_INSERT_TAIL(&r->ready, j, entry);
	j->queued = 1;
	relay_schedule(r);
}

void
relay_message_stored(struct relay *r, struct message *m)
{
	struct message_relay *st;
	struct relay_job     *j;
	size_t		      i;

	if (r == NULL || r->url.host[0] == '\0' || r->cfg->relay_mode != CONFIG_RELAY_ASYNC)
		return;
	for (i = 0; i < m->nrcpts; i++)
		if (relay_rcpt_wanted(r, m->rcpts[i].addr))
			break;
	if (i == m->nrcpts)
		return;
	st = message_relay_get(m);
	free(st->upstream);
	st->upstream = xstrdup(r->url.shown);
	if (r->nqueued >= r->cfg->relay_queue_max) {
		st->state = MSG_RELAY_FAILED;
		message_relay_set_last(st, "relay queue full");
		r->stats->relay_failed++;
		log_warnx("relay queue full id=%llu queued=%zu", (unsigned long long)m->id,
		    r->nqueued);
		return;
	}
	st->state = MSG_RELAY_PENDING;
	j = relay_job_new(r, m->id);
	r->nqueued++;
	relay_enqueue(r, j);
}

/* The job is over: off every list, counters, the caller told */
static void
relay_job_end(struct relay_job *j)
{
	struct relay *r = j->r;

	if (j->queued) {
		TAILQ_REMOVE(&r->ready, j, entry);
		j->queued = 0;
	} else if (j->conn == NULL)
		TAILQ_REMOVE(&r->other, j, entry);
	if (j->release) {
		r->nrelease--;
		if (j->done != NULL)
			j->done(j->done_arg,
			    store_get(r->store, j->id) != NULL ? store_get(r->store, j->id)->relay :
								 j->shadow);
	} else
		r->nqueued--;
	relay_job_free(j);
	if (r->stopping && !relay_busy(r) && r->idle != NULL)
		r->idle(r->idle_arg);
}

static void
relay_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_job *j = arg;

	TAILQ_REMOVE(&j->r->other, j, entry);
	relay_enqueue(j->r, j);
}

/*
 * The attempt ended. temp: a 4xx or no reply (retried while attempts are
 * left); else a success (code 2xx) or a permanent failure.
 */
static void
relay_job_outcome(struct relay_job *j, unsigned code, const char *why)
{
	struct relay	     *r = j->r;
	struct message_relay *st = relay_status(j);
	struct timeval	      tv;
	uint64_t	      ms;
	size_t		      i, keep;
	int		      temp = code / 100 != 2 && code / 100 != 5;

	/* Recipients that got a 4xx while others went through: retried alone */
	if (code / 100 == 2) {
		for (i = keep = 0; i < j->nrcpts; i++)
			if (j->rcpts[i].code / 100 == 4)
				j->rcpts[keep++] = j->rcpts[i];
			else {
				free(j->rcpts[i].addr);
				message_params_free(j->rcpts[i].params, j->rcpts[i].nparams);
			}
		j->nrcpts = keep;
		r->stats->relay_relayed += st->state != MSG_RELAY_RELAYED;
		clock_gettime(CLOCK_REALTIME, &st->relayed_at);
		temp = keep > 0;
		st->state = MSG_RELAY_RELAYED;
	}
	message_relay_set_last(st, why);
	if (temp && !j->release && !j->final && j->attempts < r->cfg->relay_retries) {
		if (code / 100 != 2)
			st->state = MSG_RELAY_PENDING;
		ms = relay_proto_backoff_ms(r->cfg->relay_backoff_ms, j->attempts);
		if (j->timer == NULL)
			j->timer = evtimer_new(r->base, relay_retry_cb, j);
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		TAILQ_INSERT_TAIL(&r->other, j, entry);
		evtimer_add(j->timer, &tv);
		log_info("relay retry id=%llu attempts=%u in_ms=%llu reply=\"%s\"",
		    (unsigned long long)j->id, j->attempts, (unsigned long long)ms, why);
		return;
	}
	if (code / 100 != 2 || temp) {
		if (code / 100 != 2)
			st->state = MSG_RELAY_FAILED;
		r->stats->relay_failed += code / 100 != 2;
		log_info("relay failed id=%llu attempts=%u reply=\"%s\"", (unsigned long long)j->id,
		    j->attempts, why);
	} else if (log_enabled(LOG_LEVEL_INFO))
		log_info("relay done id=%llu attempts=%u upstream=%s reply=\"%s\"",
		    (unsigned long long)j->id, j->attempts, st->upstream ? st->upstream : "", why);
	TAILQ_INSERT_TAIL(&r->other, j, entry); /* relay_job_end() takes it off */
	relay_job_end(j);
}

/* ----- connections ----- */

static struct smtp_client *
relay_client_to(struct relay *r, const struct relay_url *url, smtp_client_ready_fn *ready,
    void *arg)
{
	struct smtp_client_cfg sc;
	unsigned char	       ip[16];

	memset(&sc, 0, sizeof(sc));
	sc.url = url;
	sc.tls = r->tls;
	if (r->dns == NULL && evutil_inet_pton(AF_INET, url->host, ip) != 1 &&
	    evutil_inet_pton(AF_INET6, url->host, ip) != 1)
		r->dns = evdns_base_new(r->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	sc.dns = r->dns;
	sc.helo = r->cfg->hostname;
	sc.timeout_ms = RELAY_TIMEOUT_MS;
	sc.idle_ms = RELAY_IDLE_MS;
	return smtp_client_new(r->base, &sc, ready, arg);
}

struct smtp_client *
relay_client_new(struct relay *r, smtp_client_ready_fn *ready, void *arg)
{
	return relay_client_to(r, &r->url, ready, arg);
}

int
relay_proxying(const struct relay *r)
{
	return r != NULL && r->url.host[0] != '\0' && r->cfg->relay_mode == CONFIG_RELAY_PROXY;
}

struct store *
relay_store(struct relay *r)
{
	return r->store;
}

struct stats *
relay_stats(struct relay *r)
{
	return r->stats;
}

static struct relay_conn *
relay_conn_new(struct relay *r, const struct relay_url *url, int release)
{
	struct relay_conn *c = xcalloc(1, sizeof(*c));

	c->r = r;
	c->release = release;
	TAILQ_INSERT_TAIL(&r->conns, c, entry);
	if (!release)
		r->nconns++;
	c->client = relay_client_to(r, url, relay_conn_ready, c);
	return c;
}

static void
relay_conn_free(struct relay_conn *c)
{
	TAILQ_REMOVE(&c->r->conns, c, entry);
	if (!c->release)
		c->r->nconns--;
	smtp_client_free(c->client);
	free(c);
}

/* j's attempt on c ended; c goes on with the next job, back to the pool or away */
static void
relay_conn_done(struct relay_conn *c, struct relay_job *j)
{
	struct relay *r = c->r;

	if (c->job == j) {
		c->job = c->next;
		c->next = NULL;
	} else if (c->next == j)
		c->next = NULL;
	if (j != NULL) {
		j->conn = NULL;
		if (j->payload != NULL) {
			evbuffer_free(j->payload);
			j->payload = NULL;
		}
		free(j->mail_line);
		j->mail_line = NULL;
		free(j->first_bad);
		j->first_bad = NULL;
	}
	if (c->job == NULL && (c->release || !smtp_client_usable(c->client)))
		relay_conn_free(c);
	relay_schedule(r);
}

/* ----- one attempt ----- */

/* j's message is gone (evicted, deleted): nothing to forward */
static void
relay_job_drop(struct relay_job *j)
{
	log_info("relay dropped id=%llu reason=\"message no longer stored\"",
	    (unsigned long long)j->id);
	relay_status(j)->state = MSG_RELAY_FAILED;
	message_relay_set_last(relay_status(j), "message no longer stored");
	TAILQ_INSERT_TAIL(&j->r->other, j, entry);
	relay_job_end(j);
}

/* The recipients to forward, copied from m (or the release's) once */
static void
relay_job_build(struct relay_job *j, const struct message *m)
{
	size_t i;

	j->built = 1;
	if (j->nover > 0) {
		j->rcpts = xcalloc(j->nover, sizeof(*j->rcpts));
		for (i = 0; i < j->nover; i++)
			j->rcpts[j->nrcpts++].addr = xstrdup(j->over[i]);
		return;
	}
	j->rcpts = xcalloc(m->nrcpts ? m->nrcpts : 1, sizeof(*j->rcpts));
	for (i = 0; i < m->nrcpts; i++) {
		struct relay_rcpt *rc;

		if (!j->release && !relay_rcpt_wanted(j->r, m->rcpts[i].addr))
			continue;
		rc = &j->rcpts[j->nrcpts++];
		rc->addr = xstrdup(m->rcpts[i].addr);
		rc->nparams = m->rcpts[i].nparams;
		rc->params = rc->nparams ? xcalloc(rc->nparams, sizeof(*rc->params)) : NULL;
		for (size_t k = 0; k < rc->nparams; k++) {
			rc->params[k].name = xstrdup(m->rcpts[i].params[k].name);
			rc->params[k].value = xstrdup(m->rcpts[i].params[k].value);
		}
	}
}

/* Ends the attempt on a failure found before anything was sent */
static void
relay_attempt_abort(struct relay_job *j, unsigned code, const char *why, int perm)
{
	relay_conn_done(j->conn, j);
	relay_job_outcome(j, perm ? 554 : code, why);
}

/* c is ready: j's transaction goes out */
static void
relay_attempt_start(struct relay_job *j)
{
	struct relay_conn    *c = j->conn;
	struct message	     *m = store_get(j->r->store, j->id);
	struct message_relay *st;
	char		      line[RELAY_LINE_MAX], why[256];
	size_t		      i;

	if (m == NULL) {
		relay_conn_done(c, j);
		relay_job_drop(j);
		return;
	}
	if (!j->built)
		relay_job_build(j, m);
	st = relay_status(j);
	st->state = MSG_RELAY_PENDING;
	st->rcpt_to = xcalloc(j->nrcpts ? j->nrcpts : 1, sizeof(*st->rcpt_to));
	for (i = 0; i < j->nrcpts; i++)
		st->rcpt_to[st->nrcpt_to++] = xstrdup(j->rcpts[i].addr);
	if (relay_proto_mail(line, sizeof(line), m, j->from, smtp_client_caps(c->client), why,
		sizeof(why)) == -1) {
		relay_record(j, "MAIL", 0, why);
		relay_attempt_abort(j, 0, why, 1);
		return;
	}
	j->mail_line = xstrdup(line);
	j->bdat = relay_proto_use_bdat(m);
	j->payload = evbuffer_new();
	if (j->bdat) {
		evbuffer_add_printf(j->payload, "BDAT %zu LAST\r\n", m->size);
		evbuffer_add(j->payload, m->data, m->size);
	} else
		relay_proto_stuff(j->payload, m->data, m->size);
	j->step = 0;
	j->mail_code = j->data_code = 0;
	j->rset = c->used;
	c->used = 1;
	if (j->rset)
		smtp_client_cmd(c->client, "RSET", relay_tx_reply, j);
	smtp_client_cmd(c->client, line, relay_tx_reply, j);
	for (i = 0; i < j->nrcpts; i++) {
		j->rcpts[i].code = 0;
		if (relay_proto_rcpt(line, sizeof(line), j->rcpts[i].addr, j->rcpts[i].params,
			j->rcpts[i].nparams, smtp_client_caps(c->client)) == -1)
			snprintf(line, sizeof(line), "RCPT TO:<%s>", j->rcpts[i].addr);
		smtp_client_cmd(c->client, line, relay_tx_reply, j);
	}
	if (j->bdat) {
		smtp_client_raw(c->client, j->payload, relay_tx_reply, j);
		j->payload = NULL;
		relay_conn_prefetch(c);
	} else
		smtp_client_cmd(c->client, "DATA", relay_tx_reply, j);
}

/* The whole transaction's answer: its code and the reason shown (final: the last reply) */
static void
relay_tx_end(struct relay_job *j, const char *final)
{
	char	 why[RELAY_REPLY_SHOWN];
	size_t	 i, n, ok = 0, soft = 0;
	unsigned code;

	for (i = 0; i < j->nrcpts; i++) {
		ok += j->rcpts[i].code / 100 == 2;
		soft += j->rcpts[i].code / 100 == 4;
	}
	if (j->mail_code / 100 != 2)
		code = j->mail_code;
	else if (ok == 0)
		code = soft > 0 || j->nrcpts == 0 ? 450 : 550;
	else
		code = j->data_code;
	if (code == j->data_code && code / 100 == 2)
		; /* final is the upstream's acceptance */
	else if (j->first_bad != NULL && (j->mail_code / 100 != 2 || ok == 0))
		final = j->first_bad;
	/* A copy: relay_conn_done() frees first_bad */
	n = strnlen(final, sizeof(why) - 1);
	memcpy(why, final, n);
	why[n] = '\0';
	relay_conn_done(j->conn, j);
	relay_job_outcome(j, code, why);
}

/* "RCPT TO:<addr>" as recorded (without the parameters) */
static void
relay_rcpt_shown(char *dst, size_t len, const char *addr)
{
	size_t n = strlen(addr);

	if (n > len - 11)
		n = len - 11;
	memcpy(dst, "RCPT TO:<", 9);
	memcpy(dst + 9, addr, n);
	memcpy(dst + 9 + n, ">", 2);
}

/* The first refusal in j's transaction, kept as shown */
static void
relay_first_bad(struct relay_job *j, unsigned code, const char *text)
{
	char shown[RELAY_REPLY_SHOWN];

	if (j->first_bad != NULL)
		return;
	relay_reply_shown(shown, sizeof(shown), code, text);
	j->first_bad = xstrdup(shown);
}

/* One reply of j's transaction; "shown" lines are made only where kept */
static void
relay_tx_reply(void *arg, unsigned code, const char *text)
{
	struct relay_job *j = arg;
	size_t		  k = j->step++, nr = j->nrcpts;
	char		  cmd[RELAY_LINE_MAX], shown[RELAY_REPLY_SHOWN];

	if (code == 0) {
		/* The connection is gone: the client is freed with the conn */
		relay_record(j, "CONNECTION", 0, text);
		relay_attempt_abort(j, 0, text, 0);
		return;
	}
	if (j->rset) {
		if (k == 0)
			return;
		k--;
	}
	if (k == 0) {
		j->mail_code = code;
		relay_record(j, j->mail_line, code, text);
		if (code / 100 != 2)
			relay_first_bad(j, code, text);
		return;
	}
	if (k <= nr) {
		j->rcpts[k - 1].code = code;
		relay_rcpt_shown(cmd, sizeof(cmd), j->rcpts[k - 1].addr);
		relay_record(j, cmd, code, text);
		if (code / 100 != 2)
			relay_first_bad(j, code, text);
		return;
	}
	if (k == nr + 1 && !j->bdat) {
		relay_record(j, "DATA", code, text);
		if (code == 354) {
			smtp_client_raw(j->conn->client, j->payload, relay_tx_reply, j);
			j->payload = NULL;
			relay_conn_prefetch(j->conn);
			return;
		}
	} else
		relay_record(j, j->bdat ? "BDAT" : "END-OF-MESSAGE", code, text);
	j->data_code = code;
	relay_reply_shown(shown, sizeof(shown), code, text);
	relay_tx_end(j, shown);
}

static void
relay_conn_ready(void *arg, int ok, unsigned code, const char *text)
{
	struct relay_conn *c = arg;
	struct relay_job  *j = c->job;
	char		   shown[RELAY_REPLY_SHOWN];

	if (ok) {
		if (j != NULL)
			relay_attempt_start(j);
		return;
	}
	if (j == NULL) {
		relay_conn_free(c);
		return;
	}
	relay_reply_shown(shown, sizeof(shown), code, text);
	relay_record(j, "CONNECT", code, text);
	relay_attempt_abort(j, code, shown, code / 100 == 5);
}

/*
 * j's data is on its way on c: with PIPELINING the next queued message's
 * commands may follow it at once (RFC 2920: the content may start a
 * group), saving a round trip and a write per message.
 */
static void
relay_conn_prefetch(struct relay_conn *c)
{
	struct relay	 *r = c->r;
	struct relay_job *k = TAILQ_FIRST(&r->ready);

	if (c->release || c->next != NULL || k == NULL || k->release ||
	    !(smtp_client_caps(c->client)->flags & RELAY_CAP_PIPELINING) ||
	    store_get(r->store, k->id) == NULL)
		return;
	TAILQ_REMOVE(&r->ready, k, entry);
	k->queued = 0;
	c->next = k;
	if (log_enabled(LOG_LEVEL_DEBUG))
		log_debug("relay pipelined id=%llu behind id=%llu", (unsigned long long)k->id,
		    c->job != NULL ? (unsigned long long)c->job->id : 0ULL);
	relay_job_assign(k, c);
}

/* Hands j to connection c: counted as an attempt */
static void
relay_job_assign(struct relay_job *j, struct relay_conn *c)
{
	struct message_relay *st = relay_status(j);

	j->conn = c;
	j->attempts++;
	j->r->stats->relay_attempts++;
	st->attempts = j->attempts;
	st->state = MSG_RELAY_PENDING;
	message_relay_reset(st); /* the replies are this attempt's */
	if (st->upstream == NULL)
		st->upstream = xstrdup(c->release ? j->url->shown : j->r->url.shown);
	if (smtp_client_usable(c->client))
		relay_attempt_start(j);
}

/* Ready jobs onto idle or new connections, in order */
static void
relay_kick(struct relay *r)
{
	struct relay_conn *c, *next;
	struct relay_job  *j;

	while ((j = TAILQ_FIRST(&r->ready)) != NULL) {
		for (c = TAILQ_FIRST(&r->conns); c != NULL; c = next) {
			next = TAILQ_NEXT(c, entry);
			if (c->release || c->job != NULL)
				continue;
			if (smtp_client_usable(c->client))
				break;
			relay_conn_free(c); /* idle and closed: gone */
		}
		if (c == NULL && !j->release && r->nconns >= r->cfg->relay_connections)
			return;
		TAILQ_REMOVE(&r->ready, j, entry);
		j->queued = 0;
		if (store_get(r->store, j->id) == NULL) {
			relay_job_drop(j);
			continue;
		}
		if (c == NULL || j->release)
			c = relay_conn_new(r, j->release ? j->url : &r->url, j->release);
		c->job = j;
		relay_job_assign(j, c);
	}
}

/* ----- ReleaseMessage ----- */

int
relay_release(struct relay *r, uint64_t id, const char *url, char *const *rcpts, size_t n,
    const char *from, relay_done_fn *done, void *arg, struct relay_job **jobp, char *err,
    size_t errlen)
{
	struct relay_job *j;
	struct relay_url  u;
	size_t		  i;

	if (url != NULL && *url != '\0') {
		if (relay_url_parse(url, &u, err, errlen) == -1)
			return -1;
	} else if (r->url.host[0] != '\0')
		relay_url_copy(&u, &r->url);
	else {
		snprintf(err, errlen, "no relay_url given and no --relay-url configured");
		return -1;
	}
	if (store_get(r->store, id) == NULL) {
		relay_url_clear(&u);
		snprintf(err, errlen, "no message with id %llu", (unsigned long long)id);
		return -2;
	}
	j = relay_job_new(r, id);
	j->release = 1;
	j->final = 1;
	j->url = xmalloc(sizeof(*j->url));
	*j->url = u; /* the strings move */
	j->from = from != NULL ? xstrdup(from) : NULL;
	if (n > 0) {
		j->over = xcalloc(n, sizeof(*j->over));
		for (i = 0; i < n; i++)
			j->over[j->nover++] = xstrdup(rcpts[i]);
	}
	j->done = done;
	j->done_arg = arg;
	/* A release shows its own upstream */
	free(relay_status(j)->upstream);
	relay_status(j)->upstream = xstrdup(u.shown);
	r->nrelease++;
	*jobp = j;
	/* Ahead of the queue: it has a caller waiting and its own connection */
	TAILQ_INSERT_HEAD(&r->ready, j, entry);
	j->queued = 1;
	relay_schedule(r);
	return 0;
}

void
relay_release_detach(struct relay_job *j)
{
	j->done = NULL;
}

/* ----- shutdown ----- */

void
relay_shutdown(struct relay *r, void (*idle)(void *), void *arg)
{
	struct relay_job *j, *next;

	r->stopping = 1;
	r->idle = idle;
	r->idle_arg = arg;
	for (j = TAILQ_FIRST(&r->other); j != NULL; j = next) {
		next = TAILQ_NEXT(j, entry);
		j->final = 1;
		if (j->timer != NULL && evtimer_pending(j->timer, NULL)) {
			evtimer_del(j->timer);
			TAILQ_REMOVE(&r->other, j, entry);
			relay_enqueue(r, j);
		}
	}
	TAILQ_FOREACH(j, &r->ready, entry)
	j->final = 1;
	if (relay_busy(r))
		log_info("relay shutdown queued=%zu: one last attempt each", r->nqueued);
}

static void
relay_abandon_log(const struct relay_job *j, const char *state)
{
	log_warnx("relay abandoned id=%llu state=%s attempts=%u", (unsigned long long)j->id, state,
	    j->attempts);
}

void
relay_abandon(struct relay *r)
{
	struct relay_job  *j;
	struct relay_conn *c;

	TAILQ_FOREACH(c, &r->conns, entry)
	{
		if (c->job != NULL)
			relay_abandon_log(c->job, "in-flight");
		if (c->next != NULL)
			relay_abandon_log(c->next, "in-flight");
	}
	TAILQ_FOREACH(j, &r->ready, entry)
	{
		relay_abandon_log(j, "queued");
	}
	TAILQ_FOREACH(j, &r->other, entry)
	{
		relay_abandon_log(j, "waiting");
	}
	r->idle = NULL;
}
