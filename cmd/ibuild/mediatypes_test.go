package main

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ibuild/ibuild/internal/testbase"
	"github.com/ibuild/ibuild/registry"
	"github.com/ibuild/ibuild/registry/registrytest"
)

// pushDockerTypedBase pushes busybox to ref as `docker push` would write it:
// a schema 2 manifest, a Docker config type and a Docker gzip layer. It
// returns the layer's digest.
func pushDockerTypedBase(t *testing.T, ref string) v1.Hash {
	t.Helper()
	l, err := tarball.LayerFromFile(testbase.Busybox(t), tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.DockerManifestSchema2), types.DockerConfigJSON)
	if err := registry.Push(context.Background(), img, ref); err != nil {
		t.Fatal(err)
	}
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mediaTypes lists an image's manifest, config and layer media types.
func mediaTypes(t *testing.T, img v1.Image) []types.MediaType {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	out := []types.MediaType{m.MediaType, m.Config.MediaType}
	for _, l := range m.Layers {
		out = append(out, l.MediaType)
	}
	return out
}

// TestOCIMediaTypesOnDockerBase is issue #10 defect 1: an image built on a
// base with Docker media types is written with OCI types throughout
// (umoci unpack refused the mixed manifest), its base layer's bytes kept; a
// push is OCI by default and Docker schema 2 with oci-mediatypes=false.
func TestOCIMediaTypesOnDockerBase(t *testing.T) {
	host := registrytest.Start(t)
	base := host + "/base/dockertyped:1"
	baseLayer := pushDockerTypedBase(t, base)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo hi > /hi\n"})
	oci := filepath.Join(t.TempDir(), "oci")
	root := t.TempDir()
	ociRef, dockerRef := host+"/app/oci:1", host+"/app/docker:1"
	mustRun(t, "--root", root, "--progress", "plain", "-t", ociRef, "--push", "-o", "type=oci,dest="+oci, dir)

	img := checkOCI(t, oci, "1") // umoci unpack refuses a mixed manifest
	want := []types.MediaType{types.OCIManifestSchema1, types.OCIConfigJSON, types.OCILayer, types.OCILayer}
	if got := mediaTypes(t, img); strings.Join(toStrings(got), " ") != strings.Join(toStrings(want), " ") {
		t.Errorf("type=oci media types %v, want %v", got, want)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Layers[0].Digest != baseLayer {
		t.Errorf("base layer %s in the output, want the base's own blob %s (bytes unchanged)", m.Layers[0].Digest, baseLayer)
	}

	pushed, err := registry.Image(context.Background(), ociRef)
	if err != nil {
		t.Fatal(err)
	}
	if got := mediaTypes(t, pushed); strings.Join(toStrings(got), " ") != strings.Join(toStrings(want), " ") {
		t.Errorf("--push media types %v, want %v", got, want)
	}

	mustRun(t, "--root", root, "--progress", "plain", "-t", dockerRef, "-o", "type=registry,oci-mediatypes=false", dir)
	pushed, err = registry.Image(context.Background(), dockerRef)
	if err != nil {
		t.Fatal(err)
	}
	wantDocker := []types.MediaType{types.DockerManifestSchema2, types.DockerConfigJSON, types.DockerLayer, types.DockerLayer}
	if got := mediaTypes(t, pushed); strings.Join(toStrings(got), " ") != strings.Join(toStrings(wantDocker), " ") {
		t.Errorf("oci-mediatypes=false media types %v, want %v", got, wantDocker)
	}
	pm, err := pushed.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for i := range pm.Layers {
		if pm.Layers[i].Digest != m.Layers[i].Digest {
			t.Errorf("layer %d: %s pushed with Docker types, %s with OCI types: blobs must not change", i, pm.Layers[i].Digest, m.Layers[i].Digest)
		}
	}

	// The store's copy is OCI throughout as well: `ibuild push` sends it as
	// stored.
	storedRef := host + "/app/stored:1"
	mustRun(t, "--root", root, "push", ociRef, storedRef)
	if pushed, err = registry.Image(context.Background(), storedRef); err != nil {
		t.Fatal(err)
	}
	if got := mediaTypes(t, pushed); strings.Join(toStrings(got), " ") != strings.Join(toStrings(want), " ") {
		t.Errorf("stored image media types %v, want %v", got, want)
	}
}

func toStrings(mts []types.MediaType) []string {
	out := make([]string, len(mts))
	for i, m := range mts {
		out[i] = string(m)
	}
	return out
}
