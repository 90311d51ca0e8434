package build

import (
	"context"

	"github.com/ibuild/ibuild/build/rootfs"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// ExportRootfs writes the root filesystem of an image made of layers into
// dest (type=local output): each layer is applied in order with whiteouts
// honoured and every path kept inside dest.
func ExportRootfs(ctx context.Context, store *cache.Store, layers []layer.Info, dest string) error {
	return rootfs.Export(ctx, store, layers, dest)
}
