package buildctx

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// OpenFile opens the selected regular file p (a [Source.Path]) for reading.
// Symlinks in its parent directories are resolved inside the context, and
// the resolved path is opened beneath the context root with no symlink
// allowed on the way (so a parent swapped for a symlink to a host
// directory after resolving fails instead of being followed); the file
// itself is opened with O_NOFOLLOW and O_NONBLOCK (so a FIFO swapped in
// after Select cannot block the build) and checked with fstat to still be
// a regular file.
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
	f, err := c.openRegular(path.Join(parent, path.Base(p)))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", p, err)
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

// OpenPath opens what the context-relative path p names, following its
// symlinks inside the context, as an O_PATH descriptor for a bind mount
// source: /proc/PID/fd/N then names exactly the file or directory resolved
// here (an overlay lower directory, a file to copy), even if a parent is
// swapped for a symlink to a host directory afterwards. The caller closes
// it once done.
func (c *Context) OpenPath(p string) (*os.File, error) {
	p, err := cleanArg(p)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", p, err)
	}
	real, err := c.resolve(p, true)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", p, err)
	}
	f, err := c.openPath(real)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", p, err)
	}
	return f, nil
}

// ReadFileIn reads the host file name (the Dockerfile) as the context dir
// reads its own files: when name lies inside dir it is resolved beneath
// it, so that a Dockerfile that is a symlink to a host file is refused
// (ErrOutsideContext) rather than read and quoted in errors; a name outside
// dir (an explicit -f elsewhere) is read as given, as docker does. Either
// way a FIFO or device is refused instead of blocking the build.
func ReadFileIn(dir, name string) ([]byte, error) {
	c, err := hostContext(dir)
	if err != nil {
		return nil, err
	}
	f, err := c.openHostFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// hostContext is a Context on dir for reading single files, without
// ignore rules.
func hostContext(dir string) (*Context, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	real := abs
	if !isFDLink(abs) {
		if real, err = filepath.EvalSymlinks(abs); err != nil {
			return nil, err
		}
	}
	return &Context{dir: real, given: abs}, nil
}

// openHostFile opens the host file name (the Dockerfile or the ignore
// file) for reading, beneath the context when it lies inside it.
func (c *Context) openHostFile(name string) (*os.File, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, err
	}
	var f *os.File
	if rel, ok := c.inside(abs); ok {
		real, err := c.resolve(rel, true)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", name, err)
		}
		if f, err = c.openRegular(real); err != nil {
			return nil, fmt.Errorf("opening %s: %w", name, err)
		}
	} else if f, err = openNonBlock(name); err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("opening %s: is a %s, not a regular file", name, typeName(fi.Mode()))
	}
	return f, nil
}

// inside returns the context-relative path of the absolute host path abs
// when it lies (lexically) inside the context directory.
func (c *Context) inside(abs string) (string, bool) {
	for _, dir := range []string{c.given, c.dir} {
		if dir == "" {
			continue
		}
		rel, err := filepath.Rel(dir, abs)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(rel), true
		}
	}
	return "", false
}
