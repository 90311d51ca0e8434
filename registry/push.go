package registry

import (
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// BlobState is what happened to one blob during a [Push].
type BlobState string

// The states a [BlobEvent] reports.
const (
	// BlobExists: the registry already had the blob (one HEAD, no upload).
	BlobExists BlobState = "exists"
	// BlobMounted: the registry mounted it from another repository.
	BlobMounted BlobState = "mounted"
	// BlobUploading: an upload started (again, on a retry).
	BlobUploading BlobState = "uploading"
	// BlobPushed: the blob's bytes were sent completely.
	BlobPushed BlobState = "pushed"
)

// BlobEvent reports progress of one blob during a [Push] (see
// [WithBlobProgress]).
type BlobEvent struct {
	Digest v1.Hash
	Size   int64
	State  BlobState
	// Attempt counts uploads of this blob, from 1; above 1 is a retry.
	Attempt int
}

// WithBlobProgress makes [Push] call fn for every blob it skips, mounts,
// starts or finishes uploading. fn is called from several goroutines, one
// call at a time.
func WithBlobProgress(fn func(BlobEvent)) Option {
	return func(o *options) { o.blobProgress = fn }
}

// WithMountFrom names images whose repositories may hold the pushed image's
// blobs: when one is on the same registry as the destination, [Push] asks
// the registry to mount a blob from there (a cross-repository mount) instead
// of uploading it. The registry falls back to an upload if it cannot mount.
func WithMountFrom(refs ...string) Option {
	return func(o *options) { o.mountFrom = append(o.mountFrom, refs...) }
}

// pushImage wraps img's layers so that uploads are reported and mountable
// from the first WithMountFrom repository on dest's registry.
func (o *options) pushImage(img v1.Image, dest name.Reference) (v1.Image, *blobReporter) {
	var mount name.Reference
	for _, s := range o.mountFrom {
		r, err := o.parse(s)
		if err == nil && r.Context().RegistryStr() == dest.Context().RegistryStr() &&
			r.Context().RepositoryStr() != dest.Context().RepositoryStr() {
			mount = r
			break
		}
	}
	rep := &blobReporter{fn: o.blobProgress, attempts: map[v1.Hash]int{}}
	if mount == nil && o.blobProgress == nil {
		return img, rep
	}
	return &pushedImage{Image: img, mount: mount, rep: rep}, rep
}

// pushedImage is an image whose layers report their uploads.
type pushedImage struct {
	v1.Image
	mount name.Reference
	rep   *blobReporter
}

// Layers implements [v1.Image].
func (i *pushedImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for n, l := range ls {
		out[n] = i.wrap(l)
	}
	return out, nil
}

// LayerByDigest implements [v1.Image].
func (i *pushedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return i.wrap(l), nil
}

func (i *pushedImage) wrap(l v1.Layer) v1.Layer {
	var out v1.Layer = &reportedLayer{Layer: l, rep: i.rep}
	if i.mount != nil {
		out = &remote.MountableLayer{Layer: out, Reference: i.mount}
	}
	return out
}

// reportedLayer reports when its blob is read for upload.
type reportedLayer struct {
	v1.Layer
	rep *blobReporter
}

// Compressed implements [v1.Layer]: each call is one upload attempt.
func (l *reportedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	h, _ := l.Digest()
	size, _ := l.Size()
	l.rep.opened(h, size)
	return &countingReader{rc: rc, done: func() { l.rep.send(BlobEvent{Digest: h, Size: size, State: BlobPushed}) }, size: size}, nil
}

// countingReader calls done once when size bytes were read.
type countingReader struct {
	rc   io.ReadCloser
	n    int64
	size int64
	done func()
	once sync.Once
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n += int64(n)
	if c.n == c.size && c.size > 0 {
		c.once.Do(c.done)
	}
	return n, err
}

func (c *countingReader) Close() error { return c.rc.Close() }

// blobReporter serialises blob events and counts attempts.
type blobReporter struct {
	fn       func(BlobEvent)
	mu       sync.Mutex
	attempts map[v1.Hash]int
}

func (r *blobReporter) opened(h v1.Hash, size int64) {
	r.mu.Lock()
	r.attempts[h]++
	n := r.attempts[h]
	r.mu.Unlock()
	r.send(BlobEvent{Digest: h, Size: size, State: BlobUploading, Attempt: n})
}

func (r *blobReporter) send(e BlobEvent) {
	if r == nil || r.fn == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Attempt == 0 {
		e.Attempt = r.attempts[e.Digest]
	}
	r.fn(e)
}

// observe is a transport that reports blobs the registry already has (HEAD
// 200) or mounted (POST ?mount= answered 201).
type observe struct {
	inner http.RoundTripper
	rep   *blobReporter
}

// RoundTrip implements [http.RoundTripper].
func (t observe) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(r)
	if err != nil || t.rep.fn == nil {
		return resp, err
	}
	switch {
	case r.Method == http.MethodHead && resp.StatusCode == http.StatusOK && strings.Contains(r.URL.Path, "/blobs/sha256:"):
		if h, err := v1.NewHash(r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]); err == nil {
			t.rep.send(BlobEvent{Digest: h, Size: resp.ContentLength, State: BlobExists})
		}
	case r.Method == http.MethodPost && resp.StatusCode == http.StatusCreated && r.URL.Query().Get("mount") != "":
		if h, err := v1.NewHash(r.URL.Query().Get("mount")); err == nil {
			t.rep.send(BlobEvent{Digest: h, State: BlobMounted})
		}
	}
	return resp, nil
}
