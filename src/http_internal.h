/*
 * http_internal - what http.c offers its route modules (http_mailpit.c):
 * replies with the security headers set, JSON bodies, the environment.
 * Not for other modules. Loop thread only.
 */
#ifndef SMTPSINK_HTTP_INTERNAL_H
#define SMTPSINK_HTTP_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct evhttp_request;
struct http;
struct http_req;
struct http_env;

const struct http_env *http_env(const struct http *);
/* Sends j (a reference taken over) with status; Content-Type application/json. */
void		       http_reply_json(struct evhttp_request *, int status, json_t *j);
/* Sends data[0..len) (copied) with status and content type. */
void http_reply_bytes(struct evhttp_request *, int status, const char *type, const void *data,
    size_t len);
/* Connect error JSON {"code": code, "message": ...} with status. */
void http_reply_error(struct evhttp_request *, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * The request body as JSON: an empty body is {} (a new reference in *out);
 * -1 after replying 400 when it is not JSON.
 */
int	 http_body_json(struct evhttp_request *, json_t **out);
/* A decimal id > 0 from s[0..len); 0 if it is not one. */
uint64_t http_parse_id(const char *s, size_t len);
/* Sends attachment or part idx of message id (Content-Disposition: attachment). */
void	 http_reply_attachment(struct http *, struct evhttp_request *, uint64_t id, size_t idx);
/* Sends message id's raw bytes as type (404 when it is not stored). */
void	 http_reply_raw(struct http *, struct evhttp_request *, uint64_t id, const char *type,
	int download);
/*
 * A request answered later (after a scan): cancel(arg) runs instead if the
 * client goes away or the server stops first, and the hold is gone then.
 * Otherwise the owner replies to http_held_req() and calls http_release().
 */
struct http_req	      *http_hold(struct http *, struct evhttp_request *, void (*cancel)(void *),
	  void *arg);
struct evhttp_request *http_held_req(struct http_req *);
void		       http_release(struct http_req *);
/*
 * The Mailpit-compatible routes (http_mailpit.c): path is what follows
 * "/api/v1/" with the query string apart. Replies to every request.
 */
void		       http_mailpit_handle(struct http *, struct evhttp_request *, const char *path,
		      const char *query);

#endif
