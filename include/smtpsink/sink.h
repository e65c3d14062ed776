/*
 * smtpsink/sink.h - embed an SMTP sink in a C program or test suite.
 *
 * A sink is a complete smtpsink server (the same code as the daemon) running
 * its own event loop in a background thread. Your program sends mail to it
 * over real SMTP and then inspects, waits for or clears what arrived:
 *
 *	struct smtpsink_options	 opt;
 *	struct smtpsink		*sink;
 *	struct smtpsink_filter	 f = { .rcpt_to = "*@test-42.example" };
 *	struct smtpsink_message	*msgs;
 *	size_t			 n;
 *	char			 err[256];
 *
 *	smtpsink_options_init(&opt);		// 127.0.0.1, ephemeral port
 *	if ((sink = smtpsink_start(&opt, err, sizeof(err))) == NULL)
 *		errx(1, "%s", err);
 *	configure_app_smtp("127.0.0.1", smtpsink_smtp_port(sink));
 *	run_code_that_sends_mail();
 *	if (smtpsink_wait(sink, &f, 1, 5000, &msgs, &n) == 0)
 *		check(msgs[0].subject, msgs[0].data, msgs[0].size);
 *	smtpsink_messages_free(msgs, n);
 *	smtpsink_stop(sink);
 *
 * Link with the static libraries: CMake target smtpsink::smtpsink
 * (find_package(smtpsink) or add_subdirectory), or
 * `pkg-config --cflags --libs smtpsink` (libsmtpsink.a, libsmtpsink_pb.a and
 * their dependencies libevent_core, libevent_pthreads, gmime-3.0, grpc,
 * libprotobuf-c, pthread).
 *
 * Failures come back to the caller (NULL or -1, with a reason where there is
 * an err argument); no function ends the process, except that running out
 * of memory aborts, as in GLib.
 *
 * Threads. Every function here is thread-safe and may be called from any
 * thread except where noted. Each call is handed to the sink's loop thread
 * and blocks until the answer is back; the loop thread alone touches the
 * stored messages, so results are always consistent snapshots. Results are
 * deep copies owned by the caller. The handler (below) runs on the loop
 * thread; from inside it, list/get/clear/last_id/stats work directly, but
 * smtpsink_wait() returns -1 (it would wait for itself).
 *
 * Fidelity. `data` is exactly what the client sent after dot-unstuffing
 * (CRLF kept, 8-bit kept, no header added); the envelope (MAIL FROM, RCPT TO,
 * HELO, peer) is kept apart from the headers.
 *
 * Signals. The loop thread blocks all signals, so SIGPIPE from a client
 * that hung up is never delivered to your process through it and your own
 * signal handlers run on your threads.
 *
 * Patterns. Filter fields are case-insensitive globs matched against the
 * whole value: '*', '?', '[set]', '[!set]' or '[^set]' with ranges, '\'
 * escapes the next character. Use "*word*" for "contains". A pattern is at
 * most 1,024 bytes; a longer or malformed one (unclosed '[', trailing '\',
 * reversed range) makes smtpsink_filter_check() fail with the reason.
 */
#ifndef SMTPSINK_SINK_H
#define SMTPSINK_SINK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct smtpsink;
struct smtpsink_message;

/*
 * Called on the sink's loop thread for each complete message, after the
 * client's final "." (or BDAT LAST) and before the message is stored; this
 * is the contract of Python smtpd's SMTPServer.process_message. Return NULL
 * to accept (the client gets 250 and the message is stored), or a reply such
 * as "550 5.7.1 no thanks" or "451 4.3.0 try later" to reject it (nothing is
 * stored). The reply is copied at once, so a static string is fine; a string
 * that does not start with a 4xx/5xx code is sent as "550 5.7.1 <string>".
 * `msg` is borrowed for the duration of the call and its `id` is 0 (not
 * stored yet). Keep the handler short: the loop serves every client.
 */
typedef const char *smtpsink_handler_fn(const struct smtpsink_message *msg, void *arg);

/* Log verbosity of the embedded server (it logs to stderr, one line per event). */
enum smtpsink_log_level {
	SMTPSINK_LOG_ERROR,
	SMTPSINK_LOG_WARN,
	SMTPSINK_LOG_INFO,
	SMTPSINK_LOG_DEBUG
};

struct smtpsink_options {
	const char *smtp_listen;      /* "host:port"; default "127.0.0.1:0" (ephemeral) */
	const char *grpc_listen;      /* gRPC control API address, e.g. "127.0.0.1:0"; NULL: off */
	const char *hostname;	      /* name in the banner and EHLO reply; default "smtpsink" */
	size_t	    max_message_size; /* SIZE, 552 past it; 0: 32 MiB */
	size_t	    max_messages;     /* stored, oldest evicted past it; 0: 10000 */
	size_t	    max_bytes;	      /* stored bytes, oldest evicted past it; 0: 256 MiB */
	smtpsink_handler_fn    *handler; /* NULL: accept everything */
	void		       *handler_arg;
	enum smtpsink_log_level log_level; /* default SMTPSINK_LOG_WARN */
};

/* Anomalies recorded on a message (never repaired), bits of `anomalies`. */
#define SMTPSINK_ANOM_BARE_LF	    0x0001 /* LF not preceded by CR */
#define SMTPSINK_ANOM_BARE_CR	    0x0002 /* CR not followed by LF */
#define SMTPSINK_ANOM_LONG_LINE	    0x0004 /* a line over 1000 octets */
#define SMTPSINK_ANOM_8BIT_HEADER   0x0008 /* 8-bit header without SMTPUTF8 */
#define SMTPSINK_ANOM_8BIT_BODY	    0x0010 /* 8-bit body without 8BITMIME */
#define SMTPSINK_ANOM_NUL	    0x0020 /* NUL byte */
#define SMTPSINK_ANOM_NO_HEADER_END 0x0040 /* no empty line after the header */
#define SMTPSINK_ANOM_MIME	    0x0080 /* malformed MIME */

/* One captured message. Every string is NUL-terminated and never NULL. */
struct smtpsink_message {
	uint64_t	   id;		  /* > 0, increasing, never reused; 0 in the handler */
	int64_t		   received_sec;  /* end of data: seconds since the epoch */
	long		   received_nsec; /* and nanoseconds (CLOCK_REALTIME) */
	const char	  *peer;	  /* client "ip:port" ("[v6]:port") */
	const char	  *helo;	  /* HELO/EHLO name, may be "" */
	const char	  *mail_from;	  /* MAIL FROM without <>; "" for the null sender */
	const char *const *rcpt_to;	  /* RCPT TO addresses without <>, in order */
	size_t		   nrcpt_to;
	const char	  *data;	   /* raw message bytes (+ a NUL not counted) */
	size_t		   size;	   /* length of data */
	const char	  *subject;	   /* decoded Subject (UTF-8), "" if none */
	unsigned	   anomalies;	   /* SMTPSINK_ANOM_* */
	int		   smtputf8;	   /* MAIL FROM had SMTPUTF8 */
	const char	  *auth_user;	   /* user of the session's SMTP AUTH, "" if none */
	const char	  *auth_mechanism; /* "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2" or "" */
};

/*
 * A message filter: all given fields must match. NULL or "" = not given.
 * rcpt_to matches if any recipient matches; header_name and header_value
 * must match the same header; body matches the decoded text or HTML body.
 * after_id: only messages with a greater id (0: all).
 */
struct smtpsink_filter {
	const char *mail_from;
	const char *rcpt_to;
	const char *subject;
	const char *header_name;
	const char *header_value;
	const char *body;
	uint64_t    after_id;
	const char *auth_user; /* the user a session authenticated as (SMTP AUTH) */
};

struct smtpsink_stats {
	uint64_t messages_received; /* accepted and stored */
	uint64_t messages_rejected; /* refused at end of data */
	uint64_t messages_evicted;  /* dropped past max_messages/max_bytes */
	uint64_t sessions_total;
	size_t	 stored_messages;
	size_t	 stored_bytes;
	uint64_t last_id; /* highest id assigned so far */
};

/* Fills opt with the defaults (all zero/NULL, log level WARN). */
void smtpsink_options_init(struct smtpsink_options *opt);

/*
 * Starts a sink: binds the listener(s) and starts the loop thread. Returns
 * once the sink accepts connections, or NULL with a reason in err (a bad
 * address, a port in use). opt may be NULL for the defaults; its strings are
 * copied.
 */
struct smtpsink *smtpsink_start(const struct smtpsink_options *opt, char *err, size_t errlen);

/*
 * Graceful stop: stops accepting, lets transactions in flight finish (at
 * most 5 s), ends pending smtpsink_wait() calls (they return -1), joins the
 * loop thread and frees everything. stop(NULL) is a no-op. No other call on
 * this sink may start after it. Called from the handler, it only starts the
 * stop and returns at once (the handler's message is still answered); the
 * loop thread frees the sink when the stop is complete.
 */
void smtpsink_stop(struct smtpsink *sink);

/* Bound SMTP address, "127.0.0.1:40123"; valid until smtpsink_stop(). */
const char *smtpsink_smtp_address(const struct smtpsink *sink);
/* Bound SMTP port. */
int	    smtpsink_smtp_port(const struct smtpsink *sink);
/* Bound gRPC address, or NULL when the control API is off. */
const char *smtpsink_grpc_address(const struct smtpsink *sink);

/*
 * 0 if every pattern in f is well formed; -1 with "field: reason" in err
 * otherwise (e.g. "rcpt_to: unclosed '[' in pattern"). The functions below
 * return -1 for such a filter.
 */
int smtpsink_filter_check(const struct smtpsink_filter *f, char *err, size_t errlen);

/*
 * Stored messages matching f (NULL: all), in id order, at most limit of them
 * (0: no limit). On success returns 0 and sets *msgs (NULL when *n is 0) and
 * *n; free with smtpsink_messages_free(). -1 on a bad filter or a stopping
 * sink (*msgs NULL, *n 0).
 */
int smtpsink_list(struct smtpsink *sink, const struct smtpsink_filter *f, size_t limit,
    struct smtpsink_message **msgs, size_t *n);

/* The message with this id (copy; free with smtpsink_message_free()), or NULL if gone. */
struct smtpsink_message *smtpsink_get(struct smtpsink *sink, uint64_t id);

/*
 * Blocks until at least count (0 counts as 1) stored messages match f, or
 * timeout_ms passes (< 0: no timeout). Messages already stored count, so
 * there is no race between sending and waiting; use f->after_id (e.g. a
 * previous smtpsink_last_id()) to count only newer ones. Woken by the store,
 * no polling.
 * Returns 0 when satisfied, 1 on timeout, -1 on a bad filter, a stopping
 * sink or a call from the handler. For 0 and 1, when msgs and n are not
 * NULL, they receive every matching message in id order (on timeout: the
 * fewer than count that did match); free with smtpsink_messages_free().
 */
int smtpsink_wait(struct smtpsink *sink, const struct smtpsink_filter *f, size_t count,
    int timeout_ms, struct smtpsink_message **msgs, size_t *n);

/* Deletes the messages matching f (NULL: all). Returns how many, or -1 on a bad filter. */
long smtpsink_clear(struct smtpsink *sink, const struct smtpsink_filter *f);

/* Highest id assigned so far (0: none yet): a cursor for filter.after_id. */
uint64_t smtpsink_last_id(struct smtpsink *sink);

/* Counters; 0 on success, -1 when the sink is stopping. */
int smtpsink_get_stats(struct smtpsink *sink, struct smtpsink_stats *st);

/* Frees one message from smtpsink_get() (NULL: no-op). */
void smtpsink_message_free(struct smtpsink_message *msg);
/* Frees an array from smtpsink_list() / smtpsink_wait() (NULL: no-op). */
void smtpsink_messages_free(struct smtpsink_message *msgs, size_t n);

#ifdef __cplusplus
}
#endif

#endif
