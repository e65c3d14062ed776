/* test_inbox - work posted from other threads runs on the loop, in order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "inbox.h"

#define POSTERS	   4
#define PER_POSTER 1000

struct ctx {
	struct event_base *base;
	struct inbox	  *inbox;
	pthread_t	   loop_thread;
	int		   count;
	int		   last[POSTERS];
	int		   order_ok;
	int		   wrong_thread;
};

struct post {
	struct ctx *ctx;
	int	    poster;
	int	    seq;
};
static struct post posts[POSTERS][PER_POSTER];

static void
on_item(void *arg, int ok)
{
	struct post *p = arg;
	struct ctx  *c = p->ctx;

	if (!pthread_equal(pthread_self(), c->loop_thread))
		c->wrong_thread++;
	if (p->seq != c->last[p->poster] + 1 || ok != p->seq % 2)
		c->order_ok = 0;
	c->last[p->poster] = p->seq;
	if (++c->count == POSTERS * PER_POSTER)
		event_base_loopbreak(c->base);
}

static void *
poster(void *arg)
{
	struct post *mine = arg;
	int	     i;

	for (i = 0; i < PER_POSTER; i++)
		inbox_post(mine[i].ctx->inbox, on_item, &mine[i], mine[i].seq % 2);
	return NULL;
}

static void
test_inbox_cross_thread_in_order(void **state)
{
	struct ctx c = { .order_ok = 1 };
	pthread_t  t[POSTERS];
	int	   i, j;

	assert_int_equal(evthread_use_pthreads(), 0);
	c.base = event_base_new();
	c.inbox = inbox_new(c.base);
	c.loop_thread = pthread_self();
	for (i = 0; i < POSTERS; i++) {
		c.last[i] = 0;
		for (j = 0; j < PER_POSTER; j++)
			posts[i][j] = (struct post){ &c, i, j + 1 };
	}
	for (i = 0; i < POSTERS; i++)
		pthread_create(&t[i], NULL, poster, posts[i]);
	event_base_loop(c.base, EVLOOP_NO_EXIT_ON_EMPTY);
	for (i = 0; i < POSTERS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(c.count, POSTERS * PER_POSTER);
	assert_int_equal(c.wrong_thread, 0);
	assert_true(c.order_ok);
	inbox_free(c.inbox);
	event_base_free(c.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inbox_cross_thread_in_order),
	};
	return cmocka_run_group_tests_name("inbox", tests, NULL, NULL);
}
