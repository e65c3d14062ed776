/*
 * mime_fast - the fast routes for bodies and attachments, over the raw
 * bytes and without a GMime object tree: the own Content-Type reader
 * (mime_ctype_*), the single-part route (mime_body_simple) and the
 * structural walk of multiparts made of leaves (mime_body_fast).
 *
 * They use GMime's transfer decoders and, for the rare hard values, its
 * Content-Type and Content-Disposition parsers. When a message is not of
 * a shape they read exactly as GMime would, they return 0 and leave the
 * body to mime_gmime.c; test_mime holds both routes to the same answer.
 * They cost 6-65x less than the GMime route per body: keep them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "mime.h"
#include "mime_internal.h"
#include "xmalloc.h"

/* ---- the Content-Type reader ---- */

/*
 * A parsed Content-Type. GMime's parser makes two GObjects per call (about
 * 28,000 instructions with their finalisation), so plain values (type,
 * subtype, token or quoted parameters) are read here, and only values with
 * comments, RFC 2231 parameters, a name= parameter or a boundary or charset
 * given twice go to GMime (g).
 */
struct mime_ctype {
	char		  type[32];	 /* lower case */
	char		  subtype[64];	 /* lower case */
	char		  boundary[201]; /* "" if none */
	char		  charset[64];	 /* "" if none */
	int		  toolong;	 /* a parameter did not fit */
	GMimeContentType *g;		 /* GMime's, or NULL */
};

static int
mime_is_token(int c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Copies a token of p into dst (lower case); returns its length or 0 */
static size_t
mime_ctype_token(const char *p, char *dst, size_t dstsz)
{
	size_t n;

	for (n = 0; mime_is_token((unsigned char)p[n]); n++) {
		if (n + 1 >= dstsz)
			return 0;
		dst[n] = g_ascii_tolower(p[n]);
	}
	dst[n] = '\0';
	return n;
}

static int
mime_ctype_own(const char *p, struct mime_ctype *ct)
{
	char	 attr[32], *dst;
	size_t	 n, dstsz, i;
	unsigned seen = 0, bit;

	while (mime_is_wsp(*p))
		p++;
	if ((n = mime_ctype_token(p, ct->type, sizeof(ct->type))) == 0)
		return -1;
	p += n;
	if (*p++ != '/')
		return -1;
	if ((n = mime_ctype_token(p, ct->subtype, sizeof(ct->subtype))) == 0)
		return -1;
	p += n;
	/* every iteration consumes one parameter */
	for (;;) {
		while (mime_is_wsp(*p))
			p++;
		if (*p == '\0')
			return 0;
		if (*p++ != ';')
			return -1;
		while (mime_is_wsp(*p))
			p++;
		if (*p == '\0')
			return 0;
		for (n = 0; mime_is_token((unsigned char)p[n]) && p[n] != '*'; n++)
			if (n + 1 >= sizeof(attr))
				return -1;
		if (n == 0)
			return -1;
		for (i = 0; i < n; i++)
			attr[i] = g_ascii_tolower(p[i]);
		attr[n] = '\0';
		p += n;
		while (mime_is_wsp(*p))
			p++;
		if (*p++ != '=')
			return -1;
		while (mime_is_wsp(*p))
			p++;
		if (strcmp(attr, "name") == 0)
			return -1;
		dst = NULL;
		dstsz = 0;
		bit = 0;
		if (strcmp(attr, "boundary") == 0) {
			dst = ct->boundary;
			dstsz = sizeof(ct->boundary);
			bit = 1;
		} else if (strcmp(attr, "charset") == 0) {
			dst = ct->charset;
			dstsz = sizeof(ct->charset);
			bit = 2;
		}
		/* given twice: GMime's parser (the first one wins there) decides */
		if (seen & bit)
			return -1;
		seen |= bit;
		n = 0;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\0')
					return -1;
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (dst != NULL && n + 1 < dstsz)
					dst[n] = *p;
				else if (dst != NULL)
					ct->toolong = 1;
				n++;
			}
			p++;
		} else {
			for (; mime_is_token((unsigned char)*p); p++) {
				if (dst != NULL && n + 1 < dstsz)
					dst[n] = *p;
				else if (dst != NULL)
					ct->toolong = 1;
				n++;
			}
			if (n == 0)
				return -1;
		}
		if (dst != NULL)
			dst[n < dstsz ? n : dstsz - 1] = '\0';
	}
}

static void
mime_ctype_lower(struct mime_ctype *ct)
{
	char *p;

	for (p = ct->type; *p != '\0'; p++)
		*p = g_ascii_tolower(*p);
	for (p = ct->subtype; *p != '\0'; p++)
		*p = g_ascii_tolower(*p);
}

/* Parses a Content-Type value into ct; -1 if neither parser accepts it */
static int
mime_ctype_parse(const char *v, struct mime_ctype *ct)
{
	const char *x;

	memset(ct, 0, sizeof(*ct));
	if (mime_ctype_own(v, ct) == 0)
		return 0;
	memset(ct, 0, sizeof(*ct));
	if ((ct->g = g_mime_content_type_parse(NULL, v)) == NULL)
		return -1;
	if ((x = g_mime_content_type_get_media_type(ct->g)) == NULL)
		x = "application";
	ct->toolong |= g_strlcpy(ct->type, x, sizeof(ct->type)) >= sizeof(ct->type);
	if ((x = g_mime_content_type_get_media_subtype(ct->g)) == NULL)
		x = "octet-stream";
	ct->toolong |= g_strlcpy(ct->subtype, x, sizeof(ct->subtype)) >= sizeof(ct->subtype);
	mime_ctype_lower(ct);
	if ((x = g_mime_content_type_get_parameter(ct->g, "boundary")) != NULL)
		ct->toolong |= g_strlcpy(ct->boundary, x, sizeof(ct->boundary)) >=
		    sizeof(ct->boundary);
	if ((x = g_mime_content_type_get_parameter(ct->g, "charset")) != NULL)
		ct->toolong |= g_strlcpy(ct->charset, x, sizeof(ct->charset)) >=
		    sizeof(ct->charset);
	return 0;
}

static void
mime_ctype_clear(struct mime_ctype *ct)
{
	if (ct->g != NULL)
		g_object_unref(ct->g);
	ct->g = NULL;
}

/* "text", "plain"; subtype "*" matches any */
static int
mime_ctype_is(const struct mime_ctype *ct, const char *type, const char *subtype)
{
	return strcmp(ct->type, type) == 0 &&
	    (strcmp(subtype, "*") == 0 || strcmp(ct->subtype, subtype) == 0);
}

/* Transfer encodings the fast routes decode themselves (others go to GMime). */
static int
mime_enc_is_simple(GMimeContentEncoding enc)
{
	switch (enc) {
	case GMIME_CONTENT_ENCODING_DEFAULT:
	case GMIME_CONTENT_ENCODING_7BIT:
	case GMIME_CONTENT_ENCODING_8BIT:
	case GMIME_CONTENT_ENCODING_BINARY:
	case GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE:
	case GMIME_CONTENT_ENCODING_BASE64:
		return 1;
	default:
		return 0;
	}
}

/* ---- headers GMime reads otherwise ----
 *
 * GMime's objects decode a header as text before they parse it (RFC 2047
 * words anywhere, raw 8-bit bytes through the fallback charsets:
 * mime_hdr_decoded()), while its parser takes the structure (multipart or
 * not) from the raw value: "=?utf-8?q?multipart?=/mixed" is a leaf whose
 * type says multipart, and a boundary with 8-bit bytes is looked for
 * decoded. The fast routes parse the raw values; where decoding changes
 * anything they read of Content-Type, Content-Disposition or
 * Content-Transfer-Encoding, the message is GMime's (found by fuzz_mime).
 */

/* A parameter value that may be absent, for comparing */
static const char *
mime_fast_opt(const char *s)
{
	return s != NULL ? s : "\001(none)";
}

static const char *
mime_ctype_name(const struct mime_ctype *ct)
{
	return ct->g != NULL ? g_mime_content_type_get_parameter(ct->g, "name") : NULL;
}

/* 1 if Content-Type values a and b read the same to the fast routes */
static int
mime_fast_same_ctype(const char *a, const char *b)
{
	struct mime_ctype x, y;
	int		  okx, oky, same;

	okx = mime_ctype_parse(a, &x) == 0;
	oky = mime_ctype_parse(b, &y) == 0;
	same = okx == oky &&
	    (!okx ||
		(strcmp(x.type, y.type) == 0 && strcmp(x.subtype, y.subtype) == 0 &&
		    strcmp(x.boundary, y.boundary) == 0 && strcmp(x.charset, y.charset) == 0 &&
		    x.toolong == y.toolong &&
		    strcmp(mime_fast_opt(mime_ctype_name(&x)),
			mime_fast_opt(mime_ctype_name(&y))) == 0));
	mime_ctype_clear(&x);
	mime_ctype_clear(&y);
	return same;
}

/* 1 if Content-Disposition values a and b read the same */
static int
mime_fast_same_disp(const char *a, const char *b)
{
	GMimeContentDisposition *x, *y;
	int			 same;

	x = g_mime_content_disposition_parse(NULL, a);
	y = g_mime_content_disposition_parse(NULL, b);
	same = (x == NULL) == (y == NULL) &&
	    (x == NULL ||
		(g_ascii_strcasecmp(mime_fast_opt(g_mime_content_disposition_get_disposition(x)),
		     mime_fast_opt(g_mime_content_disposition_get_disposition(y))) == 0 &&
		    strcmp(mime_fast_opt(g_mime_content_disposition_get_parameter(x, "filename")),
			mime_fast_opt(g_mime_content_disposition_get_parameter(y, "filename"))) ==
			0));
	if (x != NULL)
		g_object_unref(x);
	if (y != NULL)
		g_object_unref(y);
	return same;
}

/* 1 if Content-Transfer-Encoding values a and b read the same */
static int
mime_fast_same_enc(const char *a, const char *b)
{
	return g_mime_content_encoding_from_string(a) == g_mime_content_encoding_from_string(b);
}

/*
 * 1 if GMime reads the headers of the header block sc as the fast routes
 * do (see above); costs a second parse only for a value with "=?" or 8-bit
 * bytes.
 */
static int
mime_fast_as_gmime(const char *data, const struct mime_hdr_scan *sc)
{
	static const struct {
		const char *name;
		int (*same)(const char *, const char *);
	} hdrs[] = {
		{ "Content-Type", mime_fast_same_ctype },
		{ "Content-Disposition", mime_fast_same_disp },
		{ "Content-Transfer-Encoding", mime_fast_same_enc },
	};
	struct mime_str v = { 0 };
	const char     *d;
	char	       *dec;
	size_t		i;
	int		same = 1;

	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]) && same; i++) {
		if (mime_hdr_find(data, sc, hdrs[i].name, &v) != 1)
			continue;
		if ((d = mime_hdr_decoded(v.p, &dec)) != v.p)
			same = hdrs[i].same(v.p, d);
		g_free(dec);
	}
	free(v.p);
	return same;
}

/* ---- the single-part route ---- */

/*
 * The common single-part message (no Content-Type, or text/plain or
 * text/html, not an attachment, identity / quoted-printable / base64) is
 * decoded here without building a GMime object tree, which costs some
 * 200,000 instructions even for 1 KiB. Returns 0 when the message needs
 * the full parser. Same results as the parser path.
 */
int
mime_body_simple(const char *data, size_t size, const struct mime_hdr_scan *sc, struct mime_body *b)
{
	struct mime_str	     v = { 0 }, out = { 0 };
	struct mime_ctype    ct;
	GMimeContentEncoding enc = GMIME_CONTENT_ENCODING_DEFAULT;
	GMimeEncoding	     st;
	const char	    *charset = NULL, *body = data + sc->body;
	char		    *dec = NULL;
	size_t		     blen = size - sc->body, dlen;
	int		     html = 0, ok = 0, have_ct = 0;

	if (mime_hdr_needs_gmime(data, sc) || !mime_fast_as_gmime(data, sc))
		goto out;
	if (mime_hdr_find(data, sc, "Content-Disposition", &v) &&
	    (g_ascii_strncasecmp(v.p, "inline", 6) != 0 ||
		g_strstr_len(v.p, v.len, "ilename") != NULL ||
		g_strstr_len(v.p, v.len, "ILENAME") != NULL))
		goto out;
	if (mime_hdr_find(data, sc, "Content-Transfer-Encoding", &v)) {
		enc = g_mime_content_encoding_from_string(v.p);
		if (!mime_enc_is_simple(enc))
			goto out;
	}
	if (mime_hdr_find(data, sc, "Content-Type", &v)) {
		if (mime_ctype_parse(v.p, &ct) < 0)
			goto out;
		have_ct = 1;
		if (ct.toolong)
			goto out;
		if (mime_ctype_is(&ct, "text", "html"))
			html = 1;
		else if (!mime_ctype_is(&ct, "text", "plain"))
			goto out;
		if (ct.g != NULL && g_mime_content_type_get_parameter(ct.g, "name") != NULL)
			goto out;
		if (ct.charset[0] != '\0')
			charset = ct.charset;
	}
	if (enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE || enc == GMIME_CONTENT_ENCODING_BASE64) {
		g_mime_encoding_init_decode(&st, enc);
		dec = xmalloc(g_mime_encoding_outlen(&st, blen) + 1);
		dlen = g_mime_encoding_flush(&st, body, blen, dec);
		body = dec;
		blen = dlen;
	}
	mime_str_reserve(&out, blen);
	if (charset != NULL)
		mime_charset_to_utf8(charset, strlen(charset), body, blen, &out);
	else
		mime_str_add_8bit(&out, body, blen);
	if (html) {
		b->html = out.p;
		b->text = xstrdup("");
	} else
		b->text = out.p;
	ok = 1;
out:
	if (have_ct)
		mime_ctype_clear(&ct);
	free(dec);
	free(v.p);
	return ok;
}

/* ---- the structural fast path ----
 *
 * GMime's object tree costs some 400,000 instructions for a 500-byte
 * multipart/alternative message (mostly GObject construction and
 * finalisation), and bodies are parsed again for every body filter. So the
 * common shapes (multiparts of leaves, well-formed boundaries, identity /
 * quoted-printable / base64) are walked here over the raw bytes, with
 * GMime's content type, disposition and transfer decoders; anything else
 * (message types, multipart/digest, malformed or ambiguous boundaries, garbage
 * in a part header, uuencode, ...) returns -1 and the message goes to the
 * GMime parser. test_mime checks both paths give the same results.
 */

#define MIME_FAST_MAX_CHARSET 64

struct mime_fast_text {
	int		     set;
	size_t		     start, end; /* body bytes */
	GMimeContentEncoding enc;
	char		     charset[MIME_FAST_MAX_CHARSET]; /* "" if none */
};

struct mime_fast {
	struct mime_body_ctx *ctx;
	const char	     *data;
	struct mime_fast_text text, html;
	const char	    **bounds; /* enclosing boundaries */
	unsigned	      nbounds;
};

static int mime_fast_entity(struct mime_fast *, size_t, size_t, unsigned);

/*
 * Is the line (with its EOL) a delimiter of boundary b? 1: "--b", 2: "--b--",
 * 0: no, -1: starts like one but has more text (GMime's call, not ours).
 */
static int
mime_fast_delim(const char *line, size_t len, const char *b, size_t blen)
{
	size_t i;
	int    kind = 1;

	if (len < 2 + blen || line[0] != '-' || line[1] != '-' || memcmp(line + 2, b, blen) != 0)
		return 0;
	i = 2 + blen;
	if (i + 1 < len && line[i] == '-' && line[i + 1] == '-') {
		kind = 2;
		i += 2;
	}
	for (; i < len; i++)
		if (!mime_is_wsp(line[i]) && line[i] != '\r' && line[i] != '\n')
			return -1;
	return kind;
}

/* Transfer-decodes data[start..end) into a malloc'd buffer (NUL after it) */
static char *
mime_fast_decode(const char *data, size_t start, size_t end, GMimeContentEncoding enc,
    size_t *outlen)
{
	GMimeEncoding st;
	char	     *out;

	if (enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE || enc == GMIME_CONTENT_ENCODING_BASE64) {
		g_mime_encoding_init_decode(&st, enc);
		out = xmalloc(g_mime_encoding_outlen(&st, end - start) + 1);
		*outlen = g_mime_encoding_flush(&st, data + start, end - start, out);
	} else {
		out = xmalloc(end - start + 1);
		memcpy(out, data + start, end - start);
		*outlen = end - start;
	}
	out[*outlen] = '\0';
	return out;
}

/* The UTF-8 text of a chosen body */
static char *
mime_fast_text_get(const char *data, const struct mime_fast_text *t)
{
	struct mime_str s = { 0 };
	char	       *dec;
	size_t		len;

	mime_str_reserve(&s, 0);
	if (!t->set)
		return s.p;
	dec = mime_fast_decode(data, t->start, t->end, t->enc, &len);
	if (t->charset[0] != '\0')
		mime_charset_to_utf8(t->charset, strlen(t->charset), dec, len, &s);
	else
		mime_str_add_8bit(&s, dec, len);
	free(dec);
	return s.p;
}

static int
mime_fast_multipart(struct mime_fast *f, size_t body, size_t end, const char *boundary,
    unsigned depth)
{
	const char *data = f->data;
	size_t	    blen = strlen(boundary), off, len, part = SIZE_MAX;
	size_t	    cend;
	unsigned    i;
	int	    kind, closed = 0, rc = 0;

	f->bounds[f->nbounds++] = boundary;
	/* every iteration consumes one line */
	for (off = body; off < end && rc == 0; off += len) {
		len = mime_line_len(data + off, end - off);
		if (len < 2 || data[off] != '-' || data[off + 1] != '-')
			continue;
		kind = mime_fast_delim(data + off, len, boundary, blen);
		for (i = 0; kind == 0 && i + 1 < f->nbounds; i++)
			if (mime_fast_delim(data + off, len, f->bounds[i], strlen(f->bounds[i])) !=
			    0)
				kind = -1; /* a parent's: malformed */
		if (kind < 0) {
			rc = -1;
			break;
		}
		if (kind == 0)
			continue;
		if (part != SIZE_MAX && !f->ctx->stop) {
			/* the EOL before a delimiter belongs to it */
			cend = off;
			if (cend > part && data[cend - 1] == '\n')
				cend--;
			if (cend > part && data[cend - 1] == '\r')
				cend--;
			rc = mime_fast_entity(f, part, cend, depth + 1);
		}
		if (kind == 2) {
			closed = 1;
			break;
		}
		part = off + len;
	}
	f->nbounds--;
	/* no closing delimiter: GMime decides what the parts are */
	if (rc == 0 && !closed)
		rc = -1;
	return rc;
}

/* One entity data[start..end): header block, then a body */
static int
mime_fast_entity(struct mime_fast *f, size_t start, size_t end, unsigned depth)
{
	struct mime_body_ctx	*ctx = f->ctx;
	struct mime_hdr_scan	 sc;
	struct mime_str		 v = { 0 };
	struct mime_fast_text	*slot = NULL;
	struct mime_attachment	*a;
	struct mime_ctype	 ct;
	GMimeContentDisposition *cd = NULL;
	GMimeContentEncoding	 enc = GMIME_CONTENT_ENCODING_DEFAULT;
	const char		*base = f->data + start, *fn = NULL;
	char			*dec, *fname = NULL;
	size_t			 len;
	int			 rc = -1, is_att = 0, have_ct = 0;

	if (ctx->stop)
		return 0;
	if (++ctx->nparts > ctx->max_parts) {
		ctx->body->flags |= MIME_FLAG_MAX_PARTS;
		ctx->stop = 1;
		return 0;
	}
	mime_hdr_scan(base, end - start, &sc);
	if (sc.capped || (sc.flags & MIME_FLAG_MALFORMED))
		goto out;
	/* a part without the empty line: GMime's warnings decide */
	if ((depth > 0 && !sc.blank) || mime_hdr_needs_gmime(base, &sc) ||
	    !mime_fast_as_gmime(base, &sc))
		goto out;
	if (mime_hdr_find(base, &sc, "Content-Type", &v)) {
		if (mime_ctype_parse(v.p, &ct) < 0)
			goto out;
		have_ct = 1;
		if (ct.toolong)
			goto out;
	}
	if (have_ct && mime_ctype_is(&ct, "message", "*"))
		goto out;
	if (have_ct && mime_ctype_is(&ct, "multipart", "*")) {
		if (mime_ctype_is(&ct, "multipart", "digest") || ct.boundary[0] == '\0')
			goto out;
		if (depth >= ctx->max_depth) {
			ctx->body->flags |= MIME_FLAG_MAX_DEPTH;
			rc = 0;
			goto out;
		}
		rc = mime_fast_multipart(f, start + sc.body, end, ct.boundary, depth);
		goto out;
	}

	/* a leaf */
	if (mime_hdr_find(base, &sc, "Content-Transfer-Encoding", &v)) {
		enc = g_mime_content_encoding_from_string(v.p);
		if (!mime_enc_is_simple(enc))
			goto out;
	}
	if (mime_hdr_find(base, &sc, "Content-Disposition", &v) &&
	    g_ascii_strcasecmp(v.p, "inline") != 0) {
		if ((cd = g_mime_content_disposition_parse(NULL, v.p)) == NULL)
			goto out;
		if (g_ascii_strcasecmp(g_mime_content_disposition_get_disposition(cd),
			"attachment") == 0)
			is_att = 1;
		fn = g_mime_content_disposition_get_parameter(cd, "filename");
		if (fn != NULL)
			fname = mime_param_filename(fn, v.p, "filename");
	}
	if (fn == NULL && have_ct && ct.g != NULL) {
		fn = g_mime_content_type_get_parameter(ct.g, "name");
		if (fn != NULL && mime_hdr_find(base, &sc, "Content-Type", &v))
			fname = mime_param_filename(fn, v.p, "name");
	}
	if (fn != NULL && *fn != '\0')
		is_att = 1;
	if (!is_att && (!have_ct || mime_ctype_is(&ct, "text", "plain")))
		slot = &f->text;
	else if (!is_att && mime_ctype_is(&ct, "text", "html"))
		slot = &f->html;
	if (slot != NULL) {
		rc = 0;
		if (slot->set)
			goto out;
		slot->set = 1;
		slot->start = start + sc.body;
		slot->end = end;
		slot->enc = enc;
		g_strlcpy(slot->charset, have_ct ? ct.charset : "", sizeof(slot->charset));
		goto out;
	}

	/* an attachment */
	if (ctx->body->natts == ctx->capatts) {
		ctx->capatts = ctx->capatts ? ctx->capatts * 2 : 4;
		ctx->body->atts = xreallocarray(ctx->body->atts, ctx->capatts,
		    sizeof(*ctx->body->atts));
	}
	a = &ctx->body->atts[ctx->body->natts++];
	memset(a, 0, sizeof(*a));
	a->filename = fname != NULL ? fname : xstrdup("");
	fname = NULL;
	if (have_ct) {
		xasprintf(&a->content_type, "%s/%s", ct.type, ct.subtype);
		a->content_type = mime_ctype_string(a->content_type);
	} else
		a->content_type = xstrdup("text/plain");
	a->content_id = mime_content_id(mime_hdr_find(base, &sc, "Content-ID", &v) ? v.p : NULL);
	dec = mime_fast_decode(f->data, start + sc.body, end, enc, &len);
	a->size = len;
	if (ctx->with_content)
		a->content = dec;
	else
		free(dec);
	rc = 0;
out:
	if (have_ct)
		mime_ctype_clear(&ct);
	if (cd != NULL)
		g_object_unref(cd);
	free(fname);
	free(v.p);
	free(sc.spans);
	return rc;
}

/*
 * The fast path on the whole message: 1 if it produced b's bodies and
 * attachments, 0 if the message must go to GMime (b untouched then).
 */
int
mime_body_fast(const char *data, size_t size, struct mime_body_ctx *proto, struct mime_body *b)
{
	struct mime_fast     f;
	struct mime_body_ctx ctx = *proto;
	struct mime_body     tb;
	const char	    *bounds[64];

	memset(&f, 0, sizeof(f));
	memset(&tb, 0, sizeof(tb));
	ctx.body = &tb;
	ctx.capatts = 0;
	if (ctx.max_depth >= sizeof(bounds) / sizeof(*bounds))
		return 0; /* deeper than our boundary stack */
	f.ctx = &ctx;
	f.data = data;
	f.bounds = bounds;
	if (mime_fast_entity(&f, 0, size, 0) < 0) {
		tb.text = tb.html = NULL;
		mime_body_free_contents(&tb);
		return 0;
	}
	b->text = mime_fast_text_get(data, &f.text);
	b->html = mime_fast_text_get(data, &f.html);
	b->atts = tb.atts;
	b->natts = tb.natts;
	b->flags |= tb.flags;
	return 1;
}
