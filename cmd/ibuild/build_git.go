package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// isGitContext reports whether PATH names a git repository to clone, as
// BuildKit's git contexts: git+file://, git://, git@host:, ssh:// and
// http(s):// URLs ending in .git (before a #fragment).
func isGitContext(p string) bool {
	u, _, _ := strings.Cut(p, "#")
	switch {
	case strings.HasPrefix(p, "git+file://"), strings.HasPrefix(p, "git://"), strings.HasPrefix(p, "git@"):
		return true
	case strings.HasPrefix(p, "https://"), strings.HasPrefix(p, "http://"), strings.HasPrefix(p, "ssh://"):
		return strings.HasSuffix(u, ".git")
	}
	return false
}

// gitContext clones the repository URL[#REF[:SUBDIR]] into a temporary
// directory, as BuildKit does for a git context (without the .git
// directory), and returns the context directory, the commit checked out
// and a cleanup. REF is a branch, tag or commit (default: the remote's
// HEAD).
func gitContext(ctx context.Context, spec string) (string, string, func(), error) {
	url, frag, _ := strings.Cut(spec, "#")
	ref, subdir, _ := strings.Cut(frag, ":")
	url = strings.TrimPrefix(url, "git+")
	if strings.HasPrefix(ref, "-") {
		return "", "", nil, fmt.Errorf("invalid git context %q: bad ref %q", spec, ref)
	}
	tmp, err := os.MkdirTemp("", "ibuild-git-")
	if err != nil {
		return "", "", nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	repo := filepath.Join(tmp, "repo")
	git := func(dir string, args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	steps := [][]string{{"clone", "--quiet", "--no-checkout", "--", url, repo}}
	if ref == "" {
		steps = append(steps, []string{"-C", repo, "checkout", "--quiet", "HEAD"})
	} else {
		steps = append(steps, []string{"-C", repo, "fetch", "--quiet", "origin", "--", ref},
			[]string{"-C", repo, "checkout", "--quiet", "FETCH_HEAD"})
	}
	for _, s := range steps {
		if err := git(tmp, s...); err != nil {
			cleanup()
			return "", "", nil, fmt.Errorf("git context %s: %w", spec, err)
		}
	}
	rev := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "HEAD")
	rev.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := rev.Output()
	if err != nil {
		cleanup()
		return "", "", nil, fmt.Errorf("git context %s: reading the commit: %w", spec, err)
	}
	commit := strings.TrimSpace(string(out))
	if err := os.RemoveAll(filepath.Join(repo, ".git")); err != nil {
		cleanup()
		return "", "", nil, err
	}
	dir := repo
	if subdir != "" {
		// Resolved inside the clone: a symlink cannot lead out of it.
		if dir, err = securejoin.SecureJoin(repo, subdir); err != nil {
			cleanup()
			return "", "", nil, fmt.Errorf("git context %s: %w", spec, err)
		}
		if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
			cleanup()
			return "", "", nil, fmt.Errorf("git context %s: subdirectory %s not found", spec, subdir)
		}
	}
	return dir, commit, cleanup, nil
}
