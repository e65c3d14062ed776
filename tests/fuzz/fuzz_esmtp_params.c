/*
 * fuzz_esmtp_params - the pure ESMTP parsers and reply formatters of
 * src/smtp_proto.h on arbitrary lines.
 *
 * Input: one flags byte, then the argument line (up to a NUL, as the
 * session never hands a line with a NUL to a command). Flags: bit 0 parses
 * it as RCPT ("TO:") instead of MAIL ("FROM:"), bit 1 formats replies with
 * enhanced status codes, bits 2-7 pick the size of the reply buffer.
 *
 * Checked: smtp_proto_parse_mailrcpt() answers the same on a copy; on
 * success the address and parameters lie inside the line, the null path
 * and only it gives "", non-ASCII in the address sets the 8-bit flag, no
 * unknown flag is set; smtp_proto_parse_params() returns 0, -1 or -2 (-2
 * only past the maximum), keywords are non-empty upper-case [A-Z0-9-]
 * starting with a letter or digit, values non-empty without '=', blanks
 * or controls, and the parameters written back as "K=V K" parse again to
 * the same list. smtp_proto_split() leaves no blank at either end. The
 * reply formatters always produce one line "DDD[ -]...CRLF" with no other
 * CR or LF, within the buffer, code 200-599 for reply_line.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "smtp_proto.h"
#include "xmalloc.h"

static int
inside(const char *p, const char *buf, size_t len)
{
	return p >= buf && p <= buf + len;
}

static void
check_params(char *params, const char *buf, size_t len)
{
	struct smtp_proto_param out[SMTP_PROTO_PARAMS_MAX], again[SMTP_PROTO_PARAMS_MAX];
	char		       *copy, *joined;
	size_t			np, np2, i, jl = 0;
	const char	       *k;
	int			r, r2;

	copy = xstrdup(params);
	r = smtp_proto_parse_params(params, out, SMTP_PROTO_PARAMS_MAX, &np);
	if (r != 0 && r != -1 && r != -2)
		fuzz_fail("parse_params returned %d", r);
	if (r != 0) {
		free(copy);
		return;
	}
	if (np > SMTP_PROTO_PARAMS_MAX)
		fuzz_fail("parse_params: %zu parameters", np);
	joined = xmalloc(strlen(copy) + 2);
	for (i = 0; i < np; i++) {
		if (!inside(out[i].keyword, buf, len) ||
		    (out[i].value != NULL && !inside(out[i].value, buf, len)))
			fuzz_fail("parse_params: parameter %zu outside the line", i);
		k = out[i].keyword;
		if (!isalnum((unsigned char)k[0]))
			fuzz_fail("parse_params: keyword \"%s\"", k);
		for (; *k != '\0'; k++)
			if (!(isdigit((unsigned char)*k) || isupper((unsigned char)*k) ||
				*k == '-'))
				fuzz_fail("parse_params: keyword \"%s\"", out[i].keyword);
		if (out[i].value != NULL) {
			if (out[i].value[0] == '\0')
				fuzz_fail("parse_params: empty value of %s", out[i].keyword);
			for (k = out[i].value; *k != '\0'; k++)
				if (*k == '=' || (unsigned char)*k <= ' ' || *k == 127)
					fuzz_fail("parse_params: value of %s has %#x",
					    out[i].keyword, (unsigned char)*k);
		}
		jl += sprintf(joined + jl, "%s%s%s%s", i ? " " : "", out[i].keyword,
		    out[i].value ? "=" : "", out[i].value ? out[i].value : "");
	}
	joined[jl] = '\0';
	free(copy);
	copy = xstrdup(joined);
	r2 = smtp_proto_parse_params(copy, again, SMTP_PROTO_PARAMS_MAX, &np2);
	if (r2 != 0 || np2 != np)
		fuzz_fail("parse_params: \"%s\" written back gives %d with %zu of %zu", joined, r2,
		    np2, np);
	for (i = 0; i < np; i++)
		if (strcmp(again[i].keyword, out[i].keyword) != 0 ||
		    (again[i].value == NULL) != (out[i].value == NULL) ||
		    (out[i].value != NULL && strcmp(again[i].value, out[i].value) != 0))
			fuzz_fail("parse_params: parameter %zu differs written back", i);
	free(copy);
	free(joined);
}

static void
check_mailrcpt(const char *line, int rcpt)
{
	const char *kw = rcpt ? "TO:" : "FROM:";
	char	   *a = xstrdup(line), *b = xstrdup(line);
	char	   *addr, *params, *addr2, *params2;
	const char *q;
	size_t	    len = strlen(line);
	unsigned    flags, flags2;
	int	    r, r2;

	r = smtp_proto_parse_mailrcpt(a, kw, &addr, &params, &flags);
	r2 = smtp_proto_parse_mailrcpt(b, kw, &addr2, &params2, &flags2);
	if (r != r2 ||
	    (r == 0 && (flags != flags2 || strcmp(addr, addr2) != 0 || params - a != params2 - b)))
		fuzz_fail("parse_mailrcpt: two runs on \"%s\" differ", line);
	if (r != 0 && r != -1)
		fuzz_fail("parse_mailrcpt returned %d", r);
	if (r == 0) {
		if (!inside(addr, a, len) || !inside(params, a, len) ||
		    addr + strlen(addr) > a + len)
			fuzz_fail("parse_mailrcpt: result outside \"%s\"", line);
		if (flags &
		    ~(unsigned)(SMTP_PROTO_PATH_NULL | SMTP_PROTO_PATH_8BIT |
			SMTP_PROTO_PATH_ROUTE | SMTP_PROTO_PATH_NODOMAIN))
			fuzz_fail("parse_mailrcpt: flags %#x", flags);
		if (((flags & SMTP_PROTO_PATH_NULL) != 0) != (addr[0] == '\0'))
			fuzz_fail("parse_mailrcpt: \"%s\" with flags %#x from \"%s\"", addr, flags,
			    line);
		for (q = addr; *q != '\0'; q++)
			if ((unsigned char)*q >= 0x80 && !(flags & SMTP_PROTO_PATH_8BIT))
				fuzz_fail("parse_mailrcpt: 8-bit \"%s\" without the flag", addr);
		if (*params == ' ')
			fuzz_fail("parse_mailrcpt: parameters start with a blank");
		check_params(params, a, len);
	}
	free(a);
	free(b);
}

/* One reply line in dst[0..n): "DDD" [ -] text CRLF, nothing after. */
static void
check_reply(const char *what, const char *dst, size_t n, size_t dstsz, int any_code)
{
	size_t i;

	if (n == 0)
		return;
	if (n >= dstsz || n < 6)
		fuzz_fail("%s: %zu bytes in a buffer of %zu", what, n, dstsz);
	if (!isdigit((unsigned char)dst[0]) || !isdigit((unsigned char)dst[1]) ||
	    !isdigit((unsigned char)dst[2]) || (dst[3] != ' ' && dst[3] != '-') ||
	    (!any_code && (dst[0] < '2' || dst[0] > '5')))
		fuzz_fail("%s: bad start \"%.*s\"", what, (int)n, dst);
	if (dst[n - 2] != '\r' || dst[n - 1] != '\n')
		fuzz_fail("%s: no CRLF at the end of \"%.*s\"", what, (int)n, dst);
	for (i = 0; i + 2 < n; i++)
		if (dst[i] == '\r' || dst[i] == '\n' || dst[i] == '\0')
			fuzz_fail("%s: byte %#x at %zu of \"%.*s\"", what, dst[i], i, (int)n, dst);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned       flags = fuzz_byte(&in);
	const uint8_t *nul = memchr(in.p, '\0', in.len);
	char	      *line, *copy, *verb, *args, dst[1100];
	size_t	       dstsz = 8 + (flags >> 2) * 16, n;
	int	       with_enh = (flags & 2) != 0;

	line = fuzz_take(&in, nul != NULL ? (size_t)(nul - in.p) : in.len, NULL);
	check_mailrcpt(line, flags & 1);

	copy = xstrdup(line);
	smtp_proto_split(copy, &verb, &args);
	if (*args == ' ' || *args == '\t' || (*verb != '\0' && strchr(verb, ' ') != NULL))
		fuzz_fail("split: verb \"%s\" args \"%s\"", verb, args);
	n = strlen(args);
	if (n > 0 && (args[n - 1] == ' ' || args[n - 1] == '\t'))
		fuzz_fail("split: trailing blank in \"%s\"", args);
	free(copy);

	n = smtp_proto_reply_line(dst, dstsz, line, with_enh);
	check_reply("reply_line", dst, n, dstsz, 0);
	if (dstsz >= 8 && n == 0)
		fuzz_fail("reply_line: nothing written in %zu bytes", dstsz);
	n = smtp_proto_reply(dst, dstsz, 250, "2.0.0", with_enh, line, flags & 1);
	if (strpbrk(line, "\r\n") == NULL)
		check_reply("reply", dst, n, dstsz, 0);
	free(line);
	return 0;
}
