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
	var message, compression, platform string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] ROOTFS.tar|DIR|- [ROOTFS...]",
		Short: "Make a one-layer base image from a root filesystem (like docker import)",
		Long: `Make a one-layer base image from a root filesystem (like docker import).

With --platform, the config names that platform. A list of platforms takes
one root filesystem per platform, in the same order, and makes a
multi-platform image (an OCI index):

  ibuild import --platform linux/amd64,linux/arm64 -t alpine:3.20.3 \
      alpine-minirootfs-x86_64.tar.gz alpine-minirootfs-aarch64.tar.gz`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := layer.ParseCompression(compression)
			if err != nil {
				return err
			}
			plats, err := build.ParsePlatforms(platform)
			if err != nil {
				return err
			}
			if len(args) != max(len(plats), 1) {
				return fmt.Errorf("import takes one root filesystem per platform: %d given for %d platforms", len(args), max(len(plats), 1))
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
			opt := build.ImportOptions{Stdin: cmd.InOrStdin(), Changes: changes,
				Message: message, Compression: c, Store: s, SourceDateEpoch: sde}
			if len(plats) <= 1 {
				opt.Source, opt.Tags = args[0], norm
				if len(plats) == 1 {
					opt.Platform = plats[0]
				}
				res, err := build.Import(cmd.Context(), opt)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), res.Manifest.Digest)
				return nil
			}
			var imgs []build.PlatformImage
			for i, p := range plats {
				opt.Source, opt.Platform = args[i], p
				res, err := build.Import(cmd.Context(), opt)
				if err != nil {
					return err
				}
				imgs = append(imgs, res.Platforms...)
			}
			res, err := build.StoreIndex(cmd.Context(), s, imgs, norm)
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
	cmd.Flags().StringVar(&platform, "platform", "", "platform of the root filesystem; a comma-separated list makes an index of one per platform")
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
