/*
 * smtpsinkctl_json - the --json output: one generic protobuf-c to JSON
 * writer driven by the message descriptors, so every message of the
 * contract, present and future fields alike, is printed the same way
 * (proto field names, every field, uint64 as numbers, bytes as base64,
 * enums by name, Timestamp as RFC 3339 UTC, Duration as "1.5s"). Strings
 * are escaped by json.c.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "smtpsinkctl.h"

static void
ctl_base64(FILE *f, const uint8_t *p, size_t len)
{
	static const char
		 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char	 out[4];
	uint32_t v;
	size_t	 i;

	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[0] = tab[v >> 18];
		out[1] = tab[(v >> 12) & 63];
		out[2] = tab[(v >> 6) & 63];
		out[3] = tab[v & 63];
		fwrite(out, 1, 4, f);
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		out[0] = tab[v >> 18];
		out[1] = tab[(v >> 12) & 63];
		out[2] = out[3] = '=';
		fwrite(out, 1, 4, f);
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[0] = tab[v >> 18];
		out[1] = tab[(v >> 12) & 63];
		out[2] = tab[(v >> 6) & 63];
		out[3] = '=';
		fwrite(out, 1, 4, f);
	}
}

char *
ctl_format_time(char *buf, size_t len, int64_t secs, int32_t nanos, int frac)
{
	struct tm tm;
	time_t	  t = (time_t)secs;
	size_t	  n;

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "%" PRId64, secs);
		return buf;
	}
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac && nanos > 0 && nanos < 1000000000) {
		/* 3, 6 or 9 digits, like the protobuf JSON mapping */
		if (nanos % 1000000 == 0)
			n += snprintf(buf + n, len - n, ".%03d", nanos / 1000000);
		else if (nanos % 1000 == 0)
			n += snprintf(buf + n, len - n, ".%06d", nanos / 1000);
		else
			n += snprintf(buf + n, len - n, ".%09d", nanos);
	}
	if (n + 1 < len) {
		buf[n] = 'Z';
		buf[n + 1] = '\0';
	}
	return buf;
}

static void json_value(FILE *, const ProtobufCFieldDescriptor *, const void *);

static int
is_message(const ProtobufCMessage *m, const char *name)
{
	return strcmp(m->descriptor->name, name) == 0;
}

/* Well-known types get their JSON mapping; returns 1 if it wrote m. */
static int
json_wkt(FILE *f, const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *fs, *fn;
	char				buf[64];
	int64_t				secs;
	int32_t				nanos;

	if (!is_message(m, "google.protobuf.Timestamp") &&
	    !is_message(m, "google.protobuf.Duration"))
		return 0;
	fs = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "seconds");
	fn = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "nanos");
	if (fs == NULL || fn == NULL)
		return 0;
	memcpy(&secs, (const char *)m + fs->offset, sizeof(secs));
	memcpy(&nanos, (const char *)m + fn->offset, sizeof(nanos));
	if (is_message(m, "google.protobuf.Timestamp"))
		fprintf(f, "\"%s\"", ctl_format_time(buf, sizeof(buf), secs, nanos, 1));
	else if (nanos == 0)
		fprintf(f, "\"%" PRId64 "s\"", secs);
	else
		fprintf(f, "\"%s%" PRId64 ".%09ds\"", secs == 0 && nanos < 0 ? "-" : "", secs,
		    nanos < 0 ? -nanos : nanos);
	return 1;
}

void
ctl_json_message(FILE *f, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor	 *fd;
	const char			 *base = (const char *)m;
	const char			 *arr;
	size_t				  i, j, n, sz;

	if (json_wkt(f, m))
		return;
	putc('{', f);
	for (i = 0; i < d->n_fields; i++) {
		fd = &d->fields[i];
		if (i > 0)
			putc(',', f);
		json_put_string(f, fd->name, strlen(fd->name));
		putc(':', f);
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			memcpy(&n, base + fd->quantifier_offset, sizeof(n));
			memcpy(&arr, base + fd->offset, sizeof(arr));
			switch (fd->type) {
			case PROTOBUF_C_TYPE_INT32:
			case PROTOBUF_C_TYPE_SINT32:
			case PROTOBUF_C_TYPE_SFIXED32:
			case PROTOBUF_C_TYPE_UINT32:
			case PROTOBUF_C_TYPE_FIXED32:
			case PROTOBUF_C_TYPE_FLOAT:
			case PROTOBUF_C_TYPE_ENUM:
				sz = 4;
				break;
			case PROTOBUF_C_TYPE_BOOL:
				sz = sizeof(protobuf_c_boolean);
				break;
			case PROTOBUF_C_TYPE_STRING:
			case PROTOBUF_C_TYPE_MESSAGE:
				sz = sizeof(void *);
				break;
			case PROTOBUF_C_TYPE_BYTES:
				sz = sizeof(ProtobufCBinaryData);
				break;
			default:
				sz = 8;
				break;
			}
			putc('[', f);
			for (j = 0; j < n; j++) {
				if (j > 0)
					putc(',', f);
				json_value(f, fd, arr + j * sz);
			}
			putc(']', f);
			continue;
		}
		if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset != 0 &&
		    fd->type != PROTOBUF_C_TYPE_MESSAGE && fd->type != PROTOBUF_C_TYPE_STRING) {
			protobuf_c_boolean has;

			memcpy(&has, base + fd->quantifier_offset, sizeof(has));
			if (!has) {
				fputs("null", f);
				continue;
			}
		}
		json_value(f, fd, base + fd->offset);
	}
	putc('}', f);
}

/* Writes the single value of field fd stored at p. */
static void
json_value(FILE *f, const ProtobufCFieldDescriptor *fd, const void *p)
{
	const ProtobufCEnumValue *ev;
	ProtobufCBinaryData	  bin;
	const ProtobufCMessage	 *sub;
	const char		 *s;
	int32_t			  i32;
	uint32_t		  u32;
	int64_t			  i64;
	uint64_t		  u64;
	float			  fl;
	double			  dbl;
	protobuf_c_boolean	  b;

	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		memcpy(&i32, p, sizeof(i32));
		fprintf(f, "%" PRId32, i32);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		memcpy(&u32, p, sizeof(u32));
		fprintf(f, "%" PRIu32, u32);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		memcpy(&i64, p, sizeof(i64));
		fprintf(f, "%" PRId64, i64);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		memcpy(&u64, p, sizeof(u64));
		fprintf(f, "%" PRIu64, u64);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		memcpy(&fl, p, sizeof(fl));
		fprintf(f, "%.9g", (double)fl);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		memcpy(&dbl, p, sizeof(dbl));
		fprintf(f, "%.17g", dbl);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		memcpy(&b, p, sizeof(b));
		fputs(b ? "true" : "false", f);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		memcpy(&i32, p, sizeof(i32));
		ev = protobuf_c_enum_descriptor_get_value(fd->descriptor, i32);
		if (ev != NULL)
			json_put_string(f, ev->name, strlen(ev->name));
		else
			fprintf(f, "%" PRId32, i32);
		break;
	case PROTOBUF_C_TYPE_STRING:
		memcpy(&s, p, sizeof(s));
		if (s == NULL)
			s = "";
		json_put_string(f, s, strlen(s));
		break;
	case PROTOBUF_C_TYPE_BYTES:
		memcpy(&bin, p, sizeof(bin));
		putc('"', f);
		ctl_base64(f, bin.data, bin.len);
		putc('"', f);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		memcpy(&sub, p, sizeof(sub));
		if (sub == NULL)
			fputs("null", f);
		else
			ctl_json_message(f, sub);
		break;
	default:
		fputs("null", f);
		break;
	}
}
