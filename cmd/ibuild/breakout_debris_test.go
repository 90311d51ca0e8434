package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBreakoutKill9Debris kills the ibuild process (not its group) with
// SIGKILL while a RUN is running. Its sandbox bundle and overlay
// directories stay behind; the next build on the same state directory must
// collect them, and nothing of the killed builder may be in /tmp.
func TestBreakoutKill9Debris(t *testing.T) {
	root := busyboxRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\n"})
	var out strings.Builder
	cmd := exec.Command(ibuildBin, "--root", root, "--progress", "plain", dir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	prefix := fmt.Sprintf("ibuild-sandbox-%d-", pid)
	// Wait until the RUN has started: its bundle directory exists.
	var bundle string
	for deadline := time.Now().Add(30 * time.Second); bundle == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, d := range []string{filepath.Join(root, "sandbox"), os.TempDir()} {
			if m, _ := filepath.Glob(filepath.Join(d, prefix+"*")); len(m) > 0 && strings.Contains(out.String(), "started") {
				bundle = m[0]
			}
		}
	}
	if bundle == "" {
		syscall.Kill(pid, syscall.SIGKILL)
		cmd.Wait()
		t.Fatalf("the RUN did not start in 30s:\n%s", out.String())
	}
	// The RUN is in the default network: its slirp4netns (and the
	// spare's) must die with the builder.
	helpers := childrenNamed(pid, "slirp4netns")
	if len(helpers) == 0 {
		t.Errorf("the RUN in the default network has no slirp4netns child of the builder")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); len(helpers) > 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		helpers = running(helpers)
	}
	if len(helpers) > 0 {
		t.Errorf("slirp4netns %v still running after the builder was killed", helpers)
	}
	mounts, _ := filepath.Glob(filepath.Join(root, "mounts", fmt.Sprintf("*-%d-*", pid)))
	t.Logf("left by the killed builder: %s %v", bundle, mounts)
	if len(mounts) == 0 {
		t.Errorf("the killed builder left no overlay directory under %s/mounts (did the names change?)", root)
	}

	// The next build collects it (and its RUN is quick).
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
	mustRun(t, "--root", root, "--progress", "plain", dir)

	if _, err := os.Lstat(bundle); err == nil {
		t.Errorf("sandbox bundle %s of the killed builder is still there", bundle)
	}
	for _, m := range mounts {
		if _, err := os.Lstat(m); err == nil {
			t.Errorf("overlay directory %s of the killed builder is still there", m)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*")); len(m) > 0 {
		t.Errorf("debris of the killed builder in %s: %v", os.TempDir(), m)
	}
	if n := countLeftoverMounts(t, root); n > 0 {
		t.Errorf("%d mounts left under %s", n, root)
	}
}

// childrenNamed lists the pids of ppid's children whose command is comm.
func childrenNamed(ppid int, comm string) []int {
	var pids []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i, j := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(string(b[j+1:]))
		var pid, parent int
		fmt.Sscan(string(b[:i]), &pid)
		if len(f) > 1 && string(b[i+1:j]) == comm {
			if _, err := fmt.Sscan(f[1], &parent); err == nil && parent == ppid {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// running keeps the pids that are still running (a zombie has exited).
func running(pids []int) []int {
	var out []int
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		j := strings.LastIndexByte(string(b), ')')
		if f := strings.Fields(string(b[j+1:])); len(f) > 0 && f[0] != "Z" {
			out = append(out, pid)
		}
	}
	return out
}
