package testbase

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// entries reads a tarball and returns its headers by name, with the content
// of the regular files named in want.
func entries(t *testing.T, path string, want ...string) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdrs := map[string]*tar.Header{}
	content := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if strings.HasPrefix(name, "./") || strings.HasPrefix(name, "/") {
			t.Errorf("%s: entry %q is not a plain relative name", path, hdr.Name)
		}
		if _, dup := hdrs[name]; dup {
			t.Errorf("%s: duplicate entry %q", path, name)
		}
		hdrs[name] = hdr
		for _, w := range want {
			if w == name {
				b, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				content[name] = b
			}
		}
	}
	return hdrs, content
}

func TestBusybox(t *testing.T) {
	path := Busybox(t)
	hdrs, content := entries(t, path, "etc/passwd", "etc/group", "etc/os-release")
	tests := []struct {
		name     string
		typeflag byte
		mode     int64
		uid      int
		linkname string
	}{
		{"bin/busybox", tar.TypeReg, 0o755, 0, ""},
		{"bin/sh", tar.TypeSymlink, 0o777, 0, "busybox"},
		{"bin/ls", tar.TypeSymlink, 0o777, 0, "busybox"},
		{"bin/wget", tar.TypeSymlink, 0o777, 0, "busybox"},
		{"etc/passwd", tar.TypeReg, 0o644, 0, ""},
		{"etc/group", tar.TypeReg, 0o644, 0, ""},
		{"etc/os-release", tar.TypeReg, 0o644, 0, ""},
		{"tmp", tar.TypeDir, 0o1777, 0, ""},
		{"root", tar.TypeDir, 0o700, 0, ""},
		{"home/app", tar.TypeDir, 0o755, 1000, ""},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, "/", "_"), func(t *testing.T) {
			h, ok := hdrs[tt.name]
			if !ok {
				t.Fatalf("%s has no %s", path, tt.name)
			}
			if h.Typeflag != tt.typeflag || h.Mode&0o7777 != tt.mode || h.Uid != tt.uid || h.Linkname != tt.linkname {
				t.Errorf("%s: got type %c mode %o uid %d link %q, want type %c mode %o uid %d link %q",
					tt.name, h.Typeflag, h.Mode&0o7777, h.Uid, h.Linkname, tt.typeflag, tt.mode, tt.uid, tt.linkname)
			}
		})
	}
	for file, want := range map[string][]string{
		"etc/passwd":     {"root:x:0:0:", "app:x:1000:1000:", "nobody:x:65534:"},
		"etc/group":      {"app:x:1000:", "extra:x:1001:app"},
		"etc/os-release": {"ID=busybox"},
	} {
		for _, w := range want {
			if !bytes.Contains(content[file], []byte(w)) {
				t.Errorf("%s: %s lacks %q:\n%s", path, file, w, content[file])
			}
		}
	}
}

func TestBusyboxRuns(t *testing.T) {
	path := Busybox(t)
	_, content := entries(t, path, "bin/busybox")
	bin := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(bin, content["bin/busybox"], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "echo", "hello from busybox").CombinedOutput()
	if err != nil {
		t.Fatalf("running busybox from %s: %v\n%s", path, err, out)
	}
	if got, want := string(out), "hello from busybox\n"; got != want {
		t.Errorf("busybox echo: got %q, want %q", got, want)
	}
}

func TestDebian(t *testing.T) {
	path := Debian(t)
	hdrs, content := entries(t, path, "usr/lib/os-release", "var/lib/dpkg/status", "etc/hostname")
	for _, name := range []string{"usr/bin/dpkg", "usr/bin/apt-get", "var/lib/dpkg/status", "etc/passwd", "usr/bin/bash"} {
		h, ok := hdrs[name]
		if !ok {
			t.Errorf("%s has no %s", path, name)
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Uid != 0 {
			t.Errorf("%s: got type %c uid %d, want a regular file owned by 0", name, h.Typeflag, h.Uid)
		}
	}
	// bookworm is merged-/usr: /bin is a symlink.
	if h := hdrs["bin"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "usr/bin" {
		t.Errorf("%s: bin is %+v, want a symlink to usr/bin", path, h)
	}
	if h := hdrs["tmp"]; h == nil || h.Mode&0o7777 != 0o1777 {
		t.Errorf("%s: tmp is %+v, want mode 1777", path, h)
	}
	if !bytes.Contains(content["usr/lib/os-release"], []byte("VERSION_CODENAME=bookworm")) {
		t.Errorf("%s: usr/lib/os-release is not bookworm:\n%s", path, content["usr/lib/os-release"])
	}
	if !bytes.Contains(content["var/lib/dpkg/status"], []byte("Package: dpkg\n")) {
		t.Errorf("%s: var/lib/dpkg/status does not list dpkg", path)
	}
	for name, h := range hdrs {
		if strings.HasPrefix(name, "var/cache/apt/archives/") && strings.HasSuffix(name, ".deb") {
			t.Errorf("%s: left-over package %s", path, name)
		}
		if strings.HasPrefix(name, "dev/") || h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
			t.Errorf("%s: /dev is not empty: %s", path, name)
		}
	}
	if got := string(content["etc/hostname"]); got != "localhost\n" {
		t.Errorf("%s: etc/hostname is %q, want the host's name replaced by localhost", path, got)
	}
	if h := hdrs["etc/resolv.conf"]; h == nil || h.Size != 0 {
		t.Errorf("%s: etc/resolv.conf is %+v, want an empty file", path, h)
	}
}

// runScript runs hack/testbases.sh with its output directory set to dir.
func runScript(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(RepoRoot(t), "hack", "testbases.sh")}, args...)...)
	cmd.Env = append(os.Environ(), "IBUILD_TESTBASES="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/testbases.sh %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func sha(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestScriptBusybox checks that the script is idempotent, reproducible, and
// rebuilds when the recorded recipe changes, using the cheap busybox base.
func TestScriptBusybox(t *testing.T) {
	Tools(t, "busybox", "flock", "tar")
	dir := t.TempDir()
	tarball := filepath.Join(dir, BusyboxFile)

	out := runScript(t, dir, "busybox")
	if !strings.Contains(out, "busybox.tar: built") {
		t.Fatalf("first run did not build:\n%s", out)
	}
	first := sha(t, tarball)
	for _, f := range []string{"README", BusyboxFile + ".recipe"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("first run left no %s: %v", f, err)
		}
	}

	out = runScript(t, dir, "busybox")
	if !strings.Contains(out, "busybox.tar: up to date") {
		t.Errorf("second run was not a no-op:\n%s", out)
	}

	if err := os.WriteFile(tarball+".recipe", []byte("busybox recipe=0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = runScript(t, dir, "busybox")
	if !strings.Contains(out, "busybox.tar: built") {
		t.Errorf("a changed recipe did not rebuild:\n%s", out)
	}
	if got := sha(t, tarball); got != first {
		t.Errorf("rebuilt busybox.tar differs: got sha256 %s, want %s", got, first)
	}

	stale := filepath.Join(dir, ".build-busybox.killed", "rootfs")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	out = runScript(t, dir, "busybox")
	if !strings.Contains(out, "removing stale") {
		t.Errorf("a stale scratch directory was not reported:\n%s", out)
	}

	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	builds, _ := filepath.Glob(filepath.Join(dir, ".build-*"))
	if l := append(leftovers, builds...); len(l) > 0 {
		t.Errorf("temporary files left behind: %v", l)
	}
}

// TestScriptConcurrent runs the script from several processes at once: all
// must succeed and exactly one must build.
func TestScriptConcurrent(t *testing.T) {
	Tools(t, "busybox", "flock", "tar")
	dir := t.TempDir()
	const n = 4
	outs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cmd := exec.Command("bash", filepath.Join(RepoRoot(t), "hack", "testbases.sh"), "busybox")
			cmd.Env = append(os.Environ(), "IBUILD_TESTBASES="+dir)
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("run %d: %v\n%s", i, err, b)
			}
			outs[i] = string(b)
		})
	}
	wg.Wait()
	if got := strings.Count(strings.Join(outs, ""), "busybox.tar: built"); got != 1 {
		t.Errorf("got %d builds, want 1:\n%s", got, strings.Join(outs, "\n---\n"))
	}
}

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	for _, f := range []string{"go.mod", "hack/testbases.sh"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("RepoRoot() = %s: %v", root, err)
		}
	}
	if !strings.HasSuffix(filepath.Join(root, "internal", "testbase"), "internal/testbase") {
		t.Errorf("RepoRoot() = %s", root)
	}
}

// recorder is a testing.TB that records Skip and Fatal instead of acting.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs f on a fresh recorder in its own goroutine, as the testing
// package would, so that Goexit only ends f.
func call(f func(testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestTools(t *testing.T) {
	r := call(func(tb testing.TB) { Tools(tb, "sh") })
	if r.skipped != "" || r.failed != "" {
		t.Errorf("Tools(sh): skipped %q, failed %q; want neither", r.skipped, r.failed)
	}

	r = call(func(tb testing.TB) { Tools(tb, "sh", "no-such-tool-ibuild", "xz-nonexistent") })
	msg := r.skipped + r.failed
	if msg == "" {
		t.Fatal("Tools with a missing binary neither skipped nor failed")
	}
	if inCI := os.Getenv("CI") != ""; inCI != (r.failed != "") {
		t.Errorf("CI=%v but skipped %q, failed %q", inCI, r.skipped, r.failed)
	}
	for _, want := range []string{"no-such-tool-ibuild", "xz-nonexistent"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %s", msg, want)
		}
	}
	if strings.Contains(msg, "sh (") {
		t.Errorf("message %q names sh, which exists", msg)
	}
}
