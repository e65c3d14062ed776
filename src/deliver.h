/*
 * deliver - the end of data: a complete message from an SMTP session goes
 * through the DATA-stage reject rules and the embedding program's handler,
 * then into the store, and the waiters are kicked; optionally it is printed
 * the way smtpd.DebuggingServer did (--print).
 *
 * Data flows one way: smtp_session -> deliver -> store -> waiters. This
 * module knows nothing of sessions or of the server that owns it: the owner
 * fills struct deliver and keeps it alive as long as any session.
 */
#ifndef SMTPSINK_DELIVER_H
#define SMTPSINK_DELIVER_H
#include <stddef.h>
#include <stdint.h>

struct config;
struct message;
struct relay;
struct rules;
struct stats;
struct store;
struct waiters;

/*
 * Called on the loop thread for each complete message, before it is stored
 * (smtpd's process_message). Return NULL to accept, or a reply such as
 * "550 5.7.1 no thanks" to reject; the string is copied at once. A reply
 * that does not start with a 4xx/5xx code gets "550 5.7.1 " in front.
 */
typedef const char *deliver_handler_fn(void *arg, const struct message *msg);

struct deliver {
	const struct config *cfg;   /* print */
	struct rules	    *rules; /* DATA stage */
	struct store	    *store;
	struct waiters	    *waiters; /* kicked after each put */
	struct relay	    *relay;   /* told after each put; NULL: none */
	struct stats	    *stats;   /* messages_received/rejected, bytes */
	deliver_handler_fn  *handler; /* NULL: accept everything */
	void		    *handler_arg;
	uint64_t	     stored_id; /* the last message deliver_message() stored */
};

/*
 * Takes ownership of msg on all paths. Returns 0 when stored, with
 * "250 2.0.0 Ok: queued as <id>" in reply; -1 when rejected, with the reply
 * line (no CRLF) in reply (452 4.3.1 when --on-full reject and the message
 * does not fit). *disconnect and *delay_ms are what a DATA rule
 * asked for (0 when none fired), for the session to carry out.
 */
int deliver_message(struct deliver *, struct message *msg, char *reply, size_t replylen,
    int *disconnect, unsigned *delay_ms);

/*
 * 1 when --on-full reject is set and the store has no room left (no more
 * messages, or no more bytes): MAIL gets 452 4.3.1 instead of a 250.
 */
int deliver_is_full(const struct deliver *);

#endif
