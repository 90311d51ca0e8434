package layer

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestMediaTypeMapping(t *testing.T) {
	cases := []struct {
		in, oci, docker types.MediaType
		dockerErr       bool
	}{
		{types.DockerLayer, types.OCILayer, types.DockerLayer, false},
		{types.OCILayer, types.OCILayer, types.DockerLayer, false},
		{types.DockerUncompressedLayer, types.OCIUncompressedLayer, types.DockerUncompressedLayer, false},
		{types.OCIUncompressedLayer, types.OCIUncompressedLayer, types.DockerUncompressedLayer, false},
		{types.DockerForeignLayer, types.OCIRestrictedLayer, types.DockerForeignLayer, false},
		{DockerLayerZstd, types.OCILayerZStd, "", true},
		{types.OCILayerZStd, types.OCILayerZStd, "", true},
		{types.OCIConfigJSON, types.OCIConfigJSON, "", true},
	}
	for _, c := range cases {
		if got := OCIMediaType(c.in); got != c.oci {
			t.Errorf("OCIMediaType(%s) = %s, want %s", c.in, got, c.oci)
		}
		got, err := DockerMediaType(c.in)
		if (err != nil) != c.dockerErr || got != c.docker {
			t.Errorf("DockerMediaType(%s) = %s, %v; want %s, error %v", c.in, got, err, c.docker, c.dockerErr)
		}
	}
}
