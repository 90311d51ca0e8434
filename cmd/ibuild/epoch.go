package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// buildEpoch picks the time a build's timestamps are clamped to and its
// image and history are dated with: SOURCE_DATE_EPOCH (build arg, then
// environment), else the commit time of HEAD when the context lies in a git
// work tree, else nil, which means build.DefaultEpoch (1980-01-01).
func buildEpoch(ctx context.Context, contextDir string, args map[string]string) (*time.Time, error) {
	t, err := sourceDateEpochWith(args)
	if err != nil || t != nil {
		return t, err
	}
	return gitHeadTime(ctx, contextDir), nil
}

// gitHeadTime returns the committer time of HEAD of the git repository
// holding dir, or nil when dir is not in one, HEAD has no commit, or git is
// not installed. git's own environment variables (GIT_DIR, ...) are not
// passed on, so the repository is the one dir lies in.
func gitHeadTime(ctx context.Context, dir string) *time.Time {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil
	}
	// safe.directory: a context owned by another user is still read (only
	// its HEAD commit, as data).
	cmd := exec.CommandContext(ctx, git, "-c", "safe.directory=*", "-C", dir, "cat-file", "commit", "HEAD")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	t, err := committerTime(out)
	if err != nil {
		return nil
	}
	return &t
}

// committerTime parses the committer line of a raw commit object:
// "committer Name <email> 1700000000 +0100".
func committerTime(commit []byte) (time.Time, error) {
	sc := bufio.NewScanner(bytes.NewReader(commit))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break // end of the headers
		}
		rest, ok := strings.CutPrefix(line, "committer ")
		if !ok {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '>')+1:])
		if len(f) != 2 {
			return time.Time{}, fmt.Errorf("malformed committer line %q", line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("malformed committer time %q: %w", f[0], err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, errors.New("no committer line")
}
