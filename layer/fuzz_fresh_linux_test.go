package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzApplyFreshMatchesCareful extracts arbitrary bytes as a layer into an
// empty directory twice, through the fast path (applyFresh, what
// ApplySnapshot takes) and the careful one (umoci), and checks that both
// reject the layer or both produce the same tree: type, mode, owner,
// content, link target, xattrs, device numbers and modification times.
func FuzzApplyFreshMatchesCareful(f *testing.F) {
	requireRoot(f)
	epoch := time.Unix(1_500_000_000, 123)
	for _, es := range [][]entry{
		{dir("d/"), reg("d/f", "x"), sym("d/s", "f"), hardl("d/h", "d/f"), entry{name: "c", typ: tar.TypeChar, major: 1, minor: 3}},
		{entry{name: "./", typ: tar.TypeDir, mode: 0o1777}, entry{name: "u", typ: tar.TypeReg, mode: 0o4755, body: "s"}},
		{dir("d/"), reg("d/f", "1"), reg("d/f", "2"), dir("d/"), entry{name: "d/", typ: tar.TypeDir, mode: 0o700}},
		{reg("a", "x"), reg("a/b", "y"), dir("x/y/"), reg("x/y/z", "z")},
		{dir("o/"), reg("o/.wh.gone", ""), reg("o/.wh..wh..opq", ""), reg("o/keep", "k"), reg(".wh.top", ""), dir("top/")},
		{sym("l", "d"), dir("d/"), reg("l/f", "via link"), hardl("h", "l/f"), hardl("h2", "missing")},
		{entry{name: "x", typ: tar.TypeReg, body: "v", xattrs: map[string]string{"user.a": "1", "trusted.b": "2"}},
			entry{name: "dx/", typ: tar.TypeDir, xattrs: map[string]string{"user.d": "3"}}, entry{name: "p", typ: tar.TypeFifo, mode: 0o640}},
		{sym("s", "../victim"), reg("s/x", "1"), dir("a/"), reg("a/.wh.b", ""), reg("a/b/c", "2")},
	} {
		f.Add(rawTar(f, es...))
	}
	f.Add(timedTar(f, epoch))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			t.Skip("input too large")
		}
		start := time.Now().Add(-2 * time.Second)
		fast, careful := fuzzTempDir(t), fuzzTempDir(t)
		errFast := ApplySnapshot(context.Background(), fast, bytes.NewReader(data))
		errCareful := applySnapshotCareful(context.Background(), careful, bytes.NewReader(data))
		if (errFast == nil) != (errCareful == nil) {
			t.Fatalf("fast path error %v, careful path error %v", errFast, errCareful)
		}
		if errFast != nil {
			return
		}
		if a, b := listTree(t, fast, false), listTree(t, careful, false); a != b {
			t.Fatalf("trees differ:\nfast:\n%s\ncareful:\n%s", a, b)
		}
		if a, b := mtimes(t, fast, start), mtimes(t, careful, start); a != b {
			t.Fatalf("modification times differ:\nfast:\n%s\ncareful:\n%s", a, b)
		}
	})
}

// timedTar is a layer whose entries carry mtimes with nanoseconds (PAX).
func timedTar(t testing.TB, tm time.Time) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: tm},
		{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: tm.Add(time.Hour), AccessTime: tm, Format: tar.FormatPAX},
		{Name: "d/l", Typeflag: tar.TypeSymlink, Linkname: "f", ModTime: tm.Add(2 * time.Hour)},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mtimes lists the modification time, in nanoseconds, of every path in
// root but the root itself. A time after start is "now": the careful path
// gives implicit parents and whiteouts the time they were made, which two
// extractions cannot share.
func mtimes(t *testing.T, root string, start time.Time) string {
	t.Helper()
	var out string
	must(t, filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if time.Unix(st.Mtim.Unix()).After(start) {
			out += fmt.Sprintf("%q now\n", rel)
		} else {
			out += fmt.Sprintf("%q %d.%09d\n", rel, st.Mtim.Sec, st.Mtim.Nsec)
		}
		return nil
	}))
	return out
}
