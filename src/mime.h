/*
 * mime - read-only parsed view of a message through GMime 3; the only module
 * that includes GMime. Never modifies or copies the raw bytes into the store.
 *
 * Two levels, so memory stays close to the raw size:
 *  - mime_view_get(): header summary (decoded subject, addresses, all
 *    top-level headers), parsed on first use and cached on the message.
 *  - mime_body_parse(): text/HTML bodies (decoded to UTF-8) and attachments,
 *    computed on demand, owned and freed by the caller.
 * Malformed MIME and the depth/part limits are flagged, never rejected.
 * Every string is valid UTF-8 (invalid bytes and NULs become U+FFFD) and
 * never NULL. Thread safety: any thread, as long as one message is used by
 * one thread at a time (mime_view_get() writes m->mime).
 */
#ifndef SMTPSINK_MIME_H
#define SMTPSINK_MIME_H
#include <stddef.h>

struct message;

/*
 * Initialises GMime once and sets the limits (calling it again only changes
 * the limits). Other functions call it with the DEF_MIME_* limits if it has
 * not been called. max_depth: nested multipart/message containers entered;
 * max_parts: MIME entities visited per message.
 */
void mime_init(unsigned max_depth, unsigned max_parts);
void mime_shutdown(void);

#define MIME_FLAG_MALFORMED   0x01
#define MIME_FLAG_MAX_DEPTH   0x02
#define MIME_FLAG_MAX_PARTS   0x04 /* also: GMime saw only a prefix */
#define MIME_FLAG_MAX_HEADERS 0x08 /* view lists the first ones only */

/*
 * Top-level header fields a view lists (and takes To, Cc, Reply-To from).
 * Subject and From are taken from the first such field wherever it is in
 * the header; the fields after the listed ones are read with
 * mime_view_more(), one at a time, so a view's size does not grow with them.
 */
#define MIME_VIEW_MAX_HEADERS 1024

struct mime_header {
	char *name;
	char *value; /* unfolded, RFC 2047 decoded, UTF-8 */
};

struct mime_view {
	char		   *subject; /* "" if none */
	char		   *from;    /* first From, its mailboxes
						   as below joined by ", ";
						   "" if none */
	/* every To/Cc/Reply-To header; groups flattened; NULL when n is 0 */
	char		  **to, **cc, **reply_to; /* "Name <addr>" or "addr" */
	size_t		    nto, ncc, nreply_to;
	struct mime_header *headers; /* top-level, in order, names
						   as sent */
	size_t		    nheaders;
	unsigned	    flags;	/* MIME_FLAG_* */
	size_t		    footprint;	/* bytes allocated for the view */
	size_t		    more;	/* raw offset of the first field
						   not listed; 0: all are */
	size_t		    header_end; /* raw offset where the fields end */
};

struct mime_attachment {
	char  *filename;     /* "" if none */
	char  *content_type; /* "image/png" */
	char  *content_id;   /* without <>; "" if none */
	size_t size;	     /* decoded size */
	char  *content;	     /* decoded bytes (size of them, plus a NUL),
				   only if asked; else NULL */
};

struct mime_body {
	char		       *text; /* first text/plain part, UTF-8; "" if none */
	char		       *html; /* first text/html part, UTF-8; "" if none */
	struct mime_attachment *atts;
	size_t			natts;
	unsigned		flags; /* MIME_FLAG_* */
};

/*
 * Cached on m->mime; never NULL (an unparsable message gives empty fields).
 * The view is ONE allocation (struct, arrays and strings): its size, for the
 * store's byte accounting, is mime_view_footprint(). It also sets
 * m->mime_free to mime_view_free, which message_free() calls.
 */
const struct mime_view *mime_view_get(struct message *m);
/* The same view, not cached: the caller frees it with mime_view_free(). */
struct mime_view       *mime_view_parse(const char *data, size_t size);
/* mime_view_free(NULL) is a no-op */
void			mime_view_free(struct mime_view *);
size_t			mime_view_footprint(const struct mime_view *);
/*
 * The top-level fields m's view v does not list, one at a time: decodes the
 * field at raw offset *off (start with v->more) as a view would list it,
 * sets *name and *value to malloc'd strings (the caller frees them) and
 * moves *off past it; 0 (nothing set) when the header fields ended.
 */
int mime_view_more(const struct message *m, const struct mime_view *v, size_t *off, char **name,
    char **value);
/*
 * Bodies and attachments, computed on each call (not cached). Never NULL:
 * text and html are "" when absent. Caller frees with mime_body_free().
 * with_content: fill attachment bytes. A message/rfc822 attachment's
 * content is the attached message as GMime writes it back.
 */
struct mime_body *mime_body_parse(const struct message *m, int with_content);
struct mime_body *mime_body_parse_raw(const char *data, size_t size, int with_content);
/* mime_body_free(NULL) is a no-op */
void		  mime_body_free(struct mime_body *);
/* Bytes b holds (struct, bodies, attachment strings and contents) */
size_t		  mime_body_footprint(const struct mime_body *b);

#endif
