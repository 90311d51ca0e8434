package attest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// file is one tar entry of a test layer; typ 0 is a regular file.
type file struct {
	name string
	data []byte
	mode int64
	typ  byte
}

// tarLayer makes an uncompressed layer of files.
func tarLayer(t *testing.T, files ...file) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: f.typ}
		if f.typ == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if hdr.Typeflag == tar.TypeDir {
			hdr.Size, hdr.Mode = 0, 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer)
}

// testImage stacks layers on an empty OCI image.
func testImage(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var gobin struct {
	once sync.Once
	data []byte
	err  error
}

// goBinaryBytes builds testdata/gobin once: a Go executable whose build
// info lists modules (a test binary's lists none).
func goBinaryBytes(t *testing.T) []byte {
	t.Helper()
	gobin.once.Do(func() {
		out := filepath.Join(os.TempDir(), fmt.Sprintf("ibuild-attest-gobin-%d", os.Getpid()))
		defer os.Remove(out)
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", out, "./testdata/gobin")
		if msg, err := cmd.CombinedOutput(); err != nil {
			gobin.err = fmt.Errorf("go build: %w: %s", err, msg)
			return
		}
		gobin.data, gobin.err = os.ReadFile(out)
	})
	if gobin.err != nil {
		t.Fatal(gobin.err)
	}
	return gobin.data
}

// validateSchema checks doc against a JSON schema file.
func validateSchema(t *testing.T, name string, doc []byte) {
	t.Helper()
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(name)
	if err != nil {
		t.Fatalf("compiling %s: %v", name, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("document does not validate against %s: %v\n%s", name, err, doc)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bytesOf(b []byte) *bytes.Reader { return bytes.NewReader(b) }
