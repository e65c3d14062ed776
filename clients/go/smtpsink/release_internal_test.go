package smtpsink

// Release (ReleaseMessage, issue 10): the exact request the client sends
// and the status it returns, checked against an in-process gRPC server
// standing in for smtpsink. release_test.go releases a message through the
// real server in the container.

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	smtpsinkv1 "github.com/smtpsink/smtpsink/clients/go/smtpsinkv1"
)

type fakeSink struct {
	smtpsinkv1.UnimplementedSinkServer
	got chan *smtpsinkv1.ReleaseMessageRequest
}

func (f *fakeSink) ReleaseMessage(_ context.Context, req *smtpsinkv1.ReleaseMessageRequest) (*smtpsinkv1.RelayStatus, error) {
	f.got <- req
	if req.GetId() == 404 {
		return nil, status.Error(codes.NotFound, "no message 404")
	}
	return &smtpsinkv1.RelayStatus{State: smtpsinkv1.RelayState_RELAY_STATE_RELAYED, Attempts: 1,
		Upstream: req.GetRelayUrl(), RcptTo: req.GetRcptTo()}, nil
}

func TestReleaseRequest(t *testing.T) {
	empty := ""
	for _, tc := range []struct {
		opts ReleaseOptions
		want *smtpsinkv1.ReleaseMessageRequest
	}{
		{ReleaseOptions{}, &smtpsinkv1.ReleaseMessageRequest{Id: 7}},
		{ReleaseOptions{RelayURL: "smtp://up:25", RcptTo: []string{"a@b.test"}},
			&smtpsinkv1.ReleaseMessageRequest{Id: 7, RelayUrl: "smtp://up:25", RcptTo: []string{"a@b.test"}}},
		{ReleaseOptions{MailFrom: &empty}, &smtpsinkv1.ReleaseMessageRequest{Id: 7, OverrideMailFrom: true}},
	} {
		if got := releaseRequest(7, tc.opts); !proto.Equal(got, tc.want) {
			t.Errorf("releaseRequest(%+v) = %v, want %v", tc.opts, got, tc.want)
		}
	}
}

func TestReleaseAgainstAFakeServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeSink{got: make(chan *smtpsinkv1.ReleaseMessageRequest, 2)}
	srv := grpc.NewServer()
	smtpsinkv1.RegisterSinkServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	c, err := NewClient(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	from := "bounce@a.test"
	st, err := c.Release(t.Context(), 42, ReleaseOptions{RelayURL: "smtp://up:2525", RcptTo: []string{"ops@a.test"}, MailFrom: &from})
	if err != nil {
		t.Fatal(err)
	}
	want := &smtpsinkv1.ReleaseMessageRequest{Id: 42, RelayUrl: "smtp://up:2525", RcptTo: []string{"ops@a.test"},
		MailFrom: from, OverrideMailFrom: true}
	if got := <-fake.got; !proto.Equal(got, want) {
		t.Fatalf("server got %v, want %v", got, want)
	}
	if st.GetState() != smtpsinkv1.RelayState_RELAY_STATE_RELAYED || st.GetUpstream() != "smtp://up:2525" {
		t.Fatalf("status %v", st)
	}
	if _, err := c.Release(t.Context(), 404, ReleaseOptions{}); status.Code(err) != codes.NotFound {
		t.Fatalf("release 404: %v", err)
	}
}
