package smtpsink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"

	"github.com/testcontainers/testcontainers-go"
)

// SMTPSPort is the container's implicit-TLS (SMTPS, RFC 8314) port; it is
// exposed only with WithImplicitTLS.
const SMTPSPort = "1465/tcp"

// Option is a Run option specific to smtpsink (TLS and AUTH). Options are
// collected by Run and turned into server flags once all of them are known,
// so their order does not matter. They can be mixed with any
// testcontainers.ContainerCustomizer.
type Option func(*settings)

// Customize implements testcontainers.ContainerCustomizer; Run applies the
// option itself.
func (Option) Customize(*testcontainers.GenericContainerRequest) error { return nil }

type settings struct {
	startTLS    bool
	implicitTLS bool
	requireTLS  bool
	auth        bool
	authUsers   map[string]string
	requireAuth bool
}

func (s *settings) tls() bool { return s.startTLS || s.implicitTLS }

// WithStartTLS makes the SMTP port advertise STARTTLS (--starttls) with a
// self-signed certificate generated at start; trust it with
// Container.TLSConfig.
func WithStartTLS() Option { return func(s *settings) { s.startTLS = true } }

// WithImplicitTLS adds an implicit-TLS listener on SMTPSPort
// (--smtps-listen 0.0.0.0:1465), mapped like the other ports (SMTPSAddress).
func WithImplicitTLS() Option { return func(s *settings) { s.implicitTLS = true } }

// WithRequireTLS refuses mail outside TLS (--require-tls): commands other
// than EHLO/HELO/STARTTLS/NOOP/RSET/QUIT get 530 before STARTTLS. It implies
// WithStartTLS.
func WithRequireTLS() Option {
	return func(s *settings) { s.requireTLS, s.startTLS = true, true }
}

// WithAuth turns SMTP AUTH on (--auth). With no users any credentials are
// accepted; otherwise only these user/password pairs (SMTPSINK_AUTH_USERS),
// others get 535 5.7.8. With TLS on, AUTH is offered only after STARTTLS
// (or on the implicit-TLS port). Without any TLS option Run adds
// --auth-allow-insecure, since the server refuses AUTH over plain text
// otherwise. User names must not contain ':' or ','; passwords not ','.
func WithAuth(users map[string]string) Option {
	return func(s *settings) {
		s.auth = true
		if s.authUsers == nil {
			s.authUsers = map[string]string{}
		}
		for u, p := range users {
			s.authUsers[u] = p
		}
	}
}

// WithRequireAuth makes MAIL before a successful AUTH fail with 530 5.7.0
// (--require-auth). It implies WithAuth(nil).
func WithRequireAuth() Option {
	return func(s *settings) { s.requireAuth = true; WithAuth(nil)(s) }
}

// serverArgs turns the settings into smtpsink flags and environment;
// daemonHost is the host tests reach the container at (an extra SAN when it
// is not one the certificate already names).
func (s *settings) serverArgs(daemonHost string) (args []string, env map[string]string, err error) {
	if s.startTLS {
		args = append(args, "--starttls")
	}
	if s.implicitTLS {
		args = append(args, "--smtps-listen", "0.0.0.0:"+strings.TrimSuffix(SMTPSPort, "/tcp"))
	}
	if s.tls() && daemonHost != "" && !slices.Contains([]string{"localhost", "127.0.0.1", "::1"}, daemonHost) {
		args = append(args, "--tls-san", daemonHost)
	}
	if s.requireTLS {
		args = append(args, "--require-tls")
	}
	if s.auth {
		args = append(args, "--auth")
		if !s.tls() {
			args = append(args, "--auth-allow-insecure")
		}
	}
	if s.requireAuth {
		args = append(args, "--require-auth")
	}
	if len(s.authUsers) > 0 {
		names := make([]string, 0, len(s.authUsers))
		for u := range s.authUsers {
			if u == "" || strings.ContainsAny(u, ":,") || strings.Contains(s.authUsers[u], ",") {
				return nil, nil, fmt.Errorf("smtpsink: auth user %q: names must be non-empty without ':' or ',', passwords without ','", u)
			}
			names = append(names, u)
		}
		sort.Strings(names)
		pairs := make([]string, len(names))
		for i, u := range names {
			pairs[i] = u + ":" + s.authUsers[u]
		}
		env = map[string]string{"SMTPSINK_AUTH_USERS": strings.Join(pairs, ",")}
	}
	return args, env, nil
}

// daemonHost is the host testcontainers maps ports on (honours
// TESTCONTAINERS_HOST_OVERRIDE).
func daemonHost(ctx context.Context) (string, error) {
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return "", fmt.Errorf("docker provider: %w", err)
	}
	defer p.Close()
	return p.DaemonHost(ctx)
}

// TLSConfigFromPEM returns a *tls.Config that trusts exactly the
// certificates in pem (the server's own, as ServerInfo.TlsCertificatePem
// gives it) and verifies serverName against them. Nothing else is trusted
// and verification stays on.
func TLSConfigFromPEM(pem []byte, serverName string) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("smtpsink: no certificate in the PEM (is TLS on? WithStartTLS / WithImplicitTLS)")
	}
	if h, _, err := net.SplitHostPort(serverName); err == nil {
		serverName = h
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}, nil
}

// TLSCertificatePEM returns the certificate (chain) the server presents, in
// PEM; an error when the server serves no TLS.
func (c *Client) TLSCertificatePEM(ctx context.Context) ([]byte, error) {
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return nil, err
	}
	if info.GetTlsCertificatePem() == "" {
		return nil, errors.New("smtpsink: the server serves no TLS (no certificate in ServerInfo)")
	}
	return []byte(info.GetTlsCertificatePem()), nil
}

// TLSConfig returns a *tls.Config trusting exactly the server's certificate
// (fetched over the control API) for connections to serverName (a host, or
// "host:port").
func (c *Client) TLSConfig(ctx context.Context, serverName string) (*tls.Config, error) {
	pem, err := c.TLSCertificatePEM(ctx)
	if err != nil {
		return nil, err
	}
	return TLSConfigFromPEM(pem, serverName)
}

// TLSConfig returns a *tls.Config for STARTTLS or implicit TLS to this
// container: RootCAs holds only the served certificate, ServerName is
// SMTPHost. Use it with smtp.Client.StartTLS or tls.Dial to SMTPSAddress.
func (c *Container) TLSConfig(ctx context.Context) (*tls.Config, error) {
	cl, err := c.Client(ctx)
	if err != nil {
		return nil, err
	}
	host, err := c.SMTPHost(ctx)
	if err != nil {
		return nil, err
	}
	return cl.TLSConfig(ctx, host)
}

// SMTPSPort is the host port mapped to the implicit-TLS port (WithImplicitTLS).
func (c *Container) SMTPSPort(ctx context.Context) (int, error) {
	return c.mappedPort(ctx, SMTPSPort)
}

// SMTPSAddress is "host:port" of the implicit-TLS listener (WithImplicitTLS).
func (c *Container) SMTPSAddress(ctx context.Context) (string, error) {
	return c.address(ctx, SMTPSPort)
}
