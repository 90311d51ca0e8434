//go:build !linux

package buildctx

import (
	"io/fs"
	"os"
	"path"
)

// On this OS paths are opened by name: the checks of [Context.resolve]
// and the caller's fstat are the only guards against a racing rename.

func (c *Context) lstat(p string) (fs.FileInfo, error) { return os.Lstat(c.abs(p)) }

func (c *Context) readlink(p string) (string, error) { return os.Readlink(c.abs(p)) }

func (c *Context) openDir(p string) (*os.File, error) { return os.Open(c.abs(path.Clean(p))) }

func (c *Context) openRegular(p string) (*os.File, error) { return openNoFollow(c.abs(p)) }

func (c *Context) openPath(p string) (*os.File, error) { return os.Open(c.abs(p)) }
