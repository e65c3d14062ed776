/*
 * waiters - parked "wait until N messages match" calls, live watchers, and
 * every other piece of work on the store whose size a control call chooses
 * (listings, clears, watch replays): all of it done in slices, from one
 * deferred event, so that it never stalls the loop that serves SMTP.
 *
 * Callbacks never run inside the caller's stack: waiters_kick() (called after
 * every store_put/delete) activates one deferred event, and the pass it runs
 * does a budget's worth of work (waiters_set_budget()), then yields to the
 * loop (a zero-timeout timer) and goes on in the next pass (Redis's
 * beforeSleep, sliced). A
 * satisfied or expired waiter is removed before its callback runs, so the
 * callback may free whatever owns it. Waits remember which stored messages
 * matched (a bitmap of ids): each new message is matched once per wait, and
 * deletions are accounted for without matching anything again.
 * A pass looks at the new messages for every parked wait first, then gives
 * the rest (backlogs, scans, follows) turns in rotation.
 */
#ifndef SMTPSINK_WAITERS_H
#define SMTPSINK_WAITERS_H
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct filter;
struct message;
struct waiters;
struct waiter;

enum waiters_status { WAITERS_OK, WAITERS_TIMEOUT, WAITERS_SHUTDOWN };

/* matched = number of stored messages that matched when it ended */
typedef void waiters_done_fn(void *arg, enum waiters_status, size_t matched);
/* New messages were stored (some may match): pull them from your own cursor. */
typedef void waiters_watch_fn(void *arg);
/*
 * A match handed to a scan or a follow, from the deferred event; m is
 * borrowed for the call. state is the scan's (NULL for a follow). Adds the
 * work it did (bytes copied or packed) to *cost. For a scan, returning 1
 * ends it after this match; a follow's return value is ignored.
 */
typedef int  waiters_each_fn(void *arg, void *state, struct message *m, uint64_t *cost);
/* A scan ended: state is handed over (now the callee's). */
typedef void waiters_scan_fn(void *arg, void *state, enum waiters_status, size_t matched);

struct waiters_scan_spec {
	const struct filter *filter; /* copied and compiled; NULL: all */
	waiters_each_fn	    *each;   /* every match, in id order */
	waiters_scan_fn	    *done;
	void		    *state; /* the scan's until done */
	void (*state_free)(void *); /* when cancelled first */
	void *arg;
};

#define WAITERS_BUDGET (2 << 20) /* work units per pass: 2-3 ms here */

struct waiters *waiters_new(struct event_base *, struct store *, unsigned max);
/*
 * Ends every remaining wait with WAITERS_SHUTDOWN and runs every scan to its
 * end (waiters_shutdown()), then frees; watches and follows go silently.
 */
void		waiters_free(struct waiters *);
/*
 * Parks until count (>= 1) stored messages match f (copied), or timeout_ms
 * passes (< 0: no timeout). If already satisfied, done still runs from the
 * deferred event. On timeout, the messages stored by then are all looked at
 * first, so `matched` is exact. NULL if `max` waiters are already parked.
 */
struct waiter  *waiters_wait(struct waiters *, const struct filter *f, size_t count, int timeout_ms,
     waiters_done_fn *done, void *arg);
/*
 * Calls fn (from the deferred event) once after each batch of new stores,
 * until cancelled; deletes alone do not call it. Watchers are not ended by
 * waiters_shutdown() (their owner cancels them); waiters_free() frees them
 * silently. NULL past max (waits, watchers and follows count together).
 */
struct waiter  *waiters_watch(struct waiters *, waiters_watch_fn *fn, void *arg);
/*
 * A watch that finds its own matches: hands over, one at a time, every
 * message matching f (copied) with id > after_id, the stored ones first,
 * then each new one as it is stored: each(arg, NULL, m, &cost) from the
 * deferred event, after which it waits for waiters_follow_next() (so it
 * starts waiting: call that for the first one). Otherwise like a watch.
 */
struct waiter  *waiters_follow(struct waiters *, const struct filter *f, uint64_t after_id,
     waiters_each_fn *each, void *arg);
void		waiters_follow_next(struct waiter *);
/*
 * Goes through the stored messages with id <= store_last_id() now that
 * match spec->filter, in slices: spec->each for each match (a message
 * deleted before the scan reaches it is not seen), then spec->done with
 * WAITERS_OK and the number of matches. Never NULL; not counted in
 * waiters_count() nor against max. Cancelled, it frees its state.
 */
struct waiter  *waiters_scan(struct waiters *, const struct waiters_scan_spec *spec);
/* Runs a scan to its end now, in this stack (each, then done). */
void		waiters_scan_finish(struct waiter *);
/* Removes a waiter; its callback will not run. Safe from any waiters callback. */
void		waiters_cancel(struct waiter *);
void		waiters_kick(struct waiters *);
/*
 * Ends every parked wait with WAITERS_SHUTDOWN and finishes every scan
 * (WAITERS_OK), now, in this stack.
 */
void		waiters_shutdown(struct waiters *);
/* Waits, watches and follows (not scans) */
size_t		waiters_count(const struct waiters *);
/* Test hook: work units per pass (default WAITERS_BUDGET) */
void		waiters_set_budget(struct waiters *, int64_t units);
/* Test hook: bytes the parked waits hold for their matches */
size_t		waiters_ids_bytes(const struct waiters *);

#endif
