package layer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPruneUnchanged: files an overlay copied up without changing them
// leave the upper directory, as BuildKit's differ leaves them out of the
// layer; anything that differs, and everything in an opaque directory,
// stays.
func TestPruneUnchanged(t *testing.T) {
	base, upper := t.TempDir(), t.TempDir()
	sec := time.Unix(1700000000, 0)
	put := func(root, name, body string, mode os.FileMode, mtime time.Time) {
		t.Helper()
		p := filepath.Join(root, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(body), mode))
		must(t, os.Chmod(p, mode))
		must(t, os.Chtimes(p, mtime, mtime))
	}
	for _, name := range []string{"base", "d/same", "d/content", "d/mode", "d/time", "opq/same", "empty"} {
		put(base, name, "", 0o644, sec)
		if name != "empty" {
			put(base, name, "data", 0o644, sec)
		}
	}
	must(t, os.Symlink("target", filepath.Join(base, "d/link")))
	must(t, os.Symlink("target", filepath.Join(base, "d/relink")))
	// The upper directory after `ln /base /base-link`, a no-op chmod of
	// d/same, and real changes.
	put(upper, "base", "data", 0o644, sec)
	must(t, os.Link(filepath.Join(upper, "base"), filepath.Join(upper, "base-link")))
	put(upper, "d/same", "data", 0o644, sec)
	put(upper, "d/content", "DATA", 0o644, sec)
	put(upper, "d/mode", "data", 0o600, sec)
	put(upper, "d/time", "data", 0o644, sec.Add(time.Second))
	put(upper, "empty", "", 0o644, sec)
	put(upper, "new", "new", 0o644, sec)
	put(upper, "opq/same", "data", 0o644, sec)
	must(t, unix.Lsetxattr(filepath.Join(upper, "opq"), ovlOpaque, []byte("y"), 0))
	must(t, os.Symlink("target", filepath.Join(upper, "d/link")))
	must(t, os.Symlink("other", filepath.Join(upper, "d/relink")))
	for _, p := range []string{"d/link", "d/relink"} {
		tv := []unix.Timeval{unix.NsecToTimeval(sec.UnixNano()), unix.NsecToTimeval(sec.UnixNano())}
		must(t, unix.Lutimes(filepath.Join(upper, p), tv))
		must(t, unix.Lutimes(filepath.Join(base, p), tv))
	}
	must(t, unix.Mknod(filepath.Join(upper, "gone"), unix.S_IFCHR, 0))

	must(t, PruneUnchanged(context.Background(), upper, base))

	var got []string
	must(t, filepath.Walk(upper, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(upper, p)
			got = append(got, rel)
		}
		return err
	}))
	want := []string{"base-link", "d/content", "d/mode", "d/relink", "d/time", "gone", "new", "opq/same"}
	if !slices.Equal(got, want) {
		t.Errorf("upper after pruning = %q, want %q", got, want)
	}
	var st unix.Stat_t
	must(t, unix.Lstat(filepath.Join(upper, "base-link"), &st))
	if st.Nlink != 1 {
		t.Errorf("base-link has %d links, want 1 (its copied-up partner pruned)", st.Nlink)
	}
}

// TestScanDiffHardlinkToExisting: a hard link made to an unchanged file
// leaves that file out of a scan diff, and the link is an independent
// file, as with PruneUnchanged and in BuildKit.
func TestScanDiffHardlinkToExisting(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	root := t.TempDir()
	build(t, root, file("base", "b", 0o644), file("n", "n", 0o644))
	before, err := ScanRoot(ctx, root)
	must(t, err)
	must(t, os.Link(filepath.Join(root, "base"), filepath.Join(root, "base-link")))
	must(t, os.WriteFile(filepath.Join(root, "n"), []byte("changed"), 0o644))
	must(t, os.Link(filepath.Join(root, "n"), filepath.Join(root, "n-link")))
	var buf bytes.Buffer
	must(t, WriteScanDiff(ctx, &buf, before, TarOptions{}))
	var got []string
	for _, h := range readHeaders(t, buf.Bytes()) {
		got = append(got, fmt.Sprintf("%s:%c", h.Name, h.Typeflag))
	}
	want := []string{"base-link:0", "n:0", "n-link:1"}
	if !slices.Equal(got, want) {
		t.Errorf("scan diff = %q, want %q", got, want)
	}
}
