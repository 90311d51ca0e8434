package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/registry"
)

func newImportCmd(g *globalOptions) *cobra.Command {
	var tags, changes []string
	var message, compression string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] ROOTFS.tar|DIR|- ",
		Short: "Make a one-layer base image from a root filesystem (like docker import)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := layer.ParseCompression(compression)
			if err != nil {
				return err
			}
			s, err := g.store(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			norm, err := normalizeTags(tags)
			if err != nil {
				return err
			}
			sde, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			res, err := build.Import(cmd.Context(), build.ImportOptions{
				Source: args[0], Stdin: cmd.InOrStdin(), Tags: norm, Changes: changes,
				Message: message, Compression: c, Store: s, SourceDateEpoch: sde,
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Manifest.Digest)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&tags, "tag", "t", nil, "name and optionally a tag (name:tag)")
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "apply a Dockerfile instruction to the image config")
	cmd.Flags().StringVarP(&message, "message", "m", "", "history comment")
	cmd.Flags().StringVar(&compression, "compression", "gzip", "layer compression: gzip, zstd or none")
	return cmd
}

func normalizeTags(tags []string) ([]string, error) {
	var out []string
	for _, t := range tags {
		n, err := registry.Normalize(t)
		if err != nil {
			return nil, fmt.Errorf("invalid tag %q: %w", t, err)
		}
		out = append(out, n)
	}
	return out, nil
}
