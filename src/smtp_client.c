/*
 * smtp_client - non-blocking ESMTP client for the relay; see smtp_client.h.
 *
 * The connection set-up is a chain of requests like any command: the
 * greeting is a request with nothing to write, then EHLO, STARTTLS (the
 * bufferevent is then wrapped in a TLS filter and EHLO repeated), AUTH.
 * Requests live in one FIFO; `nsent` of them, at its head, are written and
 * wait for their reply; `unsent` is the first of the rest. What they let
 * go is gathered in `out` and written once per dispatch (see
 * smtp_client_flush()), on a plain connection straight to the socket when
 * the bufferevent holds nothing.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <glib.h>

#include "log.h"
#include "smtp_client.h"
#include "tls.h"
#include "xmalloc.h"

enum smtp_client_state {
	SC_CONNECT,   /* TCP connect (and the implicit TLS handshake) */
	SC_SETUP,     /* greeting, EHLO, STARTTLS, AUTH */
	SC_HANDSHAKE, /* STARTTLS handshake */
	SC_READY,
	SC_BROKEN,
};

/*
 * One request: a command line (CRLF included) in line[], raw bytes in raw,
 * or nothing to write (the greeting, a request on a broken connection). One
 * allocation per command: the relay sends four or five per message.
 */
struct smtp_client_req {
	TAILQ_ENTRY(smtp_client_req) entry;
	struct evbuffer	     *raw; /* smtp_client_raw()'s bytes, else NULL */
	smtp_client_reply_fn *cb;
	void		     *arg;
	size_t		      len; /* of line[] */
	char		      line[];
};

TAILQ_HEAD(smtp_client_reqs, smtp_client_req);

struct smtp_client {
	struct event_base      *base;
	struct bufferevent     *bev;
	struct event	       *defer_ev; /* a failure reported after new() returned */
	struct event	       *send_ev;  /* writes out, later in this loop pass */
	struct evbuffer	       *out;	  /* what the requests let go, not yet written */
	int			direct;	  /* bev is a plain socket: out may go to its fd */
	int			send_queued;
	struct relay_url	url;
	struct tls_client      *tls;
	struct evdns_base      *dns;
	char		       *helo;
	unsigned		timeout_ms, idle_ms;
	unsigned		tmo_set; /* the timeout bev has now; 0: none set */
	enum smtp_client_state	state;
	struct relay_caps	caps;
	int			tls_on;
	int			ever_ready;
	int			loopback;
	struct smtp_client_reqs reqs;
	struct smtp_client_req *unsent; /* the first request not written; NULL: none */
	size_t			nsent;
	char			reply[SMTP_CLIENT_REPLY_MAX];
	size_t			replylen;
	smtp_client_ready_fn   *ready;
	void		       *ready_arg;
	int			busy; /* inside a dispatch: free is deferred */
	int			dead;
	char			error[600];
};

static void smtp_client_read_cb(struct bufferevent *, void *);
static void smtp_client_event_cb(struct bufferevent *, short, void *);
static void smtp_client_flush(struct smtp_client *);
static void smtp_client_greeting(void *, unsigned, const char *);
static void smtp_client_ehlo(void *, unsigned, const char *);

/* Also wipes the line: the commands of AUTH are not kept anywhere */
static void
smtp_client_req_free(struct smtp_client_req *r)
{
	if (r->raw != NULL)
		evbuffer_free(r->raw);
	explicit_bzero(r->line, r->len);
	free(r);
}

/* Takes r off the FIFO */
static void
smtp_client_req_unlink(struct smtp_client *c, struct smtp_client_req *r)
{
	if (c->unsent == r)
		c->unsent = TAILQ_NEXT(r, entry);
	TAILQ_REMOVE(&c->reqs, r, entry);
}

static void
smtp_client_destroy(struct smtp_client *c)
{
	struct smtp_client_req *r;

	while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
		smtp_client_req_unlink(c, r);
		smtp_client_req_free(r);
	}
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->defer_ev != NULL)
		event_free(c->defer_ev);
	event_free(c->send_ev);
	evbuffer_free(c->out);
	relay_url_clear(&c->url);
	free(c->helo);
	free(c);
}

void
smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	if (c->busy) {
		c->dead = 1;
		return;
	}
	smtp_client_destroy(c);
}

int
smtp_client_usable(const struct smtp_client *c)
{
	return c->state == SC_READY && !c->dead;
}

const struct relay_caps *
smtp_client_caps(const struct smtp_client *c)
{
	return &c->caps;
}

int
smtp_client_tls(const struct smtp_client *c)
{
	return c->tls_on;
}

/*
 * The read and write timeouts of bev: timeout_ms while anything is awaited,
 * idle_ms when nothing is. Set only when that changes (libevent restarts
 * the read timer at each read by itself); a new bev sets tmo_set to 0.
 */
static void
smtp_client_timeouts(struct smtp_client *c)
{
	struct timeval tv;
	unsigned       ms = c->nsent > 0 || c->state != SC_READY ? c->timeout_ms : c->idle_ms;

	if (c->bev == NULL || ms == c->tmo_set)
		return;
	c->tmo_set = ms;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

/*
 * Tells the waiters the connection is gone: ready() before the client was
 * ever ready, else every request's callback with code 0.
 */
static void
smtp_client_report(struct smtp_client *c, unsigned code)
{
	struct smtp_client_req *r;

	c->busy++;
	if (!c->ever_ready) {
		while ((r = TAILQ_FIRST(&c->reqs)) != NULL) {
			smtp_client_req_unlink(c, r);
			smtp_client_req_free(r);
		}
		if (c->ready != NULL)
			c->ready(c->ready_arg, 0, code, c->error);
	} else {
		while (!c->dead && (r = TAILQ_FIRST(&c->reqs)) != NULL) {
			smtp_client_req_unlink(c, r);
			r->cb(r->arg, 0, c->error);
			smtp_client_req_free(r);
		}
	}
	c->nsent = 0;
	if (--c->busy == 0 && c->dead)
		smtp_client_destroy(c);
}

/* The connection is gone; the client stays allocated for its owner. */
static void
smtp_client_fail(struct smtp_client *c, unsigned code, const char *why)
{
	if (c->state == SC_BROKEN)
		return;
	c->state = SC_BROKEN;
	snprintf(c->error, sizeof(c->error), "%s", why);
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	smtp_client_report(c, code);
}

static void
smtp_client_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	smtp_client_report(arg, 0);
}

/* Broken already, or found broken before new() returned: reported from the loop */
static void
smtp_client_fail_later(struct smtp_client *c, const char *why)
{
	struct timeval tv = { 0, 0 };

	if (why != c->error)
		snprintf(c->error, sizeof(c->error), "%s", why);
	c->state = SC_BROKEN;
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->defer_ev == NULL)
		c->defer_ev = evtimer_new(c->base, smtp_client_defer_cb, c);
	if (!evtimer_pending(c->defer_ev, NULL))
		evtimer_add(c->defer_ev, &tv);
}

static void
smtp_client_push(struct smtp_client *c, struct smtp_client_req *r, smtp_client_reply_fn *cb,
    void *arg)
{
	r->cb = cb;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&c->reqs, r, entry);
	if (c->unsent == NULL)
		c->unsent = r;
	smtp_client_flush(c);
}

/* A request for line (no CRLF), or with nothing to write for NULL */
static struct smtp_client_req *
smtp_client_req_new(const char *line)
{
	size_t			n = line != NULL ? strlen(line) : 0;
	struct smtp_client_req *r = xmalloc(sizeof(*r) + (line != NULL ? n + 2 : 0));

	memset(r, 0, sizeof(*r));
	if (line != NULL) {
		memcpy(r->line, line, n);
		memcpy(r->line + n, "\r\n", 2);
		r->len = n + 2;
	}
	return r;
}

static void
smtp_client_line(struct smtp_client *c, const char *line, smtp_client_reply_fn *cb, void *arg)
{
	smtp_client_push(c, smtp_client_req_new(line), cb, arg);
}

void
smtp_client_cmd(struct smtp_client *c, const char *line, smtp_client_reply_fn *cb, void *arg)
{
	/* Broken: nothing to write, but the callback runs, from the loop */
	smtp_client_line(c, c->state == SC_BROKEN ? NULL : line, cb, arg);
}

void
smtp_client_raw(struct smtp_client *c, struct evbuffer *data, smtp_client_reply_fn *cb, void *arg)
{
	struct smtp_client_req *r = smtp_client_req_new(NULL);

	r->raw = data;
	smtp_client_push(c, r, cb, arg);
}

/*
 * Writes out. On a plain socket with nothing left in bev's own buffer the
 * bytes go to the fd at once: most writes then need no EV_WRITE (two
 * epoll_ctl calls and a loop pass each). What the socket does not take, and
 * everything on TLS, goes through bev.
 */
static void
smtp_client_send(struct smtp_client *c)
{
	if (c->bev == NULL || evbuffer_get_length(c->out) == 0)
		return;
	/* On an error (EAGAIN included) it all goes to bev, whose write reports it */
	if (c->direct && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		(void)evbuffer_write(c->out, bufferevent_getfd(c->bev));
	if (evbuffer_get_length(c->out) > 0)
		bufferevent_write_buffer(c->bev, c->out);
}

static void
smtp_client_send_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;

	c->send_queued = 0;
	smtp_client_send(c);
}

/*
 * Lets out what may go now: everything with PIPELINING, else one at a
 * time. Written once per dispatch: at the end of the reply callback's
 * run, or from send_ev for commands queued from outside one, so that a
 * transaction's commands (and the next one's behind a message) share a
 * write.
 */
static void
smtp_client_flush(struct smtp_client *c)
{
	struct smtp_client_req *r;
	int			pipelining;

	if (c->state == SC_BROKEN) {
		smtp_client_fail_later(c, c->error);
		return;
	}
	if (c->bev == NULL || c->state == SC_HANDSHAKE || c->state == SC_CONNECT)
		return;
	pipelining = c->state == SC_READY && (c->caps.flags & RELAY_CAP_PIPELINING);
	for (r = c->unsent; r != NULL; r = TAILQ_NEXT(r, entry)) {
		if (c->nsent > 0 && !pipelining)
			break;
		if (r->raw != NULL)
			evbuffer_add_buffer(c->out, r->raw);
		else if (r->len > 0) {
			evbuffer_add(c->out, r->line, r->len);
			explicit_bzero(r->line, r->len);
			r->len = 0;
		}
		c->nsent++;
	}
	c->unsent = r;
	smtp_client_timeouts(c);
	if (c->busy == 0 && !c->send_queued && evbuffer_get_length(c->out) > 0) {
		c->send_queued = 1;
		event_active(c->send_ev, EV_TIMEOUT, 0);
	}
}

/* A complete reply: to the request at the head */
static void
smtp_client_reply(struct smtp_client *c, unsigned code)
{
	struct smtp_client_req *r = TAILQ_FIRST(&c->reqs);

	if (r == NULL || c->nsent == 0) {
		smtp_client_fail(c, 0, "upstream sent an unexpected reply");
		return;
	}
	smtp_client_req_unlink(c, r);
	c->nsent--;
	c->reply[c->replylen] = '\0';
	r->cb(r->arg, code, c->reply);
	smtp_client_req_free(r);
	c->replylen = 0;
	if (!c->dead)
		smtp_client_flush(c);
}

/*
 * The replies in bev's input, each line parsed where it lies (pulled up to
 * at most a line's bound: usually a no-op) and drained before the next one
 * and before any callback runs: after STARTTLS's 220 the TLS filter reads
 * what is left.
 */
static void
smtp_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer	   *in = bufferevent_get_input(bev);
	struct smtp_client *c = arg;
	size_t		    len, n, t;
	const char	   *line, *nl;
	unsigned	    code;
	int		    last;

	c->busy++;
	/* Stops when the client breaks, is freed, or its bev is replaced (STARTTLS) */
	while (!c->dead && c->state != SC_BROKEN && c->bev == bev &&
	    (len = evbuffer_get_length(in)) > 0) {
		/* A line ends in CRLF or LF (EVBUFFER_EOL_CRLF's rule) */
		n = len < SMTP_CLIENT_LINE_MAX + 2 ? len : SMTP_CLIENT_LINE_MAX + 2;
		line = (const char *)evbuffer_pullup(in, n);
		if (line == NULL || (nl = memchr(line, '\n', n)) == NULL) {
			if (len >= SMTP_CLIENT_LINE_MAX + 2)
				smtp_client_fail(c, 0, "upstream reply line too long");
			break;
		}
		n = nl - line;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n > SMTP_CLIENT_LINE_MAX) {
			smtp_client_fail(c, 0, "upstream reply line too long");
			break;
		}
		if (n < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
		    !isdigit((unsigned char)line[2]) ||
		    (n > 3 && line[3] != ' ' && line[3] != '-')) {
			smtp_client_fail(c, 0, "upstream sent a malformed reply");
			break;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		last = n == 3 || line[3] == ' ';
		/* The text of each line, joined with '\n', cut to fit */
		t = n > 4 ? n - 4 : 0;
		if (c->replylen > 0 && c->replylen + 1 < sizeof(c->reply))
			c->reply[c->replylen++] = '\n';
		if (t > sizeof(c->reply) - 1 - c->replylen)
			t = sizeof(c->reply) - 1 - c->replylen;
		memcpy(c->reply + c->replylen, line + (n > 4 ? 4 : n), t);
		c->replylen += t;
		evbuffer_drain(in, nl - line + 1);
		if (last)
			smtp_client_reply(c, code);
	}
	if (--c->busy == 0 && c->dead)
		smtp_client_destroy(c);
	else if (c->busy == 0 && !c->dead)
		smtp_client_send(c);
}

static int
smtp_client_is_loopback(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t		len = sizeof(ss);
	const unsigned char    *a;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		a = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)a))
			return 1;
		return IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a) && a[12] == 127;
	}
	return 0;
}

/* Wraps the connection in TLS; the handshake's end is an event */
static int
smtp_client_start_tls(struct smtp_client *c)
{
	struct bufferevent *tb;

	if (c->tls == NULL || (tb = tls_client_bev(c->tls, c->base, c->bev, c->url.host)) == NULL)
		return -1;
	c->bev = tb;
	c->direct = 0;
	c->tmo_set = 0;
	bufferevent_setcb(tb, smtp_client_read_cb, NULL, smtp_client_event_cb, c);
	bufferevent_enable(tb, EV_READ | EV_WRITE);
	smtp_client_timeouts(c);
	return 0;
}

static void
smtp_client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;
	char		    why[600], ebuf[200];

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == SC_CONNECT && !c->tls_on && c->url.tls == RELAY_TLS_IMPLICIT &&
		    c->loopback == -1) {
			c->loopback = smtp_client_is_loopback(bufferevent_getfd(bev));
			if (smtp_client_start_tls(c) == -1)
				smtp_client_fail(c, 0, "TLS: cannot set up the connection");
			return;
		}
		if (c->loopback == -1)
			c->loopback = smtp_client_is_loopback(bufferevent_getfd(bev));
		if (c->state == SC_HANDSHAKE || c->url.tls == RELAY_TLS_IMPLICIT)
			c->tls_on = 1;
		if (c->state == SC_HANDSHAKE) {
			c->state = SC_SETUP;
			memset(&c->caps, 0, sizeof(c->caps));
			snprintf(why, sizeof(why), "EHLO %s", c->helo);
			smtp_client_line(c, why, smtp_client_ehlo, c);
			return;
		}
		c->state = SC_SETUP;
		smtp_client_line(c, NULL, smtp_client_greeting, c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "timeout waiting for the upstream");
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "upstream closed the connection");
	else if (c->tls_on || c->state == SC_HANDSHAKE || (c->url.tls == RELAY_TLS_IMPLICIT))
		snprintf(why, sizeof(why), "%s: %s", c->state == SC_READY ? "connection" : "TLS",
		    tls_client_error(bev, ebuf, sizeof(ebuf)));
	else if (c->state == SC_CONNECT)
		snprintf(why, sizeof(why), "connect to %s:%s failed (%s)", c->url.host, c->url.port,
		    EVUTIL_SOCKET_ERROR() != 0 ?
			evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()) :
			"refused or unreachable");
	else
		snprintf(why, sizeof(why), "connection error (%s)",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	if (c->state == SC_READY && c->nsent == 0 && TAILQ_EMPTY(&c->reqs)) {
		/* Idle: the upstream (or our idle timer) ended it; nobody waits yet */
		snprintf(c->error, sizeof(c->error), "%s", why);
		c->state = SC_BROKEN;
		bufferevent_free(c->bev);
		c->bev = NULL;
		return;
	}
	smtp_client_fail(c, 0, why);
}

/* ----- set-up chain ----- */

static void
smtp_client_setup_fail(struct smtp_client *c, unsigned code, const char *what, const char *text)
{
	char why[512];

	snprintf(why, sizeof(why), "%s: %u %s", what, code, text);
	smtp_client_fail(c, code, why);
}

static void
smtp_client_ready_now(struct smtp_client *c)
{
	c->state = SC_READY;
	c->ever_ready = 1;
	smtp_client_timeouts(c);
	if (c->ready != NULL)
		c->ready(c->ready_arg, 1, 250, "");
}

static void
smtp_client_authed(void *arg, unsigned code, const char *text)
{
	struct smtp_client *c = arg;

	if (code != 235) {
		smtp_client_setup_fail(c, code, "AUTH", text);
		return;
	}
	smtp_client_ready_now(c);
}

static char *
smtp_client_b64(const char *s, size_t len)
{
	gchar *g = g_base64_encode((const guchar *)s, len);
	char  *r = xstrdup(g);

	g_free(g);
	return r;
}

/* AUTH LOGIN: after a 334, secret base64-encoded, its reply to next */
static void
smtp_client_login_step(struct smtp_client *c, unsigned code, const char *text, const char *secret,
    smtp_client_reply_fn *next)
{
	char *b;

	if (code != 334) {
		smtp_client_setup_fail(c, code, "AUTH LOGIN", text);
		return;
	}
	b = smtp_client_b64(secret, strlen(secret));
	smtp_client_line(c, b, next, c);
	explicit_bzero(b, strlen(b));
	free(b);
}

static void
smtp_client_login_pass(void *arg, unsigned code, const char *text)
{
	struct smtp_client *c = arg;

	smtp_client_login_step(c, code, text, c->url.password, smtp_client_authed);
}

static void
smtp_client_login_user(void *arg, unsigned code, const char *text)
{
	struct smtp_client *c = arg;

	smtp_client_login_step(c, code, text, c->url.user, smtp_client_login_pass);
}

static void
smtp_client_auth(struct smtp_client *c)
{
	size_t ul = strlen(c->url.user), pl = strlen(c->url.password);
	char  *raw, *b, *line;

	if (!c->tls_on && !c->loopback) {
		smtp_client_fail(c, 0, "AUTH to the upstream needs TLS (it is not on loopback)");
		return;
	}
	if (c->caps.flags & RELAY_CAP_AUTH_PLAIN) {
		raw = xmalloc(ul + pl + 2);
		raw[0] = '\0';
		memcpy(raw + 1, c->url.user, ul);
		raw[ul + 1] = '\0';
		memcpy(raw + ul + 2, c->url.password, pl);
		b = smtp_client_b64(raw, ul + pl + 2);
		explicit_bzero(raw, ul + pl + 2);
		free(raw);
		xasprintf(&line, "AUTH PLAIN %s", b);
		smtp_client_line(c, line, smtp_client_authed, c);
		explicit_bzero(line, strlen(line));
		free(line);
		free(b);
	} else if (c->caps.flags & RELAY_CAP_AUTH_LOGIN)
		smtp_client_line(c, "AUTH LOGIN", smtp_client_login_user, c);
	else
		smtp_client_fail(c, 0, "upstream offers no AUTH PLAIN or LOGIN");
}

static void
smtp_client_starttls_reply(void *arg, unsigned code, const char *text)
{
	struct smtp_client *c = arg;

	if (code != 220) {
		smtp_client_setup_fail(c, code, "STARTTLS", text);
		return;
	}
	c->state = SC_HANDSHAKE;
	if (smtp_client_start_tls(c) == -1)
		smtp_client_fail(c, 0, "TLS: cannot set up the connection");
}

static void
smtp_client_ehlo(void *arg, unsigned code, const char *text)
{
	struct smtp_client *c = arg;
	const char	   *p = text, *nl;
	char		    kw[128];

	if (code != 250) {
		smtp_client_setup_fail(c, code, "EHLO", text);
		return;
	}
	/* The first line is the greeting name; each next one an extension */
	while ((nl = strchr(p, '\n')) != NULL) {
		p = nl + 1;
		snprintf(kw, sizeof(kw), "%.*s", (int)strcspn(p, "\n"), p);
		relay_caps_ehlo(&c->caps, kw);
	}
	if (!c->tls_on && c->url.tls != RELAY_TLS_NEVER) {
		if (c->caps.flags & RELAY_CAP_STARTTLS) {
			smtp_client_line(c, "STARTTLS", smtp_client_starttls_reply, c);
			return;
		}
		if (c->url.tls == RELAY_TLS_REQUIRE) {
			smtp_client_fail(c, 0,
			    "upstream does not offer STARTTLS (starttls=require)");
			return;
		}
	}
	if (c->url.user != NULL)
		smtp_client_auth(c);
	else
		smtp_client_ready_now(c);
}

static void
smtp_client_greeting(void *arg, unsigned code, const char *text)
{
	struct smtp_client *c = arg;
	char		    line[300];

	if (code != 220) {
		smtp_client_setup_fail(c, code, "greeting", text);
		return;
	}
	snprintf(line, sizeof(line), "EHLO %s", c->helo);
	smtp_client_line(c, line, smtp_client_ehlo, c);
}

struct smtp_client *
smtp_client_new(struct event_base *base, const struct smtp_client_cfg *cfg,
    smtp_client_ready_fn *ready, void *arg)
{
	struct smtp_client     *c = xcalloc(1, sizeof(*c));
	struct sockaddr_storage ss;
	int			sslen = sizeof(ss);
	char			hp[RELAY_HOST_MAX + 16];

	c->base = base;
	relay_url_copy(&c->url, cfg->url);
	c->tls = cfg->tls;
	c->dns = cfg->dns;
	c->helo = xstrdup(cfg->helo);
	c->timeout_ms = cfg->timeout_ms;
	c->idle_ms = cfg->idle_ms;
	c->ready = ready;
	c->ready_arg = arg;
	c->loopback = -1;
	TAILQ_INIT(&c->reqs);
	c->out = evbuffer_new();
	c->send_ev = event_new(base, -1, 0, smtp_client_send_cb, c);
	if ((c->url.tls != RELAY_TLS_NEVER) && c->tls == NULL) {
		smtp_client_fail_later(c, "TLS is not available");
		return c;
	}
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->direct = 1;
	bufferevent_setcb(c->bev, smtp_client_read_cb, NULL, smtp_client_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	smtp_client_timeouts(c);
	snprintf(hp, sizeof(hp), strchr(c->url.host, ':') ? "[%s]:%s" : "%s:%s", c->url.host,
	    c->url.port);
	if (evutil_parse_sockaddr_port(hp, (struct sockaddr *)&ss, &sslen) == 0) {
		if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, sslen) == -1) {
			snprintf(hp, sizeof(hp), "connect: %s",
			    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
			smtp_client_fail_later(c, hp);
		}
		return c;
	}
	if (c->dns == NULL ||
	    bufferevent_socket_connect_hostname(c->bev, c->dns, AF_UNSPEC, c->url.host,
		atoi(c->url.port)) == -1)
		smtp_client_fail_later(c, "cannot resolve the upstream's name");
	return c;
}
