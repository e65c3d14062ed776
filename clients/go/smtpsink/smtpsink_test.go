package smtpsink_test

// These tests start ONE smtpsink container through the module (TestMain) and
// share it, as a real test suite would; each test uses its own recipient
// addresses and filters, which is what keeps parallel tests apart.
//
// Environment: SMTPSINK_IMAGE (default smtpsink:latest). On hosts without a
// registry for Testcontainers' helper images set
// TESTCONTAINERS_RYUK_DISABLED=true (and TESTCONTAINERS_HOST_OVERRIDE=localhost
// where the Docker host is not reachable otherwise).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/smtpsink/smtpsink/clients/go/smtpsink"
)

// TestLabel marks the containers these tests start; RunLabel, with the value
// of $SMTPSINK_CI_RUN (set by .ci/lib.sh), names the CI run whose cleanup
// removes them, also after a crash, and leaves other runs' containers alone.
const (
	TestLabel = "dev.smtpsink.test"
	RunLabel  = "dev.smtpsink.run"
)

func testLabels() map[string]string {
	l := map[string]string{TestLabel: "clients-go"}
	if run := os.Getenv("SMTPSINK_CI_RUN"); run != "" {
		l[RunLabel] = run
	}
	return l
}

var (
	sinkCtr *smtpsink.Container
	seq     atomic.Int64
	runID   = time.Now().UnixNano()
)

// testImage is $SMTPSINK_IMAGE, or smtpsink.DefaultImage.
func testImage() string {
	if image := os.Getenv("SMTPSINK_IMAGE"); image != "" {
		return image
	}
	return smtpsink.DefaultImage
}

func TestMain(m *testing.M) {
	image := testImage()
	ctx := context.Background()
	ctr, err := smtpsink.Run(ctx, image,
		testcontainers.WithLabels(testLabels()),
		testcontainers.WithEnv(map[string]string{"SMTPSINK_MAX_MESSAGE_SIZE": "10M"}))
	if err != nil {
		log.Printf("start smtpsink container from %s: %v", image, err)
		if ctr != nil {
			_ = testcontainers.TerminateContainer(ctr)
		}
		os.Exit(1)
	}
	sinkCtr = ctr
	code := m.Run()
	if err := testcontainers.TerminateContainer(ctr); err != nil {
		log.Printf("terminate: %v", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// uniqueAddr returns a recipient address no other test (or earlier run
// against a reused container) uses.
func uniqueAddr(local string) string {
	return fmt.Sprintf("%s-%d-%d@example.test", local, runID, seq.Add(1))
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func client(t *testing.T) *smtpsink.Client {
	t.Helper()
	c, err := sinkCtr.Client(ctxFor(t))
	if err != nil {
		t.Fatalf("control client: %v", err)
	}
	return c
}

func smtpAddr(t *testing.T) string {
	t.Helper()
	addr, err := sinkCtr.SMTPAddress(ctxFor(t))
	if err != nil {
		t.Fatalf("SMTP address: %v", err)
	}
	return addr
}

// dialSMTP opens an SMTP session with net/smtp to the shared container and
// says EHLO.
func dialSMTP(t *testing.T) *smtp.Client {
	t.Helper()
	return dialContainer(t, sinkCtr)
}

// dialContainer opens an SMTP session with net/smtp to ctr's SMTP port and
// says EHLO; the session is closed when the test ends.
func dialContainer(t *testing.T, ctr *smtpsink.Container) *smtp.Client {
	t.Helper()
	addr, err := ctr.SMTPAddress(ctxFor(t))
	if err != nil {
		t.Fatalf("SMTP address: %v", err)
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("smtp dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example.test"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	return c
}

// send delivers msg with net/smtp: MAIL FROM from, RCPT TO each of to, DATA.
func send(t *testing.T, from string, to []string, msg []byte) {
	t.Helper()
	transact(t, dialSMTP(t), from, to, msg)
}

// transact runs one transaction on an open session, then QUIT.
func transact(t *testing.T, c *smtp.Client, from string, to []string, msg []byte) {
	t.Helper()
	if err := c.Mail(from); err != nil {
		t.Fatalf("MAIL FROM: %v", err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			t.Fatalf("RCPT TO:<%s>: %v", r, err)
		}
	}
	writeData(t, c, msg)
	if err := c.Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
}

func writeData(t *testing.T, c *smtp.Client, msg []byte) {
	t.Helper()
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatalf("write data: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("end of data: %v", err)
	}
}

func simpleMessage(from, to, subject, body string) []byte {
	return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n")
}

// multipartMessage builds a multipart/mixed message with a text part and one
// base64 attachment, with CRLF line ends throughout.
func multipartMessage(t *testing.T, from, to, subject, text, filename string, attachment []byte) []byte {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	th := textproto.MIMEHeader{}
	th.Set("Content-Type", "text/plain; charset=utf-8")
	th.Set("Content-Transfer-Encoding", "8bit")
	pw, err := mw.CreatePart(th)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte(text))
	ah := textproto.MIMEHeader{}
	ah.Set("Content-Type", "application/octet-stream")
	ah.Set("Content-Transfer-Encoding", "base64")
	ah.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	pw, err = mw.CreatePart(ah)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString(attachment)
	for len(enc) > 76 {
		pw.Write([]byte(enc[:76] + "\r\n"))
		enc = enc[76:]
	}
	pw.Write([]byte(enc + "\r\n"))
	mw.Close()

	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", from, to, subject,
		time.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&msg, "Message-ID: <%d.%d@client.example.test>\r\n", runID, seq.Add(1))
	fmt.Fprintf(&msg, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=%q\r\n\r\n", mw.Boundary())
	msg.Write(body.Bytes())
	return msg.Bytes()
}

func normalizeNL(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}

func TestMessageWithAttachment(t *testing.T) {
	ctx := ctxFor(t)
	sink := client(t)
	from := uniqueAddr("sender")
	to := uniqueAddr("alice")
	bcc := uniqueAddr("audit") // envelope only, never in a header
	subject := "Quarterly report"
	// A line starting with "." is dot-stuffed on the wire and must come back
	// unstuffed.
	text := "Hello Alice,\r\n.this line starts with a dot\r\nthe report is attached.\r\n"
	attachment := make([]byte, 3000)
	for i := range attachment {
		attachment[i] = byte(i * 7)
	}
	msg := multipartMessage(t, from, to, subject, text, "report.bin", attachment)

	// Wait first, send second: the wait is woken when the message is stored.
	type result struct {
		msgs []*smtpsink.Message
		err  error
	}
	done := make(chan result, 1)
	go func() {
		msgs, err := sink.WaitForMessages(ctx, &smtpsink.Filter{RcptTo: to}, 1, 20*time.Second)
		done <- result{msgs, err}
	}()
	send(t, from, []string{to, bcc}, msg)
	res := <-done
	if res.err != nil {
		t.Fatalf("WaitForMessages: %v", res.err)
	}
	if len(res.msgs) != 1 {
		t.Fatalf("got %d messages for %s, want 1", len(res.msgs), to)
	}
	m := res.msgs[0]

	if m.GetMailFrom() != from {
		t.Errorf("mail_from = %q, want %q", m.GetMailFrom(), from)
	}
	if got := m.GetRcptTo(); len(got) != 2 || got[0] != to || got[1] != bcc {
		t.Errorf("rcpt_to = %q, want [%s %s]", got, to, bcc)
	}
	if got := m.GetTo(); len(got) != 1 || !strings.Contains(got[0], to) {
		t.Errorf("To header = %q, want just %s", got, to)
	}
	if m.GetSubject() != subject {
		t.Errorf("subject = %q, want %q", m.GetSubject(), subject)
	}
	if got, want := normalizeNL(m.GetTextBody()), normalizeNL(text); got != want {
		t.Errorf("text body = %q, want %q", got, want)
	}
	if m.GetSize() != uint64(len(msg)) {
		t.Errorf("size = %d, want %d", m.GetSize(), len(msg))
	}
	if len(m.GetAttachments()) != 1 {
		t.Fatalf("attachments = %v, want 1", m.GetAttachments())
	}
	a := m.GetAttachments()[0]
	if a.GetFilename() != "report.bin" || a.GetSize() != uint64(len(attachment)) {
		t.Errorf("attachment = %q (%d bytes), want report.bin (%d bytes)", a.GetFilename(), a.GetSize(), len(attachment))
	}
	if mt, _, err := mime.ParseMediaType(a.GetContentType()); err != nil || mt != "application/octet-stream" {
		t.Errorf("attachment content type = %q, want application/octet-stream", a.GetContentType())
	}
	if len(a.GetContent()) != 0 {
		t.Errorf("WaitForMessages carried attachment content (%d bytes); only GetMessage should", len(a.GetContent()))
	}

	full, err := sink.GetMessage(ctx, m.GetId(), true)
	if err != nil {
		t.Fatalf("GetMessage: %v", err)
	}
	if !bytes.Equal(full.GetRaw(), msg) {
		t.Errorf("raw bytes differ from what was sent (%d vs %d bytes)", len(full.GetRaw()), len(msg))
	}
	if len(full.GetAttachments()) != 1 || !bytes.Equal(full.GetAttachments()[0].GetContent(), attachment) {
		t.Errorf("attachment content does not round-trip")
	}
}

func TestRejectRuleSeenBySMTPClient(t *testing.T) {
	ctx := ctxFor(t)
	sink := client(t)
	from := uniqueAddr("sender")
	blocked := uniqueAddr("blocked")
	accepted := uniqueAddr("bob")

	rule, err := sink.RejectRule(ctx, &smtpsink.RejectRule{
		Stage:        smtpsink.StageRcptTo,
		Match:        blocked,
		Code:         550,
		EnhancedCode: "5.1.1",
		Message:      "no such user here",
	})
	if err != nil {
		t.Fatalf("RejectRule: %v", err)
	}
	if rule.GetId() == "" {
		t.Fatalf("rule has no id: %v", rule)
	}
	t.Cleanup(func() {
		if n, err := sink.DeleteRejectRule(context.Background(), rule.GetId()); err != nil || n != 1 {
			t.Errorf("DeleteRejectRule(%s) = %d, %v", rule.GetId(), n, err)
		}
	})

	c := dialSMTP(t)
	if err := c.Mail(from); err != nil {
		t.Fatalf("MAIL FROM: %v", err)
	}
	err = c.Rcpt(blocked)
	var perr *textproto.Error
	if !errors.As(err, &perr) {
		t.Fatalf("RCPT TO:<%s> = %v, want an SMTP 550 error", blocked, err)
	}
	if perr.Code != 550 || !strings.Contains(perr.Msg, "5.1.1") || !strings.Contains(perr.Msg, "no such user here") {
		t.Errorf("RCPT reply = %d %q, want 550 5.1.1 no such user here", perr.Code, perr.Msg)
	}
	// The rule matches only that recipient; the session goes on.
	if err := c.Rcpt(accepted); err != nil {
		t.Fatalf("RCPT TO:<%s>: %v", accepted, err)
	}
	writeData(t, c, simpleMessage(from, accepted, "after a rejected recipient", "hi"))
	if err := c.Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}

	msgs, err := sink.WaitForMessages(ctx, &smtpsink.Filter{RcptTo: accepted}, 1, 20*time.Second)
	if err != nil {
		t.Fatalf("WaitForMessages: %v", err)
	}
	if len(msgs) != 1 || len(msgs[0].GetRcptTo()) != 1 || msgs[0].GetRcptTo()[0] != accepted {
		t.Fatalf("stored envelope = %v, want only %s", msgs, accepted)
	}
	if got, err := sink.ListMessages(ctx, &smtpsink.Filter{RcptTo: blocked}); err != nil || len(got) != 0 {
		t.Errorf("messages for the rejected recipient: %d, %v; want none", len(got), err)
	}

	rules, err := sink.RejectRules(ctx)
	if err != nil {
		t.Fatalf("RejectRules: %v", err)
	}
	found := false
	for _, r := range rules {
		if r.GetId() == rule.GetId() {
			found = true
			if r.GetHits() != 1 {
				t.Errorf("rule hits = %d, want 1", r.GetHits())
			}
		}
	}
	if !found {
		t.Errorf("rule %s not listed", rule.GetId())
	}
}

// The options given to Run reach the container (TestMain sets
// SMTPSINK_MAX_MESSAGE_SIZE) and the address helpers agree with the server.
func TestRunOptionsAndAddresses(t *testing.T) {
	ctx := ctxFor(t)
	info, err := client(t).ServerInfo(ctx)
	if err != nil {
		t.Fatalf("ServerInfo: %v", err)
	}
	if info.GetMaxMessageSize() != 10<<20 {
		t.Errorf("max_message_size = %d, want %d (SMTPSINK_MAX_MESSAGE_SIZE=10M)", info.GetMaxMessageSize(), 10<<20)
	}
	host, err := sinkCtr.SMTPHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port, err := sinkCtr.SMTPPort(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := net.JoinHostPort(host, strconv.Itoa(port)); smtpAddr(t) != want {
		t.Errorf("SMTPAddress = %s, want %s", smtpAddr(t), want)
	}
	c := dialSMTP(t)
	if ok, param := c.Extension("SIZE"); !ok || param != strconv.Itoa(10<<20) {
		t.Errorf("EHLO SIZE = %v %q, want %d", ok, param, 10<<20)
	}
}

// getJSON GETs url and decodes its JSON reply into v; any status but 200
// fails the test.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxFor(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %q %v", url, resp.Status, body, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %q", url, err, body)
	}
}

// WebURL reaches the HTTP API on the mapped port 8025: the Mailpit-compatible
// routes see the mail sent over SMTP and report the version gRPC reports.
func TestWebURL(t *testing.T) {
	ctx := ctxFor(t)
	web, err := sinkCtr.WebURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := sinkCtr.HTTPAddress(ctx)
	if err != nil || web != "http://"+addr {
		t.Fatalf("WebURL %q, HTTPAddress %q, %v", web, addr, err)
	}
	from, to := uniqueAddr("app"), uniqueAddr("web")
	subject := "web " + to
	send(t, from, []string{to}, simpleMessage(from, to, subject, "hi"))
	if _, err := client(t).WaitForMessages(ctx, &smtpsink.Filter{RcptTo: to}, 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	var info struct {
		Version  string
		Messages *int64
	}
	getJSON(t, web+"/api/v1/info", &info)
	grpcInfo, err := client(t).ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version == "" || info.Version != grpcInfo.GetVersion() || info.Messages == nil || *info.Messages < 1 {
		t.Fatalf("/api/v1/info: %+v (gRPC version %q)", info, grpcInfo.GetVersion())
	}
	var found struct {
		MessagesCount int `json:"messages_count"`
		Messages      []struct {
			Subject string
			To      []struct{ Address string }
		}
	}
	getJSON(t, web+"/api/v1/search?query="+url.QueryEscape("to:"+to), &found)
	if found.MessagesCount != 1 || len(found.Messages) != 1 || found.Messages[0].Subject != subject ||
		len(found.Messages[0].To) != 1 || found.Messages[0].To[0].Address != to {
		t.Fatalf("/api/v1/search to:%s = %+v", to, found)
	}
}

// The gRPC health wait strategy alone (replacing the module's log + health
// wait) is enough for SMTP and gRPC to answer. Uses its own container.
func TestGRPCHealthWaitStrategyAlone(t *testing.T) {
	ctx := ctxFor(t)
	ctr, err := smtpsink.Run(ctx, testImage(),
		testcontainers.WithLabels(testLabels()),
		testcontainers.WithWaitStrategy(smtpsink.ForGRPCHealth(smtpsink.GRPCPort).WithStartupTimeout(30*time.Second)))
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	sink, err := ctr.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.ServerInfo(ctx); err != nil {
		t.Fatalf("ServerInfo right after start: %v", err)
	}
	addr, err := ctr.SMTPAddress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatalf("SMTP right after start: %v", err)
	}
	defer c.Close()
	if err := c.Hello("client.example.test"); err != nil {
		t.Fatalf("EHLO right after start: %v", err)
	}
}

func TestWaitForMessagesTimesOut(t *testing.T) {
	ctx := ctxFor(t)
	sink := client(t)
	nobody := uniqueAddr("nobody")
	start := time.Now()
	msgs, err := sink.WaitForMessages(ctx, &smtpsink.Filter{RcptTo: nobody}, 1, 300*time.Millisecond)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("WaitForMessages = %v, %v; want DEADLINE_EXCEEDED", msgs, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("returned after %v, before the 300ms timeout", d)
	}
}

// phase is a barrier for a fixed number of parallel subtests; it fails the
// test instead of hanging when the others do not arrive (for instance when
// the subtests do not really run in parallel).
type phase struct {
	wg sync.WaitGroup
}

func newPhase(n int) *phase {
	p := &phase{}
	p.wg.Add(n)
	return p
}

func (p *phase) arriveAndWait(t *testing.T, name string) {
	t.Helper()
	p.wg.Done()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("phase %q: the other parallel subtest never arrived", name)
	}
}

// Two subtests run at the same time against the one container, each with its
// own recipient. Each waits for, lists and clears its own mail only, while
// the other's mail is stored in the same sink.
func TestParallelTestsAreIsolated(t *testing.T) {
	const perTest = 3
	names := []string{"carol", "dave"}
	started := newPhase(len(names))
	stored := newPhase(len(names))
	listed := newPhase(len(names))
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxFor(t)
			sink := client(t)
			rcpt := uniqueAddr(name)
			from := uniqueAddr("sender")
			mine := &smtpsink.Filter{RcptTo: rcpt}
			started.arriveAndWait(t, "started")

			for i := 0; i < perTest; i++ {
				// smtp.SendMail: the one-call API most Go code uses.
				msg := simpleMessage(from, rcpt, fmt.Sprintf("%s #%d", name, i), "for "+name)
				if err := smtp.SendMail(smtpAddr(t), nil, from, []string{rcpt}, msg); err != nil {
					t.Fatalf("SendMail: %v", err)
				}
			}
			msgs, err := sink.WaitForMessages(ctx, mine, perTest, 20*time.Second)
			if err != nil {
				t.Fatalf("WaitForMessages: %v", err)
			}
			checkOwn(t, name, rcpt, msgs, perTest)

			// Both subtests' mail is now stored in the same sink.
			stored.arriveAndWait(t, "stored")
			msgs, err = sink.ListMessages(ctx, mine)
			if err != nil {
				t.Fatalf("ListMessages: %v", err)
			}
			checkOwn(t, name, rcpt, msgs, perTest)
			listed.arriveAndWait(t, "listed")

			n, err := sink.Clear(ctx, mine)
			if err != nil || n != perTest {
				t.Fatalf("Clear = %d, %v; want %d", n, err, perTest)
			}
			if msgs, err = sink.ListMessages(ctx, mine); err != nil || len(msgs) != 0 {
				t.Fatalf("after Clear: %d messages, %v", len(msgs), err)
			}
		})
	}
}

func checkOwn(t *testing.T, name, rcpt string, msgs []*smtpsink.Message, want int) {
	t.Helper()
	if len(msgs) != want {
		t.Errorf("%s sees %d messages, want %d", name, len(msgs), want)
	}
	for _, m := range msgs {
		if len(m.GetRcptTo()) != 1 || m.GetRcptTo()[0] != rcpt || !strings.HasPrefix(m.GetSubject(), name+" #") {
			t.Errorf("%s sees a message that is not its own: rcpt %q subject %q", name, m.GetRcptTo(), m.GetSubject())
		}
	}
}
