/*
 * smtp_session - per-connection ESMTP state machine on one bufferevent.
 *
 * Sessions are linked on server->sessions and counted in server->stats
 * (sessions_total, sessions_active). smtp_session_free() is the one
 * destructor; it unlinks the session and calls server_session_closed() so
 * the listener can resume accepting. Never touch a session after it.
 *
 * Framing, limits, pipelining, DATA/BDAT streaming, timers and reject rules
 * are all inside smtp_session.c; the pure parsing is smtp_proto.c. A complete
 * message is handed to server_deliver(), which owns it from then on.
 */
#ifndef SMTPSINK_SMTP_SESSION_H
#define SMTPSINK_SMTP_SESSION_H
#include <sys/socket.h>
#include <event2/util.h>

struct server;
struct smtp_session;

/* Session states, in smtp_strstate() order */
enum smtp_state {
	SMTP_STATE_INIT,	/* greeted, no HELO/EHLO yet */
	SMTP_STATE_HELO,	/* idle, ready for MAIL */
	SMTP_STATE_MAIL,	/* MAIL accepted, no recipient yet */
	SMTP_STATE_RCPT,	/* at least one recipient (or between BDAT chunks) */
	SMTP_STATE_DATA,	/* reading DATA up to CRLF.CRLF */
	SMTP_STATE_BDAT,	/* reading the octets of a BDAT chunk */
	SMTP_STATE_REJECTED,	/* a CONNECT rule refused the session: only QUIT */
	SMTP_STATE_QUIT,	/* closing once the output is flushed */
};

/*
 * Takes ownership of fd on all paths. Sends the greeting (or the CONNECT
 * rule's reply). Returns NULL only if the bufferevent cannot be created
 * (fd closed).
 */
struct smtp_session *smtp_session_new(struct server *, evutil_socket_t fd,
		    const struct sockaddr *sa, socklen_t salen);
void		 smtp_session_free(struct smtp_session *, const char *reason);
/*
 * Graceful shutdown: sessions with no transaction in flight get
 * "421 4.3.2 Service shutting down" and close; the others close after their
 * transaction ends. Called again when the grace period is over (force=1):
 * everything left is closed with 421 and no partial message is stored.
 */
void		 smtp_session_shutdown_all(struct server *, int force);
/* Extensions as advertised to EHLO, space-separated, e.g. "PIPELINING SIZE 33554432 ..." */
void		 smtp_session_ext_line(const struct server *, char *dst, size_t dstsz);
const char	*smtp_strstate(enum smtp_state);

#endif
