package build

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/ibuild/ibuild/layer"
)

// The rules in this file follow BuildKit's copy (tonistiigi/fsutil
// copy/copy.go, which BuildKit v0.17.3's file op calls once per source):
// the destination directory is made with MkdirAll, which fails on a
// component that is not a directory; a file never replaces a directory and
// a directory never replaces anything but a directory.

// checkMkdir fails as BuildKit's MkdirAll of the destination directory
// does when a component of dir (an absolute image path, symlinks followed
// inside root) exists and is not a directory: "mkdir /x: not a directory".
func checkMkdir(root, dir string) error {
	p := "/"
	for _, comp := range strings.Split(layer.CleanPath(dir), "/") {
		if comp == "" {
			continue
		}
		p = path.Join(p, comp)
		real, err := securejoin.SecureJoin(root, p)
		if err != nil {
			return fmt.Errorf("resolving destination %s: %w", p, err)
		}
		fi, err := os.Lstat(real)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("resolving destination %s: %w", p, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: %w", imagePath(root, real), syscall.ENOTDIR)
		}
	}
	return nil
}

// imagePath turns a host path inside root back into an absolute image path.
func imagePath(root, real string) string {
	rel, err := filepath.Rel(root, real)
	if err != nil {
		return real
	}
	return "/" + layer.CleanPath(filepath.ToSlash(rel))
}

// checkReplace fails, as BuildKit does, where a planned entry would
// replace what the image already has at its path with another kind: a
// directory cannot be copied onto a file or symlink, a file or symlink
// cannot replace a directory. Entry names are already resolved, so the
// existing path is looked at without following a final symlink.
func (c *copier) checkReplace(root string) error {
	for _, e := range c.entries {
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(e.hdr.Name)))
		if err != nil {
			continue // missing, or below a path the planner checked
		}
		isDir := e.hdr.Typeflag == tar.TypeDir
		switch {
		case isDir && !fi.IsDir():
			return fmt.Errorf("cannot copy to non-directory: /%s", e.hdr.Name)
		case !isDir && fi.IsDir():
			return fmt.Errorf("cannot replace to directory /%s with file", e.hdr.Name)
		}
	}
	return nil
}

// linkKey identifies one inode of one COPY source argument: BuildKit keeps
// the hard links among the files one source copies (its copier remembers
// inodes per source), not across sources.
type linkKey struct {
	src      int // index of the source argument, from 1
	dev, ino uint64
}

// hardlinkKey returns the link key of a regular file with other links, or
// the zero key.
func hardlinkKey(src int, fi fs.FileInfo) linkKey {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink < 2 || !fi.Mode().IsRegular() {
		return linkKey{}
	}
	return linkKey{src: src, dev: uint64(st.Dev), ino: uint64(st.Ino)} //nolint:unconvert // Dev is uint32 on some platforms
}

// linkHardlinks turns every sorted entry that shares a link key with an
// earlier one into a hard link to it, so the layer keeps the sources'
// hard links.
func (c *copier) linkHardlinks() {
	first := map[linkKey]string{}
	for i := range c.entries {
		e := &c.entries[i]
		if e.link == (linkKey{}) || e.hdr.Typeflag != tar.TypeReg {
			continue
		}
		target, ok := first[e.link]
		if !ok {
			first[e.link] = e.hdr.Name
			continue
		}
		e.hdr.Typeflag, e.hdr.Linkname, e.hdr.Size = tar.TypeLink, target, 0
		e.src, e.data, e.file = "", nil, ""
	}
}
