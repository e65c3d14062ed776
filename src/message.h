/*
 * message - one captured message: envelope kept apart from the raw bytes.
 *
 * The raw data is exactly what the client sent after dot-unstuffing (or the
 * concatenated BDAT chunks): CRLF kept, 8-bit kept, nothing added. The parsed
 * MIME view is derived from it lazily (mime.h) and cached in `mime`; the
 * dependency is one-way: mime knows messages, message does not include
 * mime.h and frees the view through the `mime_free` that mime set with it.
 * A message belongs to whoever holds it; once given to store_put() the store
 * owns it and frees it with message_free().
 */
#ifndef SMTPSINK_MESSAGE_H
#define SMTPSINK_MESSAGE_H
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/queue.h>

/* Anomalies: recorded, never repaired */
#define MSG_ANOM_BARE_LF       0x0001 /* LF not preceded by CR */
#define MSG_ANOM_BARE_CR       0x0002 /* CR not followed by LF */
#define MSG_ANOM_LONG_LINE     0x0004 /* a line over 1000 octets incl. CRLF */
#define MSG_ANOM_8BIT_HEADER   0x0008 /* 8-bit byte in the header without SMTPUTF8 */
#define MSG_ANOM_8BIT_BODY     0x0010 /* 8-bit byte in the body without BODY=8BITMIME/BINARYMIME */
#define MSG_ANOM_NUL	       0x0020 /* NUL byte (not BINARYMIME) */
#define MSG_ANOM_NO_HEADER_END 0x0040 /* no empty line between header and body */
#define MSG_ANOM_MIME	       0x0080 /* malformed MIME or MIME limits reached */

#define MSG_PACKED	       0x01 /* struct, arrays and strings in one block */
#define MSG_PACKED_OWN_DATA    0x02 /* ... but data is its own block (large) */
/* Raw data up to this size is copied into the packed block */
#define MSG_PACK_INLINE_MAX    (16 * 1024)

enum message_body_type { MSG_BODY_7BIT, MSG_BODY_8BITMIME, MSG_BODY_BINARYMIME };

struct esmtp_param {
	char *name;  /* upper-cased keyword */
	char *value; /* as sent; "" for a bare keyword */
};

struct message_rcpt {
	char		   *addr; /* without <> */
	struct esmtp_param *params;
	size_t		    nparams;
};

struct mime_body;
struct mime_view;

/* Forwarding state (relay.c); the numbers are the proto's RelayState */
enum message_relay_state {
	MSG_RELAY_NONE,	   /* not forwarded */
	MSG_RELAY_PENDING, /* queued or being tried */
	MSG_RELAY_RELAYED, /* the upstream accepted it */
	MSG_RELAY_FAILED,  /* given up */
};

struct message_relay_reply {
	char	*command; /* "MAIL FROM:<a@b>", "CONNECT", ...; owns text's bytes too */
	unsigned code;	  /* 0: no reply (connection error) */
	char	*text;	  /* in command's allocation: never freed on its own */
};

/*
 * What forwarding did with a message, owned by the message (m->relay, NULL
 * when never forwarded). Written by relay.c on the loop thread only.
 */
struct message_relay {
	enum message_relay_state    state;
	unsigned		    attempts;
	char			   *last_reply; /* NULL: none yet */
	struct timespec		    relayed_at; /* CLOCK_REALTIME; 0 until relayed */
	char			   *upstream;	/* "smtp://host:port", no credentials */
	struct message_relay_reply *replies;	/* the last attempt's, in order */
	size_t			    nreplies;
	char			  **rcpt_to; /* the recipients forwarded */
	size_t			    nrcpt_to;
};

struct message {
	uint64_t	       id; /* assigned by store_put(), > 0 */
	uint64_t	       session_id;
	struct timespec	       received;  /* CLOCK_REALTIME at end of data */
	char		      *peer;	  /* "ip:port" */
	char		      *helo;	  /* may be "" */
	char		      *mail_from; /* without <>; "" for the null sender */
	struct esmtp_param    *mail_params;
	size_t		       nmail_params;
	struct message_rcpt   *rcpts;
	size_t		       nrcpts;
	char		      *data; /* raw bytes, NUL-terminated (not counted) */
	size_t		       size;
	unsigned	       anomalies; /* MSG_ANOM_* */
	enum message_body_type body_type;
	int		       smtputf8;
	int		       tls;
	const char	      *tls_version;    /* static (OpenSSL): "TLSv1.3"; NULL without TLS */
	const char	      *tls_cipher;     /* static (OpenSSL); NULL without TLS */
	char		      *auth_user;      /* NULL if none */
	const char	      *auth_mechanism; /* static "PLAIN"...; NULL if no AUTH */

	struct mime_view *mime; /* lazily parsed, owned; see mime.h */
	void (*mime_free)(struct mime_view *);
	/* frees mime; set with it */
	int		      packed; /* MSG_PACKED_*: see message_pack() */
	struct message_relay *relay;  /* own block (never packed); NULL: none */

	/* store linkage, owned by store.c */
	struct message	 *st_prev, *st_next;
	struct message	 *st_hnext;
	size_t		  st_footprint; /* message_footprint() at put */
	struct mime_body *st_body;	/* decoded bodies the store caches */
	size_t		  st_body_bytes;
	TAILQ_ENTRY(message) st_lru; /* while cached: oldest use first */
};

struct message *message_new(void);
/* message_free(NULL) is a no-op; frees everything the message owns */
void		message_free(struct message *);
/* "bare_lf", "long_line", ... for a single MSG_ANOM_* bit */
const char     *message_anomaly_str(unsigned);
const char     *message_body_type_str(enum message_body_type);
/*
 * Memory the store accounts for this message: raw size + envelope strings +
 * the structs holding them. The lazily built MIME cache is not counted (it
 * would change the total after the put).
 */
size_t		message_footprint(const struct message *);
/* Frees an array of n ESMTP parameters and their strings (NULL is a no-op). */
void		message_params_free(struct esmtp_param *, size_t n);
/*
 * Returns a copy of m in ONE allocation (the struct, its arrays, every string
 * and, up to MSG_PACK_INLINE_MAX bytes, the raw data), so a small stored
 * message costs one malloc header instead of about ten. Larger raw data keeps
 * its own block (moved, not copied). Takes ownership of m on all paths.
 * m must not be in a store yet and must have no MIME view.
 */
struct message *message_pack(struct message *m);

/* m's relay record, made empty (MSG_RELAY_NONE) on first use */
struct message_relay *message_relay_get(struct message *m);
/* Frees a relay record and everything it holds (NULL is a no-op) */
void		      message_relay_free(struct message_relay *);
/* Drops the replies and recipients of the previous attempt */
void		      message_relay_reset(struct message_relay *);
/* Appends one upstream reply (copied; command and text each cut at 1000 bytes) */
void message_relay_add_reply(struct message_relay *, const char *command, unsigned code,
    const char *text);
/* Replaces last_reply (copied) */
void message_relay_set_last(struct message_relay *, const char *text);

#endif
