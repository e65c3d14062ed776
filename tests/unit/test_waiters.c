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
	struct event_base	*base;
	struct store		*store;
	struct waiters		*ws;
};

struct result {
	int			 calls;
	enum waiters_status	 status;
	size_t			 matched;
	struct fixture		*fx;
	struct waiter		*cancel;	/* cancelled from the callback */
};

static void
done_cb(void *arg, enum waiters_status status, size_t matched)
{
	struct result	*r = arg;

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
	struct fixture	*fx = xcalloc(1, sizeof(*fx));

	fx->base = event_base_new();
	fx->store = store_new(0, 0);
	fx->ws = waiters_new(fx->base, fx->store, 2000);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*fx = *state;

	waiters_free(fx->ws);
	store_free(fx->store);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static struct message *
msg(const char *rcpt)
{
	struct message	*m = message_new();

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
	uint64_t	id = store_put(fx->store, msg(rcpt));

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
	struct fixture	*fx = *state;
	struct result	 r = { 0 };
	struct filter	 f = { .rcpt_to = "a@*" };

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
	struct fixture	*fx = *state;
	struct result	 r = { 0 };
	struct filter	 f = { .rcpt_to = "t1-*" };

	assert_non_null(waiters_wait(fx->ws, &f, 3, 10000, done_cb, &r));
	run_once(fx);
	assert_int_equal(r.calls, 0);
	deliver(fx, "t1-a@x");
	deliver(fx, "t2-a@x");		/* excluded by the filter */
	run_once(fx);
	assert_int_equal(r.calls, 0);
	deliver(fx, "t1-b@x");
	deliver(fx, "t2-b@x");
	run_once(fx);
	assert_int_equal(r.calls, 0);
	deliver(fx, "T1-c@x");
	assert_int_equal(r.calls, 0);	/* not inside the put */
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
	struct fixture	*fx = *state;
	struct result	 r = { 0 };
	struct filter	 f = { 0 };

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
	struct result	*r = arg;

	done_cb(arg, status, matched);
	event_base_loopbreak(r->fx->base);
}

static void
test_waiters_timeout(void **state)
{
	struct fixture	*fx = *state;
	struct result	 r = { .fx = fx };
	struct filter	 f = { .rcpt_to = "a@*" };
	struct timespec	 t0, t1;
	long		 ms;

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
	struct fixture	*fx = *state;
	struct result	 r1 = { 0 }, r2 = { 0 };
	struct waiter	*w1, *w2;

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
	struct fixture	*fx = *state;
	struct result	 r = { 0 };
	struct filter	 f = { .rcpt_to = "a@*" };
	uint64_t	 id1;

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
	struct fixture	*fx = *state;
	struct store	*small = store_new(2, 0);
	struct waiters	*ws = waiters_new(fx->base, small, 10);
	struct result	 r = { 0 };
	struct filter	 f = { .rcpt_to = "a@*" };

	store_put(small, msg("a@x"));
	waiters_wait(ws, &f, 2, -1, done_cb, &r);
	run_once(fx);
	store_put(small, msg("b@x"));
	store_put(small, msg("b@x"));	/* evicts the matching one */
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
	struct fixture	*fx = *state;
	struct result	*r = xcalloc(1000, sizeof(*r));
	struct filter	 f = { .rcpt_to = "wanted@*" };
	char		 rcpt[64];
	int		 i;

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
	struct fixture	*fx = *state;
	struct waiters	*ws = waiters_new(fx->base, fx->store, 2);
	struct result	 r = { 0 };

	assert_non_null(waiters_wait(ws, NULL, 5, -1, done_cb, &r));
	assert_non_null(waiters_wait(ws, NULL, 5, -1, done_cb, &r));
	assert_null(waiters_wait(ws, NULL, 5, -1, done_cb, &r));
	assert_null(waiters_watch(ws, (waiters_watch_fn *)NULL, NULL));
	waiters_free(ws);		/* ends both with SHUTDOWN */
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.status, WAITERS_SHUTDOWN);
}

static void
test_waiters_shutdown(void **state)
{
	struct fixture	*fx = *state;
	struct result	 r1 = { 0 }, r2 = { 0 };

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
	int		 calls;
	uint64_t	 cursor;
	size_t		 seen;
	struct waiter	*self;
	int		 cancel_at;	/* cancels itself on that call */
};

static struct store	*watch_store;

static void
watch_pull_cb(void *arg)
{
	struct watch_state	*w = arg;
	struct message		*m;

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
	struct fixture		*fx = *state;
	struct watch_state	 a = { 0 }, b = { .cancel_at = 1 };

	watch_store = fx->store;
	deliver(fx, "old@x");
	run_once(fx);
	a.cursor = b.cursor = store_last_id(fx->store);
	a.self = waiters_watch(fx->ws, watch_pull_cb, &a);
	b.self = waiters_watch(fx->ws, watch_pull_cb, &b);
	assert_non_null(a.self);
	run_once(fx);
	assert_int_equal(a.calls, 0);		/* nothing new yet */
	deliver(fx, "n1@x");
	deliver(fx, "n2@x");
	assert_int_equal(a.calls, 0);
	run_once(fx);
	assert_int_equal(a.calls, 1);		/* one call per batch */
	assert_int_equal(a.seen, 2);
	assert_int_equal(b.calls, 1);		/* cancelled itself */
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
	};

	return cmocka_run_group_tests_name("waiters", tests, NULL, NULL);
}
