/*
 * relay_proxy - proxy mode (--relay-mode proxy), the interceptor: one
 * upstream transaction that runs alongside one client transaction, step by
 * step, so the client gets the upstream's replies.
 *
 * The session calls relay_proxy_mail() at MAIL, relay_proxy_rcpt() for
 * each forwarded recipient and relay_proxy_data() once the message is
 * stored; each call is answered exactly once, later (never from inside the
 * call), through fn(arg, code, line) with the reply line to give the client
 * ("250 2.1.5 Ok", the upstream's own words; "451 4.4.1 ..." when the
 * upstream cannot be reached or the connection is lost). Until then the
 * session waits without blocking (smtp_session_proxy_wait()).
 *
 * Ownership: the session owns the proxy and frees it (RSET, a new MAIL,
 * the end of data, the session's end); freeing drops the upstream
 * connection and no callback follows. The upstream's replies are kept in a
 * struct message_relay that moves onto the stored message at
 * relay_proxy_data() (looked up by id from then on).
 */
#ifndef SMTPSINK_RELAY_PROXY_H
#define SMTPSINK_RELAY_PROXY_H
#include <stddef.h>
#include <stdint.h>

#include "message.h"

struct relay;
struct relay_proxy;

typedef void relay_proxy_fn(void *arg, unsigned code, const char *line);

/* Connects to the configured upstream now. Never NULL. */
struct relay_proxy *relay_proxy_new(struct relay *, relay_proxy_fn *fn, void *arg);
void		    relay_proxy_free(struct relay_proxy *);
/* MAIL FROM with the client's parameters (copied); sent once connected */
void   relay_proxy_mail(struct relay_proxy *, const char *from, const struct esmtp_param *params,
      size_t nparams, enum message_body_type body_type, int smtputf8);
void   relay_proxy_rcpt(struct relay_proxy *, const char *addr, const struct esmtp_param *params,
      size_t nparams);
/* Recipients the upstream accepted so far */
size_t relay_proxy_accepted(const struct relay_proxy *);
/* The stored message id: its bytes go upstream (DATA or BDAT) */
void   relay_proxy_data(struct relay_proxy *, uint64_t id);

#endif
