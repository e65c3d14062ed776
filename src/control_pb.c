/*
 * control_pb - struct message / filter / rule <-> smtpsink.v1 protos.
 * See control_pb.h for the borrowing rules. protobuf-c wants arrays of
 * pointers to sub-messages; they and the sub-messages live in the arena.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_pb.h"
#include "match.h"
#include "message.h"
#include "mime.h"
#include "rules.h"
#include "xmalloc.h"

void
control_pb_arena_init(struct control_pb_arena *a)
{
	memset(a, 0, sizeof(*a));
}

void
control_pb_adopt(struct control_pb_arena *a, void *ptr, void (*free_fn)(void *))
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->blocks = xreallocarray(a->blocks, a->cap, sizeof(*a->blocks));
	}
	a->blocks[a->n].ptr = ptr;
	a->blocks[a->n].free_fn = free_fn;
	a->n++;
}

void *
control_pb_alloc(struct control_pb_arena *a, size_t n, size_t size)
{
	void *p = xcalloc(n ? n : 1, size);

	control_pb_adopt(a, p, free);
	return p;
}

void
control_pb_arena_release(struct control_pb_arena *a)
{
	size_t i;

	for (i = a->n; i > 0; i--)
		a->blocks[i - 1].free_fn(a->blocks[i - 1].ptr);
	free(a->blocks);
	memset(a, 0, sizeof(*a));
}

static void
control_pb_body_free(void *p)
{
	mime_body_free(p);
}

/* protobuf-c never writes through these; the cast drops const for its API. */
static char *
control_pb_str(const char *s)
{
	return (char *)(s != NULL ? s : "");
}

static Smtpsink__V1__Param **
control_pb_params(struct control_pb_arena *a, const struct esmtp_param *p, size_t n)
{
	Smtpsink__V1__Param **pp, *v;
	size_t		      i;

	if (n == 0)
		return NULL;
	pp = control_pb_alloc(a, n, sizeof(*pp));
	v = control_pb_alloc(a, n, sizeof(*v));
	for (i = 0; i < n; i++) {
		smtpsink__v1__param__init(&v[i]);
		v[i].name = control_pb_str(p[i].name);
		v[i].value = control_pb_str(p[i].value);
		pp[i] = &v[i];
	}
	return pp;
}

static void
control_pb_envelope(struct control_pb_arena *a, Smtpsink__V1__Message *pm, const struct message *m)
{
	Smtpsink__V1__RcptParams *rp;
	size_t			  i;

	pm->id = m->id;
	pm->session_id = m->session_id;
	pm->received_at = control_pb_alloc(a, 1, sizeof(*pm->received_at));
	google__protobuf__timestamp__init(pm->received_at);
	pm->received_at->seconds = m->received.tv_sec;
	pm->received_at->nanos = (int32_t)m->received.tv_nsec;
	pm->peer = control_pb_str(m->peer);
	pm->helo = control_pb_str(m->helo);
	pm->mail_from = control_pb_str(m->mail_from);
	pm->n_mail_params = m->nmail_params;
	pm->mail_params = control_pb_params(a, m->mail_params, m->nmail_params);
	if (m->nrcpts > 0) {
		pm->n_rcpt_to = pm->n_rcpt_params = m->nrcpts;
		pm->rcpt_to = control_pb_alloc(a, m->nrcpts, sizeof(*pm->rcpt_to));
		pm->rcpt_params = control_pb_alloc(a, m->nrcpts, sizeof(*pm->rcpt_params));
		rp = control_pb_alloc(a, m->nrcpts, sizeof(*rp));
		for (i = 0; i < m->nrcpts; i++) {
			pm->rcpt_to[i] = control_pb_str(m->rcpts[i].addr);
			smtpsink__v1__rcpt_params__init(&rp[i]);
			rp[i].n_params = m->rcpts[i].nparams;
			rp[i].params = control_pb_params(a, m->rcpts[i].params,
			    m->rcpts[i].nparams);
			pm->rcpt_params[i] = &rp[i];
		}
	}
	pm->size = m->size;
	pm->smtputf8 = m->smtputf8 != 0;
	pm->eight_bit = m->body_type != MSG_BODY_7BIT;
	pm->body_type = control_pb_str(message_body_type_str(m->body_type));
	pm->tls = m->tls != 0;
	pm->tls_version = control_pb_str(m->tls_version);
	pm->tls_cipher = control_pb_str(m->tls_cipher);
	pm->auth_user = control_pb_str(m->auth_user);
	pm->auth_mechanism = control_pb_str(m->auth_mechanism);
}

/* anomalies as strings; mime_flags (MIME_FLAG_*) found while parsing add "mime" */
static void
control_pb_anomalies(struct control_pb_arena *a, Smtpsink__V1__Message *pm, unsigned anomalies,
    unsigned mime_flags)
{
	unsigned bit;
	size_t	 n;

	if (mime_flags != 0)
		anomalies |= MSG_ANOM_MIME;
	for (n = 0, bit = 1; bit != 0; bit <<= 1)
		if (anomalies & bit)
			n++;
	if (n == 0)
		return;
	pm->anomalies = control_pb_alloc(a, n, sizeof(*pm->anomalies));
	for (bit = 1; bit != 0; bit <<= 1)
		if (anomalies & bit)
			pm->anomalies[pm->n_anomalies++] = control_pb_str(message_anomaly_str(bit));
}

/* Returns the view's MIME_FLAG_* */
static unsigned
control_pb_view(struct control_pb_arena *a, Smtpsink__V1__Message *pm, struct message *m)
{
	const struct mime_view *v = mime_view_get(m);
	Smtpsink__V1__Header   *h;
	size_t			i;

	if (v == NULL)
		return 0;
	pm->subject = control_pb_str(v->subject);
	pm->from = control_pb_str(v->from);
	pm->n_to = v->nto;
	pm->to = v->to;
	pm->n_cc = v->ncc;
	pm->cc = v->cc;
	pm->n_reply_to = v->nreply_to;
	pm->reply_to = v->reply_to;
	if (v->nheaders > 0) {
		pm->n_headers = v->nheaders;
		pm->headers = control_pb_alloc(a, v->nheaders, sizeof(*pm->headers));
		h = control_pb_alloc(a, v->nheaders, sizeof(*h));
		for (i = 0; i < v->nheaders; i++) {
			smtpsink__v1__header__init(&h[i]);
			h[i].name = control_pb_str(v->headers[i].name);
			h[i].value = control_pb_str(v->headers[i].value);
			pm->headers[i] = &h[i];
		}
	}
	return v->flags;
}

/* Returns the body's MIME_FLAG_* */
static unsigned
control_pb_body(struct control_pb_arena *a, Smtpsink__V1__Message *pm, const struct message *m,
    const struct mime_body *b, int with_content)
{
	struct mime_body	 *own;
	Smtpsink__V1__Attachment *at;
	size_t			  i;

	if (b == NULL) {
		if ((own = mime_body_parse(m, with_content)) == NULL)
			return 0;
		control_pb_adopt(a, own, control_pb_body_free);
		b = own;
	}
	pm->text_body = control_pb_str(b->text);
	pm->html_body = control_pb_str(b->html);
	if (b->natts == 0)
		return b->flags;
	pm->n_attachments = b->natts;
	pm->attachments = control_pb_alloc(a, b->natts, sizeof(*pm->attachments));
	at = control_pb_alloc(a, b->natts, sizeof(*at));
	for (i = 0; i < b->natts; i++) {
		smtpsink__v1__attachment__init(&at[i]);
		at[i].filename = control_pb_str(b->atts[i].filename);
		at[i].content_type = control_pb_str(b->atts[i].content_type);
		at[i].content_id = control_pb_str(b->atts[i].content_id);
		at[i].size = b->atts[i].size;
		if (with_content && b->atts[i].content != NULL) {
			at[i].content.data = (uint8_t *)b->atts[i].content;
			at[i].content.len = b->atts[i].size;
		}
		pm->attachments[i] = &at[i];
	}
	return b->flags;
}

Smtpsink__V1__RelayStatus *
control_pb_relay(struct control_pb_arena *a, const struct message_relay *st)
{
	Smtpsink__V1__RelayStatus   *ps = control_pb_alloc(a, 1, sizeof(*ps));
	Smtpsink__V1__UpstreamReply *ur;
	size_t			     i;

	smtpsink__v1__relay_status__init(ps);
	if (st == NULL)
		return ps;
	/* enum message_relay_state and the proto's RelayState share their numbers */
	ps->state = (Smtpsink__V1__RelayState)st->state;
	ps->attempts = st->attempts;
	ps->last_reply = control_pb_str(st->last_reply);
	ps->upstream = control_pb_str(st->upstream);
	if (st->relayed_at.tv_sec != 0) {
		ps->relayed_at = control_pb_alloc(a, 1, sizeof(*ps->relayed_at));
		google__protobuf__timestamp__init(ps->relayed_at);
		ps->relayed_at->seconds = st->relayed_at.tv_sec;
		ps->relayed_at->nanos = (int32_t)st->relayed_at.tv_nsec;
	}
	if (st->nreplies > 0) {
		ps->n_replies = st->nreplies;
		ps->replies = control_pb_alloc(a, st->nreplies, sizeof(*ps->replies));
		ur = control_pb_alloc(a, st->nreplies, sizeof(*ur));
		for (i = 0; i < st->nreplies; i++) {
			smtpsink__v1__upstream_reply__init(&ur[i]);
			ur[i].command = control_pb_str(st->replies[i].command);
			ur[i].code = st->replies[i].code;
			ur[i].text = control_pb_str(st->replies[i].text);
			ps->replies[i] = &ur[i];
		}
	}
	ps->n_rcpt_to = st->nrcpt_to;
	ps->rcpt_to = st->rcpt_to;
	return ps;
}

Smtpsink__V1__Message *
control_pb_message(struct control_pb_arena *a, struct message *m, unsigned flags)
{
	return control_pb_message_body(a, m, NULL, flags);
}

Smtpsink__V1__Message *
control_pb_message_body(struct control_pb_arena *a, struct message *m, const struct mime_body *body,
    unsigned flags)
{
	Smtpsink__V1__Message *pm = control_pb_alloc(a, 1, sizeof(*pm));
	unsigned	       mime_flags;

	smtpsink__v1__message__init(pm);
	control_pb_envelope(a, pm, m);
	mime_flags = control_pb_view(a, pm, m);
	if (!(flags & CONTROL_PB_NO_BODY))
		mime_flags |= control_pb_body(a, pm, m, body,
		    (flags & CONTROL_PB_ATT_CONTENT) != 0);
	control_pb_anomalies(a, pm, m->anomalies, mime_flags);
	if (m->relay != NULL)
		pm->relay = control_pb_relay(a, m->relay);
	if (flags & CONTROL_PB_RAW) {
		pm->raw.data = (uint8_t *)m->data;
		pm->raw.len = m->data != NULL ? m->size : 0;
	}
	return pm;
}

/* "" means "not given" for match.h, so empty proto strings map to NULL. */
static char *
control_pb_given(const char *s)
{
	return s != NULL && *s != '\0' ? (char *)s : NULL;
}

void
control_pb_filter(struct filter *dst, const Smtpsink__V1__Filter *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src == NULL)
		return;
	dst->mail_from = control_pb_given(src->mail_from);
	dst->rcpt_to = control_pb_given(src->rcpt_to);
	dst->subject = control_pb_given(src->subject);
	dst->header_name = control_pb_given(src->header_name);
	dst->header_value = control_pb_given(src->header_value);
	dst->body = control_pb_given(src->body);
	dst->after_id = src->after_id;
	dst->auth_user = control_pb_given(src->auth_user);
	dst->relay_state = (int)src->relay_state;
}

void
control_pb_filter_to(Smtpsink__V1__Filter *dst, const struct filter *src)
{
	smtpsink__v1__filter__init(dst);
	dst->mail_from = control_pb_str(src->mail_from);
	dst->rcpt_to = control_pb_str(src->rcpt_to);
	dst->subject = control_pb_str(src->subject);
	dst->header_name = control_pb_str(src->header_name);
	dst->header_value = control_pb_str(src->header_value);
	dst->body = control_pb_str(src->body);
	dst->after_id = src->after_id;
	dst->auth_user = control_pb_str(src->auth_user);
	dst->relay_state = (Smtpsink__V1__RelayState)src->relay_state;
}

int
control_pb_rule_from(struct rule *dst, const Smtpsink__V1__RejectRule *src, char *err,
    size_t errlen)
{
	const char *enh = src->enhanced_code != NULL ? src->enhanced_code : "";

	memset(dst, 0, sizeof(*dst));
	if (src->stage < SMTPSINK__V1__STAGE__CONNECT || src->stage > SMTPSINK__V1__STAGE__AUTH) {
		snprintf(err, errlen,
		    "stage %d: must be one of CONNECT, HELO, MAIL_FROM, RCPT_TO, DATA, AUTH",
		    (int)src->stage);
		return -1;
	}
	if (strlen(enh) >= sizeof(dst->enhanced)) {
		snprintf(err, errlen, "enhanced_code \"%.20s...\": must look like 5.7.1", enh);
		return -1;
	}
	/* The proto enum and enum rules_stage share their numbers (1..6). */
	dst->stage = (enum rules_stage)src->stage;
	dst->match = (char *)(src->match != NULL ? src->match : "");
	dst->code = src->code;
	snprintf(dst->enhanced, sizeof(dst->enhanced), "%s", enh);
	dst->message = (char *)(src->message != NULL ? src->message : "");
	dst->times = src->times;
	dst->delay_ms = src->delay_ms;
	dst->disconnect = src->disconnect != 0;
	return 0;
}

void
control_pb_rule_to(Smtpsink__V1__RejectRule *dst, const struct rule *src)
{
	smtpsink__v1__reject_rule__init(dst);
	dst->id = control_pb_str(src->id);
	dst->stage = (Smtpsink__V1__Stage)src->stage;
	dst->match = control_pb_str(src->match);
	dst->code = src->code;
	dst->enhanced_code = control_pb_str(src->enhanced);
	dst->message = control_pb_str(src->message);
	dst->times = src->times;
	dst->delay_ms = src->delay_ms;
	dst->disconnect = src->disconnect != 0;
	dst->hits = src->hits;
}
