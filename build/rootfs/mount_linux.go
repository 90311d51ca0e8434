package rootfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// OverlayUnsupported says why overlay mounts with upper directories below
// root cannot work ("" when they may): an overlayfs upper directory cannot
// itself be on overlayfs, and extracting snapshots there (0/0 character
// devices) is refused.
func OverlayUnsupported(root string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err == nil && st.Type == unix.OVERLAYFS_SUPER_MAGIC {
		return fmt.Sprintf("%s is on overlayfs, which cannot hold an overlay upper directory", root)
	}
	return ""
}

// Mount mounts a read-only overlay of the layers' snapshots and returns
// its directory and a function that unmounts and removes it. Where
// overlayfs cannot be used it returns a plain copy (Copy) instead.
func Mount(ctx context.Context, store *cache.Store, layers []layer.Info) (string, func(), error) {
	if OverlayUnsupported(store.Root()) != "" {
		return Copy(ctx, store, layers)
	}
	dirs, err := Snapshots(ctx, store, layers)
	if err != nil {
		return "", nil, err
	}
	tmp, err := store.TempDir("rootfs-")
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
	// A detached mount, reached as /proc/PID/fd/N, so that a killed builder
	// leaves nothing mounted (buildctx keeps such a path as it is).
	root, unmount, err := mountOverlay(merged, lower, "", "")
	if err != nil {
		os.RemoveAll(tmp)
		return Copy(ctx, store, layers) // overlayfs unusable on this kernel
	}
	cleanup := func() {
		unmount()
		os.RemoveAll(tmp)
	}
	return root, cleanup, nil
}

// mountOverlay mounts an overlay and returns the path of its root and a
// function that unmounts it. The mount is detached (fsopen and fsmount, no
// place in any mount namespace) and reached through the builder's file
// descriptor as /proc/PID/fd/N, so that it disappears with the builder even
// when the builder is killed. Kernels without the new mount API get a
// classic mount at target. The path is a magic link: code that resolves
// symlinks in it (filepath.EvalSymlinks) gets "/", so it is only for
// paths handed to the sandbox as mount sources.
func mountOverlay(target string, lower []string, upper, work string) (string, func(), error) {
	root, unmount, err := detachedOverlay(lower, upper, work)
	if err == nil {
		return root, unmount, nil
	}
	if !errors.Is(err, unix.ENOSYS) {
		return "", nil, fmt.Errorf("mounting overlay of %s: %w", strings.Join(lower, ":"), err)
	}
	return attachedOverlay(target, lower, upper, work)
}

// attachedOverlay mounts an overlay at target in the builder's mount
// namespace and returns target and a function that unmounts it.
func attachedOverlay(target string, lower []string, upper, work string) (string, func(), error) {
	opts := "lowerdir=" + strings.Join(lower, ":")
	if upper != "" {
		opts += ",upperdir=" + upper + ",workdir=" + work
	}
	opts += ",index=off,xino=off,metacopy=off"
	if userns.RunningInUserNS() {
		opts += ",redirect_dir=nofollow,userxattr"
	} else {
		opts += ",redirect_dir=off"
	}
	if len(opts) >= unix.Getpagesize()-1 {
		return "", nil, fmt.Errorf("overlay mount options too long (%d layers)", len(lower))
	}
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return "", nil, fmt.Errorf("mounting overlay at %s: %w", target, err)
	}
	return target, func() { _ = unix.Unmount(target, unix.MNT_DETACH) }, nil
}

// detachedOverlay creates an overlay mount that is attached nowhere and
// returns the /proc path of the file descriptor holding it.
func detachedOverlay(lower []string, upper, work string) (string, func(), error) {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return "", nil, err
	}
	defer unix.Close(fd)
	for _, l := range lower {
		if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
			return "", nil, err
		}
	}
	if upper != "" {
		if err := unix.FsconfigSetString(fd, "upperdir", upper); err != nil {
			return "", nil, err
		}
		if err := unix.FsconfigSetString(fd, "workdir", work); err != nil {
			return "", nil, err
		}
	}
	// In a user namespace (rootless) overlayfs may only use user.overlay.*
	// attributes, which the snapshots there carry, and then refuses
	// redirect_dir=off (nofollow neither makes nor follows redirects).
	inUserNS := userns.RunningInUserNS()
	redirect := "off"
	if inUserNS {
		redirect = "nofollow"
	}
	for _, opt := range [][2]string{{"index", "off"}, {"xino", "off"}, {"redirect_dir", redirect}, {"metacopy", "off"}} {
		if err := unix.FsconfigSetString(fd, opt[0], opt[1]); err != nil {
			return "", nil, err
		}
	}
	if inUserNS {
		if err := unix.FsconfigSetFlag(fd, "userxattr"); err != nil {
			return "", nil, err
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return "", nil, err
	}
	var attr int
	if upper == "" {
		attr = unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return "", nil, err
	}
	f := os.NewFile(uintptr(mfd), "overlay")
	var once sync.Once
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), mfd), func() { once.Do(func() { f.Close() }) }, nil
}

// ReadOnly returns a read-only overlay of dir (over an empty directory:
// overlayfs wants two layers without an upper one), detached from the
// builder's mount namespace so that a step can bind it.
func ReadOnly(store *cache.Store, dir string) (string, func(), error) {
	empty, err := store.TempDir("bindro-")
	if err != nil {
		return "", nil, err
	}
	root, cleanup, err := detachedOverlay([]string{dir, empty}, "", "")
	if err != nil {
		os.Remove(empty)
		return "", nil, fmt.Errorf("mounting a read-only overlay of %s: %w", dir, err)
	}
	return root, func() { cleanup(); os.Remove(empty) }, nil
}

// Scratch returns a writable view of host whose writes are thrown away: an
// overlay with a temporary upper dir for a directory, a temporary copy for
// a file.
func Scratch(store *cache.Store, host string) (string, func(), error) {
	tmp, err := store.TempDir("bindrw-")
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
	root, unmount, err := mountOverlay(merged, []string{host}, upper, work)
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	return root, func() {
		unmount()
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
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
