package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Overlayfs xattrs. A mount with the userxattr option (the only kind a
// user namespace may make: rootless builds) uses user.overlay.* instead.
const (
	ovlOpaque   = ovlPrefix + "opaque"
	ovlRedirect = ovlPrefix + "redirect"
	ovlMetacopy = ovlPrefix + "metacopy"
)

// overlayXattr returns the value of overlayfs's attribute attr ("opaque",
// "redirect", "metacopy") of full in whichever namespace it is set.
func overlayXattr(full, attr string) ([]byte, error) {
	v, err := getXattr(full, ovlPrefix+attr)
	if err == nil {
		return v, nil
	}
	if v, uerr := getXattr(full, userOvlPrefix+attr); uerr == nil {
		return v, nil
	}
	return nil, err
}

type devIno struct{ dev, ino uint64 }

// walker writes a directory tree as tar entries.
type walker struct {
	tw      *TarWriter
	root    string
	prefix  string
	overlay bool              // upperdir mode: whiteouts, opaque dirs
	links   map[devIno]string // first entry name of each multiply linked inode
}

// WriteDir writes the tree under dir to w as a tar stream whose entry names
// are prefixed by prefix ("" for a root file system, in which case the root
// itself has no entry). Entries are sorted by path, parents before
// children; hard links (same device and inode) become tar hard links to
// the first path written; symlink targets are stored verbatim; devices,
// fifos, extended attributes, setuid/setgid/sticky bits and numeric
// ownership are kept. A file whose name starts with ".wh." is an error
// (it would read as a whiteout). If dir is not a directory it is written
// as a single entry named prefix.
func WriteDir(ctx context.Context, w io.Writer, dir, prefix string, opts TarOptions) error {
	return writeTree(ctx, w, dir, prefix, false, opts)
}

// WriteOverlayDiff writes the overlayfs upper directory upperdir to w as an
// OCI layer: a 0/0 character device becomes a ".wh.<name>" whiteout, a
// directory marked opaque (trusted.overlay.opaque=y) is followed directly
// by a ".wh..wh..opq" entry, and trusted.overlay.* attributes are never
// emitted. A created file whose name starts with ".wh." is an error, as is
// a redirected or metacopy-only directory (the mount must not use
// redirect_dir or metacopy). Cost is proportional to the size of upperdir.
func WriteOverlayDiff(ctx context.Context, w io.Writer, upperdir string, opts TarOptions) error {
	return writeTree(ctx, w, upperdir, "", true, opts)
}

func writeTree(ctx context.Context, w io.Writer, dir, prefix string, overlay bool, opts TarOptions) error {
	prefix = CleanPath(prefix)
	wk := &walker{tw: NewTarWriter(w, opts), root: dir, prefix: prefix, overlay: overlay, links: map[devIno]string{}}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("reading %s: %w", dir, &os.PathError{Op: "lstat", Path: dir, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if prefix == "" {
			return fmt.Errorf("writing %s: not a directory and no entry name given", dir)
		}
		if err := wk.entry(dir, prefix, &st); err != nil {
			return err
		}
	} else {
		if prefix != "" && !overlay {
			if err := wk.entry(dir, prefix, &st); err != nil {
				return err
			}
		}
		if err := wk.walk(ctx, dir, prefix); err != nil {
			return err
		}
	}
	if err := wk.tw.Close(); err != nil {
		return fmt.Errorf("writing layer of %s: %w", dir, err)
	}
	return nil
}

// walk writes the children of the directory at full, named under name.
func (wk *walker) walk(ctx context.Context, full, name string) error {
	f, err := os.Open(full)
	if err != nil {
		return fmt.Errorf("reading directory: %w", err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading directory: %w", err)
	}
	type child struct {
		name string // as emitted: whiteouts sort as .wh.<name>
		full string
		st   unix.Stat_t
	}
	children := make([]child, len(names))
	for i, n := range names {
		c := &children[i]
		c.name, c.full = n, filepath.Join(full, n)
		if err := unix.Lstat(c.full, &c.st); err != nil {
			return fmt.Errorf("reading %s: %w", c.full, err)
		}
		if wk.isWhiteout(&c.st) {
			c.name = whPrefix + n
		}
	}
	sort.Slice(children, func(i, j int) bool { return children[i].name < children[j].name })
	for i := range children {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := &children[i]
		childName := path.Join(name, path.Base(c.full))
		if err := wk.entry(c.full, childName, &c.st); err != nil {
			return err
		}
		if c.st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := wk.walk(ctx, c.full, childName); err != nil {
				return err
			}
		}
	}
	return nil
}

// isWhiteout reports whether st is an overlayfs whiteout (upperdir mode).
func (wk *walker) isWhiteout(st *unix.Stat_t) bool {
	return wk.overlay && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// entry writes the entry for one file, plus an opaque marker after an
// opaque directory in overlay mode.
func (wk *walker) entry(full, name string, st *unix.Stat_t) error {
	typ := st.Mode & unix.S_IFMT
	if wk.isWhiteout(st) {
		return wk.whiteout(path.Join(path.Dir(name), whPrefix+path.Base(name)))
	}
	if strings.HasPrefix(path.Base(name), whPrefix) {
		return fmt.Errorf("%s: file name starts with %q and would be read as a whiteout: %w", full, whPrefix, ErrInvalidEntry)
	}
	hdr, err := wk.header(full, name, st)
	if err != nil {
		return fmt.Errorf("%s: %w", full, err)
	}
	opaque := false
	if wk.overlay && typ == unix.S_IFDIR {
		opaque, err = overlayDirState(full)
		if err != nil {
			return err
		}
	}
	if err := wk.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", full, err)
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if err := wk.copyContent(full, hdr.Size); err != nil {
			return fmt.Errorf("%s: %w", full, err)
		}
	}
	if opaque {
		return wk.whiteout(path.Join(name, whOpaque))
	}
	return nil
}

// overlayDirState reports whether an upperdir directory is opaque and
// rejects directories whose meaning depends on a lower layer.
func overlayDirState(full string) (bool, error) {
	for _, x := range []string{"redirect", "metacopy"} {
		if _, err := overlayXattr(full, x); err == nil {
			return false, fmt.Errorf("%s: has %s%s (mount the overlay without redirect_dir and metacopy): %w", full, ovlPrefix, x, ErrInvalidEntry)
		}
	}
	v, err := overlayXattr(full, "opaque")
	if err != nil {
		if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
			return false, nil
		}
		return false, fmt.Errorf("%s: reading %s: %w", full, ovlOpaque, err)
	}
	return string(v) == "y", nil
}

func (wk *walker) whiteout(name string) error {
	return wk.tw.writeRaw(&tar.Header{Typeflag: tar.TypeReg, Name: name, ModTime: time.Unix(0, 0)})
}

// header builds the tar header of one file from its stat data.
func (wk *walker) header(full, name string, st *unix.Stat_t) (*tar.Header, error) {
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
	}
	typ := st.Mode & unix.S_IFMT
	switch typ {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFLNK:
		target, err := os.Readlink(full)
		if err != nil {
			return nil, err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if typ == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, fmt.Errorf("unsupported file type %#o (sockets cannot be stored in a layer)", typ)
	}
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		key := devIno{uint64(st.Dev), st.Ino}
		if first, ok := wk.links[key]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			return hdr, nil
		}
		wk.links[key] = name
	}
	xattrs, err := listXattrs(full)
	if err != nil {
		return nil, err
	}
	for k, v := range xattrs {
		if keepXattr(k) {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[paxXattr+k] = v
		}
	}
	return hdr, nil
}

// keepXattr reports whether an extended attribute belongs in a layer:
// overlayfs bookkeeping and host-specific labels do not.
func keepXattr(name string) bool {
	switch {
	case isOverlayXattr(name):
		return false
	case name == "security.selinux", name == "system.nfs4_acl":
		return false
	}
	return true
}

func (wk *walker) copyContent(full string, size int64) error {
	f, err := os.OpenFile(full, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(wk.tw, io.LimitReader(f, size))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("file shrank while being read (%d of %d bytes)", n, size)
	}
	return nil
}

// listXattrs returns the extended attributes of full (not following a
// symlink). A file system without xattr support has none.
func listXattrs(full string) (map[string]string, error) {
	buf := make([]byte, 1024)
	for {
		n, err := unix.Llistxattr(full, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing xattrs: %w", err)
		}
		buf = buf[:n]
		break
	}
	var m map[string]string
	for _, name := range strings.Split(string(buf), "\x00") {
		if name == "" {
			continue
		}
		v, err := getXattr(full, name)
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading xattr %s: %w", name, err)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[name] = string(v)
	}
	return m, nil
}

func getXattr(full, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(full, name, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
