/*
 * relay_proto - URL, capabilities, envelope mapping, dot-stuffing and
 * backoff for the relay; see relay_proto.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "message.h"
#include "relay_proto.h"
#include "xmalloc.h"

static int
relay_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..n) into a new string; NULL on a bad escape or NUL */
static char *
relay_url_decode(const char *s, size_t n)
{
	char  *out = xmalloc(n + 1);
	size_t i, o = 0;
	int    hi, lo;

	for (i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= n) {
			free(out);
			return NULL;
		}
		hi = relay_hex((unsigned char)s[i + 1]);
		lo = hi < 0 ? -1 : relay_hex((unsigned char)s[i + 2]);
		if (lo < 0 || (hi == 0 && lo == 0)) {
			free(out);
			return NULL;
		}
		out[o++] = (char)(hi * 16 + lo);
		i += 2;
	}
	out[o] = '\0';
	return out;
}

void
relay_url_clear(struct relay_url *u)
{
	free(u->user);
	free(u->password);
	memset(u, 0, sizeof(*u));
}

void
relay_url_copy(struct relay_url *dst, const struct relay_url *src)
{
	*dst = *src;
	dst->user = src->user != NULL ? xstrdup(src->user) : NULL;
	dst->password = src->password != NULL ? xstrdup(src->password) : NULL;
}

int
relay_url_parse(const char *s, struct relay_url *u, char *err, size_t errlen)
{
	const char *p, *at, *hostend, *end, *colon, *q;
	size_t	    n;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "smtp://", 7) == 0) {
		u->tls = RELAY_TLS_STARTTLS;
		p = s + 7;
	} else if (strncasecmp(s, "smtps://", 8) == 0) {
		u->tls = RELAY_TLS_IMPLICIT;
		p = s + 8;
	} else {
		snprintf(err, errlen, "relay URL must start with smtp:// or smtps://");
		return -1;
	}
	end = p + strcspn(p, "?/");
	q = *end == '?' ? end + 1 : NULL;
	if (*end == '/' && end[1] != '\0' && end[1] != '?') {
		snprintf(err, errlen, "relay URL: no path allowed after host:port");
		return -1;
	}
	if (*end == '/' && end[1] == '?')
		q = end + 2;
	/* The last '@' before the host: a password may hold '@' unescaped */
	at = NULL;
	for (colon = p; colon < end; colon++)
		if (*colon == '@')
			at = colon;
	if (at != NULL) {
		colon = memchr(p, ':', at - p);
		if (colon == NULL || colon == p || colon + 1 == at) {
			snprintf(err, errlen, "relay URL: credentials must be user:password@");
			return -1;
		}
		u->user = relay_url_decode(p, colon - p);
		u->password = relay_url_decode(colon + 1, at - colon - 1);
		if (u->user == NULL || u->password == NULL) {
			relay_url_clear(u);
			snprintf(err, errlen, "relay URL: bad %%-escape in the credentials");
			return -1;
		}
		p = at + 1;
	}
	if (*p == '[') {
		hostend = memchr(p, ']', end - p);
		if (hostend == NULL || hostend[1] != ':')
			goto bad_host;
		n = hostend - p - 1;
		colon = hostend + 1;
		p++;
	} else {
		colon = memchr(p, ':', end - p);
		if (colon == NULL)
			goto bad_host;
		n = colon - p;
	}
	if (n == 0 || n >= sizeof(u->host) || colon + 1 >= end ||
	    (size_t)(end - colon - 1) >= sizeof(u->port))
		goto bad_host;
	memcpy(u->host, p, n);
	memcpy(u->port, colon + 1, end - colon - 1);
	for (p = u->port; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			goto bad_host;
	if (atoi(u->port) <= 0 || atoi(u->port) > 65535)
		goto bad_host;
	if (q != NULL && *q != '\0') {
		if (u->tls == RELAY_TLS_IMPLICIT) {
			snprintf(err, errlen, "relay URL: ?starttls= is for smtp://, not smtps://");
			goto fail;
		}
		if (strcasecmp(q, "starttls=require") == 0)
			u->tls = RELAY_TLS_REQUIRE;
		else if (strcasecmp(q, "starttls=never") == 0)
			u->tls = RELAY_TLS_NEVER;
		else if (strcasecmp(q, "starttls=auto") != 0) {
			snprintf(err, errlen,
			    "relay URL: query must be starttls=require, starttls=never or "
			    "starttls=auto");
			goto fail;
		}
	}
	snprintf(u->shown, sizeof(u->shown), "%s://%s%s%s:%s",
	    u->tls == RELAY_TLS_IMPLICIT ? "smtps" : "smtp", strchr(u->host, ':') ? "[" : "",
	    u->host, strchr(u->host, ':') ? "]" : "", u->port);
	return 0;
bad_host:
	snprintf(err, errlen, "relay URL: want host:port (port 1-65535)");
fail:
	relay_url_clear(u);
	return -1;
}

void
relay_caps_ehlo(struct relay_caps *c, const char *line)
{
	static const struct {
		const char *kw;
		unsigned    bit;
	} kws[] = {
		{ "PIPELINING", RELAY_CAP_PIPELINING },
		{ "SIZE", RELAY_CAP_SIZE },
		{ "8BITMIME", RELAY_CAP_8BITMIME },
		{ "SMTPUTF8", RELAY_CAP_SMTPUTF8 },
		{ "CHUNKING", RELAY_CAP_CHUNKING },
		{ "BINARYMIME", RELAY_CAP_BINARYMIME },
		{ "DSN", RELAY_CAP_DSN },
		{ "STARTTLS", RELAY_CAP_STARTTLS },
		{ "AUTH", 0 },
	};
	size_t	    i, n = strcspn(line, " =");
	const char *args = line + n, *w;

	for (i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
		if (strlen(kws[i].kw) != n || strncasecmp(line, kws[i].kw, n) != 0)
			continue;
		c->flags |= kws[i].bit;
		if (kws[i].bit == RELAY_CAP_SIZE && *args == ' ')
			c->size_max = strtoull(args + 1, NULL, 10);
		if (kws[i].bit != 0)
			return;
		/* AUTH mechanisms */
		for (w = args; *w != '\0';) {
			w += strspn(w, " =");
			n = strcspn(w, " ");
			if (n == 5 && strncasecmp(w, "PLAIN", 5) == 0)
				c->flags |= RELAY_CAP_AUTH_PLAIN;
			else if (n == 5 && strncasecmp(w, "LOGIN", 5) == 0)
				c->flags |= RELAY_CAP_AUTH_LOGIN;
			w += n;
		}
		return;
	}
}

int
relay_proto_use_bdat(const struct message *m)
{
	return m->body_type == MSG_BODY_BINARYMIME ||
	    (m->size > 0 && (m->size < 2 || memcmp(m->data + m->size - 2, "\r\n", 2) != 0));
}

/* Appends s[0..len) to dst at *n, NUL-terminated; -1 when it does not fit */
static int
relay_proto_put(char *dst, size_t dstsz, size_t *n, const char *s, size_t len)
{
	if (len >= dstsz - *n)
		return -1;
	memcpy(dst + *n, s, len);
	*n += len;
	dst[*n] = '\0';
	return 0;
}

/* Appends " k[=v]" to dst at *n; -1 when it does not fit (once per command: no printf) */
static int
relay_proto_append(char *dst, size_t dstsz, size_t *n, const char *k, const char *v)
{
	if (relay_proto_put(dst, dstsz, n, " ", 1) == -1 ||
	    relay_proto_put(dst, dstsz, n, k, strlen(k)) == -1)
		return -1;
	if (v == NULL || *v == '\0')
		return 0;
	if (relay_proto_put(dst, dstsz, n, "=", 1) == -1 ||
	    relay_proto_put(dst, dstsz, n, v, strlen(v)) == -1)
		return -1;
	return 0;
}

/* "<prefix><addr>": MAIL FROM:<a> and RCPT TO:<a>; -1 when it does not fit */
static int
relay_proto_path(char *dst, size_t dstsz, size_t *n, const char *prefix, const char *addr)
{
	*n = 0;
	if (dstsz == 0 || relay_proto_put(dst, dstsz, n, prefix, strlen(prefix)) == -1 ||
	    relay_proto_put(dst, dstsz, n, addr, strlen(addr)) == -1)
		return -1;
	return relay_proto_put(dst, dstsz, n, ">", 1);
}

int
relay_proto_mail(char *dst, size_t dstsz, const struct message *m, const char *from,
    const struct relay_caps *caps, char *why, size_t whylen)
{
	char   size[32];
	size_t i, n;

	if (m->smtputf8 && !(caps->flags & RELAY_CAP_SMTPUTF8)) {
		snprintf(why, whylen, "upstream does not offer SMTPUTF8 (message declared it)");
		return -1;
	}
	if (m->body_type == MSG_BODY_8BITMIME && !(caps->flags & RELAY_CAP_8BITMIME)) {
		snprintf(why, whylen,
		    "upstream does not offer 8BITMIME (message is BODY=8BITMIME)");
		return -1;
	}
	if (m->body_type == MSG_BODY_BINARYMIME &&
	    (caps->flags & (RELAY_CAP_BINARYMIME | RELAY_CAP_CHUNKING)) !=
		(RELAY_CAP_BINARYMIME | RELAY_CAP_CHUNKING)) {
		snprintf(why, whylen,
		    "upstream does not offer BINARYMIME and CHUNKING (message is "
		    "BODY=BINARYMIME)");
		return -1;
	}
	if (relay_proto_use_bdat(m) && !(caps->flags & RELAY_CAP_CHUNKING)) {
		snprintf(why, whylen,
		    "message does not end in CRLF and upstream does not offer CHUNKING");
		return -1;
	}
	if ((caps->flags & RELAY_CAP_SIZE) && caps->size_max != 0 && m->size > caps->size_max) {
		snprintf(why, whylen, "message size %zu exceeds upstream SIZE %llu", m->size,
		    (unsigned long long)caps->size_max);
		return -1;
	}
	if (relay_proto_path(dst, dstsz, &n, "MAIL FROM:<", from != NULL ? from : m->mail_from) ==
	    -1)
		goto toolong;
	for (i = 0; i < m->nmail_params; i++) {
		const char *k = m->mail_params[i].name, *v = m->mail_params[i].value;

		if (strcmp(k, "SIZE") == 0) {
			if (!(caps->flags & RELAY_CAP_SIZE))
				continue;
			snprintf(size, sizeof(size), "%zu", m->size);
			if (m->data != NULL) /* else not received yet (proxy): as declared */
				v = size;
		} else if (strcmp(k, "BODY") == 0) {
			if (!(caps->flags & (RELAY_CAP_8BITMIME | RELAY_CAP_BINARYMIME)))
				continue; /* BODY=7BIT to a server without 8BITMIME */
		} else if (strcmp(k, "RET") == 0 || strcmp(k, "ENVID") == 0) {
			if (!(caps->flags & RELAY_CAP_DSN))
				continue;
		} else if (strcmp(k, "SMTPUTF8") != 0)
			continue; /* AUTH=: the sink's session's, not ours */
		if (relay_proto_append(dst, dstsz, &n, k, v) == -1)
			goto toolong;
	}
	return 0;
toolong:
	snprintf(why, whylen, "MAIL command too long");
	return -1;
}

int
relay_proto_rcpt(char *dst, size_t dstsz, const char *addr, const struct esmtp_param *p, size_t np,
    const struct relay_caps *caps)
{
	size_t i, n;

	if (relay_proto_path(dst, dstsz, &n, "RCPT TO:<", addr) == -1)
		return -1;
	for (i = 0; i < np; i++)
		if ((caps->flags & RELAY_CAP_DSN) &&
		    (strcmp(p[i].name, "NOTIFY") == 0 || strcmp(p[i].name, "ORCPT") == 0) &&
		    relay_proto_append(dst, dstsz, &n, p[i].name, p[i].value) == -1)
			return -1;
	return 0;
}

/*
 * In runs: one evbuffer_add per stretch between dots that start a line. A
 * stretch ends just after such a dot and the next one starts at it, so the
 * dot goes out twice.
 */
void
relay_proto_stuff(struct evbuffer *out, const char *data, size_t len)
{
	const char *p = data, *end = data + len, *q = data, *nl;

	/* Room for the data, the terminator and a few dots: one allocation */
	evbuffer_expand(out, len + 64);
	if (len > 0 && *data == '.')
		evbuffer_add(out, ".", 1);
	while ((nl = memchr(q, '\n', end - q)) != NULL) {
		q = nl + 1;
		if (nl > data && nl[-1] == '\r' && q < end && *q == '.') {
			evbuffer_add(out, p, q + 1 - p);
			p = q;
		}
	}
	evbuffer_add(out, p, end - p);
	evbuffer_add(out, ".\r\n", 3);
}

uint64_t
relay_proto_backoff_ms(uint64_t base_ms, unsigned attempt)
{
	uint64_t d = base_ms;

	while (attempt-- > 1 && d < RELAY_BACKOFF_MAX_MS)
		d *= 2;
	return d < RELAY_BACKOFF_MAX_MS ? d : RELAY_BACKOFF_MAX_MS;
}
