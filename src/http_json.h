/*
 * http_json - protobuf messages <-> JSON in the proto3 JSON mapping, driven
 * by the protobuf-c descriptors alone (no per-message code): every field is
 * walked from its ProtobufCFieldDescriptor. The one encoder of the tree:
 * the HTTP API (http.c) uses the mapping as it is, smtpsinkctl --json the
 * same encoder with the HTTP_JSON_CTL options below.
 *
 * Mapping (https://protobuf.dev/programming-guides/json/): keys are the
 * lowerCamelCase json_name protoc derives from the field name (the proto
 * name is accepted too on input); 64-bit integers are decimal strings
 * (numbers accepted on input); bytes are standard base64 (URL-safe accepted
 * on input); enums are their value names (numbers accepted on input);
 * google.protobuf.Timestamp is an RFC 3339 string in UTC with 0, 3, 6 or 9
 * fractional digits, google.protobuf.Duration "1.5s". On output, fields at
 * their default value (0, "", false, empty list, unset message) are left
 * out, as protoc's printers do by default. On input, unknown keys are
 * ignored and null means the default.
 *
 * Encoder options (flags, 0 = the mapping above), where smtpsinkctl's
 * documented --json output differs from it; named after protobuf's
 * JsonPrintOptions where one exists:
 *   HTTP_JSON_PROTO_NAMES    keys are the proto field names ("rcpt_to"),
 *                            as preserving_proto_field_names
 *   HTTP_JSON_ALL_FIELDS     every field, defaults included (0, "", false,
 *                            []), as always_print_fields_with_no_presence,
 *                            and an unset message field as null (which
 *                            protobuf leaves out)
 *   HTTP_JSON_INT64_NUMBERS  64-bit integers as JSON numbers (a uint64
 *                            above INT64_MAX, which jansson cannot hold,
 *                            stays a decimal string)
 *
 * Ownership: http_json_encode() returns a new jansson reference; the
 * message is only read. http_json_decode() returns a message allocated
 * with protobuf-c's default allocator: free it with
 * protobuf_c_message_free_unpacked(m, NULL).
 */
#ifndef SMTPSINK_HTTP_JSON_H
#define SMTPSINK_HTTP_JSON_H
#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#define HTTP_JSON_PROTO_NAMES	0x01
#define HTTP_JSON_ALL_FIELDS	0x02
#define HTTP_JSON_INT64_NUMBERS 0x04
/* smtpsinkctl --json: proto names, every field, 64-bit integers as numbers */
#define HTTP_JSON_CTL		(HTTP_JSON_PROTO_NAMES | HTTP_JSON_ALL_FIELDS | HTTP_JSON_INT64_NUMBERS)

/*
 * The JSON object for m with the options in flags (0: the proto3 mapping);
 * never NULL (aborts when out of memory).
 */
json_t		 *http_json_encode(const ProtobufCMessage *m, int flags);
/*
 * A new message of type desc from the JSON object j; NULL with a one-line
 * reason ("filter.afterId: not an integer") in err when j does not fit.
 */
ProtobufCMessage *http_json_decode(const ProtobufCMessageDescriptor *desc, const json_t *j,
    char *err, size_t errlen);
/* The json_name of a proto field name ("rcpt_to" -> "rcptTo") into dst. */
void		  http_json_name(char *dst, size_t dstsz, const char *proto_name);
/*
 * RFC 3339 "2026-12-03T16:29:23.123Z" of seconds/nanos since the epoch
 * (UTC) into dst (at least 40 bytes); the fraction has 0, 3, 6 or 9 digits
 * (none when nanos is 0). Seconds beyond what gmtime() can break down are
 * written as a decimal number instead.
 */
void		  http_json_time(char *dst, size_t dstsz, long long seconds, int nanos);

#endif
