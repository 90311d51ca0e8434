package layer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mountOverlay mounts lowers (top first) with an optional upper directory
// at a new merged directory, unmounted at the end of the test.
func mountOverlay(t *testing.T, upper, work string, lowers ...string) string {
	t.Helper()
	merged := t.TempDir()
	opts := "lowerdir=" + strings.Join(lowers, ":")
	if upper != "" {
		opts += ",upperdir=" + upper + ",workdir=" + work
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Skipf("skipping: cannot mount overlay (%s): %v", opts, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(merged, 0) })
	return merged
}

func TestOverlayDiff(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	lower, upper, work := t.TempDir(), t.TempDir(), t.TempDir()
	build(t, lower, scanLower()...)
	merged := mountOverlay(t, upper, work, lower)
	scanChanges(t, merged) // the scan differ's test makes the same changes
	want := listTree(t, merged, true)
	must(t, unix.Unmount(merged, 0))

	if x, err := getXattr(filepath.Join(upper, "opq"), ovlOpaque); err != nil || string(x) != "y" {
		t.Fatalf("overlay did not mark opq opaque (%q, %v); the test setup is wrong", x, err)
	}
	var diff bytes.Buffer
	must(t, WriteOverlayDiff(ctx, &diff, upper, TarOptions{}))
	var names []string
	for _, h := range readHeaders(t, diff.Bytes()) {
		names = append(names, h.Name)
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, paxXattr+ovlPrefix) {
				t.Errorf("%s: diff carries %s", h.Name, k)
			}
		}
	}
	got := strings.Join(names, " ")
	for _, s := range []string{".wh.gone", "keep/ keep/.wh.rm keep/edit", ".wh.deldir", "opq/ opq/.wh..wh..opq opq/fresh", "new new-hl"} {
		if !strings.Contains(got, s) {
			t.Errorf("diff entries %q lack %q", got, s)
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("entries not sorted: %s", got)
	}
	if strings.Contains(got, "same") {
		t.Errorf("diff holds unchanged files: %s", got)
	}

	t.Run("ApplyDir onto lower gives the merged view", func(t *testing.T) {
		root := t.TempDir()
		must(t, ApplyDir(ctx, root, bytes.NewReader(writeDir(t, lower, "", TarOptions{}))))
		must(t, ApplyDir(ctx, root, bytes.NewReader(diff.Bytes())))
		if got := listTree(t, root, true); dropFirstLine(got) != dropFirstLine(want) {
			t.Errorf("applied:\n%s\nmerged view:\n%s", got, want)
		}
	})
	t.Run("ApplySnapshot gives overlay whiteouts that merge back", func(t *testing.T) {
		snap := t.TempDir()
		must(t, ApplySnapshot(ctx, snap, bytes.NewReader(diff.Bytes())))
		var st unix.Stat_t
		must(t, unix.Lstat(filepath.Join(snap, "gone"), &st))
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("gone: mode %o rdev %d, want a 0/0 character device", st.Mode, st.Rdev)
		}
		if x, err := getXattr(filepath.Join(snap, "opq"), ovlOpaque); err != nil || string(x) != "y" {
			t.Errorf("opq: opaque xattr = %q, %v", x, err)
		}
		remerged := mountOverlay(t, "", "", snap, lower)
		if got := listTree(t, remerged, true); dropFirstLine(got) != dropFirstLine(want) {
			t.Errorf("snapshot over lower:\n%s\nmerged view:\n%s", got, want)
		}
	})
}

func TestOverlayDiffRejectsCreatedWhiteoutName(t *testing.T) {
	requireRoot(t)
	upper := t.TempDir()
	build(t, upper, file("etc/.wh.passwd", "not a whiteout", 0o644))
	err := WriteOverlayDiff(context.Background(), io.Discard, upper, TarOptions{})
	if !errors.Is(err, ErrInvalidEntry) || !strings.Contains(err.Error(), "etc/.wh.passwd") {
		t.Fatalf("err = %v, want an error naming etc/.wh.passwd", err)
	}
}

func TestOverlayDiffRejectsRedirect(t *testing.T) {
	requireRoot(t)
	upper := t.TempDir()
	build(t, upper, mkdir("moved", 0o755), xattr("moved", ovlRedirect, "/orig"))
	err := WriteOverlayDiff(context.Background(), io.Discard, upper, TarOptions{})
	if !errors.Is(err, ErrInvalidEntry) || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("err = %v, want a redirect error", err)
	}
}
