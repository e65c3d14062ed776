/*
 * sink - the public embedding API of include/smtpsink/sink.h.
 *
 * A sink is a struct server (the daemon's own code) plus a loop thread. The
 * loop thread creates the event base and the server, reports the start
 * result, then runs the loop until server_shutdown() breaks it; it alone
 * touches the server, store and waiters.
 *
 * Every other thread talks to it through a struct sink_call on the caller's
 * stack: posted with inbox_post(), executed on the loop thread, completed by
 * setting call->done under sink->lock and broadcasting sink->cond. Waits stay
 * parked in the waiters module and complete from its callback, so a blocked
 * smtpsink_wait() costs no CPU and is woken as the message is stored.
 * Listings and clears are waiters scans too (call->waiter), done in slices
 * between which the loop serves SMTP, and complete from their done callback;
 * from the loop thread itself (the handler) they run to their end at once.
 *
 * Lifetime rules that keep this safe:
 *  - A caller posts only while holding sink->lock and seeing !loop_done, and
 *    its call is then on sink->calls until completed. When the loop ends, the
 *    loop thread fails whatever is still on sink->calls (cancelling parked
 *    waiters first), under the same lock, before freeing the server, so no
 *    inbox item or waiter outlives the call it points to.
 *  - smtpsink_stop() refuses new calls, triggers the shutdown, joins the
 *    thread, then waits until no caller is inside the API before freeing.
 * Results are deep copies (xmalloc), freed by the caller with
 * smtpsink_message(s)_free().
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "smtpsink/sink.h"

#include "config.h"
#include "inbox.h"
#include "log.h"
#include "match.h"
#include "message.h"
#include "mime.h"
#include "server.h"
#include "stats.h"
#include "store.h"
#include "waiters.h"
#include "xmalloc.h"

_Static_assert(SMTPSINK_ANOM_BARE_LF == MSG_ANOM_BARE_LF &&
	SMTPSINK_ANOM_BARE_CR == MSG_ANOM_BARE_CR &&
	SMTPSINK_ANOM_LONG_LINE == MSG_ANOM_LONG_LINE &&
	SMTPSINK_ANOM_8BIT_HEADER == MSG_ANOM_8BIT_HEADER &&
	SMTPSINK_ANOM_8BIT_BODY == MSG_ANOM_8BIT_BODY && SMTPSINK_ANOM_NUL == MSG_ANOM_NUL &&
	SMTPSINK_ANOM_NO_HEADER_END == MSG_ANOM_NO_HEADER_END &&
	SMTPSINK_ANOM_MIME == MSG_ANOM_MIME,
    "anomaly bits must match message.h");
_Static_assert((int)SMTPSINK_LOG_ERROR == (int)LOG_LEVEL_ERROR &&
	(int)SMTPSINK_LOG_DEBUG == (int)LOG_LEVEL_DEBUG,
    "log levels must match log.h");

enum sink_op {
	SINK_OP_LIST,
	SINK_OP_GET,
	SINK_OP_WAIT,
	SINK_OP_CLEAR,
	SINK_OP_STATS,
	SINK_OP_STOP
};

struct sink_call {
	TAILQ_ENTRY(sink_call) entry;
	struct smtpsink *sink;
	enum sink_op	 op;
	int		 done; /* under sink->lock */
	int		 rc;

	/* arguments (borrowed from the caller, who is blocked) */
	struct filter filter;
	size_t	      limit; /* LIST; WAIT: count */
	int	      timeout_ms;
	uint64_t      id;
	int	      want_msgs; /* WAIT */

	/* results */
	struct smtpsink_message *msgs;
	size_t			 nmsgs;
	struct smtpsink_message *msg; /* GET */
	long			 deleted;
	struct smtpsink_stats	 stats;
	int			 rc_done; /* rc once its listing is done */

	struct waiter *waiter; /* WAIT while parked; LIST, CLEAR: the scan */
};

TAILQ_HEAD(sink_call_list, sink_call);

struct smtpsink {
	pthread_mutex_t	      lock;
	pthread_cond_t	      cond;
	pthread_t	      thread;
	pthread_t	      loop_thread; /* set by the loop thread itself */
	int		      started;	   /* start result reported */
	int		      start_rc;
	char		      start_err[256];
	int		      stopping;	 /* no new calls */
	int		      loop_done; /* loop ended, server about to go */
	int		      self_free; /* stopped from the handler: the loop thread frees */
	unsigned	      active;	 /* callers inside the API */
	struct sink_call_list calls;	 /* posted, not completed */

	struct config	     cfg;
	struct event_base   *base;
	struct server	    *server; /* loop thread only */
	smtpsink_handler_fn *handler;
	void		    *handler_arg;

	char smtp_addr[128];
	int  smtp_port;
	char grpc_addr[128];
	int  has_grpc;
};

static pthread_once_t  sink_once = PTHREAD_ONCE_INIT;
static int	       sink_once_rc; /* evthread_use_pthreads() result */
static pthread_mutex_t sink_start_lock = PTHREAD_MUTEX_INITIALIZER;

static void sink_call_complete(struct sink_call *, int rc);
static int  sink_on_loop(const struct smtpsink *);
static void sink_free(struct smtpsink *);

static void
sink_global_init(void)
{
	sink_once_rc = evthread_use_pthreads();
}

void
smtpsink_options_init(struct smtpsink_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->log_level = SMTPSINK_LOG_WARN;
}

/* --- copies of messages ------------------------------------------------- */

static const char *
sink_str(const char *s)
{
	return s != NULL ? s : "";
}

static const char *
sink_subject(struct message *m)
{
	const struct mime_view *v = mime_view_get(m);

	return v != NULL && v->subject != NULL ? v->subject : "";
}

/* Deep copy of m into dst; runs on the loop thread. */
static void
sink_message_copy(struct smtpsink_message *dst, struct message *m)
{
	char **rcpts, *data;
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->id = m->id;
	dst->received_sec = m->received.tv_sec;
	dst->received_nsec = m->received.tv_nsec;
	dst->peer = xstrdup(sink_str(m->peer));
	dst->helo = xstrdup(sink_str(m->helo));
	dst->mail_from = xstrdup(sink_str(m->mail_from));
	rcpts = xcalloc(m->nrcpts + 1, sizeof(*rcpts));
	for (i = 0; i < m->nrcpts; i++)
		rcpts[i] = xstrdup(sink_str(m->rcpts[i].addr));
	dst->rcpt_to = (const char *const *)rcpts;
	dst->nrcpt_to = m->nrcpts;
	data = xmalloc(m->size + 1);
	if (m->size > 0)
		memcpy(data, m->data, m->size);
	data[m->size] = '\0';
	dst->data = data;
	dst->size = m->size;
	dst->subject = xstrdup(sink_subject(m));
	dst->anomalies = m->anomalies;
	dst->smtputf8 = m->smtputf8;
	dst->auth_user = xstrdup(sink_str(m->auth_user));
	dst->auth_mechanism = sink_str(m->auth_mechanism); /* static */
}

static void
sink_message_clear(struct smtpsink_message *m)
{
	size_t i;

	free((char *)m->peer);
	free((char *)m->helo);
	free((char *)m->mail_from);
	if (m->rcpt_to != NULL) {
		for (i = 0; i < m->nrcpt_to; i++)
			free((char *)m->rcpt_to[i]);
		free((char **)m->rcpt_to);
	}
	free((char *)m->data);
	free((char *)m->subject);
	free((char *)m->auth_user);
}

void
smtpsink_message_free(struct smtpsink_message *m)
{
	if (m == NULL)
		return;
	sink_message_clear(m);
	free(m);
}

void
smtpsink_messages_free(struct smtpsink_message *msgs, size_t n)
{
	size_t i;

	if (msgs == NULL)
		return;
	for (i = 0; i < n; i++)
		sink_message_clear(&msgs[i]);
	free(msgs);
}

/* The copies a listing collects: its scan's state */
struct sink_list {
	struct smtpsink_message *msgs;
	size_t			 n, cap;
	size_t			 limit; /* 0: all */
};

static int
sink_list_each(void *arg, void *state, struct message *m, uint64_t *cost)
{
	struct sink_list *l = state;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->msgs = xreallocarray(l->msgs, l->cap, sizeof(*l->msgs));
	}
	sink_message_copy(&l->msgs[l->n++], m);
	*cost += m->size;
	return l->limit != 0 && l->n == l->limit;
}

static void
sink_list_free(void *state)
{
	struct sink_list *l = state;

	smtpsink_messages_free(l->msgs, l->n);
	free(l);
}

static void
sink_list_done(void *arg, void *state, enum waiters_status status, size_t matched)
{
	struct sink_call *call = arg;
	struct sink_list *l = state;

	call->waiter = NULL;
	call->msgs = l->msgs;
	call->nmsgs = l->n;
	free(l);
	sink_call_complete(call, call->rc_done);
}

/*
 * Runs fn over what matches call->filter (stored now, in id order) as a
 * waiters scan, in slices; done completes the call. On the loop thread (a
 * call from the handler) it runs to its end at once.
 */
static void
sink_scan(struct sink_call *call, waiters_each_fn *each, waiters_scan_fn *done, void *state,
    void (*state_free)(void *))
{
	struct waiters_scan_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.filter = &call->filter;
	spec.each = each;
	spec.done = done;
	spec.state = state;
	spec.state_free = state_free;
	spec.arg = call;
	call->waiter = waiters_scan(server_waiters(call->sink->server), &spec);
	if (sink_on_loop(call->sink))
		waiters_scan_finish(call->waiter);
}

/* Copies up to limit (0: all) messages matching call->filter, then completes with rc. */
static void
sink_collect(struct sink_call *call, size_t limit, int rc)
{
	struct sink_list *l = xcalloc(1, sizeof(*l));

	l->limit = limit;
	call->rc_done = rc;
	sink_scan(call, sink_list_each, sink_list_done, l, sink_list_free);
}

static int
sink_clear_each(void *arg, void *state, struct message *m, uint64_t *cost)
{
	struct sink_call *call = arg;

	*cost += m->size / 64;
	store_delete_id(server_store(call->sink->server), m->id);
	return 0;
}

static void
sink_clear_done(void *arg, void *state, enum waiters_status status, size_t matched)
{
	struct sink_call *call = arg;

	call->waiter = NULL;
	call->deleted = (long)matched;
	sink_call_complete(call, 0);
}

/* --- the handler, on the loop thread ------------------------------------ */

/*
 * deliver_handler_fn adapter: a borrowed view of msg for the user's handler.
 * mime_view_get() only fills msg's parse cache, which is loop-thread state.
 */
static const char *
sink_handler(void *arg, const struct message *msg)
{
	struct smtpsink	       *sink = arg;
	struct smtpsink_message view;
	const char	       *stack[16], **rcpts = stack, *reply;
	size_t			i;

	if (msg->nrcpts > sizeof(stack) / sizeof(stack[0]))
		rcpts = xreallocarray(NULL, msg->nrcpts, sizeof(*rcpts));
	for (i = 0; i < msg->nrcpts; i++)
		rcpts[i] = sink_str(msg->rcpts[i].addr);
	memset(&view, 0, sizeof(view));
	view.id = msg->id;
	view.received_sec = msg->received.tv_sec;
	view.received_nsec = msg->received.tv_nsec;
	view.peer = sink_str(msg->peer);
	view.helo = sink_str(msg->helo);
	view.mail_from = sink_str(msg->mail_from);
	view.rcpt_to = rcpts;
	view.nrcpt_to = msg->nrcpts;
	view.data = msg->data != NULL ? msg->data : "";
	view.size = msg->size;
	view.subject = sink_subject((struct message *)msg);
	view.anomalies = msg->anomalies;
	view.smtputf8 = msg->smtputf8;
	view.auth_user = sink_str(msg->auth_user);
	view.auth_mechanism = sink_str(msg->auth_mechanism);
	reply = sink->handler(&view, sink->handler_arg);
	if (rcpts != stack)
		free(rcpts);
	return reply;
}

/* --- calls, executed on the loop thread ---------------------------------- */

static void
sink_wait_done(void *arg, enum waiters_status status, size_t matched)
{
	struct sink_call *call = arg;

	call->waiter = NULL;
	if (status == WAITERS_SHUTDOWN) {
		sink_call_complete(call, -1);
		return;
	}
	if (call->want_msgs)
		sink_collect(call, 0, status == WAITERS_OK ? 0 : 1);
	else
		sink_call_complete(call, status == WAITERS_OK ? 0 : 1);
}

static void
sink_call_run(struct sink_call *call)
{
	struct server  *s = call->sink->server;
	struct message *m;

	switch (call->op) {
	case SINK_OP_LIST:
		sink_collect(call, call->limit, 0);
		break;
	case SINK_OP_GET:
		if ((m = store_get(server_store(s), call->id)) != NULL) {
			call->msg = xmalloc(sizeof(*call->msg));
			sink_message_copy(call->msg, m);
		}
		sink_call_complete(call, 0);
		break;
	case SINK_OP_WAIT:
		if (server_is_stopping(s)) {
			sink_call_complete(call, -1);
			break;
		}
		call->waiter = waiters_wait(server_waiters(s), &call->filter, call->limit,
		    call->timeout_ms, sink_wait_done, call);
		if (call->waiter == NULL)
			sink_call_complete(call, -1);
		break;
	case SINK_OP_CLEAR:
		sink_scan(call, sink_clear_each, sink_clear_done, NULL, NULL);
		break;
	case SINK_OP_STATS:
		call->stats.messages_received = server_stats(s)->messages_received;
		call->stats.messages_rejected = server_stats(s)->messages_rejected;
		call->stats.messages_evicted = store_evicted(server_store(s));
		call->stats.sessions_total = server_stats(s)->sessions_total;
		call->stats.stored_messages = store_count(server_store(s));
		call->stats.stored_bytes = store_bytes(server_store(s));
		call->stats.last_id = store_last_id(server_store(s));
		sink_call_complete(call, 0);
		break;
	case SINK_OP_STOP:
		server_shutdown(s);
		sink_call_complete(call, 0);
		break;
	default:
		fatalx("sink_call_run: op %d", (int)call->op);
	}
}

static void
sink_inbox_cb(void *arg, int ok)
{
	sink_call_run(arg);
}

/* Loop thread. After this, the caller may return: call must not be touched. */
static void
sink_call_complete(struct sink_call *call, int rc)
{
	struct smtpsink *sink = call->sink;

	pthread_mutex_lock(&sink->lock);
	call->rc = rc;
	call->done = 1;
	TAILQ_REMOVE(&sink->calls, call, entry);
	pthread_cond_broadcast(&sink->cond);
	pthread_mutex_unlock(&sink->lock);
}

/* Caller side: 0 if the caller may proceed (and must sink_leave()), -1 if stopping. */
static int
sink_enter(struct smtpsink *sink, int stopping_ok)
{
	pthread_mutex_lock(&sink->lock);
	if ((sink->stopping && !stopping_ok) || sink->loop_done) {
		pthread_mutex_unlock(&sink->lock);
		return -1;
	}
	sink->active++;
	pthread_mutex_unlock(&sink->lock);
	return 0;
}

static void
sink_leave(struct smtpsink *sink)
{
	pthread_mutex_lock(&sink->lock);
	if (--sink->active == 0)
		pthread_cond_broadcast(&sink->cond);
	pthread_mutex_unlock(&sink->lock);
}

static int
sink_on_loop(const struct smtpsink *sink)
{
	return pthread_equal(pthread_self(), sink->loop_thread);
}

/*
 * Runs call on the loop thread and blocks until it completed. From the loop
 * thread itself (the handler), runs it directly. Returns call->rc.
 */
static int
sink_call(struct smtpsink *sink, struct sink_call *call)
{
	call->sink = sink;
	call->done = 0;
	call->rc = -1;
	if (sink_on_loop(sink)) {
		if (call->op == SINK_OP_WAIT)
			return -1;
		pthread_mutex_lock(&sink->lock);
		TAILQ_INSERT_TAIL(&sink->calls, call, entry);
		pthread_mutex_unlock(&sink->lock);
		sink_call_run(call);
		return call->rc;
	}
	pthread_mutex_lock(&sink->lock);
	if (sink->loop_done) {
		pthread_mutex_unlock(&sink->lock);
		return -1;
	}
	TAILQ_INSERT_TAIL(&sink->calls, call, entry);
	inbox_post(server_inbox(sink->server), sink_inbox_cb, call, 1);
	while (!call->done)
		pthread_cond_wait(&sink->cond, &sink->lock);
	pthread_mutex_unlock(&sink->lock);
	return call->rc;
}

static void
sink_filter_from(struct filter *dst, const struct smtpsink_filter *f)
{
	memset(dst, 0, sizeof(*dst));
	if (f == NULL)
		return;
	dst->mail_from = (char *)f->mail_from;
	dst->rcpt_to = (char *)f->rcpt_to;
	dst->subject = (char *)f->subject;
	dst->header_name = (char *)f->header_name;
	dst->header_value = (char *)f->header_value;
	dst->body = (char *)f->body;
	dst->after_id = f->after_id;
	dst->auth_user = (char *)f->auth_user;
}

int
smtpsink_filter_check(const struct smtpsink_filter *f, char *err, size_t errlen)
{
	struct filter flt;
	char	      tmp[1];

	sink_filter_from(&flt, f);
	if (err == NULL || errlen == 0) {
		err = tmp;
		errlen = sizeof(tmp);
	}
	return match_filter_check(&flt, err, errlen);
}

/* --- the loop thread ------------------------------------------------------ */

static void
sink_report_start(struct smtpsink *sink, int rc)
{
	pthread_mutex_lock(&sink->lock);
	sink->start_rc = rc;
	sink->started = 1;
	pthread_cond_broadcast(&sink->cond);
	pthread_mutex_unlock(&sink->lock);
}

static void *
sink_thread(void *arg)
{
	struct smtpsink	 *sink = arg;
	struct sink_call *call;
	sigset_t	  all;
	const char	 *a, *colon;
	int		  rc;

	/* Signals go to the embedding program's threads, never this one */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	sink->loop_thread = pthread_self();

	if ((sink->base = event_base_new()) == NULL) {
		snprintf(sink->start_err, sizeof(sink->start_err), "event_base_new failed");
		sink_report_start(sink, -1);
		return NULL;
	}
	/* server_new() initialises GMime once per process */
	pthread_mutex_lock(&sink_start_lock);
	sink->server = server_new(&sink->cfg, sink->base);
	rc = server_start(sink->server, sink->has_grpc, sink->start_err, sizeof(sink->start_err));
	pthread_mutex_unlock(&sink_start_lock);
	if (rc < 0) {
		server_free(sink->server);
		sink->server = NULL;
		event_base_free(sink->base);
		sink->base = NULL;
		sink_report_start(sink, -1);
		return NULL;
	}
	if (sink->handler != NULL)
		server_set_handler(sink->server, sink_handler, sink);
	a = server_smtp_addr(sink->server, 0);
	snprintf(sink->smtp_addr, sizeof(sink->smtp_addr), "%s", a);
	if ((colon = strrchr(a, ':')) != NULL)
		sink->smtp_port = atoi(colon + 1);
	if (server_grpc_addr(sink->server) != NULL)
		snprintf(sink->grpc_addr, sizeof(sink->grpc_addr), "%s",
		    server_grpc_addr(sink->server));
	else
		sink->has_grpc = 0;
	sink_report_start(sink, 0);

	event_base_loop(sink->base, EVLOOP_NO_EXIT_ON_EMPTY);

	/* Fail what never ran; cancel waits and scans still going */
	pthread_mutex_lock(&sink->lock);
	sink->loop_done = 1;
	while ((call = TAILQ_FIRST(&sink->calls)) != NULL) {
		TAILQ_REMOVE(&sink->calls, call, entry);
		if (call->waiter != NULL) {
			waiters_cancel(call->waiter);
			call->waiter = NULL;
		}
		call->rc = -1;
		call->done = 1;
	}
	pthread_cond_broadcast(&sink->cond);
	pthread_mutex_unlock(&sink->lock);

	server_free(sink->server);
	sink->server = NULL;
	event_base_free(sink->base);
	sink->base = NULL;
	if (sink->self_free) {
		pthread_mutex_lock(&sink->lock);
		while (sink->active > 0)
			pthread_cond_wait(&sink->cond, &sink->lock);
		pthread_mutex_unlock(&sink->lock);
		sink_free(sink);
	}
	return NULL;
}

/* --- public API ----------------------------------------------------------- */

static void
sink_free(struct smtpsink *sink)
{
	config_free(&sink->cfg);
	pthread_cond_destroy(&sink->cond);
	pthread_mutex_destroy(&sink->lock);
	free(sink);
}

struct smtpsink *
smtpsink_start(const struct smtpsink_options *opt, char *err, size_t errlen)
{
	struct smtpsink_options defaults;
	struct smtpsink	       *sink;
	char			tmp[1];
	int			rc;

	if (err == NULL || errlen == 0) {
		err = tmp;
		errlen = sizeof(tmp);
	}
	if (opt == NULL) {
		smtpsink_options_init(&defaults);
		opt = &defaults;
	}
	pthread_once(&sink_once, sink_global_init);
	if (sink_once_rc == -1) {
		snprintf(err, errlen, "libevent: evthread_use_pthreads failed");
		return NULL;
	}
	log_init(LOG_FORMAT_TEXT, (enum log_level)opt->log_level);

	sink = xcalloc(1, sizeof(*sink));
	pthread_mutex_init(&sink->lock, NULL);
	pthread_cond_init(&sink->cond, NULL);
	TAILQ_INIT(&sink->calls);
	config_defaults(&sink->cfg);
	free(sink->cfg.smtp_listen[0]);
	sink->cfg.smtp_listen[0] = xstrdup(opt->smtp_listen != NULL && *opt->smtp_listen != '\0' ?
		opt->smtp_listen :
		"127.0.0.1:0");
	free(sink->cfg.grpc_listen);
	sink->has_grpc = opt->grpc_listen != NULL && *opt->grpc_listen != '\0';
	sink->cfg.grpc_listen = xstrdup(sink->has_grpc ? opt->grpc_listen : "off");
	free(sink->cfg.http_listen);
	sink->cfg.http_listen = xstrdup("off"); /* the embedding API has no HTTP side */
	if (opt->hostname != NULL && *opt->hostname != '\0') {
		free(sink->cfg.hostname);
		sink->cfg.hostname = xstrdup(opt->hostname);
	}
	if (opt->max_message_size != 0)
		sink->cfg.message_size_max = opt->max_message_size;
	if (opt->max_messages != 0)
		sink->cfg.store_max_messages = opt->max_messages;
	if (opt->max_bytes != 0)
		sink->cfg.store_max_bytes = opt->max_bytes;
	sink->cfg.log_level = opt->log_level;
	sink->handler = opt->handler;
	sink->handler_arg = opt->handler_arg;

	if ((rc = pthread_create(&sink->thread, NULL, sink_thread, sink)) != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(rc));
		sink_free(sink);
		return NULL;
	}
	pthread_mutex_lock(&sink->lock);
	while (!sink->started)
		pthread_cond_wait(&sink->cond, &sink->lock);
	pthread_mutex_unlock(&sink->lock);
	if (sink->start_rc == -1) {
		snprintf(err, errlen, "%s", sink->start_err);
		pthread_join(sink->thread, NULL);
		sink_free(sink);
		return NULL;
	}
	return sink;
}

static void
sink_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtpsink *sink = arg;

	server_shutdown(sink->server);
}

void
smtpsink_stop(struct smtpsink *sink)
{
	struct sink_call call;
	struct timeval	 tv = { 0, 0 };

	if (sink == NULL)
		return;
	pthread_mutex_lock(&sink->lock);
	sink->stopping = 1;
	pthread_mutex_unlock(&sink->lock);
	if (sink_on_loop(sink)) {
		/* From the handler: stop asynchronously; the loop thread frees */
		sink->self_free = 1;
		pthread_detach(sink->thread);
		/* After the handler returned, so its message gets its reply first */
		event_base_once(sink->base, -1, EV_TIMEOUT, sink_stop_cb, sink, &tv);
		return;
	}
	memset(&call, 0, sizeof(call));
	call.op = SINK_OP_STOP;
	(void)sink_call(sink, &call);
	pthread_join(sink->thread, NULL);
	pthread_mutex_lock(&sink->lock);
	while (sink->active > 0)
		pthread_cond_wait(&sink->cond, &sink->lock);
	pthread_mutex_unlock(&sink->lock);
	sink_free(sink);
}

const char *
smtpsink_smtp_address(const struct smtpsink *sink)
{
	return sink->smtp_addr;
}

int
smtpsink_smtp_port(const struct smtpsink *sink)
{
	return sink->smtp_port;
}

const char *
smtpsink_grpc_address(const struct smtpsink *sink)
{
	return sink->has_grpc ? sink->grpc_addr : NULL;
}

int
smtpsink_list(struct smtpsink *sink, const struct smtpsink_filter *f, size_t limit,
    struct smtpsink_message **msgs, size_t *n)
{
	struct sink_call call;
	int		 rc;

	*msgs = NULL;
	*n = 0;
	if (smtpsink_filter_check(f, NULL, 0) == -1 || sink_enter(sink, 0) == -1)
		return -1;
	memset(&call, 0, sizeof(call));
	call.op = SINK_OP_LIST;
	sink_filter_from(&call.filter, f);
	call.limit = limit;
	if ((rc = sink_call(sink, &call)) == 0) {
		*msgs = call.msgs;
		*n = call.nmsgs;
	}
	sink_leave(sink);
	return rc;
}

struct smtpsink_message *
smtpsink_get(struct smtpsink *sink, uint64_t id)
{
	struct sink_call call;

	if (sink_enter(sink, 0) == -1)
		return NULL;
	memset(&call, 0, sizeof(call));
	call.op = SINK_OP_GET;
	call.id = id;
	(void)sink_call(sink, &call);
	sink_leave(sink);
	return call.msg;
}

int
smtpsink_wait(struct smtpsink *sink, const struct smtpsink_filter *f, size_t count, int timeout_ms,
    struct smtpsink_message **msgs, size_t *n)
{
	struct sink_call call;
	int		 rc;

	if (msgs != NULL)
		*msgs = NULL;
	if (n != NULL)
		*n = 0;
	if (smtpsink_filter_check(f, NULL, 0) == -1 || sink_enter(sink, 0) == -1)
		return -1;
	memset(&call, 0, sizeof(call));
	call.op = SINK_OP_WAIT;
	sink_filter_from(&call.filter, f);
	call.limit = count;
	call.timeout_ms = timeout_ms;
	call.want_msgs = msgs != NULL || n != NULL;
	rc = sink_call(sink, &call);
	if (rc == 0 || rc == 1) {
		if (msgs != NULL)
			*msgs = call.msgs;
		else
			smtpsink_messages_free(call.msgs, call.nmsgs);
		if (n != NULL)
			*n = call.nmsgs;
	} else
		smtpsink_messages_free(call.msgs, call.nmsgs);
	sink_leave(sink);
	return rc;
}

long
smtpsink_clear(struct smtpsink *sink, const struct smtpsink_filter *f)
{
	struct sink_call call;
	long		 rc;

	if (smtpsink_filter_check(f, NULL, 0) == -1 || sink_enter(sink, 0) == -1)
		return -1;
	memset(&call, 0, sizeof(call));
	call.op = SINK_OP_CLEAR;
	sink_filter_from(&call.filter, f);
	rc = sink_call(sink, &call) == 0 ? call.deleted : -1;
	sink_leave(sink);
	return rc;
}

int
smtpsink_get_stats(struct smtpsink *sink, struct smtpsink_stats *st)
{
	struct sink_call call;
	int		 rc;

	memset(st, 0, sizeof(*st));
	if (sink_enter(sink, 0) == -1)
		return -1;
	memset(&call, 0, sizeof(call));
	call.op = SINK_OP_STATS;
	if ((rc = sink_call(sink, &call)) == 0)
		*st = call.stats;
	sink_leave(sink);
	return rc;
}

uint64_t
smtpsink_last_id(struct smtpsink *sink)
{
	struct smtpsink_stats st;

	return smtpsink_get_stats(sink, &st) == 0 ? st.last_id : 0;
}
