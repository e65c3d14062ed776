/*
 * control_rpc - one handler per RPC of smtpsink.v1.Sink plus
 * grpc.health.v1.Health (Check, Watch). Runs on the loop thread; owns no
 * gRPC object (control.c does). Requests are borrowed; responses are stack
 * protos borrowing from the store, packed by control_reply()/control_send()
 * before the handler returns (control_pb.h).
 *
 * WaitForMessages parks on waiters_wait(): the store kicks the waiters after
 * each put (a deferred event), never a poll. WatchMessages is a pull stream:
 * a cursor (last id examined), one message in flight, the next one pulled
 * when the previous send completed; when caught up it sleeps until the
 * waiters' watch callback says new messages were stored. So replay and live
 * share one path: no gap, no duplicate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "smtpsink/v1/smtpsink.pb-c.h"

#include "config.h"
#include "control.h"
#include "control_call.h"
#include "control_pb.h"
#include "control_rpc.h"
#include "listener.h"
#include "log.h"
#include "match.h"
#include "message.h"
#include "rules.h"
#include "smtp_session.h"
#include "stats.h"
#include "store.h"
#include "waiters.h"
#include "xmalloc.h"

#define SERVICE_NAME	"smtpsink.v1.Sink"

static const struct control_env *
rpc_env(struct control_call *c)
{
	return control_env(c->ctl);
}

/* Request filter -> struct filter (borrowed); INVALID_ARGUMENT on a bad glob. */
static int
rpc_filter(struct control_call *c, struct filter *f, const Smtpsink__V1__Filter *pf)
{
	char	 err[256];

	control_pb_filter(f, pf);
	if (match_filter_check(f, err, sizeof(err)) == -1) {
		control_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "filter.%s", err);
		return -1;
	}
	return 0;
}

/*
 * Every stored message matching f (in id order, at most limit if > 0) as a
 * ListMessagesResponse, replied on c.
 */
static void
rpc_reply_list(struct control_call *c, const struct filter *f, size_t limit, unsigned pbflags)
{
	const struct control_env *s = rpc_env(c);
	Smtpsink__V1__ListMessagesResponse resp = SMTPSINK__V1__LIST_MESSAGES_RESPONSE__INIT;
	struct control_pb_arena		 arena;
	Smtpsink__V1__Message		**v = NULL;
	struct message			*m;
	size_t				 n = 0, cap = 0, matched = 0;

	control_pb_arena_init(&arena);
	for (m = store_next_match(s->store, f, f->after_id); m != NULL;
	    m = store_next_match(s->store, f, m->id)) {
		matched++;
		if (limit != 0 && n >= limit)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n++] = control_pb_message(&arena, m, pbflags);
	}
	resp.n_messages = n;
	resp.messages = v;
	resp.last_id = store_last_id(s->store);
	resp.matched = matched;
	control_reply(c, &resp.base);
	free(v);
	control_pb_arena_release(&arena);
}

static void
rpc_list_messages(struct control_call *c, const ProtobufCMessage *pm)
{
	const Smtpsink__V1__ListMessagesRequest	*req = (const void *)pm;
	struct filter				 f;

	if (rpc_filter(c, &f, req->filter) == -1)
		return;
	rpc_reply_list(c, &f, req->limit, req->include_raw ? CONTROL_PB_RAW : 0);
}

static void
rpc_get_message(struct control_call *c, const ProtobufCMessage *pm)
{
	const Smtpsink__V1__GetMessageRequest	*req = (const void *)pm;
	struct message				*m;
	struct control_pb_arena			 arena;
	unsigned				 flags = 0;

	if (req->id == 0) {
		control_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "id: must be > 0");
		return;
	}
	if ((m = store_get(rpc_env(c)->store, req->id)) == NULL) {
		control_fail(c, GRPC_STATUS_NOT_FOUND,
		    "message %llu not found (never stored, deleted or evicted)",
		    (unsigned long long)req->id);
		return;
	}
	if (req->include_raw)
		flags |= CONTROL_PB_RAW;
	if (req->include_attachments)
		flags |= CONTROL_PB_ATT_CONTENT;
	control_pb_arena_init(&arena);
	control_reply(c, &control_pb_message(&arena, m, flags)->base);
	control_pb_arena_release(&arena);
}

/* --- WaitForMessages ------------------------------------------------------ */

static void
rpc_wait_done(void *arg, enum waiters_status st, size_t matched)
{
	struct control_call	*c = arg;

	c->waiter = NULL;
	c->on_close = NULL;
	c->on_shutdown = NULL;
	switch (st) {
	case WAITERS_OK:
		rpc_reply_list(c, &c->filter, 0, c->pbflags);
		break;
	case WAITERS_TIMEOUT:
		control_fail(c, GRPC_STATUS_DEADLINE_EXCEEDED,
		    "deadline exceeded: %zu of %zu messages matched", matched, c->count);
		break;
	default:
		control_fail(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
		break;
	}
}

/* The client went away (cancel, deadline, reset): drop the waiter, send nothing. */
static void
rpc_wait_close(struct control_call *c)
{
	if (c->waiter != NULL) {
		waiters_cancel(c->waiter);
		c->waiter = NULL;
	}
}

static void
rpc_wait_shutdown(struct control_call *c)
{
	rpc_wait_close(c);
	control_fail(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
}

static void
rpc_wait_for_messages(struct control_call *c, const ProtobufCMessage *pm)
{
	const Smtpsink__V1__WaitForMessagesRequest *req = (const void *)pm;
	const struct control_env		*s = rpc_env(c);
	struct filter				 f;
	long long				 ms = -1, rpc_ms, cap, margin;
	size_t					 count = req->count ? req->count : 1;

	if (rpc_filter(c, &f, req->filter) == -1)
		return;
	if (req->timeout != NULL) {
		if (req->timeout->seconds < 0 || req->timeout->nanos < 0 ||
		    req->timeout->seconds > 100LL * 365 * 86400) {
			control_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
			    "timeout: must be >= 0 and less than 100 years");
			return;
		}
		ms = req->timeout->seconds * 1000 + req->timeout->nanos / 1000000;
	}
	cap = (long long)s->cfg->wait_max_ms;
	if (ms < 0 || ms > cap)
		ms = cap;
	/*
	 * When the client's own deadline comes first, answer a little before
	 * it, so the client gets our DEADLINE_EXCEEDED with the count instead
	 * of its bare local one.
	 */
	if ((rpc_ms = control_remaining_ms(c)) >= 0 && rpc_ms <= ms) {
		margin = rpc_ms / 10 > 100 ? 100 : rpc_ms / 10;
		ms = rpc_ms - margin;
	}
	match_filter_copy(&c->filter, &f);
	c->count = count;
	c->pbflags = req->include_raw ? CONTROL_PB_RAW : 0;
	c->waiter = waiters_wait(s->waiters, &c->filter, count, ms > 0x7fffffff ? 0x7fffffff :
	    (int)ms, rpc_wait_done, c);
	if (c->waiter == NULL) {
		control_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
		    "too many parked waits and watches (max %u, --max-waiters)", s->cfg->waiters_max);
		return;
	}
	c->on_close = rpc_wait_close;
	c->on_shutdown = rpc_wait_shutdown;
}

/* --- WatchMessages -------------------------------------------------------- */

/* Sends the next matching message after the cursor, if any and none in flight. */
static void
rpc_watch_pump(struct control_call *c)
{
	const struct control_env *s = rpc_env(c);
	struct message		*m;
	struct control_pb_arena	 arena;
	uint64_t		 examined = c->cursor;

	if (c->sending || c->closed || c->status_sent)
		return;
	m = store_scan_match(s->store, &c->filter, c->cursor, &examined);
	if (m == NULL) {
		/* Nothing matched up to here; never look at those again. */
		if (examined > c->cursor)
			c->cursor = examined;
		return;
	}
	control_pb_arena_init(&arena);
	if (control_send(c, &control_pb_message(&arena, m, c->pbflags)->base) == 0)
		c->cursor = m->id;
	control_pb_arena_release(&arena);
}

static void
rpc_watch_kick(void *arg)
{
	rpc_watch_pump(arg);
}

static void
rpc_watch_sent(struct control_call *c, int ok)
{
	if (ok)
		rpc_watch_pump(c);
}

static void
rpc_watch_close(struct control_call *c)
{
	if (c->waiter != NULL) {
		waiters_cancel(c->waiter);
		c->waiter = NULL;
	}
}

static void
rpc_watch_shutdown(struct control_call *c)
{
	rpc_watch_close(c);
	control_fail(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
}

static void
rpc_watch_messages(struct control_call *c, const ProtobufCMessage *pm)
{
	const Smtpsink__V1__WatchMessagesRequest *req = (const void *)pm;
	const struct control_env		*s = rpc_env(c);
	struct filter				 f;

	if (rpc_filter(c, &f, req->filter) == -1)
		return;
	match_filter_copy(&c->filter, &f);
	c->cursor = req->after_id > f.after_id ? req->after_id : f.after_id;
	c->filter.after_id = 0;
	c->pbflags = req->include_raw ? CONTROL_PB_RAW : 0;
	c->waiter = waiters_watch(s->waiters, rpc_watch_kick, c);
	if (c->waiter == NULL) {
		control_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
		    "too many parked waits and watches (max %u, --max-waiters)", s->cfg->waiters_max);
		return;
	}
	c->on_sent = rpc_watch_sent;
	c->on_close = rpc_watch_close;
	c->on_shutdown = rpc_watch_shutdown;
	/* Headers first, so clients know the stream is established; then replay. */
	if (control_send(c, NULL) == -1)
		rpc_watch_pump(c);
}

/* --- Clear and rules ------------------------------------------------------ */

static void
rpc_clear(struct control_call *c, const ProtobufCMessage *pm)
{
	const Smtpsink__V1__ClearRequest	*req = (const void *)pm;
	Smtpsink__V1__ClearResponse		 resp = SMTPSINK__V1__CLEAR_RESPONSE__INIT;
	const struct control_env		*s = rpc_env(c);
	struct filter				 f;

	if (rpc_filter(c, &f, req->filter) == -1)
		return;
	resp.deleted = store_delete(s->store, match_filter_is_empty(&f) ? NULL : &f);
	if (resp.deleted > 0)
		waiters_kick(s->waiters);
	log_info("grpc clear deleted=%llu", (unsigned long long)resp.deleted);
	control_reply(c, &resp.base);
}

static void
rpc_set_reject_rule(struct control_call *c, const ProtobufCMessage *pm)
{
	const Smtpsink__V1__RejectRule	*req = (const void *)pm;
	Smtpsink__V1__RejectRule	 resp;
	const struct control_env	*s = rpc_env(c);
	struct rule			 t;
	const struct rule		*r;
	char				 err[256];

	if (control_pb_rule_from(&t, req, err, sizeof(err)) == -1) {
		control_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
		return;
	}
	if (rules_count(s->rules) >= RULES_MAX) {
		control_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many rules (max %d)", RULES_MAX);
		return;
	}
	if ((r = rules_add(s->rules, &t, err, sizeof(err))) == NULL) {
		control_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
		return;
	}
	log_info("rule added id=%s stage=%s code=%u times=%u delay_ms=%u disconnect=%d", r->id,
	    rules_stage_str(r->stage), r->code, r->times, r->delay_ms, r->disconnect);
	control_pb_rule_to(&resp, r);
	control_reply(c, &resp.base);
}

static void
rpc_list_reject_rules(struct control_call *c, const ProtobufCMessage *pm)
{
	Smtpsink__V1__ListRejectRulesResponse	 resp = SMTPSINK__V1__LIST_REJECT_RULES_RESPONSE__INIT;
	const struct control_env		*s = rpc_env(c);
	const struct rule			*r;
	Smtpsink__V1__RejectRule		*v, **pv;
	size_t					 n = rules_count(s->rules), i = 0;

	v = xcalloc(n ? n : 1, sizeof(*v));
	pv = xcalloc(n ? n : 1, sizeof(*pv));
	for (r = rules_first(s->rules); r != NULL && i < n; r = r->next, i++) {
		control_pb_rule_to(&v[i], r);
		pv[i] = &v[i];
	}
	resp.n_rules = i;
	resp.rules = pv;
	control_reply(c, &resp.base);
	free(pv);
	free(v);
}

static void
rpc_delete_reject_rule(struct control_call *c, const ProtobufCMessage *pm)
{
	const Smtpsink__V1__DeleteRejectRuleRequest *req = (const void *)pm;
	Smtpsink__V1__DeleteRejectRuleResponse	 resp = SMTPSINK__V1__DELETE_REJECT_RULE_RESPONSE__INIT;
	const struct control_env		*s = rpc_env(c);
	const char				*id = req->id != NULL ? req->id : "";
	char					 safe[LOG_SANITIZE_MAX];

	resp.deleted = rules_delete(s->rules, id);
	if (*id != '\0' && resp.deleted == 0) {
		control_fail(c, GRPC_STATUS_NOT_FOUND, "no rule with id \"%s\"",
		    log_sanitize(safe, sizeof(safe), id, strlen(id)));
		return;
	}
	log_info("rule deleted id=%s deleted=%llu", *id ? log_sanitize(safe, sizeof(safe), id,
	    strlen(id)) : "all", (unsigned long long)resp.deleted);
	control_reply(c, &resp.base);
}

/* --- GetServerInfo -------------------------------------------------------- */

/*
 * The EHLO keywords as advertised: "SIZE 33554432" stays one entry (an
 * all-digit word is the previous keyword's parameter).
 */
static size_t
rpc_extensions(char *line, char **out, size_t max)
{
	char	*p = line, *w;
	size_t	 n = 0;

	while ((w = strsep(&p, " ")) != NULL) {
		if (*w == '\0')
			continue;
		if (n > 0 && w[strspn(w, "0123456789")] == '\0') {
			w[-1] = ' ';	/* rejoin with the keyword */
			continue;
		}
		if (n < max)
			out[n++] = w;
	}
	return n;
}

static void
rpc_get_server_info(struct control_call *c, const ProtobufCMessage *pm)
{
	Smtpsink__V1__ServerInfo	 resp = SMTPSINK__V1__SERVER_INFO__INIT;
	Smtpsink__V1__Counters		 cnt = SMTPSINK__V1__COUNTERS__INIT;
	const struct control_env	*s = rpc_env(c);
	char				 line[SMTP_EXT_LINE_MAX], *ext[64];
	char				*addrs[CONFIG_LISTEN_MAX * 2];
	size_t				 i, n = s->listener ? listener_count(s->listener) : 0;

	resp.version = SMTPSINK_VERSION;
	if (n > sizeof(addrs) / sizeof(addrs[0]))
		n = sizeof(addrs) / sizeof(addrs[0]);
	for (i = 0; i < n; i++)
		addrs[i] = (char *)listener_addr(s->listener, i);
	resp.n_smtp_addresses = n;
	resp.smtp_addresses = addrs;
	resp.grpc_address = (char *)control_address(c->ctl);
	snprintf(line, sizeof(line), "%s", s->smtp_ext_line);
	resp.n_extensions = rpc_extensions(line, ext, sizeof(ext) / sizeof(ext[0]));
	resp.extensions = ext;
	cnt.sessions_total = s->stats->sessions_total;
	cnt.sessions_active = s->stats->sessions_active;
	cnt.messages_received = s->stats->messages_received;
	cnt.messages_rejected = s->stats->messages_rejected;
	cnt.messages_evicted = store_evicted(s->store);
	cnt.stored_messages = store_count(s->store);
	cnt.stored_bytes = store_bytes(s->store);
	cnt.last_id = store_last_id(s->store);
	cnt.rcpts_rejected = s->stats->rcpts_rejected;
	cnt.bytes_received = s->stats->bytes_received;
	cnt.waiters = waiters_count(s->waiters);
	cnt.grpc_calls = control_live_calls(c->ctl);
	resp.counters = &cnt;
	resp.max_message_size = s->cfg->message_size_max;
	resp.grpc_max_message_size = control_max_message(c->ctl);
	control_reply(c, &resp.base);
}

/* --- grpc.health.v1.Health ------------------------------------------------ */

static int
rpc_health_status(struct control_call *c, const char *service)
{
	if (service != NULL && *service != '\0' && strcmp(service, SERVICE_NAME) != 0)
		return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
	return control_serving(c->ctl) ?
	    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING :
	    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static void
rpc_health_check(struct control_call *c, const ProtobufCMessage *pm)
{
	const Grpc__Health__V1__HealthCheckRequest *req = (const void *)pm;
	Grpc__Health__V1__HealthCheckResponse	 resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	char					 safe[LOG_SANITIZE_MAX];

	resp.status = rpc_health_status(c, req->service);
	if (resp.status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN) {
		control_fail(c, GRPC_STATUS_NOT_FOUND, "unknown service \"%s\"",
		    log_sanitize(safe, sizeof(safe), req->service, strlen(req->service)));
		return;
	}
	control_reply(c, &resp.base);
}

/*
 * Health/Watch: the current status, then NOT_SERVING as soon as the
 * shutdown begins (SIGTERM: while SMTP drains, the rest of the API still
 * answers), then the stream ends with UNAVAILABLE when the control API
 * stops. c->health holds the last status sent; the unknown-service answer
 * (SERVICE_UNKNOWN) stays open too.
 */
static void
rpc_health_watch_sent(struct control_call *c, int ok)
{
	Grpc__Health__V1__HealthCheckResponse	 resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

	if (!ok || control_serving(c->ctl))
		return;
	if (c->health == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
		resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
		if (control_send(c, &resp.base) == 0)
			c->health = resp.status;
		return;
	}
	if (control_stopping(c->ctl))
		control_fail(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
}

/* on_serving and on_shutdown: act now unless a send is in flight (then on_sent will) */
static void
rpc_health_watch_update(struct control_call *c)
{
	if (!c->sending)
		rpc_health_watch_sent(c, 1);
}

static void
rpc_health_watch(struct control_call *c, const ProtobufCMessage *pm)
{
	const Grpc__Health__V1__HealthCheckRequest *req = (const void *)pm;
	Grpc__Health__V1__HealthCheckResponse	 resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

	resp.status = rpc_health_status(c, req->service);
	c->health = resp.status;
	c->on_sent = rpc_health_watch_sent;
	c->on_shutdown = rpc_health_watch_update;
	c->on_serving = rpc_health_watch_update;
	control_send(c, &resp.base);
}

static const struct control_method rpc_methods[] = {
	{ "/smtpsink.v1.Sink/ListMessages", CONTROL_UNARY,
	    &smtpsink__v1__list_messages_request__descriptor, rpc_list_messages },
	{ "/smtpsink.v1.Sink/GetMessage", CONTROL_UNARY,
	    &smtpsink__v1__get_message_request__descriptor, rpc_get_message },
	{ "/smtpsink.v1.Sink/WaitForMessages", CONTROL_UNARY,
	    &smtpsink__v1__wait_for_messages_request__descriptor, rpc_wait_for_messages },
	{ "/smtpsink.v1.Sink/WatchMessages", CONTROL_SERVER_STREAM,
	    &smtpsink__v1__watch_messages_request__descriptor, rpc_watch_messages },
	{ "/smtpsink.v1.Sink/Clear", CONTROL_UNARY,
	    &smtpsink__v1__clear_request__descriptor, rpc_clear },
	{ "/smtpsink.v1.Sink/SetRejectRule", CONTROL_UNARY,
	    &smtpsink__v1__reject_rule__descriptor, rpc_set_reject_rule },
	{ "/smtpsink.v1.Sink/ListRejectRules", CONTROL_UNARY,
	    &smtpsink__v1__list_reject_rules_request__descriptor, rpc_list_reject_rules },
	{ "/smtpsink.v1.Sink/DeleteRejectRule", CONTROL_UNARY,
	    &smtpsink__v1__delete_reject_rule_request__descriptor, rpc_delete_reject_rule },
	{ "/smtpsink.v1.Sink/GetServerInfo", CONTROL_UNARY,
	    &smtpsink__v1__get_server_info_request__descriptor, rpc_get_server_info },
	{ "/grpc.health.v1.Health/Check", CONTROL_UNARY,
	    &grpc__health__v1__health_check_request__descriptor, rpc_health_check },
	{ "/grpc.health.v1.Health/Watch", CONTROL_SERVER_STREAM,
	    &grpc__health__v1__health_check_request__descriptor, rpc_health_watch },
};

const struct control_method *
control_rpc_methods(size_t *n)
{
	*n = sizeof(rpc_methods) / sizeof(rpc_methods[0]);
	return rpc_methods;
}
