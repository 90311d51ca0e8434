//go:build unix

package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// lockPath takes an exclusive flock on path (creating it), polling so that
// ctx can cancel the wait. The returned function releases it.
func lockPath(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	delay := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// lockFD takes an exclusive flock on an open file or directory, which a
// writer holds for as long as its temp file or directory exists.
func lockFD(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// tryLockPath reports whether no other open file description holds an
// flock on path, and if so holds one until the returned function is called.
func tryLockPath(path string) (func(), bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}

// lockShared opens path (creating it) and takes a shared flock on it,
// polling so that ctx can cancel the wait (Prune holds it exclusively).
func lockShared(ctx context.Context, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := flockWait(ctx, f, unix.LOCK_SH); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// flockWait takes an flock of kind how on f, polling until ctx ends.
func flockWait(ctx context.Context, f *os.File, how int) error {
	delay := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// upgradeLock converts the shared flock on f to an exclusive one without
// waiting; ok is false if another open description holds it. Either way f
// ends up locked (exclusively if ok, shared otherwise).
func upgradeLock(ctx context.Context, f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, unix.EWOULDBLOCK) {
		return false, err
	}
	// A failed conversion may have dropped the shared lock: take it again.
	return false, flockWait(ctx, f, unix.LOCK_SH)
}

// downgradeLock converts an exclusive flock on f back to a shared one.
func downgradeLock(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_SH)
}

// pidGone reports whether no process has the id pid.
func pidGone(pid int) bool { return unix.Kill(pid, 0) == unix.ESRCH }

// ownerLocks holds this process's owner lock file per directory, with
// the number of open Stores that use it.
var ownerLocks struct {
	sync.Mutex
	m map[string]*ownerLock
}

type ownerLock struct {
	f *os.File
	n int
}

// ownerFile names the file whose shared flock marks process pid's
// entries in a directory as live.
func ownerFile(pid int) string { return ownerPrefix + strconv.Itoa(pid) }

// holdOwner takes, once per process and directory, a shared flock on
// dir/.owner-PID and keeps it until the process exits. Entries named after
// the pid are then known to be live to any sweeper, even one in another
// pid namespace where the number means nothing.
// Each call is matched by a releaseOwner; the last one removes the file.
func holdOwner(dir string) error {
	ownerLocks.Lock()
	defer ownerLocks.Unlock()
	if l := ownerLocks.m[dir]; l != nil {
		l.n++
		return nil
	}
	if ownerLocks.m == nil {
		ownerLocks.m = map[string]*ownerLock{}
	}
	p := filepath.Join(dir, ownerFile(os.Getpid()))
	for {
		f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		if err := flockRetry(f, unix.LOCK_SH); err != nil {
			f.Close()
			return err
		}
		// A sweeper may have removed the file while we waited for the lock.
		fi, err1 := f.Stat()
		pi, err2 := os.Stat(p)
		if err1 == nil && err2 == nil && os.SameFile(fi, pi) {
			ownerLocks.m[dir] = &ownerLock{f: f, n: 1}
			return nil
		}
		f.Close()
	}
}

// releaseOwner undoes one holdOwner of dir.
func releaseOwner(dir string) {
	ownerLocks.Lock()
	defer ownerLocks.Unlock()
	l := ownerLocks.m[dir]
	if l == nil {
		return
	}
	if l.n--; l.n == 0 {
		os.Remove(l.f.Name())
		l.f.Close()
		delete(ownerLocks.m, dir)
	}
}

func flockRetry(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// ownerGone reports whether process pid's entries in dir are debris: no
// process holds dir/.owner-PID (or, for entries made before owner files,
// no process has that pid). While gone is true the caller holds the
// owner file exclusively; release removes it and lets go.
func ownerGone(dir string, pid int) (release func(), gone bool) {
	p := filepath.Join(dir, ownerFile(pid))
	f, err := os.Open(p)
	if err != nil {
		return func() {}, pidGone(pid)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return func() {
		os.Remove(p)
		f.Close()
	}, true
}
