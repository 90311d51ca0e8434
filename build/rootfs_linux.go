package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

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

// mountRootfs mounts a read-only overlay of the layers' snapshots and
// returns its directory and a function that unmounts and removes it.
func (b *builder) mountRootfs(ctx context.Context, layers []layer.Info) (string, func(), error) {
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
		return "", nil, err
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
