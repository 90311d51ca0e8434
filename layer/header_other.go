//go:build !unix

package layer

import "io/fs"

// FileOwner returns 0:0: this platform has no numeric owners.
func FileOwner(fs.FileInfo) (uid, gid int) { return 0, 0 }

func deviceNumbers(fs.FileInfo) (major, minor int64) { return 0, 0 }
