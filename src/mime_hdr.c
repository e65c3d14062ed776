/*
 * mime_hdr - header fields over the raw bytes, for the view and the fast
 * routes: the header block scan, unfolding, RFC 2047 encoded words (also
 * in name= and filename= parameters) and single-header lookups.
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
	return (len == 1 && p[0] == '\n') ||
	    (len == 2 && p[0] == '\r' && p[1] == '\n');
}

/*
 * Field name: printable ASCII except ':', then optional WSP (obsolete
 * syntax), then ':'. Returns the name length, or 0 if not a header line.
 */
size_t
mime_field_name_len(const char *p, size_t len, size_t *colon)
{
	size_t	 i, n;

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
	size_t	 off = 0, len, colon, namelen;

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
			sc->spans = xreallocarray(sc->spans, sc->cap,
			    sizeof(*sc->spans));
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
	size_t	 o = *off, len, colon = 0;

	if (o >= end)
		return 0;
	len = mime_line_len(data + o, end - o);
	sp->name = o;
	sp->namelen = mime_field_name_len(data + o, len, &colon);
	sp->value = o + colon + 1;
	if (sp->namelen == 0)		/* not what mime_hdr_scan() saw: no value */
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
	const char	*lf;
	size_t		 e, next, i;

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
	size_t	 i;

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
	const char	*charset;	/* not NUL-terminated */
	size_t		 charsetlen;
	char		 enc;		/* 'B' or 'Q' */
	const char	*text;
	size_t		 textlen;
	size_t		 len;		/* of the whole "=?...?=" */
};

/* Parses an encoded word at p; 1 if there is one */
static int
mime_eword_parse(const char *p, const char *end, struct mime_eword *w)
{
	const char	*q;

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
	gint		 st = 0;
	guint		 save = 0;
	size_t		 i, n;
	int		 hi, lo;
	char		 c;

	if (w->enc == 'B') {
		mime_str_reserve(out, w->textlen);
		n = g_base64_decode_step(w->text, w->textlen,
		    (guchar *)out->p + out->len, &st, &save);
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
mime_eword_run(const char *p, const char *end, struct mime_str *bytes,
    struct mime_str *utf8, int *nwords)
{
	struct mime_eword	 w, prev;
	const char		*q = p, *last = p;

	*nwords = 0;
	bytes->len = 0;
	memset(&prev, 0, sizeof(prev));
	while (mime_eword_parse(q, end, &w)) {
		if (*nwords > 0 && (w.charsetlen != prev.charsetlen ||
		    g_ascii_strncasecmp(w.charset, prev.charset,
		    w.charsetlen) != 0)) {
			mime_charset_to_utf8(prev.charset, prev.charsetlen,
			    bytes->p, bytes->len, utf8);
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
		mime_charset_to_utf8(prev.charset, prev.charsetlen, bytes->p,
		    bytes->len, utf8);
	return last;
}

/*
 * Rewrites in[0..len) into out when it holds a run of two or more adjacent
 * encoded words; returns 0 (out untouched) otherwise.
 */
int
mime_2047_runs(const char *in, size_t len, struct mime_str *out)
{
	const char	*end = in + len, *p = in, *q, *copied = in;
	struct mime_str	 bytes = { 0 }, utf8 = { 0 };
	gchar		*b64;
	int		 nwords, changed = 0;

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
	const char		*end = p + len, *at, *plain = p;
	struct mime_str		 bytes = { 0 };
	struct mime_eword	 w;
	int			 nwords;

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

/* ---- RFC 2047 in parameters ---- */

/*
 * The raw value of parameter param of a raw header value p (may be NULL),
 * unquoted and unfolded, RFC 2047-decoded by mime_decode_words(), in a
 * malloc'd string; NULL if absent or without encoded words. GMime decodes
 * name= and filename= with the adjacent-word bug described at
 * mime_2047_runs().
 */
char *
mime_param_2047_raw(const char *p, const char *param)
{
	struct mime_str	 val = { 0 }, out = { 0 };
	const char	*a;
	size_t		 plen = strlen(param);
	int		 q;

	if (p == NULL || strstr(p, "=?") == NULL)
		return NULL;
	/* every iteration moves p forward, to the next ';' or the end */
	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		a = p;
		while (*p != '\0' && *p != '=' && *p != ';')
			p++;
		if (*p != '=')
			continue;
		while (p > a && (p[-1] == ' ' || p[-1] == '\t'))
			p--;
		if ((size_t)(p - a) != plen ||
		    g_ascii_strncasecmp(a, param, plen) != 0) {
			p = strchr(p, '=');
			if ((q = p[1] == '"')) {
				/* skip a quoted value that may hold ';' */
				for (p += 2; *p != '\0' && *p != '"'; p++)
					if (*p == '\\' && p[1] != '\0')
						p++;
			}
			continue;
		}
		p = strchr(p, '=') + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		val.len = 0;
		mime_str_reserve(&val, strlen(p));
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				else if (*p == '\r' || *p == '\n')
					continue;
				val.p[val.len++] = *p;
			}
		} else
			for (; *p != '\0' && *p != ';' && *p != ' ' &&
			    *p != '\t' && *p != '\r' && *p != '\n'; p++)
				val.p[val.len++] = *p;
		val.p[val.len] = '\0';
		break;
	}
	if (val.p == NULL || mime_eword_find(val.p, val.p + val.len) == NULL) {
		free(val.p);
		return NULL;
	}
	mime_str_reserve(&out, val.len);
	mime_decode_words(val.p, val.len, &out);
	free(val.p);
	return out.p;
}

/* ---- single headers, for the fast routes ---- */

/*
 * The header named name (case-insensitive), unfolded into out: returns 1,
 * or 0 if there is none, or -1 if there are several (which one counts is
 * the GMime parser's business: the fast paths give up).
 */
int
mime_hdr_find(const char *data, const struct mime_hdr_scan *sc,
    const char *name, struct mime_str *out)
{
	size_t	 i, len = strlen(name), n = 0, first = 0;

	for (i = 0; i < sc->n; i++) {
		if (sc->spans[i].namelen == len &&
		    g_ascii_strncasecmp(data + sc->spans[i].name, name,
		    len) == 0 && n++ == 0)
			first = i;
	}
	if (n > 1)
		return -1;
	if (n == 1)
		mime_unfold(data, sc->spans[first].value,
		    sc->spans[first].end, out);
	return n;
}

/*
 * 1 if a header the fast paths read appears more than once, or holds a NUL
 * (GMime reads its value as a C string, up to the NUL): GMime's call then.
 */
int
mime_hdr_needs_gmime(const char *data, const struct mime_hdr_scan *sc)
{
	static const char	*names[] = { "Content-Type",
	    "Content-Transfer-Encoding", "Content-Disposition", "Content-ID" };
	unsigned		 seen[4] = { 0, 0, 0, 0 };
	const char		*name;
	size_t			 i, k, len;

	for (i = 0; i < sc->n; i++) {
		name = data + sc->spans[i].name;
		len = sc->spans[i].namelen;
		if (len < 10 || g_ascii_strncasecmp(name, "Content-", 8) != 0)
			continue;
		for (k = 0; k < 4; k++)
			if (strlen(names[k]) == len &&
			    g_ascii_strncasecmp(name, names[k], len) == 0 &&
			    (seen[k]++ > 0 || memchr(data + sc->spans[i].value, '\0',
			    sc->spans[i].end - sc->spans[i].value) != NULL))
				return 1;
	}
	return 0;
}
