//go:build !linux

package buildctx

import (
	"hash"
	"io/fs"
)

// hasher hashes files through [Context.OpenFile] on this OS.
type hasher struct{ c *Context }

func (c *Context) newHasher() (*hasher, error) { return &hasher{c: c}, nil }

func (h *hasher) close() {}

func (h *hasher) hash(p string, _ fs.FileInfo, sum hash.Hash, buf []byte) (string, fs.FileInfo, error) {
	if hashHook != nil {
		hashHook(p)
	}
	return h.c.hashPortable(p, sum, buf)
}
