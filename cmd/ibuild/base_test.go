package main

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ibuild/ibuild/internal/testbase"
	"github.com/ibuild/ibuild/registry"
	"github.com/ibuild/ibuild/registry/registrytest"
)

type tarEntry struct {
	name, link, body string
	typ              byte
}

func makeTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// TestImportRejectsEscapes feeds ibuild import root filesystems whose
// entries would leave the root.
func TestImportRejectsEscapes(t *testing.T) {
	cases := []struct {
		name    string
		entries []tarEntry
		want    string
	}{
		{"dotdot entry", []tarEntry{{name: "etc/", typ: tar.TypeDir}, {name: "../evil", body: "x", typ: tar.TypeReg}}, "../evil"},
		{"symlink then write", []tarEntry{{name: "escape", link: "/tmp", typ: tar.TypeSymlink}, {name: "escape/pwned", body: "x", typ: tar.TypeReg}}, "escape/pwned"},
		{"hardlink outside", []tarEntry{{name: "h", link: "../../etc/passwd", typ: tar.TypeLink}}, "../../etc/passwd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			mustRun(t, "--root", root, "images")
			before := storeListing(t, root)
			r := run(t, string(makeTar(t, tc.entries)), nil, "--root", root, "import", "-t", "evil", "-")
			if r.exitCode() == 0 {
				t.Fatalf("import succeeded:\n%s", r.stdout)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, r.stderr)
			}
			if after := storeListing(t, root); !reflect.DeepEqual(before, after) {
				t.Errorf("store changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestRegistryBase pushes an imported base to a real registry (CNCF
// distribution on 127.0.0.1), builds FROM it on an empty root, and checks
// that a hostile layer served by the registry fails the build with the layer
// and entry named and nothing new in the store.
func TestRegistryBase(t *testing.T) {
	host := registrytest.Start(t)
	rootA, rootB := t.TempDir(), t.TempDir()
	mustRun(t, "--root", rootA, "import", "-t", "bb", "--change", "ENV FROM_IMPORT=yes", "--change", `CMD ["sh"]`, testbase.Busybox(t))
	ref := host + "/test/busybox:1"
	mustRun(t, "--root", rootA, "push", "bb", ref)

	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM " + ref + "\nRUN echo \"$FROM_IMPORT\" > /from-import\nCOPY f /f\n",
		"f":          "f",
	})
	local := filepath.Join(t.TempDir(), "fs")
	mustRun(t, "--root", rootB, "--progress", "plain", "-o", local, dir)
	if b, err := os.ReadFile(filepath.Join(local, "from-import")); err != nil || string(b) != "yes\n" {
		t.Errorf("--change ENV not seen by RUN: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(local, "bin/busybox")); err != nil {
		t.Errorf("base content missing: %v", err)
	}

	// A hostile base: its layer has an entry climbing out of the root.
	evil := makeTar(t, []tarEntry{{name: "etc/", typ: tar.TypeDir}, {name: "../../../escaped", body: "x", typ: tar.TypeReg}})
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(evil)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(img, "application/vnd.docker.container.image.v1+json")
	evilRef := host + "/test/evil:1"
	if err := registry.Push(context.Background(), img, evilRef); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + evilRef + "\nCOPY f /f\n"})
	rootC := t.TempDir()
	mustRun(t, "--root", rootC, "images")
	r := run(t, "", nil, "--root", rootC, "--progress", "plain", dir)
	if r.exitCode() == 0 {
		t.Fatalf("build FROM a hostile base succeeded")
	}
	d, _ := l.Digest()
	for _, want := range []string{"Dockerfile:2", d.String(), "escaped"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if fileExists(filepath.Join(rootC, "..", "..", "escaped")) {
		t.Errorf("entry escaped the snapshot directory")
	}
	if ents, _ := os.ReadDir(filepath.Join(rootC, "snapshots")); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("snapshots left behind: %v", names)
	}
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
