//go:build linux

package buildctx

import (
	"io/fs"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openNoFollow opens name read-only without following a final symlink and
// without blocking on a FIFO.
func openNoFollow(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
}

// statOf returns the ownership and identity fields of fi that the digest and
// its memo use.
func statOf(fi fs.FileInfo) fileStat {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStat{}
	}
	return fileStat{
		uid:   st.Uid,
		gid:   st.Gid,
		ino:   uint64(st.Ino),
		ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec,
	}
}

// lstatDir lstats the entries of the open directory d, relative to its
// descriptor, so that the kernel resolves one name per entry
// instead of the whole path: the walk of an unchanged context is mostly
// these calls. Entries that vanished are left nil.
func lstatDir(d *os.File, names []string) ([]fs.FileInfo, error) {
	dir := d.Name()
	fd := int(d.Fd())
	out := make([]fs.FileInfo, len(names))
	// Two allocations per directory rather than two per entry.
	sts := make([]syscall.Stat_t, len(names))
	infos := make([]statInfo, len(names))
	for i, name := range names {
		st := &sts[i]
		if err := fstatat(fd, name, st); err != nil {
			if err == syscall.ENOENT {
				continue
			}
			return nil, &fs.PathError{Op: "lstat", Path: dir + "/" + name, Err: err}
		}
		infos[i] = statInfo{name: name, st: st}
		out[i] = &infos[i]
	}
	return out, nil
}

func fstatat(fd int, name string, st *syscall.Stat_t) error {
	for {
		err := unix.Fstatat(fd, name, (*unix.Stat_t)(unsafe.Pointer(st)), unix.AT_SYMLINK_NOFOLLOW)
		if err != unix.EINTR {
			return err
		}
	}
}

// statInfo is the fs.FileInfo of a raw stat, as os.Lstat would build it.
type statInfo struct {
	name string
	st   *syscall.Stat_t
}

func (s *statInfo) Name() string       { return s.name }
func (s *statInfo) Size() int64        { return s.st.Size }
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Sec, s.st.Mtim.Nsec) }
func (s *statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s *statInfo) Sys() any           { return s.st }

func (s *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if s.st.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// openNonBlock opens name read-only, following symlinks, without blocking
// on a FIFO.
func openNonBlock(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
}
