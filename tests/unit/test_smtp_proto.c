/*
 * test_smtp_proto - the pure ESMTP helpers, table-driven:
 * verb split, <path>, MAIL/RCPT arguments, ESMTP parameters, reply
 * formatting, and the DATA/BDAT scanner (dot-unstuffing, end of data,
 * smuggling attempts, anomalies, line limit, size latch) fed at every split.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "message.h"
#include "smtp_proto.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
check_str(const char *name, const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("%s: %s: got \"%s\", want \"%s\"", name, what, got, want);
}

static void
check_int(const char *name, const char *what, long long got, long long want)
{
	if (got != want)
		fail_msg("%s: %s: got %lld, want %lld", name, what, got, want);
}

/* ----- split ----- */

static void
test_smtp_proto_split(void **state)
{
	static const struct {
		const char *name, *in, *verb, *args;
	} cases[] = {
		{ "verb only", "QUIT", "QUIT", "" },
		{ "verb and args", "EHLO client.example", "EHLO", "client.example" },
		{ "several spaces", "MAIL   FROM:<a@b>", "MAIL", "FROM:<a@b>" },
		{ "trailing blanks", "NOOP  \t ", "NOOP", "" },
		{ "args keep inner spaces", "HELO a b  c ", "HELO", "a b  c" },
		{ "empty", "", "", "" },
		{ "lower case kept", "ehlo x", "ehlo", "x" },
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		char line[128], *verb, *args;

		snprintf(line, sizeof(line), "%s", cases[i].in);
		smtp_proto_split(line, &verb, &args);
		check_str(cases[i].name, "verb", verb, cases[i].verb);
		check_str(cases[i].name, "args", args, cases[i].args);
	}
}

/* ----- path ----- */

static void
test_smtp_proto_parse_path(void **state)
{
	static const struct {
		const char *name, *in;
		int	    rc;
		const char *addr, *rest;
		unsigned    flags;
	} cases[] = {
		{ "simple", "<a@b.example>", 0, "a@b.example", "", 0 },
		{ "rest kept", "<a@b> SIZE=10", 0, "a@b", " SIZE=10", 0 },
		{ "null sender", "<>", 0, "", "", SMTP_PROTO_PATH_NULL },
		{ "null sender rest", "<> BODY=8BITMIME", 0, "", " BODY=8BITMIME",
		    SMTP_PROTO_PATH_NULL },
		{ "source route dropped", "<@relay.example,@r2.example:u@d.example>", 0,
		    "u@d.example", "", SMTP_PROTO_PATH_ROUTE },
		{ "single route", "<@r.example:u@d.example>", 0, "u@d.example", "",
		    SMTP_PROTO_PATH_ROUTE },
		{ "quoted local part", "<\"john doe\"@d.example>", 0, "\"john doe\"@d.example", "",
		    0 },
		{ "quoted pair", "<\"a\\\"b\"@d>", 0, "\"a\\\"b\"@d", "", 0 },
		{ "quoted with >", "<\"a>b\"@d>", 0, "\"a>b\"@d", "", 0 },
		{ "address literal", "<u@[192.0.2.1]>", 0, "u@[192.0.2.1]", "", 0 },
		{ "ipv6 literal", "<u@[IPv6:2001:db8::1]>", 0, "u@[IPv6:2001:db8::1]", "", 0 },
		{ "atext specials", "<a+b.c!#$%&'*/=?^_`{|}~-@x.example>", 0,
		    "a+b.c!#$%&'*/=?^_`{|}~-@x.example", "", 0 },
		{ "utf8 local",
		    "<\xc3\xa9l\xc3\xa8"
		    "ve@\xc3\xa9"
		    "cole.example>",
		    0,
		    "\xc3\xa9l\xc3\xa8"
		    "ve@\xc3\xa9"
		    "cole.example",
		    "", SMTP_PROTO_PATH_8BIT },
		{ "utf8 domain only", "<a@b\xc3\xbc.example>", 0, "a@b\xc3\xbc.example", "",
		    SMTP_PROTO_PATH_8BIT },
		{ "postmaster", "<Postmaster>", 0, "Postmaster", "", SMTP_PROTO_PATH_NODOMAIN },
		{ "no brackets", "a@b", -1, NULL, NULL, 0 },
		{ "unterminated", "<a@b", -1, NULL, NULL, 0 },
		{ "empty domain", "<a@>", -1, NULL, NULL, 0 },
		{ "empty local", "<@b>", -1, NULL, NULL, 0 },
		{ "space inside", "<a b@c>", -1, NULL, NULL, 0 },
		{ "double at", "<a@b@c>", -1, NULL, NULL, 0 },
		{ "bad route", "<@r.example u@d>", -1, NULL, NULL, 0 },
		{ "unterminated quote", "<\"abc@d>", -1, NULL, NULL, 0 },
		{ "control in quote", "<\"a\tb\"@d>", -1, NULL, NULL, 0 },
		{ "empty literal", "<a@[]>", -1, NULL, NULL, 0 },
		{ "empty label", "<a@b..c>", -1, NULL, NULL, 0 },
		{ "trailing dot domain", "<a@b.>", -1, NULL, NULL, 0 },
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		char	 buf[256], *addr = NULL, *rest = NULL;
		unsigned flags = 0;
		int	 rc;

		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		rc = smtp_proto_parse_path(buf, &addr, &rest, &flags);
		check_int(cases[i].name, "rc", rc, cases[i].rc);
		if (rc != 0)
			continue;
		check_str(cases[i].name, "addr", addr, cases[i].addr);
		check_str(cases[i].name, "rest", rest, cases[i].rest);
		check_int(cases[i].name, "flags", flags, cases[i].flags);
	}
}

static void
test_smtp_proto_parse_mailrcpt(void **state)
{
	static const struct {
		const char *name, *kw, *in;
		int	    rc;
		const char *addr, *params;
	} cases[] = {
		{ "mail", "FROM:", "FROM:<a@b>", 0, "a@b", "" },
		{ "lower case keyword", "FROM:", "from:<a@b>", 0, "a@b", "" },
		{ "space after colon", "FROM:", "FROM: <a@b>", 0, "a@b", "" },
		{ "params", "FROM:", "FROM:<a@b> SIZE=100  BODY=8BITMIME", 0, "a@b",
		    "SIZE=100  BODY=8BITMIME" },
		{ "rcpt", "TO:", "TO:<c@d> NOTIFY=NEVER", 0, "c@d", "NOTIFY=NEVER" },
		{ "null", "FROM:", "FROM:<>", 0, "", "" },
		{ "wrong keyword", "FROM:", "TO:<a@b>", -1, NULL, NULL },
		{ "no colon", "FROM:", "FROM <a@b>", -1, NULL, NULL },
		{ "junk after path", "FROM:", "FROM:<a@b>x", -1, NULL, NULL },
		{ "bare address", "TO:", "TO:c@d", -1, NULL, NULL },
		{ "empty", "TO:", "", -1, NULL, NULL },
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		char	 buf[256], *addr = NULL, *params = NULL;
		unsigned flags;
		int	 rc;

		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		rc = smtp_proto_parse_mailrcpt(buf, cases[i].kw, &addr, &params, &flags);
		check_int(cases[i].name, "rc", rc, cases[i].rc);
		if (rc != 0)
			continue;
		check_str(cases[i].name, "addr", addr, cases[i].addr);
		check_str(cases[i].name, "params", params, cases[i].params);
	}
}

/* ----- parameters ----- */

static void
test_smtp_proto_parse_params(void **state)
{
	static const struct {
		const char *name, *in;
		int	    rc;
		const char *want; /* "K=V|K|..." */
	} cases[] = {
		{ "none", "", 0, "" },
		{ "one", "SIZE=1000", 0, "SIZE=1000" },
		{ "keyword upper-cased, value kept", "body=8bitmime", 0, "BODY=8bitmime" },
		{ "bare keyword", "SMTPUTF8", 0, "SMTPUTF8" },
		{ "several", "SIZE=1 BODY=7BIT  SMTPUTF8 RET=HDRS", 0,
		    "SIZE=1|BODY=7BIT|SMTPUTF8|RET=HDRS" },
		{ "dash in keyword", "X-FOO=bar", 0, "X-FOO=bar" },
		{ "xtext value", "ENVID=QQ+2B314", 0, "ENVID=QQ+2B314" },
		{ "orcpt", "ORCPT=rfc822;a@b", 0, "ORCPT=rfc822;a@b" },
		{ "utf8 value", "ORCPT=utf-8;\xc3\xa9@b", 0, "ORCPT=utf-8;\xc3\xa9@b" },
		{ "leading space", "  SIZE=5", 0, "SIZE=5" },
		{ "empty value", "SIZE=", -1, NULL },
		{ "equals in value", "A=b=c", -1, NULL },
		{ "bad keyword start", "-X=1", -1, NULL },
		{ "bad keyword char", "SI_ZE=1", -1, NULL },
		{ "control in value", "A=b\x01", -1, NULL },
		{ "too many", "A B C D E F G H I J K L M N O P Q", -2, NULL },
	};
	size_t i, j;

	for (i = 0; i < NELEM(cases); i++) {
		struct smtp_proto_param p[SMTP_PROTO_PARAMS_MAX];
		char			buf[256], got[256] = "";
		size_t			n, off = 0;
		int			rc;

		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		rc = smtp_proto_parse_params(buf, p, SMTP_PROTO_PARAMS_MAX, &n);
		check_int(cases[i].name, "rc", rc, cases[i].rc);
		if (rc != 0)
			continue;
		for (j = 0; j < n; j++)
			off += snprintf(got + off, sizeof(got) - off, "%s%s%s%s", j ? "|" : "",
			    p[j].keyword, p[j].value ? "=" : "", p[j].value ? p[j].value : "");
		check_str(cases[i].name, "params", got, cases[i].want);
	}
}

/* ----- replies ----- */

static void
test_smtp_proto_reply(void **state)
{
	static const struct {
		const char *name;
		unsigned    code;
		const char *enh;
		int	    with_enh, more;
		const char *text, *want;
	} cases[] = {
		{ "with enhanced", 250, "2.1.0", 1, 0, "Ok", "250 2.1.0 Ok\r\n" },
		{ "enhanced off", 250, "2.1.0", 0, 0, "Ok", "250 Ok\r\n" },
		{ "no enhanced given", 354, NULL, 1, 0, "End data", "354 End data\r\n" },
		{ "continuation", 250, NULL, 1, 1, "PIPELINING", "250-PIPELINING\r\n" },
		{ "empty enhanced", 220, "", 1, 0, "host ESMTP", "220 host ESMTP\r\n" },
	};
	size_t i;
	char   out[128];

	for (i = 0; i < NELEM(cases); i++) {
		size_t n = smtp_proto_reply(out, sizeof(out), cases[i].code, cases[i].enh,
		    cases[i].with_enh, cases[i].text, cases[i].more);
		check_int(cases[i].name, "len", n, strlen(cases[i].want));
		check_str(cases[i].name, "reply", out, cases[i].want);
	}
	/* Truncation keeps CRLF */
	{
		char   small[16];
		size_t n = smtp_proto_reply(small, sizeof(small), 250, "2.0.0", 1,
		    "a very long text that does not fit", 0);
		check_int("truncated", "len", n, 15);
		assert_memory_equal(small + 13, "\r\n", 2);
	}
}

static void
test_smtp_proto_reply_multi(void **state)
{
	const char *lines[] = { "host", "PIPELINING", "SIZE 100" };
	char	    out[256];
	size_t	    n;

	n = smtp_proto_reply_multi(out, sizeof(out), 250, lines, 3);
	check_str("ehlo", "reply", out, "250-host\r\n250-PIPELINING\r\n250 SIZE 100\r\n");
	check_int("ehlo", "len", n, strlen(out));
	n = smtp_proto_reply_multi(out, sizeof(out), 250, lines, 1);
	check_str("single", "reply", out, "250 host\r\n");
}

static void
test_smtp_proto_reply_line(void **state)
{
	static const struct {
		const char *name, *in;
		int	    with_enh;
		const char *want;
	} cases[] = {
		{ "kept", "550 5.7.1 no thanks", 1, "550 5.7.1 no thanks\r\n" },
		{ "enhanced stripped", "550 5.7.1 no thanks", 0, "550 no thanks\r\n" },
		{ "queued stripped", "250 2.0.0 Ok: queued as 7", 0, "250 Ok: queued as 7\r\n" },
		{ "no enhanced to strip", "451 try later", 0, "451 try later\r\n" },
		{ "number not enhanced", "250 2.0 things", 0, "250 2.0 things\r\n" },
		{ "crlf flattened", "550 5.7.1 a\r\nb", 1, "550 5.7.1 a  b\r\n" },
		{ "bare code", "421", 1, "421 \r\n" },
		{ "not a reply", "hello", 1, "451 4.3.0 hello\r\n" },
		{ "not a reply, no enh", "hello", 0, "451 hello\r\n" },
	};
	size_t i;
	char   out[256];

	for (i = 0; i < NELEM(cases); i++) {
		smtp_proto_reply_line(out, sizeof(out), cases[i].in, cases[i].with_enh);
		check_str(cases[i].name, "reply", out, cases[i].want);
	}
	check_int("code", "250", smtp_proto_reply_code("250 ok"), 250);
	check_int("code", "bare", smtp_proto_reply_code("421"), 421);
	check_int("code", "junk", smtp_proto_reply_code("25x"), 0);
	check_int("code", "600", smtp_proto_reply_code("600 x"), 0);
}

/* ----- data scanner ----- */

struct data_case {
	const char *name;
	const char *in;
	size_t	    inlen; /* 0: strlen(in) */
	unsigned    flags;
	size_t	    line_max;
	size_t	    body_max; /* 0: 1 MiB */
	const char *body;     /* wanted stored bytes */
	size_t	    bodylen;  /* 0: strlen(body) */
	size_t	    consumed; /* 0: all input */
	unsigned    status;
	unsigned    anomalies; /* after finish */
};

#define D    SMTP_PROTO_DATA_DOTS
#define DONE SMTP_PROTO_DATA_DONE

static const struct data_case data_cases[] = {
	{ "simple", "Subject: x\r\n\r\nbody\r\n.\r\n", 0, D, 0, 0, "Subject: x\r\n\r\nbody\r\n", 0,
	    0, DONE, 0 },
	{ "empty message", ".\r\n", 0, D, 0, 0, "", 0, 0, DONE, MSG_ANOM_NO_HEADER_END },
	{ "unstuffing", "A: b\r\n\r\n..x\r\n...\r\n..\r\n.\r\n", 0, D, 0, 0,
	    "A: b\r\n\r\n.x\r\n..\r\n.\r\n", 0, 0, DONE, 0 },
	{ "dot not at start of line", "A: b\r\n\r\na.b\r\nx.\r\n.\r\n", 0, D, 0, 0,
	    "A: b\r\n\r\na.b\r\nx.\r\n", 0, 0, DONE, 0 },
	{ "data after terminator not consumed", "A: b\r\n\r\nx\r\n.\r\nQUIT\r\n", 0, D, 0, 0,
	    "A: b\r\n\r\nx\r\n", 0, 14, DONE, 0 },
	{ "no header end", "A: b\r\n.\r\n", 0, D, 0, 0, "A: b\r\n", 0, 0, DONE,
	    MSG_ANOM_NO_HEADER_END },
	{ "smuggling LF.LF", "A: b\r\n\r\nx\n.\nMAIL FROM:<e@vil>\r\n.\r\n", 0, D, 0, 0,
	    "A: b\r\n\r\nx\n.\nMAIL FROM:<e@vil>\r\n", 0, 0, DONE, MSG_ANOM_BARE_LF },
	{ "smuggling LF.CRLF", "A: b\r\n\r\nx\n.\r\nRSET\r\n.\r\n", 0, D, 0, 0,
	    "A: b\r\n\r\nx\n.\r\nRSET\r\n", 0, 0, DONE, MSG_ANOM_BARE_LF },
	{ "smuggling CRLF.LF", "A: b\r\n\r\nx\r\n.\nRSET\r\n.\r\n", 0, D, 0, 0,
	    "A: b\r\n\r\nx\r\n\nRSET\r\n", 0, 0, DONE, MSG_ANOM_BARE_LF },
	{ "smuggling CR.CR", "A: b\r\n\r\nx\r.\rRSET\r\n.\r\n", 0, D, 0, 0,
	    "A: b\r\n\r\nx\r.\rRSET\r\n", 0, 0, DONE, MSG_ANOM_BARE_CR },
	{ "smuggling CRLF.CR", "A: b\r\n\r\nx\r\n.\rRSET\r\n.\r\n", 0, D, 0, 0,
	    "A: b\r\n\r\nx\r\n\rRSET\r\n", 0, 0, DONE, MSG_ANOM_BARE_CR },
	{ "dot CR CR LF", "A: b\r\n\r\n.\r\r\n.\r\n", 0, D, 0, 0, "A: b\r\n\r\n\r\r\n", 0, 0, DONE,
	    MSG_ANOM_BARE_CR },
	{ "bare LF lines", "A: b\n\nbody\n.\r\n", 0, D, 0, 0, "A: b\n\nbody\n.\r\n", 0, 0, 0,
	    MSG_ANOM_BARE_LF | MSG_ANOM_NO_HEADER_END },
	{ "bare LF then real end", "A: b\n\nbody\r\n.\r\n", 0, D, 0, 0, "A: b\n\nbody\r\n", 0, 0,
	    DONE, MSG_ANOM_BARE_LF | MSG_ANOM_NO_HEADER_END },
	{ "8bit body without 8BITMIME", "A: b\r\n\r\n\xc3\xa9\r\n.\r\n", 0, D, 0, 0,
	    "A: b\r\n\r\n\xc3\xa9\r\n", 0, 0, DONE, MSG_ANOM_8BIT_BODY },
	{ "8bit body with 8BITMIME", "A: b\r\n\r\n\xc3\xa9\r\n.\r\n", 0, D | SMTP_PROTO_DATA_8BIT,
	    0, 0, "A: b\r\n\r\n\xc3\xa9\r\n", 0, 0, DONE, 0 },
	{ "8bit header without SMTPUTF8", "Subject: \xc3\xa9t\xc3\xa9\r\n\r\nx\r\n.\r\n", 0,
	    D | SMTP_PROTO_DATA_8BIT, 0, 0, "Subject: \xc3\xa9t\xc3\xa9\r\n\r\nx\r\n", 0, 0, DONE,
	    MSG_ANOM_8BIT_HEADER },
	{ "8bit header with SMTPUTF8", "Subject: \xc3\xa9t\xc3\xa9\r\n\r\nx\r\n.\r\n", 0,
	    D | SMTP_PROTO_DATA_UTF8, 0, 0, "Subject: \xc3\xa9t\xc3\xa9\r\n\r\nx\r\n", 0, 0, DONE,
	    0 },
	{ "NUL", "A: b\r\n\r\nx\0y\r\n.\r\n", 16, D, 0, 0, "A: b\r\n\r\nx\0y\r\n", 13, 0, DONE,
	    MSG_ANOM_NUL },
	{ "line limit", "A: b\r\n\r\n0123456789\r\n.\r\n", 0, D, 10, 0, "A: b\r\n\r\n", 0, 8,
	    SMTP_PROTO_DATA_LINE, 0 },
	{ "line limit exact", "A: b\r\n\r\n01234567\r\n.\r\n", 0, D, 10, 0,
	    "A: b\r\n\r\n01234567\r\n", 0, 0, DONE, 0 },
	{ "size latch keeps scanning", "A: b\r\n\r\n0123456789\r\n.\r\nNEXT", 0, D, 0, 12,
	    "A: b\r\n\r\n", 0, 23, DONE | SMTP_PROTO_DATA_SIZE, 0 },
	{ "long lines, vector paths",
	    "Subject: a long header line here ok\r\n\r\n"
	    "0123456789abcdef0123456789abcdef\rX0123456789abcdef\n.."
	    "0123456789abcdef0123456789abcdef\r\n"
	    ".\r\n",
	    0, D, 0, 0,
	    "Subject: a long header line here ok\r\n\r\n"
	    "0123456789abcdef0123456789abcdef\rX0123456789abcdef\n.."
	    "0123456789abcdef0123456789abcdef\r\n",
	    0, 0, DONE, MSG_ANOM_BARE_CR | MSG_ANOM_BARE_LF },
	{ "lines of 14, 15, 16, 30, 31 octets",
	    "H: 0123456789\r\n\r\n"
	    "..123456789abc\r\n.0123456789abcd\r\n0123456789abcdef\r\n"
	    "0123456789abcdef0123456789abc\r\n..23456789abcdef0123456789abcd\r\n.\r\n",
	    0, D, 0, 0,
	    "H: 0123456789\r\n\r\n"
	    ".123456789abc\r\n0123456789abcd\r\n0123456789abcdef\r\n"
	    "0123456789abcdef0123456789abc\r\n.23456789abcdef0123456789abcd\r\n",
	    0, 0, DONE, 0 },
	{ "bdat copies dots", "A: b\r\n\r\n..x\r\n.\r\nmore", 0, 0, 0, 0,
	    "A: b\r\n\r\n..x\r\n.\r\nmore", 0, 0, 0, 0 },
	{ "bdat trailing CR", "A: b\r\n\r\nx\r", 0, 0, 0, 0, "A: b\r\n\r\nx\r", 0, 0, 0,
	    MSG_ANOM_BARE_CR },
	/* issue 8 (fuzz_data_scan): BDAT data starting with a dot lost the dot */
	{ "bdat keeps a leading dot", ".x\r\n.\r\n", 0, 0, 0, 0, ".x\r\n.\r\n", 0, 0, 0,
	    MSG_ANOM_NO_HEADER_END },
	{ "bdat leading dot CRLF", ".\r\n", 0, 0, 0, 0, ".\r\n", 0, 0, 0, MSG_ANOM_NO_HEADER_END },
};

static void
data_run(const struct data_case *c, const size_t *cuts, size_t ncuts, const char *label)
{
	struct smtp_proto_data d;
	struct buf	       out;
	size_t		       inlen = c->inlen ? c->inlen : strlen(c->in);
	size_t		       bodylen = c->bodylen ? c->bodylen : strlen(c->body);
	size_t		       want_consumed = c->consumed ? c->consumed : inlen;
	size_t		       pos = 0, consumed = 0, k, end, n;
	char		       name[160];

	snprintf(name, sizeof(name), "%s [%s]", c->name, label);
	smtp_proto_data_init(&d, c->flags, c->line_max);
	buf_init(&out, c->body_max ? c->body_max : 1024 * 1024);
	for (k = 0; k <= ncuts && pos < inlen; k++) {
		end = k < ncuts ? cuts[k] : inlen;
		if (end <= pos)
			continue;
		n = smtp_proto_data_scan(&d, c->in + pos, end - pos, &out);
		consumed += n;
		if (n < end - pos)
			break;
		pos = end;
	}
	smtp_proto_data_finish(&d);
	check_int(name, "status", d.status, c->status);
	if (c->status & SMTP_PROTO_DATA_LINE) {
		/* The session closes: how much of the line was taken depends on the split */
		check_int(name, "anomalies", d.anomalies, c->anomalies);
		if (consumed > want_consumed + c->line_max || consumed < want_consumed)
			fail_msg("%s: consumed %zu, want %zu..%zu", name, consumed, want_consumed,
			    want_consumed + c->line_max);
		buf_release(&out);
		return;
	}
	check_int(name, "consumed", consumed, want_consumed);
	check_int(name, "anomalies", d.anomalies, c->anomalies);
	if (c->status & SMTP_PROTO_DATA_SIZE) {
		/* Latched: what was kept depends on the split, never more than the cap */
		if (out.len > c->body_max)
			fail_msg("%s: body length %zu over the cap %zu", name, out.len,
			    c->body_max);
		buf_release(&out);
		return;
	}
	check_int(name, "body length", out.len, bodylen);
	if (bodylen > 0 && memcmp(out.data, c->body, bodylen) != 0)
		fail_msg("%s: body: got \"%.*s\", want \"%s\"", name, (int)out.len, out.data,
		    c->body);
	buf_release(&out);
}

/* Every case in one piece, split in two at every position, and byte by byte. */
static void
test_smtp_proto_data_scan_splits(void **state)
{
	size_t i, cut, inlen, j, *cuts;
	char   label[32];

	for (i = 0; i < NELEM(data_cases); i++) {
		const struct data_case *c = &data_cases[i];

		inlen = c->inlen ? c->inlen : strlen(c->in);
		data_run(c, NULL, 0, "whole");
		for (cut = 1; cut < inlen; cut++) {
			snprintf(label, sizeof(label), "cut %zu", cut);
			data_run(c, &cut, 1, label);
		}
		cuts = calloc(inlen, sizeof(*cuts));
		for (j = 0; j < inlen; j++)
			cuts[j] = j + 1;
		data_run(c, cuts, inlen, "bytewise");
		free(cuts);
	}
}

/* Long lines: the anomaly past 1000 octets, and every LF resets the count */
static void
test_smtp_proto_data_long_lines(void **state)
{
	struct smtp_proto_data d;
	struct buf	       out;
	char		      *msg;
	size_t		       n;

	msg = malloc(4096);
	memcpy(msg, "A: b\r\n\r\n", 8);
	memset(msg + 8, 'x', 998);
	memcpy(msg + 8 + 998, "\r\n.\r\n", 5); /* exactly 1000 with CRLF */
	smtp_proto_data_init(&d, SMTP_PROTO_DATA_DOTS, 65536);
	buf_init(&out, 1 << 20);
	n = smtp_proto_data_scan(&d, msg, 8 + 998 + 5, &out);
	check_int("1000 octets", "consumed", n, 8 + 998 + 5);
	check_int("1000 octets", "anomalies", smtp_proto_data_finish(&d), 0);
	buf_release(&out);

	memset(msg + 8, 'x', 999);
	memcpy(msg + 8 + 999, "\r\n.\r\n", 5); /* 1001 */
	smtp_proto_data_init(&d, SMTP_PROTO_DATA_DOTS, 65536);
	buf_init(&out, 1 << 20);
	smtp_proto_data_scan(&d, msg, 8 + 999 + 5, &out);
	check_int("1001 octets", "anomalies", smtp_proto_data_finish(&d), MSG_ANOM_LONG_LINE);
	check_int("1001 octets", "status", d.status, SMTP_PROTO_DATA_DONE);
	buf_release(&out);

	/* 3000 octets in short bare-LF lines: not a long line, not over a 100 limit */
	for (n = 0; n < 3000; n++)
		msg[n] = (n % 50 == 49) ? '\n' : 'y';
	smtp_proto_data_init(&d, SMTP_PROTO_DATA_DOTS, 100);
	buf_init(&out, 1 << 20);
	check_int("bare LF lines", "consumed", smtp_proto_data_scan(&d, msg, 3000, &out), 3000);
	check_int("bare LF lines", "status", d.status, 0);
	check_int("bare LF lines", "anomalies", d.anomalies, MSG_ANOM_BARE_LF);
	buf_release(&out);
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smtp_proto_split),
		cmocka_unit_test(test_smtp_proto_parse_path),
		cmocka_unit_test(test_smtp_proto_parse_mailrcpt),
		cmocka_unit_test(test_smtp_proto_parse_params),
		cmocka_unit_test(test_smtp_proto_reply),
		cmocka_unit_test(test_smtp_proto_reply_multi),
		cmocka_unit_test(test_smtp_proto_reply_line),
		cmocka_unit_test(test_smtp_proto_data_scan_splits),
		cmocka_unit_test(test_smtp_proto_data_long_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
