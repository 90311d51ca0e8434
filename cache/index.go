package cache

import (
	"bytes"
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// IndexManifest reads the stored image index whose digest is h. A
// missing blob is an error wrapping ErrNotFound.
func (s *Store) IndexManifest(ctx context.Context, h v1.Hash) (*v1.IndexManifest, error) {
	_, im, err := s.readIndexBlob(ctx, h)
	return im, err
}

// readIndexBlob reads and parses the stored index blob h.
func (s *Store) readIndexBlob(ctx context.Context, h v1.Hash) ([]byte, *v1.IndexManifest, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	raw, err := s.readSmallBlob(h)
	if err != nil {
		return nil, nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	return raw, im, nil
}

// WriteIndex stores the image index raw, whose manifests must already be
// in the store (written by WriteImage), and returns its descriptor. An
// index naming a manifest the store lacks is an error wrapping
// ErrNotFound, and nothing is written.
func (s *Store) WriteIndex(ctx context.Context, raw []byte) (v1.Descriptor, error) {
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing index: %w", err)
	}
	for _, m := range im.Manifests {
		if !s.HasBlob(m.Digest) {
			return v1.Descriptor{}, fmt.Errorf("writing index: manifest %s: %w", m.Digest, ErrNotFound)
		}
	}
	return s.writeIndex(ctx, raw, im)
}

// WritePulledIndex stores the image index raw of a registry's
// multi-platform image of which only some platforms' images are in the
// store (those pulled): Index's Image fails for the others, wrapping
// ErrNotFound, and prune keeps the ones present.
func (s *Store) WritePulledIndex(ctx context.Context, raw []byte) (v1.Descriptor, error) {
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing index: %w", err)
	}
	return s.writeIndex(ctx, raw, im)
}

func (s *Store) writeIndex(ctx context.Context, raw []byte, im *v1.IndexManifest) (v1.Descriptor, error) {
	mt := im.MediaType
	if mt == "" {
		mt = types.OCIImageIndex
	}
	desc, err := s.writeBytes(ctx, raw, v1.Descriptor{MediaType: mt})
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("writing index: %w", err)
	}
	return desc, nil
}

// Index returns the stored image index whose digest is h; its images
// read from the store, as Image's do. Its manifests need not all be
// stored: Image fails for a missing one, wrapping ErrNotFound.
func (s *Store) Index(ctx context.Context, h v1.Hash) (v1.ImageIndex, error) {
	raw, im, err := s.readIndexBlob(ctx, h)
	if err != nil {
		return nil, err
	}
	if im.MediaType != "" && !im.MediaType.IsIndex() {
		return nil, fmt.Errorf("reading index %s: media type %s is not an index", h, im.MediaType)
	}
	return &storeIndex{s: s, raw: raw, im: im, digest: h}, nil
}

// storeIndex is an image index whose blobs are in the store.
type storeIndex struct {
	s      *Store
	raw    []byte
	im     *v1.IndexManifest
	digest v1.Hash
}

var _ v1.ImageIndex = (*storeIndex)(nil)

// MediaType implements v1.ImageIndex.
func (i *storeIndex) MediaType() (types.MediaType, error) {
	if i.im.MediaType != "" {
		return i.im.MediaType, nil
	}
	return types.OCIImageIndex, nil
}

// Digest implements v1.ImageIndex.
func (i *storeIndex) Digest() (v1.Hash, error) { return i.digest, nil }

// Size implements v1.ImageIndex.
func (i *storeIndex) Size() (int64, error) { return int64(len(i.raw)), nil }

// IndexManifest implements v1.ImageIndex.
func (i *storeIndex) IndexManifest() (*v1.IndexManifest, error) { return i.im.DeepCopy(), nil }

// RawManifest implements v1.ImageIndex.
func (i *storeIndex) RawManifest() ([]byte, error) { return i.raw, nil }

// Image implements v1.ImageIndex.
func (i *storeIndex) Image(h v1.Hash) (v1.Image, error) { return i.s.image(h) }

// ImageIndex implements v1.ImageIndex: a nested index.
func (i *storeIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	raw, err := i.s.readSmallBlob(h)
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	return &storeIndex{s: i.s, raw: raw, im: im, digest: h}, nil
}
