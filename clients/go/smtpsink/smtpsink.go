// Package smtpsink is a testcontainers-go module for smtpsink, an SMTP sink
// for test suites with a typed gRPC control API.
//
// Start it with Run, send mail to SMTPAddress with any SMTP client, and use
// the connected control Client to wait for, list, clear and reject mail:
//
//	ctr, err := smtpsink.Run(ctx, "smtpsink:latest")
//	defer testcontainers.TerminateContainer(ctr)
//	addr, _ := ctr.SMTPAddress(ctx)
//	// ... send mail to addr ...
//	sink, _ := ctr.Client(ctx)
//	msgs, err := sink.WaitForMessages(ctx, &smtpsink.Filter{RcptTo: "bob@example.test"}, 1, 10*time.Second)
//
// WebURL is the base URL of the sink's web UI and HTTP API (port 8025): open
// it in a browser while debugging, or call the Mailpit-compatible /api/v1/
// routes and the JSON form of every RPC (POST /smtpsink.v1.Sink/<Method>).
//
// WaitForMessages is woken by the server as the message is stored; it never
// polls. Tests that run in parallel against one container stay isolated as
// long as each one uses its own recipient addresses in its filters.
package smtpsink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

const (
	// DefaultImage is the image tag the project builds.
	DefaultImage = "smtpsink:latest"
	// SMTPPort is the container's SMTP port.
	SMTPPort = "1025/tcp"
	// GRPCPort is the container's gRPC control port.
	GRPCPort = "50051/tcp"
	// HTTPPort is the container's port of the web UI and HTTP API.
	HTTPPort = "8025/tcp"

	defaultStartupTimeout = 60 * time.Second
)

// Container is a running smtpsink container.
type Container struct {
	testcontainers.Container

	mu     sync.Mutex
	client *Client
}

// Run creates and starts an smtpsink container from img (for example
// DefaultImage) and waits until both SMTP and gRPC are ready: the
// "smtpsink ready" line on stdout, then the gRPC health service answering
// SERVING through the mapped port. opts customise the request like in every
// testcontainers-go module (testcontainers.WithEnv, WithLabels, ...); this
// package's Options (WithStartTLS, WithImplicitTLS, WithAuth, ...) turn on
// TLS and SMTP AUTH. SMTPPort, GRPCPort and HTTPPort are exposed; when the
// host tests reach the container by (SMTPHost) is a name other than
// localhost, Run puts it in SMTPSINK_HTTP_ALLOWED_HOSTS so that WebURL
// answers there too (a WithEnv setting that variable replaces it).
//
// As with the official modules, a non-nil *Container may be returned along
// with an error; terminate it in that case too.
func Run(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	if img == "" {
		img = DefaultImage
	}
	moduleOpts := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(SMTPPort, GRPCPort, HTTPPort),
		testcontainers.WithWaitStrategy(
			wait.ForAll(
				wait.ForLog("smtpsink ready"),
				ForGRPCHealth(GRPCPort),
			).WithDeadline(defaultStartupTimeout),
		),
	}
	var set settings
	for _, o := range opts {
		if so, ok := o.(Option); ok {
			so(&set)
		}
	}
	host, err := daemonHost(ctx)
	if err != nil {
		return nil, fmt.Errorf("run smtpsink: %w", err)
	}
	// Before opts: an SMTPSINK_HTTP_ALLOWED_HOSTS of the caller's wins.
	if env := httpEnv(host); env != nil {
		moduleOpts = append(moduleOpts, testcontainers.WithEnv(env))
	}
	moduleOpts = append(moduleOpts, opts...)
	if set.implicitTLS {
		moduleOpts = append(moduleOpts, testcontainers.WithExposedPorts(SMTPSPort))
	}
	if set.tls() || set.auth {
		args, env, err := set.serverArgs(host)
		if err != nil {
			return nil, err
		}
		moduleOpts = append(moduleOpts, testcontainers.WithCmdArgs(args...))
		if env != nil {
			moduleOpts = append(moduleOpts, testcontainers.WithEnv(env))
		}
	}

	ctr, err := testcontainers.Run(ctx, img, moduleOpts...)
	var c *Container
	if ctr != nil {
		c = &Container{Container: ctr}
	}
	if err != nil {
		return c, fmt.Errorf("run smtpsink: %w", err)
	}
	return c, nil
}

// SMTPHost is the host name or address to send mail to.
func (c *Container) SMTPHost(ctx context.Context) (string, error) {
	return c.Host(ctx)
}

// SMTPPort is the host port mapped to the container's SMTP port.
func (c *Container) SMTPPort(ctx context.Context) (int, error) {
	return c.mappedPort(ctx, SMTPPort)
}

// SMTPAddress is "host:port" for SMTP clients such as net/smtp.
func (c *Container) SMTPAddress(ctx context.Context) (string, error) {
	return c.address(ctx, SMTPPort)
}

// GRPCAddress is "host:port" of the gRPC control API.
func (c *Container) GRPCAddress(ctx context.Context) (string, error) {
	return c.address(ctx, GRPCPort)
}

// HTTPAddress is "host:port" of the web UI and HTTP API.
func (c *Container) HTTPAddress(ctx context.Context) (string, error) {
	return c.address(ctx, HTTPPort)
}

// WebURL is the base URL of the web UI and HTTP API, "http://host:port"
// (no trailing slash: append "/api/v1/info", "/healthz", ...).
func (c *Container) WebURL(ctx context.Context) (string, error) {
	addr, err := c.HTTPAddress(ctx)
	if err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

// httpEnv is the environment that lets the HTTP API answer requests whose
// Host header is host, the name tests reach the container by: the server
// accepts IP addresses and localhost by itself and answers other names
// 403 (its guard against DNS rebinding) unless SMTPSINK_HTTP_ALLOWED_HOSTS
// lists them. Nil when nothing is needed.
func httpEnv(host string) map[string]string {
	h := strings.ToLower(host)
	if h == "" || net.ParseIP(strings.Trim(h, "[]")) != nil || h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return nil
	}
	return map[string]string{"SMTPSINK_HTTP_ALLOWED_HOSTS": h}
}

// Client returns the container's control client, connecting it on first use.
// It is shared (safe for concurrent use) and closed by Terminate.
func (c *Container) Client(ctx context.Context) (*Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		return c.client, nil
	}
	addr, err := c.GRPCAddress(ctx)
	if err != nil {
		return nil, err
	}
	cl, err := NewClient(addr)
	if err != nil {
		return nil, err
	}
	c.client = cl
	return cl, nil
}

// Terminate closes the control client and removes the container.
func (c *Container) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	c.mu.Lock()
	cl := c.client
	c.client = nil
	c.mu.Unlock()
	var errs []error
	if cl != nil {
		if err := cl.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close client: %w", err))
		}
	}
	if c.Container != nil {
		if err := c.Container.Terminate(ctx, opts...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Container) mappedPort(ctx context.Context, port string) (int, error) {
	p, err := c.MappedPort(ctx, port)
	if err != nil {
		return 0, fmt.Errorf("mapped port %s: %w", port, err)
	}
	return int(p.Num()), nil
}

func (c *Container) address(ctx context.Context, port string) (string, error) {
	host, err := c.Host(ctx)
	if err != nil {
		return "", fmt.Errorf("host: %w", err)
	}
	p, err := c.mappedPort(ctx, port)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// GRPCHealthStrategy waits until the standard grpc.health.v1.Health service,
// reached through the mapped port, reports SERVING for the server as a whole
// (the sink reports SERVING only once both SMTP and gRPC listen).
type GRPCHealthStrategy struct {
	Port           string
	StartupTimeout time.Duration
	PollInterval   time.Duration
}

var _ wait.Strategy = (*GRPCHealthStrategy)(nil)
var _ wait.StrategyTimeout = (*GRPCHealthStrategy)(nil)

// ForGRPCHealth returns a wait strategy checking gRPC health on port
// (e.g. GRPCPort).
func ForGRPCHealth(port string) *GRPCHealthStrategy {
	return &GRPCHealthStrategy{Port: port, PollInterval: 50 * time.Millisecond}
}

// WithStartupTimeout bounds the wait.
func (s *GRPCHealthStrategy) WithStartupTimeout(d time.Duration) *GRPCHealthStrategy {
	s.StartupTimeout = d
	return s
}

// Timeout implements wait.StrategyTimeout.
func (s *GRPCHealthStrategy) Timeout() *time.Duration {
	if s.StartupTimeout == 0 {
		return nil
	}
	return &s.StartupTimeout
}

// String describes the strategy in testcontainers' logs.
func (s *GRPCHealthStrategy) String() string {
	return fmt.Sprintf("gRPC health SERVING on port %s", s.Port)
}

// WaitUntilReady implements wait.Strategy.
func (s *GRPCHealthStrategy) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	timeout := defaultStartupTimeout
	if s.StartupTimeout > 0 {
		timeout = s.StartupTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var (
		conn    *grpc.ClientConn
		lastErr error
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		if conn == nil {
			// The mapped port is known once the container runs.
			lastErr = s.dial(ctx, target, &conn)
		}
		if conn != nil {
			cctx, ccancel := context.WithTimeout(ctx, time.Second)
			resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
			ccancel()
			if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("health status %s", resp.GetStatus())
			}
			lastErr = err
		}
		if st, err := target.State(ctx); err == nil && !st.Running {
			return fmt.Errorf("container is not running (status %q, exit code %d)", st.Status, st.ExitCode)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gRPC health on %s: %w (last error: %v)", s.Port, ctx.Err(), lastErr)
		case <-time.After(max(s.PollInterval, 10*time.Millisecond)):
		}
	}
}

func (s *GRPCHealthStrategy) dial(ctx context.Context, target wait.StrategyTarget, conn **grpc.ClientConn) error {
	host, err := target.Host(ctx)
	if err != nil {
		return err
	}
	p, err := target.MappedPort(ctx, s.Port)
	if err != nil {
		return err
	}
	if p.Num() == 0 {
		return fmt.Errorf("port %s not mapped yet", s.Port)
	}
	// Short reconnect backoff: the default (1 s, growing) would delay
	// readiness after an early attempt reached the port before the server.
	*conn, err = grpc.NewClient(net.JoinHostPort(host, strconv.Itoa(int(p.Num()))),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay: 20 * time.Millisecond, Multiplier: 1.5,
				Jitter: 0.2, MaxDelay: 250 * time.Millisecond,
			},
			MinConnectTimeout: time.Second,
		}))
	return err
}
