package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/internal/atomicfile"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/registry"
)

// output is one -o/--output destination.
type output struct {
	typ  string // oci, docker, local, registry
	dest string
	// dockerTypes pushes with Docker media types (type=registry,
	// oci-mediatypes=false).
	dockerTypes bool
}

// parseOutputs parses docker's -o syntax: "type=oci,dest=DIR", or a bare
// path meaning type=local. type=registry pushes every tag, as --push does,
// and takes BuildKit's oci-mediatypes=true|false.
func parseOutputs(vals []string) ([]output, error) {
	var out []output
	for _, v := range vals {
		if !strings.Contains(v, "=") {
			out = append(out, output{typ: "local", dest: v})
			continue
		}
		f, err := parseFields("--output", v, "type", "dest", "oci-mediatypes")
		if err != nil {
			return nil, err
		}
		o := output{typ: f["type"], dest: f["dest"]}
		if s, ok := f["oci-mediatypes"]; ok {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return nil, fmt.Errorf("invalid --output %q: oci-mediatypes must be true or false", v)
			}
			o.dockerTypes = !b
		}
		switch o.typ {
		case "oci", "docker", "local", "registry":
		default:
			return nil, fmt.Errorf("invalid --output %q: type must be oci, docker, local or registry", v)
		}
		if o.dockerTypes && o.typ != "registry" {
			return nil, fmt.Errorf("invalid --output %q: oci-mediatypes applies to type=registry only (type=oci is OCI, type=docker is Docker)", v)
		}
		if o.typ == "registry" {
			if o.dest != "" {
				return nil, fmt.Errorf("invalid --output %q: type=registry pushes the --tag names and takes no dest", v)
			}
			out = append(out, o)
			continue
		}
		if o.dest == "" {
			return nil, fmt.Errorf("invalid --output %q: dest is required", v)
		}
		out = append(out, o)
	}
	return out, nil
}

// write exports res to o. att, when not nil, holds the image's
// attestations: type=oci writes the index of the image and its
// attestation manifest (an index even for one platform, as BuildKit's oci
// exporter), type=local writes each statement beside the root filesystem
// (BuildKit's local exporter), type=docker carries the image only.
func (o output) write(cmd *cobra.Command, store *cache.Store, res *build.Result, tags []string, att *attached) error {
	ctx := cmd.Context()
	var err error
	switch {
	case o.typ == "oci" && att != nil:
		err = registry.WriteOCILayoutIndex(ctx, o.dest, att.idx, tags)
	case o.typ == "oci" && res.Index != nil:
		err = registry.WriteOCILayoutIndex(ctx, o.dest, res.Index, tags)
	case o.typ == "oci":
		err = registry.WriteOCILayout(ctx, o.dest, res.Image, tags)
	case o.typ == "docker" && res.Index != nil:
		err = errDockerMulti
	case o.typ == "docker":
		err = registry.WriteDockerArchive(ctx, o.dest, res.Image, tags)
	case o.typ == "local" && res.Index != nil:
		// One directory per platform, named as BuildKit's: linux_arm64.
		for i, p := range res.Platforms {
			dir := filepath.Join(o.dest, strings.ReplaceAll(platformName(p.Platform), "/", "_"))
			if err = build.ExportRootfs(ctx, store, p.Layers, dir); err != nil {
				break
			}
			if att != nil && i < len(att.stmts) {
				if err = writeLocalAttestations(dir, att.stmts[i]); err != nil {
					break
				}
			}
		}
	case o.typ == "local":
		err = build.ExportRootfs(ctx, store, res.Layers, o.dest)
		if err == nil && att != nil {
			err = writeLocalAttestations(o.dest, att.stmts[0])
		}
	case o.typ == "registry":
		return nil // pushed by runBuild, with --push
	}
	if err != nil {
		return fmt.Errorf("exporting type=%s to %s: %w", o.typ, o.dest, err)
	}
	return nil
}

// errDockerMulti refuses a Docker archive (type=docker, --load) of a
// multi-platform build, as BuildKit's docker exporter does.
var errDockerMulti = errors.New("a Docker image archive holds one platform, not a multi-platform index: choose one with --platform, or use type=oci")

// checkMultiOutputs refuses, before a multi-platform build starts, the
// outputs that hold one platform only.
func checkMultiOutputs(platform string, outs []output, load bool) error {
	plats, err := build.ParsePlatforms(platform)
	if err != nil || len(plats) < 2 {
		return err
	}
	for _, o := range outs {
		if o.typ == "docker" {
			return fmt.Errorf("--output type=docker: %w", errDockerMulti)
		}
	}
	if load {
		return fmt.Errorf("--load: %w", errDockerMulti)
	}
	return nil
}

// platformName is os/arch[/variant].
func platformName(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// metadata is the --metadata-file document. The containerimage.* keys are
// BuildKit's; the ibuild.* keys are ours.
type metadata struct {
	ImageDigest  string             `json:"containerimage.digest"`
	ConfigDigest string             `json:"containerimage.config.digest"`
	ImageName    string             `json:"image.name,omitempty"`
	Layers       []layer.Info       `json:"ibuild.layers"`
	Steps        []build.StepResult `json:"ibuild.steps"`
	Warnings     []string           `json:"ibuild.warnings,omitempty"`
	// Platforms describes each platform's image of a multi-platform
	// build (containerimage.digest is then the index's).
	Platforms []platformMeta `json:"ibuild.platforms,omitempty"`
}

// platformMeta is one platform's image in the --metadata-file.
type platformMeta struct {
	Platform     string       `json:"platform"`
	ImageDigest  string       `json:"containerimage.digest"`
	ConfigDigest string       `json:"containerimage.config.digest"`
	Layers       []layer.Info `json:"layers"`
}

func writeMetadata(name string, res *build.Result, tags []string) error {
	m := metadata{ImageDigest: res.Manifest.Digest.String(), ConfigDigest: res.ConfigDigest.String(),
		ImageName: strings.Join(tags, ","), Layers: res.Layers, Steps: res.Steps, Warnings: res.Warnings}
	if m.Layers == nil {
		m.Layers = []layer.Info{}
	}
	if res.Index != nil {
		for _, p := range res.Platforms {
			m.Platforms = append(m.Platforms, platformMeta{Platform: platformName(p.Platform), ImageDigest: p.Manifest.Digest.String(),
				ConfigDigest: p.ConfigDigest.String(), Layers: p.Layers})
		}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(name, append(data, '\n'), 0o644)
}
