package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/internal/testbase"
	"github.com/ibuild/ibuild/layer"
)

// busyboxOnce imports the busybox base into one shared root for the tests
// in this file that only read it.
var (
	busyboxOnce sync.Once
	busyboxDir  string
	busyboxErr  error
)

func sharedBusybox(t *testing.T) string {
	t.Helper()
	tarball := testbase.Busybox(t)
	busyboxOnce.Do(func() {
		busyboxDir, busyboxErr = os.MkdirTemp("", "ibuild-copy-test-")
		if busyboxErr != nil {
			return
		}
		out, err := exec.Command(ibuildBin, "--root", busyboxDir, "import", "-t", "busybox", tarball).CombinedOutput()
		if err != nil {
			busyboxErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if busyboxErr != nil {
		t.Fatalf("importing busybox: %v", busyboxErr)
	}
	return busyboxDir
}

// TestAddArchives checks that ADD extracts local tars in every supported
// compression and copies any other file as it is.
func TestAddArchives(t *testing.T) {
	dir := t.TempDir()
	tarball := makeTar(t, []tarEntry{{name: "pkg/", typ: '5'}, {name: "pkg/f.txt", body: "inside\n", typ: '0'}})
	if err := os.WriteFile(filepath.Join(dir, "a.tar"), tarball, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ext, tool string }{{"gz", "gzip"}, {"bz2", "bzip2"}, {"xz", "xz"}, {"zst", "zstd"}} {
		if _, err := exec.LookPath(c.tool); err != nil {
			t.Fatalf("%s not installed (hack/apt-packages.txt lists it)", c.tool)
		}
		cmd := exec.Command(c.tool, "-c", filepath.Join(dir, "a.tar"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", c.tool, err)
		}
		os.WriteFile(filepath.Join(dir, "a.tar."+c.ext), out, 0o644)
	}
	writeTree(t, dir, map[string]string{
		"plain.txt": "not an archive\n",
		"Dockerfile": `FROM scratch
ADD a.tar /plain/
ADD a.tar.gz /gz/
ADD a.tar.bz2 /bz2/
ADD a.tar.xz /xz/
ADD a.tar.zst /zst
ADD plain.txt /copied.txt
`,
	})
	local := filepath.Join(t.TempDir(), "fs")
	mustRun(t, "--root", t.TempDir(), "-o", local, dir)
	for _, d := range []string{"plain", "gz", "bz2", "xz", "zst"} {
		if b, err := os.ReadFile(filepath.Join(local, d, "pkg/f.txt")); err != nil || string(b) != "inside\n" {
			t.Errorf("ADD a.tar.%s: %q, %v", d, b, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(local, "copied.txt")); err != nil || string(b) != "not an archive\n" {
		t.Errorf("ADD plain.txt: %q, %v", b, err)
	}
}

// TestDockerfileIgnoreFile checks that <Dockerfile>.dockerignore wins over
// the context's .dockerignore, as in docker.
func TestDockerfileIgnoreFile(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"build/app.Dockerfile":              "FROM scratch\nCOPY . /ctx/\n",
		"build/app.Dockerfile.dockerignore": "secret.txt\nbuild\n",
		".dockerignore":                     "keep.txt\n",
		"secret.txt":                        "s", "keep.txt": "k",
	})
	local := filepath.Join(t.TempDir(), "fs")
	mustRun(t, "--root", t.TempDir(), "-f", filepath.Join(dir, "build/app.Dockerfile"), "-o", local, dir)
	if _, err := os.Stat(filepath.Join(local, "ctx/secret.txt")); !os.IsNotExist(err) {
		t.Errorf("secret.txt copied despite app.Dockerfile.dockerignore")
	}
	if _, err := os.Stat(filepath.Join(local, "ctx/keep.txt")); err != nil {
		t.Errorf("keep.txt missing: the context's .dockerignore was applied too: %v", err)
	}
}

// TestChownNamesAndOnbuild uses the busybox base: --chown by name resolves
// through the image's own /etc/passwd and /etc/group, and ONBUILD triggers
// of a base run in the child build.
func TestChownNamesAndOnbuild(t *testing.T) {
	root := sharedBusybox(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"f": "f",
		"Dockerfile": `FROM busybox
ONBUILD COPY f /onbuild-ran
ONBUILD RUN echo triggered > /trigger
`,
	})
	mustRun(t, "--root", root, "-t", "withtrigger", dir)
	writeTree(t, dir, map[string]string{
		"Dockerfile": `FROM withtrigger
COPY --chown=app:extra f /owned
COPY --chown=app f /owned-user
RUN stat -c '%u:%g' /owned /owned-user > /ids
`,
	})
	local := filepath.Join(t.TempDir(), "fs")
	meta := filepath.Join(t.TempDir(), "m.json")
	mustRun(t, "--root", root, "-o", local, "--metadata-file", meta, dir)
	if b, err := os.ReadFile(filepath.Join(local, "ids")); err != nil || string(b) != "1000:1001\n1000:1000\n" {
		t.Errorf("ids = %q, %v; want app:extra = 1000:1001 and app = 1000:1000", b, err)
	}
	for _, f := range []string{"onbuild-ran", "trigger"} {
		if _, err := os.Stat(filepath.Join(local, f)); err != nil {
			t.Errorf("ONBUILD trigger did not run: %v", err)
		}
	}
	r := run(t, "", nil, "--root", root, "--progress", "plain", dir+"/nonexistent-subdir")
	if r.exitCode() == 0 {
		t.Errorf("a missing context succeeded")
	}
	// BuildKit v0.17.3 chowns to 0:0 for a name missing from the image's
	// /etc/passwd (case copy-chown-unknown-names; TestCopyChownUnknownNames).
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM busybox\nCOPY --chown=nobodyhere f /x\n"})
	if r = run(t, "", nil, "--root", root, dir); r.exitCode() != 0 {
		t.Errorf("unknown --chown user: exit %d\n%s", r.exitCode(), r.stderr)
	}
}

// TestUnusedBuildArgWarning checks docker's warning for build args that no
// ARG consumed.
func TestUnusedBuildArgWarning(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nARG USED\n"})
	r := mustRun(t, "--root", t.TempDir(), "--build-arg", "USED=1", "--build-arg", "NOTUSED=2", "--build-arg", "HTTP_PROXY=x", dir)
	if !strings.Contains(r.stderr, "NOTUSED") || strings.Contains(r.stderr, "[USED") || strings.Contains(r.stderr, "HTTP_PROXY]") {
		t.Errorf("unused build-arg warning wrong:\n%s", r.stderr)
	}
}

// TestProgressJSON checks that --progress json prints one event per line.
func TestProgressJSON(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "x"})
	r := mustRun(t, "--root", t.TempDir(), "--progress", "json", dir)
	sc := bufio.NewScanner(strings.NewReader(r.stderr))
	var events, done int
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		events++
		if ev["status"] == "done" && strings.Contains(ev["name"].(string), "COPY f /f") {
			done++
		}
	}
	if events < 4 || done != 1 {
		t.Errorf("%d events, %d COPY done events:\n%s", events, done, r.stderr)
	}
}

// TestCompressions builds with each --compression and checks the media types
// and that the image validates (go-containerregistry reads every layer).
func TestCompressions(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": strings.Repeat("compress me ", 1000)})
	for _, c := range []struct{ name, mediaType string }{
		{"gzip", "application/vnd.oci.image.layer.v1.tar+gzip"},
		{"zstd", "application/vnd.oci.image.layer.v1.tar+zstd"},
		{"none", "application/vnd.oci.image.layer.v1.tar"},
	} {
		t.Run(c.name, func(t *testing.T) {
			oci := filepath.Join(t.TempDir(), "oci")
			meta := filepath.Join(t.TempDir(), "m.json")
			mustRun(t, "--root", t.TempDir(), "--compression", c.name, "-t", "c:1", "-o", "type=oci,dest="+oci, "--metadata-file", meta, dir)
			var md metadata
			readJSON(t, meta, &md)
			if len(md.Layers) != 1 || string(md.Layers[0].MediaType) != c.mediaType {
				t.Fatalf("layers %+v, want one %s", md.Layers, c.mediaType)
			}
			if c.name == "none" && md.Layers[0].Digest != md.Layers[0].DiffID {
				t.Errorf("uncompressed layer digest %s != diffID %s", md.Layers[0].Digest, md.Layers[0].DiffID)
			}
			if c.name != "gzip" {
				// go-containerregistry's validate gunzips every layer
				// (validate/layer.go) and Debian's umoci 0.4.7 predates zstd:
				// check digests and diffIDs ourselves, and read with skopeo.
				checkLayerDigests(t, ociImage(t, oci))
				if out, err := exec.Command("skopeo", "inspect", "oci:"+oci+":1").CombinedOutput(); err != nil {
					t.Fatalf("skopeo: %v\n%s", err, out)
				}
				return
			}
			checkOCI(t, oci, "1")
		})
	}
	r := run(t, "", nil, "--root", t.TempDir(), "--compression", "lz4", dir)
	if r.exitCode() == 0 || !strings.Contains(r.stderr, "lz4") {
		t.Errorf("--compression lz4: exit %d\n%s", r.exitCode(), r.stderr)
	}
}

// checkLayerDigests verifies each layer's blob digest and size against the
// manifest and its decompressed digest against the config's diffID.
func checkLayerDigests(t *testing.T, img v1.Image) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		h, n, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || h != m.Layers[i].Digest || n != m.Layers[i].Size {
			t.Errorf("layer %d: blob %s (%d bytes), manifest %s (%d): %v", i, h, n, m.Layers[i].Digest, m.Layers[i].Size, err)
		}
		rc, _ = l.Compressed()
		u, err := layer.Decompress(rc)
		if err != nil {
			t.Fatal(err)
		}
		d, _, err := v1.SHA256(u)
		u.Close()
		rc.Close()
		if err != nil || d != cf.RootFS.DiffIDs[i] {
			t.Errorf("layer %d: uncompressed %s, diffID %s: %v", i, d, cf.RootFS.DiffIDs[i], err)
		}
	}
}
