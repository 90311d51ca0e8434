package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUserOverlayXattrs: an upper directory written by overlayfs mounted
// with userxattr (rootless) marks opaque directories user.overlay.opaque;
// the differ turns that into an opaque whiteout and writes no overlay
// attribute, and extraction drops user.overlay.* from a layer as it drops
// trusted.overlay.*.
func TestUserOverlayXattrs(t *testing.T) {
	upper := t.TempDir()
	opq := filepath.Join(upper, "opq")
	must(t, os.Mkdir(opq, 0o755))
	must(t, os.WriteFile(filepath.Join(opq, "f"), []byte("x"), 0o644))
	if err := unix.Lsetxattr(opq, userOvlPrefix+"opaque", []byte("y"), 0); err != nil {
		t.Skipf("cannot set user xattrs here: %v", err)
	}
	must(t, unix.Lsetxattr(filepath.Join(opq, "f"), userOvlPrefix+"origin", []byte("z"), 0))
	var diff bytes.Buffer
	must(t, WriteOverlayDiff(context.Background(), &diff, upper, TarOptions{}))
	var names []string
	for _, h := range readHeaders(t, diff.Bytes()) {
		names = append(names, h.Name)
		for k := range h.PAXRecords {
			if strings.Contains(k, "overlay.") {
				t.Errorf("%s: diff carries %s", h.Name, k)
			}
		}
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "opq/ opq/.wh..wh..opq opq/f") {
		t.Errorf("diff entries %q: the user.overlay.opaque directory is not opaque", got)
	}

	for _, k := range []string{"user.overlay.opaque", "trusted.overlay.opaque", "user.overlay.redirect"} {
		hdr := &tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755,
			PAXRecords: map[string]string{paxXattr + k: "y", paxXattr + "user.keep": "1"}}
		if _, err := CheckEntry(hdr); err != nil {
			t.Fatal(err)
		}
		if _, ok := hdr.PAXRecords[paxXattr+k]; ok {
			t.Errorf("CheckEntry kept %s", k)
		}
		if _, ok := hdr.PAXRecords[paxXattr+"user.keep"]; !ok {
			t.Errorf("CheckEntry dropped user.keep along with %s", k)
		}
	}
}
