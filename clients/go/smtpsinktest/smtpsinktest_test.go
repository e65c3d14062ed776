package smtpsinktest

// Run by .ci/clients-go.sh twice: with the shared container this package
// starts (image $SMTPSINK_IMAGE), and with SMTPSINK_SMTP_ADDR /
// SMTPSINK_GRPC_ADDR / SMTPSINK_HTTP_ADDR naming a sink started by
// `docker run`.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/smtpsink/smtpsink/clients/go/smtpsink"
)

func TestMain(m *testing.M) {
	labels := map[string]string{"dev.smtpsink.test": "clients-go-smtpsinktest"}
	if run := os.Getenv("SMTPSINK_CI_RUN"); run != "" {
		labels["dev.smtpsink.run"] = run // the CI run's cleanup finds it (.ci/lib.sh)
	}
	os.Exit(Main(m, testcontainers.WithLabels(labels)))
}

func send(t *testing.T, mb *Mailbox, local, subject string) error {
	t.Helper()
	msg := "From: " + mb.Address("app") + "\r\nSubject: " + subject + "\r\n\r\nhi\r\n"
	return smtp.SendMail(mb.SMTPAddr, nil, mb.Address("app"), []string{mb.Address(local)}, []byte(msg))
}

// Two parallel subtests on one sink: each sees only its own mail, its reject
// rule (same local part in both) answers only for its own domain, and
// cleanup leaves nothing of either behind.
func TestParallelMailboxesNeverMeet(t *testing.T) {
	mark := fmt.Sprintf("pair-%d", time.Now().UnixNano())
	sink := Shared(t)
	before, err := sink.Client.ServerInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	domains := make(chan string, 2)
	t.Run("group", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			code uint32
		}{{"one", 550}, {"two", 553}} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				mb := New(t)
				domains <- mb.Domain
				mb.Reject(smtpsink.StageRcptTo, "blocked", tc.code, "blocked by "+tc.name)
				for i := 1; i <= 2; i++ {
					if err := send(t, mb, fmt.Sprintf("user%d", i), fmt.Sprintf("%s %s %d", mark, tc.name, i)); err != nil {
						t.Fatal(err)
					}
				}
				// Both subtests' mail is in the sink (and both rules exist):
				// run one after the other, the first would time out here.
				all, err := mb.Client.WaitForMessages(context.Background(), &smtpsink.Filter{Subject: mark + " *"}, 4, 60*time.Second)
				if err != nil || len(all) != 4 {
					t.Fatalf("sink-wide wait: %d messages, %v", len(all), err)
				}
				var subjects []string
				for _, m := range mb.Wait(2, 10*time.Second) {
					subjects = append(subjects, m.GetSubject())
				}
				sort.Strings(subjects)
				want := []string{mark + " " + tc.name + " 1", mark + " " + tc.name + " 2"}
				if strings.Join(subjects, "|") != strings.Join(want, "|") {
					t.Fatalf("mailbox saw %q, want %q", subjects, want)
				}
				if got := mb.Messages(&smtpsink.Filter{RcptTo: "user2"}); len(got) != 1 || got[0].GetSubject() != want[1] {
					t.Fatalf("Messages(RcptTo user2) = %v", got)
				}
				err = send(t, mb, "blocked", "never stored")
				var tpe *textproto.Error
				if !errors.As(err, &tpe) || tpe.Code != int(tc.code) || !strings.Contains(tpe.Msg, "blocked by "+tc.name) {
					t.Fatalf("send to blocked: %v, want %d blocked by %s", err, tc.code, tc.name)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	if a, b := <-domains, <-domains; a == b {
		t.Fatalf("both mailboxes got domain %s", a)
	}
	ctx := context.Background()
	left, err := sink.Client.ListMessages(ctx, &smtpsink.Filter{Subject: mark + " *"})
	if err != nil || len(left) != 0 {
		t.Fatalf("after cleanup: %d messages left, %v", len(left), err)
	}
	rules, err := sink.Client.RejectRules(ctx)
	if err != nil || len(rules) != 0 {
		t.Fatalf("after cleanup: rules %v, %v", rules, err)
	}
	after, err := sink.Client.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.GetCounters().GetMessagesReceived() - before.GetCounters().GetMessagesReceived(); got != 4 {
		t.Fatalf("%d messages received, want 4", got)
	}
}

func TestDomainFor(t *testing.T) {
	a, b := domainFor("TestX/sub_case#01"), domainFor("TestX/sub_case#01")
	if a == b || !strings.HasPrefix(a, "t-") || !strings.HasSuffix(a, ".testx-sub-case-01.smtpsink.test") {
		t.Fatalf("domainFor: %q %q", a, b)
	}
	if d := domainFor(strings.Repeat("x", 100)); len(strings.Split(d, ".")[1]) != 40 {
		t.Fatalf("long name: %q", d)
	}
}

func TestRejectRuleIsBoundToTheDomain(t *testing.T) {
	mb := &Mailbox{Domain: "t-1.x.smtpsink.test", t: t}
	r, err := mb.rejectRule(smtpsink.StageData, "b*", 451, "later", &smtpsink.RejectRule{Times: 2, Match: "*", Code: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.GetMatch() != "b*@t-1.x.smtpsink.test" || r.GetStage() != smtpsink.StageData || r.GetCode() != 451 ||
		r.GetTimes() != 2 || r.GetMessage() != "later" {
		t.Fatalf("rule %v", r)
	}
	for _, st := range []smtpsink.Stage{smtpsink.StageConnect, smtpsink.StageHelo, smtpsink.StageAuth} {
		if _, err := mb.rejectRule(st, "*", 550, "", nil); err == nil {
			t.Errorf("stage %v accepted", st)
		}
	}
	for _, l := range []string{"", "a@b", `x\`} {
		if _, err := mb.rejectRule(smtpsink.StageRcptTo, l, 550, "", nil); err == nil {
			t.Errorf("local glob %q accepted", l)
		}
	}
	if f := mb.scoped(&smtpsink.Filter{Subject: "s", RcptTo: "alice"}); f.GetRcptTo() != "alice@t-1.x.smtpsink.test" || f.GetSubject() != "s" {
		t.Fatalf("scoped %v", f)
	}
}

// The mailbox's WebURL reaches the sink's HTTP API: the Mailpit-compatible
// search finds the mail sent to the mailbox, and /api/v1/info reports the
// version gRPC reports.
func TestMailboxWebURL(t *testing.T) {
	mb := New(t)
	if mb.WebURL == "" {
		if os.Getenv(SMTPAddrEnv) != "" && os.Getenv(HTTPAddrEnv) == "" {
			t.Skip("a running sink named without " + HTTPAddrEnv + ": no web URL")
		}
		t.Fatal("no WebURL")
	}
	if err := send(t, mb, "alice", "web url"); err != nil {
		t.Fatal(err)
	}
	mb.Wait(1, 10*time.Second)
	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(mb.WebURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s, %v", path, resp.Status, err)
		}
	}
	var found struct {
		Count    int `json:"messages_count"`
		Messages []struct{ Subject string }
	}
	get("/api/v1/search?query="+url.QueryEscape("to:@"+mb.Domain), &found)
	if found.Count != 1 || len(found.Messages) != 1 || found.Messages[0].Subject != "web url" {
		t.Fatalf("search to:@%s = %+v", mb.Domain, found)
	}
	var info struct{ Version string }
	get("/api/v1/info", &info)
	grpcInfo, err := mb.Client.ServerInfo(context.Background())
	if err != nil || info.Version == "" || info.Version != grpcInfo.GetVersion() {
		t.Fatalf("/api/v1/info version %q, gRPC %q, %v", info.Version, grpcInfo.GetVersion(), err)
	}
}

// Which running sink the environment names (no sink needed).
func TestRunningSinkFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		web     string // "-": no sink (the container path)
		wantErr string
	}{
		{nil, "-", ""},
		{map[string]string{SMTPAddrEnv: "127.0.0.1:1", GRPCAddrEnv: "127.0.0.1:2"}, "", ""},
		{map[string]string{SMTPAddrEnv: "h:1", GRPCAddrEnv: "h:2", HTTPAddrEnv: "[::1]:8025"}, "http://[::1]:8025", ""},
		{map[string]string{HTTPAddrEnv: "127.0.0.1:8025"}, "", "set " + SMTPAddrEnv},
		{map[string]string{SMTPAddrEnv: "h:1"}, "", "set both"},
		{map[string]string{SMTPAddrEnv: "h:1", GRPCAddrEnv: "h:2", HTTPAddrEnv: "h"}, "", `"h"`},
	} {
		s, err := runningSink(func(k string) string { return tc.env[k] })
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want %q", tc.env, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.web == "-":
			if s != nil {
				t.Errorf("%v: sink %+v, want none", tc.env, s)
			}
		case s == nil || s.WebURL != tc.web || s.SMTPAddr != tc.env[SMTPAddrEnv] || s.GRPCAddr != tc.env[GRPCAddrEnv]:
			t.Errorf("%v: sink %+v, want WebURL %q", tc.env, s, tc.web)
		}
	}
}
