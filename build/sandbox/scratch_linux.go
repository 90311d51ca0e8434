package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// sweptScratch holds the scratch directories swept by this process.
var sweptScratch sync.Map

// makeScratch creates the step's bundle directory under scratch
// (os.TempDir when empty). Its name carries the builder's pid, as the
// step's cgroup does: a builder killed with SIGKILL cannot remove it, and
// the first step of a later builder removes the directories of builders
// that are no longer running.
func makeScratch(scratch string) (string, error) {
	if scratch == "" {
		scratch = os.TempDir()
	} else if err := os.MkdirAll(scratch, 0o700); err != nil {
		return "", fmt.Errorf("creating sandbox directory: %w", err)
	}
	if _, done := sweptScratch.LoadOrStore(scratch, true); !done {
		sweepScratch(scratch)
	}
	dir, err := os.MkdirTemp(scratch, fmt.Sprintf("%s%d-", stepPrefix, os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("creating sandbox directory: %w", err)
	}
	return dir, nil
}

// sweepScratch removes the bundle directories in scratch whose builder is
// gone. A pid reused since only delays the removal.
func sweepScratch(scratch string) {
	ents, err := os.ReadDir(scratch)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, ok := stepOwner(e.Name())
		if !ok || !e.IsDir() || pid == os.Getpid() || syscall.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		_ = os.RemoveAll(filepath.Join(scratch, e.Name()))
	}
}
