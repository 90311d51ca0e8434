package buildctx

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mkTree creates entries under root. Each spec line is "f path content",
// "d path", "l path target" or "p path" (a FIFO).
func mkTree(t testing.TB, root string, specs ...string) {
	t.Helper()
	for _, spec := range specs {
		kind, rest, _ := strings.Cut(spec, " ")
		name, arg, _ := strings.Cut(rest, " ")
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch kind {
		case "f":
			err = os.WriteFile(p, []byte(arg), 0o644)
		case "d":
			err = os.MkdirAll(p, 0o755)
		case "l":
			err = os.Symlink(arg, p)
		case "p":
			err = syscall.Mkfifo(p, 0o644)
		default:
			t.Fatalf("bad spec %q", spec)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// openCtx writes ignore (if not "") as root/.dockerignore and opens root.
func openCtx(t testing.TB, root, ignore string) *Context {
	t.Helper()
	ig := ""
	if ignore != "" {
		ig = filepath.Join(root, ".dockerignore")
		if err := os.WriteFile(ig, []byte(ignore), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(root, ig)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
