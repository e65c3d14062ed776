/*
 * store - the in-memory message store, owned by the loop thread.
 *
 * Layout: a doubly linked list in arrival order (which is id order, since ids
 * only grow) plus a chained hash on the id (buckets = power of two, index =
 * id & mask: ids are consecutive, so they spread perfectly). put is O(1)
 * amortised, get and delete-by-id O(1), eviction pops the list head.
 *
 * Cursors: store_after(after_id) is the workhorse of listings, waits and
 * watches. The common cursor is an id we handed out earlier, so it first looks
 * the cursor up in the hash (hit: its successor), then probes a few ids past
 * it, and only then walks the list from the nearer end. store_newest_nth()
 * finds a page counted from the newest (Mailpit's listing) the same way: by
 * id while the ids are dense, else by a bounded walk.
 *
 * Limits: max_messages / max_bytes of 0 mean "no limit". Past a limit the
 * oldest messages are evicted (counted in store_evicted()). A message larger
 * than max_bytes on its own is still stored, alone, after everything else was
 * evicted: the SMTP side already enforces message_size_max, and refusing a
 * message we acknowledged with 250 would break "250 means stored".
 * Bytes are message_footprint() at put time, remembered in st_footprint, so
 * the total stays consistent however the message's MIME cache grows.
 *
 * Scans (store_scan_step): a cursor id, a ceiling id and a match_run. Each
 * step looks up the message after the cursor (store_after, O(1) in the usual
 * case) or the one a PAUSE left part-way (by id: if it was deleted meanwhile
 * the scan goes on after it), and runs the compiled filter on it within the
 * caller's budget. Nothing but ids is held between steps.
 *
 * Body cache. Body filters (and listings) need the decoded text/HTML, which
 * costs about a pass over the raw bytes (more with a charset to convert).
 * store_body() keeps what it decoded on the message (st_body), in a list by
 * last use, bounded by cache_max: a quarter of max_bytes, 64 MiB without
 * one. This is a separate bound, on top of max_bytes, rather than a share of
 * it: a store full of messages still caches, and caching never evicts a
 * message (a query must not change what is stored). Beyond the bound the
 * least recently used bodies are dropped; a body larger than the bound is
 * kept alone (like a message larger than max_bytes), so a scan paused
 * part-way through a huge body finds it again. store_cache_bytes() counts
 * it; a message's cached body goes with the message.
 *
 * Gaps: deleting the oldest message (eviction, a clear in id order) leaves
 * the stored ids a suffix of what they were; deleting any other one makes a
 * gap. store_gaps() counts the latter, so the waiters' sets of matching ids
 * recheck their members only after a gap and otherwise just drop the ids
 * below the oldest stored one.
 */
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "message.h"
#include "mime.h"
#include "store.h"
#include "xmalloc.h"

#define STORE_HASH_MIN	    1024
#define STORE_PROBE_MAX	    8		/* ids tried past a missing cursor */
#define STORE_CACHE_DEFAULT (64u << 20) /* body cache without max_bytes */
#define STORE_COST_MESSAGE  64		/* work units: a message looked at by a scan */
#define STORE_COST_CACHED   16		/* a cached body handed out */

struct store {
	struct message **buckets;
	size_t		 nbuckets;    /* power of two */
	struct message	*head, *tail; /* oldest, newest */
	size_t		 count;
	size_t		 bytes;
	size_t		 max_messages; /* 0: unlimited */
	size_t		 max_bytes;    /* 0: unlimited */
	uint64_t	 last_id;
	uint64_t	 evicted;
	uint64_t	 generation;
	uint64_t	 gaps;
	TAILQ_HEAD(, message) lru; /* cached bodies, oldest use first */
	size_t cache_bytes;
	size_t cache_max;
};

static void store_unlink(struct store *, struct message *);
static void store_uncache(struct store *, struct message *);

struct store *
store_new(size_t max_messages, size_t max_bytes)
{
	struct store *st = xcalloc(1, sizeof(*st));

	st->nbuckets = STORE_HASH_MIN;
	st->buckets = xcalloc(st->nbuckets, sizeof(*st->buckets));
	st->max_messages = max_messages;
	st->max_bytes = max_bytes;
	st->cache_max = max_bytes != 0 ? max_bytes / 4 : STORE_CACHE_DEFAULT;
	TAILQ_INIT(&st->lru);
	return st;
}

void
store_free(struct store *st)
{
	struct message *m, *next;

	if (st == NULL)
		return;
	for (m = st->head; m != NULL; m = next) {
		next = m->st_next;
		store_uncache(st, m);
		message_free(m);
	}
	free(st->buckets);
	free(st);
}

static void
store_rehash(struct store *st, size_t nbuckets)
{
	struct message **b = xcalloc(nbuckets, sizeof(*b)), *m;
	size_t		 i;

	for (m = st->head; m != NULL; m = m->st_next) {
		i = m->id & (nbuckets - 1);
		m->st_hnext = b[i];
		b[i] = m;
	}
	free(st->buckets);
	st->buckets = b;
	st->nbuckets = nbuckets;
}

static void
store_evict_oldest(struct store *st)
{
	struct message *m = st->head;

	store_unlink(st, m);
	message_free(m);
	st->evicted++;
	st->generation++;
}

uint64_t
store_put(struct store *st, struct message *m)
{
	size_t fp = message_footprint(m), i;

	while (st->count > 0 &&
	    ((st->max_messages != 0 && st->count >= st->max_messages) ||
		(st->max_bytes != 0 && st->bytes + fp > st->max_bytes)))
		store_evict_oldest(st);

	m->id = ++st->last_id;
	m->st_footprint = fp;
	m->st_next = NULL;
	m->st_prev = st->tail;
	if (st->tail != NULL)
		st->tail->st_next = m;
	else
		st->head = m;
	st->tail = m;
	if (st->count + 1 > st->nbuckets)
		store_rehash(st, st->nbuckets * 2);
	i = m->id & (st->nbuckets - 1);
	m->st_hnext = st->buckets[i];
	st->buckets[i] = m;
	st->count++;
	st->bytes += fp;
	return m->id;
}

struct message *
store_get(struct store *st, uint64_t id)
{
	struct message *m;

	if (id == 0 || id > st->last_id)
		return NULL;
	for (m = st->buckets[id & (st->nbuckets - 1)]; m != NULL; m = m->st_hnext)
		if (m->id == id)
			return m;
	return NULL;
}

/* Removes m from the list and the hash; does not free it. */
static void
store_unlink(struct store *st, struct message *m)
{
	struct message **pp;

	if (m != st->head)
		st->gaps++;
	store_uncache(st, m);
	for (pp = &st->buckets[m->id & (st->nbuckets - 1)]; *pp != NULL; pp = &(*pp)->st_hnext)
		if (*pp == m) {
			*pp = m->st_hnext;
			break;
		}
	if (m->st_prev != NULL)
		m->st_prev->st_next = m->st_next;
	else
		st->head = m->st_next;
	if (m->st_next != NULL)
		m->st_next->st_prev = m->st_prev;
	else
		st->tail = m->st_prev;
	m->st_prev = m->st_next = m->st_hnext = NULL;
	st->count--;
	st->bytes -= m->st_footprint;
}

struct message *
store_first(struct store *st)
{
	return st->head;
}

struct message *
store_next(struct store *st, struct message *m)
{
	return m == NULL ? NULL : m->st_next;
}

struct message *
store_last(struct store *st)
{
	return st->tail;
}

struct message *
store_prev(struct store *st, struct message *m)
{
	return m == NULL ? NULL : m->st_prev;
}

struct message *
store_newest_nth(struct store *st, size_t n, size_t max_walk)
{
	struct message *m;

	if (n >= st->count)
		return NULL;
	if (st->count == st->tail->id - st->head->id + 1) /* dense: the ids are positions */
		return store_get(st, st->tail->id - n);
	if (n > max_walk)
		return NULL;
	for (m = st->tail; n > 0; n--)
		m = m->st_prev;
	return m;
}

struct message *
store_after(struct store *st, uint64_t after_id)
{
	struct message *m;
	uint64_t	id;

	if (st->head == NULL || after_id >= st->tail->id)
		return NULL;
	if (after_id < st->head->id)
		return st->head;
	/* The cursor itself is usually still stored */
	if ((m = store_get(st, after_id)) != NULL)
		return m->st_next;
	for (id = after_id + 1; id <= after_id + STORE_PROBE_MAX; id++)
		if ((m = store_get(st, id)) != NULL)
			return m;
	/* A gap left by deletes: walk from the nearer end (by id distance) */
	if (after_id - st->head->id < st->tail->id - after_id) {
		for (m = st->head; m != NULL && m->id <= after_id; m = m->st_next)
			;
		return m;
	}
	for (m = st->tail; m->st_prev != NULL && m->st_prev->id > after_id; m = m->st_prev)
		;
	return m;
}

/* ---- the body cache ------------------------------------------------------ */

/* Drops m's cached bodies, if any. */
static void
store_uncache(struct store *st, struct message *m)
{
	if (m->st_body == NULL)
		return;
	TAILQ_REMOVE(&st->lru, m, st_lru);
	st->cache_bytes -= m->st_body_bytes;
	mime_body_free(m->st_body);
	m->st_body = NULL;
	m->st_body_bytes = 0;
}

const struct mime_body *
store_body(struct store *st, struct message *m, int64_t *budget)
{
	struct mime_body *b;
	size_t		  bytes;

	if (m->st_body != NULL) {
		/* most recently used: to the tail */
		TAILQ_REMOVE(&st->lru, m, st_lru);
		TAILQ_INSERT_TAIL(&st->lru, m, st_lru);
		*budget -= STORE_COST_CACHED;
		return m->st_body;
	}
	b = mime_body_parse(m, 0);
	*budget -= 2 * (int64_t)m->size +
	    STORE_COST_CACHED; /* a pass to decode, one to check UTF-8 */
	bytes = mime_body_footprint(b);
	while (!TAILQ_EMPTY(&st->lru) && st->cache_bytes + bytes > st->cache_max)
		store_uncache(st, TAILQ_FIRST(&st->lru));
	m->st_body = b;
	m->st_body_bytes = bytes;
	st->cache_bytes += bytes;
	TAILQ_INSERT_TAIL(&st->lru, m, st_lru);
	return b;
}

static const struct mime_body *
store_body_get(void *arg, struct message *m, int64_t *budget)
{
	return store_body(arg, m, budget);
}

size_t
store_cache_bytes(const struct store *st)
{
	return st->cache_bytes;
}

void
store_set_cache_max(struct store *st, size_t max)
{
	st->cache_max = max;
	while (!TAILQ_EMPTY(&st->lru) && st->cache_bytes > st->cache_max)
		store_uncache(st, TAILQ_FIRST(&st->lru));
}

/* ---- scans ---------------------------------------------------------------- */

void
store_scan_init(struct store_scan *sc, const struct match_query *q, uint64_t after_id,
    uint64_t ceiling)
{
	memset(sc, 0, sizeof(*sc));
	sc->q = q;
	sc->cursor = after_id;
	if (q != NULL && match_query_after_id(q) > sc->cursor)
		sc->cursor = match_query_after_id(q);
	sc->ceiling = ceiling;
}

void
store_scan_clear(struct store_scan *sc)
{
	match_run_clear(&sc->run);
	sc->current = 0;
}

enum store_scan_rc
store_scan_step(struct store *st, struct store_scan *sc, int64_t *budget, int64_t floor,
    struct message **match)
{
	struct match_bodies bodies = { store_body_get, st };
	struct message	   *m = NULL;
	uint64_t	    top;
	int		    rc;

	if (sc->current != 0 && (m = store_get(st, sc->current)) == NULL) {
		/* deleted part-way through: on with the next one */
		sc->cursor = sc->current;
		store_scan_clear(sc);
	}
	if (m == NULL)
		m = store_after(st, sc->cursor);
	for (;;) {
		if (sc->current == 0) {
			if (m == NULL || m->id > sc->ceiling) {
				/* what was deleted up to there is passed too */
				top = st->last_id < sc->ceiling ? st->last_id : sc->ceiling;
				if (top > sc->cursor)
					sc->cursor = top;
				return STORE_SCAN_END;
			}
			*budget -= STORE_COST_MESSAGE;
			sc->current = m->id;
		}
		rc = sc->q != NULL ? match_query_run(sc->q, &sc->run, m, &bodies, budget) : 1;
		if (rc == -1)
			return STORE_SCAN_PAUSE;
		sc->cursor = sc->examined = m->id;
		sc->current = 0;
		if (rc == 1) {
			*match = m;
			return STORE_SCAN_MATCH;
		}
		if (*budget <= floor)
			return STORE_SCAN_MISS;
		/* nothing ran that could change the list since store_after() */
		m = m->st_next;
	}
}

/*
 * The next match of q past after_id, without a budget; *examined (unless
 * NULL) gets the last id looked at, when one was.
 */
static struct message *
store_find(struct store *st, const struct match_query *q, uint64_t after_id, uint64_t *examined)
{
	struct store_scan  sc;
	struct message	  *m = NULL;
	int64_t		   budget = INT64_MAX;
	enum store_scan_rc rc;

	store_scan_init(&sc, q, after_id, STORE_SCAN_NEWEST);
	rc = store_scan_step(st, &sc, &budget, INT64_MIN, &m);
	if (sc.examined != 0 && examined != NULL)
		*examined = sc.examined;
	store_scan_clear(&sc);
	return rc == STORE_SCAN_MATCH ? m : NULL;
}

struct message *
store_scan_match(struct store *st, const struct filter *f, uint64_t after_id, uint64_t *examined)
{
	struct match_query *q = match_query_new(f);
	struct message	   *m;

	m = store_find(st, q, after_id, examined);
	match_query_free(q);
	return m;
}

struct message *
store_next_match(struct store *st, const struct filter *f, uint64_t after_id)
{
	return store_scan_match(st, f, after_id, NULL);
}

size_t
store_count_match(struct store *st, const struct filter *f)
{
	struct match_query *q;
	struct message	   *m;
	size_t		    n = 0;

	if (f == NULL || match_filter_is_empty(f))
		return st->count;
	q = match_query_new(f);
	for (m = store_find(st, q, 0, NULL); m != NULL; m = store_find(st, q, m->id, NULL))
		n++;
	match_query_free(q);
	return n;
}

size_t
store_delete(struct store *st, const struct filter *f)
{
	struct match_query *q;
	struct message	   *m, *next;
	uint64_t	    id;
	size_t		    n = 0;

	if (f == NULL || match_filter_is_empty(f)) {
		n = st->count;
		for (m = st->head; m != NULL; m = next) {
			next = m->st_next;
			store_uncache(st, m);
			message_free(m);
		}
		st->head = st->tail = NULL;
		st->count = 0;
		st->bytes = 0;
		if (st->nbuckets != STORE_HASH_MIN) {
			free(st->buckets);
			st->nbuckets = STORE_HASH_MIN;
			st->buckets = xcalloc(st->nbuckets, sizeof(*st->buckets));
		} else
			memset(st->buckets, 0, st->nbuckets * sizeof(*st->buckets));
	} else {
		q = match_query_new(f);
		for (m = store_find(st, q, 0, NULL); m != NULL; m = store_find(st, q, id, NULL)) {
			id = m->id;
			store_unlink(st, m);
			message_free(m);
			n++;
		}
		match_query_free(q);
	}
	if (n > 0)
		st->generation++;
	return n;
}

int
store_delete_id(struct store *st, uint64_t id)
{
	struct message *m;

	if ((m = store_get(st, id)) == NULL)
		return 0;
	store_unlink(st, m);
	message_free(m);
	st->generation++;
	return 1;
}

uint64_t
store_last_id(const struct store *st)
{
	return st->last_id;
}

size_t
store_count(const struct store *st)
{
	return st->count;
}

size_t
store_bytes(const struct store *st)
{
	return st->bytes;
}

uint64_t
store_evicted(const struct store *st)
{
	return st->evicted;
}

uint64_t
store_generation(const struct store *st)
{
	return st->generation;
}

int
store_has_room(const struct store *st, size_t footprint)
{
	if (st->count == 0)
		return 1;
	if (st->max_messages != 0 && st->count >= st->max_messages)
		return 0;
	return st->max_bytes == 0 || st->bytes + footprint <= st->max_bytes;
}

uint64_t
store_gaps(const struct store *st)
{
	return st->gaps;
}
