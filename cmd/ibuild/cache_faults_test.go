package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibuild/ibuild/registry/registrytest"
)

// closedPort returns a loopback host:port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	return host
}

// TestCacheFromUnavailable: a --cache-from that cannot be read (nothing
// listening, a corrupt manifest, access denied) is a warning, as in
// BuildKit: the build succeeds and its steps run.
func TestCacheFromUnavailable(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "x\n"})

	host := registrytest.Start(t)
	cacheRef := host + "/cache/app:c"
	buildMeta(t, dir, "--root", t.TempDir(), "--cache-to", "type=registry,ref="+cacheRef)
	corrupt := registrytest.FaultProxy(t, host, registrytest.Fault{Kind: registrytest.WrongBytes, Method: http.MethodGet, Path: "/manifests/", Persistent: true})
	authed := registrytest.Start(t, registrytest.WithBasicAuth("u", "p"))

	badLocal := t.TempDir()
	writeTree(t, badLocal, map[string]string{"index.json": "{not json", "oci-layout": `{"imageLayoutVersion":"1.0.0"}`})

	tests := []struct{ name, ref, want string }{
		{"unreachable", closedPort(t) + "/cache/app:c", "connection refused"},
		{"corrupt manifest", corrupt.Host + "/cache/app:c", ""},
		{"unauthorized", authed + "/cache/app:c", ""},
		{"corrupt local", "local:" + badLocal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := "type=registry,ref=" + tt.ref
			if d, ok := strings.CutPrefix(tt.ref, "local:"); ok {
				from = "type=local,src=" + d
			}
			md, r := buildMeta(t, dir, "--root", t.TempDir(), "--cache-from", from)
			want := "WARNING: importing cache manifest from " + from + ": "
			if strings.Count(r.stderr, want) != 1 || !strings.Contains(r.stderr, "building without this cache") || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr lacks one warning %q (%q):\n%s", want, tt.want, r.stderr)
			}
			for _, s := range md.Steps {
				if strings.Contains(s.Name, "COPY") && s.Cached {
					t.Errorf("step %q cached from an unreadable cache", s.Name)
				}
			}
		})
	}
}

// TestCacheToFailure: a --cache-to that cannot be written fails the build
// after the image and its outputs are written; with ignore-error=true it is
// a warning.
func TestCacheToFailure(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "x\n"})
	ref := closedPort(t) + "/cache/app:c"

	iid := filepath.Join(t.TempDir(), "iid")
	r := run(t, "", nil, "--root", t.TempDir(), "--progress", "plain", "--iidfile", iid, "--cache-to", "type=registry,ref="+ref, dir)
	if r.exitCode() != 1 || !strings.Contains(r.stderr, "exporting cache to "+ref) || !strings.Contains(r.stderr, "ignore-error=true") {
		t.Errorf("failing --cache-to: exit %d, want 1 and a clear error:\n%s", r.exitCode(), r.stderr)
	}
	if b, err := os.ReadFile(iid); err != nil || !strings.HasPrefix(string(b), "sha256:") {
		t.Errorf("--iidfile after a failed cache export = %q, %v; want the built image's ID", b, err)
	}

	r = run(t, "", nil, "--root", t.TempDir(), "--progress", "plain", "--cache-to", "type=registry,ref="+ref+",ignore-error=true", dir)
	if r.err != nil || !strings.Contains(r.stderr, "WARNING: exporting cache to "+ref+" failed (ignore-error=true)") {
		t.Errorf("--cache-to ignore-error=true: %v, want a warning and success:\n%s", r.err, r.stderr)
	}
	r = run(t, "", nil, "--root", t.TempDir(), "--cache-to", "type=registry,ref="+ref+",ignore-error=maybe", dir)
	if r.exitCode() != 1 || !strings.Contains(r.stderr, "ignore-error wants true or false") {
		t.Errorf("bad ignore-error: exit %d\n%s", r.exitCode(), r.stderr)
	}
}
