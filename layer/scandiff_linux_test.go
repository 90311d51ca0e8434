package layer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// scanChanges is one change set, applied once through an overlay mount and
// once to a plain copy of the same lower tree.
func scanChanges(t *testing.T, root string) {
	t.Helper()
	m := func(p string) string { return filepath.Join(root, p) }
	must(t, os.Remove(m("gone")))
	must(t, os.Remove(m("file-to-dir")))
	must(t, os.Mkdir(m("file-to-dir"), 0o750))
	must(t, os.WriteFile(m("file-to-dir/inside"), []byte("new"), 0o644))
	must(t, os.RemoveAll(m("opq")))
	must(t, os.Mkdir(m("opq"), 0o755))
	must(t, os.WriteFile(m("opq/fresh"), []byte("fresh"), 0o644))
	must(t, os.WriteFile(m("keep/edit"), []byte("edited"), 0o644))
	must(t, os.Remove(m("keep/rm")))
	must(t, os.RemoveAll(m("deldir")))
	must(t, os.Chmod(m("meta"), 0o4755))
	must(t, os.Remove(m("link")))
	must(t, os.Symlink("/elsewhere", m("link")))
	must(t, os.RemoveAll(m("dir-to-file")))
	must(t, os.WriteFile(m("dir-to-file"), []byte("now a file"), 0o600))
	must(t, os.WriteFile(m("new"), []byte("n"), 0o644))
	must(t, unix.Lsetxattr(m("new"), "user.x", []byte("1"), 0))
	must(t, os.Link(m("new"), m("new-hl")))
	must(t, unix.Lsetxattr(m("keep/xattr"), "user.y", []byte("2"), 0))
	must(t, os.Chown(m("keep/owner"), 1000, 1000))
	// Same size, mtime put back: only the ctime tells.
	fi, err := os.Stat(m("keep/sneaky"))
	must(t, err)
	must(t, os.WriteFile(m("keep/sneaky"), []byte("X"), 0o644))
	must(t, os.Chtimes(m("keep/sneaky"), fi.ModTime(), fi.ModTime()))
	must(t, unix.Mkfifo(m("fifo"), 0o640))
}

func scanLower() []op {
	return []op{
		file("gone", "1", 0o644), file("file-to-dir", "2", 0o644), file("opq/old1", "3", 0o644),
		file("opq/sub/old2", "4", 0o644), file("keep/edit", "5", 0o644), file("keep/same", "6", 0o644),
		file("deldir/x/y", "7", 0o644), file("meta", "8", 0o600), symlink("link", "keep/same"),
		file("keep/rm", "9", 0o644), file("keep/xattr", "x", 0o644), file("keep/owner", "o", 0o644),
		file("keep/sneaky", "s", 0o644), file("dir-to-file/sub/f", "d", 0o644),
		file("hl/a", "h", 0o644), hardlink("hl/b", "hl/a"),
	}
}

func TestScanDiffMatchesOverlayDiff(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	lower, upper, work := t.TempDir(), t.TempDir(), t.TempDir()
	build(t, lower, scanLower()...)
	setTimes(t, lower, time.Unix(1_600_000_000, 0))
	lowerTar := writeDir(t, lower, "", TarOptions{})

	merged := mountOverlay(t, upper, work, lower)
	scanChanges(t, merged)
	want := listTree(t, merged, true)
	must(t, unix.Unmount(merged, 0))
	var ovl bytes.Buffer
	must(t, WriteOverlayDiff(ctx, &ovl, upper, TarOptions{}))

	rootfs := t.TempDir()
	must(t, ApplyDir(ctx, rootfs, bytes.NewReader(lowerTar)))
	before, err := ScanRoot(ctx, rootfs)
	must(t, err)
	scanChanges(t, rootfs)
	// Each diff is checked against the tree it was taken from: the two
	// trees got the same changes, but a second apart under load their
	// new files' times can differ.
	wantScan := listTree(t, rootfs, true)
	var scan bytes.Buffer
	must(t, WriteScanDiff(ctx, &scan, before, TarOptions{}))

	var names []string
	for _, h := range readHeaders(t, scan.Bytes()) {
		names = append(names, h.Name)
	}
	got := strings.Join(names, " ")
	for _, s := range []string{".wh.gone", "keep/ keep/.wh.rm keep/edit", ".wh.deldir", "opq/.wh.old1 opq/.wh.sub opq/fresh",
		"keep/owner", "keep/sneaky", "keep/xattr", "new new-hl", "dir-to-file", "fifo"} {
		if !strings.Contains(got, s) {
			t.Errorf("scan diff entries %q lack %q", got, s)
		}
	}
	if strings.Contains(got, "same") || strings.Contains(got, "hl/") {
		t.Errorf("scan diff holds unchanged files: %s", got)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("entries not sorted: %s", got)
	}
	for name, d := range map[string]struct {
		diff []byte
		want string
	}{"overlay": {ovl.Bytes(), want}, "scan": {scan.Bytes(), wantScan}} {
		diff, want := d.diff, d.want
		root := t.TempDir()
		must(t, ApplyDir(ctx, root, bytes.NewReader(lowerTar)))
		must(t, ApplyDir(ctx, root, bytes.NewReader(diff)))
		if got := listTree(t, root, true); dropFirstLine(got) != dropFirstLine(want) {
			t.Errorf("%s diff applied onto lower:\n%s\nmerged view:\n%s", name, got, want)
		}
	}
}

func TestScanDiffUnchanged(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	root := t.TempDir()
	build(t, root, richTree()...)
	before, err := ScanRoot(ctx, root)
	must(t, err)
	var buf bytes.Buffer
	must(t, WriteScanDiff(ctx, &buf, before, TarOptions{}))
	if h := readHeaders(t, buf.Bytes()); len(h) != 0 {
		t.Errorf("diff of an unchanged tree has %d entries, first %q", len(h), h[0].Name)
	}
}

func TestScanDiffRejectsCreatedWhiteoutName(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	root := t.TempDir()
	build(t, root, mkdir("etc", 0o755))
	before, err := ScanRoot(ctx, root)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(root, "etc/.wh.passwd"), nil, 0o644))
	err = WriteScanDiff(ctx, io.Discard, before, TarOptions{})
	if !errors.Is(err, ErrInvalidEntry) || !strings.Contains(err.Error(), "etc/.wh.passwd") {
		t.Fatalf("err = %v, want an error naming etc/.wh.passwd", err)
	}
}
