package registry

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// ociImage is a random OCI-typed linux/amd64 image (umoci wants OCI media
// types).
func ociImage(t *testing.T, layers int) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for range layers {
		l, err := random.Layer(2048, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func needTool(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s not installed: %v", tool, err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func skopeoDigest(t *testing.T, transportRef string) string {
	t.Helper()
	out := run(t, needTool(t, "skopeo"), "inspect", transportRef)
	var got struct{ Digest string }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("skopeo output: %v\n%s", err, out)
	}
	return got.Digest
}

// skopeoConfigDigest returns the config digest of the manifest skopeo reads.
func skopeoConfigDigest(t *testing.T, transportRef string) string {
	t.Helper()
	out := run(t, needTool(t, "skopeo"), "inspect", "--raw", transportRef)
	var m v1.Manifest
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("skopeo manifest: %v\n%s", err, out)
	}
	return m.Config.Digest.String()
}

func TestWriteOCILayout(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	img1, img2 := ociImage(t, 2), ociImage(t, 1)
	d1, _ := img1.Digest()
	d2, _ := img2.Digest()
	if err := WriteOCILayout(ctx, dir, img1, []string{"app:1.0", "registry.example/team/app:latest"}); err != nil {
		t.Fatal(err)
	}
	// Appending another image with a new tag keeps the first; reusing
	// "latest" moves that name to the new image.
	if err := WriteOCILayout(ctx, dir, img2, []string{"app:latest", "app:2.0"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tag  string
		want v1.Hash
	}{
		{"1.0", d1}, {"app:1.0", d1}, {"docker.io/library/app:1.0", d1},
		{"latest", d2}, {"2.0", d2}, {"app:2.0", d2},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			got, err := ReadOCILayout(ctx, dir, tc.tag)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(got); err != nil {
				t.Fatal(err)
			}
			if d, _ := got.Digest(); d != tc.want {
				t.Errorf("digest %s, want %s", d, tc.want)
			}
		})
	}
	if _, err := ReadOCILayout(ctx, dir, "3.0"); err == nil || !strings.Contains(err.Error(), "1.0") {
		t.Errorf("missing tag: err = %v, want one listing the tags", err)
	}
	if _, err := ReadOCILayout(ctx, dir, ""); err == nil {
		t.Errorf("ReadOCILayout without a tag of a 3-entry layout succeeded")
	}
	if d := skopeoDigest(t, "oci:"+dir+":1.0"); d != d1.String() {
		t.Errorf("skopeo oci:DIR:1.0 digest %s, want %s", d, d1)
	}
	if d := skopeoDigest(t, "oci:"+dir+":latest"); d != d2.String() {
		t.Errorf("skopeo oci:DIR:latest digest %s, want %s", d, d2)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	run(t, needTool(t, "umoci"), "unpack", "--rootless", "--image", dir+":1.0", bundle)
	if _, err := os.Stat(filepath.Join(bundle, "config.json")); err != nil {
		t.Errorf("umoci unpack made no runtime config: %v", err)
	}
	assertNoTempFiles(t, dir)
}

func TestWriteOCILayoutUntagged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img := ociImage(t, 1)
	for range 2 {
		if err := WriteOCILayout(ctx, dir, img, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadOCILayout(ctx, dir, "")
	if err != nil {
		t.Fatal(err) // also fails if the second write added a duplicate
	}
	assertSameDigest(t, got, img)
	if err := WriteOCILayout(ctx, dir, img, []string{"app@sha256:" + strings.Repeat("0", 64)}); err == nil {
		t.Error("a digest reference was accepted as a layout tag")
	}
}

func TestWriteOCILayoutCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteOCILayout(ctx, dir, ociImage(t, 1), []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cancelled write left index.json (stat: %v)", err)
	}
}

func TestWriteDockerArchive(t *testing.T) {
	ctx := context.Background()
	dest := filepath.Join(t.TempDir(), "app.tar")
	img := randomImage(t, 2)
	want, _ := img.Digest()
	wantCfg, _ := img.ConfigName()
	tags := []string{"app:1.0", "docker.io/me/tool", "127.0.0.1:5000/x/y:dev"}
	if err := WriteDockerArchive(ctx, dest, img, tags); err != nil {
		t.Fatal(err)
	}
	// skopeo builds its own manifest for an archive, so compare configs.
	if d := skopeoConfigDigest(t, "docker-archive:"+dest); d != wantCfg.String() {
		t.Errorf("skopeo docker-archive config %s, want %s", d, wantCfg)
	}
	// docker save spells RepoTags short; skopeo (whose inspect output lists no
	// RepoTags for archives) selects an archive's image by them.
	wantTags := []string{"127.0.0.1:5000/x/y:dev", "app:1.0", "me/tool:latest"}
	if got := archiveRepoTags(t, dest); !slices.Equal(got, wantTags) {
		t.Errorf("RepoTags = %v, want %v", got, wantTags)
	}
	for _, tag := range wantTags {
		if d := skopeoConfigDigest(t, "docker-archive:"+dest+":"+tag); d != wantCfg.String() {
			t.Errorf("skopeo docker-archive:FILE:%s config %s, want %s", tag, d, wantCfg)
		}
	}
	if out, err := exec.Command("skopeo", "inspect", "docker-archive:"+dest+":other:1").CombinedOutput(); err == nil {
		t.Errorf("skopeo found a tag that was not written:\n%s", out)
	}
	for _, tag := range []string{"", "app:1.0", "docker.io/library/app:1.0", "me/tool"} {
		got, err := ReadDockerArchive(ctx, dest, tag)
		if err != nil {
			t.Fatalf("ReadDockerArchive(%q): %v", tag, err)
		}
		if err := validate.Image(got); err != nil {
			t.Fatal(err)
		}
		if d, _ := got.Digest(); d != want {
			t.Errorf("ReadDockerArchive(%q) digest %s, want %s", tag, d, want)
		}
	}
	if _, err := ReadDockerArchive(ctx, dest, "other:1"); err == nil || !strings.Contains(err.Error(), dest) {
		t.Errorf("unknown tag: err = %v, want one naming the file", err)
	}
	assertNoTempFiles(t, filepath.Dir(dest))
}

// archiveRepoTags returns the sorted RepoTags of a one-image docker archive.
func archiveRepoTags(t *testing.T, archive string) []string {
	t.Helper()
	out := run(t, "tar", "-xOf", archive, "manifest.json")
	var m []struct{ RepoTags []string }
	if err := json.Unmarshal(out, &m); err != nil || len(m) != 1 {
		t.Fatalf("manifest.json: %v\n%s", err, out)
	}
	got := slices.Clone(m[0].RepoTags)
	slices.Sort(got)
	return got
}

func TestWriteDockerArchiveFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "app.tar")
	if err := os.WriteFile(dest, []byte("previous"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteDockerArchive(ctx, dest, randomImage(t, 1), []string{"app"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "previous" {
		t.Errorf("failed write changed dest to %q", b)
	}
	assertNoTempFiles(t, dir)
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}
