/*
 * test_store - ids, lookups, cursors (both ways, pages from the newest),
 * eviction by count and bytes, deletes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "match.h"
#include "message.h"
#include "mime.h"
#include "store.h"
#include "xmalloc.h"

static struct message *
msg(const char *from, const char *rcpt, size_t size)
{
	struct message *m = message_new();

	m->peer = xstrdup("127.0.0.1:1");
	m->helo = xstrdup("h");
	m->mail_from = xstrdup(from);
	m->nrcpts = 1;
	m->rcpts = xcalloc(1, sizeof(*m->rcpts));
	m->rcpts[0].addr = xstrdup(rcpt);
	m->data = xcalloc(1, size + 1);
	memset(m->data, 'x', size);
	m->size = size;
	return m;
}

static void
test_store_ids_monotonic(void **state)
{
	struct store   *st = store_new(0, 0);
	struct message *m;
	uint64_t	id;

	assert_int_equal(store_last_id(st), 0);
	assert_null(store_first(st));
	for (id = 1; id <= 5; id++) {
		m = msg("a@x", "b@y", 10);
		assert_int_equal(store_put(st, m), id);
		assert_int_equal(m->id, id);
	}
	assert_int_equal(store_count(st), 5);
	assert_int_equal(store_delete(st, NULL), 5);
	assert_int_equal(store_count(st), 0);
	assert_int_equal(store_bytes(st), 0);
	assert_int_equal(store_last_id(st), 5);
	/* never reused after a clear */
	assert_int_equal(store_put(st, msg("a@x", "b@y", 10)), 6);
	assert_non_null(store_get(st, 6));
	assert_null(store_get(st, 1));
	store_free(st);
}

static void
test_store_get_order_delete(void **state)
{
	struct store   *st = store_new(0, 0);
	struct message *m;
	uint64_t	want, gen;
	int		i;

	for (i = 0; i < 10; i++)
		store_put(st, msg("a@x", "b@y", 1));
	for (want = 1, m = store_first(st); m != NULL; m = store_next(st, m), want++)
		assert_int_equal(m->id, want);
	assert_int_equal(want, 11);

	gen = store_generation(st);
	assert_int_equal(store_delete_id(st, 4), 1);
	assert_true(store_generation(st) > gen);
	assert_int_equal(store_delete_id(st, 4), 0);
	assert_null(store_get(st, 4));
	assert_null(store_get(st, 0));
	assert_null(store_get(st, 11));
	assert_int_equal(store_get(st, 5)->id, 5);
	assert_int_equal(store_count(st), 9);
	/* cursors across the gap */
	assert_int_equal(store_after(st, 3)->id, 5);
	assert_int_equal(store_after(st, 4)->id, 5);
	assert_int_equal(store_after(st, 0)->id, 1);
	assert_null(store_after(st, 10));
	assert_null(store_after(st, 1000));
	/* first and last */
	assert_int_equal(store_delete_id(st, 1), 1);
	assert_int_equal(store_delete_id(st, 10), 1);
	assert_int_equal(store_first(st)->id, 2);
	assert_null(store_after(st, 9));
	assert_int_equal(store_after(st, 8)->id, 9);
	store_free(st);
}

/* A wide gap of deleted ids: the walk must still find the next one. */
static void
test_store_after_wide_gap(void **state)
{
	struct store *st = store_new(0, 0);
	uint64_t      id;

	for (id = 1; id <= 1000; id++)
		store_put(st, msg("a@x", "b@y", 1));
	for (id = 100; id <= 899; id++)
		assert_int_equal(store_delete_id(st, id), 1);
	assert_int_equal(store_after(st, 99)->id, 900);
	assert_int_equal(store_after(st, 150)->id, 900); /* walk from the head */
	assert_int_equal(store_after(st, 850)->id, 900); /* walk from the tail */
	assert_int_equal(store_after(st, 98)->id, 99);
	assert_int_equal(store_after(st, 900)->id, 901);
	store_free(st);
}

/* Pages counted from the newest: by id while dense, by a bounded walk after a gap */
static void
test_store_newest_nth(void **state)
{
	struct store   *st = store_new(8, 0);
	struct message *m;
	uint64_t	id;

	assert_null(store_last(st));
	assert_null(store_newest_nth(st, 0, 100));
	for (id = 1; id <= 12; id++) /* 1..4 evicted: dense 5..12 */
		store_put(st, msg("a@x", "b@y", 1));
	assert_int_equal(store_last(st)->id, 12);
	assert_int_equal(store_prev(st, store_last(st))->id, 11);
	assert_null(store_prev(st, store_first(st)));
	assert_int_equal(store_newest_nth(st, 0, 0)->id, 12);
	assert_int_equal(store_newest_nth(st, 7, 0)->id, 5); /* by id: no walk needed */
	assert_null(store_newest_nth(st, 8, 100));
	assert_int_equal(store_delete_id(st, 10), 1); /* a gap: 5..9, 11, 12 */
	assert_int_equal(store_newest_nth(st, 1, 100)->id, 11);
	assert_int_equal(store_newest_nth(st, 2, 100)->id, 9);
	assert_int_equal(store_newest_nth(st, 6, 100)->id, 5);
	assert_null(store_newest_nth(st, 7, 100));
	assert_null(store_newest_nth(st, 3, 2)); /* beyond max_walk: the caller's to slice */
	assert_int_equal(store_newest_nth(st, 2, 2)->id, 9);
	for (m = store_last(st), id = 0; m != NULL; m = store_prev(st, m))
		id++;
	assert_int_equal(id, 7);
	store_free(st);
}

static void
test_store_evict_by_count(void **state)
{
	struct store *st = store_new(3, 0);
	uint64_t      gen;
	int	      i;

	for (i = 0; i < 3; i++)
		store_put(st, msg("a@x", "b@y", 1));
	gen = store_generation(st);
	assert_int_equal(store_evicted(st), 0);
	store_put(st, msg("a@x", "b@y", 1));
	store_put(st, msg("a@x", "b@y", 1));
	assert_int_equal(store_count(st), 3);
	assert_int_equal(store_evicted(st), 2);
	assert_true(store_generation(st) > gen);
	assert_null(store_get(st, 1));
	assert_null(store_get(st, 2));
	assert_int_equal(store_first(st)->id, 3);
	assert_int_equal(store_last_id(st), 5);
	store_free(st);
}

static void
test_store_evict_by_bytes(void **state)
{
	struct message *probe = msg("a@x", "b@y", 1000);
	size_t		fp = message_footprint(probe);
	struct store   *st = store_new(0, 3 * fp);
	uint64_t	id;

	message_free(probe);
	for (id = 1; id <= 3; id++)
		store_put(st, msg("a@x", "b@y", 1000));
	assert_int_equal(store_count(st), 3);
	assert_int_equal(store_bytes(st), 3 * fp);
	assert_int_equal(store_evicted(st), 0);
	store_put(st, msg("a@x", "b@y", 1000));
	assert_int_equal(store_count(st), 3);
	assert_int_equal(store_bytes(st), 3 * fp);
	assert_int_equal(store_evicted(st), 1);
	assert_null(store_get(st, 1));

	/* Bigger than max_bytes on its own: stored alone, the rest evicted */
	id = store_put(st, msg("a@x", "b@y", 10 * fp));
	assert_int_equal(store_count(st), 1);
	assert_int_equal(store_evicted(st), 4);
	assert_int_equal(store_first(st)->id, id);
	assert_true(store_bytes(st) > 3 * fp);
	/* the next put evicts it */
	store_put(st, msg("a@x", "b@y", 1000));
	assert_int_equal(store_count(st), 1);
	assert_int_equal(store_bytes(st), fp);
	assert_int_equal(store_evicted(st), 5);
	store_free(st);
}

static void
test_store_filters(void **state)
{
	struct store   *st = store_new(0, 0);
	struct filter	f = { 0 };
	struct message *m;
	uint64_t	gen;

	store_put(st, msg("alice@a.test", "t1-x@b.test", 1)); /* 1 */
	store_put(st, msg("bob@a.test", "t2-x@b.test", 1));   /* 2 */
	store_put(st, msg("alice@a.test", "t2-y@b.test", 1)); /* 3 */
	store_put(st, msg("carol@c.test", "t1-z@b.test", 1)); /* 4 */

	f.rcpt_to = "t2-*";
	assert_int_equal(store_count_match(st, &f), 2);
	m = store_next_match(st, &f, 0);
	assert_int_equal(m->id, 2);
	m = store_next_match(st, &f, m->id);
	assert_int_equal(m->id, 3);
	assert_null(store_next_match(st, &f, m->id));
	f.after_id = 2;
	assert_int_equal(store_count_match(st, &f), 1);
	assert_int_equal(store_next_match(st, &f, 0)->id, 3);
	assert_int_equal(store_count_match(st, NULL), 4);
	assert_int_equal(store_next_match(st, NULL, 2)->id, 3);

	/* a cursor: examined is the last id looked at, match or not */
	f.after_id = 0;
	f.rcpt_to = "t1-*";
	gen = 99;
	m = store_scan_match(st, &f, 1, &gen);
	assert_int_equal(m->id, 4);
	assert_int_equal(gen, 4);
	f.rcpt_to = "nobody";
	gen = 0;
	assert_null(store_scan_match(st, &f, 1, &gen));
	assert_int_equal(gen, 4); /* 2..4 looked at */
	gen = 7;
	assert_null(store_scan_match(st, &f, 4, &gen));
	assert_int_equal(gen, 7); /* none looked at */
	assert_null(store_scan_match(st, &f, 0, NULL));

	memset(&f, 0, sizeof(f));
	f.mail_from = "ALICE@*";
	gen = store_generation(st);
	assert_int_equal(store_delete(st, &f), 2);
	assert_true(store_generation(st) > gen);
	assert_int_equal(store_count(st), 2);
	assert_null(store_get(st, 1));
	assert_null(store_get(st, 3));
	assert_int_equal(store_delete(st, &f), 0);

	/* after_id limits a delete */
	memset(&f, 0, sizeof(f));
	f.after_id = 2;
	assert_int_equal(store_delete(st, &f), 1);
	assert_non_null(store_get(st, 2));
	assert_null(store_get(st, 4));
	store_free(st);
}

/* 100k messages: put, hash growth, list with a selective filter, clear. */
static void
test_store_many(void **state)
{
	struct store   *st = store_new(0, 0);
	struct filter	f = { 0 };
	struct message *m;
	char		rcpt[64];
	uint64_t	id;
	size_t		n;

	for (id = 1; id <= 100000; id++) {
		snprintf(rcpt, sizeof(rcpt), "user%llu@test%llu.example", (unsigned long long)id,
		    (unsigned long long)(id % 1000));
		assert_int_equal(store_put(st, msg("sender@x", rcpt, 64)), id);
	}
	assert_int_equal(store_count(st), 100000);
	for (id = 1; id <= 100000; id += 997)
		assert_int_equal(store_get(st, id)->id, id);
	f.rcpt_to = "*@test7.example";
	for (n = 0, m = store_next_match(st, &f, 0); m != NULL; m = store_next_match(st, &f, m->id))
		n++;
	assert_int_equal(n, 100);
	assert_int_equal(store_count_match(st, &f), 100);
	assert_int_equal(store_delete(st, &f), 100);
	assert_int_equal(store_count(st), 99900);
	assert_int_equal(store_delete(st, NULL), 99900);
	assert_int_equal(store_put(st, msg("a@x", "b@y", 1)), 100001);
	store_free(st);
	store_free(NULL);
}

/* A message whose body is `body` (a text/plain message) */
static struct message *
msg_body(const char *rcpt, const char *body)
{
	struct message *m = msg("a@x", rcpt, 0);

	free(m->data);
	xasprintf(&m->data, "Subject: t\r\n\r\n%s\r\n", body);
	m->size = strlen(m->data);
	return m;
}

/*
 * A scan in slices of a tiny budget, with messages stored, deleted and
 * evicted between the slices: it sees the ids up to its ceiling that are
 * still stored when it reaches them, each once, in id order.
 */
static void
test_store_scan_slices(void **state)
{
	struct store	   *st = store_new(8, 0);
	struct filter	    f = { .rcpt_to = "t1-*", .body = "*needle*" };
	struct match_query *q = match_query_new(&f);
	struct store_scan   sc;
	struct message	   *m;
	enum store_scan_rc  rc;
	uint64_t	    seen[16];
	size_t		    nseen = 0, steps = 0, pauses = 0;
	int64_t		    budget;

	store_put(st, msg_body("t1-a@x", "a needle"));	  /* 1 */
	store_put(st, msg_body("t2-a@x", "a needle"));	  /* 2: rcpt differs */
	store_put(st, msg_body("t1-b@x", "no"));	  /* 3: body differs */
	store_put(st, msg_body("t1-c@x", "needle here")); /* 4: deleted before reached */
	store_put(st, msg_body("t1-d@x", "needle"));	  /* 5 */
	store_put(st, msg_body("t1-e@x", "the needle"));  /* 6 */
	store_scan_init(&sc, q, 0, store_last_id(st));
	for (;;) {
		budget = 40; /* less than one message: it pauses part-way */
		rc = store_scan_step(st, &sc, &budget, budget, &m);
		steps++;
		if (rc == STORE_SCAN_END)
			break;
		if (rc == STORE_SCAN_PAUSE)
			pauses++;
		if (rc == STORE_SCAN_MATCH) {
			assert_true(nseen < 16);
			seen[nseen++] = m->id;
		}
		if (steps == 2) {
			assert_int_equal(store_delete_id(st, 4), 1);
			store_put(st, msg_body("t1-f@x", "needle")); /* 7: past the ceiling */
		}
		if (sc.current == 5 && store_get(st, 6) != NULL) {
			/* 5 is part-way: delete it under the scan */
			assert_int_equal(store_delete_id(st, 5), 1);
			assert_int_equal(store_delete_id(st, 6), 1);
			store_put(st, msg_body("t1-g@x", "needle")); /* 8 */
		}
		assert_true(steps < 1000);
	}
	assert_true(pauses > 3);
	assert_int_equal(nseen, 1);
	assert_int_equal(seen[0], 1);
	assert_int_equal(sc.cursor, 6);
	store_scan_clear(&sc);

	/* Following the newest: 7 and 8 too; the cursor ends at the last id */
	store_scan_init(&sc, q, 1, STORE_SCAN_NEWEST);
	for (nseen = 0; (rc = store_scan_step(st, &sc, &(int64_t){ INT64_MAX }, INT64_MAX, &m)) !=
	     STORE_SCAN_END;)
		if (rc == STORE_SCAN_MATCH)
			seen[nseen++] = m->id;
	assert_int_equal(nseen, 2);
	assert_int_equal(seen[0], 7);
	assert_int_equal(seen[1], 8);
	assert_int_equal(sc.cursor, store_last_id(st));
	store_delete_id(st, 8);
	assert_int_equal(store_scan_step(st, &sc, &(int64_t){ INT64_MAX }, INT64_MAX, &m),
	    STORE_SCAN_END);
	assert_int_equal(sc.cursor, 8);
	store_scan_clear(&sc);
	match_query_free(q);
	store_free(st);
}

/* Deleting the oldest is no gap; deleting any other is. */
static void
test_store_gaps(void **state)
{
	struct store *st = store_new(3, 0);
	uint64_t      gaps;
	int	      i;

	for (i = 0; i < 5; i++)
		store_put(st, msg("a@x", "b@y", 1)); /* 1, 2 evicted */
	gaps = store_gaps(st);
	assert_int_equal(gaps, 0);
	assert_int_equal(store_delete_id(st, 3), 1); /* the oldest */
	assert_int_equal(store_gaps(st), gaps);
	assert_int_equal(store_delete_id(st, 5), 1); /* not the oldest */
	assert_int_equal(store_gaps(st), gaps + 1);
	store_free(st);
}

/* Bodies are decoded once, kept within the bound, dropped with their message. */
static void
test_store_body_cache(void **state)
{
	struct store	       *st = store_new(0, 0);
	struct message	       *m1, *m2, *m3;
	const struct mime_body *b;
	char		       *big = xmalloc(100001);
	int64_t			budget = 0, cost;
	size_t			fp1, fp2, fp3;

	memset(big, 'z', 100000);
	big[100000] = '\0';
	store_put(st, m1 = msg_body("a@x", "one"));
	store_put(st, m2 = msg_body("b@x", big));
	store_put(st, m3 = msg_body("c@x", "three"));
	assert_int_equal(store_cache_bytes(st), 0);
	b = store_body(st, m1, &budget);
	assert_string_equal(b->text, "one\r\n");
	cost = -budget;
	assert_true(cost >= (int64_t)m1->size);
	assert_true(store_cache_bytes(st) > 0);
	budget = 0;
	assert_ptr_equal(store_body(st, m1, &budget), b); /* cached: no parse */
	assert_true(-budget < cost);
	/* a bound below the big body: it is kept alone, the others dropped */
	store_set_cache_max(st, 50000);
	store_body(st, m3, &budget);
	b = store_body(st, m2, &budget);
	assert_int_equal(strlen(b->text), 100002);
	assert_true(store_cache_bytes(st) > 100000 && store_cache_bytes(st) < 101000);
	/* least recently used first */
	store_set_cache_max(st, 1 << 20);
	fp1 = mime_body_footprint(store_body(st, m1, &budget));
	fp3 = mime_body_footprint(store_body(st, m3, &budget));
	fp2 = mime_body_footprint(store_body(st, m2, &budget));
	assert_int_equal(store_cache_bytes(st), fp1 + fp2 + fp3);
	store_set_cache_max(st, fp2 + fp3);
	assert_int_equal(store_cache_bytes(st), fp2 + fp3);
	/* a delete drops its body */
	assert_int_equal(store_delete_id(st, m2->id), 1);
	assert_int_equal(store_cache_bytes(st), fp3);
	assert_int_equal(store_delete(st, NULL), 2);
	assert_int_equal(store_cache_bytes(st), 0);
	store_put(st, m1 = msg_body("a@x", "one"));
	store_body(st, m1, &budget);
	store_free(st); /* frees the cached body too (ASan) */
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_ids_monotonic),
		cmocka_unit_test(test_store_get_order_delete),
		cmocka_unit_test(test_store_after_wide_gap),
		cmocka_unit_test(test_store_newest_nth),
		cmocka_unit_test(test_store_evict_by_count),
		cmocka_unit_test(test_store_evict_by_bytes),
		cmocka_unit_test(test_store_filters),
		cmocka_unit_test(test_store_many),
		cmocka_unit_test(test_store_scan_slices),
		cmocka_unit_test(test_store_gaps),
		cmocka_unit_test(test_store_body_cache),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
