package smtpsink_test

// TLS and SMTP AUTH through the module: one container with STARTTLS, an
// implicit-TLS port and two listed users, reached with net/smtp and
// crypto/tls trusting only the certificate the control API hands out.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/smtpsink/smtpsink/clients/go/smtpsink"
)

func TestTLSAndAuth(t *testing.T) {
	ctx := ctxFor(t)
	ctr, err := smtpsink.Run(ctx, testImage(),
		testcontainers.WithLabels(testLabels()),
		smtpsink.WithStartTLS(),
		smtpsink.WithImplicitTLS(),
		smtpsink.WithAuth(map[string]string{"alice": "s3cret", "bob": "hunter2"}))
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	sink, err := ctr.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host, err := ctr.SMTPHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ctr.TLSConfig(ctx)
	if err != nil {
		t.Fatalf("TLSConfig: %v", err)
	}
	if cfg.InsecureSkipVerify || cfg.RootCAs == nil || cfg.ServerName != host {
		t.Fatalf("TLSConfig = skip %v, roots %v, name %q; want verification against the served cert for %q",
			cfg.InsecureSkipVerify, cfg.RootCAs != nil, cfg.ServerName, host)
	}

	t.Run("ServerInfo", func(t *testing.T) {
		info, err := sink.ServerInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !info.GetStarttls() || !slices.Contains(info.GetSmtpsAddresses(), "0.0.0.0:1465") ||
			!info.GetTlsSelfSigned() || !strings.HasPrefix(info.GetTlsCertificatePem(), "-----BEGIN CERTIFICATE-----") {
			t.Errorf("TLS settings = starttls %v, smtps %q, self-signed %v, pem %.30q",
				info.GetStarttls(), info.GetSmtpsAddresses(), info.GetTlsSelfSigned(), info.GetTlsCertificatePem())
		}
		if info.GetAuthUsers() != 2 || !slices.Contains(info.GetAuthMechanisms(), "PLAIN") ||
			info.GetAuthAllowInsecure() || info.GetRequireAuth() {
			t.Errorf("AUTH settings = users %d, mechanisms %q, allow insecure %v, require %v",
				info.GetAuthUsers(), info.GetAuthMechanisms(), info.GetAuthAllowInsecure(), info.GetRequireAuth())
		}
	})

	dial := func(t *testing.T) *smtp.Client { return dialContainer(t, ctr) }

	t.Run("StartTLSThenPlainAuth", func(t *testing.T) {
		c := dial(t)
		if ok, _ := c.Extension("AUTH"); ok {
			t.Errorf("AUTH advertised before STARTTLS")
		}
		if err := c.StartTLS(cfg); err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(mechs, "PLAIN") {
			t.Fatalf("after STARTTLS: AUTH %v %q, want PLAIN offered", ok, mechs)
		}
		if err := c.Auth(smtp.PlainAuth("", "alice", "s3cret", host)); err != nil {
			t.Fatalf("AUTH PLAIN: %v", err)
		}
		from, to := uniqueAddr("sender"), uniqueAddr("tls-rcpt")
		transact(t, c, from, []string{to}, simpleMessage(from, to, "over STARTTLS", "hi"))
		msgs, err := sink.WaitForMessages(ctx, &smtpsink.Filter{RcptTo: to, AuthUser: "ali*"}, 1, 20*time.Second)
		if err != nil {
			t.Fatalf("WaitForMessages: %v", err)
		}
		m := msgs[0]
		if !m.GetTls() || !strings.HasPrefix(m.GetTlsVersion(), "TLSv1.") || m.GetTlsCipher() == "" {
			t.Errorf("tls = %v %q %q, want TLS with a version and cipher", m.GetTls(), m.GetTlsVersion(), m.GetTlsCipher())
		}
		if m.GetAuthUser() != "alice" || m.GetAuthMechanism() != "PLAIN" {
			t.Errorf("auth = %q %q, want alice PLAIN", m.GetAuthUser(), m.GetAuthMechanism())
		}
		if got, err := sink.ListMessages(ctx, &smtpsink.Filter{RcptTo: to, AuthUser: "bob"}); err != nil || len(got) != 0 {
			t.Errorf("filter auth_user=bob: %d messages, %v; want none", len(got), err)
		}
	})

	t.Run("WrongPassword535", func(t *testing.T) {
		c := dial(t)
		if err := c.StartTLS(cfg); err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		err := c.Auth(smtp.PlainAuth("", "alice", "wrong", host))
		var perr *textproto.Error
		if !errors.As(err, &perr) || perr.Code != 535 || !strings.Contains(err.Error(), "535") {
			t.Fatalf("AUTH with a wrong password = %v, want a 535 error", err)
		}
	})

	t.Run("AuthRejectRule", func(t *testing.T) {
		rule, err := sink.RejectRule(ctx, &smtpsink.RejectRule{
			Stage: smtpsink.StageAuth, Match: "bob", Code: 454, EnhancedCode: "4.7.0", Message: "try later"})
		if err != nil {
			t.Fatalf("RejectRule AUTH: %v", err)
		}
		defer sink.DeleteRejectRule(ctx, rule.GetId())
		c := dial(t)
		if err := c.StartTLS(cfg); err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		err = c.Auth(smtp.PlainAuth("", "bob", "hunter2", host))
		var perr *textproto.Error
		if !errors.As(err, &perr) || perr.Code != 454 || !strings.Contains(perr.Msg, "try later") {
			t.Fatalf("AUTH for bob with a rule = %v, want 454 try later", err)
		}
	})

	t.Run("ImplicitTLS", func(t *testing.T) {
		addr, err := ctr.SMTPSAddress(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatalf("tls.Dial %s: %v", addr, err)
		}
		c, err := smtp.NewClient(conn, host)
		if err != nil {
			conn.Close()
			t.Fatalf("SMTP greeting over TLS: %v", err)
		}
		defer c.Close()
		if err := c.Auth(smtp.PlainAuth("", "bob", "hunter2", host)); err != nil {
			t.Fatalf("AUTH PLAIN: %v", err)
		}
		from, to := uniqueAddr("sender"), uniqueAddr("smtps-rcpt")
		transact(t, c, from, []string{to}, simpleMessage(from, to, "over implicit TLS", "hi"))
		msgs, err := sink.WaitForMessages(ctx, &smtpsink.Filter{RcptTo: to}, 1, 20*time.Second)
		if err != nil {
			t.Fatalf("WaitForMessages: %v", err)
		}
		if m := msgs[0]; !m.GetTls() || m.GetTlsVersion() == "" || m.GetAuthUser() != "bob" {
			t.Errorf("message = tls %v %q, auth %q; want TLS and bob", m.GetTls(), m.GetTlsVersion(), m.GetAuthUser())
		}
	})
}

// selfSigned makes a CA:TRUE ECDSA P-256 certificate for names, like the
// one smtpsink generates.
func selfSigned(t *testing.T, names ...string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		BasicConstraintsValid: true, IsCA: true, DNSNames: names,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TLSConfigFromPEM trusts exactly the given certificate and checks the name:
// no container needed.
func TestTLSConfigFromPEM(t *testing.T) {
	served, servedPEM := selfSigned(t, "localhost")
	_, otherPEM := selfSigned(t, "localhost")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{served}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	handshake := func(pemBytes []byte, name string) error {
		cfg, err := smtpsink.TLSConfigFromPEM(pemBytes, name)
		if err != nil {
			return err
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := handshake(servedPEM, "localhost:1025"); err != nil {
		t.Errorf("served certificate, right name: %v", err)
	}
	if err := handshake(otherPEM, "localhost"); err == nil {
		t.Errorf("another certificate was accepted")
	}
	if err := handshake(servedPEM, "mail.example.test"); err == nil {
		t.Errorf("a name the certificate does not carry was accepted")
	}
	if _, err := smtpsink.TLSConfigFromPEM(nil, "localhost"); err == nil {
		t.Errorf("an empty PEM gave a config")
	}
}
