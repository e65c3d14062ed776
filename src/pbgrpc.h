/*
 * pbgrpc - the whole glue between gRPC byte buffers and protobuf-c messages,
 * shared by the control server, smtpsinkctl and the tests.
 */
#ifndef SMTPSINK_PBGRPC_H
#define SMTPSINK_PBGRPC_H
#include <stddef.h>

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>

/*
 * Packs m (whose packed size is n, from protobuf_c_message_get_packed_size)
 * into a new byte buffer the caller destroys, after the batch that sent it
 * completed.
 */
grpc_byte_buffer *pbgrpc_pack(const ProtobufCMessage *m, size_t n);
/* NULL if bb cannot be read or does not parse as desc; else free with
 * protobuf_c_message_free_unpacked(). bb stays the caller's. */
ProtobufCMessage *pbgrpc_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb);

#endif
