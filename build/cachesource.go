package build

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

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

// maxFetches bounds the cache layers fetched at a time.
const maxFetches = 4

// ensureBlobs fetches the blobs of layers that came from a cache source and
// are not in the store yet, verifying each against its descriptor: at most
// maxFetches at a time, each once however many steps wait for it, each
// shown in the progress while it downloads (fetchTask). With extract (a
// step is about to mount the layers' snapshots) each is extracted into its
// snapshot while it downloads. Layers a build only reuses for the final
// image are fetched by finish, and those nothing reads never.
func (b *builder) ensureBlobs(ctx context.Context, layers []layer.Info, extract bool) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxFetches)
	seen := map[v1.Hash]bool{}
	for _, l := range layers {
		b.mu.Lock()
		src, ok := b.lazy[l.Digest]
		b.mu.Unlock()
		if !ok || seen[l.Digest] || b.opt.Store.HasBlob(l.Digest) {
			continue
		}
		seen[l.Digest] = true
		g.Go(func() error { return b.fetchLayer(gctx, src, l, extract) })
	}
	return g.Wait()
}

// fetchLayer fetches one layer unless another step is fetching it, in
// which case it waits for that fetch, and fetches it itself if that one
// failed (its error is that step's to report).
func (b *builder) fetchLayer(ctx context.Context, src StepSource, l layer.Info, extract bool) error {
	for !b.opt.Store.HasBlob(l.Digest) {
		b.mu.Lock()
		busy, waiting := b.fetches[l.Digest]
		if !waiting {
			if b.fetches == nil {
				b.fetches = map[v1.Hash]chan struct{}{}
			}
			busy = make(chan struct{})
			b.fetches[l.Digest] = busy
		}
		b.mu.Unlock()
		if waiting {
			select {
			case <-busy:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := b.downloadLayer(ctx, src, l, extract)
		b.mu.Lock()
		delete(b.fetches, l.Digest)
		b.mu.Unlock()
		close(busy)
		return err
	}
	return nil
}

// downloadLayer copies the blob of l from src into the store (extracting it on
// the way with extract), showing its progress.
func (b *builder) downloadLayer(ctx context.Context, src StepSource, l layer.Info, extract bool) error {
	task := startFetchTask(b.sink, l, src.Name())
	rc, err := src.OpenLayer(ctx, l)
	if err == nil {
		err = b.opt.Store.FetchLayer(ctx, task.reader(rc), l, extract)
		rc.Close()
	}
	task.end(err)
	if err != nil {
		return fmt.Errorf("fetching layer %s from %s: %w", l.Digest, src.Name(), err)
	}
	return nil
}
