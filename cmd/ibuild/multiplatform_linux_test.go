package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/internal/testbase"
	"github.com/ibuild/ibuild/registry"
	"github.com/ibuild/ibuild/registry/registrytest"
)

// alpineTemplate is a store holding the imported Alpine index, made once
// per test binary and copied for each test (removed by TestMain).
var (
	alpineOnce     sync.Once
	alpineTemplate string
	alpineErr      error
)

// alpineRoot is a new store holding alpine:3.20.3 as one two-platform
// image (linux/amd64, linux/arm64) made from Alpine's mini root
// filesystems.
func alpineRoot(t *testing.T) string {
	t.Helper()
	args := testbase.AlpineImportArgs(t, "alpine:3.20.3")
	alpineOnce.Do(func() {
		if alpineTemplate, alpineErr = os.MkdirTemp("", "ibuild-alpine-"); alpineErr != nil {
			return
		}
		out, err := exec.Command(ibuildBin, append([]string{"--root", alpineTemplate}, args...)...).CombinedOutput()
		if err != nil {
			alpineErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if alpineErr != nil {
		t.Fatalf("importing alpine: %v", alpineErr)
	}
	root := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("cp", "-a", alpineTemplate, root).CombinedOutput(); err != nil {
		t.Fatalf("copying the alpine store: %v: %s", err, out)
	}
	return root
}

// layoutIndex reads the index the OCI layout at dir's only entry names.
func layoutIndex(t *testing.T, dir string) v1.IndexManifest {
	t.Helper()
	var top, idx v1.IndexManifest
	readJSON(t, filepath.Join(dir, "index.json"), &top)
	if len(top.Manifests) != 1 || !top.Manifests[0].MediaType.IsIndex() {
		t.Fatalf("index.json should name one image index: %+v", top.Manifests)
	}
	readJSON(t, filepath.Join(dir, "blobs", "sha256", top.Manifests[0].Digest.Hex), &idx)
	return idx
}

func platformsOf(im v1.IndexManifest) []string {
	var out []string
	for _, m := range im.Manifests {
		if m.Platform != nil {
			out = append(out, platformName(*m.Platform))
		}
	}
	return out
}

// unpackPlatform copies one platform's image out of the OCI layout dir
// (tag) with skopeo and unpacks it with umoci, returning its rootfs.
func unpackPlatform(t *testing.T, dir, tag, arch string) string {
	t.Helper()
	single := filepath.Join(t.TempDir(), "oci")
	if out, err := exec.Command("skopeo", "copy", "--override-os", "linux", "--override-arch", arch,
		"oci:"+dir+":"+tag, "oci:"+single+":"+arch).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy --override-arch %s: %v\n%s", arch, err, out)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	if out, err := exec.Command("umoci", "unpack", "--image", single+":"+arch, bundle).CombinedOutput(); err != nil {
		t.Fatalf("umoci unpack (%s): %v\n%s", arch, err, out)
	}
	return filepath.Join(bundle, "rootfs")
}

// storedArch is the config architecture of the image tagged ref in the
// store at root.
func storedArch(t *testing.T, root, ref string) string {
	t.Helper()
	ctx := context.Background()
	s, err := cache.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := registry.Normalize(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Resolve(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(ctx, d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf.Architecture
}

func readTrim(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// TestMultiPlatformAlpine builds a Dockerfile with a RUN for linux/amd64
// and linux/arm64 in one go: the index lists both, skopeo and umoci read
// each manifest, and the arm64 RUN ran as aarch64 (under QEMU).
func TestMultiPlatformAlpine(t *testing.T) {
	testbase.Tools(t, "skopeo", "umoci")
	testbase.EmulateARM64(t)
	root := alpineRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM alpine:3.20.3\nARG TARGETPLATFORM TARGETARCH TARGETVARIANT BUILDPLATFORM\n" +
		"RUN uname -m > /arch && echo \"$TARGETPLATFORM $TARGETARCH [$TARGETVARIANT] $BUILDPLATFORM\" > /args\n"})
	oci := filepath.Join(t.TempDir(), "oci")
	md, r := buildMeta(t, dir, "--root", root, "--platform", "linux/amd64,linux/arm64", "-t", "app:1", "-o", "type=oci,dest="+oci)
	for _, want := range []string{"[linux/arm64 2/2] RUN uname -m", "[linux/amd64 2/2] RUN uname -m", "built index"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, r.stderr)
		}
	}
	idx := layoutIndex(t, oci)
	if got, want := platformsOf(idx), []string{"linux/amd64", "linux/arm64"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("index platforms %v, want %v", got, want)
	}
	raw, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+oci+":1").Output()
	if err != nil {
		t.Fatalf("skopeo inspect --raw: %v", err)
	}
	var skIdx v1.IndexManifest
	if err := json.Unmarshal(raw, &skIdx); err != nil || len(skIdx.Manifests) != 2 {
		t.Fatalf("skopeo inspect --raw: %v\n%s", err, raw)
	}
	if md.ImageDigest != idx.Manifests[0].Digest.String() && !strings.HasPrefix(md.ImageDigest, "sha256:") {
		t.Errorf("metadata digest %q", md.ImageDigest)
	}
	for _, c := range []struct{ arch, uname, args string }{
		{"amd64", "x86_64", "linux/amd64 amd64 [] linux/amd64"},
		{"arm64", "aarch64", "linux/arm64 arm64 [] linux/amd64"},
	} {
		var cfg struct{ Architecture, Os string }
		out, err := exec.Command("skopeo", "inspect", "--override-os", "linux", "--override-arch", c.arch, "oci:"+oci+":1").Output()
		if err != nil || json.Unmarshal(out, &cfg) != nil || cfg.Architecture != c.arch || cfg.Os != "linux" {
			t.Errorf("skopeo inspect --override-arch %s: %v %+v", c.arch, err, cfg)
		}
		rootfs := unpackPlatform(t, oci, "1", c.arch)
		if got := readTrim(t, filepath.Join(rootfs, "arch")); got != c.uname {
			t.Errorf("%s: uname -m = %q, want %q", c.arch, got, c.uname)
		}
		if got := readTrim(t, filepath.Join(rootfs, "args")); got != c.args {
			t.Errorf("%s: platform ARGs %q, want %q", c.arch, got, c.args)
		}
	}
	plats := map[string]int{}
	for _, s := range md.Steps {
		plats[s.Platform]++
	}
	if plats["linux/amd64"] != 2 || plats["linux/arm64"] != 2 {
		t.Errorf("metadata steps per platform %v, want 2 each", plats)
	}
}

// crossDockerfile is the shape of a cross-compiling Go Dockerfile: a
// builder stage on $BUILDPLATFORM whose target-independent step runs once
// and whose $TARGETARCH step runs per platform, natively; the final stage,
// for each target platform, has no RUN, so no emulator is needed.
const crossDockerfile = `FROM --platform=$BUILDPLATFORM alpine:3.20.3 AS builder
RUN uname -m > /build-arch
ARG TARGETARCH BUILDPLATFORM
RUN echo "GOARCH=$TARGETARCH on $BUILDPLATFORM $(uname -m)" > /out
FROM scratch AS loader
COPY --from=alpine:3.20.3 /lib/ld-musl-* /
FROM alpine:3.20.3
COPY --from=builder /out /build-arch /
COPY --from=loader / /loader/
`

// TestCrossCompileBuildPlatform: the builder stage runs natively (no
// emulator is registered: --binfmt-dir is empty), its shared step once
// for both platforms even with --no-cache, and each image gets its
// GOARCH's output.
func TestCrossCompileBuildPlatform(t *testing.T) {
	root := alpineRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": crossDockerfile})
	out := filepath.Join(t.TempDir(), "out")
	md, r := buildMeta(t, dir, "--root", root, "--binfmt-dir", t.TempDir(), "--no-cache",
		"--platform", "linux/amd64,linux/arm64", "-o", "type=local,dest="+out)
	ran := map[string]int{}
	for _, s := range md.Steps {
		if !s.Cached {
			ran[s.Instruction]++
		}
		if strings.HasPrefix(s.Instruction, "RUN") && s.Platform != "linux/amd64" {
			t.Errorf("builder step %q built for %s, want the build platform", s.Instruction, s.Platform)
		}
	}
	if n := ran["RUN uname -m > /build-arch"]; n != 1 {
		t.Errorf("the target-independent builder step ran %d times, want once:\n%s", n, r.stderr)
	}
	if n := ran[`RUN echo "GOARCH=$TARGETARCH on $BUILDPLATFORM $(uname -m)" > /out`]; n != 2 {
		t.Errorf("the $TARGETARCH step ran %d times, want once per platform", n)
	}
	for _, c := range []struct{ dir, want string }{
		{"linux_amd64", "GOARCH=amd64 on linux/amd64 x86_64"},
		{"linux_arm64", "GOARCH=arm64 on linux/amd64 x86_64"},
	} {
		if got := readTrim(t, filepath.Join(out, c.dir, "out")); got != c.want {
			t.Errorf("%s/out = %q, want %q", c.dir, got, c.want)
		}
		if got := readTrim(t, filepath.Join(out, c.dir, "build-arch")); got != "x86_64" {
			t.Errorf("%s/build-arch = %q, want x86_64", c.dir, got)
		}
	}
	for _, c := range []struct{ dir, loader string }{{"linux_amd64", "ld-musl-x86_64.so.1"}, {"linux_arm64", "ld-musl-aarch64.so.1"}} {
		if _, err := os.Stat(filepath.Join(out, c.dir, "lib", c.loader)); err != nil {
			t.Errorf("%s is not its platform's Alpine: %v", c.dir, err)
		}
		// COPY --from=IMAGE reads the image of the stage's platform.
		if _, err := os.Stat(filepath.Join(out, c.dir, "loader", c.loader)); err != nil {
			t.Errorf("%s: COPY --from=alpine took another platform's file: %v", c.dir, err)
		}
	}
	// compare: the same Dockerfile on both platforms, each a variant (from
	// the cache), with the steps of its own platform.
	r = mustRun(t, "--root", root, "compare", "--progress", "quiet", "--binfmt-dir", t.TempDir(), "--platform", "linux/amd64,linux/arm64", dir)
	for _, want := range []string{"(linux/amd64)", "(linux/arm64)", "COPY --from=builder /out /build-arch /"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("compare lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestMultiPlatformErrors: each is refused before anything is stored,
// with a message naming what is wrong.
func TestMultiPlatformErrors(t *testing.T) {
	root := alpineRoot(t)
	// A base whose ONBUILD trigger RUNs: found only when the stage runs.
	onbuild := testbase.AlpineImportArgs(t, "onbuild:1")
	onbuild = append(append(append([]string{}, onbuild[:len(onbuild)-2]...), "--change", "ONBUILD RUN true"), onbuild[len(onbuild)-2:]...)
	mustRun(t, append([]string{"--root", root}, onbuild...)...)
	noEmu := t.TempDir()
	if err := os.WriteFile(filepath.Join(noEmu, "status"), []byte("enabled\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, dockerfile string
		args, want       []string
	}{
		{"unknown platform", "FROM alpine:3.20.3\n", []string{"--platform", "linux/amd64,linux/arm65"},
			[]string{`"linux/arm65"`, "unknown architecture"}},
		{"base without the platform", "FROM alpine:3.20.3\nRUN true\n", []string{"--platform", "linux/amd64,linux/s390x"},
			[]string{"Dockerfile:1", "linux/s390x", "linux/amd64, linux/arm64"}},
		{"missing emulator", "FROM alpine:3.20.3\nRUN true\n", []string{"--platform", "linux/amd64,linux/arm64", "--binfmt-dir", noEmu},
			[]string{"Dockerfile:2", "linux/arm64", "qemu-aarch64", "ibuild binfmt --install"}},
		{"missing emulator for an ONBUILD RUN", "FROM onbuild:1\n", []string{"--platform", "linux/arm64", "--binfmt-dir", noEmu},
			[]string{"Dockerfile:1", "linux/arm64", "qemu-aarch64", "ibuild binfmt --install"}},
		{"binfmt_misc not mounted", "FROM alpine:3.20.3\nRUN true\n", []string{"--platform", "linux/arm64", "--binfmt-dir", t.TempDir()},
			[]string{"Dockerfile:2", "not mounted", "ibuild binfmt --install"}},
		{"docker output", "FROM alpine:3.20.3\n", []string{"--platform", "linux/amd64,linux/arm64", "-o", "type=docker,dest=" + filepath.Join(t.TempDir(), "x.tar")},
			[]string{"type=docker", "choose one with --platform"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": c.dockerfile})
			before := storeListing(t, root)
			r := run(t, "", nil, append(append([]string{"--root", root, "--progress", "plain", "-t", "bad:1"}, c.args...), dir)...)
			if r.exitCode() == 0 {
				t.Fatalf("build succeeded:\n%s", r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if after := storeListing(t, root); !reflect.DeepEqual(before, after) {
				t.Errorf("store changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestMultiPlatformPushPullCache pushes a two-platform image (OCI index,
// then a Docker manifest list), pulls its arm64 image back, and rebuilds
// on a fresh root from --cache-from: every step of both platforms hits.
func TestMultiPlatformPushPullCache(t *testing.T) {
	testbase.Tools(t, "skopeo")
	host := registrytest.Start(t)
	root := alpineRoot(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": crossDockerfile + "COPY a.txt /\nENV X=1\n", "a.txt": "a"})
	ref, cacheRef := host+"/app/multi:1", host+"/app/cache:1"
	md, _ := buildMeta(t, dir, "--root", root, "--platform", "linux/amd64,linux/arm64", "-t", ref, "--push",
		"--cache-to", "type=registry,ref="+cacheRef+",mode=max")
	raw, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "--raw", "docker://"+ref).Output()
	if err != nil {
		t.Fatalf("skopeo inspect --raw: %v", err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" || !reflect.DeepEqual(platformsOf(idx), []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("pushed index: %s", raw)
	}
	if md.ImageDigest == "" {
		t.Error("no containerimage.digest")
	}

	// The arm64 image alone, pulled into a fresh store.
	pulled := t.TempDir()
	mustRun(t, "--root", pulled, "pull", "--platform", "linux/arm64", ref)
	if arch := storedArch(t, pulled, ref); arch != "arm64" {
		t.Errorf("pulled image is %q, want arm64", arch)
	}
	// inspect reports the platforms of a local multi-platform image as
	// variants.
	r := mustRun(t, "--root", root, "inspect", ref)
	for _, want := range []string{ref + " (linux/amd64)", ref + " (linux/arm64)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("inspect lacks variant %q:\n%s", want, r.stdout)
		}
	}

	// Docker manifest list.
	dref := host + "/app/multi:docker"
	buildMeta(t, dir, "--root", root, "--platform", "linux/amd64,linux/arm64", "-t", dref, "-o", "type=registry,oci-mediatypes=false")
	raw, err = exec.Command("skopeo", "inspect", "--tls-verify=false", "--raw", "docker://"+dref).Output()
	if err != nil || !strings.Contains(string(raw), "application/vnd.docker.distribution.manifest.list.v2+json") ||
		!strings.Contains(string(raw), "application/vnd.docker.distribution.manifest.v2+json") {
		t.Errorf("pushed with oci-mediatypes=false: %v\n%s", err, raw)
	}

	// A fresh root with the base only reuses every step from the cache.
	fresh := alpineRoot(t)
	md2, r2 := buildMeta(t, dir, "--root", fresh, "--platform", "linux/amd64,linux/arm64", "--cache-from", "type=registry,ref="+cacheRef)
	per := map[string]int{}
	for _, s := range md2.Steps {
		per[s.TargetPlatform]++
		if !s.Cached {
			t.Errorf("%s: %s ran: %s", s.TargetPlatform, s.Name, s.MissReason)
		}
	}
	if per["linux/amd64"] == 0 || per["linux/arm64"] == 0 {
		t.Errorf("steps per platform %v\n%s", per, r2.stderr)
	}
	if md2.ImageDigest != md.ImageDigest {
		t.Errorf("index from the cache %s, want %s", md2.ImageDigest, md.ImageDigest)
	}
}

// TestMultiPlatformRemoteBase: a stored multi-platform image is pushed as
// an index (`ibuild push`), and a two-platform build on an empty root
// pulls each platform's image of that base from the registry once; the
// tag then names the index, so that the next build pulls nothing.
func TestMultiPlatformRemoteBase(t *testing.T) {
	testbase.Tools(t, "skopeo")
	host := registrytest.Start(t)
	seed := alpineRoot(t)
	base := host + "/base/alpine:3.20.3"
	mustRun(t, "--root", seed, "push", "alpine:3.20.3", base)
	raw, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "--raw", "docker://"+base).Output()
	if err != nil || !strings.Contains(string(raw), `"arm64"`) || !strings.Contains(string(raw), `"amd64"`) {
		t.Fatalf("pushed base is not the two-platform index: %v\n%s", err, raw)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + base + "\nCOPY a.txt /\n", "a.txt": "a"})
	root := t.TempDir()
	args := []string{"--root", root, "--platform", "linux/amd64,linux/arm64", "--binfmt-dir", t.TempDir()}
	md, _ := buildMeta(t, dir, args...)
	froms := 0
	for _, s := range md.Steps {
		if s.From {
			froms++
			if s.Cached {
				t.Errorf("%s: FROM found in an empty store", s.TargetPlatform)
			}
		}
	}
	if froms != 2 {
		t.Fatalf("%d FROM steps, want one per platform", froms)
	}
	ctx := context.Background()
	s, err := cache.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Resolve(ctx, base)
	s.Close()
	if err != nil || !d.MediaType.IsIndex() {
		t.Fatalf("the base's tag names %v (%v), want its index", d, err)
	}
	md2, _ := buildMeta(t, dir, args...)
	for _, s := range md2.Steps {
		if !s.Cached {
			t.Errorf("rebuild: %s (%s) not cached", s.Name, s.TargetPlatform)
		}
	}
	if md2.ImageDigest != md.ImageDigest {
		t.Errorf("rebuild gave %s, want %s", md2.ImageDigest, md.ImageDigest)
	}
}

// TestMultiPlatformAttestations: with --provenance, a two-platform build's
// index lists both images and then one attestation manifest for each,
// pointing at its image, whose provenance names that platform's base.
func TestMultiPlatformAttestations(t *testing.T) {
	root := alpineRoot(t)
	ctx := context.Background()
	s, err := cache.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Resolve(ctx, "docker.io/library/alpine:3.20.3")
	if err != nil {
		t.Fatal(err)
	}
	alpine, err := s.IndexManifest(ctx, d.Digest)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": crossDockerfile})
	out := filepath.Join(t.TempDir(), "oci")
	buildMeta(t, dir, "--root", root, "--binfmt-dir", t.TempDir(), "--platform", "linux/amd64,linux/arm64",
		"--provenance=mode=max", "-t", "app:1", "-o", "type=oci,dest="+out)
	idx := layoutIndex(t, out)
	if len(idx.Manifests) != 4 {
		t.Fatalf("index has %d manifests, want two images and two attestation manifests", len(idx.Manifests))
	}
	for i, arch := range []string{"amd64", "arm64"} {
		img, att := idx.Manifests[i], idx.Manifests[2+i]
		if img.Platform == nil || img.Platform.Architecture != arch {
			t.Errorf("entry %d: platform %+v, want linux/%s", i, img.Platform, arch)
		}
		if att.Platform == nil || att.Platform.OS != "unknown" || att.Annotations["vnd.docker.reference.digest"] != img.Digest.String() {
			t.Errorf("attestation %d: %+v, want unknown/unknown about %s", i, att, img.Digest)
		}
		sts := readStatements(t, mustReadFile(t, filepath.Join(out, "blobs", "sha256", att.Digest.Hex)), img.Digest,
			func(d string) []byte {
				return mustReadFile(t, filepath.Join(out, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
			})
		var pr struct {
			Materials []struct{ Digest map[string]string }
		}
		if err := json.Unmarshal(sts["https://slsa.dev/provenance/v0.2"].Predicate, &pr); err != nil {
			t.Fatal(err)
		}
		base, err := platformChild(alpine, arch)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mat := range pr.Materials {
			found = found || "sha256:"+mat.Digest["sha256"] == base.String()
		}
		if !found {
			t.Errorf("%s provenance materials %+v lack its base %s", arch, pr.Materials, base)
		}
	}
}

func mustReadFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// platformChild is the digest of arch's manifest in im.
func platformChild(im *v1.IndexManifest, arch string) (v1.Hash, error) {
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.Architecture == arch {
			return m.Digest, nil
		}
	}
	return v1.Hash{}, fmt.Errorf("no %s manifest", arch)
}
