package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestRegistryOptionsEveryCommand: every command that reads a registry
// reference takes its options from the global flags (one composition
// root): it sends ibuild's User-Agent and honours --max-manifest-size. The
// registry serves a 4 KiB manifest, above the 1 KiB limit given.
func TestRegistryOptionsEveryCommand(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"pad":"` + strings.Repeat("x", 4096) + `"}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		if strings.Contains(r.URL.Path, "/manifests/") {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write([]byte(manifest))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/app:1"
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + ref + "\n"})
	for _, args := range [][]string{
		{"pull", ref},
		{"inspect", ref},
		{"compare", ref, ref},
		{dir},
		{"compare", "--base", ref, dir},
	} {
		t.Run(args[0], func(t *testing.T) {
			mu.Lock()
			agents = nil
			mu.Unlock()
			r := run(t, "", nil, append([]string{"--root", t.TempDir(), "--max-manifest-size", "1KB"}, args...)...)
			if r.err == nil || !strings.Contains(r.stderr, "exceeds the size limit") {
				t.Errorf("want the manifest size limit to refuse it, got err=%v\n%s", r.err, r.stderr)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(agents) == 0 {
				t.Fatal("no request reached the registry")
			}
			for _, a := range agents {
				if !strings.HasPrefix(a, "ibuild/") {
					t.Errorf("User-Agent %q, want ibuild/VERSION first", a)
				}
			}
		})
	}
}
