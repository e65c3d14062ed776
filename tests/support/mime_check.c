/*
 * mime_check - see mime_check.h.
 */
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "mime.h"
#include "mime_check.h"

#define MIME_FLAGS_ALL \
	(MIME_FLAG_MALFORMED | MIME_FLAG_MAX_DEPTH | MIME_FLAG_MAX_PARTS | MIME_FLAG_MAX_HEADERS)

static int
mime_check_utf8(const char *what, const char *s, char *err, size_t errlen)
{
	if (s == NULL) {
		snprintf(err, errlen, "%s: NULL string", what);
		return -1;
	}
	if (!g_utf8_validate(s, -1, NULL)) {
		snprintf(err, errlen, "%s: not valid UTF-8: \"%s\"", what, s);
		return -1;
	}
	return 0;
}

int
mime_check_view(const struct mime_view *v, char *err, size_t errlen)
{
	size_t i;

	if (v == NULL) {
		snprintf(err, errlen, "NULL view");
		return -1;
	}
	if (mime_check_utf8("subject", v->subject, err, errlen) == -1 ||
	    mime_check_utf8("from", v->from, err, errlen) == -1)
		return -1;
	for (i = 0; i < v->nto; i++)
		if (mime_check_utf8("to", v->to[i], err, errlen) == -1)
			return -1;
	for (i = 0; i < v->ncc; i++)
		if (mime_check_utf8("cc", v->cc[i], err, errlen) == -1)
			return -1;
	for (i = 0; i < v->nreply_to; i++)
		if (mime_check_utf8("reply_to", v->reply_to[i], err, errlen) == -1)
			return -1;
	for (i = 0; i < v->nheaders; i++)
		if (mime_check_utf8("header name", v->headers[i].name, err, errlen) == -1 ||
		    mime_check_utf8("header value", v->headers[i].value, err, errlen) == -1)
			return -1;
	if (v->nheaders > MIME_VIEW_MAX_HEADERS || (v->flags & ~(unsigned)MIME_FLAGS_ALL) ||
	    v->footprint < sizeof(*v)) {
		snprintf(err, errlen, "view: %zu headers, flags %#x, footprint %zu", v->nheaders,
		    v->flags, v->footprint);
		return -1;
	}
	return 0;
}

int
mime_check_body(const struct mime_body *b, int with_content, char *err, size_t errlen)
{
	size_t i;

	if (b == NULL) {
		snprintf(err, errlen, "NULL body");
		return -1;
	}
	if (mime_check_utf8("text", b->text, err, errlen) == -1 ||
	    mime_check_utf8("html", b->html, err, errlen) == -1)
		return -1;
	for (i = 0; i < b->natts; i++) {
		if (mime_check_utf8("filename", b->atts[i].filename, err, errlen) == -1 ||
		    mime_check_utf8("content_type", b->atts[i].content_type, err, errlen) == -1 ||
		    mime_check_utf8("content_id", b->atts[i].content_id, err, errlen) == -1)
			return -1;
		if ((b->atts[i].content != NULL) != (with_content != 0)) {
			snprintf(err, errlen, "attachment %zu: content %s", i,
			    with_content ? "missing" : "not asked for");
			return -1;
		}
	}
	if (b->flags & ~(unsigned)MIME_FLAGS_ALL) {
		snprintf(err, errlen, "body flags %#x", b->flags);
		return -1;
	}
	return 0;
}

int
mime_check_same(const struct mime_body *a, const struct mime_body *b, char *err, size_t errlen)
{
	size_t i;

	if (strcmp(a->text, b->text) != 0) {
		snprintf(err, errlen, "text: fast \"%s\", gmime \"%s\"", a->text, b->text);
		return -1;
	}
	if (strcmp(a->html, b->html) != 0) {
		snprintf(err, errlen, "html: fast \"%s\", gmime \"%s\"", a->html, b->html);
		return -1;
	}
	if (a->natts != b->natts) {
		snprintf(err, errlen, "fast %zu attachments, gmime %zu", a->natts, b->natts);
		return -1;
	}
	for (i = 0; i < a->natts; i++) {
		const struct mime_attachment *x = &a->atts[i], *y = &b->atts[i];

		if (strcmp(x->filename, y->filename) != 0 ||
		    strcmp(x->content_type, y->content_type) != 0 ||
		    strcmp(x->content_id, y->content_id) != 0 || x->size != y->size) {
			snprintf(err, errlen,
			    "att %zu: fast %s \"%s\" <%s> %zu, gmime %s \"%s\" "
			    "<%s> %zu",
			    i, x->content_type, x->filename, x->content_id, x->size,
			    y->content_type, y->filename, y->content_id, y->size);
			return -1;
		}
		if ((x->content == NULL) != (y->content == NULL) ||
		    (x->content != NULL && memcmp(x->content, y->content, x->size) != 0)) {
			snprintf(err, errlen, "att %zu: contents differ", i);
			return -1;
		}
	}
	if (a->flags != b->flags) {
		snprintf(err, errlen, "flags: fast %#x, gmime %#x", a->flags, b->flags);
		return -1;
	}
	return 0;
}
