package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/cache"
)

// cacheLockPoll is how often a step waiting for a cache mount retries.
const cacheLockPoll = 20 * time.Millisecond

// CacheDir returns the directory of a RUN --mount=type=cache and a
// function to call once the step is over, honouring sharing= with flock(2)
// on the directory itself, across builds and processes:
//   - shared (the default) holds a shared lock: any number of steps use
//     the directory at once (they wait only for a locked user);
//   - locked holds an exclusive lock for the step: other users wait;
//   - private takes the exclusive lock if it is free, and otherwise uses a
//     fresh scratch directory, removed after the step.
//
// A directory is created with the mount's mode, uid and gid.
func CacheDir(ctx context.Context, store *cache.Store, m CacheMount) (string, func(), error) {
	dir := store.CacheMountDir(m.ID)
	if err := makeCacheDir(dir, m); err != nil {
		return "", nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return "", nil, err
	}
	release := func() { f.Close() } // closing drops the lock
	switch m.Sharing {
	case SharingPrivate:
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return dir, release, nil
		}
		f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return "", nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		tmp, err := store.TempDir("cache-private-")
		if err != nil {
			return "", nil, err
		}
		if err := applyCacheOwner(tmp, m); err != nil {
			os.RemoveAll(tmp)
			return "", nil, err
		}
		return tmp, func() { os.RemoveAll(tmp) }, nil
	case SharingLocked:
		err = flockWait(ctx, f, unix.LOCK_EX)
	default:
		err = flockWait(ctx, f, unix.LOCK_SH)
	}
	if err != nil {
		f.Close()
		return "", nil, fmt.Errorf("waiting for %s: %w", dir, err)
	}
	return dir, release, nil
}

// flockWait takes the lock how on f, waiting until ctx is done.
func flockWait(ctx context.Context, f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(cacheLockPoll):
		}
	}
}

// makeCacheDir creates a cache mount directory once, owned as the mount says.
func makeCacheDir(dir string, m CacheMount) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".tmp-")
	if err != nil {
		return err
	}
	if err := applyCacheOwner(tmp, m); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Remove(tmp)
		if _, serr := os.Stat(dir); serr == nil {
			return nil // a concurrent build made it first
		}
		return err
	}
	return nil
}

// applyCacheOwner gives dir the mode, uid and gid of a cache mount.
func applyCacheOwner(dir string, m CacheMount) error {
	if err := os.Chown(dir, m.UID, m.GID); err != nil {
		return err
	}
	// chmod after chown: chown clears the setuid and setgid bits.
	return unix.Chmod(dir, m.Mode&0o7777)
}
