package registry

import (
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// testIndex is an index of a host-platform image and an unknown/unknown
// image, as an image with an attestation manifest.
func testIndex(t *testing.T) (v1.ImageIndex, v1.Image, v1.Image) {
	t.Helper()
	host := HostPlatform()
	unknown := v1.Platform{OS: "unknown", Architecture: "unknown"}
	img, side := withPlatform(t, randomImage(t, 2), host), withPlatform(t, randomImage(t, 1), unknown)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &host}},
		mutate.IndexAddendum{Add: side, Descriptor: v1.Descriptor{Platform: &unknown,
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}})
	return idx, img, side
}

func TestPushIndex(t *testing.T) {
	ctx := context.Background()
	host, _ := memRegistry(t)
	idx, img, side := testIndex(t)
	ref := host + "/multi/app:1"
	var events []BlobEvent
	if err := PushIndex(ctx, idx, ref, anon, WithBlobProgress(func(e BlobEvent) { events = append(events, e) })); err != nil {
		t.Fatal(err)
	}
	r, _ := ParseReference(ref)
	got, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(got); err != nil {
		t.Fatalf("pushed index invalid: %v", err)
	}
	want, _ := idx.Digest()
	if d, _ := got.Digest(); d != want {
		t.Errorf("pushed index digest %s, want %s", d, want)
	}
	// The tag's host-platform image is the platform image, not the
	// attestation.
	pullValid(ctx, t, ref, img, anon)
	sd, _ := side.Digest()
	if _, err := remote.Image(r.Context().Digest(sd.String())); err != nil {
		t.Errorf("side manifest %s not pushed by digest: %v", sd, err)
	}
	pushed := 0
	for _, e := range events {
		if e.State == BlobPushed {
			pushed++
		}
	}
	if pushed != 2+1+1+1 { // 2 layers + config, 1 layer + config
		t.Errorf("%d blobs pushed, want 5: %+v", pushed, events)
	}
}

func TestWriteOCILayoutIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	idx, img, _ := testIndex(t)
	if err := WriteOCILayoutIndex(ctx, dir, idx, []string{"app:1"}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadOCILayout(ctx, dir, "1")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := img.Digest()
	if d, _ := got.Digest(); d != wd {
		t.Errorf("layout tag 1 resolves to %s, want the platform image %s", d, wd)
	}
	raw, err := readLayoutIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := idx.Digest()
	if len(raw.Manifests) != 1 || raw.Manifests[0].Digest != id || raw.Manifests[0].MediaType != types.OCIImageIndex ||
		raw.Manifests[0].Annotations[AnnotationRefName] != "1" {
		t.Errorf("index.json = %+v, want one entry for index %s named 1", raw.Manifests, id)
	}
}

func withPlatform(t *testing.T, img v1.Image, p v1.Platform) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
