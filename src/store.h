/*
 * store - the in-memory message store, owned by the loop thread.
 *
 * Messages are kept in arrival (= id) order and in an id hash. Ids are
 * assigned by store_put(), start at 1 and increase monotonically; an id is
 * never reused, even after clear. When a put would exceed max_messages or
 * max_bytes, the oldest messages are evicted first (and counted). Pointers
 * returned are borrowed: valid until control returns to the loop; keep the
 * id across async boundaries and look it up again.
 * The store does not notify anybody: the caller (deliver_message) kicks the
 * waiters after a put, so waiters never run inside store_put's call stack.
 */
#ifndef SMTPSINK_STORE_H
#define SMTPSINK_STORE_H
#include <stddef.h>
#include <stdint.h>

struct message;
struct filter;
struct store;

/*
 * max_messages / max_bytes of 0 mean no limit. Bytes are message_footprint()
 * at put time. A single message larger than max_bytes is still stored, alone,
 * after everything older was evicted (the SMTP side enforces
 * message_size_max; a 250 always means stored).
 */
struct store	*store_new(size_t max_messages, size_t max_bytes);
void		 store_free(struct store *);
/* Takes ownership of msg on all paths. Assigns msg->id and returns it. */
uint64_t	 store_put(struct store *, struct message *msg);
struct message	*store_get(struct store *, uint64_t id);
/* Oldest message, and the one after m (NULL at the end): id order */
struct message	*store_first(struct store *);
struct message	*store_next(struct store *, struct message *m);
/*
 * First stored message with id > after_id, or NULL. O(1) when after_id is
 * still stored or a few ids before the next one; else a walk from the
 * nearer end of the list.
 */
struct message	*store_after(struct store *, uint64_t after_id);
/*
 * First message with id > after_id (and > f->after_id) that matches f (f
 * may be NULL), or NULL.
 */
struct message	*store_next_match(struct store *, const struct filter *f, uint64_t after_id);
/*
 * store_next_match() for a cursor: also stores in *examined (unless NULL)
 * the id of the last message looked at, matching or not, and leaves it
 * alone when none was; so a cursor never looks at a non-match twice.
 */
struct message	*store_scan_match(struct store *, const struct filter *f, uint64_t after_id,
		    uint64_t *examined);
/* Number of stored messages matching f (NULL = all) with id > f->after_id */
size_t		 store_count_match(struct store *, const struct filter *f);
/* Deletes the messages matching f (NULL or empty filter: all); returns how many */
size_t		 store_delete(struct store *, const struct filter *f);
int		 store_delete_id(struct store *, uint64_t id);	/* 1 if deleted */

/*
 * 1 if a message of footprint bytes can be put without evicting anything
 * (an empty store always has room: a message larger than max_bytes is
 * stored alone).
 */
int		 store_has_room(const struct store *, size_t footprint);
uint64_t	 store_last_id(const struct store *);	/* highest id assigned so far */
size_t		 store_count(const struct store *);
size_t		 store_bytes(const struct store *);	/* sum of message_footprint() */
uint64_t	 store_evicted(const struct store *);
/* Bumped by every delete/evict, so waiters know counts may have dropped */
uint64_t	 store_generation(const struct store *);

#endif
