/*
 * waiters - parked "wait until N messages match" calls and live watchers.
 *
 * Callbacks never run inside the caller's stack: waiters_kick() (called after
 * every store_put/delete) activates one deferred event, and that event checks
 * every waiter (Redis's beforeSleep). A satisfied or expired waiter is removed
 * before its callback runs, so the callback may free whatever owns it.
 * Counting is incremental (each waiter remembers the last id it examined) and
 * recounts only when the store generation says messages were deleted.
 */
#ifndef SMTPSINK_WAITERS_H
#define SMTPSINK_WAITERS_H
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct filter;
struct waiters;
struct waiter;

enum waiters_status { WAITERS_OK, WAITERS_TIMEOUT, WAITERS_SHUTDOWN };

/* matched = number of stored messages that matched when it ended */
typedef void waiters_done_fn(void *arg, enum waiters_status, size_t matched);
/* New messages were stored (some may match): pull them from your own cursor. */
typedef void waiters_watch_fn(void *arg);

struct waiters	*waiters_new(struct event_base *, struct store *, unsigned max);
/* Ends every remaining waiter with WAITERS_SHUTDOWN, then frees. */
void		 waiters_free(struct waiters *);
/*
 * Parks until count (>= 1) stored messages match f (copied), or timeout_ms
 * passes (< 0: no timeout). If already satisfied, done still runs from the
 * deferred event. NULL if `max` waiters are already parked.
 */
struct waiter	*waiters_wait(struct waiters *, const struct filter *f, size_t count,
		    int timeout_ms, waiters_done_fn *done, void *arg);
/*
 * Calls fn (from the deferred event) once after each batch of new stores,
 * until cancelled; deletes alone do not call it. Watchers are not ended by
 * waiters_shutdown() (their owner cancels them); waiters_free() frees them
 * silently. NULL past max (waits and watchers count together).
 */
struct waiter	*waiters_watch(struct waiters *, waiters_watch_fn *fn, void *arg);
/* Removes a waiter; its callback will not run. Safe from any waiters callback. */
void		 waiters_cancel(struct waiter *);
void		 waiters_kick(struct waiters *);
/* Ends every parked wait with WAITERS_SHUTDOWN (now, in this stack). */
void		 waiters_shutdown(struct waiters *);
size_t		 waiters_count(const struct waiters *);

#endif
