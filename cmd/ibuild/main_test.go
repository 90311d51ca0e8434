package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// ibuildBin is the binary under test, built once by TestMain.
var ibuildBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ibuild-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ibuildBin = filepath.Join(dir, "ibuild")
	out, err := exec.Command("go", "build", "-o", ibuildBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building ibuild: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if alpineTemplate != "" {
		os.RemoveAll(alpineTemplate)
	}
	if busyboxDir != "" {
		os.RemoveAll(busyboxDir)
	}
	os.Exit(code)
}

// result is one run of the ibuild binary.
type result struct {
	stdout, stderr string
	err            error
}

func (r result) exitCode() int {
	if ee, ok := r.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if r.err != nil {
		return -1
	}
	return 0
}

// run runs ibuild with args; env entries are added to a minimal environment.
func run(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ibuildBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	return result{stdout: so.String(), stderr: se.String(), err: err}
}

// mustRun runs ibuild and fails the test on a non-zero exit.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := run(t, "", nil, args...)
	if r.err != nil {
		t.Fatalf("ibuild %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

// writeTree creates files under dir: a key ending in "/" is a directory.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// storeListing lists every file below a store root except the lock and
// transient directories, to show that a failed build added nothing.
func storeListing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." || rel == "lock" || strings.HasPrefix(rel, "mounts") || strings.HasPrefix(rel, "context-memos") {
			return nil
		}
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return out
}

// ociImage opens the last image of an OCI layout.
func ociImage(t *testing.T, dir string) v1.Image {
	t.Helper()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) == 0 {
		t.Fatal("OCI layout has no manifests")
	}
	img, err := p.Image(im.Manifests[len(im.Manifests)-1].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// checkOCI validates an OCI layout export with go-containerregistry,
// umoci and skopeo, and returns the image.
func checkOCI(t *testing.T, dir, tag string) v1.Image {
	t.Helper()
	img := ociImage(t, dir)
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Logf("skopeo not installed: skipping skopeo inspect")
	} else if out, err := exec.Command("skopeo", "inspect", "oci:"+dir+":"+tag).CombinedOutput(); err != nil {
		t.Fatalf("skopeo inspect oci:%s:%s: %v\n%s", dir, tag, err, out)
	}
	if _, err := exec.LookPath("umoci"); err != nil {
		t.Logf("umoci not installed: skipping umoci unpack")
	} else {
		bundle := filepath.Join(t.TempDir(), "bundle")
		if out, err := exec.Command("umoci", "unpack", "--image", dir+":"+tag, bundle).CombinedOutput(); err != nil {
			t.Fatalf("umoci unpack %s:%s: %v\n%s", dir, tag, err, out)
		}
	}
	return img
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
