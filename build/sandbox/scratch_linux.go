package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ownerPrefix starts the name of the file in a scratch directory whose
// shared flock a builder holds for its whole life: the bundles named after
// its pid are live, even to a builder in another pid namespace.
const ownerPrefix = ".owner-"

// scratchOwners holds this process's owner file per scratch directory
// while steps run there; the first step of a process sweeps the directory.
var scratchOwners struct {
	sync.Mutex
	m     map[string]*scratchOwner
	swept map[string]bool
}

// scratchOwner is an owner file held by the steps running in a directory.
type scratchOwner struct {
	f     *os.File
	steps int
}

// makeScratch creates the step's bundle directory under scratch
// (os.TempDir when empty). Its name carries the builder's pid, as the
// step's cgroup does: a builder killed with SIGKILL cannot remove it, and
// the first step of a later builder removes the bundles of builders whose
// owner lock nobody holds.
func makeScratch(scratch string) (string, error) {
	if scratch == "" {
		scratch = os.TempDir()
	} else {
		if err := os.MkdirAll(scratch, 0o700); err != nil {
			return "", fmt.Errorf("creating sandbox directory: %w", err)
		}
		if err := holdScratch(scratch); err != nil {
			return "", fmt.Errorf("locking sandbox directory: %w", err)
		}
	}
	dir, err := os.MkdirTemp(scratch, fmt.Sprintf("%s%d-", stepPrefix, os.Getpid()))
	if err != nil {
		releaseScratch(scratch)
		return "", fmt.Errorf("creating sandbox directory: %w", err)
	}
	return dir, nil
}

// removeScratch removes a bundle directory made by makeScratch and, after
// the last step running in its scratch directory, the owner file.
func removeScratch(dir string) {
	os.RemoveAll(dir)
	releaseScratch(filepath.Dir(dir))
}

func releaseScratch(scratch string) {
	scratchOwners.Lock()
	defer scratchOwners.Unlock()
	o := scratchOwners.m[scratch]
	if o == nil {
		return
	}
	if o.steps--; o.steps == 0 {
		os.Remove(o.f.Name())
		o.f.Close()
		delete(scratchOwners.m, scratch)
	}
}

// holdScratch counts a step in scratch, taking this process's owner lock
// there for the first one (and sweeping the debris of dead builders the
// first time).
func holdScratch(scratch string) error {
	scratchOwners.Lock()
	defer scratchOwners.Unlock()
	if o := scratchOwners.m[scratch]; o != nil {
		o.steps++
		return nil
	}
	if scratchOwners.swept == nil {
		scratchOwners.m, scratchOwners.swept = map[string]*scratchOwner{}, map[string]bool{}
	}
	if !scratchOwners.swept[scratch] {
		sweepScratch(scratch)
		scratchOwners.swept[scratch] = true
	}
	p := filepath.Join(scratch, ownerPrefix+strconv.Itoa(os.Getpid()))
	for {
		f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		if err := flock(f, unix.LOCK_SH); err != nil {
			f.Close()
			return err
		}
		// A sweeper may have removed the file while we waited for it.
		fi, err1 := f.Stat()
		pi, err2 := os.Stat(p)
		if err1 == nil && err2 == nil && os.SameFile(fi, pi) {
			scratchOwners.m[scratch] = &scratchOwner{f: f, steps: 1}
			return nil
		}
		f.Close()
	}
}

func flock(f *os.File, how int) error {
	for {
		if err := unix.Flock(int(f.Fd()), how); err != unix.EINTR {
			return err
		}
	}
}

// sweepScratch removes the bundles in scratch of builders that are gone:
// nobody holds their owner file or, for bundles from before owner files,
// no process has their pid.
func sweepScratch(scratch string) {
	ents, err := os.ReadDir(scratch)
	if err != nil {
		return
	}
	byOwner := map[int][]string{}
	for _, e := range ents {
		if rest, ok := strings.CutPrefix(e.Name(), ownerPrefix); ok {
			if pid, err := strconv.Atoi(rest); err == nil {
				if _, seen := byOwner[pid]; !seen {
					byOwner[pid] = nil
				}
			}
			continue
		}
		if pid, ok := stepOwner(e.Name()); ok && e.IsDir() {
			byOwner[pid] = append(byOwner[pid], e.Name())
		}
	}
	for pid, names := range byOwner {
		if pid == os.Getpid() {
			continue
		}
		owner := filepath.Join(scratch, ownerPrefix+strconv.Itoa(pid))
		f, err := os.Open(owner)
		switch {
		case err == nil:
			if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
				f.Close()
				continue // a live builder
			}
		case syscall.Kill(pid, 0) != unix.ESRCH:
			continue // no owner file, and the pid is alive
		}
		for _, n := range names {
			_ = os.RemoveAll(filepath.Join(scratch, n))
		}
		if f != nil {
			os.Remove(owner)
			f.Close()
		}
	}
}
