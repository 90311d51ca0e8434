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
// exists, the new copy is discarded; a damaged one is replaced. The digest and size reported by layer.Compress are checked
// against what actually reached the disk.
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
	if got := in.digest(); got != info.Digest || in.n != info.Size {
		return layer.Info{}, fmt.Errorf("writing layer: wrote %s (%d bytes) but compressor reported %s (%d bytes)",
			got, in.n, info.Digest, info.Size)
	}
	if err := in.commit(info.Digest); err != nil {
		return layer.Info{}, fmt.Errorf("writing layer %s: %w", info.Digest, err)
	}
	return info, nil
}
