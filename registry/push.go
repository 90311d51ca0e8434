package registry

import (
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
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
	// BlobProgress: the registry holds the first Sent bytes of an upload
	// (reported after each chunk).
	BlobProgress BlobState = "progress"
)

// BlobEvent reports progress of one blob during a [Push] (see
// [WithBlobProgress]).
type BlobEvent struct {
	Digest v1.Hash
	Size   int64
	State  BlobState
	// Attempt counts uploads of this blob, from 1; above 1 is a retry.
	Attempt int
	// Sent is how many bytes the registry holds (BlobProgress).
	Sent int64
}

// WithBlobProgress makes [Push] call fn for every blob it skips, mounts,
// starts or finishes uploading. fn is called from several goroutines, one
// call at a time.
func WithBlobProgress(fn func(BlobEvent)) Option {
	return func(o *options) error { o.blobProgress = fn; return nil }
}

// WithMountFrom names images whose repositories may hold the pushed image's
// blobs: when one is on the same registry as the destination, [Push] asks
// the registry to mount a blob from there (a cross-repository mount) instead
// of uploading it. The registry falls back to an upload if it cannot mount.
func WithMountFrom(refs ...string) Option {
	return func(o *options) error { o.mountFrom = append(o.mountFrom, refs...); return nil }
}

// mountSource returns the first [WithMountFrom] repository on dest's
// registry other than dest's own, or nil.
func (o *options) mountSource(dest name.Reference) name.Reference {
	for _, s := range o.mountFrom {
		r, err := o.parse(s)
		if err == nil && r.Context().RegistryStr() == dest.Context().RegistryStr() &&
			r.Context().RepositoryStr() != dest.Context().RepositoryStr() {
			return r
		}
	}
	return nil
}

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

// progress sends byte counts of a [Push] to a [WithProgress] channel.
type progress struct {
	ch          chan<- v1.Update
	mu          sync.Mutex
	total, done int64
}

// add counts n more bytes present in the registry (negative when an upload
// starts over).
func (p *progress) add(n int64) {
	if p.ch == nil || n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.ch <- v1.Update{Total: p.total, Complete: p.done}
}

// close sends a last update carrying err, if any, and closes the channel.
func (p *progress) close(err error) {
	if p.ch == nil {
		return
	}
	if err != nil {
		p.mu.Lock()
		p.ch <- v1.Update{Total: p.total, Complete: p.done, Error: err}
		p.mu.Unlock()
	}
	close(p.ch)
}
