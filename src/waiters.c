/*
 * waiters - parked "wait until N messages match" calls and live watchers.
 *
 * One deferred event (kick_ev) does all the work: waiters_kick() only
 * activates it, so nothing here ever runs inside store_put()'s or the
 * caller's stack (Redis's beforeSleep / signalKeyAsReady). When it runs:
 *  - every parked wait examines only the messages stored since its cursor
 *    (one match per new message, not a rescan) and remembers the ids that
 *    matched; if the store generation moved (delete, clear, eviction), it
 *    first drops the remembered ids that are gone - a hash lookup each, still
 *    no rescan, since a stored message never changes and new ids are always
 *    past the cursor. Satisfied waits are moved to a "ready" list and their
 *    callbacks run after the scan, each waiter unlinked first.
 *  - every watcher whose last seen id is behind store_last_id() is called
 *    once (a batch), after the waits.
 * A waiter is always on exactly one list (parked, ready or watching, or
 * "notifying" while watchers are being called), so waiters_cancel() from
 * inside any callback is safe, including on a waiter that was about to fire.
 * Timeouts are one evtimer per wait; an expired wait gets its count brought
 * up to date first, so `matched` is exact.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "log.h"
#include "match.h"
#include "message.h"
#include "store.h"
#include "waiters.h"
#include "xmalloc.h"

enum waiter_kind { WAITER_WAIT, WAITER_WATCH };

TAILQ_HEAD(waiter_list, waiter);

struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	struct waiter_list	*list;		/* the list it is on */
	struct waiters		*ws;
	enum waiter_kind	 kind;

	/* WAITER_WAIT */
	struct match_query	*q;
	size_t			 count;		/* wanted, >= 1 */
	uint64_t		 cursor;	/* last id examined */
	uint64_t		 generation;	/* store generation of ids[] */
	uint64_t		*ids;		/* matching ids, ascending */
	size_t			 nids, capids;
	struct event		*timer;
	waiters_done_fn		*done;

	/* WAITER_WATCH */
	uint64_t		 seen;		/* store_last_id() when last called */
	waiters_watch_fn	*watch;

	void			*arg;
};

struct waiters {
	struct event_base	*base;
	struct store		*store;
	unsigned		 max;		/* waits + watchers; 0: unlimited */
	size_t			 n;
	struct event		*kick_ev;
	struct waiter_list	 parked;	/* waits not yet satisfied */
	struct waiter_list	 ready;		/* satisfied, callbacks pending */
	struct waiter_list	 watching;
	struct waiter_list	 notifying;	/* watchers due a call this pass */
};

static void	waiters_kick_cb(evutil_socket_t, short, void *);
static void	waiters_timeout_cb(evutil_socket_t, short, void *);

struct waiters *
waiters_new(struct event_base *base, struct store *st, unsigned max)
{
	struct waiters	*ws = xcalloc(1, sizeof(*ws));

	ws->base = base;
	ws->store = st;
	ws->max = max;
	TAILQ_INIT(&ws->parked);
	TAILQ_INIT(&ws->ready);
	TAILQ_INIT(&ws->watching);
	TAILQ_INIT(&ws->notifying);
	if ((ws->kick_ev = event_new(base, -1, 0, waiters_kick_cb, ws)) == NULL)
		fatalx("waiters_new: event_new failed");
	return ws;
}

static void
waiters_move(struct waiter *w, struct waiter_list *to)
{
	if (w->list != NULL)
		TAILQ_REMOVE(w->list, w, entry);
	w->list = to;
	if (to != NULL)
		TAILQ_INSERT_TAIL(to, w, entry);
}

static void
waiters_destroy(struct waiter *w)
{
	waiters_move(w, NULL);
	w->ws->n--;
	if (w->timer != NULL)
		event_free(w->timer);
	match_query_free(w->q);
	free(w->ids);
	free(w);
}

/* Brings w's matching ids up to date with the store. */
static void
waiters_update(struct waiters *ws, struct waiter *w)
{
	struct message	*m;
	size_t		 i, j;
	uint64_t	 gen = store_generation(ws->store);

	if (w->generation != gen) {
		for (i = j = 0; i < w->nids; i++)
			if (store_get(ws->store, w->ids[i]) != NULL)
				w->ids[j++] = w->ids[i];
		w->nids = j;
		w->generation = gen;
	}
	if (w->cursor >= store_last_id(ws->store))
		return;
	for (m = store_after(ws->store, w->cursor); m != NULL; m = store_next(ws->store, m)) {
		w->cursor = m->id;
		if (!match_query_message(w->q, m, NULL))
			continue;
		if (w->nids == w->capids) {
			w->capids = w->capids ? w->capids * 2 : 4;
			w->ids = xreallocarray(w->ids, w->capids, sizeof(*w->ids));
		}
		w->ids[w->nids++] = m->id;
	}
	/* Messages past the cursor that were deleted before we saw them */
	w->cursor = store_last_id(ws->store);
}

struct waiter *
waiters_wait(struct waiters *ws, const struct filter *f, size_t count, int timeout_ms,
    waiters_done_fn *done, void *arg)
{
	struct waiter	*w;
	struct timeval	 tv;

	if (ws->max != 0 && ws->n >= ws->max)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->ws = ws;
	w->kind = WAITER_WAIT;
	w->q = match_query_new(f);
	w->count = count > 0 ? count : 1;
	w->cursor = match_query_after_id(w->q);
	w->generation = store_generation(ws->store);
	w->done = done;
	w->arg = arg;
	if (timeout_ms >= 0) {
		if ((w->timer = evtimer_new(ws->base, waiters_timeout_cb, w)) == NULL)
			fatalx("waiters_wait: evtimer_new failed");
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
		evtimer_add(w->timer, &tv);
	}
	ws->n++;
	waiters_move(w, &ws->parked);
	/* Maybe already satisfied: decided by the deferred event, never inline */
	waiters_kick(ws);
	return w;
}

struct waiter *
waiters_watch(struct waiters *ws, waiters_watch_fn *fn, void *arg)
{
	struct waiter	*w;

	if (ws->max != 0 && ws->n >= ws->max)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->ws = ws;
	w->kind = WAITER_WATCH;
	w->seen = store_last_id(ws->store);
	w->watch = fn;
	w->arg = arg;
	ws->n++;
	waiters_move(w, &ws->watching);
	return w;
}

void
waiters_cancel(struct waiter *w)
{
	if (w != NULL)
		waiters_destroy(w);
}

void
waiters_kick(struct waiters *ws)
{
	event_active(ws->kick_ev, EV_READ, 0);
}

/* Unlinks w, runs its callback, frees it. */
static void
waiters_finish(struct waiter *w, enum waiters_status status)
{
	waiters_done_fn	*done = w->done;
	void		*arg = w->arg;
	size_t		 matched = w->nids;

	waiters_destroy(w);
	if (done != NULL)
		done(arg, status, matched);
}

static void
waiters_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiters	*ws = arg;
	struct waiter	*w, *next;
	uint64_t	 last = store_last_id(ws->store);

	for (w = TAILQ_FIRST(&ws->parked); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		waiters_update(ws, w);
		if (w->nids >= w->count)
			waiters_move(w, &ws->ready);
	}
	while ((w = TAILQ_FIRST(&ws->ready)) != NULL)
		waiters_finish(w, WAITERS_OK);

	for (w = TAILQ_FIRST(&ws->watching); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->seen < last)
			waiters_move(w, &ws->notifying);
	}
	while ((w = TAILQ_FIRST(&ws->notifying)) != NULL) {
		waiters_move(w, &ws->watching);
		w->seen = last;
		w->watch(w->arg);
	}
}

static void
waiters_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiter	*w = arg;

	waiters_update(w->ws, w);
	waiters_finish(w, w->nids >= w->count ? WAITERS_OK : WAITERS_TIMEOUT);
}

void
waiters_shutdown(struct waiters *ws)
{
	struct waiter	*w;

	if (ws == NULL)
		return;
	while ((w = TAILQ_FIRST(&ws->ready)) != NULL)
		waiters_finish(w, WAITERS_SHUTDOWN);
	while ((w = TAILQ_FIRST(&ws->parked)) != NULL)
		waiters_finish(w, WAITERS_SHUTDOWN);
}

void
waiters_free(struct waiters *ws)
{
	struct waiter	*w;

	if (ws == NULL)
		return;
	waiters_shutdown(ws);
	while ((w = TAILQ_FIRST(&ws->watching)) != NULL)
		waiters_destroy(w);
	while ((w = TAILQ_FIRST(&ws->notifying)) != NULL)
		waiters_destroy(w);
	event_free(ws->kick_ev);
	free(ws);
}

size_t
waiters_count(const struct waiters *ws)
{
	return ws->n;
}
