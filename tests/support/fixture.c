/*
 * fixture - see fixture.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"
#include "message.h"
#include "xmalloc.h"

char *
fixture_read(const char *name, size_t *len)
{
	char  path[4096];
	FILE *f;
	char *buf;
	long  sz;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, name);
	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "fixture_read: %s: %s\n", path, strerror(errno));
		abort();
	}
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "fixture_read: %s: cannot size\n", path);
		abort();
	}
	buf = xmalloc((size_t)sz + 1);
	if (sz > 0 && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		fprintf(stderr, "fixture_read: %s: short read\n", path);
		abort();
	}
	fclose(f);
	buf[sz] = '\0';
	*len = (size_t)sz;
	return buf;
}

struct message *
fixture_message_new(const char *data, size_t len, const char *mail_from, const char *const *rcpts)
{
	struct message *m = message_new();
	size_t		i, n = 0;

	m->data = xmalloc(len + 1);
	if (len > 0)
		memcpy(m->data, data, len);
	m->data[len] = '\0';
	m->size = len;
	m->peer = xstrdup("127.0.0.1:2525");
	m->helo = xstrdup("fixture.test");
	m->mail_from = xstrdup(mail_from != NULL ? mail_from : "");
	clock_gettime(CLOCK_REALTIME, &m->received);
	if (rcpts != NULL)
		while (rcpts[n] != NULL)
			n++;
	if (n > 0) {
		m->rcpts = xcalloc(n, sizeof(*m->rcpts));
		for (i = 0; i < n; i++)
			m->rcpts[i].addr = xstrdup(rcpts[i]);
		m->nrcpts = n;
	}
	return m;
}

struct message *
fixture_message_load(const char *name, const char *mail_from, const char *const *rcpts)
{
	struct message *m;
	size_t		len;
	char	       *buf;

	buf = fixture_read(name, &len);
	m = fixture_message_new(buf, len, mail_from, rcpts);
	free(buf);
	return m;
}

void
fixture_message_free(struct message *m)
{
	message_free(m);
}
