package main

import (
	"archive/tar"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestLoad: --load sends a docker archive of the image, with its tags, to
// the daemon at DOCKER_HOST through POST /images/load (here a stand-in
// daemon on a unix socket that reads the archive as dockerd would), and
// without a daemon fails before building with a clear error.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "x"})

	r := run(t, "", []string{"DOCKER_HOST=unix://" + filepath.Join(t.TempDir(), "docker.sock")}, "--root", t.TempDir(), "--load", "-t", "app:1", dir)
	if r.exitCode() != 1 || !strings.Contains(r.stderr, "--load: no docker daemon at unix://") || strings.Contains(r.stderr, "#1 ") {
		t.Errorf("--load without a daemon: exit %d, want a clear error before the build:\n%s", r.exitCode(), r.stderr)
	}
	r = run(t, "", []string{"DOCKER_HOST=tcp://127.0.0.1:2375"}, "--root", t.TempDir(), "--load", dir)
	if r.exitCode() != 1 || !strings.Contains(r.stderr, "only a unix:// socket") {
		t.Errorf("--load with a tcp DOCKER_HOST: exit %d\n%s", r.exitCode(), r.stderr)
	}

	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var gotTags []string
	var gotFiles []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/images/load") || req.Header.Get("Content-Type") != "application/x-tar" {
			http.Error(w, "unexpected "+req.Method+" "+req.URL.Path, http.StatusBadRequest)
			return
		}
		tr := tar.NewReader(req.Body)
		mu.Lock()
		defer mu.Unlock()
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			gotFiles = append(gotFiles, h.Name)
			if h.Name == "manifest.json" {
				var m []struct{ RepoTags []string }
				b, _ := io.ReadAll(tr)
				if json.Unmarshal(b, &m) == nil && len(m) == 1 {
					gotTags = m[0].RepoTags
				}
			}
		}
		io.WriteString(w, `{"stream":"Loaded image: app:1\n"}`+"\n")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	r = run(t, "", []string{"DOCKER_HOST=unix://" + sock}, "--root", t.TempDir(), "--load", "-t", "app:1", dir)
	if r.err != nil || !strings.Contains(r.stderr, "Loaded image: app:1") {
		t.Fatalf("--load: %v\n%s", r.err, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gotTags) != 1 || !strings.HasSuffix(gotTags[0], "app:1") {
		t.Errorf("the daemon got tags %v (files %v), want app:1", gotTags, gotFiles)
	}
}
