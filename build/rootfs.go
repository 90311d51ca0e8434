package build

import (
	"context"

	"github.com/ibuild/ibuild/build/rootfs"
	"github.com/ibuild/ibuild/layer"
)

// The builder's side of build/rootfs, which does all the mounting: layers a
// --cache-from source holds are fetched first (ensureBlobs).

// overlayUnsupported says why overlay upper directories below root cannot
// work, or "".
func overlayUnsupported(root string) string { return rootfs.OverlayUnsupported(root) }

// snapshots returns the extracted snapshot directories of layers,
// bottom-most first.
func (b *builder) snapshots(ctx context.Context, layers []layer.Info) ([]string, error) {
	if err := b.ensureBlobs(ctx, layers, true); err != nil {
		return nil, err
	}
	return rootfs.Snapshots(ctx, b.opt.Store, layers)
}

// mountRootfs mounts the root file system of layers read-only (see
// rootfs.Mount) and returns it with a function that releases it.
func (b *builder) mountRootfs(ctx context.Context, layers []layer.Info) (string, func(), error) {
	if err := b.ensureBlobs(ctx, layers, overlayUnsupported(b.opt.Store.Root()) == ""); err != nil {
		return "", nil, err
	}
	return rootfs.Mount(ctx, b.opt.Store, layers)
}

// readOnlyOverlay returns a read-only view of dir that a step can bind.
func (b *builder) readOnlyOverlay(dir string) (string, func(), error) {
	return rootfs.ReadOnly(b.opt.Store, dir)
}

// scratchOverlay returns a writable view of host whose writes are thrown
// away.
func (b *builder) scratchOverlay(host string) (string, func(), error) {
	return rootfs.Scratch(b.opt.Store, host)
}

// cacheDir returns the directory of a RUN --mount=type=cache, locked as its
// sharing= says, and a function to call once the step is over.
func (b *builder) cacheDir(ctx context.Context, p mountPlan) (string, func(), error) {
	m := rootfs.CacheMount{ID: p.id, Sharing: rootfs.Sharing(p.m.CacheSharing), Mode: 0o755}
	if p.m.Mode != nil {
		m.Mode = uint32(*p.m.Mode)
	}
	if p.m.UID != nil {
		m.UID = int(*p.m.UID)
	}
	if p.m.GID != nil {
		m.GID = int(*p.m.GID)
	}
	return rootfs.CacheDir(ctx, b.opt.Store, m)
}
