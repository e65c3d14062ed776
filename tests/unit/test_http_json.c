/*
 * test_http_json - the descriptor-driven proto3 JSON mapping: every message
 * type of smtpsink.v1 filled with non-default values in every field
 * round-trips (encode -> text -> decode -> the same packed bytes); then the
 * mapping's details (64-bit integers as strings, enums by name, bytes as
 * base64, Timestamp and Duration strings, unknown keys ignored) and the
 * errors of bad input; and the options of smtpsinkctl --json
 * (HTTP_JSON_CTL: proto names, every field, 64-bit integers as numbers),
 * whose output must round-trip the same way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtpsink/v1/smtpsink.pb-c.h"

#include "http_json.h"
#include "xmalloc.h"

static const ProtobufCMessageDescriptor *const types[] = {
	&smtpsink__v1__filter__descriptor,
	&smtpsink__v1__list_messages_request__descriptor,
	&smtpsink__v1__list_messages_response__descriptor,
	&smtpsink__v1__get_message_request__descriptor,
	&smtpsink__v1__wait_for_messages_request__descriptor,
	&smtpsink__v1__watch_messages_request__descriptor,
	&smtpsink__v1__clear_request__descriptor,
	&smtpsink__v1__clear_response__descriptor,
	&smtpsink__v1__reject_rule__descriptor,
	&smtpsink__v1__list_reject_rules_request__descriptor,
	&smtpsink__v1__list_reject_rules_response__descriptor,
	&smtpsink__v1__delete_reject_rule_request__descriptor,
	&smtpsink__v1__delete_reject_rule_response__descriptor,
	&smtpsink__v1__get_server_info_request__descriptor,
	&smtpsink__v1__counters__descriptor,
	&smtpsink__v1__server_info__descriptor,
	&smtpsink__v1__upstream_reply__descriptor,
	&smtpsink__v1__relay_status__descriptor,
	&smtpsink__v1__release_message_request__descriptor,
	&smtpsink__v1__header__descriptor,
	&smtpsink__v1__param__descriptor,
	&smtpsink__v1__rcpt_params__descriptor,
	&smtpsink__v1__attachment__descriptor,
	&smtpsink__v1__message__descriptor,
};

/* One non-default value of field f at p (storage allocated with malloc) */
static void fill(ProtobufCMessage *m, int depth);

static void
fill_value(const ProtobufCFieldDescriptor *f, void *p, int depth, int k)
{
	const ProtobufCEnumDescriptor *ed;
	ProtobufCBinaryData	      *b;
	ProtobufCMessage	      *sub;
	char			       s[64];

	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT64:
		*(uint64_t *)p = UINT64_MAX - (uint64_t)k; /* beyond a double's precision */
		break;
	case PROTOBUF_C_TYPE_INT64:
		*(int64_t *)p = -(INT64_C(1) << 60) + k;
		break;
	case PROTOBUF_C_TYPE_UINT32:
		*(uint32_t *)p = 4000000000u + (uint32_t)k;
		break;
	case PROTOBUF_C_TYPE_INT32:
		*(int32_t *)p = -7 - k;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)p = 1;
		break;
	case PROTOBUF_C_TYPE_ENUM:
		ed = f->descriptor;
		*(int *)p = ed->values[ed->n_values - 1].value;
		break;
	case PROTOBUF_C_TYPE_STRING:
		snprintf(s, sizeof(s), "%s \xc3\xa9 \"q\" %d\n", f->name, k);
		*(char **)p = xstrdup(s);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		b = p;
		b->len = 4;
		b->data = xmalloc(4);
		memcpy(b->data, "\x00\x01\xff\xfe", 4);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		sub = xcalloc(1,
		    ((const ProtobufCMessageDescriptor *)f->descriptor)->sizeof_message);
		protobuf_c_message_init(f->descriptor, sub);
		fill(sub, depth + 1);
		*(ProtobufCMessage **)p = sub;
		break;
	default:
		fail_msg("field %s: type %d not in the proto", f->name, f->type);
	}
}

static size_t
elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_INT64:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 4;
	}
}

static void
fill(ProtobufCMessage *m, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor	 *f;
	char				 *arr;
	size_t				  i, k, n = 2;

	if (strncmp(d->name, "google.protobuf.", 16) == 0) {
		/* Timestamp/Duration: seconds, nanos within their ranges */
		*(int64_t *)((char *)m + d->fields[0].offset) = 1764779363;
		*(int32_t *)((char *)m + d->fields[1].offset) = 123456789;
		return;
	}
	if (depth > 3)
		return;
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			arr = xcalloc(n, elem_size(f->type));
			for (k = 0; k < n; k++)
				fill_value(f, arr + k * elem_size(f->type), depth, (int)k);
			*(void **)((char *)m + f->offset) = arr;
			*(size_t *)((char *)m + f->quantifier_offset) = n;
		} else {
			if (f->type == PROTOBUF_C_TYPE_STRING)
				*(char **)((char *)m + f->offset) = NULL;
			fill_value(f, (char *)m + f->offset, depth, 0);
		}
	}
}

static uint8_t *
pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = xmalloc(*len + 1);
	protobuf_c_message_pack(m, buf);
	return buf;
}

/*
 * encode -> text -> parse -> decode gives the same packed bytes, with the
 * proto3 mapping and with smtpsinkctl's options alike
 */
static void
round_trip(int flags)
{
	ProtobufCMessage *m, *back;
	json_t		 *j, *parsed;
	json_error_t	  e;
	char		 *text, err[256];
	uint8_t		 *a, *b;
	size_t		  i, alen, blen;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		m = xcalloc(1, types[i]->sizeof_message);
		protobuf_c_message_init(types[i], m);
		fill(m, 0);
		j = http_json_encode(m, flags);
		text = json_dumps(j, JSON_COMPACT);
		assert_non_null(text);
		parsed = json_loads(text, 0, &e);
		assert_non_null(parsed);
		back = http_json_decode(types[i], parsed, err, sizeof(err));
		if (back == NULL)
			fail_msg("%s: decode failed: %s (%s)", types[i]->name, err, text);
		a = pack(m, &alen);
		b = pack(back, &blen);
		if (alen != blen || memcmp(a, b, alen) != 0)
			fail_msg("%s: round trip differs: %s", types[i]->name, text);
		free(a);
		free(b);
		free(text);
		json_decref(j);
		json_decref(parsed);
		protobuf_c_message_free_unpacked(m, NULL);
		protobuf_c_message_free_unpacked(back, NULL);
	}
}

static void
test_http_json_round_trip(void **state)
{
	round_trip(0);
	round_trip(HTTP_JSON_CTL);
}

static json_t *
load(const char *s)
{
	json_error_t e;
	json_t	    *j = json_loads(s, 0, &e);

	if (j == NULL)
		fail_msg("test JSON %s: %s", s, e.text);
	return j;
}

/* The details of the mapping, on hand-made messages */
static void
test_http_json_mapping(void **state)
{
	Smtpsink__V1__Counters		      cnt = SMTPSINK__V1__COUNTERS__INIT;
	Smtpsink__V1__RejectRule	      rule = SMTPSINK__V1__REJECT_RULE__INIT;
	Smtpsink__V1__Message		      msg = SMTPSINK__V1__MESSAGE__INIT;
	Google__Protobuf__Timestamp	      ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Smtpsink__V1__WaitForMessagesRequest *w;
	json_t				     *j;
	char				     *s, err[256];

	cnt.last_id = UINT64_C(18446744073709551615);
	cnt.waiters = 0; /* default: left out */
	j = http_json_encode(&cnt.base, 0);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"lastId\":\"18446744073709551615\"}");
	free(s);
	json_decref(j);

	rule.stage = SMTPSINK__V1__STAGE__RCPT_TO;
	rule.code = 550;
	rule.enhanced_code = "5.1.1";
	j = http_json_encode(&rule.base, 0);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"code\":550,\"enhancedCode\":\"5.1.1\",\"stage\":\"RCPT_TO\"}");
	free(s);
	json_decref(j);

	msg.raw.data = (uint8_t *)"\x00\x01\xff";
	msg.raw.len = 3;
	ts.seconds = 1764779363; /* 2025-12-03T16:29:23Z */
	ts.nanos = 500000000;
	msg.received_at = &ts;
	j = http_json_encode(&msg.base, 0);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"raw\":\"AAH/\",\"receivedAt\":\"2025-12-03T16:29:23.500Z\"}");
	free(s);
	json_decref(j);

	/* input: proto names, numbers for 64-bit, durations, unknown keys, null */
	j = load("{\"filter\":{\"mail_from\":\"*@x\",\"afterId\":12,\"relayState\":\"RELAY_STATE_"
		 "FAILED\"},"
		 "\"count\":3,\"timeout\":\"1.5s\",\"nosuch\":{\"a\":[1]},\"includeRaw\":null}");
	w = (void *)http_json_decode(&smtpsink__v1__wait_for_messages_request__descriptor, j, err,
	    sizeof(err));
	assert_non_null(w);
	assert_string_equal(w->filter->mail_from, "*@x");
	assert_int_equal(w->filter->after_id, 12);
	assert_int_equal(w->filter->relay_state, SMTPSINK__V1__RELAY_STATE__RELAY_STATE_FAILED);
	assert_int_equal(w->count, 3);
	assert_int_equal(w->timeout->seconds, 1);
	assert_int_equal(w->timeout->nanos, 500000000);
	assert_false(w->include_raw);
	json_decref(j);
	j = http_json_encode(&w->base, 0);
	s = json_dumps(json_object_get(j, "timeout"), JSON_ENCODE_ANY);
	assert_string_equal(s, "\"1.500s\"");
	free(s);
	json_decref(j);
	protobuf_c_message_free_unpacked(&w->base, NULL);
}

static void
expect_json(const ProtobufCMessage *m, int flags, const char *want)
{
	json_t *j = http_json_encode(m, flags);
	char   *s = json_dumps(j, JSON_COMPACT);

	if (strcmp(s, want) != 0)
		fail_msg("got  %s\nwant %s", s, want);
	free(s);
	json_decref(j);
}

/*
 * smtpsinkctl --json (HTTP_JSON_CTL): proto names in field order, every
 * field with its default, unset messages null, 64-bit integers as
 * numbers (a uint64 beyond INT64_MAX as a string); each option alone
 */
static void
test_http_json_ctl_options(void **state)
{
	Smtpsink__V1__ListMessagesResponse lr = SMTPSINK__V1__LIST_MESSAGES_RESPONSE__INIT;
	Smtpsink__V1__ClearResponse	   cr = SMTPSINK__V1__CLEAR_RESPONSE__INIT;
	Smtpsink__V1__RejectRule	   rule = SMTPSINK__V1__REJECT_RULE__INIT;
	Smtpsink__V1__Attachment	   att = SMTPSINK__V1__ATTACHMENT__INIT;
	Smtpsink__V1__Counters		   cnt = SMTPSINK__V1__COUNTERS__INIT;
	Smtpsink__V1__Message		   msg = SMTPSINK__V1__MESSAGE__INIT;
	json_t				  *j;

	expect_json(&lr.base, HTTP_JSON_CTL, "{\"messages\":[],\"last_id\":0,\"matched\":0}");
	expect_json(&lr.base, 0, "{}");
	lr.last_id = 42;
	expect_json(&lr.base, HTTP_JSON_CTL, "{\"messages\":[],\"last_id\":42,\"matched\":0}");
	expect_json(&lr.base, HTTP_JSON_PROTO_NAMES, "{\"last_id\":\"42\"}");
	expect_json(&lr.base, HTTP_JSON_INT64_NUMBERS, "{\"lastId\":42}");
	expect_json(&lr.base, HTTP_JSON_ALL_FIELDS,
	    "{\"messages\":[],\"lastId\":\"42\",\"matched\":\"0\"}");
	expect_json(&cr.base, HTTP_JSON_CTL, "{\"deleted\":0}");
	cr.deleted = UINT64_C(18446744073709551615); /* beyond jansson's integers */
	expect_json(&cr.base, HTTP_JSON_CTL, "{\"deleted\":\"18446744073709551615\"}");
	cr.deleted = INT64_MAX;
	expect_json(&cr.base, HTTP_JSON_CTL, "{\"deleted\":9223372036854775807}");

	rule.stage = SMTPSINK__V1__STAGE__RCPT_TO;
	rule.code = 550;
	rule.enhanced_code = NULL; /* as after a failed decode: printed as "" */
	j = http_json_encode(&rule.base, HTTP_JSON_CTL);
	assert_string_equal(json_string_value(json_object_get(j, "stage")), "RCPT_TO");
	assert_int_equal(json_integer_value(json_object_get(j, "code")), 550);
	assert_string_equal(json_string_value(json_object_get(j, "enhanced_code")), "");
	assert_true(json_is_integer(json_object_get(j, "hits")));
	assert_int_equal(json_object_size(j), smtpsink__v1__reject_rule__descriptor.n_fields);
	json_decref(j);

	/* unset message null, empty bytes "", false as false */
	j = http_json_encode(&att.base, HTTP_JSON_CTL);
	assert_string_equal(json_string_value(json_object_get(j, "content")), "");
	assert_int_equal(json_object_size(j), smtpsink__v1__attachment__descriptor.n_fields);
	json_decref(j);
	j = http_json_encode(&cnt.base, HTTP_JSON_CTL);
	assert_int_equal(json_object_size(j), smtpsink__v1__counters__descriptor.n_fields);
	assert_true(json_is_integer(json_object_get(j, "stored_bytes")));
	json_decref(j);
	j = http_json_encode(&msg.base, HTTP_JSON_CTL);
	assert_true(json_is_null(json_object_get(j, "received_at")));
	assert_true(json_is_array(json_object_get(j, "rcpt_to")));
	assert_true(json_is_false(json_object_get(j, "tls")));
	json_decref(j);
}

/* Input that does not fit: an error naming the field, never a crash */
static void
test_http_json_errors(void **state)
{
	static const struct {
		const char *json;
		const char *want; /* in the error */
	} cases[] = {
		{ "{\"count\":\"abc\"}", "count: not an integer" },
		{ "{\"count\":-1}", "count: out of range" },
		{ "{\"count\":4294967296}", "count: out of range" },
		{ "{\"filter\":5}", "filter: not an object" },
		{ "{\"filter\":{\"afterId\":\"-1\"}}", "filter.afterId: not an unsigned" },
		{ "{\"filter\":{\"relayState\":\"NOPE\"}}", "filter.relayState: unknown value" },
		{ "{\"filter\":{\"subject\":7}}", "filter.subject: not a string" },
		{ "{\"timeout\":\"5\"}", "timeout: not a duration" },
		{ "{\"timeout\":{\"seconds\":1}}", "timeout: not a duration" },
		{ "{\"includeRaw\":\"yes\"}", "includeRaw: not a boolean" },
		{ "[]", "not a JSON object" },
	};
	json_t *j;
	void   *m;
	char	err[256];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		j = load(cases[i].json);
		m = http_json_decode(&smtpsink__v1__wait_for_messages_request__descriptor, j, err,
		    sizeof(err));
		if (m != NULL || strstr(err, cases[i].want) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].json,
			    m ? "(decoded)" : err, cases[i].want);
		json_decref(j);
	}
	j = load("{\"raw\":\"!!\"}");
	assert_null(http_json_decode(&smtpsink__v1__message__descriptor, j, err, sizeof(err)));
	assert_non_null(strstr(err, "raw: not valid base64"));
	json_decref(j);
	j = load("{\"receivedAt\":\"yesterday\"}");
	assert_null(http_json_decode(&smtpsink__v1__message__descriptor, j, err, sizeof(err)));
	assert_non_null(strstr(err, "receivedAt: not an RFC 3339"));
	json_decref(j);
}

/* Names as protoc derives json_name; times as RFC 3339 */
static void
test_http_json_names(void **state)
{
	char buf[64];

	http_json_name(buf, sizeof(buf), "rcpt_to");
	assert_string_equal(buf, "rcptTo");
	http_json_name(buf, sizeof(buf), "tls_certificate_pem");
	assert_string_equal(buf, "tlsCertificatePem");
	http_json_name(buf, sizeof(buf), "id");
	assert_string_equal(buf, "id");
	http_json_time(buf, sizeof(buf), 0, 0);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	http_json_time(buf, sizeof(buf), 0, 1000);
	assert_string_equal(buf, "1970-01-01T00:00:00.000001Z");
	http_json_time(buf, sizeof(buf), 0, 1);
	assert_string_equal(buf, "1970-01-01T00:00:00.000000001Z");
	http_json_time(buf, sizeof(buf), INT64_MAX, 0); /* no calendar year for it */
	assert_string_equal(buf, "9223372036854775807");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_json_round_trip),
		cmocka_unit_test(test_http_json_mapping),
		cmocka_unit_test(test_http_json_ctl_options),
		cmocka_unit_test(test_http_json_errors),
		cmocka_unit_test(test_http_json_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
