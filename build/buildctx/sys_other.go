//go:build !linux

package buildctx

import (
	"io/fs"
	"os"
)

// openNoFollow opens name read-only; on this OS there is no O_NOFOLLOW, so
// the caller's fstat check is the only guard.
func openNoFollow(name string) (*os.File, error) { return os.Open(name) }

// statOf returns no ownership or identity fields on this OS.
func statOf(fs.FileInfo) fileStat { return fileStat{} }
