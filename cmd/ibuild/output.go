package main

import (
	"encoding/json"
	"fmt"
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
	typ  string // oci, docker, local
	dest string
}

// parseOutputs parses docker's -o syntax: "type=oci,dest=DIR", or a bare
// path meaning type=local.
func parseOutputs(vals []string) ([]output, error) {
	var out []output
	for _, v := range vals {
		if !strings.Contains(v, "=") {
			out = append(out, output{typ: "local", dest: v})
			continue
		}
		f, err := parseFields("--output", v, "type", "dest")
		if err != nil {
			return nil, err
		}
		o := output{typ: f["type"], dest: f["dest"]}
		switch o.typ {
		case "oci", "docker", "local":
		default:
			return nil, fmt.Errorf("invalid --output %q: type must be oci, docker or local", v)
		}
		if o.dest == "" {
			return nil, fmt.Errorf("invalid --output %q: dest is required", v)
		}
		out = append(out, o)
	}
	return out, nil
}

func (o output) write(cmd *cobra.Command, store *cache.Store, res *build.Result, tags []string) error {
	ctx := cmd.Context()
	var err error
	switch o.typ {
	case "oci":
		err = registry.WriteOCILayout(ctx, o.dest, res.Image, tags)
	case "docker":
		err = registry.WriteDockerArchive(ctx, o.dest, res.Image, tags)
	case "local":
		err = build.ExportRootfs(ctx, store, res.Layers, o.dest)
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
