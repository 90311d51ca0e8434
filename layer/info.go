package layer

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Compression names a layer compression algorithm.
type Compression string

// The supported compressions.
const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
	None Compression = "none"
)

// ParseCompression validates a --compression flag value.
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case Gzip, Zstd, None:
		return c, nil
	case "uncompressed":
		return None, nil
	}
	return "", fmt.Errorf("unknown compression %q (want gzip, zstd or none)", s)
}

// MediaType is the OCI layer media type for blobs of this compression.
func (c Compression) MediaType() types.MediaType {
	switch c {
	case Zstd:
		return types.OCILayerZStd
	case None:
		return types.OCIUncompressedLayer
	}
	return types.OCILayer
}

// Info describes a layer blob: what a manifest and an image config need to
// reference it, plus its uncompressed length.
type Info struct {
	// Digest is the digest of the (possibly compressed) blob.
	Digest v1.Hash `json:"digest"`
	// DiffID is the digest of the uncompressed tar stream.
	DiffID v1.Hash `json:"diffID"`
	// Size is the length of the blob in bytes.
	Size int64 `json:"size"`
	// UncompressedSize is the length of the uncompressed tar stream.
	UncompressedSize int64 `json:"uncompressedSize"`
	// MediaType is the blob's OCI media type.
	MediaType types.MediaType `json:"mediaType"`
}

// Descriptor is the manifest descriptor of the layer.
func (i Info) Descriptor() v1.Descriptor {
	return v1.Descriptor{MediaType: i.MediaType, Size: i.Size, Digest: i.Digest}
}
