//go:build linux

package buildctx

import (
	"io/fs"
	"os"
	"syscall"
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
