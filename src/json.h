/*
 * json - the JSON string escaper of the hand-written JSON lines: log lines
 * (log.c) and the ready file (server.c). Messages become JSON through
 * jansson (http_json.c), for the HTTP API and smtpsinkctl --json alike.
 *
 * Escaping (RFC 8259): '"' and '\' get a backslash; \b \f \n \r \t their
 * short forms; every other C0 control and DEL becomes \u00XX (lower-case
 * hex). Valid UTF-8 is copied as is. Each byte that does not start a valid
 * UTF-8 sequence (stray continuation, overlong form, surrogate, beyond
 * U+10FFFF, sequence cut short) becomes \ufffd, so the output is always
 * valid JSON text and the damage is visible instead of silently dropped.
 * NUL bytes inside len are data (\u0000).
 *
 * No function here allocates except json_quote(); none keeps a pointer.
 * json.c depends on no other module (log.c uses it), not even xmalloc.c.
 */
#ifndef SMTPSINK_JSON_H
#define SMTPSINK_JSON_H
#include <stddef.h>

/* Longest escape of one input character: "\u00XX" or "\ufffd". */
#define JSON_ESC_MAX 6

/*
 * Appends the escaped form of s[0..len) (without quotes) to dst at *off and
 * advances *off. Only whole escapes are written, and only while the NUL
 * after them still fits in dstsz; dst is NUL-terminated whenever *off <
 * dstsz. Returns the number of input bytes consumed: len when everything
 * fitted, less when the output was cut.
 */
size_t json_escape(char *dst, size_t dstsz, size_t *off, const char *s, size_t len);
/* Bytes json_escape() would append for s[0..len), the NUL not counted. */
size_t json_escaped_len(const char *s, size_t len);
/*
 * s as a quoted JSON string in a new NUL-terminated string (free() it).
 * Never returns NULL: it aborts when memory is exhausted, as xmalloc does.
 */
char  *json_quote(const char *s);
/*
 * Length of the valid UTF-8 sequence at p (n > 0 bytes available), 0 if
 * p[0] does not start one. The text printers of smtpsinkctl count and
 * replace characters with the same rule.
 */
size_t json_utf8_len(const unsigned char *p, size_t n);

#endif
