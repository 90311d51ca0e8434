package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibuild/ibuild/internal/testbase"
)

// engines are the RUN isolation engines every RUN test runs under.
var engines = []string{"builtin", "oci"}

const runcPath = "/usr/sbin/runc"

// forEngines runs f once per isolation engine as a subtest; args are the
// ibuild flags selecting the engine.
func forEngines(t *testing.T, f func(t *testing.T, args []string)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e, func(t *testing.T) {
			args := []string{"--isolation", e}
			if e == "oci" {
				if _, err := os.Stat(runcPath); err != nil {
					t.Skipf("runc not installed at %s: %v", runcPath, err)
				}
				args = append(args, "--runtime", runcPath)
			}
			f(t, args)
		})
	}
}

// busyboxRoot returns a fresh store root with the busybox base imported as
// "busybox"; the import takes well under a second.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	tarball := testbase.Busybox(t)
	root := t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "busybox", tarball)
	return root
}

// buildDockerfile writes dockerfile into a fresh context and builds it with
// args (before the context path).
func buildDockerfile(t *testing.T, dockerfile string, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": dockerfile})
	return run(t, "", nil, append(append([]string{"--progress", "plain"}, args...), dir)...)
}

// mustBuild is buildDockerfile that fails the test on a non-zero exit.
func mustBuild(t *testing.T, dockerfile string, args ...string) result {
	t.Helper()
	r := buildDockerfile(t, dockerfile, args...)
	if r.err != nil {
		t.Fatalf("build failed: %v\nDockerfile:\n%s\nstderr:\n%s", r.err, dockerfile, r.stderr)
	}
	return r
}

// entry is what the tree comparison looks at for one path.
type entry struct {
	mode     os.FileMode
	uid, gid uint32
	size     int64
	sum      string // sha256 of a regular file
	target   string // symlink target
	mtime    time.Time
	ino      uint64
}

func (e entry) String() string {
	return fmt.Sprintf("mode=%v uid=%d gid=%d size=%d sum=%.12s target=%q", e.mode, e.uid, e.gid, e.size, e.sum, e.target)
}

// walkTree records every path below dir (dir itself excluded).
func walkTree(t *testing.T, dir string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := entry{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, mtime: fi.ModTime(), ino: st.Ino}
		switch {
		case fi.Mode().IsRegular():
			e.size = fi.Size()
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			e.sum = hex.EncodeToString(h.Sum(nil))
		case fi.Mode()&os.ModeSymlink != 0:
			if e.target, err = os.Readlink(p); err != nil {
				return err
			}
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return out
}

// compareTrees reports every path whose type, mode, owner, size, content or
// link target differs; directory mtime differences are only logged.
func compareTrees(t *testing.T, gotName string, got map[string]entry, wantName string, want map[string]entry) {
	t.Helper()
	var names []string
	for n := range got {
		names = append(names, n)
	}
	for n := range want {
		if _, ok := got[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var dirMtimes int
	for _, n := range names {
		g, gok := got[n]
		w, wok := want[n]
		switch {
		case !gok:
			t.Errorf("%q: only in %s (%v)", n, wantName, w)
		case !wok:
			t.Errorf("%q: only in %s (%v)", n, gotName, g)
		case g.mode != w.mode || g.uid != w.uid || g.gid != w.gid || g.size != w.size || g.sum != w.sum || g.target != w.target:
			t.Errorf("%q differs:\n  %s: %v\n  %s: %v", n, gotName, g, wantName, w)
		case !g.mtime.Equal(w.mtime) && g.mode.IsDir():
			dirMtimes++
		case !g.mtime.Equal(w.mtime):
			t.Logf("%q: mtime %s in %s, %s in %s", n, g.mtime, gotName, w.mtime, wantName)
		}
	}
	if dirMtimes > 0 {
		t.Logf("%d directories have different mtimes in %s and %s (ignored)", dirMtimes, gotName, wantName)
	}
}

// Names that stress the tar writer and the exporters.
var (
	longName = strings.Repeat("L", 200)
	badName  = "bad\xffname"
	deepDir  = deepPath(50)
)

func deepPath(n int) string {
	var parts []string
	for i := 1; i <= n; i++ {
		parts = append(parts, fmt.Sprintf("d%02d", i))
	}
	return "/deep/" + strings.Join(parts, "/")
}

// fsDockerfile changes the busybox base across several RUN steps so that
// the layers need whiteouts, opaque directories and cross-layer hardlinks.
var fsDockerfile = `FROM busybox
RUN mkdir -p /d/sub /re /hl && touch /d/a /d/b /d/sub/c && echo one > /re/file \
 && ln -s /etc /link && echo same > /hl/a && ln /hl/a /hl/b && echo cross > /cross
RUN rm /etc/group && rm -rf /d && mkdir /d && touch /d/new && rm -rf /re \
 && rm /link && mkdir /link && touch /link/f && ln /cross /cross2
RUN mkdir /re && echo two > /re/file \
 && touch /own && chown 1000:1000 /own && touch /suid && chmod 4755 /suid \
 && mkdir /sticky && chmod 1777 /sticky && touch /zero && chmod 0000 /zero \
 && mkfifo /fifo && echo long > /` + longName + ` && echo bad > "/bad$(printf '\377')name" \
 && mkdir -p ` + deepDir + ` && echo deep > ` + deepDir + `/leaf
`

// TestRunFilesystem checks that filesystem changes made by RUN survive
// layering: the type=local rootfs equals umoci's unpack of the OCI export,
// and each change has the expected result.
func TestRunFilesystem(t *testing.T) {
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		out := t.TempDir()
		local, oci := filepath.Join(out, "rootfs"), filepath.Join(out, "oci")
		args := append([]string{"--root", root, "-t", "fstest:v1", "-o", "type=local,dest=" + local, "-o", "type=oci,dest=" + oci}, eng...)
		mustBuild(t, fsDockerfile, args...)
		checkOCI(t, oci, "v1")
		if _, err := exec.LookPath("umoci"); err != nil {
			t.Skipf("umoci not installed: %v", err)
		}
		bundle := filepath.Join(t.TempDir(), "bundle")
		if b, err := exec.Command("umoci", "unpack", "--image", oci+":v1", bundle).CombinedOutput(); err != nil {
			t.Fatalf("umoci unpack: %v\n%s", err, b)
		}
		got, ref := walkTree(t, local), walkTree(t, filepath.Join(bundle, "rootfs"))
		compareTrees(t, "type=local", got, "umoci", ref)

		absent := []string{"etc/group", "d/a", "d/b", "d/sub", "re/.wh.file"}
		for _, p := range absent {
			if _, ok := got[p]; ok {
				t.Errorf("%s exists, want it deleted", p)
			}
		}
		for p := range got {
			if strings.Contains(p, ".wh.") {
				t.Errorf("whiteout leaked into the rootfs: %q", p)
			}
		}
		var inD []string
		for p := range got {
			if strings.HasPrefix(p, "d/") {
				inD = append(inD, p)
			}
		}
		if len(inD) != 1 || inD[0] != "d/new" {
			t.Errorf("opaque dir /d holds %v, want only d/new", inD)
		}
		if b, err := os.ReadFile(filepath.Join(local, "re/file")); err != nil || string(b) != "two\n" {
			t.Errorf("recreated /re/file = %q, %v; want two", b, err)
		}
		type want struct {
			path string
			mode os.FileMode
			uid  uint32
		}
		for _, w := range []want{
			{"link", os.ModeDir | 0o755, 0},
			{"link/f", 0o644, 0},
			{"own", 0o644, 1000},
			{"suid", os.ModeSetuid | 0o755, 0},
			{"sticky", os.ModeDir | os.ModeSticky | 0o777, 0},
			{"zero", 0, 0},
			{"fifo", os.ModeNamedPipe | 0o644, 0},
			{longName, 0o644, 0},
			{badName, 0o644, 0},
			{deepDir[1:] + "/leaf", 0o644, 0},
		} {
			e, ok := got[w.path]
			if !ok {
				t.Errorf("%.60q missing", w.path)
				continue
			}
			if e.mode != w.mode || e.uid != w.uid || (w.uid != 0 && e.gid != w.uid) {
				t.Errorf("%.60q: mode %v uid %d gid %d; want mode %v uid %d", w.path, e.mode, e.uid, e.gid, w.mode, w.uid)
			}
		}
		// Links made within one RUN stay links; a link made to a file
		// of an earlier layer is an independent file, as BuildKit's
		// differ leaves the unchanged original out of the layer (case
		// run-hardlinks-across-layers).
		for _, pair := range [][2]string{{"hl/a", "hl/b"}, {"cross", "cross2"}} {
			a, b := got[pair[0]], got[pair[1]]
			if a.sum == "" || a.sum != b.sum {
				t.Errorf("hardlinks %s, %s: contents %v, %v", pair[0], pair[1], a, b)
			}
			linked := pair[0] == "hl/a"
			if (a.ino == b.ino) != linked {
				t.Errorf("type=local: %s and %s hardlinked: %v, want %v", pair[0], pair[1], a.ino == b.ino, linked)
			}
			if (ref[pair[0]].ino == ref[pair[1]].ino) != linked {
				t.Errorf("umoci: %s and %s hardlinked: %v, want %v", pair[0], pair[1], !linked, linked)
			}
		}
	})
}

// readOut reads a file from a type=local export.
func readOut(t *testing.T, local, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(local, name))
	if err != nil {
		t.Errorf("reading %s from the type=local output: %v", name, err)
	}
	return string(b)
}

// hostMarker creates a file in the host's /tmp and returns its name, which
// no RUN may see.
func hostMarker(t *testing.T) string {
	t.Helper()
	f, err := os.CreateTemp("/tmp", "ibuild-host-marker-")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { os.Remove(f.Name()) })
	return filepath.Base(f.Name())
}

// TestRunIsolation checks what a RUN sees of its process, namespaces,
// capabilities and the host.
func TestRunIsolation(t *testing.T) {
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		marker := hostMarker(t)
		local := filepath.Join(t.TempDir(), "rootfs")
		df := `FROM busybox
RUN echo $$ > /pid && hostname > /hostname && sh -c 'ls /proc/1/fd | tr "\n" " " > /fds' \
 && grep CapBnd /proc/self/status > /capbnd \
 && if [ -e /tmp/` + marker + ` ]; then echo visible; else echo invisible; fi > /marker
`
		mustBuild(t, df, append([]string{"--root", root, "-o", "type=local,dest=" + local}, eng...)...)
		for _, c := range []struct{ file, want string }{
			{"pid", "1\n"},
			{"hostname", "buildkitsandbox\n"},
			{"fds", "0 1 2 "},                         // PID 1's fds, listed from a child shell so that no pipe or saved redirect of its own shows: no leaked descriptor
			{"capbnd", "CapBnd:\t00000000a80425fb\n"}, // docker's default capability set
			{"marker", "invisible\n"},
		} {
			if got := readOut(t, local, c.file); got != c.want {
				t.Errorf("/%s = %q, want %q", c.file, got, c.want)
			}
		}
	})
}

// TestRunWorkdirProcFd is the CVE-2024-21626 shape: a working directory
// through /proc/self/fd must fail or stay inside the container root.
func TestRunWorkdirProcFd(t *testing.T) {
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		marker := hostMarker(t)
		local := filepath.Join(t.TempDir(), "rootfs")
		up := strings.Repeat("../", 12)
		df := `FROM busybox
WORKDIR /proc/self/fd/5
RUN ls -a ` + up + ` > /root.txt; ls -a ` + up + `tmp > /tmp.txt; readlink /proc/self/cwd > /cwd.txt; true
`
		r := buildDockerfile(t, df, append([]string{"--root", root, "-o", "type=local,dest=" + local}, eng...)...)
		if r.err != nil {
			if !strings.Contains(r.stderr, "Dockerfile:3") {
				t.Errorf("failure does not name Dockerfile:3:\n%s", r.stderr)
			}
			t.Logf("the step failed, as it may: %s", lastLine(r.stderr))
			return
		}
		if tmp := readOut(t, local, "tmp.txt"); strings.Contains(tmp, marker) {
			t.Errorf("RUN saw the host's /tmp through WORKDIR /proc/self/fd/5:\n%s", tmp)
		}
		rootList := readOut(t, local, "root.txt")
		for _, host := range []string{"work", "lost+found"} {
			if strings.Contains("\n"+rootList, "\n"+host+"\n") {
				t.Errorf("RUN saw the host's / (%s) through WORKDIR /proc/self/fd/5:\n%s", host, rootList)
			}
		}
		if cwd := strings.TrimSpace(readOut(t, local, "cwd.txt")); cwd != "/proc/self/fd/5" {
			t.Errorf("working directory resolved to %s: host-derived state leaked into the container", cwd)
		}
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestRunFailure checks that a failing RUN names its Dockerfile line, its
// exit code and the last lines of its output.
func TestRunFailure(t *testing.T) {
	cases := []struct {
		name       string
		dockerfile string
		want       []string
		notWant    []string
	}{
		{"exit 3", "FROM busybox\nENV A=b\nRUN exit 3\n", []string{"Dockerfile:3", "exit code: 3"}, nil},
		{"output then fail", "FROM busybox\nRUN echo first\nRUN for i in $(seq 1 40); do echo line$i; done; echo oops >&2; exit 1\n",
			[]string{"Dockerfile:3", "exit code: 1", "last output", "line39", "line40", "oops"}, nil},
	}
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := buildDockerfile(t, tc.dockerfile, append([]string{"--root", root}, eng...)...)
				if r.exitCode() == 0 {
					t.Fatalf("exit code 0; stderr:\n%s", r.stderr)
				}
				for _, w := range tc.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
					}
				}
				// The error message itself (after "ERROR:") carries the tail.
				if i := strings.LastIndex(r.stderr, "ERROR: Dockerfile"); i < 0 {
					t.Errorf("no final ERROR line:\n%s", r.stderr)
				} else if tc.name == "output then fail" && !strings.Contains(r.stderr[i:], "line40") {
					t.Errorf("final error lacks the last output lines:\n%s", r.stderr[i:])
				}
			})
		}
	})
}

// TestRunCache checks that an identical rebuild runs nothing: every step is
// reported cached and a cache mount counter shows one execution.
func TestRunCache(t *testing.T) {
	df := "FROM busybox\nRUN --mount=type=cache,target=/c sh -c 'echo x >> /c/count'\nRUN echo done > /done\n"
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		for i := 1; i <= 2; i++ {
			meta := filepath.Join(t.TempDir(), "meta.json")
			r := mustBuild(t, df, append([]string{"--root", root, "--metadata-file", meta}, eng...)...)
			var md metadata
			readJSON(t, meta, &md)
			if len(md.Steps) != 3 {
				t.Errorf("build %d: %d steps in metadata, want 3", i, len(md.Steps))
			}
			for _, s := range md.Steps {
				if wantCached := i == 2 || strings.Contains(s.Name, "] FROM "); s.Cached != wantCached {
					t.Errorf("build %d: step %q cached=%v, want %v", i, s.Name, s.Cached, wantCached)
				}
			}
			if i == 2 && strings.Count(r.stderr, "CACHED") < 3 {
				t.Errorf("rebuild progress shows fewer than 3 CACHED steps:\n%s", r.stderr)
			}
		}
		counts, _ := filepath.Glob(filepath.Join(root, "cache-mounts", "*", "count"))
		if len(counts) != 1 {
			t.Fatalf("cache mount counters: %v, want one", counts)
		}
		if b, _ := os.ReadFile(counts[0]); string(b) != "x\n" {
			t.Errorf("cache mount counter %q: the RUN executed more than once", b)
		}
	})
}

// TestRunNetwork installs a package from Debian's mirror in the default
// (private, slirp4netns) network, and checks that --network=none cuts RUN
// off. See TestRunNetworkModes for what each mode reaches.
func TestRunNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping apt-get against the Debian mirror")
	}
	// One root, imported once, serves every subtest.
	root := t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "debian", testbase.Debian(t))
	df := "FROM debian\nRUN apt-get update && apt-get install -y --no-install-recommends hello\n"
	t.Run("none", func(t *testing.T) {
		forEngines(t, func(t *testing.T, eng []string) {
			r := buildDockerfile(t, df, append([]string{"--root", root, "--network=none"}, eng...)...)
			if r.exitCode() == 0 {
				t.Fatalf("apt-get succeeded with --network=none; stderr:\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, "Dockerfile:2") {
				t.Errorf("stderr lacks Dockerfile:2:\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, "Failed to fetch") && !strings.Contains(r.stderr, "Unable to locate package hello") {
				t.Errorf("apt-get did not fail for want of the network:\n%s", r.stderr)
			}
		})
	})
	t.Run("default", func(t *testing.T) {
		forEngines(t, func(t *testing.T, eng []string) {
			// --no-cache: the step key does not depend on the engine, and
			// each engine must really run apt-get.
			local := filepath.Join(t.TempDir(), "rootfs")
			mustBuild(t, df, append([]string{"--root", root, "--no-cache", "-o", "type=local,dest=" + local}, eng...)...)
			if fi, err := os.Stat(filepath.Join(local, "usr/bin/hello")); err != nil || fi.Mode().Perm()&0o111 == 0 {
				t.Errorf("/usr/bin/hello not installed: %v", err)
			}
		})
	})
}
