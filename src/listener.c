/* STUB: replaced by the SMTP helper */
#include "listener.h"
#include <stdio.h>
struct listener *listener_new(struct server *s, char *const *a, size_t n, char *err, size_t errlen) { snprintf(err, errlen, "not implemented"); return NULL; }
void listener_free(struct listener *l) { }
size_t listener_count(const struct listener *l) { return 0; }
const char *listener_addr(const struct listener *l, size_t i) { return ""; }
void listener_pause(struct listener *l) { }
void listener_resume(struct listener *l) { }
