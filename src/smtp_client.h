/*
 * smtp_client - a non-blocking ESMTP client on libevent, for the relay:
 * one connection to an upstream server, on the loop thread.
 *
 * smtp_client_new() connects (name resolution through evdns for a host
 * name, none for an IP literal), reads the greeting, says EHLO, upgrades
 * with STARTTLS (RFC 3207) when the URL asks for it or the upstream offers
 * it, or starts in TLS (smtps://), authenticates with AUTH PLAIN or LOGIN
 * (RFC 4954) when the URL has credentials -- only inside TLS unless the
 * upstream is on a loopback address -- and then calls ready(arg, 1, ...).
 * Any failure on the way calls ready(arg, 0, code, text) (code 0: no
 * reply, e.g. connection refused) and the client is unusable.
 *
 * Once ready, commands are queued with their reply callbacks; they are
 * written at once when the upstream offers PIPELINING (RFC 2920), one
 * after the other otherwise, and each reply goes to its own callback in
 * order. A connection error or timeout calls every pending callback with
 * code 0 and the reason. The caller may call smtp_client_free() from any
 * callback: the rest of that dispatch is dropped.
 *
 * Bounds: a reply line of at most SMTP_CLIENT_LINE_MAX, a reply of at most
 * SMTP_CLIENT_REPLY_MAX (the text kept is cut there); beyond, the
 * connection is dropped. A timeout covers every wait for the upstream; an
 * idle connection is closed after cfg->idle_ms.
 *
 * Credentials are never logged; the commands of AUTH are not kept anywhere.
 */
#ifndef SMTPSINK_SMTP_CLIENT_H
#define SMTPSINK_SMTP_CLIENT_H
#include <stddef.h>

#include "relay_proto.h"

struct event_base;
struct evdns_base;
struct smtp_client;
struct tls_client;

#define SMTP_CLIENT_LINE_MAX  2048
#define SMTP_CLIENT_REPLY_MAX 4096

struct smtp_client_cfg {
	const struct relay_url *url;  /* copied */
	struct tls_client      *tls;  /* NULL: no TLS possible */
	struct evdns_base      *dns;  /* for host names; NULL: IP literals only */
	const char	       *helo; /* our EHLO name; copied */
	unsigned		timeout_ms;
	unsigned		idle_ms;
};

/* ok: 1 ready; 0 failed with the upstream's code (0: none) and text */
typedef void smtp_client_ready_fn(void *arg, int ok, unsigned code, const char *text);
/* One reply: code 0 means none came (connection lost); text joins the lines with '\n' */
typedef void smtp_client_reply_fn(void *arg, unsigned code, const char *text);

/* Never NULL; ready() is called later, never from inside this call. */
struct smtp_client	*smtp_client_new(struct event_base *, const struct smtp_client_cfg *,
	 smtp_client_ready_fn *ready, void *arg);
/* Closes and frees; pending callbacks are not called. NULL is a no-op. */
void			 smtp_client_free(struct smtp_client *);
/* 1 when ready and idle enough to take commands (not broken or closed) */
int			 smtp_client_usable(const struct smtp_client *);
const struct relay_caps *smtp_client_caps(const struct smtp_client *);
/* 1 when the connection runs inside TLS */
int			 smtp_client_tls(const struct smtp_client *);

/* Queues the command line (no CRLF) */
void smtp_client_cmd(struct smtp_client *, const char *line, smtp_client_reply_fn *, void *arg);
/* Queues raw bytes (the body after 354, or BDAT + chunk): takes data, the client frees it */
void smtp_client_raw(struct smtp_client *, struct evbuffer *data, smtp_client_reply_fn *,
    void *arg);

#endif
