//go:build !linux

package buildctx

import (
	"errors"
	"io/fs"
	"os"
)

// openNoFollow opens name read-only; on this OS there is no O_NOFOLLOW, so
// the caller's fstat check is the only guard.
func openNoFollow(name string) (*os.File, error) { return os.Open(name) }

// statOf returns no ownership or identity fields on this OS.
func statOf(fs.FileInfo) fileStat { return fileStat{} }

// lstatDir lstats the entries of the open directory d one path at a time.
func lstatDir(d *os.File, names []string) ([]fs.FileInfo, error) {
	dir := d.Name()
	out := make([]fs.FileInfo, len(names))
	for i, name := range names {
		fi, err := os.Lstat(dir + string(os.PathSeparator) + name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = fi
	}
	return out, nil
}

// openNonBlock opens name read-only.
func openNonBlock(name string) (*os.File, error) { return os.Open(name) }
