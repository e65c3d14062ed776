/*
 * smtp_auth - SMTP AUTH (RFC 4954). The pure half (exchanges, credential
 * check, strict base64; API in smtp_auth.h) comes first, then the session
 * half (smtp_session_internal.h): the AUTH command of the command table,
 * the lines of an exchange in progress, the AUTH-stage rules, the replies.
 *
 * A session's struct smtp_auth is allocated by its first AUTH command and
 * freed with the session or by smtp_auth_session_reset() (STARTTLS).
 * RSET keeps it: authentication lasts for the session (RFC 4954 §4).
 *
 * Replies: 334 challenges; 235 2.7.0 success; 535 5.7.8 refused (or the
 * AUTH rule's reply); 501 5.5.2 bad base64, 501 5.0.0 cancelled ("*");
 * 501 5.5.4 syntax; 504 5.5.4 unknown mechanism; 503 5.5.1 AUTH before
 * EHLO, after success or in a transaction; 538 5.7.11 outside TLS when TLS
 * is configured (without --auth-allow-insecure). Failures go through
 * smtp_session_error(): counted, the session closes at --max-errors only.
 * Passwords are never logged, stored or echoed; the user name is logged
 * through log_sanitize().
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <glib.h>

#include "config.h"
#include "log.h"
#include "smtp_auth.h"
#include "smtp_session_internal.h"
#include "xmalloc.h"

/* smtp_auth.step */
enum {
	SMTP_AUTH_STEP_IDLE,
	SMTP_AUTH_STEP_PLAIN,	    /* PLAIN: waiting for the response */
	SMTP_AUTH_STEP_LOGIN_USER,  /* LOGIN: after "334 Username:" */
	SMTP_AUTH_STEP_LOGIN_PASS,  /* LOGIN: after "334 Password:" */
	SMTP_AUTH_STEP_CRAM,	    /* CRAM-MD5: after the challenge */
	SMTP_AUTH_STEP_XOAUTH2,	    /* XOAUTH2: waiting for the response */
	SMTP_AUTH_STEP_XOAUTH2_ERR, /* XOAUTH2: after the JSON error, any line gets 535 */
};

#define SMTP_AUTH_B64_USERNAME "VXNlcm5hbWU6" /* "Username:" */
#define SMTP_AUTH_B64_PASSWORD "UGFzc3dvcmQ6" /* "Password:" */
/* {"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"} */
#define SMTP_AUTH_B64_XOAUTH2_ERR \
	"eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNv" \
	"bS8" \
	"ifQ=="

static const char *const smtp_auth_mech_names[] = { "", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2" };

enum smtp_auth_mech
smtp_auth_mech_parse(const char *s)
{
	size_t i;

	for (i = 1; i < sizeof(smtp_auth_mech_names) / sizeof(smtp_auth_mech_names[0]); i++)
		if (strcasecmp(s, smtp_auth_mech_names[i]) == 0)
			return (enum smtp_auth_mech)i;
	return SMTP_AUTH_NONE;
}

const char *
smtp_auth_mech_str(enum smtp_auth_mech m)
{
	if ((unsigned)m >= sizeof(smtp_auth_mech_names) / sizeof(smtp_auth_mech_names[0]))
		return "";
	return smtp_auth_mech_names[m];
}

int
smtp_auth_in_progress(const struct smtp_auth *a)
{
	return a != NULL && a->step != SMTP_AUTH_STEP_IDLE;
}

int
smtp_auth_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const volatile unsigned char *pa = a, *pb = b;
	unsigned		      diff = alen != blen;
	size_t			      i;

	for (i = 0; i < alen; i++)
		diff |= pa[i] ^ (i < blen ? pb[i] : 0);
	return diff == 0;
}

/* Overwrites a secret before it is freed (the compiler may not skip it) */
static void
smtp_auth_wipe_free(char *p)
{
	volatile char *v = p;

	if (p == NULL)
		return;
	while (*v != '\0')
		*v++ = '\0';
	free(p);
}

static int
smtp_auth_b64_char(unsigned char c)
{
	return isalnum(c) || c == '+' || c == '/';
}

char *
smtp_auth_b64_decode(const char *src, size_t len, size_t *outlen)
{
	size_t	i, pad = 0;
	gsize	n = 0;
	char   *tmp, *out;
	guchar *dec;

	if (len % 4 != 0)
		return NULL;
	if (len > 0 && src[len - 1] == '=')
		pad = len > 1 && src[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++)
		if (!smtp_auth_b64_char((unsigned char)src[i]))
			return NULL;
	/* g_base64_decode wants a C string and skips what it does not know */
	tmp = g_strndup(src, len);
	dec = len > 0 ? g_base64_decode(tmp, &n) : NULL;
	g_free(tmp);
	out = g_malloc(n + 1);
	if (n > 0)
		memcpy(out, dec, n);
	out[n] = '\0';
	if (dec != NULL) {
		memset(dec, 0, n);
		g_free(dec);
	}
	*outlen = n;
	return out;
}

/* Ends the exchange with an error reply */
static enum smtp_auth_rc
smtp_auth_fail(struct smtp_auth *a, struct smtp_auth_reply *r, unsigned code, const char *enh,
    const char *text)
{
	a->step = SMTP_AUTH_STEP_IDLE;
	free(a->user);
	a->user = NULL;
	smtp_auth_wipe_free(a->secret);
	a->secret = NULL;
	r->code = code;
	r->enh = enh;
	snprintf(r->text, sizeof(r->text), "%s", text);
	return SMTP_AUTH_FAILED;
}

static enum smtp_auth_rc
smtp_auth_bad(struct smtp_auth *a, struct smtp_auth_reply *r)
{
	return smtp_auth_fail(a, r, 535, "5.7.8", "Authentication credentials invalid");
}

static enum smtp_auth_rc
smtp_auth_challenge(struct smtp_auth *a, int step, struct smtp_auth_reply *r, const char *b64)
{
	a->step = step;
	r->code = 334;
	r->enh = NULL;
	snprintf(r->text, sizeof(r->text), "%s", b64);
	return SMTP_AUTH_CHALLENGE;
}

/* A user name: 1..SMTP_AUTH_USER_MAX octets, no NUL */
static int
smtp_auth_user_ok(const char *u, size_t len)
{
	return len > 0 && len <= SMTP_AUTH_USER_MAX && memchr(u, '\0', len) == NULL;
}

static enum smtp_auth_rc
smtp_auth_credentials(struct smtp_auth *a, const char *user, size_t ulen, const char *secret,
    size_t slen)
{
	a->step = SMTP_AUTH_STEP_IDLE;
	free(a->user);
	a->user = xstrndup(user, ulen);
	smtp_auth_wipe_free(a->secret);
	a->secret = secret != NULL ? xstrndup(secret, slen) : NULL;
	return SMTP_AUTH_CREDENTIALS;
}

/* RFC 4616: [authzid] NUL authcid NUL passwd; the user is authcid */
static enum smtp_auth_rc
smtp_auth_plain(struct smtp_auth *a, const char *d, size_t n, struct smtp_auth_reply *r)
{
	const char *nul1, *nul2, *end = d + n;

	if ((nul1 = memchr(d, '\0', n)) == NULL ||
	    (nul2 = memchr(nul1 + 1, '\0', end - nul1 - 1)) == NULL ||
	    memchr(nul2 + 1, '\0', end - nul2 - 1) != NULL || nul2 + 1 == end ||
	    !smtp_auth_user_ok(nul1 + 1, nul2 - nul1 - 1))
		return smtp_auth_bad(a, r);
	return smtp_auth_credentials(a, nul1 + 1, nul2 - nul1 - 1, nul2 + 1, end - nul2 - 1);
}

/* RFC 2195: "user SP digest", the digest 32 hex digits */
static enum smtp_auth_rc
smtp_auth_cram(struct smtp_auth *a, char *d, size_t n, struct smtp_auth_reply *r)
{
	char  *sp = memrchr(d, ' ', n);
	size_t i;

	if (sp == NULL || d + n - sp - 1 != 32 || !smtp_auth_user_ok(d, sp - d))
		return smtp_auth_bad(a, r);
	for (i = 1; i <= 32; i++) {
		if (!isxdigit((unsigned char)sp[i]))
			return smtp_auth_bad(a, r);
		sp[i] = tolower((unsigned char)sp[i]);
	}
	return smtp_auth_credentials(a, d, sp - d, sp + 1, 32);
}

/* "user=" U ^A "auth=Bearer " T ^A ^A; the token is not kept */
static enum smtp_auth_rc
smtp_auth_xoauth2(struct smtp_auth *a, const char *d, size_t n, struct smtp_auth_reply *r)
{
	const char *u, *sep, *end = d + n;

	if (n < 5 || memcmp(d, "user=", 5) != 0 || memchr(d, '\0', n) != NULL)
		return smtp_auth_bad(a, r);
	u = d + 5;
	if ((sep = memchr(u, '\x01', end - u)) == NULL || !smtp_auth_user_ok(u, sep - u) ||
	    end - sep < 8 || strncasecmp(sep + 1, "auth=", 5) != 0 || end[-1] != '\x01' ||
	    end[-2] != '\x01')
		return smtp_auth_bad(a, r);
	return smtp_auth_credentials(a, u, sep - u, NULL, 0);
}

/* One decoded client message for the current step */
static enum smtp_auth_rc
smtp_auth_step(struct smtp_auth *a, char *d, size_t n, struct smtp_auth_reply *r)
{
	switch (a->step) {
	case SMTP_AUTH_STEP_PLAIN:
		return smtp_auth_plain(a, d, n, r);
	case SMTP_AUTH_STEP_LOGIN_USER:
		if (!smtp_auth_user_ok(d, n))
			return smtp_auth_bad(a, r);
		free(a->user);
		a->user = xstrndup(d, n);
		return smtp_auth_challenge(a, SMTP_AUTH_STEP_LOGIN_PASS, r, SMTP_AUTH_B64_PASSWORD);
	case SMTP_AUTH_STEP_LOGIN_PASS:
		if (n == 0 || memchr(d, '\0', n) != NULL)
			return smtp_auth_bad(a, r);
		a->step = SMTP_AUTH_STEP_IDLE;
		smtp_auth_wipe_free(a->secret);
		a->secret = xstrndup(d, n);
		return SMTP_AUTH_CREDENTIALS;
	case SMTP_AUTH_STEP_CRAM:
		return smtp_auth_cram(a, d, n, r);
	case SMTP_AUTH_STEP_XOAUTH2:
		return smtp_auth_xoauth2(a, d, n, r);
	default:
		return smtp_auth_bad(a, r);
	}
}

/* Decodes one client line (strict base64) and runs the step on it */
static enum smtp_auth_rc
smtp_auth_decode_step(struct smtp_auth *a, const char *line, size_t len, struct smtp_auth_reply *r)
{
	enum smtp_auth_rc rc;
	char		 *d;
	size_t		  n;

	if ((d = smtp_auth_b64_decode(line, len, &n)) == NULL)
		return smtp_auth_fail(a, r, 501, "5.5.2", "Invalid base64 data");
	rc = smtp_auth_step(a, d, n, r);
	memset(d, 0, n);
	g_free(d);
	return rc;
}

enum smtp_auth_rc
smtp_auth_start(struct smtp_auth *a, enum smtp_auth_mech mech, const char *initial,
    const char *hostname, struct smtp_auth_reply *r)
{
	gchar *b64;
	int    step;

	smtp_auth_clear(a);
	a->mech = mech;
	switch (mech) {
	case SMTP_AUTH_PLAIN:
		step = SMTP_AUTH_STEP_PLAIN;
		break;
	case SMTP_AUTH_LOGIN:
		step = SMTP_AUTH_STEP_LOGIN_USER;
		break;
	case SMTP_AUTH_XOAUTH2:
		step = SMTP_AUTH_STEP_XOAUTH2;
		break;
	case SMTP_AUTH_CRAM_MD5:
		/* Server first: an initial response is a protocol error (RFC 4954 §4) */
		if (initial != NULL)
			return smtp_auth_fail(a, r, 501, "5.5.2",
			    "Initial response not allowed with CRAM-MD5");
		snprintf(a->challenge, sizeof(a->challenge), "<%" PRIu32 ".%lld@%.60s>",
		    g_random_int(), (long long)time(NULL), hostname);
		b64 = g_base64_encode((const guchar *)a->challenge, strlen(a->challenge));
		smtp_auth_challenge(a, SMTP_AUTH_STEP_CRAM, r, b64);
		g_free(b64);
		return SMTP_AUTH_CHALLENGE;
	default:
		return smtp_auth_fail(a, r, 504, "5.5.4", "Unrecognized authentication type");
	}
	if (initial == NULL)
		return smtp_auth_challenge(a, step, r,
		    step == SMTP_AUTH_STEP_LOGIN_USER ? SMTP_AUTH_B64_USERNAME : "");
	a->step = step;
	/* "=" is the empty initial response (RFC 4954 §4) */
	if (strcmp(initial, "=") == 0)
		return smtp_auth_step(a, (char[1]){ '\0' }, 0, r);
	return smtp_auth_decode_step(a, initial, strlen(initial), r);
}

enum smtp_auth_rc
smtp_auth_next(struct smtp_auth *a, const char *line, size_t len, struct smtp_auth_reply *r)
{
	if (a->step == SMTP_AUTH_STEP_XOAUTH2_ERR)
		return smtp_auth_bad(a, r);
	if (len == 1 && line[0] == '*')
		return smtp_auth_fail(a, r, 501, "5.0.0", "Authentication cancelled");
	return smtp_auth_decode_step(a, line, len, r);
}

static const struct config_auth_user *
smtp_auth_find(const struct config_auth_user *users, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(users[i].name, name) == 0)
			return &users[i];
	return NULL;
}

int
smtp_auth_verify(struct smtp_auth *a, const struct config_auth_user *users, size_t n)
{
	const struct config_auth_user *u;
	gchar			      *hmac;
	int			       ok = 0;

	if (a->user == NULL)
		ok = 0;
	else if (users == NULL || n == 0)
		ok = 1;
	else if ((u = smtp_auth_find(users, n, a->user)) == NULL)
		ok = 0;
	else if (a->mech == SMTP_AUTH_XOAUTH2)
		ok = 1;
	else if (a->secret == NULL)
		ok = 0;
	else if (a->mech == SMTP_AUTH_CRAM_MD5) {
		hmac = g_compute_hmac_for_data(G_CHECKSUM_MD5, (const guchar *)u->password,
		    strlen(u->password), (const guchar *)a->challenge, strlen(a->challenge));
		ok = smtp_auth_ct_equal(hmac, strlen(hmac), a->secret, strlen(a->secret));
		g_free(hmac);
	} else
		ok = smtp_auth_ct_equal(u->password, strlen(u->password), a->secret,
		    strlen(a->secret));
	smtp_auth_wipe_free(a->secret);
	a->secret = NULL;
	return ok;
}

enum smtp_auth_rc
smtp_auth_refuse(struct smtp_auth *a, struct smtp_auth_reply *r)
{
	if (a->mech == SMTP_AUTH_XOAUTH2)
		return smtp_auth_challenge(a, SMTP_AUTH_STEP_XOAUTH2_ERR, r,
		    SMTP_AUTH_B64_XOAUTH2_ERR);
	return smtp_auth_bad(a, r);
}

void
smtp_auth_clear(struct smtp_auth *a)
{
	free(a->user);
	smtp_auth_wipe_free(a->secret);
	memset(a, 0, sizeof(*a));
}

/* ----- the session half ----- */

int
smtp_auth_session_offered(const struct smtp_session *s)
{
	const struct config *cfg = s->owner->cfg;

	return cfg->auth &&
	    (!config_tls_configured(cfg) || (s->flags & SF_TLS) || cfg->auth_allow_insecure);
}

int
smtp_auth_session_ok(const struct smtp_session *s)
{
	return s->auth != NULL && s->auth->authenticated;
}

void
smtp_auth_session_reset(struct smtp_session *s)
{
	if (s->auth == NULL)
		return;
	smtp_auth_clear(s->auth);
	free(s->auth);
	s->auth = NULL;
}

void
smtp_auth_session_stamp(const struct smtp_session *s, struct message *m)
{
	if (!smtp_auth_session_ok(s))
		return;
	m->auth_user = xstrdup(s->auth->user);
	m->auth_mechanism = smtp_auth_mech_str(s->auth->mech);
}

size_t
smtp_auth_line_max(const struct smtp_session *s, const char *start, size_t len)
{
	size_t max = s->owner->cfg->smtp_line_max;

	if (!s->owner->cfg->auth || max >= SMTP_AUTH_LINE_MAX)
		return max;
	if (smtp_auth_in_progress(s->auth) || (len >= 5 && strncasecmp(start, "AUTH ", 5) == 0))
		return SMTP_AUTH_LINE_MAX;
	return max;
}

/* One line per outcome; the user name sanitized, never a secret */
static void
smtp_auth_log(const struct smtp_session *s, const char *result)
{
	const struct smtp_auth *a = s->auth;
	char			safe[LOG_SANITIZE_MAX];
	const char	       *u = a->user != NULL ? a->user : "";

	log_info("smtp auth session=%016" PRIx64 " mechanism=%s user=%s result=%s", s->id,
	    smtp_auth_mech_str(a->mech), log_sanitize(safe, sizeof(safe), u, strlen(u)), result);
}

/* Credentials are in: the AUTH rules, then the check */
static void
smtp_auth_session_done(struct smtp_session *s)
{
	const struct config   *cfg = s->owner->cfg;
	struct smtp_auth      *a = s->auth;
	struct smtp_auth_reply r;
	int		       disconnect = 0;

	if (smtp_session_rules(s, RULES_STAGE_AUTH, a->user, &disconnect)) {
		smtp_auth_log(s, "rule");
		smtp_auth_clear(a);
	} else if (smtp_auth_verify(a, cfg->auth_users, cfg->auth_users_n)) {
		a->authenticated = 1;
		smtp_auth_log(s, "ok");
		smtp_session_reply(s, 235, "2.7.0", "Authentication successful");
	} else {
		smtp_auth_log(s, "refused");
		if (smtp_auth_refuse(a, &r) == SMTP_AUTH_CHALLENGE)
			smtp_session_reply(s, r.code, NULL, r.text);
		else
			smtp_session_error(s, r.code, r.enh, r.text);
	}
	if (disconnect)
		smtp_session_close(s, "rule disconnect");
}

static void
smtp_auth_session_result(struct smtp_session *s, enum smtp_auth_rc rc,
    const struct smtp_auth_reply *r)
{
	switch (rc) {
	case SMTP_AUTH_CHALLENGE:
		smtp_session_reply(s, r->code, NULL, r->text);
		break;
	case SMTP_AUTH_CREDENTIALS:
		smtp_auth_session_done(s);
		break;
	case SMTP_AUTH_FAILED:
		smtp_auth_log(s, "failed");
		smtp_session_error(s, r->code, r->enh, r->text);
		break;
	}
}

int
smtp_auth_session_line(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_auth_reply r;

	if (!smtp_auth_in_progress(s->auth))
		return 0;
	smtp_auth_session_result(s, smtp_auth_next(s->auth, line, len, &r), &r);
	return 1;
}

/*
 * "AUTH mechanism [initial-response]": splits args in place. Returns the
 * mechanism (SMTP_AUTH_NONE for an unknown one) and *initial (NULL when
 * absent); -1 for a syntax error.
 */
static int
smtp_auth_args(char *args, char **initial)
{
	char *sp = strchr(args, ' ');

	*initial = NULL;
	if (*args == '\0' || sp == args)
		return -1;
	if (sp != NULL) {
		*sp = '\0';
		*initial = sp + 1;
		if (**initial == '\0' || strchr(*initial, ' ') != NULL)
			return -1;
	}
	return smtp_auth_mech_parse(args);
}

int
smtp_auth_cmd_check(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	char *initial;
	int   mech;

	if (!s->owner->cfg->auth) {
		/* As before AUTH existed: an unknown command */
		smtp_session_error(s, 500, "5.5.1", "Error: command not recognized");
		return 0;
	}
	if (!(s->flags & SF_EHLO)) {
		smtp_session_error(s, 503, "5.5.1", "Error: send EHLO first");
		return 0;
	}
	if (!smtp_auth_session_offered(s)) {
		smtp_session_error(s, 538, "5.7.11",
		    "Encryption required for requested authentication mechanism");
		return 0;
	}
	if (smtp_auth_session_ok(s)) {
		smtp_session_error(s, 503, "5.5.1", "Error: already authenticated");
		return 0;
	}
	if (s->tx != NULL) {
		smtp_session_error(s, 503, "5.5.1",
		    "Error: AUTH not allowed in a mail transaction");
		return 0;
	}
	if ((mech = smtp_auth_args(c->args, &initial)) == -1) {
		smtp_session_error(s, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
		return 0;
	}
	if (mech == SMTP_AUTH_NONE) {
		smtp_session_error(s, 504, "5.5.4", "Unrecognized authentication type");
		return 0;
	}
	c->addr = initial; /* for proceed; args now holds the mechanism alone */
	return 1;
}

void
smtp_auth_cmd_proceed(struct smtp_session *s, struct smtp_cmd_ctx *c)
{
	struct smtp_auth_reply r;
	enum smtp_auth_rc      rc;

	if (s->auth == NULL)
		s->auth = xcalloc(1, sizeof(*s->auth));
	rc = smtp_auth_start(s->auth, smtp_auth_mech_parse(c->args), c->addr,
	    s->owner->cfg->hostname, &r);
	smtp_auth_session_result(s, rc, &r);
}
