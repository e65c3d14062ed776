/*
 * test_mime - the parsed view (src/mime*.c): decoded headers and addresses,
 * bodies, attachments, limits and malformed input, on the fixtures in
 * tests/fixtures and on generated messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <glib.h>

#include "config.h"
#include "fixture.h"
#include "mime_check.h"
#include "message.h"
#include "mime.h"
#include "mime_internal.h"
#include "xmalloc.h"

/* ---- helpers ---- */

/* Every string of a view is valid UTF-8 and never NULL (mime_check.h) */
static void
assert_view_sane(const struct mime_view *v)
{
	char err[1024];

	if (mime_check_view(v, err, sizeof(err)) == -1)
		fail_msg("view: %s", err);
}

static void
assert_body_sane(const struct mime_body *b, int with_content)
{
	char err[1024];

	if (mime_check_body(b, with_content, err, sizeof(err)) == -1)
		fail_msg("body: %s", err);
}

static void
assert_str(const char *what, const char *got, const char *want)
{
	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", what, got ? got : "(null)", want);
}

static const char *
view_header(const struct mime_view *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->nheaders; i++)
		if (strcasecmp(v->headers[i].name, name) == 0)
			return v->headers[i].value;
	return NULL;
}

/* Parses a fixture (view + body with and without content), checks the
 * raw bytes are untouched, and hands the results to the test. */
struct parsed {
	struct message	       *m;
	const struct mime_view *v;
	struct mime_body       *b;  /* without content */
	struct mime_body       *bc; /* with content */
};

static void
parse_fixture(const char *name, struct parsed *p)
{
	char  *copy;
	size_t len;

	p->m = fixture_message_load(name, "sender@example.com", NULL);
	copy = xmemdup(p->m->data, p->m->size + 1);
	len = p->m->size;
	p->v = mime_view_get(p->m);
	p->b = mime_body_parse(p->m, 0);
	p->bc = mime_body_parse(p->m, 1);
	assert_int_equal(p->m->size, len);
	assert_memory_equal(p->m->data, copy, len + 1);
	free(copy);
	assert_view_sane(p->v);
	assert_body_sane(p->b, 0);
	assert_body_sane(p->bc, 1);
	assert_int_equal(p->b->natts, p->bc->natts);
	assert_int_equal(p->b->flags, p->bc->flags);
}

static void
parsed_free(struct parsed *p)
{
	mime_body_free(p->b);
	mime_body_free(p->bc);
	fixture_message_free(p->m);
}

static struct message *
message_from_str(const char *s)
{
	return fixture_message_new(s, strlen(s), "s@example.com", NULL);
}

/* ---- well-formed messages ---- */

static void
test_mime_plain(void **state)
{
	struct parsed	   p;
	static const char *want_names[] = { "Return-Path", "Received", "From", "To", "Cc",
		"Reply-To", "Subject", "Date", "Message-ID", "X-Folded" };
	size_t		   i;

	(void)state;
	parse_fixture("plain.eml", &p);
	assert_str("subject", p.v->subject, "Hello plain world");
	assert_str("from", p.v->from, "Alice Example <alice@example.com>");
	assert_int_equal(p.v->nto, 2);
	assert_str("to[0]", p.v->to[0], "Bob <bob@example.org>");
	assert_str("to[1]", p.v->to[1], "carol@example.net");
	assert_int_equal(p.v->ncc, 1);
	assert_str("cc[0]", p.v->cc[0], "dave@example.com");
	assert_int_equal(p.v->nreply_to, 1);
	assert_str("reply_to[0]", p.v->reply_to[0], "replies@example.com");
	assert_int_equal(p.v->nheaders, sizeof(want_names) / sizeof(*want_names));
	for (i = 0; i < p.v->nheaders; i++)
		assert_str("header name", p.v->headers[i].name, want_names[i]);
	assert_str("Received", view_header(p.v, "Received"),
	    "from client.example.com (localhost [127.0.0.1])\tby "
	    "sink.example.com; Sat, 28 Nov 2026 13:00:00 +0000");
	assert_str("X-Folded", view_header(p.v, "x-folded"), "first part  second part");
	assert_str("Return-Path", view_header(p.v, "Return-Path"), "<alice@example.com>");
	assert_int_equal(p.v->flags, 0);

	assert_str("text", p.b->text,
	    "Hello Bob,\r\n\r\nThis is a plain ASCII "
	    "message.\r\n-- \r\nAlice\r\n");
	assert_str("html", p.b->html, "");
	assert_int_equal(p.b->natts, 0);
	assert_int_equal(p.b->flags, 0);
	parsed_free(&p);
}

/* Table: one Subject (or other header) per row, decoded */
static const struct {
	const char *name;
	const char *header; /* the raw header block */
	const char *want;
} subject_cases[] = {
	{ "ascii", "Subject: Hello\r\n", "Hello" },
	{ "utf8 B", "Subject: =?UTF-8?B?w6lsw6h2ZSDinJM=?=\r\n",
	    "\xc3\xa9l\xc3\xa8ve \xe2\x9c\x93" },
	{ "utf8 Q", "Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n",
	    "Gr\xc3\xbc\xc3\x9f"
	    "e aus K\xc3\xb6ln" },
	{ "iso-8859-1 Q", "Subject: =?ISO-8859-1?Q?caf=E9_cr=E8me?=\r\n",
	    "caf\xc3\xa9 cr\xc3\xa8me" },
	{ "iso-8859-15 euro", "Subject: =?ISO-8859-15?Q?=A45?=\r\n",
	    "\xe2\x82\xac"
	    "5" },
	{ "mixed words",
	    "Subject: Re: =?UTF-8?Q?na=C3=AFve?= and "
	    "=?ISO-8859-1?Q?=E9t=E9?= done\r\n",
	    "Re: na\xc3\xafve and \xc3\xa9t\xc3\xa9 done" },
	{ "adjacent words join", "Subject: =?UTF-8?Q?ab?= =?UTF-8?Q?cd?=\r\n", "abcd" },
	{ "Q hex any case", "Subject: =?ISO-8859-1?Q?=e9=Fc_x=3D=3f_=2a?=\r\n",
	    "\xc3\xa9\xc3\xbc x=? *" },
	{ "Q bad hex kept", "Subject: =?UTF-8?Q?a=G1b=4?=\r\n", "a=G1b=4" },
	{ "padded B words", "Subject: =?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=\r\n", "\xc3\xa9\xc3\xa9" },
	{ "padded B words (JavaMail)",
	    "Subject: =?UTF-8?B?SGk=?= "
	    "=?UTF-8?B?IHRoZXJl?=\r\n",
	    "Hi there" },
	{ "padded words, no space",
	    "Subject: =?UTF-8?B?SGk=?==?UTF-8?B?SGk=?="
	    "\r\n",
	    "HiHi" },
	{ "split multibyte", "Subject: =?UTF-8?B?w6nD?= =?UTF-8?B?qQ==?=\r\n", "\xc3\xa9\xc3\xa9" },
	{ "run, then text, then word",
	    "Subject: x =?UTF-8?Q?a?= "
	    "=?ISO-8859-1?Q?=E9?= y =?UTF-8?B?w6k=?= z\r\n",
	    "x a\xc3\xa9 y \xc3\xa9 z" },
	{ "padded B words folded",
	    "Subject: =?utf-8?b?w6k=?=\r\n"
	    " =?utf-8?b?w6k=?=\r\n",
	    "\xc3\xa9\xc3\xa9" },
	{ "folded",
	    "Subject: =?UTF-8?Q?first?=\r\n =?UTF-8?Q?_second?=\r\n"
	    "\tthird\r\n",
	    "first second\tthird" },
	{ "folded plain", "Subject: a long\r\n subject line\r\n", "a long subject line" },
	{ "raw utf8 (SMTPUTF8)",
	    "Subject: Gr\xc3\xbc\xc3\x9f"
	    "e \xe2\x9c\x93\r\n",
	    "Gr\xc3\xbc\xc3\x9f"
	    "e \xe2\x9c\x93" },
	{ "raw latin1", "Subject: caf\xe9\r\n", "caf\xc3\xa9" },
	{ "utf8 cut mid-character", "Subject: K\xc3\xb6ln \xc3\r\n", "K\xc3\xb6ln \xef\xbf\xbd" },
	{ "utf8 with a stray latin1 byte", "Subject: \xc3\xa9t\xe9\r\n", "\xc3\xa9t\xef\xbf\xbd" },
	{ "bad encoded word kept", "Subject: =?bogus?Q?x?= y\r\n", NULL },
	{ "empty", "Subject:\r\n", "" },
	{ "trailing space", "Subject:   padded   \r\n", "padded" },
	{ "first of two", "Subject: one\r\nSubject: two\r\n", "one" },
	{ "bare lf", "Subject: bare\n lf\n", "bare lf" },
	{ "none", "X-Other: x\r\n", "" },
};

static void
test_mime_subject_table(void **state)
{
	struct message	       *m;
	const struct mime_view *v;
	char		       *raw;
	size_t			i;

	(void)state;
	for (i = 0; i < sizeof(subject_cases) / sizeof(*subject_cases); i++) {
		xasprintf(&raw, "%s\r\nbody\r\n", subject_cases[i].header);
		m = message_from_str(raw);
		v = mime_view_get(m);
		assert_view_sane(v);
		if (subject_cases[i].want != NULL && strcmp(v->subject, subject_cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", subject_cases[i].name, v->subject,
			    subject_cases[i].want);
		if (subject_cases[i].want == NULL && *v->subject == '\0')
			fail_msg("%s: got an empty subject", subject_cases[i].name);
		fixture_message_free(m);
		free(raw);
	}
}

/* Table: To header value -> the expected entries */
static const struct {
	const char *name;
	const char *value;
	size_t	    n;
	const char *want[3];
} addr_cases[] = {
	{ "bare", "a@example.com", 1, { "a@example.com" } },
	{ "angle only", "<a@example.com>", 1, { "a@example.com" } },
	{ "name", "Ann Example <a@example.com>", 1, { "Ann Example <a@example.com>" } },
	{ "quoted comma", "\"Doe, John\" <jd@example.com>, x@example.com", 2,
	    { "Doe, John <jd@example.com>", "x@example.com" } },
	{ "2047 name", "=?UTF-8?Q?J=C3=B6rg?= <j@example.de>", 1,
	    { "J\xc3\xb6rg <j@example.de>" } },
	{ "latin1 2047 name", "=?ISO-8859-1?Q?Fran=E7ois?= <f@example.fr>", 1,
	    { "Fran\xc3\xa7ois <f@example.fr>" } },
	{ "raw utf8",
	    "\xe7\x94\xa8\xe6\x88\xb7 <\xe7\x94\xa8\xe6\x88\xb7@"
	    "example.com>",
	    1,
	    { "\xe7\x94\xa8\xe6\x88\xb7 <\xe7\x94\xa8\xe6"
	      "\x88\xb7@example.com>" } },
	{ "group", "team: a@example.com, b@example.com;", 2, { "a@example.com", "b@example.com" } },
	{ "empty group", "undisclosed-recipients:;", 0, { NULL } },
	{ "folded list", "a@example.com,\r\n  B <b@example.com>,\r\n\tc@example.com", 3,
	    { "a@example.com", "B <b@example.com>", "c@example.com" } },
	{ "comment name", "a@example.com (Ann)", 1, { "Ann <a@example.com>" } },
	{ "simple, then not simple (no duplicates)",
	    "a@example.com, B <b@example.com>, \"C, D\" <c@example.com>", 3,
	    { "a@example.com", "B <b@example.com>", "C, D <c@example.com>" } },
	{ "padded B words name",
	    "=?UTF-8?B?SGk=?= =?UTF-8?B?IFRoZXJl?= "
	    "<h@example.com>",
	    1, { "Hi There <h@example.com>" } },
};

static void
test_mime_address_table(void **state)
{
	struct message	       *m;
	const struct mime_view *v;
	char		       *raw;
	size_t			i, j;

	(void)state;
	for (i = 0; i < sizeof(addr_cases) / sizeof(*addr_cases); i++) {
		xasprintf(&raw,
		    "From: x@example.com\r\nTo: %s\r\n"
		    "Cc: %s\r\n\r\nbody\r\n",
		    addr_cases[i].value, addr_cases[i].value);
		m = message_from_str(raw);
		v = mime_view_get(m);
		assert_view_sane(v);
		if (v->nto != addr_cases[i].n || v->ncc != addr_cases[i].n)
			fail_msg("%s: got %zu to / %zu cc, want %zu", addr_cases[i].name, v->nto,
			    v->ncc, addr_cases[i].n);
		for (j = 0; j < v->nto; j++) {
			if (strcmp(v->to[j], addr_cases[i].want[j]) != 0 ||
			    strcmp(v->cc[j], addr_cases[i].want[j]) != 0)
				fail_msg("%s: [%zu] got \"%s\", want \"%s\"", addr_cases[i].name, j,
				    v->to[j], addr_cases[i].want[j]);
		}
		fixture_message_free(m);
		free(raw);
	}
}

static void
test_mime_rfc2047_headers(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("rfc2047.eml", &p);
	assert_str("subject", p.v->subject, "Hello \xf0\x9f\x91\x8b\xc2\xa0w\xc3\xb6rld");
	assert_str("from", p.v->from, "J\xc3\xb6rg M\xc3\xbcller <joerg@example.de>");
	assert_int_equal(p.v->nto, 2);
	assert_str("to[0]", p.v->to[0], "Fran\xc3\xa7ois <francois@example.fr>");
	assert_str("to[1]", p.v->to[1], "Doe, John <john@example.com>");
	assert_str("X-Mixed", view_header(p.v, "X-Mixed"), "plain caf\xc3\xa9 text");
	/* the headers list carries decoded values too */
	assert_str("From header", view_header(p.v, "From"),
	    "J\xc3\xb6rg M\xc3\xbcller <joerg@example.de>");
	assert_str("text", p.b->text,
	    "Gr\xc3\xbc\xc3\x9f"
	    "e\r\n");
	assert_int_equal(p.v->flags, 0);
	assert_int_equal(p.b->flags, 0);
	parsed_free(&p);
}

static void
test_mime_smtputf8(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("smtputf8.eml", &p);
	assert_str("subject", p.v->subject,
	    "Gr\xc3\xbc\xc3\x9f"
	    "e aus K\xc3\xb6ln \xe2\x9c\x93");
	assert_str("from", p.v->from,
	    "J\xc3\xb6rg M\xc3\xbcller <j\xc3\xb6rg@b\xc3\xbc"
	    "cher.example>");
	assert_int_equal(p.v->nto, 1);
	assert_str("to[0]", p.v->to[0],
	    "\xe7\x94\xa8\xe6\x88\xb7 <"
	    "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
	    "\xe5\x91\x8a>");
	assert_str("text", p.b->text,
	    "Sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9f"
	    "e!\r\n");
	assert_int_equal(p.v->flags, 0);
	assert_int_equal(p.b->flags, 0);
	parsed_free(&p);
}

static void
test_mime_alternative(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("alternative.eml", &p);
	assert_str("subject", p.v->subject, "Newsletter");
	assert_str("text", p.b->text,
	    "Plain version: caf\xc3\xa9 \xe2\x82\xac"
	    "5");
	assert_str("html", p.b->html,
	    "<p>HTML version: caf\xc3\xa9 \xe2\x82\xac"
	    "5</p>\n");
	assert_int_equal(p.b->natts, 0);
	assert_int_equal(p.b->flags, 0);
	parsed_free(&p);
}

static void
test_mime_mixed_png(void **state)
{
	struct parsed p;
	char	     *png;
	size_t	      pnglen;

	(void)state;
	png = fixture_read("pixel.png", &pnglen);
	parse_fixture("mixed_png.eml", &p);
	/* quoted-printable, ISO-8859-1, soft line break joined */
	assert_str("text", p.b->text,
	    "Voil\xc3\xa0 la facture, ch\xc3\xa8re "
	    "cliente. Caf\xc3\xa9 inclus. Une tr\xc3\xa8s longue ligne "
	    "coup\xc3\xa9"
	    "e.");
	assert_str("html", p.b->html, "");
	assert_int_equal(p.b->natts, 1);
	assert_str("filename", p.b->atts[0].filename, "pixel.png");
	assert_str("content_type", p.b->atts[0].content_type, "image/png");
	assert_str("content_id", p.b->atts[0].content_id, "");
	assert_int_equal(p.b->atts[0].size, pnglen);
	assert_null(p.b->atts[0].content);
	assert_int_equal(p.bc->atts[0].size, pnglen);
	assert_memory_equal(p.bc->atts[0].content, png, pnglen);
	assert_int_equal(p.b->flags, 0);
	free(png);
	parsed_free(&p);
}

static void
test_mime_rfc2231_filename(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("rfc2231.eml", &p);
	assert_str("text", p.b->text, "See attachments.");
	assert_int_equal(p.b->natts, 3);
	assert_str("filename[0]", p.b->atts[0].filename, "na\xc3\xafve r\xc3\xa9sum\xc3\xa9.pdf");
	assert_str("type[0]", p.b->atts[0].content_type, "application/pdf");
	assert_int_equal(p.b->atts[0].size, 9); /* "%PDF-1.4\n" */
	assert_memory_equal(p.bc->atts[0].content, "%PDF-1.4\n", 9);
	/* continuations, ISO-8859-1 */
	assert_str("filename[1]", p.b->atts[1].filename, "d\xc3\xa9j\xc3\xa0-vu.bin");
	assert_int_equal(p.b->atts[1].size, 4);
	assert_memory_equal(p.bc->atts[1].content, "\x00\x01\x02\x03", 4);
	/* RFC 2047 in a name= parameter (common, if not standard) */
	assert_str("filename[2]", p.b->atts[2].filename,
	    "\xc3\xbc"
	    "bersicht.csv");
	assert_str("type[2]", p.b->atts[2].content_type, "text/csv");
	assert_int_equal(p.b->flags, 0);
	parsed_free(&p);
}

static void
test_mime_inline_cid(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("inline_cid.eml", &p);
	assert_str("text", p.b->text, "");
	assert_str("html", p.b->html,
	    "<html><body><img src=\"cid:logo@example.com\"></body></html>");
	assert_int_equal(p.b->natts, 1);
	assert_str("filename", p.b->atts[0].filename, "");
	assert_str("content_type", p.b->atts[0].content_type, "image/png");
	assert_str("content_id", p.b->atts[0].content_id, "logo@example.com");
	assert_int_equal(p.b->atts[0].size, 69);
	assert_int_equal(p.b->flags, 0);
	parsed_free(&p);
}

static void
test_mime_nested_rfc822(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("nested_rfc822.eml", &p);
	/* the outer header only */
	assert_str("subject", p.v->subject, "Fwd: original");
	assert_str("text", p.b->text, "See the forwarded message.");
	/* the first text/html in tree order is inside the forwarded message */
	assert_str("html", p.b->html, "<p>Inner html</p>");
	assert_int_equal(p.b->natts, 1);
	assert_str("filename", p.b->atts[0].filename, "inner.bin");
	assert_str("content_type", p.b->atts[0].content_type, "application/octet-stream");
	assert_int_equal(p.b->atts[0].size, 5);
	assert_memory_equal(p.bc->atts[0].content, "\x00\x01\x02\x03\x04", 5);
	assert_int_equal(p.b->flags, 0);
	parsed_free(&p);
}

static void
test_mime_attached_eml(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("attached_eml.eml", &p);
	assert_str("text", p.b->text, "Attached, as a file.");
	assert_str("html", p.b->html, "");
	/* one attachment: the message itself, not opened */
	assert_int_equal(p.b->natts, 1);
	assert_str("filename", p.b->atts[0].filename, "fwd.eml");
	assert_str("content_type", p.b->atts[0].content_type, "message/rfc822");
	assert_true(p.b->atts[0].size > 100);
	assert_int_equal(p.bc->atts[0].size, p.b->atts[0].size);
	assert_memory_equal(p.bc->atts[0].content, "From: inner@example.com", 23);
	assert_non_null(strstr(p.bc->atts[0].content, "JVBERi0xLjQK"));
	assert_int_equal(p.b->flags, 0);
	parsed_free(&p);
}

/* Table: which parts are bodies and which are attachments */
static const struct {
	const char *name;
	const char *raw;
	const char *text, *html;
	size_t	    natts;
	const char *att_type, *att_filename; /* of the first one */
} class_cases[] = {
	{ "text/plain with a name is an attachment",
	    "Content-Type: text/plain; name=\"notes.txt\"\r\n\r\nhello\r\n", "", "", 1,
	    "text/plain", "notes.txt" },
	{ "inline text with a filename is an attachment",
	    "Content-Type: text/plain\r\nContent-Disposition: inline; "
	    "filename=a.txt\r\n\r\nhello\r\n",
	    "", "", 1, "text/plain", "a.txt" },
	{ "disposition attachment without filename",
	    "Content-Type: text/html\r\nContent-Disposition: attachment\r\n\r\n"
	    "<p>x</p>\r\n",
	    "", "", 1, "text/html", "" },
	{ "inline text body",
	    "Content-Type: text/plain\r\nContent-Disposition:"
	    " inline\r\n\r\nhello\r\n",
	    "hello\r\n", "", 0, NULL, NULL },
	{ "html only",
	    "Content-Type: text/html; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n<b>caf=E9</b>\r\n",
	    "", "<b>caf\xc3\xa9</b>\r\n", 0, NULL, NULL },
	{ "base64 text",
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nY2Fmw6kK\r\n",
	    "caf\xc3\xa9\n", "", 0, NULL, NULL },
	{ "uppercase type",
	    "Content-Type: TEXT/PLAIN; CHARSET=ISO-8859-1\r\n"
	    "\r\ncaf\xe9\r\n",
	    "caf\xc3\xa9\r\n", "", 0, NULL, NULL },
	{ "non-text leaf at top", "Content-Type: application/json\r\n\r\n{}\r\n", "", "", 1,
	    "application/json", "" },
	{ "second text/plain is neither",
	    "Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\none\r\n"
	    "--z\r\n\r\ntwo\r\n--z--\r\n",
	    "one", "", 0, NULL, NULL },
	{ "text/calendar is an attachment",
	    "Content-Type: multipart/alternative; boundary=z\r\n\r\n--z\r\n"
	    "Content-Type: text/plain\r\n\r\ninvite\r\n--z\r\nContent-Type: "
	    "text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\n--z--\r\n",
	    "invite", "", 1, "text/calendar", "" },
	{ "forwarded inline only: its bodies are used",
	    "Content-Type: message/rfc822\r\n\r\nSubject: in\r\n"
	    "Content-Type: text/plain\r\n\r\ninner\r\n",
	    "inner\r\n", "", 0, NULL, NULL },
	{ "delivery report",
	    "Content-Type: multipart/report; "
	    "report-type=delivery-status; boundary=r\r\n\r\n--r\r\n"
	    "Content-Type: text/plain\r\n\r\nDelivery failed.\r\n--r\r\n"
	    "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; "
	    "mx.example.com\r\n\r\nFinal-Recipient: rfc822; x@example.com\r\n"
	    "Action: failed\r\n--r\r\nContent-Type: text/rfc822-headers\r\n\r\n"
	    "Subject: original\r\n--r--\r\n",
	    "Delivery failed.", "", 2, "message/delivery-status", "" },
	{ "RFC 2047 filename, padded words",
	    "Content-Type: application/octet-stream; name=\"=?UTF-8?B?w6k=?="
	    "\"\r\n\r\nx\r\n",
	    "", "", 1, "application/octet-stream", "\xc3\xa9" },
	{ "RFC 2047 name=, adjacent padded words (GMime drops the 2nd)",
	    "Content-Type: application/octet-stream; name=\"=?UTF-8?B?SGk=?= "
	    "=?UTF-8?B?IHRoZXJl?=.txt\"\r\n\r\nx\r\n",
	    "", "", 1, "application/octet-stream", "Hi there.txt" },
	{ "RFC 2047 filename=, folded, after other params",
	    "Content-Type: image/png\r\nContent-Disposition: attachment; "
	    "size=3; x=\"a;b\";\r\n filename=\"=?UTF-8?B?SGk=?=\r\n "
	    "=?UTF-8?Q?_th=C3=A9re?=.png\"\r\n\r\nx\r\n",
	    "", "", 1, "image/png", "Hi th\xc3\xa9re.png" },
	{ "RFC 2231 filename wins over an encoded name=",
	    "Content-Type: application/pdf; name=\"=?UTF-8?Q?other?= "
	    "=?UTF-8?Q?.pdf?=\"\r\nContent-Disposition: attachment; "
	    "filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\n\r\nx\r\n",
	    "", "", 1, "application/pdf", "r\xc3\xa9sum\xc3\xa9.pdf" },
};

static void
test_mime_classify_table(void **state)
{
	struct mime_body *b;
	size_t		  i;

	(void)state;
	for (i = 0; i < sizeof(class_cases) / sizeof(*class_cases); i++) {
		b = mime_body_parse_raw(class_cases[i].raw, strlen(class_cases[i].raw), 0);
		assert_body_sane(b, 0);
		if (strcmp(b->text, class_cases[i].text) != 0)
			fail_msg("%s: text: got \"%s\", want \"%s\"", class_cases[i].name, b->text,
			    class_cases[i].text);
		if (strcmp(b->html, class_cases[i].html) != 0)
			fail_msg("%s: html: got \"%s\", want \"%s\"", class_cases[i].name, b->html,
			    class_cases[i].html);
		if (b->natts != class_cases[i].natts)
			fail_msg("%s: got %zu attachments, want %zu", class_cases[i].name, b->natts,
			    class_cases[i].natts);
		if (b->natts > 0 &&
		    (strcmp(b->atts[0].content_type, class_cases[i].att_type) != 0 ||
			strcmp(b->atts[0].filename, class_cases[i].att_filename) != 0))
			fail_msg("%s: got %s \"%s\", want %s \"%s\"", class_cases[i].name,
			    b->atts[0].content_type, b->atts[0].filename, class_cases[i].att_type,
			    class_cases[i].att_filename);
		if (b->flags != 0)
			fail_msg("%s: flags %#x", class_cases[i].name, b->flags);
		mime_body_free(b);
	}
}

/* ---- limits ---- */

/* levels nested multipart/mixed containers around one text/plain part */
static char *
make_nested(unsigned levels, size_t *len)
{
	GString *g = g_string_new("From: deep@example.com\r\nSubject: deep\r\n"
				  "MIME-Version: 1.0\r\n");
	unsigned i;

	g_string_append_printf(g,
	    "Content-Type: multipart/mixed; "
	    "boundary=\"b0\"\r\n\r\n");
	for (i = 1; i < levels; i++)
		g_string_append_printf(g,
		    "--b%u\r\nContent-Type: "
		    "multipart/mixed; boundary=\"b%u\"\r\n\r\n",
		    i - 1, i);
	g_string_append_printf(g,
	    "--b%u\r\nContent-Type: text/plain\r\n\r\n"
	    "deepest\r\n",
	    levels - 1);
	for (i = levels; i > 0; i--)
		g_string_append_printf(g, "--b%u--\r\n", i - 1);
	*len = g->len;
	return g_string_free(g, FALSE);
}

static void
test_mime_deep_nesting(void **state)
{
	struct mime_body *b;
	char		 *raw;
	size_t		  len;

	(void)state;
	raw = make_nested(40, &len);
	/* default limit: 32 levels */
	b = mime_body_parse_raw(raw, len, 0);
	assert_body_sane(b, 0);
	assert_true(b->flags & MIME_FLAG_MAX_DEPTH);
	assert_false(b->flags & MIME_FLAG_MAX_PARTS);
	assert_str("text", b->text, "");
	mime_body_free(b);

	/* a higher limit reaches the text */
	mime_init(64, DEF_MIME_MAX_PARTS);
	b = mime_body_parse_raw(raw, len, 0);
	assert_int_equal(b->flags, 0);
	assert_str("text", b->text, "deepest");
	mime_body_free(b);
	mime_init(DEF_MIME_MAX_DEPTH, DEF_MIME_MAX_PARTS);
	g_free(raw);

	/* far past GMime's own nesting limit: bounded, flagged, no crash */
	raw = make_nested(3000, &len);
	b = mime_body_parse_raw(raw, len, 1);
	assert_body_sane(b, 1);
	assert_true(b->flags & MIME_FLAG_MAX_DEPTH);
	mime_body_free(b);
	g_free(raw);
}

static void
test_mime_deep_rfc822(void **state)
{
	struct mime_body *b;
	GString		 *g = g_string_new("");
	unsigned	  i;

	(void)state;
	/* forwarded inside forwarded ... 40 and 3000 times */
	for (i = 0; i < 40; i++)
		g_string_append(g,
		    "Subject: fwd\r\nContent-Type: "
		    "message/rfc822\r\n\r\n");
	g_string_append(g, "Subject: inner\r\n\r\ninnermost\r\n");
	b = mime_body_parse_raw(g->str, g->len, 0);
	assert_body_sane(b, 0);
	assert_true(b->flags & MIME_FLAG_MAX_DEPTH);
	assert_str("text", b->text, "");
	mime_body_free(b);

	g_string_truncate(g, 0);
	for (i = 0; i < 3000; i++)
		g_string_append(g, "Content-Type: message/rfc822\r\n\r\n");
	b = mime_body_parse_raw(g->str, g->len, 1);
	assert_body_sane(b, 1);
	assert_true(b->flags & MIME_FLAG_MAX_DEPTH);
	mime_body_free(b);
	g_string_free(g, TRUE);
}

static void
test_mime_many_parts(void **state)
{
	struct mime_body *b;
	GString		 *g;
	unsigned	  i;

	(void)state;
	g = g_string_new("From: many@example.com\r\nSubject: many\r\n"
			 "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n");
	for (i = 0; i < 2000; i++)
		g_string_append_printf(g,
		    "--m\r\nContent-Type: "
		    "application/octet-stream; name=\"p%u.bin\"\r\n\r\nx\r\n",
		    i);
	g_string_append(g, "--m--\r\n");
	b = mime_body_parse_raw(g->str, g->len, 0);
	assert_body_sane(b, 0);
	assert_true(b->flags & MIME_FLAG_MAX_PARTS);
	/* the root multipart counts as one part */
	assert_int_equal(b->natts, DEF_MIME_MAX_PARTS - 1);
	assert_str("first", b->atts[0].filename, "p0.bin");
	mime_body_free(b);

	/* within the limit: every part, no flag */
	mime_init(DEF_MIME_MAX_DEPTH, 4096);
	b = mime_body_parse_raw(g->str, g->len, 0);
	assert_int_equal(b->flags, 0);
	assert_int_equal(b->natts, 2000);
	assert_str("last", b->atts[1999].filename, "p1999.bin");
	mime_body_free(b);
	mime_init(DEF_MIME_MAX_DEPTH, DEF_MIME_MAX_PARTS);
	g_string_free(g, TRUE);
}

/* Crafted messages that would make GMime build millions of objects */
static void
test_mime_gmime_budget(void **state)
{
	struct mime_body *b;
	struct mime_view *v;
	GString		 *g;
	unsigned	  i;

	(void)state;
	/* 50,000 empty parts (2.7 MB) */
	g = g_string_new("Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (i = 0; i < 50000; i++)
		g_string_append(g, "--b\r\n\r\n\r\n");
	g_string_append(g, "--b--\r\n");
	b = mime_body_parse_raw(g->str, g->len, 0);
	assert_body_sane(b, 0);
	assert_true(b->flags & MIME_FLAG_MAX_PARTS);
	mime_body_free(b);

	/* one part with 50,000 header lines */
	g_string_assign(g,
	    "Subject: bomb\r\nContent-Type: multipart/mixed; "
	    "boundary=b\r\n\r\n--b\r\nContent-Type: application/x-bomb\r\n");
	for (i = 0; i < 50000; i++)
		g_string_append(g, "X: y\r\n");
	g_string_append(g, "\r\nhi\r\n--b--\r\n");
	b = mime_body_parse_raw(g->str, g->len, 0);
	assert_body_sane(b, 0);
	assert_true(b->flags & MIME_FLAG_MAX_PARTS);
	assert_false(b->flags & MIME_FLAG_MALFORMED);
	mime_body_free(b);

	/* 50,000 top-level header lines: the view lists the first ones */
	g_string_assign(g,
	    "Subject: many\r\nContent-Type: multipart/mixed; "
	    "boundary=b\r\n");
	for (i = 0; i < 50000; i++)
		g_string_append(g, "X: y\r\n");
	g_string_append(g, "To: late@example.com\r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n");
	v = mime_view_parse(g->str, g->len);
	assert_view_sane(v);
	assert_int_equal(v->nheaders, MIME_VIEW_MAX_HEADERS);
	assert_true(v->flags & MIME_FLAG_MAX_HEADERS);
	assert_str("subject", v->subject, "many");
	assert_int_equal(v->nto, 0);
	assert_true(v->footprint < 64 * 1024);
	mime_view_free(v);
	b = mime_body_parse_raw(g->str, g->len, 0);
	assert_body_sane(b, 0);
	assert_true(b->flags & MIME_FLAG_MAX_PARTS);
	mime_body_free(b);

	/* long address lists: simple ones in full, others up to 64 KiB */
	g_string_assign(g, "To: ");
	for (i = 0; i < 5000; i++)
		g_string_append_printf(g, "%sU%u <u%u@example.com>", i ? ", " : "", i, i);
	g_string_append(g, "\r\nCc: ");
	for (i = 0; i < 5000; i++)
		g_string_append_printf(g, "%s\"U, %u\" <u%u@example.com>", i ? ", " : "", i, i);
	g_string_append(g, "\r\n\r\nbody\r\n");
	v = mime_view_parse(g->str, g->len);
	assert_view_sane(v);
	assert_int_equal(v->nto, 5000);
	assert_str("to[4999]", v->to[4999], "U4999 <u4999@example.com>");
	assert_true(v->ncc > 1000 && v->ncc < 5000);
	assert_str("cc[0]", v->cc[0], "U, 0 <u0@example.com>");
	assert_true(v->flags & MIME_FLAG_MAX_HEADERS);
	mime_view_free(v);

	/* within the limit: listed in full, no flag */
	g_string_assign(g, "Subject: some\r\n");
	for (i = 1; i < MIME_VIEW_MAX_HEADERS; i++)
		g_string_append(g, "X: y\r\n");
	g_string_append(g, "\r\nbody\r\n");
	v = mime_view_parse(g->str, g->len);
	assert_int_equal(v->nheaders, MIME_VIEW_MAX_HEADERS);
	assert_int_equal(v->flags, 0);
	mime_view_free(v);
	g_string_free(g, TRUE);
}

/*
 * Hardening issue, item 8: with 200,000 header fields a view lists the
 * first 1,024, yet a Subject after them is the view's subject and every
 * later field can still be read, one at a time, while the view stays small.
 */
static void
test_mime_headers_past_listed(void **state)
{
	GString		       *g = g_string_new(NULL);
	struct message	       *m = message_new();
	const struct mime_view *v;
	char		       *name, *value;
	size_t			off, n = 0, i, late = 0;

	for (i = 0; i < 200000; i++)
		g_string_append_printf(g, "X-F%zu: v%zu\r\n", i, i);
	g_string_append(g,
	    "Subject: =?UTF-8?Q?late_s=C3=BCbject?=\r\n"
	    "X-Late: needle\r\n  folded\r\n"
	    "From: Late <late@example.com>\r\n"
	    "\r\nbody\r\n");
	m->size = g->len;
	m->data = g_string_free(g, FALSE);
	v = mime_view_get(m);
	assert_int_equal(v->nheaders, MIME_VIEW_MAX_HEADERS);
	assert_true(v->flags & MIME_FLAG_MAX_HEADERS);
	assert_str("subject", v->subject,
	    "late s\xc3\xbc"
	    "bject");
	assert_str("from", v->from, "Late <late@example.com>");
	assert_true(v->footprint < 64 * 1024);
	assert_true(v->more > 0 && v->header_end > v->more);
	assert_int_equal(strncmp(m->data + v->more, "X-F1024:", 8), 0);
	for (off = v->more; mime_view_more(m, v, &off, &name, &value); n++) {
		if (strcmp(name, "X-Late") == 0) {
			assert_str("X-Late", value, "needle  folded"); /* as listed ones unfold */
			late++;
		}
		if (n == 0) {
			assert_str("first unlisted", name, "X-F1024");
			assert_str("its value", value, "v1024");
		}
		free(name);
		free(value);
	}
	assert_int_equal(late, 1);
	assert_int_equal(n, 200000 + 3 - MIME_VIEW_MAX_HEADERS);
	assert_int_equal(off, v->header_end);
	message_free(m);

	/* Within the limit there is nothing more */
	m = message_new();
	m->data = xstrdup("Subject: s\r\nX: y\r\n\r\nbody\r\n");
	m->size = strlen(m->data);
	v = mime_view_get(m);
	assert_int_equal(v->more, 0);
	off = v->more;
	assert_false(mime_view_more(m, v, &off, &name, &value));
	message_free(m);
}

/* ---- malformed and odd input ---- */

static void
test_mime_missing_boundary(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("missing_boundary.eml", &p);
	assert_str("subject", p.v->subject, "Missing closing boundary");
	assert_true(p.b->flags & MIME_FLAG_MALFORMED);
	assert_str("text", p.b->text, "First part text.");
	assert_int_equal(p.b->natts, 1);
	assert_str("filename", p.b->atts[0].filename, "cut.bin");
	parsed_free(&p);
}

static void
test_mime_garbage_headers(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("garbage_headers.eml", &p);
	/* the first non-header line starts the body */
	assert_true(p.v->flags & MIME_FLAG_MALFORMED);
	assert_true(p.b->flags & MIME_FLAG_MALFORMED);
	assert_str("subject", p.v->subject, "Before garbage");
	assert_int_equal(p.v->nheaders, 2);
	assert_int_equal(p.v->nto, 0);
	assert_str("text", p.b->text,
	    "this line is not a header\r\n"
	    "To: b@example.com\r\n\r\nBody after garbage.\r\n");
	parsed_free(&p);
}

static void
test_mime_no_separator(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("no_separator.eml", &p);
	assert_true(p.v->flags & MIME_FLAG_MALFORMED);
	assert_str("subject", p.v->subject, "Forgot the empty line");
	assert_int_equal(p.v->nheaders, 3);
	assert_str("text", p.b->text,
	    "Hello, this is the body without a "
	    "separator.\r\nSecond body line.\r\n");
	parsed_free(&p);
}

static void
test_mime_junk_8bit(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("junk_8bit.eml", &p);
	/* no UTF-8 sequence at all: a legacy charset, read as ISO-8859-1 */
	assert_str("subject", p.v->subject,
	    "bad \xc3\x83( bytes \xc3\xa9t\xc3\xa9 \xc3\xb0\xc2\x9f");
	assert_str("from", p.v->from, "Junk \xc3\xbf\xc3\xbe <junk@example.com>");
	assert_int_equal(p.v->nto, 1);
	assert_str("X-Ctl", view_header(p.v, "X-Ctl"), "\x01\x02\x7f");
	/* UTF-8 with junk: the junk bytes are replaced, the rest kept */
	assert_str("text", p.b->text,
	    "body \xef\xbf\xbd\xef\xbf\xbd\xef\xbf"
	    "\xbd junk \xc3\xa9 ok\r\n");
	parsed_free(&p);
}

static void
test_mime_nul_bytes(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("nul_bytes.eml", &p);
	/* NUL becomes U+FFFD: nothing after it is lost */
	assert_str("subject", p.v->subject, "nul\xef\xbf\xbdinside");
	assert_true(p.v->flags & MIME_FLAG_MALFORMED);
	assert_int_equal(p.v->nto, 1);
	assert_str("text", p.b->text, "body\xef\xbf\xbdwith\xef\xbf\xbdnuls\r\n");
	parsed_free(&p);
}

static void
test_mime_empty(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("empty.eml", &p);
	assert_str("subject", p.v->subject, "");
	assert_str("from", p.v->from, "");
	assert_int_equal(p.v->nheaders, 0);
	assert_int_equal(p.v->nto, 0);
	assert_int_equal(p.v->flags, 0);
	assert_str("text", p.b->text, "");
	assert_str("html", p.b->html, "");
	assert_int_equal(p.b->natts, 0);
	parsed_free(&p);
}

static void
test_mime_bare_lf(void **state)
{
	struct parsed p;

	(void)state;
	parse_fixture("bare_lf.eml", &p);
	assert_str("subject", p.v->subject, "bare LF folded");
	assert_str("from", p.v->from, "Lf Sender <lf@example.com>");
	assert_int_equal(p.v->nheaders, 4);
	assert_int_equal(p.v->flags, 0);
	assert_str("text", p.b->text, "line one\nline two\n");
	assert_int_equal(p.b->flags, 0);
	parsed_free(&p);
}

/* Table: odd messages that must not crash and give these texts */
static const struct {
	const char *name;
	const char *raw;
	const char *want_text;
	unsigned    want_flags; /* bits that must be set */
} odd_cases[] = {
	{ "no header at all", "just a line\r\nand another\r\n", "just a line\r\nand another\r\n",
	    MIME_FLAG_MALFORMED },
	{ "leading continuation", " folded: x\r\nSubject: y\r\n\r\nb\r\n",
	    " folded: x\r\nSubject: y\r\n\r\nb\r\n", MIME_FLAG_MALFORMED },
	{ "header only", "Subject: only\r\n", "", 0 },
	{ "header only, no eol", "Subject: only", "", 0 },
	{ "missing content-type", "Subject: x\r\n\r\nplain body", "plain body", 0 },
	{ "multipart without boundary",
	    "Content-Type: multipart/mixed\r\n\r\n"
	    "text\r\n",
	    NULL, 0 },
	{ "empty multipart",
	    "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
	    "--x--\r\n",
	    "", 0 },
	{ "bad base64",
	    "Content-Type: text/plain\r\nContent-Transfer-Encoding:"
	    " base64\r\n\r\n!!!!\r\n",
	    NULL, 0 },
	{ "unknown charset",
	    "Content-Type: text/plain; charset=x-nope\r\n\r\n"
	    "caf\xc3\xa9\r\n",
	    "caf\xc3\xa9\r\n", 0 },
	{ "latin1 without charset", "Subject: x\r\n\r\ncaf\xe9\r\n", "caf\xc3\xa9\r\n", 0 },
	{ "cr only", "\r", "\r", MIME_FLAG_MALFORMED },
	{ "lone lf", "\n", "", 0 },
	{ "8bit header name", "Sub\xe9ject: x\r\n\r\nb\r\n", NULL, MIME_FLAG_MALFORMED },
	{ "message/rfc822 empty", "Content-Type: message/rfc822\r\n\r\n", NULL, 0 },
	{ "boundary in preamble only",
	    "Content-Type: multipart/alternative; "
	    "boundary=q\r\n\r\nno parts at all\r\n",
	    NULL, 0 },
};

static void
test_mime_odd_table(void **state)
{
	struct mime_view *v;
	struct mime_body *b;
	size_t		  i, len;

	(void)state;
	for (i = 0; i < sizeof(odd_cases) / sizeof(*odd_cases); i++) {
		len = strlen(odd_cases[i].raw);
		v = mime_view_parse(odd_cases[i].raw, len);
		assert_view_sane(v);
		b = mime_body_parse_raw(odd_cases[i].raw, len, 1);
		assert_body_sane(b, 1);
		if (odd_cases[i].want_text != NULL && strcmp(b->text, odd_cases[i].want_text) != 0)
			fail_msg("%s: text: got \"%s\", want \"%s\"", odd_cases[i].name, b->text,
			    odd_cases[i].want_text);
		if ((b->flags & odd_cases[i].want_flags) != odd_cases[i].want_flags)
			fail_msg("%s: flags: got %#x, want %#x set", odd_cases[i].name, b->flags,
			    odd_cases[i].want_flags);
		mime_view_free(v);
		mime_body_free(b);
	}
}

/* Random bytes and random cuts of the fixtures: never crash, always UTF-8 */
static void
test_mime_fuzz_smoke(void **state)
{
	static const char *names[] = { "mixed_png.eml", "nested_rfc822.eml", "rfc2231.eml",
		"alternative.eml", "rfc2047.eml" };
	struct mime_view  *v;
	struct mime_body  *b;
	char		  *raw, buf[512];
	size_t		   len, cut, i, j;
	uint32_t	   seed = 12345;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		raw = fixture_read(names[i], &len);
		for (cut = 0; cut <= len; cut += 7) {
			v = mime_view_parse(raw, cut);
			assert_view_sane(v);
			b = mime_body_parse_raw(raw, cut, 1);
			assert_body_sane(b, 1);
			mime_view_free(v);
			mime_body_free(b);
		}
		free(raw);
	}
	for (i = 0; i < 200; i++) {
		for (j = 0; j < sizeof(buf); j++) {
			seed = seed * 1103515245 + 12345;
			buf[j] = (char)(seed >> 16);
			/* plenty of line structure */
			if ((seed >> 8) % 13 == 0)
				buf[j] = '\n';
			else if ((seed >> 8) % 17 == 0)
				buf[j] = ':';
		}
		v = mime_view_parse(buf, sizeof(buf));
		assert_view_sane(v);
		b = mime_body_parse_raw(buf, sizeof(buf), 0);
		assert_body_sane(b, 0);
		mime_view_free(v);
		mime_body_free(b);
	}
}

/* ---- fast paths and GMime agree ---- */

static const char *agree_extra[] = {
	/* nested multiparts, parts without headers, padding, pre/epilogue */
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\npreamble\r\n"
	"--outer  \r\nContent-Type: multipart/alternative; boundary=inner\r\n"
	"\r\n--inner\r\n\r\nplain \xc3\xa9\r\n--inner\r\nContent-Type: text/html;"
	" charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n"
	"\r\n<p>caf=E9</p>\r\n--inner--\r\n\r\n--outer\r\nContent-Type: "
	"application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n"
	"Content-ID: <pdf@x>\r\n\r\nJVBERi0x\r\nLjQK\r\n--outer\r\n"
	"Content-Type: image/gif\r\nContent-ID: bare@x\r\nContent-Disposition: "
	"inline\r\n\r\nGIF89a\r\n--outer--\r\nepilogue\r\n",
	/* bare LF everywhere */
	"Content-Type: multipart/alternative; boundary=q\n\n--q\n"
	"Content-Type: text/plain\n\nline\n\n--q\nContent-Type: text/html\n\n"
	"<b>x</b>\n--q--\n",
	/* empty parts and a part that is only a header */
	"Content-Type: multipart/mixed; boundary=e\r\n\r\n--e\r\n--e\r\n"
	"Content-Type: application/x-empty\r\n\r\n--e\r\n\r\n--e--\r\n",
	/* boundary that prefixes a line of text: GMime's call */
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\r\n"
	"--bx not a boundary\r\n--b--\r\n",
	/* a child closing with its parent's boundary */
	"Content-Type: multipart/mixed; boundary=p\r\n\r\n--p\r\nContent-Type: "
	"multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nchild\r\n--p--\r\n",
	/* Content-ID with a comment; duplicated Content-Type headers */
	"Content-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n"
	"Content-Type: image/png\r\nContent-ID: <img1@x> (logo)\r\n\r\nx\r\n"
	"--c\r\nContent-Type: text/html\r\nContent-Type: image/gif\r\n\r\ny\r\n"
	"--c--\r\n",
	"Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\n<b>z</b>\r\n",
	/* uuencode, digest: GMime only */
	"Content-Type: multipart/mixed; boundary=u\r\n\r\n--u\r\n"
	"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n#86)C\r\n`\r\n"
	"end\r\n--u--\r\n",
	"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: "
	"in digest\r\n\r\ndigest body\r\n--d--\r\n",
	/* charset names, case, 2231 and 2047 parameters */
	"Content-Type: MULTIPART/Mixed; BOUNDARY=\"Z\"\r\n\r\n--Z\r\nContent-Type:"
	" Text/Plain; Charset=\"Windows-1252\"\r\n\r\n\x93quoted\x94 \x80\r\n--Z\r\n"
	"Content-Type: application/octet-stream\r\nContent-Disposition: "
	"ATTACHMENT; filename*=utf-8''%E2%82%AC.txt\r\n\r\nx\r\n--Z\r\n"
	"Content-Type: text/plain; name=\"=?UTF-8?B?SGk=?= =?UTF-8?B?IHRoZXJl?=\""
	"\r\n\r\ny\r\n--Z--\r\n",
};

static void
assert_bodies_equal(const char *what, const struct mime_body *a, const struct mime_body *b)
{
	char err[2048];

	if (mime_check_same(a, b, err, sizeof(err)) == -1)
		fail_msg("%s: %s", what, err);
}

static void
agree_one(const char *what, const char *raw, size_t len)
{
	struct mime_body *fast, *slow;
	int		  wc;

	for (wc = 0; wc <= 1; wc++) {
		mime_set_fast_paths(1);
		fast = mime_body_parse_raw(raw, len, wc);
		mime_set_fast_paths(0);
		slow = mime_body_parse_raw(raw, len, wc);
		mime_set_fast_paths(1);
		assert_body_sane(fast, wc);
		assert_body_sane(slow, wc);
		assert_bodies_equal(what, fast, slow);
		mime_body_free(fast);
		mime_body_free(slow);
	}
}

static void
test_mime_paths_agree(void **state)
{
	static const char *names[] = { "plain.eml", "rfc2047.eml", "smtputf8.eml",
		"alternative.eml", "mixed_png.eml", "rfc2231.eml", "inline_cid.eml",
		"nested_rfc822.eml", "attached_eml.eml", "missing_boundary.eml",
		"garbage_headers.eml", "no_separator.eml", "junk_8bit.eml", "nul_bytes.eml",
		"empty.eml", "bare_lf.eml" };
	GString		  *g;
	char		  *raw;
	size_t		   i, len;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(*names); i++) {
		raw = fixture_read(names[i], &len);
		agree_one(names[i], raw, len);
		free(raw);
	}
	for (i = 0; i < sizeof(class_cases) / sizeof(*class_cases); i++)
		agree_one(class_cases[i].name, class_cases[i].raw, strlen(class_cases[i].raw));
	for (i = 0; i < sizeof(odd_cases) / sizeof(*odd_cases); i++)
		agree_one(odd_cases[i].name, odd_cases[i].raw, strlen(odd_cases[i].raw));
	for (i = 0; i < sizeof(agree_extra) / sizeof(*agree_extra); i++)
		agree_one("extra", agree_extra[i], strlen(agree_extra[i]));

	/* the limits: depth 40 of 32, 1100 parts of 1024 */
	raw = make_nested(40, &len);
	agree_one("nested 40", raw, len);
	g_free(raw);
	raw = make_nested(20, &len);
	agree_one("nested 20", raw, len);
	g_free(raw);
	g = g_string_new("Content-Type: multipart/mixed; boundary=m\r\n\r\n");
	for (i = 0; i < 1100; i++)
		g_string_append_printf(g,
		    "--m\r\nContent-Type: image/png\r\n"
		    "Content-ID: <p%zu>\r\n\r\nx\r\n",
		    i);
	g_string_append(g, "--m--\r\n");
	agree_one("1100 parts", g->str, g->len);
	g_string_free(g, TRUE);
}

/*
 * Randomly damaged fixtures (bytes replaced or cut) still give the same
 * results on both paths. Left out, where GMime takes as many bytes before
 * a boundary line as that line's own end has (the fast path takes the line
 * end before it, RFC 2046): mixed line endings, and a message whose last
 * line has no end (SMTP DATA always has one).
 */
static void
test_mime_paths_agree_damaged(void **state)
{
	static const char *names[] = { "alternative.eml", "mixed_png.eml", "rfc2231.eml",
		"inline_cid.eml", "nested_rfc822.eml", "attached_eml.eml", "plain.eml",
		"rfc2047.eml", "bare_lf.eml" };
	static const char  alpha[] = "-\r\n:;=\"<>/ \tabcb2231BOUNDARYxyz=?*'%";
	uint32_t	   seed = 2;
	char		  *raw, what[64];
	size_t		   len, k, pos, l, crlf, lf;
	int		   it, m, nmut, done = 0;

#define RND() (seed = seed * 1103515245 + 12345, (seed >> 8) & 0xffffff)
	(void)state;
	for (it = 0; done < 150 && it < 3000; it++) {
		raw = fixture_read(names[RND() % 9], &len);
		nmut = 1 + RND() % 4;
		for (m = 0; m < nmut && len > 0; m++) {
			pos = RND() % len;
			switch (RND() % 3) {
			case 0:
				raw[pos] = alpha[RND() % (sizeof(alpha) - 1)];
				break;
			default:
				l = 1 + RND() % 20;
				if (pos + l > len)
					l = len - pos;
				memmove(raw + pos, raw + pos + l, len - pos - l);
				len -= l;
				break;
			}
		}
		for (k = crlf = lf = 0; k < len; k++)
			if (raw[k] == '\n' && k > 0 && raw[k - 1] == '\r')
				crlf++;
			else if (raw[k] == '\n')
				lf++;
		if ((crlf == 0 || lf == 0) && len > 0 && raw[len - 1] == '\n') {
			snprintf(what, sizeof(what), "damaged #%d", it);
			agree_one(what, raw, len);
			done++;
		}
		free(raw);
	}
#undef RND
	assert_int_equal(done, 150);
}

/*
 * Issue 8 (clang's UBSan, "applying zero offset to null pointer"): an empty
 * text part decoded through a charset filter handed a NULL buffer to
 * mime_str_add_utf8(), and an encoded word with an empty text in a charset
 * iconv accepts left mime_charset_to_utf8() doing arithmetic on a NULL
 * string. Both inputs are also in tests/fuzz/regressions/fuzz_mime/.
 */
static void
test_mime_issue_8_null_offsets(void **state)
{
	static const char utf7[] = "Content-Type:\nContent-Type:text/html;charset=utf7";
	static const char cc[] = "Cc:=?\0?q?\?=";
	struct mime_view *v;
	struct mime_body *b;
	struct mime_str	  s = { 0 };

	(void)state;
	assert_int_equal(mime_str_add_utf8(&s, NULL, 0), 0);
	assert_non_null(s.p);
	assert_string_equal(s.p, "");
	free(s.p);
	memset(&s, 0, sizeof(s));
	mime_charset_to_utf8("utf7", 4, NULL, 0, &s);
	assert_non_null(s.p);
	assert_string_equal(s.p, "");
	free(s.p);

	agree_one("utf7 html", utf7, sizeof(utf7) - 1);
	b = mime_body_parse_raw(utf7, sizeof(utf7) - 1, 1);
	assert_body_sane(b, 1);
	assert_string_equal(b->html, "");
	assert_string_equal(b->text, "");
	mime_body_free(b);

	v = mime_view_parse(cc, sizeof(cc) - 1);
	assert_view_sane(v);
	assert_int_equal(v->ncc, 1);
	assert_string_equal(v->cc[0], "=?\xef\xbf\xbd?q?\?=");
	mime_view_free(v);
	agree_one("cc empty charset", cc, sizeof(cc) - 1);
}

/*
 * Issue 8 (fuzz_mime): bytes a declared charset cannot convert became
 * U+FFFD on the fast paths but were dropped by GMime's charset filter on
 * the GMime route; both now convert through mime_charset_to_utf8().
 */
static void
test_mime_unconvertible_both_routes(void **state)
{
	static const char single[] = "Content-Type: text/plain; charset=windows-1252\r\n\r\n"
				     "a\x81z\r\n";
	static const char
			  multi[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
				    "--b\r\nContent-Type: text/plain; charset=shift_jis\r\n\r\na\x82\r\n"
				    "--b\r\nContent-Type: image/gif\r\n\r\nGIF89a\r\n--b--\r\n";
	struct mime_body *b;
	int		  fast;

	(void)state;
	for (fast = 1; fast >= 0; fast--) {
		mime_set_fast_paths(fast);
		b = mime_body_parse_raw(single, sizeof(single) - 1, 0);
		assert_string_equal(b->text, "a\xef\xbf\xbdz\r\n");
		mime_body_free(b);
		b = mime_body_parse_raw(multi, sizeof(multi) - 1, 0);
		assert_string_equal(b->text, "a\xef\xbf\xbd");
		assert_int_equal(b->natts, 1);
		mime_body_free(b);
	}
	mime_set_fast_paths(1);
	agree_one("windows-1252 0x81", single, sizeof(single) - 1);
	agree_one("shift_jis cut", multi, sizeof(multi) - 1);
}

/*
 * Issue 8 (fuzz_mime): an attachment's content type with bytes that are not
 * UTF-8 was handed out as is by the fast paths (not UTF-8) and decoded as
 * Latin-1 by GMime; such a type now reads application/octet-stream on both.
 */
static void
test_mime_content_type_utf8(void **state)
{
	static const char raw[] = "Content-Type: multipart/related; boundary=r\r\n\r\n"
				  "--r\r\nContent-Type: tex\xff\x89t/HTML\r\n\r\n<p>\r\n--r\r\n"
				  "Content-Type: image/gif\r\n\r\nGIF89a\r\n--r--\r\n";
	struct mime_body *b;
	int		  fast;

	(void)state;
	for (fast = 1; fast >= 0; fast--) {
		mime_set_fast_paths(fast);
		b = mime_body_parse_raw(raw, sizeof(raw) - 1, 0);
		assert_body_sane(b, 0);
		assert_int_equal(b->natts, 2);
		assert_string_equal(b->atts[0].content_type, "application/octet-stream");
		assert_string_equal(b->atts[1].content_type, "image/gif");
		mime_body_free(b);
	}
	mime_set_fast_paths(1);
	agree_one("content type not UTF-8", raw, sizeof(raw) - 1);
}

/*
 * Issue 8 (fuzz_mime): a NUL inside Content-Type. GMime reads the value up
 * to the NUL (no charset here), the fast path read past it; such headers
 * now take GMime's route, so both give the same text.
 */
static void
test_mime_nul_in_content_type(void **state)
{
	static const char raw[] = "Content-Type: text/plain\t\0\0; charset=windows-1252"
				  "\r\n\r\na\x81z\r\n";
	static const char
	    multi[] = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		      "--b\r\nContent-Type: text/plain\0; charset=windows-1252\r\n\r\na\x81z\r\n"
		      "--b--\r\n";

	(void)state;
	agree_one("NUL in Content-Type", raw, sizeof(raw) - 1);
	agree_one("NUL in a part's Content-Type", multi, sizeof(multi) - 1);
}

/*
 * Issue 8 (fuzz_mime): RFC 2231 filenames. GMime's parser decodes a
 * header's raw 8-bit bytes as text before it %-decodes an RFC 2231 value,
 * so on the GMime route one value's octets were read in two charsets
 * ("%E2%<B8>2%AC" in UTF-8: U+FFFD, then the Latin-1 reading of 0xB8 made
 * UTF-8, then U+FFFD), while the fast route took them as one byte string.
 * Both now read every octet, raw or %-escaped, in the declared charset
 * through mime_charset_to_utf8(), as declared-charset text is read
 * everywhere else: "utf-8" octets without a single UTF-8 sequence are read
 * as legacy text, unconvertible bytes and NULs become U+FFFD (GMime dropped
 * the former and stopped at the latter), sections are joined in number
 * order, and the first parameter of the name decides, as in GMime.
 */
static const struct {
	const char *name;
	const char *disp;  /* Content-Disposition, or NULL */
	const char *ctype; /* the part's Content-Type */
	const char *want;
} rfc2231_cases[] = {
	{ "fuzz_mime finding: bad escape, raw 8-bit, utf-8",
	    "ATTACHMENT; filename*=utf-8''%E2%\xb8"
	    "2%AC.txt",
	    "application/octet-stream",
	    "\xc3\xa2%\xc2\xb8"
	    "2\xc2\xac.txt" },
	{ "raw 8-bit octet in a Latin-1 value", "attachment; filename*=iso-8859-1''caf\xe9.txt",
	    "application/octet-stream", "caf\xc3\xa9.txt" },
	{ "raw 8-bit octet, name= of the Content-Type", NULL,
	    "text/csv; name*=iso-8859-1''r\xe9sum\xe9.csv", "r\xc3\xa9sum\xc3\xa9.csv" },
	{ "utf-8 with one bad octet", "attachment; filename*=UTF-8''caf%C3%A9%E2.txt",
	    "application/octet-stream", "caf\xc3\xa9\xef\xbf\xbd.txt" },
	{ "a NUL octet", "attachment; filename*=iso-8859-1''a%00b.txt", "application/octet-stream",
	    "a\xef\xbf\xbd"
	    "b.txt" },
	{ "unconvertible octet", "attachment; filename*=shift_jis''a%82.txt",
	    "application/octet-stream", "a\xef\xbf\xbd.txt" },
	{ "no charset'lang'", "attachment; filename*=caf%E9.txt", "application/octet-stream",
	    "caf\xc3\xa9.txt" },
	{ "sections out of order, charset in section 0",
	    "attachment; filename*1*=%AC.txt; filename*0*=utf-8''%E2%82",
	    "application/octet-stream", "\xe2\x82\xac.txt" },
	{ "sections, quoted and plain",
	    "attachment;\r\n filename*0*=utf-8'en'a%20;"
	    "\r\n filename*1=\"b; c\";\r\n filename*2=.txt",
	    "application/octet-stream", "a b; c.txt" },
	{ "the first parameter of the name decides (2231)",
	    "attachment; filename*=utf-8''star.txt; filename=\"plain.txt\"",
	    "application/octet-stream", "star.txt" },
	{ "the first parameter of the name decides (plain)",
	    "attachment; filename=\"plain.txt\"; filename*=utf-8''star.txt",
	    "application/octet-stream", "plain.txt" },
};

static void
test_mime_rfc2231_both_routes(void **state)
{
	struct mime_body *b;
	char		 *raw;
	size_t		  i;
	int		  fast;

	(void)state;
	for (i = 0; i < sizeof(rfc2231_cases) / sizeof(*rfc2231_cases); i++) {
		xasprintf(&raw,
		    "Content-Type: multipart/mixed; boundary=Z\r\n\r\n"
		    "--Z\r\nContent-Type: text/plain\r\n\r\nbody\r\n--Z\r\n"
		    "Content-Type: %s\r\n%s%s%s\r\nx\r\n--Z--\r\n",
		    rfc2231_cases[i].ctype,
		    rfc2231_cases[i].disp != NULL ? "Content-Disposition: " : "",
		    rfc2231_cases[i].disp != NULL ? rfc2231_cases[i].disp : "",
		    rfc2231_cases[i].disp != NULL ? "\r\n" : "");
		for (fast = 1; fast >= 0; fast--) {
			mime_set_fast_paths(fast);
			b = mime_body_parse_raw(raw, strlen(raw), 0);
			assert_body_sane(b, 0);
			if (b->natts != 1)
				fail_msg("%s (%s): %zu attachments", rfc2231_cases[i].name,
				    fast ? "fast" : "GMime", b->natts);
			if (strcmp(b->atts[0].filename, rfc2231_cases[i].want) != 0)
				fail_msg("%s (%s): got \"%s\", want \"%s\"", rfc2231_cases[i].name,
				    fast ? "fast" : "GMime", b->atts[0].filename,
				    rfc2231_cases[i].want);
			mime_body_free(b);
		}
		mime_set_fast_paths(1);
		agree_one(rfc2231_cases[i].name, raw, strlen(raw));
		free(raw);
	}
}

/*
 * The GMime route reads the name from the header GMime's object uses (the
 * last of two), not from the first: "plain.txt", not the first header's
 * RFC 2047 name.
 */
static void
test_mime_filename_last_header(void **state)
{
	static const char raw[] = "Content-Type: application/octet-stream\r\n"
				  "Content-Disposition: attachment; filename=\"=?UTF-8?B?SGk=?= "
				  "=?UTF-8?B?IHRoZXJl?=.txt\"\r\nContent-Disposition: attachment; "
				  "filename=plain.txt\r\n\r\nx\r\n";
	struct mime_body *b;

	(void)state;
	b = mime_body_parse_raw(raw, sizeof(raw) - 1, 0);
	assert_int_equal(b->natts, 1);
	assert_string_equal(b->atts[0].filename, "plain.txt");
	mime_body_free(b);
}

/*
 * Issue 8 (fuzz_mime): a Content-ID with 8-bit bytes. GMime's parser had
 * decoded them as Latin-1 text on the GMime route, the fast route read the
 * raw bytes; both now read the raw header value. A msg-id names no
 * charset: UTF-8 stays, other bytes become U+FFFD.
 */
static void
test_mime_content_id_8bit(void **state)
{
	static const char
			  raw[] = "Content-Type: multipart/related; boundary=r\r\n\r\n"
				  "--r\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:i@x\">\r\n--r\r\n"
				  "Content-Type: image/gif\r\nContent-ID: <caf\xe9@x>\r\n\r\nGIF89a\r\n"
				  "--r\r\nContent-Type: image/gif\r\nContent-ID: <caf\xc3\xa9\r\n @x>\r\n"
				  "\r\nGIF89a\r\n--r--\r\n";
	struct mime_body *b;
	int		  fast;

	(void)state;
	for (fast = 1; fast >= 0; fast--) {
		mime_set_fast_paths(fast);
		b = mime_body_parse_raw(raw, sizeof(raw) - 1, 0);
		assert_int_equal(b->natts, 2);
		assert_string_equal(b->atts[0].content_id, "caf\xef\xbf\xbd@x");
		assert_string_equal(b->atts[1].content_id, "caf\xc3\xa9@x");
		mime_body_free(b);
	}
	mime_set_fast_paths(1);
	agree_one("8-bit Content-ID", raw, sizeof(raw) - 1);
}

/*
 * A multipart boundary with 8-bit bytes (found with the Content-ID
 * finding): GMime's parser decodes the header as text and looks for
 * another boundary than the raw delimiter lines hold (no parts), the fast
 * path found the parts. RFC 2046 boundaries are ASCII; such a message now
 * takes GMime's route, so both give one answer.
 */
static void
test_mime_boundary_8bit(void **state)
{
	static const char
			  raw[] = "Content-Type: multipart/mixed; boundary=\"b\xe9\"\r\n"
				  "\r\n--b\xe9\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\xe9\r\n"
				  "Content-Type: image/gif\r\n\r\nGIF89a\r\n--b\xe9--\r\n";
	struct mime_body *b;
	unsigned long	  before;

	(void)state;
	before = mime_stat_gmime_parses();
	b = mime_body_parse_raw(raw, sizeof(raw) - 1, 0);
	assert_int_equal(mime_stat_gmime_parses() - before, 1);
	assert_body_sane(b, 0);
	mime_body_free(b);
	agree_one("8-bit boundary", raw, sizeof(raw) - 1);
}

/*
 * Issue 8 (fuzz_mime): a charset name with 8-bit bytes. glibc's iconv_open()
 * skips them and found windows-1252 in "Windo<88...>ws-1252" on the fast
 * path; on the GMime route, whose parser had made each byte two, the name
 * outgrew its buffer and the text was read as of unknown charset. A name
 * that is not ASCII names no charset (RFC 2978): the text reads on both
 * routes as it reads without one.
 */
static void
test_mime_charset_name_8bit(void **state)
{
	static const char single[] = "Content-Type: text/plain; charset=\"Windo\x88ws-1252\""
				     "\r\n\r\n\x93quoted\x94 \x80\r\n";
	static const char
			  multi[] = "Content-Type: multipart/mixed; boundary=Z\r\n\r\n"
				    "--Z\r\nContent-Type: text/plain; charset=\"Windo\x88\x88\x88\x88\x88\x88"
				    "\x88\x88\x88\x88\x88\x88\x88\x88\x88\x88\x88\x88\x88\x88\x88\x88\x88\x88"
				    "\x88\x88\x88\x88ws-1252\"\r\n\r\n\x93quoted\x94 \x80\r\n--Z\r\n"
				    "Content-Type: image/gif\r\n\r\nGIF89a\r\n--Z--\r\n";
	/* the same text without a charset (a part's text ends before the CRLF) */
	static const char none[] = "Subject: x\r\n\r\n\x93quoted\x94 \x80";
	struct mime_body *b, *want;
	char		 *line;
	int		  fast;

	(void)state;
	want = mime_body_parse_raw(none, sizeof(none) - 1, 0);
	xasprintf(&line, "%s\r\n", want->text);
	for (fast = 1; fast >= 0; fast--) {
		mime_set_fast_paths(fast);
		b = mime_body_parse_raw(single, sizeof(single) - 1, 0);
		assert_string_equal(b->text, line);
		mime_body_free(b);
		b = mime_body_parse_raw(multi, sizeof(multi) - 1, 0);
		assert_string_equal(b->text, want->text);
		mime_body_free(b);
	}
	mime_set_fast_paths(1);
	free(line);
	mime_body_free(want);
	agree_one("8-bit charset name", single, sizeof(single) - 1);
	agree_one("8-bit charset name, long", multi, sizeof(multi) - 1);
}

/*
 * Issue 8 (fuzz_mime): a boundary (or charset) given twice. The fast
 * path's Content-Type reader kept the last one, GMime the first, so the
 * routes split the body at different lines. Such a value now goes to
 * GMime's parser on the fast path too.
 */
static void
test_mime_param_twice(void **state)
{
	static const char
			  boundary[] = "Content-Type: multipart/mixed; "
				       "boundary=\"outer\"\r; boundary=inner\r\n\r\n--inner\r\n\r\nplain A\r\n"
				       "--inner--\r\n--outer\r\n\r\nplain B\r\n--outer--\r\n";
	static const char charset[] = "Content-Type: text/plain; charset=iso-8859-1; "
				      "charset=utf-8\r\n\r\ncaf\xe9\r\n";
	struct mime_body *b;
	int		  fast;

	(void)state;
	for (fast = 1; fast >= 0; fast--) {
		mime_set_fast_paths(fast);
		b = mime_body_parse_raw(boundary, sizeof(boundary) - 1, 0);
		assert_string_equal(b->text, "plain B");
		mime_body_free(b);
		b = mime_body_parse_raw(charset, sizeof(charset) - 1, 0);
		assert_string_equal(b->text, "caf\xc3\xa9\r\n");
		mime_body_free(b);
	}
	mime_set_fast_paths(1);
	agree_one("boundary twice", boundary, sizeof(boundary) - 1);
	agree_one("charset twice", charset, sizeof(charset) - 1);
}

/*
 * Issue 8 (fuzz_mime): encoded words in Content-Type, Content-Disposition
 * and Content-Transfer-Encoding. RFC 2047 does not allow them there, but
 * GMime's objects decode every header as text before they parse it, while
 * its parser takes the structure from the raw value: "text/plai=?UTF-8?Q?
 * n?=" is a text/plain body there and was an attachment "text/plai" on the
 * fast path; "=?utf-8?q?multipart?=/mixed" is one leaf whose type says
 * multipart. Where decoding changes what the fast path reads, the message
 * now takes GMime's route, and both give GMime's reading (these values).
 */
static void
test_mime_encoded_words_in_structure(void **state)
{
	static const struct {
		const char *raw;
		const char *text;
		size_t	    natts;
	} cases[] = {
		{ "Content-Type: text/plai=?UTF-8?Q?n?=\r\n\r\nbody\r\n", "body\r\n", 0 },
		{ "Content-Type: =?utf-8?q?multipart?=/mixed; boundary=Z\r\n\r\n--Z\r\n"
		  "\r\nbody\r\n--Z\r\nContent-Type: image/gif\r\n\r\nGIF89a\r\n--Z--\r\n",
		    "", 1 },
		{ "Content-Type: text/plain\r\nContent-Transfer-Encoding: "
		  "=?utf-8?q?base64?=\r\n\r\nYm9keQ==\r\n",
		    "body", 0 },
		{ "Content-Type: multipart/mixed; boundary=Z\r\n\r\n--Z\r\n\r\nbody\r\n"
		  "--Z\r\nContent-Disposition: =?utf-8?q?attachment?=\r\n\r\nx\r\n"
		  "--Z--\r\n",
		    "body", 1 },
	};
	struct mime_body *b;
	size_t		  i;
	int		  fast;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		for (fast = 1; fast >= 0; fast--) {
			mime_set_fast_paths(fast);
			b = mime_body_parse_raw(cases[i].raw, strlen(cases[i].raw), 0);
			if (strcmp(b->text, cases[i].text) != 0 || b->natts != cases[i].natts)
				fail_msg("case %zu (%s): text \"%s\", %zu attachments", i,
				    fast ? "fast" : "GMime", b->text, b->natts);
			mime_body_free(b);
		}
		mime_set_fast_paths(1);
		agree_one("encoded words in a structured header", cases[i].raw,
		    strlen(cases[i].raw));
	}
}

/*
 * A U+0000 that a declared charset decodes (a NUL byte in ISO-8859-1, two
 * in UTF-16, =00 in an encoded word) became a NUL in the text, which cut
 * it short; it is U+FFFD like any NUL.
 */
static void
test_mime_charset_nul(void **state)
{
	static const char latin1[] = "Content-Type: text/plain; charset=iso-8859-1\r\n"
				     "\r\ncaf\xe9\0tail\r\n";
	static const char utf16[] = "Content-Type: text/plain; charset=utf-16le\r\n"
				    "\r\na\0b\0\0\0c\0";
	static const char subject[] = "Subject: =?iso-8859-1?Q?a=00b?=\r\n\r\nx\r\n";
	struct mime_body *b;
	struct mime_view *v;
	int		  fast;

	(void)state;
	for (fast = 1; fast >= 0; fast--) {
		mime_set_fast_paths(fast);
		b = mime_body_parse_raw(latin1, sizeof(latin1) - 1, 0);
		assert_string_equal(b->text, "caf\xc3\xa9\xef\xbf\xbdtail\r\n");
		mime_body_free(b);
		b = mime_body_parse_raw(utf16, sizeof(utf16) - 1, 0);
		assert_string_equal(b->text,
		    "ab\xef\xbf\xbd"
		    "c");
		mime_body_free(b);
	}
	mime_set_fast_paths(1);
	v = mime_view_parse(subject, sizeof(subject) - 1);
	assert_string_equal(v->subject,
	    "a\xef\xbf\xbd"
	    "b");
	mime_view_free(v);
}

/* The common shapes take the fast paths, the others GMime's parser */
static void
test_mime_routing(void **state)
{
	static const struct {
		const char *name;
		int	    gmime;
	} cases[] = {
		{ "plain.eml", 0 },
		{ "alternative.eml", 0 },
		{ "mixed_png.eml", 0 },
		{ "rfc2231.eml", 0 },
		{ "inline_cid.eml", 0 },
		{ "bare_lf.eml", 0 },
		{ "smtputf8.eml", 0 },
		{ "nested_rfc822.eml", 1 },
		{ "attached_eml.eml", 1 },
		{ "missing_boundary.eml", 1 },
		{ "garbage_headers.eml", 0 },
	};
	struct mime_body *b;
	unsigned long	  before;
	char		 *raw;
	size_t		  i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		raw = fixture_read(cases[i].name, &len);
		before = mime_stat_gmime_parses();
		b = mime_body_parse_raw(raw, len, 0);
		if ((int)(mime_stat_gmime_parses() - before) != cases[i].gmime)
			fail_msg("%s: got %lu GMime parses, want %d", cases[i].name,
			    mime_stat_gmime_parses() - before, cases[i].gmime);
		mime_body_free(b);
		free(raw);
	}
}

/* ---- UTF-8 cleaning (mime_text.c) ---- */

/*
 * Table: bytes in, UTF-8 out. Each byte that does not start a valid
 * character (NUL, stray continuation, overlong form, surrogate, beyond
 * U+10FFFF, 5- and 6-byte forms, a sequence cut short) becomes one U+FFFD.
 */
static const struct {
	const char *name;
	const char *in;
	size_t	    len;
	const char *want;
	size_t	    nrepl;
} utf8_cases[] = {
#define R "\xEF\xBF\xBD"
	{ "empty", "", 0, "", 0 },
	{ "ascii", "abc", 3, "abc", 0 },
	{ "nul", "a\0b", 3, "a" R "b", 1 },
	{ "two bytes", "\xC3\xA9", 2, "\xC3\xA9", 0 },
	{ "four bytes", "\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80", 0 },
	{ "noncharacter kept", "\xEF\xBF\xBE", 3, "\xEF\xBF\xBE", 0 },
	{ "cut at the end", "x\xC3\xA9\xC3", 4, "x\xC3\xA9" R, 1 },
	{ "cut 3-byte", "\xE2\x82", 2, R R, 2 },
	{ "cut 3-byte, then ascii", "\xE2\x82x", 3, R R "x", 2 },
	{ "cut 4-byte", "\xF0\x9F\x98", 3, R R R, 3 },
	{ "cut by a nul", "\xC3\0", 2, R R, 2 },
	{ "nul between", "\xE2\x82\xAC\0\xE2\x82\xAC", 7, "\xE2\x82\xAC" R "\xE2\x82\xAC", 1 },
	{ "stray continuation",
	    "\x80"
	    "abc",
	    4, R "abc", 1 },
	{ "overlong 2", "\xC0\xAF", 2, R R, 2 },
	{ "overlong 3", "\xE0\x80\xAF", 3, R R R, 3 },
	{ "surrogate", "\xED\xA0\x80", 3, R R R, 3 },
	{ "beyond U+10FFFF", "\xF4\x90\x80\x80", 4, R R R R, 4 },
	{ "5-byte form", "\xF8\x88\x80\x80\x80", 5, R R R R R, 5 },
	{ "FE FF", "\xFE\xFF", 2, R R, 2 },
#undef R
};

static void
test_mime_utf8_table(void **state)
{
	struct mime_str s;
	size_t		i, n;

	(void)state;
	for (i = 0; i < sizeof(utf8_cases) / sizeof(*utf8_cases); i++) {
		/* appends after what is there */
		memset(&s, 0, sizeof(s));
		mime_str_add(&s, "<", 1);
		n = mime_str_add_utf8(&s, utf8_cases[i].in, utf8_cases[i].len);
		mime_str_add(&s, ">", 1);
		if (n != utf8_cases[i].nrepl)
			fail_msg("%s: %zu replacements, want %zu", utf8_cases[i].name, n,
			    utf8_cases[i].nrepl);
		if (s.len != strlen(utf8_cases[i].want) + 2 ||
		    memcmp(s.p + 1, utf8_cases[i].want, s.len - 2) != 0)
			fail_msg("%s: got \"%s\"", utf8_cases[i].name, s.p);
		assert_int_equal(s.p[s.len], '\0');
		free(s.p);
	}
	/* nothing appended still gives a string */
	memset(&s, 0, sizeof(s));
	assert_int_equal(mime_str_add_utf8(&s, "", 0), 0);
	assert_non_null(s.p);
	assert_string_equal(s.p, "");
	free(s.p);
}

/* ---- caching and memory ---- */

static void
test_mime_view_cached(void **state)
{
	struct message	       *m;
	const struct mime_view *v1, *v2;

	(void)state;
	m = fixture_message_load("plain.eml", NULL, NULL);
	assert_null(m->mime);
	v1 = mime_view_get(m);
	assert_ptr_equal(m->mime, v1);
	/* message_free() (in fixture_message_free) frees it with this */
	assert_true(m->mime_free == mime_view_free);
	v2 = mime_view_get(m);
	assert_ptr_equal(v1, v2);
	assert_int_equal(mime_view_footprint(v1), v1->footprint);
	/* one allocation, about the size of the header block */
	assert_true(v1->footprint < m->size + 512);
	assert_int_equal(mime_view_footprint(NULL), 0);
	mime_view_free(NULL);
	mime_body_free(NULL);
	fixture_message_free(m);
}

static int
setup(void **state)
{
	(void)state;
	mime_init(DEF_MIME_MAX_DEPTH, DEF_MIME_MAX_PARTS);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mime_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mime_plain),
		cmocka_unit_test(test_mime_subject_table),
		cmocka_unit_test(test_mime_address_table),
		cmocka_unit_test(test_mime_rfc2047_headers),
		cmocka_unit_test(test_mime_smtputf8),
		cmocka_unit_test(test_mime_alternative),
		cmocka_unit_test(test_mime_mixed_png),
		cmocka_unit_test(test_mime_rfc2231_filename),
		cmocka_unit_test(test_mime_inline_cid),
		cmocka_unit_test(test_mime_nested_rfc822),
		cmocka_unit_test(test_mime_attached_eml),
		cmocka_unit_test(test_mime_classify_table),
		cmocka_unit_test(test_mime_deep_nesting),
		cmocka_unit_test(test_mime_deep_rfc822),
		cmocka_unit_test(test_mime_many_parts),
		cmocka_unit_test(test_mime_gmime_budget),
		cmocka_unit_test(test_mime_missing_boundary),
		cmocka_unit_test(test_mime_garbage_headers),
		cmocka_unit_test(test_mime_no_separator),
		cmocka_unit_test(test_mime_junk_8bit),
		cmocka_unit_test(test_mime_nul_bytes),
		cmocka_unit_test(test_mime_empty),
		cmocka_unit_test(test_mime_bare_lf),
		cmocka_unit_test(test_mime_odd_table),
		cmocka_unit_test(test_mime_fuzz_smoke),
		cmocka_unit_test(test_mime_paths_agree),
		cmocka_unit_test(test_mime_paths_agree_damaged),
		cmocka_unit_test(test_mime_issue_8_null_offsets),
		cmocka_unit_test(test_mime_unconvertible_both_routes),
		cmocka_unit_test(test_mime_content_type_utf8),
		cmocka_unit_test(test_mime_nul_in_content_type),
		cmocka_unit_test(test_mime_rfc2231_both_routes),
		cmocka_unit_test(test_mime_filename_last_header),
		cmocka_unit_test(test_mime_content_id_8bit),
		cmocka_unit_test(test_mime_boundary_8bit),
		cmocka_unit_test(test_mime_charset_name_8bit),
		cmocka_unit_test(test_mime_param_twice),
		cmocka_unit_test(test_mime_encoded_words_in_structure),
		cmocka_unit_test(test_mime_charset_nul),
		cmocka_unit_test(test_mime_routing),
		cmocka_unit_test(test_mime_utf8_table),
		cmocka_unit_test(test_mime_view_cached),
		cmocka_unit_test(test_mime_headers_past_listed),
	};

	return cmocka_run_group_tests_name("mime", tests, setup, teardown);
}
