package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/internal/testbase"
)

// toolLayer returns a lower layer holding the host's programs names with
// the shared libraries ldd lists for them, at their host paths, so that a
// RUN over the busybox test root can run util-linux's unshare or keyctl.
func toolLayer(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names {
		bin, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s not installed (hack/apt-packages.txt): %v", name, err)
		}
		files := []string{bin}
		out, err := exec.Command("ldd", bin).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", bin, err)
		}
		for _, f := range strings.Fields(string(out)) {
			if strings.HasPrefix(f, "/") {
				files = append(files, f)
			}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, data, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// attack runs script as a RUN step under iso with the tool layers on top
// of the busybox root and returns its combined output and error.
func attack(t *testing.T, iso, script string, setup func(*Spec), layers ...string) (string, error) {
	t.Helper()
	s := newSpec(t, iso, script)
	s.Lowerdirs = append(layers, s.Lowerdirs...)
	if setup != nil {
		setup(&s)
	}
	out := &testbase.SyncBuffer{}
	s.Stdout, s.Stderr = out, out
	err := Run(t.Context(), s)
	return out.String(), err
}

// wantDenied fails unless the step failed with one of the errors in want
// (docker's "Operation not permitted", or the stricter "Permission denied"
// of a nodev mount).
func wantDenied(t *testing.T, out string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the attack succeeded; output:\n%s", out)
	}
	for _, w := range want {
		if strings.Contains(out, w) {
			return
		}
	}
	t.Fatalf("output %q (err %v), want one of %q", out, err, want)
}

// cgroupCanary starts a process in a cgroup of its own in the host's
// unified hierarchy and returns the cgroup's name and a check that the
// process is still alive.
func cgroupCanary(t *testing.T) (name string, alive func() bool) {
	t.Helper()
	unified := "/sys/fs/cgroup/unified"
	var st unix.Statfs_t
	if err := unix.Statfs(unified, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		unified = cgroupRoot
		if err := unix.Statfs(unified, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			t.Skip("no unified cgroup hierarchy")
		}
	}
	name = fmt.Sprintf("ibuild-canary-%d", os.Getpid())
	dir := filepath.Join(unified, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "120")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = rmdirRetry(dir)
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), fmt.Append(nil, cmd.Process.Pid), 0o644); err != nil {
		t.Fatal(err)
	}
	return name, func() bool {
		time.Sleep(50 * time.Millisecond)
		return syscall.Kill(cmd.Process.Pid, 0) == nil && !exited(cmd.Process.Pid)
	}
}

// exited reports whether pid is a zombie (killed, not yet reaped).
func exited(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(data), ") ")
	return strings.HasPrefix(rest, "Z")
}

// keyCanary adds a user key holding secret to root's user keyring (shared
// by every root process of the host) and returns its id.
func keyCanary(t *testing.T, secret string) string {
	t.Helper()
	if _, err := exec.LookPath("keyctl"); err != nil {
		t.Skip("keyctl not installed (keyutils, hack/apt-packages.txt)")
	}
	name := fmt.Sprintf("ibuild-canary-%d", os.Getpid())
	out, err := exec.Command("keyctl", "add", "user", name, secret, "@u").Output()
	if err != nil {
		t.Fatalf("keyctl add: %v", err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("keyctl", "unlink", id, "@u").Run() })
	// The host itself can read it: the test is meaningful.
	if got, err := exec.Command("keyctl", "print", id).Output(); err != nil || strings.TrimSpace(string(got)) != secret {
		t.Fatalf("host cannot read its own canary key: %q %v", got, err)
	}
	return id
}
