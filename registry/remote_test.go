package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// requestLog records the requests an in-memory registry served.
type requestLog struct {
	mu   sync.Mutex
	reqs []string // "METHOD PATH"
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *requestLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = nil
}

// count returns how many requests had the method and a path containing part.
func (l *requestLog) count(method, part string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		m, p, _ := strings.Cut(r, " ")
		if m == method && strings.Contains(p, part) {
			n++
		}
	}
	return n
}

// memRegistry starts go-containerregistry's in-memory registry and returns
// its host and request log.
func memRegistry(t *testing.T) (string, *requestLog) {
	t.Helper()
	log := &requestLog{}
	srv := httptest.NewServer(log.wrap(ggcrregistry.New(ggcrregistry.Logger(nilLogger()))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), log
}

// anon keeps tests independent of the machine's docker config.
var anon = WithKeychain(authn.NewMultiKeychain())

func randomImage(t testing.TB, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(1024, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPushPullRoundTrip(t *testing.T) {
	ctx := context.Background()
	host, _ := memRegistry(t)
	img := randomImage(t, 3)
	ref := host + "/app:1.0"
	if err := Push(ctx, img, ref, anon); err != nil {
		t.Fatal(err)
	}
	pullValid(ctx, t, ref, img, anon)
	d, err := Digest(ctx, ref, anon)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := img.Digest(); d != want {
		t.Errorf("Digest = %s, want %s", d, want)
	}
}

// pullValid pulls ref, checks it with validate.Image (which reads every
// blob) and that its digest is want's.
func pullValid(ctx context.Context, t *testing.T, ref string, want v1.Image, opts ...Option) {
	t.Helper()
	got, err := Image(ctx, ref, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("pulled image is invalid: %v", err)
	}
	assertSameDigest(t, got, want)
}

func assertSameDigest(t *testing.T, got, want v1.Image) {
	t.Helper()
	gd, err := got.Digest()
	if err != nil {
		t.Fatal(err)
	}
	wd, err := want.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if gd != wd {
		t.Errorf("digest = %s, want %s", gd, wd)
	}
}

func TestRepushSkipsExistingBlobs(t *testing.T) {
	ctx := context.Background()
	host, log := memRegistry(t)
	img := randomImage(t, 3)
	if err := Push(ctx, img, host+"/app:1", anon, WithJobs(2)); err != nil {
		t.Fatal(err)
	}
	if n := log.count(http.MethodPost, "/blobs/uploads/"); n != 4 {
		t.Errorf("first push started %d uploads, want 4 (3 layers + config)", n)
	}
	log.reset()
	// Same image under another tag: every blob is already there.
	if err := Push(ctx, img, host+"/app:2", anon); err != nil {
		t.Fatal(err)
	}
	if n := log.count(http.MethodHead, "/blobs/sha256:"); n != 4 {
		t.Errorf("re-push made %d blob HEADs, want 4", n)
	}
	for _, m := range []string{http.MethodPost, http.MethodPatch, http.MethodPut} {
		if n := log.count(m, "/blobs/"); n != 0 {
			t.Errorf("re-push made %d %s blob requests, want 0", n, m)
		}
	}
	if n := log.count(http.MethodPut, "/manifests/2"); n != 1 {
		t.Errorf("re-push made %d manifest PUTs, want 1", n)
	}
}

func TestPushProgress(t *testing.T) {
	host, _ := memRegistry(t)
	img := randomImage(t, 2)
	ch := make(chan v1.Update, 100)
	if err := Push(context.Background(), img, host+"/app:p", anon, WithProgress(ch)); err != nil {
		t.Fatal(err)
	}
	var last v1.Update
	for u := range ch { // closed by the push
		last = u
	}
	if last.Total == 0 || last.Complete != last.Total {
		t.Errorf("last progress update = %+v, want complete", last)
	}
}

func TestImagePlatformFromIndex(t *testing.T) {
	ctx := context.Background()
	host, _ := memRegistry(t)
	amd, arm, armv6 := randomImage(t, 1), randomImage(t, 1), randomImage(t, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: armv6, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	ref := host + "/multi:latest"
	if err := pushIndex(ctx, idx, ref); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		platform v1.Platform
		want     v1.Image
	}{
		{v1.Platform{OS: "linux", Architecture: "amd64"}, amd},
		{v1.Platform{OS: "linux", Architecture: "arm64"}, arm},
		{v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, armv6},
	} {
		t.Run(formatPlatform(tc.platform), func(t *testing.T) {
			got, err := Image(ctx, ref, anon, WithPlatform(tc.platform))
			if err != nil {
				t.Fatal(err)
			}
			assertSameDigest(t, got, tc.want)
		})
	}
	_, err := Image(ctx, ref, anon, WithPlatform(v1.Platform{OS: "linux", Architecture: "s390x"}))
	var re *Error
	if !errors.As(err, &re) || !errors.Is(err, ErrNoMatchingPlatform) {
		t.Fatalf("Image for s390x: err = %v, want *Error wrapping ErrNoMatchingPlatform", err)
	}
	idxDigest, _ := idx.Digest()
	for _, want := range []string{ref, idxDigest.String(), "linux/s390x", "linux/amd64"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestImageNotFound(t *testing.T) {
	host, _ := memRegistry(t)
	ref := host + "/nothing:here"
	_, err := Image(context.Background(), ref, anon)
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want *Error", err, err)
	}
	if re.Temporary {
		t.Errorf("404 marked temporary")
	}
	if re.StatusCode() != http.StatusNotFound {
		t.Errorf("StatusCode = %d, want 404", re.StatusCode())
	}
	if !strings.HasPrefix(err.Error(), "pulling "+ref+": ") {
		t.Errorf("error %q does not start with the operation and reference", err)
	}
}

func TestImageUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Image(ctx, host+"/app", anon)
	var re *Error
	if !errors.As(err, &re) || re.Temporary || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want a non-temporary *Error wrapping context.Canceled", err)
	}
}

func TestIsTemporary(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&transport.Error{StatusCode: http.StatusServiceUnavailable}, true},
		{&transport.Error{StatusCode: http.StatusTooManyRequests}, true},
		{&transport.Error{StatusCode: http.StatusUnauthorized}, false},
		{&transport.Error{StatusCode: http.StatusNotFound}, false},
		{&transport.Error{StatusCode: http.StatusBadRequest, Errors: []transport.Diagnostic{{Code: transport.TooManyRequestsErrorCode}}}, true},
		{context.Canceled, false},
		{context.DeadlineExceeded, true},
		{errors.New("boom"), false},
	} {
		if got := newError("pulling", "x", "", tc.err).(*Error).Temporary; got != tc.want {
			t.Errorf("Temporary for %v = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// corruptingBlobs serves blobs with their first byte flipped.
type corruptingBlobs struct {
	ggcrregistry.BlobHandler
	put ggcrregistry.BlobPutHandler
	st  ggcrregistry.BlobStatHandler
}

func (c corruptingBlobs) Put(ctx context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	return c.put.Put(ctx, repo, h, rc)
}

func (c corruptingBlobs) Stat(ctx context.Context, repo string, h v1.Hash) (int64, error) {
	return c.st.Stat(ctx, repo, h)
}

func (c corruptingBlobs) Get(ctx context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	rc, err := c.BlobHandler.Get(ctx, repo, h)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if len(b) > 0 {
		b[0] ^= 0xff
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func TestPullVerifiesBlobs(t *testing.T) {
	ctx := context.Background()
	mem := ggcrregistry.NewInMemoryBlobHandler()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(nilLogger()), ggcrregistry.WithBlobHandler(corruptingBlobs{
		BlobHandler: mem, put: mem.(ggcrregistry.BlobPutHandler), st: mem.(ggcrregistry.BlobStatHandler),
	})))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img := randomImage(t, 1)
	ref := host + "/app:bad"
	if err := Push(ctx, img, ref, anon); err != nil {
		t.Fatal(err)
	}
	got, err := Image(ctx, ref, anon)
	if err != nil {
		t.Fatal(err) // only the manifest is read here, and it is intact
	}
	layers, err := got.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Compressed()
	if err == nil {
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
	}
	want, _ := layers[0].Digest()
	if err == nil || !strings.Contains(err.Error(), want.String()) {
		t.Errorf("reading a corrupt layer: err = %v, want a digest mismatch naming %s", err, want)
	}
}

func TestInsecureRegistryTLS(t *testing.T) {
	// A registry with a self-signed certificate on a loopback address is
	// reached without verification, as docker does for insecure registries.
	srv := httptest.NewUnstartedServer(ggcrregistry.New(ggcrregistry.Logger(nilLogger())))
	srv.Config.ErrorLog = nilLogger() // the failed plain-HTTP probe logs handshake errors
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	img := randomImage(t, 1)
	if err := Push(context.Background(), img, host+"/app:tls", anon); err != nil {
		t.Fatal(err)
	}
	got, err := Image(context.Background(), host+"/app:tls", anon)
	if err != nil {
		t.Fatal(err)
	}
	assertSameDigest(t, got, img)
}

func TestInsecureHostsRouting(t *testing.T) {
	var secureHosts []string
	o, err := makeOptions(WithInsecureRegistries("reg.example:5000", "10.1.0.0/16"))
	if err != nil {
		t.Fatal(err)
	}
	rt := o.transport.(insecureHosts)
	rt.secure = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		secureHosts = append(secureHosts, r.URL.Host)
		return nil, errors.New("stop")
	})
	for _, u := range []string{"https://reg.example:5000/v2/", "https://10.1.2.3/v2/", "https://reg.example/v2/",
		"https://auth.example/token", "https://10.2.0.1/v2/"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the insecure transport fails fast; only routing matters
		_, _ = rt.RoundTrip(req.WithContext(ctx))
	}
	want := []string{"reg.example", "auth.example", "10.2.0.1"}
	if strings.Join(secureHosts, " ") != strings.Join(want, " ") {
		t.Errorf("verified TLS used for %v, want %v", secureHosts, want)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
