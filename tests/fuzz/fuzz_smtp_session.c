/*
 * fuzz_smtp_session - one SMTP session driven through the real session code:
 * smtp_session_new() on one end of a socketpair, a struct server and an
 * event_base of its own per input (as tests/unit/test_smtp_session.c does),
 * the input written to the other end in pieces, the loop run with
 * EVLOOP_NONBLOCK between pieces and the replies read as they come.
 *
 * Input: three header bytes, then the client's bytes (commands, DATA and
 * BDAT octets, pipelined as the fuzzer likes).
 *   byte 0, flags: 0x01 small limits (line 128, data line 200, message 512,
 *     3 recipients, 4 errors, 2 commands per wakeup); 0x02 reject rules
 *     (see add_rules()); 0x04 graceful shutdown half-way through the input;
 *     0x08 half-close (SHUT_WR) after the input instead of close(); 0x10
 *     forced shutdown after the input; 0x20 a store of 2 messages (eviction);
 *     0x40 AUTH offered (outside TLS), users alice:pw and bob:pw
 *   byte 1: EHLO extensions switched off (EXT_* bits of config.h)
 *   byte 2: piece sizes: 0 writes everything at once, else a generator
 *     seeded with it gives pieces of 1 to 300 octets
 * Timeouts are a day and no rule delays, so no timer ever fires: an input
 * runs in well under a millisecond of loop time.
 *
 * Checked: every reply line is "DDD[ -]text" CRLF with a code 200-599 and
 * at most SMTP_REPLY_MAX octets; nothing follows a 221 or a 421; each
 * "250 ... queued as N" names a message the store holds, and in the end the
 * store holds exactly those (no eviction) and counts them as received; a
 * stored message is NUL-terminated and has a recipient; the session reads
 * all input or closes (no stall); once the client has gone and the loop
 * ran, no session is left.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "message.h"
#include "rules.h"
#include "server.h"
#include "smtp_session.h"
#include "smtp_session_internal.h"
#include "stats.h"
#include "store.h"

#define F_SMALL	    0x01
#define F_RULES	    0x02
#define F_SHUTDOWN  0x04
#define F_HALFCLOSE 0x08
#define F_FORCE	    0x10
#define F_EVICT	    0x20
#define F_AUTH	    0x40

#define PUMPS_MAX   20000 /* loop passes without progress = a stall */

struct h {
	struct config	   cfg;
	struct event_base *base;
	struct server	  *srv;
	int		   fd; /* client end */
	int		   eof;
	int		   evict;
	char		   line[SMTP_REPLY_MAX + 2];
	size_t		   linelen;
	int		   closing_code; /* 221 or 421 seen */
	uint64_t	   queued;	 /* "queued as" replies */
};

static void
check_line(struct h *h)
{
	const char *l = h->line, *q;
	size_t	    n = h->linelen, i;
	uint64_t    id;

	if (h->closing_code)
		fuzz_fail("session: \"%.*s\" after a %d reply", (int)n, l, h->closing_code);
	if (n < 6 || l[n - 2] != '\r' || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' ||
	    l[2] < '0' || l[2] > '9' || (l[3] != ' ' && l[3] != '-'))
		fuzz_fail("session: bad reply line \"%.*s\"", (int)n, l);
	for (i = 0; i + 2 < n; i++)
		if (l[i] == '\r' || l[i] == '\n' || l[i] == '\0')
			fuzz_fail("session: byte %#x inside reply \"%.*s\"", l[i], (int)n, l);
	if (l[3] == ' ' && (strncmp(l, "221", 3) == 0 || strncmp(l, "421", 3) == 0))
		h->closing_code = atoi(l);
	if (strncmp(l, "250 ", 4) == 0 && (q = strstr(l, "queued as ")) != NULL) {
		id = strtoull(q + 10, NULL, 10);
		h->queued++;
		if (!h->evict && store_get(server_store(h->srv), id) == NULL)
			fuzz_fail("session: \"%.*s\" but message %llu is not stored", (int)n - 2, l,
			    (unsigned long long)id);
	}
}

/* Reads what the server wrote; returns the number of octets. */
static size_t
h_read(struct h *h)
{
	char	buf[16384];
	ssize_t n, i;
	size_t	total = 0;

	while (h->fd >= 0 && !h->eof) {
		n = read(h->fd, buf, sizeof(buf));
		if (n == 0)
			h->eof = 1;
		if (n <= 0)
			break;
		total += n;
		for (i = 0; i < n; i++) {
			if (h->linelen >= SMTP_REPLY_MAX)
				fuzz_fail("session: reply line over %d octets: \"%.60s...\"",
				    SMTP_REPLY_MAX, h->line);
			h->line[h->linelen++] = buf[i];
			if (buf[i] == '\n') {
				h->line[h->linelen] = '\0';
				check_line(h);
				h->linelen = 0;
			}
		}
	}
	return total;
}

/* One loop pass and the replies; returns 1 if anything moved. */
static int
h_pump(struct h *h)
{
	event_base_loop(h->base, EVLOOP_NONBLOCK);
	return h_read(h) > 0;
}

/* Octets written and not yet read by the server (AF_UNIX: SIOCOUTQ). */
static int
h_unread(struct h *h)
{
	int n = 0;

	if (h->fd < 0 || ioctl(h->fd, TIOCOUTQ, &n) == -1)
		return 0;
	return n;
}

/*
 * Runs the loop until nothing moves: the server read all we sent (or went
 * away), no event is active, and a few passes brought no reply.
 */
static void
h_settle(struct h *h)
{
	int pumps, quiet = 0;

	for (pumps = 0; pumps < PUMPS_MAX; pumps++) {
		if (h_pump(h))
			quiet = 0;
		else if (event_base_get_num_events(h->base, EVENT_BASE_COUNT_ACTIVE) == 0 &&
		    (h->eof || h_unread(h) == 0 || smtp_sessions_empty(server_sessions(h->srv))))
			quiet++;
		if (quiet >= 3)
			return;
	}
	fuzz_fail("session: stalled: %d octets unread by the server after %d loop passes",
	    h_unread(h), PUMPS_MAX);
}

static void
h_send(struct h *h, const uint8_t *p, size_t n)
{
	ssize_t w;
	int	stuck = 0;

	while (n > 0 && !h->eof) {
		w = write(h->fd, p, n);
		if (w > 0) {
			p += w;
			n -= w;
			stuck = 0;
		} else if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return; /* the server closed: EPIPE, ECONNRESET */
		else if (!h_pump(h) && ++stuck > PUMPS_MAX)
			fuzz_fail("session: stalled: the server reads nothing of %zu octets", n);
	}
	h_pump(h);
}

static void
add_rules(struct rules *rules)
{
	static const struct {
		enum rules_stage stage;
		const char	*match;
		unsigned	 code;
		int		 disconnect;
	} t[] = {
		{ RULES_STAGE_HELO, "*reject*", 550, 0 },
		{ RULES_STAGE_MAIL_FROM, "*@deny.*", 451, 0 },
		{ RULES_STAGE_MAIL_FROM, "*@drop.*", 0, 1 },
		{ RULES_STAGE_RCPT_TO, "*@bad.*", 550, 0 },
		{ RULES_STAGE_RCPT_TO, "*@bye.*", 421, 1 },
		{ RULES_STAGE_DATA, "*@data.*", 554, 0 },
		{ RULES_STAGE_DATA, "*@gone.*", 0, 1 },
		{ RULES_STAGE_AUTH, "bob", 535, 0 },
		{ RULES_STAGE_AUTH, "*bye*", 454, 1 },
	};
	struct rule r;
	char	    err[256];
	size_t	    i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.stage = t[i].stage;
		r.match = (char *)t[i].match;
		r.code = t[i].code;
		r.message = (char *)"";
		r.disconnect = t[i].disconnect;
		if (rules_add(rules, &r, err, sizeof(err)) == NULL)
			fuzz_fail("session: rule %zu: %s", i, err);
	}
}

static const char *
check_message(void *arg, const struct message *m)
{
	if (m->data == NULL || m->data[m->size] != '\0')
		fuzz_fail("session: delivered data not NUL-terminated");
	if (m->nrcpts == 0 || m->mail_from == NULL)
		fuzz_fail("session: delivered a message with %zu recipients", m->nrcpts);
	return NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	signal(SIGPIPE, SIG_IGN);
	log_init(LOG_FORMAT_TEXT, getenv("FUZZ_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in	   in = { data, size };
	unsigned	   flags = fuzz_byte(&in), ext_off = fuzz_byte(&in);
	unsigned	   seed = fuzz_byte(&in), rnd = seed;
	struct sockaddr_in sin;
	struct h	   h;
	size_t		   off = 0, n;
	int		   sv[2], half_done = 0;
	struct stats	  *st;

	memset(&h, 0, sizeof(h));
	config_defaults(&h.cfg);
	h.cfg.idle_timeout_ms = 86400 * 1000ULL;
	h.cfg.session_deadline_ms = 86400 * 1000ULL;
	h.cfg.shutdown_grace_ms = 86400 * 1000ULL;
	h.cfg.extensions &= ~ext_off;
	if (flags & F_SMALL) {
		h.cfg.smtp_line_max = 128;
		h.cfg.data_line_max = 200;
		h.cfg.message_size_max = 512;
		h.cfg.rcpt_max = 3;
		h.cfg.error_max = 4;
		h.cfg.cmds_per_wakeup = 2;
	}
	if (flags & F_EVICT) {
		h.cfg.store_max_messages = 2;
		h.evict = 1;
	}
	h.base = event_base_new();
	h.srv = server_new(&h.cfg, h.base);
	server_set_handler(h.srv, check_message, NULL);
	if (flags & F_AUTH) {
		h.cfg.auth = h.cfg.auth_allow_insecure = 1;
		h.cfg.auth_users = calloc(2, sizeof(*h.cfg.auth_users));
		h.cfg.auth_users[0].name = strdup("alice");
		h.cfg.auth_users[1].name = strdup("bob");
		h.cfg.auth_users[0].password = strdup("pw");
		h.cfg.auth_users[1].password = strdup("pw");
		h.cfg.auth_users_n = 2;
	}
	if (flags & F_RULES)
		add_rules(server_rules(h.srv));

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		fuzz_fail("socketpair: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(4242);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (smtp_session_new(server_sessions(h.srv), sv[0], (struct sockaddr *)&sin, sizeof(sin)) ==
	    NULL)
		fuzz_fail("smtp_session_new failed");
	h.fd = sv[1];
	fcntl(h.fd, F_SETFL, O_NONBLOCK);
	h_pump(&h);

	while (off < in.len && !h.eof) {
		n = in.len - off;
		if (seed != 0) {
			rnd = rnd * 1103515245 + 12345;
			if (n > 1 + (rnd >> 16) % 300)
				n = 1 + (rnd >> 16) % 300;
		}
		if ((flags & F_SHUTDOWN) && !half_done && off + n > in.len / 2) {
			smtp_session_shutdown_all(server_sessions(h.srv), 0);
			half_done = 1;
		}
		h_send(&h, in.p + off, n);
		off += n;
	}
	h_settle(&h);
	if (flags & F_FORCE) {
		smtp_session_shutdown_all(server_sessions(h.srv), 1);
		h_settle(&h);
	}
	if (flags & F_HALFCLOSE) {
		shutdown(h.fd, SHUT_WR);
		h_settle(&h);
	}
	close(h.fd);
	h.fd = -1;
	h_settle(&h);
	if (!smtp_sessions_empty(server_sessions(h.srv)))
		fuzz_fail("session: still open after the client left");

	st = server_stats(h.srv);
	if (st->messages_received != h.queued)
		fuzz_fail("session: %llu messages received, %llu \"queued as\" replies",
		    (unsigned long long)st->messages_received, (unsigned long long)h.queued);
	if (!h.evict && store_count(server_store(h.srv)) != h.queued)
		fuzz_fail("session: %zu messages stored, %llu \"queued as\" replies",
		    store_count(server_store(h.srv)), (unsigned long long)h.queued);
	server_free(h.srv);
	event_base_free(h.base);
	config_free(&h.cfg);
	return 0;
}
