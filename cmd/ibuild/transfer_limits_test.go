package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// evilServer serves ADD <url> downloads and a registry whose only image
// has a layer of size -1 with an endless body.
func evilServer(t *testing.T) *httptest.Server {
	t.Helper()
	stop := make(chan struct{})
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("0", 64) + `"]}}`)
	sum := sha256.Sum256(cfg)
	cfgDigest := "sha256:" + hex.EncodeToString(sum[:])
	layerDigest := "sha256:" + strings.Repeat("b", 64)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfgDigest, "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layerDigest, "size": -1}},
	})
	endless := func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/big":
			w.Header().Set("Content-Length", fmt.Sprint(2<<20))
			w.Write(make([]byte, 2<<20))
		case p == "/endless":
			endless(w, r)
		case p == "/slow":
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			for {
				w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				select {
				case <-time.After(3 * time.Second):
				case <-r.Context().Done():
					return
				case <-stop:
					return
				}
			}
		case p == "/loop":
			http.Redirect(w, r, "/loop?n="+fmt.Sprint(time.Now().UnixNano()), http.StatusTemporaryRedirect)
		case p == "/v2/":
			w.WriteHeader(200)
		case strings.HasPrefix(p, "/v2/evil/manifests/"):
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Write(manifest)
		case p == "/v2/evil/blobs/"+cfgDigest:
			w.Write(cfg)
		case p == "/v2/evil/blobs/"+layerDigest:
			endless(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	return srv
}

// TestTransferLimits: ADD <url> of a file above --max-download-size (declared
// or streamed without a length), of a server that stalls past
// --network-idle-timeout or runs past --transfer-timeout, or that redirects
// forever; and a base image whose layer has size -1 and an endless body.
// Each build ends promptly with an error naming the URL or blob, and
// leaves nothing in the store.
func TestTransferLimits(t *testing.T) {
	root := busyboxRoot(t)
	srv := evilServer(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	before := storeListing(t, root)
	for _, tc := range []struct {
		name, dockerfile string
		flags            []string
		want             []string
	}{
		{"declared size", "FROM busybox\nADD " + srv.URL + "/big /f\n", []string{"--max-download-size", "1MiB"},
			[]string{srv.URL + "/big", "exceeds the download size limit", "--max-download-size"}},
		{"endless body", "FROM busybox\nADD " + srv.URL + "/endless /f\n", []string{"--max-download-size", "1MiB"},
			[]string{srv.URL + "/endless", "exceeds the download size limit"}},
		{"stalled", "FROM busybox\nADD " + srv.URL + "/slow /f\n", []string{"--network-idle-timeout", "500ms"},
			[]string{srv.URL + "/slow", "no data", "timed out"}},
		{"slow", "FROM busybox\nADD " + srv.URL + "/slow /f\n", []string{"--network-idle-timeout", "0", "--transfer-timeout", "1s"},
			[]string{srv.URL + "/slow", "took longer than 1s"}},
		{"redirect loop", "FROM busybox\nADD " + srv.URL + "/loop /f\n", nil,
			[]string{srv.URL + "/loop", "stopped after 10 redirects"}},
		{"layer size -1", "FROM " + host + "/evil\nRUN true\n", nil,
			[]string{host + "/evil", "sha256:" + strings.Repeat("b", 64), "invalid size -1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": tc.dockerfile})
			start := time.Now()
			r := runFor(t, 30*time.Second, append(append([]string{"--root", root, "--progress", "plain"}, tc.flags...), dir)...)
			took := time.Since(start)
			if r.err == nil {
				t.Fatalf("build succeeded:\n%s", r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error does not mention %q:\n%s", w, r.stderr)
				}
			}
			if took > 15*time.Second {
				t.Errorf("took %v to fail", took)
			}
			if after := storeListing(t, root); !reflect.DeepEqual(after, before) {
				t.Errorf("the store changed:\nbefore %v\nafter  %v", before, after)
			}
			if ents, _ := os.ReadDir(filepath.Join(root, "mounts")); len(ents) > 0 {
				t.Errorf("left in mounts/: %v", ents)
			}
		})
	}
}
