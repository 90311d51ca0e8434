package main

import (
	"fmt"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/registry"
)

// globalOptions are flags shared by every command.
type globalOptions struct {
	root            string
	maxLayerSize    string
	maxLayerEntries int
	maxLayerRatio   int64
	maxManifestSize string
	maxConfigSize   string
	idleTimeout     time.Duration
	transferTimeout time.Duration
	maxDownloadSize string
}

// timeouts are the transfer timeouts of the flags; 0 disables one.
func (g *globalOptions) timeouts() registry.Timeouts {
	off := func(d time.Duration) time.Duration {
		if d == 0 {
			return -1
		}
		return d
	}
	return registry.Timeouts{Idle: off(g.idleTimeout), Total: off(g.transferTimeout)}
}

// downloadLimit is --max-download-size in bytes.
func (g *globalOptions) downloadLimit() (int64, error) {
	n, err := units.RAMInBytes(g.maxDownloadSize)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid --max-download-size %q", g.maxDownloadSize)
	}
	return n, nil
}

// registryOptions are the registry options of every command, assembled in
// this one place from the global flags: the manifest and config size
// limits, docker's credentials and ibuild's User-Agent, plus the command's
// --insecure-registry hosts.
func (g *globalOptions) registryOptions(insecure []string) ([]registry.Option, error) {
	limits, err := g.registryLimits()
	if err != nil {
		return nil, err
	}
	return append(limits, registry.WithInsecureRegistries(insecure...), keychainOpt(), registry.WithUserAgent(userAgent())), nil
}

// registryLimits are the size limits for manifests and configs read from
// registries and layouts.
func (g *globalOptions) registryLimits() ([]registry.Option, error) {
	m, err := units.RAMInBytes(g.maxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("invalid --max-manifest-size %q: %w", g.maxManifestSize, err)
	}
	c, err := units.RAMInBytes(g.maxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("invalid --max-config-size %q: %w", g.maxConfigSize, err)
	}
	t := g.timeouts()
	return []registry.Option{registry.WithMaxManifestSize(m), registry.WithMaxConfigSize(c), registry.WithTimeouts(t.Idle, t.Total)}, nil
}

// defaultRoot is /var/lib/ibuild for root, and for a rootless builder
// $XDG_DATA_HOME/ibuild (~/.local/share/ibuild).
func defaultRoot() string {
	if r := rootlessDefaultRoot(); r != "" {
		return r
	}
	return "/var/lib/ibuild"
}

func (g *globalOptions) store(cmd *cobra.Command) (*cache.Store, error) {
	n, err := units.RAMInBytes(g.maxLayerSize)
	if err != nil {
		return nil, fmt.Errorf("invalid --max-layer-size %q: %w", g.maxLayerSize, err)
	}
	limits := append([]layer.Option{layer.WithMaxSize(n), layer.WithMaxEntries(g.maxLayerEntries), layer.WithMaxRatio(g.maxLayerRatio)},
		rootlessLayerOptions()...)
	probeOpts, err := probeStoreOptions(g.root)
	if err != nil {
		return nil, err
	}
	opts := append([]cache.Option{cache.WithWarnings(cmd.ErrOrStderr()), cache.WithLayerLimits(limits...)}, probeOpts...)
	return cache.Open(cmd.Context(), g.root, opts...)
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
		Version:       ibuildVersion(),
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
	root.PersistentFlags().IntVar(&g.maxLayerEntries, "max-layer-entries", layer.DefaultMaxEntries,
		"refuse to extract a layer with more tar entries than this")
	root.PersistentFlags().Int64Var(&g.maxLayerRatio, "max-layer-ratio", layer.DefaultMaxRatio,
		"refuse a layer that expands more than this many times its compressed size past 64 MiB (0 = no limit)")
	root.PersistentFlags().StringVar(&g.maxManifestSize, "max-manifest-size", units.BytesSize(float64(registry.DefaultMaxManifestSize)),
		"refuse manifests and indexes larger than this")
	root.PersistentFlags().StringVar(&g.maxConfigSize, "max-config-size", units.BytesSize(float64(registry.DefaultMaxConfigSize)),
		"refuse image configs larger than this")
	root.PersistentFlags().DurationVar(&g.idleTimeout, "network-idle-timeout", registry.DefaultIdleTimeout,
		"fail a registry request or ADD <url> download that receives nothing for this long (0 = no limit)")
	root.PersistentFlags().DurationVar(&g.transferTimeout, "transfer-timeout", registry.DefaultTransferTimeout,
		"fail a registry response or ADD <url> download not finished within this, plus 1s per MiB it declares (0 = no limit)")
	root.PersistentFlags().StringVar(&g.maxDownloadSize, "max-download-size", units.BytesSize(float64(build.DefaultMaxDownloadSize)),
		"refuse an ADD <url> download larger than this")
	root.SetVersionTemplate("ibuild version {{.Version}}\n")
	bo.bind(root)
	root.AddCommand(
		newVersionCmd(),
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
		newBinfmtCmd(),
	)
	addCompletions(root, g)
	return root
}
