/*
 * fuzz - helpers shared by the fuzz targets; see fuzz.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "xmalloc.h"

void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

unsigned
fuzz_byte(struct fuzz_in *in)
{
	if (in->len == 0)
		return 0;
	in->len--;
	return *in->p++;
}

char *
fuzz_take(struct fuzz_in *in, size_t n, size_t *got)
{
	char *s;

	if (n > in->len)
		n = in->len;
	s = xmalloc(n + 1);
	if (n > 0)
		memcpy(s, in->p, n);
	s[n] = '\0';
	in->p += n;
	in->len -= n;
	if (got != NULL)
		*got = n;
	return s;
}
