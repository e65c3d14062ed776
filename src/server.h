/*
 * server - one sink instance: the state the loop thread owns, wired together.
 * Used by main.c (the daemon) and by sink.c (the embedding API), so both run
 * exactly the same code.
 *
 * Lifecycle: server_new() -> server_start() -> event loop ->
 * server_shutdown() (asynchronous: stop accepting, let transactions in flight
 * finish within cfg->shutdown_grace, 421 to the rest, stop gRPC; then
 * event_base_loopbreak()) -> server_free() after the loop returned.
 */
#ifndef SMTPSINK_SERVER_H
#define SMTPSINK_SERVER_H
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "stats.h"

struct config;
struct event_base;
struct event;
struct message;
struct store;
struct waiters;
struct rules;
struct listener;
struct control;
struct inbox;
struct smtp_session;

/*
 * Called on the loop thread for each complete message, before it is stored
 * (smtpd's process_message). Return NULL to accept, or a reply such as
 * "550 5.7.1 no thanks" to reject; the string is copied at once.
 */
typedef const char *server_handler_fn(void *arg, const struct message *msg);

TAILQ_HEAD(smtp_session_list, smtp_session);

struct server {
	const struct config	*cfg;
	struct event_base	*base;
	struct store		*store;
	struct waiters		*waiters;
	struct rules		*rules;
	struct listener		*listener;
	struct control		*control;	/* NULL when gRPC is off */
	struct inbox		*inbox;
	struct stats		 stats;
	struct smtp_session_list sessions;
	uint64_t		 next_session_id;
	server_handler_fn	*handler;
	void			*handler_arg;
	int			 shutting_down;
	int			 control_stopped;	/* control API drained */
	struct event		*shutdown_ev;	/* grace timer */
	char			 smtp_ext_line[256];	/* "PIPELINING 8BITMIME ..." for info */
};

struct server	*server_new(const struct config *, struct event_base *);
/*
 * Binds the SMTP listeners and the control API, then writes the ready file.
 * 0 on success; -1 with a reason in err.
 */
int		 server_start(struct server *, int with_control, char *err, size_t errlen);
/* Starts a graceful shutdown; the loop breaks when it is complete. Idempotent. */
void		 server_shutdown(struct server *);
void		 server_free(struct server *);
/*
 * End of data: the complete message, from an SMTP session. Runs the DATA
 * rules and the handler, stores it and kicks the waiters.
 * Takes ownership of msg on all paths. Returns 0 when stored, with
 * "250 2.0.0 Ok: queued as <id>" in reply; -1 when rejected, with the reply
 * line (no CRLF) in reply and *disconnect set if the rule asks for it.
 */
int		 server_deliver(struct server *, struct message *msg, char *reply,
		    size_t replylen, int *disconnect, unsigned *delay_ms);
/* Session bookkeeping for the listener's max_sessions pause */
void		 server_session_closed(struct server *);
/* The JSON written to --ready-file: {"smtp":"...","grpc":"..."} (malloc'd) */
char		*server_ready_json(struct server *);

#endif
