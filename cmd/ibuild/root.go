package main

import (
	"fmt"
	"os"
	"path/filepath"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// globalOptions are flags shared by every command.
type globalOptions struct {
	root         string
	maxLayerSize string
}

func defaultRoot() string {
	if os.Geteuid() == 0 {
		return "/var/lib/ibuild"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "ibuild")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "ibuild")
}

func (g *globalOptions) store(cmd *cobra.Command) (*cache.Store, error) {
	n, err := units.RAMInBytes(g.maxLayerSize)
	if err != nil {
		return nil, fmt.Errorf("invalid --max-layer-size %q: %w", g.maxLayerSize, err)
	}
	return cache.Open(cmd.Context(), g.root, cache.WithWarnings(cmd.ErrOrStderr()),
		cache.WithLayerLimits(layer.WithMaxSize(n)))
}

// newRootCmd returns the ibuild command: like `docker build`, the root
// command builds, and `ibuild build` is the same command.
func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	bo := &buildOptions{}
	root := &cobra.Command{
		Use:           "ibuild [OPTIONS] PATH",
		Short:         "Build OCI images from Dockerfiles, without a daemon",
		Args:          cobra.MaximumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return runBuild(cmd, g, bo, args[0])
		},
	}
	root.PersistentFlags().StringVar(&g.root, "root", defaultRoot(), "state directory (image store and build cache)")
	root.PersistentFlags().StringVar(&g.maxLayerSize, "max-layer-size", units.BytesSize(float64(layer.DefaultMaxSize)),
		"refuse to extract a layer whose uncompressed size exceeds this (a decompression bomb guard)")
	bo.bind(root)
	root.AddCommand(
		newBuildCmd(g),
		newImportCmd(g),
		newImagesCmd(g),
		newRmiCmd(g),
		newHistoryCmd(g),
		newPushCmd(g),
		newPullCmd(g),
		newCacheCmd(g),
		newLoginCmd(g),
		newLogoutCmd(g),
		newInspectCmd(g),
		newCompareCmd(g),
	)
	return root
}
