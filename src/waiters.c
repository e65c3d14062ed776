/* STUB: replaced by the store helper */
#include "waiters.h"
struct waiters *waiters_new(struct event_base *b, struct store *s, unsigned m) { return (struct waiters *)1; }
void waiters_free(struct waiters *w) { }
struct waiter *waiters_wait(struct waiters *w, const struct filter *f, size_t c, int t, waiters_done_fn *d, void *a) { return NULL; }
struct waiter *waiters_watch(struct waiters *w, waiters_watch_fn *fn, void *a) { return NULL; }
void waiters_cancel(struct waiter *w) { }
void waiters_kick(struct waiters *w) { }
void waiters_shutdown(struct waiters *w) { }
size_t waiters_count(const struct waiters *w) { return 0; }
