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
 *
 * Scans (struct store_scan) walk the messages by id with a compiled filter
 * in slices of bounded work, holding ids, not pointers, between slices.
 * Bodies decoded for body filters (and listings) are cached on the
 * message, in a cache of bounded size (store_body()).
 */
#ifndef SMTPSINK_STORE_H
#define SMTPSINK_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "match.h"

struct message;
struct mime_body;
struct filter;
struct store;

/*
 * max_messages / max_bytes of 0 mean no limit. Bytes are message_footprint()
 * at put time. A single message larger than max_bytes is still stored, alone,
 * after everything older was evicted (the SMTP side enforces
 * message_size_max; a 250 always means stored).
 */
struct store   *store_new(size_t max_messages, size_t max_bytes);
void		store_free(struct store *);
/* Takes ownership of msg on all paths. Assigns msg->id and returns it. */
uint64_t	store_put(struct store *, struct message *msg);
struct message *store_get(struct store *, uint64_t id);
/* Oldest message, and the one after m (NULL at the end): id order */
struct message *store_first(struct store *);
struct message *store_next(struct store *, struct message *m);
/* Newest message, and the one before m (NULL at the start) */
struct message *store_last(struct store *);
struct message *store_prev(struct store *, struct message *m);
/*
 * The message n places before the newest (0: the newest): O(1) by id while
 * the stored ids have no gap (count == newest id - oldest id + 1, as long as
 * only the oldest were ever deleted), else a walk from the newest. NULL when
 * n >= the count, or when there is a gap and n > max_walk (a walk that long
 * is the caller's to slice, e.g. a scan).
 */
struct message *store_newest_nth(struct store *, size_t n, size_t max_walk);
/*
 * First stored message with id > after_id, or NULL. O(1) when after_id is
 * still stored or a few ids before the next one; else a walk from the
 * nearer end of the list.
 */
struct message *store_after(struct store *, uint64_t after_id);
/*
 * The next four compile f for the call and run to their end without a
 * budget: for one-off use (and tests); what a client asks for goes through
 * a store_scan in slices (waiters_scan()).
 *
 * First message with id > after_id (and > f->after_id) that matches f (f
 * may be NULL), or NULL.
 */
struct message *store_next_match(struct store *, const struct filter *f, uint64_t after_id);
/*
 * store_next_match() for a cursor: also stores in *examined (unless NULL)
 * the id of the last message looked at, matching or not, and leaves it
 * alone when none was; so a cursor never looks at a non-match twice.
 */
struct message *store_scan_match(struct store *, const struct filter *f, uint64_t after_id,
    uint64_t *examined);
/* Number of stored messages matching f (NULL = all) with id > f->after_id */
size_t		store_count_match(struct store *, const struct filter *f);
/* Deletes the messages matching f (NULL or empty filter: all); returns how many */
size_t		store_delete(struct store *, const struct filter *f);
int		store_delete_id(struct store *, uint64_t id); /* 1 if deleted */

/*
 * 1 if a message of footprint bytes can be put without evicting anything
 * (an empty store always has room: a message larger than max_bytes is
 * stored alone).
 */
int	 store_has_room(const struct store *, size_t footprint);
uint64_t store_last_id(const struct store *); /* highest id assigned so far */
size_t	 store_count(const struct store *);
size_t	 store_bytes(const struct store *); /* sum of message_footprint() */
uint64_t store_evicted(const struct store *);
/* Bumped by every delete/evict, so waiters know counts may have dropped */
uint64_t store_generation(const struct store *);
/*
 * Bumped by every delete of a message that was not the oldest stored: a
 * gap among the stored ids. Deleting or evicting the oldest is not one, so
 * a set of ids stays right after evictions by dropping those below
 * store_first()'s.
 */
uint64_t store_gaps(const struct store *);

/*
 * m's bodies decoded (mime_body_parse(m, 0): text, HTML, attachment
 * metadata), from the cache or parsed now and cached; m must be stored.
 * Borrowed: valid until the next store_body(), put or delete. The work done
 * (bytes parsed) is taken from *budget. The cache keeps bodies up to a
 * quarter of max_bytes (64 MiB without one), dropping the least recently
 * used; a body larger than that is kept alone. It never evicts a message.
 */
const struct mime_body *store_body(struct store *, struct message *m, int64_t *budget);
size_t			store_cache_bytes(const struct store *); /* bodies cached */
/* Test hook: the cache's size bound in bytes */
void			store_set_cache_max(struct store *, size_t);

/*
 * A scan: the stored messages with after_id < id <= ceiling (and past the
 * query's after_id), in id order, each evaluated against a compiled filter
 * in slices of bounded work. Between calls it holds ids only, so messages
 * may be stored, deleted or evicted in between: a message deleted before
 * the scan reaches it is not seen, one stored after it started is seen only
 * with a ceiling of STORE_SCAN_NEWEST. Owned by the caller; the query is
 * borrowed (NULL: every message matches) and must outlive the scan.
 */
struct store_scan {
	const struct match_query *q;
	uint64_t		  cursor;   /* ids <= cursor are done */
	uint64_t		  ceiling;  /* last id to look at */
	uint64_t		  current;  /* id the run is part-way through; 0: none */
	uint64_t		  examined; /* last id looked at (0: none yet) */
	struct match_run	  run;
};

#define STORE_SCAN_NEWEST UINT64_MAX /* ceiling: follow the newest message */

enum store_scan_rc {
	STORE_SCAN_END,	  /* nothing left up to the ceiling (for now) */
	STORE_SCAN_MATCH, /* *match matched; the cursor is its id */
	STORE_SCAN_MISS,  /* one message looked at, no match */
	STORE_SCAN_PAUSE, /* *budget ran out part-way through a message */
};

void store_scan_init(struct store_scan *, const struct match_query *q, uint64_t after_id,
    uint64_t ceiling);
/* Frees what the scan holds (not the query) */
void store_scan_clear(struct store_scan *);
/*
 * Looks at the messages past the cursor (first going on with the one a
 * PAUSE left), taking their cost from *budget (work units: see match.h),
 * until one matches (MATCH), none is left (END), *budget is down to floor
 * after a message (MISS; floor = *budget: one message) or runs out part-way
 * through one (PAUSE). At the END the cursor moves up to min(ceiling,
 * store_last_id()), never down.
 */
enum store_scan_rc store_scan_step(struct store *, struct store_scan *, int64_t *budget,
    int64_t floor, struct message **match);

#endif
