/*
 * json - JSON string escaping (rules in json.h). One function,
 * json_escape_unit(), decides what each input character becomes; the
 * writers around it only differ in where the bytes go.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

size_t
json_utf8_len(const unsigned char *p, size_t n)
{
	size_t	 len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/*
 * The character at p (n > 0 bytes left): *used gets the input bytes it
 * takes. Returns 0 when those bytes are copied as they are, else the length
 * of the escape written to out (at most JSON_ESC_MAX bytes, no NUL).
 */
static size_t
json_escape_unit(const unsigned char *p, size_t n, char *out, size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	char		  c;

	*used = 1;
	switch (p[0]) {
	case '"':
		c = '"';
		break;
	case '\\':
		c = '\\';
		break;
	case '\b':
		c = 'b';
		break;
	case '\f':
		c = 'f';
		break;
	case '\n':
		c = 'n';
		break;
	case '\r':
		c = 'r';
		break;
	case '\t':
		c = 't';
		break;
	default:
		if (p[0] < 0x20 || p[0] == 0x7f) {
			memcpy(out, "\\u00", 4);
			out[4] = hex[p[0] >> 4];
			out[5] = hex[p[0] & 15];
			return 6;
		}
		if ((*used = json_utf8_len(p, n)) == 0) {
			/* Not UTF-8: JSON text must be. */
			*used = 1;
			memcpy(out, "\\ufffd", 6);
			return 6;
		}
		return 0;
	}
	out[0] = '\\';
	out[1] = c;
	return 2;
}

size_t
json_escape(char *dst, size_t dstsz, size_t *off, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char		     esc[JSON_ESC_MAX];
	const char	    *src;
	size_t		     i = 0, used, n;

	while (i < len) {
		n = json_escape_unit(p + i, len - i, esc, &used);
		src = n == 0 ? s + i : esc;
		if (n == 0)
			n = used;
		if (*off >= dstsz || dstsz - *off <= n)
			break;
		memcpy(dst + *off, src, n);
		*off += n;
		i += used;
	}
	if (*off < dstsz)
		dst[*off] = '\0';
	return i;
}

size_t
json_escaped_len(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char		     esc[JSON_ESC_MAX];
	size_t		     i = 0, used, n, total = 0;

	while (i < len) {
		n = json_escape_unit(p + i, len - i, esc, &used);
		total += n == 0 ? used : n;
		i += used;
	}
	return total;
}

char *
json_quote(const char *s)
{
	size_t len = strlen(s), n = json_escaped_len(s, len), off = 1;
	char  *q;

	/* As xmalloc would, without it: log.c, below xmalloc.c, uses json.c. */
	if ((q = malloc(n + 3)) == NULL)
		abort();
	q[0] = '"';
	json_escape(q, n + 2, &off, s, len);
	q[off++] = '"';
	q[off] = '\0';
	return q;
}
