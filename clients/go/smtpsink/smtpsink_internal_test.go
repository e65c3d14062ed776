package smtpsink

import "testing"

// The Host names the HTTP API is told to accept besides IP addresses and
// localhost (no container needed).
func TestHTTPEnv(t *testing.T) {
	for host, want := range map[string]string{
		"localhost": "", "127.0.0.1": "", "::1": "", "[::1]": "", "172.17.0.1": "",
		"app.localhost": "", "": "",
		"docker.example.test": "docker.example.test", "Docker-Host": "docker-host",
	} {
		env := httpEnv(host)
		if got := env["SMTPSINK_HTTP_ALLOWED_HOSTS"]; got != want || (want == "" && env != nil) {
			t.Errorf("httpEnv(%q) = %v, want %q", host, env, want)
		}
	}
}
