package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/internal/testbase"
	"github.com/ibuild/ibuild/registry"
	"github.com/ibuild/ibuild/registry/registrytest"
)

// hostSandbox is a parent directory holding a store root and a victim
// directory beside it, which no build may modify.
type hostSandbox struct{ parent, root, victim string }

func newHostSandbox(t *testing.T) hostSandbox {
	t.Helper()
	parent := t.TempDir()
	s := hostSandbox{parent, filepath.Join(parent, "root"), filepath.Join(parent, "victim")}
	writeTree(t, s.victim, map[string]string{"secret": "original", "sub/": ""})
	return s
}

// listHost describes every file below dir (type, mode, size, content hash,
// link target, modification time).
func listHost(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %v %d %d", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// untouched fails if the victim changed or the parent gained entries
// other than want.
func (s hostSandbox) untouched(t *testing.T, before string, want ...string) {
	t.Helper()
	if after := listHost(t, s.victim); after != before {
		t.Errorf("victim directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	ents, err := os.ReadDir(s.parent)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"root": true, "victim": true}
	for _, w := range want {
		allowed[w] = true
	}
	for _, e := range ents {
		if !allowed[e.Name()] {
			t.Errorf("unexpected %s beside the root", e.Name())
		}
	}
}

// rawLayer is a layer from hand-made tar entries (mode 0755 for dirs and
// links, 0644 for files).
func rawLayer(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	return makeTar(t, entries)
}

// pushHostileBase pushes busybox plus the given layers to a registry and
// returns the reference.
func pushHostileBase(t *testing.T, host, repo string, layers ...[]byte) string {
	t.Helper()
	bb, err := tarball.LayerFromFile(testbase.Busybox(t))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, bb)
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range layers {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	ref := host + "/hostile/" + repo + ":1"
	if err := registry.Push(context.Background(), img, ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestHostileBaseAcrossLayers builds FROM a base whose lower layer plants
// symlinks to a victim directory beside --root (absolute, relative,
// chained, two-hop go_up) and whose upper layer writes through them. RUN,
// COPY into a linked directory and a type=local export must all stay
// inside the image: the victim is untouched.
func TestHostileBaseAcrossLayers(t *testing.T) {
	host := registrytest.Start(t)
	s := newHostSandbox(t)
	depth := strings.Repeat("../", strings.Count(s.root, "/")+4)
	links := rawLayer(t,
		tarEntry{name: "abs", link: s.victim, typ: tar.TypeSymlink},
		tarEntry{name: "rel", link: depth + strings.TrimPrefix(s.victim, "/"), typ: tar.TypeSymlink},
		tarEntry{name: "chain", link: "abs", typ: tar.TypeSymlink},
		tarEntry{name: "go_up", link: "..", typ: tar.TypeSymlink},
		tarEntry{name: "keep", link: s.victim, typ: tar.TypeSymlink})
	writes := rawLayer(t,
		tarEntry{name: "abs/secret", body: "pwned", typ: tar.TypeReg},
		tarEntry{name: "rel/new", body: "pwned", typ: tar.TypeReg},
		tarEntry{name: "chain/chained", body: "pwned", typ: tar.TypeReg},
		tarEntry{name: "go_up/go_up" + s.victim + "/hop", body: "pwned", typ: tar.TypeReg})
	ref := pushHostileBase(t, host, "links", links, writes)
	before := listHost(t, s.victim)

	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM " + ref + "\n" +
			"COPY f /keep/copied\n" +
			"RUN echo run > /keep/run && cat /abs/secret /rel/new /chain/chained && ls -la / > /listing\n",
		"f": "copied",
	})
	out := filepath.Join(s.parent, "out")
	r := run(t, "", nil, "--root", s.root, "--progress", "plain", "-o", "type=local,dest="+out, dir)
	if r.err != nil {
		// Failing is acceptable if the error names the layer entry.
		if !strings.Contains(r.stderr, "layer") {
			t.Errorf("build failed without naming a layer: %v\n%s", r.err, r.stderr)
		}
		t.Logf("build failed:\n%s", r.stderr)
	} else {
		t.Log("build succeeded; checking containment")
		if got := readOut(t, out, strings.TrimPrefix(s.victim, "/")+"/copied"); got != "copied" {
			t.Errorf("COPY through /keep: %q, want it under the image's %s", got, s.victim)
		}
		if got := readOut(t, out, strings.TrimPrefix(s.victim, "/")+"/run"); got != "run\n" {
			t.Errorf("RUN write through /keep: %q", got)
		}
	}
	s.untouched(t, before, "out")
}

// terabyteLayer is a layer whose one entry claims a terabyte and holds a
// few KiB: rejected by the default size limit before anything is written.
func terabyteLayer(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	must(t, tw.WriteHeader(&tar.Header{Name: "huge", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40}))
	buf.Write(make([]byte, 8<<10)) // the header is written; the terabyte never comes
	return buf.Bytes()
}

// TestHostileLayerNamesEntry: a base layer that is rejected outright names
// the layer digest and the entry, and leaves nothing beside the root.
func TestHostileLayerNamesEntry(t *testing.T) {
	host := registrytest.Start(t)
	s := newHostSandbox(t)
	for _, tc := range []struct {
		name, want string
		layer      []byte
	}{
		{"hardlink-through-symlink", `"l"`, rawLayer(t,
			tarEntry{name: "s", link: "../victim", typ: tar.TypeSymlink},
			tarEntry{name: "l", link: "s/secret", typ: tar.TypeLink})},
		{"invalid-whiteout", `"etc/.wh.."`, rawLayer(t,
			tarEntry{name: "etc/", typ: tar.TypeDir},
			tarEntry{name: "etc/.wh..", typ: tar.TypeReg})},
		{"terabyte-header", `"huge": size 1TiB takes the layer past its 64GiB limit`, terabyteLayer(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := pushHostileBase(t, host, tc.name, tc.layer)
			before := listHost(t, s.victim)
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN true\n"})
			r := run(t, "", nil, "--root", s.root, "--progress", "plain", dir)
			if r.err == nil {
				t.Fatal("build FROM a hostile base succeeded")
			}
			for _, want := range []string{"Dockerfile:", "extracting layer sha256:", "layer entry " + tc.want} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			s.untouched(t, before)
			if ents, _ := os.ReadDir(filepath.Join(s.root, "snapshots")); len(ents) != 1 { // busybox only
				t.Errorf("snapshots after the failure: %v", ents)
			}
		})
	}
}

// runFor is run with a deadline, for builds that must not hang.
func runFor(t *testing.T, d time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, ibuildBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ibuild %s did not finish in %v:\n%s", strings.Join(args, " "), d, se.String())
	}
	return result{stdout: so.String(), stderr: se.String(), err: err}
}

// TestHostileContext covers what a build context can try: climbing out,
// symlinks out, ignored files reached indirectly, FIFOs and sockets, the
// store inside the context, escaping cache mount ids and bind sources.
func TestHostileContext(t *testing.T) {
	s := newHostSandbox(t)
	mustRun(t, "--root", s.root, "import", "-t", "busybox", testbase.Busybox(t))
	marker := hostMarker(t)
	before := listHost(t, s.victim)
	build := func(t *testing.T, ctxDir, dockerfile string) (result, string) {
		t.Helper()
		writeTree(t, ctxDir, map[string]string{"Dockerfile": dockerfile})
		out := filepath.Join(t.TempDir(), "out")
		return runFor(t, 3*time.Minute, "--root", s.root, "--progress", "plain", "-o", "type=local,dest="+out, ctxDir), out
	}
	mustFail := func(t *testing.T, r result, wants ...string) {
		t.Helper()
		if r.err == nil {
			t.Fatalf("build succeeded, want an error naming %q", wants)
		}
		for _, w := range wants {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
			}
		}
	}
	t.Run("copy-dotdot", func(t *testing.T) {
		ctxDir := filepath.Join(t.TempDir(), "ctx")
		writeTree(t, filepath.Dir(ctxDir), map[string]string{"x": "outside"})
		r, _ := build(t, ctxDir, "FROM busybox\nCOPY ../x /x\n")
		mustFail(t, r, "Dockerfile:2", "../x")
	})
	t.Run("symlink-out", func(t *testing.T) {
		ctxDir := t.TempDir()
		must(t, os.Symlink(filepath.Join(s.victim, "secret"), filepath.Join(ctxDir, "abs")))
		must(t, os.Symlink("../../../../../../../../.."+s.victim, filepath.Join(ctxDir, "rel")))
		r, _ := build(t, ctxDir, "FROM busybox\nCOPY abs /x\n")
		mustFail(t, r, "Dockerfile:2", "abs")
		r, _ = build(t, ctxDir, "FROM busybox\nCOPY rel/secret /x\n")
		mustFail(t, r, "Dockerfile:2", "rel")
		// Copied whole, the links are copied as links, never followed.
		r, out := build(t, ctxDir, "FROM busybox\nCOPY . /ctx/\n")
		if r.err != nil {
			t.Fatalf("COPY . : %v\n%s", r.err, r.stderr)
		}
		if got, err := os.Readlink(filepath.Join(out, "ctx/abs")); err != nil || got != filepath.Join(s.victim, "secret") {
			t.Errorf("ctx/abs = %q, %v; want the link itself", got, err)
		}
	})
	t.Run("ignored-through-symlink", func(t *testing.T) {
		ctxDir := t.TempDir()
		writeTree(t, ctxDir, map[string]string{".dockerignore": "secret.txt\n", "secret.txt": "IGNORED-SECRET", "dir/": ""})
		must(t, os.Symlink("secret.txt", filepath.Join(ctxDir, "link")))
		must(t, os.Symlink("..", filepath.Join(ctxDir, "dir/up")))
		for _, src := range []string{"link", "dir/up/secret.txt"} {
			r, out := build(t, ctxDir, "FROM busybox\nCOPY "+src+" /got\n")
			if r.err == nil {
				if b, _ := os.ReadFile(filepath.Join(out, "got")); strings.Contains(string(b), "IGNORED-SECRET") {
					t.Errorf("COPY %s copied the ignored file", src)
				}
			}
		}
	})
	t.Run("ignored-through-bind-mount", func(t *testing.T) {
		ctxDir := t.TempDir()
		writeTree(t, ctxDir, map[string]string{".dockerignore": "secret.txt\n", "secret.txt": "IGNORED-SECRET", "ok.txt": "ok"})
		r, out := build(t, ctxDir, "FROM busybox\nRUN --mount=type=bind,target=/ctx cat /ctx/ok.txt > /ok; cat /ctx/secret.txt > /leak; true\n")
		if r.err != nil {
			t.Fatalf("build: %v\n%s", r.err, r.stderr)
		}
		if b, _ := os.ReadFile(filepath.Join(out, "leak")); len(b) > 0 {
			t.Fatal("an ignored file was readable through a bind mount of the context: " +
				"(e.g. a snapshot of buildctx Select(\".\") in ROOT/mounts) instead of c.Dir(); ignored secret.txt was readable")
		}
		if got := readOut(t, out, "ok"); got != "ok" {
			t.Errorf("/ctx/ok.txt = %q", got)
		}
	})
	t.Run("fifo-and-socket", func(t *testing.T) {
		ctxDir := t.TempDir()
		writeTree(t, ctxDir, map[string]string{"f": "f"})
		must(t, unix.Mkfifo(filepath.Join(ctxDir, "fifo"), 0o644))
		l, err := net.Listen("unix", filepath.Join(ctxDir, "sock"))
		must(t, err)
		defer l.Close()
		r, out := build(t, ctxDir, "FROM busybox\nCOPY . /ctx/\n")
		if r.err != nil {
			for _, w := range []string{"fifo", "sock"} {
				if strings.Contains(r.stderr, w) {
					t.Logf("refused: %s", lastLine(r.stderr))
					return
				}
			}
			t.Fatalf("COPY . failed without naming the fifo or socket: %v\n%s", r.err, r.stderr)
		}
		if got := readOut(t, out, "ctx/f"); got != "f" {
			t.Errorf("ctx/f = %q", got)
		}
		if fi, err := os.Lstat(filepath.Join(out, "ctx/fifo")); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			t.Errorf("the fifo was read into a regular file")
		}
	})
	t.Run("context-contains-root", func(t *testing.T) {
		ctxDir := t.TempDir()
		root := filepath.Join(ctxDir, "store")
		mustRun(t, "--root", root, "import", "-t", "busybox", testbase.Busybox(t))
		writeTree(t, ctxDir, map[string]string{"Dockerfile": "FROM busybox\nCOPY . /ctx/\n", "f": "f"})
		out := filepath.Join(t.TempDir(), "out")
		r := runFor(t, 3*time.Minute, "--root", root, "--progress", "plain", "-o", "type=local,dest="+out, ctxDir)
		if r.err != nil {
			t.Fatalf("build: %v\n%s", r.err, r.stderr)
		}
		if got := readOut(t, out, "ctx/f"); got != "f" {
			t.Errorf("ctx/f = %q", got)
		}
		if _, err := os.Lstat(filepath.Join(out, "ctx/store/blobs")); err == nil {
			t.Fatal("the store inside the context was copied into the image: " +
				"context when --root is inside it, as if .dockerignored; COPY . copied the store into the image")
		}
	})
	t.Run("cache-mount-id-escape", func(t *testing.T) {
		for _, id := range []string{"../../x", "/etc", "../victim"} {
			r, _ := build(t, t.TempDir(), "FROM busybox\nRUN --mount=type=cache,id="+id+",target=/c echo pwned > /c/secret\n")
			if r.err != nil {
				t.Logf("id %s refused: %s", id, lastLine(r.stderr))
			}
		}
		s.untouched(t, before)
	})
	t.Run("bind-from-stage-symlink-to-root", func(t *testing.T) {
		r, out := build(t, t.TempDir(), "FROM busybox AS s\nRUN ln -s / /lnk && ln -s ../../../.. /up\n"+
			"FROM busybox\nRUN --mount=type=bind,from=s,source=lnk,target=/m --mount=type=bind,from=s,source=up,target=/u "+
			"ls /m/tmp /u/tmp > /seen 2>&1; true\n")
		if r.err != nil {
			t.Logf("refused: %s", lastLine(r.stderr))
			return
		}
		if seen := readOut(t, out, "seen"); strings.Contains(seen, marker) {
			t.Errorf("a bind of a stage's link to / showed the host's /tmp:\n%s", seen)
		}
	})
	s.untouched(t, before)
}
