/*
 * mime - read-only parsed view of a message through GMime 3: the public API
 * of mime.h for bodies, GMime's set-up, and the route a body takes.
 *
 * The mime module is the files src/mime*.c behind mime.h; they share
 * mime_internal.h and are the only files that include GMime:
 *  - mime.c: mime_init/mime_shutdown, mime_body_parse* and the choice of
 *    route, mime_body_free, the test hooks;
 *  - mime_view.c: the header summary (mime_view_*), addresses, packing;
 *  - mime_hdr.c: header block scan, unfolding, RFC 2047 encoded words;
 *  - mime_text.c: byte strings, UTF-8 cleaning, charset conversion;
 *  - mime_fast.c: own Content-Type reader, single-part and multipart fast
 *    routes over the raw bytes;
 *  - mime_gmime.c: the full GMime parse and the walk of its object tree.
 * The raw bytes of a message are never modified; nothing keeps a GMime
 * object past the call that made it.
 *
 * Bodies and attachments (mime_body_parse): a single-part text message is
 * decoded directly (mime_body_simple), and a multipart made of leaves is
 * walked over the raw bytes (mime_body_fast), both with GMime's transfer
 * decoders but no GMime object tree, which costs ~20x more. Anything else
 * (message/rfc822, digests, malformed boundaries, ...) gets a full GMime
 * parse (mime_body_gmime). test_mime checks both routes agree.
 * Bodies: the first text/plain and text/html that are not attachments, in
 * the message itself, else in an inline forwarded message/rfc822.
 * Attachments: disposition attachment, or a filename (even inline), or any
 * other leaf type; an attached message/rfc822 is one attachment.
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
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "config.h"
#include "message.h"
#include "mime.h"
#include "mime_internal.h"
#include "xmalloc.h"

static pthread_mutex_t mime_lock = PTHREAD_MUTEX_INITIALIZER;
static int	       mime_ready;
static unsigned	       mime_max_depth = DEF_MIME_MAX_DEPTH;
static unsigned	       mime_max_parts = DEF_MIME_MAX_PARTS;
static int	       mime_fast_disabled; /* tests: see mime_internal.h */
static unsigned long   mime_gmime_parses;  /* full GMime parses so far */

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

void
mime_ensure_init(void)
{
	int ready;

	pthread_mutex_lock(&mime_lock);
	ready = mime_ready;
	pthread_mutex_unlock(&mime_lock);
	if (!ready)
		mime_init(mime_max_depth, mime_max_parts);
}

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

struct mime_body *
mime_body_parse_raw(const char *data, size_t size, int with_content)
{
	struct mime_body    *b;
	struct mime_body_ctx ctx;
	struct mime_hdr_scan sc;

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
	if (!sc.capped && !mime_fast_disabled && mime_body_simple(data, size, &sc, b)) {
		free(sc.spans);
		if (b->html == NULL)
			b->html = xstrdup("");
		return b;
	}
	free(sc.spans);
	if (!sc.capped && !sc.no_separator && sc.flags == 0 && !mime_fast_disabled &&
	    mime_body_fast(data, size, &ctx, b))
		return b;

	__atomic_add_fetch(&mime_gmime_parses, 1, __ATOMIC_RELAXED);
	mime_body_gmime(data, size, &sc, &ctx);
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

static size_t
mime_strsize(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

size_t
mime_body_footprint(const struct mime_body *b)
{
	size_t n, i;

	if (b == NULL)
		return 0;
	n = sizeof(*b) + mime_strsize(b->text) + mime_strsize(b->html) +
	    b->natts * sizeof(*b->atts);
	for (i = 0; i < b->natts; i++) {
		n += mime_strsize(b->atts[i].filename) + mime_strsize(b->atts[i].content_type) +
		    mime_strsize(b->atts[i].content_id);
		if (b->atts[i].content != NULL)
			n += b->atts[i].size + 1;
	}
	return n;
}

void
mime_body_free_contents(struct mime_body *b)
{
	size_t i;

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
