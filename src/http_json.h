/*
 * http_json - protobuf messages <-> JSON in the proto3 JSON mapping, driven
 * by the protobuf-c descriptors alone (no per-message code): every field is
 * walked from its ProtobufCFieldDescriptor.
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

/* The JSON object for m; never NULL (aborts when out of memory). */
json_t		 *http_json_encode(const ProtobufCMessage *m);
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
 * (UTC) into dst (at least 40 bytes); the fraction has 0, 3, 6 or 9 digits.
 */
void		  http_json_time(char *dst, size_t dstsz, long long seconds, int nanos);

#endif
