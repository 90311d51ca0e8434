package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTarGz writes a gzipped tar holding one file of size random bytes.
func writeTarGz(t *testing.T, p string, size int) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	data := make([]byte, size)
	rand.Read(data)
	if err := tw.WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLayerLimitsEveryPath: the --max-layer-size decompression bound
// applies wherever ibuild decompresses an archive: ADD of a local archive,
// import, and inspect/compare of an image. A 256 KiB archive passes the
// default limit and fails one of 64 KiB, with the hint naming the flag.
func TestLayerLimitsEveryPath(t *testing.T) {
	dir := t.TempDir()
	writeTarGz(t, filepath.Join(dir, "big.tar.gz"), 256<<10)
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nADD big.tar.gz /x/\n"})
	root := t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "big", filepath.Join(dir, "big.tar.gz"))
	for _, c := range []struct {
		name string
		args []string
	}{
		{"ADD", []string{"--no-cache", dir}},
		{"import", []string{"import", "-t", "big2", filepath.Join(dir, "big.tar.gz")}},
		{"inspect", []string{"inspect", "big"}},
		{"compare", []string{"compare", "big", "big"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mustRun(t, append([]string{"--root", root}, c.args...)...)
			r := run(t, "", nil, append([]string{"--root", root, "--max-layer-size", "64KiB"}, c.args...)...)
			if r.err == nil || !strings.Contains(r.stderr, "--max-layer-size") {
				t.Errorf("with a 64 KiB limit: err=%v\n%s", r.err, r.stderr)
			}
		})
	}
}
