package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Scan records every path under root (the root itself as "/"), without
// following symlinks.
func Scan(root string) (Tree, error) {
	t := Tree{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		e, err := scanEntry(path)
		if err != nil {
			return err
		}
		key := "/" + filepath.ToSlash(rel)
		if rel == "." {
			key = "/"
		}
		t[key] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scanning %s: %w", root, err)
	}
	t.linkGroups()
	return t, nil
}

func scanEntry(path string) (*Entry, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return nil, fmt.Errorf("lstat: %w", err)
	}
	e := &Entry{
		Mode:  st.Mode & 0o7777,
		UID:   int(st.Uid),
		GID:   int(st.Gid),
		MTime: st.Mtim.Nano(),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		e.Type, e.Size = "file", st.Size
		if st.Nlink > 1 {
			e.inodeID = st.Ino
		}
		d, err := fileDigest(path)
		if err != nil {
			return nil, err
		}
		e.Digest = d
	case unix.S_IFDIR:
		e.Type = "dir"
	case unix.S_IFLNK:
		e.Type = "symlink"
		target, err := os.Readlink(path)
		if err != nil {
			return nil, err
		}
		e.Target = target
	case unix.S_IFCHR, unix.S_IFBLK:
		e.Type = "char"
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			e.Type = "block"
		}
		e.Major, e.Minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
	case unix.S_IFIFO:
		e.Type = "fifo"
	case unix.S_IFSOCK:
		e.Type = "socket"
	}
	x, err := xattrs(path)
	if err != nil {
		return nil, err
	}
	e.Xattrs = x
	return e, nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func xattrs(path string) (map[string]string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(path, buf)
	if err == unix.ERANGE {
		sz, err2 := unix.Llistxattr(path, nil)
		if err2 != nil {
			return nil, err2
		}
		buf = make([]byte, sz)
		n, err = unix.Llistxattr(path, buf)
	}
	if err == unix.ENOTSUP || n <= 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing xattrs of %s: %w", path, err)
	}
	m := map[string]string{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		v := make([]byte, 65536)
		vn, err := unix.Lgetxattr(path, name, v)
		if err != nil {
			return nil, fmt.Errorf("reading xattr %s of %s: %w", name, path, err)
		}
		m[name] = strconv.Quote(string(v[:vn]))
	}
	return m, nil
}
