/* STUB: replaced by the MIME helper */
#include <stdlib.h>
#include "message.h"
#include "mime.h"
#include "xmalloc.h"
void mime_init(unsigned d, unsigned p) { }
void mime_shutdown(void) { }
const struct mime_view *mime_view_get(struct message *m) { return NULL; }
void mime_view_free(struct mime_view *v) { }
struct mime_body *mime_body_parse(const struct message *m, int c) { return NULL; }
void mime_body_free(struct mime_body *b) { }
