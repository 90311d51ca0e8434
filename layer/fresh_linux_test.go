package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"

	"golang.org/x/sys/unix"
)

// TestApplyFreshRootAfterFallback: an entry for the root that comes after
// the fast path has handed the layer to umoci (here at a duplicate entry)
// sets the root's mode and times on both paths; the fast path must not
// restore the times the root had before.
func TestApplyFreshRootAfterFallback(t *testing.T) {
	requireRoot(t)
	layer := rawTar(t, dir("d/"), reg("d/a", "1"), reg("d/a", "2"), entry{name: "./", typ: tar.TypeDir, mode: 0o700})
	for _, ap := range appliers[1:] {
		t.Run(ap.name, func(t *testing.T) {
			root := t.TempDir()
			must(t, ap.fn(context.Background(), root, bytes.NewReader(layer)))
			var st unix.Stat_t
			must(t, unix.Lstat(root, &st))
			if st.Mode&0o7777 != 0o700 || st.Mtim.Sec != 0 {
				t.Errorf("root: mode %o mtime %d, want 700 and 0 (the layer's)", st.Mode&0o7777, st.Mtim.Sec)
			}
			assertFile(t, root+"/d/a", "2")
		})
	}
}
