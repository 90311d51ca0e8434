package testbase

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Alpine root filesystems: the official Alpine 3.20.3 mini root
// filesystem tarballs in ../shared/testdata/alpine from the repository
// root (see its README).
const (
	AlpineAMD64File = "alpine-minirootfs-3.20.3-x86_64.tar.gz"
	AlpineARM64File = "alpine-minirootfs-3.20.3-aarch64.tar.gz"
)

// Alpine returns the paths of Alpine 3.20.3's x86_64 and aarch64 mini root
// filesystem tarballs. A checkout without ../shared/testdata/alpine skips
// t, saying where the files come from (they are not built: they are
// Alpine's releases).
func Alpine(t testing.TB) (amd64, arm64 string) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	dir := filepath.Join(root, "..", "shared", "testdata", "alpine")
	amd64, arm64 = filepath.Join(dir, AlpineAMD64File), filepath.Join(dir, AlpineARM64File)
	for _, p := range []string{amd64, arm64} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("skipping: %v (Alpine's minirootfs tarballs, from alpinelinux/docker-alpine branch v3.20, belong in %s)", err, dir)
		}
	}
	return amd64, arm64
}

// AlpineImportArgs are the `ibuild import` arguments that make the
// two-platform (linux/amd64, linux/arm64) image tag from Alpine's tarballs,
// configured as Docker Hub's alpine:3.20.3.
func AlpineImportArgs(t testing.TB, tag string) []string {
	t.Helper()
	amd64, arm64 := Alpine(t)
	return []string{"import", "--platform", "linux/amd64,linux/arm64", "-t", tag,
		"--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--change", fmt.Sprintf("CMD %s", `["/bin/sh"]`), amd64, arm64}
}
