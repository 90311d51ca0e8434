//go:build linux

package buildctx

import (
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// hasher hashes regular files of one context with raw descriptors: the
// context root is opened once and each file is opened relative to it with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so the kernel walks a few
// components instead of the whole host path plus a user-space lstat per
// component, and no *os.File (fcntl, poller, finalizer) is made per file.
// Source.Path has its symlinks resolved already; a path that meets a
// symlink anyway (swapped in since Select) or a kernel without openat2 takes
// the portable path through [Context.OpenFile], which resolves symlinks
// inside the context.
type hasher struct {
	c    *Context
	root int // O_PATH descriptor of c.dir; -1 = portable path only
}

func (c *Context) newHasher() (*hasher, error) {
	fd, err := unix.Open(c.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening build context %s: %w", c.dir, err)
	}
	return &hasher{c: c, root: fd}, nil
}

func (h *hasher) close() {
	if h.root >= 0 {
		unix.Close(h.root)
		h.root = -1
	}
}

// hash returns the sha256 of the file p (a Source.Path, whose Select-time
// lstat is info) and the FileInfo to key it by in the memo. sum and buf are
// the caller's hash and scratch buffer, reused from file to file.
//
// The fast path makes three system calls per file (openat2, read, close;
// one system call costs about a microsecond on a VM, a third of the time
// per file): it trusts the lstat from the walk instead of an fstat of the
// open file. That is still safe for the memo, as in git: the key is a stat
// taken before reading, so a file changed since then gets a new key and is
// re-hashed next time. And the read is bounded by that size: a file that is
// not exactly info.Size() bytes up to end of file now (it grew, shrank, or
// is no longer a regular file: a FIFO answers EAGAIN or nothing, a device
// more than it should) is hashed again the careful way, with the fstat
// check of [Context.OpenFile].
func (h *hasher) hash(p string, info fs.FileInfo, sum hash.Hash, buf []byte) (string, fs.FileInfo, error) {
	if hashHook != nil {
		hashHook(p)
	}
	if h.root < 0 {
		return h.c.hashPortable(p, sum, buf)
	}
	fd, err := openat2(h.root, p)
	switch {
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM), errors.Is(err, unix.ELOOP),
		errors.Is(err, unix.EXDEV), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.ENXIO):
		// No openat2 (or seccomp said no), a symlink on the way (ELOOP) or
		// one escaping (EXDEV), renames racing the walk (EAGAIN), or a
		// socket (ENXIO): resolve it the careful way.
		return h.c.hashPortable(p, sum, buf)
	case err != nil:
		return "", nil, fmt.Errorf("opening %s: %w", h.c.abs(p), err)
	}
	ok, err := readAll(fd, info.Size(), sum, buf)
	unix.Close(fd)
	if err != nil {
		return "", nil, fmt.Errorf("hashing %s: %w", h.c.abs(p), err)
	}
	if !ok {
		return h.c.hashPortable(p, sum, buf)
	}
	return hexSum(sum, buf), info, nil
}

// readAll hashes fd's contents into sum, expecting exactly size bytes; it
// reports false when there were more or fewer, or reading would block.
func readAll(fd int, size int64, sum hash.Hash, buf []byte) (bool, error) {
	sum.Reset()
	var total int64
	for {
		n, err := syscall.Read(fd, buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return false, nil
		case err != nil:
			return false, err
		}
		sum.Write(buf[:n])
		total += int64(n)
		switch {
		case total > size:
			return false, nil
		case n == 0:
			return total == size, nil
		case n < len(buf) && total == size:
			// A regular file's read comes back short only at end of
			// file: that saves the read that would return 0.
			return true, nil
		}
	}
}

// hashOpenHow is openat2's argument for every file (the kernel only reads
// it), shared rather than allocated per call.
var hashOpenHow = unix.OpenHow{
	Flags:   unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC,
	Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
}

func openat2(dirfd int, p string) (int, error) {
	how := &hashOpenHow
	for try := 0; ; try++ {
		fd, err := unix.Openat2(dirfd, p, how)
		if err == unix.EINTR || err == unix.EAGAIN && try < 3 {
			continue
		}
		return fd, err
	}
}
