package cache

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/layer"
)

func TestSteps(t *testing.T) {
	ctx := context.Background()
	content := []byte("layer bytes")
	tests := []struct {
		name    string
		layer   bool
		damage  func(t *testing.T, s *Store, key v1.Hash, l *layer.Info)
		wantHit bool
	}{
		{name: "metadata only", wantHit: true},
		{name: "with layer", layer: true, wantHit: true},
		{name: "layer missing", layer: true, wantHit: false, damage: func(t *testing.T, s *Store, _ v1.Hash, l *layer.Info) {
			p, _ := s.blobPath(l.Digest)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "layer truncated", layer: true, wantHit: false, damage: func(t *testing.T, s *Store, _ v1.Hash, l *layer.Info) {
			p, _ := s.blobPath(l.Digest)
			if err := os.Truncate(p, 3); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "record garbled", wantHit: false, damage: func(t *testing.T, s *Store, key v1.Hash, _ *layer.Info) {
			if err := os.WriteFile(filepath.Join(s.Root(), "steps", key.Hex+".json"), []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			key := sha([]byte(tt.name))
			rec := StepRecord{
				Config:  v1.Config{Env: []string{"A=1"}, WorkingDir: "/src"},
				History: v1.History{CreatedBy: "RUN make"},
				Created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
			}
			if tt.layer {
				d, err := s.WriteBlob(ctx, bytes.NewReader(content), v1.Descriptor{})
				if err != nil {
					t.Fatal(err)
				}
				rec.Layer = &layer.Info{Digest: d.Digest, DiffID: d.Digest, Size: d.Size, MediaType: layer.None.MediaType()}
			}
			if _, hit, err := s.GetStep(ctx, key); hit || err != nil {
				t.Fatalf("GetStep before PutStep = %v, %v; want miss", hit, err)
			}
			if err := s.PutStep(ctx, key, rec); err != nil {
				t.Fatal(err)
			}
			if tt.damage != nil {
				tt.damage(t, s, key, rec.Layer)
			}
			got, hit, err := s.GetStep(ctx, key)
			if err != nil || hit != tt.wantHit {
				t.Fatalf("GetStep = hit %v, err %v; want hit %v", hit, err, tt.wantHit)
			}
			if !hit {
				if _, err := os.Stat(filepath.Join(s.Root(), "steps", key.Hex+".json")); !os.IsNotExist(err) {
					t.Errorf("stale record not removed: %v", err)
				}
				return
			}
			if got.Config.WorkingDir != "/src" || got.History.CreatedBy != "RUN make" || !got.Created.Equal(rec.Created) ||
				(got.Layer == nil) != (rec.Layer == nil) || (got.Layer != nil && *got.Layer != *rec.Layer) {
				t.Errorf("GetStep = %+v, want %+v", got, rec)
			}
		})
	}
}

func TestStepBadKey(t *testing.T) {
	s := newStore(t)
	bad := v1.Hash{Algorithm: "sha256", Hex: "../../../etc/passwd"}
	if err := s.PutStep(context.Background(), bad, StepRecord{}); err == nil {
		t.Error("PutStep accepted a key that is not a digest")
	}
}

func TestOpenSweepsStaleIngest(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * staleAge)
	mk := func(p string, isDir bool) {
		if isDir {
			err = os.Mkdir(p, 0o755)
		} else {
			err = os.WriteFile(p, []byte("partial"), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	stale := filepath.Join(root, "ingest", "blob-stale")
	mk(stale, false)
	staleSnap := filepath.Join(root, "snapshots", ".tmp-crashed")
	mk(staleSnap, true)
	fresh := filepath.Join(root, "ingest", "blob-fresh")
	if err := os.WriteFile(fresh, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A live writer's ingest file is locked and must survive even when old.
	in, err := s.newIngest()
	if err != nil {
		t.Fatal(err)
	}
	defer in.abort()
	if err := os.Chtimes(in.f.Name(), old, old); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(root, "snapshots", "abc")
	mk(kept, true)

	if _, err := Open(ctx, root); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{stale: false, staleSnap: false, fresh: true, in.f.Name(): true, kept: true} {
		_, err := os.Stat(p)
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", p, got, want)
		}
	}
}
