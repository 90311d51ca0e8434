package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

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
