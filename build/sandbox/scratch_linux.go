package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// scratchStaleAge is how old an unlocked bundle directory of a live pid
// must be before it counts as debris: the owner locks it right after
// creating it, and a pid may have been reused since.
const scratchStaleAge = time.Minute

// sweptScratch holds the scratch directories swept by this process.
var sweptScratch sync.Map

// makeScratch creates the step's bundle directory under scratch (os.TempDir
// when empty) and locks it for as long as the builder lives: a builder
// killed with SIGKILL cannot remove it, and the next builder sweeps
// directories nobody holds a lock on. The name carries the builder's pid,
// as the step's cgroup does. release unlocks and removes the directory.
func makeScratch(scratch string) (dir string, release func(), err error) {
	if scratch == "" {
		scratch = os.TempDir()
	} else if err := os.MkdirAll(scratch, 0o700); err != nil {
		return "", nil, fmt.Errorf("creating sandbox directory: %w", err)
	}
	if _, done := sweptScratch.LoadOrStore(scratch, true); !done {
		sweepScratch(scratch)
	}
	dir, err = os.MkdirTemp(scratch, fmt.Sprintf("%s%d-", stepPrefix, os.Getpid()))
	if err != nil {
		return "", nil, fmt.Errorf("creating sandbox directory: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("locking sandbox directory: %w", err)
	}
	return dir, func() {
		os.RemoveAll(dir)
		unix.Close(fd)
	}, nil
}

// sweepScratch removes the bundle directories in scratch that no builder
// holds: their builder was killed before it could remove them.
func sweepScratch(scratch string) {
	ents, err := os.ReadDir(scratch)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, ok := stepOwner(e.Name())
		if !ok || !e.IsDir() || pid == os.Getpid() {
			continue
		}
		p := filepath.Join(scratch, e.Name())
		if syscall.Kill(pid, 0) != unix.ESRCH {
			// The pid is alive: its builder, or a reuse of the number.
			fi, err := e.Info()
			if err != nil || time.Since(fi.ModTime()) < scratchStaleAge {
				continue
			}
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
			unix.Close(fd)
			continue
		}
		_ = os.RemoveAll(p)
		unix.Close(fd)
	}
}
