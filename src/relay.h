/*
 * relay - forwarding captured messages to an upstream server (issue 10):
 * the queue and its policy. The SMTP client is smtp_client.c, the pure
 * mapping relay_proto.c.
 *
 * Async mode (--relay-mode async, the default with --relay-url): every
 * stored message with at least one recipient matching --relay-rcpt (all,
 * without it) joins a bounded queue (--relay-queue; when full it is marked
 * FAILED "relay queue full", the client's mail is never refused). Up to
 * --relay-connections connections to the upstream take jobs in order; a
 * connection is reused for the next message (RSET first). 4xx replies and
 * connection errors are retried after a backoff (--relay-backoff doubling,
 * at most 5 minutes, --relay-retries attempts in all); a 5xx, or a message
 * the upstream cannot take as declared, fails at once. Recipients the
 * upstream refused with a 4xx while others were accepted are retried alone.
 *
 * ReleaseMessage (relay_release()): one attempt now on its own connection,
 * to the configured URL or another one, optionally to other recipients or
 * from another sender; the caller is told when it ended.
 *
 * Ownership and lifetimes: the store owns the messages; a job holds the
 * message id and looks it up again at each step (a message evicted or
 * cleared while queued is dropped, logged; one evicted during an attempt
 * finishes it from the copy the attempt made of its envelope and bytes).
 * The status lives on the message (m->relay, message.h); counters in
 * struct stats. Everything runs on the loop thread.
 *
 * Shutdown: relay_shutdown() gives every queued message one last attempt
 * now; relay_busy() says whether any is left, relay_abandon() logs those
 * left by id and drops them (the shutdown grace is over).
 */
#ifndef SMTPSINK_RELAY_H
#define SMTPSINK_RELAY_H
#include <stddef.h>
#include <stdint.h>

#include "smtp_client.h"

struct config;
struct event_base;
struct message;
struct message_relay;
struct relay;
struct relay_job;
struct stats;
struct store;

/*
 * NULL with a reason in err when the URL or the CA file is unusable. Also
 * made without --relay-url (for ReleaseMessage with a URL).
 */
struct relay *relay_new(const struct config *, struct event_base *, struct store *, struct stats *,
    char *err, size_t errlen);
void	      relay_free(struct relay *);

/* The upstream as shown (no credentials), "" without --relay-url */
const char *relay_upstream(const struct relay *);
/* Messages queued or in flight (async mode) */
size_t	    relay_queued(const struct relay *);

/* A message was just stored: queue it (async mode), or not */
void relay_message_stored(struct relay *, struct message *m);

/*
 * ReleaseMessage. url NULL or "": the configured one. rcpts[0..n) replace
 * the recipients when n > 0; from (may be "") replaces the sender when not
 * NULL. On success returns 0 and *job, and done(arg, st) runs later with
 * the final status (st NULL only if nothing could be recorded). -1 with a
 * reason in err for a bad or missing URL (INVALID_ARGUMENT); -2 for an
 * unknown id (NOT_FOUND).
 */
typedef void relay_done_fn(void *arg, const struct message_relay *st);
int  relay_release(struct relay *, uint64_t id, const char *url, char *const *rcpts, size_t n,
     const char *from, relay_done_fn *done, void *arg, struct relay_job **job, char *err,
     size_t errlen);
/* The caller went away: the release goes on, done() is not called */
void relay_release_detach(struct relay_job *);

/* For proxy mode (relay_proxy.c) */
/* 1 when --relay-mode proxy is configured with an upstream */
int		    relay_proxying(const struct relay *);
/* 1 when addr is to be forwarded (--relay-rcpt; all without it) */
int		    relay_rcpt_wanted(const struct relay *, const char *addr);
/* A connection to the configured upstream (smtp_client_new()) */
struct smtp_client *relay_client_new(struct relay *, smtp_client_ready_fn *, void *arg);
struct store	   *relay_store(struct relay *);
struct stats	   *relay_stats(struct relay *);

/* Shutdown: one last attempt for everything queued; idle(arg) once none is left */
void relay_shutdown(struct relay *, void (*idle)(void *), void *arg);
int  relay_busy(const struct relay *);
/* Logs every message left by id and drops it */
void relay_abandon(struct relay *);

#endif
