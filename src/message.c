/* STUB: replaced by the store helper */
#include <stdlib.h>
#include "message.h"
#include "xmalloc.h"
struct message *message_new(void) { return xcalloc(1, sizeof(struct message)); }
void message_free(struct message *m) { if (m) { free(m->data); free(m); } }
const char *message_anomaly_str(unsigned a) { return "unknown"; }
const char *message_body_type_str(enum message_body_type t) { return "7BIT"; }
size_t message_footprint(const struct message *m) { return m->size; }
