/*
 * inbox - hands work from any thread to the loop thread: one mutex-protected
 * FIFO plus event_active() (needs evthread_use_pthreads() before the base).
 * Callbacks run on the loop thread, in posting order.
 */
#ifndef SMTPSINK_INBOX_H
#define SMTPSINK_INBOX_H

struct event_base;
struct inbox;

typedef void inbox_fn(void *arg, int ok);

struct inbox *inbox_new(struct event_base *);
/* Thread-safe. */
void	      inbox_post(struct inbox *, inbox_fn *fn, void *arg, int ok);
/* Runs nothing that is still queued. Call from the loop thread after it stopped. */
void	      inbox_free(struct inbox *);

#endif
