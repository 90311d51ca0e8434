package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/ibuild/ibuild/layer"
)

func TestWriteImageRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		layers int64
		mt     types.MediaType
	}{
		{"oci three layers", 3, types.OCIManifestSchema1},
		{"docker one layer", 1, types.DockerManifestSchema2},
		{"no layers", 0, types.OCIManifestSchema1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			img, err := random.Image(4096, tt.layers)
			if err != nil {
				t.Fatal(err)
			}
			img = mutate.MediaType(img, tt.mt)
			desc, err := s.WriteImage(ctx, img)
			if err != nil {
				t.Fatalf("WriteImage: %v", err)
			}
			wantDigest, _ := img.Digest()
			if desc.Digest != wantDigest || desc.MediaType != tt.mt {
				t.Fatalf("WriteImage = %s %s, want %s %s", desc.Digest, desc.MediaType, wantDigest, tt.mt)
			}
			got, err := s.Image(ctx, desc.Digest)
			if err != nil {
				t.Fatalf("Image: %v", err)
			}
			if err := validate.Image(got); err != nil {
				t.Fatalf("validate.Image: %v", err)
			}
			if d, _ := got.Digest(); d != wantDigest {
				t.Errorf("stored image digest = %s, want %s", d, wantDigest)
			}
			// blobs: layers + config + manifest
			if n := dirNames(t, s, "blobs", "sha256"); len(n) != int(tt.layers)+2 {
				t.Errorf("blobs = %d, want %d", len(n), tt.layers+2)
			}
		})
	}
}

func TestWriteImageRejectsBadLayer(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	bad := &lyingImage{Image: img}
	if _, err := s.WriteImage(ctx, bad); err == nil {
		t.Fatal("WriteImage accepted a layer whose content does not match its digest")
	}
	m, _ := img.Manifest()
	for _, d := range []v1.Hash{m.Layers[0].Digest, m.Config.Digest} {
		if s.HasBlob(d) {
			t.Errorf("blob %s stored despite failure", d)
		}
	}
	if d, _ := img.Digest(); s.HasBlob(d) {
		t.Error("manifest stored despite failed layer")
	}
	if n := dirNames(t, s, "ingest"); len(n) != 0 {
		t.Errorf("ingest = %v, want empty", n)
	}
}

// lyingImage serves the first layer's bytes with one byte flipped.
type lyingImage struct{ v1.Image }

func (l *lyingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	ly, err := l.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	m, _ := l.Image.Manifest()
	if h != m.Layers[0].Digest {
		return ly, nil
	}
	return &flippedLayer{ly}, nil
}

type flippedLayer struct{ v1.Layer }

func (f *flippedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := f.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	b[len(b)/2] ^= 0xff
	return io.NopCloser(bytes.NewReader(b)), nil
}

// countingLayer counts Compressed calls.
type countingLayer struct {
	v1.Layer
	calls *int
}

func (c countingLayer) Compressed() (io.ReadCloser, error) {
	*c.calls++
	return c.Layer.Compressed()
}

func TestWriteImageOnStoreLayersCopiesNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	base, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := s.WriteImage(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Image(ctx, desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := stored.Layers()
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	img := empty.Image
	for _, l := range ls {
		img, err = mutate.AppendLayers(img, countingLayer{l, &calls})
		if err != nil {
			t.Fatal(err)
		}
	}
	img, err = mutate.Config(img, v1.Config{Cmd: []string{"/bin/true"}})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := s.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Errorf("WriteImage read %d store layers, want 0", calls)
	}
	got, err := s.Image(ctx, d2.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
}

func TestWriteImageTarball(t *testing.T) {
	ctx := context.Background()
	src, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "img.tar")
	if err := tarball.WriteToFile(p, nil, src); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	desc, err := s.WriteImage(ctx, img)
	if err != nil {
		t.Fatalf("WriteImage: %v", err)
	}
	got, err := s.Image(ctx, desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
}

func TestImageMissing(t *testing.T) {
	s := newStore(t)
	_, err := s.Image(context.Background(), sha([]byte("nope")))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Image of missing manifest = %v, want ErrNotFound", err)
	}
}

func TestLayer(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img, err := random.Image(4096, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	want := ls[0]
	info := layer.Info{MediaType: types.DockerLayer}
	info.Digest, _ = want.Digest()
	info.DiffID, _ = want.DiffID()
	info.Size, _ = want.Size()
	l, err := s.Layer(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Layer(l); err != nil {
		t.Fatalf("validate.Layer: %v", err)
	}
	p, _ := s.blobPath(info.Digest)
	os.Remove(p)
	if _, err := s.Layer(info); !errors.Is(err, ErrNotFound) {
		t.Errorf("Layer of missing blob = %v, want ErrNotFound", err)
	}
}
