/*
 * smtp_session_internal - what smtp_session.c (I/O, framing, data, timers,
 * life cycle) and smtp_cmd.c (the command table and the commands) share.
 * Nothing else includes it.
 *
 * Replies go through smtp_session_write() and the helpers below, never to the
 * bufferevent directly: during a rule delay they are held. A check function
 * that fails has already replied (smtp_session_error() counts the error and
 * may close the session); the session is never freed inside a command.
 */
#ifndef SMTPSINK_SMTP_SESSION_INTERNAL_H
#define SMTPSINK_SMTP_SESSION_INTERNAL_H
#include <sys/queue.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "message.h"
#include "rules.h"
#include "smtp_proto.h"
#include "smtp_session.h"

#define SMTP_REPLY_MAX	1024

/* Session flags */
#define SF_EHLO		0x0001 /* greeted with EHLO: ESMTP */
#define SF_DELAY	0x0002 /* a rule delay is pending; replies held */
#define SF_BACKPRESSURE 0x0004 /* output too large: input paused */
#define SF_CLOSING	0x0008 /* free once the output is flushed */
#define SF_EOF		0x0010 /* the client closed its side */
#define SF_BDAT_SKIP	0x0020 /* current BDAT chunk is discarded */
#define SF_BDAT_LAST	0x0040 /* current BDAT chunk is the last */
#define SF_LINGER	0x0080 /* output done, write side shut, draining input */
#define SF_NOLINGER	0x0100 /* close at once after the output (QUIT) */
#define SF_INPUT_FULL	0x0200 /* reading paused: enough input is waiting */
#define SF_TLS		0x0400 /* the session runs inside TLS (STARTTLS or implicit) */
#define SF_PROXY_WAIT	0x0800 /* waiting for the upstream (proxy mode); replies held */
#define SF_HOLD		(SF_DELAY | SF_PROXY_WAIT) /* replies held, input not processed */
#define SF_STARTTLS	0x4000 /* 220 to STARTTLS sent: TLS starts once it is out */
#define SF_HANDSHAKE	0x8000 /* TLS handshake in progress */

struct smtp_auth;
struct relay_proxy;

/* What a session waits for from the upstream (proxy mode) */
enum smtp_proxy_step { SMTP_PROXY_NONE, SMTP_PROXY_MAIL, SMTP_PROXY_RCPT, SMTP_PROXY_DATA };

struct smtp_tx {
	char		      *mail_from;
	struct esmtp_param    *mail_params;
	size_t		       nmail_params;
	struct message_rcpt   *rcpts;
	size_t		       nrcpts;
	size_t		       rcpts_cap;
	struct buf	       body;
	struct smtp_proto_data scan;
	enum message_body_type body_type;
	int		       smtputf8;
	int		       bdat; /* BDAT used: DATA and RCPT refused */
};

struct smtp_session {
	TAILQ_ENTRY(smtp_session) entry;
	struct smtp_sessions *owner;
	struct bufferevent   *bev;
	struct event	     *timer_ev; /* idle, deadline and linger: lazily re-armed */
	struct event	     *delay_ev; /* created on the first delay */
	struct evbuffer	     *delayed;	/* replies held during a delay */
	struct smtp_tx	     *tx;	/* NULL between transactions */
	struct smtp_auth     *auth;	/* NULL until the first AUTH (smtp_auth.c) */
	struct relay_proxy   *proxy;	/* proxy mode: the upstream transaction */
	enum smtp_proxy_step  proxy_step;
	struct message_rcpt   proxy_rcpt; /* RCPT waiting for the upstream's reply */
	char		     *helo;
	const char	     *close_reason;
	uint64_t	      id;
	uint64_t	      bdat_left;   /* octets of the BDAT chunk still to read */
	uint64_t	      active_ms;   /* last read or write progress */
	uint64_t	      deadline_ms; /* absolute session deadline, 0 = none */
	unsigned	      errors;
	unsigned	      messages; /* accepted in this session */
	unsigned	      flags;	/* SF_* */
	enum smtp_state	      state;
	enum smtp_state	      bdat_ret;			   /* state after a skipped BDAT chunk */
	char		      peer[INET6_ADDRSTRLEN + 10]; /* "ip:port", "[v6]:port" */
	const char	     *tls_version; /* static (OpenSSL): "TLSv1.3"; NULL before TLS */
	const char	     *tls_cipher;
};

/* What a check function parsed, for the rules and for proceed() */
struct smtp_cmd_ctx {
	char		       *args;
	const char	       *subject; /* rules match subject; NULL: no rules */
	char		       *addr;
	struct smtp_proto_param params[SMTP_PROTO_PARAMS_MAX];
	size_t			nparams;
	enum message_body_type	body_type;
	int			smtputf8;
	uint64_t		bdat_size;
	int			bdat_last;
};

/* smtp_session.c */
void		    smtp_session_set_state(struct smtp_session *, enum smtp_state);
struct esmtp_param *smtp_params_copy(const struct smtp_proto_param *, size_t n);
void		    smtp_tx_free(struct smtp_tx *);
/* Drops the transaction; back to HELO (or INIT without a greeting) */
void		    smtp_session_tx_end(struct smtp_session *);
void		    smtp_session_write(struct smtp_session *, const char *p, size_t n);
void smtp_session_reply(struct smtp_session *, unsigned code, const char *enh, const char *text);
/* A whole reply line from a rule or deliver_message(): "550 5.7.1 text" */
void smtp_session_reply_line(struct smtp_session *, const char *line);
/*
 * Marks the session for closing: input stops, the output is flushed and the
 * write callback frees the session. Never frees here.
 */
void smtp_session_close(struct smtp_session *, const char *reason);
/* A client error: counted; past cfg->error_max the session is closed. */
void smtp_session_error(struct smtp_session *, unsigned code, const char *enh, const char *text);
/* Holds replies and input processing for ms milliseconds. */
void smtp_session_delay(struct smtp_session *, unsigned ms);
/*
 * Proxy mode: holds replies and input processing until
 * smtp_session_proxy_resume(), which writes what was held (unless a rule
 * delay still runs) and goes on with the input.
 */
void smtp_session_proxy_wait(struct smtp_session *);
void smtp_session_proxy_resume(struct smtp_session *);
/* Drops the upstream transaction (and a RCPT waiting for it); the wait stays */
void smtp_session_proxy_end(struct smtp_session *);
/*
 * Evaluates the rules of stage for subject. Returns 0 when nothing fired or
 * only a delay did (the caller proceeds normally), 1 when the rule replied
 * instead (the caller must not proceed). *disconnect tells the caller to
 * close once its reply is out.
 */
int  smtp_session_rules(struct smtp_session *, enum rules_stage, const char *subject,
     int *disconnect);

/*
 * STARTTLS accepted (its 220 is written): discards the session's state
 * (HELO, transaction, EHLO flag) and input, stops reading; the TLS
 * handshake starts once the 220 is out. Plaintext sent after STARTTLS is
 * never executed.
 */
void smtp_session_starttls(struct smtp_session *);

/* smtp_cmd.c */
/*
 * One command line (NUL-terminated, CRLF removed, parsed in place): looked up
 * in the command table, checked, passed through the stage's rules, proceeded.
 * more: further input is already buffered (the client pipelines).
 */
void smtp_cmd_run(struct smtp_session *, char *line, int more);
/* Proxy mode: the upstream's answer to the step the session waits for */
void smtp_cmd_proxy_reply(void *session, unsigned code, const char *line);

/* smtp_auth.c: AUTH (RFC 4954); the pure exchange API is smtp_auth.h */
int    smtp_auth_cmd_check(struct smtp_session *, struct smtp_cmd_ctx *);
void   smtp_auth_cmd_proceed(struct smtp_session *, struct smtp_cmd_ctx *);
/*
 * A line while an AUTH exchange waits for the client (after a 334): handled
 * (replied) and 1; 0 when no exchange is in progress (the line is a command).
 */
int    smtp_auth_session_line(struct smtp_session *, const char *line, size_t len);
/* Line limit for the line starting with start[0..len): SMTP_AUTH_LINE_MAX for AUTH lines */
size_t smtp_auth_line_max(const struct smtp_session *, const char *start, size_t len);
/* AUTH offered to this session (--auth, and inside TLS unless allowed outside) */
int    smtp_auth_session_offered(const struct smtp_session *);
/* The session has authenticated */
int    smtp_auth_session_ok(const struct smtp_session *);
/* Sets m's auth_user and auth_mechanism after a successful AUTH */
void   smtp_auth_session_stamp(const struct smtp_session *, struct message *m);
/*
 * Forgets the session's authentication and any exchange in progress (and
 * frees s->auth). STARTTLS calls it (RFC 3207 §4.2); RSET does not.
 */
void   smtp_auth_session_reset(struct smtp_session *);

/* Is extension bit (EXT_*) enabled? */
static inline int
smtp_session_ext(const struct smtp_session *s, unsigned bit)
{
	return (s->owner->cfg->extensions & bit) != 0;
}

#endif
