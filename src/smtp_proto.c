/*
 * smtp_proto - pure ESMTP parsing and formatting; see smtp_proto.h.
 *
 * Grammar (RFC 5321 4.1.2, RFC 6531 for UTF-8, RFC 1869 for parameters),
 * applied with the usual leniency of real servers where it costs nothing:
 * dots in a dot-string are not checked for doubling, a source route is
 * accepted and dropped, blanks after "FROM:" are skipped.
 *
 * The data scanner is a small state machine over line positions:
 *   BOL    at the start of a line (after CRLF, or the start of the data)
 *   MID    inside a line
 *   CR     the last octet was a CR inside a line (already stored)
 *   DOT    a '.' at BOL was seen and dropped (dot-unstuffing, or the start
 *          of the terminator)
 *   DOTCR  '.' CR at BOL: CR held back until we know whether LF follows
 * Only CRLF counts as a line end for dots and the terminator, so LF "." LF
 * and CR "." CR stay inside the message (no SMTP smuggling). Every LF resets
 * the line length count, so a bare-LF message is not one huge line.
 */
#include <ctype.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "message.h"
#include "smtp_proto.h"

void
smtp_proto_split(char *line, char **verb, char **args)
{
	char *p, *e;

	e = line + strlen(line);
	while (e > line && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	p = line;
	while (*p != '\0' && *p != ' ')
		p++;
	*verb = line;
	if (*p == ' ') {
		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
	}
	*args = p;
}

/* RFC 5322 atext, plus UTF-8 octets (RFC 6531) */
static int
smtp_proto_is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if (isalnum(c))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Domain or address literal at p; returns the end, or NULL on syntax error */
static char *
smtp_proto_domain(char *p, unsigned *flags)
{
	char *start = p;

	if (*p == '[') {
		for (p++; *p != ']'; p++) {
			if (*p == '\0' || *p == '[' || *p == '\\' || (unsigned char)*p < 33 ||
			    (unsigned char)*p > 126)
				return NULL;
		}
		if (p == start + 1)
			return NULL;
		return p + 1;
	}
	for (;;) {
		char *label = p;

		while (isalnum((unsigned char)*p) || *p == '-' || *p == '_' ||
		    (unsigned char)*p >= 0x80) {
			if ((unsigned char)*p >= 0x80)
				*flags |= SMTP_PROTO_PATH_8BIT;
			p++;
		}
		if (p == label)
			return NULL;
		if (*p != '.')
			break;
		p++;
	}
	return p;
}

int
smtp_proto_parse_path(char *p, char **addr, char **rest, unsigned *flags)
{
	char *mbox, *q;

	*flags = 0;
	if (*p++ != '<')
		return -1;
	if (*p == '>') {
		*p = '\0';
		*addr = p;
		*rest = p + 1;
		*flags = SMTP_PROTO_PATH_NULL;
		return 0;
	}
	if (*p == '@') { /* A-d-l ":" */
		for (;;) {
			if (*p++ != '@')
				return -1;
			if ((p = smtp_proto_domain(p, flags)) == NULL)
				return -1;
			if (*p == ':')
				break;
			if (*p++ != ',')
				return -1;
		}
		p++;
		*flags |= SMTP_PROTO_PATH_ROUTE;
	}
	mbox = p;
	if (*p == '"') { /* Quoted-string */
		for (p++; *p != '"'; p++) {
			unsigned char c = (unsigned char)*p;
			if (c == '\\') {
				c = (unsigned char)*++p;
				if (c < 32 || c == 127)
					return -1;
			} else if (c < 32 || c == 127)
				return -1;
			if (c >= 0x80)
				*flags |= SMTP_PROTO_PATH_8BIT;
		}
		p++;
	} else { /* Dot-string, dots not checked for doubling */
		for (q = p; smtp_proto_is_atext((unsigned char)*p) || *p == '.'; p++)
			if ((unsigned char)*p >= 0x80)
				*flags |= SMTP_PROTO_PATH_8BIT;
		if (p == q)
			return -1;
	}
	if (*p == '@') {
		p++;
		if ((p = smtp_proto_domain(p, flags)) == NULL)
			return -1;
	} else
		*flags |= SMTP_PROTO_PATH_NODOMAIN;
	if (*p != '>')
		return -1;
	*p = '\0';
	*addr = mbox;
	*rest = p + 1;
	return 0;
}

int
smtp_proto_parse_mailrcpt(char *args, const char *kw, char **addr, char **params, unsigned *flags)
{
	size_t n = strlen(kw);
	char  *rest;

	if (strncasecmp(args, kw, n) != 0)
		return -1;
	args += n;
	while (*args == ' ')
		args++;
	if (smtp_proto_parse_path(args, addr, &rest, flags) == -1)
		return -1;
	if (*rest != '\0' && *rest != ' ')
		return -1;
	while (*rest == ' ')
		rest++;
	*params = rest;
	return 0;
}

int
smtp_proto_parse_params(char *s, struct smtp_proto_param *out, size_t max, size_t *np)
{
	size_t n = 0;
	char  *p = s;

	*np = 0;
	while (*p == ' ')
		p++;
	while (*p != '\0') {
		char *kw = p, *val = NULL;

		if (!isalnum((unsigned char)*p))
			return -1;
		for (; isalnum((unsigned char)*p) || *p == '-'; p++)
			*p = toupper((unsigned char)*p);
		if (*p == '=') {
			*p++ = '\0';
			val = p;
			/* esmtp-value: %d33-60 / %d62-126, UTF-8 octets */
			for (; *p != '\0' && *p != ' '; p++) {
				unsigned char c = (unsigned char)*p;
				if (c == '=' || c < 33 || c == 127)
					return -1;
			}
			if (p == val)
				return -1;
		}
		if (*p != '\0' && *p != ' ')
			return -1;
		if (*p == ' ') {
			*p++ = '\0';
			while (*p == ' ')
				p++;
		}
		if (n == max)
			return -2;
		out[n].keyword = kw;
		out[n].value = val;
		n++;
	}
	*np = n;
	return 0;
}

/* The slow path: snprintf with truncation that keeps the CRLF */
static size_t
smtp_proto_reply_slow(char *dst, size_t dstsz, unsigned code, const char *enh, const char *text,
    int more)
{
	int n;

	if (enh != NULL)
		n = snprintf(dst, dstsz, "%03u%c%s %s\r\n", code, more ? '-' : ' ', enh, text);
	else
		n = snprintf(dst, dstsz, "%03u%c%s\r\n", code, more ? '-' : ' ', text);
	if (n < 0)
		return 0;
	if ((size_t)n >= dstsz) {
		if (dstsz < 3)
			return 0;
		dst[dstsz - 3] = '\r';
		dst[dstsz - 2] = '\n';
		return dstsz - 1;
	}
	return (size_t)n;
}

size_t
smtp_proto_reply(char *dst, size_t dstsz, unsigned code, const char *enh, int with_enh,
    const char *text, int more)
{
	size_t tl = strlen(text), el = 0, o;

	/* Every reply goes through here: memcpy, not snprintf */
	if (!with_enh || enh == NULL || *enh == '\0')
		enh = NULL;
	else
		el = strlen(enh) + 1;
	if (code < 100 || code > 999 || 4 + el + tl + 3 > dstsz)
		return smtp_proto_reply_slow(dst, dstsz, code, enh, text, more);
	dst[0] = '0' + code / 100;
	dst[1] = '0' + code / 10 % 10;
	dst[2] = '0' + code % 10;
	dst[3] = more ? '-' : ' ';
	o = 4;
	if (enh != NULL) {
		memcpy(dst + o, enh, el - 1);
		o += el;
		dst[o - 1] = ' ';
	}
	memcpy(dst + o, text, tl);
	o += tl;
	dst[o++] = '\r';
	dst[o++] = '\n';
	dst[o] = '\0';
	return o;
}

size_t
smtp_proto_reply_multi(char *dst, size_t dstsz, unsigned code, const char *const *lines, size_t n)
{
	size_t i, off = 0;

	for (i = 0; i < n && off + 1 < dstsz; i++)
		off += smtp_proto_reply(dst + off, dstsz - off, code, NULL, 0, lines[i], i + 1 < n);
	return off;
}

unsigned
smtp_proto_reply_code(const char *l)
{
	if (l[0] < '2' || l[0] > '5' || !isdigit((unsigned char)l[1]) ||
	    !isdigit((unsigned char)l[2]) || (l[3] != ' ' && l[3] != '\0'))
		return 0;
	return (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
}

/* Length of an enhanced status code "d.ddd.ddd" at p, or 0 */
static size_t
smtp_proto_enh_len(const char *p)
{
	const char *s = p;
	int	    part, digits;

	if (*p < '2' || *p > '5' || p[1] != '.')
		return 0;
	p += 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; isdigit((unsigned char)*p) && digits < 3; digits++)
			p++;
		if (digits == 0)
			return 0;
		if (part == 0 && *p++ != '.')
			return 0;
	}
	if (*p != ' ' && *p != '\0')
		return 0;
	return p - s;
}

size_t
smtp_proto_reply_line(char *dst, size_t dstsz, const char *line, int with_enh)
{
	char	    tmp[1024];
	size_t	    i, o = 0, el;
	unsigned    code;
	const char *text;

	if (dstsz < 8)
		return 0;
	if (strpbrk(line, "\r\n") != NULL) {
		/* Flatten: no CR/LF may reach the client from a rule text */
		for (i = 0; line[i] != '\0' && o + 1 < sizeof(tmp); i++)
			tmp[o++] = (line[i] == '\r' || line[i] == '\n') ? ' ' : line[i];
		tmp[o] = '\0';
		line = tmp;
	}
	if ((code = smtp_proto_reply_code(line)) == 0)
		return smtp_proto_reply(dst, dstsz, 451, "4.3.0", with_enh, line, 0);
	text = line[3] == ' ' ? line + 4 : line + 3;
	if (!with_enh && (el = smtp_proto_enh_len(text)) > 0) {
		text += el;
		while (*text == ' ')
			text++;
	}
	return smtp_proto_reply(dst, dstsz, code, NULL, 0, text, 0);
}

/* Data scanner states */
enum {
	SD_BOL,
	SD_MID,
	SD_CR,
	SD_DOT,
	SD_DOTCR,
};

void
smtp_proto_data_init(struct smtp_proto_data *d, unsigned flags, size_t line_max)
{
	memset(d, 0, sizeof(*d));
	d->flags = flags;
	/* Only DATA unstuffs dots: BDAT octets, the first one included, are data */
	d->state = (flags & SMTP_PROTO_DATA_DOTS) ? SD_BOL : SD_MID;
	d->in_header = 1;
	d->line_max = line_max;
}

/* Sets *hi if an octet has the high bit set, *nul if one is NUL. */
static void
smtp_proto_scan_octets(const unsigned char *p, size_t n, int *hi, int *nul)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t       acc = 0, z = 0, v;
#ifdef __SSE2__
	__m128i	      vacc = _mm_setzero_si128(), vz = _mm_setzero_si128(), x;
	const __m128i zero = _mm_setzero_si128();

	for (; n >= 16; p += 16, n -= 16) {
		x = _mm_loadu_si128((const __m128i *)p);
		vacc = _mm_or_si128(vacc, x);
		vz = _mm_or_si128(vz, _mm_cmpeq_epi8(x, zero));
	}
	if (_mm_movemask_epi8(vacc) != 0)
		acc = highs;
	if (_mm_movemask_epi8(vz) != 0)
		z = 1;
#endif
	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&v, p, 8);
		acc |= v;
		z |= (v - ones) & ~v & highs;
	}
	for (; n > 0; p++, n--) {
		acc |= *p;
		if (*p == 0)
			z = 1;
	}
	*hi = (acc & highs) != 0;
	*nul = z != 0;
}

/* The first CR or LF in [p, end), or NULL */
static inline const char *
smtp_proto_find_crlf(const char *p, const char *end)
{
#ifdef __SSE2__
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	__m128i	      x;
	int	      m;

	for (; end - p >= 16; p += 16) {
		x = _mm_loadu_si128((const __m128i *)p);
		m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, cr), _mm_cmpeq_epi8(x, lf)));
		if (m != 0)
			return p + __builtin_ctz(m);
	}
#endif
	for (; p < end; p++)
		if (*p == '\r' || *p == '\n')
			return p;
	return NULL;
}

static inline void
smtp_proto_data_emit(struct smtp_proto_data *d, struct buf *out, const char *p, size_t n)
{
	if (n == 0 || (d->status & SMTP_PROTO_DATA_SIZE))
		return;
	if (buf_append(out, p, n) == -1)
		d->status |= SMTP_PROTO_DATA_SIZE;
}

/* 8-bit and NUL checks of a piece of one line */
static inline void
smtp_proto_data_octets(struct smtp_proto_data *d, const char *p, size_t n)
{
	unsigned want8;
	int	 hi, nul;

	if (d->in_header)
		want8 = (d->flags & SMTP_PROTO_DATA_UTF8) ? 0 : MSG_ANOM_8BIT_HEADER;
	else
		want8 = (d->flags & SMTP_PROTO_DATA_8BIT) ? 0 : MSG_ANOM_8BIT_BODY;
	if ((d->anomalies & MSG_ANOM_NUL) && (want8 == 0 || (d->anomalies & want8)))
		return;
	smtp_proto_scan_octets((const unsigned char *)p, n, &hi, &nul);
	if (hi)
		d->anomalies |= want8;
	if (nul)
		d->anomalies |= MSG_ANOM_NUL;
}

/* The current line ended with a LF; crlf says whether a CR preceded it. */
static inline void
smtp_proto_data_eol(struct smtp_proto_data *d, int crlf)
{
	if (d->linelen > 1000)
		d->anomalies |= MSG_ANOM_LONG_LINE;
	if (crlf) {
		if (d->linelen == 2)
			d->in_header = 0;
		d->state = (d->flags & SMTP_PROTO_DATA_DOTS) ? SD_BOL : SD_MID;
	} else {
		d->anomalies |= MSG_ANOM_BARE_LF;
		d->state = SD_MID;
	}
	d->linelen = 0;
}

size_t
smtp_proto_data_scan(struct smtp_proto_data *d, const char *in, size_t len, struct buf *out)
{
	const char *p = in, *end = in + len, *run = in, *q, *seg;
	size_t	    n;
	int	    hi, nul, clean;

	if (d->status & (SMTP_PROTO_DATA_DONE | SMTP_PROTO_DATA_LINE))
		return 0;
	/* One pass over the whole input: usually 7-bit, then no per-line checks */
	smtp_proto_scan_octets((const unsigned char *)in, len, &hi, &nul);
	clean = !hi && !nul;
	while (p < end) {
		switch (d->state) {
		case SD_BOL:
			if (*p == '.') {
				smtp_proto_data_emit(d, out, run, p - run);
				p++;
				run = p;
				d->linelen++;
				d->state = SD_DOT;
				break;
			}
			d->state = SD_MID;
			/* FALLTHROUGH */
		case SD_MID:
			/* Up to the next CR or LF, in one pass */
			q = smtp_proto_find_crlf(p, end);
			seg = q ? q : end;
			n = seg - p;
			if (d->line_max && d->linelen + n + (q != NULL) > d->line_max) {
				d->status |= SMTP_PROTO_DATA_LINE;
				goto out;
			}
			if (!clean)
				smtp_proto_data_octets(d, p, n);
			d->linelen += n;
			if (q == NULL) {
				p = end;
				break;
			}
			d->linelen++;
			p = q + 1;
			if (*q == '\n') {
				smtp_proto_data_eol(d, 0);
				break;
			}
			/* CR: the usual CRLF handled here, the rest by SD_CR */
			if (p < end && *p == '\n' &&
			    !(d->line_max && d->linelen + 1 > d->line_max)) {
				d->linelen++;
				p++;
				smtp_proto_data_eol(d, 1);
			} else
				d->state = SD_CR;
			break;
		case SD_CR:
			if (*p == '\n') {
				if (d->line_max && d->linelen + 1 > d->line_max) {
					d->status |= SMTP_PROTO_DATA_LINE;
					goto out;
				}
				d->linelen++;
				p++;
				smtp_proto_data_eol(d, 1);
			} else {
				d->anomalies |= MSG_ANOM_BARE_CR;
				d->state = SD_MID;
			}
			break;
		case SD_DOT:
			if (*p == '\r') {
				p++;
				run = p;
				d->linelen++;
				d->state = SD_DOTCR;
			} else
				d->state = SD_MID; /* the dot was stuffing */
			break;
		case SD_DOTCR:
			if (*p == '\n') {
				p++;
				d->status |= SMTP_PROTO_DATA_DONE;
				d->total += p - in;
				return p - in;
			}
			/* ".<CR>x": the dot was stuffing, the CR is data */
			smtp_proto_data_emit(d, out, "\r", 1);
			d->state = SD_CR;
			break;
		}
	}
out:
	smtp_proto_data_emit(d, out, run, p - run);
	d->total += p - in;
	return p - in;
}

unsigned
smtp_proto_data_finish(struct smtp_proto_data *d)
{
	if (d->in_header)
		d->anomalies |= MSG_ANOM_NO_HEADER_END;
	if (d->state == SD_CR)
		d->anomalies |= MSG_ANOM_BARE_CR;
	if (d->linelen > 1000)
		d->anomalies |= MSG_ANOM_LONG_LINE;
	return d->anomalies;
}

int
smtp_proto_is_xtext(const char *s)
{
	const char *hex = "0123456789ABCDEF";

	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '+') {
			if (s[1] == '\0' || s[2] == '\0' || strchr(hex, s[1]) == NULL ||
			    strchr(hex, s[2]) == NULL)
				return 0;
			s += 2;
		} else if (*s < '!' || *s > '~' || *s == '=')
			return 0;
	}
	return 1;
}
