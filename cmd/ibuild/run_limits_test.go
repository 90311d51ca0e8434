package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunLimits checks the resource limits and the step timeout.
func TestRunLimits(t *testing.T) {
	cases := []struct {
		name       string
		flags      []string
		dockerfile string
		want       []string
		within     time.Duration
	}{
		// A bounded fork bomb: at most 300 sleeps, capped at 64 by the limit.
		{"pids", []string{"--pids-limit", "64"},
			"FROM busybox\nRUN i=0; while [ $i -lt 300 ]; do sleep 3071 & i=$((i+1)); done; wait\n",
			[]string{"Dockerfile:2", "process limit of 64"}, 60 * time.Second},
		// The shell keeps the whole command substitution (100 MB) in memory.
		{"memory", []string{"--memory", "32m"},
			"FROM busybox\nRUN x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}\n",
			[]string{"Dockerfile:2", "memory limit of 32MiB exceeded"}, 60 * time.Second},
		{"timeout", []string{"--step-timeout", "2s"},
			"FROM busybox\nRUN sleep 3072\n",
			[]string{"Dockerfile:2", "timed out after 2s"}, 10 * time.Second},
	}
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				start := time.Now()
				r := buildDockerfile(t, tc.dockerfile, append(append([]string{"--root", root}, eng...), tc.flags...)...)
				took := time.Since(start)
				if r.exitCode() == 0 {
					t.Fatalf("exit code 0; stderr:\n%s", r.stderr)
				}
				if took > tc.within {
					t.Errorf("took %s, want under %s", took, tc.within)
				}
				for _, w := range tc.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
					}
				}
				checkNoLeftovers(t, root, "sleep 3071", "sleep 3072")
			})
		}
	})
}

// checkNoLeftovers asserts that no process runs any of cmds, nothing is
// mounted below root and no non-empty ibuild cgroup remains.
func checkNoLeftovers(t *testing.T, root string, cmds ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		procs := processesRunning(cmds...)
		if len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("processes left running: %v", procs)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], root) {
				t.Errorf("mount left under the store root: %s", l)
			}
		}
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/ibuild/*")
	more, _ := filepath.Glob("/sys/fs/cgroup/ibuild/*")
	for _, cg := range append(cgs, more...) {
		if fi, err := os.Stat(cg); err != nil || !fi.IsDir() {
			continue
		}
		// Step cgroups are named ibuild-sandbox-<builder pid>-…: those of a
		// builder still running belong to another build going on meanwhile.
		var owner int
		if _, err := fmt.Sscanf(filepath.Base(cg), "ibuild-sandbox-%d-", &owner); err == nil && syscall.Kill(owner, 0) == nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs")); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			t.Errorf("cgroup %s still has processes: %s", cg, b)
		}
	}
}

// processesRunning returns "pid: cmdline" for each process whose command
// line contains one of cmds.
func processesRunning(cmds ...string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		line := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		for _, c := range cmds {
			if line == c || strings.HasSuffix(line, " "+c) || strings.HasPrefix(line, c) {
				out = append(out, filepath.Base(filepath.Dir(d))+": "+line)
			}
		}
	}
	return out
}

// TestRunInterrupt sends SIGINT while a RUN step sleeps and checks that
// ibuild exits promptly and leaves no process, mount or cgroup behind.
func TestRunInterrupt(t *testing.T) {
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started && sleep 3073\n"})
		cmd := exec.Command(ibuildBin, append(append([]string{"--root", root, "--progress", "plain"}, eng...), dir)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		pr, pw := io.Pipe()
		cmd.Stderr = pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		started, readDone := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(readDone)
			sc := bufio.NewScanner(pr)
			once := false
			for sc.Scan() {
				stderr.WriteString(sc.Text() + "\n")
				if !once && strings.Contains(sc.Text(), "started") && !strings.Contains(sc.Text(), "RUN") {
					once = true
					close(started)
				}
			}
		}()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait(); pw.Close() }()
		select {
		case <-started:
		case err := <-done:
			t.Fatalf("ibuild exited before the step started: %v", err)
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatal("the RUN step did not start within 30s")
		}
		if got := processesRunning("sleep 3073"); len(got) == 0 {
			t.Errorf("the step's sleep is not running before SIGINT")
		}
		sent := time.Now()
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("ibuild exited 0 after SIGINT")
			}
			t.Logf("exited after %s: %v", time.Since(sent).Round(time.Millisecond), err)
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("ibuild still running 10s after SIGINT; stderr:\n%s", stderr.String())
		}
		<-readDone
		for _, w := range []string{"Dockerfile:2", "interrupt"} {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
			}
		}
		for _, d := range []string{"mounts", "ingest"} {
			if ents, _ := os.ReadDir(filepath.Join(root, d)); len(ents) > 0 {
				t.Errorf("%s/%s not empty after the interrupt: %d entries, first %s", root, d, len(ents), ents[0].Name())
			}
		}
		checkNoLeftovers(t, root, "sleep 3073")
	})
}
