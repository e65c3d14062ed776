/*
 * smtp_session - per-connection ESMTP state machine on one bufferevent.
 *
 * Sessions belong to a struct smtp_sessions: the list of live sessions and
 * what they share (config, rules, the delivery path, counters). Its owner
 * (server.c) fills the shared pointers; this module alone keeps the list.
 * smtp_session_free() is the one destructor; it unlinks the session,
 * updates stats->sessions_active and calls sessions->closed() so the owner
 * can resume accepting. Never touch a session after it.
 *
 * Framing, limits, pipelining, DATA/BDAT streaming, timers and reject rules
 * are in smtp_session.c, the command table and the commands in smtp_cmd.c
 * (shared internals: smtp_session_internal.h); the pure parsing is
 * smtp_proto.c. A complete message is handed to deliver_message(), which
 * owns it from then on.
 */
#ifndef SMTPSINK_SMTP_SESSION_H
#define SMTPSINK_SMTP_SESSION_H
#include <sys/queue.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/util.h>

struct config;
struct deliver;
struct event_base;
struct relay;
struct rules;
struct smtp_session;
struct stats;
struct tls;

/* Session states, in smtp_strstate() order */
enum smtp_state {
	SMTP_STATE_INIT,     /* greeted, no HELO/EHLO yet */
	SMTP_STATE_HELO,     /* idle, ready for MAIL */
	SMTP_STATE_MAIL,     /* MAIL accepted, no recipient yet */
	SMTP_STATE_RCPT,     /* at least one recipient (or between BDAT chunks) */
	SMTP_STATE_DATA,     /* reading DATA up to CRLF.CRLF */
	SMTP_STATE_BDAT,     /* reading the octets of a BDAT chunk */
	SMTP_STATE_REJECTED, /* a CONNECT rule refused the session: only QUIT */
	SMTP_STATE_QUIT,     /* closing once the output is flushed */
};

TAILQ_HEAD(smtp_session_list, smtp_session);

/*
 * The sessions of one sink and what they share. The owner sets the first
 * block (borrowed, must outlive every session) and calls
 * smtp_sessions_init(); the second block belongs to this module.
 */
struct smtp_sessions {
	const struct config *cfg;
	struct event_base   *base;
	struct rules	    *rules;   /* CONNECT .. RCPT_TO stages */
	struct deliver	    *deliver; /* end of data */
	struct stats	    *stats;   /* sessions_*, rcpts_rejected, limit_breaches */
	struct tls	    *tls;     /* STARTTLS and implicit TLS; NULL: none */
	struct relay	    *relay;   /* proxy mode; NULL: none */
	void (*closed)(void *arg);    /* after each smtp_session_free() */
	void *closed_arg;

	struct smtp_session_list list;
	uint64_t		 next_id;
	int			 stopping; /* smtp_session_shutdown_all() was called */
	int			 stressed; /* > 80 % of max_sessions: short idle limit */
};

void		     smtp_sessions_init(struct smtp_sessions *);
/* Frees every session left (no reply); for the owner's destructor. */
void		     smtp_sessions_free_all(struct smtp_sessions *, const char *reason);
int		     smtp_sessions_empty(const struct smtp_sessions *);
/*
 * Takes ownership of fd on all paths. Sends the greeting (or the CONNECT
 * rule's reply; 421 when stopping). Returns NULL only if the bufferevent
 * cannot be created (fd closed).
 */
struct smtp_session *smtp_session_new(struct smtp_sessions *, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen);
/*
 * The same on an implicit-TLS listener (RFC 8314): the session starts with
 * the TLS handshake (sessions->tls), the greeting goes inside TLS.
 */
struct smtp_session *smtp_session_new_tls(struct smtp_sessions *, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen);
void		     smtp_session_free(struct smtp_session *, const char *reason);
/*
 * Graceful shutdown: sessions with no transaction in flight get
 * "421 4.3.2 Service shutting down" and close; the others close after their
 * transaction ends, and new sessions get the 421 at once. Called again when
 * the grace period is over (force=1): everything left is closed with 421
 * and no partial message is stored.
 */
void		     smtp_session_shutdown_all(struct smtp_sessions *, int force);
#define SMTP_EXT_LINE_MAX 256
/* Extensions as advertised to EHLO, space-separated, e.g. "PIPELINING SIZE 33554432 ..." */
void	    smtp_session_ext_line(const struct config *, char *dst, size_t dstsz);
const char *smtp_strstate(enum smtp_state);

#endif
