package cache

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBuildFiles: explanations round-trip; explanations, context memos and
// cache mounts are counted by DiskUsage, and Prune collects them (the old
// ones only, with Until), with the temporary files beside them.
func TestBuildFiles(t *testing.T) {
	ctx := context.Background()
	old := time.Now().Add(-48 * time.Hour)
	tests := []struct {
		name     string
		opts     PruneOptions
		wantLeft int // of each kind, the recent one is left with Until
	}{
		{name: "everything", opts: PruneOptions{}, wantLeft: 0},
		{name: "until", opts: PruneOptions{Until: time.Hour}, wantLeft: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if _, ok, err := s.Explanation("step a"); ok || err != nil {
				t.Fatalf("explanation before any: %v %v", ok, err)
			}
			var made []string
			for _, name := range []string{"old", "recent"} {
				if err := s.PutExplanation("step "+name, []byte(`{"key":"`+name+`"}`)); err != nil {
					t.Fatal(err)
				}
				memo := s.ContextMemo("/ctx/" + name)
				mount := s.CacheMountDir("/cache/" + name)
				for _, d := range []string{filepath.Dir(memo), mount} {
					if err := os.MkdirAll(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(memo, make([]byte, 100), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(mount, "f"), make([]byte, 10), 0o644); err != nil {
					t.Fatal(err)
				}
				expl := filepath.Join(s.Root(), explainDir, nameOf("step "+name)+".json")
				made = append(made, expl, memo, mount, filepath.Join(mount, "f"))
			}
			if got, ok, err := s.Explanation("step old"); !ok || err != nil || string(got) != `{"key":"old"}` {
				t.Fatalf("explanation = %q %v %v", got, ok, err)
			}
			for _, p := range made[:4] {
				if err := os.Chtimes(p, old, old); err != nil {
					t.Fatal(err)
				}
			}
			// Leftovers of interrupted writes.
			for _, p := range []string{filepath.Join(s.Root(), explainDir, ".tmp-x.json-1"), filepath.Join(s.Root(), contextMemosDir, ".memo-1")} {
				if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			u, err := s.DiskUsage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if u.Explanations.Count != 2 || u.ContextMemos.Count != 2 || u.ContextMemos.Size != 200 || u.CacheMounts.Count != 2 {
				t.Errorf("usage %+v: want 2 explanations, 2 memos of 200 bytes, 2 cache mounts", u)
			}
			if tot := u.Total(); tot.Size < 220 {
				t.Errorf("total %+v leaves out build files", tot)
			}
			rep, err := s.Prune(ctx, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if want := 2 - tt.wantLeft; rep.Removed.Explanations.Count != want || rep.Removed.ContextMemos.Count != want || rep.Removed.CacheMounts.Count != want {
				t.Errorf("removed %+v, want %d of each", rep.Removed, want)
			}
			after, err := s.DiskUsage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after.Explanations.Count != tt.wantLeft || after.ContextMemos.Count != tt.wantLeft || after.CacheMounts.Count != tt.wantLeft {
				t.Errorf("left %+v, want %d of each", after, tt.wantLeft)
			}
			for _, dir := range []string{explainDir, contextMemosDir} {
				ents, _ := os.ReadDir(filepath.Join(s.Root(), dir))
				for _, e := range ents {
					if e.Name()[0] == '.' {
						t.Errorf("temporary file %s/%s left", dir, e.Name())
					}
				}
			}
			_, ok, err := s.Explanation("step recent")
			if ok != (tt.wantLeft == 1) || err != nil {
				t.Errorf("recent explanation kept = %v (%v)", ok, err)
			}
		})
	}
}
