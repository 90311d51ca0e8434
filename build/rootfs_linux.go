package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/build/sandbox"
	"github.com/ibuild/ibuild/layer"
)

// snapshots returns the extracted snapshot directories of layers, bottom-most
// first, extracting any that are missing.
func (b *builder) snapshots(ctx context.Context, layers []layer.Info) ([]string, error) {
	if err := b.ensureBlobs(ctx, layers); err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(layers))
	for _, l := range layers {
		d, err := b.opt.Store.Snapshot(ctx, l)
		if err != nil {
			return nil, fmt.Errorf("extracting layer %s: %w", l.Digest, err)
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// overlayUnsupported says why overlay mounts with upper directories below
// root cannot work ("" when they may): an overlayfs upper directory cannot
// itself be on overlayfs, and extracting snapshots there (0/0 character
// devices) is refused.
func overlayUnsupported(root string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err == nil && st.Type == unix.OVERLAYFS_SUPER_MAGIC {
		return fmt.Sprintf("%s is on overlayfs, which cannot hold an overlay upper directory", root)
	}
	return ""
}

// copyRootfs applies layers in order to a fresh directory below the
// store's mounts directory and returns it with a function removing it: a
// plain copy of the root file system, where overlayfs cannot be used.
func (b *builder) copyRootfs(ctx context.Context, layers []layer.Info) (string, func(), error) {
	if err := b.ensureBlobs(ctx, layers); err != nil {
		return "", nil, err
	}
	tmp, err := b.opt.Store.TempDir("rootfs-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	root := filepath.Join(tmp, "rootfs")
	if err := ExportRootfs(ctx, b.opt.Store, layers, root); err != nil {
		cleanup()
		return "", nil, err
	}
	return root, cleanup, nil
}

// executeScan runs spec on a plain copy of the parent's root file system
// and diffs it by scanning: the fallback where overlayfs cannot be used.
func (b *builder) executeScan(ctx context.Context, st *stageState, spec sandbox.Spec, out *logWriter, r *stepRun) (*layer.Info, error) {
	root, cleanup, err := b.copyRootfs(ctx, st.layers)
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

// mountRootfs mounts a read-only overlay of the layers' snapshots and
// returns its directory and a function that unmounts and removes it. Where
// overlayfs cannot be used it returns a plain copy instead.
func (b *builder) mountRootfs(ctx context.Context, layers []layer.Info) (string, func(), error) {
	if overlayUnsupported(b.opt.Store.Root()) != "" {
		return b.copyRootfs(ctx, layers)
	}
	dirs, err := b.snapshots(ctx, layers)
	if err != nil {
		return "", nil, err
	}
	tmp, err := b.opt.Store.TempDir("rootfs-")
	if err != nil {
		return "", nil, err
	}
	merged := filepath.Join(tmp, "merged")
	empty := filepath.Join(tmp, "empty")
	for _, d := range []string{merged, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			os.RemoveAll(tmp)
			return "", nil, err
		}
	}
	if len(dirs) == 0 {
		return empty, func() { os.RemoveAll(tmp) }, nil
	}
	// overlayfs lists lowerdirs top-most first and needs two of them
	// without an upperdir.
	lower := []string{empty}
	for i := len(dirs) - 1; i >= 0; i-- {
		lower = append(lower, dirs[i])
	}
	if err := mountOverlay(merged, lower, "", ""); err != nil {
		os.RemoveAll(tmp)
		return b.copyRootfs(ctx, layers) // overlayfs unusable on this kernel
	}
	cleanup := func() {
		_ = unix.Unmount(merged, unix.MNT_DETACH)
		os.RemoveAll(tmp)
	}
	return merged, cleanup, nil
}

// mountOverlay mounts an overlay at target. Long lowerdir lists are passed
// relative to a common parent directory to fit the mount data page.
func mountOverlay(target string, lower []string, upper, work string) error {
	opts := "lowerdir=" + strings.Join(lower, ":")
	if upper != "" {
		opts += ",upperdir=" + upper + ",workdir=" + work
	}
	opts += ",index=off,xino=off,redirect_dir=off,metacopy=off"
	if len(opts) >= unix.Getpagesize()-1 {
		return fmt.Errorf("overlay mount options too long (%d layers)", len(lower))
	}
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mounting overlay at %s: %w", target, err)
	}
	return nil
}

// scratchOverlay returns a writable view of host whose writes are thrown
// away: an overlay with a temporary upper dir for a directory, a temporary
// copy for a file.
func (b *builder) scratchOverlay(host string) (string, func(), error) {
	tmp, err := b.opt.Store.TempDir("bindrw-")
	if err != nil {
		return "", nil, err
	}
	fi, err := os.Stat(host)
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	if !fi.IsDir() {
		dst := filepath.Join(tmp, "file")
		if err := copyFile(dst, host, fi.Mode()); err != nil {
			os.RemoveAll(tmp)
			return "", nil, err
		}
		return dst, func() { os.RemoveAll(tmp) }, nil
	}
	upper, work, merged := filepath.Join(tmp, "u"), filepath.Join(tmp, "w"), filepath.Join(tmp, "m")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			os.RemoveAll(tmp)
			return "", nil, err
		}
	}
	if err := mountOverlay(merged, []string{host}, upper, work); err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	return merged, func() {
		_ = unix.Unmount(merged, unix.MNT_DETACH)
		os.RemoveAll(tmp)
	}, nil
}

func copyFile(dst, src string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm())
	if err != nil {
		return err
	}
	if err := copyIO(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
