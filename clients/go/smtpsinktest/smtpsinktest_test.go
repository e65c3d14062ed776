package smtpsinktest

// Run by .ci/clients-go.sh twice: with the shared container this package
// starts (image $SMTPSINK_IMAGE), and with SMTPSINK_SMTP_ADDR /
// SMTPSINK_GRPC_ADDR naming a sink started by `docker run`.

import (
	"context"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
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
