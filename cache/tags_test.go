package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// storeRandomImage writes a random image into s.
func storeRandomImage(t *testing.T, s *Store) v1.Descriptor {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.CreatedAt(img, v1.Time{Time: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.WriteImage(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// readIndexFile parses ROOT/index.json strictly.
func readIndexFile(t *testing.T, root string) *v1.IndexManifest {
	t.Helper()
	idx, err := parseIndexFile(root)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func parseIndexFile(root string) (*v1.IndexManifest, error) {
	b, err := os.ReadFile(filepath.Join(root, "index.json"))
	if err != nil {
		return nil, err
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("index.json is not valid JSON: %w\n%s", err, b)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != types.OCIImageIndex {
		return nil, fmt.Errorf("index.json schemaVersion=%d mediaType=%q", idx.SchemaVersion, idx.MediaType)
	}
	return &idx, nil
}

func TestTags(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	a, b := storeRandomImage(t, s), storeRandomImage(t, s)
	steps := []struct {
		op, name string
		desc     v1.Descriptor
		wantErr  error
	}{
		{op: "tag", name: "docker.io/library/app:latest", desc: a},
		{op: "tag", name: "localhost:5000/x/y:v1", desc: b},
		{op: "tag", name: "docker.io/library/app:latest", desc: b}, // re-tag replaces
		{op: "untag", name: "nope:latest", wantErr: ErrNotFound},
		{op: "tag", name: "gone:1", desc: a},
		{op: "untag", name: "gone:1"},
		{op: "tag", name: "missing:1", desc: v1.Descriptor{Digest: sha([]byte("x"))}, wantErr: ErrNotFound},
	}
	for _, st := range steps {
		var err error
		if st.op == "tag" {
			err = s.Tag(ctx, st.name, st.desc)
		} else {
			err = s.Untag(ctx, st.name)
		}
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s %s: err = %v, want %v", st.op, st.name, err, st.wantErr)
		}
	}
	s.Close()

	// Tags survive reopening.
	s, err = Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		want    v1.Hash
		wantErr error
	}{
		{"docker.io/library/app:latest", b.Digest, nil},
		{"localhost:5000/x/y:v1", b.Digest, nil},
		{"gone:1", v1.Hash{}, ErrNotFound},
		{"missing:1", v1.Hash{}, ErrNotFound},
	}
	for _, tt := range tests {
		got, err := s.Resolve(ctx, tt.name)
		if !errors.Is(err, tt.wantErr) || got.Digest != tt.want {
			t.Errorf("Resolve(%s) = %s, %v; want %s, %v", tt.name, got.Digest, err, tt.want, tt.wantErr)
		}
	}
	tags, err := s.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, te := range tags {
		names = append(names, te.Name)
		if te.Created.IsZero() {
			t.Errorf("tag %s: Created is zero", te.Name)
		}
	}
	if fmt.Sprint(names) != "[docker.io/library/app:latest localhost:5000/x/y:v1]" {
		t.Errorf("Tags = %v", names)
	}
	if idx := readIndexFile(t, root); len(idx.Manifests) != 2 {
		t.Errorf("index.json has %d manifests, want 2", len(idx.Manifests))
	}
}

func TestConcurrentTag(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	d := storeRandomImage(t, s)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n*5)
	for i := range n {
		// Each goroutine opens its own Store so that the flock, not just
		// the in-process mutex, is exercised.
		wg.Go(func() {
			si, err := Open(ctx, root)
			if err != nil {
				errs <- err
				return
			}
			for j := range 5 {
				if err := si.Tag(ctx, fmt.Sprintf("app:g%d-%d", i, j), d); err != nil {
					errs <- err
				}
				if _, err := parseIndexFile(root); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	idx := readIndexFile(t, root)
	if len(idx.Manifests) != n*5 {
		t.Fatalf("index.json has %d tags, want %d", len(idx.Manifests), n*5)
	}
	for i := range n {
		for j := range 5 {
			if _, err := s.Resolve(ctx, fmt.Sprintf("app:g%d-%d", i, j)); err != nil {
				t.Error(err)
			}
		}
	}
	for _, name := range dirNames(t, s) {
		if strings.HasPrefix(name, ".tmp-") {
			t.Errorf("root holds %v; want only the layout (no temp files)", dirNames(t, s))
			break
		}
	}
}
