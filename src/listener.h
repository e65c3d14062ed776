/*
 * listener - one evconnlistener per SMTP address; hands each accepted socket
 * to the owner's accept callback. The owner pauses accepting (at
 * max_sessions, while stopping) and resumes it (smtp-sink -m, OpenSMTPD
 * smtp_collect); on EMFILE and the like the listener backs off by itself.
 * Parses no SMTP and knows nothing of sessions.
 */
#ifndef SMTPSINK_LISTENER_H
#define SMTPSINK_LISTENER_H
#include <stddef.h>

#include <sys/socket.h>
#include <event2/util.h>

struct event_base;
struct listener;

/* Takes ownership of fd. Runs on the loop thread. */
typedef void listener_accept_fn(void *arg, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen);

/*
 * Binds every address ("host:port", "[v6]:port", port 0 allowed) and starts
 * accepting. NULL + err on failure.
 */
struct listener *listener_new(struct event_base *, char *const *addrs, size_t n,
    listener_accept_fn *accept_cb, void *arg, char *err, size_t errlen);
void		 listener_free(struct listener *);
size_t		 listener_count(const struct listener *);
/* Bound address i as "127.0.0.1:40123" or "[::1]:40123" */
const char	*listener_addr(const struct listener *, size_t i);
void		 listener_pause(struct listener *);  /* stop accepting */
void		 listener_resume(struct listener *); /* accept again (unless backing off) */

#endif
