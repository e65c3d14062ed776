/*
 * test_smtp_session - real sessions on a real struct server and event_base,
 * the client end of a socketpair driven from the test: framing split across
 * reads, dot-unstuffing at every byte boundary, smuggling attempts, BDAT,
 * limits, pipelining order, rules, shutdown. Stored messages are read back
 * from the store and compared byte for byte.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "message.h"
#include "rules.h"
#include "server.h"
#include "smtp_session.h"
#include "stats.h"
#include "store.h"

struct h {
	struct config	   cfg;
	struct event_base *base;
	struct server	  *srv;
	int		   fd;		/* client end */
	char		   in[1 << 16]; /* received, not yet consumed */
	size_t		   inlen;
	int		   eof;
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Runs the loop without blocking, then reads what the server wrote. */
static void
h_pump(struct h *h)
{
	ssize_t n;
	int	i;

	for (i = 0; i < 4; i++)
		event_base_loop(h->base, EVLOOP_NONBLOCK);
	while (h->fd >= 0 && !h->eof && h->inlen < sizeof(h->in)) {
		n = read(h->fd, h->in + h->inlen, sizeof(h->in) - h->inlen);
		if (n > 0)
			h->inlen += n;
		else if (n == 0)
			h->eof = 1;
		else
			break;
	}
}

/*
 * Opens a new session; the previous client end, if any, is closed first, as
 * a real client would after the server's close (left open, it would keep
 * that session lingering for SMTP_LINGER_SECS).
 */
static void
h_connect(struct h *h)
{
	struct sockaddr_in sin;
	int		   sv[2];

	if (h->fd >= 0)
		close(h->fd);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(4242);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	assert_non_null(
	    smtp_session_new(server_sessions(h->srv), sv[0], (struct sockaddr *)&sin, sizeof(sin)));
	h->fd = sv[1];
	fcntl(h->fd, F_SETFL, O_NONBLOCK);
	h->inlen = 0;
	h->eof = 0;
}

static void
h_disconnect(struct h *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h_pump(h);
}

static struct h *
h_new_cfg(void (*tweak)(struct config *))
{
	struct h *h = calloc(1, sizeof(*h));

	config_defaults(&h->cfg);
	if (tweak != NULL)
		tweak(&h->cfg);
	h->base = event_base_new();
	h->srv = server_new(&h->cfg, h->base);
	h->fd = -1;
	return h;
}

static void
h_free(struct h *h)
{
	if (h->fd >= 0)
		close(h->fd);
	server_free(h->srv);
	event_base_free(h->base);
	config_free(&h->cfg);
	free(h);
}

/* A second client of h's server, not connected yet (h_connect). */
static void
h_peer(struct h *peer, const struct h *h)
{
	memset(peer, 0, sizeof(*peer));
	peer->fd = -1;
	peer->srv = h->srv;
	peer->base = h->base;
}

static void
h_send(struct h *h, const void *p, size_t n)
{
	const char *c = p;
	ssize_t	    w;
	double	    deadline = now_ms() + 5000;

	while (n > 0) {
		w = write(h->fd, c, n);
		if (w > 0) {
			c += w;
			n -= w;
			continue;
		}
		if (w == -1 && errno != EAGAIN)
			fail_msg("write: %s", strerror(errno));
		h_pump(h);
		if (now_ms() > deadline)
			fail_msg("write stalled");
	}
	h_pump(h);
}

static void
h_sends(struct h *h, const char *s)
{
	h_send(h, s, strlen(s));
}

/* Length of the first complete reply in h->in (multi-line aware), or 0 */
static size_t
h_reply_len(const struct h *h)
{
	size_t off = 0;
	char  *nl;

	for (;;) {
		nl = memchr(h->in + off, '\n', h->inlen - off);
		if (nl == NULL)
			return 0;
		if (nl - (h->in + off) < 4 || h->in[off + 3] != '-')
			return nl - h->in + 1;
		off = nl - h->in + 1;
	}
}

/*
 * The next reply as one string: the lines joined with "\n", CRLF removed;
 * "" if the connection closed first. Waits up to 3 s.
 */
static char *
h_reply(struct h *h)
{
	static char out[8192];
	size_t	    n, i, o = 0;
	double	    deadline = now_ms() + 3000;

	while ((n = h_reply_len(h)) == 0) {
		if (h->eof)
			return strcpy(out, "");
		if (now_ms() > deadline)
			fail_msg("no reply within 3 s; pending \"%.*s\"", (int)h->inlen, h->in);
		h_pump(h);
		if (h_reply_len(h) == 0)
			event_base_loop(h->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(200);
	}
	for (i = 0; i < n && o + 1 < sizeof(out); i++) {
		if (h->in[i] == '\r')
			continue;
		out[o++] = h->in[i];
	}
	if (o > 0 && out[o - 1] == '\n')
		o--;
	out[o] = '\0';
	memmove(h->in, h->in + n, h->inlen - n);
	h->inlen -= n;
	return out;
}

static void
want_reply(struct h *h, const char *want)
{
	char *got = h_reply(h);

	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("reply: got \"%s\", want \"%s...\"", got, want);
}

static void
want_closed(struct h *h)
{
	double deadline = now_ms() + 3000;

	while (!h->eof) {
		if (now_ms() > deadline)
			fail_msg("connection not closed; pending \"%.*s\"", (int)h->inlen, h->in);
		h_pump(h);
		usleep(200);
	}
	if (h->inlen != 0)
		fail_msg("unexpected bytes before close: \"%.*s\"", (int)h->inlen, h->in);
}

static void
want_silence(struct h *h, int ms)
{
	double deadline = now_ms() + ms;

	while (now_ms() < deadline) {
		h_pump(h);
		if (h->inlen > 0)
			fail_msg("unexpected reply \"%.*s\"", (int)h->inlen, h->in);
		usleep(1000);
	}
}

/* The id from "250 2.0.0 Ok: queued as N" */
static uint64_t
queued_id(const char *reply)
{
	const char *p = strstr(reply, "queued as ");

	if (strncmp(reply, "250", 3) != 0 || p == NULL)
		fail_msg("not a queued reply: \"%s\"", reply);
	return strtoull(p + 10, NULL, 10);
}

static struct message *
want_stored(struct h *h, const char *reply, const void *body, size_t len)
{
	struct message *m = store_get(server_store(h->srv), queued_id(reply));

	assert_non_null(m);
	if (m->size != len || memcmp(m->data, body, len) != 0)
		fail_msg("stored body: got %zu \"%.*s\", want %zu \"%.*s\"", m->size, (int)m->size,
		    m->data, len, (int)len, (const char *)body);
	assert_int_equal(m->data[m->size], '\0');
	return m;
}

static void
h_greet(struct h *h)
{
	h_connect(h);
	want_reply(h, "220 smtpsink ESMTP smtpsink");
	h_sends(h, "EHLO client.example\r\n");
	want_reply(h, "250-smtpsink\n250-PIPELINING");
}

static void
h_envelope(struct h *h)
{
	h_sends(h, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n");
	want_reply(h, "250 2.1.0 Ok");
	want_reply(h, "250 2.1.5 Ok");
}

/* ----- tests ----- */

static void
test_smtp_session_transaction_and_envelope(void **state)
{
	struct h       *h = h_new_cfg(NULL);
	struct message *m;
	const char	body[] = "Subject: hi\r\n\r\n..dot\r\n8bit \xc3\xa9\r\n";
	char	       *r;

	h_connect(h);
	want_reply(h, "220 smtpsink ESMTP smtpsink");
	h_sends(h, "EHLO client.example\r\n");
	r = h_reply(h);
	assert_string_equal(r,
	    "250-smtpsink\n250-PIPELINING\n250-8BITMIME\n250-SMTPUTF8\n"
	    "250-SIZE 33554432\n250-ENHANCEDSTATUSCODES\n250-CHUNKING\n250-BINARYMIME\n250 DSN");
	h_sends(h, "MAIL FROM:<a@b.example> BODY=8BITMIME SIZE=100 RET=HDRS ENVID=x1\r\n");
	want_reply(h, "250 2.1.0 Ok");
	h_sends(h, "RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d.example\r\n");
	want_reply(h, "250 2.1.5 Ok");
	h_sends(h, "RCPT TO:<e@f.example>\r\n");
	want_reply(h, "250 2.1.5 Ok");
	h_sends(h, "DATA\r\n");
	want_reply(h, "354 ");
	h_sends(h, "Subject: hi\r\n\r\n...dot\r\n8bit \xc3\xa9\r\n.\r\n");
	r = h_reply(h);
	m = want_stored(h, r, body, strlen(body));
	assert_string_equal(m->mail_from, "a@b.example");
	assert_string_equal(m->helo, "client.example");
	assert_string_equal(m->peer, "127.0.0.1:4242");
	assert_int_equal(m->nrcpts, 2);
	assert_string_equal(m->rcpts[0].addr, "c@d.example");
	assert_string_equal(m->rcpts[1].addr, "e@f.example");
	assert_int_equal(m->rcpts[0].nparams, 2);
	assert_string_equal(m->rcpts[0].params[0].name, "NOTIFY");
	assert_string_equal(m->rcpts[0].params[0].value, "SUCCESS,FAILURE");
	assert_string_equal(m->rcpts[0].params[1].name, "ORCPT");
	assert_string_equal(m->rcpts[0].params[1].value, "rfc822;c@d.example");
	assert_int_equal(m->nmail_params, 4);
	assert_string_equal(m->mail_params[0].name, "BODY");
	assert_string_equal(m->mail_params[0].value, "8BITMIME");
	assert_string_equal(m->mail_params[3].name, "ENVID");
	assert_int_equal(m->body_type, MSG_BODY_8BITMIME);
	assert_int_equal(m->anomalies, 0);
	assert_int_equal(m->smtputf8, 0);
	assert_true(m->session_id > 0);
	assert_true(m->received.tv_sec > 0);

	/* A second transaction on the same session, with the null sender */
	h_sends(h, "MAIL FROM:<>\r\nRCPT TO:<x@y>\r\nDATA\r\n");
	want_reply(h, "250 2.1.0");
	want_reply(h, "250 2.1.5");
	want_reply(h, "354");
	h_sends(h, ".\r\n");
	m = want_stored(h, h_reply(h), "", 0);
	assert_string_equal(m->mail_from, "");
	assert_true(m->anomalies & MSG_ANOM_NO_HEADER_END);
	h_sends(h, "QUIT\r\n");
	want_reply(h, "221 2.0.0");
	want_closed(h);
	assert_int_equal(server_stats(h->srv)->sessions_active, 0);
	assert_int_equal(server_stats(h->srv)->sessions_total, 1);
	h_free(h);
}

/* The DATA stream cut in two at every byte, including inside CRLF "." CRLF */
static void
test_smtp_session_data_split_every_byte(void **state)
{
	struct h       *h = h_new_cfg(NULL);
	const char	wire[] = "Subject: s\r\n\r\n..a\r\n.\r\r\n\n.x\r\nend\r\n.\r\n";
	/* After a bare LF the dot is not at a line start: kept */
	const char	want[] = "Subject: s\r\n\r\n.a\r\n\r\r\n\n.x\r\nend\r\n";
	size_t		cut, n = strlen(wire);
	struct message *m;

	h_greet(h);
	for (cut = 0; cut <= n; cut++) {
		h_envelope(h);
		h_sends(h, "DATA\r\n");
		want_reply(h, "354");
		if (cut > 0)
			h_send(h, wire, cut);
		if (cut < n) {
			want_silence(h, 0);
			h_send(h, wire + cut, n - cut);
		}
		m = want_stored(h, h_reply(h), want, strlen(want));
		assert_int_equal(m->anomalies, MSG_ANOM_BARE_CR | MSG_ANOM_BARE_LF);
	}
	assert_int_equal(store_count(server_store(h->srv)), n + 1);
	h_free(h);
}

/* Byte by byte: every read is one octet */
static void
test_smtp_session_data_bytewise(void **state)
{
	struct h *h = h_new_cfg(NULL);
	const char
	    wire[] = "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nA: b\r\n\r\n..\r\n.\r\nNOOP\r\n";
	size_t i;

	h_greet(h);
	for (i = 0; i < strlen(wire); i++)
		h_send(h, wire + i, 1);
	want_reply(h, "250 2.1.0");
	want_reply(h, "250 2.1.5");
	want_reply(h, "354");
	want_stored(h, h_reply(h), "A: b\r\n\r\n.\r\n", 11);
	want_reply(h, "250 2.0.0 Ok");
	h_free(h);
}

/* LF.LF, CR.CR, LF.CRLF and CRLF.LF never end the data (no smuggling) */
static void
test_smtp_session_no_smuggling(void **state)
{
	static const char *const attempts[] = {
		"A: b\r\n\r\nx\n.\nMAIL FROM:<evil@x>\nRCPT TO:<v@x>\nDATA\nevil\n.\n",
		"A: b\r\n\r\nx\r.\rMAIL FROM:<evil@x>\r\n",
		"A: b\r\n\r\nx\n.\r\nMAIL FROM:<evil@x>\r\n",
		"A: b\r\n\r\nx\r\n.\nMAIL FROM:<evil@x>\r\n",
		"A: b\r\n\r\nx\r\n.\rMAIL FROM:<evil@x>\r\n",
	};
	struct h       *h = h_new_cfg(NULL);
	size_t		i;
	struct message *m;

	h_greet(h);
	for (i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		h_envelope(h);
		h_sends(h, "DATA\r\n");
		want_reply(h, "354");
		h_sends(h, attempts[i]);
		want_silence(h, 5); /* still in DATA: no reply at all */
		h_sends(h, "\r\n.\r\n");
		m = store_get(server_store(h->srv), queued_id(h_reply(h)));
		assert_non_null(m);
		assert_non_null(strstr(m->data, "MAIL FROM:<evil@x>"));
		assert_true(m->anomalies & (MSG_ANOM_BARE_LF | MSG_ANOM_BARE_CR));
		h_sends(h, "NOOP\r\n");
		want_reply(h, "250 2.0.0 Ok");
	}
	assert_int_equal(store_count(server_store(h->srv)), 5);
	h_free(h);
}

static void
test_smtp_session_bdat(void **state)
{
	struct h       *h = h_new_cfg(NULL);
	const char	chunk1[] = "Subject: b\r\n\r\nline\r\n.\r\n"; /* CRLF.CRLF inside */
	char		want[128];
	struct message *m;

	h_greet(h);
	h_envelope(h);
	h_sends(h, "BDAT 23\r\n");
	h_send(h, chunk1, 23);
	want_reply(h, "250 2.0.0 Ok: 23 octets received");
	h_sends(h, "DATA\r\n");
	want_reply(h, "503 5.5.1");
	h_sends(h, "RCPT TO:<late@x>\r\n");
	want_reply(h, "503 5.5.1");
	h_sends(h, "BDAT 7\r\n..x\r\n\r\nBDAT 0 LAST\r\n");
	want_reply(h, "250 2.0.0 Ok: 30 octets received");
	snprintf(want, sizeof(want), "%s..x\r\n\r\n", chunk1);
	m = want_stored(h, h_reply(h), want, 30);
	assert_int_equal(m->nrcpts, 1);

	/* Pipelined: envelope and chunks in one write, LAST on a data chunk */
	h_sends(h, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3\r\nabcBDAT 3 LAST\r\ndef");
	want_reply(h, "250 2.1.0");
	want_reply(h, "250 2.1.5");
	want_reply(h, "250 2.0.0 Ok: 3 octets");
	m = want_stored(h, h_reply(h), "abcdef", 6);
	assert_true(m->anomalies & MSG_ANOM_NO_HEADER_END);

	/* issue 8 (fuzz_data_scan): a chunk starting with a dot keeps it */
	h_sends(h, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 5 LAST\r\n.x\r\n.");
	want_reply(h, "250 2.1.0");
	want_reply(h, "250 2.1.5");
	want_stored(h, h_reply(h), ".x\r\n.", 5);

	/* Refused BDAT: the chunk is skipped, the stream stays in sync */
	h_sends(h, "BDAT 12 LAST\r\nNOOP\r\nNOOP\r\nNOOP\r\n");
	want_reply(h, "503 5.5.1");
	want_reply(h, "250 2.0.0 Ok"); /* the third NOOP */
	want_silence(h, 5);
	h_sends(h, "BDAT x\r\n");
	want_reply(h, "501 5.5.4");

	/* BINARYMIME: DATA refused, BDAT keeps NUL and bare LF without flags */
	h_sends(h, "MAIL FROM:<a@b> BODY=BINARYMIME\r\nRCPT TO:<c@d>\r\nDATA\r\n");
	want_reply(h, "250 2.1.0");
	want_reply(h, "250 2.1.5");
	want_reply(h, "503 5.5.1");
	h_sends(h, "BDAT 10 LAST\r\n");
	h_send(h, "A: b\n\nx\0\xff\n", 10);
	m = want_stored(h, h_reply(h), "A: b\n\nx\0\xff\n", 10);
	assert_int_equal(m->body_type, MSG_BODY_BINARYMIME);
	assert_int_equal(m->anomalies & (MSG_ANOM_NUL | MSG_ANOM_BARE_LF | MSG_ANOM_8BIT_BODY), 0);
	h_free(h);
}

static void
test_smtp_session_disconnect_mid_data_stores_nothing(void **state)
{
	struct h *h = h_new_cfg(NULL);

	h_greet(h);
	h_envelope(h);
	h_sends(h, "DATA\r\n");
	want_reply(h, "354");
	h_sends(h, "Subject: half\r\n\r\nbody\r\n");
	h_disconnect(h);
	h_pump(h);
	assert_int_equal(store_count(server_store(h->srv)), 0);
	assert_int_equal(server_stats(h->srv)->sessions_active, 0);

	h_greet(h);
	h_envelope(h);
	h_sends(h, "BDAT 100 LAST\r\nonly part");
	h_disconnect(h);
	assert_int_equal(store_count(server_store(h->srv)), 0);
	assert_int_equal(server_stats(h->srv)->sessions_active, 0);
	h_free(h);
}

/* Half-close: everything pipelined before EOF is answered */
static void
test_smtp_session_half_close(void **state)
{
	struct h *h = h_new_cfg(NULL);

	h_connect(h);
	want_reply(h, "220");
	h_sends(h,
	    "HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nA: b\r\n\r\nz\r\n.\r\nQUIT\r\n");
	shutdown(h->fd, SHUT_WR);
	want_reply(h, "250 smtpsink");
	want_reply(h, "250 2.1.0");
	want_reply(h, "250 2.1.5");
	want_reply(h, "354");
	want_stored(h, h_reply(h), "A: b\r\n\r\nz\r\n", 11);
	want_reply(h, "221");
	want_closed(h);
	h_free(h);
}

static void
tweak_small(struct config *c)
{
	c->smtp_line_max = 64;
	c->data_line_max = 100;
	c->message_size_max = 50;
	c->rcpt_max = 2;
	c->error_max = 3;
}

static void
test_smtp_session_limits(void **state)
{
	struct h *h = h_new_cfg(tweak_small);
	char	  line[200];

	/* Command line: refused before the line is complete */
	h_greet(h);
	memset(line, 'x', sizeof(line));
	h_send(h, line, 65);
	want_reply(h, "500 5.5.2");
	want_closed(h);

	/* Exactly the limit (incl. CRLF) is fine */
	h_greet(h);
	snprintf(line, sizeof(line), "NOOP %.*s\r\n", 64 - 7,
	    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
	assert_int_equal(strlen(line), 64);
	h_sends(h, line);
	want_reply(h, "250 2.0.0");

	/* Recipients */
	h_sends(h, "MAIL FROM:<a@b>\r\nRCPT TO:<1@x>\r\nRCPT TO:<2@x>\r\nRCPT TO:<3@x>\r\n");
	want_reply(h, "250 2.1.0");
	want_reply(h, "250 2.1.5");
	want_reply(h, "250 2.1.5");
	want_reply(h, "452 4.5.3");

	/* Size: latched, drained, 552 at the end, session goes on */
	h_sends(h, "DATA\r\n");
	want_reply(h, "354");
	memset(line, 'z', 90);
	h_send(h, line, 90);
	h_sends(h, "\r\n");
	want_silence(h, 5);
	h_sends(h, "more\r\n.\r\n");
	want_reply(h, "552 5.3.4");
	h_sends(h, "MAIL FROM:<a@b> SIZE=51\r\n");
	want_reply(h, "552 5.3.4");
	h_sends(h, "MAIL FROM:<a@b> SIZE=50\r\nRCPT TO:<c@d>\r\nBDAT 60 LAST\r\n");
	want_reply(h, "250 2.1.0");
	want_reply(h, "250 2.1.5");
	h_send(h, line, 60);
	want_reply(h, "552 5.3.4");
	h_sends(h, "NOOP\r\n");
	want_reply(h, "250");
	assert_int_equal(store_count(server_store(h->srv)), 0);

	/* Data line: 500 5.5.2 and close, nothing stored */
	h_sends(h, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
	want_reply(h, "250");
	want_reply(h, "250");
	want_reply(h, "354");
	memset(line, 'w', 120);
	h_send(h, line, 120);
	want_reply(h, "500 5.5.2");
	want_closed(h);
	assert_int_equal(store_count(server_store(h->srv)), 0);

	/* Errors: the third one gets 421 4.7.0 and the session closes */
	h_greet(h);
	h_sends(h, "BOGUS\r\n");
	want_reply(h, "500 5.5.1");
	h_sends(h, "RCPT TO:<x@y>\r\n");
	want_reply(h, "503 5.5.1");
	h_sends(h, "MAIL FROM:bad\r\n");
	want_reply(h, "501 5.5.4");
	want_reply(h, "421 4.7.0");
	want_closed(h);
	assert_true(server_stats(h->srv)->limit_breaches >= 4);
	h_free(h);
}

static void
tweak_pipelining(struct config *c)
{
	c->cmds_per_wakeup = 2;
}

/* One write, every reply in order, with yields every 2 commands */
static void
test_smtp_session_pipelining_order(void **state)
{
	struct h *h = h_new_cfg(tweak_pipelining);
	char	  wire[4096];
	size_t	  o = 0;
	int	  i;

	h_connect(h);
	want_reply(h, "220");
	o += snprintf(wire + o, sizeof(wire) - o, "EHLO x\r\n");
	for (i = 0; i < 5; i++)
		o += snprintf(wire + o, sizeof(wire) - o,
		    "MAIL FROM:<s%d@x>\r\nRCPT TO:<r%d@x>\r\nRCPT TO:<bad>x\r\nRCPT TO:<q%d@x>\r\n"
		    "DATA\r\nN: %d\r\n\r\nbody\r\n.\r\nRSET\r\nBOGUS\r\n",
		    i, i, i, i);
	o += snprintf(wire + o, sizeof(wire) - o, "QUIT\r\n");
	h_send(h, wire, o);
	want_reply(h, "250-smtpsink");
	for (i = 0; i < 5; i++) {
		struct message *m;
		char		from[32], body[64];

		want_reply(h, "250 2.1.0");
		want_reply(h, "250 2.1.5");
		want_reply(h, "501 5.5.4");
		want_reply(h, "250 2.1.5");
		want_reply(h, "354");
		snprintf(body, sizeof(body), "N: %d\r\n\r\nbody\r\n", i);
		m = want_stored(h, h_reply(h), body, strlen(body));
		snprintf(from, sizeof(from), "s%d@x", i);
		assert_string_equal(m->mail_from, from);
		assert_int_equal(m->nrcpts, 2);
		want_reply(h, "250 2.0.0 Ok");
		want_reply(h, "500 5.5.1");
	}
	want_reply(h, "221");
	want_closed(h);
	h_free(h);
}

/*
 * A flood of pipelined commands from a client that reads its replies
 * slowly: output backpressure, the input limit and the per-wakeup yield all
 * engage; every reply still arrives, in order.
 */
static void
test_smtp_session_pipelining_flood(void **state)
{
	struct h    *h = h_new_cfg(NULL);
	const size_t total = 60000;
	size_t	     sent = 0, got = 0, i;
	char	     chunk[6 * 512];
	double	     deadline = now_ms() + 20000;
	ssize_t	     w;

	h_greet(h);
	for (i = 0; i < 512; i++)
		memcpy(chunk + i * 6, "NOOP\r\n", 6);
	while (got < total) {
		if (now_ms() > deadline)
			fail_msg("flood: sent %zu octets, got %zu replies", sent, got);
		if (sent < total * 6) {
			/* the chunk repeats every 6 octets: resume mid-command after a short write */
			size_t n = total * 6 - sent, off = sent % 6;

			if (n > sizeof(chunk) - off)
				n = sizeof(chunk) - off;
			w = write(h->fd, chunk + off, n);
			if (w > 0)
				sent += w;
		}
		h_pump(h);
		/* read slowly: at most 1000 replies per round */
		for (i = 0; i < 1000 && h_reply_len(h) > 0; i++) {
			char *r = h_reply(h);
			if (strcmp(r, "250 2.0.0 Ok") != 0)
				fail_msg("reply %zu: got \"%s\"", got, r);
			got++;
		}
	}
	h_sends(h, "QUIT\r\n");
	want_reply(h, "221");
	h_free(h);
}

static void
test_smtp_session_commands(void **state)
{
	struct h *h = h_new_cfg(NULL);

	h_connect(h);
	want_reply(h, "220");
	h_sends(h, "MAIL FROM:<a@b>\r\n");
	want_reply(h, "503 5.5.1 Error: send HELO/EHLO first");
	h_sends(h, "EHLO\r\n");
	want_reply(h, "501 5.5.4");
	h_sends(h, "helo lower.example\r\n");
	want_reply(h, "250 smtpsink");
	h_sends(h, "DATA\r\n");
	want_reply(h, "503 5.5.1");
	h_sends(h, "VRFY someone\r\n");
	want_reply(h, "252 2.5.2");
	h_sends(h, "VRFY\r\n");
	want_reply(h, "501 5.5.4");
	h_sends(h, "EXPN list\r\n");
	want_reply(h, "502 5.5.1");
	h_sends(h, "HELP\r\n");
	want_reply(h, "214 2.0.0 Commands:");
	h_sends(h, "NOOP\r\n");
	want_reply(h, "250 2.0.0 Ok");
	h_sends(h, "RSET\r\n");
	want_reply(h, "250 2.0.0 Ok");
	h_sends(h, "MAIL FROM:<a@b> AUTH=<>\r\n");
	want_reply(h, "555 5.5.4");
	h_sends(h, "MAIL FROM:<a@b> BODY=9BIT\r\n");
	want_reply(h, "501 5.5.4");
	h_sends(h, "MAIL FROM:<\xc3\xa9@b>\r\n");
	want_reply(h, "553 5.6.7");
	h_sends(h, "MAIL FROM:<\xc3\xa9@b> SMTPUTF8\r\n");
	want_reply(h, "250 2.1.0");
	h_sends(h, "MAIL FROM:<a@b>\r\n");
	want_reply(h, "503 5.5.1 Error: nested MAIL command");
	h_sends(h, "RCPT TO:<>\r\n");
	want_reply(h, "501 5.5.4");
	h_sends(h, "RCPT TO:<\xc3\xbc@b> NOTIFY=NEVER,SUCCESS\r\n");
	want_reply(h, "501 5.5.4");
	h_sends(h, "RCPT TO:<\xc3\xbc@b> XFOO=1\r\n");
	want_reply(h, "555 5.5.4");
	h_sends(h, "DATA\r\n");
	want_reply(h, "554 5.5.1");
	h_sends(h, "RCPT TO:<\xc3\xbc@b> NOTIFY=never\r\n");
	want_reply(h, "250 2.1.5");
	h_sends(h, "DATA now\r\n");
	want_reply(h, "501 5.5.4");
	h_sends(h, "DATA\r\n");
	want_reply(h, "354");
	h_sends(h, "Subject: \xc3\xa9\r\n\r\nx\r\n.\r\n");
	{
		struct message *m = store_get(server_store(h->srv), queued_id(h_reply(h)));
		assert_non_null(m);
		assert_int_equal(m->smtputf8, 1);
		assert_int_equal(m->anomalies, 0);
		assert_string_equal(m->helo, "lower.example");
	}
	h_sends(h, "QUIT now\r\n");
	want_reply(h, "501 5.5.4");
	h_sends(h, "quit\r\n");
	want_reply(h, "221");
	want_closed(h);
	h_free(h);
}

static void
tweak_noext(struct config *c)
{
	c->extensions = EXT_PIPELINING;
}

static void
test_smtp_session_extensions_off(void **state)
{
	struct h *h = h_new_cfg(tweak_noext);

	h_connect(h);
	want_reply(h, "220");
	h_sends(h, "EHLO x\r\n");
	assert_string_equal(h_reply(h), "250-smtpsink\n250 PIPELINING");
	h_sends(h, "MAIL FROM:<a@b> SIZE=10\r\n");
	want_reply(h, "555 Unsupported option: SIZE");
	h_sends(h, "MAIL FROM:<a@b> BODY=8BITMIME\r\n");
	want_reply(h, "555 ");
	h_sends(h, "MAIL FROM:<a@b> SMTPUTF8\r\n");
	want_reply(h, "555 ");
	h_sends(h, "MAIL FROM:<a@b> RET=FULL\r\n");
	want_reply(h, "555 ");
	h_sends(h, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d> NOTIFY=NEVER\r\n");
	want_reply(h, "250 Ok");
	want_reply(h, "555 ");
	h_sends(h, "BDAT 0 LAST\r\n");
	want_reply(h, "500 Error: command not recognized");
	h_free(h);
}

static struct rule *
rule_tmpl(struct rule *r, enum rules_stage st, const char *match, unsigned code, unsigned delay_ms,
    int disconnect)
{
	memset(r, 0, sizeof(*r));
	r->stage = st;
	r->match = (char *)match;
	r->code = code;
	r->delay_ms = delay_ms;
	r->disconnect = disconnect;
	r->message = (char *)"ruled";
	return r;
}

static void
test_smtp_session_rules(void **state)
{
	struct h   *h = h_new_cfg(NULL);
	struct rule t;
	char	    err[256];
	double	    t0;

	/* CONNECT refusal: greeting replaced, only QUIT works */
	assert_non_null(rules_add(server_rules(h->srv),
	    rule_tmpl(&t, RULES_STAGE_CONNECT, "127.0.0.*", 554, 0, 0), err, sizeof(err)));
	h_connect(h);
	want_reply(h, "554 5.3.2 ruled");
	h_sends(h, "EHLO x\r\n");
	want_reply(h, "503 5.5.1");
	h_sends(h, "QUIT\r\n");
	want_reply(h, "221");
	want_closed(h);
	rules_delete(server_rules(h->srv), NULL);

	/* RCPT: one recipient refused, the others accepted; rules change live */
	h_greet(h);
	assert_non_null(rules_add(server_rules(h->srv),
	    rule_tmpl(&t, RULES_STAGE_RCPT_TO, "*@blocked.example", 550, 0, 0), err, sizeof(err)));
	h_sends(h,
	    "MAIL FROM:<a@b>\r\nRCPT TO:<x@blocked.example>\r\nRCPT TO:<ok@fine.example>\r\n");
	want_reply(h, "250 2.1.0");
	want_reply(h, "550 5.1.1 ruled");
	want_reply(h, "250 2.1.5");
	rules_delete(server_rules(h->srv), NULL);
	h_sends(h, "RCPT TO:<x@blocked.example>\r\n");
	want_reply(h, "250 2.1.5");

	/* DATA rule (inside deliver_message) rejects, nothing stored */
	assert_non_null(rules_add(server_rules(h->srv),
	    rule_tmpl(&t, RULES_STAGE_DATA, "", 451, 0, 0), err, sizeof(err)));
	h_sends(h, "DATA\r\nA: b\r\n\r\n.\r\n");
	want_reply(h, "354");
	want_reply(h, "451 4.7.1 ruled");
	assert_int_equal(store_count(server_store(h->srv)), 0);
	rules_delete(server_rules(h->srv), NULL);

	/* MAIL delay: the normal reply comes later, pipelined input waits */
	assert_non_null(rules_add(server_rules(h->srv),
	    rule_tmpl(&t, RULES_STAGE_MAIL_FROM, "slow@*", 0, 100, 0), err, sizeof(err)));
	t0 = now_ms();
	h_sends(h, "MAIL FROM:<slow@x>\r\nNOOP\r\n");
	want_silence(h, 50);
	want_reply(h, "250 2.1.0");
	want_reply(h, "250 2.0.0");
	assert_true(now_ms() - t0 >= 90);
	rules_delete(server_rules(h->srv), NULL);

	/* HELO: refusal plus disconnect */
	assert_non_null(rules_add(server_rules(h->srv),
	    rule_tmpl(&t, RULES_STAGE_HELO, "bad.*", 421, 0, 1), err, sizeof(err)));
	h_sends(h, "EHLO bad.example\r\nNOOP\r\n");
	want_reply(h, "421 4.7.1 ruled");
	want_closed(h);

	/* The client leaves during a delay: no crash, session freed */
	rules_delete(server_rules(h->srv), NULL);
	assert_non_null(rules_add(server_rules(h->srv),
	    rule_tmpl(&t, RULES_STAGE_CONNECT, "", 0, 80, 0), err, sizeof(err)));
	h_connect(h);
	want_silence(h, 20);
	h_disconnect(h);
	t0 = now_ms();
	while (server_stats(h->srv)->sessions_active > 0 && now_ms() - t0 < 2000) {
		event_base_loop(h->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_int_equal(server_stats(h->srv)->sessions_active, 0);
	h_free(h);
}

/* Graceful shutdown: idle sessions get 421 at once, DATA finishes first */
static void
test_smtp_session_shutdown(void **state)
{
	struct h *h = h_new_cfg(NULL);
	struct h  idle;
	char	 *r;

	h_peer(&idle, h);
	h_greet(h);
	h_envelope(h);
	h_sends(h, "DATA\r\nA: b\r\n\r\npart");
	want_reply(h, "354");
	h_connect(&idle);
	want_reply(&idle, "220");

	smtp_session_shutdown_all(server_sessions(h->srv), 0);
	want_reply(&idle, "421 4.3.2");
	want_closed(&idle);
	close(idle.fd);

	h_sends(h, "\r\n.\r\n");
	r = h_reply(h);
	want_stored(h, r, "A: b\r\n\r\npart\r\n", 14);
	want_reply(h, "421 4.3.2");
	want_closed(h);

	/* Forced: a session stuck in DATA is closed, nothing partial stored */
	server_sessions(h->srv)->stopping = 0;
	h_greet(h);
	h_envelope(h);
	h_sends(h, "DATA\r\nA: b\r\n\r\nstuck");
	want_reply(h, "354");
	smtp_session_shutdown_all(server_sessions(h->srv), 0);
	want_silence(h, 5);
	smtp_session_shutdown_all(server_sessions(h->srv), 1);
	want_reply(h, "421 4.3.2");
	want_closed(h);
	assert_int_equal(store_count(server_store(h->srv)), 1);
	assert_int_equal(server_stats(h->srv)->sessions_active, 0);
	h_free(h);
}

static void
tweak_timeouts(struct config *c)
{
	c->idle_timeout_ms = 60;
	c->session_deadline_ms = 150;
}

static void
test_smtp_session_timeouts(void **state)
{
	struct h *h = h_new_cfg(tweak_timeouts);
	double	  t0;
	char	 *r;
	int	  i;

	h_greet(h);
	t0 = now_ms();
	r = h_reply(h);
	if (strncmp(r, "421 4.4.2", 9) != 0)
		fail_msg("idle: got \"%s\"", r);
	assert_true(now_ms() - t0 >= 55);
	want_closed(h);

	/* A slow drip defeats the idle timer, not the deadline */
	h_greet(h);
	h_envelope(h);
	h_sends(h, "DATA\r\n");
	want_reply(h, "354");
	for (i = 0; i < 60 && h_reply_len(h) == 0 && !h->eof; i++) {
		h_sends(h, "x"); /* every 10 ms: never 60 ms idle */
		usleep(10 * 1000);
		h_pump(h);
	}
	want_reply(h, "421 4.4.2");
	want_closed(h);
	assert_int_equal(store_count(server_store(h->srv)), 0);
	h_free(h);
}

static void
tweak_stress(struct config *c)
{
	c->max_sessions = 5;
	c->idle_timeout_ms = 60 * 1000;
	c->stress_idle_timeout_ms = 50;
}

/*
 * Issue 8: above 80 % of max_sessions the idle limit drops to
 * stress_idle_timeout (Postfix's stress), for the sessions already idle too;
 * below 70 % the normal limit is back.
 */
static void
test_smtp_session_stress_timeout(void **state)
{
	struct h *h = h_new_cfg(tweak_stress);
	struct h  more[4];
	double	  t0;
	char	 *r;
	int	  i;

	for (i = 0; i < 4; i++) {
		h_peer(&more[i], h);
		h_connect(&more[i]);
		want_reply(&more[i], "220");
	}
	assert_int_equal(server_sessions(h->srv)->stressed, 0); /* 4 of 5: 80 % */
	want_silence(&more[0], 60);				/* the 60 s limit holds */
	t0 = now_ms();
	h_greet(h); /* 5 of 5: stress */
	assert_int_equal(server_sessions(h->srv)->stressed, 1);
	for (i = 0; i < 4; i++) {
		r = h_reply(&more[i]);
		if (strncmp(r, "421 4.4.2", 9) != 0)
			fail_msg("session %d: got \"%s\"", i, r);
		want_closed(&more[i]);
		close(more[i].fd);
	}
	assert_true(now_ms() - t0 < 2000);
	/* 1 of 5 left: the stress is over, the normal limit is back */
	h_pump(h);
	assert_int_equal(server_sessions(h->srv)->stressed, 0);
	want_silence(h, 60);
	h_free(h);
}

static void
tweak_on_full_reject(struct config *c)
{
	c->on_full = CONFIG_ON_FULL_REJECT;
	c->store_max_messages = 2;
}

/*
 * Issue 8: --on-full reject keeps what is stored and refuses new mail with
 * 452 4.3.1: at MAIL when the store is already full, at the end of data when
 * another session filled it meanwhile. Nothing is evicted.
 */
static void
test_smtp_session_on_full_reject(void **state)
{
	struct h *h = h_new_cfg(tweak_on_full_reject);
	struct h  other;
	char	 *r;

	h_peer(&other, h);
	h_greet(h);
	h_envelope(h);
	h_sends(h, "DATA\r\nm: 1\r\n\r\n.\r\n");
	want_reply(h, "354");
	want_reply(h, "250 2.0.0 Ok: queued as 1");
	/* Two transactions in flight for the last free place */
	h_greet(&other);
	h_envelope(&other);
	h_envelope(h);
	h_sends(&other, "DATA\r\nm: 2\r\n\r\n.\r\n");
	want_reply(&other, "354");
	want_reply(&other, "250 2.0.0 Ok: queued as 2");
	h_sends(h, "DATA\r\nm: 3\r\n\r\n.\r\n");
	want_reply(h, "354");
	want_reply(h, "452 4.3.1 Insufficient system storage");
	/* Full: refused at MAIL, before any data is sent */
	h_sends(h, "MAIL FROM:<a@b.example>\r\n");
	want_reply(h, "452 4.3.1 Insufficient system storage");
	assert_int_equal(store_count(server_store(h->srv)), 2);
	assert_int_equal(store_evicted(server_store(h->srv)), 0);
	assert_non_null(store_get(server_store(h->srv), 1));
	/* Room again after a delete */
	assert_int_equal(store_delete_id(server_store(h->srv), 1), 1);
	h_envelope(h);
	h_sends(h, "DATA\r\nm: 4\r\n\r\n.\r\n");
	want_reply(h, "354");
	r = h_reply(h);
	if (strncmp(r, "250 2.0.0 Ok: queued as 3", 26) != 0) /* a refused message takes no id */
		fail_msg("after delete: got \"%s\"", r);
	close(other.fd);
	h_free(h);
}

/* ----- AUTH (RFC 4954) ----- */

static void
tweak_auth(struct config *cfg)
{
	cfg->auth = 1;
	cfg->auth_allow_insecure = 1;
}

static void
tweak_auth_users(struct config *cfg)
{
	cfg->auth = 1;
	cfg->auth_allow_insecure = 1;
	cfg->require_auth = 1;
	cfg->auth_users = calloc(1, sizeof(*cfg->auth_users));
	cfg->auth_users[0].name = strdup("alice");
	cfg->auth_users[0].password = strdup("pw");
	cfg->auth_users_n = 1;
}

/* TLS configured (the TLS side sets SF_TLS once a session runs inside it) */
static void
tweak_auth_tls(struct config *cfg)
{
	cfg->auth = 1;
	cfg->starttls = 1;
}

static void
test_smtp_session_auth(void **state)
{
	struct h       *h = h_new_cfg(tweak_auth);
	struct message *m;
	char	       *r;

	h_connect(h);
	want_reply(h, "220 ");
	h_sends(h, "AUTH PLAIN AGFsaWNlAHB3\r\n");
	want_reply(h, "503 5.5.1 Error: send EHLO first");
	h_sends(h, "EHLO client.example\r\n");
	r = h_reply(h);
	if (strstr(r, "\n250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2") == NULL)
		fail_msg("EHLO reply without AUTH: \"%s\"", r);
	h_sends(h, "AUTH\r\n");
	want_reply(h, "501 5.5.4");
	h_sends(h, "AUTH GSSAPI\r\n");
	want_reply(h, "504 5.5.4");
	h_sends(h, "AUTH PLAIN\r\n");
	assert_string_equal(h_reply(h), "334 ");
	h_sends(h, "*\r\n");
	want_reply(h, "501 5.0.0 Authentication cancelled");
	h_sends(h, "AUTH PLAIN not-base64\r\n");
	want_reply(h, "501 5.5.2");
	/* lines during an exchange are not commands */
	h_sends(h, "AUTH LOGIN\r\n");
	want_reply(h, "334 VXNlcm5hbWU6");
	h_sends(h, "QUIT\r\n"); /* valid base64: the user name */
	want_reply(h, "334 UGFzc3dvcmQ6");
	h_sends(h, "*\r\n");
	want_reply(h, "501 5.0.0");
	/* not inside a transaction */
	h_sends(h, "MAIL FROM:<a@b.example>\r\n");
	want_reply(h, "250 2.1.0");
	h_sends(h, "AUTH PLAIN AGFsaWNlAHB3\r\n");
	want_reply(h, "503 5.5.1");
	h_sends(h, "RSET\r\n");
	want_reply(h, "250 ");
	/* "\0alice\0pw": any credentials without a user list */
	h_sends(h, "AUTH PLAIN AGFsaWNlAHB3\r\n");
	want_reply(h, "235 2.7.0 Authentication successful");
	h_sends(h, "AUTH PLAIN AGFsaWNlAHB3\r\n");
	want_reply(h, "503 5.5.1");
	/* RSET keeps the authentication */
	h_sends(h, "RSET\r\nAUTH LOGIN\r\n");
	want_reply(h, "250 ");
	want_reply(h, "503 5.5.1");
	/* MAIL's AUTH= (RFC 4954 §5): xtext, recorded with the parameters */
	h_sends(h, "MAIL FROM:<a@b.example> AUTH=a+zz\r\n");
	want_reply(h, "501 5.5.4 Syntax error in AUTH");
	h_sends(h, "MAIL FROM:<a@b.example> AUTH=<>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
	want_reply(h, "250 2.1.0");
	want_reply(h, "250 2.1.5");
	want_reply(h, "354 ");
	h_sends(h, "A: b\r\n\r\nx\r\n.\r\n");
	m = want_stored(h, h_reply(h), "A: b\r\n\r\nx\r\n", 11);
	assert_string_equal(m->auth_user, "alice");
	assert_string_equal(m->auth_mechanism, "PLAIN");
	assert_int_equal(m->nmail_params, 1);
	assert_string_equal(m->mail_params[0].name, "AUTH");
	assert_string_equal(m->mail_params[0].value, "<>");

	/* a new session starts unauthenticated; a message without AUTH has none */
	h_greet(h);
	h_sends(h, "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
	want_reply(h, "250 2.1.0");
	want_reply(h, "250 2.1.5");
	want_reply(h, "354 ");
	h_sends(h, "A: b\r\n\r\n.\r\n");
	m = want_stored(h, h_reply(h), "A: b\r\n\r\n", 8);
	assert_null(m->auth_user);
	assert_null(m->auth_mechanism);
	h_free(h);

	/* AUTH off: an unknown command, as before */
	h = h_new_cfg(NULL);
	h_greet(h);
	h_sends(h, "AUTH PLAIN AGFsaWNlAHB3\r\n");
	want_reply(h, "500 5.5.1 Error: command not recognized");
	h_sends(h, "MAIL FROM:<a@b.example> AUTH=<>\r\n");
	want_reply(h, "555 5.5.4");
	h_free(h);
}

static void
test_smtp_session_auth_tls_required(void **state)
{
	struct h *h = h_new_cfg(tweak_auth_tls);
	char	 *r;

	h_connect(h);
	want_reply(h, "220 ");
	h_sends(h, "EHLO client.example\r\n");
	r = h_reply(h);
	if (strstr(r, "AUTH") != NULL)
		fail_msg("AUTH advertised before TLS: \"%s\"", r);
	h_sends(h, "AUTH PLAIN AGFsaWNlAHB3\r\n");
	want_reply(h, "538 5.7.11 Encryption required for requested authentication mechanism");
	h_sends(h, "NOOP\r\n");
	want_reply(h, "250 ");
	h_free(h);
}

static void
test_smtp_session_auth_users(void **state)
{
	struct h   *h = h_new_cfg(tweak_auth_users);
	struct rule t;
	char	    err[256];
	unsigned    i;

	h_greet(h);
	h_sends(h, "MAIL FROM:<a@b.example>\r\n");
	want_reply(h, "530 5.7.0 Authentication required");
	/* LOGIN, wrong password: 535, the session goes on */
	h_sends(h, "AUTH LOGIN YWxpY2U=\r\n");
	want_reply(h, "334 UGFzc3dvcmQ6");
	h_sends(h, "d3Jvbmc=\r\n");
	want_reply(h, "535 5.7.8 Authentication credentials invalid");
	h_sends(h, "NOOP\r\n");
	want_reply(h, "250 ");
	/* an AUTH rule with times 1: its reply instead of 235, then exhausted */
	assert_non_null(rules_add(server_rules(h->srv),
	    rule_tmpl(&t, RULES_STAGE_AUTH, "ALICE", 454, 0, 0), err, sizeof(err)));
	t.times = 1;
	rules_delete(server_rules(h->srv), NULL);
	assert_non_null(rules_add(server_rules(h->srv), &t, err, sizeof(err)));
	h_sends(h, "AUTH PLAIN AGFsaWNlAHB3\r\n");
	want_reply(h, "454 4.7.0 ruled");
	h_sends(h, "MAIL FROM:<a@b.example>\r\n");
	want_reply(h, "530 5.7.0");
	h_sends(h, "AUTH PLAIN AGFsaWNlAHB3\r\n");
	want_reply(h, "235 2.7.0");
	h_sends(h, "MAIL FROM:<a@b.example>\r\n");
	want_reply(h, "250 2.1.0");

	/* an unlisted user over XOAUTH2: the 334 JSON error, then 535 */
	h_greet(h);
	h_sends(h, "AUTH XOAUTH2 dXNlcj1ib2IBYXV0aD1CZWFyZXIgdAEB\r\n");
	want_reply(h, "334 eyJzdGF0dXMiOiI0MDAi");
	h_sends(h, "\r\n");
	want_reply(h, "535 5.7.8");

	/* an AUTH line may be longer than --max-line-length, up to 12288 */
	{
		static char line[13000];
		size_t	    n;

		n = snprintf(line, sizeof(line), "AUTH PLAIN ");
		memset(line + n, 'A', 8000);
		memcpy(line + n + 8000, "\r\n", 3);
		h_sends(h, line);
		want_reply(h, "535 5.7.8"); /* decodes to NULs only */
		memset(line + n, 'A', 12400);
		memcpy(line + n + 12400, "\r\n", 3);
		h_sends(h, line);
		want_reply(h, "500 5.5.2 Error: line too long");
		want_closed(h);
	}

	/* failures count as errors: --max-errors closes, not one failure */
	h_greet(h);
	for (i = 0; i + 1 < h->cfg.error_max; i++) {
		h_sends(h, "AUTH PLAIN AGJvYgB4\r\n");
		want_reply(h, "535 5.7.8");
	}
	h_sends(h, "AUTH PLAIN AGJvYgB4\r\n");
	want_reply(h, "535 5.7.8");
	want_reply(h, "421 4.7.0");
	want_closed(h);
	h_free(h);
}

static void
test_smtp_session_ext_line(void **state)
{
	struct h *h = h_new_cfg(NULL);
	char	  line[256];

	smtp_session_ext_line(&h->cfg, line, sizeof(line));
	assert_string_equal(line,
	    "PIPELINING 8BITMIME SMTPUTF8 SIZE 33554432 ENHANCEDSTATUSCODES "
	    "CHUNKING BINARYMIME DSN");
	h_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_session_transaction_and_envelope),
		cmocka_unit_test(test_smtp_session_data_split_every_byte),
		cmocka_unit_test(test_smtp_session_data_bytewise),
		cmocka_unit_test(test_smtp_session_no_smuggling),
		cmocka_unit_test(test_smtp_session_bdat),
		cmocka_unit_test(test_smtp_session_disconnect_mid_data_stores_nothing),
		cmocka_unit_test(test_smtp_session_half_close),
		cmocka_unit_test(test_smtp_session_limits),
		cmocka_unit_test(test_smtp_session_pipelining_order),
		cmocka_unit_test(test_smtp_session_pipelining_flood),
		cmocka_unit_test(test_smtp_session_commands),
		cmocka_unit_test(test_smtp_session_extensions_off),
		cmocka_unit_test(test_smtp_session_rules),
		cmocka_unit_test(test_smtp_session_shutdown),
		cmocka_unit_test(test_smtp_session_timeouts),
		cmocka_unit_test(test_smtp_session_stress_timeout),
		cmocka_unit_test(test_smtp_session_on_full_reject),
		cmocka_unit_test(test_smtp_session_ext_line),
		cmocka_unit_test(test_smtp_session_auth),
		cmocka_unit_test(test_smtp_session_auth_tls_required),
		cmocka_unit_test(test_smtp_session_auth_users),
	};

	log_init(LOG_FORMAT_TEXT, getenv("TEST_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
