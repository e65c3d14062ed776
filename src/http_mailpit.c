/*
 * http_mailpit - the subset of Mailpit's REST API (v1.33, /api/v1/) that
 * test suites written against Mailpit use, with the same JSON keys and JSON
 * types, over our store (routes in http.h's list; API in http_internal.h):
 *
 *   GET    messages?start=&limit=    newest first, summaries (limit <= 1000)
 *   GET    search?query=&start=&limit=
 *   DELETE search?query=
 *   DELETE messages                  all, or {"IDs": ["1", "2"]}
 *   GET    message/{ID}              the full message (Text, HTML, Attachments...)
 *   GET    message/{ID}/headers      {"Name": ["value", ...]}
 *   GET    message/{ID}/raw          raw bytes, text/plain
 *   GET    message/{ID}/part/{PartID} one attachment (PartID = its index)
 *   GET    info
 *
 * IDs are our message ids as decimal strings. What differs from Mailpit:
 * no read/unread state (Read is false, unread counts everything), no tags,
 * header values are decoded (RFC 2047), PartIDs are attachment indexes,
 * and a search's terms map onto one Filter (AND): to: -> envelope
 * recipient, from: -> envelope sender, subject: -> subject, free text ->
 * body, each as a "contains" glob; the last term of a kind wins.
 *
 * Searches, deletes and deep pages of the listing go through a waiters scan
 * (ids only, in slices); only the page asked for is read and summarised.
 * The unfiltered listing needs no scan when its page can be found directly
 * (every message matches: the page is counted from the newest, by id while
 * the ids are dense, else within MP_WALK_MAX steps): the first page over
 * 100,000 messages costs its 50 summaries, not a walk over all of them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "http.h"
#include "http_internal.h"
#include "http_json.h"
#include "match.h"
#include "message.h"
#include "mime.h"
#include "stats.h"
#include "store.h"
#include "waiters.h"
#include "xmalloc.h"

#define MP_LIMIT_DEF   50
#define MP_LIMIT_MAX   1000 /* summaries per page: their bodies are read on the loop */
#define MP_SNIPPET_MAX 250
#define MP_TERM_MAX    256
#define MP_WALK_MAX    10000 /* unfiltered page found by walking from the newest */

enum mp_op { MP_LIST, MP_DELETE };

/* A listing or delete in progress: the scan's state */
struct mp_scan {
	struct http	*h;
	struct http_req *hr;
	enum mp_op	 op;
	uint64_t	*ids;
	size_t		 n, cap;
	size_t		 start, limit;
	struct filter	 f; /* owned strings */
};

static time_t mp_started;

static void
mp_scan_free(void *arg)
{
	struct mp_scan *s = arg;

	free(s->ids);
	match_filter_free(&s->f);
	free(s);
}

/* "Name <addr>" or "addr" -> {"Name": ..., "Address": ...} */
static json_t *
mp_address(const char *s)
{
	const char *lt = strrchr(s, '<'), *gt;
	char	   *name;
	json_t	   *j;
	size_t	    n;

	if (lt == NULL || (gt = strchr(lt, '>')) == NULL)
		return json_pack("{s:s,s:s}", "Name", "", "Address", s);
	n = (size_t)(lt - s);
	while (n > 0 && s[n - 1] == ' ')
		n--;
	name = xmalloc(n + 1);
	memcpy(name, s, n);
	name[n] = '\0';
	if (n >= 2 && name[0] == '"' && name[n - 1] == '"') {
		memmove(name, name + 1, n - 2);
		name[n - 2] = '\0';
	}
	j = json_pack("{s:s,s:s%}", "Name", name, "Address", lt + 1, (size_t)(gt - lt - 1));
	free(name);
	return j != NULL ? j : json_pack("{s:s,s:s}", "Name", "", "Address", "");
}

static json_t *
mp_addresses(char **v, size_t n)
{
	json_t *a = json_array();
	size_t	i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, mp_address(v[i]));
	return a;
}

/* The decoded value of m's first header name, or "" */
static const char *
mp_header(const struct mime_view *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->nheaders; i++)
		if (strcasecmp(v->headers[i].name, name) == 0)
			return v->headers[i].value;
	return "";
}

/* Message-ID without <> */
static json_t *
mp_message_id(const struct mime_view *v)
{
	const char *id = mp_header(v, "Message-ID");
	size_t	    n = strlen(id);

	if (n >= 2 && id[0] == '<' && id[n - 1] == '>')
		return json_stringn(id + 1, n - 2);
	return json_string(id);
}

/* Envelope recipients that are in no To or Cc header: Mailpit's Bcc */
static json_t *
mp_bcc(const struct message *m, const struct mime_view *v)
{
	json_t *a = json_array();
	size_t	i, k;
	int	seen;

	for (i = 0; i < m->nrcpts; i++) {
		seen = 0;
		for (k = 0; k < v->nto && !seen; k++)
			seen = strcasestr(v->to[k], m->rcpts[i].addr) != NULL;
		for (k = 0; k < v->ncc && !seen; k++)
			seen = strcasestr(v->cc[k], m->rcpts[i].addr) != NULL;
		if (!seen)
			json_array_append_new(a,
			    json_pack("{s:s,s:s}", "Name", "", "Address", m->rcpts[i].addr));
	}
	return a;
}

static json_t *
mp_time(const struct message *m)
{
	char buf[64];

	/* Mailpit keeps milliseconds */
	http_json_time(buf, sizeof(buf), (long long)m->received.tv_sec,
	    (int)(m->received.tv_nsec / 1000000 * 1000000));
	return json_string(buf);
}

/*
 * The first MP_SNIPPET_MAX characters of the body, whitespace collapsed:
 * of the HTML with its tags dropped when there is one (as Mailpit), else
 * of the text.
 */
static json_t *
mp_snippet(const char *text, int html)
{
	char   *out = xmalloc(MP_SNIPPET_MAX * 4 + 1);
	size_t	o = 0, chars = 0;
	int	space = 0, intag = 0;
	json_t *j;

	for (; *text != '\0'; text++) {
		if (html && (*text == '<' || intag)) {
			intag = *text != '>';
			space |= !intag && o > 0;
			continue;
		}
		if (((unsigned char)*text & 0xc0) != 0x80 && chars >= MP_SNIPPET_MAX)
			break;
		if (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n') {
			space = o > 0;
			continue;
		}
		if (space && chars + 1 < MP_SNIPPET_MAX) {
			out[o++] = ' ';
			chars++;
		}
		space = 0;
		out[o++] = *text;
		if (((unsigned char)*text & 0xc0) != 0x80)
			chars++;
	}
	out[o] = '\0';
	j = json_string(out);
	free(out);
	return j != NULL ? j : json_string("");
}

/* One summary of a listing (Mailpit's MessageSummary) */
static json_t *
mp_summary(struct http *h, struct message *m)
{
	const struct mime_view *v = mime_view_get(m);
	const struct mime_body *b;
	int64_t			budget = 0;
	char			id[24];

	b = store_body(http_env(h)->store, m, &budget);
	snprintf(id, sizeof(id), "%llu", (unsigned long long)m->id);
	return json_pack("{s:s,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:s,s:[],s:I,s:I,s:o}", "ID", id,
	    "MessageID", mp_message_id(v), "Read", 0, "From",
	    mp_address(*v->from ? v->from : m->mail_from), "To", mp_addresses(v->to, v->nto), "Cc",
	    mp_addresses(v->cc, v->ncc), "Bcc", mp_bcc(m, v), "ReplyTo",
	    mp_addresses(v->reply_to, v->nreply_to), "Subject", v->subject, "Created", mp_time(m),
	    "Username", m->auth_user != NULL ? m->auth_user : "", "Tags", "Size",
	    (json_int_t)m->size, "Attachments", (json_int_t)b->natts, "Snippet",
	    mp_snippet(*b->html ? b->html : b->text, *b->html != '\0'));
}

static int
mp_scan_each(void *arg, void *state, struct message *m, uint64_t *cost)
{
	struct mp_scan *s = state;

	if (s->op == MP_DELETE) {
		*cost += m->size / 64;
		store_delete_id(http_env(s->h)->store, m->id);
		return 0;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->ids = xreallocarray(s->ids, s->cap, sizeof(*s->ids));
	}
	s->ids[s->n++] = m->id;
	*cost += 8;
	return 0;
}

/* A page of summaries (list, taken over) of matched messages from start */
static void
mp_reply_page(struct http *h, struct evhttp_request *req, json_t *list, size_t matched,
    size_t start)
{
	json_int_t total = (json_int_t)store_count(http_env(h)->store);

	http_reply_json(req, 200,
	    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:[],s:o}", "total", total, "unread", total,
		"count", (json_int_t)json_array_size(list), "messages_count", (json_int_t)matched,
		"messages_unread", (json_int_t)matched, "start", (json_int_t)start, "tags",
		"messages", list));
}

/* The listing: newest first, [start, start + limit) of the ids seen */
static void
mp_scan_done(void *arg, void *state, enum waiters_status st, size_t matched)
{
	struct mp_scan	      *s = state;
	struct evhttp_request *req = http_held_req(s->hr);
	struct store	      *store = http_env(s->h)->store;
	struct message	      *m;
	json_t		      *list;
	size_t		       i;

	if (s->op == MP_DELETE) {
		if (matched > 0)
			waiters_kick(http_env(s->h)->waiters);
		http_reply_bytes(req, 200, "text/plain; charset=utf-8", "ok", 2);
		http_release(s->hr);
		mp_scan_free(s);
		return;
	}
	list = json_array();
	for (i = s->start; i < s->n && (s->limit == 0 || i < s->start + s->limit); i++)
		if ((m = store_get(store, s->ids[s->n - 1 - i])) != NULL)
			json_array_append_new(list, mp_summary(s->h, m));
	mp_reply_page(s->h, req, list, s->n, s->start);
	http_release(s->hr);
	mp_scan_free(s);
}

/*
 * The unfiltered listing without a scan, when its page can be found
 * directly (store_newest_nth()); 0 when a scan must find it (ids with gaps
 * and a page deeper than MP_WALK_MAX).
 */
static int
mp_list_direct(struct http *h, struct evhttp_request *req, size_t start, size_t limit)
{
	struct store   *store = http_env(h)->store;
	struct message *m = NULL;
	json_t	       *list;
	size_t		k;

	if (start < store_count(store) && (m = store_newest_nth(store, start, MP_WALK_MAX)) == NULL)
		return 0;
	list = json_array();
	for (k = 0; m != NULL && k < limit; k++, m = store_prev(store, m))
		json_array_append_new(list, mp_summary(h, m));
	mp_reply_page(h, req, list, store_count(store), start);
	return 1;
}

/* The client went away: the scan is cancelled (which frees its state) */
static void
mp_scan_cancel(void *arg)
{
	waiters_cancel(arg);
}

static void
mp_scan_start(struct http *h, struct evhttp_request *req, struct mp_scan *s)
{
	struct waiters_scan_spec spec;
	struct waiter		*w;

	memset(&spec, 0, sizeof(spec));
	spec.filter = &s->f;
	spec.each = mp_scan_each;
	spec.done = mp_scan_done;
	spec.state = s;
	spec.state_free = mp_scan_free;
	s->h = h;
	w = waiters_scan(http_env(h)->waiters, &spec);
	s->hr = http_hold(h, req, mp_scan_cancel, w);
}

/* "*term*" with the glob's special characters escaped, into *dst (owned) */
static void
mp_contains(char **dst, const char *term, size_t len)
{
	char  *p;
	size_t i;

	free(*dst);
	*dst = p = xmalloc(len * 2 + 3);
	*p++ = '*';
	for (i = 0; i < len; i++) {
		if (strchr("*?[]\\", term[i]) != NULL)
			*p++ = '\\';
		*p++ = term[i];
	}
	*p++ = '*';
	*p = '\0';
}

/* Mailpit's query ("to:a from:b subject:\"x y\" words") onto a filter */
static void
mp_query(struct filter *f, const char *q)
{
	static const struct {
		const char *prefix;
		size_t	    off;
	} kinds[] = {
		{ "to:", offsetof(struct filter, rcpt_to) },
		{ "from:", offsetof(struct filter, mail_from) },
		{ "subject:", offsetof(struct filter, subject) },
	};
	const char *t, *end;
	char	  **dst;
	size_t	    i, len;

	while (*q != '\0') {
		while (*q == ' ')
			q++;
		if (*q == '\0')
			break;
		dst = &f->body;
		for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strncasecmp(q, kinds[i].prefix, strlen(kinds[i].prefix)) == 0) {
				dst = (char **)((char *)f + kinds[i].off);
				q += strlen(kinds[i].prefix);
				break;
			}
		if (*q == '"' && (end = strchr(q + 1, '"')) != NULL) {
			t = q + 1;
			len = (size_t)(end - t);
			q = end + 1;
		} else {
			t = q;
			len = strcspn(q, " ");
			q += len;
		}
		if (len > MP_TERM_MAX)
			len = MP_TERM_MAX;
		if (len > 0)
			mp_contains(dst, t, len);
	}
}

static size_t
mp_param(struct evkeyvalq *q, const char *name, size_t def)
{
	const char *v = q != NULL ? evhttp_find_header(q, name) : NULL;

	if (v == NULL || *v == '\0' || strspn(v, "0123456789") != strlen(v) || strlen(v) > 9)
		return def;
	return strtoul(v, NULL, 10);
}

static void
mp_list(struct http *h, struct evhttp_request *req, struct evkeyvalq *q, int search, int del)
{
	struct mp_scan *s = xcalloc(1, sizeof(*s));
	const char     *query = q != NULL ? evhttp_find_header(q, "query") : NULL;

	s->op = del ? MP_DELETE : MP_LIST;
	s->start = mp_param(q, "start", 0);
	s->limit = mp_param(q, "limit", MP_LIMIT_DEF);
	if (s->limit == 0 || s->limit > MP_LIMIT_MAX)
		s->limit = MP_LIMIT_MAX;
	if (search) {
		if (query == NULL || *query == '\0') {
			http_reply_error(req, 400, "invalid_argument", "no query");
			mp_scan_free(s);
			return;
		}
		mp_query(&s->f, query);
	} else if (!del && mp_list_direct(h, req, s->start, s->limit)) {
		mp_scan_free(s);
		return;
	}
	mp_scan_start(h, req, s);
}

/* DELETE messages: {"IDs": [...]} deletes those now; no IDs: everything, sliced */
static void
mp_delete(struct http *h, struct evhttp_request *req)
{
	json_t *j, *ids, *v;
	size_t	i, n = 0;

	if (http_body_json(req, &j) == -1)
		return;
	ids = json_object_get(j, "IDs");
	if (ids == NULL || !json_is_array(ids) || json_array_size(ids) == 0) {
		json_decref(j);
		mp_list(h, req, NULL, 0, 1);
		return;
	}
	json_array_foreach(ids, i, v)
	{
		if (json_is_string(v))
			n += (size_t)store_delete_id(http_env(h)->store,
			    http_parse_id(json_string_value(v), json_string_length(v)));
	}
	json_decref(j);
	if (n > 0)
		waiters_kick(http_env(h)->waiters);
	http_reply_bytes(req, 200, "text/plain; charset=utf-8", "ok", 2);
}

static json_t *
mp_checksums(const char *data, size_t len)
{
	static const struct {
		const char *name;
		const EVP_MD *(*md)(void);
	} algs[] = { { "MD5", EVP_md5 }, { "SHA1", EVP_sha1 }, { "SHA256", EVP_sha256 } };
	unsigned char d[EVP_MAX_MD_SIZE];
	char	      hex[EVP_MAX_MD_SIZE * 2 + 1];
	unsigned      dl, i, k;
	json_t	     *o = json_object();

	for (k = 0; k < sizeof(algs) / sizeof(algs[0]); k++) {
		EVP_Digest(data, len, d, &dl, algs[k].md(), NULL);
		for (i = 0; i < dl; i++)
			snprintf(hex + 2 * i, 3, "%02x", d[i]);
		hex[2 * dl] = '\0';
		json_object_set_new(o, algs[k].name, json_string(hex));
	}
	return o;
}

static void
mp_message(struct http *h, struct evhttp_request *req, struct message *m)
{
	const struct mime_view *v = mime_view_get(m);
	struct mime_body       *b = mime_body_parse(m, 1);
	struct mime_attachment *a;
	json_t		       *j, *att = json_array(), *inl = json_array(), *row;
	char			id[24];
	size_t			i;

	for (i = 0; i < b->natts; i++) {
		a = &b->atts[i];
		snprintf(id, sizeof(id), "%zu", i);
		row = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o}", "PartID", id, "FileName", a->filename,
		    "ContentType", a->content_type, "ContentID", a->content_id, "Size",
		    (json_int_t)a->size, "Checksums",
		    mp_checksums(a->content != NULL ? a->content : "", a->content ? a->size : 0));
		json_array_append_new(*a->content_id ? inl : att, row);
	}
	snprintf(id, sizeof(id), "%llu", (unsigned long long)m->id);
	j = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:s,s:{s:s,s:[],s:s,s:s},s:o,s:[],s:s,"
		      "s:s,s:s,s:I,s:o,s:o}",
	    "ID", id, "MessageID", mp_message_id(v), "From",
	    mp_address(*v->from ? v->from : m->mail_from), "To", mp_addresses(v->to, v->nto), "Cc",
	    mp_addresses(v->cc, v->ncc), "Bcc", mp_bcc(m, v), "ReplyTo",
	    mp_addresses(v->reply_to, v->nreply_to), "ReturnPath", m->mail_from, "Subject",
	    v->subject, "ListUnsubscribe", "Header", mp_header(v, "List-Unsubscribe"), "Links",
	    "Errors", "", "HeaderPost", mp_header(v, "List-Unsubscribe-Post"), "Date", mp_time(m),
	    "Tags", "Username", m->auth_user != NULL ? m->auth_user : "", "Text", b->text, "HTML",
	    b->html, "Size", (json_int_t)m->size, "Inline", inl, "Attachments", att);
	mime_body_free(b);
	if (j == NULL) {
		http_reply_error(req, 500, "internal", "cannot encode message %llu",
		    (unsigned long long)m->id);
		return;
	}
	http_reply_json(req, 200, j);
}

/* "message-id" -> "Message-Id" (Go's textproto canonical form, as Mailpit) */
static void
mp_canonical(char *s)
{
	int up = 1;

	for (; *s != '\0'; s++) {
		if (*s >= 'a' && *s <= 'z' && up)
			*s -= 'a' - 'A';
		else if (*s >= 'A' && *s <= 'Z' && !up)
			*s += 'a' - 'A';
		up = *s == '-';
	}
}

static void
mp_headers(struct evhttp_request *req, struct message *m)
{
	const struct mime_view *v = mime_view_get(m);
	json_t		       *o = json_object(), *a;
	char		       *name;
	size_t			i;

	for (i = 0; i < v->nheaders; i++) {
		name = xstrdup(v->headers[i].name);
		mp_canonical(name);
		if ((a = json_object_get(o, name)) == NULL) {
			a = json_array();
			json_object_set_new(o, name, a);
		}
		json_array_append_new(a, json_string(v->headers[i].value));
		free(name);
	}
	http_reply_json(req, 200, o);
}

static long
mp_rss(void)
{
	FILE *fp = fopen("/proc/self/statm", "r");
	long  pages = 0, rss = 0;

	if (fp != NULL) {
		if (fscanf(fp, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(fp);
	}
	return rss * sysconf(_SC_PAGESIZE);
}

static void
mp_info(struct http *h, struct evhttp_request *req)
{
	const struct http_env *e = http_env(h);
	json_int_t	       n = (json_int_t)store_count(e->store);

	http_reply_json(req, 200,
	    json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:{},s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I}}", "Version",
		SMTPSINK_VERSION, "LatestVersion", "", "Database", "", "DatabaseSize",
		(json_int_t)store_bytes(e->store), "Messages", n, "Unread", n, "Tags",
		"RuntimeStats", "Uptime", (json_int_t)(time(NULL) - mp_started), "Memory",
		(json_int_t)mp_rss(), "MessagesDeleted", (json_int_t)store_evicted(e->store),
		"SMTPAccepted", (json_int_t)e->stats->messages_received, "SMTPAcceptedSize",
		(json_int_t)e->stats->bytes_received, "SMTPRejected",
		(json_int_t)e->stats->messages_rejected, "SMTPIgnored", (json_int_t)0));
}

/* message/{ID}[/headers|/raw|/part/{PartID}] */
static void
mp_one(struct http *h, struct evhttp_request *req, const char *p)
{
	size_t		n = strspn(p, "0123456789");
	uint64_t	id = http_parse_id(p, n);
	struct message *m = id != 0 ? store_get(http_env(h)->store, id) : NULL;
	const char     *rest = p + n;

	if (m == NULL) {
		http_reply_bytes(req, 404, "text/plain; charset=utf-8", "message not found\n", 18);
		return;
	}
	if (*rest == '\0')
		mp_message(h, req, m);
	else if (strcmp(rest, "/headers") == 0)
		mp_headers(req, m);
	else if (strcmp(rest, "/raw") == 0)
		http_reply_raw(h, req, id, "text/plain; charset=utf-8", 0);
	else if (strncmp(rest, "/part/", 6) == 0 && rest[6] != '\0' &&
	    strspn(rest + 6, "0123456789") == strlen(rest + 6) && strlen(rest + 6) < 9)
		http_reply_attachment(h, req, id, strtoul(rest + 6, NULL, 10));
	else
		http_reply_bytes(req, 404, "text/plain; charset=utf-8", "not found\n", 10);
}

void
http_mailpit_handle(struct http *h, struct evhttp_request *req, const char *path, const char *query)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq     q;
	int		     get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;

	if (mp_started == 0)
		mp_started = time(NULL);
	TAILQ_INIT(&q);
	if (query != NULL && evhttp_parse_query_str(query, &q) == -1) {
		http_reply_error(req, 400, "invalid_argument", "bad query string");
		return;
	}
	if (strcmp(path, "messages") == 0 && get)
		mp_list(h, req, &q, 0, 0);
	else if (strcmp(path, "messages") == 0 && cmd == EVHTTP_REQ_DELETE)
		mp_delete(h, req);
	else if (strcmp(path, "search") == 0 && (get || cmd == EVHTTP_REQ_DELETE))
		mp_list(h, req, &q, 1, cmd == EVHTTP_REQ_DELETE);
	else if (strncmp(path, "message/", 8) == 0 && get)
		mp_one(h, req, path + 8);
	else if (strcmp(path, "info") == 0 && get)
		mp_info(h, req);
	else
		http_reply_bytes(req, 404, "text/plain; charset=utf-8", "not found\n", 10);
	evhttp_clear_headers(&q);
}
