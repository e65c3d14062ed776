// Package smtpsinkv1 holds the Go protobuf and gRPC stubs of the smtpsink
// control API (package smtpsink.v1), generated from
// proto/smtpsink/v1/smtpsink.proto. The generated *.pb.go files are
// committed (Go's convention: the module builds with `go get` alone, no
// protoc). After changing the proto, run `go generate ./...` in clients/go
// with protoc and the pinned plugins on PATH (protoc-gen-go v1.36.12,
// protoc-gen-go-grpc v1.6.2; see the README) and commit the result:
// .ci/clients-go.sh regenerates them and fails when they differ.
package smtpsinkv1

//go:generate protoc -I ../../../proto --go_out=.. --go_opt=module=github.com/smtpsink/smtpsink/clients/go --go-grpc_out=.. --go-grpc_opt=module=github.com/smtpsink/smtpsink/clients/go smtpsink/v1/smtpsink.proto
