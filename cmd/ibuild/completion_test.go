package main

import (
	"archive/tar"
	"os"
	"reflect"
	"strings"
	"testing"
)

// completions runs `ibuild __complete ARGS...` and returns the offered
// values and the directive line.
func completions(t *testing.T, root string, args ...string) ([]string, string) {
	t.Helper()
	r := mustRun(t, append([]string{"--root", root, "__complete"}, args...)...)
	var vals []string
	dir := ""
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if strings.HasPrefix(l, ":") {
			dir = l
			continue
		}
		vals = append(vals, l)
	}
	return vals, dir
}

// TestCompletion checks that image arguments complete from the store's tags
// and enum flags from their fixed values.
func TestCompletion(t *testing.T) {
	root := t.TempDir()
	rootfs := string(makeTar(t, []tarEntry{{name: "etc/", typ: tar.TypeDir}, {name: "etc/hello", typ: tar.TypeReg, body: "hi"}}))
	for _, tag := range []string{"myapp:1", "myapp:2", "other"} {
		if r := run(t, rootfs, nil, "--root", root, "import", "-t", tag, "-"); r.err != nil {
			t.Fatalf("import %s: %v\n%s", tag, r.err, r.stderr)
		}
	}
	all := []string{"myapp:1", "myapp:2", "other:latest"}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"rmi all", []string{"rmi", ""}, all},
		{"rmi prefix", []string{"rmi", "myapp"}, []string{"myapp:1", "myapp:2"}},
		{"rmi skips given", []string{"rmi", "myapp:1", ""}, []string{"myapp:2", "other:latest"}},
		{"inspect", []string{"inspect", ""}, all},
		{"inspect one arg", []string{"inspect", "other", ""}, nil},
		{"history", []string{"history", "o"}, []string{"other:latest"}},
		{"push", []string{"push", ""}, all},
		{"progress", []string{"build", "--progress", ""}, []string{"auto", "tty", "plain", "json"}},
		{"root compression", []string{"--compression", ""}, []string{"gzip", "zstd", "none"}},
		{"isolation", []string{"build", "--isolation", ""}, []string{"builtin", "oci"}},
		{"network", []string{"--network", ""}, []string{"default", "host", "none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, dir := completions(t, root, tc.args...)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("__complete %q = %q, want %q", tc.args, got, tc.want)
			}
			if dir != ":4" {
				t.Errorf("directive %q, want :4 (no file completion)", dir)
			}
		})
	}
	// No store: nothing offered, and no store is created.
	empty := t.TempDir() + "/none"
	if got, _ := completions(t, empty, "rmi", ""); got != nil {
		t.Errorf("completion without a store offered %q", got)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Errorf("completion created a store at %s", empty)
	}
}
