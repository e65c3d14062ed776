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

// STARTTLS and SMTP AUTH: trust exactly the certificate the sink serves
// (fetched over the control API), then authenticate with net/smtp.
func ExampleWithStartTLS() {
	ctx := context.Background()
	ctr, err := smtpsink.Run(ctx, "smtpsink:latest",
		smtpsink.WithStartTLS(), smtpsink.WithAuth(map[string]string{"app": "s3cret"}))
	defer func() {
		if err := testcontainers.TerminateContainer(ctr); err != nil {
			log.Print(err)
		}
	}()
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := ctr.TLSConfig(ctx) // RootCAs = the served certificate, ServerName = SMTPHost
	if err != nil {
		log.Fatal(err)
	}
	addr, _ := ctr.SMTPAddress(ctx)
	c, err := smtp.Dial(addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(cfg); err != nil {
		log.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "app", "s3cret", cfg.ServerName)); err != nil {
		log.Fatal(err) // a wrong password: *textproto.Error with Code 535
	}
	// ... c.Mail, c.Rcpt, c.Data; the stored Message has Tls, TlsVersion,
	// AuthUser "app" and AuthMechanism "PLAIN".
}
