package smtpsink_test

import (
	"context"
	"fmt"
	"log"
	"net/smtp"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/smtpsink/smtpsink/clients/go/smtpsink"
)

// Start a sink, send one mail with net/smtp and wait for it through gRPC.
// (No "Output:" comment: it is compiled, not run, by go test.)
func ExampleRun() {
	ctx := context.Background()
	ctr, err := smtpsink.Run(ctx, "smtpsink:latest")
	defer func() {
		if err := testcontainers.TerminateContainer(ctr); err != nil {
			log.Print(err)
		}
	}()
	if err != nil {
		log.Fatal(err)
	}

	addr, err := ctr.SMTPAddress(ctx)
	if err != nil {
		log.Fatal(err)
	}
	to := "alice@example.test"
	msg := "From: app@example.test\r\nTo: " + to + "\r\nSubject: Welcome\r\n\r\nHi Alice\r\n"
	if err := smtp.SendMail(addr, nil, "app@example.test", []string{to}, []byte(msg)); err != nil {
		log.Fatal(err)
	}

	sink, err := ctr.Client(ctx)
	if err != nil {
		log.Fatal(err)
	}
	msgs, err := sink.WaitForMessages(ctx, &smtpsink.Filter{RcptTo: to}, 1, 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msgs[0].GetSubject())
}
