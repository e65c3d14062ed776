/*
 * smtpsinkctl - command-line client of the smtpsink control API
 * (proto/smtpsink/v1/smtpsink.proto) on gRPC's C core.
 *
 * This file holds the option parsing, the command table and the commands;
 * smtpsinkctl_rpc.c runs the calls, smtpsinkctl_out.c formats JSON and text.
 * Every command is one RPC (plus nothing): it builds its request on the stack
 * from borrowed argv strings, runs it, prints the result (a table or text for
 * humans, one JSON object with --json) and maps the gRPC status to an exit
 * status (CTL_EXIT_* in smtpsinkctl.h, listed in the usage text).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <grpc/grpc.h>

#include "grpc/health/v1/health.pb-c.h"
#include "smtpsink/v1/smtpsink.pb-c.h"
#include "config.h"
#include "smtpsinkctl.h"
#include "xmalloc.h"

#define CTL_DEFAULT_ADDR	DEF_GRPC_LISTEN		/* the daemon's default */
#define CTL_ENV_ADDR		"SMTPSINK_GRPC_ADDR"
/* Default deadlines in seconds: the usage text shows these very macros. */
#define CTL_TIMEOUT_S		10	/* unary calls */
#define CTL_HEALTH_TIMEOUT_S	5
#define CTL_WAIT_TIMEOUT_S	30
#define CTL_WAIT_COUNT		1	/* wait: messages to wait for */
#define CTL_STR_(x)		#x
#define CTL_STR(x)		CTL_STR_(x)
#define CTL_WAIT_SLACK_MS	5000	/* RPC deadline beyond the wait timeout */

#define SVC	"/smtpsink.v1.Sink/"

enum opt_id {
	OPT_HELP = 'h', OPT_JSON = 'j', OPT_VERBOSE = 'v', OPT_VERSION = 'V',
	OPT_ADDR = 256, OPT_TIMEOUT,
	OPT_FROM, OPT_TO, OPT_SUBJECT, OPT_HEADER, OPT_BODY, OPT_AFTER_ID,
	OPT_LIMIT, OPT_RAW, OPT_ATTACHMENTS, OPT_COUNT,
	OPT_STAGE, OPT_MATCH, OPT_CODE, OPT_ENHANCED, OPT_MESSAGE, OPT_TIMES,
	OPT_DELAY_MS, OPT_DISCONNECT, OPT_SERVICE,
};

static const struct option all_opts[] = {
	{ "help",	 no_argument,		NULL, OPT_HELP },
	{ "json",	 no_argument,		NULL, OPT_JSON },
	{ "verbose",	 no_argument,		NULL, OPT_VERBOSE },
	{ "version",	 no_argument,		NULL, OPT_VERSION },
	{ "addr",	 required_argument,	NULL, OPT_ADDR },
	{ "timeout",	 required_argument,	NULL, OPT_TIMEOUT },
	{ "from",	 required_argument,	NULL, OPT_FROM },
	{ "to",		 required_argument,	NULL, OPT_TO },
	{ "subject",	 required_argument,	NULL, OPT_SUBJECT },
	{ "header",	 required_argument,	NULL, OPT_HEADER },
	{ "body",	 required_argument,	NULL, OPT_BODY },
	{ "after-id",	 required_argument,	NULL, OPT_AFTER_ID },
	{ "limit",	 required_argument,	NULL, OPT_LIMIT },
	{ "raw",	 no_argument,		NULL, OPT_RAW },
	{ "attachments", no_argument,		NULL, OPT_ATTACHMENTS },
	{ "count",	 required_argument,	NULL, OPT_COUNT },
	{ "stage",	 required_argument,	NULL, OPT_STAGE },
	{ "match",	 required_argument,	NULL, OPT_MATCH },
	{ "code",	 required_argument,	NULL, OPT_CODE },
	{ "enhanced",	 required_argument,	NULL, OPT_ENHANCED },
	{ "message",	 required_argument,	NULL, OPT_MESSAGE },
	{ "times",	 required_argument,	NULL, OPT_TIMES },
	{ "delay-ms",	 required_argument,	NULL, OPT_DELAY_MS },
	{ "disconnect",	 no_argument,		NULL, OPT_DISCONNECT },
	{ "service",	 required_argument,	NULL, OPT_SERVICE },
	{ NULL, 0, NULL, 0 }
};

/* Everything the command line said; strings are borrowed from argv. */
struct ctl {
	const char			*addr;
	int				 json;
	int				 verbose;
	int64_t				 timeout_ms;	/* -1: not given */
	Smtpsink__V1__Filter		 filter;
	char				*header_name;	/* owned */
	uint32_t			 limit;
	int				 raw;
	int				 attachments;
	uint32_t			 count;
	int				 have_count;
	Smtpsink__V1__RejectRule	 rule;
	int				 have_stage, have_code, have_delay;
	const char			*service;
	struct ctl_conn			*conn;
};

struct cmd {
	const char	*name;
	int		 (*run)(struct ctl *, int, char **);
	const char	*opts;		/* allowed options, besides the global ones */
	int		 min_args, max_args;
	const char	*usage;
};

static int	cmd_list(struct ctl *, int, char **);
static int	cmd_get(struct ctl *, int, char **);
static int	cmd_wait(struct ctl *, int, char **);
static int	cmd_watch(struct ctl *, int, char **);
static int	cmd_clear(struct ctl *, int, char **);
static int	cmd_rules_add(struct ctl *, int, char **);
static int	cmd_rules_list(struct ctl *, int, char **);
static int	cmd_rules_delete(struct ctl *, int, char **);
static int	cmd_info(struct ctl *, int, char **);
static int	cmd_health(struct ctl *, int, char **);

#define FILTER_OPTS	"from,to,subject,header,body,after-id,"
#define FILTER_USAGE \
"Filter flags (case-insensitive globs on the whole value: * ? [set];\n" \
"'*text*' means contains; all given flags must match):\n" \
"  --from GLOB          envelope sender (MAIL FROM, without <>)\n" \
"  --to GLOB            any envelope recipient\n" \
"  --subject GLOB       decoded Subject\n" \
"  --header NAME=GLOB   one header whose name and value both match\n" \
"  --body GLOB          decoded text or HTML body\n" \
"  --after-id N         only messages with id > N\n"

static const struct cmd cmds[] = {
	{ "list", cmd_list, FILTER_OPTS "limit,raw,", 0, 0,
"usage: smtpsinkctl list [filter flags] [--limit N] [--raw]\n"
"\n"
"Lists the stored messages matching the filter, oldest first, as a table\n"
"(id, received, from, to, subject, size). --limit N shows the oldest N\n"
"matches. --raw prints the raw messages instead, as an mbox (mboxrd:\n"
"\"From \" separator lines, \">From \" quoting). With --json the result is\n"
"{\"messages\":[...],\"last_id\":N,\"matched\":N} and --raw adds each\n"
"message's bytes, base64-encoded, as \"raw\".\n"
"\n" FILTER_USAGE },
	{ "get", cmd_get, "raw,attachments,", 1, 1,
"usage: smtpsinkctl get ID [--raw] [--attachments]\n"
"\n"
"Shows one message: envelope, headers, text body, attachments.\n"
"  --raw          write the message bytes exactly as received to stdout\n"
"                 (with --json: base64 in \"raw\")\n"
"  --attachments  fetch attachment contents (base64 in --json output)\n"
"Exits 1 with NOT_FOUND if the message was never stored or is gone.\n" },
	{ "wait", cmd_wait, FILTER_OPTS "count,raw,", 0, 0,
"usage: smtpsinkctl wait [filter flags] [--count N] [--timeout DUR] [--raw]\n"
"\n"
"Waits until at least N (default " CTL_STR(CTL_WAIT_COUNT) ") stored "
    "messages match the filter, then\n"
"prints all of them like 'list' and exits 0. Messages already stored count;\n"
"use --after-id to wait for newer ones only. The server wakes the call as a\n"
"message is stored (no polling). --timeout (default "
    CTL_STR(CTL_WAIT_TIMEOUT_S) "s) bounds the wait;\n"
"on expiry it prints how many matched and exits 3.\n"
"\n" FILTER_USAGE },
	{ "watch", cmd_watch, FILTER_OPTS "count,raw,", 0, 0,
"usage: smtpsinkctl watch [filter flags] [--after-id N] [--count N]\n"
"                         [--timeout DUR]\n"
"\n"
"Prints the matching stored messages with id > N (default 0: all), then\n"
"every new matching message as it arrives, one line each (one JSON object\n"
"per line with --json), until interrupted (SIGINT/SIGTERM: exit 0).\n"
"  --count N      stop after N messages\n"
"  --raw          print each message raw, as an mbox entry (see list)\n"
"  --timeout DUR  stop after DUR (exit 0; exit 3 if --count was not reached)\n"
"\n" FILTER_USAGE },
	{ "clear", cmd_clear, FILTER_OPTS, 0, 0,
"usage: smtpsinkctl clear [filter flags]\n"
"\n"
"Deletes the stored messages matching the filter (no filter: all) and\n"
"prints how many were deleted.\n"
"\n" FILTER_USAGE },
	{ "rules add", cmd_rules_add,
	  "stage,match,code,enhanced,message,times,delay-ms,disconnect,", 0, 0,
"usage: smtpsinkctl rules add --stage STAGE [--match GLOB] --code N\n"
"                             [--enhanced X.Y.Z] [--message TEXT] [--times N]\n"
"                             [--delay-ms N] [--disconnect]\n"
"\n"
"Adds a reject / fault-injection rule and prints it with its id. The first\n"
"matching rule in creation order decides the reply.\n"
"  --stage STAGE    connect, helo, mail_from (mail), rcpt_to (rcpt), data\n"
"  --match GLOB     peer IP (connect), HELO name, sender, this recipient\n"
"                   (rcpt_to) or any recipient (data); empty = always\n"
"  --code N         4xx or 5xx reply code (0 with --delay-ms: only delay)\n"
"  --enhanced X.Y.Z enhanced status code (default derived from --code)\n"
"  --message TEXT   reply text\n"
"  --times N        fire at most N times (default 0 = until deleted)\n"
"  --delay-ms N     send the reply N ms late\n"
"  --disconnect     close the connection after the reply\n" },
	{ "rules list", cmd_rules_list, "", 0, 0,
"usage: smtpsinkctl rules list\n"
"\n"
"Lists the reject rules in creation order with their hit counts.\n" },
	{ "rules delete", cmd_rules_delete, "", 0, 1,
"usage: smtpsinkctl rules delete [ID]\n"
"\n"
"Deletes the rule ID, or every rule when no ID is given.\n" },
	{ "info", cmd_info, "", 0, 0,
"usage: smtpsinkctl info\n"
"\n"
"Shows the server's version, addresses, advertised SMTP extensions and\n"
"counters.\n" },
	{ "health", cmd_health, "service,", 0, 0,
"usage: smtpsinkctl health [--service NAME] [--verbose]\n"
"\n"
"Standard gRPC health check (grpc.health.v1.Health/Check). Exits 0 if the\n"
"server is SERVING, 4 otherwise (not serving, unreachable, no answer within\n"
"--timeout, default " CTL_STR(CTL_HEALTH_TIMEOUT_S) "s). Prints nothing on "
    "success unless --verbose or\n"
"--json, so it fits a Docker HEALTHCHECK:\n"
"  HEALTHCHECK CMD [\"smtpsinkctl\", \"health\"]\n" },
};
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

static const char main_usage[] =
"usage: smtpsinkctl [--addr HOST:PORT] [--json] [--timeout DUR] [--verbose]\n"
"                   COMMAND [ARGS]\n"
"\n"
"Client of the smtpsink control API (gRPC).\n"
"\n"
"Commands:\n"
"  list [filter flags] [--limit N] [--raw]     list stored messages\n"
"  get ID [--raw] [--attachments]              show one message\n"
"  wait [filter flags] [--count N]             wait for matching messages\n"
"  watch [filter flags] [--after-id N]         stream matching messages\n"
"  clear [filter flags]                        delete matching messages\n"
"  rules add --stage STAGE --code N [...]      add a reject rule\n"
"  rules list                                  list reject rules\n"
"  rules delete [ID]                           delete one or all rules\n"
"  info                                        server version and counters\n"
"  health [--service NAME]                     exit 0 if SERVING\n"
"  help COMMAND                                help on one command\n"
"\n"
"Global options (also accepted after the command):\n"
"  --addr HOST:PORT  server address (default $" CTL_ENV_ADDR " or\n"
"                    " CTL_DEFAULT_ADDR "; unix:/path also works)\n"
"  --json, -j        one JSON object per result (uint64 as numbers,\n"
"                    bytes as base64, times as RFC 3339 UTC)\n"
"  --timeout DUR     RPC deadline (default " CTL_STR(CTL_TIMEOUT_S) "s; health "
    CTL_STR(CTL_HEALTH_TIMEOUT_S) "s; wait: how long\n"
"                    to wait, default " CTL_STR(CTL_WAIT_TIMEOUT_S) "s; "
    "watch: none); DUR is 500ms, 10s,\n"
"                    2m, 1h or plain seconds\n"
"  --verbose, -v     more output (and gRPC's own log lines)\n"
"  --help, -h        this text; COMMAND --help for one command\n"
"  --version, -V     print the version\n"
"\n"
"Filter flags: --from --to --subject --header NAME=GLOB --body --after-id N\n"
"(see 'smtpsinkctl help list').\n"
"\n"
"Exit status:\n"
"  0  success\n"
"  1  RPC error (the server's status is printed as\n"
"     \"smtpsinkctl: STATUS_NAME: details\"), or a bad response\n"
"  2  usage error\n"
"  3  deadline exceeded (wait: not enough matching messages in time)\n"
"  4  server unreachable (UNAVAILABLE), or health not SERVING\n"
"  130 interrupted (SIGINT/SIGTERM; watch exits 0 instead)\n";

static int
usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage_error(const char *cmd, const char *fmt, ...)
{
	va_list	ap;

	fputs("smtpsinkctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd != NULL)
		fprintf(stderr, "\nTry 'smtpsinkctl %s --help'.\n", cmd);
	else
		fputs("\nTry 'smtpsinkctl --help'.\n", stderr);
	return CTL_EXIT_USAGE;
}

/* Unsigned decimal into *v, at most max; -1 on anything else. */
static int
parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	unsigned long long	 n;
	char			*end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || n > max)
		return -1;
	*v = n;
	return 0;
}

/* "mail-from", "MAIL_FROM", "mail" ... into a stage; 0 if unknown. */
static int
parse_stage(const char *s)
{
	static const struct {
		const char	*name;
		int		 stage;
	} stages[] = {
		{ "connect", SMTPSINK__V1__STAGE__CONNECT },
		{ "helo", SMTPSINK__V1__STAGE__HELO },
		{ "ehlo", SMTPSINK__V1__STAGE__HELO },
		{ "mail_from", SMTPSINK__V1__STAGE__MAIL_FROM },
		{ "mail", SMTPSINK__V1__STAGE__MAIL_FROM },
		{ "rcpt_to", SMTPSINK__V1__STAGE__RCPT_TO },
		{ "rcpt", SMTPSINK__V1__STAGE__RCPT_TO },
		{ "data", SMTPSINK__V1__STAGE__DATA },
	};
	char	 buf[32];
	size_t	 i;

	if (strlen(s) >= sizeof(buf))
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		buf[i] = s[i] == '-' ? '_' : s[i];
	buf[i] = '\0';
	for (i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
		if (strcasecmp(buf, stages[i].name) == 0)
			return stages[i].stage;
	return 0;
}

static const char *
stage_name(int stage)
{
	const ProtobufCEnumValue	*ev;

	ev = protobuf_c_enum_descriptor_get_value(&smtpsink__v1__stage__descriptor,
	    stage);
	return ev != NULL ? ev->name : "?";
}

/* 1 if the long option id is in the comma-terminated list allowed. */
static int
opt_allowed(int id, const char *allowed)
{
	const struct option	*o;
	const char		*p;
	size_t			 n;

	for (o = all_opts; o->name != NULL; o++)
		if (o->val == id)
			break;
	if (o->name == NULL)
		return 0;
	n = strlen(o->name);
	for (p = allowed; (p = strstr(p, o->name)) != NULL; p += n)
		if ((p == allowed || p[-1] == ',') && p[n] == ',')
			return 1;
	return 0;
}

static const char *
opt_name(int id)
{
	const struct option	*o;

	for (o = all_opts; o->name != NULL; o++)
		if (o->val == id)
			return o->name;
	return "?";
}

/*
 * Parses the options of argv (argv[0] is the command or the program name)
 * into c; cmd NULL means the global options before the command, where
 * parsing stops at the first non-option. Returns -1 to go on (optind is the
 * first operand), else the exit status (usage error, or 0 after --help or
 * --version).
 */
static int
parse_opts(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
	const char	*cname = cmd != NULL ? cmd->name : NULL;
	const char	*eq;
	uint64_t	 v;
	int		 ch;

	optind = 0;	/* glibc: full reinitialisation */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, cmd == NULL ? "+:hjvV" : ":hjvV",
	    all_opts, NULL)) != -1) {
		if (ch == '?') {
			if (optopt != 0 && optopt < 256)
				return usage_error(cname, "unknown option -%c",
				    optopt);
			return usage_error(cname, "unknown option %s",
			    argv[optind - 1]);
		}
		if (ch == ':')
			return usage_error(cname, "option %s needs a value",
			    argv[optind - 1]);
		if (ch >= OPT_FROM && (cmd == NULL ||
		    !opt_allowed(ch, cmd->opts)))
			return usage_error(cname, "option --%s is not valid %s%s",
			    opt_name(ch), cmd != NULL ? "for " : "before the "
			    "command", cmd != NULL ? cmd->name : "");
		switch (ch) {
		case OPT_HELP:
			fputs(cmd != NULL ? cmd->usage : main_usage, stdout);
			return CTL_EXIT_OK;
		case OPT_VERSION:
			printf("smtpsinkctl %s (gRPC core %s)\n", SMTPSINK_VERSION,
			    grpc_version_string());
			return CTL_EXIT_OK;
		case OPT_JSON:
			c->json = 1;
			break;
		case OPT_VERBOSE:
			c->verbose = 1;
			break;
		case OPT_ADDR:
			if (*optarg == '\0')
				return usage_error(cname, "empty --addr");
			c->addr = optarg;
			break;
		case OPT_TIMEOUT:
			if (config_parse_duration_ms(optarg, &c->timeout_ms) == -1)
				return usage_error(cname, "bad --timeout \"%s\" "
				    "(examples: 500ms, 10s, 2m)", optarg);
			break;
		case OPT_FROM:
			c->filter.mail_from = optarg;
			break;
		case OPT_TO:
			c->filter.rcpt_to = optarg;
			break;
		case OPT_SUBJECT:
			c->filter.subject = optarg;
			break;
		case OPT_BODY:
			c->filter.body = optarg;
			break;
		case OPT_HEADER:
			free(c->header_name);
			if ((eq = strchr(optarg, '=')) == NULL) {
				c->header_name = xstrdup(optarg);
				c->filter.header_value = "";
			} else {
				c->header_name = xstrndup(optarg, eq - optarg);
				c->filter.header_value = (char *)eq + 1;
			}
			if (*c->header_name == '\0')
				return usage_error(cname, "--header needs "
				    "NAME=GLOB");
			c->filter.header_name = c->header_name;
			break;
		case OPT_AFTER_ID:
			if (parse_u64(optarg, UINT64_MAX, &v) == -1)
				return usage_error(cname, "bad --after-id \"%s\"",
				    optarg);
			c->filter.after_id = v;
			break;
		case OPT_LIMIT:
			if (parse_u64(optarg, UINT32_MAX, &v) == -1)
				return usage_error(cname, "bad --limit \"%s\"",
				    optarg);
			c->limit = v;
			break;
		case OPT_COUNT:
			if (parse_u64(optarg, UINT32_MAX, &v) == -1 || v == 0)
				return usage_error(cname, "bad --count \"%s\" "
				    "(a number >= 1)", optarg);
			c->count = v;
			c->have_count = 1;
			break;
		case OPT_RAW:
			c->raw = 1;
			break;
		case OPT_ATTACHMENTS:
			c->attachments = 1;
			break;
		case OPT_STAGE:
			if ((c->rule.stage = parse_stage(optarg)) == 0)
				return usage_error(cname, "bad --stage \"%s\" "
				    "(connect, helo, mail_from, rcpt_to, data)",
				    optarg);
			c->have_stage = 1;
			break;
		case OPT_MATCH:
			c->rule.match = optarg;
			break;
		case OPT_CODE:
			if (parse_u64(optarg, 999, &v) == -1)
				return usage_error(cname, "bad --code \"%s\"",
				    optarg);
			c->rule.code = v;
			c->have_code = 1;
			break;
		case OPT_ENHANCED:
			c->rule.enhanced_code = optarg;
			break;
		case OPT_MESSAGE:
			c->rule.message = optarg;
			break;
		case OPT_TIMES:
			if (parse_u64(optarg, UINT32_MAX, &v) == -1)
				return usage_error(cname, "bad --times \"%s\"",
				    optarg);
			c->rule.times = v;
			break;
		case OPT_DELAY_MS:
			if (parse_u64(optarg, UINT32_MAX, &v) == -1)
				return usage_error(cname, "bad --delay-ms \"%s\"",
				    optarg);
			c->rule.delay_ms = v;
			c->have_delay = 1;
			break;
		case OPT_DISCONNECT:
			c->rule.disconnect = 1;
			break;
		case OPT_SERVICE:
			c->service = optarg;
			break;
		default:
			return usage_error(cname, "unknown option");
		}
	}
	return -1;
}

/*
 * Reports a failed call on stderr and returns its exit status. A call we
 * cancelled because of a signal is "interrupted".
 */
static int
rpc_failed(const struct ctl *c, const struct ctl_status *st)
{
	if (st->interrupted) {
		fputs("smtpsinkctl: interrupted\n", stderr);
		return CTL_EXIT_INTERRUPTED;
	}
	/* The details may quote what the client sent: no raw controls. */
	fprintf(stderr, "smtpsinkctl: %s: ", ctl_status_name(st->code));
	ctl_put_text(stderr, st->details != NULL && *st->details != '\0' ?
	    st->details : "(no details)", 0, 0, 0);
	if (st->code == GRPC_STATUS_UNAVAILABLE && st->details != NULL &&
	    strstr(st->details, "connect") != NULL)
		fprintf(stderr, " (is smtpsink listening on %s?)", c->addr);
	putc('\n', stderr);
	switch (st->code) {
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		return CTL_EXIT_DEADLINE;
	case GRPC_STATUS_UNAVAILABLE:
		return CTL_EXIT_UNAVAILABLE;
	default:
		return CTL_EXIT_RPC;
	}
}

/* Flushes stdout; reports a write error (except EPIPE) as exit status 1. */
static int
finish_output(int rc)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "smtpsinkctl: stdout: %s\n",
			    strerror(errno));
		return CTL_EXIT_RPC;
	}
	return rc;
}

static int64_t
call_timeout(const struct ctl *c, int64_t def)
{
	return c->timeout_ms >= 0 ? c->timeout_ms : def;
}

/* Runs a unary call; 0 with *resp set, or the exit status after reporting. */
static int
unary(struct ctl *c, const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp,
    int64_t timeout_ms)
{
	struct ctl_status	st;
	int			rc = 0;

	if (ctl_rpc_call(c->conn, method, req, desc, resp, NULL, NULL,
	    timeout_ms, &st) != 0)
		rc = rpc_failed(c, &st);
	ctl_status_clear(&st);
	return rc;
}

static void
put_time(FILE *f, const Google__Protobuf__Timestamp *t, size_t pad)
{
	char	buf[64];

	ctl_put_text(f, t == NULL ? "-" : ctl_format_time(buf, sizeof(buf),
	    t->seconds, t->nanos, 0), 0, pad, 0);
}

/* rcpt_to joined by ", " (malloc'd). */
static char *
join(char **v, size_t n, const char *sep)
{
	char	*s, *p;
	size_t	 len = 1, i;

	for (i = 0; i < n; i++)
		len += strlen(v[i]) + strlen(sep);
	s = p = xmalloc(len);
	*p = '\0';
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i > 0 ? sep : "", v[i]);
	return s;
}

static const char *
sender(const Smtpsink__V1__Message *m)
{
	return *m->mail_from == '\0' ? "<>" : m->mail_from;
}

#define W_FROM		32
#define W_TO		32
#define W_SUBJECT	50

/* The aligned table of list and wait. */
static void
print_table(const Smtpsink__V1__ListMessagesResponse *r)
{
	const Smtpsink__V1__Message	*m;
	char				 buf[32], **to;
	size_t				 i, w_id = 2, w_from = 4, w_to = 2;
	size_t				 w_subj = 7, w_size = 4, w;

	if (r->n_messages == 0) {
		printf("no messages (last id %" PRIu64 ")\n", r->last_id);
		return;
	}
	to = xcalloc(r->n_messages, sizeof(*to));
	for (i = 0; i < r->n_messages; i++) {
		m = r->messages[i];
		to[i] = join(m->rcpt_to, m->n_rcpt_to, ",");
		if ((w = snprintf(buf, sizeof(buf), "%" PRIu64, m->id)) > w_id)
			w_id = w;
		if ((w = snprintf(buf, sizeof(buf), "%" PRIu64, m->size)) >
		    w_size)
			w_size = w;
		if ((w = ctl_text_width(sender(m))) > w_from)
			w_from = w > W_FROM ? W_FROM : w;
		if ((w = ctl_text_width(to[i])) > w_to)
			w_to = w > W_TO ? W_TO : w;
		if ((w = ctl_text_width(m->subject)) > w_subj)
			w_subj = w > W_SUBJECT ? W_SUBJECT : w;
	}
	printf("%*s  %-20s  ", (int)w_id, "ID", "RECEIVED");
	ctl_put_text(stdout, "FROM", 0, w_from + 2, 0);
	ctl_put_text(stdout, "TO", 0, w_to + 2, 0);
	ctl_put_text(stdout, "SUBJECT", 0, w_subj + 2, 0);
	printf("%*s\n", (int)w_size, "SIZE");
	for (i = 0; i < r->n_messages; i++) {
		m = r->messages[i];
		printf("%*" PRIu64 "  ", (int)w_id, m->id);
		put_time(stdout, m->received_at, 20 + 2);
		ctl_put_text(stdout, sender(m), w_from, w_from + 2, 0);
		ctl_put_text(stdout, to[i], w_to, w_to + 2, 0);
		ctl_put_text(stdout, m->subject, w_subj, w_subj + 2, 0);
		printf("%*" PRIu64 "\n", (int)w_size, m->size);
		free(to[i]);
	}
	free(to);
	if (r->matched > r->n_messages)
		printf("(%zu of %" PRIu64 " matching messages shown; "
		    "last id %" PRIu64 ")\n", r->n_messages, r->matched,
		    r->last_id);
}

/* One raw message as an mboxrd entry: "From " line, ">From " quoting. */
static void
print_mbox_entry(const Smtpsink__V1__Message *m)
{
	const uint8_t	*p, *end, *nl;
	char		 buf[64];
	struct tm	 tm;
	time_t		 t;
	size_t		 n, q;

	t = m->received_at != NULL ? (time_t)m->received_at->seconds : 0;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		snprintf(buf, sizeof(buf), "Thu Jan  1 00:00:00 1970");
	fputs("From ", stdout);
	ctl_put_text(stdout, *m->mail_from == '\0' ? "MAILER-DAEMON" :
	    m->mail_from, 0, 0, 0);
	printf(" %s\n", buf);
	p = m->raw.data;
	end = p + m->raw.len;
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		for (q = 0; q < n && p[q] == '>'; q++)
			;
		if (n - q >= 5 && memcmp(p + q, "From ", 5) == 0)
			putchar('>');
		fwrite(p, 1, n, stdout);
		p += n;
	}
	if (m->raw.len > 0 && m->raw.data[m->raw.len - 1] != '\n')
		putchar('\n');
	putchar('\n');
}

static void
print_messages(const struct ctl *c, const Smtpsink__V1__ListMessagesResponse *r)
{
	size_t	i;

	if (c->json) {
		ctl_json_message(stdout, &r->base);
		putchar('\n');
	} else if (c->raw) {
		for (i = 0; i < r->n_messages; i++)
			print_mbox_entry(r->messages[i]);
	} else
		print_table(r);
}

static int
cmd_list(struct ctl *c, int argc, char **argv)
{
	Smtpsink__V1__ListMessagesRequest	 req =
	    SMTPSINK__V1__LIST_MESSAGES_REQUEST__INIT;
	ProtobufCMessage			*resp;
	int					 rc;

	req.filter = &c->filter;
	req.limit = c->limit;
	req.include_raw = c->raw;
	if ((rc = unary(c, SVC "ListMessages", &req.base,
	    &smtpsink__v1__list_messages_response__descriptor, &resp,
	    call_timeout(c, CTL_TIMEOUT_S * 1000))) != 0)
		return rc;
	print_messages(c, (Smtpsink__V1__ListMessagesResponse *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	return finish_output(0);
}

static void
print_field(const char *label, const char *value)
{
	if (value == NULL || *value == '\0')
		return;
	printf("%-13s", label);
	ctl_put_text(stdout, value, 0, 0, 0);
	putchar('\n');
}

static void
print_list_field(const char *label, char **v, size_t n)
{
	char	*s;

	if (n == 0)
		return;
	s = join(v, n, ", ");
	print_field(label, s);
	free(s);
}

static void
print_params(Smtpsink__V1__Param **p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		putchar(' ');
		ctl_put_text(stdout, p[i]->name, 0, 0, 0);
		if (*p[i]->value != '\0') {
			putchar('=');
			ctl_put_text(stdout, p[i]->value, 0, 0, 0);
		}
	}
}

static void
print_message(const Smtpsink__V1__Message *m)
{
	const Smtpsink__V1__Attachment	*a;
	char				 buf[64];
	size_t				 i;

	printf("%-13s%" PRIu64 "\n", "ID:", m->id);
	if (m->received_at != NULL)
		print_field("Received:", ctl_format_time(buf, sizeof(buf),
		    m->received_at->seconds, m->received_at->nanos, 1));
	print_field("Peer:", m->peer);
	print_field("HELO:", m->helo);
	if (m->session_id != 0)
		printf("%-13s%" PRIu64 "\n", "Session:", m->session_id);
	printf("%-13s<", "Mail from:");
	ctl_put_text(stdout, m->mail_from, 0, 0, 0);
	putchar('>');
	print_params(m->mail_params, m->n_mail_params);
	putchar('\n');
	for (i = 0; i < m->n_rcpt_to; i++) {
		printf("%-13s<", i == 0 ? "Rcpt to:" : "");
		ctl_put_text(stdout, m->rcpt_to[i], 0, 0, 0);
		putchar('>');
		if (i < m->n_rcpt_params)
			print_params(m->rcpt_params[i]->params,
			    m->rcpt_params[i]->n_params);
		putchar('\n');
	}
	printf("%-13s%" PRIu64 " bytes\n", "Size:", m->size);
	print_field("Body type:", m->body_type);
	if (m->smtputf8 || m->eight_bit || m->tls || *m->auth_user != '\0') {
		printf("%-13s%s%s%s", "Flags:", m->smtputf8 ? "smtputf8 " : "",
		    m->eight_bit ? "8bit " : "", m->tls ? "tls " : "");
		if (*m->auth_user != '\0') {
			fputs("auth=", stdout);
			ctl_put_text(stdout, m->auth_user, 0, 0, 0);
		}
		putchar('\n');
	}
	print_list_field("Anomalies:", m->anomalies, m->n_anomalies);
	print_field("Subject:", m->subject);
	print_field("From:", m->from);
	print_list_field("To:", m->to, m->n_to);
	print_list_field("Cc:", m->cc, m->n_cc);
	print_list_field("Reply-To:", m->reply_to, m->n_reply_to);
	if (m->n_attachments > 0) {
		printf("Attachments:\n");
		for (i = 0; i < m->n_attachments; i++) {
			a = m->attachments[i];
			fputs("  ", stdout);
			ctl_put_text(stdout, *a->filename != '\0' ?
			    a->filename : "(no name)", 0, 0, 0);
			fputs("  ", stdout);
			ctl_put_text(stdout, a->content_type, 0, 0, 0);
			printf("  %" PRIu64 " bytes", a->size);
			if (*a->content_id != '\0') {
				fputs("  cid:", stdout);
				ctl_put_text(stdout, a->content_id, 0, 0, 0);
			}
			putchar('\n');
		}
	}
	if (m->n_headers > 0) {
		printf("Headers:\n");
		for (i = 0; i < m->n_headers; i++) {
			fputs("  ", stdout);
			ctl_put_text(stdout, m->headers[i]->name, 0, 0, 0);
			fputs(": ", stdout);
			ctl_put_text(stdout, m->headers[i]->value, 0, 0, 0);
			putchar('\n');
		}
	}
	if (*m->text_body != '\0') {
		putchar('\n');
		ctl_put_text(stdout, m->text_body, 0, 0, 1);
		if (m->text_body[strlen(m->text_body) - 1] != '\n')
			putchar('\n');
	} else if (*m->html_body != '\0')
		printf("\n[HTML body only, %zu bytes; use --json or --raw]\n",
		    strlen(m->html_body));
}

static int
cmd_get(struct ctl *c, int argc, char **argv)
{
	Smtpsink__V1__GetMessageRequest	 req =
	    SMTPSINK__V1__GET_MESSAGE_REQUEST__INIT;
	Smtpsink__V1__Message		*m;
	ProtobufCMessage		*resp;
	uint64_t			 id;
	int				 rc;

	if (parse_u64(argv[0], UINT64_MAX, &id) == -1)
		return usage_error("get", "bad message id \"%s\"", argv[0]);
	req.id = id;
	req.include_raw = c->raw;
	req.include_attachments = c->attachments;
	if ((rc = unary(c, SVC "GetMessage", &req.base,
	    &smtpsink__v1__message__descriptor, &resp,
	    call_timeout(c, CTL_TIMEOUT_S * 1000))) != 0)
		return rc;
	m = (Smtpsink__V1__Message *)resp;
	if (c->json) {
		ctl_json_message(stdout, resp);
		putchar('\n');
	} else if (c->raw)
		fwrite(m->raw.data, 1, m->raw.len, stdout);
	else
		print_message(m);
	protobuf_c_message_free_unpacked(resp, NULL);
	return finish_output(0);
}

static int
cmd_wait(struct ctl *c, int argc, char **argv)
{
	Smtpsink__V1__WaitForMessagesRequest	 req =
	    SMTPSINK__V1__WAIT_FOR_MESSAGES_REQUEST__INIT;
	Google__Protobuf__Duration		 dur =
	    GOOGLE__PROTOBUF__DURATION__INIT;
	struct ctl_status			 st;
	ProtobufCMessage			*resp;
	int64_t					 ms;
	int					 rc;

	ms = call_timeout(c, CTL_WAIT_TIMEOUT_S * 1000);
	dur.seconds = ms / 1000;
	dur.nanos = (ms % 1000) * 1000000;
	req.filter = &c->filter;
	req.count = c->have_count ? c->count : CTL_WAIT_COUNT;
	req.timeout = &dur;
	req.include_raw = c->raw;
	if (ctl_rpc_call(c->conn, SVC "WaitForMessages", &req.base,
	    &smtpsink__v1__list_messages_response__descriptor, &resp, NULL,
	    NULL, ms + CTL_WAIT_SLACK_MS, &st) != 0) {
		rc = rpc_failed(c, &st);
		ctl_status_clear(&st);
		return rc;
	}
	ctl_status_clear(&st);
	print_messages(c, (Smtpsink__V1__ListMessagesResponse *)resp);
	protobuf_c_message_free_unpacked(resp, NULL);
	return finish_output(0);
}

struct watch_state {
	const struct ctl	*c;
	uint64_t		 seen;
	int			 write_error;
};

/* One line per message: id time from to size subject (or one JSON object). */
static int
watch_cb(const ProtobufCMessage *pm, void *arg)
{
	struct watch_state		*ws = arg;
	const Smtpsink__V1__Message	*m = (const Smtpsink__V1__Message *)pm;
	char				*to;

	if (ws->c->json)
		ctl_json_message(stdout, pm);
	else if (ws->c->raw)
		print_mbox_entry(m);
	else {
		to = join(m->rcpt_to, m->n_rcpt_to, ",");
		printf("%" PRIu64 "  ", m->id);
		put_time(stdout, m->received_at, 0);
		fputs("  ", stdout);
		ctl_put_text(stdout, sender(m), 0, 0, 0);
		fputs("  ", stdout);
		ctl_put_text(stdout, to, 0, 0, 0);
		printf("  %" PRIu64 "  ", m->size);
		ctl_put_text(stdout, m->subject, 0, 0, 0);
		free(to);
	}
	if (ws->c->json || !ws->c->raw)
		putchar('\n');
	if (fflush(stdout) == EOF) {
		ws->write_error = 1;
		return 1;
	}
	ws->seen++;
	return ws->c->have_count && ws->seen >= ws->c->count;
}

static int
cmd_watch(struct ctl *c, int argc, char **argv)
{
	Smtpsink__V1__WatchMessagesRequest	req =
	    SMTPSINK__V1__WATCH_MESSAGES_REQUEST__INIT;
	struct watch_state			ws;
	struct ctl_status			st;
	int					rc = 0;

	memset(&ws, 0, sizeof(ws));
	ws.c = c;
	req.filter = &c->filter;
	req.after_id = c->filter.after_id;
	req.include_raw = c->raw;
	ctl_rpc_call(c->conn, SVC "WatchMessages", &req.base,
	    &smtpsink__v1__message__descriptor, NULL, watch_cb, &ws,
	    c->timeout_ms, &st);
	if (ws.write_error)
		rc = finish_output(CTL_EXIT_RPC);
	else if (st.interrupted || st.stopped)
		rc = 0;
	else if (st.deadline && c->timeout_ms >= 0 && !c->have_count)
		rc = 0;
	else if (st.code != 0)
		rc = rpc_failed(c, &st);
	ctl_status_clear(&st);
	return rc != 0 ? rc : finish_output(0);
}

static int
cmd_clear(struct ctl *c, int argc, char **argv)
{
	Smtpsink__V1__ClearRequest	 req = SMTPSINK__V1__CLEAR_REQUEST__INIT;
	Smtpsink__V1__ClearResponse	*r;
	ProtobufCMessage		*resp;
	int				 rc;

	req.filter = &c->filter;
	if ((rc = unary(c, SVC "Clear", &req.base,
	    &smtpsink__v1__clear_response__descriptor, &resp,
	    call_timeout(c, CTL_TIMEOUT_S * 1000))) != 0)
		return rc;
	r = (Smtpsink__V1__ClearResponse *)resp;
	if (c->json) {
		ctl_json_message(stdout, resp);
		putchar('\n');
	} else
		printf("deleted %" PRIu64 " message%s\n", r->deleted,
		    r->deleted == 1 ? "" : "s");
	protobuf_c_message_free_unpacked(resp, NULL);
	return finish_output(0);
}

static void
print_rules(Smtpsink__V1__RejectRule **rules, size_t n)
{
	const Smtpsink__V1__RejectRule	*r;
	size_t				 i, w_id = 2, w_match = 5, w;

	if (n == 0) {
		printf("no rules\n");
		return;
	}
	for (i = 0; i < n; i++) {
		if ((w = ctl_text_width(rules[i]->id)) > w_id)
			w_id = w > 24 ? 24 : w;
		if ((w = ctl_text_width(rules[i]->match)) > w_match)
			w_match = w > 32 ? 32 : w;
	}
	ctl_put_text(stdout, "ID", 0, w_id + 2, 0);
	printf("%-9s  ", "STAGE");
	ctl_put_text(stdout, "MATCH", 0, w_match + 2, 0);
	printf("CODE  ENHANCED  TIMES  DELAY_MS  DISC  HITS  MESSAGE\n");
	for (i = 0; i < n; i++) {
		r = rules[i];
		ctl_put_text(stdout, r->id, w_id, w_id + 2, 0);
		printf("%-9s  ", stage_name(r->stage));
		ctl_put_text(stdout, *r->match != '\0' ? r->match : "*",
		    w_match, w_match + 2, 0);
		printf("%4" PRIu32 "  ", r->code);
		ctl_put_text(stdout, *r->enhanced_code != '\0' ?
		    r->enhanced_code : "-", 8, 10, 0);
		printf("%5" PRIu32 "  %8" PRIu32 "  %-4s  %4" PRIu64 "  ",
		    r->times, r->delay_ms, r->disconnect ? "yes" : "no",
		    r->hits);
		ctl_put_text(stdout, r->message, 0, 0, 0);
		putchar('\n');
	}
}

static int
cmd_rules_add(struct ctl *c, int argc, char **argv)
{
	Smtpsink__V1__RejectRule	*r;
	ProtobufCMessage		*resp;
	int				 rc;

	if (!c->have_stage)
		return usage_error("rules add", "--stage is required");
	if (!c->have_code && !c->have_delay)
		return usage_error("rules add", "--code is required (or "
		    "--delay-ms for a delay only)");
	if ((rc = unary(c, SVC "SetRejectRule", &c->rule.base,
	    &smtpsink__v1__reject_rule__descriptor, &resp,
	    call_timeout(c, CTL_TIMEOUT_S * 1000))) != 0)
		return rc;
	r = (Smtpsink__V1__RejectRule *)resp;
	if (c->json) {
		ctl_json_message(stdout, resp);
		putchar('\n');
	} else
		print_rules(&r, 1);
	protobuf_c_message_free_unpacked(resp, NULL);
	return finish_output(0);
}

static int
cmd_rules_list(struct ctl *c, int argc, char **argv)
{
	Smtpsink__V1__ListRejectRulesRequest	 req =
	    SMTPSINK__V1__LIST_REJECT_RULES_REQUEST__INIT;
	Smtpsink__V1__ListRejectRulesResponse	*r;
	ProtobufCMessage			*resp;
	int					 rc;

	if ((rc = unary(c, SVC "ListRejectRules", &req.base,
	    &smtpsink__v1__list_reject_rules_response__descriptor, &resp,
	    call_timeout(c, CTL_TIMEOUT_S * 1000))) != 0)
		return rc;
	r = (Smtpsink__V1__ListRejectRulesResponse *)resp;
	if (c->json) {
		ctl_json_message(stdout, resp);
		putchar('\n');
	} else
		print_rules(r->rules, r->n_rules);
	protobuf_c_message_free_unpacked(resp, NULL);
	return finish_output(0);
}

static int
cmd_rules_delete(struct ctl *c, int argc, char **argv)
{
	Smtpsink__V1__DeleteRejectRuleRequest	 req =
	    SMTPSINK__V1__DELETE_REJECT_RULE_REQUEST__INIT;
	Smtpsink__V1__DeleteRejectRuleResponse	*r;
	ProtobufCMessage			*resp;
	int					 rc;

	if (argc > 0) {
		if (*argv[0] == '\0')
			return usage_error("rules delete", "empty rule id");
		req.id = argv[0];
	}
	if ((rc = unary(c, SVC "DeleteRejectRule", &req.base,
	    &smtpsink__v1__delete_reject_rule_response__descriptor, &resp,
	    call_timeout(c, CTL_TIMEOUT_S * 1000))) != 0)
		return rc;
	r = (Smtpsink__V1__DeleteRejectRuleResponse *)resp;
	if (c->json) {
		ctl_json_message(stdout, resp);
		putchar('\n');
	} else
		printf("deleted %" PRIu64 " rule%s\n", r->deleted,
		    r->deleted == 1 ? "" : "s");
	protobuf_c_message_free_unpacked(resp, NULL);
	return finish_output(0);
}

static int
cmd_info(struct ctl *c, int argc, char **argv)
{
	Smtpsink__V1__GetServerInfoRequest	 req =
	    SMTPSINK__V1__GET_SERVER_INFO_REQUEST__INIT;
	Smtpsink__V1__ServerInfo		*si;
	const Smtpsink__V1__Counters		*k;
	ProtobufCMessage			*resp;
	int					 rc;

	if ((rc = unary(c, SVC "GetServerInfo", &req.base,
	    &smtpsink__v1__server_info__descriptor, &resp,
	    call_timeout(c, CTL_TIMEOUT_S * 1000))) != 0)
		return rc;
	si = (Smtpsink__V1__ServerInfo *)resp;
	if (c->json) {
		ctl_json_message(stdout, resp);
		putchar('\n');
	} else {
		print_field("version:", si->version);
		print_list_field("smtp:", si->smtp_addresses,
		    si->n_smtp_addresses);
		print_field("grpc:", si->grpc_address);
		if (si->max_message_size != 0)
			printf("%-13s%" PRIu64 " bytes (SMTP)\n", "max size:",
			    si->max_message_size);
		if (si->grpc_max_message_size != 0)
			printf("%-13s%" PRIu64 " bytes (gRPC)\n", "",
			    si->grpc_max_message_size);
		print_list_field("extensions:", si->extensions,
		    si->n_extensions);
		if ((k = si->counters) != NULL) {
			printf("%-13s%" PRIu64 " total, %" PRIu64 " active\n",
			    "sessions:", k->sessions_total, k->sessions_active);
			printf("%-13s%" PRIu64 " received, %" PRIu64
			    " rejected, %" PRIu64 " evicted, %" PRIu64
			    " recipients rejected\n", "messages:",
			    k->messages_received, k->messages_rejected,
			    k->messages_evicted, k->rcpts_rejected);
			printf("%-13s%" PRIu64 " messages, %" PRIu64 " bytes\n",
			    "stored:", k->stored_messages, k->stored_bytes);
			printf("%-13s%" PRIu64 " bytes\n", "received:",
			    k->bytes_received);
			printf("%-13s%" PRIu64 "\n", "last id:", k->last_id);
			printf("%-13s%" PRIu64 " in progress, %" PRIu64
			    " waiting\n", "grpc calls:", k->grpc_calls,
			    k->waiters);
		}
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return finish_output(0);
}

static int
cmd_health(struct ctl *c, int argc, char **argv)
{
	Grpc__Health__V1__HealthCheckRequest	 req =
	    GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	Grpc__Health__V1__HealthCheckResponse	*r;
	const ProtobufCEnumValue		*ev;
	struct ctl_status			 st;
	ProtobufCMessage			*resp;
	const char				*name;
	int					 rc;

	if (c->service != NULL)
		req.service = (char *)c->service;
	if (ctl_rpc_call(c->conn, "/grpc.health.v1.Health/Check", &req.base,
	    &grpc__health__v1__health_check_response__descriptor, &resp, NULL,
	    NULL, call_timeout(c, CTL_HEALTH_TIMEOUT_S * 1000), &st) != 0) {
		rc = rpc_failed(c, &st);
		ctl_status_clear(&st);
		return rc == CTL_EXIT_INTERRUPTED ? rc : CTL_EXIT_UNAVAILABLE;
	}
	ctl_status_clear(&st);
	r = (Grpc__Health__V1__HealthCheckResponse *)resp;
	ev = protobuf_c_enum_descriptor_get_value(
	    &grpc__health__v1__health_check_response__serving_status__descriptor,
	    r->status);
	name = ev != NULL ? ev->name : "UNKNOWN";
	if (c->json) {
		ctl_json_message(stdout, resp);
		putchar('\n');
	} else if (c->verbose)
		printf("%s\n", name);
	rc = r->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING ?
	    CTL_EXIT_OK : CTL_EXIT_UNAVAILABLE;
	if (rc != CTL_EXIT_OK)
		fprintf(stderr, "smtpsinkctl: health: %s\n", name);
	protobuf_c_message_free_unpacked(resp, NULL);
	return finish_output(rc);
}

static void
on_signal(int sig)
{
	ctl_interrupted = 1;
}

/* "rules add" etc.: the command for argv[0] (and argv[1]); NULL if none. */
static const struct cmd *
find_cmd(int argc, char **argv, int *used)
{
	char	name[64];
	size_t	i;

	*used = 1;
	if (strcmp(argv[0], "rules") == 0) {
		if (argc < 2 || argv[1][0] == '-')
			return NULL;
		snprintf(name, sizeof(name), "rules %s", argv[1]);
		*used = 2;
	} else
		snprintf(name, sizeof(name), "%s", argv[0]);
	for (i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	struct ctl		 c;
	struct sigaction	 sa;
	const struct cmd	*cmd;
	const char		*env;
	int			 rc, used, nargs;

	memset(&c, 0, sizeof(c));
	smtpsink__v1__filter__init(&c.filter);
	smtpsink__v1__reject_rule__init(&c.rule);
	c.timeout_ms = -1;
	c.addr = (env = getenv(CTL_ENV_ADDR)) != NULL && *env != '\0' ?
	    env : CTL_DEFAULT_ADDR;

	if ((rc = parse_opts(&c, NULL, argc, argv)) >= 0)
		goto out;
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		rc = usage_error(NULL, "no command given");
		goto out;
	}
	if (strcmp(argv[0], "help") == 0) {
		if (argc < 2) {
			fputs(main_usage, stdout);
			rc = 0;
		} else if ((cmd = find_cmd(argc - 1, argv + 1, &used)) == NULL)
			rc = usage_error(NULL, "unknown command \"%s\"", argv[1]);
		else {
			fputs(cmd->usage, stdout);
			rc = 0;
		}
		goto out;
	}
	if ((cmd = find_cmd(argc, argv, &used)) == NULL) {
		if (strcmp(argv[0], "rules") == 0)
			rc = usage_error(NULL, "rules needs add, list or delete");
		else
			rc = usage_error(NULL, "unknown command \"%s\"", argv[0]);
		goto out;
	}
	argc -= used - 1;
	argv += used - 1;
	if ((rc = parse_opts(&c, cmd, argc, argv)) >= 0)
		goto out;
	nargs = argc - optind;
	if (nargs < cmd->min_args) {
		rc = usage_error(cmd->name, "missing argument");
		goto out;
	}
	if (nargs > cmd->max_args) {
		rc = usage_error(cmd->name, "unexpected argument \"%s\"",
		    argv[optind + cmd->max_args]);
		goto out;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	c.conn = ctl_conn_new(c.addr, c.verbose);
	rc = cmd->run(&c, nargs, argv + optind);
	ctl_conn_free(c.conn);
out:
	free(c.header_name);
	return rc;
}
