package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The tests in this file pin COPY/ADD behaviours where ibuild follows
// BuildKit v0.17.3 (issue 10); each names the conformance case under
// testdata/conformance that compares the same behaviour with BuildKit.

// buildLocal builds the context dir into a fresh root and returns the
// exported root filesystem.
func buildLocal(t *testing.T, dir string) string {
	t.Helper()
	local := filepath.Join(t.TempDir(), "fs")
	mustRun(t, "--root", t.TempDir(), "-o", local, dir)
	return local
}

// TestCopyOntoExistingFile: copying to /x/ or copying a directory to /x
// where /x is a regular file fails at the COPY's line, as BuildKit's
// MkdirAll does, instead of writing a layer with entries below a file
// (cases copy-dir-onto-file, copy-file-onto-file-slash).
func TestCopyOntoExistingFile(t *testing.T) {
	for _, c := range []struct{ name, copy, want string }{
		{"file to x/", "COPY foo /x/", "mkdir /x: not a directory"},
		{"dir to x/", "COPY dir /x/", "mkdir /x: not a directory"},
		{"file to x/y/", "COPY foo /x/y/", "mkdir /x: not a directory"},
		{"dir to x", "COPY dir /x", "cannot copy to non-directory: /x"},
		{"file onto dir", "COPY foo /d/", "cannot replace to directory /d/foo with file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{
				"foo": "foo", "dir/d": "d", "sub/f": "f",
				"Dockerfile": "FROM scratch\nCOPY foo /x\nCOPY sub /d/foo\n" + c.copy + "\n",
			})
			r := run(t, "", nil, "--root", t.TempDir(), "-o", filepath.Join(t.TempDir(), "fs"), dir)
			if r.exitCode() == 0 {
				t.Fatalf("%s onto a file succeeded", c.copy)
			}
			if !strings.Contains(r.stderr, "Dockerfile:4") || !strings.Contains(r.stderr, c.want) {
				t.Errorf("error does not name Dockerfile:4 and %q:\n%s", c.want, r.stderr)
			}
		})
	}
}

// TestCopyOntoSymlink: COPY onto an existing symlink writes through it, as
// BuildKit resolves the whole destination: the link stays, its target gets
// the content (case copy-overwrite-existing-file).
func TestCopyOntoSymlink(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"base/real": "old\n", "foo": "new\n",
		"Dockerfile": "FROM scratch\nCOPY base /\nCOPY foo /linked\nCOPY foo /dangling\n",
	})
	if err := os.Symlink("real", filepath.Join(dir, "base/linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/made/here", filepath.Join(dir, "base/dangling")); err != nil {
		t.Fatal(err)
	}
	local := buildLocal(t, dir)
	for link, target := range map[string]string{"linked": "real", "dangling": "/made/here"} {
		if got, err := os.Readlink(filepath.Join(local, link)); err != nil || got != target {
			t.Errorf("/%s: readlink = %q, %v; want the symlink to %s kept", link, got, err, target)
		}
	}
	for _, p := range []string{"real", "made/here"} {
		if b, err := os.ReadFile(filepath.Join(local, p)); err != nil || string(b) != "new\n" {
			t.Errorf("/%s = %q, %v; want the copied content written through the link", p, b, err)
		}
	}
}

// TestCopyEmptyDir: an empty directory source creates its destination,
// 0755 and root-owned whatever the source's mode, or --chown's user; an
// existing destination keeps its mode (cases copy-empty-dir,
// ignore-everything).
func TestCopyEmptyDir(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"tree/f": "f",
		"Dockerfile": `FROM scratch
COPY empty /e/
COPY empty /e2
COPY --chown=7:8 empty /a/b/owned
COPY tree /tree
COPY empty /tree/sub/
`,
	})
	for _, d := range []string{"empty", "tree/sub"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, d), 0o700)
	}
	local := buildLocal(t, dir)
	for p, want := range map[string]struct {
		mode     os.FileMode
		uid, gid uint32
	}{
		"e": {0o755, 0, 0}, "e2": {0o755, 0, 0}, "a": {0o755, 7, 8}, "a/b/owned": {0o755, 7, 8}, "tree/sub": {0o700, 0, 0},
	} {
		fi, err := os.Lstat(filepath.Join(local, p))
		if err != nil {
			t.Errorf("/%s: %v", p, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || fi.Mode().Perm() != want.mode || st.Uid != want.uid || st.Gid != want.gid {
			t.Errorf("/%s: %v %d:%d, want a directory %v %d:%d", p, fi.Mode(), st.Uid, st.Gid, want.mode, want.uid, want.gid)
		}
	}
}

// TestCopyHardlinks: files hard-linked to each other within one COPY
// source stay hard links in the image; BuildKit keeps them per source,
// so two sources naming linked files give two files (case copy-hardlinks).
func TestCopyHardlinks(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"dir/a": "linked\n", "other": "x",
		"Dockerfile": "FROM scratch\nCOPY dir /dir/\nCOPY . /all/\nCOPY dir/a dir/b /sep/\n",
	})
	for _, l := range []string{"dir/b", "c"} {
		if err := os.Link(filepath.Join(dir, "dir/a"), filepath.Join(dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	local := buildLocal(t, dir)
	same := func(a, b string) bool {
		fa, err1 := os.Lstat(filepath.Join(local, a))
		fb, err2 := os.Lstat(filepath.Join(local, b))
		if err1 != nil || err2 != nil {
			t.Fatalf("%v %v", err1, err2)
		}
		return os.SameFile(fa, fb)
	}
	for _, p := range [][2]string{{"dir/a", "dir/b"}, {"all/dir/a", "all/dir/b"}, {"all/dir/a", "all/c"}} {
		if !same(p[0], p[1]) {
			t.Errorf("/%s and /%s are not hard-linked", p[0], p[1])
		}
	}
	if same("dir/a", "all/dir/a") || same("sep/a", "sep/b") {
		t.Errorf("files of different COPY steps or sources were linked")
	}
	if b, err := os.ReadFile(filepath.Join(local, "all/c")); err != nil || string(b) != "linked\n" {
		t.Errorf("/all/c = %q, %v", b, err)
	}
}

// TestCopyFromStageThroughSymlink: COPY --from resolves symlinks in the
// source path inside the stage's root, absolute ones too, as BuildKit does
// (case copy-through-symlink-stage).
func TestCopyFromStageThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"tree/out/sub/foo": "data",
		"Dockerfile": `FROM scratch AS build
COPY tree /
FROM scratch
COPY --from=build /sub/foo /abs
COPY --from=build /sub2/foo /rel
COPY --from=build /sub /subdir/
`,
	})
	if err := os.Symlink("/out/sub", filepath.Join(dir, "tree/sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("out/sub", filepath.Join(dir, "tree/sub2")); err != nil {
		t.Fatal(err)
	}
	local := buildLocal(t, dir)
	for _, p := range []string{"abs", "rel", "subdir/foo"} {
		if b, err := os.ReadFile(filepath.Join(local, p)); err != nil || string(b) != "data" {
			t.Errorf("/%s = %q, %v; want the stage's /out/sub/foo", p, b, err)
		}
	}
}

// TestCopyFIFO: a FIFO in the context is copied as a FIFO, never opened,
// as BuildKit does (case copy-fifo-in-context).
func TestCopyFIFO(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"regular": "r", "Dockerfile": "FROM scratch\nCOPY . /ctx/\nCOPY pipe /named\n"})
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "pipe"), 0o640)
	local := buildLocal(t, dir)
	for _, p := range []string{"ctx/pipe", "named"} {
		fi, err := os.Lstat(filepath.Join(local, p))
		if err != nil || fi.Mode()&os.ModeNamedPipe == 0 || fi.Mode().Perm() != 0o640 {
			t.Errorf("/%s: %v, %v; want a 0640 FIFO", p, fi, err)
		}
	}
}

// TestAddTarChown: ADD --chown of a local tar chowns only the directories
// it creates for the destination; the entries keep the archive's owners,
// and --chmod leaves them alone, as BuildKit (case add-tar-chown-chmod).
func TestAddTarChown(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1001},
		{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 1000, Gid: 1001, Size: 1},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("f"))
		}
	}
	tw.Close()
	writeTree(t, dir, map[string]string{
		"t.tar":      buf.String(),
		"Dockerfile": "FROM scratch\nADD --chown=2000:2001 t.tar /a/chowned/\nADD --chmod=0755 t.tar /chmodded/\n",
	})
	local := buildLocal(t, dir)
	for p, want := range map[string]struct {
		mode     os.FileMode
		uid, gid uint32
	}{
		"a": {0o755, 2000, 2001}, "a/chowned": {0o755, 2000, 2001},
		"a/chowned/d": {0o750, 1000, 1001}, "a/chowned/d/f": {0o600, 1000, 1001},
		"chmodded": {0o755, 0, 0}, "chmodded/d/f": {0o600, 1000, 1001},
	} {
		fi, err := os.Lstat(filepath.Join(local, p))
		if err != nil {
			t.Errorf("/%s: %v", p, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != want.mode || st.Uid != want.uid || st.Gid != want.gid {
			t.Errorf("/%s: %v %d:%d, want %v %d:%d", p, fi.Mode().Perm(), st.Uid, st.Gid, want.mode, want.uid, want.gid)
		}
	}
}
