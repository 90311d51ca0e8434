package cachesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/registry"
)

// layoutTag names the cache artifact inside a local OCI layout.
const layoutTag = "ibuild-cache"

// source is the lookup side shared by Registry and Local: the artifact is
// opened and its index read once, on the first lookup.
type source struct {
	open func(ctx context.Context) (v1.Image, error) // nil image: no cache yet

	mu     sync.Mutex
	loaded bool
	err    error
	img    v1.Image
	idx    *Index
}

// load opens the artifact once; the outcome, error included, is kept.
func (s *source) load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return s.err
	}
	img, err := s.open(ctx)
	if err == nil && img != nil {
		s.img = img
		s.idx, err = readIndex(ctx, img)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // not memoised: a later call with a live context may succeed
	}
	s.loaded, s.err = true, err
	return err
}

// getStep looks key up in the index.
func (s *source) getStep(ctx context.Context, key v1.Hash) (*cache.StepRecord, bool, error) {
	if err := s.load(ctx); err != nil {
		return nil, false, err
	}
	if s.idx == nil {
		return nil, false, nil
	}
	rec, ok := s.idx.Steps[key.String()]
	if !ok {
		return nil, false, nil
	}
	return &rec, true, nil
}

// openLayer opens the blob of a layer the artifact lists. The artifact is
// opened again with ctx: a registry image reads its blobs with the context
// it was fetched with, and the one the index was loaded with (a stage's,
// when stages are built concurrently) may be over by the time the build
// fetches the layers of its image.
func (s *source) openLayer(ctx context.Context, info layer.Info) (io.ReadCloser, error) {
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if s.img == nil {
		return nil, fmt.Errorf("layer %s: %w", info.Digest, cache.ErrNotFound)
	}
	img, err := s.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", info.Digest, err)
	}
	if img == nil {
		return nil, fmt.Errorf("layer %s: %w", info.Digest, cache.ErrNotFound)
	}
	l, err := img.LayerByDigest(info.Digest)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", info.Digest, err)
	}
	return l.Compressed()
}

// Registry is a step cache stored in a registry as one artifact
// (type=registry,ref=REF). It is both a [build.StepSource] and a
// [build.StepSink].
type Registry struct {
	ref  string
	mode Mode
	opts []registry.Option
	src  source
}

var (
	_ build.StepSource = (*Registry)(nil)
	_ build.StepSink   = (*Registry)(nil)
)

// NewRegistry returns the cache at ref. Nothing is fetched until the first
// GetStep; mode applies to Export. opts configure registry access.
func NewRegistry(ref string, mode Mode, opts ...registry.Option) *Registry {
	r := &Registry{ref: ref, mode: mode, opts: opts}
	r.src.open = r.open
	return r
}

// open fetches the artifact's manifest; a missing tag or repository is an
// empty cache.
func (r *Registry) open(ctx context.Context) (v1.Image, error) {
	img, err := registry.Image(ctx, r.ref, r.opts...)
	var re *registry.Error
	if errors.As(err, &re) && re.StatusCode() == http.StatusNotFound {
		return nil, nil
	}
	return img, err
}

// Name implements [build.StepSource].
func (r *Registry) Name() string { return "type=registry,ref=" + r.ref }

// GetStep implements [build.StepSource]. The first call fetches the
// artifact's manifest and index; its error is returned by every call.
func (r *Registry) GetStep(ctx context.Context, key v1.Hash) (*cache.StepRecord, bool, error) {
	return r.src.getStep(ctx, key)
}

// OpenLayer implements [build.StepSource]. The blob is fetched from the
// cache's repository; a read that does not match info.Digest fails.
//
// The artifact was opened with the first lookup's context, which may have
// ended since (the build's stages are over when the final image's layers
// are fetched): the blob is read through the artifact's manifest, by
// digest, opened again with this call's context.
func (r *Registry) OpenLayer(ctx context.Context, info layer.Info) (io.ReadCloser, error) {
	if err := r.src.load(ctx); err != nil {
		return nil, err
	}
	if r.src.img == nil {
		return nil, fmt.Errorf("layer %s: %w", info.Digest, cache.ErrNotFound)
	}
	dig, err := r.src.img.Digest()
	if err != nil {
		return nil, err
	}
	ref, err := registry.ParseReference(r.ref, r.opts...)
	if err != nil {
		return nil, err
	}
	img, err := registry.Image(ctx, ref.Context().Digest(dig.String()).String(), r.opts...)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", info.Digest, err)
	}
	l, err := img.LayerByDigest(info.Digest)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", info.Digest, err)
	}
	return l.Compressed()
}

// Export implements [build.StepSink]: it pushes the artifact to the
// reference, replacing the cache there. Layers the registry has are not
// uploaded again.
func (r *Registry) Export(ctx context.Context, store *cache.Store, steps []build.ExportedStep) error {
	img, _, err := newArtifact(store, steps, r.mode)
	if err != nil {
		return fmt.Errorf("exporting cache to %s: %w", r.ref, err)
	}
	if err := registry.Push(ctx, img, r.ref, r.opts...); err != nil {
		return fmt.Errorf("exporting cache: %w", err)
	}
	return nil
}

// Local is a step cache stored in an OCI image layout directory
// (type=local,src=DIR / type=local,dest=DIR), for CI systems that cache
// directories. It is both a [build.StepSource] and a [build.StepSink].
type Local struct {
	dir  string
	mode Mode
	src  source
}

var (
	_ build.StepSource = (*Local)(nil)
	_ build.StepSink   = (*Local)(nil)
)

// NewLocal returns the cache in dir. Nothing is read until the first
// GetStep; mode applies to Export.
func NewLocal(dir string, mode Mode) *Local {
	l := &Local{dir: dir, mode: mode}
	l.src.open = l.open
	return l
}

// open reads the layout; a missing directory or index is an empty cache.
func (l *Local) open(ctx context.Context) (v1.Image, error) {
	if _, err := os.Stat(filepath.Join(l.dir, "index.json")); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return registry.ReadOCILayout(ctx, l.dir, layoutTag)
}

// Name implements [build.StepSource].
func (l *Local) Name() string { return "type=local,src=" + l.dir }

// GetStep implements [build.StepSource].
func (l *Local) GetStep(ctx context.Context, key v1.Hash) (*cache.StepRecord, bool, error) {
	return l.src.getStep(ctx, key)
}

// OpenLayer implements [build.StepSource]. The blob is read from the
// directory as is; the store verifies it while writing it.
func (l *Local) OpenLayer(ctx context.Context, info layer.Info) (io.ReadCloser, error) {
	return l.src.openLayer(ctx, info)
}

// Export implements [build.StepSink]: it adds the artifact to the layout
// in the directory (creating it) and points the cache's name at it. Blobs
// already in the directory are kept.
func (l *Local) Export(ctx context.Context, store *cache.Store, steps []build.ExportedStep) error {
	img, _, err := newArtifact(store, steps, l.mode)
	if err != nil {
		return fmt.Errorf("exporting cache to %s: %w", l.dir, err)
	}
	if err := registry.WriteOCILayout(ctx, l.dir, img, []string{layoutTag}); err != nil {
		return fmt.Errorf("exporting cache to %s: %w", l.dir, err)
	}
	return nil
}
