//go:build unix

package layer

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// FileOwner returns the numeric owner of fi (0:0 when fi does not come
// from a stat of the host).
func FileOwner(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return 0, 0
}

func deviceNumbers(fi fs.FileInfo) (major, minor int64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		rdev := uint64(st.Rdev) //nolint:unconvert // Rdev's type differs by platform
		return int64(unix.Major(rdev)), int64(unix.Minor(rdev))
	}
	return 0, 0
}
