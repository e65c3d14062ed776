/*
 * mime_text - byte strings (struct mime_str) and text to UTF-8 for the mime
 * module: UTF-8 cleaning, text of unknown charset, and declared charsets
 * through GMime's iconv wrappers and fallback charsets.
 *
 * Invariants: after any mime_str_* call s->p is NUL-terminated (never NULL
 * after mime_str_reserve); whatever these functions append as UTF-8 is
 * valid UTF-8 without NUL bytes (invalid sequences and NULs become U+FFFD).
 * Ownership: the caller owns s->p and frees it with free().
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "mime.h"
#include "mime_internal.h"
#include "xmalloc.h"

/* ---- byte strings and UTF-8 cleaning ---- */

void
mime_str_reserve(struct mime_str *s, size_t more)
{
	size_t cap;

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

/*
 * Appends p[0..len) to s as valid UTF-8: NUL bytes and invalid or truncated
 * sequences each become U+FFFD. Returns the number of replacements. p may be
 * NULL when len is 0. g_utf8_validate_len() stops at the first byte that does not start a valid
 * character (a NUL included, and a sequence cut by the end), so replacing
 * that one byte and going on replaces each bad byte on its own.
 */
size_t
mime_str_add_utf8(struct mime_str *s, const char *p, size_t len)
{
	const char *end, *bad;
	size_t	    nrepl = 0;

	mime_str_reserve(s, len);
	if (len == 0) /* p may be NULL (an empty GByteArray) */
		return 0;
	end = p + len;
	/* every iteration consumes at least the bad byte */
	while (!g_utf8_validate_len(p, end - p, &bad)) {
		mime_str_add(s, p, bad - p);
		mime_str_add(s, "\xEF\xBF\xBD", 3);
		nrepl++;
		p = bad + 1;
	}
	mime_str_add(s, p, end - p);
	return nrepl;
}

char *
mime_ctype_string(char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e) {
			free(s);
			return xstrdup("application/octet-stream");
		}
	return s;
}

/* Length of the 7-bit prefix of p[0..len), 8 bytes at a time */
static size_t
mime_ascii_prefix(const char *p, size_t len)
{
	uint64_t w;
	size_t	 i = 0;

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
int
mime_is_utf8(const char *p, size_t len)
{
	const char *nul;
	size_t	    a;

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
	const char *end = p + len;
	gunichar    c;

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
void
mime_str_add_8bit(struct mime_str *s, const char *p, size_t len)
{
	const char *nul;
	char	   *dec;
	size_t	    seg;

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
		mime_str_add_utf8(s, "", 1); /* the NUL: U+FFFD */
		len -= seg + 1;
		p += seg + 1;
	}
}

/* ---- declared charsets ---- */

/*
 * Converts bytes in charset (name not NUL-terminated; an RFC 2231 "*lang"
 * suffix is ignored) to UTF-8 appended to out. Unconvertible bytes become
 * U+FFFD; an unknown charset goes through the fallback charsets. A U+0000
 * the charset decodes (a NUL byte in ISO-8859-1, two in UTF-16) becomes
 * U+FFFD too: a NUL would cut the C string short. A name with a byte
 * outside ASCII is unknown: charset names are ASCII (RFC 2978), and glibc's
 * iconv_open() would skip such bytes and might find a charset in the rest
 * ("Windo<88>ws-1252"), which the GMime route, whose parser has decoded the
 * header's 8-bit bytes to UTF-8 first, would see longer or not at all.
 */
void
mime_charset_to_utf8(const char *cs, size_t cslen, const char *p, size_t len, struct mime_str *out)
{
	char	    name[64];
	const char *star;
	iconv_t	    cd;
	char	   *in, *o, *conv;
	size_t	    inleft, oleft, r, guard, start = out->len;

	if ((star = memchr(cs, '*', cslen)) != NULL)
		cslen = star - cs;
	if (cslen == 0 || cslen >= sizeof(name)) {
		mime_str_add_8bit(out, p, len);
		return;
	}
	memcpy(name, cs, cslen);
	name[cslen] = '\0';
	if (!mime_is_ascii(name) || g_ascii_strcasecmp(name, "utf-8") == 0 ||
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
	mime_str_reserve(out, 16);
	o = out->p + out->len;
	oleft = out->cap - out->len - 1;
	(void)iconv(cd, NULL, NULL, &o, &oleft);
	out->len = o - out->p;
	out->p[out->len] = '\0';
	g_mime_iconv_close(cd);
	if (memchr(out->p + start, '\0', out->len - start) != NULL) {
		/* rare: iconv's output is UTF-8, so only the NULs are replaced */
		conv = xmalloc(out->len - start);
		memcpy(conv, out->p + start, out->len - start);
		r = out->len - start;
		out->len = start;
		(void)mime_str_add_utf8(out, conv, r);
		free(conv);
	}
}
