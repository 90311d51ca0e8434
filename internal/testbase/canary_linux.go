package testbase

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// LoopCanary attaches a file of known content to a free loop device, for
// the breakout tests' device rules, and returns the device's minor number
// and a check that the file is intact. It skips, saying why, without
// losetup or a free loop device; the device is detached at cleanup.
func LoopCanary(t testing.TB) (minor uint32, intact func() bool) {
	t.Helper()
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("losetup not installed")
	}
	content := bytes.Repeat([]byte("canary-disk\n"), 512)
	file := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", file).Output()
	if err != nil {
		t.Skipf("no loop device (losetup): %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	return unix.Minor(st.Rdev), func() bool {
		got, err := os.ReadFile(file)
		return err == nil && bytes.Equal(got, content)
	}
}
