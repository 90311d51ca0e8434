package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/ibuild/ibuild/cache"
)

// withStore opens the store for one command and closes it afterwards, so
// that its shared lock on ROOT/gc.lock is released.
func withStore(cmd *cobra.Command, g *globalOptions, fn func(*cache.Store) error) error {
	s, err := cache.Open(cmd.Context(), g.root, cache.WithWarnings(cmd.ErrOrStderr()))
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

func newCacheCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Manage the build cache",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCacheDuCmd(g), newCachePruneCmd(g))
	return cmd
}

func newCacheDuCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "du",
		Short: "Show disk usage of the store by type",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, g, func(s *cache.Store) error {
				u, err := s.DiskUsage(cmd.Context())
				if err != nil {
					return err
				}
				return printUsage(cmd, u, true)
			})
		},
	}
}

// printUsage prints one row per kind of content, and a total.
func printUsage(cmd *cobra.Command, u cache.Usage, header bool) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
	if header {
		fmt.Fprintln(tw, "TYPE\tCOUNT\tSIZE\tBYTES")
	}
	for _, r := range []struct {
		name string
		c    cache.Category
	}{
		{"blobs", u.Blobs}, {"snapshots", u.Snapshots}, {"mounts", u.CacheMounts},
		{"steps", u.Steps}, {"explain", u.Explanations}, {"memos", u.ContextMemos},
		{"scratch", u.Scratch}, {"total", u.Total()},
	} {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", r.name, r.c.Count, units.HumanSizeWithPrecision(float64(r.c.Size), 3), r.c.Size)
	}
	return tw.Flush()
}

// pruneOptions are the flags of `ibuild cache prune`.
type pruneOptions struct {
	all         bool
	keepStorage string
	filters     []string
}

func (o *pruneOptions) toCache() (cache.PruneOptions, error) {
	po := cache.PruneOptions{All: o.all}
	if o.keepStorage != "" {
		n, err := units.RAMInBytes(o.keepStorage)
		if err != nil || n < 0 {
			return po, fmt.Errorf("invalid --keep-storage %q: want a size such as 10GB or 512MiB", o.keepStorage)
		}
		po.KeepStorage = n
	}
	for _, f := range o.filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != "until" {
			return po, fmt.Errorf("invalid --filter %q: only until=DURATION is supported", f)
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return po, fmt.Errorf("invalid --filter %q: want a duration such as 24h or 90m", f)
		}
		po.Until = d
	}
	return po, nil
}

func newCachePruneCmd(g *globalOptions) *cobra.Command {
	o := &pruneOptions{}
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache, least recently used first",
		Long: `Remove build cache, least recently used first: step records, snapshots,
cache mounts, and blobs that no tag needs. Tagged images stay intact
unless --all, which removes them (tags and blobs) too. Prune refuses to
run while a build or another ibuild command has the store open.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			po, err := o.toCache()
			if err != nil {
				return err
			}
			return withStore(cmd, g, func(s *cache.Store) error {
				rep, err := s.Prune(cmd.Context(), po)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				for _, t := range rep.Untagged {
					fmt.Fprintf(out, "untagged: %s\n", t)
				}
				fmt.Fprintln(out, "Removed:")
				if err := printUsage(cmd, rep.Removed, true); err != nil {
					return err
				}
				fmt.Fprintf(out, "Total reclaimed space: %s\n", units.HumanSizeWithPrecision(float64(rep.Removed.Total().Size), 3))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "also remove tagged images")
	f.StringVar(&o.keepStorage, "keep-storage", "", "keep at most this much data (e.g. 10GB)")
	f.StringArrayVar(&o.filters, "filter", nil, "only remove entries unused for longer than until=DURATION")
	return cmd
}
