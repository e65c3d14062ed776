/*
 * mime_hdr - header fields over the raw bytes, for the view and the fast
 * routes: the header block scan, unfolding, RFC 2047 encoded words (also
 * in name= and filename= parameters), RFC 2231 parameter values and
 * single-header lookups.
 *
 * The header block ends at the first empty line, or at the first line that
 * is neither a header field nor a continuation: that line starts the body
 * (Python's email package does the same) and MIME_FLAG_MALFORMED is set.
 * RFC 2047 words and raw 8-bit text are decoded here (GMime 3.2's decoder
 * loses adjacent padded base64 words, see mime_2047_runs), to UTF-8 with
 * mime_text.c. No GMime object is made here. Results go to caller-owned
 * mime_strs or malloc'd strings the caller frees.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "mime.h"
#include "mime_internal.h"
#include "xmalloc.h"

/* ---- header block scanning ---- */

/* 1 if the line is an empty line: "\n" or "\r\n" */
static int
mime_line_is_empty(const char *p, size_t len)
{
	return (len == 1 && p[0] == '\n') || (len == 2 && p[0] == '\r' && p[1] == '\n');
}

/*
 * Field name: printable ASCII except ':', then optional WSP (obsolete
 * syntax), then ':'. Returns the name length, or 0 if not a header line.
 */
size_t
mime_field_name_len(const char *p, size_t len, size_t *colon)
{
	size_t i, n;

	for (i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c == ':' || c <= 32 || c >= 127)
			break;
	}
	n = i;
	if (n == 0)
		return 0;
	while (i < len && mime_is_wsp(p[i]))
		i++;
	if (i >= len || p[i] != ':')
		return 0;
	*colon = i;
	return n;
}

/*
 * Splits the top-level header block of data[0..size) into field spans.
 * Loops are bounded by size: every iteration consumes one line.
 */
void
mime_hdr_scan(const char *data, size_t size, struct mime_hdr_scan *sc)
{
	size_t off = 0, len, colon, namelen;

	memset(sc, 0, sizeof(*sc));
	while (off < size) {
		len = mime_line_len(data + off, size - off);
		if (mime_line_is_empty(data + off, len)) {
			sc->fields_end = off;
			off += len;
			sc->blank = 1;
			break;
		}
		if (mime_is_wsp(data[off]) && (sc->n > 0 || sc->capped)) {
			/* continuation of the previous field */
			if (memchr(data + off, '\0', len) != NULL)
				sc->flags |= MIME_FLAG_MALFORMED;
			if (!sc->capped)
				sc->spans[sc->n - 1].end = off + len;
			off += len;
			continue;
		}
		namelen = mime_field_name_len(data + off, len, &colon);
		if (namelen == 0) {
			/* Not a header: the body starts here */
			sc->no_separator = 1;
			sc->flags |= MIME_FLAG_MALFORMED;
			sc->fields_end = off;
			break;
		}
		if (memchr(data + off, '\0', len) != NULL)
			sc->flags |= MIME_FLAG_MALFORMED;
		if (sc->n == MIME_VIEW_MAX_HEADERS) {
			/* keep looking for the body, list no more */
			if (!sc->capped)
				sc->more = off;
			sc->flags |= MIME_FLAG_MAX_HEADERS;
			sc->capped = 1;
			off += len;
			continue;
		}
		if (sc->n == sc->cap) {
			sc->cap = sc->cap ? sc->cap * 2 : 16;
			sc->spans = xreallocarray(sc->spans, sc->cap, sizeof(*sc->spans));
		}
		sc->spans[sc->n].name = off;
		sc->spans[sc->n].namelen = namelen;
		sc->spans[sc->n].value = off + colon + 1;
		sc->spans[sc->n].end = off + len;
		sc->n++;
		off += len;
	}
	if (!sc->blank && !sc->no_separator)
		sc->fields_end = off;
	sc->body = off;
}

int
mime_hdr_next(const char *data, size_t end, size_t *off, struct mime_hdr_span *sp)
{
	size_t o = *off, len, colon = 0;

	if (o >= end)
		return 0;
	len = mime_line_len(data + o, end - o);
	sp->name = o;
	sp->namelen = mime_field_name_len(data + o, len, &colon);
	sp->value = o + colon + 1;
	if (sp->namelen == 0) /* not what mime_hdr_scan() saw: no value */
		sp->value = o + len;
	for (o += len; o < end && mime_is_wsp(data[o]); o += len)
		len = mime_line_len(data + o, end - o);
	sp->end = o;
	*off = o;
	return 1;
}

/*
 * Unfolds data[from..to) into s (replaced, not appended): line ends are
 * removed, leading and trailing white space trimmed, NULs become U+FFFD so
 * the value can be handed to GMime as a C string.
 */
void
mime_unfold(const char *data, size_t from, size_t to, struct mime_str *s)
{
	const char *lf;
	size_t	    e, next, i;

	s->len = 0;
	while (from < to && mime_is_wsp(data[from]))
		from++;
	mime_str_reserve(s, to - from);
	/* line by line: drop LF and every CR */
	while (from < to) {
		lf = memchr(data + from, '\n', to - from);
		e = lf != NULL ? (size_t)(lf - data) : to;
		next = lf != NULL ? e + 1 : to;
		if (e > from && data[e - 1] == '\r')
			e--;
		if (memchr(data + from, '\0', e - from) == NULL &&
		    memchr(data + from, '\r', e - from) == NULL) {
			memcpy(s->p + s->len, data + from, e - from);
			s->len += e - from;
		} else {
			/* rare: CRs go (as in GMime), NULs become U+FFFD */
			for (i = from; i < e; i++) {
				mime_str_reserve(s, to - i + 3);
				if (data[i] == '\0') {
					memcpy(s->p + s->len, "\xEF\xBF\xBD", 3);
					s->len += 3;
				} else if (data[i] != '\r')
					s->p[s->len++] = data[i];
			}
		}
		from = next;
	}
	while (s->len > 0 && mime_is_wsp(s->p[s->len - 1]))
		s->len--;
	s->p[s->len] = '\0';
}

/* 1 if the value needs RFC 2047 / 8-bit decoding */
static int
mime_needs_decode(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)p[i] >= 0x80)
			return 1;
		if (p[i] == '=' && i + 1 < len && p[i + 1] == '?')
			return 1;
	}
	return 0;
}

/* ---- RFC 2047 runs ----
 *
 * GMime 3.2 merges adjacent encoded words of one charset before decoding
 * them, and its base64 decoder stops at the first word's padding:
 * "=?UTF-8?B?SGk=?= =?UTF-8?B?IHRoZXJl?=" decodes to "Hi", losing the rest
 * (common: JavaMail and others pad every word). So runs of two or more
 * adjacent encoded words are decoded here (bytes of consecutive words in
 * one charset are joined first, so a character split across words
 * survives) and replaced by ONE UTF-8 B word, which GMime's text and
 * address decoders then read correctly.
 */

struct mime_eword {
	const char *charset; /* not NUL-terminated */
	size_t	    charsetlen;
	char	    enc; /* 'B' or 'Q' */
	const char *text;
	size_t	    textlen;
	size_t	    len; /* of the whole "=?...?=" */
};

/* Parses an encoded word at p; 1 if there is one */
static int
mime_eword_parse(const char *p, const char *end, struct mime_eword *w)
{
	const char *q;

	if (end - p < 8 || p[0] != '=' || p[1] != '?')
		return 0;
	w->charset = q = p + 2;
	while (q < end && *q != '?' && *q != ' ' && *q != '\t')
		q++;
	if (q + 3 > end || *q != '?' || q == w->charset)
		return 0;
	w->charsetlen = q - w->charset;
	w->enc = g_ascii_toupper(q[1]);
	if ((w->enc != 'B' && w->enc != 'Q') || q[2] != '?')
		return 0;
	w->text = q = q + 3;
	while (q < end && *q != '?' && *q != ' ' && *q != '\t')
		q++;
	if (q + 2 > end || q[0] != '?' || q[1] != '=')
		return 0;
	w->textlen = q - w->text;
	w->len = q + 2 - p;
	return 1;
}

/* Appends the payload bytes of w to out */
static void
mime_eword_bytes(const struct mime_eword *w, struct mime_str *out)
{
	gint   st = 0;
	guint  save = 0;
	size_t i, n;
	int    hi, lo;
	char   c;

	if (w->enc == 'B') {
		mime_str_reserve(out, w->textlen);
		n = g_base64_decode_step(w->text, w->textlen, (guchar *)out->p + out->len, &st,
		    &save);
		out->len += n;
		out->p[out->len] = '\0';
		return;
	}
	for (i = 0; i < w->textlen; i++) {
		c = w->text[i];
		if (c == '_')
			c = ' ';
		else if (c == '=' && i + 2 < w->textlen &&
		    (hi = g_ascii_xdigit_value(w->text[i + 1])) >= 0 &&
		    (lo = g_ascii_xdigit_value(w->text[i + 2])) >= 0) {
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		mime_str_add(out, &c, 1);
	}
}

/*
 * Decodes the run of adjacent encoded words starting at p (which must
 * parse as one), appending UTF-8 to utf8 (bytes is scratch). Returns the
 * end of the last word and the number of words in *nwords.
 */
static const char *
mime_eword_run(const char *p, const char *end, struct mime_str *bytes, struct mime_str *utf8,
    int *nwords)
{
	struct mime_eword w, prev;
	const char	 *q = p, *last = p;

	*nwords = 0;
	bytes->len = 0;
	memset(&prev, 0, sizeof(prev));
	while (mime_eword_parse(q, end, &w)) {
		if (*nwords > 0 &&
		    (w.charsetlen != prev.charsetlen ||
			g_ascii_strncasecmp(w.charset, prev.charset, w.charsetlen) != 0)) {
			mime_charset_to_utf8(prev.charset, prev.charsetlen, bytes->p, bytes->len,
			    utf8);
			bytes->len = 0;
		}
		mime_eword_bytes(&w, bytes);
		prev = w;
		(*nwords)++;
		last = q = q + w.len;
		/* white space between encoded words is dropped */
		while (q < end && mime_is_wsp(*q))
			q++;
	}
	if (*nwords > 0)
		mime_charset_to_utf8(prev.charset, prev.charsetlen, bytes->p, bytes->len, utf8);
	return last;
}

/*
 * Rewrites in[0..len) into out when it holds a run of two or more adjacent
 * encoded words; returns 0 (out untouched) otherwise.
 */
int
mime_2047_runs(const char *in, size_t len, struct mime_str *out)
{
	const char     *end = in + len, *p = in, *q, *copied = in;
	struct mime_str bytes = { 0 }, utf8 = { 0 };
	gchar	       *b64;
	int		nwords, changed = 0;

	out->len = 0;
	while ((p = mime_eword_find(p, end)) != NULL) {
		utf8.len = 0;
		q = mime_eword_run(p, end, &bytes, &utf8, &nwords);
		if (nwords == 0) {
			p += 2;
			continue;
		}
		if (nwords == 1) {
			p = q;
			continue;
		}
		mime_str_add(out, copied, p - copied);
		b64 = g_base64_encode((const guchar *)utf8.p, utf8.len);
		mime_str_add(out, "=?UTF-8?B?", 10);
		mime_str_add(out, b64, strlen(b64));
		mime_str_add(out, "?=", 2);
		g_free(b64);
		copied = p = q;
		changed = 1;
	}
	if (changed)
		mime_str_add(out, copied, end - copied);
	free(bytes.p);
	free(utf8.p);
	return changed;
}

/*
 * Appends the decoded text of p[0..len) to out: RFC 2047 encoded words
 * (anywhere, as GMime's loose mode does) in any charset, and raw 8-bit text
 * (UTF-8 kept, anything else through the fallback charsets), as UTF-8.
 */
void
mime_decode_words(const char *p, size_t len, struct mime_str *out)
{
	const char	 *end = p + len, *at, *plain = p;
	struct mime_str	  bytes = { 0 };
	struct mime_eword w;
	int		  nwords;

	if (!mime_needs_decode(p, len)) {
		mime_str_add(out, p, len);
		return;
	}
	while ((at = mime_eword_find(p, end)) != NULL) {
		if (!mime_eword_parse(at, end, &w)) {
			p = at + 2;
			continue;
		}
		mime_str_add_8bit(out, plain, at - plain);
		p = plain = mime_eword_run(at, end, &bytes, out, &nwords);
	}
	mime_str_add_8bit(out, plain, end - plain);
	free(bytes.p);
}

/* ---- parameters: RFC 2047 and RFC 2231 values ----
 *
 * GMime's parameter parser says whether a part has a filename (filename=,
 * else name=); the value itself is read again here from the raw header
 * value, the same way on both routes:
 *  - RFC 2047 words in a plain value (not standard, but common): GMime's
 *    decoder loses adjacent padded words (see mime_2047_runs);
 *  - RFC 2231 values (param*=charset'lang'%XX..., sections param*N= and
 *    param*N*=): GMime keeps bytes that are not the declared UTF-8 as they
 *    are, tries the process locale's charset when the declared one fails,
 *    drops bytes iconv cannot convert and stops at a %00; and on the GMime
 *    route its parser has decoded the raw 8-bit bytes of the header as text
 *    (ISO-8859-1 to UTF-8) before the %-decoding, so the octets of one value
 *    were read in two charsets (found by fuzz_mime). Here every octet of the
 *    value, raw or %-escaped, is an octet of the declared charset, converted
 *    by mime_charset_to_utf8() as declared-charset text is everywhere else.
 */

/* One parameter of a raw header value */
struct mime_param {
	const char *name; /* as written, with any '*' suffix */
	size_t	    namelen;
	const char *value; /* [value, vend): inside the quotes of a
					   quoted value, escapes and folds in */
	const char *vend;
	int	    quoted;
};

/*
 * The parameter after the next ';' at or after *pp in a raw header value:
 * returns 1 with *mp filled and *pp moved past its value, or 0 when no
 * parameter is left. A quoted value may hold ';'; an unquoted one ends at
 * a blank or ';'. Every call moves *pp forward.
 */
static int
mime_param_next(const char **pp, struct mime_param *mp)
{
	const char *p = *pp, *a;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		a = p;
		while (*p != '\0' && *p != '=' && *p != ';')
			p++;
		if (*p != '=')
			continue;
		mp->name = a;
		mp->namelen = p - a;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if ((mp->quoted = *p == '"')) {
			mp->value = ++p;
			for (; *p != '\0' && *p != '"'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
		} else {
			mp->value = p;
			while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t' && *p != '\r' &&
			    *p != '\n')
				p++;
		}
		mp->vend = p;
		*pp = p;
		return 1;
	}
	return 0;
}

/* mp's value into out (replaced): unquoted, escapes removed, folds dropped */
static void
mime_param_value(const struct mime_param *mp, struct mime_str *out)
{
	const char *p;

	out->len = 0;
	mime_str_reserve(out, mp->vend - mp->value);
	for (p = mp->value; p < mp->vend; p++) {
		if (mp->quoted && *p == '\\' && p + 1 < mp->vend)
			p++;
		else if (mp->quoted && (*p == '\r' || *p == '\n'))
			continue;
		out->p[out->len++] = *p;
	}
	out->p[out->len] = '\0';
}

enum mime_param_kind {
	MIME_PARAM_OTHER,   /* not the parameter asked for */
	MIME_PARAM_PLAIN,   /* param= */
	MIME_PARAM_2231,    /* param*= */
	MIME_PARAM_SECTION, /* param*N= or param*N*= */
};

#define MIME_SECTION_MAX 1000000000UL /* larger numbers saturate */

/*
 * What mp is to parameter param (plen bytes), read as GMime reads a name:
 * blanks around '*' allowed, no digits meaning section 0. For a section,
 * its number goes to *section and whether it is %-encoded (a '*' after the
 * number) to *encoded.
 */
static enum mime_param_kind
mime_param_kind(const struct mime_param *mp, const char *param, size_t plen, unsigned long *section,
    int *encoded)
{
	const char *n = mp->name, *end = mp->name + mp->namelen, *star;
	size_t	    blen;

	while (end > n && mime_is_wsp(end[-1]))
		end--;
	star = memchr(n, '*', end - n);
	blen = (star != NULL ? star : end) - n;
	while (blen > 0 && mime_is_wsp(n[blen - 1]))
		blen--;
	if (blen != plen || g_ascii_strncasecmp(n, param, plen) != 0)
		return MIME_PARAM_OTHER;
	if (star == NULL)
		return MIME_PARAM_PLAIN;
	for (n = star + 1; n < end && mime_is_wsp(*n); n++)
		;
	if (n == end)
		return MIME_PARAM_2231;
	for (*section = 0; n < end && g_ascii_isdigit(*n); n++) {
		*section = *section * 10 + (unsigned long)(*n - '0');
		if (*section > MIME_SECTION_MAX)
			*section = MIME_SECTION_MAX;
	}
	while (n < end && mime_is_wsp(*n))
		n++;
	if ((*encoded = n < end && *n == '*'))
		for (n++; n < end && mime_is_wsp(*n); n++)
			;
	return n == end ? MIME_PARAM_SECTION : MIME_PARAM_OTHER;
}

/* One piece of an RFC 2231 value: a section, or the whole param*= value */
struct mime_section {
	unsigned long	  number;
	size_t		  order; /* in the header */
	int		  encoded;
	struct mime_param mp;
};

static int
mime_section_cmp(const void *a, const void *b)
{
	const struct mime_section *x = a, *y = b;

	if (x->number != y->number)
		return x->number < y->number ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Appends p[0..len) to out %-decoded (a '%' without two hex digits stays) */
static void
mime_pct_decode(const char *p, size_t len, struct mime_str *out)
{
	size_t i;
	int    hi, lo;
	char   c;

	mime_str_reserve(out, len);
	for (i = 0; i < len; i++) {
		c = p[i];
		if (c == '%' && len - i > 2 && (hi = g_ascii_xdigit_value(p[i + 1])) >= 0 &&
		    (lo = g_ascii_xdigit_value(p[i + 2])) >= 0) {
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		out->p[out->len++] = c;
	}
	out->p[out->len] = '\0';
}

/*
 * The RFC 2231 value made of the pieces s[0..n), in order, as UTF-8
 * appended to out: their bytes joined (%-decoded where encoded), converted
 * from the charset of the first piece's charset'lang' prefix (only the
 * first may have one) by mime_charset_to_utf8(), or read as text of
 * unknown charset (mime_str_add_8bit()) without one.
 */
static void
mime_2231_decode(const struct mime_section *s, size_t n, struct mime_str *out)
{
	struct mime_str val = { 0 }, cs = { 0 }, bytes = { 0 };
	const char     *v, *q1, *q2;
	size_t		i, len;

	mime_str_reserve(&bytes, 0);
	for (i = 0; i < n; i++) {
		mime_param_value(&s[i].mp, &val);
		v = val.p;
		len = val.len;
		if (i == 0 && s[i].encoded && (q1 = memchr(v, '\'', len)) != NULL &&
		    (q2 = memchr(q1 + 1, '\'', len - (q1 + 1 - v))) != NULL) {
			mime_str_add(&cs, v, q1 - v);
			len -= q2 + 1 - v;
			v = q2 + 1;
		}
		if (s[i].encoded)
			mime_pct_decode(v, len, &bytes);
		else
			mime_str_add(&bytes, v, len);
	}
	if (cs.len > 0)
		mime_charset_to_utf8(cs.p, cs.len, bytes.p, bytes.len, out);
	else
		mime_str_add_8bit(out, bytes.p, bytes.len);
	free(val.p);
	free(cs.p);
	free(bytes.p);
}

/*
 * Our reading of parameter param of the raw header value p (may be NULL;
 * folded or not): the first parameter of that name decides, as in GMime.
 * RFC 2231 (param*=, or param*N= and param*N*= sections: all sections of
 * the value, in number order, a number given twice in header order) is
 * decoded; a plain value with RFC 2047 words is decoded by
 * mime_decode_words(). Returns a malloc'd UTF-8 string, or NULL if param
 * is absent or a plain value without encoded words (GMime's reading
 * stands). Linear in the value (n log n in the sections).
 */
char *
mime_param_raw(const char *p, const char *param)
{
	struct mime_param    mp;
	struct mime_section *s = NULL;
	struct mime_str	     val = { 0 }, out = { 0 };
	enum mime_param_kind kind = MIME_PARAM_OTHER, k;
	size_t		     plen = strlen(param), n = 0, cap = 0, order;
	unsigned long	     number = 0;
	int		     encoded = 0;

	if (p == NULL || (strstr(p, "=?") == NULL && strchr(p, '*') == NULL))
		return NULL;
	while (mime_param_next(&p, &mp) &&
	    (kind = mime_param_kind(&mp, param, plen, &number, &encoded)) == MIME_PARAM_OTHER)
		;
	switch (kind) {
	case MIME_PARAM_PLAIN:
		mime_param_value(&mp, &val);
		if (mime_eword_find(val.p, val.p + val.len) == NULL)
			break;
		mime_str_reserve(&out, val.len);
		mime_decode_words(val.p, val.len, &out);
		break;
	case MIME_PARAM_2231:
	case MIME_PARAM_SECTION:
		/* this piece, then every later section of param */
		for (order = 0, k = kind;;) {
			if (k == kind) {
				if (n == cap) {
					cap = cap ? cap * 2 : 4;
					s = xreallocarray(s, cap, sizeof(*s));
				}
				s[n].number = kind == MIME_PARAM_2231 ? 0 : number;
				s[n].order = order++;
				s[n].encoded = kind == MIME_PARAM_2231 || encoded;
				s[n++].mp = mp;
			}
			if (kind == MIME_PARAM_2231 || !mime_param_next(&p, &mp))
				break;
			k = mime_param_kind(&mp, param, plen, &number, &encoded);
		}
		qsort(s, n, sizeof(*s), mime_section_cmp);
		mime_str_reserve(&out, 0);
		mime_2231_decode(s, n, &out);
		break;
	default:
		break;
	}
	free(s);
	free(val.p);
	return out.p;
}

/*
 * An attachment's filename as both routes give it: fn is GMime's value of
 * parameter param (NULL: none), raw the raw header value it was read from.
 * Returns mime_param_raw()'s reading of raw when there is one (and fn is
 * not empty), else fn as valid UTF-8; a malloc'd string, "" without fn.
 */
char *
mime_param_filename(const char *fn, const char *raw, const char *param)
{
	struct mime_str s = { 0 };
	char	       *ours;

	if (fn != NULL && *fn != '\0' && (ours = mime_param_raw(raw, param)) != NULL)
		return ours;
	mime_str_reserve(&s, 0);
	if (fn != NULL)
		mime_str_add_8bit(&s, fn, strlen(fn));
	return s.p;
}

/*
 * An unfolded header value as GMime's objects read it: GMime's parser
 * decodes every header as text (RFC 2047 words anywhere, raw 8-bit bytes
 * through its fallback charsets) before it parses Content-Type,
 * Content-Disposition and Content-Transfer-Encoding, which RFC 2047 does
 * not allow in them (an object's type "=?utf-8?q?multipart?=/mixed" reads
 * multipart/mixed).
 * Returns raw itself when the decoder would leave it as it is (no "=?", no
 * 8-bit byte: the usual case), else a decoded copy in *dec, which the
 * caller frees with g_free() (*dec is NULL otherwise).
 */
const char *
mime_hdr_decoded(const char *raw, char **dec)
{
	*dec = NULL;
	if (mime_is_ascii(raw) && strstr(raw, "=?") == NULL)
		return raw;
	*dec = g_mime_utils_header_decode_text(NULL, raw);
	return *dec != NULL ? *dec : raw;
}

/*
 * The Content-ID of a part from its raw header value (NULL: none), the same
 * on both routes: GMime's reading of the msg-id, without its <>, as
 * g_mime_object_get_content_id() gives it, made valid UTF-8. A msg-id is
 * ASCII (UTF-8 under RFC 6532) and names no charset, so other bytes have
 * no reading and become U+FFFD. A malloc'd string, "" if there is none.
 */
char *
mime_content_id(const char *raw)
{
	struct mime_str s = { 0 };
	char	       *id;

	mime_str_reserve(&s, 0);
	if (raw != NULL && (id = g_mime_utils_decode_message_id(raw)) != NULL) {
		mime_str_add_utf8(&s, id, strlen(id));
		g_free(id);
	}
	return s.p;
}

/* ---- single headers, for the fast routes ---- */

/*
 * The header named name (case-insensitive), unfolded into out: returns 1,
 * or 0 if there is none, or -1 if there are several (which one counts is
 * the GMime parser's business: the fast paths give up).
 */
int
mime_hdr_find(const char *data, const struct mime_hdr_scan *sc, const char *name,
    struct mime_str *out)
{
	size_t i, len = strlen(name), n = 0, first = 0;

	for (i = 0; i < sc->n; i++) {
		if (sc->spans[i].namelen == len &&
		    g_ascii_strncasecmp(data + sc->spans[i].name, name, len) == 0 && n++ == 0)
			first = i;
	}
	if (n > 1)
		return -1;
	if (n == 1)
		mime_unfold(data, sc->spans[first].value, sc->spans[first].end, out);
	return n;
}

/* A CR not followed by LF: GMime's header parser reads such a value its own way */
static int
mime_hdr_bare_cr(const char *p, size_t n)
{
	const char *q, *end = p + n;

	for (q = p; (q = memchr(q, '\r', end - q)) != NULL; q++)
		if (q + 1 >= end || q[1] != '\n')
			return 1;
	return 0;
}

/*
 * 1 if a header the fast paths read appears more than once, or holds a NUL
 * (GMime reads its value as a C string, up to the NUL) or a bare CR: GMime's
 * call then.
 */
int
mime_hdr_needs_gmime(const char *data, const struct mime_hdr_scan *sc)
{
	static const char *names[] = { "Content-Type", "Content-Transfer-Encoding",
		"Content-Disposition", "Content-ID" };
	unsigned	   seen[4] = { 0, 0, 0, 0 };
	const char	  *name;
	size_t		   i, k, len;

	for (i = 0; i < sc->n; i++) {
		name = data + sc->spans[i].name;
		len = sc->spans[i].namelen;
		if (len < 10 || g_ascii_strncasecmp(name, "Content-", 8) != 0)
			continue;
		for (k = 0; k < 4; k++)
			if (strlen(names[k]) == len &&
			    g_ascii_strncasecmp(name, names[k], len) == 0 &&
			    (seen[k]++ > 0 ||
				memchr(data + sc->spans[i].value, '\0',
				    sc->spans[i].end - sc->spans[i].value) != NULL ||
				mime_hdr_bare_cr(data + sc->spans[i].value,
				    sc->spans[i].end - sc->spans[i].value)))
				return 1;
	}
	return 0;
}
