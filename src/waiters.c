/*
 * waiters - parked waits, watchers, follows and scans, worked through in
 * slices by one deferred pass.
 *
 * The pass. A pass that leaves work arms pass_ev, a timer of zero timeout:
 * it fires on the next loop iteration, after the I/O that is ready, so
 * between two passes every ready SMTP session is served. waiters_kick()
 * (a message stored, a call parked) activates kick_ev instead, for a pass in
 * this iteration (a wait is answered with no extra turn of the loop), but
 * only when no pass is due already and not from within a pass: so a loop
 * iteration runs one budget-bound pass that leaves work, besides passes
 * that finished everything there was. A pass spends at most `budget` work units (WAITERS_BUDGET, 2-3 ms
 * on the machine of bench/RESULTS.md; the units are match.h's: automaton
 * words and text bytes, bytes decoded or packed, a fixed cost per message
 * looked at), give or take one indivisible step (decoding a message's
 * bodies: under 1 ms per MiB of plain text, ~7 per MiB of base64 to
 * convert from a charset; bounded by --max-message-size, and once per
 * message while its bodies stay in the store's cache):
 *  1. Live: every parked wait looks at the messages stored since it last
 *     looked (its `live` scan), in rotation, within half the budget when
 *     other work is queued. This is the hot path of intake: one match per
 *     new message per wait, whatever the wait's count.
 *  2. Satisfied and expired waits are finished (callbacks), watchers are
 *     told about new messages, idle follows with new messages are queued.
 *  3. Jobs, in rounds, each for a turn of budget/8 at most (ended at a
 *     message boundary) until the budget is spent: a wait's backlog (the
 *     messages stored before it parked) and recheck, a follow's next match,
 *     a scan's next slice.
 * Everything held across passes is an id (scan cursors; see store.h), so
 * messages may come and go between slices.
 *
 * Waits count matches in a bitmap of ids (waiter_ids: one bit per id from
 * the lowest matching one still stored to the highest), not a list: its
 * size follows the store's id span (1.25 KiB per 10,000 messages), never the
 * wait's count. Evictions and deletes of the oldest only drop the bits below
 * the oldest stored id; any other delete (store_gaps() moved) makes the wait
 * recheck its bits against the store, in slices, before it may fire.
 * A wait is satisfied when count bits are set and no recheck is pending.
 * On timeout it is finished once it has looked at everything stored by then.
 *
 * Lists. Every waiter is on exactly one list (parked, ready, watching,
 * notifying, follows, scans), and, while it has queued work, on `jobs`
 * too; waiters_cancel() unlinks from both, so it is safe from any callback.
 * A scan's or follow's each() runs with the waiter marked busy: cancelling
 * it then only unlinks it, and the pass frees it when each() returns.
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

#define WAITERS_COST_ID 16 /* recheck: one id looked up */

enum waiter_kind { WAITER_WAIT, WAITER_WATCH, WAITER_FOLLOW, WAITER_SCAN };

/* What waiters_run() stopped at */
enum waiters_rc {
	WAITERS_RUN_GONE = -1, /* the waiter was cancelled in a callback */
	WAITERS_RUN_MORE,      /* budget or turn over: more to do */
	WAITERS_RUN_END,       /* the scan reached its end (for now) */
	WAITERS_RUN_STOP,      /* a match stopped it (satisfied, each() said so) */
};

TAILQ_HEAD(waiter_list, waiter);

/* A set of ids: bit i of w[] is id base + i; base is a multiple of 64 */
struct waiter_ids {
	uint64_t *w;
	size_t	  nw, cap; /* words in use, allocated */
	uint64_t  base;
	size_t	  n; /* bits set */
};

struct waiter {
	TAILQ_ENTRY(waiter) entry;
	struct waiter_list *list;   /* the list it is on */
	TAILQ_ENTRY(waiter) jentry; /* on ws->jobs while queued */
	int		    queued;
	struct waiters	   *ws;
	enum waiter_kind    kind;
	int		    busy; /* in its each(): cancel defers the free */
	int		    cancelled;
	unsigned	    pass;     /* the last pass that looked at it (live) */
	unsigned	    rotation; /* the last round of turns it had one in */
	struct match_query *q;
	struct store_scan   scan; /* WAIT: the backlog; FOLLOW, SCAN: all */
	void		   *arg;

	/* WAITER_WAIT */
	struct store_scan   live;    /* what was stored after it parked */
	int		    backlog; /* scan still has messages to look at */
	size_t		    count;   /* wanted, >= 1 */
	struct waiter_ids   ids;     /* matching ids (maybe deleted: see gaps) */
	uint64_t	    gaps;    /* store_gaps() that ids reflects */
	int		    recheck; /* ids >= recheck_id to look up again */
	uint64_t	    recheck_id;
	int		    expired;
	uint64_t	    expire_id; /* store_last_id() at the timeout */
	enum waiters_status status;    /* on the ready list: how it ends */
	struct event	   *timer;
	waiters_done_fn	   *done;

	/* WAITER_WATCH */
	uint64_t	  seen; /* store_last_id() when last called */
	waiters_watch_fn *watch;

	/* WAITER_FOLLOW, WAITER_SCAN */
	waiters_each_fn *each;
	int		 paused; /* FOLLOW: handed one over, next not asked */
	waiters_scan_fn *scan_done;
	void		*state;
	void (*state_free)(void *);
	size_t matched;
};

struct waiters {
	struct event_base *base;
	struct store	  *store;
	unsigned	   max; /* waits + watchers + follows; 0: unlimited */
	size_t		   n;
	struct event	  *pass_ev; /* zero-timeout timer: a pass next iteration */
	struct event	  *kick_ev; /* activated: a pass this iteration */
	int		   in_pass;
	int64_t		   budget; /* units per pass */
	unsigned	   pass;
	unsigned	   rotation; /* rounds of turns */
	struct waiter_list parked;   /* waits not yet satisfied */
	struct waiter_list ready;    /* waits done, callbacks pending */
	struct waiter_list watching;
	struct waiter_list notifying; /* watchers due a call this pass */
	struct waiter_list follows;
	struct waiter_list scans;
	struct waiter_list jobs; /* with queued work, by jentry */
};

static void waiters_pass_cb(evutil_socket_t, short, void *);
static void waiters_timeout_cb(evutil_socket_t, short, void *);

/* ---- sets of ids ---------------------------------------------------------- */

static void
ids_reserve(struct waiter_ids *s, size_t nw)
{
	if (nw <= s->cap)
		return;
	s->cap = nw > s->cap * 2 ? nw : s->cap * 2;
	s->w = xreallocarray(s->w, s->cap, sizeof(*s->w));
}

/* Drops the zero words at both ends (the set covers first to last bit). */
static void
ids_trim(struct waiter_ids *s)
{
	size_t lead = 0;

	while (s->nw > 0 && s->w[s->nw - 1] == 0)
		s->nw--;
	while (lead < s->nw && s->w[lead] == 0)
		lead++;
	if (lead > 0) {
		memmove(s->w, s->w + lead, (s->nw - lead) * sizeof(*s->w));
		s->nw -= lead;
		s->base += 64 * (uint64_t)lead;
	}
}

static void
ids_add(struct waiter_ids *s, uint64_t id)
{
	uint64_t b = id & ~(uint64_t)63, bit;
	size_t	 shift, need;

	if (s->nw == 0)
		s->base = b;
	if (b < s->base) {
		/* the backlog finds ids below the live ones: grow downwards */
		shift = (size_t)((s->base - b) / 64);
		ids_reserve(s, s->nw + shift);
		memmove(s->w + shift, s->w, s->nw * sizeof(*s->w));
		memset(s->w, 0, shift * sizeof(*s->w));
		s->nw += shift;
		s->base = b;
	}
	need = (size_t)((id - s->base) / 64) + 1;
	if (need > s->nw) {
		ids_reserve(s, need);
		memset(s->w + s->nw, 0, (need - s->nw) * sizeof(*s->w));
		s->nw = need;
	}
	bit = (uint64_t)1 << ((id - s->base) % 64);
	if ((s->w[(id - s->base) / 64] & bit) == 0) {
		s->w[(id - s->base) / 64] |= bit;
		s->n++;
	}
}

static void
ids_del(struct waiter_ids *s, uint64_t id)
{
	uint64_t bit = (uint64_t)1 << ((id - s->base) % 64);
	size_t	 i = (size_t)((id - s->base) / 64);

	if (id >= s->base && i < s->nw && (s->w[i] & bit) != 0) {
		s->w[i] &= ~bit;
		s->n--;
	}
}

/* Forgets the ids below first. */
static void
ids_drop_below(struct waiter_ids *s, uint64_t first)
{
	uint64_t mask;
	size_t	 drop, i;

	if (s->nw == 0 || first <= s->base)
		return;
	drop = (size_t)((first - s->base) / 64);
	if (drop >= s->nw) {
		s->nw = s->n = 0;
		return;
	}
	for (i = 0; i < drop; i++)
		s->n -= (size_t)__builtin_popcountll(s->w[i]);
	mask = ((uint64_t)1 << ((first - s->base) % 64)) - 1;
	s->n -= (size_t)__builtin_popcountll(s->w[drop] & mask);
	s->w[drop] &= ~mask;
	for (i = 0; i < drop; i++)
		s->w[i] = 0;
	ids_trim(s);
}

/* The first id >= from in the set; 0 if none. */
static uint64_t
ids_next(const struct waiter_ids *s, uint64_t from)
{
	uint64_t word;
	size_t	 i;

	if (s->nw == 0)
		return 0;
	if (from < s->base)
		from = s->base;
	if ((i = (size_t)((from - s->base) / 64)) >= s->nw)
		return 0;
	word = s->w[i] & (~(uint64_t)0 << ((from - s->base) % 64));
	while (word == 0) {
		if (++i >= s->nw)
			return 0;
		word = s->w[i];
	}
	return s->base + 64 * (uint64_t)i + (uint64_t)__builtin_ctzll(word);
}

/* ---- life cycle ----------------------------------------------------------- */

struct waiters *
waiters_new(struct event_base *base, struct store *st, unsigned max)
{
	struct waiters *ws = xcalloc(1, sizeof(*ws));

	ws->base = base;
	ws->store = st;
	ws->max = max;
	ws->budget = WAITERS_BUDGET;
	TAILQ_INIT(&ws->parked);
	TAILQ_INIT(&ws->ready);
	TAILQ_INIT(&ws->watching);
	TAILQ_INIT(&ws->notifying);
	TAILQ_INIT(&ws->follows);
	TAILQ_INIT(&ws->scans);
	TAILQ_INIT(&ws->jobs);
	if ((ws->pass_ev = evtimer_new(base, waiters_pass_cb, ws)) == NULL ||
	    (ws->kick_ev = event_new(base, -1, 0, waiters_pass_cb, ws)) == NULL)
		fatalx("waiters_new: event_new failed");
	return ws;
}

void
waiters_set_budget(struct waiters *ws, int64_t units)
{
	ws->budget = units > 0 ? units : 1;
}

/* The next pass in the next loop iteration, after the I/O that is ready */
static void
waiters_yield(struct waiters *ws)
{
	struct timeval now = { 0, 0 };

	if (!evtimer_pending(ws->pass_ev, NULL))
		evtimer_add(ws->pass_ev, &now);
}

void
waiters_kick(struct waiters *ws)
{
	/*
	 * Idle: a pass in this loop iteration, so a wait is answered as soon
	 * as its message is stored. A pass already due next iteration (work
	 * left), or this call from within a pass: nothing more.
	 */
	if (!ws->in_pass && !evtimer_pending(ws->pass_ev, NULL))
		event_active(ws->kick_ev, EV_READ, 0);
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

/* Queues w's work for a turn (at the end of the rotation) and kicks. */
static void
waiters_enqueue(struct waiter *w)
{
	if (!w->queued && !w->cancelled) {
		TAILQ_INSERT_TAIL(&w->ws->jobs, w, jentry);
		w->queued = 1;
	}
	waiters_kick(w->ws);
}

static void
waiters_dequeue(struct waiter *w)
{
	if (w->queued) {
		TAILQ_REMOVE(&w->ws->jobs, w, jentry);
		w->queued = 0;
	}
}

static struct waiter *
waiters_alloc(struct waiters *ws, enum waiter_kind kind, const struct filter *f, void *arg)
{
	struct waiter *w = xcalloc(1, sizeof(*w));

	w->ws = ws;
	w->kind = kind;
	w->arg = arg;
	if (kind != WAITER_WATCH)
		w->q = match_query_new(f);
	if (kind != WAITER_SCAN)
		ws->n++;
	return w;
}

static void
waiters_destroy(struct waiter *w)
{
	waiters_move(w, NULL);
	waiters_dequeue(w);
	if (w->busy) { /* in its each(): the pass frees it after */
		w->cancelled = 1;
		return;
	}
	if (w->kind != WAITER_SCAN)
		w->ws->n--;
	if (w->timer != NULL)
		event_free(w->timer);
	store_scan_clear(&w->scan);
	store_scan_clear(&w->live);
	match_query_free(w->q);
	free(w->ids.w);
	if (w->state != NULL && w->state_free != NULL)
		w->state_free(w->state);
	free(w);
}

void
waiters_cancel(struct waiter *w)
{
	if (w != NULL)
		waiters_destroy(w);
}

/* ---- waits ---------------------------------------------------------------- */

struct waiter *
waiters_wait(struct waiters *ws, const struct filter *f, size_t count, int timeout_ms,
    waiters_done_fn *done, void *arg)
{
	struct waiter *w;
	struct timeval tv;
	uint64_t       last = store_last_id(ws->store);

	if (ws->max != 0 && ws->n >= ws->max)
		return NULL;
	w = waiters_alloc(ws, WAITER_WAIT, f, arg);
	w->count = count > 0 ? count : 1;
	store_scan_init(&w->scan, w->q, 0, last);
	store_scan_init(&w->live, w->q, last, STORE_SCAN_NEWEST);
	w->backlog = 1;
	w->gaps = store_gaps(ws->store);
	w->done = done;
	if (timeout_ms >= 0) {
		if ((w->timer = evtimer_new(ws->base, waiters_timeout_cb, w)) == NULL)
			fatalx("waiters_wait: evtimer_new failed");
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
		evtimer_add(w->timer, &tv);
	}
	waiters_move(w, &ws->parked);
	/* Maybe already satisfied: decided by the deferred pass, never inline */
	waiters_enqueue(w);
	return w;
}

/*
 * Brings w's ids in line with the store: the ids below the oldest stored
 * one are gone; after a gap, every id is to be looked up again.
 */
static void
waiters_prune(struct waiters *ws, struct waiter *w)
{
	struct message *first = store_first(ws->store);

	ids_drop_below(&w->ids, first != NULL ? first->id : store_last_id(ws->store) + 1);
	if (w->gaps != store_gaps(ws->store)) {
		w->gaps = store_gaps(ws->store);
		w->recheck = 1;
		w->recheck_id = 0;
		waiters_enqueue(w);
	}
}

/* Looks the ids up again from recheck_id; 1 when done, 0 when out of budget. */
static int
waiters_recheck(struct waiters *ws, struct waiter *w, int64_t *budget, int64_t turn)
{
	int64_t	 start = *budget;
	uint64_t id;

	for (id = ids_next(&w->ids, w->recheck_id); id != 0; id = ids_next(&w->ids, id + 1)) {
		if (start - *budget >= turn || *budget <= 0) {
			w->recheck_id = id;
			return 0;
		}
		if (store_get(ws->store, id) == NULL)
			ids_del(&w->ids, id);
		*budget -= WAITERS_COST_ID;
	}
	ids_trim(&w->ids);
	w->recheck = 0;
	return 1;
}

/* A parked wait that is satisfied, or expired and up to date, goes to ready. */
static void
waiters_check(struct waiters *ws, struct waiter *w)
{
	if (w->list != &ws->parked)
		return;
	if (!w->recheck && w->ids.n >= w->count)
		w->status = WAITERS_OK;
	else if (w->expired && !w->recheck && !w->backlog && w->live.current == 0 &&
	    w->live.cursor >= w->expire_id)
		w->status = WAITERS_TIMEOUT;
	else
		return;
	waiters_dequeue(w);
	waiters_move(w, &ws->ready);
}

/* Unlinks w, runs its callback, frees it. */
static void
waiters_finish(struct waiter *w, enum waiters_status status)
{
	waiters_done_fn *done = w->done;
	void		*arg = w->arg;
	size_t		 matched = w->ids.n;

	waiters_destroy(w);
	if (done != NULL)
		done(arg, status, matched);
}

static void
waiters_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiter  *w = arg;
	struct waiters *ws = w->ws;

	w->expired = 1;
	w->expire_id = store_last_id(ws->store);
	waiters_prune(ws, w);
	waiters_check(ws, w);
	if (w->list == &ws->ready)
		waiters_finish(w, w->status);
	else
		waiters_kick(ws); /* the pass finishes it once up to date */
}

/* ---- watches and follows -------------------------------------------------- */

struct waiter *
waiters_watch(struct waiters *ws, waiters_watch_fn *fn, void *arg)
{
	struct waiter *w;

	if (ws->max != 0 && ws->n >= ws->max)
		return NULL;
	w = waiters_alloc(ws, WAITER_WATCH, NULL, arg);
	w->seen = store_last_id(ws->store);
	w->watch = fn;
	waiters_move(w, &ws->watching);
	return w;
}

struct waiter *
waiters_follow(struct waiters *ws, const struct filter *f, uint64_t after_id, waiters_each_fn *each,
    void *arg)
{
	struct waiter *w;

	if (ws->max != 0 && ws->n >= ws->max)
		return NULL;
	w = waiters_alloc(ws, WAITER_FOLLOW, f, arg);
	store_scan_init(&w->scan, w->q, after_id, STORE_SCAN_NEWEST);
	w->each = each;
	w->paused = 1;
	waiters_move(w, &ws->follows);
	return w;
}

void
waiters_follow_next(struct waiter *w)
{
	w->paused = 0;
	waiters_enqueue(w);
}

/* ---- scans ---------------------------------------------------------------- */

struct waiter *
waiters_scan(struct waiters *ws, const struct waiters_scan_spec *spec)
{
	struct waiter *w = waiters_alloc(ws, WAITER_SCAN, spec->filter, spec->arg);

	store_scan_init(&w->scan, w->q, 0, store_last_id(ws->store));
	w->each = spec->each;
	w->scan_done = spec->done;
	w->state = spec->state;
	w->state_free = spec->state_free;
	waiters_move(w, &ws->scans);
	waiters_enqueue(w);
	return w;
}

/* Unlinks the scan, hands its state over with done(), frees it. */
static void
waiters_scan_end(struct waiter *w, enum waiters_status status)
{
	waiters_scan_fn *done = w->scan_done;
	void		*arg = w->arg, *state = w->state;
	size_t		 matched = w->matched;

	w->state = NULL;
	waiters_destroy(w);
	if (done != NULL)
		done(arg, state, status, matched);
}

/* ---- the work ------------------------------------------------------------- */

/* A match found by one of w's scans; a waiters_rc. */
static enum waiters_rc
waiters_matched(struct waiters *ws, struct waiter *w, struct message *m, int64_t *budget)
{
	uint64_t cost = 0;
	int	 stop;

	switch (w->kind) {
	case WAITER_WAIT:
		ids_add(&w->ids, m->id);
		return !w->recheck && w->ids.n >= w->count ? WAITERS_RUN_STOP : WAITERS_RUN_MORE;
	case WAITER_FOLLOW:
	case WAITER_SCAN:
		if (w->kind == WAITER_SCAN)
			w->matched++;
		else
			w->paused = 1; /* until waiters_follow_next(), maybe from each() */
		w->busy = 1;
		stop = w->each(w->arg, w->state, m, &cost);
		w->busy = 0;
		*budget -= (int64_t)(cost < INT64_MAX ? cost : INT64_MAX);
		if (w->cancelled) {
			waiters_destroy(w);
			return WAITERS_RUN_GONE;
		}
		return w->kind == WAITER_FOLLOW || stop ? WAITERS_RUN_STOP : WAITERS_RUN_MORE;
	default:
		return WAITERS_RUN_END;
	}
}

/*
 * Runs sc, one of w's scans, until it ends, a match stops it, the budget is
 * spent (maybe part-way through a message, which the scan goes on with
 * next time) or w's turn of `turn` units is over (at a message boundary).
 */
static enum waiters_rc
waiters_run(struct waiters *ws, struct waiter *w, struct store_scan *sc, int64_t *budget,
    int64_t turn)
{
	int64_t		floor = *budget - turn > 0 ? *budget - turn : 0;
	struct message *m;
	enum waiters_rc rc;

	for (;;) {
		switch (store_scan_step(ws->store, sc, budget, floor, &m)) {
		case STORE_SCAN_END:
			return WAITERS_RUN_END;
		case STORE_SCAN_PAUSE:
		case STORE_SCAN_MISS:
			return WAITERS_RUN_MORE;
		case STORE_SCAN_MATCH:
			if ((rc = waiters_matched(ws, w, m, budget)) != WAITERS_RUN_MORE)
				return rc;
			if (*budget <= floor)
				return WAITERS_RUN_MORE;
			break;
		}
	}
}

/* 1 if w has work for a turn (a wait still parked: its backlog, a recheck). */
static int
waiters_has_work(struct waiters *ws, struct waiter *w)
{
	switch (w->kind) {
	case WAITER_WAIT:
		return w->list == &ws->parked && (w->backlog || w->recheck);
	case WAITER_FOLLOW:
		return !w->paused &&
		    (w->scan.current != 0 || w->scan.cursor < store_last_id(ws->store));
	case WAITER_SCAN:
		return 1;
	default:
		return 0;
	}
}

/* One turn of a queued waiter (taken off the queue; put back if need be). */
static void
waiters_turn(struct waiters *ws, struct waiter *w, int64_t *budget, int64_t turn)
{
	int64_t		start = *budget;
	enum waiters_rc rc = WAITERS_RUN_MORE;

	switch (w->kind) {
	case WAITER_WAIT:
		waiters_prune(ws, w);
		if (w->recheck && !waiters_recheck(ws, w, budget, turn))
			break;
		if (w->backlog &&
		    (rc = waiters_run(ws, w, &w->scan, budget, turn - (start - *budget))) ==
			WAITERS_RUN_END) {
			w->backlog = 0;
			store_scan_clear(&w->scan);
		}
		waiters_check(ws, w);
		break;
	case WAITER_FOLLOW:
		if (!w->paused && waiters_run(ws, w, &w->scan, budget, turn) == WAITERS_RUN_GONE)
			return;
		break;
	case WAITER_SCAN:
		if ((rc = waiters_run(ws, w, &w->scan, budget, turn)) == WAITERS_RUN_GONE)
			return;
		if (rc != WAITERS_RUN_MORE) {
			waiters_scan_end(w, WAITERS_OK);
			return;
		}
		break;
	default:
		break;
	}
	if (waiters_has_work(ws, w))
		waiters_enqueue(w);
}

/*
 * Step 1 of a pass: the new messages against every parked wait, in rotation,
 * within *budget. Returns 1 if some wait still has new messages to look at.
 */
static int
waiters_live(struct waiters *ws, int64_t *budget, int64_t turn)
{
	struct waiter *w;
	uint64_t       last = store_last_id(ws->store);
	int	       more = 0;

	while ((w = TAILQ_FIRST(&ws->parked)) != NULL && w->pass != ws->pass) {
		if (*budget <= 0)
			return 1;
		w->pass = ws->pass;
		waiters_move(w, &ws->parked); /* to the end: the next pass starts after */
		waiters_prune(ws, w);
		if (w->live.current != 0 || w->live.cursor < last)
			more |= waiters_run(ws, w, &w->live, budget, turn) == WAITERS_RUN_MORE;
		waiters_check(ws, w);
	}
	return more;
}

/* Step 2: finish what is ready, tell the watchers, queue the follows. */
static void
waiters_notify(struct waiters *ws)
{
	struct waiter *w, *next;
	uint64_t       last = store_last_id(ws->store);

	while ((w = TAILQ_FIRST(&ws->ready)) != NULL)
		waiters_finish(w, w->status);
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
	TAILQ_FOREACH(w, &ws->follows, entry)
	if (!w->queued && waiters_has_work(ws, w))
		waiters_enqueue(w);
}

static void
waiters_pass_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiters *ws = arg;
	struct waiter  *w;
	int64_t		budget = ws->budget, turn = ws->budget / 8 > 0 ? ws->budget / 8 : 1;
	int64_t		live = TAILQ_EMPTY(&ws->jobs) ? budget : budget / 2, round;
	int		more;

	ws->pass++;
	ws->in_pass = 1;
	budget -= live;
	more = waiters_live(ws, &live, turn);
	budget += live;
	waiters_notify(ws);
	/* Step 3: turns in rotation, as far as the budget goes */
	ws->rotation++;
	round = budget;
	while (budget > 0 && (w = TAILQ_FIRST(&ws->jobs)) != NULL) {
		if (w->rotation == ws->rotation) {
			if (budget == round)
				break; /* a whole round did nothing */
			ws->rotation++;
			round = budget;
		}
		w->rotation = ws->rotation;
		waiters_dequeue(w);
		waiters_turn(ws, w, &budget, turn);
	}
	while ((w = TAILQ_FIRST(&ws->ready)) != NULL)
		waiters_finish(w, w->status);
	ws->in_pass = 0;
	if (more || !TAILQ_EMPTY(&ws->jobs))
		waiters_yield(ws);
}

void
waiters_scan_finish(struct waiter *w)
{
	int64_t		budget;
	enum waiters_rc rc;

	waiters_dequeue(w);
	do {
		budget = INT64_MAX;
		rc = waiters_run(w->ws, w, &w->scan, &budget, INT64_MAX);
	} while (rc == WAITERS_RUN_MORE);
	if (rc != WAITERS_RUN_GONE)
		waiters_scan_end(w, WAITERS_OK);
}

void
waiters_shutdown(struct waiters *ws)
{
	struct waiter *w;

	if (ws == NULL)
		return;
	while ((w = TAILQ_FIRST(&ws->ready)) != NULL)
		waiters_finish(w, WAITERS_SHUTDOWN);
	while ((w = TAILQ_FIRST(&ws->parked)) != NULL)
		waiters_finish(w, WAITERS_SHUTDOWN);
	while ((w = TAILQ_FIRST(&ws->scans)) != NULL)
		waiters_scan_finish(w);
}

void
waiters_free(struct waiters *ws)
{
	struct waiter *w;

	if (ws == NULL)
		return;
	waiters_shutdown(ws);
	while ((w = TAILQ_FIRST(&ws->watching)) != NULL)
		waiters_destroy(w);
	while ((w = TAILQ_FIRST(&ws->notifying)) != NULL)
		waiters_destroy(w);
	while ((w = TAILQ_FIRST(&ws->follows)) != NULL)
		waiters_destroy(w);
	while ((w = TAILQ_FIRST(&ws->parked)) != NULL) /* parked by a callback since */
		waiters_destroy(w);
	while ((w = TAILQ_FIRST(&ws->scans)) != NULL)
		waiters_destroy(w);
	event_free(ws->pass_ev);
	event_free(ws->kick_ev);
	free(ws);
}

size_t
waiters_count(const struct waiters *ws)
{
	return ws->n;
}

size_t
waiters_ids_bytes(const struct waiters *ws)
{
	const struct waiter *w;
	size_t		     n = 0;

	TAILQ_FOREACH(w, &ws->parked, entry)
	n += w->ids.cap * sizeof(*w->ids.w);
	return n;
}
