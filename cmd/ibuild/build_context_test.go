package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildContextFlag: BuildKit's named contexts (--build-context) replace
// the image or stage of their name in FROM and COPY --from: a directory, an
// image in the store (docker-image://) and an OCI layout (oci-layout://).
func TestBuildContextFlag(t *testing.T) {
	root := busyboxRoot(t)
	files := t.TempDir()
	writeTree(t, files, map[string]string{"a.txt": "from dir\n", "sub/b.txt": "b\n"})
	// An OCI layout holding a small image with /lay.txt.
	layDir := t.TempDir()
	writeTree(t, layDir, map[string]string{"Dockerfile": "FROM scratch\nCOPY lay.txt /lay.txt\n", "lay.txt": "from layout\n"})
	layout := filepath.Join(t.TempDir(), "layout")
	mustRun(t, "--root", root, "-q", "-t", "lay:v1", "-o", "type=oci,dest="+layout, layDir)

	df := "FROM alpine:3.20 AS base\n" + // replaced by busybox
		"RUN echo ran > /ran\n" +
		"FROM base\n" +
		"COPY --from=files a.txt /a.txt\n" +
		"COPY --from=files sub /sub\n" +
		"COPY --from=lay /lay.txt /lay.txt\n" +
		"RUN cat /a.txt /sub/b.txt /lay.txt > /all\n"
	local := filepath.Join(t.TempDir(), "fs")
	mustBuild(t, df, "--root", root, "-o", local, "--build-context", "alpine:3.20=docker-image://busybox",
		"--build-context", "files="+files, "--build-context", "lay=oci-layout://"+layout+":v1")
	b, err := os.ReadFile(filepath.Join(local, "all"))
	if err != nil || string(b) != "from dir\nb\nfrom layout\n" {
		t.Errorf("/all = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(local, "ran")); err != nil {
		t.Errorf("the RUN in the replaced base did not run: %v", err)
	}

	// A change in the directory context is a cache miss.
	writeTree(t, files, map[string]string{"a.txt": "changed\n"})
	local2 := filepath.Join(t.TempDir(), "fs")
	mustBuild(t, df, "--root", root, "-o", local2, "--build-context", "alpine:3.20=docker-image://busybox",
		"--build-context", "files="+files, "--build-context", "lay=oci-layout://"+layout+":v1")
	if b, _ := os.ReadFile(filepath.Join(local2, "all")); !strings.HasPrefix(string(b), "changed\n") {
		t.Errorf("after a change in the named context /all = %q", b)
	}

	// FROM a named image in the layout.
	local3 := filepath.Join(t.TempDir(), "fs")
	mustBuild(t, "FROM lay\nCOPY --from=lay /lay.txt /copy.txt\n", "--root", root, "-o", local3, "--build-context", "lay=oci-layout://"+layout)
	if b, _ := os.ReadFile(filepath.Join(local3, "lay.txt")); string(b) != "from layout\n" {
		t.Errorf("FROM an oci-layout context: /lay.txt = %q", b)
	}

	for _, tc := range []struct{ flag, want string }{
		{"x", "want NAME=DIR"},
		{"x=/nonexistent", "no such file"},
		{"x=https://example.com/ctx.tar", "only a directory"},
		{"x=oci-layout://" + files, "not an OCI layout"},
	} {
		r := buildDockerfile(t, "FROM scratch\n", "--root", root, "--build-context", tc.flag)
		if r.exitCode() != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("--build-context %s: exit %d, want %q:\n%s", tc.flag, r.exitCode(), tc.want, r.stderr)
		}
	}
	r := buildDockerfile(t, "FROM files\n", "--root", root, "--build-context", "files="+files)
	if r.exitCode() != 1 || !strings.Contains(r.stderr, "FROM needs an image") || !strings.Contains(r.stderr, "Dockerfile:1") {
		t.Errorf("FROM a directory context: exit %d\n%s", r.exitCode(), r.stderr)
	}
}
