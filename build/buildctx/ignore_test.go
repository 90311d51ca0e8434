package buildctx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIgnored(t *testing.T) {
	tests := []struct {
		name    string
		ignore  string
		ignored []string
		kept    []string
	}{{
		name:    "docker docs example",
		ignore:  "# comment\n*/temp*\n*/*/temp*\ntemp?\n",
		ignored: []string{"somedir/temporary.txt", "somedir/temp", "somedir/subdir/temporary.txt", "tempa", "somedir/temp/deeper"},
		kept:    []string{"temp", "temporary.txt", "a/b/c/temp", "# comment"},
	}, {
		name:    "double star",
		ignore:  "**/*.go\n",
		ignored: []string{"main.go", "a/b/c.go", "x/y.go"},
		kept:    []string{"main.go.txt", "a/b/c.gox", "go"},
	}, {
		name:    "exception",
		ignore:  "*.md\n!README.md\n",
		ignored: []string{"CHANGES.md"},
		kept:    []string{"README.md", "docs/x.md"},
	}, {
		name:    "exception then re-exclude",
		ignore:  "*.md\n!README*.md\nREADME-secret.md\n",
		ignored: []string{"CHANGES.md", "README-secret.md"},
		kept:    []string{"README.md", "README-public.md"},
	}, {
		name:    "directory exclude with re-include",
		ignore:  "docs\n!docs/keep.md\n",
		ignored: []string{"docs", "docs/other.md", "docs/sub/keep.md"},
		kept:    []string{"docs/keep.md", "docsx", "a/docs"},
	}, {
		name:    "leading slash",
		ignore:  "/build\n/a/b\n",
		ignored: []string{"build", "build/out.bin", "a/b/c"},
		kept:    []string{"x/build", "a/bb"},
	}, {
		name:    "trailing slash and dot segments",
		ignore:  "node_modules/\n./tmp/../cache\n",
		ignored: []string{"node_modules/x/y.js", "cache/z"},
		kept:    []string{"tmp", "src/node_modules"},
	}, {
		name:   "comments and blank lines only",
		ignore: "# *\n\n   \n",
		kept:   []string{"a", "b/c"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openCtx(t, t.TempDir(), tt.ignore)
			for _, p := range tt.ignored {
				if got, err := c.Ignored(p); err != nil || !got {
					t.Errorf("Ignored(%q) = %v, %v; want true", p, got, err)
				}
			}
			for _, p := range tt.kept {
				if got, err := c.Ignored(p); err != nil || got {
					t.Errorf("Ignored(%q) = %v, %v; want false", p, got, err)
				}
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.dockerignore")
	if err := os.WriteFile(bad, []byte("a[\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad pattern: err = %v, want one naming %s", err, bad)
	}
	lazy := filepath.Join(dir, "lazy.dockerignore")
	if err := os.WriteFile(lazy, []byte("a\n!b\n\\1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, lazy); err == nil || !strings.Contains(err.Error(), lazy) {
		t.Errorf("pattern that only fails to compile: err = %v, want one naming %s", err, lazy)
	}
	if _, err := Open(dir, filepath.Join(dir, "bad.dockerignore", "x")); err == nil {
		t.Errorf("unreadable ignore file: want error")
	}
	if _, err := Open(filepath.Join(dir, "missing"), ""); err == nil {
		t.Errorf("missing dir: want error")
	}
	if _, err := Open(bad, ""); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as context: err = %v", err)
	}
	c, err := Open(dir, filepath.Join(dir, "absent.dockerignore"))
	if err != nil {
		t.Fatalf("absent ignore file: %v", err)
	}
	if c.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", c.Dir(), dir)
	}
}
