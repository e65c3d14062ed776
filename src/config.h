/*
 * config - command line and SMTPSINK_* environment into struct config.
 * Immutable once the server starts; passed around as const struct config *.
 * Precedence: defaults < environment < command line.
 */
#ifndef SMTPSINK_CONFIG_H
#define SMTPSINK_CONFIG_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_LISTEN_MAX	   16

/* SMTP extensions, each can be switched off (--no-<name>) */
#define EXT_PIPELINING		   0x0001
#define EXT_8BITMIME		   0x0002
#define EXT_SMTPUTF8		   0x0004
#define EXT_SIZE		   0x0008
#define EXT_ENHANCEDSTATUSCODES	   0x0010
#define EXT_CHUNKING		   0x0020
#define EXT_BINARYMIME		   0x0040
#define EXT_DSN			   0x0080
#define EXT_ALL			   0x00ff

#define DEF_SMTP_LISTEN		   "127.0.0.1:1025"
#define DEF_GRPC_LISTEN		   "127.0.0.1:50051"
#define DEF_HTTP_LISTEN		   "127.0.0.1:8025" /* Mailpit's and MailHog's port */
#define DEF_HTTP_MAX_CONNECTIONS   256
#define DEF_HTTP_IDLE_TIMEOUT_MS   (60 * 1000)
#define DEF_HOSTNAME		   "smtpsink"
#define DEF_SMTP_LINE_MAX	   2048
#define DEF_DATA_LINE_MAX	   65536
#define DEF_MESSAGE_SIZE_MAX	   (32u * 1024 * 1024)
#define DEF_RCPT_MAX		   1000
#define DEF_ERROR_MAX		   20
#define DEF_IDLE_TIMEOUT_MS	   (300 * 1000)
#define DEF_SESSION_DEADLINE_MS	   (600 * 1000)
#define DEF_STRESS_IDLE_TIMEOUT_MS (5 * 1000) /* idle timeout above 80 % of max_sessions */
#define DEF_SHUTDOWN_GRACE_MS	   (5 * 1000)
#define DEF_MAX_SESSIONS	   10000 /* lowered at start if descriptors are short */
#define DEF_CMDS_PER_WAKEUP	   16
#define DEF_STORE_MAX_MESSAGES	   10000
#define DEF_STORE_MAX_BYTES	   (256u * 1024 * 1024)
#define DEF_MIME_MAX_DEPTH	   32
#define DEF_MIME_MAX_PARTS	   1024
#define DEF_WAITERS_MAX		   1024
#define DEF_WAIT_MAX_MS		   (3600 * 1000) /* longest a WaitForMessages may park */
#define DEF_GRPC_MAX_MESSAGE	   (64u * 1024 * 1024)
#define DEF_RELAY_QUEUE		   10000
#define DEF_RELAY_RETRIES	   8
#define DEF_RELAY_BACKOFF_MS	   1000
#define DEF_RELAY_CONNECTIONS	   4

/* --relay-mode */
enum config_relay_mode {
	CONFIG_RELAY_ASYNC, /* store, then forward from a queue (default) */
	CONFIG_RELAY_PROXY, /* forward during the client's transaction */
};

/* What a full store does with a new message (--on-full) */
/* One --auth-users entry (file line "user:password", or SMTPSINK_AUTH_USERS) */
struct config_auth_user {
	char *name;
	char *password;
};

enum config_on_full {
	CONFIG_ON_FULL_EVICT,  /* evict the oldest messages (default) */
	CONFIG_ON_FULL_REJECT, /* refuse with 452 4.3.1, keep what is stored */
};

/* Lowest TLS version accepted (--tls-min-version) */
enum config_tls_version {
	CONFIG_TLS_1_2, /* "1.2" (default) */
	CONFIG_TLS_1_3, /* "1.3" */
};

struct config {
	char	*smtp_listen[CONFIG_LISTEN_MAX];
	size_t	 smtp_listen_n;
	char	*smtps_listen[CONFIG_LISTEN_MAX]; /* implicit TLS (RFC 8314) */
	size_t	 smtps_listen_n;
	int	 starttls;		     /* STARTTLS advertised on the smtp_listen listeners */
	char	*tls_cert;		     /* PEM chain; NULL: generate a self-signed one */
	char	*tls_key;		     /* PEM private key of tls_cert */
	char	*tls_cert_out;		     /* write the served PEM here before the ready file */
	char	*tls_san[CONFIG_LISTEN_MAX]; /* extra SANs of the generated certificate */
	size_t	 tls_san_n;
	int	 tls_min_version; /* enum config_tls_version */
	int	 require_tls;	  /* 530 5.7.0 before STARTTLS (but EHLO/HELO/NOOP/RSET/QUIT) */
	char	*grpc_listen;	  /* "" or "off" disables gRPC */
	char	*http_listen;	  /* "" or "off" disables HTTP */
	char	*http_base_path;  /* "/sink" behind a reverse proxy; "" none */
	char	*http_auth_file;  /* user:password lines: basic auth; NULL none */
	char	*http_allowed_hosts[CONFIG_LISTEN_MAX]; /* Host names besides IPs, localhost */
	size_t	 http_allowed_hosts_n;
	unsigned http_max_connections;
	uint64_t http_idle_timeout_ms; /* idle or silent connection; 0: none */
	char	*hostname;	       /* name in banner and EHLO */
	char	*ready_file;

	size_t	 smtp_line_max;
	size_t	 data_line_max;
	size_t	 message_size_max;
	size_t	 rcpt_max;
	unsigned error_max;
	uint64_t idle_timeout_ms;	 /* 0: none */
	uint64_t session_deadline_ms;	 /* 0: none */
	uint64_t stress_idle_timeout_ms; /* under stress; 0: no stress rule */
	uint64_t shutdown_grace_ms;
	unsigned max_sessions;
	unsigned cmds_per_wakeup;
	unsigned extensions; /* EXT_* bits advertised */

	size_t	 store_max_messages;
	size_t	 store_max_bytes;
	unsigned mime_max_depth;
	unsigned mime_max_parts;
	unsigned waiters_max;
	uint64_t wait_max_ms;
	size_t	 grpc_max_message;

	int			 auth;		      /* AUTH offered (--auth, implied by users) */
	int			 require_auth;	      /* MAIL before AUTH: 530 5.7.0 */
	int			 auth_allow_insecure; /* AUTH outside TLS although TLS is set */
	struct config_auth_user *auth_users;	      /* NULL: any credentials are accepted */
	size_t			 auth_users_n;

	char	*relay_url;  /* NULL: no relay; may hold credentials: never log it */
	int	 relay_mode; /* enum config_relay_mode */
	char	*relay_rcpt[CONFIG_LISTEN_MAX]; /* globs; none: every recipient */
	size_t	 relay_rcpt_n;
	char	*relay_ca;	   /* PEM CA file for the upstream; NULL: system store */
	int	 relay_insecure;   /* no certificate check */
	size_t	 relay_queue_max;  /* async queue bound */
	unsigned relay_retries;	   /* attempts in all */
	uint64_t relay_backoff_ms; /* first retry delay, doubling */
	unsigned relay_connections;

	int on_full;	/* enum config_on_full */
	int print;	/* DebuggingServer-style dump to stdout */
	int log_format; /* enum log_format */
	int log_level;	/* enum log_level */
};

/* Does this configuration serve TLS at all (STARTTLS or implicit)? */
static inline int
config_tls_configured(const struct config *cfg)
{
	return cfg->starttls || cfg->smtps_listen_n > 0;
}

/* Fills cfg with the defaults. */
void config_defaults(struct config *);
/*
 * Applies SMTPSINK_* variables, then argv. Returns 0 to run, 1 when --help or
 * --version was handled (exit 0), -1 on a bad value (message on stderr, exit 2).
 */
int  config_parse(struct config *, int argc, char **argv);
void config_free(struct config *);
void config_log(const struct config *);
void config_usage(FILE *);
/* Writes the configuration table (flag, env, default, meaning) as Markdown. */
void config_markdown(FILE *);
/*
 * The one duration grammar of the daemon's flags and smtpsinkctl: a decimal
 * number ("30", "1.5", ".5") and an optional unit, ms, s, m or h; a bare
 * number is seconds. Stores milliseconds (rounded half up) in *ms and
 * returns 0; -1 for anything else or beyond CONFIG_DURATION_MAX_MS. Flags
 * kept in whole seconds also refuse a value with a fraction of a second.
 */
#define CONFIG_DURATION_MAX_MS (366ULL * 24 * 3600 * 1000)
int	    config_parse_duration_ms(const char *s, int64_t *ms);
/* "PIPELINING" etc. for a single EXT_* bit; NULL for unknown */
const char *config_ext_name(unsigned);

#endif
