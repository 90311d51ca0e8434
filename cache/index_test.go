package cache

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestIndexPrune: a tagged index keeps every platform's image through a
// prune; an index naming a manifest the store lacks is refused.
func TestIndexPrune(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := mutate.AppendLayers(empty.Image, static.NewLayer([]byte("layer of "+arch), types.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
		desc, err := s.WriteImage(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		desc.Platform = &v1.Platform{OS: "linux", Architecture: arch}
		im.Manifests = append(im.Manifests, desc)
	}
	raw, err := json.Marshal(im)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := s.WriteIndex(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "app:multi", desc); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	idx, err := s.Index(ctx, desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err == nil {
			err = readAll(img)
		}
		if err != nil {
			t.Fatalf("%s image lost a blob in prune: %v", m.Platform.Architecture, err)
		}
	}
	got, err := s.IndexManifest(ctx, desc.Digest)
	if err != nil || len(got.Manifests) != 2 {
		t.Fatalf("IndexManifest: %v %v", got, err)
	}

	bad := im
	bad.Manifests = append([]v1.Descriptor{}, im.Manifests...)
	bad.Manifests[1].Digest = sha([]byte("missing"))
	raw, _ = json.Marshal(bad)
	if _, err := s.WriteIndex(ctx, raw); !errors.Is(err, ErrNotFound) {
		t.Fatalf("index with a missing manifest: %v, want ErrNotFound", err)
	}
}
