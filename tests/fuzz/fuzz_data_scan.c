/*
 * fuzz_data_scan - the message body scanner smtp_proto_data_scan()
 * (src/smtp_proto.h) against a byte-at-a-time reference written here, with
 * the input cut into fuzzer-chosen pieces as reads would cut it.
 *
 * Input: flags byte, line-limit byte, size-limit byte, chunk seed, data.
 * Flags: bit 0 DATA mode (dot-unstuffing, CRLF.CRLF ends), bit 1 SMTPUTF8,
 * bit 2 8BITMIME. Line limit: 0 none, else 4 * byte octets. Size limit:
 * byte * 64 octets, 0 meaning 64 KiB. The chunk seed drives the piece sizes
 * (1 to 64 octets, or everything at once when it is 0).
 *
 * The reference is the scanner's contract in smtp_proto.c's header: only
 * CRLF starts a line; at a line start in DATA mode a '.' is dropped, and
 * '.' CR LF ends the data (consumed, nothing after it is); CR or LF alone
 * are data and anomalies (a lone CR only once the next octet is known, or
 * at the end); every octet of a line counts towards the line limit except
 * a leading dot and the CR after it; the header ends at the first CRLF-only
 * line; 8-bit octets are anomalies in the header unless SMTPUTF8, in the
 * body unless 8BITMIME; NUL always. Both must agree on the octets consumed,
 * the status (end of data, line too long, size), the anomalies after
 * smtp_proto_data_finish() and, when no limit was hit, the bytes stored
 * (past the size limit: a prefix of them).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "message.h"
#include "smtp_proto.h"
#include "xmalloc.h"

enum { R_BOL, R_MID, R_CR, R_DOT, R_DOTCR };

struct ref {
	unsigned flags;
	size_t	 line_max;
	int	 state, in_header;
	size_t	 linelen, consumed;
	unsigned status, anomalies;
	char	*out;
	size_t	 outlen;
};

static void
ref_eol(struct ref *r, int crlf)
{
	if (r->linelen > 1000)
		r->anomalies |= MSG_ANOM_LONG_LINE;
	if (crlf && r->linelen == 2)
		r->in_header = 0;
	if (!crlf)
		r->anomalies |= MSG_ANOM_BARE_LF;
	r->state = crlf && (r->flags & SMTP_PROTO_DATA_DOTS) ? R_BOL : R_MID;
	r->linelen = 0;
}

/* One more octet of the line; 0 when it is over the line limit. */
static int
ref_count(struct ref *r)
{
	if (r->line_max && r->linelen + 1 > r->line_max) {
		r->status |= SMTP_PROTO_DATA_LINE;
		return 0;
	}
	r->linelen++;
	return 1;
}

static void
ref_emit(struct ref *r, unsigned char c)
{
	r->out[r->outlen++] = (char)c;
}

static void
ref_scan(struct ref *r, const unsigned char *p, size_t len)
{
	size_t	      i;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = p[i];
	again:
		switch (r->state) {
		case R_BOL:
			if (c == '.' && (r->flags & SMTP_PROTO_DATA_DOTS)) {
				r->linelen++;
				r->state = R_DOT;
				break;
			}
			r->state = R_MID;
			goto again;
		case R_MID:
			if (!ref_count(r))
				return;
			ref_emit(r, c);
			if (c == '\n')
				ref_eol(r, 0);
			else if (c == '\r')
				r->state = R_CR;
			else if (c == '\0')
				r->anomalies |= MSG_ANOM_NUL;
			else if (c >= 0x80 && r->in_header && !(r->flags & SMTP_PROTO_DATA_UTF8))
				r->anomalies |= MSG_ANOM_8BIT_HEADER;
			else if (c >= 0x80 && !r->in_header && !(r->flags & SMTP_PROTO_DATA_8BIT))
				r->anomalies |= MSG_ANOM_8BIT_BODY;
			break;
		case R_CR:
			if (c != '\n') {
				r->anomalies |= MSG_ANOM_BARE_CR;
				r->state = R_MID;
				goto again;
			}
			if (!ref_count(r))
				return;
			ref_emit(r, c);
			ref_eol(r, 1);
			break;
		case R_DOT:
			if (c != '\r') {
				r->state = R_MID; /* the dot was stuffing */
				goto again;
			}
			r->linelen++;
			r->state = R_DOTCR;
			break;
		case R_DOTCR:
			if (c == '\n') {
				r->status |= SMTP_PROTO_DATA_DONE;
				r->consumed = i + 1;
				return;
			}
			ref_emit(r, '\r');
			r->state = R_CR;
			goto again;
		}
	}
	r->consumed = len;
}

static void
ref_finish(struct ref *r)
{
	if (r->in_header)
		r->anomalies |= MSG_ANOM_NO_HEADER_END;
	if (r->state == R_CR)
		r->anomalies |= MSG_ANOM_BARE_CR;
	if (r->linelen > 1000)
		r->anomalies |= MSG_ANOM_LONG_LINE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in	       in = { data, size };
	unsigned	       flags = fuzz_byte(&in) & 7, lb = fuzz_byte(&in);
	unsigned	       sb = fuzz_byte(&in), seed = fuzz_byte(&in);
	size_t		       line_max = lb * 4, max = sb ? sb * 64 : 65536;
	struct smtp_proto_data d;
	struct ref	       r;
	struct buf	       b;
	size_t		       off = 0, n, used, total = 0;
	unsigned	       anom;

	memset(&r, 0, sizeof(r));
	r.flags = flags;
	r.line_max = line_max;
	r.state = R_BOL;
	r.in_header = 1;
	r.out = xmalloc(in.len * 2 + 1);
	ref_scan(&r, in.p, in.len);
	ref_finish(&r);

	smtp_proto_data_init(&d, flags, line_max);
	buf_init(&b, max);
	while (off < in.len) {
		n = in.len - off;
		if (seed != 0) {
			seed = seed * 1103515245 + 12345;
			if (n > 1 + (seed >> 16) % 64)
				n = 1 + (seed >> 16) % 64;
		}
		used = smtp_proto_data_scan(&d, (const char *)in.p + off, n, &b);
		total += used;
		off += n;
		if (d.status & (SMTP_PROTO_DATA_DONE | SMTP_PROTO_DATA_LINE))
			break;
		if (used != n)
			fuzz_fail("data_scan consumed %zu of %zu octets without a reason", used, n);
	}
	anom = smtp_proto_data_finish(&d);

	if ((d.status & (SMTP_PROTO_DATA_DONE | SMTP_PROTO_DATA_LINE)) !=
	    (r.status & (SMTP_PROTO_DATA_DONE | SMTP_PROTO_DATA_LINE)))
		fuzz_fail("data_scan status %#x, reference %#x", d.status, r.status);
	if (!(r.status & SMTP_PROTO_DATA_LINE)) {
		if (total != r.consumed || d.total != r.consumed)
			fuzz_fail("data_scan consumed %zu (total %zu), reference %zu", total,
			    d.total, r.consumed);
		if (anom != r.anomalies)
			fuzz_fail("data_scan anomalies %#x, reference %#x", anom, r.anomalies);
		if (((d.status & SMTP_PROTO_DATA_SIZE) != 0) != (r.outlen > max))
			fuzz_fail("data_scan size status %#x for %zu octets of at most %zu",
			    d.status, r.outlen, max);
		if (!(d.status & SMTP_PROTO_DATA_SIZE) &&
		    (b.len != r.outlen || (b.len > 0 && memcmp(b.data, r.out, b.len) != 0)))
			fuzz_fail("data_scan stored %zu octets, reference %zu (or they differ)",
			    b.len, r.outlen);
		if ((d.status & SMTP_PROTO_DATA_SIZE) &&
		    (b.len > max || (b.len > 0 && memcmp(b.data, r.out, b.len) != 0)))
			fuzz_fail("data_scan past the size limit: not a prefix");
	}
	buf_release(&b);
	free(r.out);
	return 0;
}
