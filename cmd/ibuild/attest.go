package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ibuild/ibuild/attest"
	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/internal/atomicfile"
	"github.com/ibuild/ibuild/registry"
)

// attestOptions are the attestations a build attaches: --sbom,
// --provenance and --attest, as docker buildx spells them.
type attestOptions struct {
	sbom bool
	// provenance is the provenance mode: "" (none), "min" or "max".
	provenance string
	builderID  string
}

func (a attestOptions) any() bool { return a.sbom || a.provenance != "" }

// parseAttest reads --sbom (true|false, or KEY=VALUE fields),
// --provenance (true|false|mode=min|max, builder-id=ID) and every
// --attest type=sbom|provenance[,...] (later flags win, as in buildx).
// --provenance=true is mode=min, buildx's default mode.
func parseAttest(sbom, provenance string, attests []string) (attestOptions, error) {
	var a attestOptions
	if sbom != "" {
		if err := a.set("sbom", "--sbom", sbom); err != nil {
			return a, err
		}
	}
	if provenance != "" {
		if err := a.set("provenance", "--provenance", provenance); err != nil {
			return a, err
		}
	}
	for _, v := range attests {
		f, err := parseFields("--attest", v, "type", "disabled", "mode", "builder-id", "version", "generator")
		if err != nil {
			return a, err
		}
		typ := f["type"]
		delete(f, "type")
		if typ != "sbom" && typ != "provenance" {
			return a, fmt.Errorf("invalid --attest %q: type must be sbom or provenance", v)
		}
		if err := a.apply(typ, "--attest "+v, f); err != nil {
			return a, err
		}
	}
	return a, nil
}

// set applies one --sbom or --provenance value.
func (a *attestOptions) set(typ, flag, v string) error {
	if b, err := strconv.ParseBool(v); err == nil {
		return a.apply(typ, flag+"="+v, map[string]string{"disabled": strconv.FormatBool(!b)})
	}
	f, err := parseFields(flag, v, "disabled", "mode", "builder-id", "version", "generator")
	if err != nil {
		return err
	}
	return a.apply(typ, flag+"="+v, f)
}

// apply sets an attestation from its fields.
func (a *attestOptions) apply(typ, what string, f map[string]string) error {
	if g, ok := f["generator"]; ok {
		return fmt.Errorf("invalid %s: generator=%s: ibuild's SBOM is built in (no scanner image)", what, g)
	}
	disabled := false
	if d, ok := f["disabled"]; ok {
		b, err := strconv.ParseBool(d)
		if err != nil {
			return fmt.Errorf("invalid %s: disabled must be true or false", what)
		}
		disabled = b
	}
	if typ == "sbom" {
		for k := range f {
			if k != "disabled" {
				return fmt.Errorf("invalid %s: sbom takes no %s", what, k)
			}
		}
		a.sbom = !disabled
		return nil
	}
	if v, ok := f["version"]; ok && v != "v0.2" {
		return fmt.Errorf("invalid %s: only SLSA provenance version v0.2 is supported", what)
	}
	mode := attest.ModeMin
	if m, ok := f["mode"]; ok {
		if m != attest.ModeMin && m != attest.ModeMax {
			return fmt.Errorf("invalid %s: mode must be min or max", what)
		}
		mode = m
	}
	a.provenance = mode
	if disabled {
		a.provenance = ""
	}
	if id, ok := f["builder-id"]; ok {
		a.builderID = id
	}
	return nil
}

// attestInputs are what provenance needs beyond the build's result.
type attestInputs struct {
	git     *attest.Git
	secrets []string
	ssh     []string
}

// statements makes the requested in-toto statements about one platform's
// image of res.
func statements(ctx context.Context, a attestOptions, pi platformImage, res *build.Result, opt build.Options, in attestInputs, store *cache.Store) ([]attest.Statement, error) {
	subjects := attest.Subjects(opt.Tags, pi.platform, pi.manifest.Digest)
	var out []attest.Statement
	if a.sbom {
		name := "image"
		if len(opt.Tags) > 0 {
			name = registry.FamiliarName(opt.Tags[0])
		}
		created := build.DefaultEpoch
		if opt.SourceDateEpoch != nil {
			created = *opt.SourceDateEpoch
		}
		doc, err := attest.SBOM(ctx, pi.img, attest.SBOMOptions{Name: name, Created: created,
			Tool: "ibuild-" + ibuildVersion(), Limits: store.LayerLimits()})
		if err != nil {
			return nil, fmt.Errorf("making the SBOM: %w", err)
		}
		out = append(out, attest.NewStatement(attest.PredicateSPDX, doc, subjects))
	}
	if a.provenance != "" {
		po := attest.ProvenanceOptions{Mode: a.provenance, DockerfileName: dockerfileName(opt), Dockerfile: res.Dockerfile,
			Target: opt.Target, BuildArgs: opt.BuildArgs, Labels: opt.Labels, NoCache: opt.NoCache,
			Secrets: in.secrets, SSH: in.ssh, Git: in.git, Platform: registry.HostPlatform(), BuilderID: a.builderID}
		for _, s := range res.Sources {
			po.Materials = append(po.Materials, attest.Material{Ref: s.Ref, Digest: s.Digest, Platform: s.Platform, Local: s.Layout})
		}
		pred, err := attest.Provenance(po)
		if err != nil {
			return nil, fmt.Errorf("making the provenance: %w", err)
		}
		out = append(out, attest.NewStatement(attest.PredicateSLSA02, pred, subjects))
	}
	return out, nil
}

// dockerfileName is the Dockerfile's name as buildx passes it to BuildKit
// (its "filename" option): the file's base name.
func dockerfileName(opt build.Options) string {
	if opt.Dockerfile == "" || opt.Dockerfile == "-" {
		return "Dockerfile"
	}
	return filepath.Base(opt.Dockerfile)
}

// platformImage is one platform's image of a build: what an attestation
// manifest is about.
type platformImage struct {
	img      v1.Image
	manifest v1.Descriptor
	platform v1.Platform
}

// platformImages lists the images of res, one per platform (ibuild builds
// one platform: the list has one entry).
func platformImages(res *build.Result) ([]platformImage, error) {
	cf, err := res.Image.ConfigFile()
	if err != nil {
		return nil, err
	}
	return []platformImage{{img: res.Image, manifest: res.Manifest,
		platform: v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}}}, nil
}

// indexEntry is one platform image of an index and the attestation
// manifest made for it (nil if none).
type indexEntry struct {
	platformImage
	att     v1.Image
	attDesc v1.Descriptor
}

// attestedEntry makes the index entry of one platform's image with its
// attestation manifest (attest.Manifest).
func attestedEntry(pi platformImage, stmts []attest.Statement) (indexEntry, error) {
	e := indexEntry{platformImage: pi}
	if len(stmts) > 0 {
		var err error
		if e.att, e.attDesc, err = attest.Manifest(pi.manifest, stmts); err != nil {
			return indexEntry{}, err
		}
	}
	return e, nil
}

// imageIndex is the OCI index of entries as BuildKit writes it: every
// platform image, then every attestation manifest.
func imageIndex(entries ...indexEntry) v1.ImageIndex {
	var adds []mutate.IndexAddendum
	for _, e := range entries {
		p := e.platform
		adds = append(adds, mutate.IndexAddendum{Add: e.img, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &p}})
	}
	for _, e := range entries {
		if e.att != nil {
			adds = append(adds, mutate.IndexAddendum{Add: e.att, Descriptor: e.attDesc})
		}
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
}

// contextGit returns the commit of the git work tree dir lies in, with
// its origin's URL, or nil when dir is not in one (or git is missing).
// As buildx, it reads HEAD: uncommitted changes are not in it.
func contextGit(ctx context.Context, dir string) *attest.Git {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil
	}
	run := func(args ...string) string {
		cmd := exec.CommandContext(ctx, git, append([]string{"-c", "safe.directory=*", "-C", dir}, args...)...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GIT_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	commit := run("rev-parse", "--verify", "HEAD^{commit}")
	if commit == "" {
		return nil
	}
	return &attest.Git{Commit: commit, URL: run("config", "--get", "remote.origin.url")}
}

// attached are a build's attestations: each platform image's statements
// and the index that carries them with the images.
type attached struct {
	idx   v1.ImageIndex
	stmts [][]attest.Statement
}

// attestIndex makes the attestations o asks for and the index that
// carries them with res's image.
func (o *buildOptions) attestIndex(ctx context.Context, res *build.Result, opt build.Options, git *attest.Git) (*attached, error) {
	in := attestInputs{git: git}
	for id := range opt.Run.Secrets {
		in.secrets = append(in.secrets, id)
	}
	for id := range opt.Run.SSH {
		in.ssh = append(in.ssh, id)
	}
	pis, err := platformImages(res)
	if err != nil {
		return nil, err
	}
	a := &attached{}
	var entries []indexEntry
	for _, pi := range pis {
		stmts, err := statements(ctx, o.att, pi, res, opt, in, opt.Store)
		if err != nil {
			return nil, err
		}
		e, err := attestedEntry(pi, stmts)
		if err != nil {
			return nil, fmt.Errorf("attaching attestations: %w", err)
		}
		entries = append(entries, e)
		a.stmts = append(a.stmts, stmts)
	}
	a.idx = imageIndex(entries...)
	return a, nil
}

// localNames are the files BuildKit's local exporter writes statements to.
var localNames = map[string]string{attest.PredicateSPDX: "sbom.spdx.json", attest.PredicateSLSA02: "provenance.json"}

// writeLocalAttestations writes each statement into the exported root
// filesystem dir as BuildKit's local exporter does: indented JSON, mode
// 0600, its subjects every regular file of dir with its sha256.
func writeLocalAttestations(dir string, stmts []attest.Statement) error {
	var subjects []attest.Subject
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h, _, err := v1.SHA256(f)
		if err != nil {
			return fmt.Errorf("hashing %s: %w", p, err)
		}
		rel, _ := filepath.Rel(dir, p)
		subjects = append(subjects, attest.Subject{Name: filepath.ToSlash(rel), Digest: map[string]string{h.Algorithm: h.Hex}})
		return nil
	})
	if err != nil {
		return fmt.Errorf("attestation subjects: %w", err)
	}
	for _, s := range stmts {
		s.Subject = subjects
		data, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, localNames[s.PredicateType]), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
