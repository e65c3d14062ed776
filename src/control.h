/*
 * control - the gRPC control API plumbing on gRPC's C core (see
 * ../shared/design/GRPC-C-CORE.md): server, completion queue, the CQ thread
 * that forwards (tag, ok) to the loop through the inbox, method table.
 */
#ifndef SMTPSINK_CONTROL_H
#define SMTPSINK_CONTROL_H
#include <stddef.h>

struct server;
struct control;

/* Binds addr (port 0 allowed) and starts serving. NULL + err on failure. */
struct control	*control_new(struct server *, const char *addr, char *err, size_t errlen);
/* Bound address, "127.0.0.1:50051" */
const char	*control_address(const struct control *);
/*
 * Starts the graceful shutdown (parked waits get UNAVAILABLE, health
 * NOT_SERVING); done(arg) runs on the loop thread once the CQ is drained.
 */
void		 control_shutdown(struct control *, void (*done)(void *), void *arg);
/* After done ran: joins the CQ thread, destroys server and CQ. */
void		 control_free(struct control *);

#endif
