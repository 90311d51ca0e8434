package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: --version and `ibuild version` print the version, also in a
// directory holding a build context named "version", which `ibuild
// ./version` builds.
func TestVersion(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"version/Dockerfile": "FROM scratch\nCOPY f /f\n", "version/f": "x"})
	root := filepath.Join(t.TempDir(), "root")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--version"}, "ibuild version "},
		{[]string{"version"}, "ibuild version "},
		{[]string{"version"}, " OS/Arch:    " + runtime.GOOS + "/" + runtime.GOARCH},
		{[]string{"--root", root, "-q", "./version"}, "sha256:"},
	} {
		cmd := exec.Command(ibuildBin, tc.args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("ibuild %v = %q, %v; want %q", tc.args, out, err, tc.want)
		}
	}
	if r := run(t, "", nil, "version", "extra"); r.exitCode() == 0 {
		t.Errorf("ibuild version extra exited 0")
	}
}
