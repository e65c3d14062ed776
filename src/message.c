/*
 * message - one captured message: envelope kept apart from the raw bytes.
 *
 * This file only allocates, frees and describes messages; building one from
 * an SMTP transaction is smtp_session's job, parsing MIME the mime module's.
 * message_free() releases everything the message owns, including the cached
 * MIME view (through m->mime_free, so this file needs no mime.h), so whoever
 * holds a message (a session, then the store) needs exactly one call.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "message.h"
#include "xmalloc.h"

struct message *
message_new(void)
{
	struct message *m = xcalloc(1, sizeof(*m));

	m->body_type = MSG_BODY_7BIT;
	return m;
}

void
message_params_free(struct esmtp_param *p, size_t n)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

void
message_free(struct message *m)
{
	size_t i;

	if (m == NULL)
		return;
	message_relay_free(m->relay);
	if (m->packed) { /* everything else lives in the same block */
		if (m->packed & MSG_PACKED_OWN_DATA)
			free(m->data);
		if (m->mime != NULL)
			m->mime_free(m->mime);
		free(m);
		return;
	}
	free(m->peer);
	free(m->helo);
	free(m->mail_from);
	message_params_free(m->mail_params, m->nmail_params);
	if (m->rcpts != NULL) {
		for (i = 0; i < m->nrcpts; i++) {
			free(m->rcpts[i].addr);
			message_params_free(m->rcpts[i].params, m->rcpts[i].nparams);
		}
		free(m->rcpts);
	}
	free(m->data);
	free(m->auth_user);
	if (m->mime != NULL)
		m->mime_free(m->mime);
	free(m);
}

const char *
message_anomaly_str(unsigned a)
{
	switch (a) {
	case MSG_ANOM_BARE_LF:
		return "bare_lf";
	case MSG_ANOM_BARE_CR:
		return "bare_cr";
	case MSG_ANOM_LONG_LINE:
		return "long_line";
	case MSG_ANOM_8BIT_HEADER:
		return "8bit_header";
	case MSG_ANOM_8BIT_BODY:
		return "8bit_body";
	case MSG_ANOM_NUL:
		return "nul";
	case MSG_ANOM_NO_HEADER_END:
		return "no_header_end";
	case MSG_ANOM_MIME:
		return "mime";
	default:
		return "unknown";
	}
}

const char *
message_body_type_str(enum message_body_type t)
{
	switch (t) {
	case MSG_BODY_7BIT:
		return "7BIT";
	case MSG_BODY_8BITMIME:
		return "8BITMIME";
	case MSG_BODY_BINARYMIME:
		return "BINARYMIME";
	default:
		return "unknown";
	}
}

static size_t
message_str_size(const char *s)
{
	return s == NULL ? 0 : strlen(s) + 1;
}

static size_t
message_params_size(const struct esmtp_param *p, size_t n)
{
	size_t i, sz = n * sizeof(*p);

	for (i = 0; p != NULL && i < n; i++)
		sz += message_str_size(p[i].name) + message_str_size(p[i].value);
	return sz;
}

size_t
message_footprint(const struct message *m)
{
	size_t i, sz;

	sz = sizeof(*m) + (m->data != NULL ? m->size + 1 : 0);
	sz += message_str_size(m->peer) + message_str_size(m->helo) +
	    message_str_size(m->mail_from) + message_str_size(m->auth_user);
	sz += message_params_size(m->mail_params, m->nmail_params);
	sz += m->nrcpts * sizeof(*m->rcpts);
	for (i = 0; m->rcpts != NULL && i < m->nrcpts; i++)
		sz += message_str_size(m->rcpts[i].addr) +
		    message_params_size(m->rcpts[i].params, m->rcpts[i].nparams);
	return sz;
}

/* Bump allocator over the block message_pack() sized exactly. */
struct message_packer {
	char *p;
	char *end;
};

static char *
message_pack_bytes(struct message_packer *pk, const char *src, size_t n)
{
	char *d = pk->p;

	if (n > 0)
		memcpy(d, src, n);
	d[n] = '\0';
	pk->p += n + 1;
	return d;
}

static char *
message_pack_str(struct message_packer *pk, const char *src)
{
	return src != NULL ? message_pack_bytes(pk, src, strlen(src)) : NULL;
}

static size_t
message_pack_str_len(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

static size_t
message_pack_params_len(const struct esmtp_param *p, size_t n)
{
	size_t i, len = 0;

	for (i = 0; i < n; i++)
		len += message_pack_str_len(p[i].name) + message_pack_str_len(p[i].value);
	return len;
}

static void
message_pack_params(struct message_packer *pk, struct esmtp_param *dst,
    const struct esmtp_param *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		dst[i].name = message_pack_str(pk, src[i].name);
		dst[i].value = message_pack_str(pk, src[i].value);
	}
}

struct message *
message_pack(struct message *m)
{
	struct message	     *pm;
	struct esmtp_param   *params;
	struct message_packer pk;
	size_t		      i, nparams, head, chars;
	int		      inline_data;

	if (m->packed)
		return m;
	inline_data = m->data != NULL && m->size <= MSG_PACK_INLINE_MAX;
	nparams = m->nmail_params;
	for (i = 0; i < m->nrcpts; i++)
		nparams += m->rcpts[i].nparams;
	/* pointer-aligned parts first, then the bytes */
	head = sizeof(*pm) + m->nrcpts * sizeof(*m->rcpts) + nparams * sizeof(*params);
	chars = (inline_data ? m->size + 1 : 0) + message_pack_str_len(m->peer) +
	    message_pack_str_len(m->helo) + message_pack_str_len(m->mail_from) +
	    message_pack_str_len(m->auth_user) +
	    message_pack_params_len(m->mail_params, m->nmail_params);
	for (i = 0; i < m->nrcpts; i++)
		chars += message_pack_str_len(m->rcpts[i].addr) +
		    message_pack_params_len(m->rcpts[i].params, m->rcpts[i].nparams);

	pm = xmalloc(head + chars);
	*pm = *m;
	pm->packed = MSG_PACKED | (inline_data || m->data == NULL ? 0 : MSG_PACKED_OWN_DATA);
	pm->mime = NULL;
	pm->mime_free = NULL;
	m->relay = NULL; /* moves to pm */
	pm->rcpts = m->nrcpts > 0 ? (struct message_rcpt *)(pm + 1) : NULL;
	params = (struct esmtp_param *)((char *)(pm + 1) + m->nrcpts * sizeof(*m->rcpts));
	pk.p = (char *)pm + head;
	pk.end = pk.p + chars;

	if (inline_data)
		pm->data = message_pack_bytes(&pk, m->data, m->size);
	else
		m->data = NULL; /* large: the block moves to pm, no copy */
	pm->peer = message_pack_str(&pk, m->peer);
	pm->helo = message_pack_str(&pk, m->helo);
	pm->mail_from = message_pack_str(&pk, m->mail_from);
	pm->auth_user = message_pack_str(&pk, m->auth_user);
	pm->mail_params = m->nmail_params > 0 ? params : NULL;
	message_pack_params(&pk, params, m->mail_params, m->nmail_params);
	params += m->nmail_params;
	for (i = 0; i < m->nrcpts; i++) {
		pm->rcpts[i].addr = message_pack_str(&pk, m->rcpts[i].addr);
		pm->rcpts[i].nparams = m->rcpts[i].nparams;
		pm->rcpts[i].params = m->rcpts[i].nparams > 0 ? params : NULL;
		message_pack_params(&pk, params, m->rcpts[i].params, m->rcpts[i].nparams);
		params += m->rcpts[i].nparams;
	}
	if (pk.p != pk.end)
		fatalx("message_pack: sized %zu bytes, used %zu", chars,
		    (size_t)(pk.p - (pk.end - chars)));
	message_free(m);
	return pm;
}

struct message_relay *
message_relay_get(struct message *m)
{
	if (m->relay == NULL)
		m->relay = xcalloc(1, sizeof(*m->relay));
	return m->relay;
}

void
message_relay_reset(struct message_relay *r)
{
	size_t i;

	for (i = 0; i < r->nreplies; i++)
		free(r->replies[i].command); /* text is in the same block */
	free(r->replies);
	r->replies = NULL;
	r->nreplies = 0;
	for (i = 0; i < r->nrcpt_to; i++)
		free(r->rcpt_to[i]);
	free(r->rcpt_to);
	r->rcpt_to = NULL;
	r->nrcpt_to = 0;
}

void
message_relay_free(struct message_relay *r)
{
	if (r == NULL)
		return;
	message_relay_reset(r);
	free(r->last_reply);
	free(r->upstream);
	free(r);
}

/* A relayed message has four or five replies: room grows 4, 8, 16, ... */
void
message_relay_add_reply(struct message_relay *r, const char *command, unsigned code,
    const char *text)
{
	struct message_relay_reply *rr;
	size_t			    lc, lt, n = r->nreplies;

	if (text == NULL)
		text = "";
	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0))
		r->replies = xreallocarray(r->replies, n < 4 ? 4 : 2 * n, sizeof(*r->replies));
	rr = &r->replies[r->nreplies++];
	lc = strnlen(command, 1000);
	lt = strnlen(text, 1000);
	rr->command = xmalloc(lc + lt + 2);
	memcpy(rr->command, command, lc);
	rr->command[lc] = '\0';
	rr->text = rr->command + lc + 1;
	memcpy(rr->text, text, lt);
	rr->text[lt] = '\0';
	rr->code = code;
}

void
message_relay_set_last(struct message_relay *r, const char *text)
{
	free(r->last_reply);
	r->last_reply = xstrndup(text != NULL ? text : "", 1000);
}
