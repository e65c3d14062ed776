/*
 * mime_internal - what the files of the mime module (src/mime*.c, see the
 * map at the top of mime.c) share, and the test hooks of the module.
 *
 * Not a public API: included only by src/mime*.c and, for the test hooks
 * and the differential tests, tests/unit/test_mime.c. Everything else uses
 * mime.h. It includes GMime, which only the mime module may use.
 */
#ifndef SMTPSINK_MIME_INTERNAL_H
#define SMTPSINK_MIME_INTERNAL_H
#include <stddef.h>
#include <string.h>

#include <gmime/gmime.h>

struct mime_body;

/* ---- test hooks (tests/unit/test_mime.c) ---- */

/*
 * on = 0: every message goes through the full GMime parser (no single-part
 * or structural fast path), so tests can check both give the same result.
 * Process-wide; not for use while other threads parse.
 */
void	      mime_set_fast_paths(int on);
/* How many messages went through the full GMime parser (all threads) */
unsigned long mime_stat_gmime_parses(void);

/* ---- internal API between the mime*.c files ---- */

/* mime.c */

/* Calls mime_init() with the current limits if nobody has yet. */
void mime_ensure_init(void);
/* Frees what b holds (bodies, attachments), not b itself. */
void mime_body_free_contents(struct mime_body *b);

/* mime_text.c */

/* A growable byte string used while building results (sizes follow the
 * message, which is already bounded by the SMTP size limit). */
struct mime_str {
	char  *p;
	size_t len;
	size_t cap;
};

/* Makes room for more bytes plus a NUL; s->p is NUL-terminated after it. */
void mime_str_reserve(struct mime_str *s, size_t more);

static inline void
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
 * sequences each become U+FFFD. Returns the number of replacements. p may
 * be NULL when len is 0.
 */
size_t mime_str_add_utf8(struct mime_str *s, const char *p, size_t len);
/*
 * Takes a malloc'd "type/subtype" and returns it, or (s freed) a new
 * "application/octet-stream" when it has a byte outside printable ASCII: a
 * media type is an ASCII token (RFC 2045), and GMime and the fast paths
 * read other bytes differently (GMime decodes them as a legacy charset).
 */
char  *mime_ctype_string(char *s);
/* 1 if the C string s has no byte outside ASCII */
static inline int
mime_is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}
/* 1 if p[0..len) is UTF-8 apart from NUL bytes */
int  mime_is_utf8(const char *p, size_t len);
/*
 * Text of unknown charset to UTF-8, appended to s: UTF-8 kept (invalid
 * bytes replaced) if it holds any UTF-8 sequence, else read through GMime's
 * fallback charsets (ISO-8859-1).
 */
void mime_str_add_8bit(struct mime_str *s, const char *p, size_t len);
/*
 * Bytes in charset cs[0..cslen) (not NUL-terminated; an RFC 2231 "*lang"
 * suffix is ignored) to UTF-8 appended to out; unconvertible bytes and
 * U+0000 become U+FFFD, an unknown charset (or a name that is not ASCII)
 * goes through mime_str_add_8bit().
 */
void mime_charset_to_utf8(const char *cs, size_t cslen, const char *p, size_t len,
    struct mime_str *out);

/* mime_hdr.c */

/* One scanned header line range in the raw bytes */
struct mime_hdr_span {
	size_t name; /* offset of the name */
	size_t namelen;
	size_t value; /* offset just after ':' */
	size_t end;   /* offset of the end of the (folded) field */
};

struct mime_hdr_scan {
	struct mime_hdr_span *spans; /* malloc'd; caller frees */
	size_t		      n;
	size_t		      cap;
	size_t		      body;	    /* offset where the body starts */
	size_t		      more;	    /* first field not in spans (capped) */
	size_t		      fields_end;   /* offset where the fields end */
	int		      no_separator; /* ended at a non-header line */
	int		      capped;	    /* MIME_VIEW_MAX_HEADERS reached */
	int		      blank;	    /* ended at an empty line */
	unsigned	      flags;
};

static inline int
mime_is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* Length of the line at p (up to and including LF, or to the end) */
static inline size_t
mime_line_len(const char *p, size_t left)
{
	const char *lf = memchr(p, '\n', left);

	return lf != NULL ? (size_t)(lf - p) + 1 : left;
}

/*
 * Field name: printable ASCII except ':', then optional WSP (obsolete
 * syntax), then ':'. Returns the name length, or 0 if not a header line;
 * *colon is the offset of the ':'.
 */
size_t mime_field_name_len(const char *p, size_t len, size_t *colon);
/*
 * Splits the top-level header block of data[0..size) into sc's spans: the
 * first MIME_VIEW_MAX_HEADERS fields; past them (capped) it only finds
 * where the fields end, and sc->more is where the first unlisted one starts.
 */
void   mime_hdr_scan(const char *data, size_t size, struct mime_hdr_scan *sc);
/*
 * The field that starts at *off, a field line of a header block that ends
 * at end (sc->fields_end): its span in sp, and *off moved past its
 * continuation lines. 0 when *off >= end.
 */
int    mime_hdr_next(const char *data, size_t end, size_t *off, struct mime_hdr_span *sp);
/* Unfolds data[from..to) into s (replaced, not appended), trimmed. */
void   mime_unfold(const char *data, size_t from, size_t to, struct mime_str *s);
/* Next "=?" in p[0..end), or NULL */
static inline const char *
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
 * encoded words (as one UTF-8 B word); returns 0 (out untouched) otherwise.
 */
int  mime_2047_runs(const char *in, size_t len, struct mime_str *out);
/* Appends the decoded (RFC 2047, 8-bit) text of p[0..len) to out as UTF-8 */
void mime_decode_words(const char *p, size_t len, struct mime_str *out);

/* Appends the decoded (RFC 2047, charsets to UTF-8) text of raw to out */
static inline void
mime_decode_text(const struct mime_str *raw, struct mime_str *out)
{
	mime_decode_words(raw->p, raw->len, out);
}

/*
 * Our reading of parameter param of the raw header value p (may be NULL;
 * folded or not), where it differs from GMime's: an RFC 2231 value
 * (param*=, or param*N= / param*N*= sections) decoded, its octets in the
 * declared charset, or a plain value with RFC 2047 words decoded. The
 * first parameter of that name decides, as in GMime. Returns a malloc'd
 * UTF-8 string the caller frees; NULL if param is absent or plain without
 * encoded words.
 */
char	   *mime_param_raw(const char *p, const char *param);
/*
 * An attachment's filename, the same on both routes: fn is GMime's value of
 * parameter param (NULL: none) of the raw header value raw. Returns
 * mime_param_raw()'s reading when there is one (and fn is not empty), else
 * fn as valid UTF-8; a malloc'd string the caller frees, "" without fn.
 */
char	   *mime_param_filename(const char *fn, const char *raw, const char *param);
/*
 * An unfolded header value raw as GMime's objects read Content-Type,
 * Content-Disposition and Content-Transfer-Encoding: RFC 2047 words and
 * 8-bit bytes decoded first. Returns raw, or a decoded copy also left in
 * *dec for the caller to g_free() (*dec is NULL when raw is returned).
 */
const char *mime_hdr_decoded(const char *raw, char **dec);
/*
 * A part's Content-ID from its raw header value (NULL: none), the same on
 * both routes: GMime's reading of the msg-id, without <>, as valid UTF-8
 * (bytes that are not UTF-8 become U+FFFD). A malloc'd string the caller
 * frees, "" if there is none.
 */
char	   *mime_content_id(const char *raw);
/*
 * The header named name, unfolded into out: 1, or 0 if there is none, or
 * -1 if there are several.
 */
int	    mime_hdr_find(const char *data, const struct mime_hdr_scan *sc, const char *name,
	    struct mime_str *out);
/*
 * 1 if a header the fast routes read appears more than once or holds a NUL
 * (GMime stops at it): such a message takes GMime's route.
 */
int	    mime_hdr_needs_gmime(const char *data, const struct mime_hdr_scan *sc);

/* mime_fast.c and mime_gmime.c: one body parse */

struct mime_body_ctx {
	struct mime_body *body;
	int		  with_content;
	GMimePart	 *text, *html;	 /* chosen bodies */
	GMimePart	 *itext, *ihtml; /* fallbacks from
							   forwarded messages */
	unsigned	  inner;	 /* message/rfc822 around us */
	unsigned	  nparts;
	unsigned	  max_depth, max_parts;
	size_t		  capatts;
	int		  stop; /* part limit reached */
};

/*
 * The single-part route: 1 if it filled b->text (and b->html for a
 * text/html body; a NULL html is the caller's to set to ""), 0 if the
 * message needs another route.
 */
int mime_body_simple(const char *data, size_t size, const struct mime_hdr_scan *sc,
    struct mime_body *b);
/*
 * The structural route: 1 if it produced b's bodies and attachments, 0 if
 * the message must go to GMime (b untouched then). proto is copied.
 */
int mime_body_fast(const char *data, size_t size, struct mime_body_ctx *proto, struct mime_body *b);
/*
 * The GMime route, for any message: fills ctx->body (text and html never
 * NULL afterwards). sc is the top-level scan (its spans may be freed).
 */
void mime_body_gmime(const char *data, size_t size, const struct mime_hdr_scan *sc,
    struct mime_body_ctx *ctx);

#endif
