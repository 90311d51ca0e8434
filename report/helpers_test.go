package report

import (
	"archive/tar"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// entry is one tar entry of a test layer; typ 0 is a regular file.
type entry struct {
	name string
	body string
	typ  byte
}

func tarOf(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typ}
		switch e.typ {
		case 0:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.body))
		case tar.TypeDir:
			hdr.Mode = 0o755
		case tar.TypeSymlink:
			hdr.Linkname = e.body
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layerSpec is one layer of a test image and its history entry.
type layerSpec struct {
	createdBy string
	entries   []entry // nil: an empty-layer history entry
}

// testImage builds a gzip image from specs.
func testImage(t *testing.T, specs []layerSpec) (v1.Image, [][]byte) {
	t.Helper()
	img := empty.Image
	var tars [][]byte
	for _, s := range specs {
		h := v1.History{CreatedBy: s.createdBy}
		if s.entries == nil {
			h.EmptyLayer = true
			var err error
			if img, err = mutate.Append(img, mutate.Addendum{History: h}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data := tarOf(t, s.entries)
		tars = append(tars, data)
		l, err := tarball.LayerFromReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: h}); err != nil {
			t.Fatal(err)
		}
	}
	return img, tars
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./report -update rewrites it):\n%s", p, got)
	}
}
