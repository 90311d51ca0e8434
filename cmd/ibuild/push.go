package main

import (
	"fmt"
	"io"

	units "github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/registry"
)

// blobLines prints one line per blob event of a push to w.
func blobLines(w io.Writer) registry.Option {
	return registry.WithBlobProgress(func(e registry.BlobEvent) {
		short := e.Digest.Hex
		if len(short) > 12 {
			short = short[:12]
		}
		switch e.State {
		case registry.BlobUploading:
			if e.Attempt > 1 {
				fmt.Fprintf(w, "%s: retrying upload (attempt %d)\n", short, e.Attempt)
				return
			}
			fmt.Fprintf(w, "%s: uploading %s\n", short, units.HumanSize(float64(e.Size)))
		case registry.BlobPushed:
			fmt.Fprintf(w, "%s: pushed\n", short)
		case registry.BlobExists:
			fmt.Fprintf(w, "%s: already exists\n", short)
		case registry.BlobMounted:
			fmt.Fprintf(w, "%s: mounted from another repository\n", short)
		}
	})
}

// pushMediaTypes returns the media types --oci-mediatypes asks for, and
// false when it is not given (push as stored).
func pushMediaTypes(cmd *cobra.Command, ociTypes bool) (registry.MediaTypes, bool) {
	if !cmd.Flags().Changed("oci-mediatypes") {
		return "", false
	}
	if ociTypes {
		return registry.OCITypes, true
	}
	return registry.DockerTypes, true
}

// pushStoredIndex pushes the stored multi-platform image d to dest, in
// OCI or Docker types when --oci-mediatypes is given.
func pushStoredIndex(cmd *cobra.Command, s *cache.Store, d v1.Descriptor, dest string, ociTypes bool, ropts []registry.Option) error {
	idx, err := s.Index(cmd.Context(), d.Digest)
	if err != nil {
		return err
	}
	if mt, ok := pushMediaTypes(cmd, ociTypes); ok {
		if idx, err = registry.IndexWithMediaTypes(idx, mt); err != nil {
			return fmt.Errorf("pushing %s: %w", dest, err)
		}
	}
	dig, err := idx.Digest()
	if err != nil {
		return err
	}
	if err := registry.PushIndex(cmd.Context(), idx, dest, ropts...); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pushed %s@%s\n", dest, dig)
	return nil
}

func newPushCmd(g *globalOptions) *cobra.Command {
	var insecure []string
	var ociTypes bool
	cmd := &cobra.Command{
		Use:   "push NAME[:TAG] [DESTINATION]",
		Short: "Push an image from the local store to a registry",
		Long: "Push an image from the local store to a registry. The manifest is pushed as stored " +
			"(a built image has OCI media types) unless --oci-mediatypes is given: true rewrites it " +
			"with OCI types, false with Docker schema 2 types. Blobs are never changed.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.store(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			dest := args[0]
			if len(args) == 2 {
				dest = args[1]
			}
			ropts, err := g.registryOptions(insecure)
			if err != nil {
				return err
			}
			ropts = append(ropts, blobLines(cmd.ErrOrStderr()), registry.WithMountFrom(args[0]))
			if n, err := registry.Normalize(args[0]); err == nil {
				if d, err := s.Resolve(cmd.Context(), n); err == nil && d.MediaType.IsIndex() {
					return pushStoredIndex(cmd, s, d, dest, ociTypes, ropts)
				}
			}
			img, desc, err := storedImage(cmd.Context(), s, args[0])
			if err != nil {
				return err
			}
			if mt, ok := pushMediaTypes(cmd, ociTypes); ok {
				if img, err = registry.WithMediaTypes(img, mt); err != nil {
					return fmt.Errorf("pushing %s: %w", args[0], err)
				}
				if d, err := img.Digest(); err == nil {
					desc.Digest = d
				}
			}
			err = registry.Push(cmd.Context(), img, dest, ropts...)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pushed %s@%s\n", dest, desc.Digest)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&insecure, "insecure-registry", nil, "registry host to reach over plain HTTP")
	cmd.Flags().BoolVar(&ociTypes, "oci-mediatypes", true, "rewrite the manifest with OCI (true) or Docker schema 2 (false) media types; unset pushes it as stored")
	return cmd
}

func newPullCmd(g *globalOptions) *cobra.Command {
	var insecure []string
	var platform string
	cmd := &cobra.Command{
		Use:   "pull NAME[:TAG|@DIGEST]",
		Short: "Pull an image from a registry into the local store",
		Long: "Pull an image from a registry into the local store. Only blobs the store lacks are " +
			"fetched, in parallel, each verified against its digest and size before it is kept.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.store(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			n, err := registry.Normalize(args[0])
			if err != nil {
				return err
			}
			ropts, err := g.registryOptions(insecure)
			if err != nil {
				return err
			}
			plats, err := build.ParsePlatforms(platform)
			if err != nil {
				return err
			}
			switch len(plats) {
			case 0:
			case 1:
				ropts = append(ropts, registry.WithPlatform(plats[0]))
			default:
				return fmt.Errorf("pull takes one --platform, not %d", len(plats))
			}
			img, err := registry.Image(cmd.Context(), args[0], ropts...)
			if err != nil {
				return err
			}
			desc, err := s.WriteImage(cmd.Context(), img)
			if err != nil {
				return fmt.Errorf("pulling %s: %w", args[0], err)
			}
			if err := s.Tag(cmd.Context(), n, desc); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s@%s\n", registry.FamiliarName(n), desc.Digest)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&insecure, "insecure-registry", nil, "registry host to reach over plain HTTP")
	cmd.Flags().StringVar(&platform, "platform", "", "the platform to pull from a multi-platform image (default: the host's)")
	return cmd
}
