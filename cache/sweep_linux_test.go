package cache

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSweepMountsByOwner: Open removes the mounts/ directories of builders
// that are gone, and keeps those whose owner lock is held, even when the
// owner's pid means nothing here (another pid namespace), and those of a
// live pid from before owner files.
func TestSweepMountsByOwner(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	mounts := filepath.Join(root, "mounts")
	mk := func(name string) string {
		p := filepath.Join(mounts, name)
		if err := os.MkdirAll(filepath.Join(p, "u"), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const ghost = 4194000 // above any pid_max default: no such process here
	held := mk("run-4194000-1")
	owner, err := os.OpenFile(filepath.Join(mounts, ".owner-4194000"), os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(owner.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	deadOld := mk("cache-private-4194001-2") // no owner file, pid gone
	liveOld := mk("bindrw-1-3")              // no owner file, pid 1 alive
	mine := mk("run-" + strconv.Itoa(os.Getpid()) + "-4")
	reopen := func() {
		s, err := Open(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }

	reopen()
	for p, want := range map[string]bool{held: true, deadOld: false, liveOld: true, mine: true} {
		if exists(p) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(p), !want, want)
		}
	}
	owner.Close() // the owner exits
	reopen()
	if exists(held) || exists(filepath.Join(mounts, ".owner-4194000")) {
		t.Errorf("the directory or owner file of a builder that exited (pid %d) is still there", ghost)
	}
	if !exists(liveOld) || !exists(mine) {
		t.Errorf("a live builder's directory was removed")
	}
}
