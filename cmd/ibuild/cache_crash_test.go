package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCacheCrashLoop kills builds with SIGKILL (the whole process group,
// sandbox children included) at random moments between 0 and the measured
// build time, so that kills land during extraction, COPY hashing, RUN,
// diff, compression and store writes. After each kill a normal build must
// succeed and every blob must hash to its name.
func TestCacheCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop takes a minute or more; skipped with -short")
	}
	root := busyboxRoot(t)
	dir := t.TempDir()
	files := map[string]string{"Dockerfile": `FROM busybox
COPY big /big
RUN head -c 52428800 /dev/urandom > /payload && ls -R /big > /listing
RUN seq 1 100000 > /n
`}
	chunk := strings.Repeat("context bytes ", 4096)
	for i := range 400 {
		files[filepath.Join("big", string(rune('a'+i%26)), strings.Repeat("f", 1+i/26)+".txt")] = chunk
	}
	writeTree(t, dir, files)
	build := func(args ...string) *exec.Cmd {
		cmd := exec.Command(ibuildBin, append(append([]string{"--root", root, "--progress", "plain"}, args...), dir)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}
	if out, err := build().CombinedOutput(); err != nil {
		t.Fatalf("first build: %v\n%s", err, out)
	}
	// Time a --no-cache build with a warm context memo, as the killed
	// builds will be.
	start := time.Now()
	if out, err := build("--no-cache").CombinedOutput(); err != nil {
		t.Fatalf("second build: %v\n%s", err, out)
	}
	full := time.Since(start)
	t.Logf("a full build takes %v", full)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	leftovers := 0
	for i := range 20 {
		// Every other kill drops the snapshots too, so that kills also
		// land in extraction.
		if i%2 == 1 {
			ents, _ := os.ReadDir(filepath.Join(root, "snapshots"))
			for _, e := range ents {
				os.RemoveAll(filepath.Join(root, "snapshots", e.Name()))
			}
		}
		delay := time.Duration(rng.Int64N(int64(full)))
		var out bytes.Buffer
		cmd := build("--no-cache")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		t.Logf("kill %d after %v, last output: %q", i, delay, lastLine(out.String()))
		leftovers += countLeftoverMounts(t, root)
		if out, err := build().CombinedOutput(); err != nil {
			t.Fatalf("build after kill %d (at %v): %v\n%s", i, delay, err, out)
		}
		checkBlobs(t, root)
	}
	if leftovers > 0 {
		t.Errorf("%d mounts were left under %s by killed builds", leftovers, root)
	}
}

// countLeftoverMounts counts mounts under root in this mount namespace.
func countLeftoverMounts(t *testing.T, root string) int {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], root) {
			t.Logf("mount left under the store root: %s", l)
			n++
		}
	}
	return n
}

// TestCachePruneE2E: du reports what builds stored; prune refuses while a
// build runs, then frees the cache but keeps tagged images usable.
func TestCachePruneE2E(t *testing.T) {
	root := busyboxRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "A", "Dockerfile": `FROM busybox
COPY a.txt /a.txt
RUN --mount=type=cache,target=/c seq 1 10000 > /c/n && cp /c/n /n
`})
	first, _ := cacheBuild(t, root, dir, "-t", "app")
	du := mustRun(t, "--root", root, "cache", "du").stdout
	// The build stored something of every kind: a row with a count of 0
	// would be a kind du does not see.
	for _, kind := range []string{"blobs", "snapshots", "mounts", "steps", "explain", "memos", "total"} {
		found := false
		for _, line := range strings.Split(du, "\n") {
			if f := strings.Fields(line); len(f) == 4 && f[0] == kind {
				found = f[1] != "0"
			}
		}
		if !found {
			t.Errorf("cache du lacks %s or counts none:\n%s", kind, du)
		}
	}
	// A running build holds the store: prune must refuse, not wait or delete.
	slow := t.TempDir()
	writeTree(t, slow, map[string]string{"Dockerfile": "FROM busybox\nRUN sleep 3\n"})
	cmd := exec.Command(ibuildBin, "--root", root, "--progress", "plain", slow)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	r := run(t, "", nil, "--root", root, "cache", "prune")
	cmd.Wait()
	if r.err == nil || !strings.Contains(r.stderr, "in use by a running build") {
		t.Errorf("prune during a build: err=%v\n%s%s", r.err, r.stdout, r.stderr)
	}
	r = mustRun(t, "--root", root, "cache", "prune")
	if !strings.Contains(r.stdout, "Total reclaimed space") {
		t.Errorf("prune output:\n%s", r.stdout)
	}
	for _, d := range []string{"steps", "explain", "context-memos", "cache-mounts"} {
		if n, err := os.ReadDir(filepath.Join(root, d)); err != nil || len(n) != 0 {
			t.Errorf("%s left after prune: %v %v", d, n, err)
		}
	}
	checkBlobs(t, root)
	// The tagged image is intact, and a rebuild runs the steps again and
	// gives the same image.
	mustRun(t, "--root", root, "history", "app")
	second, _ := cacheBuild(t, root, dir, "-t", "app")
	if second.ImageDigest != first.ImageDigest || hits(second) != "mm" {
		t.Errorf("rebuild after prune: %s %s, want misses and %s", second.ImageDigest, hits(second), first.ImageDigest)
	}
	r = mustRun(t, "--root", root, "cache", "prune", "--all")
	if !strings.Contains(r.stdout, "untagged: ") {
		t.Errorf("prune --all did not untag:\n%s", r.stdout)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "blobs", "sha256")); len(ents) != 0 {
		t.Errorf("prune --all left %d blobs", len(ents))
	}
	if r := run(t, "", nil, "--root", root, "cache", "prune", "--filter", "since=1h"); r.err == nil {
		t.Error("prune accepted an unknown filter")
	}
}
