package cache_test

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// ExampleStore writes a layer into a fresh store, makes a one-layer image
// of it, stores and tags the image, and reads it back by its tag. Every
// blob is verified on its way in; the store is an OCI image layout.
func ExampleStore() {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "example-store-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(root)
	store, err := cache.Open(ctx, root)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	epoch := time.Unix(0, 0).UTC()
	tarStream := layer.Pipe(func(w io.Writer) error {
		tw := layer.NewTarWriter(w, layer.TarOptions{SourceDateEpoch: &epoch})
		tw.WriteHeader(&tar.Header{Name: "etc/motd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 6})
		tw.Write([]byte("hello\n"))
		return tw.Close()
	})
	info, err := store.WriteLayer(ctx, tarStream, layer.Gzip, 0)
	tarStream.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("diffID:", info.DiffID)
	fmt.Println("media type:", info.MediaType)

	l, err := store.Layer(info)
	if err != nil {
		fmt.Println(err)
		return
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		fmt.Println(err)
		return
	}
	desc, err := store.WriteImage(ctx, img)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := store.Tag(ctx, "example.com/motd:1", desc); err != nil {
		fmt.Println(err)
		return
	}
	got, err := store.Resolve(ctx, "example.com/motd:1")
	if err != nil {
		fmt.Println(err)
		return
	}
	back, err := store.Image(ctx, got.Digest)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("same manifest:", got.Digest == desc.Digest, "valid:", validate.Image(back) == nil)
	// Output:
	// diffID: sha256:fdc071ed99122311bde13e93b61de501d16f0a71b24b6eff3ff5db994666700c
	// media type: application/vnd.oci.image.layer.v1.tar+gzip
	// same manifest: true valid: true
}
