package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/internal/testbase"
)

// overlayRoot returns a store root inside a fresh overlay mount, where the
// kernel refuses overlay upper directories, with busybox imported.
func overlayRoot(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	for _, d := range []string{"l", "u", "w", "m"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mnt := filepath.Join(base, "m")
	opts := "lowerdir=" + base + "/l,upperdir=" + base + "/u,workdir=" + base + "/w"
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts); err != nil {
		t.Skipf("cannot mount an overlay for the test: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	root := filepath.Join(mnt, "root")
	mustRun(t, "--root", root, "import", "-t", "busybox", testbase.Busybox(t))
	return root
}

// TestRunScanDiffer builds the filesystem Dockerfile with --root on
// overlayfs: the scan differ is selected and named in the progress output,
// and the result equals the overlay differ's, file for file.
func TestRunScanDiffer(t *testing.T) {
	forEngines(t, func(t *testing.T, eng []string) {
		build := func(root string) (string, string) {
			local := filepath.Join(t.TempDir(), "rootfs")
			args := append([]string{"--root", root, "-o", "type=local,dest=" + local}, eng...)
			r := mustBuild(t, fsDockerfile+"COPY Dockerfile /df\nRUN test -f /df && ls /d > /d-list && rm /own\n", args...)
			return local, r.stderr + r.stdout
		}
		want, normalOut := build(busyboxRoot(t))
		if strings.Contains(normalOut, "differ: scan") {
			t.Errorf("the normal root used the scan differ:\n%s", normalOut)
		}
		got, out := build(overlayRoot(t))
		if n := strings.Count(out, "differ: scan (overlayfs unavailable: "); n != 4 {
			t.Errorf("progress names the scan differ %d times, want once per RUN (4):\n%s", n, out)
		}
		gotTree, wantTree := walkTree(t, got), walkTree(t, want)
		compareTrees(t, "scan differ", gotTree, "overlay differ", wantTree)
		if _, ok := gotTree["own"]; ok {
			t.Error("/own survived its deletion")
		}
		if b, err := os.ReadFile(filepath.Join(got, "d-list")); err != nil || string(b) != "new\n" {
			t.Errorf("/d-list = %q, %v; want new", b, err)
		}
		// As with the overlay differ (and BuildKit): a link to a file of
		// an earlier layer is an independent file.
		if gotTree["hl/a"].ino != gotTree["hl/b"].ino {
			t.Errorf("hl/a and hl/b, linked within one RUN, are not hardlinked")
		}
		if gotTree["cross"].ino == gotTree["cross2"].ino {
			t.Errorf("cross and cross2 are hardlinked; cross2 links to a file of an earlier layer")
		}
	})
}
