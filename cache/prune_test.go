package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ibuild/ibuild/layer"
)

// putStep stores a step record with a layer blob of content, last used at t.
func putStep(t *testing.T, s *Store, name string, content []byte, used time.Time) (v1.Hash, layer.Info) {
	t.Helper()
	ctx := context.Background()
	d, err := s.WriteBlob(ctx, bytes.NewReader(content), v1.Descriptor{})
	if err != nil {
		t.Fatal(err)
	}
	info := layer.Info{Digest: d.Digest, DiffID: d.Digest, Size: d.Size, MediaType: layer.None.MediaType()}
	key := sha([]byte(name))
	if err := s.PutStep(ctx, key, StepRecord{Layer: &info}); err != nil {
		t.Fatal(err)
	}
	p, _ := s.stepPath(key)
	if err := os.Chtimes(p, used, used); err != nil {
		t.Fatal(err)
	}
	return key, info
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	old, recent := time.Now().Add(-48*time.Hour), time.Now().Add(-time.Minute)
	tests := []struct {
		name      string
		opts      PruneOptions
		wantSteps []string // step names left
		wantTag   bool
	}{
		{name: "everything but tags", opts: PruneOptions{}, wantSteps: nil, wantTag: true},
		{name: "all", opts: PruneOptions{All: true}, wantSteps: nil, wantTag: false},
		{name: "until", opts: PruneOptions{Until: time.Hour}, wantSteps: []string{"recent"}, wantTag: true},
		{name: "keep storage", opts: PruneOptions{KeepStorage: 1 << 20}, wantSteps: []string{"recent"}, wantTag: true},
		{name: "keep everything", opts: PruneOptions{KeepStorage: 1 << 30}, wantSteps: []string{"old", "recent", "shared"}, wantTag: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			putStep(t, s, "old", bytes.Repeat([]byte("o"), 2<<20), old)
			putStep(t, s, "recent", bytes.Repeat([]byte("r"), 512<<10), recent)
			// A tagged image whose only layer a pruned step also used.
			_, shared := putStep(t, s, "shared", []byte("shared layer"), old.Add(-time.Hour))
			img, err := mutate.AppendLayers(empty.Image, static.NewLayer([]byte("shared layer"), types.OCILayer))
			if err != nil {
				t.Fatal(err)
			}
			desc, err := s.WriteImage(ctx, img)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Tag(ctx, "app:1", desc); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Prune(ctx, tt.opts); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range []string{"old", "recent", "shared"} {
				if _, ok, _ := s.GetStep(ctx, sha([]byte(n))); ok {
					got = append(got, n)
				}
			}
			if !equalStrings(got, tt.wantSteps) {
				t.Errorf("steps left %v, want %v", got, tt.wantSteps)
			}
			_, err = s.Resolve(ctx, "app:1")
			if (err == nil) != tt.wantTag {
				t.Fatalf("tag present = %v, want %v", err == nil, tt.wantTag)
			}
			if tt.wantTag {
				im, err := s.Image(ctx, desc.Digest)
				if err != nil {
					t.Fatalf("tagged image lost a blob: %v", err)
				}
				if err := readAll(im); err != nil {
					t.Fatalf("tagged image lost a blob: %v", err)
				}
			} else if s.HasBlob(shared.Digest) {
				t.Errorf("--all kept layer %s", shared.Digest)
			}
		})
	}
}

func readAll(img v1.Image) error {
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPruneRefusesWhileInUse(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	other, err := Open(ctx, s.Root())
	if err != nil {
		t.Fatal(err)
	}
	putStep(t, s, "a", []byte("a"), time.Now())
	if _, err := s.Prune(ctx, PruneOptions{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("Prune with another Store open: err = %v, want ErrInUse", err)
	}
	if _, ok, _ := s.GetStep(ctx, sha([]byte("a"))); !ok {
		t.Fatal("refused Prune removed a step")
	}
	other.Close()
	if _, err := s.Prune(ctx, PruneOptions{}); err != nil {
		t.Fatalf("Prune after Close: %v", err)
	}
	if _, ok, _ := s.GetStep(ctx, sha([]byte("a"))); ok {
		t.Fatal("Prune kept the step")
	}
	// The prune downgraded its lock: another Open works again.
	again, err := Open(ctx, s.Root())
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
}

func TestDiskUsage(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	putStep(t, s, "a", bytes.Repeat([]byte("a"), 1000), time.Now())
	if err := os.MkdirAll(filepath.Join(s.Root(), "cache-mounts", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Root(), "cache-mounts", "x", "f"), make([]byte, 300), 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := s.DiskUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u.Blobs.Count != 1 || u.Blobs.Size != 1000 {
		t.Errorf("blobs = %+v, want 1 of 1000 bytes", u.Blobs)
	}
	if u.CacheMounts.Count != 1 || u.CacheMounts.Size != 300 {
		t.Errorf("cache mounts = %+v, want 1 of 300 bytes", u.CacheMounts)
	}
	if u.Steps.Count != 1 || u.Steps.Size == 0 {
		t.Errorf("steps = %+v, want 1", u.Steps)
	}
}

func TestGetStepDetectsFlippedByte(t *testing.T) {
	ctx := context.Background()
	var warn bytes.Buffer
	s, err := Open(ctx, t.TempDir(), WithWarnings(&warn))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key, info := putStep(t, s, "a", []byte("some layer bytes"), time.Now())
	if _, ok, _ := s.GetStep(ctx, key); !ok {
		t.Fatal("intact step missed")
	}
	p, _ := s.blobPath(info.Digest)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("S"), 0); err != nil { // same size, new content
		t.Fatal(err)
	}
	f.Close()
	if _, ok, _ := s.GetStep(ctx, key); ok {
		t.Fatal("step with a corrupt layer hit")
	}
	if s.HasBlob(info.Digest) {
		t.Error("corrupt blob not evicted")
	}
	if !bytes.Contains(warn.Bytes(), []byte("is corrupt")) {
		t.Errorf("warning %q does not say the blob is corrupt", warn.String())
	}
}

func TestIndexRecoveredFromBackup(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	d, err := s.WriteBlob(ctx, bytes.NewReader([]byte("{}")), v1.Descriptor{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "app:1", d); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Root(), "index.json"), []byte(`{"schemaVersion":2,"manifests":[{`), 0o644); err != nil {
		t.Fatal(err)
	}
	var warn bytes.Buffer
	s2, err := Open(ctx, s.Root(), WithWarnings(&warn))
	if err != nil {
		t.Fatalf("Open with garbled index.json: %v", err)
	}
	defer s2.Close()
	if _, err := s2.Resolve(ctx, "app:1"); err != nil {
		t.Fatalf("tag lost: %v", err)
	}
	if _, err := loadIndexFile(filepath.Join(s.Root(), "index.json")); err != nil {
		t.Errorf("index.json not restored: %v", err)
	}
	if !bytes.Contains(warn.Bytes(), []byte("index.json.bak")) {
		t.Errorf("no warning naming the backup: %q", warn.String())
	}
	// Both damaged: a clear error.
	for _, f := range []string{"index.json", "index.json.bak"} {
		os.WriteFile(filepath.Join(s.Root(), f), []byte("garbage"), 0o644)
	}
	if _, err := Open(ctx, s.Root(), WithWarnings(io.Discard)); err == nil {
		t.Fatal("Open with both index files garbled succeeded")
	} else if !bytes.Contains([]byte(err.Error()), []byte("corrupt")) {
		t.Errorf("error %q does not say corrupt", err)
	}
}
