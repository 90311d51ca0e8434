//go:build !unix

package cache

import (
	"context"
	"os"
)

// lockPath creates path; without flock, Store.mu only serialises updates
// inside one process.
func lockPath(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// lockFD is a no-op without flock.
func lockFD(*os.File) error { return nil }

// tryLockPath always succeeds without flock; staleAge alone protects writers.
func tryLockPath(string) (func(), bool) { return func() {}, true }

// lockShared creates path; without flock, Prune cannot see running builds.
func lockShared(_ context.Context, path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}

// upgradeLock always succeeds without flock.
func upgradeLock(context.Context, *os.File) (bool, error) { return true, nil }

// downgradeLock is a no-op without flock.
func downgradeLock(*os.File) error { return nil }

// pidGone reports false: without kill(pid, 0) every owner may be alive.
func pidGone(int) bool { return false }

// holdOwner does nothing without flock.
func holdOwner(string) error { return nil }

// releaseOwner does nothing without flock.
func releaseOwner(string) {}

// ownerGone reports false: without flock every owner may be alive.
func ownerGone(string, int) (func(), bool) { return nil, false }
