/*
 * control_rpc - the handlers of smtpsink.v1.Sink and grpc.health.v1.Health,
 * as the method table that the owner (server.c) hands to control_new().
 * Handlers use the call API of control_call.h.
 */
#ifndef SMTPSINK_CONTROL_RPC_H
#define SMTPSINK_CONTROL_RPC_H
#include <stddef.h>

struct control_method;

/* The method table (static storage); *n is set to its length. */
const struct control_method *control_rpc_methods(size_t *n);

#endif
