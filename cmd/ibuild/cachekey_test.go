package main

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestCacheKeyInputs is issue #10 defect 4: every input that changes a
// layer's bytes or the config is in the step cache key. Each row flips one
// input against a warm cache and says which steps must run again; the
// others must stay cached. A build with SOURCE_DATE_EPOCH reused the layer
// built without it (and the reverse), and so did another compression.
func TestCacheKeyInputs(t *testing.T) {
	root := busyboxRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM busybox\nARG OWNER=1:1 MODE=644\nCOPY --chown=$OWNER --chmod=$MODE f /f\nRUN echo run > /r\n",
		"f":          "f",
	})
	build := func(t *testing.T, env []string, args ...string) (map[string]bool, string) {
		t.Helper()
		meta := filepath.Join(t.TempDir(), "meta.json")
		r := run(t, "", env, append(append([]string{"--root", root, "--progress", "plain", "--metadata-file", meta}, args...), dir)...)
		if r.err != nil {
			t.Fatalf("build: %v\n%s", r.err, r.stderr)
		}
		var md metadata
		readJSON(t, meta, &md)
		ran := map[string]bool{}
		for _, s := range md.Steps {
			for _, kind := range []string{"COPY", "RUN"} {
				if strings.Contains(s.Name, "] "+kind+" ") {
					ran[kind] = !s.Cached
				}
			}
		}
		return ran, r.stderr
	}
	build(t, nil)
	cases := []struct {
		name string
		env  []string
		args []string
		copy bool // the COPY must run again
		run  bool // the RUN must run again
		why  string
	}{
		{"nothing changed", nil, nil, false, false, ""},
		{"SOURCE_DATE_EPOCH", []string{"SOURCE_DATE_EPOCH=1600000000"}, nil, true, true, "cache miss: epoch changed"},
		{"SOURCE_DATE_EPOCH build arg", nil, []string{"--build-arg", "SOURCE_DATE_EPOCH=1500000000"}, true, true, ""},
		{"compression", nil, []string{"--compression", "zstd"}, true, true, "cache miss: compression changed"},
		{"compression level", nil, []string{"--compression-level", "9"}, true, true, ""},
		{"chown", nil, []string{"--build-arg", "OWNER=2:2"}, true, true, ""},
		{"chmod", nil, []string{"--build-arg", "MODE=600"}, true, true, ""},
		{"proxy build arg", nil, []string{"--build-arg", "HTTP_PROXY=http://127.0.0.1:9"}, false, true, ""},
		{"platform spelled out (the host's: same key)", nil, []string{"--platform", "linux/" + runtime.GOARCH}, false, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ran, stderr := build(t, tc.env, tc.args...)
			if ran["COPY"] != tc.copy || ran["RUN"] != tc.run {
				t.Errorf("ran COPY=%v RUN=%v, want COPY=%v RUN=%v", ran["COPY"], ran["RUN"], tc.copy, tc.run)
			}
			if !strings.Contains(stderr, tc.why) {
				t.Errorf("progress lacks %q:\n%s", tc.why, stderr)
			}
		})
	}
}
