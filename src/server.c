/*
 * server - one sink instance, owned by the loop thread: store, waiters,
 * rules, stats, SMTP listeners, the control API. main.c and sink.c both run
 * it, so the daemon and the embedded library behave the same.
 *
 * Shutdown (ARCHITECTURE.md §3.4): stop accepting; idle sessions get 421 at
 * once, sessions with a transaction in flight may finish it within
 * cfg->shutdown_grace and are then closed with 421 (nothing partial stored);
 * parked waits end; the control API drains. The loop breaks once no session
 * is left and the control API reported done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "control.h"
#include "inbox.h"
#include "json.h"
#include "listener.h"
#include "log.h"
#include "match.h"
#include "message.h"
#include "mime.h"
#include "rules.h"
#include "server.h"
#include "smtp_session.h"
#include "store.h"
#include "waiters.h"
#include "xmalloc.h"

static void	server_grace_cb(evutil_socket_t, short, void *);
static void	server_control_done(void *);
static void	server_check_done(struct server *);
static void	server_print(const struct message *);

struct server *
server_new(const struct config *cfg, struct event_base *base)
{
	struct server	*s = xcalloc(1, sizeof(*s));
	static int	 mime_ready;

	if (!mime_ready) {
		mime_init(cfg->mime_max_depth, cfg->mime_max_parts);
		mime_ready = 1;
	}
	s->cfg = cfg;
	s->base = base;
	s->store = store_new(cfg->store_max_messages, cfg->store_max_bytes);
	s->waiters = waiters_new(base, s->store, cfg->waiters_max);
	s->rules = rules_new();
	s->inbox = inbox_new(base);
	TAILQ_INIT(&s->sessions);
	s->next_session_id = 1;
	smtp_session_ext_line(s, s->smtp_ext_line, sizeof(s->smtp_ext_line));
	return s;
}

char *
server_ready_json(struct server *s)
{
	char	*out, *list = xstrdup(""), *tmp, *q, *smtp, *grpc;
	size_t	 i, n = s->listener ? listener_count(s->listener) : 0;

	for (i = 0; i < n; i++) {
		q = json_quote(listener_addr(s->listener, i));
		xasprintf(&tmp, "%s%s%s", list, i ? "," : "", q);
		free(q);
		free(list);
		list = tmp;
	}
	smtp = json_quote(n ? listener_addr(s->listener, 0) : "");
	grpc = s->control ? json_quote(control_address(s->control)) : xstrdup("");
	xasprintf(&out, "{\"smtp\":%s,\"smtp_addresses\":[%s]%s%s}", smtp, list,
	    s->control ? ",\"grpc\":" : "", grpc);
	free(smtp);
	free(grpc);
	free(list);
	return out;
}

/* Written to a temporary name and renamed, so readers never see half a file. */
static int
server_write_ready_file(struct server *s, const char *path, char *err, size_t errlen)
{
	char	*json = server_ready_json(s), *tmp;
	FILE	*fp;
	int	 rc = 0;

	xasprintf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	if ((fp = fopen(tmp, "w")) == NULL) {
		snprintf(err, errlen, "ready file %s: %s", tmp, strerror(errno));
		rc = -1;
	} else {
		fprintf(fp, "%s\n", json);
		if (fclose(fp) != 0 || rename(tmp, path) == -1) {
			snprintf(err, errlen, "ready file %s: %s", path, strerror(errno));
			unlink(tmp);
			rc = -1;
		}
	}
	free(tmp);
	free(json);
	return rc;
}

int
server_start(struct server *s, int with_control, char *err, size_t errlen)
{
	const struct config	*cfg = s->cfg;

	s->listener = listener_new(s, cfg->smtp_listen, cfg->smtp_listen_n, err, errlen);
	if (s->listener == NULL)
		return -1;
	if (with_control && cfg->grpc_listen != NULL && *cfg->grpc_listen != '\0' &&
	    strcmp(cfg->grpc_listen, "off") != 0) {
		s->control = control_new(s, cfg->grpc_listen, err, errlen);
		if (s->control == NULL)
			return -1;
	}
	if (cfg->ready_file != NULL && *cfg->ready_file != '\0' &&
	    server_write_ready_file(s, cfg->ready_file, err, errlen) == -1)
		return -1;
	return 0;
}

void
server_shutdown(struct server *s)
{
	struct timeval	 tv;

	if (s->shutting_down)
		return;
	s->shutting_down = 1;
	log_info("shutdown sessions=%llu grace=%us",
	    (unsigned long long)s->stats.sessions_active, s->cfg->shutdown_grace);
	if (s->listener != NULL)
		listener_pause(s->listener);
	waiters_shutdown(s->waiters);
	s->control_stopped = s->control == NULL;
	if (s->control != NULL)
		control_shutdown(s->control, server_control_done, s);
	smtp_session_shutdown_all(s, 0);
	if (!TAILQ_EMPTY(&s->sessions)) {
		tv.tv_sec = s->cfg->shutdown_grace;
		tv.tv_usec = 0;
		s->shutdown_ev = evtimer_new(s->base, server_grace_cb, s);
		evtimer_add(s->shutdown_ev, &tv);
	}
	server_check_done(s);
}

static void
server_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*s = arg;

	log_info("shutdown grace over sessions=%llu", (unsigned long long)s->stats.sessions_active);
	smtp_session_shutdown_all(s, 1);
	server_check_done(s);
}

static void
server_control_done(void *arg)
{
	struct server	*s = arg;

	s->control_stopped = 1;
	server_check_done(s);
}

static void
server_check_done(struct server *s)
{
	if (s->shutting_down && TAILQ_EMPTY(&s->sessions) && s->control_stopped)
		event_base_loopbreak(s->base);
}

void
server_session_closed(struct server *s)
{
	if (s->stats.sessions_active > 0)
		s->stats.sessions_active--;
	if (s->shutting_down) {
		server_check_done(s);
		return;
	}
	if (s->listener != NULL && s->stats.sessions_active + 1 == s->cfg->max_sessions)
		listener_resume(s->listener);
}

void
server_free(struct server *s)
{
	struct smtp_session	*sess;

	if (s == NULL)
		return;
	while ((sess = TAILQ_FIRST(&s->sessions)) != NULL)
		smtp_session_free(sess, "server freed");
	if (s->control != NULL)
		control_free(s->control);
	listener_free(s->listener);
	waiters_free(s->waiters);
	store_free(s->store);
	rules_free(s->rules);
	inbox_free(s->inbox);
	if (s->shutdown_ev != NULL)
		event_free(s->shutdown_ev);
	free(s);
}

/* A handler's reply must look like an SMTP reply: 4xx/5xx then text. */
static void
server_handler_reply(const char *r, char *reply, size_t replylen)
{
	size_t	 n = strcspn(r, "\r\n");

	if (n >= 3 && (r[0] == '4' || r[0] == '5') && r[1] >= '0' && r[1] <= '9' &&
	    r[2] >= '0' && r[2] <= '9' && (r[3] == ' ' || n == 3))
		snprintf(reply, replylen, "%.*s", (int)n, r);
	else
		snprintf(reply, replylen, "550 5.7.1 %.*s", (int)n, r);
}

int
server_deliver(struct server *s, struct message *msg, char *reply, size_t replylen,
    int *disconnect, unsigned *delay_ms)
{
	struct rules_action	 act;
	const char		*subjects[64] = { NULL }, **subj = subjects, *hr;
	char			 from[LOG_SANITIZE_MAX];
	uint64_t		 id;
	size_t			 i;
	int			 fired;

	*disconnect = 0;
	*delay_ms = 0;
	if (msg->nrcpts > sizeof(subjects) / sizeof(subjects[0]))
		subj = xreallocarray(NULL, msg->nrcpts, sizeof(*subj));
	for (i = 0; i < msg->nrcpts; i++)
		subj[i] = msg->rcpts[i].addr;
	fired = rules_eval(s->rules, RULES_STAGE_DATA, subj, msg->nrcpts, &act);
	if (subj != subjects)
		free(subj);
	if (fired) {
		*delay_ms = act.delay_ms;
		*disconnect = act.disconnect;
		if (act.code != 0) {
			snprintf(reply, replylen, "%s", act.reply);
			s->stats.messages_rejected++;
			log_info("message rejected session=%016llx rule=%s reply=%.3s",
			    (unsigned long long)msg->session_id, act.rule_id, act.reply);
			message_free(msg);
			return -1;
		}
	}
	if (s->handler != NULL && (hr = s->handler(s->handler_arg, msg)) != NULL) {
		server_handler_reply(hr, reply, replylen);
		s->stats.messages_rejected++;
		log_info("message rejected session=%016llx handler=1 reply=%.3s",
		    (unsigned long long)msg->session_id, reply);
		message_free(msg);
		return -1;
	}

	msg = message_pack(msg);		/* one allocation per stored message */
	id = store_put(s->store, msg);		/* msg stays valid until we return to the loop */
	s->stats.messages_received++;
	s->stats.bytes_received += msg->size;
	waiters_kick(s->waiters);
	snprintf(reply, replylen, "250 2.0.0 Ok: queued as %llu", (unsigned long long)id);
	if (log_enabled(LOG_LEVEL_INFO))
		log_info("message stored session=%016llx id=%llu from=<%s> rcpts=%zu size=%zu",
		    (unsigned long long)msg->session_id, (unsigned long long)id,
		    log_sanitize(from, sizeof(from), msg->mail_from, strlen(msg->mail_from)),
		    msg->nrcpts, msg->size);
	if (s->cfg->print)
		server_print(msg);
	return 0;
}

/*
 * smtpd.DebuggingServer's format: the envelope, then the message with an
 * X-Peer header inserted at the end of the header block (display only: the
 * stored bytes are untouched).
 */
static void
server_print(const struct message *m)
{
	const char	*p = m->data, *end = m->data + m->size, *nl;
	char		 peerip[128];
	size_t		 i, j, n;
	int		 inheaders = 1;

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
