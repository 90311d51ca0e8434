package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// hostileRegistry serves absurd manifests: /v2/big/ a manifest of 5 MiB
// with a Content-Length, /v2/stream/ the same streamed without one,
// /v2/cfg/ a valid manifest declaring a 1 GiB config. blobs counts blob
// requests.
func hostileRegistry(t *testing.T, blobs *atomic.Int32) string {
	t.Helper()
	cfg := v1.Descriptor{MediaType: types.OCIConfigJSON, Size: 1 << 30,
		Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}
	small, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfg})
	big := append([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"x":"`),
		[]byte(strings.Repeat("x", 5<<20))...)
	big = append(big, `"}}`...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.Contains(r.URL.Path, "/blobs/"):
			blobs.Add(1)
			http.NotFound(w, r)
		case strings.HasPrefix(r.URL.Path, "/v2/big/manifests/"):
			w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big)
		case strings.HasPrefix(r.URL.Path, "/v2/stream/manifests/"):
			w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
			for i := 0; i < len(big); i += 64 << 10 {
				w.Write(big[i:min(i+64<<10, len(big))])
				w.(http.Flusher).Flush()
			}
		case strings.HasPrefix(r.URL.Path, "/v2/cfg/manifests/"):
			w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
			w.Write(small)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestPullRejectsAbsurdMetadata(t *testing.T) {
	var blobs atomic.Int32
	host := hostileRegistry(t, &blobs)
	for _, repo := range []string{"big", "stream", "cfg"} {
		t.Run(repo, func(t *testing.T) {
			ref := host + "/" + repo + ":1"
			_, err := Image(context.Background(), ref, fast)
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), ref) {
				t.Fatalf("err = %v, want ErrTooLarge naming %s", err, ref)
			}
			t.Logf("error: %v", err)
		})
	}
	if n := blobs.Load(); n != 0 {
		t.Errorf("%d blob requests; the config must not be fetched", n)
	}
	t.Run("raised limit", func(t *testing.T) {
		_, err := Image(context.Background(), host+"/big:1", fast, WithMaxManifestSize(8<<20))
		if errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v with a raised limit", err)
		}
	})
}

func TestReadOCILayoutRejectsAbsurdMetadata(t *testing.T) {
	ctx := context.Background()
	t.Run("index.json", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
		os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[]}`+strings.Repeat(" ", 5<<20)), 0o644)
		if _, err := ReadOCILayout(ctx, dir, ""); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), dir) {
			t.Fatalf("err = %v, want ErrTooLarge naming %s", err, dir)
		}
	})
	t.Run("config", func(t *testing.T) {
		dir := t.TempDir()
		if err := WriteOCILayout(ctx, dir, randomImage(t, 1), []string{"1"}); err != nil {
			t.Fatal(err)
		}
		_, err := ReadOCILayout(ctx, dir, "1", WithMaxConfigSize(10))
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "config sha256:") {
			t.Fatalf("err = %v, want ErrTooLarge naming the config", err)
		}
		if _, err := ReadOCILayout(ctx, dir, "1"); err != nil {
			t.Fatalf("default limits: %v", err)
		}
	})
}
