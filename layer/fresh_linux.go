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
	"unsafe"

	"github.com/moby/sys/userns"
	umoci "github.com/opencontainers/umoci/oci/layer"
	"golang.org/x/sys/unix"
)

// inUserNamespace is umoci's test for its rootless tricks, which the fast
// path imitates: a device node (mknod is refused there) makes the fast
// path hand the rest of the layer to umoci, which creates an empty file in
// its place, and an xattr the namespace may not set (trusted.*) is
// skipped. Opaque directories then carry user.overlay.opaque, as overlayfs
// mounted with userxattr expects.
var inUserNamespace = userns.RunningInUserNS()

// beneath resolves a path below the root fd and refuses every symlink on
// the way, so a path the fast path acts on can never lead out of the root.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// copyBuf is the buffer size for file contents.
const copyBuf = 256 << 10

// isEmptyDir reports whether dir is an existing directory with no entries.
func isEmptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return errors.Is(err, io.EOF) && len(names) == 0
}

// applyFresh extracts a layer into dir, an empty directory, in overlayfs's
// on-disk format, and produces the tree applyCareful produces (the layer
// fuzzer checks it). As nothing can exist at a path the layer has not
// created, an entry costs one create relative to the root fd and its
// metadata set on the new file; directories get their metadata once, at
// the end. The layer is read on a goroutine of its own (decompression and
// hashing in the caller's reader run there), ahead of the writer.
//
// Anything unusual hands the entry to umoci's extractor: a whiteout (always)
// or a create that fails (the path exists: a duplicate entry; its parent is
// missing, not a directory or reached through a symlink; a hard link the
// fast path cannot resolve). After such a failure the fast path applies
// the directory metadata it has deferred and umoci extracts the rest of
// the layer, exactly as applyCareful would have from that point.
func applyFresh(ctx context.Context, dir string, layer io.Reader, o options) error {
	fa, err := newFreshApplier(dir)
	if err != nil {
		return err
	}
	defer fa.close()
	ra := newReadAhead(layer, io.Discard)
	defer ra.closeWait()
	if err := apply(ctx, dir, ra, fa, o); err != nil {
		return err
	}
	if !fa.slow { // else umoci has set everything, and flushed is what was deferred
		if err := fa.flush(); err != nil {
			return fmt.Errorf("applying directory metadata: %w", err)
		}
	}
	// Read the end-of-archive padding, so that a reader that verifies
	// (decompressor checksum, size limit) has its say.
	if _, err := io.Copy(io.Discard, ra); err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	return nil
}

// dirMeta is a directory's metadata, applied at the end.
type dirMeta struct {
	name         string
	uid, gid     int
	mode         uint32
	atime, mtime unix.Timespec
	xattrs       map[string]string
}

// freshApplier is the fast path's unpacker.
type freshApplier struct {
	root     string
	rootFD   int
	rootTime [2]unix.Timespec // the root's times before extraction
	rootHdr  bool             // the layer has an entry for the root
	known    map[string]bool  // directories the layer created, no symlink on their path
	dirs     []dirMeta        // directory metadata to apply at the end
	careful  *umoci.TarExtractor
	slow     bool // umoci extracts every entry from now on
	buf      []byte
}

var _ unpacker = (*freshApplier)(nil)

func newFreshApplier(dir string) (*freshApplier, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	return &freshApplier{
		root:     filepath.Clean(dir),
		rootFD:   fd,
		rootTime: [2]unix.Timespec{st.Atim, st.Mtim},
		known:    map[string]bool{".": true},
		careful:  umoci.NewTarExtractor(&umoci.UnpackOptions{OnDiskFormat: umoci.OverlayfsRootfs{UserXattr: inUserNamespace}}),
	}, nil
}

func (fa *freshApplier) close() { unix.Close(fa.rootFD) }

// UnpackEntry writes one entry checked by CheckEntry (root is fa's root).
func (fa *freshApplier) UnpackEntry(_ string, hdr *tar.Header, r io.Reader) error {
	if !fa.slow {
		if strings.HasPrefix(path.Base(hdr.Name), whPrefix) {
			// Whiteouts are rare; umoci keeps track of them (a later
			// opaque marker removes earlier whiteouts beneath it) and
			// may remove what the fast path created, so the fast path
			// forgets what it knew of the tree.
			fa.known = map[string]bool{".": true}
			return fa.careful.UnpackEntry(fa.root, hdr, r)
		}
		done, err := fa.create(hdr, r)
		if done || err != nil {
			return err
		}
		if err := fa.flush(); err != nil {
			return fmt.Errorf("applying directory metadata: %w", err)
		}
		fa.slow, fa.known = true, nil
	}
	return fa.careful.UnpackEntry(fa.root, hdr, r)
}

// create makes the entry's file and sets its metadata. done is false,
// with nothing changed and nothing of r read, if the fast path leaves the
// entry to umoci.
func (fa *freshApplier) create(hdr *tar.Header, r io.Reader) (done bool, err error) {
	name := hdr.Name
	if _, ok := hdr.Xattrs["system.posix_acl_default"]; ok { //nolint:staticcheck // umoci reads Xattrs
		return false, nil // children inherit it: umoci sets it before they exist
	}
	if name == "." {
		fa.rootHdr = true
		fa.dirs = append(fa.dirs, newDirMeta(hdr))
		return true, nil
	}
	if !fa.isDir(path.Dir(name)) {
		return false, nil
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA still appears in old layers
		return fa.createFile(hdr, r)
	case tar.TypeDir:
		if unix.Mkdirat(fa.rootFD, name, 0o700) != nil {
			return false, nil
		}
		fa.known[name] = true
		fa.dirs = append(fa.dirs, newDirMeta(hdr))
		return true, nil
	case tar.TypeSymlink:
		if unix.Symlinkat(hdr.Linkname, fa.rootFD, name) != nil {
			return false, nil
		}
	case tar.TypeLink:
		if !fa.isDir(path.Dir(hdr.Linkname)) || unix.Linkat(fa.rootFD, hdr.Linkname, fa.rootFD, name, 0) != nil {
			return false, nil
		}
		return true, nil // a hard link has its target's metadata
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode = unix.S_IFCHR
		case tar.TypeBlock:
			mode = unix.S_IFBLK
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if unix.Mknodat(fa.rootFD, name, mode|uint32(hdr.Mode)&0o7777, int(dev)) != nil {
			return false, nil
		}
	default:
		return false, nil
	}
	return true, fa.pathMetadata(hdr)
}

// createFile writes a regular file and sets its metadata on the open fd.
func (fa *freshApplier) createFile(hdr *tar.Header, r io.Reader) (bool, error) {
	fd, err := unix.Openat2(fa.rootFD, hdr.Name, &unix.OpenHow{
		Flags:   unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Mode:    0o600,
		Resolve: beneath,
	})
	if err != nil {
		return false, nil
	}
	f := os.NewFile(uintptr(fd), filepath.Join(fa.root, hdr.Name))
	if fa.buf == nil {
		fa.buf = make([]byte, copyBuf)
	}
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, r, fa.buf)
	if err == nil && n != hdr.Size {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = fdMetadata(fd, hdr.Uid, hdr.Gid, uint32(hdr.Mode), hdr.Xattrs, times(hdr)) //nolint:staticcheck // umoci reads Xattrs
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return true, fmt.Errorf("writing file: %w", err)
	}
	return true, nil
}

// pathMetadata sets the metadata of a symlink or device node just created
// (no fd to hold: a symlink cannot be opened, a fifo would block). The
// path's parent is a directory with no symlink on its path.
func (fa *freshApplier) pathMetadata(hdr *tar.Header) error {
	name := hdr.Name
	if err := unix.Fchownat(fa.rootFD, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Fchmodat(fa.rootFD, name, uint32(hdr.Mode)&0o7777, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if len(hdr.Xattrs) > 0 { //nolint:staticcheck // umoci reads Xattrs
		full := filepath.Join(fa.root, name)
		err := setXattrs(hdr.Xattrs, func(k string, v []byte) error { return unix.Lsetxattr(full, k, v, 0) }) //nolint:staticcheck // see above
		if err != nil {
			return err
		}
	}
	ts := times(hdr)
	if err := unix.UtimesNanoAt(fa.rootFD, name, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

// isDir reports whether dir is a directory beneath the root with no
// symlink on its path, remembering it (and its parents) if so.
func (fa *freshApplier) isDir(dir string) bool {
	if fa.known[dir] {
		return true
	}
	fd, err := unix.Openat2(fa.rootFD, dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: beneath,
	})
	if err != nil {
		return false
	}
	unix.Close(fd)
	for d := dir; d != "." && !fa.known[d]; d = path.Dir(d) {
		fa.known[d] = true
	}
	return true
}

// flush applies the deferred directory metadata, deepest directories first,
// and gives the root back its times if the layer has no entry for it (as
// umoci restores a parent's times after each entry). A directory that is
// no longer one (a whiteout replaced it) is skipped.
func (fa *freshApplier) flush() error {
	dirs := fa.dirs
	fa.dirs = nil
	sort.SliceStable(dirs, func(i, j int) bool { return depth(dirs[i].name) > depth(dirs[j].name) })
	for _, d := range dirs {
		fd, err := unix.Openat2(fa.rootFD, d.name, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: beneath,
		})
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "open", Path: d.name, Err: err}
		}
		err = fdMetadata(fd, d.uid, d.gid, d.mode, d.xattrs, [2]unix.Timespec{d.atime, d.mtime})
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
	}
	if !fa.rootHdr {
		if err := unix.UtimesNanoAt(fa.rootFD, ".", fa.rootTime[:], 0); err != nil {
			return fmt.Errorf("restoring root times: %w", err)
		}
	}
	return nil
}

func depth(name string) int {
	if name == "." {
		return 0
	}
	return strings.Count(name, "/") + 1
}

func newDirMeta(hdr *tar.Header) dirMeta {
	ts := times(hdr)
	return dirMeta{name: hdr.Name, uid: hdr.Uid, gid: hdr.Gid, mode: uint32(hdr.Mode), atime: ts[0], mtime: ts[1],
		xattrs: hdr.Xattrs} //nolint:staticcheck // umoci reads Xattrs
}

// fdMetadata sets owner, mode (after the owner: chown clears setuid),
// xattrs and times on an open file or directory.
func fdMetadata(fd, uid, gid int, mode uint32, xattrs map[string]string, ts [2]unix.Timespec) error {
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, mode&0o7777); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if len(xattrs) > 0 {
		if err := setXattrs(xattrs, func(k string, v []byte) error { return unix.Fsetxattr(fd, k, v, 0) }); err != nil {
			return err
		}
	}
	if err := futimens(fd, ts); err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

// futimens sets the times of an open file (utimensat with a NULL path;
// x/sys/unix has no wrapper for it).
func futimens(fd int, ts [2]unix.Timespec) error {
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// setXattrs sets a layer entry's xattrs as umoci does: host-specific ones
// (security.selinux, system.nfs4_acl) are skipped, and a file system
// without support for one, or a user namespace refusing one, is not an
// error.
func setXattrs(xattrs map[string]string, set func(string, []byte) error) error {
	for k, v := range xattrs {
		if k == "security.selinux" || k == "system.nfs4_acl" {
			continue
		}
		err := set(k, []byte(v))
		if err != nil && inUserNamespace && errors.Is(err, unix.EPERM) {
			continue // as umoci: a trusted.* attribute in a user namespace
		}
		if err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("setting xattr %s: %w", k, err)
		}
	}
	return nil
}

// times returns the access and modification times umoci gives an entry:
// a zero mtime means now, a zero atime the mtime.
func times(hdr *tar.Header) [2]unix.Timespec {
	mtime := hdr.ModTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = mtime
	}
	return [2]unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
}
