package registry

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ibuild/ibuild/layer"
)

// MediaTypes names the family of media types an image is written with.
type MediaTypes string

const (
	// OCITypes: OCI manifest, config and layer types (the default of
	// ibuild's outputs and pushes, as of BuildKit's).
	OCITypes MediaTypes = "oci"
	// DockerTypes: Docker image manifest schema 2 types, for registries and
	// tools that predate OCI (BuildKit's oci-mediatypes=false).
	DockerTypes MediaTypes = "docker"
)

// WithMediaTypes returns img described with the media types of family t:
// the manifest, its config descriptor and every layer descriptor. Blobs are
// not changed (gzip is gzip), so layer and config digests stay the same;
// only the manifest, and so the image digest, differs. An image already in
// family t is returned as it is. A zstd layer has no Docker type: asking for
// DockerTypes then fails, and the caller may keep OCI types instead, as
// BuildKit does.
func WithMediaTypes(img v1.Image, t MediaTypes) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	c := m.DeepCopy()
	switch t {
	case OCITypes:
		c.MediaType, c.Config.MediaType = types.OCIManifestSchema1, types.OCIConfigJSON
		for i := range c.Layers {
			c.Layers[i].MediaType = layer.OCIMediaType(c.Layers[i].MediaType)
		}
	case DockerTypes:
		c.MediaType, c.Config.MediaType = types.DockerManifestSchema2, types.DockerConfigJSON
		for i := range c.Layers {
			if c.Layers[i].MediaType, err = layer.DockerMediaType(c.Layers[i].MediaType); err != nil {
				return nil, fmt.Errorf("layer %s: %w", c.Layers[i].Digest, err)
			}
			c.Layers[i].Annotations = nil // schema 2 has none
		}
		c.Annotations, c.Subject, c.Config.ArtifactType = nil, nil, ""
	default:
		return nil, fmt.Errorf("unknown media type family %q", t)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	if old, err := img.RawManifest(); err == nil && string(old) == string(raw) {
		return img, nil
	}
	mt := map[v1.Hash]types.MediaType{}
	for _, l := range c.Layers {
		mt[l.Digest] = l.MediaType
	}
	return partial.CompressedToImage(&typedImage{img: img, manifest: raw, mediaType: c.MediaType, layerTypes: mt})
}

// typedImage is an image whose manifest was rewritten with other media
// types; blobs come from the original.
type typedImage struct {
	img        v1.Image
	manifest   []byte
	mediaType  types.MediaType
	layerTypes map[v1.Hash]types.MediaType
}

var _ partial.CompressedImageCore = (*typedImage)(nil)

func (i *typedImage) RawConfigFile() ([]byte, error)      { return i.img.RawConfigFile() }
func (i *typedImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i *typedImage) RawManifest() ([]byte, error)        { return i.manifest, nil }

// LayerByDigest returns the original blob, reporting a layer's new media
// type.
func (i *typedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	l, err := i.img.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	mt, ok := i.layerTypes[h]
	if !ok {
		return l, nil // the config blob
	}
	return &typedLayer{Layer: l, mediaType: mt}, nil
}

// typedLayer is a layer under another media type name.
type typedLayer struct {
	v1.Layer
	mediaType types.MediaType
}

func (l *typedLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
