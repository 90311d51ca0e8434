package build

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// StepSource is a step cache outside the local store (--cache-from): a
// registry artifact or a directory. A hit's layer is fetched only when the
// build needs its bytes: for the final image, or to extract a snapshot for
// a later step that runs.
type StepSource interface {
	// GetStep returns the record stored under key, if any.
	GetStep(ctx context.Context, key v1.Hash) (*cache.StepRecord, bool, error)
	// OpenLayer opens the (compressed) blob of a layer the source holds.
	OpenLayer(ctx context.Context, info layer.Info) (io.ReadCloser, error)
	// Name names the source in messages ("type=registry,ref=…").
	Name() string
}

// StepSink receives the records of a build's steps (--cache-to).
type StepSink interface {
	// Export writes the records (and their layers, read from store).
	// Records are keyed by step key; stage names which stage produced each.
	Export(ctx context.Context, store *cache.Store, steps []ExportedStep) error
}

// ExportedStep is one step offered to a StepSink.
type ExportedStep struct {
	Key    v1.Hash
	Record cache.StepRecord
	// Final reports whether the step belongs to the target stage (mode=min
	// exports only those; mode=max exports every step).
	Final bool
}

// remoteHit looks key up in the --cache-from sources.
func (b *builder) remoteHit(ctx context.Context, key v1.Hash) (*cache.StepRecord, error) {
	for _, src := range b.opt.CacheFrom {
		rec, ok, err := src.GetStep(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("cache source %s: %w", src.Name(), err)
		}
		if !ok {
			continue
		}
		if rec.Layer != nil && !b.opt.Store.HasBlob(rec.Layer.Digest) {
			b.mu.Lock()
			if b.lazy == nil {
				b.lazy = map[v1.Hash]StepSource{}
			}
			b.lazy[rec.Layer.Digest] = src
			b.mu.Unlock()
		}
		return rec, nil
	}
	return nil, nil
}

// ensureBlobs fetches the blobs of layers that came from a cache source and
// are not in the store yet, verifying each against its descriptor.
func (b *builder) ensureBlobs(ctx context.Context, layers []layer.Info) error {
	for _, l := range layers {
		b.mu.Lock()
		src, ok := b.lazy[l.Digest]
		b.mu.Unlock()
		if !ok || b.opt.Store.HasBlob(l.Digest) {
			continue
		}
		rc, err := src.OpenLayer(ctx, l)
		if err != nil {
			return fmt.Errorf("fetching layer %s from %s: %w", l.Digest, src.Name(), err)
		}
		_, err = b.opt.Store.WriteBlob(ctx, rc, l.Descriptor())
		rc.Close()
		if err != nil {
			return fmt.Errorf("fetching layer %s from %s: %w", l.Digest, src.Name(), err)
		}
	}
	return nil
}
