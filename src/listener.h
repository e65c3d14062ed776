/*
 * listener - one evconnlistener per SMTP address; hands accepted sockets to
 * smtp_session_new(). At max_sessions it disables accepting until a session
 * closes (smtp-sink -m, OpenSMTPD smtp_collect). Parses no SMTP.
 */
#ifndef SMTPSINK_LISTENER_H
#define SMTPSINK_LISTENER_H
#include <stddef.h>

struct server;
struct listener;

/* Binds every address ("host:port", "[v6]:port", port 0 allowed). NULL + err on failure. */
struct listener	*listener_new(struct server *, char *const *addrs, size_t n,
		    char *err, size_t errlen);
void		 listener_free(struct listener *);
size_t		 listener_count(const struct listener *);
/* Bound address i as "127.0.0.1:40123" or "[::1]:40123" */
const char	*listener_addr(const struct listener *, size_t i);
void		 listener_pause(struct listener *);	/* stop accepting */
void		 listener_resume(struct listener *);

#endif
