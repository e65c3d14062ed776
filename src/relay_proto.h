/*
 * relay_proto - the pure parts of forwarding a captured message to an
 * upstream server (issue 10): no I/O, no state beyond what the caller holds.
 *
 * - relay_url_parse(): "smtp://[user:password@]host:port[?starttls=require|
 *   never]" or "smtps://..." (implicit TLS); user and password are
 *   percent-decoded; shown is the URL without them (safe to log).
 * - relay_caps_ehlo(): one line of an EHLO reply into capability bits.
 * - relay_proto_mail()/relay_proto_rcpt(): the MAIL and RCPT command lines
 *   for a stored envelope as the upstream can take it (RFC 1870 SIZE,
 *   6152 8BITMIME, 3030 BINARYMIME, 6531 SMTPUTF8, 3461 DSN); a message the
 *   upstream cannot take as declared is refused with a reason, never altered.
 * - relay_proto_stuff(): DATA's dot-stuffing plus the terminator.
 * - relay_proto_backoff_ms(): the delay before a retry.
 */
#ifndef SMTPSINK_RELAY_PROTO_H
#define SMTPSINK_RELAY_PROTO_H
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct esmtp_param;
struct message;
struct message_rcpt;

enum relay_tls {
	RELAY_TLS_STARTTLS, /* smtp://: STARTTLS when the upstream offers it */
	RELAY_TLS_REQUIRE,  /* smtp://...?starttls=require: fail without it */
	RELAY_TLS_NEVER,    /* smtp://...?starttls=never: plaintext */
	RELAY_TLS_IMPLICIT, /* smtps:// (RFC 8314) */
};

#define RELAY_HOST_MAX 256

struct relay_url {
	char	       host[RELAY_HOST_MAX]; /* without [] for IPv6 */
	char	       port[8];
	enum relay_tls tls;
	char	      *user;			   /* NULL: no AUTH */
	char	      *password;		   /* NULL: no AUTH */
	char	       shown[RELAY_HOST_MAX + 24]; /* "smtp://host:port", no credentials */
};

/*
 * Parses s into u (zeroed first). 0, or -1 with a reason in err that never
 * contains the password. The port is required. Free with relay_url_clear().
 */
int  relay_url_parse(const char *s, struct relay_url *u, char *err, size_t errlen);
void relay_url_clear(struct relay_url *);
/* Deep copy */
void relay_url_copy(struct relay_url *dst, const struct relay_url *src);

/* Upstream capabilities from its EHLO reply */
#define RELAY_CAP_PIPELINING 0x0001
#define RELAY_CAP_SIZE	     0x0002
#define RELAY_CAP_8BITMIME   0x0004
#define RELAY_CAP_SMTPUTF8   0x0008
#define RELAY_CAP_CHUNKING   0x0010
#define RELAY_CAP_BINARYMIME 0x0020
#define RELAY_CAP_DSN	     0x0040
#define RELAY_CAP_STARTTLS   0x0080
#define RELAY_CAP_AUTH_PLAIN 0x0100
#define RELAY_CAP_AUTH_LOGIN 0x0200

struct relay_caps {
	unsigned flags;	   /* RELAY_CAP_* */
	uint64_t size_max; /* SIZE's parameter; 0: none given */
};

/* Adds what one EHLO reply line's text ("SIZE 1000", "AUTH PLAIN LOGIN") says */
void relay_caps_ehlo(struct relay_caps *, const char *line);

/*
 * "MAIL FROM:<from> params" (no CRLF) into dst for message m sent to an
 * upstream with caps, with from instead of m's sender when from is not
 * NULL. Kept: SIZE (the real size) when offered, BODY, SMTPUTF8, and RET/
 * ENVID when DSN is offered; AUTH= is the sink's own session's and is
 * dropped. m->data NULL means the data is not there yet (proxy mode): SIZE
 * is passed on as declared. 0, or -1 with the reason in why when the upstream cannot take
 * the message as declared (SMTPUTF8, 8BITMIME, BINARYMIME+CHUNKING not
 * offered, over its SIZE, not ending in CRLF without CHUNKING) or the
 * line does not fit.
 */
int  relay_proto_mail(char *dst, size_t dstsz, const struct message *m, const char *from,
     const struct relay_caps *caps, char *why, size_t whylen);
/* "RCPT TO:<addr> params": NOTIFY/ORCPT only when DSN is offered. -1 if too long. */
int  relay_proto_rcpt(char *dst, size_t dstsz, const char *addr, const struct esmtp_param *p,
     size_t np, const struct relay_caps *caps);
/*
 * 1 when m goes by BDAT (BINARYMIME, or data not ending in CRLF), 0 by
 * DATA. relay_proto_mail() has checked CHUNKING is offered then.
 */
int  relay_proto_use_bdat(const struct message *m);
/*
 * Appends data[0..len) to out as DATA sends it: a '.' at the start of a
 * line (after CRLF, or first) doubled, then ".\r\n". data must end in CRLF
 * (or be empty).
 */
void relay_proto_stuff(struct evbuffer *out, const char *data, size_t len);

#define RELAY_BACKOFF_MAX_MS (5 * 60 * 1000)
/* Delay before try number attempt+1 after attempt failures: base doubling, capped */
uint64_t relay_proto_backoff_ms(uint64_t base_ms, unsigned attempt);

#endif
