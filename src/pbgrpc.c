/*
 * pbgrpc - gRPC byte buffer <-> protobuf-c message (GRPC-C-CORE.md §5).
 */
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include "pbgrpc.h"

grpc_byte_buffer *
pbgrpc_pack(const ProtobufCMessage *m, size_t n)
{
	grpc_slice	  s = grpc_slice_malloc(n); /* 0 bytes is fine */
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
	bb = grpc_raw_byte_buffer_create(&s, 1); /* takes its own ref */
	grpc_slice_unref(s);
	return bb;
}

ProtobufCMessage *
pbgrpc_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb)
{
	grpc_byte_buffer_reader rd;
	grpc_slice		s;
	ProtobufCMessage       *m;

	if (bb == NULL || !grpc_byte_buffer_reader_init(&rd, bb))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&rd); /* also decompresses */
	grpc_byte_buffer_reader_destroy(&rd);
	m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	return m;
}
