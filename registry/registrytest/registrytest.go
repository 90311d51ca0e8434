// Package registrytest starts a real registry server, CNCF distribution's
// /usr/bin/docker-registry (Debian package docker-registry), for tests of
// packages that pull and push.
//
//	host := registrytest.Start(t)                      // "127.0.0.1:PORT", plain HTTP, no auth
//	host := registrytest.Start(t, registrytest.WithBasicAuth("u", "p"))
//
// The server stores blobs in a t.TempDir and is stopped at test cleanup. If
// the binary is missing the test is skipped with the reason.
//
// FaultProxy puts a loopback reverse proxy in front of it that injects 503s,
// 500s, 401s, dropped connections (mid-answer or mid-upload) and corrupted
// blobs, and can enforce bearer-token auth with short-lived tokens:
//
//	p := registrytest.FaultProxy(t, host, registrytest.Fault{Kind: registrytest.Status503, Method: "PATCH", Times: 2})
//	ref := p.Host + "/repo:tag"
//	p = registrytest.FaultProxy(t, host).WithTokenAuth(registrytest.TokenAuth{User: "u", Password: "p", Uses: 3})
package registrytest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the registry server started by Start.
const Binary = "/usr/bin/docker-registry"

// startTimeout bounds how long Start waits for the server to answer.
const startTimeout = 15 * time.Second

// Option configures the server Start runs.
type Option func(*config)

type config struct {
	user, password string
}

// WithBasicAuth makes the server require HTTP basic auth with one user
// (htpasswd file, bcrypt, made with apache2-utils' htpasswd).
func WithBasicAuth(user, password string) Option {
	return func(c *config) { c.user, c.password = user, password }
}

// Start runs a registry server on 127.0.0.1 at a free port and returns its
// host ("127.0.0.1:PORT"). It fails the test if the server does not come up
// and skips it if the registry binary (or htpasswd, for WithBasicAuth) is not
// installed.
func Start(t testing.TB, opts ...Option) string {
	t.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("registrytest: %s not installed (apt-get install docker-registry): %v", Binary, err)
	}
	dir := t.TempDir()
	host := freeHost(t)
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), host)
	if c.user != "" {
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: registrytest\n    path: %s\n", writeHtpasswd(t, dir, c.user, c.password))
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	var out lockedBuffer
	cmd := exec.Command(Binary, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("registrytest: starting %s: %v", Binary, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { stop(t, cmd, done) })
	if err := waitReady(host, done); err != nil {
		t.Fatalf("registrytest: %v\nserver output:\n%s", err, out.String())
	}
	return host
}

// freeHost returns 127.0.0.1:PORT for a port that was free a moment ago.
func freeHost(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("registrytest: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeHtpasswd writes a bcrypt htpasswd file with one user.
func writeHtpasswd(t testing.TB, dir, user, password string) string {
	htpasswd, err := exec.LookPath("htpasswd")
	if err != nil {
		t.Skipf("registrytest: htpasswd not installed (apt-get install apache2-utils): %v", err)
	}
	line, err := exec.Command(htpasswd, "-Bbn", user, password).Output()
	if err != nil {
		t.Fatalf("registrytest: htpasswd: %v", err)
	}
	p := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(p, bytes.TrimSpace(line), 0o600); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return p
}

// waitReady polls GET /v2/ until the server answers (200 or 401).
func waitReady(host string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("%s exited before serving: %v", Binary, err)
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer on %s within %s", Binary, host, startTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop terminates the server, killing it if it does not exit promptly.
func stop(t testing.TB, cmd *exec.Cmd, done <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Logf("registrytest: %s killed after not stopping on SIGTERM", Binary)
	}
}

// lockedBuffer collects server output from two pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
