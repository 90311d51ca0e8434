package cache

import (
	"context"
	"fmt"
	"io"

	"github.com/ibuild/ibuild/layer"
)

// WriteLayer compresses an uncompressed tar stream with layer.Compress
// straight into the ingest area and commits the blob under its digest. The
// layer is never held in memory. If an intact copy of the blob already
// exists, the new copy is discarded; a damaged one is replaced. The digest
// and size are those the ingest computed of the bytes it wrote (an ingest is
// a layer.DigestWriter), so a blob's name is the hash of what reached the
// disk by construction.
func (s *Store) WriteLayer(ctx context.Context, tarStream io.Reader, c layer.Compression, level int) (layer.Info, error) {
	in, err := s.newIngest()
	if err != nil {
		return layer.Info{}, fmt.Errorf("writing layer: %w", err)
	}
	defer in.abort()
	info, err := layer.Compress(ctx, in, tarStream, c, level)
	if err != nil {
		return layer.Info{}, fmt.Errorf("writing layer: %w", err)
	}
	if err := in.commit(info.Digest); err != nil {
		return layer.Info{}, fmt.Errorf("writing layer %s: %w", info.Digest, err)
	}
	return info, nil
}
