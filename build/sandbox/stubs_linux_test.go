package sandbox

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestVisibleInLowers(t *testing.T) {
	top, mid, bottom := t.TempDir(), t.TempDir(), t.TempDir()
	mk := func(layer, p string, dir bool) {
		t.Helper()
		full := filepath.Join(layer, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if dir {
			err = os.Mkdir(full, 0o755)
		} else {
			err = os.WriteFile(full, nil, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mk(bottom, "proc", true)
	mk(bottom, "etc/hosts", false)
	mk(bottom, "opq/sys", true)
	mk(bottom, "gone/dev", true)
	mk(bottom, "wh", true)
	mk(bottom, "file/x", true)
	if err := unix.Mknod(filepath.Join(mid, "wh"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	mk(mid, "opq", true)
	if err := unix.Setxattr(filepath.Join(mid, "opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	mk(top, "gone", false)
	mk(top, "etc/resolv.conf", false)
	mk(mid, "file", false)
	lowers := []string{top, mid, bottom}
	tests := []struct {
		path string
		want bool
	}{
		{"/proc", true},
		{"/etc/hosts", true},
		{"/etc/resolv.conf", true},
		{"/opq/sys", false},  // parent opaque in a higher layer
		{"/gone/dev", false}, // parent replaced by a file
		{"/wh", false},       // whiteout
		{"/file/x", false},
		{"/missing", false},
	}
	for _, tt := range tests {
		if _, got := visibleInLowers(lowers, tt.path); got != tt.want {
			t.Errorf("visibleInLowers(%s) = %v, want %v", tt.path, got, tt.want)
		}
	}
	spec := Spec{Lowerdirs: []string{top, bottom}}
	if !stubsNeeded(spec) {
		t.Error("stubsNeeded = false without /dev and /sys")
	}
	mk(top, "dev", true)
	mk(top, "sys", true)
	mk(top, "etc/hostname", false)
	if stubsNeeded(spec) {
		t.Error("stubsNeeded = true with every mount point present")
	}
	spec.Mounts = []Mount{{Type: "tmpfs", Target: "/cache"}}
	if !stubsNeeded(spec) {
		t.Error("stubsNeeded = false with a missing mount target")
	}
}

func TestStepOwner(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		ok   bool
	}{
		{"ibuild-sandbox-123-456789", 123, true},
		{"ibuild-sandbox-123456789", 0, false}, // an old name without the pid
		{"ibuild-sandbox-x-1", 0, false},
		{"other-1-2", 0, false},
	}
	for _, tt := range tests {
		pid, ok := stepOwner(tt.name)
		if pid != tt.pid || ok != tt.ok {
			t.Errorf("stepOwner(%q) = %d, %v; want %d, %v", tt.name, pid, ok, tt.pid, tt.ok)
		}
	}
}
