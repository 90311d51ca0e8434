package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/registry/registrytest"
)

// fast keeps retry waits short in tests.
var fast = WithRetry(4, 20*time.Millisecond)

// pullAll pulls ref and reads every layer to the end.
func pullAll(ctx context.Context, t *testing.T, ref string, opts ...Option) (v1.Image, error) {
	t.Helper()
	img, err := Image(ctx, ref, opts...)
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	return img, nil
}

// staticKeychain returns the same credentials for every registry.
type staticKeychain struct{ user, password string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.password}, nil
}

func TestFaultsRecoverThroughRetries(t *testing.T) {
	const user, password = "ci", "fault-Pa55"
	plain := registrytest.Start(t)
	authed := registrytest.Start(t, registrytest.WithBasicAuth(user, password))
	tests := []struct {
		name     string
		upstream string
		fault    registrytest.Fault
		keychain authn.Keychain
	}{
		{"503 on blob uploads", plain, registrytest.Fault{Kind: registrytest.Status503, Path: "/blobs/uploads/", Times: 3}, authn.NewMultiKeychain()},
		{"503 on manifest", plain, registrytest.Fault{Kind: registrytest.Status503, Path: "/manifests/", Times: 2}, authn.NewMultiKeychain()},
		{"dropped connection mid-blob", plain, registrytest.Fault{Kind: registrytest.DropMidBody, Method: http.MethodGet, Path: "/blobs/sha256:", Times: 2}, authn.NewMultiKeychain()},
		{"dropped connection mid-upload", plain, registrytest.Fault{Kind: registrytest.DropMidUpload, Times: 3}, authn.NewMultiKeychain()},
		{"401 once for an authed request", authed, registrytest.Fault{Kind: registrytest.Unauthorized, Path: "/blobs/", Times: 1}, staticKeychain{user, password}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p := registrytest.FaultProxy(t, tt.upstream, tt.fault)
			img := randomImage(t, 2)
			ref := p.Host + "/faults/app:" + strings.ReplaceAll(strings.ReplaceAll(tt.name, " ", "-"), "/", "")[:10]
			opts := []Option{fast, WithKeychain(tt.keychain)}
			if err := Push(ctx, img, ref, opts...); err != nil {
				t.Fatalf("push: %v", err)
			}
			got, err := pullAll(ctx, t, ref, opts...)
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			assertSameDigest(t, got, img)
			if n := p.Injected(tt.fault.Kind); n == 0 {
				t.Errorf("fault %s was never injected; requests: %v", tt.fault.Kind, p.Requests())
			}
		})
	}
}

// tagList returns the tags the registry at host lists for repo.
func tagList(t *testing.T, host, repo string) []string {
	t.Helper()
	resp, err := http.Get("http://" + host + "/v2/" + repo + "/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tl struct{ Tags []string }
	_ = json.NewDecoder(resp.Body).Decode(&tl)
	return tl.Tags
}

func TestPersistent500FailsInBoundedTimeWithoutTag(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Start(t)
	p := registrytest.FaultProxy(t, host, registrytest.Fault{Kind: registrytest.Status500, Method: http.MethodPatch, Persistent: true},
		registrytest.Fault{Kind: registrytest.Status500, Method: http.MethodPut, Path: "/blobs/", Persistent: true})
	img := randomImage(t, 3)
	start := time.Now()
	err := Push(ctx, img, p.Host+"/broken/app:v1", WithRetry(3, 50*time.Millisecond))
	took := time.Since(start)
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("push through a persistent 500: err = %v, want *Error", err)
	}
	if re.StatusCode() != http.StatusInternalServerError || !re.Temporary || !strings.Contains(err.Error(), "/broken/app:v1") {
		t.Errorf("err = %v (status %d, temporary %v), want a temporary 500 naming the reference", err, re.StatusCode(), re.Temporary)
	}
	if took > 10*time.Second {
		t.Errorf("push took %s, want a bounded failure", took)
	}
	if tags := tagList(t, host, "broken/app"); len(tags) != 0 {
		t.Errorf("failed push left tags %v", tags)
	}
	for _, r := range p.Requests() {
		if strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/manifests/") {
			t.Errorf("manifest was PUT although blobs failed: %s", r)
		}
	}
	t.Logf("failed after %s, %d injected 500s: %v", took, p.Injected(registrytest.Status500), err)
}

func TestNotFoundIsNotRetried(t *testing.T) {
	host := registrytest.Start(t)
	p := registrytest.FaultProxy(t, host)
	start := time.Now()
	_, err := Image(context.Background(), p.Host+"/missing/app:1", WithRetry(4, time.Second))
	var re *Error
	if !errors.As(err, &re) || re.StatusCode() != http.StatusNotFound || re.Temporary {
		t.Fatalf("err = %v, want a non-temporary 404 *Error", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("a 404 took %s: it was retried", d)
	}
}

func TestWrongBytesRejected(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Start(t)
	img := randomImage(t, 1)
	if err := Push(ctx, img, host+"/wrong/app:1"); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	p := registrytest.FaultProxy(t, host, registrytest.Fault{Kind: registrytest.WrongBytes, Method: http.MethodGet, Path: d.String(), Persistent: true})
	_, err := pullAll(ctx, t, p.Host+"/wrong/app:1", fast)
	if err == nil || !strings.Contains(err.Error(), d.String()) {
		t.Fatalf("pull of wrong bytes: err = %v, want a mismatch naming %s", err, d)
	}
}

// events collects blob events.
type events struct {
	mu sync.Mutex
	by map[BlobState][]v1.Hash
}

func (e *events) add(ev BlobEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.by == nil {
		e.by = map[BlobState][]v1.Hash{}
	}
	e.by[ev.State] = append(e.by[ev.State], ev.Digest)
}

func (e *events) has(s BlobState, h v1.Hash) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Contains(e.by[s], h)
}

func TestPushBlobProgressAndMount(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Start(t)
	p := registrytest.FaultProxy(t, host)
	img := randomImage(t, 3)
	layers, _ := img.Layers()
	var first, again, mounted events
	if err := Push(ctx, img, p.Host+"/a/app:1", WithBlobProgress(first.add)); err != nil {
		t.Fatal(err)
	}
	if err := Push(ctx, img, p.Host+"/a/app:2", WithBlobProgress(again.add)); err != nil {
		t.Fatal(err)
	}
	if err := Push(ctx, img, p.Host+"/b/app:1", WithBlobProgress(mounted.add), WithMountFrom(p.Host+"/a/app:1")); err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, _ := l.Digest()
		if !first.has(BlobUploading, d) || !first.has(BlobPushed, d) {
			t.Errorf("first push: %s not reported uploading and pushed: %v", d, first.by)
		}
		if !again.has(BlobExists, d) || again.has(BlobUploading, d) {
			t.Errorf("re-push: %s not reported existing only: %v", d, again.by)
		}
		if !mounted.has(BlobMounted, d) || mounted.has(BlobUploading, d) {
			t.Errorf("push to another repository: %s not mounted: %v", d, mounted.by)
		}
	}
}
