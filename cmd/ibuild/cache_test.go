package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cacheBuild builds dir on root with --progress plain and returns the
// metadata and the run (stderr holds warnings and the plain progress).
func cacheBuild(t *testing.T, root, dir string, args ...string) (metadata, result) {
	t.Helper()
	mf := filepath.Join(t.TempDir(), "meta.json")
	argv := append([]string{"--root", root, "--progress", "plain", "--metadata-file", mf}, args...)
	r := mustRun(t, append(argv, dir)...)
	var m metadata
	readJSON(t, mf, &m)
	return m, r
}

// cachedVector lists, per step with a layer or per RUN/COPY/ADD step, whether
// it was a cache hit, as "name=hit|miss".
func cachedVector(m metadata) []string {
	var out []string
	for _, s := range m.Steps {
		if strings.Contains(s.Name, "] FROM ") || strings.Contains(s.Name, "] WORKDIR ") {
			continue // the matrix follows COPY and RUN steps
		}
		v := "miss"
		if s.Cached {
			v = "hit"
		}
		name := s.Name
		if i := strings.Index(name, "] "); i >= 0 {
			name = name[i+2:]
		}
		out = append(out, s.Stage+":"+name+"="+v)
	}
	return out
}

// hits reduces a cached vector to "h"/"m" letters, for compact wants.
func hits(m metadata) string {
	var b strings.Builder
	for _, v := range cachedVector(m) {
		if strings.HasSuffix(v, "=hit") {
			b.WriteByte('h')
		} else {
			b.WriteByte('m')
		}
	}
	return b.String()
}

const matrixDockerfile = `FROM busybox
ARG A=1
COPY a.txt /a.txt
RUN echo one > /s1
ARG B=1
{{PRE}}
RUN echo "$B" > /s2
COPY b.txt /b.txt
RUN echo end > /s3
`

// TestCacheMatrix changes one input between two builds and checks which
// steps (COPY a, RUN s1, RUN s2, COPY b, RUN s3) hit, as docker would.
func TestCacheMatrix(t *testing.T) {
	tests := []struct {
		name   string
		pre    [2]string // {{PRE}} in the first and second build
		args   [2][]string
		change func(t *testing.T, dir string)
		want   string
		// knownBug, when set, turns a mismatch into a skip naming the bug
		// (reported, to be fixed in build/); the case passes once fixed.
		knownBug string
	}{
		{name: "unchanged", want: "hhhhh"},
		{name: "mtime only", want: "hhhhh", change: func(t *testing.T, dir string) {
			for _, f := range []string{"a.txt", "b.txt"} {
				if err := os.Chtimes(filepath.Join(dir, f), mustTime(t, "/etc/hostname"), mustTime(t, "/etc/hostname")); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "content of first COPY", want: "mmmmm", change: func(t *testing.T, dir string) {
			writeTree(t, dir, map[string]string{"a.txt": "A2"})
		}},
		{name: "content same size", want: "hhhmm", change: func(t *testing.T, dir string) {
			writeTree(t, dir, map[string]string{"b.txt": "B9"})
		}},
		{name: "mode", want: "hhhmm", change: func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "b.txt"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "owner", want: "hhhmm", change: func(t *testing.T, dir string) {
			if err := os.Chown(filepath.Join(dir, "b.txt"), 1234, 1234); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "arg in scope of every RUN", args: [2][]string{nil, {"--build-arg", "A=2"}}, want: "hmmmm"},
		{name: "arg declared later", args: [2][]string{nil, {"--build-arg", "B=2"}}, want: "hhmmm"},
		{name: "arg value equal to default", args: [2][]string{nil, {"--build-arg", "B=1"}}, want: "hhhhh"},
		{name: "undeclared arg", args: [2][]string{nil, {"--build-arg", "Z=2"}}, want: "hhhhh"},
		{name: "env", pre: [2]string{"ENV E=1", "ENV E=2"}, want: "hhmmm"},
		{name: "workdir", pre: [2]string{"WORKDIR /w1", "WORKDIR /w2"}, want: "hhmmm"},
		{name: "user", pre: [2]string{"USER root", "USER 0:0"}, want: "hhmmm"},
		{name: "label only", pre: [2]string{"LABEL l=1", "LABEL l=2"}, want: "hhmmm"},
		{name: "no-cache", args: [2][]string{nil, {"--no-cache"}}, want: "mmmmm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := busyboxRoot(t)
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"a.txt": "A1", "b.txt": "B1"})
			df := func(i int) {
				writeTree(t, dir, map[string]string{"Dockerfile": strings.Replace(matrixDockerfile, "{{PRE}}", tt.pre[i], 1)})
			}
			df(0)
			first, _ := cacheBuild(t, root, dir, tt.args[0]...)
			if got := hits(first); got != "mmmmm" {
				t.Fatalf("first build: %s, want all misses", strings.Join(cachedVector(first), " "))
			}
			df(1)
			if tt.change != nil {
				tt.change(t, dir)
			}
			second, r := cacheBuild(t, root, dir, tt.args[1]...)
			if got := hits(second); got != tt.want && tt.knownBug != "" {
				t.Skipf("known bug: %s: got %s, want %s", tt.knownBug, got, tt.want)
			} else if got != tt.want {
				t.Errorf("second build: %s\nwant %s (h = hit, m = miss)\n%s", strings.Join(cachedVector(second), " "), tt.want, r.stderr)
			}
		})
	}
}

// TestCacheBaseChange re-imports "busybox" with one more file: every step
// misses.
func TestCacheBaseChange(t *testing.T) {
	root := busyboxRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "A1", "b.txt": "B1",
		"Dockerfile": strings.Replace(matrixDockerfile, "{{PRE}}", "", 1)})
	cacheBuild(t, root, dir)
	base := filepath.Join(t.TempDir(), "base.tar")
	copyFile(t, tarballOf(t), base)
	extra := t.TempDir()
	writeTree(t, extra, map[string]string{"etc/extra": "x"})
	if out, err := exec.Command("tar", "-rf", base, "-C", extra, "etc/extra").CombinedOutput(); err != nil {
		t.Fatalf("tar -r: %v\n%s", err, out)
	}
	mustRun(t, "--root", root, "import", "-t", "busybox", base)
	second, _ := cacheBuild(t, root, dir)
	if got := hits(second); got != "mmmmm" {
		t.Errorf("after the base changed: %s, want every step to miss", strings.Join(cachedVector(second), " "))
	}
}

// TestCacheNoCacheFilter rebuilds only the named stage.
func TestCacheNoCacheFilter(t *testing.T) {
	root := busyboxRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": `FROM busybox AS one
RUN echo one > /one
FROM busybox AS two
RUN echo two > /two
FROM busybox
COPY --from=one /one /one
COPY --from=two /two /two
RUN cat /one /two > /both
`})
	first, _ := cacheBuild(t, root, dir)
	second, r := cacheBuild(t, root, dir, "--no-cache-filter", "one")
	for _, s := range second.Steps {
		if strings.Contains(s.Name, "] FROM ") {
			continue
		}
		wantHit := s.Stage != "one"
		if s.Cached != wantHit {
			t.Errorf("--no-cache-filter one: stage %q step %q cached=%v, want %v\n%s", s.Stage, s.Name, s.Cached, wantHit, r.stderr)
		}
	}
	if first.ImageDigest != second.ImageDigest {
		t.Errorf("rebuilding stage one changed the image: %s then %s", first.ImageDigest, second.ImageDigest)
	}
}

// tarballOf returns the busybox test base.
func tarballOf(t *testing.T) string {
	t.Helper()
	root := busyboxRoot(t) // ensures the tarball exists
	_ = root
	matches, _ := filepath.Glob("/var/cache/ibuild-testbases/busybox.tar")
	if len(matches) == 0 {
		t.Skip("busybox test base not found in /var/cache/ibuild-testbases (run hack/testbases.sh)")
	}
	return matches[0]
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkBlobs fails the test for any blob under root that does not hash to
// its name.
func checkBlobs(t *testing.T, root string) int {
	t.Helper()
	dir := filepath.Join(root, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if got := fileSHA(t, filepath.Join(dir, e.Name())); got != e.Name() {
			t.Errorf("blob %s hashes to %s", e.Name(), got)
		}
	}
	return len(ents)
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// stepLayer returns the layer digest hex of the first step whose name
// contains substr.
func stepLayer(t *testing.T, m metadata, substr string) string {
	t.Helper()
	for _, s := range m.Steps {
		if strings.Contains(s.Name, substr) && s.Layer != nil {
			return s.Layer.Digest.Hex
		}
	}
	t.Fatalf("no step with a layer matching %q", substr)
	return ""
}

// TestCacheCorruption damages the store between two builds: the second
// build succeeds with a warning, makes the same image, and restores what
// was damaged.
func TestCacheCorruption(t *testing.T) {
	blob := func(root, hex string) string { return filepath.Join(root, "blobs", "sha256", hex) }
	tests := []struct {
		name   string
		damage func(t *testing.T, root string, m metadata) (restored string)
		warn   string
	}{
		{name: "flipped byte in a layer", warn: "is corrupt", damage: func(t *testing.T, root string, m metadata) string {
			p := blob(root, stepLayer(t, m, "RUN"))
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b := make([]byte, 1)
			if _, err := f.ReadAt(b, 40); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x01
			if _, err := f.WriteAt(b, 40); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "truncated layer", warn: "want", damage: func(t *testing.T, root string, m metadata) string {
			p := blob(root, stepLayer(t, m, "COPY"))
			if err := os.Truncate(p, 10); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "deleted layer", warn: "missing or damaged", damage: func(t *testing.T, root string, m metadata) string {
			p := blob(root, stepLayer(t, m, "RUN"))
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "flipped byte in the manifest", warn: "is corrupt", damage: func(t *testing.T, root string, m metadata) string {
			p := blob(root, strings.TrimPrefix(m.ImageDigest, "sha256:"))
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x20
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "garbled index.json", warn: "index.json.bak", damage: func(t *testing.T, root string, m metadata) string {
			if err := os.WriteFile(filepath.Join(root, "index.json"), []byte(`{"schemaVersion":2,"manif`), 0o644); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
		{name: "garbled step record", warn: "cannot be parsed", damage: func(t *testing.T, root string, m metadata) string {
			var key string
			for _, s := range m.Steps {
				if strings.Contains(s.Name, "RUN") {
					key = strings.TrimPrefix(s.Key, "sha256:")
				}
			}
			if key == "" {
				t.Fatal("no RUN step key in the metadata")
			}
			if err := os.WriteFile(filepath.Join(root, "steps", key+".json"), []byte(`{"layer":{"dig`), 0o644); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := busyboxRoot(t)
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"a.txt": strings.Repeat("some context\n", 100), "Dockerfile": `FROM busybox
COPY a.txt /a.txt
RUN seq 1 20000 > /numbers
`})
			first, _ := cacheBuild(t, root, dir, "-t", "app")
			restored := tt.damage(t, root, first)
			second, r := cacheBuild(t, root, dir, "-t", "app")
			if second.ImageDigest != first.ImageDigest {
				t.Errorf("image digest changed after recovery: %s, was %s", second.ImageDigest, first.ImageDigest)
			}
			if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, tt.warn) {
				t.Errorf("no warning mentioning %q:\n%s", tt.warn, r.stderr)
			}
			if restored != "" {
				if got := fileSHA(t, restored); got != filepath.Base(restored) {
					t.Errorf("blob %s not restored: hashes to %s", filepath.Base(restored), got)
				}
			}
			checkBlobs(t, root)
			// The store is sound: a third build hits every step, silently.
			third, r := cacheBuild(t, root, dir, "-t", "app")
			if strings.Contains(hits(third), "m") || strings.Contains(r.stderr, "warning") {
				t.Errorf("third build: %s\n%s", strings.Join(cachedVector(third), " "), r.stderr)
			}
			mustRun(t, "--root", root, "images")
		})
	}
}

// TestCacheReproducible builds the same context on two roots, with
// SOURCE_DATE_EPOCH unset: the digests, RUN layers included, are equal.
func TestCacheReproducible(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "A", "sub/b.txt": "B", "Dockerfile": `FROM busybox
COPY . /src
RUN mkdir -p /out && cp -r /src /out/copy && seq 1 1000 > /out/n && touch /out/stamp && ln -s n /out/link
RUN rm /out/n && mkdir /out/d
`})
	var digests []string
	for i := range 2 {
		root := busyboxRoot(t)
		m, _ := cacheBuild(t, root, dir)
		digests = append(digests, m.ImageDigest)
		t.Logf("root %d: %s", i, m.ImageDigest)
	}
	if digests[0] != digests[1] {
		t.Errorf("two roots gave %s and %s", digests[0], digests[1])
	}
}

// TestCacheConcurrent runs four builds of overlapping Dockerfiles on one
// root at once; their digests equal those of serial builds on separate
// roots.
func TestCacheConcurrent(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"a.txt": "A"}
	for i := range 4 {
		files[fmt.Sprintf("Dockerfile.%d", i)] = fmt.Sprintf(`FROM busybox
COPY a.txt /a.txt
RUN seq 1 5000 > /shared
RUN echo %d > /own
COPY a.txt /again-%d
`, i, i)
	}
	writeTree(t, dir, files)
	want := make([]string, 4)
	for i := range 4 {
		m, _ := cacheBuild(t, busyboxRoot(t), dir, "-f", filepath.Join(dir, fmt.Sprintf("Dockerfile.%d", i)))
		want[i] = m.ImageDigest
	}
	root := busyboxRoot(t)
	got := make([]string, 4)
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			mf := filepath.Join(t.TempDir(), "meta.json")
			cmd := exec.Command(ibuildBin, "--root", root, "--progress", "plain", "--metadata-file", mf,
				"-t", fmt.Sprintf("app:%d", i), "-f", filepath.Join(dir, fmt.Sprintf("Dockerfile.%d", i)), dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				errs <- fmt.Errorf("build %d: %v\n%s", i, err, out)
				return
			}
			var m metadata
			b, err := os.ReadFile(mf)
			if err == nil {
				err = jsonUnmarshal(b, &m)
			}
			got[i] = m.ImageDigest
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for i := range 4 {
		if got[i] != want[i] {
			t.Errorf("Dockerfile.%d: concurrent build gave %s, serial %s", i, got[i], want[i])
		}
	}
	checkBlobs(t, root)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
