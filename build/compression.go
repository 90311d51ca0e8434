package build

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/layer"
)

// layerCompression is the compression of a layer that a RUN or COPY of
// stage writes: the build's, unless nothing can export the layer (the
// stage is not in the image and there is no --cache-to), in which case the
// layer is stored as a plain tar. A stage that only feeds COPY --from (a
// compiler's toolchain, a dependency download) then costs its diff, not a
// compression nobody reads: BuildKit never compresses such layers either.
// finish compresses a plain layer that a later build does put in an image.
func (b *builder) layerCompression(stage int) (layer.Compression, int) {
	if b.opt.Compression == layer.None || len(b.opt.CacheTo) > 0 || b.inImage == nil || b.inImage[stage] {
		return b.opt.Compression, b.opt.CompressionLevel
	}
	return layer.None, 0
}

// compressLayers returns layers with each plain-tar layer replaced by its
// compressed form (the build's compression), as if the step that made it
// had compressed it: the same tar stream, so the same bytes. Such a layer
// comes from a step cached by a build that did not put it in its image.
// The records of those steps are updated in the store, so that later
// builds reuse the compressed layer.
func (b *builder) compressLayers(ctx context.Context, layers []layer.Info) ([]layer.Info, error) {
	plain := layer.None.MediaType()
	if b.opt.Compression == layer.None {
		return layers, nil
	}
	var out []layer.Info
	done := map[v1.Hash]layer.Info{}
	for i, l := range layers {
		if l.MediaType != plain {
			continue
		}
		if out == nil {
			out = append([]layer.Info(nil), layers...)
		}
		c, ok := done[l.Digest]
		if !ok {
			var err error
			if c, err = b.compressLayer(ctx, l); err != nil {
				return nil, err
			}
			done[l.Digest] = c
		}
		out[i] = c
	}
	if out == nil {
		return layers, nil
	}
	b.replaceLayers(ctx, done)
	return out, nil
}

// compressLayer compresses the stored plain-tar layer l.
func (b *builder) compressLayer(ctx context.Context, l layer.Info) (layer.Info, error) {
	sl, err := b.opt.Store.Layer(l)
	if err != nil {
		return layer.Info{}, fmt.Errorf("compressing layer %s: %w", l.Digest, err)
	}
	rc, err := sl.Compressed()
	if err != nil {
		return layer.Info{}, fmt.Errorf("compressing layer %s: %w", l.Digest, err)
	}
	defer rc.Close()
	c, err := b.opt.Store.WriteLayer(ctx, rc, b.opt.Compression, b.opt.CompressionLevel)
	if err != nil {
		return layer.Info{}, fmt.Errorf("compressing layer %s: %w", l.Digest, err)
	}
	if c.DiffID != l.DiffID {
		return layer.Info{}, fmt.Errorf("compressing layer %s: diffID %s, want %s", l.Digest, c.DiffID, l.DiffID)
	}
	return c, nil
}

// replaceLayers puts the compressed layers of done (by the plain layer's
// digest) in the build's step results and its records, local and for
// --cache-to. A record that cannot be rewritten keeps its plain layer,
// which is valid, only larger.
func (b *builder) replaceLayers(ctx context.Context, done map[v1.Hash]layer.Info) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, s := range b.steps {
		if s.Layer != nil {
			if c, ok := done[s.Layer.Digest]; ok {
				b.steps[i].Layer = &c
			}
		}
	}
	for i, e := range b.exported {
		if e.Record.Layer == nil {
			continue
		}
		c, ok := done[e.Record.Layer.Digest]
		if !ok {
			continue
		}
		rec := e.Record
		rec.Layer = &c
		b.exported[i].Record = rec
		b.opt.Store.PutStep(ctx, e.Key, rec) //nolint:errcheck // see above
	}
}
