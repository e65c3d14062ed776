/*
 * inbox - hands work from other threads (gRPC's CQ thread, an embedding
 * program) to the loop thread. Its lock is one of few (the others: the
 * embedding API's call list and start in sink.c, GMime's setup in mime.c)
 * and is held only to link an item or swap the FIFO. The poster
 * activates the event only when the FIFO was empty; the loop swaps the whole
 * FIFO out under the lock and runs it unlocked.
 */
#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

#include "inbox.h"
#include "log.h"
#include "xmalloc.h"

struct inbox_item {
	inbox_fn	  *fn;
	void		  *arg;
	int		   ok;
	struct inbox_item *next;
};

struct inbox {
	pthread_mutex_t	   lock;
	struct inbox_item *head, **tailp;
	struct event	  *ev;
};

static void inbox_cb(evutil_socket_t, short, void *);

struct inbox *
inbox_new(struct event_base *base)
{
	struct inbox *ib = xcalloc(1, sizeof(*ib));

	pthread_mutex_init(&ib->lock, NULL);
	ib->tailp = &ib->head;
	if ((ib->ev = event_new(base, -1, 0, inbox_cb, ib)) == NULL)
		fatalx("inbox_new: event_new failed");
	return ib;
}

void
inbox_post(struct inbox *ib, inbox_fn *fn, void *arg, int ok)
{
	struct inbox_item *it = xmalloc(sizeof(*it));
	int		   was_empty;

	it->fn = fn;
	it->arg = arg;
	it->ok = ok;
	it->next = NULL;
	pthread_mutex_lock(&ib->lock);
	was_empty = ib->head == NULL;
	*ib->tailp = it;
	ib->tailp = &it->next;
	pthread_mutex_unlock(&ib->lock);
	if (was_empty)
		event_active(ib->ev, EV_READ, 0);
}

static void
inbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct inbox	  *ib = arg;
	struct inbox_item *it, *next;

	pthread_mutex_lock(&ib->lock);
	it = ib->head;
	ib->head = NULL;
	ib->tailp = &ib->head;
	pthread_mutex_unlock(&ib->lock);
	for (; it != NULL; it = next) {
		next = it->next;
		it->fn(it->arg, it->ok);
		free(it);
	}
}

void
inbox_free(struct inbox *ib)
{
	struct inbox_item *it, *next;

	if (ib == NULL)
		return;
	for (it = ib->head; it != NULL; it = next) {
		next = it->next;
		free(it);
	}
	event_free(ib->ev);
	pthread_mutex_destroy(&ib->lock);
	free(ib);
}
