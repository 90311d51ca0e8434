//go:build linux

package buildctx

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The context root is opened once; every path below it is then opened
// relative to that descriptor with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS), on paths whose symlinks [Context.resolve] has
// already resolved inside the context. A directory swapped for a symlink
// after resolve (renameat2(RENAME_EXCHANGE) racing the build) then fails
// with ELOOP instead of leading the kernel out of the context. Without
// openat2 the same walk is made one component at a time with O_NOFOLLOW.

// beneathHow is openat2's resolve mask for context paths.
const beneathHow = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// rootFile returns the O_PATH descriptor of the context root, opened on
// first use (and closed by its finalizer with the Context).
func (c *Context) rootFile() (*os.File, error) {
	c.rootOnce.Do(func() {
		fd, err := unix.Open(c.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			c.rootErr = fmt.Errorf("opening build context %s: %w", c.dir, err)
			return
		}
		c.root = os.NewFile(uintptr(fd), c.dir)
	})
	return c.root, c.rootErr
}

// openBeneath opens the context-relative path p, which must contain no
// symlink at all, with flags (O_NOFOLLOW and O_CLOEXEC are added).
func (c *Context) openBeneath(p string, flags int) (*os.File, error) {
	root, err := c.rootFile()
	if err != nil {
		return nil, err
	}
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		p = "."
	}
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := openat2Retry(int(root.Fd()), p, &unix.OpenHow{Flags: uint64(flags), Resolve: beneathHow})
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		fd, err = openWalk(int(root.Fd()), p, flags)
	}
	if err != nil {
		if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ELOOP) {
			err = fmt.Errorf("%w (a symlink appeared on the way: %v)", ErrOutsideContext, err)
		}
		return nil, &fs.PathError{Op: "open", Path: c.abs(p), Err: err}
	}
	return os.NewFile(uintptr(fd), c.abs(p)), nil
}

func openat2Retry(dirfd int, p string, how *unix.OpenHow) (int, error) {
	for try := 0; ; try++ {
		fd, err := unix.Openat2(dirfd, p, how)
		if err == unix.EINTR || err == unix.EAGAIN && try < 16 {
			continue
		}
		return fd, err
	}
}

// openWalk opens p below dirfd one component at a time, never following a
// symlink, for kernels without openat2.
func openWalk(dirfd int, p string, flags int) (int, error) {
	if p == "." {
		return unix.Openat(dirfd, ".", flags, 0)
	}
	comps := strings.Split(p, "/")
	cur := dirfd
	for i, comp := range comps {
		if comp == ".." {
			return -1, unix.EXDEV
		}
		var fd int
		var err error
		if i == len(comps)-1 {
			fd, err = unix.Openat(cur, comp, flags, 0)
		} else {
			fd, err = unix.Openat(cur, comp, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		if cur != dirfd {
			unix.Close(cur)
		}
		if err != nil {
			if err == unix.ENOTDIR && i < len(comps)-1 {
				err = unix.ELOOP // a symlink (or file) where a directory was
			}
			return -1, err
		}
		cur = fd
	}
	return cur, nil
}

// lstat lstats the context-relative path p (its parents free of symlinks).
func (c *Context) lstat(p string) (fs.FileInfo, error) {
	dir, base := path.Split(path.Clean("/" + p))
	if base == "" {
		f, err := c.rootFile()
		if err != nil {
			return nil, err
		}
		return f.Stat()
	}
	d, err := c.openBeneath(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	st := new(syscall.Stat_t)
	if err := fstatat(int(d.Fd()), base, st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: c.abs(p), Err: err}
	}
	return &statInfo{name: base, st: st}, nil
}

// readlink reads the symlink at the context-relative path p.
func (c *Context) readlink(p string) (string, error) {
	dir, base := path.Split(path.Clean("/" + p))
	d, err := c.openBeneath(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return "", err
	}
	defer d.Close()
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(int(d.Fd()), base, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: c.abs(p), Err: err}
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// openDir opens the context-relative directory p for listing.
func (c *Context) openDir(p string) (*os.File, error) {
	return c.openBeneath(p, unix.O_RDONLY|unix.O_DIRECTORY)
}

// openRegular opens the context-relative file p for reading without
// blocking on a FIFO.
func (c *Context) openRegular(p string) (*os.File, error) {
	return c.openBeneath(p, unix.O_RDONLY|unix.O_NONBLOCK)
}

// openPath opens the context-relative path p as an O_PATH descriptor.
func (c *Context) openPath(p string) (*os.File, error) {
	return c.openBeneath(p, unix.O_PATH)
}
