package registry

import (
	"context"
	"io"
	"log"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// nilLogger silences the in-memory registry.
func nilLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// pushIndex writes a multi-platform index; Push itself only writes images.
func pushIndex(ctx context.Context, idx v1.ImageIndex, ref string) error {
	r, err := ParseReference(ref)
	if err != nil {
		return err
	}
	return remote.WriteIndex(r, idx, remote.WithContext(ctx))
}
