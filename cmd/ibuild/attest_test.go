package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	jsonschema "github.com/santhosh-tekuri/jsonschema/v6"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/ibuild/ibuild/attest"
	"github.com/ibuild/ibuild/attest/attesttest"
	"github.com/ibuild/ibuild/internal/testbase"
	"github.com/ibuild/ibuild/registry"
	"github.com/ibuild/ibuild/registry/registrytest"
)

func TestParseAttest(t *testing.T) {
	tests := []struct {
		sbom, prov string
		attests    []string
		want       attestOptions
		err        string
	}{
		{want: attestOptions{}},
		{sbom: "true", want: attestOptions{sbom: true}},
		{sbom: "false", prov: "true", want: attestOptions{provenance: "min"}},
		{prov: "mode=max,builder-id=https://ci.example/run/1", want: attestOptions{provenance: "max", builderID: "https://ci.example/run/1"}},
		{prov: "mode=max,disabled=true", want: attestOptions{}},
		{attests: []string{"type=sbom", "type=provenance,mode=max"}, want: attestOptions{sbom: true, provenance: "max"}},
		{sbom: "true", attests: []string{"type=sbom,disabled=true"}, want: attestOptions{}},
		{prov: "mode=full", err: "mode must be min or max"},
		{prov: "version=v1", err: "only SLSA provenance version v0.2"},
		{sbom: "generator=docker/scout-sbom-indexer", err: "generator="},
		{attests: []string{"type=slsa"}, err: "type must be sbom or provenance"},
		{attests: []string{"type=sbom,mode=max"}, err: "sbom takes no mode"},
	}
	for _, tt := range tests {
		got, err := parseAttest(tt.sbom, tt.prov, tt.attests)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseAttest(%q, %q, %q) error %v, want %q", tt.sbom, tt.prov, tt.attests, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseAttest(%q, %q, %q) = %+v, %v, want %+v", tt.sbom, tt.prov, tt.attests, got, err, tt.want)
		}
	}
}

// TestAttestBadFlag: a bad attestation flag fails before the build.
func TestAttestBadFlag(t *testing.T) {
	root := t.TempDir()
	r := run(t, "", nil, "--root", root, "--provenance", "mode=full", scratchContext(t))
	if r.exitCode() == 0 || !strings.Contains(r.stderr, "invalid --provenance=mode=full: mode must be min or max") {
		t.Fatalf("exit %d, stderr:\n%s", r.exitCode(), r.stderr)
	}
	if l := storeListing(t, root); len(l) > 2 {
		t.Errorf("the refused build left %v", l)
	}
}

// statement is an in-toto statement as the tests read it.
type statement struct {
	Type          string           `json:"_type"`
	PredicateType string           `json:"predicateType"`
	Subject       []attest.Subject `json:"subject"`
	Predicate     json.RawMessage  `json:"predicate"`
}

// getBlob reads a blob of repo from the registry at host.
func getBlob(t *testing.T, host, repo, dig string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + host + "/v2/" + repo + "/blobs/" + dig)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET blob %s: %s %v", dig, resp.Status, err)
	}
	return data
}

// skopeoRaw is `skopeo inspect --raw` of ref.
func skopeoRaw(t *testing.T, ref string) []byte {
	t.Helper()
	out, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", ref).Output()
	if err != nil {
		t.Fatalf("skopeo inspect --raw %s: %v", ref, err)
	}
	return out
}

func sha256Of(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// checkAttestedIndex checks an index of one image and its attestation
// manifest and returns the image's manifest digest and the attestation
// manifest's.
func checkAttestedIndex(t *testing.T, raw []byte) (img, att v1.Descriptor) {
	t.Helper()
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" || len(idx.Manifests) != 2 {
		t.Fatalf("index %s, want an OCI index of the image and its attestations", raw)
	}
	img, att = idx.Manifests[0], idx.Manifests[1]
	host := registry.HostPlatform()
	if img.Platform == nil || img.Platform.OS != host.OS || img.Platform.Architecture != host.Architecture {
		t.Errorf("image entry platform %+v", img.Platform)
	}
	if att.Platform == nil || att.Platform.OS != "unknown" || att.Platform.Architecture != "unknown" {
		t.Errorf("attestation entry platform %+v, want unknown/unknown", att.Platform)
	}
	if att.Annotations["vnd.docker.reference.type"] != "attestation-manifest" || att.Annotations["vnd.docker.reference.digest"] != img.Digest.String() {
		t.Errorf("attestation annotations %v, want type attestation-manifest, digest %s", att.Annotations, img.Digest)
	}
	return img, att
}

// readStatements reads the in-toto layers of an attestation manifest with
// layoutStatements reads the attested index that the OCI layout out names
// first, checks it, and returns its digest and its statements by
// predicate type.
func layoutStatements(t *testing.T, out string) (v1.Hash, map[string]statement) {
	t.Helper()
	var idx v1.IndexManifest
	readJSON(t, filepath.Join(out, "index.json"), &idx)
	blob := func(d string) []byte {
		data, err := os.ReadFile(filepath.Join(out, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	imgDesc, attDesc := checkAttestedIndex(t, blob(idx.Manifests[0].Digest.String()))
	return idx.Manifests[0].Digest, readStatements(t, blob(attDesc.Digest.String()), imgDesc.Digest, blob)
}

// blob, by predicate type, checking their annotations and subjects.
func readStatements(t *testing.T, rawManifest []byte, subject v1.Hash, blob func(string) []byte) map[string]statement {
	t.Helper()
	var m v1.Manifest
	if err := json.Unmarshal(rawManifest, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]statement{}
	for _, l := range m.Layers {
		if l.MediaType != "application/vnd.in-toto+json" {
			t.Errorf("attestation layer media type %s", l.MediaType)
		}
		var st statement
		data := blob(l.Digest.String())
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatal(err)
		}
		if st.Type != "https://in-toto.io/Statement/v0.1" || l.Annotations["in-toto.io/predicate-type"] != st.PredicateType {
			t.Errorf("statement type %s, predicate %s, annotation %v", st.Type, st.PredicateType, l.Annotations)
		}
		if len(st.Subject) == 0 {
			t.Errorf("%s statement has no subject", st.PredicateType)
		}
		for _, s := range st.Subject {
			if s.Digest["sha256"] != subject.Hex {
				t.Errorf("%s subject %s digest %v, want the image's %s", st.PredicateType, s.Name, s.Digest, subject)
			}
		}
		out[st.PredicateType] = st
	}
	return out
}

// checkSBOM validates an SBOM against the SPDX 2.3 schema, reads it with
// spdx/tools-golang and returns each package's purl by name.
func checkSBOM(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	sch, err := jsonschema.NewCompiler().Compile(attesttest.SPDXSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("SBOM does not validate against the SPDX 2.3 schema: %v", err)
	}
	d, err := spdxjson.Read(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("spdx tools-golang cannot read the SBOM: %v", err)
	}
	if err := spdxlib.ValidateDocument(d); err != nil {
		t.Errorf("spdxlib.ValidateDocument: %v", err)
	}
	purls := map[string]string{}
	for _, p := range d.Packages {
		for _, r := range p.PackageExternalReferences {
			if r.RefType == "purl" {
				purls[p.PackageName] = r.Locator
			}
		}
	}
	return purls
}

// gitCommit makes dir a git repository with one commit and returns it.
func gitCommit(t *testing.T, dir string) string {
	t.Helper()
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "ctx"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestAttestPushAndOCI: --sbom and --provenance=mode=max on a Debian
// image with a Go binary, pushed and written as an OCI layout: both carry
// an index of the image and an attestation manifest BuildKit's way, the
// SBOM validates against the SPDX 2.3 schema and lists dpkg packages and
// Go modules, the provenance names the base's digest, the build args, the
// Dockerfile's digest and the context's commit.
func TestAttestPushAndOCI(t *testing.T) {
	host := registrytest.Start(t)
	baseRoot := t.TempDir()
	mustRun(t, "--root", baseRoot, "import", "-t", "debian", testbase.Debian(t))
	baseRef := host + "/base/debian:12"
	mustRun(t, "--root", baseRoot, "push", "debian", baseRef)
	baseDigest := manifestDigest(t, host, "base/debian", "12")

	dir := t.TempDir()
	dockerfile := "FROM " + baseRef + "\nARG FOO\nCOPY ibuild /usr/local/bin/ibuild\n"
	writeTree(t, dir, map[string]string{"Dockerfile": dockerfile})
	exe, err := os.ReadFile(ibuildBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ibuild"), exe, 0o755); err != nil {
		t.Fatal(err)
	}
	commit := gitCommit(t, dir)
	ref := host + "/app/attest:1"
	out := filepath.Join(t.TempDir(), "oci")
	md, _ := buildMeta(t, dir, "--root", t.TempDir(), "-t", ref, "--push", "-o", "type=oci,dest="+out,
		"--sbom=true", "--provenance=mode=max", "--build-arg", "FOO=bar")

	raw := skopeoRaw(t, "docker://"+ref)
	imgDesc, attDesc := checkAttestedIndex(t, raw)
	if md.ImageDigest != sha256Of(raw) {
		t.Errorf("metadata containerimage.digest %s, want the pushed index %s", md.ImageDigest, sha256Of(raw))
	}
	// The tag still serves the image to a client asking for the host's
	// platform, and it is valid.
	r, _ := registry.ParseReference(ref)
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d != imgDesc.Digest {
		t.Errorf("the tag resolves to %s, want the image %s", d, imgDesc.Digest)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	attRaw := skopeoRaw(t, "docker://"+host+"/app/attest@"+attDesc.Digest.String())
	sts := readStatements(t, attRaw, imgDesc.Digest, func(d string) []byte { return getBlob(t, host, "app/attest", d) })
	sbom, prov := sts[attest.PredicateSPDX], sts[attest.PredicateSLSA02]
	if sbom.Predicate == nil || prov.Predicate == nil {
		t.Fatalf("statements %v, want an SBOM and a provenance", sts)
	}
	if want := "pkg:docker/" + strings.Replace(host, ":", "%3A", 1) + "/app/attest@1?platform="; !strings.HasPrefix(sbom.Subject[0].Name, want) {
		t.Errorf("subject %s, want %s...", sbom.Subject[0].Name, want)
	}
	purls := checkSBOM(t, sbom.Predicate)
	if p := purls["libc6"]; !strings.HasPrefix(p, "pkg:deb/debian/libc6@") || !strings.Contains(p, "distro=debian-12") {
		t.Errorf("libc6 purl %q", p)
	}
	if p := purls["github.com/spf13/cobra"]; !strings.HasPrefix(p, "pkg:golang/github.com/spf13/cobra@v") {
		t.Errorf("the Go binary's cobra module: purl %q", p)
	}

	var pr struct {
		Materials []struct {
			URI    string
			Digest map[string]string
		}
		Invocation struct {
			ConfigSource struct {
				EntryPoint string
				Digest     map[string]string
			}
			Parameters struct{ Args map[string]string }
		}
		Metadata struct {
			BuildKit struct{ VCS map[string]string } `json:"https://mobyproject.org/buildkit@v1#metadata"`
		}
	}
	if err := json.Unmarshal(prov.Predicate, &pr); err != nil {
		t.Fatal(err)
	}
	if len(pr.Materials) == 0 || !strings.Contains(pr.Materials[0].URI, "/base/debian@12") || "sha256:"+pr.Materials[0].Digest["sha256"] != baseDigest {
		t.Errorf("materials %+v, want the base %s", pr.Materials, baseDigest)
	}
	if pr.Invocation.Parameters.Args["build-arg:FOO"] != "bar" {
		t.Errorf("max mode args %v, want build-arg:FOO=bar", pr.Invocation.Parameters.Args)
	}
	if pr.Invocation.ConfigSource.EntryPoint != "Dockerfile" || "sha256:"+pr.Invocation.ConfigSource.Digest["sha256"] != sha256Of([]byte(dockerfile)) {
		t.Errorf("configSource %+v, want the Dockerfile's digest", pr.Invocation.ConfigSource)
	}
	if pr.Metadata.BuildKit.VCS["revision"] != commit {
		t.Errorf("vcs %v, want revision %s", pr.Metadata.BuildKit.VCS, commit)
	}

	// The OCI layout holds the same index, readable by skopeo and umoci.
	var layoutIdx v1.IndexManifest
	readJSON(t, filepath.Join(out, "index.json"), &layoutIdx)
	if len(layoutIdx.Manifests) != 1 || "sha256:"+layoutIdx.Manifests[0].Digest.Hex != sha256Of(raw) {
		t.Errorf("layout index.json %+v, want one entry for the pushed index %s", layoutIdx.Manifests, sha256Of(raw))
	}
	if msg, err := exec.Command("skopeo", "inspect", "oci:"+out+":1").CombinedOutput(); err != nil {
		t.Errorf("skopeo inspect oci:%s:1: %v\n%s", out, err, msg)
	}
	// umoci 0.4.7 lists the tag but cannot unpack an index of several
	// manifests ("tag is ambiguous", as for BuildKit's output of the same
	// shape); skopeo copies the host platform's image out for it.
	if msg, err := exec.Command("umoci", "ls", "--layout", out).CombinedOutput(); err != nil || strings.TrimSpace(string(msg)) != "1" {
		t.Errorf("umoci ls: %v\n%s", err, msg)
	}
	single := filepath.Join(t.TempDir(), "single")
	if msg, err := exec.Command("skopeo", "copy", "oci:"+out+":1", "oci:"+single+":1").CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, msg)
	}
	bundle := filepath.Join(t.TempDir(), "bundle")
	if msg, err := exec.Command("umoci", "unpack", "--image", single+":1", bundle).CombinedOutput(); err != nil {
		t.Errorf("umoci unpack: %v\n%s", err, msg)
	} else if _, err := os.Stat(filepath.Join(bundle, "rootfs", "usr", "local", "bin", "ibuild")); err != nil {
		t.Errorf("unpacked image lacks the COPYed binary: %v", err)
	}
	layoutBlob := func(d string) []byte {
		data, err := os.ReadFile(filepath.Join(out, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	if got := readStatements(t, layoutBlob(attDesc.Digest.String()), imgDesc.Digest, layoutBlob); len(got) != 2 {
		t.Errorf("layout attestation statements %d, want 2", len(got))
	}
}

// TestAttestAlpineMin: the SBOM of an Alpine image lists its apk
// packages; min-mode provenance leaves the build args out; type=local gets
// the statements as files; a rebuild gives the same index.
func TestAttestAlpineMin(t *testing.T) {
	tarball := filepath.Join("..", "..", "..", "shared", "testdata", "alpine", "alpine-minirootfs-3.20.3-x86_64.tar.gz")
	if registry.HostPlatform().Architecture != "amd64" {
		t.Skip("the Alpine rootfs used here is x86_64")
	}
	if _, err := os.Stat(tarball); err != nil {
		t.Skipf("Alpine minirootfs not found (../shared/testdata/alpine, the official alpine-minirootfs-3.20.3 tarball): %v", err)
	}
	root := t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "alpine:3.20.3", tarball)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM alpine:3.20.3\nARG FOO\nRUN echo hi > /hi\n"})
	out := filepath.Join(t.TempDir(), "oci")
	local := filepath.Join(t.TempDir(), "fs")
	mustRun(t, "--root", root, "--progress", "plain", "-t", "alp:1", "-o", "type=oci,dest="+out, "-o", "type=local,dest="+local,
		"--attest", "type=sbom", "--attest", "type=provenance,mode=min", "--build-arg", "FOO=secret-ish", dir)
	// type=local: the statements beside the files, about the files.
	for _, name := range []string{"sbom.spdx.json", "provenance.json"} {
		var st statement
		readJSON(t, filepath.Join(local, name), &st)
		hi := sha256Of([]byte("hi\n"))
		found := false
		for _, s := range st.Subject {
			found = found || s.Name == "hi" && "sha256:"+s.Digest["sha256"] == hi
		}
		if !found || len(st.Subject) < 10 {
			t.Errorf("%s: %d subjects, want every file, /hi with %s", name, len(st.Subject), hi)
		}
		if fi, err := os.Stat(filepath.Join(local, name)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", name, fi.Mode(), err)
		}
	}
	indexDigest, sts := layoutStatements(t, out)
	purls := checkSBOM(t, sts[attest.PredicateSPDX].Predicate)
	if p := purls["musl"]; !strings.HasPrefix(p, "pkg:apk/alpine/musl@") || !strings.Contains(p, "distro=alpine-3.20.3") {
		t.Errorf("musl purl %q", p)
	}
	if n := len(purls); n < 14 {
		t.Errorf("%d packages in the SBOM, want the 14 apk packages and the image", n)
	}
	prov := string(sts[attest.PredicateSLSA02].Predicate)
	if strings.Contains(prov, "secret-ish") || strings.Contains(prov, "build-arg:") {
		t.Errorf("min-mode provenance carries the build args: %s", prov)
	}
	if msg, err := exec.Command("skopeo", "inspect", "oci:"+out+":1").CombinedOutput(); err != nil {
		t.Errorf("skopeo inspect: %v\n%s", err, msg)
	}
	// Reproducible: a rebuild (from the cache) gives the same index, so
	// the same SBOM and provenance bytes.
	again := filepath.Join(t.TempDir(), "oci")
	mustRun(t, "--root", root, "-q", "-t", "alp:1", "-o", "type=oci,dest="+again,
		"--attest", "type=sbom", "--attest", "type=provenance,mode=min", "--build-arg", "FOO=secret-ish", dir)
	var againIdx v1.IndexManifest
	readJSON(t, filepath.Join(again, "index.json"), &againIdx)
	if againIdx.Manifests[0].Digest != indexDigest {
		t.Errorf("rebuild's index %s, first %s", againIdx.Manifests[0].Digest, indexDigest)
	}
}

// TestAttestGitContext: the provenance of a build from a git URL names the
// URL (credentials removed) and the commit checked out, as BuildKit's.
func TestAttestGitContext(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("git not installed: %v", err)
	}
	repo := t.TempDir()
	writeTree(t, repo, map[string]string{"Dockerfile": "FROM scratch\nCOPY v.txt /v.txt\n", "v.txt": "v\n"})
	commit := gitCommit(t, repo)
	out := filepath.Join(t.TempDir(), "oci")
	url := "git+file://" + repo
	mustRun(t, "--root", t.TempDir(), "--progress", "plain", "--provenance=true", "-o", "type=oci,dest="+out, url+"#"+commit)
	_, sts := layoutStatements(t, out)
	if sts[attest.PredicateSLSA02].Subject[0].Name != "_" {
		t.Errorf("untagged image: subject %+v, want the placeholder name _", sts[attest.PredicateSLSA02].Subject)
	}
	var pr struct {
		Materials []struct {
			URI    string
			Digest map[string]string
		}
		Invocation struct{ ConfigSource struct{ URI string } }
	}
	if err := json.Unmarshal(sts[attest.PredicateSLSA02].Predicate, &pr); err != nil {
		t.Fatal(err)
	}
	want := "file://" + repo
	if pr.Invocation.ConfigSource.URI != want || len(pr.Materials) != 1 || pr.Materials[0].URI != want || pr.Materials[0].Digest["sha1"] != commit {
		t.Errorf("configSource %q, materials %+v; want %s at %s", pr.Invocation.ConfigSource.URI, pr.Materials, want, commit)
	}
}

// TestAttestLayoutContext: an image read from an oci-layout:// named
// context is a pkg:oci material with the digest it had in the layout.
func TestAttestLayoutContext(t *testing.T) {
	root := t.TempDir()
	first := t.TempDir()
	writeTree(t, first, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "base\n"})
	lay := filepath.Join(t.TempDir(), "lay")
	mustRun(t, "--root", root, "-q", "-t", "lay:1", "-o", "type=oci,dest="+lay, first)
	var li v1.IndexManifest
	readJSON(t, filepath.Join(lay, "index.json"), &li)
	second := t.TempDir()
	writeTree(t, second, map[string]string{"Dockerfile": "FROM base\nCOPY g /g\n", "g": "top\n"})
	out := filepath.Join(t.TempDir(), "oci")
	mustRun(t, "--root", root, "-q", "--build-context", "base=oci-layout://"+lay+":1", "--provenance=true",
		"-o", "type=oci,dest="+out, second)
	_, sts := layoutStatements(t, out)
	var pr struct {
		Materials []struct {
			URI    string
			Digest map[string]string
		}
	}
	if err := json.Unmarshal(sts[attest.PredicateSLSA02].Predicate, &pr); err != nil {
		t.Fatal(err)
	}
	if len(pr.Materials) != 1 || !strings.HasPrefix(pr.Materials[0].URI, "pkg:oci/lay@1?platform=") || pr.Materials[0].Digest["sha256"] != li.Manifests[0].Digest.Hex {
		t.Errorf("materials %+v, want pkg:oci/lay@1 at %s", pr.Materials, li.Manifests[0].Digest)
	}
}
