package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// ErrUnsupported is returned off Linux by the functions that mount.
var ErrUnsupported = errors.New("mounting root file systems needs Linux")

// Export writes the root filesystem of an image made of layers into dest
// (type=local output): each layer is applied in order with whiteouts
// honoured and every path kept inside dest.
func Export(ctx context.Context, store *cache.Store, layers []layer.Info, dest string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dest, err)
	}
	for _, l := range layers {
		if err := applyBlob(ctx, store, l, dest); err != nil {
			return fmt.Errorf("exporting layer %s to %s: %w", l.Digest, dest, err)
		}
	}
	return nil
}

func applyBlob(ctx context.Context, store *cache.Store, l layer.Info, dest string) error {
	rc, err := store.Blob(ctx, l.Digest)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr, err := layer.Decompress(rc, store.LayerLimits()...)
	if err != nil {
		return err
	}
	defer tr.Close()
	return layer.ApplyDir(ctx, dest, tr, store.LayerLimits()...)
}

// Copy applies layers in order to a fresh directory below the store's
// mounts directory and returns it with a function removing it: a plain
// copy of the root file system, where overlayfs cannot be used.
func Copy(ctx context.Context, store *cache.Store, layers []layer.Info) (string, func(), error) {
	tmp, err := store.TempDir("rootfs-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	root := filepath.Join(tmp, "rootfs")
	if err := Export(ctx, store, layers, root); err != nil {
		cleanup()
		return "", nil, err
	}
	return root, cleanup, nil
}

// Snapshots returns the extracted snapshot directories of layers,
// bottom-most first, extracting any that are missing.
func Snapshots(ctx context.Context, store *cache.Store, layers []layer.Info) ([]string, error) {
	dirs := make([]string, 0, len(layers))
	for _, l := range layers {
		d, err := store.Snapshot(ctx, l)
		if err != nil {
			return nil, err // names the layer
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// Sharing is the sharing mode of a cache mount.
type Sharing string

// Sharing modes, as RUN --mount=type=cache,sharing= names them.
const (
	SharingShared  Sharing = "shared"
	SharingLocked  Sharing = "locked"
	SharingPrivate Sharing = "private"
)

// CacheMount is a RUN --mount=type=cache as CacheDir needs it.
type CacheMount struct {
	// ID names the cache (its id=, or its target).
	ID string
	// Sharing is SharingShared when empty.
	Sharing Sharing
	// Mode (permission bits as chmod(2) takes them, setuid, setgid and
	// sticky included), UID and GID are given to a directory CacheDir
	// creates.
	Mode     uint32
	UID, GID int
}
