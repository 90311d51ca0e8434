package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

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
	switch o.typ {
	case "oci":
		if att != nil {
			err = registry.WriteOCILayoutIndex(ctx, o.dest, att.idx, tags)
			break
		}
		err = registry.WriteOCILayout(ctx, o.dest, res.Image, tags)
	case "docker":
		err = registry.WriteDockerArchive(ctx, o.dest, res.Image, tags)
	case "local":
		err = build.ExportRootfs(ctx, store, res.Layers, o.dest)
		if err == nil && att != nil {
			err = writeLocalAttestations(o.dest, att.stmts[0])
		}
	case "registry":
		return nil // pushed by runBuild, with --push
	}
	if err != nil {
		return fmt.Errorf("exporting type=%s to %s: %w", o.typ, o.dest, err)
	}
	return nil
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
}

func writeMetadata(name string, res *build.Result, tags []string) error {
	m := metadata{ImageDigest: res.Manifest.Digest.String(), ConfigDigest: res.ConfigDigest.String(),
		ImageName: strings.Join(tags, ","), Layers: res.Layers, Steps: res.Steps, Warnings: res.Warnings}
	if m.Layers == nil {
		m.Layers = []layer.Info{}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(name, append(data, '\n'), 0o644)
}
