package smtpsink_test

// Release (ReleaseMessage, issue 10) through the real server in the shared
// container (TestMain). The request the client builds is checked against a
// stand-in server in release_internal_test.go.

import (
	"bytes"
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/smtpsink/smtpsink/clients/go/smtpsink"
	smtpsinkv1 "github.com/smtpsink/smtpsink/clients/go/smtpsinkv1"
)

// The container releases a stored message to itself (smtp://127.0.0.1:1025
// is the container's own SMTP port): the copy arrives with the overridden
// envelope and the same bytes, and the original records RELAYED.
func TestReleaseAgainstTheRealServer(t *testing.T) {
	ctx := ctxFor(t)
	sink := client(t)
	from, rcpt, other, bounce := uniqueAddr("app"), uniqueAddr("rel"), uniqueAddr("copy"), uniqueAddr("bounce")
	// net/smtp dot-stuffs the line starting with "." on the wire
	body := []byte("Subject: release " + rcpt + "\r\n\r\n.leading dot\r\nbody\r\n")
	send(t, from, []string{rcpt}, body)
	msgs, err := sink.WaitForMessages(ctx, &smtpsink.Filter{RcptTo: rcpt}, 1, 10*time.Second)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("WaitForMessages(%s) = %d messages, %v; want 1", rcpt, len(msgs), err)
	}
	m := msgs[0]

	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := sink.Release(rctx, m.GetId(), smtpsink.ReleaseOptions{
		RelayURL: "smtp://127.0.0.1:1025", RcptTo: []string{other}, MailFrom: &bounce})
	if err != nil {
		t.Fatalf("Release: %v", err)
	}
	if st.GetState() != smtpsinkv1.RelayState_RELAY_STATE_RELAYED || st.GetAttempts() != 1 {
		t.Fatalf("release status %v, want RELAYED after 1 attempt", st)
	}
	if got := st.GetRcptTo(); len(got) != 1 || got[0] != other {
		t.Errorf("release rcpt_to = %q, want [%s]", got, other)
	}
	if len(st.GetLastReply()) < 3 || st.GetLastReply()[:3] != "250" {
		t.Errorf("release last_reply = %q, want 250 ...", st.GetLastReply())
	}

	copies, err := sink.WaitForMessages(ctx, &smtpsink.Filter{RcptTo: other}, 1, 10*time.Second)
	if err != nil || len(copies) != 1 {
		t.Fatalf("WaitForMessages(%s) = %d messages, %v; want the released copy", other, len(copies), err)
	}
	if got := copies[0].GetMailFrom(); got != bounce {
		t.Errorf("copy mail_from = %q, want %q", got, bounce)
	}
	orig, err := sink.GetMessage(ctx, m.GetId(), false)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := sink.GetMessage(ctx, copies[0].GetId(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cp.GetRaw(), orig.GetRaw()) || !bytes.Equal(orig.GetRaw(), body) {
		t.Errorf("raw bytes: copy %q, original %q, sent %q", cp.GetRaw(), orig.GetRaw(), body)
	}
	if got := orig.GetRelay().GetState(); got != smtpsinkv1.RelayState_RELAY_STATE_RELAYED {
		t.Errorf("original's relay state = %v, want RELAYED", got)
	}

	_, err = sink.Release(rctx, m.GetId()+1e9, smtpsink.ReleaseOptions{RelayURL: "smtp://127.0.0.1:1025"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("release of an unknown id: %v, want NOT_FOUND", err)
	}
}
