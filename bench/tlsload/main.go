// tlsload - SMTP load client for the TLS + AUTH benchmark (bench/tls_auth.py, issue 9).
//
// Modes:
//
//	load  N workers (-workers, default 32); each loops: connect, 220, EHLO,
//	      STARTTLS + handshake + EHLO again (-tls starttls) or the handshake
//	      first (-tls implicit) or nothing (-tls plain), AUTH PLAIN with an
//	      initial response (unless -user ""), MAIL, RCPT, DATA with one
//	      message of exactly -size bytes, QUIT; until -messages messages were
//	      accepted in total (or -duration passed). A new connection per message.
//	      Prints one JSON object (messages, seconds, msgs_per_s, errors, ...).
//	idle  opens -sessions sessions (greeting, EHLO, and for TLS the handshake
//	      and the second EHLO), prints one JSON line {"ready": N, ...} and
//	      holds them idle until stdin is closed or SIGTERM/SIGINT arrives,
//	      then sends QUIT on each and exits.
//
// The server certificate is always verified against -ca (PEM) for -servername;
// there is no way to switch verification off. No TLS session resumption: every
// connection does a full handshake. Key exchange X25519 only (-curves), so an
// OpenSSL 3.0 server and a Go server do the same work (Go's default would be
// X25519MLKEM768 against a Go server, X25519 against OpenSSL 3.0).
//
// Any reply other than the expected one ends the run: the worker records the
// first error, every worker stops, the JSON has "errors" > 0 and "first_error",
// and the exit status is 1.
//
// Standard library only.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	addr, tlsMode, caFile, serverName, user, pass, ehlo, from, rcpt, curves string
	workers, messages, size, sessions, parallel                             int
	duration, timeout                                                       time.Duration
}

type conn struct {
	raw net.Conn
	c   net.Conn // raw, or the TLS connection on top of it
	r   *bufio.Reader
	w   *bufio.Writer
	o   *options
	cfg *tls.Config
}

// reply reads one (possibly multi-line) SMTP reply; returns its code and text.
func (s *conn) reply() (int, string, error) {
	var text strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return 0, text.String(), fmt.Errorf("reading reply: %w (got %q)", err, text.String()+line)
		}
		text.WriteString(line)
		if len(line) < 4 || line[0] < '1' || line[0] > '5' {
			return 0, text.String(), fmt.Errorf("malformed reply line %q", line)
		}
		if line[3] == ' ' || line[3] == '\r' || line[3] == '\n' {
			code := int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
			return code, text.String(), nil
		}
		if line[3] != '-' {
			return 0, text.String(), fmt.Errorf("malformed reply line %q", line)
		}
	}
}

// expect reads a reply and fails unless its code is want.
func (s *conn) expect(what string, want int) (string, error) {
	code, text, err := s.reply()
	if err != nil {
		return text, fmt.Errorf("%s: %w", what, err)
	}
	if code != want {
		return text, fmt.Errorf("%s: expected %d, got %q", what, want, strings.TrimSpace(text))
	}
	return text, nil
}

// cmd writes one command (flushed) and expects the reply code want.
func (s *conn) cmd(line string, want int) (string, error) {
	if _, err := s.w.WriteString(line + "\r\n"); err != nil {
		return "", err
	}
	if err := s.w.Flush(); err != nil {
		return "", fmt.Errorf("%s: write: %w", strings.Fields(line)[0], err)
	}
	return s.expect(strings.Fields(line)[0], want)
}

func (s *conn) wrap(c net.Conn) {
	s.c = c
	s.r = bufio.NewReaderSize(c, 4096)
	s.w = bufio.NewWriterSize(c, 4096)
}

func (s *conn) handshake() error {
	tc := tls.Client(s.raw, s.cfg)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	s.wrap(tc)
	return nil
}

func hasExt(ehlo, ext string) bool {
	for _, l := range strings.Split(ehlo, "\n") {
		l = strings.TrimSpace(l)
		if len(l) > 4 && strings.EqualFold(strings.Fields(l[4:] + " ")[0], ext) {
			return true
		}
	}
	return false
}

// open connects and brings the session to the authenticated state (or, with
// no user, to the state after the last EHLO).
func open(o *options, cfg *tls.Config) (*conn, error) {
	d := net.Dialer{Timeout: o.timeout, KeepAlive: -1} // no keepalive: 3 setsockopt fewer per connection
	raw, err := d.Dial("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s := &conn{raw: raw, o: o, cfg: cfg}
	s.wrap(raw)
	fail := func(err error) (*conn, error) {
		raw.Close()
		return nil, err
	}
	if o.tlsMode == "implicit" {
		if err := s.handshake(); err != nil {
			return fail(err)
		}
	}
	if _, err := s.expect("greeting", 220); err != nil {
		return fail(err)
	}
	ehlo, err := s.cmd("EHLO "+o.ehlo, 250)
	if err != nil {
		return fail(err)
	}
	if o.tlsMode == "starttls" {
		if !hasExt(ehlo, "STARTTLS") {
			return fail(fmt.Errorf("EHLO: no STARTTLS advertised: %q", ehlo))
		}
		if _, err := s.cmd("STARTTLS", 220); err != nil {
			return fail(err)
		}
		if s.r.Buffered() != 0 {
			return fail(errors.New("STARTTLS: data after the 220"))
		}
		if err := s.handshake(); err != nil {
			return fail(err)
		}
		if ehlo, err = s.cmd("EHLO "+o.ehlo, 250); err != nil {
			return fail(err)
		}
	}
	if o.user != "" {
		if !hasExt(ehlo, "AUTH") {
			return fail(fmt.Errorf("EHLO: no AUTH advertised: %q", ehlo))
		}
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + o.user + "\x00" + o.pass))
		if _, err := s.cmd("AUTH PLAIN "+ir, 235); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// quit sends QUIT, expects 221 and waits for the server to close first (so
// the TIME_WAIT sockets pile up on the server's side, not in our port range).
func (s *conn) quit() error {
	_, err := s.cmd("QUIT", 221)
	if err == nil {
		s.raw.SetReadDeadline(time.Now().Add(s.o.timeout))
		io.Copy(io.Discard, s.c)
	}
	s.raw.Close()
	return err
}

func message(o *options, n int) []byte {
	hdr := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: tlsload %d\r\nMessage-ID: <%d@tlsload.bench>\r\n\r\n",
		o.from, o.rcpt, n, n)
	var b strings.Builder
	b.WriteString(hdr)
	line := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz", 2)[:70] + "\r\n"
	for b.Len()+len(line) <= o.size {
		b.WriteString(line)
	}
	if rest := o.size - b.Len(); rest >= 2 {
		b.WriteString(strings.Repeat("x", rest-2) + "\r\n")
	}
	return []byte(b.String() + ".\r\n")
}

// send does one whole session: open, one message, QUIT.
func send(o *options, cfg *tls.Config, msg []byte) (string, error) {
	s, err := open(o, cfg)
	if err != nil {
		return "", err
	}
	defer s.raw.Close()
	s.raw.SetDeadline(time.Now().Add(o.timeout))
	steps := []struct {
		line string
		want int
	}{{"MAIL FROM:<" + o.from + ">", 250}, {"RCPT TO:<" + o.rcpt + ">", 250}, {"DATA", 354}}
	for _, st := range steps {
		if _, err := s.cmd(st.line, st.want); err != nil {
			return "", err
		}
	}
	if _, err := s.w.Write(msg); err != nil {
		return "", err
	}
	if err := s.w.Flush(); err != nil {
		return "", err
	}
	if _, err := s.expect("end of DATA", 250); err != nil {
		return "", err
	}
	proto := ""
	if tc, ok := s.c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		proto = tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	}
	return proto, s.quit()
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000
}

func runLoad(o *options, cfg *tls.Config) int {
	var issued, done, errs atomic.Int64
	var stop atomic.Bool
	var mu sync.Mutex
	var firstErr, proto string
	var lat []time.Duration
	deadline := time.Time{}
	if o.duration > 0 {
		deadline = time.Now().Add(o.duration)
	}
	cpu0 := cpuSeconds()
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for !stop.Load() {
				n := issued.Add(1)
				if (o.messages > 0 && n > int64(o.messages)) || (!deadline.IsZero() && time.Now().After(deadline)) {
					break
				}
				ts := time.Now()
				p, err := send(o, cfg, message(o, int(n)))
				if err != nil {
					errs.Add(1)
					stop.Store(true)
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					break
				}
				mine = append(mine, time.Since(ts))
				done.Add(1)
				if proto == "" {
					mu.Lock()
					proto = p
					mu.Unlock()
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := map[string]any{
		"mode": "load", "tls": o.tlsMode, "auth": o.user != "", "workers": o.workers, "size": o.size,
		"messages": done.Load(), "seconds": secs, "msgs_per_s": float64(done.Load()) / secs,
		"errors": errs.Load(), "first_error": firstErr, "protocol": proto,
		"client_cpu_s":   cpuSeconds() - cpu0,
		"session_ms_p50": percentile(lat, 0.50), "session_ms_p99": percentile(lat, 0.99),
	}
	json.NewEncoder(os.Stdout).Encode(res)
	if errs.Load() > 0 || (o.messages > 0 && done.Load() != int64(o.messages)) {
		fmt.Fprintf(os.Stderr, "tlsload: FAILED: %d errors, %d of %d messages; first: %s\n",
			errs.Load(), done.Load(), o.messages, firstErr)
		return 1
	}
	return 0
}

func runIdle(o *options, cfg *tls.Config) int {
	sessions := make([]*conn, o.sessions)
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr string
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.sessions {
					return
				}
				s, err := open(o, cfg)
				if err != nil {
					mu.Lock()
					if firstErr == "" {
						firstErr = fmt.Sprintf("session %d: %v", i, err)
					}
					mu.Unlock()
					next.Store(int64(o.sessions)) // stop opening more
					return
				}
				sessions[i] = s
			}
		}()
	}
	wg.Wait()
	held := 0
	for _, s := range sessions {
		if s != nil {
			held++
		}
	}
	out, _ := json.Marshal(map[string]any{"ready": held, "wanted": o.sessions, "tls": o.tlsMode,
		"auth": o.user != "", "open_s": time.Since(t0).Seconds(), "first_error": firstErr})
	fmt.Println(string(out))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	eof := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(eof) }()
	select {
	case <-sig:
	case <-eof:
	}
	for _, s := range sessions {
		if s != nil {
			s.raw.SetDeadline(time.Now().Add(o.timeout))
			s.quit()
		}
	}
	if held != o.sessions {
		return 1
	}
	return 0
}

func main() {
	o := &options{}
	mode := flag.String("mode", "load", "load or idle")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:1025", "server host:port")
	flag.StringVar(&o.tlsMode, "tls", "starttls", "starttls, implicit or plain")
	flag.StringVar(&o.caFile, "ca", "", "PEM file the server certificate must chain to (required unless -tls plain)")
	flag.StringVar(&o.serverName, "servername", "localhost", "name the server certificate is verified for")
	flag.StringVar(&o.curves, "curves", "X25519", "key exchange groups, comma-separated: X25519, P256, X25519MLKEM768, or \"default\" (Go's)")
	flag.StringVar(&o.user, "user", "bench", "AUTH PLAIN user; empty: no AUTH")
	flag.StringVar(&o.pass, "pass", "bench-secret", "AUTH PLAIN password")
	flag.StringVar(&o.ehlo, "ehlo", "tlsload.bench", "EHLO name")
	flag.StringVar(&o.from, "from", "sender@bench.local", "MAIL FROM")
	flag.StringVar(&o.rcpt, "rcpt", "rcpt@bench.local", "RCPT TO")
	flag.IntVar(&o.workers, "workers", 32, "load: concurrent sessions")
	flag.IntVar(&o.messages, "messages", 20000, "load: messages in total (0: until -duration)")
	flag.DurationVar(&o.duration, "duration", 0, "load: stop issuing new sessions after this long (0: no limit)")
	flag.IntVar(&o.size, "size", 1024, "load: message size in bytes (headers included, final dot excluded)")
	flag.IntVar(&o.sessions, "sessions", 1000, "idle: sessions to open and hold")
	flag.IntVar(&o.parallel, "parallel", 8, "idle: sessions opened concurrently")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "per connect and per session")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the client here (to check it is not the bottleneck)")
	flag.Parse()
	debug.SetGCPercent(400) // a small heap; less client CPU in the collector
	if o.messages <= 0 && o.duration <= 0 {
		fmt.Fprintln(os.Stderr, "tlsload: need -messages or -duration")
		os.Exit(2)
	}
	var cfg *tls.Config
	if o.tlsMode != "plain" {
		if o.tlsMode != "starttls" && o.tlsMode != "implicit" {
			fmt.Fprintln(os.Stderr, "tlsload: -tls must be starttls, implicit or plain")
			os.Exit(2)
		}
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tlsload: -ca:", err)
			os.Exit(2)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "tlsload: -ca: no certificate in", o.caFile)
			os.Exit(2)
		}
		cfg = &tls.Config{RootCAs: pool, ServerName: o.serverName, MinVersion: tls.VersionTLS12}
		if o.curves != "default" {
			names := map[string]tls.CurveID{"X25519": tls.X25519, "P256": tls.CurveP256,
				"P384": tls.CurveP384, "X25519MLKEM768": tls.X25519MLKEM768}
			for _, n := range strings.Split(o.curves, ",") {
				id, ok := names[n]
				if !ok {
					fmt.Fprintln(os.Stderr, "tlsload: unknown curve", n)
					os.Exit(2)
				}
				cfg.CurvePreferences = append(cfg.CurvePreferences, id)
			}
		}
	}
	switch *mode {
	case "load":
		if *cpuprofile != "" {
			f, err := os.Create(*cpuprofile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "tlsload:", err)
				os.Exit(2)
			}
			pprof.StartCPUProfile(f)
			rc := runLoad(o, cfg)
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(rc)
		}
		os.Exit(runLoad(o, cfg))
	case "idle":
		os.Exit(runIdle(o, cfg))
	default:
		fmt.Fprintln(os.Stderr, "tlsload: -mode must be load or idle")
		os.Exit(2)
	}
}
