/*
 * control_rpc - one handler per RPC of smtpsink.v1.Sink plus
 * grpc.health.v1.Health (Check, Watch). Runs on the loop thread; owns no
 * gRPC object (control.c does). Requests are borrowed; responses are stack
 * protos borrowing from the store, packed by control_reply()/control_send()
 * before the handler returns (control_pb.h).
 *
 * No handler does work whose size the client chooses on its own stack: a
 * listing, a clear or a watch's replay is a waiters scan or follow (the
 * filter compiled once), worked through in slices between which the loop
 * serves SMTP; the call answers when it ends (c->waiter is the scan, which
 * control.c cancels if the call goes away first).
 *
 * ListMessages: the scan packs each match as it reaches it (the message is
 * read then: one deleted after that is still listed, one deleted before is
 * not; ids stored after the call began are not looked at) into a ready-made
 * repeated field (an unknown field of tag 1 holding the packed Message), so
 * nothing borrowed from the store is kept between slices; the reply is those
 * fields, then last_id and matched, the same bytes as packing the message
 * whole. Past the gRPC size limit it only adds up sizes, to refuse with them.
 * WaitForMessages parks on waiters_wait(): the store kicks the waiters after
 * each put (a deferred pass), never a poll; when satisfied, it lists as
 * ListMessages does. WatchMessages is a waiters follow: one message in
 * flight, the next one asked for when the previous send completed; replay
 * and live share one path: no gap, no duplicate. Clear deletes as its scan
 * reaches each match.
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
#include "tls.h"
#include "log.h"
#include "match.h"
#include "message.h"
#include "rules.h"
#include "smtp_auth.h"
#include "smtp_session.h"
#include "stats.h"
#include "store.h"
#include "waiters.h"
#include "xmalloc.h"

#define SERVICE_NAME "smtpsink.v1.Sink"

static const struct control_env *
rpc_env(struct control_call *c)
{
	return control_env(c->ctl);
}

/* Request filter -> struct filter (borrowed); INVALID_ARGUMENT on a bad glob. */
static int
rpc_filter(struct control_call *c, struct filter *f, const Smtpsink__V1__Filter *pf)
{
	char err[256];

	control_pb_filter(f, pf);
	if (match_filter_check(f, err, sizeof(err)) == -1) {
		control_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "filter.%s", err);
		return -1;
	}
	return 0;
}

/* --- ListMessages (and WaitForMessages' answer) --------------------------- */

/* A listing being built: the scan's state (see the file header). */
struct rpc_list {
	ProtobufCMessageUnknownField *f; /* tag 1, length-prefixed Message */
	size_t			      n, cap;
	size_t			      kept;  /* matches within limit */
	size_t			      limit; /* 0: all */
	size_t			      bytes; /* the response's so far */
	size_t			      max;   /* the gRPC message size limit */
	unsigned		      pbflags;
	struct store		     *store;
};

static void
rpc_list_drop(struct rpc_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->f[i].data);
	free(l->f);
	l->f = NULL;
	l->n = l->cap = 0;
}

static void
rpc_list_free(void *state)
{
	struct rpc_list *l = state;

	rpc_list_drop(l);
	free(l);
}

/* Protobuf's base-128 varint of v into out (10 bytes at most); its length */
static size_t
rpc_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	for (; v >= 0x80; v >>= 7)
		out[n++] = (uint8_t)(v | 0x80);
	out[n++] = (uint8_t)v;
	return n;
}

/* An unknown field of tag tag holding a varint, in buf (10 bytes) */
static void
rpc_varint_field(ProtobufCMessageUnknownField *f, uint32_t tag, uint64_t v, uint8_t *buf)
{
	f->tag = tag;
	f->wire_type = PROTOBUF_C_WIRE_TYPE_VARINT;
	f->len = rpc_varint(buf, v);
	f->data = buf;
}

static int
rpc_list_each(void *arg, void *state, struct message *m, uint64_t *cost)
{
	struct rpc_list	       *l = state;
	struct control_pb_arena arena;
	const struct mime_body *body = NULL;
	Smtpsink__V1__Message  *pm;
	uint8_t			pre[10], *data;
	size_t			size, plen;
	int64_t			spent = 0;

	if (l->limit != 0 && l->kept == l->limit)
		return 0; /* counted, not listed */
	l->kept++;
	if (!(l->pbflags & CONTROL_PB_NO_BODY))
		body = store_body(l->store, m, &spent);
	control_pb_arena_init(&arena);
	pm = control_pb_message_body(&arena, m, body, l->pbflags);
	size = protobuf_c_message_get_packed_size(&pm->base);
	plen = rpc_varint(pre, size);
	l->bytes += 1 + plen + size; /* tag 1, length, message */
	if (l->bytes <= l->max) {
		if (l->n == l->cap) {
			l->cap = l->cap ? l->cap * 2 : 16;
			l->f = xreallocarray(l->f, l->cap, sizeof(*l->f));
		}
		data = xmalloc(plen + size);
		memcpy(data, pre, plen);
		protobuf_c_message_pack(&pm->base, data + plen);
		l->f[l->n].tag = 1;
		l->f[l->n].wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
		l->f[l->n].len = plen + size;
		l->f[l->n].data = data;
		l->n++;
	} else if (l->n > 0)
		rpc_list_drop(l); /* it will be refused: keep sizes only */
	control_pb_arena_release(&arena);
	*cost += size + (uint64_t)-spent;
	return 0;
}

static void
rpc_list_done(void *arg, void *state, enum waiters_status st, size_t matched)
{
	struct control_call		  *c = arg;
	struct rpc_list			  *l = state;
	Smtpsink__V1__ListMessagesResponse resp = SMTPSINK__V1__LIST_MESSAGES_RESPONSE__INIT;
	uint8_t				   last_id[10], nmatched[10];
	uint64_t			   last = store_last_id(rpc_env(c)->store);
	size_t				   i;

	c->waiter = NULL;
	/* messages, last_id, matched: in field order, as packing the whole would */
	if (l->n + 2 > l->cap)
		l->f = xreallocarray(l->f, l->n + 2, sizeof(*l->f));
	resp.base.unknown_fields = l->f;
	resp.base.n_unknown_fields = (unsigned)l->n;
	if (last != 0)
		rpc_varint_field(&l->f[resp.base.n_unknown_fields++], 2, last, last_id);
	if (matched != 0)
		rpc_varint_field(&l->f[resp.base.n_unknown_fields++], 3, matched, nmatched);
	if (l->bytes > l->max) {
		/* the messages were dropped on the way: what control_reply() would say */
		for (i = l->n; i < resp.base.n_unknown_fields; i++)
			l->bytes += 1 + l->f[i].len;
		control_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
		    "response of %zu bytes exceeds the max message size %zu "
		    "(use a limit, a narrower filter, or --grpc-max-message-size)",
		    l->bytes, l->max);
	} else
		control_reply(c, &resp.base);
	rpc_list_free(l);
}

/*
 * Every message stored now that matches f (borrowed: compiled here), in id
 * order, at most limit if > 0, as a ListMessagesResponse replied on c once
 * the scan is done.
 */
static void
rpc_list_start(struct control_call *c, const struct filter *f, size_t limit, unsigned pbflags)
{
	const struct control_env *s = rpc_env(c);
	struct rpc_list		 *l = xcalloc(1, sizeof(*l));
	struct waiters_scan_spec  spec;

	l->limit = limit;
	l->pbflags = pbflags;
	l->max = control_max_message(c->ctl);
	l->store = s->store;
	memset(&spec, 0, sizeof(spec));
	spec.filter = f;
	spec.each = rpc_list_each;
	spec.done = rpc_list_done;
	spec.state = l;
	spec.state_free = rpc_list_free;
	spec.arg = c;
	c->waiter = waiters_scan(s->waiters, &spec);
}

static void
rpc_list_messages(struct control_call *c, const ProtobufCMessage *pm)
{
	const Smtpsink__V1__ListMessagesRequest *req = (const void *)pm;
	struct filter				 f;

	if (rpc_filter(c, &f, req->filter) == -1)
		return;
	rpc_list_start(c, &f, req->limit, req->include_raw ? CONTROL_PB_RAW : 0);
}

static void
rpc_get_message(struct control_call *c, const ProtobufCMessage *pm)
{
	const Smtpsink__V1__GetMessageRequest *req = (const void *)pm;
	struct message			      *m;
	struct control_pb_arena		       arena;
	const struct mime_body		      *body = NULL;
	unsigned			       flags = 0;
	int64_t				       spent = 0;

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
	else
		body = store_body(rpc_env(c)->store, m, &spent);
	control_pb_arena_init(&arena);
	control_reply(c, &control_pb_message_body(&arena, m, body, flags)->base);
	control_pb_arena_release(&arena);
}

/* --- WaitForMessages ------------------------------------------------------ */

static void
rpc_wait_done(void *arg, enum waiters_status st, size_t matched)
{
	struct control_call *c = arg;

	c->waiter = NULL;
	c->on_close = NULL;
	c->on_shutdown = NULL;
	switch (st) {
	case WAITERS_OK:
		rpc_list_start(c, &c->filter, 0, c->pbflags);
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
	const struct control_env		   *s = rpc_env(c);
	struct filter				    f;
	long long				    ms = -1, rpc_ms, cap, margin;
	size_t					    count = req->count ? req->count : 1;

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
	c->waiter = waiters_wait(s->waiters, &c->filter, count,
	    ms > 0x7fffffff ? 0x7fffffff : (int)ms, rpc_wait_done, c);
	if (c->waiter == NULL) {
		control_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
		    "too many parked waits and watches (max %u, --max-waiters)",
		    s->cfg->waiters_max);
		return;
	}
	c->on_close = rpc_wait_close;
	c->on_shutdown = rpc_wait_shutdown;
}

/* --- WatchMessages -------------------------------------------------------- */

/* The follow's next match: sent; the next is asked for once the send completed. */
static int
rpc_watch_each(void *arg, void *state, struct message *m, uint64_t *cost)
{
	struct control_call    *c = arg;
	struct control_pb_arena arena;
	const struct mime_body *body;
	Smtpsink__V1__Message  *pm;
	int64_t			spent = 0;

	if (c->sending || c->closed || c->status_sent)
		return 0;
	body = store_body(rpc_env(c)->store, m, &spent);
	control_pb_arena_init(&arena);
	pm = control_pb_message_body(&arena, m, body, c->pbflags);
	*cost += protobuf_c_message_get_packed_size(&pm->base) + (uint64_t)-spent;
	control_send(c, &pm->base); /* -1: the stream is over; nothing is asked again */
	control_pb_arena_release(&arena);
	return 0;
}

static void
rpc_watch_sent(struct control_call *c, int ok)
{
	if (ok && c->waiter != NULL)
		waiters_follow_next(c->waiter);
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
	const struct control_env		 *s = rpc_env(c);
	struct filter				  f;

	if (rpc_filter(c, &f, req->filter) == -1)
		return;
	c->pbflags = req->include_raw ? CONTROL_PB_RAW : 0;
	c->waiter = waiters_follow(s->waiters, &f, req->after_id, rpc_watch_each, c);
	if (c->waiter == NULL) {
		control_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
		    "too many parked waits and watches (max %u, --max-waiters)",
		    s->cfg->waiters_max);
		return;
	}
	c->on_sent = rpc_watch_sent;
	c->on_close = rpc_watch_close;
	c->on_shutdown = rpc_watch_shutdown;
	/* Headers first, so clients know the stream is established; then replay. */
	if (control_send(c, NULL) == -1)
		waiters_follow_next(c->waiter);
}

/* --- Clear and rules ------------------------------------------------------ */

/* Clear: each match is deleted as the scan reaches it */
static int
rpc_clear_each(void *arg, void *state, struct message *m, uint64_t *cost)
{
	struct control_call *c = arg;

	*cost += m->size / 64; /* freeing it */
	store_delete_id(rpc_env(c)->store, m->id);
	return 0;
}

static void
rpc_clear_done(void *arg, void *state, enum waiters_status st, size_t matched)
{
	struct control_call	   *c = arg;
	Smtpsink__V1__ClearResponse resp = SMTPSINK__V1__CLEAR_RESPONSE__INIT;

	c->waiter = NULL;
	resp.deleted = matched;
	if (resp.deleted > 0)
		waiters_kick(rpc_env(c)->waiters);
	log_info("grpc clear deleted=%llu", (unsigned long long)resp.deleted);
	control_reply(c, &resp.base);
}

static void
rpc_clear(struct control_call *c, const ProtobufCMessage *pm)
{
	const Smtpsink__V1__ClearRequest *req = (const void *)pm;
	struct waiters_scan_spec	  spec;
	struct filter			  f;

	if (rpc_filter(c, &f, req->filter) == -1)
		return;
	memset(&spec, 0, sizeof(spec));
	spec.filter = &f;
	spec.each = rpc_clear_each;
	spec.done = rpc_clear_done;
	spec.arg = c;
	c->waiter = waiters_scan(rpc_env(c)->waiters, &spec);
}

static void
rpc_set_reject_rule(struct control_call *c, const ProtobufCMessage *pm)
{
	const Smtpsink__V1__RejectRule *req = (const void *)pm;
	Smtpsink__V1__RejectRule	resp;
	const struct control_env       *s = rpc_env(c);
	struct rule			t;
	const struct rule	       *r;
	char				err[256];

	if (control_pb_rule_from(&t, req, err, sizeof(err)) == -1) {
		control_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
		return;
	}
	if (rules_count(s->rules) >= RULES_MAX) {
		control_fail(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many rules (max %d)",
		    RULES_MAX);
		return;
	}
	if ((r = rules_add(s->rules, &t, err, sizeof(err))) == NULL) {
		control_fail(c,
		    rules_add_full(s->rules) ? GRPC_STATUS_RESOURCE_EXHAUSTED :
					       GRPC_STATUS_INVALID_ARGUMENT,
		    "%s", err);
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
	Smtpsink__V1__ListRejectRulesResponse resp = SMTPSINK__V1__LIST_REJECT_RULES_RESPONSE__INIT;
	const struct control_env	     *s = rpc_env(c);
	const struct rule		     *r;
	Smtpsink__V1__RejectRule	     *v, **pv;
	size_t				      n = rules_count(s->rules), i = 0;

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
	Smtpsink__V1__DeleteRejectRuleResponse
				  resp = SMTPSINK__V1__DELETE_REJECT_RULE_RESPONSE__INIT;
	const struct control_env *s = rpc_env(c);
	const char		 *id = req->id != NULL ? req->id : "";
	char			  safe[LOG_SANITIZE_MAX];

	resp.deleted = rules_delete(s->rules, id);
	if (*id != '\0' && resp.deleted == 0) {
		control_fail(c, GRPC_STATUS_NOT_FOUND, "no rule with id \"%s\"",
		    log_sanitize(safe, sizeof(safe), id, strlen(id)));
		return;
	}
	log_info("rule deleted id=%s deleted=%llu",
	    *id ? log_sanitize(safe, sizeof(safe), id, strlen(id)) : "all",
	    (unsigned long long)resp.deleted);
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
	char  *p = line, *w;
	size_t n = 0;

	while ((w = strsep(&p, " ")) != NULL) {
		if (*w == '\0')
			continue;
		if (n > 0 && w[strspn(w, "0123456789")] == '\0') {
			w[-1] = ' '; /* rejoin with the keyword */
			continue;
		}
		if (n < max)
			out[n++] = w;
	}
	return n;
}

/* The AUTH settings; AUTH joins the extensions (advertised, inside TLS when set) */
static void
rpc_server_info_auth(Smtpsink__V1__ServerInfo *resp, const struct config *cfg)
{
	static char *mechs[] = { "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2" };
	static char  ext[] = "AUTH " SMTP_AUTH_MECHS;

	if (!cfg->auth)
		return;
	resp->extensions[resp->n_extensions++] = ext;
	resp->n_auth_mechanisms = sizeof(mechs) / sizeof(mechs[0]);
	resp->auth_mechanisms = mechs;
	resp->auth_users = cfg->auth_users_n;
	resp->require_auth = cfg->require_auth != 0;
	resp->auth_allow_insecure = cfg->auth_allow_insecure != 0;
}

/* The TLS fields; the SMTPS addresses go into addrs (room for max) */
static void
rpc_server_info_tls(const struct control_env *s, Smtpsink__V1__ServerInfo *resp, char **addrs,
    size_t max)
{
	size_t i, n = s->smtps_listener ? listener_count(s->smtps_listener) : 0;

	if (s->tls == NULL)
		return;
	if (n > max)
		n = max;
	for (i = 0; i < n; i++)
		addrs[i] = (char *)listener_addr(s->smtps_listener, i);
	resp->n_smtps_addresses = n;
	resp->smtps_addresses = addrs;
	resp->tls_certificate_pem = (char *)tls_cert_pem(s->tls);
	resp->starttls = s->cfg->starttls != 0;
	resp->require_tls = s->cfg->require_tls != 0;
	resp->tls_min_version = s->cfg->tls_min_version == CONFIG_TLS_1_3 ? "TLSv1.3" : "TLSv1.2";
	resp->tls_self_signed = tls_self_signed(s->tls) != 0;
}

static void
rpc_get_server_info(struct control_call *c, const ProtobufCMessage *pm)
{
	Smtpsink__V1__ServerInfo  resp = SMTPSINK__V1__SERVER_INFO__INIT;
	Smtpsink__V1__Counters	  cnt = SMTPSINK__V1__COUNTERS__INIT;
	const struct control_env *s = rpc_env(c);
	char			  line[SMTP_EXT_LINE_MAX], *ext[64];
	char			 *addrs[CONFIG_LISTEN_MAX * 2];
	size_t			  i, n = s->listener ? listener_count(s->listener) : 0;

	resp.version = SMTPSINK_VERSION;
	if (n > sizeof(addrs) / sizeof(addrs[0]))
		n = sizeof(addrs) / sizeof(addrs[0]);
	for (i = 0; i < n; i++)
		addrs[i] = (char *)listener_addr(s->listener, i);
	resp.n_smtp_addresses = n;
	resp.smtp_addresses = addrs;
	resp.grpc_address = (char *)control_address(c->ctl);
	snprintf(line, sizeof(line), "%s", s->smtp_ext_line);
	resp.n_extensions = rpc_extensions(line, ext, sizeof(ext) / sizeof(ext[0]) - 1);
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
	rpc_server_info_auth(&resp, s->cfg);
	rpc_server_info_tls(s, &resp, addrs + n, sizeof(addrs) / sizeof(addrs[0]) - n);
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
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	char				      safe[LOG_SANITIZE_MAX];

	resp.status = rpc_health_status(c, req->service);
	if (resp.status ==
	    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN) {
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
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

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
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

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
	{ "/smtpsink.v1.Sink/Clear", CONTROL_UNARY, &smtpsink__v1__clear_request__descriptor,
	    rpc_clear },
	{ "/smtpsink.v1.Sink/SetRejectRule", CONTROL_UNARY, &smtpsink__v1__reject_rule__descriptor,
	    rpc_set_reject_rule },
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
