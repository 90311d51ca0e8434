package cache

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/ibuild/ibuild/layer"
)

// tarOf builds an uncompressed tar stream from headers; regular files get
// their Name repeated as content unless body is given.
func tarOf(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.ModTime = time.Unix(1700000000, 0)
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type tarEntry struct {
	hdr  tar.Header
	body string
}

func file(name, body string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg}, body: body}
}

func dir(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

// storeOCIImage writes a one-layer OCI image built from a tar stream via
// WriteLayer and Layer, as the build package does.
func storeOCIImage(t *testing.T, s *Store, tarball []byte) v1.Descriptor {
	t.Helper()
	ctx := context.Background()
	info, err := s.WriteLayer(ctx, bytes.NewReader(tarball), layer.Gzip, 0)
	if err != nil {
		t.Fatalf("WriteLayer: %v", err)
	}
	l, err := s.Layer(info)
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"},
		Created: v1.Time{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		Config:  v1.Config{Cmd: []string{"/hello"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.AppendLayers(img, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	d, err := s.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Tags are full normalised references such as docker.io/library/app:latest.
// skopeo (oci:PATH:REF) and umoci (--image PATH:REF) split the argument at the
// first ':' after the path, so such names work as they are; both only read
// manifests with OCI media types (Docker schema 2 manifests stored verbatim
// from a registry are invisible to them).
var layoutNames = []string{"docker.io/library/app:latest", "localhost:5000/team/app:v1", "simple"}

func TestLayoutSkopeo(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo not installed; skipping OCI layout interoperability test")
	}
	ctx := context.Background()
	s := newStore(t)
	d := storeOCIImage(t, s, tarOf(t, file("hello", "hi\n")))
	for _, name := range layoutNames {
		if err := s.Tag(ctx, name, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range layoutNames {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(skopeo, "inspect", "oci:"+s.Root()+":"+name).CombinedOutput()
			if err != nil {
				t.Fatalf("skopeo inspect: %v\n%s", err, out)
			}
			var got struct {
				Digest string
				Layers []string
				Os     string
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("parsing skopeo output: %v\n%s", err, out)
			}
			if got.Digest != d.Digest.String() || len(got.Layers) != 1 || got.Os != "linux" {
				t.Errorf("skopeo inspect = %+v, want digest %s with one linux layer", got, d.Digest)
			}
		})
	}
}

func TestLayoutUmoci(t *testing.T) {
	umoci, err := exec.LookPath("umoci")
	if err != nil {
		t.Skip("umoci not installed; skipping OCI layout interoperability test")
	}
	if os.Geteuid() != 0 {
		t.Skip("umoci unpack without --rootless needs root")
	}
	ctx := context.Background()
	s := newStore(t)
	d := storeOCIImage(t, s, tarOf(t, dir("etc/"), file("etc/greeting", "hello from the store\n")))
	for _, name := range layoutNames {
		if err := s.Tag(ctx, name, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range layoutNames {
		t.Run(name, func(t *testing.T) {
			bundle := filepath.Join(t.TempDir(), "bundle")
			out, err := exec.Command(umoci, "unpack", "--image", s.Root()+":"+name, bundle).CombinedOutput()
			if err != nil {
				t.Fatalf("umoci unpack: %v\n%s", err, out)
			}
			b, err := os.ReadFile(filepath.Join(bundle, "rootfs", "etc", "greeting"))
			if err != nil || string(b) != "hello from the store\n" {
				t.Errorf("rootfs/etc/greeting = %q, %v", b, err)
			}
		})
	}
}

func TestLayoutFiles(t *testing.T) {
	s := newStore(t)
	b, err := os.ReadFile(filepath.Join(s.Root(), "oci-layout"))
	if err != nil || string(b) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q, %v", b, err)
	}
	if idx := readIndexFile(t, s.Root()); len(idx.Manifests) != 0 {
		t.Errorf("fresh index.json has %d manifests", len(idx.Manifests))
	}
}

func TestWriteLayer(t *testing.T) {
	ctx := context.Background()
	tarball := tarOf(t, file("a", "alpha"), file("b", "beta"))
	for _, c := range []layer.Compression{layer.Gzip, layer.Zstd, layer.None} {
		t.Run(string(c), func(t *testing.T) {
			s := newStore(t)
			info, err := s.WriteLayer(ctx, bytes.NewReader(tarball), c, 0)
			if err != nil {
				t.Fatal(err)
			}
			if info.DiffID != sha(tarball) || info.UncompressedSize != int64(len(tarball)) || info.MediaType != c.MediaType() {
				t.Errorf("WriteLayer = %+v", info)
			}
			again, err := s.WriteLayer(ctx, bytes.NewReader(tarball), c, 0)
			if err != nil || again != info {
				t.Errorf("second WriteLayer = %+v, %v; want %+v", again, err, info)
			}
			l, err := s.Layer(info)
			if err != nil {
				t.Fatal(err)
			}
			if c == layer.Gzip { // validate.Layer only understands gzip
				if err := validate.Layer(l); err != nil {
					t.Errorf("validate.Layer: %v", err)
				}
			}
			for _, st := range []struct {
				open func() (io.ReadCloser, error)
				want v1.Hash
			}{{l.Compressed, info.Digest}, {l.Uncompressed, info.DiffID}} {
				rc, err := st.open()
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				if d := sha(b); d != st.want {
					t.Errorf("layer stream hashes to %s, want %s", d, st.want)
				}
			}
			if n := dirNames(t, s, "blobs", "sha256"); len(n) != 1 {
				t.Errorf("blobs = %v, want one", n)
			}
			if n := dirNames(t, s, "ingest"); len(n) != 0 {
				t.Errorf("ingest = %v, want empty", n)
			}
		})
	}
}
