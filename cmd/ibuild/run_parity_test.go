package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunHardlinkToEarlierLayer: a hard link a RUN makes to a file of an
// earlier layer is an independent file in the image, as BuildKit's differ
// (which leaves the unchanged, copied-up original out of the layer) makes
// it; links made within one RUN stay links (case
// run-hardlinks-across-layers).
func TestRunHardlinkToEarlierLayer(t *testing.T) {
	root := sharedBusybox(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": `FROM busybox
RUN echo base > /base && chmod 0640 /etc/group
RUN ln /base /base-link && echo n > /n && ln /n /n-link && chmod 0640 /etc/group
`})
	local := filepath.Join(t.TempDir(), "fs")
	mustRun(t, "--root", root, "-o", local, dir)
	stat := func(p string) os.FileInfo {
		fi, err := os.Lstat(filepath.Join(local, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	if os.SameFile(stat("base"), stat("base-link")) {
		t.Errorf("/base and /base-link are hard-linked; BuildKit makes /base-link an independent file")
	}
	if !os.SameFile(stat("n"), stat("n-link")) {
		t.Errorf("/n and /n-link, linked within one RUN, are not hard-linked")
	}
	for p, want := range map[string]string{"base": "base\n", "base-link": "base\n"} {
		if b, err := os.ReadFile(filepath.Join(local, p)); err != nil || string(b) != want {
			t.Errorf("/%s = %q, %v; want %q", p, b, err, want)
		}
	}
	// The no-op chmod of the third step left /etc/group out of its layer.
	meta := filepath.Join(t.TempDir(), "layout")
	mustRun(t, "--root", root, "-o", "type=oci,dest="+meta, dir)
	if n := layerEntries(t, meta, 1, "etc/group"); n != 0 {
		t.Errorf("the layer of the second RUN holds etc/group %d times; an unchanged copy-up belongs to no layer", n)
	}
}

// layerEntries counts the entries named name in the fromEnd'th layer from
// the top of the image in the OCI layout dir (1 is the top layer).
func layerEntries(t *testing.T, dir string, fromEnd int, name string) int {
	t.Helper()
	layers, err := ociImage(t, dir).Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[len(layers)-fromEnd].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr, n := tar.NewReader(rc), 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			n++
		}
	}
}
