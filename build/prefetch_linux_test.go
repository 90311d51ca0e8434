package build

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ibuild/ibuild/layer"
)

// TestPrefetchBase checks that a stage reading its root file system's
// content (a RUN, a COPY --from it) starts extracting its base at FROM, and
// that one that does not (ENV, LABEL, COPY, WORKDIR) never extracts it.
func TestPrefetchBase(t *testing.T) {
	ctx := context.Background()
	store := testStore(t)
	if overlayUnsupported(store.Root()) != "" {
		t.Skipf("no prefetch where overlayfs is unusable: %s", overlayUnsupported(store.Root()))
	}
	info := oneFileLayer(t, store, "etc/f")
	snap := filepath.Join(store.Root(), "snapshots", info.DiffID.Hex)
	for _, c := range []struct {
		name, dockerfile string
		extract          bool
	}{
		{"env and label", "FROM base\nENV A=1\nLABEL l=1\n", false},
		{"run", "FROM base\nENV A=1\nRUN true\n", true},
		{"copy and workdir plan on headers", "FROM base\nCOPY f /f\nWORKDIR /w\n", false},
		{"read by another stage", "FROM base AS a\nENV A=1\nFROM scratch\nCOPY --from=a /etc/f /f\n", true},
		{"built on by another stage", "FROM base AS a\nLABEL l=1\nFROM a\nRUN true\n", true},
		{"built on by a stage without RUN", "FROM base AS a\nLABEL l=1\nFROM a\nCOPY f /f\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.RemoveAll(snap)
			b := testBuilder(t, store, t.TempDir(), c.dockerfile, nil)
			b.prefetchBase(ctx, 0, []layer.Info{info})
			b.bg.Wait()
			if _, err := os.Stat(snap); (err == nil) != c.extract {
				t.Errorf("snapshot extracted: %v, want %v", err == nil, c.extract)
			}
			if c.extract {
				if data, err := os.ReadFile(filepath.Join(snap, "etc/f")); err != nil || string(data) != "x" {
					t.Errorf("extracted etc/f: %q, %v", data, err)
				}
			}
		})
	}
}
