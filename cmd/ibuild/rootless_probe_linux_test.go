package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ibuild/ibuild/internal/testbase"
)

// probeStoreListing lists a store's files (mounts/ and the stamp hints left
// aside) with their owners and modes, and the content of index.json.
func probeStoreListing(t *testing.T, store string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(store, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(store, p)
		if rel == "mounts" || rel == "stamps" {
			return filepath.SkipDir
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		line := rel + " " + strings.Join([]string{fs.FileMode(st.Mode & 0o7777).String(), itoa(st.Uid), itoa(st.Gid)}, " ")
		if d.Type().IsRegular() && !strings.HasPrefix(rel, "snapshots/") {
			line += " " + strconv.FormatInt(st.Size, 10)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	index, err := os.ReadFile(filepath.Join(store, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n") + "\nindex.json: " + string(index)
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// TestRootlessNoopWithoutNamespace: a user's rebuild whose every step is
// a cache hit runs without a user namespace (newuidmap is not started),
// prints its progress once and gives the image and store the namespace's
// build gives; a build with a cache miss still enters the namespace and
// works. Root never probes.
func TestRootlessNoopWithoutNamespace(t *testing.T) {
	u := newRootlessUser(t, true)
	// newuidmap and newgidmap, wrapped to log each start.
	wrap := filepath.Join(u.dir, "wrap")
	if err := os.Mkdir(wrap, 0o755); err != nil {
		t.Fatal(err)
	}
	maplog := filepath.Join(u.home, "maps.log")
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		real := "/usr/bin/" + tool
		script := "#!/bin/sh\necho " + tool + " >> " + maplog + "\nexec " + real + " \"$@\"\n"
		if err := os.WriteFile(filepath.Join(wrap, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctxDir := u.context(t, "ctx-noop", map[string]string{
		"app/a.txt": "a\n",
		"app/b.txt": "b\n",
		"Dockerfile": `FROM busybox
ENV A=b
WORKDIR /app
COPY app/ /app/
COPY --chown=1000:1000 app/b.txt /owned/
RUN echo hi > /app/x && chown 1234:1234 /app/x
LABEL l=v
`,
	})
	// The context's owners, as the namespace shows them, are in the keys:
	// the user's file is root's there, root's file is unmapped (65534).
	if err := os.Lchown(filepath.Join(ctxDir, "app", "b.txt"), int(u.uid), int(u.gid)); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + wrap + ":" + os.Getenv("PATH"), "IBUILD_ROOTLESS_PROBE=debug", "SOURCE_DATE_EPOCH=1700000000"}
	// No store yet: the probe creates none, the namespace's run does.
	if r := u.mustRun(t, env, "images"); !strings.Contains(r.stderr, "rootless: user namespace needed: no store in") {
		t.Errorf("ibuild images without a store:\n%s", r.stderr)
	}
	u.mustRun(t, nil, "import", "-t", "busybox", testbase.Busybox(t))
	build := func(name string, extra ...string) (result, string) {
		t.Helper()
		if err := os.Remove(maplog); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		meta := filepath.Join(u.home, "meta-"+name+".json")
		args := append(append(u.network(t), "--progress", "plain", "-t", "noop", "--metadata-file", meta), extra...)
		r := u.mustRun(t, env, append(args, ctxDir)...)
		logged, _ := os.ReadFile(maplog)
		return r, imageDigest(t, meta) + " " + string(logged)
	}
	first, firstOut := build("first")
	if !strings.Contains(first.stderr, "rootless: user namespace needed:") || !strings.Contains(firstOut, "newuidmap") {
		t.Fatalf("the first build did not enter the namespace: %s\n%s", firstOut, first.stderr)
	}
	digest, _, _ := strings.Cut(firstOut, " ")

	noop, noopOut := build("noop")
	if !strings.Contains(noop.stderr, "rootless: no user namespace needed") || strings.Contains(noopOut, "newuidmap") ||
		strings.Contains(noop.stderr, "namespace needed:") {
		t.Errorf("the no-op rebuild entered the namespace: %s\n%s", noopOut, noop.stderr)
	}
	if got := strings.TrimSpace(noopOut); got != digest {
		t.Errorf("no-op rebuild gave %s, the first build %s", got, digest)
	}
	if n := strings.Count(noop.stderr, "[1/5] FROM busybox"); n != 1 {
		t.Errorf("the FROM step is printed %d times:\n%s", n, noop.stderr)
	}
	if n := strings.Count(noop.stderr, "CACHED"); n != 5 {
		t.Errorf("%d cached steps, want 5:\n%s", n, noop.stderr)
	}

	// The same store either way: a no-op in the namespace (the probe
	// turned off) after one without.
	store := filepath.Join(u.home, ".local", "share", "ibuild")
	without := probeStoreListing(t, store)
	env[1] = "IBUILD_ROOTLESS_PROBE=off"
	_, offOut := build("off")
	env[1] = "IBUILD_ROOTLESS_PROBE=debug"
	if !strings.Contains(offOut, "newuidmap") || !strings.HasPrefix(offOut, digest+" ") {
		t.Errorf("the no-op in the namespace: %s, want %s and newuidmap", offOut, digest)
	}
	if with := probeStoreListing(t, store); with != without {
		t.Errorf("the store after a no-op in the namespace differs from one without:\nwith:\n%s\nwithout:\n%s", with, without)
	}

	// A changed context file: a cache miss, built in the namespace, whose
	// rebuild needs none again.
	if err := os.WriteFile(filepath.Join(ctxDir, "app", "a.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, changedOut := build("changed")
	if !strings.Contains(changed.stderr, "executing COPY app/ /app/") || !strings.Contains(changedOut, "newuidmap") {
		t.Errorf("the changed build did not enter the namespace at its COPY: %s\n%s", changedOut, changed.stderr)
	}
	if strings.HasPrefix(changedOut, digest+" ") {
		t.Errorf("the changed build gave the first build's image %s", digest)
	}
	if strings.Count(changed.stderr, "[1/5] FROM busybox") != 1 {
		t.Errorf("the probe's progress was printed:\n%s", changed.stderr)
	}
	again, againOut := build("again")
	if strings.Contains(againOut, "newuidmap") || !strings.HasPrefix(againOut, strings.Fields(changedOut)[0]+" ") {
		t.Errorf("the rebuild of the change: %s, want %s without newuidmap\n%s", againOut, strings.Fields(changedOut)[0], again.stderr)
	}

	// images needs no namespace; other commands, and builds the probe
	// leaves alone, go to the namespace at once.
	r := u.mustRun(t, env, "images")
	if !strings.Contains(r.stderr, "rootless: no user namespace needed") || !strings.Contains(r.stdout, "noop") {
		t.Errorf("ibuild images:\n%s\n%s", r.stdout, r.stderr)
	}
	r = u.mustRun(t, env, "history", "noop")
	if !strings.Contains(r.stderr, "rootless: no user namespace needed") || !strings.Contains(r.stdout, "LABEL l=v") {
		t.Errorf("ibuild history:\n%s\n%s", r.stdout, r.stderr)
	}
	r = u.mustRun(t, env, "inspect", "noop")
	if !strings.Contains(r.stderr, "rootless: no user namespace needed") || !strings.Contains(r.stdout+r.stderr, "/app/x") {
		t.Errorf("ibuild inspect:\n%s\n%s", r.stdout, r.stderr)
	}
	r = u.mustRun(t, env, "cache", "du")
	if !strings.Contains(r.stderr, "rootless: user namespace needed: command cache du") {
		t.Errorf("ibuild cache du:\n%s\n%s", r.stdout, r.stderr)
	}
	local := filepath.Join(u.home, "rootfs")
	_, localOut := build("local", "-o", "type=local,dest="+local)
	if !strings.Contains(localOut, "newuidmap") {
		t.Errorf("-o type=local did not enter the namespace: %s", localOut)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(local, "app", "x"), &st); err != nil || st.Uid != 3000000000+1233 { // inside id 1 is the first subordinate id
		t.Errorf("type=local output's /app/x: %v, uid %d", err, st.Uid)
	}

	// Root never probes.
	rootStore := t.TempDir()
	mustRun(t, "--root", rootStore, "import", "-t", "busybox", testbase.Busybox(t))
	rr := run(t, "", []string{"IBUILD_ROOTLESS_PROBE=debug"}, "--root", rootStore, "--network", "host", ctxDir)
	if rr.err != nil || strings.Contains(rr.stderr, "rootless:") {
		t.Errorf("root's build: %v\n%s", rr.err, rr.stderr)
	}
}
