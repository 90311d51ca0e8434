package registry

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// IndexWithMediaTypes returns idx with every image in the media types t
// ([WithMediaTypes]) and the index itself an OCI index (OCITypes) or a
// Docker manifest list (DockerTypes), its entries' digests those of the
// converted images.
func IndexWithMediaTypes(idx v1.ImageIndex, t MediaTypes) (v1.ImageIndex, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := &typedIndex{images: map[v1.Hash]v1.Image{}}
	im = im.DeepCopy()
	im.MediaType = types.OCIImageIndex
	if t == DockerTypes {
		im.MediaType = types.DockerManifestList
	}
	for i, m := range im.Manifests {
		src, err := idx.Image(m.Digest)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", m.Digest, err)
		}
		img, err := WithMediaTypes(src, t)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", m.Digest, err)
		}
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		n, err := img.Size()
		if err != nil {
			return nil, err
		}
		mt, err := img.MediaType()
		if err != nil {
			return nil, err
		}
		im.Manifests[i].Digest, im.Manifests[i].Size, im.Manifests[i].MediaType = d, n, mt
		out.images[d] = img
	}
	if out.raw, err = json.Marshal(im); err != nil {
		return nil, err
	}
	out.im = im
	out.digest, out.size, err = v1.SHA256(bytes.NewReader(out.raw))
	return out, err
}

// typedIndex is an index in memory over converted images.
type typedIndex struct {
	raw    []byte
	im     *v1.IndexManifest
	digest v1.Hash
	size   int64
	images map[v1.Hash]v1.Image
}

var _ v1.ImageIndex = (*typedIndex)(nil)

func (i *typedIndex) MediaType() (types.MediaType, error)       { return i.im.MediaType, nil }
func (i *typedIndex) Digest() (v1.Hash, error)                  { return i.digest, nil }
func (i *typedIndex) Size() (int64, error)                      { return i.size, nil }
func (i *typedIndex) IndexManifest() (*v1.IndexManifest, error) { return i.im.DeepCopy(), nil }
func (i *typedIndex) RawManifest() ([]byte, error)              { return i.raw, nil }

func (i *typedIndex) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := i.images[h]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("index has no image %s", h)
}

// ImageIndex implements [v1.ImageIndex]: nested indexes are not kept.
func (i *typedIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("index has no nested index %s", h)
}
