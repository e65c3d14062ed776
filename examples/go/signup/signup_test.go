package signup_test

import (
	"errors"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/smtpsink/smtpsink/clients/go/smtpsink"
	"github.com/smtpsink/smtpsink/clients/go/smtpsinktest"
	"github.com/smtpsink/smtpsink/examples/go/signup"
)

// One sink for the package: the running one named by SMTPSINK_SMTP_ADDR /
// SMTPSINK_GRPC_ADDR, or a container from $SMTPSINK_IMAGE that Main removes
// at the end.
func TestMain(m *testing.M) {
	var opts []testcontainers.ContainerCustomizer
	if run := os.Getenv("SMTPSINK_CI_RUN"); run != "" { // this repository's CI cleans up by label
		opts = append(opts, testcontainers.WithLabels(map[string]string{"dev.smtpsink.run": run}))
	}
	os.Exit(smtpsinktest.Main(m, opts...))
}

// welcome signs up "alice" in the test's own mailbox and returns the one
// message the mailbox then holds. Both parallel tests below use the same
// local part: each sees exactly one message, its own.
func welcome(t *testing.T) *smtpsink.Message {
	t.Parallel()
	mb := smtpsinktest.New(t)
	to := mb.Address("alice")
	if err := signup.SendWelcome(mb.SMTPAddr, to); err != nil {
		t.Fatal(err)
	}
	// Wait returns every message of the mailbox once there is one: the
	// other test's "alice" is not among them.
	msgs := mb.Wait(1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages in the mailbox, want 1 (web UI: %s)", len(msgs), mb.WebURL)
	}
	m := msgs[0]
	if m.GetMailFrom() != signup.From || len(m.GetRcptTo()) != 1 || m.GetRcptTo()[0] != to {
		t.Fatalf("envelope %s -> %v, want %s -> %s", m.GetMailFrom(), m.GetRcptTo(), signup.From, to)
	}
	return m
}

func TestWelcomeSubject(t *testing.T) {
	if got := welcome(t).GetSubject(); got != "Welcome, alice!" {
		t.Errorf("subject %q", got)
	}
}

func TestWelcomeBody(t *testing.T) {
	if got := welcome(t).GetTextBody(); !strings.Contains(got, "Hello alice,") {
		t.Errorf("body %q", got)
	}
}

// The server refusing the recipient reaches the caller as the error. (Not
// parallel: it runs first, and the two tests above then run side by side.)
func TestRefusedRecipient(t *testing.T) {
	mb := smtpsinktest.New(t)
	mb.Reject(smtpsink.StageRcptTo, "ghost", 550, "no such user")
	err := signup.SendWelcome(mb.SMTPAddr, mb.Address("ghost"))
	var tpe *textproto.Error
	if !errors.As(err, &tpe) || tpe.Code != 550 {
		t.Fatalf("SendWelcome = %v, want a 550", err)
	}
	if msgs := mb.Messages(); len(msgs) != 0 {
		t.Fatalf("%d messages stored for a refused recipient", len(msgs))
	}
}
