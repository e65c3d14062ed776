// Package signup is the application code of this example: it mails a
// welcome message with net/smtp. Nothing in it knows about smtpsink; its
// tests (signup_test.go) point it at one.
package signup

import (
	"fmt"
	"net/smtp"
	"strings"
)

// From is the sender of the welcome mail.
const From = "welcome@app.example.test"

// SendWelcome mails a welcome message to `to` through the SMTP server at
// addr ("host:port"). The server's refusal (for example a 550 for the
// recipient) comes back as the error, a *textproto.Error.
func SendWelcome(addr, to string) error {
	if strings.ContainsAny(to, "\r\n") {
		return fmt.Errorf("signup: bad address %q", to)
	}
	name, _, _ := strings.Cut(to, "@")
	msg := "From: " + From + "\r\n" +
		"To: " + to + "\r\n" +
		"Subject: Welcome, " + name + "!\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Hello " + name + ",\r\n\r\nthanks for signing up.\r\n"
	return smtp.SendMail(addr, nil, From, []string{to}, []byte(msg))
}
