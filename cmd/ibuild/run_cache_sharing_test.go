package main

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// TestRunCacheSharing runs two builds at once whose RUN steps use the same
// cache mount for four seconds each (looking at it after two), and checks what each step saw of the
// other: both (shared), neither because one waited (locked), or neither
// because one got a scratch directory (private).
func TestRunCacheSharing(t *testing.T) {
	seen := regexp.MustCompile(`(?m)^#\d+ [\d.]+ SEEN ([A-Z ]*)$`)
	tests := []struct {
		sharing     string
		overlap     bool // each step sees the other's marker
		mainHasBoth bool // both steps wrote into the persistent directory
	}{
		{"shared", true, true},
		{"locked", false, true},
		{"private", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.sharing, func(t *testing.T) {
			root := busyboxRoot(t)
			var wg sync.WaitGroup
			outs := make([]result, 2)
			for i, name := range []string{"A", "B"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					df := "FROM busybox\nRUN --mount=type=cache,id=shared-dir,target=/c,sharing=" + tt.sharing +
						" touch /c/busy-" + name + " && sleep 2 && echo SEEN $(ls /c | grep busy- | sed s/busy-//) && sleep 2 && rm /c/busy-" + name +
						" && touch /c/done-" + name + "\n"
					outs[i] = buildDockerfile(t, df, "--root", root, "--no-cache")
				}()
			}
			wg.Wait()
			for i, r := range outs {
				if r.err != nil {
					t.Fatalf("build %d failed: %v\n%s", i, r.err, r.stderr)
				}
				m := seen.FindStringSubmatch(r.stderr)
				if m == nil {
					t.Fatalf("build %d printed no SEEN line:\n%s", i, r.stderr)
				}
				got := strings.Fields(m[1])
				if overlap := len(got) == 2; overlap != tt.overlap {
					t.Errorf("build %d saw %v of the cache users; overlap = %v, want %v", i, got, overlap, tt.overlap)
				}
			}
			done, _ := filepath.Glob(filepath.Join(root, "cache-mounts", "*", "done-*"))
			sort.Strings(done)
			if both := len(done) == 2; both != tt.mainHasBoth {
				t.Errorf("persistent cache holds %v; both = %v, want %v", done, both, tt.mainHasBoth)
			}
			scratch, _ := filepath.Glob(filepath.Join(root, "mounts", "cache-private-*"))
			if len(scratch) > 0 {
				t.Errorf("private scratch dirs left behind: %v", scratch)
			}
			if _, err := os.Stat(filepath.Join(root, "cache-mounts")); err != nil {
				t.Error(err)
			}
		})
	}
}
