/*
 * smtp_session - per-connection ESMTP state machine on one bufferevent.
 * Sessions are linked on server->sessions. smtp_session_free() is the one
 * destructor; never touch a session after it.
 */
#ifndef SMTPSINK_SMTP_SESSION_H
#define SMTPSINK_SMTP_SESSION_H
#include <sys/socket.h>
#include <event2/util.h>

struct server;
struct smtp_session;

/* Takes ownership of fd on all paths. */
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

#endif
