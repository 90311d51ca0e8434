package buildctx

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// FuzzIgnore fuzzes ignore-file contents and a source argument. Nothing may
// panic, and no path the ignore rules exclude is ever selected: neither by
// the fuzzed argument nor by "." (which must select exactly the files the
// rules keep).
func FuzzIgnore(f *testing.F) {
	f.Add("*/temp*\n*/*/temp*\ntemp?\n", "somedir/temporary.txt")
	f.Add("**/*.go\n!dir/x.go\n", ".")
	f.Add("dir\n!dir/sub/y.txt\n", "dir")
	f.Add("*.md\n!README*.md\nREADME-secret.md\n", "*.md")
	f.Add("/temp\n# comment\n!\n", "temp/z")
	f.Add("[\n", "a[")
	f.Add("!dir/sub\n*\n!**/*.txt", "dir/*")
	root := filepath.Join(f.TempDir(), "ctx")
	files := []string{"a.go", "b.md", "README.md", "README-secret.md", ".hidden", "dir/x.go",
		"dir/sub/y.txt", "dir/temp1", "temp/z", "tempa/q.txt"}
	var specs []string
	for _, p := range files {
		specs = append(specs, "f "+p+" "+p)
	}
	mkTree(f, root, append(specs, "l dir/link ../a.go")...)
	ignorePath := filepath.Join(f.TempDir(), "fuzz.dockerignore")

	f.Fuzz(func(t *testing.T, ignore, arg string) {
		if err := os.WriteFile(ignorePath, []byte(ignore), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Open(root, ignorePath)
		if err != nil {
			return // invalid pattern: reported, fine
		}
		patterns, _ := ignorefile.ReadAll(strings.NewReader(ignore))
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			t.Fatalf("Open accepted patterns that patternmatcher rejects: %v", err)
		}
		excluded := func(p string) bool {
			m, err := pm.MatchesOrParentMatches(p)
			return err == nil && m
		}
		_, _ = c.Ignored(arg)
		if ms, err := c.Select(context.Background(), []string{arg}); err == nil {
			for _, s := range ms[0].Files {
				if !s.Info.IsDir() && excluded(s.Path) {
					t.Errorf("Select(%q) selected excluded %s", arg, s.Path)
				}
				if s.Path == ".." || strings.HasPrefix(s.Path, "../") || strings.HasPrefix(s.Path, "/") {
					t.Errorf("Select(%q) selected %s outside the context", arg, s.Path)
				}
			}
		}
		ms, err := c.Select(context.Background(), []string{"."})
		if err != nil {
			t.Fatalf("Select(.): %v", err)
		}
		got := map[string]bool{}
		for _, s := range ms[0].Files {
			if s.Info.Mode().IsRegular() {
				got[s.Path] = true
			}
		}
		for _, p := range files {
			if got[p] == excluded(p) {
				t.Errorf("ignore %q: %s selected=%v, excluded=%v", ignore, p, got[p], excluded(p))
			}
		}
		// WithExclude wins over every rule, "!" exceptions included.
		cx, err := Open(root, ignorePath, WithExclude(filepath.Join(root, "dir")))
		if err != nil {
			t.Fatalf("Open with WithExclude: %v", err)
		}
		for _, a := range []string{arg, "."} {
			ms, err := cx.Select(context.Background(), []string{a})
			if err != nil {
				continue
			}
			for _, s := range ms[0].Files {
				if s.Path == "dir" || strings.HasPrefix(s.Path, "dir/") {
					t.Errorf("Select(%q) selected %s, excluded by WithExclude", a, s.Path)
				}
			}
		}
	})
}
