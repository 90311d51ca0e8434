package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitContext: a git+file:// URL is cloned as BuildKit's git contexts:
// the remote HEAD by default, #REF for a branch, tag or commit, #REF:DIR
// for a subdirectory, without the .git directory.
func TestGitContext(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("git not installed: %v", err)
	}
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	writeTree(t, repo, map[string]string{"Dockerfile": "FROM scratch\nCOPY . /ctx/\n", "v.txt": "main\n", "sub/Dockerfile": "FROM scratch\nCOPY s.txt /s.txt\n", "sub/s.txt": "sub\n"})
	if err := os.Symlink("/etc", filepath.Join(repo, "out")); err != nil {
		t.Fatal(err)
	}
	git("add", "-A")
	git("commit", "-q", "-m", "one")
	git("checkout", "-q", "-b", "feature")
	writeTree(t, repo, map[string]string{"v.txt": "feature\n"})
	git("commit", "-q", "-am", "two")
	git("checkout", "-q", "main")

	root := t.TempDir()
	url := "git+file://" + repo
	for _, tc := range []struct{ ctx, file, want string }{
		{url, "ctx/v.txt", "main\n"},
		{url + "#feature", "ctx/v.txt", "feature\n"},
		{url + "#main:sub", "s.txt", "sub\n"},
	} {
		local := filepath.Join(t.TempDir(), "fs")
		r := run(t, "", nil, "--root", root, "--progress", "plain", "-o", local, tc.ctx)
		if b, err := os.ReadFile(filepath.Join(local, tc.file)); err != nil || string(b) != tc.want {
			t.Errorf("%s: /%s = %q, %v; want %q\n%s", tc.ctx, tc.file, b, err, tc.want, r.stderr)
		}
		if tc.file == "ctx/v.txt" {
			if _, err := os.Stat(filepath.Join(local, "ctx", ".git")); err == nil {
				t.Errorf("%s: the .git directory is in the context", tc.ctx)
			}
		}
	}
	for _, tc := range []struct{ ctx, want string }{
		{url + "#nosuchbranch", "git context"},
		{url + "#main:missing", "subdirectory missing not found"},
		{url + "#main:out", "not found"}, // a symlink out of the clone
		{"git+file://" + t.TempDir() + "/none", "git context"},
	} {
		r := run(t, "", nil, "--root", root, tc.ctx)
		if r.exitCode() != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, want an error with %q:\n%s", tc.ctx, r.exitCode(), tc.want, r.stderr)
		}
	}
}
