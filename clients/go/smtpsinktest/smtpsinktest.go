// Package smtpsinktest gives each test its own mailbox on one shared smtpsink:
//
//	func TestSignup(t *testing.T) {
//		t.Parallel()
//		mb := smtpsinktest.New(t)
//		app.Register(mb.Address("alice"), mb.SMTPAddr) // the code under test sends mail
//		msgs := mb.Wait(1, 10*time.Second)
//		if msgs[0].GetSubject() != "Welcome" { t.Fatal(msgs[0].GetSubject()) }
//	}
//
// The sink: with SMTPSINK_SMTP_ADDR and SMTPSINK_GRPC_ADDR (host:port each)
// set, the one already running there (SMTPSINK_HTTP_ADDR, optional, names
// its web UI and HTTP API); otherwise one container per test binary (that
// is, per package), started by the first New (image $SMTPSINK_IMAGE, else
// smtpsink.DefaultImage). Terminate it at the end with a TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(smtpsinktest.Main(m)) }
//
// (without one, Ryuk, testcontainers' reaper, removes it when the binary
// exits; where Ryuk is disabled it is left running).
//
// A Mailbox owns every address of a domain unique to its test. Its helpers
// filter on that domain, its reject rules match only that domain, and
// t.Cleanup deletes its rules and clears its mail and nothing else: tests
// calling t.Parallel() never see, wait on, bounce or clear each other's
// mail. Helpers report errors with t.Fatalf, so they must be called from
// the test's goroutine. mb.WebURL is the sink's web UI (when known):
// mb.WebURL + "/?to=@" + mb.Domain opens the list searched to this
// mailbox, worth logging when a test fails.
package smtpsinktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"google.golang.org/protobuf/proto"

	"github.com/smtpsink/smtpsink/clients/go/smtpsink"
)

// Environment variables naming a running sink: SMTP and gRPC both or
// neither; HTTP optional, and only with the other two.
const (
	SMTPAddrEnv = "SMTPSINK_SMTP_ADDR"
	GRPCAddrEnv = "SMTPSINK_GRPC_ADDR"
	HTTPAddrEnv = "SMTPSINK_HTTP_ADDR"
)

// Sink is the sink the mailboxes of one test binary share.
type Sink struct {
	SMTPAddr  string           // host:port to send mail to
	GRPCAddr  string           // host:port of the control API
	WebURL    string           // http://host:port of the web UI and HTTP API; "" when unknown
	Client    *smtpsink.Client // unfiltered: sees every test's mail
	container *smtpsink.Container
}

var (
	shared struct {
		once sync.Once
		sink *Sink
		err  error
	}
	containerOpts []testcontainers.ContainerCustomizer
)

// Main runs the tests with opts for the shared container (labels, TLS, ...:
// as smtpsink.Run takes them), then terminates the container if one was
// started. Call it from TestMain: os.Exit(smtpsinktest.Main(m)).
func Main(m *testing.M, opts ...testcontainers.ContainerCustomizer) int {
	containerOpts = opts
	code := m.Run()
	if s := shared.sink; s != nil {
		_ = s.Client.Close()
		if s.container != nil {
			if err := s.container.Terminate(context.Background()); err != nil {
				fmt.Fprintf(os.Stderr, "smtpsinktest: terminate: %v\n", err)
			}
		}
	}
	return code
}

// Shared returns the sink of this test binary, starting it on first use.
func Shared(t testing.TB) *Sink {
	t.Helper()
	shared.once.Do(func() { shared.sink, shared.err = start() })
	if shared.err != nil {
		t.Fatalf("smtpsinktest: %v", shared.err)
	}
	return shared.sink
}

// runningSink is the sink the environment names (getenv: os.Getenv), its
// Client not yet connected; nil, nil when it names none.
func runningSink(getenv func(string) string) (*Sink, error) {
	smtpAddr, grpcAddr, httpAddr := getenv(SMTPAddrEnv), getenv(GRPCAddrEnv), getenv(HTTPAddrEnv)
	if smtpAddr == "" && grpcAddr == "" {
		if httpAddr != "" {
			return nil, fmt.Errorf("%s names the HTTP API of a running smtpsink: set %s and %s (host:port) too",
				HTTPAddrEnv, SMTPAddrEnv, GRPCAddrEnv)
		}
		return nil, nil
	}
	if smtpAddr == "" || grpcAddr == "" {
		return nil, fmt.Errorf("set both %s and %s (host:port) to use a running smtpsink", SMTPAddrEnv, GRPCAddrEnv)
	}
	s := &Sink{SMTPAddr: smtpAddr, GRPCAddr: grpcAddr}
	for _, a := range []string{smtpAddr, grpcAddr, httpAddr} {
		if _, _, err := net.SplitHostPort(a); a != "" && err != nil {
			return nil, fmt.Errorf("%q: %w", a, err)
		}
	}
	if httpAddr != "" {
		s.WebURL = "http://" + httpAddr
	}
	return s, nil
}

func start() (*Sink, error) {
	s, err := runningSink(os.Getenv)
	if err != nil {
		return nil, err
	}
	if s != nil {
		if s.Client, err = smtpsink.NewClient(s.GRPCAddr); err != nil {
			return nil, err
		}
		return s, nil
	}
	ctx := context.Background()
	img := os.Getenv("SMTPSINK_IMAGE")
	ctr, err := smtpsink.Run(ctx, img, containerOpts...)
	if err != nil {
		if ctr != nil {
			_ = ctr.Terminate(ctx)
		}
		return nil, err
	}
	s = &Sink{container: ctr}
	if s.SMTPAddr, err = ctr.SMTPAddress(ctx); err == nil {
		if s.GRPCAddr, err = ctr.GRPCAddress(ctx); err == nil {
			if s.WebURL, err = ctr.WebURL(ctx); err == nil {
				s.Client, err = ctr.Client(ctx)
			}
		}
	}
	if err != nil {
		_ = ctr.Terminate(ctx)
		return nil, err
	}
	return s, nil
}

// Mailbox is one test's share of the sink: every address in Domain.
type Mailbox struct {
	Domain   string           // unique to this test, e.g. t-1a2b3c4d5e6f.testsignup.smtpsink.test
	SMTPAddr string           // host:port to send mail to
	WebURL   string           // the sink's web UI and HTTP API (Sink.WebURL); "" when unknown
	Client   *smtpsink.Client // the shared, unfiltered client (for what the helpers do not cover)

	t     testing.TB
	mu    sync.Mutex
	rules []string
}

var nonLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// domainFor is a DNS-safe domain unique to one test: a random label, then
// the test's name for reading logs.
func domainFor(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	label := strings.Trim(nonLabel.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(label) > 40 {
		label = strings.Trim(label[:40], "-")
	}
	if label == "" {
		label = "test"
	}
	return "t-" + hex.EncodeToString(b[:]) + "." + label + ".smtpsink.test"
}

// New returns t's mailbox on the shared sink; t.Cleanup deletes its rules
// and clears its mail.
func New(t testing.TB) *Mailbox {
	t.Helper()
	s := Shared(t)
	mb := &Mailbox{Domain: domainFor(t.Name()), SMTPAddr: s.SMTPAddr, WebURL: s.WebURL, Client: s.Client, t: t}
	t.Cleanup(mb.cleanup)
	return mb
}

func (mb *Mailbox) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mb.mu.Lock()
	rules := mb.rules
	mb.rules = nil
	mb.mu.Unlock()
	for _, id := range rules {
		if _, err := mb.Client.DeleteRejectRule(ctx, id); err != nil {
			mb.t.Errorf("smtpsinktest: cleanup: %v", err)
		}
	}
	if _, err := mb.Client.Clear(ctx, mb.Filter()); err != nil {
		mb.t.Errorf("smtpsinktest: cleanup: %v", err)
	}
}

// Address is local@Domain. The local part must be non-empty, without '@'
// or glob characters.
func (mb *Mailbox) Address(local string) string {
	mb.t.Helper()
	if local == "" || strings.ContainsAny(local, "@*?[]\\") {
		mb.t.Fatalf("smtpsinktest: local part %q: non-empty, without '@' or glob characters", local)
	}
	return local + "@" + mb.Domain
}

// Filter matches every message to an address of this mailbox. Add fields
// to narrow it (Subject, Body, ...); RcptTo must stay inside Domain.
func (mb *Mailbox) Filter() *smtpsink.Filter {
	return &smtpsink.Filter{RcptTo: "*@" + mb.Domain}
}

// scoped returns f (nil: Filter()) with RcptTo bound to this mailbox.
func (mb *Mailbox) scoped(f *smtpsink.Filter) *smtpsink.Filter {
	mb.t.Helper()
	if f == nil {
		return mb.Filter()
	}
	out := proto.Clone(f).(*smtpsink.Filter)
	switch {
	case out.RcptTo == "":
		out.RcptTo = "*@" + mb.Domain
	case !strings.Contains(out.RcptTo, "@"):
		out.RcptTo += "@" + mb.Domain
	case !strings.HasSuffix(strings.ToLower(out.RcptTo), "@"+mb.Domain):
		mb.t.Fatalf("smtpsinktest: RcptTo %q is outside this mailbox (@%s)", out.RcptTo, mb.Domain)
	}
	return out
}

// Wait returns all of this mailbox's messages (matching f, which may be
// nil) as soon as at least count match, or fails the test after timeout.
// The server wakes the call: no polling.
func (mb *Mailbox) Wait(count int, timeout time.Duration, f ...*smtpsink.Filter) []*smtpsink.Message {
	mb.t.Helper()
	msgs, err := mb.Client.WaitForMessages(context.Background(), mb.scoped(first(f)), count, timeout)
	if err != nil {
		mb.t.Fatalf("smtpsinktest: %s: %v", mb.Domain, err)
	}
	return msgs
}

// Messages returns this mailbox's stored messages (matching f), oldest first.
func (mb *Mailbox) Messages(f ...*smtpsink.Filter) []*smtpsink.Message {
	mb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := mb.Client.ListMessages(ctx, mb.scoped(first(f)))
	if err != nil {
		mb.t.Fatalf("smtpsinktest: %s: %v", mb.Domain, err)
	}
	return msgs
}

// Reject adds a rule bound to this mailbox: at stage StageRcptTo (that
// recipient), StageMailFrom (the sender) or StageData (any recipient), for
// the addresses localGlob@Domain ("*": all of them), answering code and
// message. rule, if given, supplies the other fields (EnhancedCode, Times,
// DelayMs, Disconnect). The rule is deleted at cleanup.
func (mb *Mailbox) Reject(stage smtpsink.Stage, localGlob string, code uint32, message string,
	rule ...*smtpsink.RejectRule) *smtpsink.RejectRule {
	mb.t.Helper()
	r, err := mb.rejectRule(stage, localGlob, code, message, first(rule))
	if err != nil {
		mb.t.Fatalf("smtpsinktest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := mb.Client.RejectRule(ctx, r)
	if err != nil {
		mb.t.Fatalf("smtpsinktest: %s: %v", mb.Domain, err)
	}
	mb.mu.Lock()
	mb.rules = append(mb.rules, got.GetId())
	mb.mu.Unlock()
	return got
}

// rejectRule builds the rule Reject sends; an error if it cannot be bound
// to the mailbox.
func (mb *Mailbox) rejectRule(stage smtpsink.Stage, localGlob string, code uint32, message string,
	base *smtpsink.RejectRule) (*smtpsink.RejectRule, error) {
	switch stage {
	case smtpsink.StageRcptTo, smtpsink.StageMailFrom, smtpsink.StageData:
	default:
		return nil, fmt.Errorf("stage %v: a mailbox binds only RCPT_TO, MAIL_FROM and DATA rules "+
			"(use mb.Client.RejectRule for server-wide ones)", stage)
	}
	if localGlob == "" || strings.Contains(localGlob, "@") || strings.HasSuffix(localGlob, "\\") {
		return nil, fmt.Errorf("local part glob %q: non-empty, without '@', no trailing '\\'", localGlob)
	}
	r := &smtpsink.RejectRule{}
	if base != nil {
		r.EnhancedCode, r.Times, r.DelayMs, r.Disconnect = base.GetEnhancedCode(), base.GetTimes(),
			base.GetDelayMs(), base.GetDisconnect()
	}
	r.Stage, r.Match, r.Code, r.Message = stage, localGlob+"@"+mb.Domain, code, message
	return r, nil
}

func first[T any](xs []*T) *T {
	if len(xs) == 0 {
		return nil
	}
	return xs[0]
}
