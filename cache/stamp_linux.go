//go:build linux

package cache

import (
	"os"
	"syscall"
)

// statStamp returns the stamp of a stat result.
func statStamp(fi os.FileInfo) (stamp, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return stamp{}, false
	}
	return stamp{
		size:  fi.Size(),
		mtime: fi.ModTime().UnixNano(),
		ctime: int64(st.Ctim.Sec)*1e9 + int64(st.Ctim.Nsec),
		ino:   uint64(st.Ino),
	}, true
}
