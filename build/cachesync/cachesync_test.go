package cachesync

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/registry"
	"github.com/ibuild/ibuild/registry/registrytest"
)

// storeWithSteps returns a store holding two step records with layers: one
// of an intermediate stage, one of the target stage.
func storeWithSteps(t *testing.T) (*cache.Store, []build.ExportedStep) {
	t.Helper()
	ctx := context.Background()
	s, err := cache.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var steps []build.ExportedStep
	for i, name := range []string{"intermediate", "final"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(name)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(name))
		_ = tw.Close()
		info, err := s.WriteLayer(ctx, &buf, layer.Gzip, 0)
		if err != nil {
			t.Fatal(err)
		}
		key := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(string(rune('a'+i)), 64)}
		rec := cache.StepRecord{Layer: &info, Config: v1.Config{Env: []string{"STEP=" + name}}, History: v1.History{CreatedBy: "RUN " + name}}
		steps = append(steps, build.ExportedStep{Key: key, Record: rec, Final: name == "final"})
	}
	return s, steps
}

func checkRoundTrip(t *testing.T, store *cache.Store, steps []build.ExportedStep, sink build.StepSink, src build.StepSource, mode Mode) {
	t.Helper()
	ctx := context.Background()
	if err := sink.Export(ctx, store, steps); err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		rec, ok, err := src.GetStep(ctx, st.Key)
		if err != nil {
			t.Fatal(err)
		}
		if want := st.Final || mode == ModeMax; ok != want {
			t.Errorf("step %s (final %v) found %v with mode %s", st.Record.History.CreatedBy, st.Final, ok, mode)
			continue
		}
		if !ok {
			continue
		}
		if rec.Layer.Digest != st.Record.Layer.Digest || rec.Config.Env[0] != st.Record.Config.Env[0] {
			t.Errorf("record %+v, want %+v", rec, st.Record)
		}
		rc, err := src.OpenLayer(ctx, *rec.Layer)
		if err != nil {
			t.Fatal(err)
		}
		// A fresh store verifies the blob against its descriptor.
		other, _ := cache.Open(ctx, t.TempDir())
		if _, err := other.WriteBlob(ctx, rc, rec.Layer.Descriptor()); err != nil {
			t.Errorf("layer from %s: %v", src.Name(), err)
		}
		rc.Close()
	}
	if _, ok, _ := src.GetStep(ctx, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("f", 64)}); ok {
		t.Errorf("unknown key found")
	}
}

func TestLocalRoundTrip(t *testing.T) {
	for _, mode := range []Mode{ModeMin, ModeMax} {
		t.Run(string(mode), func(t *testing.T) {
			store, steps := storeWithSteps(t)
			dir := filepath.Join(t.TempDir(), "cache")
			checkRoundTrip(t, store, steps, NewLocal(dir, mode), NewLocal(dir, ""), mode)
		})
	}
}

func TestRegistryRoundTrip(t *testing.T) {
	host := registrytest.Start(t)
	for _, mode := range []Mode{ModeMin, ModeMax} {
		t.Run(string(mode), func(t *testing.T) {
			store, steps := storeWithSteps(t)
			ref := host + "/cache/" + string(mode) + ":1"
			checkRoundTrip(t, store, steps, NewRegistry(ref, mode), NewRegistry(ref, ""), mode)
		})
	}
}

func TestMissingCacheIsEmpty(t *testing.T) {
	host := registrytest.Start(t)
	key := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	for _, src := range []build.StepSource{NewLocal(filepath.Join(t.TempDir(), "none"), ""), NewRegistry(host+"/no/such:cache", "")} {
		if _, ok, err := src.GetStep(context.Background(), key); ok || err != nil {
			t.Errorf("%s: found %v, err %v; want an empty cache", src.Name(), ok, err)
		}
	}
}

func TestNotACache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img, err := random.Image(100, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := registry.WriteOCILayout(ctx, dir, img, []string{layoutTag}); err != nil {
		t.Fatal(err)
	}
	_, _, err = NewLocal(dir, "").GetStep(ctx, v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)})
	if err == nil || !strings.Contains(err.Error(), "not an ibuild cache") {
		t.Errorf("err = %v, want not an ibuild cache", err)
	}
}

func TestTamperedIndexRejected(t *testing.T) {
	ctx := context.Background()
	store, steps := storeWithSteps(t)
	dir := t.TempDir()
	if err := NewLocal(dir, ModeMax).Export(ctx, store, steps); err != nil {
		t.Fatal(err)
	}
	// Rewrite the index blob in place (same length, different content).
	blobs, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
	tampered := false
	for _, b := range blobs {
		raw, _ := os.ReadFile(b)
		if bytes.Contains(raw, []byte(`"steps"`)) {
			raw = bytes.Replace(raw, []byte("STEP=final"), []byte("STEP=evil!"), 1)
			if err := os.WriteFile(b, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			tampered = true
		}
	}
	if !tampered {
		t.Fatal("index blob not found")
	}
	_, _, err := NewLocal(dir, "").GetStep(ctx, steps[1].Key)
	if err == nil || !strings.Contains(err.Error(), "mismatch") {
		t.Errorf("err = %v, want a digest mismatch", err)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeMin, "min": ModeMin, "max": ModeMax} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("all"); err == nil {
		t.Error("ParseMode(all) succeeded")
	}
}

// TestOpenLayerAfterLoadContextEnds: the context a source's index was
// loaded with may end (a stage's, when stages are built concurrently)
// before the build fetches the layers it hit; OpenLayer reads them with
// its own context.
func TestOpenLayerAfterLoadContextEnds(t *testing.T) {
	host := registrytest.Start(t)
	store, steps := storeWithSteps(t)
	ref := host + "/cache/ctx:1"
	if err := NewRegistry(ref, ModeMax).Export(context.Background(), store, steps); err != nil {
		t.Fatal(err)
	}
	for _, src := range []build.StepSource{NewRegistry(ref, "")} {
		stage, cancel := context.WithCancel(context.Background())
		rec, ok, err := src.GetStep(stage, steps[1].Key)
		if err != nil || !ok {
			t.Fatalf("GetStep: %v, %v", ok, err)
		}
		cancel()
		rc, err := src.OpenLayer(context.Background(), *rec.Layer)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := cache.Open(context.Background(), t.TempDir())
		if _, err := other.WriteBlob(context.Background(), rc, rec.Layer.Descriptor()); err != nil {
			t.Errorf("reading the layer after the loading context ended: %v", err)
		}
		rc.Close()
	}
}
