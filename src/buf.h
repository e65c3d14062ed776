/*
 * buf - bounded growable byte buffer. buf_append() never grows past max and
 * never aborts: it returns -1 instead, so callers map it to an SMTP reply.
 * The data is always followed by a NUL byte that is not counted in len.
 */
#ifndef SMTPSINK_BUF_H
#define SMTPSINK_BUF_H
#include <stddef.h>

struct buf {
	char  *data;
	size_t len;
	size_t cap;
	size_t max; /* len never exceeds max */
};

void  buf_init(struct buf *, size_t max);
/* 0 on success, -1 if len + n would exceed max or memory is exhausted */
int   buf_append(struct buf *, const void *, size_t);
void  buf_reset(struct buf *);	 /* len = 0, keeps memory */
void  buf_release(struct buf *); /* frees memory */
/* Hands the data (NUL-terminated, shrunk to fit) to the caller; buf is empty after. */
char *buf_steal(struct buf *, size_t *lenp);

#endif
