/*
 * http - the HTTP server (evhttp on the loop thread), its routes and the
 * rules every request goes through (API in http.h; route modules use
 * http_internal.h).
 *
 * Routes (below --http-base-path, "" by default):
 *   GET  /healthz                      200 while the process runs
 *   GET  /readyz                       200 serving, 503 while draining (SIGTERM)
 *   POST /smtpsink.v1.Sink/<Method>    a unary RPC, JSON in and out (Connect unary)
 *   GET  /api/events?<filter>          WatchMessages as Server-Sent Events
 *   GET  /api/messages/<id>.eml        raw bytes (also /api/messages/<id>/raw)
 *   GET  /api/messages/<id>/attachments/<i>   one attachment, decoded
 *   *    /api/v1/...                   the Mailpit-compatible subset (http_mailpit.c)
 *   GET  /, /ui/...                      the web UI's embedded assets (http_assets.c)
 *
 * Security (captured mail is hostile input, and the sink often runs on a
 * developer's machine that also runs a browser): the Host header must be an
 * IP literal, "localhost" or one of --http-allowed-hosts (no DNS
 * rebinding); POST and DELETE need Content-Type application/json (no HTML
 * form or other "simple" cross-site request can change anything) and, when
 * an Origin is sent, one whose host:port is the Host; --http-auth-file
 * turns on basic auth (constant-time compare; probes exempt). Every
 * response carries a strict CSP (default-src 'none' for the API),
 * nosniff, frame denial and no-referrer. Bodies, headers, connections and
 * idle time are bounded (HTTP_* below and --http-max-connections).
 *
 * Calls that wait (WaitForMessages, event streams) hold a struct http_req
 * with the control call; the connection's close callback cancels the call
 * when the client goes away, and http_free() cancels what is left.
 *
 * Connections are counted from their accept on, silent ones included
 * (--http-max-connections; accepting pauses at the limit, so the ones
 * beyond wait in the listen backlog): evhttp 2.1 tells nothing about a
 * connection before its first request, so http_bev_cb() (evhttp's
 * bufferevent factory, called at accept) counts it and holds a reference
 * on its bufferevent, and http_adopt_cb(), in the same loop pass, finds
 * the evhttp connection through the bufferevent's callback argument and
 * puts our close callback on it (libevent 2.2 has evhttp_set_newreqcb()
 * for this). A silent or idle connection is closed after
 * --http-idle-timeout.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <glib.h>

#include "smtpsink/v1/smtpsink.pb-c.h"

#include "config.h"
#include "control.h"
#include "http.h"
#include "http_assets.h"
#include "http_internal.h"
#include "http_json.h"
#include "log.h"
#include "message.h"
#include "mime.h"
#include "smtp_auth.h"
#include "store.h"
#include "xmalloc.h"

#define HTTP_BODY_MAX	      (1 << 20)	   /* request body bytes */
#define HTTP_HEADERS_MAX      16384	   /* request line and headers */
#define HTTP_HELD_TIMEOUT_S   (30 * 86400) /* while a wait or a stream runs */
#define HTTP_SSE_KEEPALIVE_MS 15000
#define HTTP_SSE_OUT_MAX      (1 << 20)	 /* unread event bytes before a client is dropped */
#define HTTP_SSE_OUT_LOW      (64 << 10) /* next event once unsent bytes are below */
#define HTTP_SSE_PUMP_MS      20
#define HTTP_SERVICE	      "smtpsink.v1.Sink"
#define HTTP_CSP_API	      "default-src 'none'; frame-ancestors 'none'; sandbox"
/*
 * The UI's own policy. img-src allows http: and https: only because a
 * srcdoc iframe inherits it: the UI puts its own stricter CSP first in each
 * HTML body (remote images blocked until the user's toggle), and its own
 * code loads no remote image.
 */
#define HTTP_CSP_UI \
	"default-src 'self'; img-src 'self' data: http: https:; style-src 'self' " \
	"'unsafe-inline'; " \
	"frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

enum http_req_kind { HTTP_REQ_RPC, HTTP_REQ_SSE, HTTP_REQ_HELD };

/* A request that outlives its callback (a parked RPC, an event stream) */
struct http_req {
	struct http			 *h;
	enum http_req_kind		  kind;
	struct evhttp_request		 *req; /* NULL once the client went away */
	struct evhttp_connection	 *evcon;
	struct control_call		 *call;
	const ProtobufCMessageDescriptor *out;
	struct event			 *keepalive;
	int				  calling;  /* inside control_local_call() */
	int				  finished; /* the final answer came */
	int				  started;  /* SSE: the 200 and headers went out */
	struct event			 *pump; /* asks for the next event once output drained */
	struct http_conn		 *conn;
	void (*cancel)(void *); /* HTTP_REQ_HELD */
	void *cancel_arg;
	TAILQ_ENTRY(http_req) entry;
};

/* An accepted connection: counted, and its close callback is ours */
struct http_conn {
	struct http		 *h;
	struct evhttp_connection *evcon; /* NULL until adopted */
	struct bufferevent	 *bev;	 /* until adopted: our reference on evhttp's */
	struct http_req		 *hr;	 /* the request waiting on it, or NULL */
	LIST_ENTRY(http_conn) entry;
};

struct http_auth_user {
	char *user, *pass;
};

struct http {
	struct http_env	       env;
	struct evhttp	      *eh;
	struct evconnlistener *lev;
	char		       addr[128];
	const char	      *base;
	size_t		       baselen;
	struct http_auth_user *users;
	size_t		       nusers;
	size_t		       conns; /* open connections, from their accept on */
	LIST_HEAD(, http_conn) connlist;
	struct event  *adopt; /* http_adopt_cb(): connections accepted this pass */
	struct timeval idle;  /* --http-idle-timeout */
	TAILQ_HEAD(, http_req) reqs;
};

const struct http_env *
http_env(const struct http *h)
{
	return &h->env;
}

const char *
http_address(const struct http *h)
{
	return h->addr;
}

/* --- replies -------------------------------------------------------------- */

static void
http_security_headers(struct evhttp_request *req, const char *csp)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

	evhttp_remove_header(oh, "Content-Security-Policy");
	evhttp_add_header(oh, "Content-Security-Policy", csp);
	if (evhttp_find_header(oh, "X-Content-Type-Options") == NULL) {
		evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
		evhttp_add_header(oh, "X-Frame-Options", "DENY");
		evhttp_add_header(oh, "Referrer-Policy", "no-referrer");
		evhttp_add_header(oh, "Cache-Control", "no-store");
	}
}

static const char *
http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 499:
		return "Client Closed Request";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return status < 500 ? "Error" : "Server Error";
	}
}

void
http_reply_bytes(struct evhttp_request *req, int status, const char *type, const void *data,
    size_t len)
{
	struct evbuffer *b = evbuffer_new();

	http_security_headers(req, HTTP_CSP_API);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evbuffer_add(b, data, len);
	evhttp_send_reply(req, status, http_reason(status), b);
	evbuffer_free(b);
}

void
http_reply_json(struct evhttp_request *req, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);

	json_decref(j);
	if (s == NULL)
		s = xstrdup("{\"code\":\"internal\",\"message\":\"cannot encode\"}");
	http_reply_bytes(req, status, "application/json", s, strlen(s));
	free(s);
}

void
http_reply_error(struct evhttp_request *req, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	char	msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_reply_json(req, status,
	    json_pack("{s:s,s:s%}", "code", code, "message", msg, strlen(msg)));
}

int
http_body_json(struct evhttp_request *req, json_t **out)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t		 len = evbuffer_get_length(in);
	json_error_t	 e;
	const char	*p;

	if (len == 0) {
		*out = json_object();
		return 0;
	}
	p = (const char *)evbuffer_pullup(in, -1);
	if ((*out = json_loadb(p, len, JSON_REJECT_DUPLICATES, &e)) == NULL) {
		http_reply_error(req, 400, "invalid_argument", "request body: not JSON (%s)",
		    e.text);
		return -1;
	}
	return 0;
}

uint64_t
http_parse_id(const char *s, size_t len)
{
	uint64_t v = 0;
	size_t	 i;

	if (len == 0 || len > 19)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v;
}

/* gRPC status -> Connect error code and HTTP status */
static const struct {
	const char *code;
	int	    status;
} http_codes[] = {
	{ "ok", 200 },
	{ "canceled", 499 },
	{ "unknown", 500 },
	{ "invalid_argument", 400 },
	{ "deadline_exceeded", 504 },
	{ "not_found", 404 },
	{ "already_exists", 409 },
	{ "permission_denied", 403 },
	{ "resource_exhausted", 429 },
	{ "failed_precondition", 400 },
	{ "aborted", 409 },
	{ "out_of_range", 400 },
	{ "unimplemented", 501 },
	{ "internal", 500 },
	{ "unavailable", 503 },
	{ "data_loss", 500 },
	{ "unauthenticated", 401 },
};

/* --- local calls: unary RPCs and event streams ------------------------------ */

static struct http_conn *http_conn_get(struct http *, struct evhttp_connection *);

/*
 * A request answered later: linked to its connection, whose close callback
 * cancels it; no idle timeout meanwhile (a wait or a stream may be long).
 */
static struct http_req *
http_req_new(struct http *h, struct evhttp_request *req, enum http_req_kind kind)
{
	struct http_req *hr = xcalloc(1, sizeof(*hr));

	hr->h = h;
	hr->kind = kind;
	hr->req = req;
	hr->evcon = evhttp_request_get_connection(req);
	hr->conn = http_conn_get(h, hr->evcon);
	hr->conn->hr = hr;
	evhttp_connection_set_timeout(hr->evcon, HTTP_HELD_TIMEOUT_S);
	TAILQ_INSERT_TAIL(&h->reqs, hr, entry);
	return hr;
}

static void
http_req_free(struct http_req *hr)
{
	if (hr->conn != NULL) {
		hr->conn->hr = NULL;
		if (hr->req != NULL)
			evhttp_connection_set_timeout_tv(hr->evcon, &hr->h->idle);
	}
	if (hr->keepalive != NULL)
		event_free(hr->keepalive);
	if (hr->pump != NULL)
		event_free(hr->pump);
	TAILQ_REMOVE(&hr->h->reqs, hr, entry);
	free(hr);
}

/* The final answer of a unary call: the reply as JSON, or a Connect error */
static void
http_rpc_answer(struct evhttp_request *req, const ProtobufCMessageDescriptor *out,
    grpc_status_code code, const char *msg, const uint8_t *data, size_t len)
{
	ProtobufCMessage *m;
	size_t		  c = (size_t)code;

	if (code != GRPC_STATUS_OK) {
		if (c >= sizeof(http_codes) / sizeof(http_codes[0]))
			c = GRPC_STATUS_UNKNOWN;
		http_reply_error(req, http_codes[c].status, http_codes[c].code, "%s",
		    msg != NULL ? msg : "");
		return;
	}
	if ((m = protobuf_c_message_unpack(out, NULL, len, data)) == NULL) {
		http_reply_error(req, 500, "internal", "cannot read the reply");
		return;
	}
	http_reply_json(req, 200, http_json_encode(m, 0));
	protobuf_c_message_free_unpacked(m, NULL);
}

/* Bytes queued on the connection and not yet written to the socket */
static size_t
http_out_len(struct http_req *hr)
{
	return evbuffer_get_length(
	    bufferevent_get_output(evhttp_connection_get_bufferevent(hr->evcon)));
}

/* One SSE event for a packed Message; 0, or -1 when the client fell behind */
static int
http_sse_event(struct http_req *hr, const uint8_t *data, size_t len)
{
	struct evbuffer	 *out;
	ProtobufCMessage *m;
	char		 *s;
	json_t		 *j;

	if (http_out_len(hr) > HTTP_SSE_OUT_MAX)
		return -1;
	if ((m = protobuf_c_message_unpack(hr->out, NULL, len, data)) == NULL)
		return -1;
	j = http_json_encode(m, 0);
	s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	out = evbuffer_new();
	evbuffer_add_printf(out, "id: %llu\nevent: message\ndata: %s\n\n",
	    (unsigned long long)((Smtpsink__V1__Message *)m)->id, s != NULL ? s : "{}");
	free(s);
	json_decref(j);
	protobuf_c_message_free_unpacked(m, NULL);
	evhttp_send_reply_chunk(hr->req, out);
	evbuffer_free(out);
	event_active(hr->pump, EV_TIMEOUT, 0);
	return 0;
}

/* A client that does not read: its connection goes (the close callback cleans up) */
static void
http_sse_drop(struct http_req *hr)
{
	log_info("http events dropped reason=slow_reader");
	evhttp_connection_free(hr->evcon);
}

/*
 * The stream's next message is asked for once the client read (nearly) all
 * of the previous ones: memory per stream stays bounded by one message plus
 * HTTP_SSE_OUT_LOW; a client that stops reading is dropped by the keep-alive.
 */
static void
http_sse_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_req *hr = arg;
	struct timeval	 tv = { 0, HTTP_SSE_PUMP_MS * 1000 };

	if (hr->call == NULL || hr->finished)
		return;
	if (http_out_len(hr) < HTTP_SSE_OUT_LOW)
		control_local_sent(hr->call);
	else
		evtimer_add(hr->pump, &tv);
}

static void
http_local_fn(void *arg, int final, grpc_status_code code, const char *msg, const uint8_t *data,
    size_t len)
{
	struct http_req *hr = arg;
	struct evbuffer *b;

	if (!final) { /* one message of an event stream */
		if (hr->req == NULL || http_sse_event(hr, data, len) == -1)
			http_sse_drop(hr);
		return;
	}
	hr->finished = 1;
	hr->call = NULL;
	if (hr->req != NULL) {
		if (hr->kind == HTTP_REQ_RPC || !hr->started)
			http_rpc_answer(hr->req, hr->out, code, msg, data, len);
		else {
			b = evbuffer_new();
			evbuffer_add_printf(b, "event: end\ndata: {\"code\":\"%s\"}\n\n",
			    (size_t)code < sizeof(http_codes) / sizeof(http_codes[0]) ?
				http_codes[code].code :
				"unknown");
			evhttp_send_reply_chunk(hr->req, b);
			evbuffer_free(b);
			evhttp_send_reply_end(hr->req);
		}
	}
	if (!hr->calling)
		http_req_free(hr);
}

/*
 * The request waiting on a connection that went away: cancelled, freed.
 * When the client left (EOF, error), evhttp has detached the request it
 * had not seen answered (evhttp_connection_incoming_fail()) and leaves it
 * to us; when the connection is closed on our side (a dropped stream,
 * shutdown), the request is still the connection's and goes with it.
 */
static void
http_req_abandon(struct http_req *hr)
{
	if (hr->req != NULL && evhttp_request_get_connection(hr->req) == NULL)
		evhttp_request_free(hr->req);
	hr->req = NULL;
	if (hr->conn != NULL)
		hr->conn->hr = NULL;
	hr->conn = NULL;
	if (hr->call != NULL && !hr->finished) {
		control_local_cancel(hr->call);
		hr->call = NULL;
	}
	if (hr->cancel != NULL)
		hr->cancel(hr->cancel_arg);
	http_req_free(hr);
}

/* A new record for an open connection: counted; accepting pauses at the cap */
static struct http_conn *
http_conn_new(struct http *h)
{
	struct http_conn *conn = xcalloc(1, sizeof(*conn));

	conn->h = h;
	LIST_INSERT_HEAD(&h->connlist, conn, entry);
	h->conns++;
	if (h->env.cfg->http_max_connections > 0 && h->conns >= h->env.cfg->http_max_connections &&
	    h->lev != NULL) {
		log_info("http listen paused connections=%zu", h->conns);
		evconnlistener_disable(h->lev);
	}
	return conn;
}

/* The record of a connection that closed: uncounted, freed; accepting resumes */
static void
http_conn_gone(struct http_conn *conn)
{
	struct http *h = conn->h;

	LIST_REMOVE(conn, entry);
	free(conn);
	h->conns--;
	if (h->lev != NULL && h->conns + 1 == h->env.cfg->http_max_connections) {
		log_info("http listen resumed connections=%zu", h->conns);
		evconnlistener_enable(h->lev);
	}
}

/*
 * No Nagle: libevent writes at most 16 KiB per write(), so a larger reply
 * leaves in pieces, and Nagle would hold each after the first until the
 * client's delayed ACK (40 ms) unless the reply ends there.
 */
static void
http_conn_nodelay(struct evhttp_connection *evcon)
{
	evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	int		one = 1;

	if (fd != -1)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* evhttp closes a connection (client gone, timeout, error, shutdown) */
static void
http_conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn *conn = arg;

	if (conn->hr != NULL)
		http_req_abandon(conn->hr);
	http_conn_gone(conn);
}

/*
 * evhttp's bufferevent factory, called for each accepted connection before
 * evhttp makes its connection object: the connection is counted now, and
 * adopted by http_adopt_cb() later in this loop pass. The reference taken
 * here keeps the bufferevent (not the connection) alive until then.
 */
static struct bufferevent *
http_bev_cb(struct event_base *base, void *arg)
{
	struct http	   *h = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct http_conn   *conn;

	if (bev == NULL)
		return NULL; /* evhttp tries itself; the first request adopts it */
	bufferevent_incref(bev);
	conn = http_conn_new(h);
	conn->bev = bev;
	event_active(h->adopt, EV_TIMEOUT, 0);
	return bev;
}

/*
 * The connections accepted since the last pass get our close callback.
 * evhttp sets the connection as its bufferevent's callback argument
 * (evhttp_connection_base_bufferevent_new()), and bufferevent_free() sets
 * it to NULL: NULL means evhttp gave the connection up already.
 */
static void
http_adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http		 *h = arg;
	struct http_conn	 *conn, *next;
	struct evhttp_connection *evcon;
	struct bufferevent	 *bev;
	void			 *cbarg;

	for (conn = LIST_FIRST(&h->connlist); conn != NULL; conn = next) {
		next = LIST_NEXT(conn, entry);
		if ((bev = conn->bev) == NULL)
			continue;
		conn->bev = NULL;
		bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
		evcon = cbarg;
		if (evcon != NULL && evhttp_connection_get_bufferevent(evcon) == bev) {
			conn->evcon = evcon;
			evhttp_connection_set_closecb(evcon, http_conn_closed_cb, conn);
			http_conn_nodelay(evcon);
		} else
			http_conn_gone(conn);
		bufferevent_decref(bev);
	}
}

/*
 * The record of the connection a request came on. Every connection is
 * adopted before its first request can be read; one that is not (no
 * bufferevent of ours) gets its record now.
 */
static struct http_conn *
http_conn_get(struct http *h, struct evhttp_connection *evcon)
{
	struct http_conn *conn;

	LIST_FOREACH(conn, &h->connlist, entry)
	if (conn->evcon == evcon)
		return conn;
	conn = http_conn_new(h);
	conn->evcon = evcon;
	evhttp_connection_set_closecb(evcon, http_conn_closed_cb, conn);
	http_conn_nodelay(evcon);
	return conn;
}

struct http_req *
http_hold(struct http *h, struct evhttp_request *req, void (*cancel)(void *), void *arg)
{
	struct http_req *hr = http_req_new(h, req, HTTP_REQ_HELD);

	hr->cancel = cancel;
	hr->cancel_arg = arg;
	return hr;
}

struct evhttp_request *
http_held_req(struct http_req *hr)
{
	return hr->req;
}

void
http_release(struct http_req *hr)
{
	hr->cancel = NULL;
	http_req_free(hr);
}

static void
http_keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_req *hr = arg;
	struct evbuffer *b;

	if (http_out_len(hr) > HTTP_SSE_OUT_MAX / 2) {
		http_sse_drop(hr);
		return;
	}
	b = evbuffer_new();
	evbuffer_add(b, ": keep-alive\n\n", 14);
	evhttp_send_reply_chunk(hr->req, b);
	evbuffer_free(b);
}

/*
 * Starts method (a path of the control API) with request m (borrowed) for
 * req; the answer goes out from http_local_fn.
 */
static void
http_call(struct http *h, struct evhttp_request *req, enum http_req_kind kind,
    const ProtobufCMethodDescriptor *md, const ProtobufCMessage *m)
{
	struct http_req *hr = http_req_new(h, req, kind);
	char		 path[128];

	snprintf(path, sizeof(path), "/%s/%s", HTTP_SERVICE, md->name);
	hr->out = md->output;
	hr->calling = 1;
	hr->call = control_local_call(h->env.control, path, m, http_local_fn, hr);
	hr->calling = 0;
	if (hr->call == NULL && !hr->finished) {
		http_reply_error(req, 404, "unimplemented", "unknown method %s", md->name);
		http_req_free(hr);
		return;
	}
	if (hr->finished)
		http_req_free(hr);
}

static const ProtobufCMethodDescriptor *
http_method(const char *name)
{
	const ProtobufCServiceDescriptor *sd = &smtpsink__v1__sink__descriptor;
	unsigned			  i;

	for (i = 0; i < sd->n_methods; i++)
		if (strcmp(sd->methods[i].name, name) == 0)
			return &sd->methods[i];
	return NULL;
}

/* POST /smtpsink.v1.Sink/<name>: JSON request -> handler -> JSON reply */
static void
http_rpc(struct http *h, struct evhttp_request *req, const char *name)
{
	const ProtobufCMethodDescriptor *md = http_method(name);
	ProtobufCMessage		*m;
	json_t				*j;
	char				 err[256], path[128];
	int				 stream;

	snprintf(path, sizeof(path), "/%s/%s", HTTP_SERVICE, name);
	if (md == NULL || (stream = control_local_streaming(h->env.control, path)) == -1) {
		http_reply_error(req, 404, "unimplemented", "unknown method %s", name);
		return;
	}
	if (stream) {
		http_reply_error(req, 404, "unimplemented",
		    "%s streams: use GET /api/events (Server-Sent Events)", name);
		return;
	}
	if (http_body_json(req, &j) == -1)
		return;
	m = http_json_decode(md->input, j, err, sizeof(err));
	json_decref(j);
	if (m == NULL) {
		http_reply_error(req, 400, "invalid_argument", "%s", err);
		return;
	}
	http_call(h, req, HTTP_REQ_RPC, md, m);
	protobuf_c_message_free_unpacked(m, NULL);
}

/*
 * GET /api/events?<Filter fields>&after_id=N: WatchMessages as SSE. The
 * query's keys are the Filter's (proto or JSON names); Last-Event-ID wins
 * over after_id, so a reconnecting EventSource resumes after the last id
 * it saw: no gap, no duplicate.
 */
static void
http_events(struct http *h, struct evhttp_request *req, const char *query)
{
	const ProtobufCMethodDescriptor *md = http_method("WatchMessages");
	struct evkeyvalq		 q;
	struct evkeyval			*kv;
	ProtobufCMessage		*m;
	json_t				*j = json_object(), *f = json_object();
	const char			*last;
	struct http_req			*hr;
	struct timeval			 tv = { HTTP_SSE_KEEPALIVE_MS / 1000, 0 };
	struct evbuffer			*b;
	char				 err[256];

	TAILQ_INIT(&q);
	if (query != NULL && evhttp_parse_query_str(query, &q) == -1) {
		json_decref(j);
		json_decref(f);
		http_reply_error(req, 400, "invalid_argument", "bad query string");
		return;
	}
	TAILQ_FOREACH(kv, &q, next)
	{
		if (strcmp(kv->key, "after_id") == 0 || strcmp(kv->key, "afterId") == 0)
			json_object_set_new(j, "afterId", json_string(kv->value));
		else
			json_object_set_new(f, kv->key, json_string(kv->value));
	}
	evhttp_clear_headers(&q);
	last = evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");
	if (last != NULL && *last != '\0')
		json_object_set_new(j, "afterId", json_string(last));
	json_object_set_new(j, "filter", f);
	m = http_json_decode(md->input, j, err, sizeof(err));
	json_decref(j);
	if (m == NULL) {
		http_reply_error(req, 400, "invalid_argument", "%s", err);
		return;
	}
	/* The call first: a bad filter is answered as an error, not as a stream */
	hr = http_req_new(h, req, HTTP_REQ_SSE);
	hr->out = md->output;
	hr->pump = evtimer_new(h->env.base, http_sse_pump_cb, hr);
	hr->calling = 1;
	hr->call = control_local_call(h->env.control, "/" HTTP_SERVICE "/WatchMessages", m,
	    http_local_fn, hr);
	hr->calling = 0;
	protobuf_c_message_free_unpacked(m, NULL);
	if (hr->finished || hr->call == NULL) {
		if (!hr->finished)
			http_reply_error(req, 404, "unimplemented", "no WatchMessages");
		http_req_free(hr);
		return;
	}
	http_security_headers(req, HTTP_CSP_API);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/event-stream");
	evhttp_add_header(evhttp_request_get_output_headers(req), "X-Accel-Buffering", "no");
	evhttp_send_reply_start(req, 200, "OK");
	b = evbuffer_new();
	evbuffer_add_printf(b, "retry: 1000\n: smtpsink events\n\n");
	evhttp_send_reply_chunk(req, b);
	evbuffer_free(b);
	hr->started = 1;
	hr->keepalive = event_new(h->env.base, -1, EV_PERSIST, http_keepalive_cb, hr);
	event_add(hr->keepalive, &tv);
}

/* --- downloads ------------------------------------------------------------ */

void
http_reply_raw(struct http *h, struct evhttp_request *req, uint64_t id, const char *type,
    int download)
{
	struct message *m = store_get(h->env.store, id);
	char		disp[64];

	if (m == NULL) {
		http_reply_error(req, 404, "not_found", "message %llu not found",
		    (unsigned long long)id);
		return;
	}
	if (download) {
		snprintf(disp, sizeof(disp), "attachment; filename=\"%llu.eml\"",
		    (unsigned long long)id);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Disposition",
		    disp);
	}
	http_reply_bytes(req, 200, type, m->data, m->size);
}

/* A content type safe to send: "type/subtype" of token characters, or octet-stream */
static const char *
http_safe_type(const char *t, char *buf, size_t bufsz)
{
	size_t i, slash = 0;

	for (i = 0; t[i] != '\0' && t[i] != ';' && i + 1 < bufsz; i++) {
		if (t[i] == '/')
			slash++;
		else if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
			     (t[i] >= '0' && t[i] <= '9') || strchr("!#$&-^_.+", t[i]) != NULL))
			return "application/octet-stream";
		buf[i] = t[i];
	}
	buf[i] = '\0';
	return slash == 1 && buf[0] != '/' && buf[i - 1] != '/' ? buf : "application/octet-stream";
}

void
http_reply_attachment(struct http *h, struct evhttp_request *req, uint64_t id, size_t idx)
{
	struct message	       *m = store_get(h->env.store, id);
	struct mime_body       *b;
	struct mime_attachment *a;
	char			type[128], disp[1024];
	size_t			i, o;
	const unsigned char    *fn;

	if (m == NULL) {
		http_reply_error(req, 404, "not_found", "message %llu not found",
		    (unsigned long long)id);
		return;
	}
	b = mime_body_parse(m, 1);
	if (idx >= b->natts) {
		http_reply_error(req, 404, "not_found", "message %llu has %zu attachments",
		    (unsigned long long)id, b->natts);
		mime_body_free(b);
		return;
	}
	a = &b->atts[idx];
	/* RFC 6266 / 5987: every byte but unreserved ones percent-encoded */
	o = (size_t)snprintf(disp, sizeof(disp), "attachment; filename*=UTF-8''");
	fn = (const unsigned char *)(*a->filename ? a->filename : "attachment");
	for (i = 0; fn[i] != '\0' && o + 4 < sizeof(disp); i++) {
		if ((fn[i] >= 'a' && fn[i] <= 'z') || (fn[i] >= 'A' && fn[i] <= 'Z') ||
		    (fn[i] >= '0' && fn[i] <= '9') || strchr("-._~", fn[i]) != NULL)
			disp[o++] = (char)fn[i];
		else
			o += (size_t)snprintf(disp + o, sizeof(disp) - o, "%%%02X", fn[i]);
	}
	disp[o] = '\0';
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Disposition", disp);
	http_reply_bytes(req, 200, http_safe_type(a->content_type, type, sizeof(type)),
	    a->content != NULL ? a->content : "", a->content != NULL ? a->size : 0);
	mime_body_free(b);
}

/* /api/messages/<id>.eml, /<id>/raw, /<id>/attachments/<i> */
static void
http_messages(struct http *h, struct evhttp_request *req, const char *rest)
{
	size_t	 n = strspn(rest, "0123456789");
	uint64_t id = http_parse_id(rest, n);

	if (id == 0)
		http_reply_error(req, 404, "not_found", "no such message");
	else if (strcmp(rest + n, ".eml") == 0)
		http_reply_raw(h, req, id, "message/rfc822", 1);
	else if (strcmp(rest + n, "/raw") == 0)
		http_reply_raw(h, req, id, "message/rfc822", 0);
	else if (strncmp(rest + n, "/attachments/", 13) == 0 &&
	    strspn(rest + n + 13, "0123456789") == strlen(rest + n + 13) && rest[n + 13] != '\0' &&
	    strlen(rest + n + 13) < 9)
		http_reply_attachment(h, req, id, strtoul(rest + n + 13, NULL, 10));
	else
		http_reply_error(req, 404, "not_found", "no such resource");
}

/* --- assets --------------------------------------------------------------- */

static void
http_asset(struct evhttp_request *req, const char *path)
{
	const struct http_asset *a = http_assets_find(path);
	const char		*ae;
	struct evkeyvalq	*oh = evhttp_request_get_output_headers(req);
	struct evbuffer		*b;

	if (a == NULL) {
		http_reply_error(req, 404, "not_found", "no such resource");
		return;
	}
	ae = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept-Encoding");
	http_security_headers(req, HTTP_CSP_UI);
	evhttp_add_header(oh, "Content-Type", a->type);
	evhttp_add_header(oh, "Vary", "Accept-Encoding");
	b = evbuffer_new();
	if (a->gz != NULL && ae != NULL && strstr(ae, "gzip") != NULL) {
		evhttp_add_header(oh, "Content-Encoding", "gzip");
		evbuffer_add_reference(b, a->gz, a->gzlen, NULL, NULL);
	} else
		evbuffer_add_reference(b, a->data, a->len, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* The page itself is served at the base path's "/" only: its URLs are relative */
static void
http_redirect_root(struct http *h, struct evhttp_request *req)
{
	char loc[512];

	snprintf(loc, sizeof(loc), "%.*s/", (int)h->baselen, h->base);
	http_security_headers(req, HTTP_CSP_API);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
	evhttp_send_reply(req, 301, "Moved Permanently", NULL);
}

/* --- checks --------------------------------------------------------------- */

/* host without port: "[::1]:8025" -> "::1", "Example.com:80" -> "example.com" */
static void
http_host_name(const char *host, char *dst, size_t dstsz)
{
	const char *end;
	size_t	    n;

	if (*host == '[' && (end = strchr(host, ']')) != NULL) {
		host++;
		n = (size_t)(end - host);
	} else
		n = (end = strrchr(host, ':')) != NULL ? (size_t)(end - host) : strlen(host);
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, host, n);
	dst[n] = '\0';
	for (n = 0; dst[n] != '\0'; n++)
		if (dst[n] >= 'A' && dst[n] <= 'Z')
			dst[n] += 'a' - 'A';
}

/* DNS rebinding: only IP literals, localhost and --http-allowed-hosts */
static int
http_host_ok(const struct http *h, const char *host)
{
	struct in6_addr a6;
	struct in_addr	a4;
	char		name[256];
	size_t		i;

	if (host == NULL || *host == '\0')
		return 0;
	http_host_name(host, name, sizeof(name));
	if (inet_pton(AF_INET, name, &a4) == 1 || inet_pton(AF_INET6, name, &a6) == 1 ||
	    strcmp(name, "localhost") == 0 ||
	    (strlen(name) > 10 && strcmp(name + strlen(name) - 10, ".localhost") == 0))
		return 1;
	for (i = 0; i < h->env.cfg->http_allowed_hosts_n; i++)
		if (strcasecmp(h->env.cfg->http_allowed_hosts[i], name) == 0)
			return 1;
	return 0;
}

/* A state change: JSON content type and, when an Origin is sent, ours */
static int
http_csrf_ok(struct evhttp_request *req, const char *host, char *why, size_t whylen)
{
	struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
	const char	 *ct = evhttp_find_header(ih, "Content-Type");
	const char	 *origin = evhttp_find_header(ih, "Origin");
	const char	 *p;
	size_t		  n;

	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
		snprintf(why, whylen,
		    "state-changing requests need Content-Type: application/json");
		return 415;
	}
	if (origin == NULL)
		return 0;
	if ((p = strstr(origin, "://")) == NULL) {
		snprintf(why, whylen, "bad Origin");
		return 403;
	}
	p += 3;
	n = strlen(p);
	if (n > 0 && p[n - 1] == '/')
		n--;
	if (host == NULL || strlen(host) != n || strncasecmp(p, host, n) != 0) {
		snprintf(why, whylen, "cross-origin request refused (Origin does not match Host)");
		return 403;
	}
	return 0;
}

/* --http-auth-file: 1 if the Authorization header names a listed user */
static int
http_auth_ok(const struct http *h, struct evhttp_request *req)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	char	   *dec, *colon;
	size_t	    len, i, ulen;
	int	    ok = 0, m;

	if (h->nusers == 0)
		return 1;
	if (a == NULL || strncasecmp(a, "Basic ", 6) != 0)
		return 0;
	a += 6;
	if ((dec = smtp_auth_b64_decode(a, strlen(a), &len)) == NULL)
		return 0;
	if ((colon = memchr(dec, ':', len)) != NULL) {
		ulen = (size_t)(colon - dec);
		for (i = 0; i < h->nusers; i++) {
			/* every user compared, each in constant time */
			m = smtp_auth_ct_equal(dec, ulen, h->users[i].user,
				strlen(h->users[i].user)) &
			    smtp_auth_ct_equal(colon + 1, len - ulen - 1, h->users[i].pass,
				strlen(h->users[i].pass));
			ok |= m;
		}
	}
	explicit_bzero(dec, len);
	g_free(dec);
	return ok;
}

/* --- dispatch ------------------------------------------------------------- */

static void
http_route(struct http *h, struct evhttp_request *req, const char *path, const char *query)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	int		     get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;

	if (strcmp(path, "/healthz") == 0 && get) {
		http_reply_bytes(req, 200, "text/plain", "ok\n", 3);
		return;
	}
	if (strcmp(path, "/readyz") == 0 && get) {
		if (h->env.serving(h->env.serving_arg))
			http_reply_bytes(req, 200, "text/plain", "ready\n", 6);
		else
			http_reply_bytes(req, 503, "text/plain", "draining\n", 9);
		return;
	}
	if (strncmp(path, "/" HTTP_SERVICE "/", sizeof(HTTP_SERVICE) + 1) == 0) {
		if (cmd != EVHTTP_REQ_POST)
			http_reply_error(req, 405, "unimplemented", "use POST");
		else
			http_rpc(h, req, path + sizeof(HTTP_SERVICE) + 1);
		return;
	}
	if (strncmp(path, "/api/v1/", 8) == 0) {
		http_mailpit_handle(h, req, path + 8, query);
		return;
	}
	if (!get) {
		http_reply_error(req, 405, "unimplemented", "method not allowed");
		return;
	}
	if (strcmp(path, "/api/events") == 0)
		http_events(h, req, query);
	else if (strncmp(path, "/api/messages/", 14) == 0)
		http_messages(h, req, path + 14);
	else if (strcmp(path, "/ui") == 0 || strcmp(path, "/ui/") == 0 ||
	    strcmp(path, "/index.html") == 0)
		http_redirect_root(h, req); /* the page's relative URLs need "/" */
	else
		http_asset(req, path);
}

static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct http		*h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evkeyvalq	*ih = evhttp_request_get_input_headers(req);
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	const char		*host = evhttp_find_header(ih, "Host");
	const char		*rawpath = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	char			*path;
	char			 why[128];
	size_t			 plen;
	int			 st;

	http_conn_get(h, evhttp_request_get_connection(req));
	if (h->env.cfg->http_max_connections > 0 && h->conns > h->env.cfg->http_max_connections) {
		/* only a connection evhttp made without http_bev_cb(): answered, closed */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		http_reply_error(req, 503, "unavailable",
		    "too many connections (--http-max-connections)");
		return;
	}
	if (rawpath == NULL || *rawpath != '/') {
		http_reply_error(req, 400, "invalid_argument", "bad request target");
		return;
	}
	if (!http_host_ok(h, host)) {
		http_reply_error(req, 403, "permission_denied",
		    "Host not allowed (an IP address, localhost or --http-allowed-hosts)");
		return;
	}
	if ((path = evhttp_uridecode(rawpath, 0, &plen)) == NULL || strlen(path) != plen) {
		free(path);
		http_reply_error(req, 400, "invalid_argument", "bad path");
		return;
	}
	if (h->baselen > 0) {
		if (strncmp(path, h->base, h->baselen) != 0 ||
		    (path[h->baselen] != '/' && path[h->baselen] != '\0')) {
			http_reply_error(req, 404, "not_found", "not under %s", h->base);
			free(path);
			return;
		}
		memmove(path, path + h->baselen, strlen(path + h->baselen) + 1);
		if (*path == '\0') { /* "/sink": the page needs "/sink/" */
			http_redirect_root(h, req);
			free(path);
			return;
		}
	}
	if (strcmp(path, "/healthz") != 0 && strcmp(path, "/readyz") != 0 &&
	    !http_auth_ok(h, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		    "Basic realm=\"smtpsink\", charset=\"UTF-8\"");
		http_reply_error(req, 401, "unauthenticated", "authentication required");
		free(path);
		return;
	}
	if ((cmd == EVHTTP_REQ_POST || cmd == EVHTTP_REQ_DELETE) &&
	    (st = http_csrf_ok(req, host, why, sizeof(why))) != 0) {
		http_reply_error(req, st, "permission_denied", "%s", why);
		free(path);
		return;
	}
	http_route(h, req, path, evhttp_uri_get_query(uri));
	free(path);
}

/* --- setup ---------------------------------------------------------------- */

static int
http_load_users(struct http *h, const char *file, char *err, size_t errlen)
{
	FILE  *fp;
	char   line[1024], *colon;
	size_t n;

	if ((fp = fopen(file, "r")) == NULL) {
		snprintf(err, errlen, "HTTP: --http-auth-file %s: cannot read", file);
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		n = strcspn(line, "\r\n");
		line[n] = '\0';
		if (n == 0 || line[0] == '#' || (colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		h->users = xreallocarray(h->users, h->nusers + 1, sizeof(*h->users));
		h->users[h->nusers].user = xstrdup(line);
		h->users[h->nusers].pass = xstrdup(colon + 1);
		h->nusers++;
	}
	fclose(fp);
	if (h->nusers == 0) {
		snprintf(err, errlen, "HTTP: --http-auth-file %s: no user:password line", file);
		return -1;
	}
	return 0;
}

struct http *
http_new(const struct http_env *env, char *err, size_t errlen)
{
	const struct config	   *cfg = env->cfg;
	struct http		   *h = xcalloc(1, sizeof(*h));
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage	    ss;
	socklen_t		    sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN], *addr = xstrdup(cfg->http_listen), *colon;

	h->env = *env;
	TAILQ_INIT(&h->reqs);
	LIST_INIT(&h->connlist);
	h->adopt = event_new(env->base, -1, 0, http_adopt_cb, h);
	/* 0: no idle timeout, i.e. as long as a held request's */
	h->idle.tv_sec = cfg->http_idle_timeout_ms ? (time_t)(cfg->http_idle_timeout_ms / 1000) :
						     HTTP_HELD_TIMEOUT_S;
	h->idle.tv_usec = (suseconds_t)(cfg->http_idle_timeout_ms % 1000 * 1000);
	h->base = cfg->http_base_path != NULL ? cfg->http_base_path : "";
	h->baselen = strlen(h->base);
	while (h->baselen > 0 && h->base[h->baselen - 1] == '/')
		h->baselen--;
	if (cfg->http_auth_file != NULL && *cfg->http_auth_file != '\0' &&
	    http_load_users(h, cfg->http_auth_file, err, errlen) == -1)
		goto fail;
	colon = strrchr(addr, ':');
	if (colon == NULL || colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strtoul(colon + 1, NULL, 10) > 65535) {
		snprintf(err, errlen, "HTTP: bad listen address \"%s\" (want host:port)",
		    cfg->http_listen);
		goto fail;
	}
	*colon = '\0';
	if (addr[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		memmove(addr, addr + 1, strlen(addr));
	}
	h->eh = evhttp_new(env->base);
	evhttp_set_max_body_size(h->eh, HTTP_BODY_MAX);
	evhttp_set_max_headers_size(h->eh, HTTP_HEADERS_MAX);
	evhttp_set_timeout_tv(h->eh, &h->idle);
	evhttp_set_bevcb(h->eh, http_bev_cb, h);
	/* an oversized body is read and dropped, so the client sees the 413 */
	evhttp_set_flags(h->eh, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_allowed_methods(h->eh,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
		EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(h->eh, http_request_cb, h);
	if ((bs = evhttp_bind_socket_with_handle(h->eh, addr,
		 (ev_uint16_t)strtoul(colon + 1, NULL, 10))) == NULL) {
		snprintf(err, errlen, "HTTP: cannot listen on %s (address in use or not valid)",
		    cfg->http_listen);
		goto fail;
	}
	h->lev = evhttp_bound_socket_get_listener(bs);
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
			    sizeof(host));
			snprintf(h->addr, sizeof(h->addr), "[%s]:%u", host,
			    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
			    sizeof(host));
			snprintf(h->addr, sizeof(h->addr), "%s:%u", host,
			    ntohs(((struct sockaddr_in *)&ss)->sin_port));
		}
	}
	free(addr);
	log_info("http listening addr=%s base_path=%.*s auth=%s", h->addr, (int)h->baselen, h->base,
	    h->nusers ? "basic" : "none");
	return h;
fail:
	free(addr);
	http_free(h);
	return NULL;
}

void
http_free(struct http *h)
{
	struct http_req	 *hr;
	struct http_conn *conn;
	size_t		  i;

	if (h == NULL)
		return;
	while ((hr = TAILQ_FIRST(&h->reqs)) != NULL)
		http_req_abandon(hr);
	h->lev = NULL; /* freed with eh: closing connections must not resume it */
	if (h->eh != NULL)
		evhttp_free(h->eh); /* runs the connections' close callbacks */
	while ((conn = LIST_FIRST(&h->connlist)) != NULL) {
		LIST_REMOVE(conn, entry);
		if (conn->bev != NULL) /* accepted, not adopted yet: evhttp freed it */
			bufferevent_decref(conn->bev);
		free(conn);
	}
	if (h->adopt != NULL)
		event_free(h->adopt);
	for (i = 0; i < h->nusers; i++) {
		explicit_bzero(h->users[i].pass, strlen(h->users[i].pass));
		free(h->users[i].user);
		free(h->users[i].pass);
	}
	free(h->users);
	free(h);
}
