package sandbox

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// isWhiteout reports whether fi is an overlayfs whiteout (a 0/0 char device).
func isWhiteout(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0
}

// isOpaque reports whether the directory dir is an overlayfs opaque directory.
func isOpaque(dir string) bool {
	buf := make([]byte, 1)
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if n, err := unix.Lgetxattr(dir, name, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// stubsNeeded reports whether some mount target of spec is not already
// visible in the merged lower layers as a directory (directory targets) or
// a regular file (file targets), so that a stub layer must be added below
// them. Images normally have /proc, /dev, /sys and /etc, and then the stub
// layer, and a lower layer of the overlay, are saved.
func stubsNeeded(spec Spec) bool {
	if len(spec.Lowerdirs) == 0 {
		return true
	}
	dirs, files := mountTargets(spec)
	for _, d := range dirs {
		if fi, ok := visibleInLowers(spec.Lowerdirs, d); !ok || !fi.IsDir() {
			return true
		}
	}
	for _, f := range files {
		if fi, ok := visibleInLowers(spec.Lowerdirs, f); !ok || !fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// visibleInLowers looks p up in the overlay of lowers (top-most first) as
// overlayfs would, without redirects: the top-most layer holding p decides,
// unless a higher layer hides a parent of p with a whiteout, a non-directory
// or an opaque directory.
func visibleInLowers(lowers []string, p string) (fs.FileInfo, bool) {
	p = path.Clean("/" + p)
	for i, l := range lowers {
		fi, err := os.Lstat(filepath.Join(l, p))
		if err != nil {
			continue
		}
		if isWhiteout(fi) {
			return nil, false
		}
		for _, higher := range lowers[:i] {
			if hidesBelow(higher, p) {
				return nil, false
			}
		}
		return fi, true
	}
	return nil, false
}

// hidesBelow reports whether layer has a parent of p that hides lower
// layers: a whiteout or non-directory, or an opaque directory.
func hidesBelow(layer, p string) bool {
	for q := path.Dir(p); q != "/"; q = path.Dir(q) {
		fi, err := os.Lstat(filepath.Join(layer, q))
		if err != nil {
			continue
		}
		if !fi.IsDir() {
			return true
		}
		if isOpaque(filepath.Join(layer, q)) {
			return true
		}
	}
	return false
}
