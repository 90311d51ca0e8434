package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteDirDeterministic(t *testing.T) {
	requireRoot(t)
	epoch := time.Unix(1_700_000_000, 0)
	a, b := t.TempDir(), t.TempDir()
	build(t, a, richTree()...)
	build(t, b, richTree()...)
	// Different times on each side, all later than the epoch.
	setTimes(t, a, time.Unix(1_800_000_000, 123))
	setTimes(t, b, time.Unix(1_900_000_000, 456))
	opts := TarOptions{SourceDateEpoch: &epoch}
	ta, tb := writeDir(t, a, "", opts), writeDir(t, b, "", opts)
	if !bytes.Equal(ta, tb) {
		t.Fatalf("WriteDir of identical trees differs (%d vs %d bytes)", len(ta), len(tb))
	}
	// Without the epoch the times differ, so must the bytes (the test can fail).
	if bytes.Equal(writeDir(t, a, "", TarOptions{}), writeDir(t, b, "", TarOptions{})) {
		t.Fatal("trees with different mtimes gave identical tars without SourceDateEpoch")
	}
	for _, h := range readHeaders(t, ta) {
		if !h.ModTime.Equal(epoch) && h.ModTime.After(epoch) {
			t.Errorf("%s: mtime %v not clamped to %v", h.Name, h.ModTime, epoch)
		}
		if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() {
			t.Errorf("%s: header not normalised: %+v", h.Name, h)
		}
	}
}

func TestWriteDirOrderAndLinks(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	build(t, dir,
		file("a-c", "1", 0o644), file("a/b", "2", 0o644), file("a/z/y", "3", 0o644),
		hardlink("a/hl", "a-c"), file("b", "4", 0o644))
	var names []string
	for _, h := range readHeaders(t, writeDir(t, dir, "app", TarOptions{})) {
		s := h.Name
		if h.Typeflag == tar.TypeLink {
			s += " => " + h.Linkname
		}
		names = append(names, s)
	}
	got := strings.Join(names, "\n")
	want := strings.Join([]string{"app/", "app/a/", "app/a/b", "app/a/hl", "app/a/z/", "app/a/z/y", "app/a-c => app/a/hl", "app/b"}, "\n")
	if got != want {
		t.Errorf("entries:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteDirRejectsWhiteoutNames(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, file("x/.wh.foo", "", 0o644))
	err := WriteDir(context.Background(), io.Discard, dir, "", TarOptions{})
	if !errors.Is(err, ErrInvalidEntry) || !strings.Contains(err.Error(), ".wh.foo") {
		t.Fatalf("err = %v, want an invalid-entry error naming .wh.foo", err)
	}
}

func TestWriteDirSingleFile(t *testing.T) {
	dir := t.TempDir()
	build(t, dir, file("f", "hello", 0o600))
	hs := readHeaders(t, writeDir(t, filepath.Join(dir, "f"), "/etc/f", TarOptions{}))
	if len(hs) != 1 || hs[0].Name != "etc/f" || hs[0].Size != 5 {
		t.Fatalf("headers = %+v", hs)
	}
}

func TestRoundTrip(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name string
		ops  []op
	}{
		{"rich", richTree()},
		{"empty", nil},
		{"zero-mode dir", []op{file("locked/f", "x", 0o644), chmod("locked", 0)}},
		{"owned dir with sticky", []op{mkdir("s", 0o1770), chown("s", 7, 8), chmod("s", 0o770|os.ModeSticky)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			build(t, src, tc.ops...)
			// Directory mtimes change while the tree is built; set them last.
			setTimes(t, src, time.Unix(1_600_000_000, 0))
			tarball := writeDir(t, src, "", TarOptions{})
			must(t, ApplyDir(context.Background(), dst, bytes.NewReader(tarball)))
			want, got := listTree(t, src, true), listTree(t, dst, true)
			// The root directory itself has no entry; compare below it.
			want, got = dropFirstLine(want), dropFirstLine(got)
			if tc.name == "rich" {
				for _, s := range []string{"dev=1:3", "dev=7:0", "user.color=blue", "link=hl/a", "-> /etc/passwd", "mode=104755", "mode=41777", "uid=1234 gid=5678", `\xff\xfe`} {
					if !strings.Contains(want, s) {
						t.Errorf("test tree lacks %q:\n%s", s, want)
					}
				}
			}
			if got != want {
				t.Errorf("round trip differs:\n got:\n%s\nwant:\n%s", got, want)
			}
			if again := writeDir(t, dst, "", TarOptions{}); !bytes.Equal(again, tarball) {
				t.Errorf("WriteDir after ApplyDir gives different bytes")
			}
		})
	}
}

func dropFirstLine(s string) string {
	_, rest, _ := strings.Cut(s, "\n")
	return rest
}
