package build

import (
	"context"
	"fmt"
	"os"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// ExportRootfs writes the root filesystem of an image made of layers into
// dest (type=local output): each layer is applied in order with whiteouts
// honoured and every path kept inside dest.
func ExportRootfs(ctx context.Context, store *cache.Store, layers []layer.Info, dest string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dest, err)
	}
	for _, l := range layers {
		if err := applyBlob(ctx, store, l, dest); err != nil {
			return fmt.Errorf("exporting layer %s to %s: %w", l.Digest, dest, err)
		}
	}
	return nil
}

func applyBlob(ctx context.Context, store *cache.Store, l layer.Info, dest string) error {
	rc, err := store.Blob(ctx, l.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr, err := layer.Decompress(rc, store.LayerLimits()...)
	if err != nil {
		return err
	}
	defer tr.Close()
	return layer.ApplyDir(ctx, dest, tr, store.LayerLimits()...)
}
