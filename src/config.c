/*
 * config - one table drives the command line, the SMTPSINK_* environment,
 * --help and the README's configuration table (config_markdown()).
 * Each option is the Postfix triple: DEF_X default, cfg->x field, --x flag,
 * plus the SMTPSINK_X variable. Precedence: default < environment < flag.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "relay_proto.h"
#include "xmalloc.h"

enum config_type {
	CT_STR,	     /* char * */
	CT_LISTEN,   /* addresses: repeatable; env is comma-separated */
	CT_LIST,     /* names: repeatable; env is comma-separated */
	CT_SIZE,     /* size_t, bytes, K/M/G suffixes (binary) */
	CT_COUNT,    /* size_t */
	CT_UINT,     /* unsigned */
	CT_DURATION, /* uint64_t milliseconds; config_parse_duration_ms() */
	CT_FLAG,     /* int, set by the bare flag; env 1/true/yes/on */
	CT_NOEXT,    /* clears an EXT_* bit */
	CT_LOGFMT,
	CT_LOGLEVEL,
	CT_ONFULL,
	CT_USERS, /* auth_users: flag = a file of user:password lines, env = u1:p1,u2:p2 */
	CT_TLSVER,
	CT_RELAYMODE,
};

struct config_opt {
	const char	*name; /* long flag without -- */
	enum config_type type;
	size_t		 off;
	unsigned	 bit;  /* CT_NOEXT */
	const char	*help; /* the default is shown from config_defaults() */
};

#define OFF(f) offsetof(struct config, f)

static const struct config_opt config_opts[] = {
	{ "smtp-listen", CT_LISTEN, OFF(smtp_listen), 0,
	    "SMTP listen address host:port (repeatable; [v6]:port; port 0 = any free port)" },
	{ "grpc-listen", CT_STR, OFF(grpc_listen), 0,
	    "gRPC control API listen address; \"off\" disables it" },
	{ "http-listen", CT_STR, OFF(http_listen), 0,
	    "HTTP API and web UI listen address (Mailpit's port); \"off\" disables it" },
	{ "http-base-path", CT_STR, OFF(http_base_path), 0,
	    "path prefix of every HTTP route, e.g. /sink behind a reverse proxy" },
	{ "http-allowed-hosts", CT_LIST, OFF(http_allowed_hosts), 0,
	    "Host header names accepted besides IP addresses and localhost (comma-separated)" },
	{ "http-auth-file", CT_STR, OFF(http_auth_file), 0,
	    "file of user:password lines: HTTP basic auth (probes /healthz, /readyz exempt)" },
	{ "http-max-connections", CT_UINT, OFF(http_max_connections), 0,
	    "open HTTP connections, silent ones included; accepting pauses at the limit" },
	{ "http-idle-timeout", CT_DURATION, OFF(http_idle_timeout_ms), 0,
	    "close an HTTP connection idle or silent this long (waits and event streams exempt; "
	    "0: never)" },
	{ "hostname", CT_STR, OFF(hostname), 0, "name in the greeting and the EHLO reply" },
	{ "ready-file", CT_STR, OFF(ready_file), 0,
	    "write {\"smtp\":\"addr\",\"grpc\":\"addr\"} here once listening" },
	{ "max-message-size", CT_SIZE, OFF(message_size_max), 0,
	    "largest message accepted (advertised in SIZE); 552 5.3.4 beyond" },
	{ "max-messages", CT_COUNT, OFF(store_max_messages), 0,
	    "messages kept in the store; the oldest are evicted first" },
	{ "max-bytes", CT_SIZE, OFF(store_max_bytes), 0,
	    "bytes kept in the store; the oldest are evicted first" },
	{ "max-sessions", CT_UINT, OFF(max_sessions), 0,
	    "concurrent SMTP sessions; accepting pauses at the limit" },
	{ "max-recipients", CT_COUNT, OFF(rcpt_max), 0,
	    "recipients per message; 452 4.5.3 beyond" },
	{ "max-errors", CT_UINT, OFF(error_max), 0,
	    "errors per session before 421 4.7.0 and close" },
	{ "max-line-length", CT_SIZE, OFF(smtp_line_max), 0,
	    "command line length incl. CRLF; 500 5.5.2 and close beyond" },
	{ "max-data-line-length", CT_SIZE, OFF(data_line_max), 0,
	    "message line length incl. CRLF; 500 5.5.2 and close beyond" },
	{ "idle-timeout", CT_DURATION, OFF(idle_timeout_ms), 0,
	    "close an idle session with 421 4.4.2 (0: never)" },
	{ "session-deadline", CT_DURATION, OFF(session_deadline_ms), 0,
	    "absolute session lifetime; 421 4.4.2 after it (0: none)" },
	{ "stress-idle-timeout", CT_DURATION, OFF(stress_idle_timeout_ms), 0,
	    "idle timeout while more than 80 % of --max-sessions are in use (Postfix's stress)" },
	{ "shutdown-grace", CT_DURATION, OFF(shutdown_grace_ms), 0,
	    "on SIGTERM, time left to transactions in flight" },
	{ "cmds-per-wakeup", CT_UINT, OFF(cmds_per_wakeup), 0,
	    "pipelined commands handled per read before yielding" },
	{ "mime-max-depth", CT_UINT, OFF(mime_max_depth), 0,
	    "MIME nesting parsed before flagging" },
	{ "mime-max-parts", CT_UINT, OFF(mime_max_parts), 0, "MIME parts parsed before flagging" },
	{ "max-waiters", CT_UINT, OFF(waiters_max), 0,
	    "parked WaitForMessages/WatchMessages calls; RESOURCE_EXHAUSTED beyond" },
	{ "max-wait", CT_DURATION, OFF(wait_max_ms), 0, "longest a WaitForMessages call may park" },
	{ "grpc-max-message-size", CT_SIZE, OFF(grpc_max_message), 0,
	    "largest gRPC message sent or received" },
	{ "starttls", CT_FLAG, OFF(starttls), 0,
	    "advertise STARTTLS (RFC 3207) on the --smtp-listen listeners" },
	{ "smtps-listen", CT_LISTEN, OFF(smtps_listen), 0,
	    "implicit-TLS listen address (SMTPS, RFC 8314), host:port (repeatable; port 0 "
	    "allowed)" },
	{ "tls-cert", CT_STR, OFF(tls_cert), 0,
	    "PEM certificate (chain) to serve; without it a self-signed one is generated at "
	    "start" },
	{ "tls-key", CT_STR, OFF(tls_key), 0, "PEM private key of --tls-cert" },
	{ "tls-cert-out", CT_STR, OFF(tls_cert_out), 0,
	    "write the served certificate (PEM, 0644) here before the ready file" },
	{ "tls-san", CT_LIST, OFF(tls_san), 0,
	    "extra subjectAltName of the generated certificate (repeatable; IP literal = IP SAN)" },
	{ "tls-min-version", CT_TLSVER, OFF(tls_min_version), 0,
	    "lowest TLS version accepted: 1.2 or 1.3" },
	{ "require-tls", CT_FLAG, OFF(require_tls), 0,
	    "before STARTTLS only EHLO HELO STARTTLS NOOP RSET QUIT; others get 530 5.7.0" },
	{ "no-pipelining", CT_NOEXT, 0, EXT_PIPELINING, "do not advertise PIPELINING" },
	{ "no-8bitmime", CT_NOEXT, 0, EXT_8BITMIME, "do not advertise 8BITMIME" },
	{ "no-smtputf8", CT_NOEXT, 0, EXT_SMTPUTF8, "do not advertise SMTPUTF8" },
	{ "no-size", CT_NOEXT, 0, EXT_SIZE, "do not advertise SIZE" },
	{ "no-enhancedstatuscodes", CT_NOEXT, 0, EXT_ENHANCEDSTATUSCODES,
	    "do not advertise ENHANCEDSTATUSCODES (replies carry no x.y.z)" },
	{ "no-chunking", CT_NOEXT, 0, EXT_CHUNKING, "do not advertise CHUNKING (BDAT)" },
	{ "no-binarymime", CT_NOEXT, 0, EXT_BINARYMIME, "do not advertise BINARYMIME" },
	{ "no-dsn", CT_NOEXT, 0, EXT_DSN, "do not advertise DSN" },
	{ "auth", CT_FLAG, OFF(auth), 0,
	    "offer SMTP AUTH (PLAIN LOGIN CRAM-MD5 XOAUTH2) and accept any credentials; only "
	    "inside TLS when TLS is set" },
	{ "auth-users", CT_USERS, OFF(auth_users), 0,
	    "FILE of user:password lines (env: u1:p1,u2:p2); only these may log in (535 5.7.8 "
	    "otherwise); implies --auth" },
	{ "require-auth", CT_FLAG, OFF(require_auth), 0,
	    "MAIL before a successful AUTH gets 530 5.7.0" },
	{ "auth-allow-insecure", CT_FLAG, OFF(auth_allow_insecure), 0,
	    "offer AUTH outside TLS (needed for --auth without TLS)" },
	{ "relay-url", CT_STR, OFF(relay_url), 0,
	    "forward captured mail to smtp://[user:password@]host:port[?starttls=require|never] "
	    "or smtps://...; credentials best in the environment" },
	{ "relay-mode", CT_RELAYMODE, OFF(relay_mode), 0,
	    "async (store, then forward from a queue) or proxy (the client gets the upstream's "
	    "replies)" },
	{ "relay-rcpt", CT_LIST, OFF(relay_rcpt), 0,
	    "forward only recipients matching this glob (repeatable); default: all" },
	{ "relay-ca", CT_STR, OFF(relay_ca), 0,
	    "PEM CA file to verify the upstream's certificate (default: the system store)" },
	{ "relay-insecure", CT_FLAG, OFF(relay_insecure), 0,
	    "do not verify the upstream's certificate" },
	{ "relay-queue", CT_COUNT, OFF(relay_queue_max), 0,
	    "messages waiting to be relayed; beyond, a message is kept but marked FAILED" },
	{ "relay-retries", CT_UINT, OFF(relay_retries), 0,
	    "attempts per message for 4xx replies and connection errors" },
	{ "relay-backoff", CT_DURATION, OFF(relay_backoff_ms), 0,
	    "delay before the first retry, doubling up to 5m" },
	{ "relay-connections", CT_UINT, OFF(relay_connections), 0,
	    "connections to the upstream at once (async mode)" },
	{ "on-full", CT_ONFULL, OFF(on_full), 0,
	    "store full: evict the oldest, or reject new mail with 452 4.3.1" },
	{ "print", CT_FLAG, OFF(print), 0,
	    "print each captured message to stdout (smtpd's DebuggingServer)" },
	{ "log-format", CT_LOGFMT, OFF(log_format), 0, "text (key=value) or json" },
	{ "log-level", CT_LOGLEVEL, OFF(log_level), 0, "error, warn, info or debug" },
};
#define NOPTS (sizeof(config_opts) / sizeof(config_opts[0]))

/* Each repeatable list (CT_LISTEN, CT_LIST) and the count beside it */
static const struct {
	size_t off, off_n;
} config_lists[] = {
	{ OFF(smtp_listen), OFF(smtp_listen_n) },
	{ OFF(smtps_listen), OFF(smtps_listen_n) },
	{ OFF(tls_san), OFF(tls_san_n) },
	{ OFF(relay_rcpt), OFF(relay_rcpt_n) },
	{ OFF(http_allowed_hosts), OFF(http_allowed_hosts_n) },
};

static size_t *
config_list_n(const struct config *cfg, const struct config_opt *o)
{
	size_t i;

	for (i = 0; i < sizeof(config_lists) / sizeof(config_lists[0]); i++)
		if (config_lists[i].off == o->off)
			return (size_t *)((char *)cfg + config_lists[i].off_n);
	fatalx("config: no count for --%s", o->name);
}

/* Indexed by enum log_format and enum log_level: parsed and shown. */
static const char *const log_format_names[] = { "text", "json" };
static const char *const log_level_names[] = { "error", "warn", "info", "debug" };
static const char *const on_full_names[] = { "evict", "reject" };   /* enum config_on_full */
static const char *const tls_version_names[] = { "1.2", "1.3" };    /* enum config_tls_version */
static const char *const relay_mode_names[] = { "async", "proxy" }; /* enum config_relay_mode */

/*
 * Upper bounds: beyond them a value makes no sense and arithmetic on it
 * could overflow. Options not listed take any value their type holds.
 */
static const struct {
	const char	  *name;
	unsigned long long max;
	const char	  *shown;
} config_limits[] = {
	{ "max-message-size", 4ULL << 30, "4G" },
	{ "max-bytes", 1ULL << 40, "1024G" },
	{ "max-messages", 100000000, "100000000" },
	{ "max-sessions", 1000000, "1000000" },
	{ "max-recipients", 100000, "100000" },
	{ "max-errors", 1000000, "1000000" },
	{ "max-line-length", 1ULL << 20, "1M" },
	{ "max-data-line-length", 64ULL << 20, "64M" },
	{ "cmds-per-wakeup", 65536, "65536" },
	{ "mime-max-depth", 1000, "1000" },
	{ "mime-max-parts", 1000000, "1000000" },
	{ "max-waiters", 1000000, "1000000" },
	{ "grpc-max-message-size", 2ULL << 30, "2G" },
	{ "relay-queue", 10000000, "10000000" },
	{ "relay-retries", 1000, "1000" },
	{ "relay-connections", 1000, "1000" },
	{ "http-max-connections", 1000000, "1000000" },
};
#define NAMES(a) (sizeof(a) / sizeof((a)[0]))

static const char *const ext_names[] = {
	"PIPELINING",
	"8BITMIME",
	"SMTPUTF8",
	"SIZE",
	"ENHANCEDSTATUSCODES",
	"CHUNKING",
	"BINARYMIME",
	"DSN",
};

const char *
config_ext_name(unsigned bit)
{
	unsigned i;

	for (i = 0; i < sizeof(ext_names) / sizeof(ext_names[0]); i++)
		if (bit == (1u << i))
			return ext_names[i];
	return NULL;
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->smtp_listen[0] = xstrdup(DEF_SMTP_LISTEN);
	cfg->smtp_listen_n = 1;
	cfg->grpc_listen = xstrdup(DEF_GRPC_LISTEN);
	cfg->http_listen = xstrdup(DEF_HTTP_LISTEN);
	cfg->http_base_path = xstrdup("");
	cfg->http_max_connections = DEF_HTTP_MAX_CONNECTIONS;
	cfg->http_idle_timeout_ms = DEF_HTTP_IDLE_TIMEOUT_MS;
	cfg->hostname = xstrdup(DEF_HOSTNAME);
	cfg->ready_file = NULL;
	cfg->smtp_line_max = DEF_SMTP_LINE_MAX;
	cfg->data_line_max = DEF_DATA_LINE_MAX;
	cfg->message_size_max = DEF_MESSAGE_SIZE_MAX;
	cfg->rcpt_max = DEF_RCPT_MAX;
	cfg->error_max = DEF_ERROR_MAX;
	cfg->idle_timeout_ms = DEF_IDLE_TIMEOUT_MS;
	cfg->session_deadline_ms = DEF_SESSION_DEADLINE_MS;
	cfg->stress_idle_timeout_ms = DEF_STRESS_IDLE_TIMEOUT_MS;
	cfg->shutdown_grace_ms = DEF_SHUTDOWN_GRACE_MS;
	cfg->max_sessions = DEF_MAX_SESSIONS;
	cfg->cmds_per_wakeup = DEF_CMDS_PER_WAKEUP;
	cfg->extensions = EXT_ALL;
	cfg->store_max_messages = DEF_STORE_MAX_MESSAGES;
	cfg->store_max_bytes = DEF_STORE_MAX_BYTES;
	cfg->mime_max_depth = DEF_MIME_MAX_DEPTH;
	cfg->mime_max_parts = DEF_MIME_MAX_PARTS;
	cfg->waiters_max = DEF_WAITERS_MAX;
	cfg->wait_max_ms = DEF_WAIT_MAX_MS;
	cfg->relay_queue_max = DEF_RELAY_QUEUE;
	cfg->relay_retries = DEF_RELAY_RETRIES;
	cfg->relay_backoff_ms = DEF_RELAY_BACKOFF_MS;
	cfg->relay_connections = DEF_RELAY_CONNECTIONS;
	cfg->on_full = CONFIG_ON_FULL_EVICT;
	cfg->grpc_max_message = DEF_GRPC_MAX_MESSAGE;
	cfg->print = 0;
	cfg->log_format = LOG_FORMAT_TEXT;
	cfg->log_level = LOG_LEVEL_INFO;
}

void
config_free(struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->smtp_listen_n; i++)
		free(cfg->smtp_listen[i]);
	for (i = 0; i < cfg->smtps_listen_n; i++)
		free(cfg->smtps_listen[i]);
	for (i = 0; i < cfg->tls_san_n; i++)
		free(cfg->tls_san[i]);
	for (i = 0; i < cfg->relay_rcpt_n; i++)
		free(cfg->relay_rcpt[i]);
	if (cfg->relay_url != NULL)
		explicit_bzero(cfg->relay_url, strlen(cfg->relay_url));
	free(cfg->relay_url);
	free(cfg->relay_ca);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->tls_cert_out);
	free(cfg->grpc_listen);
	free(cfg->http_listen);
	free(cfg->http_base_path);
	free(cfg->http_auth_file);
	for (i = 0; i < cfg->http_allowed_hosts_n; i++)
		free(cfg->http_allowed_hosts[i]);
	free(cfg->hostname);
	free(cfg->ready_file);
	for (i = 0; i < cfg->auth_users_n; i++) {
		free(cfg->auth_users[i].name);
		free(cfg->auth_users[i].password);
	}
	free(cfg->auth_users);
	memset(cfg, 0, sizeof(*cfg));
}

static void
config_env_name(const struct config_opt *o, char *dst, size_t dstsz)
{
	size_t i, n = snprintf(dst, dstsz, "SMTPSINK_");

	for (i = 0; o->name[i] != '\0' && n + 1 < dstsz; i++)
		dst[n++] = o->name[i] == '-' ? '_' : toupper((unsigned char)o->name[i]);
	dst[n] = '\0';
}

/* Parses "123", "64K", "32M", "1G" (binary multiples). */
static int
config_parse_size(const char *s, unsigned long long max, unsigned long long *out)
{
	char		  *end;
	unsigned long long v, mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		mul = 1024ULL;
		end++;
		break;
	case 'M':
		mul = 1024ULL * 1024;
		end++;
		break;
	case 'G':
		mul = 1024ULL * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (toupper((unsigned char)*end) == 'B' || toupper((unsigned char)*end) == 'I')
		end += (toupper((unsigned char)end[0]) == 'I' &&
			   toupper((unsigned char)end[1]) == 'B') ?
		    2 :
		    1;
	if (*end != '\0' || (v != 0 && mul > max / v) || v * mul > max)
		return -1;
	*out = v * mul;
	return 0;
}

int
config_parse_duration_ms(const char *s, int64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t    ms;
	} units[] = {
		{ "", 1000 },
		{ "ms", 1 },
		{ "s", 1000 },
		{ "m", 60 * 1000 },
		{ "h", 3600 * 1000 },
	};
	const char *p = s;
	uint64_t    ip = 0, frac = 0, den = 1, unit = 0, ms;
	size_t	    i, digits = 0;

	for (; isdigit((unsigned char)*p); p++, digits++)
		if ((ip = ip * 10 + (*p - '0')) > CONFIG_DURATION_MAX_MS)
			return -1;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++, digits++)
			if (den < 1000000000) { /* finer digits cannot matter */
				frac = frac * 10 + (*p - '0');
				den *= 10;
			}
	if (digits == 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].unit) == 0)
			unit = units[i].ms;
	if (unit == 0 || ip > CONFIG_DURATION_MAX_MS / unit)
		return -1;
	ms = ip * unit + (frac * unit + den / 2) / den; /* half up */
	if (ms > CONFIG_DURATION_MAX_MS)
		return -1;
	*out = (int64_t)ms;
	return 0;
}

static int
config_parse_bool(const char *s, int *out)
{
	if (!strcasecmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes") ||
	    !strcasecmp(s, "on") || *s == '\0')
		*out = 1;
	else if (!strcasecmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no") ||
	    !strcasecmp(s, "off"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* Index of val in names (case-insensitive), -1 if absent. */
static int
config_name_index(const char *const *names, size_t n, const char *val)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(val, names[i]) == 0)
			return (int)i;
	return -1;
}

static int
config_listen_check(const char *a)
{
	const char *colon;

	if (*a == '[') {
		colon = strstr(a, "]:");
		return colon != NULL && colon[2] != '\0' ? 0 : -1;
	}
	colon = strrchr(a, ':');
	return colon != NULL && colon != a && colon[1] != '\0' ? 0 : -1;
}

/*
 * One "user:password" entry (split at the first ':'; neither part empty, no
 * control bytes in the name) appended to cfg->auth_users. -1 if malformed.
 */
static int
config_auth_user_add(struct config *cfg, const char *entry, size_t len)
{
	const char *colon = memchr(entry, ':', len);
	size_t	    i, ulen;

	if (colon == NULL || colon == entry || colon + 1 == entry + len)
		return -1;
	ulen = colon - entry;
	for (i = 0; i < ulen; i++)
		if ((unsigned char)entry[i] < 0x20 || entry[i] == 0x7f)
			return -1;
	if (memchr(entry, '\0', len) != NULL)
		return -1;
	cfg->auth_users = xreallocarray(cfg->auth_users, cfg->auth_users_n + 1,
	    sizeof(*cfg->auth_users));
	cfg->auth_users[cfg->auth_users_n].name = xstrndup(entry, ulen);
	cfg->auth_users[cfg->auth_users_n].password = xstrndup(colon + 1, len - ulen - 1);
	cfg->auth_users_n++;
	return 0;
}

/*
 * --auth-users FILE: one user:password a line; '#' comments and blank lines
 * are skipped; a malformed line is an error naming FILE:LINE (never the line:
 * it holds a password).
 */
static int
config_auth_users_file(struct config *cfg, const char *path, const char *origin)
{
	FILE   *fp;
	char   *line = NULL;
	size_t	cap = 0, lineno = 0;
	ssize_t n;
	int	rc = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "smtpsink: %s: %s: %s\n", origin, path, strerror(errno));
		return -1;
	}
	while (rc == 0 && (n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0 || line[strspn(line, " \t")] == '#' || strspn(line, " \t") == (size_t)n)
			continue;
		if (config_auth_user_add(cfg, line, n) == -1) {
			fprintf(stderr,
			    "smtpsink: %s: %s:%zu: malformed line (want user:password)\n", origin,
			    path, lineno);
			rc = -1;
		}
	}
	free(line);
	fclose(fp);
	return rc;
}

/* SMTPSINK_AUTH_USERS="u1:p1,u2:p2" */
static int
config_auth_users_list(struct config *cfg, const char *list, const char *origin)
{
	const char *p = list, *end;
	size_t	    i = 0;

	while (*p != '\0') {
		end = p + strcspn(p, ",");
		i++;
		if (config_auth_user_add(cfg, p, end - p) == -1) {
			fprintf(stderr,
			    "smtpsink: %s: entry %zu malformed (want user:password,...)\n", origin,
			    i);
			return -1;
		}
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* 1 (and a message naming the option) when v is over the option's limit */
static int
config_over_limit(const struct config_opt *o, unsigned long long v, const char *origin,
    const char *val)
{
	unsigned long long max = o->type == CT_UINT ? 0xffffffffULL : SIZE_MAX / 2;
	const char	  *shown = NULL;
	size_t		   i;

	for (i = 0; i < NAMES(config_limits); i++)
		if (strcmp(o->name, config_limits[i].name) == 0) {
			max = config_limits[i].max;
			shown = config_limits[i].shown;
		}
	if (v <= max)
		return 0;
	if (shown != NULL)
		fprintf(stderr, "smtpsink: %s: \"%s\" is over the maximum %s\n", origin, val,
		    shown);
	else
		fprintf(stderr, "smtpsink: %s: \"%s\" is over the maximum %llu\n", origin, val,
		    max);
	return 1;
}

/*
 * Applies one value. from_env: the option's variable; first_listen tracks
 * whether this option's repeatable list is being replaced by its first new
 * value.
 */
static int
config_apply(struct config *cfg, const struct config_opt *o, const char *val, const char *origin,
    int *first_listen)
{
	char		  *p = (char *)cfg + o->off, *copy, *tok, *save, **list = (char **)p;
	size_t		  *list_n;
	unsigned long long ull;
	int64_t		   ms;
	int		   b;

	switch (o->type) {
	case CT_STR:
		free(*(char **)p);
		*(char **)p = xstrdup(val);
		return 0;
	case CT_LISTEN:
	case CT_LIST:
		list_n = config_list_n(cfg, o);
		if (*first_listen) {
			size_t i;
			for (i = 0; i < *list_n; i++)
				free(list[i]);
			*list_n = 0;
			*first_listen = 0;
		}
		copy = xstrdup(val);
		for (tok = strtok_r(copy, ", ", &save); tok != NULL;
		     tok = strtok_r(NULL, ", ", &save)) {
			if (o->type == CT_LISTEN && config_listen_check(tok) == -1) {
				fprintf(stderr,
				    "smtpsink: %s: bad address \"%s\" (want host:port)\n", origin,
				    tok);
				free(copy);
				return -1;
			}
			if (*list_n == CONFIG_LISTEN_MAX) {
				fprintf(stderr, "smtpsink: %s: at most %d values\n", origin,
				    CONFIG_LISTEN_MAX);
				free(copy);
				return -1;
			}
			list[(*list_n)++] = xstrdup(tok);
		}
		free(copy);
		if (*list_n == 0) {
			fprintf(stderr, "smtpsink: %s: no address given\n", origin);
			return -1;
		}
		return 0;
	case CT_SIZE:
	case CT_COUNT:
	case CT_UINT:
		if (config_parse_size(val, ~0ULL, &ull) == -1)
			goto bad;
		if (config_over_limit(o, ull, origin, val))
			return -1;
		if (o->type == CT_UINT)
			*(unsigned *)p = (unsigned)ull;
		else
			*(size_t *)p = (size_t)ull;
		return 0;
	case CT_DURATION:
		if (config_parse_duration_ms(val, &ms) == -1)
			goto bad;
		*(uint64_t *)p = (uint64_t)ms;
		return 0;
	case CT_ONFULL:
		if ((b = config_name_index(on_full_names, NAMES(on_full_names), val)) == -1)
			goto bad;
		*(int *)p = b;
		return 0;
	case CT_TLSVER:
		if ((b = config_name_index(tls_version_names, NAMES(tls_version_names), val)) == -1)
			goto bad;
		*(int *)p = b;
		return 0;
	case CT_RELAYMODE:
		if ((b = config_name_index(relay_mode_names, NAMES(relay_mode_names), val)) == -1)
			goto bad;
		*(int *)p = b;
		return 0;
	case CT_FLAG:
		if (config_parse_bool(val, &b) == -1)
			goto bad;
		*(int *)p = b;
		return 0;
	case CT_NOEXT:
		if (config_parse_bool(val, &b) == -1)
			goto bad;
		if (b)
			cfg->extensions &= ~o->bit;
		else
			cfg->extensions |= o->bit;
		return 0;
	case CT_LOGFMT:
		if ((b = config_name_index(log_format_names, NAMES(log_format_names), val)) == -1)
			goto bad;
		*(int *)p = b;
		return 0;
	case CT_LOGLEVEL:
		if ((b = config_name_index(log_level_names, NAMES(log_level_names), val)) == -1)
			goto bad;
		*(int *)p = b;
		return 0;
	case CT_USERS:
		/* The environment holds the list itself, a flag names a file */
		if (strncmp(origin, "--", 2) != 0)
			return config_auth_users_list(cfg, val, origin);
		return config_auth_users_file(cfg, val, origin);
	}
bad:
	fprintf(stderr, "smtpsink: %s: bad value \"%s\"\n", origin, val);
	return -1;
}

/* Users imply --auth; AUTH sends passwords, so outside TLS only when asked */
static int
config_validate_auth(struct config *cfg)
{
	const char *flag = cfg->auth ? "--auth" : "--auth-users";

	if (cfg->auth_users_n > 0)
		cfg->auth = 1;
	if (cfg->require_auth && !cfg->auth) {
		fprintf(stderr, "smtpsink: --require-auth needs --auth or --auth-users\n");
		return -1;
	}
	if (cfg->auth && !config_tls_configured(cfg) && !cfg->auth_allow_insecure) {
		fprintf(stderr,
		    "smtpsink: %s needs TLS (--starttls or --smtps-listen) or "
		    "--auth-allow-insecure\n",
		    flag);
		return -1;
	}
	return 0;
}

/* TLS flags need a TLS listener; --tls-cert and --tls-key go together */
static int
config_validate_tls(const struct config *cfg)
{
	const struct {
		const char *flag;
		int	    set;
	} tls[] = {
		{ "--tls-cert", cfg->tls_cert != NULL },
		{ "--tls-key", cfg->tls_key != NULL },
		{ "--tls-cert-out", cfg->tls_cert_out != NULL },
		{ "--tls-san", cfg->tls_san_n > 0 },
		{ "--tls-min-version", cfg->tls_min_version != CONFIG_TLS_1_2 },
	};
	size_t i;

	for (i = 0; i < NAMES(tls); i++)
		if (tls[i].set && !config_tls_configured(cfg)) {
			fprintf(stderr, "smtpsink: %s needs --starttls or --smtps-listen\n",
			    tls[i].flag);
			return -1;
		}
	if (cfg->require_tls && !cfg->starttls) {
		fprintf(stderr, "smtpsink: --require-tls needs --starttls\n");
		return -1;
	}
	if ((cfg->tls_cert != NULL) != (cfg->tls_key != NULL)) {
		fprintf(stderr, "smtpsink: %s needs %s\n",
		    cfg->tls_cert != NULL ? "--tls-cert" : "--tls-key",
		    cfg->tls_cert != NULL ? "--tls-key" : "--tls-cert");
		return -1;
	}
	if (cfg->tls_san_n > 0 && cfg->tls_cert != NULL) {
		fprintf(stderr,
		    "smtpsink: --tls-san is for the generated certificate; "
		    "drop it or --tls-cert\n");
		return -1;
	}
	return 0;
}

/* The relay URL parses (the reason never shows the password); globs: relay_new() */
static int
config_validate_relay(struct config *cfg)
{
	struct relay_url u;
	char		 err[256];

	if (cfg->relay_url != NULL && *cfg->relay_url == '\0') {
		free(cfg->relay_url);
		cfg->relay_url = NULL;
	}
	if (cfg->relay_url == NULL) {
		if (cfg->relay_mode == CONFIG_RELAY_PROXY || cfg->relay_rcpt_n > 0) {
			fprintf(stderr,
			    "smtpsink: --relay-mode proxy and --relay-rcpt need "
			    "--relay-url\n");
			return -1;
		}
	} else if (relay_url_parse(cfg->relay_url, &u, err, sizeof(err)) == -1) {
		fprintf(stderr, "smtpsink: --relay-url: %s\n", err);
		return -1;
	} else
		relay_url_clear(&u);
	if (cfg->relay_ca != NULL && cfg->relay_insecure) {
		fprintf(stderr, "smtpsink: --relay-ca and --relay-insecure exclude each other\n");
		return -1;
	}
	if (cfg->relay_connections == 0 || cfg->relay_retries == 0) {
		fprintf(stderr,
		    "smtpsink: --relay-connections and --relay-retries must be greater "
		    "than 0\n");
		return -1;
	}
	return 0;
}

static int
config_validate(struct config *cfg)
{
	const struct {
		const char *flag;
		int	    zero;
	} nonzero[] = {
		{ "--max-message-size", cfg->message_size_max == 0 },
		{ "--max-recipients", cfg->rcpt_max == 0 },
		{ "--max-sessions", cfg->max_sessions == 0 },
		{ "--max-messages", cfg->store_max_messages == 0 },
		{ "--max-bytes", cfg->store_max_bytes == 0 },
		{ "--cmds-per-wakeup", cfg->cmds_per_wakeup == 0 },
	};
	size_t i;

	if (cfg->smtp_line_max < 512) {
		fprintf(stderr, "smtpsink: --max-line-length must be at least 512 (RFC 5321)\n");
		return -1;
	}
	if (cfg->data_line_max < 1000) {
		fprintf(stderr,
		    "smtpsink: --max-data-line-length must be at least 1000 (RFC 5321)\n");
		return -1;
	}
	for (i = 0; i < sizeof(nonzero) / sizeof(nonzero[0]); i++)
		if (nonzero[i].zero) {
			fprintf(stderr, "smtpsink: %s must be greater than 0\n", nonzero[i].flag);
			return -1;
		}
	if (cfg->error_max == 0)
		cfg->error_max = 1;
	if (config_validate_tls(cfg) == -1 || config_validate_relay(cfg) == -1)
		return -1;
	return config_validate_auth(cfg);
}

int
config_parse(struct config *cfg, int argc, char **argv)
{
	struct option longopts[NOPTS + 3];
	char	      env[64], origin[96];
	const char   *v;
	size_t	      i;
	int	      ch, idx, first_listen[NOPTS];

	for (i = 0; i < NOPTS; i++) {
		first_listen[i] = 1;
		config_env_name(&config_opts[i], env, sizeof(env));
		if ((v = getenv(env)) == NULL)
			continue;
		snprintf(origin, sizeof(origin), "%s", env);
		if (config_apply(cfg, &config_opts[i], v, origin, &first_listen[i]) == -1)
			return -1;
	}

	for (i = 0; i < NOPTS; i++)
		first_listen[i] = 1;
	for (i = 0; i < NOPTS; i++) {
		longopts[i].name = config_opts[i].name;
		longopts[i].has_arg = config_opts[i].type == CT_FLAG ||
			config_opts[i].type == CT_NOEXT ?
		    no_argument :
		    required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = 0;
	}
	longopts[NOPTS] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[NOPTS + 1] = (struct option){ "version", no_argument, NULL, 'V' };
	longopts[NOPTS + 2] = (struct option){ NULL, 0, NULL, 0 };

	optind = 1;
	while ((ch = getopt_long(argc, argv, "hV", longopts, &idx)) != -1) {
		switch (ch) {
		case 0:
			snprintf(origin, sizeof(origin), "--%s", config_opts[idx].name);
			if (config_apply(cfg, &config_opts[idx], optarg ? optarg : "1", origin,
				&first_listen[idx]) == -1)
				return -1;
			break;
		case 'h':
			config_usage(stdout);
			return 1;
		case 'V':
			printf("smtpsink %s\n", SMTPSINK_VERSION);
			return 1;
		default:
			fprintf(stderr, "Try 'smtpsink --help'.\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "smtpsink: unexpected argument \"%s\"\nTry 'smtpsink --help'.\n",
		    argv[optind]);
		return -1;
	}
	return config_validate(cfg);
}

/*
 * The default of o as --help and the README show it, read from d (filled by
 * config_defaults(), so each default is written once, as its DEF_ macro).
 * Sizes that are whole MiB or GiB take the suffix; "" means no default.
 */
/* A duration as the largest whole unit: "5m", "90s", "250ms", "0" */
static const char *
config_show_ms(uint64_t ms, char *buf, size_t len)
{
	if (ms == 0)
		snprintf(buf, len, "0");
	else if (ms % 3600000 == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, len, "%llums", (unsigned long long)ms);
	return buf;
}

static const char *
config_show(const struct config *d, const struct config_opt *o, char *buf, size_t len)
{
	const char *p = (const char *)d + o->off;
	size_t	    z, i, n;

	buf[0] = '\0';
	switch (o->type) {
	case CT_STR:
		snprintf(buf, len, "%s", *(char *const *)p != NULL ? *(char *const *)p : "");
		break;
	case CT_LISTEN:
	case CT_LIST:
		for (i = n = 0; i < *config_list_n(d, o) && n < len; i++)
			n += snprintf(buf + n, len - n, "%s%s", i ? "," : "",
			    ((char *const *)p)[i]);
		break;
	case CT_SIZE:
		memcpy(&z, p, sizeof(z));
		if (z != 0 && z % (1024 * 1024 * 1024) == 0)
			snprintf(buf, len, "%zuG", z / (1024 * 1024 * 1024));
		else if (z != 0 && z % (1024 * 1024) == 0)
			snprintf(buf, len, "%zuM", z / (1024 * 1024));
		else
			snprintf(buf, len, "%zu", z);
		break;
	case CT_COUNT:
		snprintf(buf, len, "%zu", *(const size_t *)p);
		break;
	case CT_UINT:
		snprintf(buf, len, "%u", *(const unsigned *)p);
		break;
	case CT_DURATION:
		config_show_ms(*(const uint64_t *)p, buf, len);
		break;
	case CT_ONFULL:
		snprintf(buf, len, "%s", on_full_names[*(const int *)p]);
		break;
	case CT_TLSVER:
		snprintf(buf, len, "%s", tls_version_names[*(const int *)p]);
		break;
	case CT_RELAYMODE:
		snprintf(buf, len, "%s", relay_mode_names[*(const int *)p]);
		break;
	case CT_FLAG:
		snprintf(buf, len, "%s", *(const int *)p ? "on" : "off");
		break;
	case CT_NOEXT:
	case CT_USERS:
		break;
	case CT_LOGFMT:
		snprintf(buf, len, "%s", log_format_names[*(const int *)p]);
		break;
	case CT_LOGLEVEL:
		snprintf(buf, len, "%s", log_level_names[*(const int *)p]);
		break;
	}
	return buf;
}

void
config_usage(FILE *fp)
{
	struct config d;
	char	      env[64], flag[64], def[256];
	size_t	      i;

	config_defaults(&d);
	fprintf(fp,
	    "usage: smtpsink [options]\n\n"
	    "An SMTP sink for tests: captures every message in memory and serves it\n"
	    "over a gRPC control API. Every option can also be set with the\n"
	    "environment variable shown (flags win).\n\n");
	for (i = 0; i < NOPTS; i++) {
		const struct config_opt *o = &config_opts[i];
		config_env_name(o, env, sizeof(env));
		snprintf(flag, sizeof(flag), "--%s%s", o->name,
		    o->type == CT_FLAG || o->type == CT_NOEXT ? "" : " VALUE");
		config_show(&d, o, def, sizeof(def));
		fprintf(fp, "  %-30s %s\n  %-30s env %s%s%s%s\n", flag, o->help, "", env,
		    *def ? " (default " : "", def, *def ? ")" : "");
	}
	config_free(&d);
	fprintf(fp, "  %-30s %s\n  %-30s %s\n", "--help, -h", "this text", "--version, -V",
	    "print the version");
}

void
config_markdown(FILE *fp)
{
	struct config d;
	char	      env[64], def[256];
	size_t	      i;

	config_defaults(&d);
	fprintf(fp, "| Flag | Environment | Default | Meaning |\n|---|---|---|---|\n");
	for (i = 0; i < NOPTS; i++) {
		const struct config_opt *o = &config_opts[i];
		config_env_name(o, env, sizeof(env));
		config_show(&d, o, def, sizeof(def));
		fprintf(fp, "| `--%s%s` | `%s` | %s%s%s | %s |\n", o->name,
		    o->type == CT_FLAG || o->type == CT_NOEXT ? "" : " VALUE", env, *def ? "`" : "",
		    def, *def ? "`" : "", o->help);
	}
	config_free(&d);
}

void
config_log(const struct config *cfg)
{
	char   exts[256] = "", idle[32], deadline[32];
	size_t i, n = 0;

	for (i = 0; i < 8; i++)
		if (cfg->extensions & (1u << i))
			n += snprintf(exts + n, sizeof(exts) - n, "%s%s", n ? "," : "",
			    config_ext_name(1u << i));
	log_info("config smtp_listen=%s%s grpc_listen=%s max_message_size=%zu max_messages=%zu "
		 "max_bytes=%zu max_sessions=%u idle_timeout=%s session_deadline=%s on_full=%s "
		 "extensions=%s",
	    cfg->smtp_listen[0], cfg->smtp_listen_n > 1 ? ",..." : "", cfg->grpc_listen,
	    cfg->message_size_max, cfg->store_max_messages, cfg->store_max_bytes, cfg->max_sessions,
	    config_show_ms(cfg->idle_timeout_ms, idle, sizeof(idle)),
	    config_show_ms(cfg->session_deadline_ms, deadline, sizeof(deadline)),
	    on_full_names[cfg->on_full], n ? exts : "none");
	if (cfg->relay_url != NULL) {
		struct relay_url u;
		char		 err[256];

		if (relay_url_parse(cfg->relay_url, &u, err, sizeof(err)) == 0) {
			log_info("config relay_url=%s relay_mode=%s relay_rcpt=%zu relay_queue=%zu "
				 "relay_retries=%u relay_connections=%u auth=%s",
			    u.shown, relay_mode_names[cfg->relay_mode], cfg->relay_rcpt_n,
			    cfg->relay_queue_max, cfg->relay_retries, cfg->relay_connections,
			    u.user != NULL ? "yes" : "no");
			relay_url_clear(&u);
		}
	}
	if (cfg->auth)
		log_info("config auth=on auth_users=%zu require_auth=%s auth_allow_insecure=%s",
		    cfg->auth_users_n, cfg->require_auth ? "on" : "off",
		    cfg->auth_allow_insecure ? "on" : "off");
}
