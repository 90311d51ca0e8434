package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/ibuild/ibuild/layer"
)

// maxParallelLayers bounds concurrent layer copies in WriteImage.
const maxParallelLayers = 4

// storeLayer is a layer blob in the store, described by a layer.Info.
type storeLayer struct {
	s    *Store
	info layer.Info
}

var (
	_ partial.CompressedLayer = (*storeLayer)(nil)
	_ partial.WithDiffID      = (*storeLayer)(nil)
)

// Digest implements partial.CompressedLayer.
func (l *storeLayer) Digest() (v1.Hash, error) { return l.info.Digest, nil }

// DiffID implements partial.WithDiffID.
func (l *storeLayer) DiffID() (v1.Hash, error) { return l.info.DiffID, nil }

// Size implements partial.CompressedLayer.
func (l *storeLayer) Size() (int64, error) { return l.info.Size, nil }

// MediaType implements partial.CompressedLayer.
func (l *storeLayer) MediaType() (types.MediaType, error) { return l.info.MediaType, nil }

// Compressed implements partial.CompressedLayer; the reader verifies the
// digest at EOF.
func (l *storeLayer) Compressed() (io.ReadCloser, error) { return l.s.openBlob(l.info.Digest) }

// UncompressedSize reports the uncompressed length when it is known.
func (l *storeLayer) UncompressedSize() (int64, error) {
	if l.info.UncompressedSize <= 0 {
		return 0, errors.New("uncompressed size unknown")
	}
	return l.info.UncompressedSize, nil
}

// Layer returns a v1.Layer backed by the store's blob, with the digest,
// diffID, size and media type taken from info rather than computed. The
// blob must exist; its content is verified as it is read.
func (s *Store) Layer(info layer.Info) (v1.Layer, error) {
	if !s.HasBlob(info.Digest) {
		return nil, fmt.Errorf("layer %s: %w", info.Digest, ErrNotFound)
	}
	if info.MediaType == "" {
		info.MediaType = types.OCILayer
	}
	return partial.CompressedToLayer(&storeLayer{s: s, info: info})
}

// WriteImage stores every blob of img the store lacks: the layers first (in
// parallel, at most maxParallelLayers at a time, each verified against its
// manifest descriptor), then the config, then the manifest, so a stored
// manifest always has all its blobs. Layers the store already holds intact
// (checkBlob: by stamp, or hashed when the stamp differs), such as
// those of an image built with mutate on top of Store.Layer, are not read.
// It returns the manifest descriptor.
func (s *Store) WriteImage(ctx context.Context, img v1.Image) (v1.Descriptor, error) {
	m, err := img.Manifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image: reading manifest: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelLayers)
	seen := map[v1.Hash]bool{}
	for _, d := range m.Layers {
		if seen[d.Digest] || s.checkBlob(d.Digest, d.Size) {
			continue
		}
		seen[d.Digest] = true
		g.Go(func() error { return s.copyLayer(gctx, img, d) })
	}
	if err := g.Wait(); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image: %w", err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image: reading config: %w", err)
	}
	if _, err := s.writeBytes(ctx, cfg, m.Config); err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image config: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image: reading manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image: reading media type: %w", err)
	}
	desc, err := s.writeBytes(ctx, raw, v1.Descriptor{MediaType: mt})
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing image manifest: %w", err)
	}
	return desc, nil
}

// copyLayer copies one layer blob of img into the store, verified against
// its manifest descriptor d.
func (s *Store) copyLayer(ctx context.Context, img v1.Image, d v1.Descriptor) error {
	rc, err := openLayer(img, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = s.WriteBlob(ctx, rc, v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
	return err
}

// writeBytes stores a small in-memory blob; want.Digest and want.Size, when
// set, are verified.
func (s *Store) writeBytes(ctx context.Context, b []byte, want v1.Descriptor) (v1.Descriptor, error) {
	return s.WriteBlob(ctx, bytes.NewReader(b), want)
}

// Image returns the stored image whose manifest has digest manifest. Its
// manifest and config are read (and verified) now; its layers are read from
// the store, verified, when used. A missing manifest is an error wrapping
// ErrNotFound.
func (s *Store) Image(ctx context.Context, manifest v1.Hash) (v1.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.image(manifest)
}

// image is Image, for callers without a context (an index's Image).
func (s *Store) image(manifest v1.Hash) (v1.Image, error) {
	raw, err := s.readSmallBlob(manifest)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", manifest, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading image %s: parsing manifest: %w", manifest, err)
	}
	if m.MediaType != "" && !m.MediaType.IsImage() {
		return nil, fmt.Errorf("reading image %s: media type %s is not an image manifest", manifest, m.MediaType)
	}
	cfg, err := s.readSmallBlob(m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: config: %w", manifest, err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfg))
	if err != nil {
		return nil, fmt.Errorf("reading image %s: parsing config %s: %w", manifest, m.Config.Digest, err)
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("reading image %s: config %s lists %d diff_ids for %d layers",
			manifest, m.Config.Digest, len(cf.RootFS.DiffIDs), len(m.Layers))
	}
	si := &storeImage{s: s, rawManifest: raw, manifest: m, rawConfig: cfg, layers: map[v1.Hash]layer.Info{}}
	for i, d := range m.Layers {
		si.layers[d.Digest] = layer.Info{Digest: d.Digest, DiffID: cf.RootFS.DiffIDs[i], Size: d.Size, MediaType: d.MediaType}
	}
	return partial.CompressedToImage(si)
}

// storeImage is an image whose blobs are in the store.
type storeImage struct {
	s           *Store
	rawManifest []byte
	manifest    *v1.Manifest
	rawConfig   []byte
	layers      map[v1.Hash]layer.Info
}

var _ partial.CompressedImageCore = (*storeImage)(nil)

// RawConfigFile implements partial.CompressedImageCore.
func (i *storeImage) RawConfigFile() ([]byte, error) { return i.rawConfig, nil }

// RawManifest implements partial.CompressedImageCore.
func (i *storeImage) RawManifest() ([]byte, error) { return i.rawManifest, nil }

// MediaType implements partial.CompressedImageCore.
func (i *storeImage) MediaType() (types.MediaType, error) {
	if i.manifest.MediaType != "" {
		return i.manifest.MediaType, nil
	}
	return types.OCIManifestSchema1, nil
}

// LayerByDigest implements partial.CompressedImageCore. The config digest
// returns the config as a layer, as go-containerregistry's layout does.
func (i *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return partial.ConfigLayer(i)
	}
	info, ok := i.layers[h]
	if !ok {
		return nil, fmt.Errorf("layer %s is not in image: %w", h, ErrNotFound)
	}
	return &storeLayer{s: i.s, info: info}, nil
}

// openLayer opens the compressed bytes of img's layer d.
func openLayer(img v1.Image, d v1.Descriptor) (io.ReadCloser, error) {
	l, err := img.LayerByDigest(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", d.Digest, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", d.Digest, err)
	}
	return rc, nil
}
