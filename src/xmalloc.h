/*
 * xmalloc - allocation that succeeds or aborts (tmux, Postfix mymalloc).
 * For control structures only; sizes a client controls go through buf.h.
 */
#ifndef SMTPSINK_XMALLOC_H
#define SMTPSINK_XMALLOC_H
#include <stddef.h>

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
void *xmemdup(const void *, size_t);
int   xasprintf(char **, const char *, ...) __attribute__((format(printf, 2, 3)));

#endif
