package layer

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DockerLayerZstd is the Docker-style name of a zstd layer, which BuildKit
// and containerd read; Docker's schema 2 defines no zstd type of its own.
const DockerLayerZstd types.MediaType = "application/vnd.docker.image.rootfs.diff.tar.zstd"

// ociLayerTypes maps each Docker layer media type to its OCI equivalent.
// The blob is the same either way: only the name of its format differs.
var ociLayerTypes = map[types.MediaType]types.MediaType{
	types.DockerLayer:             types.OCILayer,
	types.DockerUncompressedLayer: types.OCIUncompressedLayer,
	types.DockerForeignLayer:      types.OCIRestrictedLayer,
	DockerLayerZstd:               types.OCILayerZStd,
}

// OCIMediaType returns the OCI media type of a layer blob whose media type
// is mt; an OCI type or an unknown one is returned unchanged.
func OCIMediaType(mt types.MediaType) types.MediaType {
	if o, ok := ociLayerTypes[mt]; ok {
		return o
	}
	return mt
}

// DockerMediaType returns the Docker schema 2 media type of a layer blob
// whose media type is mt. A zstd layer has none that Docker's registry
// clients accept before Docker 23, so it is an error, as is a type that is
// not a layer.
func DockerMediaType(mt types.MediaType) (types.MediaType, error) {
	for d, o := range ociLayerTypes {
		if mt == d || mt == o {
			if d == DockerLayerZstd {
				return "", fmt.Errorf("a zstd layer has no Docker media type (use OCI media types or gzip compression)")
			}
			return d, nil
		}
	}
	return "", fmt.Errorf("%s is not a layer media type", mt)
}
