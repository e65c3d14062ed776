package smtpsink

import (
	"slices"
	"testing"
)

// The flags Run derives from the Options (no container needed).
func TestServerArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		host string
		args []string
		env  string
	}{
		{"auth without TLS allows insecure AUTH", []Option{WithAuth(nil)}, "localhost",
			[]string{"--auth", "--auth-allow-insecure"}, ""},
		{"auth with STARTTLS", []Option{WithAuth(map[string]string{"b": "p:2", "a": "p1"}), WithStartTLS()}, "127.0.0.1",
			[]string{"--starttls", "--auth"}, "a:p1,b:p:2"},
		{"implicit TLS on a remote Docker host", []Option{WithImplicitTLS()}, "docker.example.test",
			[]string{"--smtps-listen", "0.0.0.0:1465", "--tls-san", "docker.example.test"}, ""},
		{"require TLS and AUTH", []Option{WithRequireTLS(), WithRequireAuth()}, "localhost",
			[]string{"--starttls", "--require-tls", "--auth", "--require-auth"}, ""},
	} {
		var s settings
		for _, o := range tc.opts {
			o(&s)
		}
		args, env, err := s.serverArgs(tc.host)
		if err != nil || !slices.Equal(args, tc.args) || env["SMTPSINK_AUTH_USERS"] != tc.env {
			t.Errorf("%s: args %q env %q err %v; want %q %q", tc.name, args, env, err, tc.args, tc.env)
		}
	}
	s := settings{}
	WithAuth(map[string]string{"a,b": "x"})(&s)
	if _, _, err := s.serverArgs("localhost"); err == nil {
		t.Errorf("a user name with ',' was accepted")
	}
}
