/*
 * mime_gmime - the GMime route for bodies and attachments: a full GMime
 * parse over the raw bytes without copying them (a non-owning memory
 * stream), then a walk of the object tree bounded by max_depth and
 * max_parts.
 *
 * GMime only sees a prefix bounded by max_parts (mime_gmime_cut). Its
 * parser warnings (missing boundary, ...) become MIME_FLAG_MALFORMED; its
 * nesting cap, MIME_FLAG_MAX_DEPTH. Attachment names are read from the raw
 * headers as the fast route reads them (mime_object_filename), RFC 2231
 * and RFC 2047 values decoded by mime_hdr.c. No GMime object outlives
 * mime_body_gmime().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "mime.h"
#include "mime_internal.h"
#include "xmalloc.h"

struct mime_warnings {
	unsigned flags;	    /* MIME_FLAG_* */
	int	 truncated; /* GMIME_WARN_TRUNCATED_MESSAGE */
};

static void
mime_parser_warning_cb(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer arg)
{
	struct mime_warnings *w = arg;
	unsigned	     *flags = &w->flags;

	(void)offset;
	(void)item;
	switch (code) {
	case GMIME_WARN_TRUNCATED_MESSAGE:
		/* also said of a valid header-only message: see the caller */
		w->truncated = 1;
		break;
	case GMIME_WARN_MALFORMED_MULTIPART:
	case GMIME_WARN_MALFORMED_MESSAGE:
	case GMIME_CRIT_INVALID_HEADER_NAME:
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
		*flags |= MIME_FLAG_MALFORMED;
		break;
	case GMIME_CRIT_NESTING_OVERFLOW:
		*flags |= MIME_FLAG_MAX_DEPTH;
		break;
	default:
		/* duplicated headers, raw 8-bit headers (SMTPUTF8), ...: fine */
		break;
	}
}

/*
 * Writes the transfer-decoded content of a leaf part into out (a GMime
 * memory stream or a null stream when only the size is wanted) and returns
 * the number of bytes written.
 */
static size_t
mime_part_decode(GMimePart *part, GMimeStream *out)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	ssize_t		  n;

	if (w == NULL)
		return 0;
	n = g_mime_data_wrapper_write_to_stream(w, out);
	return n > 0 ? (size_t)n : 0;
}

/*
 * Decoded text of a text part as UTF-8, in a malloc'd string: transfer
 * decoding, then the declared charset through mime_charset_to_utf8(), as the
 * fast paths do (unconvertible bytes become U+FFFD; GMime's charset filter
 * would drop them); without a charset, UTF-8 is kept and anything else goes
 * through the fallback charsets.
 */
static char *
mime_part_text(GMimePart *part)
{
	GMimeStream    *mem;
	GByteArray     *arr;
	struct mime_str s = { 0 };
	const char     *charset;

	mem = g_mime_stream_mem_new();
	mime_part_decode(part, mem);
	arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	charset = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
	mime_str_reserve(&s, arr->len);
	if (charset != NULL && *charset != '\0')
		mime_charset_to_utf8(charset, strlen(charset), (const char *)arr->data, arr->len,
		    &s);
	else
		mime_str_add_8bit(&s, (const char *)arr->data, arr->len);
	g_object_unref(mem);
	return s.p;
}

/*
 * The last header name of obj (the one whose parameters the object holds),
 * unfolded into out as mime_hdr_find() gives a header to the fast route:
 * 1, or 0 if obj has none.
 */
static int
mime_object_header(GMimeObject *obj, const char *name, struct mime_str *out)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	GMimeHeader	*h, *last = NULL;
	const char	*raw;
	int		 i, n;

	n = list != NULL ? g_mime_header_list_get_count(list) : 0;
	for (i = 0; i < n; i++) {
		h = g_mime_header_list_get_header_at(list, i);
		if (g_ascii_strcasecmp(g_mime_header_get_name(h), name) == 0)
			last = h;
	}
	if (last == NULL || (raw = g_mime_header_get_raw_value(last)) == NULL)
		return 0;
	mime_unfold(raw, 0, strlen(raw), out);
	return 1;
}

/*
 * The filename of obj as an attachment gets it, or NULL if it has none:
 * GMime's Content-Disposition filename, else Content-Type name (*named:
 * not empty, which makes a part an attachment), read again from the raw
 * header value by mime_param_filename(), as the fast route does: the
 * object's parameters come from the header decoded as text, raw 8-bit
 * bytes included, which the octets of an RFC 2231 value are not (found by
 * fuzz_mime). Where that decoding changes the filename GMime finds, the
 * fast route leaves the message to this one (mime_fast_as_gmime()).
 */
static char *
mime_object_filename(GMimeObject *obj, int *named)
{
	struct mime_str raw = { 0 };
	const char     *fn, *param = "filename", *hdr = "Content-Disposition";
	char	       *name = NULL;

	fn = g_mime_object_get_content_disposition_parameter(obj, param);
	if (fn == NULL) {
		param = "name";
		hdr = "Content-Type";
		fn = g_mime_object_get_content_type_parameter(obj, param);
	}
	*named = fn != NULL && *fn != '\0';
	if (fn != NULL)
		name = mime_param_filename(fn, mime_object_header(obj, hdr, &raw) ? raw.p : NULL,
		    param);
	free(raw.p);
	return name;
}

/* Disposition attachment, or a filename (even inline) */
static int
mime_object_is_attachment(GMimeObject *obj)
{
	const char *disp;
	char	   *name;
	int	    named;

	disp = g_mime_object_get_disposition(obj);
	if (disp != NULL && g_ascii_strcasecmp(disp, "attachment") == 0)
		return 1;
	name = mime_object_filename(obj, &named);
	free(name);
	return named;
}

/*
 * The bytes of an attachment: a leaf's content transfer-decoded, or an
 * attached message as GMime writes it back (its headers and body as
 * parsed), into out.
 */
static void
mime_object_content(GMimeObject *obj, GMimeStream *out)
{
	GMimeMessage *inner;

	if (GMIME_IS_PART(obj))
		mime_part_decode(GMIME_PART(obj), out);
	else if (GMIME_IS_MESSAGE_PART(obj) &&
	    (inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj))) != NULL)
		g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, out);
	g_mime_stream_flush(out);
}

static void
mime_body_add_attachment(struct mime_body_ctx *ctx, GMimeObject *obj, GMimeContentType *ct)
{
	struct mime_body       *b = ctx->body;
	struct mime_attachment *a;
	struct mime_str		raw = { 0 };
	char		       *mt;
	GMimeStream	       *out;
	GByteArray	       *arr;
	int			named;

	if (b->natts == ctx->capatts) {
		ctx->capatts = ctx->capatts ? ctx->capatts * 2 : 4;
		b->atts = xreallocarray(b->atts, ctx->capatts, sizeof(*b->atts));
	}
	a = &b->atts[b->natts++];
	memset(a, 0, sizeof(*a));

	if ((a->filename = mime_object_filename(obj, &named)) == NULL)
		a->filename = xstrdup("");

	mt = g_mime_content_type_get_mime_type(ct);
	a->content_type = xstrdup(mt != NULL ? mt : "application/octet-stream");
	g_free(mt);
	for (mt = a->content_type; *mt != '\0'; mt++)
		*mt = g_ascii_tolower(*mt);
	a->content_type = mime_ctype_string(a->content_type);

	/* from the raw header, as the fast route reads it (see above) */
	a->content_id = mime_content_id(mime_object_header(obj, "Content-ID", &raw) ? raw.p : NULL);
	free(raw.p);

	if (ctx->with_content) {
		out = g_mime_stream_mem_new();
		mime_object_content(obj, out);
		arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out));
		a->size = arr->len;
		a->content = xmalloc(arr->len + 1);
		if (arr->len > 0)
			memcpy(a->content, arr->data, arr->len);
		a->content[arr->len] = '\0';
		g_object_unref(out);
	} else {
		out = g_mime_stream_null_new();
		mime_object_content(obj, out);
		a->size = GMIME_STREAM_NULL(out)->written;
		g_object_unref(out);
	}
}

/*
 * A leaf: the first text/plain and text/html that are not attachments are
 * the bodies (those of the message itself first, those of a forwarded
 * message only if the message has none); anything else is an attachment.
 */
static void
mime_body_leaf(struct mime_body_ctx *ctx, GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	GMimePart	**slot = NULL;

	if (GMIME_IS_PART(obj) && !mime_object_is_attachment(obj)) {
		if (ct == NULL || g_mime_content_type_is_type(ct, "text", "plain"))
			slot = ctx->inner == 0 ? &ctx->text : &ctx->itext;
		else if (g_mime_content_type_is_type(ct, "text", "html"))
			slot = ctx->inner == 0 ? &ctx->html : &ctx->ihtml;
	}
	if (slot != NULL) {
		/* a later one of the same kind is neither body nor attachment */
		if (*slot == NULL)
			*slot = GMIME_PART(obj);
		return;
	}
	if (ct != NULL)
		mime_body_add_attachment(ctx, obj, ct);
}

/*
 * Walks the tree in order. depth is the number of containers around obj;
 * recursion is bounded by max_depth and the work by max_parts.
 */
static void
mime_body_walk(struct mime_body_ctx *ctx, GMimeObject *obj, unsigned depth)
{
	GMimeMessage	 *inner;
	GMimeContentType *ct;
	int		  i, n;

	if (obj == NULL || ctx->stop)
		return;
	if (++ctx->nparts > ctx->max_parts) {
		ctx->body->flags |= MIME_FLAG_MAX_PARTS;
		ctx->stop = 1;
		return;
	}
	if (GMIME_IS_MULTIPART(obj)) {
		if (depth >= ctx->max_depth) {
			ctx->body->flags |= MIME_FLAG_MAX_DEPTH;
			return;
		}
		n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
		for (i = 0; i < n && !ctx->stop; i++)
			mime_body_walk(ctx, g_mime_multipart_get_part(GMIME_MULTIPART(obj), i),
			    depth + 1);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(obj)) {
		/* an attached .eml is one attachment, not opened */
		if (mime_object_is_attachment(obj)) {
			ct = g_mime_object_get_content_type(obj);
			if (ct != NULL)
				mime_body_add_attachment(ctx, obj, ct);
			return;
		}
		if (depth >= ctx->max_depth) {
			ctx->body->flags |= MIME_FLAG_MAX_DEPTH;
			return;
		}
		inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (inner != NULL) {
			ctx->inner++;
			mime_body_walk(ctx, g_mime_message_get_mime_part(inner), depth + 1);
			ctx->inner--;
		}
		return;
	}
	mime_body_leaf(ctx, obj);
}

/*
 * A GMime stream over data[0..size) that does not copy it: a byte array
 * that borrows the buffer, in a memory stream that does not own the array.
 * Read-only use only; *arrp must be released with mime_stream_release()
 * after every object made from the stream is gone.
 */
static GMimeStream *
mime_stream_borrow(const char *data, size_t size, GByteArray **arrp)
{
	GByteArray  *arr;
	GMimeStream *st;

	arr = g_byte_array_new_take((guint8 *)(uintptr_t)data, size);
	st = g_mime_stream_mem_new_with_byte_array(arr);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(st), FALSE);
	*arrp = arr;
	return st;
}

static void
mime_stream_release(GByteArray *arr)
{
	/* frees the wrapper, gives the borrowed buffer back untouched */
	(void)g_byte_array_free(arr, FALSE);
}

/*
 * GMime builds objects for every part and every header line it sees (some
 * 600 bytes per header line: 1 M header lines take 640 MB and 5 s), which a
 * crafted 32 MiB message would turn into gigabytes. So GMime only sees the
 * message up to the line where the boundary-like lines ("--...") pass
 * 4 x max_parts + 64 or the header-like lines ("Name: ...") pass
 * 16 x max_parts + 256. Returns that offset, or size if the message is
 * within budget. Linear in size.
 */
static size_t
mime_gmime_cut(const char *data, size_t size, unsigned max_parts)
{
	size_t off = 0, len, colon, nbound = 0, nhdr = 0;
	size_t max_bound = 4 * (size_t)max_parts + 64;
	size_t max_hdr = 16 * (size_t)max_parts + 256;

	while (off < size) {
		len = mime_line_len(data + off, size - off);
		if (len >= 2 && data[off] == '-' && data[off + 1] == '-') {
			if (++nbound > max_bound)
				return off;
		} else if (mime_field_name_len(data + off, len, &colon) > 0) {
			if (++nhdr > max_hdr)
				return off;
		}
		off += len;
	}
	return size;
}

/*
 * The GMime route for the message data[0..size) whose top-level header
 * block is sc (its spans may be freed already): fills ctx->body's text,
 * html (never NULL afterwards), attachments and flags.
 */
void
mime_body_gmime(const char *data, size_t size, const struct mime_hdr_scan *sc,
    struct mime_body_ctx *ctx)
{
	struct mime_body    *b = ctx->body;
	struct mime_str	     s = { 0 };
	GMimeParserOptions  *opts;
	GMimeStream	    *st, *src, *cat, *sep;
	GMimeParser	    *parser;
	GMimeMessage	    *msg;
	GByteArray	    *arr;
	struct mime_warnings warn = { 0, 0 };
	unsigned	     flags = 0;
	size_t		     cut, body = sc->body;

	cut = mime_gmime_cut(data, size, ctx->max_parts);
	if (body > cut)
		body = cut;
	src = mime_stream_borrow(data, size, &arr);
	if (sc->no_separator) {
		/* Give GMime the empty line the client left out */
		cat = g_mime_stream_cat_new();
		st = g_mime_stream_substream(src, 0, (gint64)body);
		g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), st);
		g_object_unref(st);
		sep = g_mime_stream_mem_new_with_buffer("\r\n", 2);
		g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), sep);
		g_object_unref(sep);
		st = g_mime_stream_substream(src, (gint64)body, (gint64)cut);
		g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), st);
		g_object_unref(st);
		st = cat;
	} else if (cut < size)
		st = g_mime_stream_substream(src, 0, (gint64)cut);
	else {
		st = src;
		g_object_ref(st);
	}

	opts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(opts, mime_parser_warning_cb, &warn);
	parser = g_mime_parser_new_with_stream(st);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = size > 0 ? g_mime_parser_construct_message(parser, opts) : NULL;
	if (msg != NULL) {
		mime_body_walk(ctx, g_mime_message_get_mime_part(msg), 0);
		if (ctx->text == NULL)
			ctx->text = ctx->itext;
		if (ctx->html == NULL)
			ctx->html = ctx->ihtml;
		if (ctx->text != NULL)
			b->text = mime_part_text(ctx->text);
		if (ctx->html != NULL)
			b->html = mime_part_text(ctx->html);
		g_object_unref(msg);
	} else if (body < cut) {
		/* No header GMime accepts: the whole body is the text */
		mime_str_add_8bit(&s, data + body, cut - body);
		b->text = s.p;
	}
	g_object_unref(parser);
	g_object_unref(st);
	g_object_unref(src);
	mime_stream_release(arr);
	g_mime_parser_options_free(opts);

	if (b->text == NULL)
		b->text = xstrdup("");
	if (b->html == NULL)
		b->html = xstrdup("");
	flags = warn.flags;
	/* RFC 5322: a message may end with its header (no body) */
	if (warn.truncated && body < size)
		flags |= MIME_FLAG_MALFORMED;
	if (cut < size) {
		/* GMime's complaints about the end we cut off are ours */
		flags &= ~MIME_FLAG_MALFORMED;
		flags |= MIME_FLAG_MAX_PARTS;
	}
	b->flags |= flags;
}
