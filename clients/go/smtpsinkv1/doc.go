// Package smtpsinkv1 holds the Go protobuf and gRPC stubs of the smtpsink
// control API (package smtpsink.v1), generated from
// proto/smtpsink/v1/smtpsink.proto at build time; the generated *.pb.go files
// are not committed. Run `go generate ./...` in clients/go first (needs
// protoc, protoc-gen-go and protoc-gen-go-grpc on PATH; see the README).
package smtpsinkv1

//go:generate protoc -I ../../../proto --go_out=.. --go_opt=module=github.com/smtpsink/smtpsink/clients/go --go-grpc_out=.. --go-grpc_opt=module=github.com/smtpsink/smtpsink/clients/go smtpsink/v1/smtpsink.proto
