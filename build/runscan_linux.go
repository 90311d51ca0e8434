package build

import (
	"context"
	"io"

	"github.com/ibuild/ibuild/build/rootfs"
	"github.com/ibuild/ibuild/build/sandbox"
	"github.com/ibuild/ibuild/layer"
)

// executeScan runs spec on a plain copy of the parent's root file system
// and diffs it by scanning: the fallback where overlayfs cannot be used.
func (b *builder) executeScan(ctx context.Context, st *stageState, spec sandbox.Spec, out *logWriter, r *stepRun) (*layer.Info, error) {
	if err := b.ensureBlobs(ctx, st.layers, false); err != nil {
		return nil, err
	}
	root, cleanup, err := rootfs.Copy(ctx, b.opt.Store, st.layers)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	spec.Rootfs = root
	if err := sandbox.PrepareRootfs(spec); err != nil {
		return nil, err
	}
	before, err := layer.ScanRoot(ctx, root)
	if err != nil {
		return nil, err
	}
	if err := sandbox.Run(ctx, spec); err != nil {
		out.flush()
		return nil, runError(spec.Args, out, err)
	}
	out.flush()
	epoch := b.opt.epoch()
	return b.writeLayer(ctx, r, func(w io.Writer) error {
		return layer.WriteScanDiff(ctx, w, before, layer.TarOptions{SourceDateEpoch: &epoch})
	})
}
