/*
 * globs - long patterns and texts for the glob tests (see globs.h).
 */
#include <stdlib.h>
#include <string.h>

#include "globs.h"
#include "xmalloc.h"

char *
globs_repeat(const char *head, int c, size_t n, const char *tail)
{
	char *s;

	xasprintf(&s, "%s%*s%s", head, (int)n, "", tail);
	memset(s + strlen(head), c, n);
	return s;
}

char *
globs_widest(size_t len)
{
	char *glob = xmalloc(len + 1), *p = glob;
	int   c;

	for (c = 1; c < 256; c++) {
		if (c >= 'A' && c <= 'Z')
			continue;
		if (strchr("*?[\\", c) != NULL)
			*p++ = '\\';
		*p++ = (char)c;
	}
	memset(p, 'q', len - (size_t)(p - glob));
	glob[len] = '\0';
	return glob;
}
