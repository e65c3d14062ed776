/* STUB: replaced by the SMTP helper */
#include <stdio.h>
#include <unistd.h>
#include "smtp_session.h"
struct smtp_session *smtp_session_new(struct server *s, evutil_socket_t fd, const struct sockaddr *sa, socklen_t l) { close(fd); return NULL; }
void smtp_session_free(struct smtp_session *s, const char *r) { }
void smtp_session_shutdown_all(struct server *s, int force) { }
void smtp_session_ext_line(const struct server *s, char *dst, size_t n) { snprintf(dst, n, "%s", ""); }
