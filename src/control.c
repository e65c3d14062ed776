/* STUB: replaced by the control helper */
#include <stdio.h>
#include "control.h"
struct control *control_new(struct server *s, const char *a, char *err, size_t n) { snprintf(err, n, "not implemented"); return NULL; }
const char *control_address(const struct control *c) { return ""; }
void control_shutdown(struct control *c, void (*done)(void *), void *arg) { done(arg); }
void control_free(struct control *c) { }
