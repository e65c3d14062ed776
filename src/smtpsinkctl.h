/*
 * smtpsinkctl - private interface between the files of the command-line
 * client: smtpsinkctl.c (options, the command table, running the calls
 * through ctl_client.c, --json output through http_json.c's encoder) and
 * smtpsinkctl_text.c (output for people).
 *
 * Printers write one response to stdout and never keep a pointer into it;
 * the response stays the caller's.
 */
#ifndef SMTPSINK_SMTPSINKCTL_H
#define SMTPSINK_SMTPSINKCTL_H
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

/* Exit statuses (documented in the usage text). */
#define CTL_RELEASE_TO_MAX    64 /* --to of release */
#define CTL_RELEASE_TIMEOUT_S 60 /* release's default deadline */
#define CTL_EXIT_OK	      0
#define CTL_EXIT_RPC	      1	  /* gRPC status error, bad response */
#define CTL_EXIT_USAGE	      2	  /* bad command line */
#define CTL_EXIT_DEADLINE     3	  /* DEADLINE_EXCEEDED (wait not satisfied) */
#define CTL_EXIT_UNAVAILABLE  4	  /* unreachable, or health not SERVING */
#define CTL_EXIT_INTERRUPTED  130 /* SIGINT/SIGTERM (not for watch) */

/* Printer flags, from the command line. */
#define CTL_PRINT_RAW	      0x01 /* --raw: messages as mbox, or bytes */
#define CTL_PRINT_VERBOSE     0x02 /* --verbose */

/* Prints one response (of the type the printer is named after) for people. */
typedef void (*ctl_print_fn)(const ProtobufCMessage *, int flags);

/*
 * Text printers (smtpsinkctl_text.c), one per response type:
 * messages     ListMessagesResponse: aligned table, or mbox with RAW
 * message      Message: envelope, headers, body..., or its raw bytes
 * message_line Message: one line (watch), or an mbox entry with RAW
 * cleared      ClearResponse: "deleted N messages"
 * rule, rules  RejectRule, ListRejectRulesResponse: rules table
 * rules_deleted DeleteRejectRuleResponse: "deleted N rules"
 * server_info  ServerInfo: version, addresses, extensions, counters
 * health       HealthCheckResponse: the status name, only with VERBOSE
 */
void	    ctl_text_messages(const ProtobufCMessage *, int);
void	    ctl_text_message(const ProtobufCMessage *, int);
void	    ctl_text_message_line(const ProtobufCMessage *, int);
void	    ctl_text_cleared(const ProtobufCMessage *, int);
void	    ctl_text_relay_status(const ProtobufCMessage *, int);
void	    ctl_text_rule(const ProtobufCMessage *, int);
void	    ctl_text_rules(const ProtobufCMessage *, int);
void	    ctl_text_rules_deleted(const ProtobufCMessage *, int);
void	    ctl_text_server_info(const ProtobufCMessage *, int);
/* ServerInfo: its tls_certificate_pem as is (nothing without TLS) */
void	    ctl_text_cert(const ProtobufCMessage *, int);
void	    ctl_text_health(const ProtobufCMessage *, int);
/* "SERVING" etc. for a HealthCheckResponse status; "UNKNOWN" if none. */
const char *ctl_health_name(int status);

/*
 * s with C0 controls, DEL and invalid UTF-8 replaced by '?' (newline and
 * tab kept when keep_nl), cut to at most width code points ("..." marks a
 * cut; width 0 = no limit), padded with spaces to pad code points. Returns
 * the number of code points written.
 */
size_t ctl_put_text(FILE *, const char *s, size_t width, size_t pad, int keep_nl);
/* Code points of s as ctl_put_text would print them before cutting. */
size_t ctl_text_width(const char *s);

#endif
