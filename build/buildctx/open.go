package buildctx

import (
	"fmt"
	"os"
	"path"
)

// OpenFile opens the selected regular file p (a [Source.Path]) for reading.
// Symlinks in its parent directories are resolved inside the context; the
// file itself is opened with O_NOFOLLOW and O_NONBLOCK (so a FIFO swapped in
// after Select cannot block the build) and checked with fstat to still be a
// regular file.
func (c *Context) OpenFile(p string) (*os.File, error) {
	p, err := cleanArg(p)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", p, err)
	}
	parent, err := c.resolve(path.Dir(p), true)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", p, err)
	}
	host := c.abs(path.Join(parent, path.Base(p)))
	f, err := openNoFollow(host)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", host, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening %s: %w", host, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("opening %s: is a %s, not a regular file", host, typeName(fi.Mode()))
	}
	return f, nil
}
