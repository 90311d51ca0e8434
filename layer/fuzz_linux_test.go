package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzApply extracts arbitrary bytes as a layer. Extraction may fail but
// must not panic and must never create anything outside the root.
func FuzzApply(f *testing.F) {
	requireRoot(f)
	f.Add(rawTar(f, reg("a", "x"), dir("d/"), sym("d/s", "../.."), reg("d/s/escape", "y")))
	f.Add(rawTar(f, sym("s", "/"), reg("s/x", "z"), hardl("h", "s/x"), reg("../up", "")))
	f.Add(rawTar(f, dir("o/"), reg("o/.wh..wh..opq", ""), reg(".wh.a", ""), reg("o/.wh...", "")))
	f.Add(rawTar(f, entry{name: "c", typ: tar.TypeChar, major: 1}, entry{name: "f", typ: tar.TypeFifo}))
	// The shapes of the breakout tables, so that mutation starts from them.
	f.Add(rawTar(f, sym("a", "b"), sym("b", "c/../../.."), sym("c", "d"), reg("a/victim/secret", "x")))
	f.Add(rawTar(f, sym("go_up", ".."), dir("d/"), sym("d/go_up", "../go_up"), reg("d/go_up/go_up/victim/x", "x")))
	f.Add(rawTar(f, sym("s", "../victim"), hardl("l", "s/secret"), reg("s/.wh.secret", ""), reg("s/.wh..wh..opq", "")))
	f.Add(rawTar(f, dir("d/"), reg("d/new", "n"), reg("d/.wh..wh..opq", ""), sym("l", "d"), reg(".wh.l", "")))
	f.Add(rawTar(f, entry{name: "d/", typ: tar.TypeDir, xattrs: map[string]string{"trusted.overlay.opaque": "y"}},
		entry{name: "b", typ: tar.TypeBlock, major: 1<<21 - 1, minor: 1 << 20}, entry{name: "/", typ: tar.TypeReg, body: "x"}))
	f.Add(rawTar(f, sym("s", "../victim/sub"), entry{name: "s/", typ: tar.TypeDir, mode: 0o777}, hardl("./", "s")))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip("input too large")
		}
		for _, ap := range appliers {
			parent := fuzzTempDir(t)
			root, victim := filepath.Join(parent, "root"), filepath.Join(parent, "victim")
			must(t, os.Mkdir(root, 0o755))
			must(t, os.Mkdir(victim, 0o755))
			must(t, os.WriteFile(filepath.Join(victim, "secret"), []byte("original"), 0o644))
			_ = ap.fn(context.Background(), root, bytes.NewReader(data))
			names, err := os.ReadDir(parent)
			must(t, err)
			if len(names) != 2 {
				t.Fatalf("%s created files outside the root: %v", ap.name, names)
			}
			if names, _ := os.ReadDir(victim); len(names) != 1 {
				t.Fatalf("%s wrote into the victim directory: %v", ap.name, names)
			}
			if b, _ := os.ReadFile(filepath.Join(victim, "secret")); string(b) != "original" {
				t.Fatalf("%s changed the victim file: %q", ap.name, b)
			}
			if ap.name == "ApplyDir" {
				noOverlayXattrs(t, root)
			}
		}
	})
}

// FuzzRoundTrip builds a small tree from the fuzz bytes and checks that
// WriteDir → ApplyDir → WriteDir reproduces the same bytes.
func FuzzRoundTrip(f *testing.F) {
	requireRoot(f)
	f.Add([]byte{0, 0, 'a', 1, 0, 'd', 0, 1, 'f', 3, 0, 'h', 2, 'x', 'l', 4, 1, 'p', 5, 0o11, 0xed})
	f.Add([]byte{1, 0, 0xff, 1, 1, 'e', 0, 2, 0x80, 5, 0o5, 0xff, 3, 0, 'g'})
	epoch := time.Unix(1_000_000_000, 0)
	opts := TarOptions{SourceDateEpoch: &epoch}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip("input too large")
		}
		src, dst := fuzzTempDir(t), fuzzTempDir(t)
		fuzzTree(src, data)
		first := writeDir(t, src, "", opts)
		if err := ApplyDir(context.Background(), dst, bytes.NewReader(first)); err != nil {
			t.Fatalf("ApplyDir of WriteDir output: %v", err)
		}
		if second := writeDir(t, dst, "", opts); !bytes.Equal(first, second) {
			t.Fatalf("round trip changed the layer:\nsrc:\n%s\ndst:\n%s", listTree(t, src, false), listTree(t, dst, false))
		}
	})
}

// noOverlayXattrs fails if a layer applied onto a merged root left any
// trusted.overlay.* attribute (only ApplySnapshot may set opaque markers).
func noOverlayXattrs(t *testing.T, root string) {
	t.Helper()
	_ = filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		x, _ := listXattrs(p)
		for k := range x {
			if strings.HasPrefix(k, ovlPrefix) {
				t.Fatalf("ApplyDir left %s on %s", k, p)
			}
		}
		return nil
	})
}

// maxFuzzInput bounds the work one fuzz execution does: a bigger input
// adds no new shapes, only slower executions and longer minimisation.
const maxFuzzInput = 64 << 10

// fuzzTempDir returns a fresh directory removed at the end of the test, on
// the tmpfs at /dev/shm when there is one. The fuzzers create and delete
// thousands of small trees a second; on a disk file system (ext4 mounted
// with discard, as on CI VMs) each unlink waits on the device, and
// coverage-guided fuzzing, which minimises every new input with hundreds
// of executions, appeared to stall after a few executions.
func fuzzTempDir(t *testing.T) string {
	t.Helper()
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) != nil || st.Type != unix.TMPFS_MAGIC {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/dev/shm", "ibuild-fuzz-")
	must(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// fuzzName makes a one-byte file name from b (never "/", NUL or ".").
func fuzzName(b byte) string {
	if b == '/' || b == 0 || b == '.' {
		b = 'x'
	}
	return string([]byte{b})
}

// fuzzTree interprets data as triples (op, a, b) creating files,
// directories, symlinks, hard links, fifos and mode changes. Operations
// that fail (a name already taken) are skipped.
func fuzzTree(root string, data []byte) {
	dirs, files := []string{"."}, []string{}
	for ; len(data) >= 3; data = data[3:] {
		op, a, b := data[0], data[1], data[2]
		rel := filepath.Join(dirs[int(a)%len(dirs)], fuzzName(b))
		p := filepath.Join(root, rel)
		switch op % 6 {
		case 0:
			if createExcl(p, bytes.Repeat([]byte{a}, int(b))) == nil {
				files = append(files, rel)
			}
		case 1:
			if os.Mkdir(p, 0o755) == nil {
				dirs = append(dirs, rel)
			}
		case 2:
			_ = os.Symlink(fuzzName(a)+"/../"+fuzzName(b), p)
		case 3:
			if len(files) > 0 && os.Link(filepath.Join(root, files[int(a)%len(files)]), p) == nil {
				files = append(files, rel)
			}
		case 4:
			_ = unix.Mkfifo(p, 0o640)
		case 5:
			all := append(append([]string{}, dirs[1:]...), files...)
			if len(all) > 0 {
				_ = unix.Chmod(filepath.Join(root, all[int(b)%len(all)]), (uint32(a)<<8|uint32(b))&0o7777)
			}
		}
	}
}

// createExcl creates a new file (never opening an existing fifo or
// following a symlink).
func createExcl(p string, content []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
