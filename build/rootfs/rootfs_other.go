//go:build !linux

package rootfs

import (
	"context"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// OverlayUnsupported says overlayfs cannot be used: it is Linux's.
func OverlayUnsupported(string) string { return "not Linux" }

// Mount is unsupported off Linux.
func Mount(context.Context, *cache.Store, []layer.Info) (string, func(), error) {
	return "", nil, ErrUnsupported
}

// ReadOnly is unsupported off Linux.
func ReadOnly(*cache.Store, string) (string, func(), error) { return "", nil, ErrUnsupported }

// Scratch is unsupported off Linux.
func Scratch(*cache.Store, string) (string, func(), error) { return "", nil, ErrUnsupported }

// CacheDir is unsupported off Linux.
func CacheDir(context.Context, *cache.Store, CacheMount) (string, func(), error) {
	return "", nil, ErrUnsupported
}

// MountBinfmtMisc is unsupported off Linux.
func MountBinfmtMisc(string) error { return ErrUnsupported }
