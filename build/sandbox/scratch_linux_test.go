package sandbox

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSweepScratchByOwner: the first step of a builder removes the
// bundles of builders that are gone and keeps those whose owner lock is
// held, even for a pid that means nothing here (another pid namespace).
func TestSweepScratchByOwner(t *testing.T) {
	scratch := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(scratch, name)
		if err := os.MkdirAll(filepath.Join(p, "rootfs"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	held := mk(stepPrefix + "4194000-1")
	owner, err := os.OpenFile(filepath.Join(scratch, ownerPrefix+"4194000"), os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if err := unix.Flock(int(owner.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	dead := mk(stepPrefix + "4194001-2")
	deadOwner := filepath.Join(scratch, ownerPrefix+"4194001")
	if err := os.WriteFile(deadOwner, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	oldLive := mk(stepPrefix + "1-3") // no owner file, pid 1 alive
	dir, err := makeScratch(scratch)
	if err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	for p, want := range map[string]bool{held: true, dead: false, deadOwner: false, oldLive: true, dir: true,
		filepath.Join(scratch, ownerPrefix+strconv.Itoa(os.Getpid())): true} {
		if exists(p) != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(p), !want, want)
		}
	}
	removeScratch(dir)
	if exists(dir) || exists(filepath.Join(scratch, ownerPrefix+strconv.Itoa(os.Getpid()))) {
		t.Errorf("the bundle or this builder's owner file outlived its last step")
	}
}
