package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	units "github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/registry"
)

func newImagesCmd(g *globalOptions) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "images",
		Short: "List images in the local store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.store(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			tags, err := s.Tags(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if quiet {
				for _, t := range tags {
					fmt.Fprintln(out, t.Manifest.Digest)
				}
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tSIZE")
			for _, t := range tags {
				repo, tag := splitTag(registry.FamiliarName(t.Name))
				size := imageSize(cmd.Context(), s, t.Manifest)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", repo, tag, t.Manifest.Digest.Hex[:12], size)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show digests")
	return cmd
}

// imageSize is the compressed size of the layers of the stored image d,
// or "-"; for a multi-platform image, that of every platform's, with
// their count.
func imageSize(ctx context.Context, s *cache.Store, d v1.Descriptor) string {
	manifests, suffix := []v1.Hash{d.Digest}, ""
	if d.MediaType.IsIndex() {
		im, err := s.IndexManifest(ctx, d.Digest)
		if err != nil {
			return "-"
		}
		manifests = nil
		for _, m := range im.Manifests {
			manifests = append(manifests, m.Digest)
		}
		suffix = fmt.Sprintf(" (%d platforms)", len(manifests))
	}
	var n int64
	for _, h := range manifests {
		img, err := s.Image(ctx, h)
		if err != nil {
			return "-"
		}
		m, err := img.Manifest()
		if err != nil {
			return "-"
		}
		for _, l := range m.Layers {
			n += l.Size
		}
	}
	return units.HumanSizeWithPrecision(float64(n), 3) + suffix
}

func splitTag(s string) (string, string) {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return s[:i], "<none>"
	}
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i:], "/") {
		return s, "latest"
	}
	return s[:i], s[i+1:]
}

func newRmiCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "rmi IMAGE [IMAGE...]",
		Short: "Remove image tags from the local store",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.store(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			for _, a := range args {
				n, err := registry.Normalize(a)
				if err != nil {
					return err
				}
				if err := s.Untag(cmd.Context(), n); err != nil {
					return fmt.Errorf("removing %s: %w", a, err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "Untagged:", a)
			}
			return nil
		},
	}
}

// storedImage finds the image a user reference names in the local store.
func storedImage(ctx context.Context, s *cache.Store, ref string) (v1.Image, v1.Descriptor, error) {
	n, err := registry.Normalize(ref)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	desc, err := s.Resolve(ctx, n)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("image %s: %w", ref, err)
	}
	if desc.MediaType.IsIndex() {
		// A multi-platform image: the host's platform.
		im, err := s.IndexManifest(ctx, desc.Digest)
		if err != nil {
			return nil, v1.Descriptor{}, fmt.Errorf("image %s: %w", ref, err)
		}
		host := registry.HostPlatform()
		host.OS = "linux"
		if desc, err = registry.MatchPlatform(im.Manifests, host); err != nil {
			return nil, v1.Descriptor{}, fmt.Errorf("image %s: %w", ref, err)
		}
	}
	img, err := s.Image(ctx, desc.Digest)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("image %s: %w", ref, err)
	}
	return img, desc, nil
}
