/*
 * smtpsinkctl - command-line client of the smtpsink control API
 * (proto/smtpsink/v1/smtpsink.proto) on gRPC's C core.
 *
 * This file holds the option parsing and the command table. A command is
 * a row: which options and operands it takes, its usage text, and, for
 * the unary calls (all but watch), the method, request and response
 * types, default deadline, a fill function that puts the command line
 * into the request and the printer for people (smtpsinkctl_text.c); with
 * --json every response goes through ctl_json() (the HTTP API's encoder,
 * http_json.c, with HTTP_JSON_CTL). run_unary() does the rest for every row the same
 * way: the request is built on the stack from borrowed argv strings, the
 * call runs through ctl_client.c, and the gRPC status becomes an exit
 * status (CTL_EXIT_* in smtpsinkctl.h, listed in the usage text). watch
 * streams and has a function of its own.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grpc/grpc.h>
#include <grpc/support/log.h>

#include "grpc/health/v1/health.pb-c.h"
#include "smtpsink/v1/smtpsink.pb-c.h"
#include "config.h"
#include "ctl_client.h"
#include "http_json.h"
#include "smtpsinkctl.h"
#include "xmalloc.h"

#define CTL_DEFAULT_ADDR     DEF_GRPC_LISTEN /* the daemon's default */
#define CTL_ENV_ADDR	     "SMTPSINK_GRPC_ADDR"
/* Default deadlines in seconds: the usage text shows these very macros. */
#define CTL_TIMEOUT_S	     10 /* unary calls */
#define CTL_HEALTH_TIMEOUT_S 5
#define CTL_WAIT_TIMEOUT_S   30
#define CTL_WAIT_COUNT	     1 /* wait: messages to wait for */
#define CTL_STR_(x)	     #x
#define CTL_STR(x)	     CTL_STR_(x)
#define CTL_WAIT_SLACK_MS    5000 /* RPC deadline beyond the wait timeout */

#define SVC		     "/smtpsink.v1.Sink/"

/* Set by the signal handler; a call in progress cancels itself (ctl_client). */
static volatile sig_atomic_t ctl_interrupted;
static int		     ctl_verbose; /* gRPC's log lines go through */

enum opt_id {
	OPT_HELP = 'h',
	OPT_JSON = 'j',
	OPT_VERBOSE = 'v',
	OPT_VERSION = 'V',
	OPT_ADDR = 256,
	OPT_TIMEOUT,
	OPT_FROM,
	OPT_TO,
	OPT_SUBJECT,
	OPT_HEADER,
	OPT_BODY,
	OPT_AFTER_ID,
	OPT_LIMIT,
	OPT_RAW,
	OPT_ATTACHMENTS,
	OPT_COUNT,
	OPT_STAGE,
	OPT_MATCH,
	OPT_CODE,
	OPT_ENHANCED,
	OPT_MESSAGE,
	OPT_TIMES,
	OPT_DELAY_MS,
	OPT_DISCONNECT,
	OPT_SERVICE,
	OPT_AUTH_USER,
	OPT_RELAY_URL,
};

static const struct option all_opts[] = { { "help", no_argument, NULL, OPT_HELP },
	{ "json", no_argument, NULL, OPT_JSON }, { "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "addr", required_argument, NULL, OPT_ADDR },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "from", required_argument, NULL, OPT_FROM }, { "to", required_argument, NULL, OPT_TO },
	{ "subject", required_argument, NULL, OPT_SUBJECT },
	{ "header", required_argument, NULL, OPT_HEADER },
	{ "body", required_argument, NULL, OPT_BODY },
	{ "after-id", required_argument, NULL, OPT_AFTER_ID },
	{ "limit", required_argument, NULL, OPT_LIMIT }, { "raw", no_argument, NULL, OPT_RAW },
	{ "attachments", no_argument, NULL, OPT_ATTACHMENTS },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "stage", required_argument, NULL, OPT_STAGE },
	{ "match", required_argument, NULL, OPT_MATCH },
	{ "code", required_argument, NULL, OPT_CODE },
	{ "enhanced", required_argument, NULL, OPT_ENHANCED },
	{ "message", required_argument, NULL, OPT_MESSAGE },
	{ "times", required_argument, NULL, OPT_TIMES },
	{ "delay-ms", required_argument, NULL, OPT_DELAY_MS },
	{ "disconnect", no_argument, NULL, OPT_DISCONNECT },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "auth-user", required_argument, NULL, OPT_AUTH_USER },
	{ "relay-url", required_argument, NULL, OPT_RELAY_URL }, { NULL, 0, NULL, 0 } };

/* Everything the command line said; strings are borrowed from argv. */
struct ctl {
	const char		*addr;
	int			 json;
	int			 verbose;
	int64_t			 timeout_ms; /* -1: not given */
	Smtpsink__V1__Filter	 filter;
	char			*header_name; /* owned */
	uint32_t		 limit;
	int			 raw;
	int			 attachments;
	uint32_t		 count;
	int			 have_count;
	Smtpsink__V1__RejectRule rule;
	int			 have_stage, have_code, have_delay;
	const char		*service;
	struct ctl_client	*client;
	char			*to[CTL_RELEASE_TO_MAX]; /* release: every --to */
	size_t			 nto;
	int			 have_from;
	const char		*relay_url;
};

/*
 * The request of one unary call, on the stack; strings borrowed from argv.
 * Requests without fields (GetServerInfo, ListRejectRules) are just base.
 */
struct ctl_req {
	union {
		ProtobufCMessage		      base;
		Smtpsink__V1__ListMessagesRequest     list;
		Smtpsink__V1__GetMessageRequest	      get;
		Smtpsink__V1__WaitForMessagesRequest  wait;
		Smtpsink__V1__ClearRequest	      clear;
		Smtpsink__V1__RejectRule	      rule;
		Smtpsink__V1__DeleteRejectRuleRequest rules_delete;
		Grpc__Health__V1__HealthCheckRequest  health;
		Smtpsink__V1__ReleaseMessageRequest   release;
	} u;					/* initialised from cmd->req */
	Google__Protobuf__Duration timeout;	/* wait's u.wait.timeout */
	int64_t			   deadline_ms; /* of the call; -1: none */
};

struct cmd {
	const char			 *name;
	const char			 *opts; /* allowed options, besides the global ones */
	int				  min_args, max_args;
	const char			 *usage;
	/* A unary call: */
	const char			 *method;
	const ProtobufCMessageDescriptor *req, *resp;
	int64_t				  timeout_s; /* default deadline */
	/* Puts operands and options into r: 0 or an exit status. NULL: none. */
	int (*fill)(struct ctl *, int argc, char **argv, struct ctl_req *r);
	ctl_print_fn print; /* for people; --json has one for all */
	/* Exit status from the response, after printing; NULL: 0. */
	int (*verdict)(const ProtobufCMessage *);
	int fail_exit; /* exit status of a failed call; 0: by status */
	/* Or a command of its own: */
	int (*run)(struct ctl *, int, char **);
};

static int fill_list(struct ctl *, int, char **, struct ctl_req *);
static int fill_get(struct ctl *, int, char **, struct ctl_req *);
static int fill_wait(struct ctl *, int, char **, struct ctl_req *);
static int fill_clear(struct ctl *, int, char **, struct ctl_req *);
static int fill_rules_add(struct ctl *, int, char **, struct ctl_req *);
static int fill_rules_delete(struct ctl *, int, char **, struct ctl_req *);
static int fill_health(struct ctl *, int, char **, struct ctl_req *);
static int fill_release(struct ctl *, int, char **, struct ctl_req *);
static int release_verdict(const ProtobufCMessage *);
static int health_verdict(const ProtobufCMessage *);
static int cert_verdict(const ProtobufCMessage *);
static int cmd_watch(struct ctl *, int, char **);

#define FILTER_OPTS "from,to,subject,header,body,after-id,auth-user,"
#define FILTER_USAGE \
	"Filter flags (case-insensitive globs on the whole value: * ? [set];\n" \
	"'*text*' means contains; all given flags must match):\n" \
	"  --from GLOB          envelope sender (MAIL FROM, without <>)\n" \
	"  --to GLOB            any envelope recipient\n" \
	"  --subject GLOB       decoded Subject\n" \
	"  --header NAME=GLOB   one header whose name and value both match\n" \
	"  --body GLOB          decoded text or HTML body\n" \
	"  --after-id N         only messages with id > N\n" \
	"  --auth-user GLOB     the user the client authenticated as (SMTP AUTH)\n"

static const struct cmd cmds[] = {
	{ .name = "list",
	    .opts = FILTER_OPTS "limit,raw,",
	    .min_args = 0,
	    .max_args = 0,
	    .method = SVC "ListMessages",
	    .req = &smtpsink__v1__list_messages_request__descriptor,
	    .resp = &smtpsink__v1__list_messages_response__descriptor,
	    .timeout_s = CTL_TIMEOUT_S,
	    .fill = fill_list,
	    .print = ctl_text_messages,
	    .usage = "usage: smtpsinkctl list [filter flags] [--limit N] [--raw]\n"
		     "\n"
		     "Lists the stored messages matching the filter, oldest first, as a table\n"
		     "(id, received, from, to, subject, size). --limit N shows the oldest N\n"
		     "matches. --raw prints the raw messages instead, as an mbox (mboxrd:\n"
		     "\"From \" separator lines, \">From \" quoting). With --json the result is\n"
		     "{\"messages\":[...],\"last_id\":N,\"matched\":N} and --raw adds each\n"
		     "message's bytes, base64-encoded, as \"raw\".\n"
		     "\n" FILTER_USAGE },
	{ .name = "get",
	    .opts = "raw,attachments,",
	    .min_args = 1,
	    .max_args = 1,
	    .method = SVC "GetMessage",
	    .req = &smtpsink__v1__get_message_request__descriptor,
	    .resp = &smtpsink__v1__message__descriptor,
	    .timeout_s = CTL_TIMEOUT_S,
	    .fill = fill_get,
	    .print = ctl_text_message,
	    .usage = "usage: smtpsinkctl get ID [--raw] [--attachments]\n"
		     "\n"
		     "Shows one message: envelope, headers, text body, attachments.\n"
		     "  --raw          write the message bytes exactly as received to stdout\n"
		     "                 (with --json: base64 in \"raw\")\n"
		     "  --attachments  fetch attachment contents (base64 in --json output)\n"
		     "Exits 1 with NOT_FOUND if the message was never stored or is gone.\n" },
	{ .name = "wait",
	    .opts = FILTER_OPTS "count,raw,",
	    .min_args = 0,
	    .max_args = 0,
	    .method = SVC "WaitForMessages",
	    .req = &smtpsink__v1__wait_for_messages_request__descriptor,
	    .resp = &smtpsink__v1__list_messages_response__descriptor,
	    .timeout_s = CTL_WAIT_TIMEOUT_S,
	    .fill = fill_wait,
	    .print = ctl_text_messages,
	    .usage = "usage: smtpsinkctl wait [filter flags] [--count N] [--timeout DUR] [--raw]\n"
		     "\n"
		     "Waits until at least N (default " CTL_STR(
			 CTL_WAIT_COUNT) ") stored "
					 "messages match the filter, then\n"
					 "prints all of them like 'list' and exits 0. Messages "
					 "already stored count;\n"
					 "use --after-id to wait for newer ones only. The server "
					 "wakes the call as a\n"
					 "message is stored (no polling). --timeout "
					 "(default " CTL_STR(
					     CTL_WAIT_TIMEOUT_S) "s) bounds the wait;\n"
								 "on expiry it prints how many "
								 "matched and exits 3.\n"
								 "\n" FILTER_USAGE },
	{ .name = "watch",
	    .opts = FILTER_OPTS "count,raw,",
	    .min_args = 0,
	    .max_args = 0,
	    .run = cmd_watch,
	    .usage = "usage: smtpsinkctl watch [filter flags] [--after-id N] [--count N]\n"
		     "                         [--timeout DUR]\n"
		     "\n"
		     "Prints the matching stored messages with id > N (default 0: all), then\n"
		     "every new matching message as it arrives, one line each (one JSON object\n"
		     "per line with --json), until interrupted (SIGINT/SIGTERM: exit 130).\n"
		     "  --count N      stop after N messages\n"
		     "  --raw          print each message raw, as an mbox entry (see list)\n"
		     "  --timeout DUR  stop after DUR (exit 0; exit 3 if --count was not reached)\n"
		     "\n" FILTER_USAGE },
	{ .name = "clear",
	    .opts = FILTER_OPTS,
	    .min_args = 0,
	    .max_args = 0,
	    .method = SVC "Clear",
	    .req = &smtpsink__v1__clear_request__descriptor,
	    .resp = &smtpsink__v1__clear_response__descriptor,
	    .timeout_s = CTL_TIMEOUT_S,
	    .fill = fill_clear,
	    .print = ctl_text_cleared,
	    .usage = "usage: smtpsinkctl clear [filter flags]\n"
		     "\n"
		     "Deletes the stored messages matching the filter (no filter: all) and\n"
		     "prints how many were deleted.\n"
		     "\n" FILTER_USAGE },
	{ .name = "rules add",
	    .opts = "stage,match,code,enhanced,message,times,delay-ms,disconnect,",
	    .min_args = 0,
	    .max_args = 0,
	    .method = SVC "SetRejectRule",
	    .req = &smtpsink__v1__reject_rule__descriptor,
	    .resp = &smtpsink__v1__reject_rule__descriptor,
	    .timeout_s = CTL_TIMEOUT_S,
	    .fill = fill_rules_add,
	    .print = ctl_text_rule,
	    .usage = "usage: smtpsinkctl rules add --stage STAGE [--match GLOB] --code N\n"
		     "                             [--enhanced X.Y.Z] [--message TEXT] [--times "
		     "N]\n"
		     "                             [--delay-ms N] [--disconnect]\n"
		     "\n"
		     "Adds a reject / fault-injection rule and prints it with its id. The first\n"
		     "matching rule in creation order decides the reply.\n"
		     "  --stage STAGE    connect, helo, mail_from (mail), rcpt_to (rcpt), data, "
		     "auth\n"
		     "  --match GLOB     peer IP (connect), HELO name, sender, this recipient\n"
		     "                   (rcpt_to), any recipient (data) or the AUTH user name\n"
		     "                   (auth); empty = always\n"
		     "  --code N         4xx or 5xx reply code (0 with --delay-ms: only delay)\n"
		     "  --enhanced X.Y.Z enhanced status code (default derived from --code)\n"
		     "  --message TEXT   reply text\n"
		     "  --times N        fire at most N times (default 0 = until deleted)\n"
		     "  --delay-ms N     send the reply N ms late\n"
		     "  --disconnect     close the connection after the reply\n" },
	{ .name = "rules list",
	    .opts = "",
	    .min_args = 0,
	    .max_args = 0,
	    .method = SVC "ListRejectRules",
	    .req = &smtpsink__v1__list_reject_rules_request__descriptor,
	    .resp = &smtpsink__v1__list_reject_rules_response__descriptor,
	    .timeout_s = CTL_TIMEOUT_S,
	    .print = ctl_text_rules,
	    .usage = "usage: smtpsinkctl rules list\n"
		     "\n"
		     "Lists the reject rules in creation order with their hit counts.\n" },
	{ .name = "rules delete",
	    .opts = "",
	    .min_args = 0,
	    .max_args = 1,
	    .method = SVC "DeleteRejectRule",
	    .req = &smtpsink__v1__delete_reject_rule_request__descriptor,
	    .resp = &smtpsink__v1__delete_reject_rule_response__descriptor,
	    .timeout_s = CTL_TIMEOUT_S,
	    .fill = fill_rules_delete,
	    .print = ctl_text_rules_deleted,
	    .usage = "usage: smtpsinkctl rules delete [ID]\n"
		     "\n"
		     "Deletes the rule ID, or every rule when no ID is given.\n" },
	{ .name = "release",
	    .opts = "from,to,relay-url,",
	    .min_args = 1,
	    .max_args = 1,
	    .method = SVC "ReleaseMessage",
	    .req = &smtpsink__v1__release_message_request__descriptor,
	    .resp = &smtpsink__v1__relay_status__descriptor,
	    .timeout_s = CTL_RELEASE_TIMEOUT_S,
	    .fill = fill_release,
	    .print = ctl_text_relay_status,
	    .verdict = release_verdict,
	    .usage = "usage: smtpsinkctl release ID [--to ADDR ...] [--from ADDR] [--relay-url "
		     "URL]\n"
		     "\n"
		     "Forwards stored message ID to the upstream now and prints the outcome\n"
		     "(state, attempts, the upstream's replies). Exits 0 when the upstream\n"
		     "accepted it, 1 otherwise.\n"
		     "  --to ADDR       forward to ADDR instead of the message's recipients\n"
		     "                  (repeatable)\n"
		     "  --from ADDR     envelope sender instead of the message's (\"\" = <>)\n"
		     "  --relay-url URL smtp://[user:password@]host:port or smtps://...; default:\n"
		     "                  the server's --relay-url\n" },
	{ .name = "info",
	    .opts = "",
	    .min_args = 0,
	    .max_args = 0,
	    .method = SVC "GetServerInfo",
	    .req = &smtpsink__v1__get_server_info_request__descriptor,
	    .resp = &smtpsink__v1__server_info__descriptor,
	    .timeout_s = CTL_TIMEOUT_S,
	    .print = ctl_text_server_info,
	    .usage = "usage: smtpsinkctl info\n"
		     "\n"
		     "Shows the server's version, addresses, advertised SMTP extensions and\n"
		     "counters.\n" },
	{ .name = "cert",
	    .opts = "",
	    .min_args = 0,
	    .max_args = 0,
	    .method = SVC "GetServerInfo",
	    .req = &smtpsink__v1__get_server_info_request__descriptor,
	    .resp = &smtpsink__v1__server_info__descriptor,
	    .timeout_s = CTL_TIMEOUT_S,
	    .print = ctl_text_cert,
	    .verdict = cert_verdict,
	    .usage = "usage: smtpsinkctl cert > sink.pem\n"
		     "\n"
		     "Prints the certificate chain the server's STARTTLS and SMTPS listeners\n"
		     "serve, PEM, exactly as served: give it to a client as its only trust\n"
		     "anchor (e.g. curl --cacert sink.pem). Exits 1 when the server has no "
		     "TLS.\n" },
	{ .name = "health",
	    .opts = "service,",
	    .min_args = 0,
	    .max_args = 0,
	    .method = "/grpc.health.v1.Health/Check",
	    .req = &grpc__health__v1__health_check_request__descriptor,
	    .resp = &grpc__health__v1__health_check_response__descriptor,
	    .timeout_s = CTL_HEALTH_TIMEOUT_S,
	    .fill = fill_health,
	    .print = ctl_text_health,
	    .verdict = health_verdict,
	    .fail_exit = CTL_EXIT_UNAVAILABLE,
	    .usage = "usage: smtpsinkctl health [--service NAME] [--verbose]\n"
		     "\n"
		     "Standard gRPC health check (grpc.health.v1.Health/Check). Exits 0 if the\n"
		     "server is SERVING, 4 otherwise (not serving, unreachable, no answer within\n"
		     "--timeout, default " CTL_STR(
			 CTL_HEALTH_TIMEOUT_S) "s). Prints nothing on "
					       "success unless --verbose or\n"
					       "--json, so it fits a Docker HEALTHCHECK:\n"
					       "  HEALTHCHECK CMD [\"smtpsinkctl\", "
					       "\"health\"]\n" },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

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
    "  release ID [--to ADDR] [--from ADDR]        forward a message to the upstream now\n"
    "  info                                        server version and counters\n"
    "  cert                                        TLS certificate served (PEM)\n"
    "  health [--service NAME]                     exit 0 if SERVING\n"
    "  help COMMAND                                help on one command\n"
    "\n"
    "Global options (also accepted after the command):\n"
    "  --addr HOST:PORT  server address (default $" CTL_ENV_ADDR " or\n"
    "                    " CTL_DEFAULT_ADDR "; unix:/path also works)\n"
    "  --json, -j        one JSON object per result (uint64 as numbers,\n"
    "                    bytes as base64, times as RFC 3339 UTC)\n"
    "  --timeout DUR     RPC deadline (default " CTL_STR(CTL_TIMEOUT_S) "s; health " CTL_STR(
	CTL_HEALTH_TIMEOUT_S) "s; wait: how long\n"
			      "                    to wait, default " CTL_STR(
				  CTL_WAIT_TIMEOUT_S) "s; "
						      "watch: none); DUR is 500ms, 10s,\n"
						      "                    2m, 1h or plain "
						      "seconds\n"
						      "  --verbose, -v     more output (and gRPC's "
						      "own log lines)\n"
						      "  --help, -h        this text; COMMAND "
						      "--help for one command\n"
						      "  --version, -V     print the version\n"
						      "\n"
						      "Filter flags: --from --to --subject "
						      "--header NAME=GLOB --body --after-id N\n"
						      "(see 'smtpsinkctl help list').\n"
						      "\n"
						      "Exit status:\n"
						      "  0  success\n"
						      "  1  RPC error (the server's status is "
						      "printed as\n"
						      "     \"smtpsinkctl: STATUS_NAME: "
						      "details\"), or a bad response\n"
						      "  2  usage error\n"
						      "  3  deadline exceeded (wait: not enough "
						      "matching messages in time)\n"
						      "  4  server unreachable (UNAVAILABLE), or "
						      "health not SERVING\n"
						      "  130 interrupted (SIGINT/SIGTERM)\n";

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

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
	unsigned long long n;
	char		  *end;

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
		const char *name;
		int	    stage;
	} stages[] = {
		{ "connect", SMTPSINK__V1__STAGE__CONNECT },
		{ "helo", SMTPSINK__V1__STAGE__HELO },
		{ "ehlo", SMTPSINK__V1__STAGE__HELO },
		{ "mail_from", SMTPSINK__V1__STAGE__MAIL_FROM },
		{ "mail", SMTPSINK__V1__STAGE__MAIL_FROM },
		{ "rcpt_to", SMTPSINK__V1__STAGE__RCPT_TO },
		{ "rcpt", SMTPSINK__V1__STAGE__RCPT_TO },
		{ "data", SMTPSINK__V1__STAGE__DATA },
		{ "auth", SMTPSINK__V1__STAGE__AUTH },
	};
	char   buf[32];
	size_t i;

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

/* 1 if the long option id is in the comma-terminated list allowed. */
static int
opt_allowed(int id, const char *allowed)
{
	const struct option *o;
	const char	    *p;
	size_t		     n;

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
	const struct option *o;

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
	const char *cname = cmd != NULL ? cmd->name : NULL;
	const char *eq;
	uint64_t    v;
	int	    ch;

	optind = 0; /* glibc: full reinitialisation */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, cmd == NULL ? "+:hjvV" : ":hjvV", all_opts, NULL)) !=
	    -1) {
		if (ch == '?') {
			if (optopt != 0 && optopt < 256)
				return usage_error(cname, "unknown option -%c", optopt);
			return usage_error(cname, "unknown option %s", argv[optind - 1]);
		}
		if (ch == ':')
			return usage_error(cname, "option %s needs a value", argv[optind - 1]);
		if (ch >= OPT_FROM && (cmd == NULL || !opt_allowed(ch, cmd->opts)))
			return usage_error(cname, "option --%s is not valid %s%s", opt_name(ch),
			    cmd != NULL ? "for " :
					  "before the "
					  "command",
			    cmd != NULL ? cmd->name : "");
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
				return usage_error(cname,
				    "bad --timeout \"%s\" "
				    "(examples: 500ms, 10s, 2m)",
				    optarg);
			break;
		case OPT_FROM:
			c->filter.mail_from = optarg;
			c->have_from = 1;
			break;
		case OPT_TO:
			c->filter.rcpt_to = optarg;
			if (c->nto == CTL_RELEASE_TO_MAX)
				return usage_error(cname, "at most %d --to", CTL_RELEASE_TO_MAX);
			c->to[c->nto++] = optarg;
			break;
		case OPT_RELAY_URL:
			c->relay_url = optarg;
			break;
		case OPT_SUBJECT:
			c->filter.subject = optarg;
			break;
		case OPT_BODY:
			c->filter.body = optarg;
			break;
		case OPT_AUTH_USER:
			c->filter.auth_user = optarg;
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
				return usage_error(cname,
				    "--header needs "
				    "NAME=GLOB");
			c->filter.header_name = c->header_name;
			break;
		case OPT_AFTER_ID:
			if (parse_u64(optarg, UINT64_MAX, &v) == -1)
				return usage_error(cname, "bad --after-id \"%s\"", optarg);
			c->filter.after_id = v;
			break;
		case OPT_LIMIT:
			if (parse_u64(optarg, UINT32_MAX, &v) == -1)
				return usage_error(cname, "bad --limit \"%s\"", optarg);
			c->limit = v;
			break;
		case OPT_COUNT:
			if (parse_u64(optarg, UINT32_MAX, &v) == -1 || v == 0)
				return usage_error(cname,
				    "bad --count \"%s\" "
				    "(a number >= 1)",
				    optarg);
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
				return usage_error(cname,
				    "bad --stage \"%s\" "
				    "(connect, helo, mail_from, rcpt_to, data, auth)",
				    optarg);
			c->have_stage = 1;
			break;
		case OPT_MATCH:
			c->rule.match = optarg;
			break;
		case OPT_CODE:
			if (parse_u64(optarg, 999, &v) == -1)
				return usage_error(cname, "bad --code \"%s\"", optarg);
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
				return usage_error(cname, "bad --times \"%s\"", optarg);
			c->rule.times = v;
			break;
		case OPT_DELAY_MS:
			if (parse_u64(optarg, UINT32_MAX, &v) == -1)
				return usage_error(cname, "bad --delay-ms \"%s\"", optarg);
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
rpc_failed(const struct ctl *c, const struct ctl_client_status *st)
{
	if (st->interrupted) {
		fputs("smtpsinkctl: interrupted\n", stderr);
		return CTL_EXIT_INTERRUPTED;
	}
	/* The details may quote what the client sent: no raw controls. */
	fprintf(stderr, "smtpsinkctl: %s: ", ctl_client_status_name(st->code));
	ctl_put_text(stderr,
	    st->details != NULL && *st->details != '\0' ? st->details : "(no details)", 0, 0, 0);
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

/*
 * jansson's output to stdout with DEL escaped too (as json.c does, and as
 * this tool always did): a raw 0x7f can only be inside a string there.
 */
static int
ctl_json_put(const char *buf, size_t len, void *arg)
{
	const char *del;
	size_t	    n;

	while (len > 0) {
		n = (del = memchr(buf, 0x7f, len)) != NULL ? (size_t)(del - buf) : len;
		fwrite(buf, 1, n, stdout);
		if (del != NULL) {
			fputs("\\u007f", stdout);
			n++;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * --json: m as one line on stdout, through the HTTP API's encoder with the
 * output this tool documents (proto field names, every field, 64-bit
 * integers as numbers); UTF-8 as is, controls escaped. Write errors show
 * in ferror(stdout), which finish_output() checks.
 */
static void
ctl_json(const ProtobufCMessage *m)
{
	json_t *j = http_json_encode(m, HTTP_JSON_CTL);

	json_dump_callback(j, ctl_json_put, NULL, JSON_COMPACT);
	json_decref(j);
	putchar('\n');
}

/* Flushes stdout; reports a write error (except EPIPE) as exit status 1. */
static int
finish_output(int rc)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "smtpsinkctl: stdout: %s\n", strerror(errno));
		return CTL_EXIT_RPC;
	}
	return rc;
}

static int64_t
call_timeout(const struct ctl *c, int64_t def)
{
	return c->timeout_ms >= 0 ? c->timeout_ms : def;
}

/*
 * Runs the unary call of cmd: builds the request, calls, prints the
 * response (JSON, or cmd->print) and returns the exit status; a failed call
 * is reported on stderr.
 */
static int
run_unary(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
	struct ctl_req		 r;
	struct ctl_client_status st;
	ProtobufCMessage	*resp;
	int			 rc;

	if (cmd->req->sizeof_message > sizeof(r.u))
		abort(); /* a row whose request is not in union ctl_req */
	memset(&r, 0, sizeof(r));
	protobuf_c_message_init(cmd->req, &r.u);
	r.deadline_ms = call_timeout(c, cmd->timeout_s * 1000);
	if (cmd->fill != NULL && (rc = cmd->fill(c, argc, argv, &r)) != 0)
		return rc;
	if (ctl_client_unary(c->client, cmd->method, &r.u.base, cmd->resp, &resp, r.deadline_ms,
		&st) != 0) {
		rc = rpc_failed(c, &st);
		ctl_client_status_clear(&st);
		if (cmd->fail_exit != 0 && rc != CTL_EXIT_INTERRUPTED)
			rc = cmd->fail_exit;
		return rc;
	}
	ctl_client_status_clear(&st);
	if (c->json)
		ctl_json(resp);
	else
		cmd->print(resp,
		    (c->raw ? CTL_PRINT_RAW : 0) | (c->verbose ? CTL_PRINT_VERBOSE : 0));
	rc = cmd->verdict != NULL ? cmd->verdict(resp) : CTL_EXIT_OK;
	protobuf_c_message_free_unpacked(resp, NULL);
	return finish_output(rc);
}

static int
fill_list(struct ctl *c, int argc, char **argv, struct ctl_req *r)
{
	r->u.list.filter = &c->filter;
	r->u.list.limit = c->limit;
	r->u.list.include_raw = c->raw;
	return 0;
}

static int
fill_get(struct ctl *c, int argc, char **argv, struct ctl_req *r)
{
	uint64_t id;

	if (parse_u64(argv[0], UINT64_MAX, &id) == -1)
		return usage_error("get", "bad message id \"%s\"", argv[0]);
	r->u.get.id = id;
	r->u.get.include_raw = c->raw;
	r->u.get.include_attachments = c->attachments;
	return 0;
}

static int
fill_release(struct ctl *c, int argc, char **argv, struct ctl_req *r)
{
	uint64_t id;

	if (parse_u64(argv[0], UINT64_MAX, &id) == -1)
		return usage_error("release", "bad message id \"%s\"", argv[0]);
	r->u.release.id = id;
	r->u.release.relay_url = (char *)(c->relay_url != NULL ? c->relay_url : "");
	r->u.release.n_rcpt_to = c->nto;
	r->u.release.rcpt_to = c->nto > 0 ? c->to : NULL;
	r->u.release.override_mail_from = c->have_from;
	r->u.release.mail_from = (char *)(c->have_from ? c->filter.mail_from : "");
	return 0;
}

static int
release_verdict(const ProtobufCMessage *pm)
{
	const Smtpsink__V1__RelayStatus *st = (const Smtpsink__V1__RelayStatus *)pm;

	return st->state == SMTPSINK__V1__RELAY_STATE__RELAY_STATE_RELAYED ? CTL_EXIT_OK :
									     CTL_EXIT_RPC;
}

/* The wait is the request's timeout; the call's deadline leaves some slack. */
static int
fill_wait(struct ctl *c, int argc, char **argv, struct ctl_req *r)
{
	google__protobuf__duration__init(&r->timeout);
	r->timeout.seconds = r->deadline_ms / 1000;
	r->timeout.nanos = (r->deadline_ms % 1000) * 1000000;
	r->u.wait.filter = &c->filter;
	r->u.wait.count = c->have_count ? c->count : CTL_WAIT_COUNT;
	r->u.wait.timeout = &r->timeout;
	r->u.wait.include_raw = c->raw;
	r->deadline_ms += CTL_WAIT_SLACK_MS;
	return 0;
}

static int
fill_clear(struct ctl *c, int argc, char **argv, struct ctl_req *r)
{
	r->u.clear.filter = &c->filter;
	return 0;
}

/* The rule was built by the options. */
static int
fill_rules_add(struct ctl *c, int argc, char **argv, struct ctl_req *r)
{
	if (!c->have_stage)
		return usage_error("rules add", "--stage is required");
	if (!c->have_code && !c->have_delay)
		return usage_error("rules add",
		    "--code is required (or "
		    "--delay-ms for a delay only)");
	r->u.rule = c->rule;
	return 0;
}

static int
fill_rules_delete(struct ctl *c, int argc, char **argv, struct ctl_req *r)
{
	if (argc > 0) {
		if (*argv[0] == '\0')
			return usage_error("rules delete", "empty rule id");
		r->u.rules_delete.id = argv[0];
	}
	return 0;
}

static int
fill_health(struct ctl *c, int argc, char **argv, struct ctl_req *r)
{
	if (c->service != NULL)
		r->u.health.service = (char *)c->service;
	return 0;
}

/* 0 if the server serves TLS (its PEM was printed); else says so, exit 1. */
static int
cert_verdict(const ProtobufCMessage *pm)
{
	const Smtpsink__V1__ServerInfo *si = (const Smtpsink__V1__ServerInfo *)pm;

	if (si->tls_certificate_pem != NULL && *si->tls_certificate_pem != '\0')
		return CTL_EXIT_OK;
	fprintf(stderr,
	    "smtpsinkctl: cert: the server serves no TLS "
	    "(start it with --starttls or --smtps-listen)\n");
	return CTL_EXIT_RPC;
}

/* 0 if SERVING; else says the status on stderr and exits 4. */
static int
health_verdict(const ProtobufCMessage *pm)
{
	const Grpc__Health__V1__HealthCheckResponse
	    *r = (const Grpc__Health__V1__HealthCheckResponse *)pm;

	if (r->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
		return CTL_EXIT_OK;
	fprintf(stderr, "smtpsinkctl: health: %s\n", ctl_health_name(r->status));
	return CTL_EXIT_UNAVAILABLE;
}

struct watch_state {
	const struct ctl *c;
	uint64_t	  seen;
	int		  write_error;
};

/* One line per message (or one JSON object, or an mbox entry). */
static int
watch_cb(const ProtobufCMessage *m, void *arg)
{
	struct watch_state *ws = arg;

	if (ws->c->json)
		ctl_json(m);
	else
		ctl_text_message_line(m, ws->c->raw ? CTL_PRINT_RAW : 0);
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
	Smtpsink__V1__WatchMessagesRequest req = SMTPSINK__V1__WATCH_MESSAGES_REQUEST__INIT;
	struct watch_state		   ws;
	struct ctl_client_status	   st;
	int				   rc = 0;

	memset(&ws, 0, sizeof(ws));
	ws.c = c;
	req.filter = &c->filter;
	req.after_id = c->filter.after_id;
	req.include_raw = c->raw;
	ctl_client_stream(c->client, SVC "WatchMessages", &req.base,
	    &smtpsink__v1__message__descriptor, watch_cb, &ws, c->timeout_ms, &st);
	if (ws.write_error)
		rc = finish_output(CTL_EXIT_RPC);
	else if (st.interrupted)
		rc = rpc_failed(c, &st); /* Ctrl-C ends a watch: 130, as a shell expects */
	else if (st.stopped)
		rc = 0;
	else if (st.deadline && c->timeout_ms >= 0 && !c->have_count)
		rc = 0;
	else if (st.code != 0)
		rc = rpc_failed(c, &st);
	ctl_client_status_clear(&st);
	return rc != 0 ? rc : finish_output(0);
}

/* gRPC's own log lines, with --verbose only. */
static void
ctl_grpc_log(gpr_log_func_args *a)
{
	if (ctl_verbose)
		fprintf(stderr, "smtpsinkctl: grpc: %s\n", a->message);
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
	char   name[64];
	size_t i;

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
	struct ctl	  c;
	struct sigaction  sa;
	const struct cmd *cmd;
	const char	 *env;
	int		  rc, used, nargs;

	memset(&c, 0, sizeof(c));
	smtpsink__v1__filter__init(&c.filter);
	smtpsink__v1__reject_rule__init(&c.rule);
	c.timeout_ms = -1;
	c.addr = (env = getenv(CTL_ENV_ADDR)) != NULL && *env != '\0' ? env : CTL_DEFAULT_ADDR;

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

	ctl_verbose = c.verbose;
	gpr_set_log_function(ctl_grpc_log);
	if (!c.verbose)
		gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);
	c.client = ctl_client_new(c.addr, "smtpsinkctl/" SMTPSINK_VERSION, &ctl_interrupted);
	if (cmd->run != NULL)
		rc = cmd->run(&c, nargs, argv + optind);
	else
		rc = run_unary(&c, cmd, nargs, argv + optind);
	ctl_client_free(c.client);
out:
	free(c.header_name);
	return rc;
}
