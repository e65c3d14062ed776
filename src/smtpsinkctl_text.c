/*
 * smtpsinkctl_text - the output for people: one printer per response type
 * (ctl_print_fn, chosen by the command table in smtpsinkctl.c), all on
 * stdout. Mail content is hostile: every string from the server goes
 * through ctl_put_text(), so no terminal escape reaches the screen.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/health/v1/health.pb-c.h"
#include "smtpsink/v1/smtpsink.pb-c.h"
#include "http_json.h"
#include "json.h"
#include "smtpsinkctl.h"
#include "xmalloc.h"

size_t
ctl_text_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t		     len = strlen(s), i = 0, n, w = 0;

	while (i < len) {
		n = json_utf8_len(p + i, len - i);
		i += n == 0 ? 1 : n;
		w++;
	}
	return w;
}

size_t
ctl_put_text(FILE *f, const char *s, size_t width, size_t pad, int keep_nl)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t		     len = strlen(s), i = 0, n, w = 0, limit;
	int		     cut;

	cut = width > 0 && ctl_text_width(s) > width;
	limit = cut ? (width > 3 ? width - 3 : 0) : (size_t)-1;
	while (i < len && w < limit) {
		if (keep_nl && p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
			i++; /* CRLF shows as a newline */
			continue;
		}
		n = json_utf8_len(p + i, len - i);
		if (n == 0 || (p[i] < 0x20 && !(keep_nl && (p[i] == '\n' || p[i] == '\t'))) ||
		    p[i] == 0x7f) {
			putc('?', f);
			i += n == 0 ? 1 : n;
		} else {
			fwrite(p + i, 1, n, f);
			i += n;
		}
		w++;
	}
	if (cut) {
		fputs(width > 3 ? "..." : "", f);
		w += width > 3 ? 3 : 0;
	}
	for (; w < pad; w++)
		putc(' ', f);
	return w;
}

static const char *
stage_name(int stage)
{
	const ProtobufCEnumValue *ev;

	ev = protobuf_c_enum_descriptor_get_value(&smtpsink__v1__stage__descriptor, stage);
	return ev != NULL ? ev->name : "?";
}

static void
put_time(FILE *f, const Google__Protobuf__Timestamp *t, size_t pad)
{
	char buf[64] = "-";

	if (t != NULL)
		http_json_time(buf, sizeof(buf), t->seconds, 0);
	ctl_put_text(f, buf, 0, pad, 0);
}

/* rcpt_to joined by ", " (malloc'd). */
static char *
join(char **v, size_t n, const char *sep)
{
	char  *s, *p;
	size_t len = 1, i;

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

#define W_FROM	  32
#define W_TO	  32
#define W_SUBJECT 50

/* The aligned table of list and wait. */
static void
print_table(const Smtpsink__V1__ListMessagesResponse *r)
{
	const Smtpsink__V1__Message *m;
	char			     buf[32], **to;
	size_t			     i, w_id = 2, w_from = 4, w_to = 2;
	size_t			     w_subj = 7, w_size = 4, w;

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
		if ((w = snprintf(buf, sizeof(buf), "%" PRIu64, m->size)) > w_size)
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
		       "last id %" PRIu64 ")\n",
		    r->n_messages, r->matched, r->last_id);
}

/* One raw message as an mboxrd entry: "From " line, ">From " quoting. */
static void
print_mbox_entry(const Smtpsink__V1__Message *m)
{
	const uint8_t *p, *end, *nl;
	char	       buf[64];
	struct tm      tm;
	time_t	       t;
	size_t	       n, q;

	t = m->received_at != NULL ? (time_t)m->received_at->seconds : 0;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		snprintf(buf, sizeof(buf), "Thu Jan  1 00:00:00 1970");
	fputs("From ", stdout);
	ctl_put_text(stdout, *m->mail_from == '\0' ? "MAILER-DAEMON" : m->mail_from, 0, 0, 0);
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
	char *s;

	if (n == 0)
		return;
	s = join(v, n, ", ");
	print_field(label, s);
	free(s);
}

static void
print_params(Smtpsink__V1__Param **p, size_t n)
{
	size_t i;

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
	const Smtpsink__V1__Attachment *a;
	char				buf[64];
	size_t				i;

	printf("%-13s%" PRIu64 "\n", "ID:", m->id);
	if (m->received_at != NULL) {
		http_json_time(buf, sizeof(buf), m->received_at->seconds, m->received_at->nanos);
		print_field("Received:", buf);
	}
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
			print_params(m->rcpt_params[i]->params, m->rcpt_params[i]->n_params);
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
	if (m->tls)
		printf("%-13s%s %s\n", "TLS:", m->tls_version, m->tls_cipher);
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
			ctl_put_text(stdout, *a->filename != '\0' ? a->filename : "(no name)", 0, 0,
			    0);
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

static void
print_rules(Smtpsink__V1__RejectRule **rules, size_t n)
{
	const Smtpsink__V1__RejectRule *r;
	size_t				i, w_id = 2, w_match = 5, w;

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
		ctl_put_text(stdout, *r->match != '\0' ? r->match : "*", w_match, w_match + 2, 0);
		printf("%4" PRIu32 "  ", r->code);
		ctl_put_text(stdout, *r->enhanced_code != '\0' ? r->enhanced_code : "-", 8, 10, 0);
		printf("%5" PRIu32 "  %8" PRIu32 "  %-4s  %4" PRIu64 "  ", r->times, r->delay_ms,
		    r->disconnect ? "yes" : "no", r->hits);
		ctl_put_text(stdout, r->message, 0, 0, 0);
		putchar('\n');
	}
}

void
ctl_text_messages(const ProtobufCMessage *pm, int flags)
{
	const Smtpsink__V1__ListMessagesResponse *r = (const Smtpsink__V1__ListMessagesResponse *)
	    pm;
	size_t i;

	if (flags & CTL_PRINT_RAW) {
		for (i = 0; i < r->n_messages; i++)
			print_mbox_entry(r->messages[i]);
	} else
		print_table(r);
}

void
ctl_text_message(const ProtobufCMessage *pm, int flags)
{
	const Smtpsink__V1__Message *m = (const Smtpsink__V1__Message *)pm;

	if (flags & CTL_PRINT_RAW)
		fwrite(m->raw.data, 1, m->raw.len, stdout);
	else
		print_message(m);
}

void
ctl_text_message_line(const ProtobufCMessage *pm, int flags)
{
	const Smtpsink__V1__Message *m = (const Smtpsink__V1__Message *)pm;
	char			    *to;

	if (flags & CTL_PRINT_RAW) {
		print_mbox_entry(m);
		return;
	}
	to = join(m->rcpt_to, m->n_rcpt_to, ",");
	printf("%" PRIu64 "  ", m->id);
	put_time(stdout, m->received_at, 0);
	fputs("  ", stdout);
	ctl_put_text(stdout, sender(m), 0, 0, 0);
	fputs("  ", stdout);
	ctl_put_text(stdout, to, 0, 0, 0);
	printf("  %" PRIu64 "  ", m->size);
	ctl_put_text(stdout, m->subject, 0, 0, 0);
	putchar('\n');
	free(to);
}

/* "deleted 1 message", "deleted 2 rules" */
static void
print_deleted(uint64_t n, const char *what)
{
	printf("deleted %" PRIu64 " %s%s\n", n, what, n == 1 ? "" : "s");
}

void
ctl_text_cleared(const ProtobufCMessage *pm, int flags)
{
	const Smtpsink__V1__ClearResponse *r = (const Smtpsink__V1__ClearResponse *)pm;

	print_deleted(r->deleted, "message");
}

void
ctl_text_relay_status(const ProtobufCMessage *pm, int flags)
{
	const Smtpsink__V1__RelayStatus *st = (const Smtpsink__V1__RelayStatus *)pm;
	static const char *const	 names[] = { "NONE", "PENDING", "RELAYED", "FAILED" };
	size_t				 i;

	printf("state: %s\nattempts: %u\nupstream: %s\nlast reply: %s\n",
	    (unsigned)st->state < 4 ? names[st->state] : "?", st->attempts, st->upstream,
	    st->last_reply);
	for (i = 0; i < st->n_rcpt_to; i++)
		printf("rcpt: %s\n", st->rcpt_to[i]);
	for (i = 0; i < st->n_replies; i++)
		printf("  %s -> %u %s\n", st->replies[i]->command, st->replies[i]->code,
		    st->replies[i]->text);
}

void
ctl_text_rule(const ProtobufCMessage *pm, int flags)
{
	Smtpsink__V1__RejectRule *r = (Smtpsink__V1__RejectRule *)pm;

	print_rules(&r, 1);
}

void
ctl_text_rules(const ProtobufCMessage *pm, int flags)
{
	const Smtpsink__V1__ListRejectRulesResponse
	    *r = (const Smtpsink__V1__ListRejectRulesResponse *)pm;

	print_rules(r->rules, r->n_rules);
}

void
ctl_text_rules_deleted(const ProtobufCMessage *pm, int flags)
{
	const Smtpsink__V1__DeleteRejectRuleResponse
	    *r = (const Smtpsink__V1__DeleteRejectRuleResponse *)pm;

	print_deleted(r->deleted, "rule");
}

/* "auth:  PLAIN, LOGIN, ... (2 users, required, allowed outside TLS)" */
static void
print_server_auth(const Smtpsink__V1__ServerInfo *si)
{
	char how[128];

	if (si->n_auth_mechanisms == 0)
		return;
	print_list_field("auth:", si->auth_mechanisms, si->n_auth_mechanisms);
	if (si->auth_users > 0)
		snprintf(how, sizeof(how), "%" PRIu32 " users listed", si->auth_users);
	else
		snprintf(how, sizeof(how), "any credentials");
	printf("%-13s%s%s%s\n", "", how, si->require_auth ? ", required for MAIL" : "",
	    si->auth_allow_insecure ? ", allowed outside TLS" : "");
}

void
ctl_text_server_info(const ProtobufCMessage *pm, int flags)
{
	const Smtpsink__V1__ServerInfo *si = (const Smtpsink__V1__ServerInfo *)pm;
	const Smtpsink__V1__Counters   *k;

	print_field("version:", si->version);
	print_list_field("smtp:", si->smtp_addresses, si->n_smtp_addresses);
	print_list_field("smtps:", si->smtps_addresses, si->n_smtps_addresses);
	print_field("grpc:", si->grpc_address);
	if (si->max_message_size != 0)
		printf("%-13s%" PRIu64 " bytes (SMTP)\n", "max size:", si->max_message_size);
	if (si->grpc_max_message_size != 0)
		printf("%-13s%" PRIu64 " bytes (gRPC)\n", "", si->grpc_max_message_size);
	print_list_field("extensions:", si->extensions, si->n_extensions);
	print_server_auth(si);
	if ((k = si->counters) != NULL) {
		printf("%-13s%" PRIu64 " total, %" PRIu64 " active\n",
		    "sessions:", k->sessions_total, k->sessions_active);
		printf("%-13s%" PRIu64 " received, %" PRIu64 " rejected, %" PRIu64
		       " evicted, %" PRIu64 " recipients rejected\n",
		    "messages:", k->messages_received, k->messages_rejected, k->messages_evicted,
		    k->rcpts_rejected);
		printf("%-13s%" PRIu64 " messages, %" PRIu64 " bytes\n",
		    "stored:", k->stored_messages, k->stored_bytes);
		printf("%-13s%" PRIu64 " bytes\n", "received:", k->bytes_received);
		printf("%-13s%" PRIu64 "\n", "last id:", k->last_id);
		printf("%-13s%" PRIu64 " in progress, %" PRIu64 " waiting\n",
		    "grpc calls:", k->grpc_calls, k->waiters);
	}
}

void
ctl_text_cert(const ProtobufCMessage *pm, int flags)
{
	const Smtpsink__V1__ServerInfo *si = (const Smtpsink__V1__ServerInfo *)pm;

	if (si->tls_certificate_pem != NULL)
		fputs(si->tls_certificate_pem, stdout);
}

const char *
ctl_health_name(int status)
{
	const ProtobufCEnumValue *ev;

	ev = protobuf_c_enum_descriptor_get_value(
	    &grpc__health__v1__health_check_response__serving_status__descriptor, status);
	return ev != NULL ? ev->name : "UNKNOWN";
}

void
ctl_text_health(const ProtobufCMessage *pm, int flags)
{
	const Grpc__Health__V1__HealthCheckResponse
	    *r = (const Grpc__Health__V1__HealthCheckResponse *)pm;

	if (flags & CTL_PRINT_VERBOSE)
		printf("%s\n", ctl_health_name(r->status));
}
