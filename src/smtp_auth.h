/*
 * smtp_auth - SMTP AUTH (RFC 4954): the SASL exchanges of PLAIN (RFC 4616),
 * LOGIN, CRAM-MD5 (RFC 2195) and XOAUTH2, and the credential check.
 *
 * This header is the pure half: one struct smtp_auth per session holds the
 * exchange in progress (mechanism, step, the CRAM-MD5 challenge) and, after
 * it, the user and the mechanism that succeeded. smtp_auth_start() begins an
 * exchange with the AUTH command's arguments, smtp_auth_next() takes each
 * line the client sends after a 334; both say what to reply. Once the
 * credentials are in (SMTP_AUTH_CREDENTIALS), smtp_auth_verify() checks them
 * against the --auth-users list (none: any credentials) and forgets the
 * secret. The session half (the AUTH command row, feeding lines, rules,
 * replies) is in smtp_auth.c too; its prototypes are in
 * smtp_session_internal.h.
 *
 * Secrets: a password (or CRAM-MD5 digest) lives in the struct only between
 * the client's last line and smtp_auth_verify(), and is wiped when freed.
 * Nothing here logs; no reply echoes decoded client data.
 *
 * Limits: a client line is at most SMTP_AUTH_LINE_MAX octets (RFC 4954 §4),
 * a user name at most SMTP_AUTH_USER_MAX; base64 is decoded strictly.
 */
#ifndef SMTPSINK_SMTP_AUTH_H
#define SMTPSINK_SMTP_AUTH_H
#include <stddef.h>

#define SMTP_AUTH_LINE_MAX 12288 /* octets of an AUTH line incl. CRLF (RFC 4954 §4) */
#define SMTP_AUTH_USER_MAX 255
#define SMTP_AUTH_TEXT_MAX 512 /* a reply's text (base64 challenge or message) */
#define SMTP_AUTH_MECHS	   "PLAIN LOGIN CRAM-MD5 XOAUTH2" /* as advertised */

struct config_auth_user;

enum smtp_auth_mech {
	SMTP_AUTH_NONE,
	SMTP_AUTH_PLAIN,
	SMTP_AUTH_LOGIN,
	SMTP_AUTH_CRAM_MD5,
	SMTP_AUTH_XOAUTH2,
};

/* What the caller does after smtp_auth_start() / smtp_auth_next() */
enum smtp_auth_rc {
	SMTP_AUTH_CHALLENGE,   /* reply "334 <reply->text>", wait for the next line */
	SMTP_AUTH_CREDENTIALS, /* credentials complete (user set): verify them */
	SMTP_AUTH_FAILED,      /* exchange over: reply code/enh/text (501, 535, ...) */
};

struct smtp_auth_reply {
	unsigned    code;
	const char *enh; /* NULL for 334 */
	char	    text[SMTP_AUTH_TEXT_MAX];
};

struct smtp_auth {
	enum smtp_auth_mech mech; /* of the exchange in progress, or that succeeded */
	int		    step; /* 0: no exchange in progress (smtp_auth.c) */
	int		    authenticated;
	char		   *user;	    /* owned; set once the credentials are in */
	char		   *secret;	    /* owned, wiped: until smtp_auth_verify() */
	char		    challenge[128]; /* CRAM-MD5: <random.time@host> */
};

/* "PLAIN" ... (case-insensitive) to a mechanism; SMTP_AUTH_NONE if unknown */
enum smtp_auth_mech smtp_auth_mech_parse(const char *);
/* "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"; "" for SMTP_AUTH_NONE */
const char	   *smtp_auth_mech_str(enum smtp_auth_mech);
/* 1 while an exchange waits for the client's next line */
int		    smtp_auth_in_progress(const struct smtp_auth *);
/*
 * Begins an exchange (a is not authenticated, no exchange in progress).
 * initial: the AUTH command's initial response, NULL when none ("=" is the
 * empty one). hostname goes into the CRAM-MD5 challenge. Fills r.
 */
enum smtp_auth_rc   smtp_auth_start(struct smtp_auth *, enum smtp_auth_mech, const char *initial,
      const char *hostname, struct smtp_auth_reply *r);
/*
 * The client's answer to a 334 (len octets, CRLF removed; may hold NULs,
 * which are not base64). "*" cancels (501). Fills r.
 */
enum smtp_auth_rc   smtp_auth_next(struct smtp_auth *, const char *line, size_t len,
      struct smtp_auth_reply *r);
/*
 * After SMTP_AUTH_CREDENTIALS: 1 if the credentials are good (users NULL or
 * n 0: any are; XOAUTH2: the user must be listed, the token is not
 * checked), 0 if not. Wipes the secret either way; does not change
 * authenticated (the caller decides, after the rules).
 */
int smtp_auth_verify(struct smtp_auth *, const struct config_auth_user *users, size_t n);
/*
 * Refused credentials: fills r with 535 5.7.8, or for XOAUTH2 with the
 * 334 JSON error of its convention (then the client's next line, normally
 * empty, gets the 535) and returns SMTP_AUTH_CHALLENGE.
 */
enum smtp_auth_rc smtp_auth_refuse(struct smtp_auth *, struct smtp_auth_reply *r);
/* Forgets everything (exchange, user, authentication); the struct is reusable. */
void		  smtp_auth_clear(struct smtp_auth *);
/*
 * Strict base64 (RFC 4648, padded, no whitespace): decodes src[0..len) into
 * a NUL-terminated heap string (g_free it; NULs inside possible, *outlen
 * says the length). NULL if src is not valid base64.
 */
char		 *smtp_auth_b64_decode(const char *src, size_t len, size_t *outlen);
/* 1 if a[0..alen) equals b[0..blen); time depends only on alen */
int		  smtp_auth_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
