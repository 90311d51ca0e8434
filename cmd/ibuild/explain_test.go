package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExplainCache checks that a miss names the input that changed: a file
// for COPY, a build arg for RUN, and the parent for the steps after.
func TestExplainCache(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n",
		"a.txt":      "a", "b.txt": "b",
	})
	root := t.TempDir()
	meta := filepath.Join(t.TempDir(), "meta.json")
	r := mustRun(t, "--root", root, "--explain-cache", dir)
	if !strings.Contains(r.stderr, "no earlier build of this step") {
		t.Errorf("first build does not say the step is new:\n%s", r.stderr)
	}
	// mtime-only touch: still cached.
	future := mustTime(t, filepath.Join(dir, "a.txt"))
	os.Chtimes(filepath.Join(dir, "a.txt"), future, future)
	r = mustRun(t, "--root", root, "--explain-cache", "--metadata-file", meta, dir)
	var md metadata
	readJSON(t, meta, &md)
	for _, s := range md.Steps {
		if !s.Cached {
			t.Errorf("after an mtime-only touch, %s ran: %s", s.Name, s.MissReason)
		}
	}
	// A content change names the file, and the next step names its parent.
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("A"), 0o644)
	r = mustRun(t, "--root", root, "--explain-cache", "--metadata-file", meta, dir)
	readJSON(t, meta, &md)
	want := map[string]string{"COPY a.txt /a.txt": "file a.txt content changed", "COPY b.txt /b.txt": "parent step changed"}
	for _, s := range md.Steps {
		for name, reason := range want {
			if strings.HasSuffix(s.Name, name) && (s.Cached || s.MissReason != reason) {
				t.Errorf("%s: cached=%v reason %q, want %q", s.Name, s.Cached, s.MissReason, reason)
			}
		}
	}
	if !strings.Contains(r.stderr, "ran: file a.txt content changed") {
		t.Errorf("--explain-cache output lacks the reason:\n%s", r.stderr)
	}
}

// TestExplainBuildArg checks that a changed build arg is named through the
// expanded destination it changes.
func TestExplainBuildArg(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM scratch\nARG V=1\nCOPY a.txt /a-${V}.txt\n",
		"a.txt":      "a",
	})
	root := t.TempDir()
	meta := filepath.Join(t.TempDir(), "meta.json")
	mustRun(t, "--root", root, dir)
	mustRun(t, "--root", root, "--build-arg", "V=2", "--metadata-file", meta, dir)
	var md metadata
	readJSON(t, meta, &md)
	last := md.Steps[len(md.Steps)-1]
	if last.Cached || !strings.Contains(last.MissReason, "destination changed") {
		t.Errorf("changed ARG: step %s cached=%v reason %q", last.Name, last.Cached, last.MissReason)
	}
}
