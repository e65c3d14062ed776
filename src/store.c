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
 * it, and only then walks the list from the nearer end.
 *
 * Limits: max_messages / max_bytes of 0 mean "no limit". Past a limit the
 * oldest messages are evicted (counted in store_evicted()). A message larger
 * than max_bytes on its own is still stored, alone, after everything else was
 * evicted: the SMTP side already enforces message_size_max, and refusing a
 * message we acknowledged with 250 would break "250 means stored".
 * Bytes are message_footprint() at put time, remembered in st_footprint, so
 * the total stays consistent however the message's MIME cache grows.
 */
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "message.h"
#include "store.h"
#include "xmalloc.h"

#define STORE_HASH_MIN		1024
#define STORE_PROBE_MAX		8	/* ids tried past a missing cursor */

struct store {
	struct message	**buckets;
	size_t		  nbuckets;	/* power of two */
	struct message	 *head, *tail;	/* oldest, newest */
	size_t		  count;
	size_t		  bytes;
	size_t		  max_messages;	/* 0: unlimited */
	size_t		  max_bytes;	/* 0: unlimited */
	uint64_t	  last_id;
	uint64_t	  evicted;
	uint64_t	  generation;
};

static void	store_unlink(struct store *, struct message *);

struct store *
store_new(size_t max_messages, size_t max_bytes)
{
	struct store	*st = xcalloc(1, sizeof(*st));

	st->nbuckets = STORE_HASH_MIN;
	st->buckets = xcalloc(st->nbuckets, sizeof(*st->buckets));
	st->max_messages = max_messages;
	st->max_bytes = max_bytes;
	return st;
}

void
store_free(struct store *st)
{
	struct message	*m, *next;

	if (st == NULL)
		return;
	for (m = st->head; m != NULL; m = next) {
		next = m->st_next;
		message_free(m);
	}
	free(st->buckets);
	free(st);
}

static void
store_rehash(struct store *st, size_t nbuckets)
{
	struct message	**b = xcalloc(nbuckets, sizeof(*b)), *m;
	size_t		  i;

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
	struct message	*m = st->head;

	store_unlink(st, m);
	message_free(m);
	st->evicted++;
	st->generation++;
}

uint64_t
store_put(struct store *st, struct message *m)
{
	size_t	 fp = message_footprint(m), i;

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
	struct message	*m;

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
	struct message	**pp;

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
store_after(struct store *st, uint64_t after_id)
{
	struct message	*m;
	uint64_t	 id;

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

struct message *
store_scan_match(struct store *st, const struct filter *f, uint64_t after_id,
    uint64_t *examined)
{
	struct message	*m;

	if (f != NULL && f->after_id > after_id)
		after_id = f->after_id;
	for (m = store_after(st, after_id); m != NULL; m = m->st_next) {
		if (examined != NULL)
			*examined = m->id;
		if (f == NULL || match_message(f, m))
			return m;
	}
	return NULL;
}

struct message *
store_next_match(struct store *st, const struct filter *f, uint64_t after_id)
{
	return store_scan_match(st, f, after_id, NULL);
}

size_t
store_count_match(struct store *st, const struct filter *f)
{
	struct message	*m;
	size_t		 n = 0;

	if (f == NULL || match_filter_is_empty(f))
		return st->count;
	for (m = store_after(st, f->after_id); m != NULL; m = m->st_next)
		if (match_message(f, m))
			n++;
	return n;
}

size_t
store_delete(struct store *st, const struct filter *f)
{
	struct message	*m, *next;
	size_t		 n = 0;

	if (f == NULL || match_filter_is_empty(f)) {
		n = st->count;
		for (m = st->head; m != NULL; m = next) {
			next = m->st_next;
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
		for (m = store_after(st, f->after_id); m != NULL; m = next) {
			next = m->st_next;
			if (match_message(f, m)) {
				store_unlink(st, m);
				message_free(m);
				n++;
			}
		}
	}
	if (n > 0)
		st->generation++;
	return n;
}

int
store_delete_id(struct store *st, uint64_t id)
{
	struct message	*m;

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
