/*
 * control_pb - pure conversions between our structs and the protobuf-c
 * messages of smtpsink.v1 (no gRPC here, so it is unit-testable alone).
 *
 * Ownership: every proto built here borrows its strings from the source
 * struct (message, MIME view, rule) and keeps the arrays it needs in a
 * control_pb_arena. The result is valid until the arena is released or the
 * source changes, i.e. within one loop callback: build, pack, release.
 * Filters and rule templates made from requests borrow the request's strings
 * (the request outlives the handler call).
 */
#ifndef SMTPSINK_CONTROL_PB_H
#define SMTPSINK_CONTROL_PB_H
#include <stddef.h>

#include "smtpsink/v1/smtpsink.pb-c.h"

struct message;
struct message_relay;
struct mime_body;
struct filter;
struct rule;

struct control_pb_block {
	void *ptr;
	void (*free_fn)(void *);
};

struct control_pb_arena {
	struct control_pb_block *blocks;
	size_t			 n, cap;
};

void  control_pb_arena_init(struct control_pb_arena *);
/* Frees every block (calling its free_fn); the arena can be reused. */
void  control_pb_arena_release(struct control_pb_arena *);
/* Zeroed array of n elements owned by the arena (xcalloc: never NULL). */
void *control_pb_alloc(struct control_pb_arena *, size_t n, size_t size);
/* Hands ptr to the arena: free_fn(ptr) runs on release. */
void  control_pb_adopt(struct control_pb_arena *, void *ptr, void (*free_fn)(void *));

#define CONTROL_PB_RAW	       0x01 /* fill Message.raw */
#define CONTROL_PB_ATT_CONTENT 0x02 /* fill Attachment.content */
#define CONTROL_PB_NO_BODY     0x04 /* skip text/html bodies and attachments */

/*
 * The full Message view of m: envelope, parsed header summary (mime_view_get,
 * cached on m), bodies and attachment metadata (mime_body_parse, kept in the
 * arena), anomalies as strings. Raw bytes and attachment contents only with
 * the flags above.
 */
Smtpsink__V1__Message *control_pb_message(struct control_pb_arena *, struct message *m,
    unsigned flags);
/*
 * The same with m's bodies already parsed (mime_body_parse(m, 0), e.g. the
 * store's cache; borrowed like m; NULL: parsed here). Not with
 * CONTROL_PB_ATT_CONTENT, which needs the contents a body parsed with 0 lacks.
 */
Smtpsink__V1__Message *control_pb_message_body(struct control_pb_arena *, struct message *m,
    const struct mime_body *body, unsigned flags);

/* A relay record to its proto (NULL: an empty RelayStatus); borrows strings */
Smtpsink__V1__RelayStatus *control_pb_relay(struct control_pb_arena *,
    const struct message_relay *st);

/* Request filter (may be NULL = empty) to struct filter; borrows strings. */
void control_pb_filter(struct filter *dst, const Smtpsink__V1__Filter *src);
/* The reverse (borrowed strings), for clients and tests. */
void control_pb_filter_to(Smtpsink__V1__Filter *dst, const struct filter *src);

/*
 * RejectRule request to a rules_add() template (borrows match and message).
 * -1 with a reason in err for what rules_add cannot see (stage out of range,
 * enhanced_code too long).
 */
int  control_pb_rule_from(struct rule *dst, const Smtpsink__V1__RejectRule *src, char *err,
     size_t errlen);
/* Stored rule to its proto (borrowed strings; dst initialised here). */
void control_pb_rule_to(Smtpsink__V1__RejectRule *dst, const struct rule *src);

#endif
