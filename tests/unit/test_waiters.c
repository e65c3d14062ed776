/*
 * test_waiters - parked waits and watchers on a real event_base.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <event2/event.h>

#include "match.h"
#include "message.h"
#include "store.h"
#include "waiters.h"
#include "xmalloc.h"

struct fixture {
	struct event_base *base;
	struct store	  *store;
	struct waiters	  *ws;
};

struct result {
	int		    calls;
	enum waiters_status status;
	size_t		    matched;
	struct fixture	   *fx;
	struct waiter	   *cancel; /* cancelled from the callback */
};

static void
done_cb(void *arg, enum waiters_status status, size_t matched)
{
	struct result *r = arg;

	r->calls++;
	r->status = status;
	r->matched = matched;
	if (r->cancel != NULL) {
		waiters_cancel(r->cancel);
		r->cancel = NULL;
	}
}

static int
setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));

	fx->base = event_base_new();
	fx->store = store_new(0, 0);
	fx->ws = waiters_new(fx->base, fx->store, 2000);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	waiters_free(fx->ws);
	store_free(fx->store);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static struct message *
msg(const char *rcpt)
{
	struct message *m = message_new();

	m->peer = xstrdup("127.0.0.1:1");
	m->helo = xstrdup("h");
	m->mail_from = xstrdup("s@x");
	m->nrcpts = 1;
	m->rcpts = xcalloc(1, sizeof(*m->rcpts));
	m->rcpts[0].addr = xstrdup(rcpt);
	m->data = xstrdup("Subject: t\r\n\r\nx\r\n");
	m->size = strlen(m->data);
	return m;
}

/* What deliver_message does: put, then kick. */
static uint64_t
deliver(struct fixture *fx, const char *rcpt)
{
	uint64_t id = store_put(fx->store, msg(rcpt));

	waiters_kick(fx->ws);
	return id;
}

static void
run_once(struct fixture *fx)
{
	event_base_loop(fx->base, EVLOOP_NONBLOCK);
}

static void
test_waiters_already_satisfied(void **state)
{
	struct fixture *fx = *state;
	struct result	r = { 0 };
	struct filter	f = { .rcpt_to = "a@*" };

	deliver(fx, "a@x");
	run_once(fx);
	assert_non_null(waiters_wait(fx->ws, &f, 1, -1, done_cb, &r));
	/* never inline: the callback comes from the loop */
	assert_int_equal(r.calls, 0);
	assert_int_equal(waiters_count(fx->ws), 1);
	run_once(fx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, WAITERS_OK);
	assert_int_equal(r.matched, 1);
	assert_int_equal(waiters_count(fx->ws), 0);
}

static void
test_waiters_satisfied_later(void **state)
{
	struct fixture *fx = *state;
	struct result	r = { 0 };
	struct filter	f = { .rcpt_to = "t1-*" };

	assert_non_null(waiters_wait(fx->ws, &f, 3, 10000, done_cb, &r));
	run_once(fx);
	assert_int_equal(r.calls, 0);
	deliver(fx, "t1-a@x");
	deliver(fx, "t2-a@x"); /* excluded by the filter */
	run_once(fx);
	assert_int_equal(r.calls, 0);
	deliver(fx, "t1-b@x");
	deliver(fx, "t2-b@x");
	run_once(fx);
	assert_int_equal(r.calls, 0);
	deliver(fx, "T1-c@x");
	assert_int_equal(r.calls, 0); /* not inside the put */
	run_once(fx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, WAITERS_OK);
	assert_int_equal(r.matched, 3);
	/* the timer went with the waiter */
	assert_int_equal(waiters_count(fx->ws), 0);
}

static void
test_waiters_after_id(void **state)
{
	struct fixture *fx = *state;
	struct result	r = { 0 };
	struct filter	f = { 0 };

	deliver(fx, "a@x");
	f.after_id = deliver(fx, "a@x");
	waiters_wait(fx->ws, &f, 1, -1, done_cb, &r);
	run_once(fx);
	assert_int_equal(r.calls, 0);
	deliver(fx, "a@x");
	run_once(fx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.matched, 1);
}

static void
timeout_cb(void *arg, enum waiters_status status, size_t matched)
{
	struct result *r = arg;

	done_cb(arg, status, matched);
	event_base_loopbreak(r->fx->base);
}

static void
test_waiters_timeout(void **state)
{
	struct fixture *fx = *state;
	struct result	r = { .fx = fx };
	struct filter	f = { .rcpt_to = "a@*" };
	struct timespec t0, t1;
	long		ms;

	deliver(fx, "a@x");
	deliver(fx, "b@x");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	waiters_wait(fx->ws, &f, 2, 50, timeout_cb, &r);
	event_base_dispatch(fx->base);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, WAITERS_TIMEOUT);
	assert_int_equal(r.matched, 1);
	assert_true(ms >= 45);
	assert_int_equal(waiters_count(fx->ws), 0);
}

static void
test_waiters_cancel(void **state)
{
	struct fixture *fx = *state;
	struct result	r1 = { 0 }, r2 = { 0 };
	struct waiter  *w1, *w2;

	w1 = waiters_wait(fx->ws, NULL, 1, 10000, done_cb, &r1);
	w2 = waiters_wait(fx->ws, NULL, 1, 10000, done_cb, &r2);
	waiters_cancel(w1);
	assert_int_equal(waiters_count(fx->ws), 1);
	deliver(fx, "a@x");
	run_once(fx);
	assert_int_equal(r1.calls, 0);
	assert_int_equal(r2.calls, 1);
	(void)w2;

	/* a callback cancels another waiter that was satisfied in the same pass */
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	waiters_wait(fx->ws, NULL, 1, -1, done_cb, &r1);
	r1.cancel = waiters_wait(fx->ws, NULL, 1, -1, done_cb, &r2);
	run_once(fx);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r2.calls, 0);
	assert_int_equal(waiters_count(fx->ws), 0);
}

static void
test_waiters_delete_recount(void **state)
{
	struct fixture *fx = *state;
	struct result	r = { 0 };
	struct filter	f = { .rcpt_to = "a@*" };
	uint64_t	id1;

	id1 = deliver(fx, "a@x");
	waiters_wait(fx->ws, &f, 2, -1, done_cb, &r);
	run_once(fx);
	assert_int_equal(r.calls, 0);
	/* the one that counted is gone: one more is not enough */
	assert_int_equal(store_delete_id(fx->store, id1), 1);
	waiters_kick(fx->ws);
	deliver(fx, "a@x");
	run_once(fx);
	assert_int_equal(r.calls, 0);
	/* after a clear, two new ones are needed */
	assert_int_equal(store_delete(fx->store, NULL), 1);
	deliver(fx, "a@x");
	run_once(fx);
	assert_int_equal(r.calls, 0);
	deliver(fx, "a@x");
	run_once(fx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.matched, 2);
}

static void
test_waiters_eviction_recount(void **state)
{
	struct fixture *fx = *state;
	struct store   *small = store_new(2, 0);
	struct waiters *ws = waiters_new(fx->base, small, 10);
	struct result	r = { 0 };
	struct filter	f = { .rcpt_to = "a@*" };

	store_put(small, msg("a@x"));
	waiters_wait(ws, &f, 2, -1, done_cb, &r);
	run_once(fx);
	store_put(small, msg("b@x"));
	store_put(small, msg("b@x")); /* evicts the matching one */
	store_put(small, msg("a@x"));
	waiters_kick(ws);
	run_once(fx);
	assert_int_equal(r.calls, 0);
	store_put(small, msg("a@x"));
	waiters_kick(ws);
	run_once(fx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.matched, 2);
	waiters_free(ws);
	store_free(small);
}

static void
test_waiters_many(void **state)
{
	struct fixture *fx = *state;
	struct result  *r = xcalloc(1000, sizeof(*r));
	struct filter	f = { .rcpt_to = "wanted@*" };
	char		rcpt[64];
	int		i;

	for (i = 0; i < 10000; i++) {
		snprintf(rcpt, sizeof(rcpt), "other%d@x", i);
		store_put(fx->store, msg(rcpt));
	}
	for (i = 0; i < 1000; i++)
		assert_non_null(waiters_wait(fx->ws, &f, 1, 60000, done_cb, &r[i]));
	run_once(fx);
	for (i = 0; i < 1000; i++)
		assert_int_equal(r[i].calls, 0);
	/* later non-matching messages cost one match each, nothing fires */
	deliver(fx, "other@x");
	run_once(fx);
	assert_int_equal(r[0].calls, 0);
	deliver(fx, "wanted@x");
	run_once(fx);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, WAITERS_OK);
	}
	assert_int_equal(waiters_count(fx->ws), 0);
	free(r);
}

static void
test_waiters_max(void **state)
{
	struct fixture *fx = *state;
	struct waiters *ws = waiters_new(fx->base, fx->store, 2);
	struct result	r = { 0 };

	assert_non_null(waiters_wait(ws, NULL, 5, -1, done_cb, &r));
	assert_non_null(waiters_wait(ws, NULL, 5, -1, done_cb, &r));
	assert_null(waiters_wait(ws, NULL, 5, -1, done_cb, &r));
	assert_null(waiters_watch(ws, (waiters_watch_fn *)NULL, NULL));
	waiters_free(ws); /* ends both with SHUTDOWN */
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.status, WAITERS_SHUTDOWN);
}

static void
test_waiters_shutdown(void **state)
{
	struct fixture *fx = *state;
	struct result	r1 = { 0 }, r2 = { 0 };

	deliver(fx, "a@x");
	waiters_wait(fx->ws, NULL, 10, 10000, done_cb, &r1);
	waiters_wait(fx->ws, NULL, 1, 10000, done_cb, &r2);
	waiters_shutdown(fx->ws);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r1.status, WAITERS_SHUTDOWN);
	assert_int_equal(r2.calls, 1);
	assert_int_equal(r2.status, WAITERS_SHUTDOWN);
	assert_int_equal(waiters_count(fx->ws), 0);
	run_once(fx);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r2.calls, 1);
}

struct watch_state {
	int	       calls;
	uint64_t       cursor;
	size_t	       seen;
	struct waiter *self;
	int	       cancel_at; /* cancels itself on that call */
};

static struct store *watch_store;

static void
watch_pull_cb(void *arg)
{
	struct watch_state *w = arg;
	struct message	   *m;

	w->calls++;
	for (m = store_after(watch_store, w->cursor); m != NULL; m = store_next(watch_store, m)) {
		w->cursor = m->id;
		w->seen++;
	}
	if (w->cancel_at != 0 && w->calls == w->cancel_at)
		waiters_cancel(w->self);
}

static void
test_waiters_watch(void **state)
{
	struct fixture	  *fx = *state;
	struct watch_state a = { 0 }, b = { .cancel_at = 1 };

	watch_store = fx->store;
	deliver(fx, "old@x");
	run_once(fx);
	a.cursor = b.cursor = store_last_id(fx->store);
	a.self = waiters_watch(fx->ws, watch_pull_cb, &a);
	b.self = waiters_watch(fx->ws, watch_pull_cb, &b);
	assert_non_null(a.self);
	run_once(fx);
	assert_int_equal(a.calls, 0); /* nothing new yet */
	deliver(fx, "n1@x");
	deliver(fx, "n2@x");
	assert_int_equal(a.calls, 0);
	run_once(fx);
	assert_int_equal(a.calls, 1); /* one call per batch */
	assert_int_equal(a.seen, 2);
	assert_int_equal(b.calls, 1); /* cancelled itself */
	assert_int_equal(waiters_count(fx->ws), 1);
	deliver(fx, "n3@x");
	run_once(fx);
	assert_int_equal(a.calls, 2);
	assert_int_equal(a.seen, 3);
	assert_int_equal(b.calls, 1);
	/* a delete alone is not a new batch */
	store_delete(fx->store, NULL);
	waiters_kick(fx->ws);
	run_once(fx);
	assert_int_equal(a.calls, 2);
	waiters_cancel(a.self);
	assert_int_equal(waiters_count(fx->ws), 0);
}

/* ---- slices ---- */

/*
 * One pass of the waiters (EVLOOP_NONBLOCK, run_once(), goes on while a
 * zero-timeout timer is due, so through every pass). 1 if nothing was
 * pending. Only for tests without a wait timer pending, which would block.
 */
static int
run_pass(struct fixture *fx)
{
	return event_base_loop(fx->base, EVLOOP_ONCE);
}

/* Passes until nothing is pending; returns how many it took. */
static int
run_idle(struct fixture *fx)
{
	int n = 0;

	while (run_pass(fx) == 0 && n < 1000000)
		n++;
	return n;
}

struct scan_result {
	int		    calls;
	enum waiters_status status;
	size_t		    matched;
	uint64_t	    ids[64];
	size_t		    nids;
	size_t		    stop_at; /* each() ends the scan at that many */
	struct fixture	   *fx;
	int		    freed;
};

static int
scan_each(void *arg, void *state, struct message *m, uint64_t *cost)
{
	struct scan_result *r = arg;

	assert_ptr_equal(state, r);
	if (r->nids < 64)
		r->ids[r->nids] = m->id;
	r->nids++;
	*cost += 10;
	return r->stop_at != 0 && r->nids == r->stop_at;
}

static void
scan_done(void *arg, void *state, enum waiters_status status, size_t matched)
{
	struct scan_result *r = arg;

	assert_ptr_equal(state, r);
	r->calls++;
	r->status = status;
	r->matched = matched;
}

static void
scan_state_free(void *state)
{
	((struct scan_result *)state)->freed++;
}

static struct waiter *
start_scan(struct fixture *fx, const struct filter *f, struct scan_result *r)
{
	struct waiters_scan_spec spec = {
		.filter = f,
		.each = scan_each,
		.done = scan_done,
		.state = r,
		.state_free = scan_state_free,
		.arg = r,
	};

	return waiters_scan(fx->ws, &spec);
}

/*
 * A tiny budget: a scan over a few messages takes many passes, while
 * messages are stored (past its end: not seen) and deleted (before it
 * reaches them: not seen; after: already seen) between them.
 */
static void
test_waiters_scan_slices(void **state)
{
	struct fixture	  *fx = *state;
	struct scan_result r = { 0 };
	struct filter	   f = { .rcpt_to = "a*" };
	int		   i, passes = 0;

	for (i = 0; i < 20; i++)
		deliver(fx, i % 2 == 0 ? "a@x" : "b@x"); /* 1..20: odd ids match */
	run_idle(fx);
	waiters_set_budget(fx->ws, 100);
	assert_non_null(start_scan(fx, &f, &r));
	assert_int_equal(waiters_count(fx->ws), 0); /* scans are not waiters */
	while (r.calls == 0) {
		assert_int_equal(run_pass(fx), 0);
		passes++;
		if (passes == 2) {
			assert_true(r.nids > 0 && r.nids < 5);
			assert_int_equal(store_delete_id(fx->store, 1), 1);  /* seen */
			assert_int_equal(store_delete_id(fx->store, 15), 1); /* not yet */
			deliver(fx, "a@x");				     /* 21: past it */
		}
	}
	assert_true(passes >= 5);
	assert_int_equal(r.status, WAITERS_OK);
	assert_int_equal(r.nids, 9);
	assert_int_equal(r.matched, 9);
	for (i = 0; i < 9; i++)
		assert_int_equal(r.ids[i], i < 7 ? 2 * i + 1 : 2 * i + 3);
	assert_int_equal(r.freed, 0);

	/* each() may end it early; a cancelled one frees its state */
	memset(&r, 0, sizeof(r));
	r.stop_at = 2;
	start_scan(fx, &f, &r);
	run_idle(fx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.nids, 2);
	memset(&r, 0, sizeof(r));
	waiters_cancel(start_scan(fx, &f, &r));
	run_idle(fx);
	assert_int_equal(r.calls, 0);
	assert_int_equal(r.freed, 1);
	/* finished inline, in the caller's stack */
	memset(&r, 0, sizeof(r));
	waiters_scan_finish(start_scan(fx, &f, &r));
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.matched, 9); /* 3..13, 17, 19, 21 */
	/* shutdown runs scans to their end */
	memset(&r, 0, sizeof(r));
	start_scan(fx, NULL, &r);
	waiters_shutdown(fx->ws);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.matched, 19);
}

/*
 * While a long scan goes on in small slices, a new message still reaches a
 * parked wait in the next pass: new messages come first.
 */
static void
test_waiters_live_first(void **state)
{
	struct fixture	  *fx = *state;
	struct scan_result sr = { 0 };
	struct result	   r = { 0 };
	struct filter	   f = { .rcpt_to = "wanted@*" };
	int		   i;

	for (i = 0; i < 2000; i++)
		store_put(fx->store, msg("other@x"));
	waiters_set_budget(fx->ws, 2000);
	start_scan(fx, NULL, &sr);
	sr.stop_at = 0;
	assert_non_null(waiters_wait(fx->ws, &f, 1, -1, done_cb, &r));
	for (i = 0; i < 3; i++)
		run_pass(fx);
	assert_int_equal(r.calls, 0);
	deliver(fx, "wanted@x");
	run_pass(fx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, WAITERS_OK);
	assert_int_equal(sr.calls, 0); /* still going */
	waiters_set_budget(fx->ws, WAITERS_BUDGET);
	run_idle(fx);
	assert_int_equal(sr.calls, 1);
	assert_int_equal(sr.matched, 2000); /* the last id when it started */
}

/*
 * Hardening issue: waits with count = 2^31 on a full store (every put
 * evicts) hold a bit per stored id, not a list of every match, and count
 * exactly; deletes in the middle are rechecked in slices.
 */
static void
test_waiters_huge_count(void **state)
{
	struct fixture *fx = *state;
	struct store   *small = store_new(1000, 0);
	struct waiters *ws = waiters_new(fx->base, small, 300);
	struct result  *r = xcalloc(200, sizeof(*r));
	int		i;

	for (i = 0; i < 200; i++)
		assert_non_null(waiters_wait(ws, NULL, (size_t)1 << 31, -1, done_cb, &r[i]));
	for (i = 0; i < 20000; i++) {
		store_put(small, msg("a@x"));
		waiters_kick(ws);
		if (i % 100 == 99)
			run_pass(fx);
	}
	run_idle(fx);
	/* 1,000 ids stored: about 16 words each, whatever the count */
	assert_true(waiters_ids_bytes(ws) <= 200 * 64 * sizeof(uint64_t));
	/* gaps: deleted in the middle, rechecked a few ids a pass */
	waiters_set_budget(ws, 64);
	for (i = 0; i < 10; i++)
		assert_int_equal(store_delete_id(small, 19500 + (uint64_t)i), 1);
	waiters_kick(ws);
	assert_true(run_idle(fx) > 100);
	waiters_shutdown(ws);
	for (i = 0; i < 200; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, WAITERS_SHUTDOWN);
		assert_int_equal(r[i].matched, 990);
	}
	waiters_free(ws);
	store_free(small);
	free(r);
}

/* A gap made while a wait counts in slices: it fires only once rechecked. */
static void
test_waiters_gap_recheck(void **state)
{
	struct fixture *fx = *state;
	struct result	r = { 0 };
	struct filter	f = { .rcpt_to = "a@*" };
	int		i;

	for (i = 0; i < 10; i++)
		deliver(fx, "a@x");
	run_idle(fx);
	waiters_set_budget(fx->ws, 150);
	waiters_wait(fx->ws, &f, 12, -1, done_cb, &r);
	run_idle(fx);
	assert_int_equal(r.calls, 0);
	for (i = 3; i <= 5; i++)
		assert_int_equal(store_delete_id(fx->store, (uint64_t)i), 1);
	for (i = 0; i < 4; i++)
		deliver(fx, "a@x"); /* 7 + 4 = 11 */
	run_idle(fx);
	assert_int_equal(r.calls, 0);
	deliver(fx, "a@x");
	run_idle(fx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.matched, 12);
}

/* A timeout while the backlog is still being looked at: matched is exact. */
static void
test_waiters_timeout_backlog(void **state)
{
	struct fixture *fx = *state;
	struct result	r = { .fx = fx };
	struct filter	f = { .rcpt_to = "a@*" };
	int		i;

	for (i = 0; i < 3000; i++)
		store_put(fx->store, msg(i % 10 == 0 ? "a@x" : "b@x"));
	waiters_set_budget(fx->ws, 100);
	waiters_wait(fx->ws, &f, 1000000, 1, timeout_cb, &r);
	event_base_dispatch(fx->base);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, WAITERS_TIMEOUT);
	assert_int_equal(r.matched, 300);
}

struct follow_state {
	uint64_t       ids[16];
	size_t	       n;
	struct waiter *self;
	int	       cancel_at; /* cancels itself in each() at that many */
};

static int
follow_each(void *arg, void *state, struct message *m, uint64_t *cost)
{
	struct follow_state *fs = arg;

	assert_null(state);
	fs->ids[fs->n++] = m->id;
	if (fs->cancel_at != 0 && (int)fs->n == fs->cancel_at)
		waiters_cancel(fs->self);
	return 0;
}

static void
test_waiters_follow(void **state)
{
	struct fixture	   *fx = *state;
	struct follow_state a = { 0 }, b = { .cancel_at = 1 };
	struct filter	    f = { .rcpt_to = "a*" };

	deliver(fx, "a@x"); /* 1 */
	deliver(fx, "a@x"); /* 2 */
	deliver(fx, "b@x"); /* 3 */
	a.self = waiters_follow(fx->ws, &f, 1, follow_each, &a);
	b.self = waiters_follow(fx->ws, &f, 0, follow_each, &b);
	assert_int_equal(waiters_count(fx->ws), 2);
	run_idle(fx);
	assert_int_equal(a.n, 0); /* waits for the first ask */
	waiters_follow_next(a.self);
	waiters_follow_next(b.self);
	run_idle(fx);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.ids[0], 2);
	assert_int_equal(b.n, 1); /* cancelled itself in each() */
	assert_int_equal(waiters_count(fx->ws), 1);
	waiters_follow_next(a.self);
	run_idle(fx);
	assert_int_equal(a.n, 1); /* caught up */
	deliver(fx, "b@x");
	deliver(fx, "a@x"); /* 5 */
	run_idle(fx);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.ids[1], 5);
	waiters_cancel(a.self);
	assert_int_equal(waiters_count(fx->ws), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_waiters_already_satisfied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_satisfied_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_after_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_delete_recount, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_eviction_recount, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_watch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_scan_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_live_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_huge_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_gap_recheck, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_timeout_backlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiters_follow, setup, teardown),
	};

	return cmocka_run_group_tests_name("waiters", tests, NULL, NULL);
}
