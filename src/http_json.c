/*
 * http_json - the proto3 JSON mapping over protobuf-c descriptors (API and
 * mapping rules in http_json.h). One walker per direction: a field's value
 * is read or written through its descriptor's offset (and quantifier
 * offset for counts, has_ flags and oneof cases), whatever the message.
 * Strings that are not valid UTF-8 (an envelope may carry raw 8-bit bytes)
 * get U+FFFD for each bad byte, so the output is always valid JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "http_json.h"
#include "json.h"
#include "smtp_auth.h"
#include "xmalloc.h"

#define HJ_NAME_MAX  128
#define HJ_DEPTH_MAX 32 /* nested messages on input */

static json_t *hj_encode(const ProtobufCMessage *m, int flags);

void
http_json_name(char *dst, size_t dstsz, const char *name)
{
	size_t n = 0;
	int    up = 0;

	for (; *name != '\0' && n + 1 < dstsz; name++) {
		if (*name == '_') {
			up = 1;
			continue;
		}
		dst[n++] = up && *name >= 'a' && *name <= 'z' ? *name - 'a' + 'A' : *name;
		up = 0;
	}
	dst[n] = '\0';
}

void
http_json_time(char *dst, size_t dstsz, long long seconds, int nanos)
{
	struct tm tm;
	time_t	  t = (time_t)seconds;
	char	  frac[16] = "";
	size_t	  n;

	if ((long long)t != seconds || gmtime_r(&t, &tm) == NULL) {
		snprintf(dst, dstsz, "%lld", seconds);
		return;
	}
	if (nanos > 0 && nanos < 1000000000) {
		if (nanos % 1000000 == 0)
			snprintf(frac, sizeof(frac), ".%03d", nanos / 1000000);
		else if (nanos % 1000 == 0)
			snprintf(frac, sizeof(frac), ".%06d", nanos / 1000);
		else
			snprintf(frac, sizeof(frac), ".%09d", nanos);
	}
	n = strftime(dst, dstsz, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(dst + n, dstsz - n, "%sZ", frac);
}

/* s as a JSON string, each byte that does not start valid UTF-8 as U+FFFD */
static json_t *
hj_string(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	json_t		    *j;
	char		    *tmp;
	size_t		     i, n, o = 0;

	if ((j = json_stringn(s, len)) != NULL)
		return j;
	tmp = xmalloc(len * 3 + 1);
	for (i = 0; i < len; i += n) {
		if ((n = json_utf8_len(p + i, len - i)) == 0 || (n == 1 && p[i] == 0)) {
			if (p[i] == 0) {
				tmp[o++] = 0; /* json_stringn keeps NULs */
			} else
				memcpy(tmp + o, "\xef\xbf\xbd", 3), o += 3;
			n = 1;
			continue;
		}
		memcpy(tmp + o, p + i, n);
		o += n;
	}
	j = json_stringn(tmp, o);
	free(tmp);
	return j != NULL ? j : json_string("");
}

/* Timestamp and Duration by their well-known message names; NULL: not one */
static json_t *
hj_wkt_encode(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	int64_t				  sec;
	int32_t				  nanos;
	char				  buf[64];
	const char			 *sign = "";

	if (strcmp(d->name, "google.protobuf.Timestamp") != 0 &&
	    strcmp(d->name, "google.protobuf.Duration") != 0)
		return NULL;
	/* Both are { int64 seconds = 1; int32 nanos = 2; } */
	sec = *(const int64_t *)((const char *)m + d->fields[0].offset);
	nanos = *(const int32_t *)((const char *)m + d->fields[1].offset);
	if (d->name[16] == 'T') {
		http_json_time(buf, sizeof(buf), (long long)sec, nanos);
		return json_string(buf);
	}
	if (sec < 0 || nanos < 0) {
		sign = "-";
		sec = sec < 0 ? -sec : sec;
		nanos = nanos < 0 ? -nanos : nanos;
	}
	if (nanos == 0)
		snprintf(buf, sizeof(buf), "%s%" PRId64 "s", sign, sec);
	else if (nanos % 1000000 == 0)
		snprintf(buf, sizeof(buf), "%s%" PRId64 ".%03ds", sign, sec, nanos / 1000000);
	else if (nanos % 1000 == 0)
		snprintf(buf, sizeof(buf), "%s%" PRId64 ".%06ds", sign, sec, nanos / 1000);
	else
		snprintf(buf, sizeof(buf), "%s%" PRId64 ".%09ds", sign, sec, nanos);
	return json_string(buf);
}

/* Size of one element of a repeated field of type t */
static size_t
hj_elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return 4;
	}
}

/* A 64-bit integer: a decimal string, or a number with HTTP_JSON_INT64_NUMBERS */
static json_t *
hj_int64(int64_t v, uint64_t u, int is_signed, int flags)
{
	char num[32];

	if ((flags & HTTP_JSON_INT64_NUMBERS) && (is_signed || u <= INT64_MAX))
		return json_integer(is_signed ? (json_int_t)v : (json_int_t)u);
	if (is_signed)
		snprintf(num, sizeof(num), "%" PRId64, v);
	else
		snprintf(num, sizeof(num), "%" PRIu64, u);
	return json_string(num);
}

/*
 * One value at p; NULL when it is the default (left out of a singular
 * field) unless always (a list element, or HTTP_JSON_ALL_FIELDS).
 */
static json_t *
hj_value(const ProtobufCFieldDescriptor *f, const void *p, int always, int flags)
{
	const ProtobufCEnumValue *ev;
	char			 *b64;
	json_t			 *j;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return always || *(const int32_t *)p ? json_integer(*(const int32_t *)p) : NULL;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return always || *(const uint32_t *)p ? json_integer(*(const uint32_t *)p) : NULL;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (!always && *(const int64_t *)p == 0)
			return NULL;
		return hj_int64(*(const int64_t *)p, 0, 1, flags);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (!always && *(const uint64_t *)p == 0)
			return NULL;
		return hj_int64(0, *(const uint64_t *)p, 0, flags);
	case PROTOBUF_C_TYPE_FLOAT:
		return always || *(const float *)p != 0 ? json_real(*(const float *)p) : NULL;
	case PROTOBUF_C_TYPE_DOUBLE:
		return always || *(const double *)p != 0 ? json_real(*(const double *)p) : NULL;
	case PROTOBUF_C_TYPE_BOOL:
		return always || *(const protobuf_c_boolean *)p ?
		    json_boolean(*(const protobuf_c_boolean *)p) :
		    NULL;
	case PROTOBUF_C_TYPE_ENUM:
		if (!always && *(const int *)p == 0)
			return NULL;
		ev = protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
		return ev != NULL ? json_string(ev->name) : json_integer(*(const int *)p);
	case PROTOBUF_C_TYPE_STRING:
		if (*(char *const *)p == NULL)
			return always ? json_string("") : NULL;
		if (!always && **(char *const *)p == '\0')
			return NULL;
		return hj_string(*(char *const *)p, strlen(*(char *const *)p));
	case PROTOBUF_C_TYPE_BYTES:
		if (!always && ((const ProtobufCBinaryData *)p)->len == 0)
			return NULL;
		b64 = g_base64_encode(((const ProtobufCBinaryData *)p)->data,
		    ((const ProtobufCBinaryData *)p)->len);
		j = json_string(b64);
		g_free(b64);
		return j;
	case PROTOBUF_C_TYPE_MESSAGE:
		if (*(ProtobufCMessage *const *)p == NULL)
			return always ? json_null() : NULL;
		return hj_encode(*(ProtobufCMessage *const *)p, flags);
	}
	return NULL;
}

static json_t *
hj_encode(const ProtobufCMessage *m, int flags)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor	 *f;
	const char			 *base = (const char *)m, *arr, *key;
	json_t				 *obj, *v, *a;
	char				  name[HJ_NAME_MAX];
	size_t				  i, k, n;
	int				  all = (flags & HTTP_JSON_ALL_FIELDS) != 0;

	if ((obj = hj_wkt_encode(m)) != NULL)
		return obj;
	obj = json_object();
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		key = f->name;
		if (!(flags & HTTP_JSON_PROTO_NAMES)) {
			http_json_name(name, sizeof(name), f->name);
			key = name;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(base + f->quantifier_offset);
			if (n == 0 && !all)
				continue;
			arr = *(char *const *)(base + f->offset);
			a = json_array();
			for (k = 0; k < n; k++) {
				v = hj_value(f, arr + k * hj_elem_size(f->type), 1, flags);
				json_array_append_new(a, v != NULL ? v : json_null());
			}
			json_object_set_new(obj, key, a);
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
				continue; /* another member is set, or none */
		} else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0 &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING &&
		    !*(const protobuf_c_boolean *)(base + f->quantifier_offset)) {
			if (all)
				json_object_set_new(obj, key, json_null());
			continue;
		}
		if ((v = hj_value(f, base + f->offset, all, flags)) != NULL)
			json_object_set_new(obj, key, v);
	}
	return obj;
}

json_t *
http_json_encode(const ProtobufCMessage *m, int flags)
{
	return hj_encode(m, flags);
}

/* --- decoding ------------------------------------------------------------- */

struct hj_dec {
	char  *err;
	size_t errlen;
	char   path[256]; /* "filter.afterId" */
	int    depth;
};

static int hj_decode_into(struct hj_dec *, ProtobufCMessage *, const json_t *);

static int __attribute__((format(printf, 2, 3))) hj_fail(struct hj_dec *dc, const char *fmt, ...)
{
	va_list ap;
	char	msg[256];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (dc->err != NULL && dc->errlen > 0)
		snprintf(dc->err, dc->errlen, "%s%s%s", dc->path, *dc->path ? ": " : "", msg);
	return -1;
}

/* A JSON number or decimal string into an integer in [min, max] (signed) */
static int
hj_int(struct hj_dec *dc, const json_t *j, long long min, long long max, long long *out)
{
	const char *s;
	char	   *end;

	if (json_is_integer(j))
		*out = json_integer_value(j);
	else if (json_is_real(j) && json_real_value(j) == (double)(long long)json_real_value(j))
		*out = (long long)json_real_value(j);
	else if (json_is_string(j)) {
		s = json_string_value(j);
		errno = 0;
		*out = strtoll(s, &end, 10);
		if (*s == '\0' || *end != '\0' || errno != 0)
			return hj_fail(dc, "not an integer");
	} else
		return hj_fail(dc, "not an integer");
	if (*out < min || *out > max)
		return hj_fail(dc, "out of range");
	return 0;
}

static int
hj_uint64(struct hj_dec *dc, const json_t *j, uint64_t *out)
{
	const char	  *s;
	char		  *end;
	unsigned long long v;
	long long	   sv;

	if (!json_is_string(j)) {
		if (hj_int(dc, j, 0, INT64_MAX, &sv) == -1)
			return -1;
		*out = (uint64_t)sv;
		return 0;
	}
	s = json_string_value(j);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0)
		return hj_fail(dc, "not an unsigned integer");
	*out = v;
	return 0;
}

static int
hj_bytes(struct hj_dec *dc, const json_t *j, ProtobufCBinaryData *out)
{
	char  *s, *dec;
	size_t i, n, len;

	if (!json_is_string(j))
		return hj_fail(dc, "not a base64 string");
	n = json_string_length(j);
	s = xmalloc(n + 4);
	memcpy(s, json_string_value(j), n);
	for (i = 0; i < n; i++) /* URL-safe alphabet */
		s[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (n % 4 != 0)
		s[n++] = '=';
	out->len = 0;
	out->data = NULL;
	if (n == 0) {
		free(s);
		return 0;
	}
	dec = smtp_auth_b64_decode(s, n, &len);
	free(s);
	if (dec == NULL)
		return hj_fail(dc, "not valid base64");
	out->data = xmalloc(len ? len : 1);
	memcpy(out->data, dec, len);
	out->len = len;
	g_free(dec);
	return 0;
}

/* "2026-12-03T16:29:23.5Z" or with an offset "+01:00" */
static int
hj_time_parse(const char *s, int64_t *sec, int32_t *nanos)
{
	struct tm   tm;
	const char *p;
	long	    frac = 0, scale = 1000000000, off = 0;
	int	    oh, om;

	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2) {
		off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else
		return -1;
	if (*p != '\0')
		return -1;
	*sec = (int64_t)timegm(&tm) - off;
	*nanos = (int32_t)frac;
	return 0;
}

/* "1.5s", "-2s", "0.000001s" */
static int
hj_duration_parse(const char *s, int64_t *sec, int32_t *nanos)
{
	const char *p = s;
	long long   v = 0;
	long	    frac = 0, scale = 1000000000;
	int	    neg = 0, digits = 0;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (v > 315576000000LL)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
	if (digits == 0 || strcmp(p, "s") != 0)
		return -1;
	*sec = neg ? -v : v;
	*nanos = (int32_t)(neg ? -frac : frac);
	return 0;
}

static int
hj_wkt_decode(struct hj_dec *dc, ProtobufCMessage *m, const json_t *j, int *done)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	int64_t				  sec;
	int32_t				  nanos;
	int				  ts;

	*done = 0;
	if (strcmp(d->name, "google.protobuf.Timestamp") != 0 &&
	    strcmp(d->name, "google.protobuf.Duration") != 0)
		return 0;
	ts = d->name[16] == 'T';
	*done = 1;
	if (!json_is_string(j) ||
	    (ts ? hj_time_parse(json_string_value(j), &sec, &nanos) :
		  hj_duration_parse(json_string_value(j), &sec, &nanos)) == -1)
		return hj_fail(dc,
		    ts ? "not an RFC 3339 timestamp" : "not a duration like \"1.5s\"");
	*(int64_t *)((char *)m + d->fields[0].offset) = sec;
	*(int32_t *)((char *)m + d->fields[1].offset) = nanos;
	return 0;
}

/* A new message of type d from j (an object, or a WKT string) */
static ProtobufCMessage *
hj_new_message(struct hj_dec *dc, const ProtobufCMessageDescriptor *d, const json_t *j)
{
	ProtobufCMessage *m = xcalloc(1, d->sizeof_message);

	protobuf_c_message_init(d, m);
	if (dc->depth >= HJ_DEPTH_MAX) {
		hj_fail(dc, "nested too deeply");
		protobuf_c_message_free_unpacked(m, NULL);
		return NULL;
	}
	dc->depth++;
	if (hj_decode_into(dc, m, j) == -1) {
		dc->depth--;
		protobuf_c_message_free_unpacked(m, NULL);
		return NULL;
	}
	dc->depth--;
	return m;
}

/* One value of field f into p (zeroed storage) */
static int
hj_set(struct hj_dec *dc, const ProtobufCFieldDescriptor *f, void *p, const json_t *j)
{
	const ProtobufCEnumValue *ev;
	long long		  v;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (hj_int(dc, j, INT32_MIN, INT32_MAX, &v) == -1)
			return -1;
		*(int32_t *)p = (int32_t)v;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (hj_int(dc, j, 0, UINT32_MAX, &v) == -1)
			return -1;
		*(uint32_t *)p = (uint32_t)v;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (hj_int(dc, j, INT64_MIN, INT64_MAX, &v) == -1)
			return -1;
		*(int64_t *)p = v;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return hj_uint64(dc, j, p);
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_is_number(j))
			return hj_fail(dc, "not a number");
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)p = (float)json_number_value(j);
		else
			*(double *)p = json_number_value(j);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(j))
			return hj_fail(dc, "not a boolean");
		*(protobuf_c_boolean *)p = json_is_true(j);
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		if (json_is_string(j)) {
			ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor,
			    json_string_value(j));
			if (ev == NULL)
				return hj_fail(dc, "unknown value \"%.64s\"", json_string_value(j));
			*(int *)p = ev->value;
			return 0;
		}
		if (hj_int(dc, j, INT32_MIN, INT32_MAX, &v) == -1)
			return -1;
		*(int *)p = (int)v;
		return 0;
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(j))
			return hj_fail(dc, "not a string");
		*(char **)p = xstrdup(json_string_value(j));
		return 0;
	case PROTOBUF_C_TYPE_BYTES:
		return hj_bytes(dc, j, p);
	case PROTOBUF_C_TYPE_MESSAGE:
		if (!json_is_object(j) && !json_is_string(j))
			return hj_fail(dc, "not an object");
		*(ProtobufCMessage **)p = hj_new_message(dc, f->descriptor, j);
		return *(ProtobufCMessage **)p != NULL ? 0 : -1;
	}
	return hj_fail(dc, "unsupported type");
}

/* The field of d named key (json_name or proto name), or NULL */
static const ProtobufCFieldDescriptor *
hj_field(const ProtobufCMessageDescriptor *d, const char *key)
{
	char   name[HJ_NAME_MAX];
	size_t i;

	for (i = 0; i < d->n_fields; i++) {
		http_json_name(name, sizeof(name), d->fields[i].name);
		if (strcmp(name, key) == 0 || strcmp(d->fields[i].name, key) == 0)
			return &d->fields[i];
	}
	return NULL;
}

static int
hj_decode_field(struct hj_dec *dc, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const json_t *v)
{
	char   *base = (char *)m, *arr;
	size_t	k, n, esz = hj_elem_size(f->type);
	json_t *e;

	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			/* replace the default (a static "") without freeing it */
			*(char **)(base + f->offset) = NULL;
		}
		if (hj_set(dc, f, base + f->offset, v) == -1)
			return -1;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
			*(uint32_t *)(base + f->quantifier_offset) = f->id;
		else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0 &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
			*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
		return 0;
	}
	if (!json_is_array(v))
		return hj_fail(dc, "not an array");
	n = json_array_size(v);
	if (n == 0)
		return 0;
	arr = xcalloc(n, esz);
	*(void **)(base + f->offset) = arr;
	for (k = 0; k < n; k++) {
		e = json_array_get(v, k);
		if (json_is_null(e))
			return hj_fail(dc, "null in a list");
		if (hj_set(dc, f, arr + k * esz, e) == -1)
			return -1;
		*(size_t *)(base + f->quantifier_offset) = k + 1; /* freed so far */
	}
	return 0;
}

static int
hj_decode_into(struct hj_dec *dc, ProtobufCMessage *m, const json_t *j)
{
	const ProtobufCFieldDescriptor *f;
	const char		       *key;
	json_t			       *v;
	size_t				plen = strlen(dc->path);
	int				done, rc = 0;

	if (hj_wkt_decode(dc, m, j, &done) == -1)
		return -1;
	if (done)
		return 0;
	if (!json_is_object(j))
		return hj_fail(dc, "not an object");
	json_object_foreach((json_t *)j, key, v)
	{
		if ((f = hj_field(m->descriptor, key)) == NULL || json_is_null(v))
			continue; /* unknown fields are ignored */
		snprintf(dc->path + plen, sizeof(dc->path) - plen, "%s%s", plen ? "." : "", key);
		rc = hj_decode_field(dc, m, f, v);
		dc->path[plen] = '\0';
		if (rc == -1)
			return -1;
	}
	return 0;
}

ProtobufCMessage *
http_json_decode(const ProtobufCMessageDescriptor *desc, const json_t *j, char *err, size_t errlen)
{
	struct hj_dec dc;

	memset(&dc, 0, sizeof(dc));
	dc.err = err;
	dc.errlen = errlen;
	if (errlen > 0)
		*err = '\0';
	if (!json_is_object(j)) {
		hj_fail(&dc, "the request body is not a JSON object");
		return NULL;
	}
	return hj_new_message(&dc, desc, j);
}
