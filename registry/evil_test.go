package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// evilRegistry serves one image, repo "x" tag "latest", whose manifest,
// config and layer a test can replace with a handler of its own.
type evilRegistry struct {
	srv      *httptest.Server
	requests atomic.Int64
	manifest []byte
	config   []byte
	layerDig string
	// layer, when set, answers the layer blob GET.
	layer http.HandlerFunc
	// manifestHook, when set, answers the manifest GET.
	manifestHook http.HandlerFunc
}

func sha(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }

// newEvilRegistry serves a manifest whose layer descriptor has size
// layerSize (omitted when < -1000) and digest layerDig.
func newEvilRegistry(t *testing.T, layerSize int64) *evilRegistry {
	t.Helper()
	h := &evilRegistry{config: []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("0", 64) + `"]}}`)}
	h.layerDig = "sha256:" + strings.Repeat("a", 64)
	layer := map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": h.layerDig}
	if layerSize > -1000 {
		layer["size"] = layerSize
	}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(h.config), "size": len(h.config)},
		"layers":        []any{layer},
	}
	h.manifest, _ = json.Marshal(m)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(200)
		case strings.HasPrefix(r.URL.Path, "/v2/x/manifests/"):
			if h.manifestHook != nil {
				h.manifestHook(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", sha(h.manifest))
			w.Write(h.manifest)
		case r.URL.Path == "/v2/x/blobs/"+sha(h.config):
			w.Write(h.config)
		case r.URL.Path == "/v2/x/blobs/"+h.layerDig && h.layer != nil:
			h.layer(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *evilRegistry) ref() string {
	return strings.TrimPrefix(h.srv.URL, "http://") + "/x:latest"
}

// pullWithin pulls the image and reads its layer, failing the test if
// that takes longer than d.
func pullWithin(t *testing.T, d time.Duration, ref string, opts ...Option) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := pullAll(ctx, t, ref, append([]Option{fast}, opts...)...)
	if took := time.Since(start); took > d {
		t.Fatalf("pull took %v (> %v); err %v", took, d, err)
	}
	return err
}

func TestRedirectLoopBounded(t *testing.T) {
	for _, what := range []string{"manifest", "blob"} {
		t.Run(what, func(t *testing.T) {
			h := newEvilRegistry(t, 100)
			loop := func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, r.URL.Path+"?r="+fmt.Sprint(h.requests.Load()), http.StatusTemporaryRedirect)
			}
			if what == "manifest" {
				h.manifestHook = loop
			} else {
				h.layer = loop
			}
			err := pullWithin(t, 10*time.Second, h.ref())
			t.Logf("%d requests; error: %v", h.requests.Load(), err)
			if err == nil || !strings.Contains(err.Error(), "redirect") {
				t.Fatalf("pull through a redirect loop: %v, want an error about redirects", err)
			}
			if n := h.requests.Load(); n > 100 {
				t.Errorf("%d requests for a redirect loop, want at most a few tens", n)
			}
		})
	}
}

func TestBadLayerSizesRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
	}{{"size -1", -1}, {"no size", -2000}, {"size 0", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newEvilRegistry(t, tc.size)
			var served atomic.Int64
			h.layer = func(w http.ResponseWriter, r *http.Request) {
				// An endless body.
				buf := make([]byte, 64<<10)
				for r.Context().Err() == nil {
					n, err := w.Write(buf)
					served.Add(int64(n))
					if err != nil {
						return
					}
				}
			}
			err := pullWithin(t, 10*time.Second, h.ref())
			t.Logf("error: %v (%d layer bytes served)", err, served.Load())
			if err == nil || !strings.Contains(err.Error(), "invalid size") || !strings.Contains(err.Error(), h.layerDig) {
				t.Fatalf("pull of a layer with %s: %v, want an invalid size error naming the layer", tc.name, err)
			}
			if served.Load() != 0 {
				t.Errorf("the layer was fetched (%d bytes) despite its size", served.Load())
			}
		})
	}
}

func TestStalledBlobTimesOut(t *testing.T) {
	h := newEvilRegistry(t, 1000)
	stop := make(chan struct{})
	defer close(stop)
	h.layer = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		for {
			w.Write([]byte{0x1f})
			w.(http.Flusher).Flush()
			select {
			case <-time.After(3 * time.Second):
			case <-stop:
				return
			case <-r.Context().Done():
				return
			}
		}
	}
	start := time.Now()
	err := pullWithin(t, 20*time.Second, h.ref(), WithTimeouts(500*time.Millisecond, 0), WithRetry(2, 10*time.Millisecond))
	t.Logf("after %v: %v", time.Since(start), err)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), h.layerDig) {
		t.Fatalf("stalled blob: %v, want ErrTimeout naming the blob", err)
	}

	t.Run("total", func(t *testing.T) {
		start := time.Now()
		err := pullWithin(t, 20*time.Second, h.ref(), WithTimeouts(-1, time.Second), WithRetry(1, 0))
		t.Logf("after %v: %v", time.Since(start), err)
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "longer than") {
			t.Fatalf("slow blob: %v, want ErrTimeout for the total time", err)
		}
	})
}
