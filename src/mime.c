/*
 * mime - read-only parsed view of a message through GMime 3.
 *
 * The only module that includes GMime. The raw bytes of a message are never
 * modified; nothing here keeps a GMime object past the call that made it.
 *
 * Header summary (mime_view_get): the top-level header block is scanned
 * here (no GMime object tree, no copy of the body). RFC 2047 words and raw
 * 8-bit text are decoded here too (GMime 3.2's decoder loses adjacent
 * padded base64 words, see mime_2047_runs), with GMime's iconv wrappers and
 * fallback charsets; the common address lists are split here and the rest
 * go to GMime's address parser. The result is packed into ONE allocation
 * (struct, arrays, strings): a cached view costs about the header's size.
 *
 * Bodies and attachments (mime_body_parse): a single-part text message is
 * decoded directly, and a multipart made of leaves is walked over the raw
 * bytes (see "the structural fast path"), both with GMime's transfer
 * decoders but no GMime object tree, which costs ~20x more. Anything else
 * (message/rfc822, digests, malformed boundaries, ...) gets a full GMime
 * parse over the raw bytes without copying them (a non-owning memory
 * stream), then a walk of the tree bounded by max_depth and max_parts;
 * GMime only sees a prefix bounded by max_parts (mime_gmime_cut). GMime's
 * parser warnings (missing boundary, ...) become MIME_FLAG_MALFORMED; its
 * nesting cap, MAX_DEPTH. test_mime checks both routes agree.
 * Bodies: the first text/plain and text/html that are not attachments, in
 * the message itself, else in an inline forwarded message/rfc822.
 * Attachments: disposition attachment, or a filename (even inline), or any
 * other leaf type; an attached message/rfc822 is one attachment.
 *
 * The header block ends at the first empty line, or at the first line that
 * is neither a header field nor a continuation: that line starts the body
 * (Python's email package does the same) and MIME_FLAG_MALFORMED is set.
 *
 * Every string handed out is valid UTF-8 without NUL bytes: invalid
 * sequences and NULs become U+FFFD. Text without a declared charset is kept
 * as UTF-8 if it holds any UTF-8 sequence (bad bytes replaced), else read
 * with GMime's fallback charsets (ISO-8859-1). Bare CRs in header values
 * are dropped, as GMime does.
 *
 * Thread safety: GMime is initialised once (mime_init, or lazily with the
 * DEF_ limits); after that the functions may run on several threads at once
 * as long as each message is used by one thread (the sink's loop thread).
 */
#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "config.h"
#include "message.h"
#include "mime.h"
#include "mime_internal.h"
#include "xmalloc.h"

static pthread_mutex_t	 mime_lock = PTHREAD_MUTEX_INITIALIZER;
static int		 mime_ready;
static unsigned		 mime_max_depth = DEF_MIME_MAX_DEPTH;
static unsigned		 mime_max_parts = DEF_MIME_MAX_PARTS;

/* A growable byte string used while building results (sizes follow the
 * message, which is already bounded by the SMTP size limit). */
struct mime_str {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

/* One scanned header line range in the raw bytes */
struct mime_hdr_span {
	size_t	 name;		/* offset of the name */
	size_t	 namelen;
	size_t	 value;		/* offset just after ':' */
	size_t	 end;		/* offset of the end of the (folded) field */
};

struct mime_hdr_scan {
	struct mime_hdr_span	*spans;
	size_t			 n;
	size_t			 cap;
	size_t			 body;		/* offset where the body starts */
	int			 no_separator;	/* ended at a non-header line */
	int			 capped;	/* MIME_VIEW_MAX_HEADERS reached */
	int			 blank;		/* ended at an empty line */
	unsigned		 flags;
};

static void	mime_ensure_init(void);
static char	*mime_param_2047_raw(const char *, const char *);
static void	 mime_body_free_contents(struct mime_body *);

void
mime_init(unsigned max_depth, unsigned max_parts)
{
	pthread_mutex_lock(&mime_lock);
	if (!mime_ready) {
		g_mime_init();
		mime_ready = 1;
	}
	mime_max_depth = max_depth;
	mime_max_parts = max_parts;
	pthread_mutex_unlock(&mime_lock);
}

void
mime_shutdown(void)
{
	pthread_mutex_lock(&mime_lock);
	if (mime_ready) {
		g_mime_shutdown();
		mime_ready = 0;
	}
	pthread_mutex_unlock(&mime_lock);
}

static void
mime_ensure_init(void)
{
	int	 ready;

	pthread_mutex_lock(&mime_lock);
	ready = mime_ready;
	pthread_mutex_unlock(&mime_lock);
	if (!ready)
		mime_init(mime_max_depth, mime_max_parts);
}

/* ---- byte strings and UTF-8 cleaning ---- */

static void
mime_str_reserve(struct mime_str *s, size_t more)
{
	size_t	 cap;

	if (s->cap - s->len > more)
		return;
	cap = s->cap ? s->cap : 64;
	while (cap - s->len <= more) {
		if (cap > SIZE_MAX / 2)
			cap = SIZE_MAX;
		else
			cap *= 2;
	}
	s->p = xreallocarray(s->p, cap, 1);
	s->cap = cap;
	s->p[s->len] = '\0';
}

static void
mime_str_add(struct mime_str *s, const void *p, size_t len)
{
	mime_str_reserve(s, len);
	if (len > 0)
		memcpy(s->p + s->len, p, len);
	s->len += len;
	s->p[s->len] = '\0';
}

/*
 * Appends p[0..len) to s as valid UTF-8: NUL bytes and invalid or truncated
 * sequences each become U+FFFD. Returns the number of replacements.
 */
static size_t
mime_str_add_utf8(struct mime_str *s, const char *p, size_t len)
{
	static const char	 repl[] = "\xEF\xBF\xBD";
	const char		*end = p + len;
	size_t			 nrepl = 0, run;
	gunichar		 c;

	mime_str_reserve(s, len);
	while (p < end) {
		/* ASCII run */
		for (run = 0; p + run < end && (unsigned char)p[run] < 0x80 &&
		    p[run] != '\0'; run++)
			;
		if (run > 0) {
			mime_str_add(s, p, run);
			p += run;
			continue;
		}
		if (*p == '\0') {
			mime_str_add(s, repl, 3);
			nrepl++;
			p++;
			continue;
		}
		c = g_utf8_get_char_validated(p, end - p);
		if (c == (gunichar)-1 || c == (gunichar)-2) {
			mime_str_add(s, repl, 3);
			nrepl++;
			p++;
			continue;
		}
		run = g_utf8_skip[*(const unsigned char *)p];
		mime_str_add(s, p, run);
		p += run;
	}
	mime_str_reserve(s, 0);
	s->p[s->len] = '\0';
	return nrepl;
}

/* Length of the 7-bit prefix of p[0..len), 8 bytes at a time */
static size_t
mime_ascii_prefix(const char *p, size_t len)
{
	uint64_t	 w;
	size_t		 i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		if (w & UINT64_C(0x8080808080808080))
			break;
	}
	while (i < len && (unsigned char)p[i] < 0x80)
		i++;
	return i;
}

/* 1 if p[0..len) is UTF-8 apart from NUL bytes */
static int
mime_is_utf8(const char *p, size_t len)
{
	const char	*nul;
	size_t		 a;

	a = mime_ascii_prefix(p, len);
	p += a;
	len -= a;
	while ((nul = memchr(p, '\0', len)) != NULL) {
		if (!g_utf8_validate(p, nul - p, NULL))
			return 0;
		len -= nul - p + 1;
		p = nul + 1;
	}
	return g_utf8_validate(p, len, NULL);
}

/* 1 if p[0..len) holds at least one valid multi-byte UTF-8 sequence */
static int
mime_has_utf8_seq(const char *p, size_t len)
{
	const char	*end = p + len;
	gunichar	 c;

	for (; p < end; p++) {
		if ((unsigned char)*p < 0xC2)
			continue;
		c = g_utf8_get_char_validated(p, end - p);
		if (c != (gunichar)-1 && c != (gunichar)-2)
			return 1;
	}
	return 0;
}

/*
 * Text of unknown charset to UTF-8, appended to s. UTF-8 is kept; text with
 * some valid UTF-8 sequences is taken as UTF-8 with its invalid bytes
 * replaced (a subject cut in the middle of a character keeps its other
 * characters); 8-bit text with no UTF-8 sequence at all is a legacy charset
 * and goes through GMime's fallback charsets (ISO-8859-1), NUL-separated
 * piece by piece since GMime works on C strings.
 */
static void
mime_str_add_8bit(struct mime_str *s, const char *p, size_t len)
{
	const char	*nul;
	char		*dec;
	size_t		 seg;

	if (len == 0) {
		mime_str_reserve(s, 0);
		return;
	}
	if (memchr(p, '\0', len) == NULL && mime_is_utf8(p, len)) {
		/* the common case: nothing to replace */
		mime_str_add(s, p, len);
		return;
	}
	if (mime_is_utf8(p, len) || mime_has_utf8_seq(p, len)) {
		mime_str_add_utf8(s, p, len);
		return;
	}
	while (len > 0) {
		nul = memchr(p, '\0', len);
		seg = nul != NULL ? (size_t)(nul - p) : len;
		dec = seg > 0 ? g_mime_utils_decode_8bit(NULL, p, seg) : NULL;
		if (dec != NULL) {
			mime_str_add_utf8(s, dec, strlen(dec));
			g_free(dec);
		} else
			mime_str_add_utf8(s, p, seg);
		if (nul == NULL)
			break;
		mime_str_add_utf8(s, "", 1);	/* the NUL: U+FFFD */
		len -= seg + 1;
		p += seg + 1;
	}
}

/* ---- header block scanning ---- */

static int
mime_is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* Length of the line at p (up to and including LF, or to the end) */
static size_t
mime_line_len(const char *p, size_t left)
{
	const char	*lf = memchr(p, '\n', left);

	return lf != NULL ? (size_t)(lf - p) + 1 : left;
}

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
static size_t
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
static void
mime_hdr_scan(const char *data, size_t size, struct mime_hdr_scan *sc)
{
	size_t	 off = 0, len, colon, namelen;

	memset(sc, 0, sizeof(*sc));
	while (off < size) {
		len = mime_line_len(data + off, size - off);
		if (mime_line_is_empty(data + off, len)) {
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
			break;
		}
		if (memchr(data + off, '\0', len) != NULL)
			sc->flags |= MIME_FLAG_MALFORMED;
		if (sc->n == MIME_VIEW_MAX_HEADERS) {
			/* keep looking for the body, list no more */
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
	sc->body = off;
}

/*
 * Unfolds data[from..to) into s (replaced, not appended): line ends are
 * removed, leading and trailing white space trimmed, NULs become U+FFFD so
 * the value can be handed to GMime as a C string.
 */
static void
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

static int
mime_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = g_ascii_toupper(c);
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
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
		    (hi = mime_hexval(w->text[i + 1])) >= 0 &&
		    (lo = mime_hexval(w->text[i + 2])) >= 0) {
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		mime_str_add(out, &c, 1);
	}
}

/*
 * Converts bytes in charset (name not NUL-terminated; an RFC 2231 "*lang"
 * suffix is ignored) to UTF-8 appended to out. Unconvertible bytes become
 * U+FFFD; an unknown charset goes through the fallback charsets.
 */
static void
mime_charset_to_utf8(const char *cs, size_t cslen, const char *p, size_t len,
    struct mime_str *out)
{
	char		 name[64];
	const char	*star;
	iconv_t		 cd;
	char		*in, *o;
	size_t		 inleft, oleft, r, guard;

	if ((star = memchr(cs, '*', cslen)) != NULL)
		cslen = star - cs;
	if (cslen == 0 || cslen >= sizeof(name)) {
		mime_str_add_8bit(out, p, len);
		return;
	}
	memcpy(name, cs, cslen);
	name[cslen] = '\0';
	if (g_ascii_strcasecmp(name, "utf-8") == 0 ||
	    g_ascii_strcasecmp(name, "us-ascii") == 0 ||
	    (cd = g_mime_iconv_open("UTF-8", name)) == (iconv_t)-1) {
		mime_str_add_8bit(out, p, len);
		return;
	}
	in = (char *)(uintptr_t)p;
	inleft = len;
	/* every iteration consumes input or grows the output */
	for (guard = 0; inleft > 0 && guard < 4 * len + 16; guard++) {
		mime_str_reserve(out, inleft * 4 + 16);
		o = out->p + out->len;
		oleft = out->cap - out->len - 1;
		r = iconv(cd, &in, &inleft, &o, &oleft);
		out->len = o - out->p;
		if (r != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		/* EILSEQ or EINVAL: replace one byte and go on */
		mime_str_add(out, "\xEF\xBF\xBD", 3);
		in++;
		inleft--;
	}
	o = out->p + out->len;
	mime_str_reserve(out, 16);
	o = out->p + out->len;
	oleft = out->cap - out->len - 1;
	(void)iconv(cd, NULL, NULL, &o, &oleft);
	out->len = o - out->p;
	out->p[out->len] = '\0';
	g_mime_iconv_close(cd);
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

/* Next "=?" in p[0..end), or NULL */
static const char *
mime_eword_find(const char *p, const char *end)
{
	while (p + 1 < end && (p = memchr(p, '=', end - p - 1)) != NULL) {
		if (p[1] == '?')
			return p;
		p++;
	}
	return NULL;
}

/*
 * Rewrites in[0..len) into out when it holds a run of two or more adjacent
 * encoded words; returns 0 (out untouched) otherwise.
 */
static int
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
static void
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

/* Appends the decoded (RFC 2047, charsets to UTF-8) text of raw to out */
static void
mime_decode_text(const struct mime_str *raw, struct mime_str *out)
{
	mime_decode_words(raw->p, raw->len, out);
}

/* ---- the header view ---- */

enum mime_addr_kind { MIME_ADDR_TO, MIME_ADDR_CC, MIME_ADDR_REPLY_TO,
    MIME_ADDR_NKINDS };

/* Offsets into the string pool while the view is being built */
struct mime_view_build {
	struct mime_str	 pool;
	size_t		*hdr;		/* name, value offset pairs */
	size_t		 nhdr, caphdr;
	size_t		*addr[MIME_ADDR_NKINDS];
	size_t		 naddr[MIME_ADDR_NKINDS], capaddr[MIME_ADDR_NKINDS];
	size_t		 subject, from;	/* offsets; SIZE_MAX if none */
	unsigned	 flags;		/* MIME_FLAG_* found on the way */
};

/* Adds s (already valid UTF-8) to the pool, returns its offset */
static size_t
mime_pool_add(struct mime_view_build *b, const char *s, size_t len)
{
	size_t	 off = b->pool.len;

	mime_str_add(&b->pool, s, len);
	mime_str_add(&b->pool, "", 1);
	return off;
}

static void
mime_build_addr(struct mime_view_build *b, enum mime_addr_kind k, size_t off)
{
	if (b->naddr[k] == b->capaddr[k]) {
		b->capaddr[k] = b->capaddr[k] ? b->capaddr[k] * 2 : 4;
		b->addr[k] = xreallocarray(b->addr[k], b->capaddr[k],
		    sizeof(size_t));
	}
	b->addr[k][b->naddr[k]++] = off;
}

/*
 * Formats one mailbox as "Name <addr>" or "addr" into tmp (replaced).
 */
static void
mime_format_mailbox(InternetAddress *ia, struct mime_str *tmp)
{
	const char	*name, *addr;

	tmp->len = 0;
	name = internet_address_get_name(ia);
	addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	if (addr == NULL)
		addr = "";
	if (name != NULL && *name != '\0') {
		mime_str_add_utf8(tmp, name, strlen(name));
		mime_str_add(tmp, " <", 2);
		mime_str_add_utf8(tmp, addr, strlen(addr));
		mime_str_add(tmp, ">", 1);
	} else
		mime_str_add_utf8(tmp, addr, strlen(addr));
}

/*
 * Calls fn for every mailbox of the list, groups flattened (one level: RFC
 * 5322 groups do not nest). Returns the number of mailboxes.
 */
static size_t
mime_addr_walk(InternetAddressList *l, void (*fn)(InternetAddress *, void *),
    void *arg, int depth)
{
	InternetAddress	*ia;
	size_t		 n = 0;
	int		 i, cnt;

	if (l == NULL || depth > 2)
		return 0;
	cnt = internet_address_list_length(l);
	for (i = 0; i < cnt; i++) {
		ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			fn(ia, arg);
			n++;
		} else if (INTERNET_ADDRESS_IS_GROUP(ia))
			n += mime_addr_walk(internet_address_group_get_members(
			    INTERNET_ADDRESS_GROUP(ia)), fn, arg, depth + 1);
	}
	return n;
}

struct mime_addr_ctx {
	struct mime_view_build	*b;
	enum mime_addr_kind	 kind;
	struct mime_str		*tmp;
	struct mime_str		*join;		/* From: joined with ", " */
};

/* Adds the formatted mailbox in ctx->tmp to the view */
static void
mime_addr_emit(struct mime_addr_ctx *ctx)
{
	if (ctx->join != NULL) {
		if (ctx->join->len > 0)
			mime_str_add(ctx->join, ", ", 2);
		mime_str_add(ctx->join, ctx->tmp->p, ctx->tmp->len);
	} else
		mime_build_addr(ctx->b, ctx->kind,
		    mime_pool_add(ctx->b, ctx->tmp->p, ctx->tmp->len));
}

static void
mime_addr_add_cb(InternetAddress *ia, void *arg)
{
	struct mime_addr_ctx	*ctx = arg;

	mime_format_mailbox(ia, ctx->tmp);
	mime_addr_emit(ctx);
}

/* RFC 5322 atext, plus 8-bit (UTF-8 checked by the caller: RFC 6532) */
static int
mime_is_atext(int c)
{
	if (g_ascii_isalnum(c) || c >= 0x80)
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '/': case '=': case '?':
	case '^': case '_': case '`': case '{': case '|': case '}':
	case '~':
		return 1;
	default:
		return 0;
	}
}

/* addr-spec of dot-atoms: "local@domain", no quoting, no comments */
static int
mime_addr_simple_spec(const char *p, size_t len)
{
	size_t	 i, at = 0, nat = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '@') {
			at = i;
			nat++;
		} else if (p[i] == '.') {
			if (i == 0 || i + 1 == len || p[i - 1] == '.' ||
			    p[i - 1] == '@' || p[i + 1] == '@')
				return 0;
		} else if (!mime_is_atext((unsigned char)p[i]))
			return 0;
	}
	return nat == 1 && at > 0 && at + 1 < len;
}

/*
 * The common address lists ("a@b", "Name <a@b>", comma-separated; names
 * made of atoms, single spaces and encoded words; UTF-8 allowed) are parsed
 * here: GMime's parser costs a few GObjects per header, most of a view's
 * time. Returns the number of mailboxes added, or -1 when the list is not
 * that simple and must go to GMime. The output is what GMime gives.
 */
static ssize_t
mime_addr_simple(const struct mime_str *raw, struct mime_addr_ctx *ctx)
{
	const char	*p = raw->p, *end = raw->p + raw->len, *q, *lt, *comma;
	const char	*name, *addr;
	size_t		 n = 0, i, namelen, addrlen;
	size_t		 pool0, naddr0, join0;
	struct mime_str	*t = ctx->tmp;
	int		 eightbit = 0;

	for (i = 0; i < raw->len; i++) {
		switch ((unsigned char)p[i]) {
		case '"': case '(': case ')': case '\\': case ':': case ';':
		case '[': case ']':
			return -1;
		default:
			if ((unsigned char)p[i] >= 0x80)
				eightbit = 1;
		}
	}
	if (eightbit && !mime_is_utf8(p, raw->len))
		return -1;
	/* emitted as we go; undone if an entry turns out not simple */
	pool0 = ctx->b->pool.len;
	naddr0 = ctx->b->naddr[ctx->kind];
	join0 = ctx->join != NULL ? ctx->join->len : 0;
	while (p < end) {
		comma = memchr(p, ',', end - p);
		q = comma != NULL ? comma : end;
		while (p < q && mime_is_wsp(*p))
			p++;
		while (q > p && mime_is_wsp(q[-1]))
			q--;
		if (p == q)
			goto undo;
		name = NULL;
		namelen = 0;
		if ((lt = memchr(p, '<', q - p)) != NULL) {
			if (q[-1] != '>' || memchr(lt + 1, '<', q - lt - 1) ||
			    memchr(p, '>', q - p - 1))
				goto undo;
			addr = lt + 1;
			addrlen = q - lt - 2;
			name = p;
			for (namelen = lt - p; namelen > 0 &&
			    mime_is_wsp(p[namelen - 1]); namelen--)
				;
			for (i = 0; i < namelen; i++) {
				if (p[i] == ' ' && i > 0 && p[i - 1] != ' ')
					continue;
				if (!mime_is_atext((unsigned char)p[i]))
					goto undo;
			}
		} else {
			if (memchr(p, '>', q - p) != NULL)
				goto undo;
			addr = p;
			addrlen = q - p;
		}
		if (!mime_addr_simple_spec(addr, addrlen) ||
		    mime_eword_find(addr, addr + addrlen) != NULL)
			goto undo;
		t->len = 0;
		if (namelen > 0) {
			mime_decode_words(name, namelen, t);
			mime_str_add(t, " <", 2);
			mime_str_add(t, addr, addrlen);
			mime_str_add(t, ">", 1);
		} else
			mime_str_add(t, addr, addrlen);
		mime_addr_emit(ctx);
		n++;
		p = comma != NULL ? comma + 1 : end;
	}
	return n;
undo:
	ctx->b->pool.len = pool0;
	ctx->b->naddr[ctx->kind] = naddr0;
	if (ctx->join != NULL)
		ctx->join->len = join0;
	return -1;
}

#define MIME_ADDR_GMIME_MAX	(64 * 1024)

/* Adds the mailboxes of the (unfolded, raw) address list; returns their number */
static size_t
mime_addr_list(const struct mime_str *raw, struct mime_addr_ctx *ctx)
{
	InternetAddressList	*l;
	ssize_t			 n;

	struct mime_str		 norm = { 0 };
	size_t			 cut;

	if ((n = mime_addr_simple(raw, ctx)) >= 0)
		return n;
	/* see mime_2047_runs() for why */
	if (!mime_2047_runs(raw->p, raw->len, &norm)) {
		norm.len = 0;
		mime_str_add(&norm, raw->p, raw->len);
	}
	if (norm.len > MIME_ADDR_GMIME_MAX) {
		/* GMime makes objects per address: parse a bounded prefix */
		for (cut = MIME_ADDR_GMIME_MAX; cut > 0 && norm.p[cut] != ','; cut--)
			;
		norm.p[cut] = '\0';
		ctx->b->flags |= MIME_FLAG_MAX_HEADERS;
	}
	l = internet_address_list_parse(NULL, norm.p);
	free(norm.p);
	n = mime_addr_walk(l, mime_addr_add_cb, ctx, 0);
	if (l != NULL)
		g_object_unref(l);
	return n;
}

static struct mime_view *
mime_view_pack(struct mime_view_build *b, unsigned flags)
{
	struct mime_view	*v;
	struct mime_header	*hdrs;
	char			**ptrs, *pool;
	size_t			 nptrs = 0, total, i;
	int			 k;
	char			**arr[MIME_ADDR_NKINDS];

	for (k = 0; k < MIME_ADDR_NKINDS; k++)
		nptrs += b->naddr[k];
	if (b->subject == SIZE_MAX)
		b->subject = mime_pool_add(b, "", 0);
	if (b->from == SIZE_MAX)
		b->from = mime_pool_add(b, "", 0);

	total = sizeof(*v) + nptrs * sizeof(char *) +
	    b->nhdr * sizeof(struct mime_header) + b->pool.len;
	v = xmalloc(total);
	memset(v, 0, sizeof(*v));
	ptrs = (char **)(v + 1);
	hdrs = (struct mime_header *)(ptrs + nptrs);
	pool = (char *)(hdrs + b->nhdr);
	memcpy(pool, b->pool.p, b->pool.len);

	for (k = 0; k < MIME_ADDR_NKINDS; k++) {
		arr[k] = b->naddr[k] > 0 ? ptrs : NULL;
		for (i = 0; i < b->naddr[k]; i++)
			*ptrs++ = pool + b->addr[k][i];
	}
	v->to = arr[MIME_ADDR_TO];
	v->nto = b->naddr[MIME_ADDR_TO];
	v->cc = arr[MIME_ADDR_CC];
	v->ncc = b->naddr[MIME_ADDR_CC];
	v->reply_to = arr[MIME_ADDR_REPLY_TO];
	v->nreply_to = b->naddr[MIME_ADDR_REPLY_TO];
	for (i = 0; i < b->nhdr; i++) {
		hdrs[i].name = pool + b->hdr[2 * i];
		hdrs[i].value = pool + b->hdr[2 * i + 1];
	}
	v->headers = b->nhdr > 0 ? hdrs : NULL;
	v->nheaders = b->nhdr;
	v->subject = pool + b->subject;
	v->from = pool + b->from;
	v->flags = flags;
	v->footprint = total;
	return v;
}

struct mime_view *
mime_view_parse(const char *data, size_t size)
{
	struct mime_hdr_scan	 sc;
	struct mime_view_build	 b;
	struct mime_str		 raw = { 0 }, tmp = { 0 }, join = { 0 };
	struct mime_addr_ctx	 ctx;
	struct mime_view	*v;
	size_t			 i, name, value, n;
	int			 k;
	enum mime_addr_kind	 kind;

	mime_ensure_init();
	if (data == NULL)
		size = 0;
	mime_hdr_scan(data, size, &sc);
	memset(&b, 0, sizeof(b));
	b.subject = b.from = SIZE_MAX;
	mime_str_reserve(&b.pool, sc.body + 64);

	for (i = 0; i < sc.n; i++) {
		const struct mime_hdr_span *sp = &sc.spans[i];
		const char *hname = data + sp->name;

		/* the name is printable ASCII by construction */
		name = mime_pool_add(&b, hname, sp->namelen);
		mime_unfold(data, sp->value, sp->end, &raw);
		value = b.pool.len;
		mime_decode_text(&raw, &b.pool);
		mime_str_add(&b.pool, "", 1);
		if (b.nhdr == b.caphdr) {
			b.caphdr = b.caphdr ? b.caphdr * 2 : 16;
			b.hdr = xreallocarray(b.hdr, b.caphdr,
			    2 * sizeof(size_t));
		}
		b.hdr[2 * b.nhdr] = name;
		b.hdr[2 * b.nhdr + 1] = value;
		b.nhdr++;

#define NAME_IS(s)	(sp->namelen == sizeof(s) - 1 && \
			    strncasecmp(hname, s, sizeof(s) - 1) == 0)
		if (NAME_IS("Subject")) {
			if (b.subject == SIZE_MAX)
				b.subject = value;
			continue;
		}
		if (NAME_IS("From")) {
			if (b.from != SIZE_MAX)
				continue;
			memset(&ctx, 0, sizeof(ctx));
			ctx.b = &b;
			ctx.tmp = &tmp;
			join.len = 0;
			ctx.join = &join;
			n = mime_addr_list(&raw, &ctx);
			b.from = n > 0 ? mime_pool_add(&b, join.p, join.len) :
			    value;
			continue;
		}
		if (NAME_IS("To"))
			kind = MIME_ADDR_TO;
		else if (NAME_IS("Cc"))
			kind = MIME_ADDR_CC;
		else if (NAME_IS("Reply-To"))
			kind = MIME_ADDR_REPLY_TO;
		else
			continue;
#undef NAME_IS
		memset(&ctx, 0, sizeof(ctx));
		ctx.b = &b;
		ctx.kind = kind;
		ctx.tmp = &tmp;
		n = mime_addr_list(&raw, &ctx);
		/* Unparsable but looks like an address: keep the text */
		if (n == 0 && strchr(b.pool.p + value, '@') != NULL)
			mime_build_addr(&b, kind, value);
	}

	v = mime_view_pack(&b, sc.flags | b.flags);
	free(sc.spans);
	free(raw.p);
	free(tmp.p);
	free(join.p);
	free(b.pool.p);
	free(b.hdr);
	for (k = 0; k < MIME_ADDR_NKINDS; k++)
		free(b.addr[k]);
	return v;
}

const struct mime_view *
mime_view_get(struct message *m)
{
	if (m->mime == NULL)
		m->mime = mime_view_parse(m->data, m->size);
	return m->mime;
}

void
mime_view_free(struct mime_view *v)
{
	/* one allocation: see mime_view_pack() */
	free(v);
}

size_t
mime_view_footprint(const struct mime_view *v)
{
	return v != NULL ? v->footprint : 0;
}

/* ---- bodies and attachments ---- */

struct mime_body_ctx {
	struct mime_body	*body;
	int			 with_content;
	GMimePart		*text, *html;		/* chosen bodies */
	GMimePart		*itext, *ihtml;		/* fallbacks from
							   forwarded messages */
	unsigned		 inner;		/* message/rfc822 around us */
	unsigned		 nparts;
	unsigned		 max_depth, max_parts;
	size_t			 capatts;
	int			 stop;		/* part limit reached */
};

struct mime_warnings {
	unsigned	 flags;		/* MIME_FLAG_* */
	int		 truncated;	/* GMIME_WARN_TRUNCATED_MESSAGE */
};

static void
mime_parser_warning_cb(gint64 offset, GMimeParserWarning code,
    const gchar *item, gpointer arg)
{
	struct mime_warnings	*w = arg;
	unsigned		*flags = &w->flags;

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
	GMimeDataWrapper	*w = g_mime_part_get_content(part);
	ssize_t			 n;

	if (w == NULL)
		return 0;
	n = g_mime_data_wrapper_write_to_stream(w, out);
	return n > 0 ? (size_t)n : 0;
}

/*
 * Decoded text of a text part as UTF-8, in a malloc'd string: transfer
 * decoding, then the declared charset through GMime's charset filter (which
 * skips what it cannot convert); without a usable charset, UTF-8 is kept and
 * anything else goes through the fallback charsets.
 */
static char *
mime_part_text(GMimePart *part)
{
	GMimeStream	*mem, *filtered;
	GMimeFilter	*filter = NULL;
	GByteArray	*arr;
	struct mime_str	 s = { 0 };
	const char	*charset;

	mem = g_mime_stream_mem_new();
	charset = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part),
	    "charset");
	if (charset != NULL && g_ascii_strcasecmp(charset, "utf-8") != 0 &&
	    g_ascii_strcasecmp(charset, "us-ascii") != 0)
		filter = g_mime_filter_charset_new(charset, "UTF-8");
	if (filter != NULL) {
		filtered = g_mime_stream_filter_new(mem);
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), filter);
		g_object_unref(filter);
		mime_part_decode(part, filtered);
		g_mime_stream_flush(filtered);
		g_object_unref(filtered);
	} else
		mime_part_decode(part, mem);
	arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	mime_str_reserve(&s, 0);
	if (filter != NULL)
		mime_str_add_utf8(&s, (const char *)arr->data, arr->len);
	else
		mime_str_add_8bit(&s, (const char *)arr->data, arr->len);
	g_object_unref(mem);
	return s.p;
}

/* Filename of any part: Content-Disposition filename, else Content-Type name */
static const char *
mime_object_filename(GMimeObject *obj)
{
	const char	*fn;

	if (GMIME_IS_PART(obj))
		return g_mime_part_get_filename(GMIME_PART(obj));
	fn = g_mime_object_get_content_disposition_parameter(obj, "filename");
	if (fn == NULL)
		fn = g_mime_object_get_content_type_parameter(obj, "name");
	return fn;
}

/*
 * The raw value of parameter param of header hdr, unquoted and unfolded,
 * RFC 2047-decoded by mime_decode_words(), in a malloc'd string; NULL if
 * absent or without encoded words. GMime decodes name= and filename= with
 * the adjacent-word bug described at mime_2047_runs().
 */
static char *
mime_param_2047(GMimeObject *obj, const char *hdr, const char *param)
{
	GMimeHeader	*h;

	h = g_mime_header_list_get_header(g_mime_object_get_header_list(obj),
	    hdr);
	if (h == NULL)
		return NULL;
	return mime_param_2047_raw(g_mime_header_get_raw_value(h), param);
}

/* mime_param_2047() on a raw header value p (may be NULL) */
static char *
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

/* Disposition attachment, or a filename (even inline) */
static int
mime_object_is_attachment(GMimeObject *obj)
{
	const char	*disp, *fn;

	disp = g_mime_object_get_disposition(obj);
	if (disp != NULL && g_ascii_strcasecmp(disp, "attachment") == 0)
		return 1;
	fn = mime_object_filename(obj);
	return fn != NULL && *fn != '\0';
}

/*
 * The bytes of an attachment: a leaf's content transfer-decoded, or an
 * attached message as GMime writes it back (its headers and body as
 * parsed), into out.
 */
static void
mime_object_content(GMimeObject *obj, GMimeStream *out)
{
	GMimeMessage	*inner;

	if (GMIME_IS_PART(obj))
		mime_part_decode(GMIME_PART(obj), out);
	else if (GMIME_IS_MESSAGE_PART(obj) && (inner =
	    g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj))) != NULL)
		g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, out);
	g_mime_stream_flush(out);
}

static void
mime_body_add_attachment(struct mime_body_ctx *ctx, GMimeObject *obj,
    GMimeContentType *ct)
{
	struct mime_body	*b = ctx->body;
	struct mime_attachment	*a;
	struct mime_str		 s = { 0 };
	const char		*fn = NULL, *cid;
	char			*mt, *fixed;
	GMimeStream		*out;
	GByteArray		*arr;

	if (b->natts == ctx->capatts) {
		ctx->capatts = ctx->capatts ? ctx->capatts * 2 : 4;
		b->atts = xreallocarray(b->atts, ctx->capatts, sizeof(*b->atts));
	}
	a = &b->atts[b->natts++];
	memset(a, 0, sizeof(*a));

	fn = mime_object_filename(obj);
	mime_str_reserve(&s, 0);
	if (fn != NULL)
		mime_str_add_8bit(&s, fn, strlen(fn));
	a->filename = s.p;
	if (fn == NULL || *fn == '\0')
		fixed = NULL;
	else if (g_mime_object_get_content_disposition_parameter(obj,
	    "filename") != NULL)
		fixed = mime_param_2047(obj, "Content-Disposition", "filename");
	else
		fixed = mime_param_2047(obj, "Content-Type", "name");
	if (fixed != NULL) {
		free(a->filename);
		a->filename = fixed;
	}

	mt = g_mime_content_type_get_mime_type(ct);
	a->content_type = xstrdup(mt != NULL ? mt : "application/octet-stream");
	g_free(mt);
	for (mt = a->content_type; *mt != '\0'; mt++)
		*mt = g_ascii_tolower(*mt);

	cid = g_mime_object_get_content_id(obj);
	memset(&s, 0, sizeof(s));
	mime_str_reserve(&s, 0);
	if (cid != NULL)
		mime_str_add_utf8(&s, cid, strlen(cid));
	a->content_id = s.p;

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
	GMimeContentType	*ct = g_mime_object_get_content_type(obj);
	GMimePart		**slot = NULL;

	if (GMIME_IS_PART(obj) && !mime_object_is_attachment(obj)) {
		if (ct == NULL || g_mime_content_type_is_type(ct, "text",
		    "plain"))
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
	GMimeMessage		*inner;
	GMimeContentType	*ct;
	int			 i, n;

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
			mime_body_walk(ctx, g_mime_multipart_get_part(
			    GMIME_MULTIPART(obj), i), depth + 1);
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
			mime_body_walk(ctx, g_mime_message_get_mime_part(inner),
			    depth + 1);
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
	GByteArray	*arr;
	GMimeStream	*st;

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
 * The header named name (case-insensitive), unfolded into out: returns 1,
 * or 0 if there is none, or -1 if there are several (which one counts is
 * the GMime parser's business: the fast paths give up).
 */
static int
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

/* 1 if a header the fast paths read appears more than once */
static int
mime_hdr_has_dups(const char *data, const struct mime_hdr_scan *sc)
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
			    seen[k]++ > 0)
				return 1;
	}
	return 0;
}

/*
 * A parsed Content-Type. GMime's parser makes two GObjects per call (about
 * 28,000 instructions with their finalisation), so plain values (type,
 * subtype, token or quoted parameters) are read here, and only values with
 * comments, RFC 2231 parameters or a name= parameter go to GMime (g).
 */
struct mime_ctype {
	char			 type[32];	/* lower case */
	char			 subtype[64];	/* lower case */
	char			 boundary[201];	/* "" if none */
	char			 charset[64];	/* "" if none */
	int			 toolong;	/* a parameter did not fit */
	GMimeContentType	*g;		/* GMime's, or NULL */
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
	size_t	 n;

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
	char		 attr[32], *dst;
	size_t		 n, dstsz, i;

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
		for (n = 0; mime_is_token((unsigned char)p[n]) && p[n] != '*';
		    n++)
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
		if (strcmp(attr, "boundary") == 0) {
			dst = ct->boundary;
			dstsz = sizeof(ct->boundary);
		} else if (strcmp(attr, "charset") == 0) {
			dst = ct->charset;
			dstsz = sizeof(ct->charset);
		}
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
	char	*p;

	for (p = ct->type; *p != '\0'; p++)
		*p = g_ascii_tolower(*p);
	for (p = ct->subtype; *p != '\0'; p++)
		*p = g_ascii_tolower(*p);
}

/* Parses a Content-Type value into ct; -1 if neither parser accepts it */
static int
mime_ctype_parse(const char *v, struct mime_ctype *ct)
{
	const char	*x;

	memset(ct, 0, sizeof(*ct));
	if (mime_ctype_own(v, ct) == 0)
		return 0;
	memset(ct, 0, sizeof(*ct));
	if ((ct->g = g_mime_content_type_parse(NULL, v)) == NULL)
		return -1;
	if ((x = g_mime_content_type_get_media_type(ct->g)) == NULL)
		x = "application";
	ct->toolong |= g_strlcpy(ct->type, x, sizeof(ct->type)) >=
	    sizeof(ct->type);
	if ((x = g_mime_content_type_get_media_subtype(ct->g)) == NULL)
		x = "octet-stream";
	ct->toolong |= g_strlcpy(ct->subtype, x, sizeof(ct->subtype)) >=
	    sizeof(ct->subtype);
	mime_ctype_lower(ct);
	if ((x = g_mime_content_type_get_parameter(ct->g, "boundary")) != NULL)
		ct->toolong |= g_strlcpy(ct->boundary, x,
		    sizeof(ct->boundary)) >= sizeof(ct->boundary);
	if ((x = g_mime_content_type_get_parameter(ct->g, "charset")) != NULL)
		ct->toolong |= g_strlcpy(ct->charset, x,
		    sizeof(ct->charset)) >= sizeof(ct->charset);
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
mime_ctype_is(const struct mime_ctype *ct, const char *type,
    const char *subtype)
{
	return strcmp(ct->type, type) == 0 && (strcmp(subtype, "*") == 0 ||
	    strcmp(ct->subtype, subtype) == 0);
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

/*
 * The common single-part message (no Content-Type, or text/plain or
 * text/html, not an attachment, identity / quoted-printable / base64) is
 * decoded here without building a GMime object tree, which costs some
 * 200,000 instructions even for 1 KiB. Returns 0 when the message needs
 * the full parser. Same results as the parser path.
 */
static int
mime_body_simple(const char *data, size_t size, const struct mime_hdr_scan *sc,
    struct mime_body *b)
{
	struct mime_str		 v = { 0 }, out = { 0 };
	struct mime_ctype	 ct;
	GMimeContentEncoding	 enc = GMIME_CONTENT_ENCODING_DEFAULT;
	GMimeEncoding		 st;
	const char		*charset = NULL, *body = data + sc->body;
	char			*dec = NULL;
	size_t			 blen = size - sc->body, dlen;
	int			 html = 0, ok = 0, have_ct = 0;

	if (mime_hdr_has_dups(data, sc))
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
		if (ct.g != NULL &&
		    g_mime_content_type_get_parameter(ct.g, "name") != NULL)
			goto out;
		if (ct.charset[0] != '\0')
			charset = ct.charset;
	}
	if (enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    enc == GMIME_CONTENT_ENCODING_BASE64) {
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
	size_t	 off = 0, len, colon, nbound = 0, nhdr = 0;
	size_t	 max_bound = 4 * (size_t)max_parts + 64;
	size_t	 max_hdr = 16 * (size_t)max_parts + 256;

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

#define MIME_FAST_MAX_CHARSET	64

struct mime_fast_text {
	int			 set;
	size_t			 start, end;	/* body bytes */
	GMimeContentEncoding	 enc;
	char			 charset[MIME_FAST_MAX_CHARSET];	/* "" if none */
};

struct mime_fast {
	struct mime_body_ctx	*ctx;
	const char		*data;
	struct mime_fast_text	 text, html;
	const char		**bounds;	/* enclosing boundaries */
	unsigned		 nbounds;
};

static int	mime_fast_entity(struct mime_fast *, size_t, size_t, unsigned);

static int		mime_fast_disabled;	/* tests: see mime_internal.h */
static unsigned long	mime_gmime_parses;	/* full GMime parses so far */

void
mime_set_fast_paths(int on)
{
	mime_fast_disabled = !on;
}

unsigned long
mime_stat_gmime_parses(void)
{
	return __atomic_load_n(&mime_gmime_parses, __ATOMIC_RELAXED);
}

/*
 * Is the line (with its EOL) a delimiter of boundary b? 1: "--b", 2: "--b--",
 * 0: no, -1: starts like one but has more text (GMime's call, not ours).
 */
static int
mime_fast_delim(const char *line, size_t len, const char *b, size_t blen)
{
	size_t	 i;
	int	 kind = 1;

	if (len < 2 + blen || line[0] != '-' || line[1] != '-' ||
	    memcmp(line + 2, b, blen) != 0)
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
mime_fast_decode(const char *data, size_t start, size_t end,
    GMimeContentEncoding enc, size_t *outlen)
{
	GMimeEncoding	 st;
	char		*out;

	if (enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    enc == GMIME_CONTENT_ENCODING_BASE64) {
		g_mime_encoding_init_decode(&st, enc);
		out = xmalloc(g_mime_encoding_outlen(&st, end - start) + 1);
		*outlen = g_mime_encoding_flush(&st, data + start, end - start,
		    out);
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
	struct mime_str	 s = { 0 };
	char		*dec;
	size_t		 len;

	mime_str_reserve(&s, 0);
	if (!t->set)
		return s.p;
	dec = mime_fast_decode(data, t->start, t->end, t->enc, &len);
	if (t->charset[0] != '\0')
		mime_charset_to_utf8(t->charset, strlen(t->charset), dec, len,
		    &s);
	else
		mime_str_add_8bit(&s, dec, len);
	free(dec);
	return s.p;
}

static int
mime_fast_multipart(struct mime_fast *f, size_t body, size_t end,
    const char *boundary, unsigned depth)
{
	const char	*data = f->data;
	size_t		 blen = strlen(boundary), off, len, part = SIZE_MAX;
	size_t		 cend;
	unsigned	 i;
	int		 kind, closed = 0, rc = 0;

	f->bounds[f->nbounds++] = boundary;
	/* every iteration consumes one line */
	for (off = body; off < end && rc == 0; off += len) {
		len = mime_line_len(data + off, end - off);
		if (len < 2 || data[off] != '-' || data[off + 1] != '-')
			continue;
		kind = mime_fast_delim(data + off, len, boundary, blen);
		for (i = 0; kind == 0 && i + 1 < f->nbounds; i++)
			if (mime_fast_delim(data + off, len, f->bounds[i],
			    strlen(f->bounds[i])) != 0)
				kind = -1;	/* a parent's: malformed */
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
	struct mime_body_ctx		*ctx = f->ctx;
	struct mime_hdr_scan		 sc;
	struct mime_str			 v = { 0 }, s = { 0 };
	struct mime_fast_text		*slot = NULL;
	struct mime_attachment		*a;
	struct mime_ctype		 ct;
	GMimeContentDisposition		*cd = NULL;
	GMimeContentEncoding		 enc = GMIME_CONTENT_ENCODING_DEFAULT;
	const char			*base = f->data + start, *fn = NULL;
	char				*mt, *dec, *fixed = NULL;
	size_t				 len;
	int				 rc = -1, is_att = 0, have_ct = 0;

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
	if ((depth > 0 && !sc.blank) || mime_hdr_has_dups(base, &sc))
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
		if (mime_ctype_is(&ct, "multipart", "digest") ||
		    ct.boundary[0] == '\0')
			goto out;
		if (depth >= ctx->max_depth) {
			ctx->body->flags |= MIME_FLAG_MAX_DEPTH;
			rc = 0;
			goto out;
		}
		rc = mime_fast_multipart(f, start + sc.body, end, ct.boundary,
		    depth);
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
		if (g_ascii_strcasecmp(g_mime_content_disposition_get_disposition(
		    cd), "attachment") == 0)
			is_att = 1;
		fn = g_mime_content_disposition_get_parameter(cd, "filename");
		if (fn != NULL)
			fixed = mime_param_2047_raw(v.p, "filename");
	}
	if (fn == NULL && have_ct && ct.g != NULL) {
		fn = g_mime_content_type_get_parameter(ct.g, "name");
		if (fn != NULL && mime_hdr_find(base, &sc, "Content-Type", &v))
			fixed = mime_param_2047_raw(v.p, "name");
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
		g_strlcpy(slot->charset, have_ct ? ct.charset : "",
		    sizeof(slot->charset));
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
	mime_str_reserve(&s, 0);
	if (fixed != NULL && fn != NULL && *fn != '\0') {
		mime_str_add(&s, fixed, strlen(fixed));
	} else if (fn != NULL)
		mime_str_add_8bit(&s, fn, strlen(fn));
	a->filename = s.p;
	if (have_ct)
		xasprintf(&a->content_type, "%s/%s", ct.type, ct.subtype);
	else
		a->content_type = xstrdup("text/plain");
	memset(&s, 0, sizeof(s));
	mime_str_reserve(&s, 0);
	if (mime_hdr_find(base, &sc, "Content-ID", &v) &&
	    (mt = g_mime_utils_decode_message_id(v.p)) != NULL) {
		/* GMime's reading of it, as g_mime_object_get_content_id() */
		mime_str_add_utf8(&s, mt, strlen(mt));
		g_free(mt);
	}
	a->content_id = s.p;
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
	free(fixed);
	free(v.p);
	free(sc.spans);
	return rc;
}

/*
 * The fast path on the whole message: 1 if it produced b's bodies and
 * attachments, 0 if the message must go to GMime (b untouched then).
 */
static int
mime_body_fast(const char *data, size_t size, struct mime_body_ctx *proto,
    struct mime_body *b)
{
	struct mime_fast	 f;
	struct mime_body_ctx	 ctx = *proto;
	struct mime_body	 tb;
	const char		*bounds[64];

	if (mime_fast_disabled)
		return 0;
	memset(&f, 0, sizeof(f));
	memset(&tb, 0, sizeof(tb));
	ctx.body = &tb;
	ctx.capatts = 0;
	if (ctx.max_depth >= sizeof(bounds) / sizeof(*bounds))
		return 0;	/* deeper than our boundary stack */
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

struct mime_body *
mime_body_parse_raw(const char *data, size_t size, int with_content)
{
	struct mime_body	*b;
	struct mime_body_ctx	 ctx;
	struct mime_hdr_scan	 sc;
	struct mime_str		 s = { 0 };
	GMimeParserOptions	*opts;
	GMimeStream		*st, *src, *cat, *sep;
	GMimeParser		*parser;
	GMimeMessage		*msg;
	GByteArray		*arr;
	struct mime_warnings	 warn = { 0, 0 };
	unsigned		 flags = 0;
	size_t			 cut;

	mime_ensure_init();
	if (data == NULL)
		size = 0;
	b = xcalloc(1, sizeof(*b));
	memset(&ctx, 0, sizeof(ctx));
	ctx.body = b;
	ctx.with_content = with_content;
	pthread_mutex_lock(&mime_lock);
	ctx.max_depth = mime_max_depth;
	ctx.max_parts = mime_max_parts;
	pthread_mutex_unlock(&mime_lock);

	mime_hdr_scan(data, size, &sc);
	b->flags = sc.flags & ~MIME_FLAG_MAX_HEADERS;
	/* a capped scan may have missed the Content-Type: no shortcut */
	if (!sc.capped && !mime_fast_disabled &&
	    mime_body_simple(data, size, &sc, b)) {
		free(sc.spans);
		if (b->html == NULL)
			b->html = xstrdup("");
		return b;
	}
	free(sc.spans);
	if (!sc.capped && !sc.no_separator && sc.flags == 0 &&
	    mime_body_fast(data, size, &ctx, b))
		return b;

	cut = mime_gmime_cut(data, size, ctx.max_parts);
	if (sc.body > cut)
		sc.body = cut;
	src = mime_stream_borrow(data, size, &arr);
	if (sc.no_separator) {
		/* Give GMime the empty line the client left out */
		cat = g_mime_stream_cat_new();
		st = g_mime_stream_substream(src, 0, (gint64)sc.body);
		g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), st);
		g_object_unref(st);
		sep = g_mime_stream_mem_new_with_buffer("\r\n", 2);
		g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), sep);
		g_object_unref(sep);
		st = g_mime_stream_substream(src, (gint64)sc.body, (gint64)cut);
		g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), st);
		g_object_unref(st);
		st = cat;
	} else if (cut < size)
		st = g_mime_stream_substream(src, 0, (gint64)cut);
	else {
		st = src;
		g_object_ref(st);
	}

	__atomic_add_fetch(&mime_gmime_parses, 1, __ATOMIC_RELAXED);
	opts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(opts, mime_parser_warning_cb,
	    &warn);
	parser = g_mime_parser_new_with_stream(st);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = size > 0 ? g_mime_parser_construct_message(parser, opts) : NULL;
	if (msg != NULL) {
		mime_body_walk(&ctx, g_mime_message_get_mime_part(msg), 0);
		if (ctx.text == NULL)
			ctx.text = ctx.itext;
		if (ctx.html == NULL)
			ctx.html = ctx.ihtml;
		if (ctx.text != NULL)
			b->text = mime_part_text(ctx.text);
		if (ctx.html != NULL)
			b->html = mime_part_text(ctx.html);
		g_object_unref(msg);
	} else if (sc.body < cut) {
		/* No header GMime accepts: the whole body is the text */
		mime_str_add_8bit(&s, data + sc.body, cut - sc.body);
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
	if (warn.truncated && sc.body < size)
		flags |= MIME_FLAG_MALFORMED;
	if (cut < size) {
		/* GMime's complaints about the end we cut off are ours */
		flags &= ~MIME_FLAG_MALFORMED;
		flags |= MIME_FLAG_MAX_PARTS;
	}
	b->flags |= flags;
	return b;
}

struct mime_body *
mime_body_parse(const struct message *m, int with_content)
{
	return mime_body_parse_raw(m->data, m->size, with_content);
}

void
mime_body_free(struct mime_body *b)
{
	if (b == NULL)
		return;
	mime_body_free_contents(b);
	free(b);
}

static void
mime_body_free_contents(struct mime_body *b)
{
	size_t	 i;

	for (i = 0; i < b->natts; i++) {
		free(b->atts[i].filename);
		free(b->atts[i].content_type);
		free(b->atts[i].content_id);
		free(b->atts[i].content);
	}
	free(b->atts);
	free(b->text);
	free(b->html);
}
