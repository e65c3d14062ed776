/*
 * buf - bounded growable byte buffer; see buf.h. Growth doubles up to max,
 * and a failure to grow is reported, never fatal: the size is client-driven.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	size_t need, ncap;
	char  *nd;

	if (n > b->max - b->len)
		return -1;
	need = b->len + n + 1; /* + NUL */
	if (need > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < need)
			ncap = ncap > (b->max + 1) / 2 ? b->max + 1 : ncap * 2;
		if ((nd = realloc(b->data, ncap)) == NULL)
			return -1;
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
buf_steal(struct buf *b, size_t *lenp)
{
	char *p;

	if (b->data == NULL && buf_append(b, "", 0) == -1)
		return NULL;
	p = b->data;
	if (b->cap > b->len + 1) {
		/* Shrink to fit: the store keeps this for a long time */
		char *q = realloc(p, b->len + 1);
		if (q != NULL)
			p = q;
	}
	if (lenp)
		*lenp = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
