/*
 * fuzz_mime - the MIME view and body parse (src/mime.h) on arbitrary
 * messages, with the fast paths checked against GMime.
 *
 * Input: a raw message (as stored: after dot-unstuffing). For each input:
 *  - mime_view_parse(): every string valid UTF-8 and never NULL, counts
 *    and flags within bounds;
 *  - mime_body_parse_raw() with and without attachment contents, through
 *    the fast paths and through GMime alone (mime_set_fast_paths, the test
 *    hook of mime_internal.h): each result sane (valid UTF-8 strings,
 *    contents present exactly when asked) and, where the two routes are
 *    meant to agree, identical: same text, html, attachments (type, name,
 *    id, size, bytes) and flags. A mismatch aborts with both answers.
 * The routes are meant to agree on messages with one kind of line end
 * whose last line ends (SMTP always ends one); test_mime.c's
 * test_mime_paths_agree_damaged says why mixed CRLF/LF is left out (GMime
 * keeps as many octets before a boundary as the boundary line's own end
 * has). Other messages are still parsed both ways and checked for sanity.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mime.h"
#include "mime_check.h"
#include "mime_internal.h"

/* One kind of line end, and the last line ended (see the header). */
static int
routes_should_agree(const char *p, size_t len)
{
	size_t i, crlf = 0, lf = 0;

	if (len == 0 || p[len - 1] != '\n')
		return 0;
	for (i = 0; i < len; i++)
		if (p[i] == '\n' && i > 0 && p[i - 1] == '\r')
			crlf++;
		else if (p[i] == '\n')
			lf++;
	return crlf == 0 || lf == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	 *raw = (const char *)data;
	struct mime_view *v;
	struct mime_body *fast, *slow;
	char		  err[2048];
	int		  wc, agree = routes_should_agree(raw, size);

	v = mime_view_parse(raw, size);
	if (mime_check_view(v, err, sizeof(err)) == -1)
		fuzz_fail("mime: view: %s", err);
	mime_view_free(v);
	for (wc = 0; wc <= 1; wc++) {
		mime_set_fast_paths(1);
		fast = mime_body_parse_raw(raw, size, wc);
		mime_set_fast_paths(0);
		slow = mime_body_parse_raw(raw, size, wc);
		mime_set_fast_paths(1);
		if (mime_check_body(fast, wc, err, sizeof(err)) == -1)
			fuzz_fail("mime: fast path body (with_content=%d): %s", wc, err);
		if (mime_check_body(slow, wc, err, sizeof(err)) == -1)
			fuzz_fail("mime: GMime body (with_content=%d): %s", wc, err);
		if (agree && mime_check_same(fast, slow, err, sizeof(err)) == -1)
			fuzz_fail("mime: fast path and GMime differ (with_content=%d): %s", wc,
			    err);
		mime_body_free(fast);
		mime_body_free(slow);
	}
	return 0;
}
