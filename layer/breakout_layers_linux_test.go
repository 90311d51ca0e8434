package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBreakoutsAcrossLayers applies several layers in order. ApplyDir
// stacks them on one root, so a link planted by a lower layer is in place
// when a later layer writes through it; ApplySnapshot extracts each layer
// into its own directory (as the store does) and must stay contained too.
// After every case the victim directory beside the root is unchanged.
func TestBreakoutsAcrossLayers(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name   string
		layers func(s sandbox) [][]entry
		errOn  string                          // entry the ApplyDir error must name; "" means success
		check  func(t *testing.T, root string) // ApplyDir result
	}{
		{name: "absolute symlink then write",
			layers: func(s sandbox) [][]entry {
				return [][]entry{{sym("s", s.victim)}, {reg("s/secret", "pwned"), reg("s/new", "pwned")}}
			},
			check: func(t *testing.T, root string) {
				assertFile(t, filepath.Join(root, strings.TrimPrefix(filepath.Dir(root), "/"), "victim/new"), "pwned")
			}},
		{name: "relative symlink then write",
			layers: func(sandbox) [][]entry { return [][]entry{{sym("s", "../victim")}, {reg("s/secret", "pwned")}} },
			check:  func(t *testing.T, root string) { assertFile(t, filepath.Join(root, "victim/secret"), "pwned") }},
		{name: "chained symlinks then write",
			layers: func(sandbox) [][]entry {
				return [][]entry{{sym("a", "b"), sym("b", "c/../../..")}, {sym("c", "d")}, {reg("a/victim/secret", "pwned")}}
			}},
		{name: "two-hop go_up",
			layers: func(sandbox) [][]entry {
				return [][]entry{{sym("go_up", "..")}, {dir("d/"), sym("d/go_up", "../go_up")}, {reg("d/go_up/go_up/victim/secret", "pwned")}}
			}},
		{name: "symlinked dir then mkdir and chmod",
			layers: func(sandbox) [][]entry {
				return [][]entry{{sym("s", "../victim")}, {{name: "s/sub/", typ: tar.TypeDir, mode: 0o777}, dir("s/sub/new/")}}
			}},
		{name: "symlink then chmod by a file entry",
			layers: func(s sandbox) [][]entry {
				return [][]entry{{sym("s", s.victim+"/secret")}, {{name: "s", typ: tar.TypeReg, mode: 0o4777, body: "x"}}}
			},
			check: func(t *testing.T, root string) { assertFile(t, filepath.Join(root, "s"), "x") }},
		{name: "hardlink through lower symlinked dir", errOn: "l",
			layers: func(sandbox) [][]entry { return [][]entry{{sym("s", "../victim")}, {hardl("l", "s/secret")}} }},
		{name: "hardlink through lower absolute symlinked dir",
			layers: func(sandbox) [][]entry {
				return [][]entry{{sym("s", "/"), dir("victim/"), reg("victim/secret", "inside")}, {hardl("l", "s/victim/secret")}}
			},
			check: func(t *testing.T, root string) { assertFile(t, filepath.Join(root, "l"), "inside") }},
		{name: "whiteout through lower symlink",
			layers: func(sandbox) [][]entry { return [][]entry{{sym("s", "../victim")}, {reg("s/.wh.secret", "")}} }},
		{name: "whiteout of a symlink removes only the link",
			layers: func(s sandbox) [][]entry {
				return [][]entry{{dir("t/"), reg("t/keep", "k"), sym("ldir", "t"), sym("lfile", "t/keep"), sym("lout", s.victim)},
					{reg(".wh.ldir", ""), reg(".wh.lfile", ""), reg(".wh.lout", "")}}
			},
			check: func(t *testing.T, root string) {
				assertFile(t, filepath.Join(root, "t/keep"), "k")
				for _, p := range []string{"ldir", "lfile", "lout"} {
					if _, err := os.Lstat(filepath.Join(root, p)); !os.IsNotExist(err) {
						t.Errorf("%s still exists (%v)", p, err)
					}
				}
			}},
		{name: "opaque marker after its siblings",
			layers: func(sandbox) [][]entry {
				return [][]entry{{dir("d/"), reg("d/old", "o"), dir("d/sub/"), reg("d/sub/f", "f")},
					{dir("d/"), reg("d/new", "n"), dir("d/sub/"), reg("d/sub/g", "g"), reg("d/.wh..wh..opq", "")}}
			},
			check: func(t *testing.T, root string) {
				assertFile(t, filepath.Join(root, "d/new"), "n")
				assertFile(t, filepath.Join(root, "d/sub/g"), "g")
				assertAbsent(t, root, "d/old", "d/sub/f")
			}},
		{name: "opaque marker before its siblings",
			layers: func(sandbox) [][]entry {
				return [][]entry{{dir("d/"), reg("d/old", "o")}, {reg("d/.wh..wh..opq", ""), reg("d/new", "n")}}
			},
			check: func(t *testing.T, root string) {
				assertFile(t, filepath.Join(root, "d/new"), "n")
				assertAbsent(t, root, "d/old")
			}},
		{name: "opaque marker in a symlinked dir",
			layers: func(sandbox) [][]entry { return [][]entry{{sym("s", "../victim")}, {reg("s/.wh..wh..opq", "")}} }},
		{name: "lower absolute symlink resolved inside the root",
			layers: func(sandbox) [][]entry {
				return [][]entry{{dir("real/"), sym("etc", "/real"), sym("up", "/../../../real")}, {reg("etc/x", "1"), reg("up/y", "2")}}
			},
			check: func(t *testing.T, root string) {
				assertFile(t, filepath.Join(root, "real/x"), "1")
				assertFile(t, filepath.Join(root, "real/y"), "2")
				assertLink(t, filepath.Join(root, "etc"), "/real")
			}},
		{name: "lower symlink overwritten by a file",
			layers: func(s sandbox) [][]entry {
				return [][]entry{{sym("f", s.victim+"/secret"), sym("g", "../victim/secret")}, {reg("f", "mine"), reg("g", "mine")}}
			},
			check: func(t *testing.T, root string) {
				assertFile(t, filepath.Join(root, "f"), "mine")
				assertFile(t, filepath.Join(root, "g"), "mine")
			}},
		{name: "absolute hardlink target into a lower layer file",
			layers: func(sandbox) [][]entry { return [][]entry{{dir("a/"), reg("a/f", "1")}, {hardl("h", "/a/f")}} },
			check:  func(t *testing.T, root string) { assertFile(t, filepath.Join(root, "h"), "1") }},
	} {
		t.Run("ApplyDir/"+tc.name, func(t *testing.T) {
			s := newSandbox(t)
			before := listTree(t, s.victim, true)
			var err error
			for i, es := range tc.layers(s) {
				if err = ApplyDir(context.Background(), s.root, bytes.NewReader(rawTar(t, es...))); err != nil {
					err = fmt.Errorf("layer %d: %w", i+1, err)
					break
				}
			}
			checkApplyErr(t, err, tc.errOn)
			s.untouched(t, before)
			if tc.check != nil && err == nil {
				tc.check(t, s.root)
			}
		})
		for _, ap := range appliers[1:] {
			t.Run(ap.name+"/"+tc.name, func(t *testing.T) {
				s := newSandbox(t)
				before := listTree(t, s.victim, true)
				for i, es := range tc.layers(s) {
					dir := filepath.Join(s.root, strconv.Itoa(i))
					must(t, os.Mkdir(dir, 0o755))
					// A hard link to a file of a lower layer is legitimately
					// unresolvable in a layer extracted on its own.
					_ = ap.fn(context.Background(), dir, bytes.NewReader(rawTar(t, es...)))
				}
				s.untouched(t, before)
			})
		}
	}
}

func checkApplyErr(t *testing.T, err error, errOn string) {
	t.Helper()
	switch {
	case errOn == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case errOn != "" && err == nil:
		t.Errorf("no error, want one naming %q", errOn)
	case errOn != "" && !strings.Contains(err.Error(), "layer entry "+strconv.Quote(errOn)):
		t.Errorf("error %q does not name entry %q", err, errOn)
	}
}

func assertAbsent(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, p), &st); err == nil {
			t.Errorf("%s exists, want it removed", p)
		}
	}
}

// TestSnapshotWhiteoutsAndOpaque checks the overlay form of the cases
// above: a whiteout of a symlink becomes a 0/0 device in place of the link
// only, and an opaque marker marks its directory whatever its position
// among its siblings, which all stay. (A whiteout inside an opaque
// directory is redundant and umoci skips it.)
func TestSnapshotWhiteoutsAndOpaque(t *testing.T) {
	requireRoot(t)
	for _, ap := range appliers[1:] {
		t.Run(ap.name, func(t *testing.T) { testSnapshotWhiteoutsAndOpaque(t, ap) })
	}
}

func testSnapshotWhiteoutsAndOpaque(t *testing.T, ap applier) {
	root := t.TempDir()
	layer := rawTar(t, dir("d/"), reg("d/new", "n"), dir("d/sub/"), reg("d/.wh..wh..opq", ""), dir("e/"), reg("e/.wh.x", ""),
		reg(".wh.link", ""))
	must(t, ap.fn(context.Background(), root, bytes.NewReader(layer)))
	assertFile(t, filepath.Join(root, "d/new"), "n")
	x, err := listXattrs(filepath.Join(root, "d"))
	must(t, err)
	if x["trusted.overlay.opaque"] != "y" {
		t.Errorf("d: opaque marker not applied: %v", x)
	}
	for _, p := range []string{"link", "e/x"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, p), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s: want a 0/0 whiteout device (%v, mode %o)", p, err, st.Mode)
		}
	}
}
