/*
 * mime_view - the header summary of mime.h (mime_view_parse/get/free/
 * footprint): decoded top-level headers, Subject, From and the address
 * lists.
 *
 * The top-level header block is scanned over the raw bytes (mime_hdr.c; no
 * GMime object tree, no copy of the body) and its values decoded to UTF-8.
 * The common address lists are split here (mime_addr_simple); the rest go
 * to GMime's address parser. The result is packed into ONE allocation
 * (struct, arrays, strings; mime_view_pack): a cached view costs about the
 * header's size and is freed with one free().
 *
 * A header of more than MIME_VIEW_MAX_HEADERS fields (hostile: 200,000 of
 * them) costs no more: the view lists the first ones, takes a first Subject
 * or From from wherever it is, and remembers where the unlisted fields
 * start (more); mime_view_more() decodes those one at a time, on demand,
 * for header filters (match.c), which go through them in slices.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <gmime/gmime.h>

#include "message.h"
#include "mime.h"
#include "mime_internal.h"
#include "xmalloc.h"

enum mime_addr_kind { MIME_ADDR_TO, MIME_ADDR_CC, MIME_ADDR_REPLY_TO, MIME_ADDR_NKINDS };

/* Offsets into the string pool while the view is being built */
struct mime_view_build {
	struct mime_str pool;
	size_t	       *hdr; /* name, value offset pairs */
	size_t		nhdr, caphdr;
	size_t	       *addr[MIME_ADDR_NKINDS];
	size_t		naddr[MIME_ADDR_NKINDS], capaddr[MIME_ADDR_NKINDS];
	size_t		subject, from; /* offsets; SIZE_MAX if none */
	unsigned	flags;	       /* MIME_FLAG_* found on the way */
};

/* Adds s (already valid UTF-8) to the pool, returns its offset */
static size_t
mime_pool_add(struct mime_view_build *b, const char *s, size_t len)
{
	size_t off = b->pool.len;

	mime_str_add(&b->pool, s, len);
	mime_str_add(&b->pool, "", 1);
	return off;
}

static void
mime_build_addr(struct mime_view_build *b, enum mime_addr_kind k, size_t off)
{
	if (b->naddr[k] == b->capaddr[k]) {
		b->capaddr[k] = b->capaddr[k] ? b->capaddr[k] * 2 : 4;
		b->addr[k] = xreallocarray(b->addr[k], b->capaddr[k], sizeof(size_t));
	}
	b->addr[k][b->naddr[k]++] = off;
}

/*
 * Formats one mailbox as "Name <addr>" or "addr" into tmp (replaced).
 */
static void
mime_format_mailbox(InternetAddress *ia, struct mime_str *tmp)
{
	const char *name, *addr;

	tmp->len = 0;
	name = internet_address_get_name(ia);
	addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
	if (addr == NULL)
		addr = "";
	if (name != NULL && *name != '\0') {
		mime_str_add_utf8(tmp, name, strlen(name));
		mime_str_add(tmp, " <", 2);
		mime_str_add_utf8(tmp, addr, strlen(addr));
		mime_str_add(tmp, ">", 1);
	} else
		mime_str_add_utf8(tmp, addr, strlen(addr));
}

/*
 * Calls fn for every mailbox of the list, groups flattened (one level: RFC
 * 5322 groups do not nest). Returns the number of mailboxes.
 */
static size_t
mime_addr_walk(InternetAddressList *l, void (*fn)(InternetAddress *, void *), void *arg, int depth)
{
	InternetAddress *ia;
	size_t		 n = 0;
	int		 i, cnt;

	if (l == NULL || depth > 2)
		return 0;
	cnt = internet_address_list_length(l);
	for (i = 0; i < cnt; i++) {
		ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			fn(ia, arg);
			n++;
		} else if (INTERNET_ADDRESS_IS_GROUP(ia))
			n += mime_addr_walk(
			    internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), fn, arg,
			    depth + 1);
	}
	return n;
}

struct mime_addr_ctx {
	struct mime_view_build *b;
	enum mime_addr_kind	kind;
	struct mime_str	       *tmp;
	struct mime_str	       *join; /* From: joined with ", " */
};

/* Adds the formatted mailbox in ctx->tmp to the view */
static void
mime_addr_emit(struct mime_addr_ctx *ctx)
{
	if (ctx->join != NULL) {
		if (ctx->join->len > 0)
			mime_str_add(ctx->join, ", ", 2);
		mime_str_add(ctx->join, ctx->tmp->p, ctx->tmp->len);
	} else
		mime_build_addr(ctx->b, ctx->kind,
		    mime_pool_add(ctx->b, ctx->tmp->p, ctx->tmp->len));
}

static void
mime_addr_add_cb(InternetAddress *ia, void *arg)
{
	struct mime_addr_ctx *ctx = arg;

	mime_format_mailbox(ia, ctx->tmp);
	mime_addr_emit(ctx);
}

/* RFC 5322 atext, plus 8-bit (UTF-8 checked by the caller: RFC 6532) */
static int
mime_is_atext(int c)
{
	if (g_ascii_isalnum(c) || c >= 0x80)
		return 1;
	switch (c) {
	case '!':
	case '#':
	case '$':
	case '%':
	case '&':
	case '\'':
	case '*':
	case '+':
	case '-':
	case '/':
	case '=':
	case '?':
	case '^':
	case '_':
	case '`':
	case '{':
	case '|':
	case '}':
	case '~':
		return 1;
	default:
		return 0;
	}
}

/* addr-spec of dot-atoms: "local@domain", no quoting, no comments */
static int
mime_addr_simple_spec(const char *p, size_t len)
{
	size_t i, at = 0, nat = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '@') {
			at = i;
			nat++;
		} else if (p[i] == '.') {
			if (i == 0 || i + 1 == len || p[i - 1] == '.' || p[i - 1] == '@' ||
			    p[i + 1] == '@')
				return 0;
		} else if (!mime_is_atext((unsigned char)p[i]))
			return 0;
	}
	return nat == 1 && at > 0 && at + 1 < len;
}

/*
 * The common address lists ("a@b", "Name <a@b>", comma-separated; names
 * made of atoms, single spaces and encoded words; UTF-8 allowed) are parsed
 * here: GMime's parser costs a few GObjects per header, most of a view's
 * time. Returns the number of mailboxes added, or -1 when the list is not
 * that simple and must go to GMime. The output is what GMime gives.
 */
static ssize_t
mime_addr_simple(const struct mime_str *raw, struct mime_addr_ctx *ctx)
{
	const char	*p = raw->p, *end = raw->p + raw->len, *q, *lt, *comma;
	const char	*name, *addr;
	size_t		 n = 0, i, namelen, addrlen;
	size_t		 pool0, naddr0, join0;
	struct mime_str *t = ctx->tmp;
	int		 eightbit = 0;

	for (i = 0; i < raw->len; i++) {
		switch ((unsigned char)p[i]) {
		case '"':
		case '(':
		case ')':
		case '\\':
		case ':':
		case ';':
		case '[':
		case ']':
			return -1;
		default:
			if ((unsigned char)p[i] >= 0x80)
				eightbit = 1;
		}
	}
	if (eightbit && !mime_is_utf8(p, raw->len))
		return -1;
	/* emitted as we go; undone if an entry turns out not simple */
	pool0 = ctx->b->pool.len;
	naddr0 = ctx->b->naddr[ctx->kind];
	join0 = ctx->join != NULL ? ctx->join->len : 0;
	while (p < end) {
		comma = memchr(p, ',', end - p);
		q = comma != NULL ? comma : end;
		while (p < q && mime_is_wsp(*p))
			p++;
		while (q > p && mime_is_wsp(q[-1]))
			q--;
		if (p == q)
			goto undo;
		name = NULL;
		namelen = 0;
		if ((lt = memchr(p, '<', q - p)) != NULL) {
			if (q[-1] != '>' || memchr(lt + 1, '<', q - lt - 1) ||
			    memchr(p, '>', q - p - 1))
				goto undo;
			addr = lt + 1;
			addrlen = q - lt - 2;
			name = p;
			for (namelen = lt - p; namelen > 0 && mime_is_wsp(p[namelen - 1]);
			     namelen--)
				;
			for (i = 0; i < namelen; i++) {
				if (p[i] == ' ' && i > 0 && p[i - 1] != ' ')
					continue;
				if (!mime_is_atext((unsigned char)p[i]))
					goto undo;
			}
		} else {
			if (memchr(p, '>', q - p) != NULL)
				goto undo;
			addr = p;
			addrlen = q - p;
		}
		if (!mime_addr_simple_spec(addr, addrlen) ||
		    mime_eword_find(addr, addr + addrlen) != NULL)
			goto undo;
		t->len = 0;
		if (namelen > 0) {
			mime_decode_words(name, namelen, t);
			mime_str_add(t, " <", 2);
			mime_str_add(t, addr, addrlen);
			mime_str_add(t, ">", 1);
		} else
			mime_str_add(t, addr, addrlen);
		mime_addr_emit(ctx);
		n++;
		p = comma != NULL ? comma + 1 : end;
	}
	return n;
undo:
	ctx->b->pool.len = pool0;
	ctx->b->naddr[ctx->kind] = naddr0;
	if (ctx->join != NULL)
		ctx->join->len = join0;
	return -1;
}

#define MIME_ADDR_GMIME_MAX (64 * 1024)

/* Adds the mailboxes of the (unfolded, raw) address list; returns their number */
static size_t
mime_addr_list(const struct mime_str *raw, struct mime_addr_ctx *ctx)
{
	InternetAddressList *l;
	ssize_t		     n;

	struct mime_str norm = { 0 };
	size_t		cut;

	if ((n = mime_addr_simple(raw, ctx)) >= 0)
		return n;
	/* see mime_2047_runs() (mime_hdr.c) for why */
	if (!mime_2047_runs(raw->p, raw->len, &norm)) {
		norm.len = 0;
		mime_str_add(&norm, raw->p, raw->len);
	}
	if (norm.len > MIME_ADDR_GMIME_MAX) {
		/* GMime makes objects per address: parse a bounded prefix */
		for (cut = MIME_ADDR_GMIME_MAX; cut > 0 && norm.p[cut] != ','; cut--)
			;
		norm.p[cut] = '\0';
		ctx->b->flags |= MIME_FLAG_MAX_HEADERS;
	}
	l = internet_address_list_parse(NULL, norm.p);
	free(norm.p);
	n = mime_addr_walk(l, mime_addr_add_cb, ctx, 0);
	if (l != NULL)
		g_object_unref(l);
	return n;
}

static struct mime_view *
mime_view_pack(struct mime_view_build *b, unsigned flags)
{
	struct mime_view   *v;
	struct mime_header *hdrs;
	char		  **ptrs, *pool;
	size_t		    nptrs = 0, total, i;
	int		    k;
	char		  **arr[MIME_ADDR_NKINDS];

	for (k = 0; k < MIME_ADDR_NKINDS; k++)
		nptrs += b->naddr[k];
	if (b->subject == SIZE_MAX)
		b->subject = mime_pool_add(b, "", 0);
	if (b->from == SIZE_MAX)
		b->from = mime_pool_add(b, "", 0);

	total = sizeof(*v) + nptrs * sizeof(char *) + b->nhdr * sizeof(struct mime_header) +
	    b->pool.len;
	v = xmalloc(total);
	memset(v, 0, sizeof(*v));
	ptrs = (char **)(v + 1);
	hdrs = (struct mime_header *)(ptrs + nptrs);
	pool = (char *)(hdrs + b->nhdr);
	memcpy(pool, b->pool.p, b->pool.len);

	for (k = 0; k < MIME_ADDR_NKINDS; k++) {
		arr[k] = b->naddr[k] > 0 ? ptrs : NULL;
		for (i = 0; i < b->naddr[k]; i++)
			*ptrs++ = pool + b->addr[k][i];
	}
	v->to = arr[MIME_ADDR_TO];
	v->nto = b->naddr[MIME_ADDR_TO];
	v->cc = arr[MIME_ADDR_CC];
	v->ncc = b->naddr[MIME_ADDR_CC];
	v->reply_to = arr[MIME_ADDR_REPLY_TO];
	v->nreply_to = b->naddr[MIME_ADDR_REPLY_TO];
	for (i = 0; i < b->nhdr; i++) {
		hdrs[i].name = pool + b->hdr[2 * i];
		hdrs[i].value = pool + b->hdr[2 * i + 1];
	}
	v->headers = b->nhdr > 0 ? hdrs : NULL;
	v->nheaders = b->nhdr;
	v->subject = pool + b->subject;
	v->from = pool + b->from;
	v->flags = flags;
	v->footprint = total;
	return v;
}

/* Scratch strings while a view is built */
struct mime_view_tmp {
	struct mime_str raw, tmp, join;
};

/*
 * One top-level field into the view: listed (in headers[], and To, Cc,
 * Reply-To taken from it) or not (then only a first Subject or From is).
 */
static void
mime_view_field(struct mime_view_build *b, const char *data, const struct mime_hdr_span *sp,
    struct mime_view_tmp *t, int listed)
{
	const char	    *hname = data + sp->name;
	struct mime_addr_ctx ctx;
	enum mime_addr_kind  kind;
	size_t		     name = 0, value, n;
	int		     subject, from;

#define NAME_IS(s) (sp->namelen == sizeof(s) - 1 && strncasecmp(hname, s, sizeof(s) - 1) == 0)
	subject = NAME_IS("Subject");
	from = NAME_IS("From");
	if (!listed && !(subject && b->subject == SIZE_MAX) && !(from && b->from == SIZE_MAX))
		return;
	/* the name is printable ASCII by construction */
	if (listed)
		name = mime_pool_add(b, hname, sp->namelen);
	mime_unfold(data, sp->value, sp->end, &t->raw);
	value = b->pool.len;
	mime_decode_text(&t->raw, &b->pool);
	mime_str_add(&b->pool, "", 1);
	if (listed) {
		if (b->nhdr == b->caphdr) {
			b->caphdr = b->caphdr ? b->caphdr * 2 : 16;
			b->hdr = xreallocarray(b->hdr, b->caphdr, 2 * sizeof(size_t));
		}
		b->hdr[2 * b->nhdr] = name;
		b->hdr[2 * b->nhdr + 1] = value;
		b->nhdr++;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.b = b;
	ctx.tmp = &t->tmp;
	if (subject) {
		if (b->subject == SIZE_MAX)
			b->subject = value;
		return;
	}
	if (from) {
		if (b->from != SIZE_MAX)
			return;
		t->join.len = 0;
		ctx.join = &t->join;
		n = mime_addr_list(&t->raw, &ctx);
		b->from = n > 0 ? mime_pool_add(b, t->join.p, t->join.len) : value;
		return;
	}
	if (NAME_IS("To"))
		kind = MIME_ADDR_TO;
	else if (NAME_IS("Cc"))
		kind = MIME_ADDR_CC;
	else if (NAME_IS("Reply-To"))
		kind = MIME_ADDR_REPLY_TO;
	else
		return;
#undef NAME_IS
	ctx.kind = kind;
	n = mime_addr_list(&t->raw, &ctx);
	/* Unparsable but looks like an address: keep the text */
	if (n == 0 && strchr(b->pool.p + value, '@') != NULL)
		mime_build_addr(b, kind, value);
}

struct mime_view *
mime_view_parse(const char *data, size_t size)
{
	struct mime_hdr_scan   sc;
	struct mime_hdr_span   sp;
	struct mime_view_build b;
	struct mime_view_tmp   t;
	struct mime_view      *v;
	size_t		       i, off;
	int		       k;

	mime_ensure_init();
	if (data == NULL)
		size = 0;
	mime_hdr_scan(data, size, &sc);
	memset(&b, 0, sizeof(b));
	memset(&t, 0, sizeof(t));
	b.subject = b.from = SIZE_MAX;
	mime_str_reserve(&b.pool, (sc.capped ? sc.more : sc.body) + 64);

	for (i = 0; i < sc.n; i++)
		mime_view_field(&b, data, &sc.spans[i], &t, 1);
	/* A Subject or From after the listed fields still counts: look for them */
	for (off = sc.more; sc.capped && (b.subject == SIZE_MAX || b.from == SIZE_MAX) &&
	     mime_hdr_next(data, sc.fields_end, &off, &sp);)
		mime_view_field(&b, data, &sp, &t, 0);

	v = mime_view_pack(&b, sc.flags | b.flags);
	v->more = sc.capped ? sc.more : 0;
	v->header_end = sc.fields_end;
	free(sc.spans);
	free(t.raw.p);
	free(t.tmp.p);
	free(t.join.p);
	free(b.pool.p);
	free(b.hdr);
	for (k = 0; k < MIME_ADDR_NKINDS; k++)
		free(b.addr[k]);
	return v;
}

int
mime_view_more(const struct message *m, const struct mime_view *v, size_t *off, char **name,
    char **value)
{
	struct mime_hdr_span sp;
	struct mime_str	     raw = { 0 }, out = { 0 };

	if (v->more == 0 || *off < v->more || v->header_end > m->size ||
	    !mime_hdr_next(m->data, v->header_end, off, &sp))
		return 0;
	*name = xstrndup(m->data + sp.name, sp.namelen);
	mime_unfold(m->data, sp.value, sp.end, &raw);
	mime_decode_text(&raw, &out);
	mime_str_add(&out, "", 0);
	*value = out.p;
	free(raw.p);
	return 1;
}

const struct mime_view *
mime_view_get(struct message *m)
{
	if (m->mime == NULL) {
		m->mime = mime_view_parse(m->data, m->size);
		m->mime_free = mime_view_free;
	}
	return m->mime;
}

void
mime_view_free(struct mime_view *v)
{
	/* one allocation: see mime_view_pack() */
	free(v);
}

size_t
mime_view_footprint(const struct mime_view *v)
{
	return v != NULL ? v->footprint : 0;
}
