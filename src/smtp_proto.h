/*
 * smtp_proto - the pure parts of ESMTP: no I/O, no hidden state.
 *
 * - smtp_proto_split(): "VERB args" in place.
 * - smtp_proto_parse_path(): an RFC 5321 <path> (null sender "<>", source
 *   routes tolerated and dropped, quoted local parts, SMTPUTF8 octets).
 * - smtp_proto_parse_params(): ESMTP "keyword[=value]" list; keywords are
 *   upper-cased in place, values kept as sent.
 * - smtp_proto_reply*(): single- and multi-line replies, with the enhanced
 *   status code left out when ENHANCEDSTATUSCODES is off.
 * - struct smtp_proto_data + smtp_proto_data_scan(): the message body
 *   scanner. It dot-unstuffs (DATA) or copies (BDAT) runs of bytes into a
 *   bounded struct buf, finds the end of data (CRLF "." CRLF only: a bare LF
 *   or bare CR around the dot never ends it), enforces the data line limit
 *   and records MSG_ANOM_* anomalies, all in one pass over contiguous input
 *   of any split. The caller owns the state struct; nothing is allocated
 *   except inside the buf it passes.
 *
 * Parsers work in place on a NUL-terminated, writable line; the pointers they
 * return point into that line.
 */
#ifndef SMTPSINK_SMTP_PROTO_H
#define SMTPSINK_SMTP_PROTO_H
#include <stddef.h>

struct buf;

/* Splits at the first space: *verb is the first word, *args the rest with
 * leading blanks skipped ("" if none). Trailing blanks are removed. */
void smtp_proto_split(char *line, char **verb, char **args);

/* Flags from smtp_proto_parse_path() */
#define SMTP_PROTO_PATH_NULL	 0x01 /* "<>" */
#define SMTP_PROTO_PATH_8BIT	 0x02 /* non-ASCII octets (needs SMTPUTF8) */
#define SMTP_PROTO_PATH_ROUTE	 0x04 /* a source route was dropped */
#define SMTP_PROTO_PATH_NODOMAIN 0x08 /* local part only, e.g. <postmaster> */

/*
 * Parses "<path>" at p. On success returns 0, *addr is the mailbox without
 * the brackets and without any source route (NUL-terminated in place, "" for
 * the null path), *rest points after the closing '>' and *flags holds
 * SMTP_PROTO_PATH_* bits. Returns -1 on a syntax error.
 */
int smtp_proto_parse_path(char *p, char **addr, char **rest, unsigned *flags);

/*
 * Parses the argument of MAIL or RCPT: kw ("FROM:" or "TO:", any case),
 * optional blanks, a <path>, then parameters separated by blanks. On success
 * returns 0 with *addr and *flags as smtp_proto_parse_path() gives them and
 * *params at the first parameter ("" if none). -1 on a syntax error.
 */
int smtp_proto_parse_mailrcpt(char *args, const char *kw, char **addr, char **params,
    unsigned *flags);

struct smtp_proto_param {
	char *keyword; /* upper-cased */
	char *value;   /* as sent; NULL for a bare keyword */
};
#define SMTP_PROTO_PARAMS_MAX 16

/*
 * Parses "KEY[=value] KEY[=value] ..." (esmtp-param of RFC 5321, values may
 * carry UTF-8 octets for SMTPUTF8). Fills out[0..*np). Returns 0, -1 on a
 * syntax error, -2 when there are more than max parameters.
 */
int smtp_proto_parse_params(char *s, struct smtp_proto_param *out, size_t max, size_t *np);

/*
 * Formats one reply line "CODE[-]SP[ENH SP]TEXT CRLF" into dst; more != 0
 * gives the continuation form "CODE-". enh may be NULL or "" and is left out
 * when with_enh is 0. Returns the length written (truncated to fit dstsz).
 */
size_t smtp_proto_reply(char *dst, size_t dstsz, unsigned code, const char *enh, int with_enh,
    const char *text, int more);

/*
 * Formats a multi-line reply: n lines, all but the last "CODE-". Enhanced
 * codes are not used (EHLO style). Returns the length written.
 */
size_t smtp_proto_reply_multi(char *dst, size_t dstsz, unsigned code, const char *const *lines,
    size_t n);

/*
 * Formats a complete reply line given as text, such as "550 5.7.1 no" from a
 * rule or "250 2.0.0 Ok: queued as 7": removes CR/LF inside it, drops an
 * enhanced code when with_enh is 0, appends CRLF. A line that does not
 * start with a 3-digit code becomes "451 4.3.0 <line>". Returns the length.
 */
size_t smtp_proto_reply_line(char *dst, size_t dstsz, const char *line, int with_enh);

/* The 3-digit code at the start of a reply line, or 0 */
unsigned smtp_proto_reply_code(const char *line);

/* Flags for smtp_proto_data_init() */
#define SMTP_PROTO_DATA_DOTS 0x01 /* DATA: dot-unstuff, stop at CRLF.CRLF */
#define SMTP_PROTO_DATA_UTF8 0x02 /* SMTPUTF8: 8-bit header is fine */
#define SMTP_PROTO_DATA_8BIT 0x04 /* BODY=8BITMIME/BINARYMIME: 8-bit body is fine */

/* Result bits in smtp_proto_data.status */
#define SMTP_PROTO_DATA_DONE 0x01 /* end of data seen (DATA mode) */
#define SMTP_PROTO_DATA_LINE 0x02 /* a line exceeded line_max: stop */
#define SMTP_PROTO_DATA_SIZE 0x04 /* buf full: latched, bytes dropped */

struct smtp_proto_data {
	unsigned      flags;
	unsigned      status;
	unsigned      anomalies; /* MSG_ANOM_* */
	unsigned char state;
	unsigned char in_header;
	size_t	      line_max; /* 0: no limit */
	size_t	      linelen;	/* octets of the current line so far */
	size_t	      total;	/* octets scanned (before unstuffing) */
};

/*
 * 1 if s is non-empty xtext (RFC 3461 §4: "!".."~" except "+" and "=", and
 * "+" followed by two upper-case hex digits), as the MAIL AUTH= value is.
 */
int smtp_proto_is_xtext(const char *s);

void   smtp_proto_data_init(struct smtp_proto_data *, unsigned flags, size_t line_max);
/*
 * Scans in[0..len), appending the message bytes to out. Returns the number of
 * input octets consumed: all of them, unless the end of data was reached
 * (status DONE: the terminator is consumed, what follows is not) or a line
 * was too long (status LINE: stop, the session closes). When out is full the
 * SIZE status is latched and the scan goes on without storing.
 */
size_t smtp_proto_data_scan(struct smtp_proto_data *, const char *in, size_t len, struct buf *out);
/* At the end of the message: final anomalies (missing header end, a
 * trailing CR). Returns the anomaly bits. */
unsigned smtp_proto_data_finish(struct smtp_proto_data *);

#endif
