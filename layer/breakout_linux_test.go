package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// entry is a raw tar entry for hand-made (possibly hostile) layers.
type entry struct {
	name, link, body string
	typ              byte
	major, minor     int64
	mode             int64 // 0 means 0o755
	xattrs           map[string]string
}

func reg(name, body string) entry     { return entry{name: name, body: body, typ: tar.TypeReg} }
func dir(name string) entry           { return entry{name: name, typ: tar.TypeDir} }
func sym(name, target string) entry   { return entry{name: name, link: target, typ: tar.TypeSymlink} }
func hardl(name, target string) entry { return entry{name: name, link: target, typ: tar.TypeLink} }
func rawTar(t testing.TB, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		mode := e.mode
		if mode == 0 {
			mode = 0o755
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, Size: int64(len(e.body)),
			Devmajor: e.major, Devminor: e.minor, Format: tar.FormatPAX}
		for k, v := range e.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[paxXattr+k] = v
		}
		if hdr.Name == "/" && hdr.Typeflag != tar.TypeDir {
			writeSlashEntry(t, &buf, hdr, e.body)
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeSlashEntry writes hdr with the name "/" by hand: archive/tar
// refuses a non-directory named with a trailing slash, hostile tars don't.
func writeSlashEntry(t testing.TB, buf *bytes.Buffer, hdr *tar.Header, body string) {
	t.Helper()
	var tmp bytes.Buffer
	h := *hdr
	h.Name, h.Format, h.PAXRecords = "X", tar.FormatUSTAR, nil
	tw := tar.NewWriter(&tmp)
	if err := tw.WriteHeader(&h); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, body); err != nil {
		t.Fatal(err)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	entry := tmp.Bytes()
	block := entry[:512]
	block[0] = '/'
	copy(block[148:156], "        ")
	var sum int
	for _, c := range block {
		sum += int(c)
	}
	copy(block[148:156], fmt.Sprintf("%06o\x00 ", sum))
	buf.Write(entry)
}

type applier struct {
	name string
	fn   func(context.Context, string, io.Reader, ...Option) error
}

// appliers are the extraction paths every escape test runs against:
// ApplySnapshot into an empty root takes the fast path (applyFresh);
// ApplySnapshotCareful is the umoci path it takes into a non-empty one.
var appliers = []applier{{"ApplyDir", ApplyDir}, {"ApplySnapshot", ApplySnapshot}, {"ApplySnapshotCareful", applySnapshotCareful}}

func applySnapshotCareful(ctx context.Context, dir string, layer io.Reader, opts ...Option) error {
	return applyCareful(ctx, dir, layer, newOptions(opts))
}

// sandbox is a root to extract into with a victim directory beside it.
type sandbox struct{ parent, root, victim string }

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	parent := t.TempDir()
	s := sandbox{parent, filepath.Join(parent, "root"), filepath.Join(parent, "victim")}
	must(t, os.Mkdir(s.root, 0o755))
	build(t, s.victim, file("secret", "original", 0o644), mkdir("sub", 0o755))
	return s
}

// untouched fails the test if anything beside the root changed.
func (s sandbox) untouched(t *testing.T, before string) {
	t.Helper()
	if after := listTree(t, s.victim, true); after != before {
		t.Errorf("victim changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	names, err := os.ReadDir(s.parent)
	must(t, err)
	if len(names) != 2 {
		t.Errorf("parent holds %d entries, want only root and victim: %v", len(names), names)
	}
}

func TestBreakouts(t *testing.T) {
	requireRoot(t)
	victimAbs := func(s sandbox) string { return s.victim }
	for _, tc := range []struct {
		name    string
		entries func(s sandbox) []entry
		errOn   string                          // entry an error must name; "" means extraction succeeds
		check   func(t *testing.T, root string) // for contained cases
	}{
		{name: "dotdot file", errOn: "../victim/secret",
			entries: func(sandbox) []entry { return []entry{reg("../victim/secret", "pwned")} }},
		{name: "dotdot inside path", errOn: "a/../../victim/x",
			entries: func(sandbox) []entry { return []entry{reg("a/../../victim/x", "pwned")} }},
		{name: "absolute name is rooted",
			entries: func(s sandbox) []entry { return []entry{reg(s.victim+"/secret", "contained")} },
			check: func(t *testing.T, root string) {
				assertFile(t, filepath.Join(root, strings.TrimPrefix(filepath.Dir(root), "/"), "victim/secret"), "contained")
			}},
		{name: "absolute symlink then write",
			entries: func(s sandbox) []entry { return []entry{sym("s", victimAbs(s)), reg("s/secret", "pwned")} }},
		{name: "relative symlink then write",
			entries: func(sandbox) []entry { return []entry{sym("s", "../victim"), reg("s/new", "pwned")} },
			check:   func(t *testing.T, root string) { assertFile(t, filepath.Join(root, "victim/new"), "pwned") }},
		{name: "chained symlinks then write",
			entries: func(sandbox) []entry {
				return []entry{sym("a", "b"), sym("b", "c"), sym("c", "../../victim"), reg("a/secret", "pwned")}
			}},
		{name: "two-hop go_up",
			entries: func(sandbox) []entry {
				return []entry{dir("d/"), dir("d/e/"), sym("d/e/go_up", "../.."), sym("hop", "d/e/go_up/.."),
					reg("hop/victim/secret", "pwned"), sym("go_up", ".."), reg("go_up/go_up/victim/sub/x", "pwned")}
			}},
		{name: "symlink dir then whiteout",
			entries: func(sandbox) []entry { return []entry{sym("s", "../victim"), reg("s/.wh.secret", "")} }},
		{name: "symlink then mkdir",
			entries: func(sandbox) []entry { return []entry{sym("s", "../victim"), dir("s/sub/new/")} }},
		{name: "hardlink outside", errOn: "l",
			entries: func(sandbox) []entry { return []entry{hardl("l", "../victim/secret")} }},
		{name: "hardlink to absolute path", errOn: "l",
			entries: func(s sandbox) []entry { return []entry{hardl("l", s.victim+"/secret")} }},
		{name: "hardlink through symlinked dir", errOn: "l",
			entries: func(sandbox) []entry { return []entry{sym("s", "../victim"), hardl("l", "s/secret")} }},
		{name: "hardlink to symlink pointing out",
			entries: func(s sandbox) []entry { return []entry{sym("s", s.victim+"/secret"), hardl("l", "s")} },
			check: func(t *testing.T, root string) {
				if target, err := os.Readlink(filepath.Join(root, "l")); err != nil || target == "" {
					t.Errorf("l should be a hard link to the symlink: %v", err)
				}
			}},
		{name: "symlink overwritten by file",
			entries: func(s sandbox) []entry { return []entry{sym("f", s.victim+"/secret"), reg("f", "mine")} },
			check:   func(t *testing.T, root string) { assertFile(t, filepath.Join(root, "f"), "mine") }},
		{name: "whiteout of dotdot", errOn: ".wh..",
			entries: func(sandbox) []entry { return []entry{reg(".wh..", "")} }},
		{name: "whiteout of parent", errOn: "x/.wh...",
			entries: func(sandbox) []entry { return []entry{dir("x/"), reg("x/.wh...", "")} }},
		{name: "empty whiteout", errOn: ".wh.",
			entries: func(sandbox) []entry { return []entry{reg(".wh.", "")} }},
		{name: "whiteout escaping", errOn: "../.wh.victim",
			entries: func(sandbox) []entry { return []entry{reg("../.wh.victim", "")} }},
		{name: "root replaced by symlink", errOn: "./",
			entries: func(sandbox) []entry { return []entry{sym("./", "../victim"), reg("secret", "pwned")} }},
		{name: "whiteout of dotdot in subdir", errOn: "etc/.wh..",
			entries: func(sandbox) []entry { return []entry{dir("etc/"), reg("etc/.wh..", "")} }},
		{name: "slash root entry is a file", errOn: "/",
			entries: func(sandbox) []entry { return []entry{{name: "/", typ: tar.TypeReg, body: "x"}} }},
		{name: "dot root entry is a file", errOn: ".",
			entries: func(sandbox) []entry { return []entry{reg(".", "x")} }},
		{name: "dot root entry is a symlink", errOn: ".",
			entries: func(s sandbox) []entry { return []entry{sym(".", s.victim)} }},
		{name: "root entry is a hard link", errOn: "./",
			entries: func(sandbox) []entry { return []entry{reg("f", "x"), hardl("./", "f")} }},
		{name: "device minor out of range", errOn: "dev",
			entries: func(sandbox) []entry { return []entry{{name: "dev", typ: tar.TypeBlock, minor: 1 << 20}} }},
		{name: "huge device number", errOn: "dev",
			entries: func(sandbox) []entry { return []entry{{name: "dev", typ: tar.TypeChar, major: 1<<21 - 1}} }},
		{name: "chmod dir through symlink", // a dir entry over a link replaces the link
			entries: func(sandbox) []entry {
				return []entry{sym("s", "../victim/sub"), {name: "s/", typ: tar.TypeDir, mode: 0o777}}
			},
			check: func(t *testing.T, root string) { assertMode(t, filepath.Join(root, "s"), os.ModeDir|0o777) }},
		{name: "chmod file through absolute symlink",
			entries: func(s sandbox) []entry {
				return []entry{sym("s", s.victim+"/secret"), {name: "s", typ: tar.TypeReg, mode: 0o4777}}
			},
			check: func(t *testing.T, root string) { assertMode(t, filepath.Join(root, "s"), os.ModeSetuid|0o777) }},
		{name: "chmod through symlinked parent",
			entries: func(sandbox) []entry {
				return []entry{sym("s", "../.."), {name: "s/victim/sub/", typ: tar.TypeDir, mode: 0o700}}
			},
			check: func(t *testing.T, root string) { assertMode(t, filepath.Join(root, "victim/sub"), os.ModeDir|0o700) }},
		{name: "hard link then chmod of the link",
			entries: func(s sandbox) []entry {
				return []entry{sym("s", s.victim+"/secret"), hardl("h", "s"), {name: "h", typ: tar.TypeSymlink, link: "x", mode: 0o777}}
			},
			check: func(t *testing.T, root string) { assertLink(t, filepath.Join(root, "h"), "x") }},
		{name: "device number out of range", errOn: "dev",
			entries: func(sandbox) []entry { return []entry{{name: "dev", typ: tar.TypeChar, major: 1 << 12}} }},
		{name: "legit links stored verbatim",
			entries: func(sandbox) []entry {
				return []entry{sym("abs", "/etc/passwd"), dir("a/"), sym("a/rel", "../../../../x"), reg("a/f", "1"), hardl("a/h", "/a/f")}
			},
			check: func(t *testing.T, root string) {
				assertLink(t, filepath.Join(root, "abs"), "/etc/passwd")
				assertLink(t, filepath.Join(root, "a/rel"), "../../../../x")
				assertFile(t, filepath.Join(root, "a/h"), "1")
			}},
	} {
		for _, ap := range appliers {
			t.Run(ap.name+"/"+tc.name, func(t *testing.T) {
				s := newSandbox(t)
				before := listTree(t, s.victim, true)
				err := ap.fn(context.Background(), s.root, bytes.NewReader(rawTar(t, tc.entries(s)...)))
				switch {
				case tc.errOn == "" && err != nil:
					t.Errorf("unexpected error: %v", err)
				case tc.errOn != "" && err == nil:
					t.Errorf("no error, want one naming %q", tc.errOn)
				case tc.errOn != "" && !strings.Contains(err.Error(), "layer entry "+strconv.Quote(tc.errOn)):
					t.Errorf("error %q does not name entry %q", err, tc.errOn)
				}
				s.untouched(t, before)
				if tc.check != nil && err == nil {
					tc.check(t, s.root)
				}
			})
		}
	}
}

func TestOverlayXattrsInLayerDropped(t *testing.T) {
	requireRoot(t)
	layer := rawTar(t,
		entry{name: "d/", typ: tar.TypeDir, xattrs: map[string]string{"trusted.overlay.opaque": "y", "user.keep": "1"}},
		entry{name: "d/f", typ: tar.TypeReg, xattrs: map[string]string{"trusted.overlay.redirect": "/x"}})
	for _, ap := range appliers {
		t.Run(ap.name, func(t *testing.T) {
			root := t.TempDir()
			must(t, ap.fn(context.Background(), root, bytes.NewReader(layer)))
			for _, p := range []string{"d", "d/f"} {
				x, err := listXattrs(filepath.Join(root, p))
				must(t, err)
				for k := range x {
					if strings.HasPrefix(k, "trusted.overlay.") {
						t.Errorf("%s: layer set %s", p, k)
					}
				}
				if p == "d" && x["user.keep"] != "1" {
					t.Errorf("d: user.keep lost: %v", x)
				}
			}
		})
	}
}

func assertFile(t *testing.T, p, want string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("%s: not a regular file (%v)", p, err)
		return
	}
	if b, _ := os.ReadFile(p); string(b) != want {
		t.Errorf("%s = %q, want %q", p, b, want)
	}
}

func assertMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode() != want {
		t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode(), err, want)
	}
}

func assertLink(t *testing.T, p, want string) {
	t.Helper()
	if got, err := os.Readlink(p); err != nil || got != want {
		t.Errorf("readlink %s = %q, %v; want %q", p, got, err, want)
	}
}
