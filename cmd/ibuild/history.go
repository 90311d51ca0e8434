package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
)

func newHistoryCmd(g *globalOptions) *cobra.Command {
	var noTrunc bool
	cmd := &cobra.Command{
		Use:   "history IMAGE",
		Short: "Show the steps and layers of an image in the local store",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.store(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			img, _, err := storedImage(cmd.Context(), s, args[0])
			if err != nil {
				return err
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return err
			}
			m, err := img.Manifest()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LAYER\tSIZE (compressed)\tCREATED BY")
			li := 0
			var total int64
			for _, h := range cf.History {
				id, size := "<none>", "0B"
				if !h.EmptyLayer && li < len(m.Layers) {
					l := m.Layers[li]
					id, size = l.Digest.Hex[:12], units.HumanSizeWithPrecision(float64(l.Size), 3)
					total += l.Size
					li++
				}
				by := strings.TrimSuffix(h.CreatedBy, " # buildkit")
				if !noTrunc && len(by) > 70 {
					by = by[:67] + "..."
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", id, size, by)
			}
			for ; li < len(m.Layers); li++ { // layers without history entries
				l := m.Layers[li]
				total += l.Size
				fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Digest.Hex[:12], units.HumanSizeWithPrecision(float64(l.Size), 3), "")
			}
			fmt.Fprintf(tw, "\t%s\ttotal of %d layers (%d bytes compressed)\n", units.HumanSizeWithPrecision(float64(total), 3), len(m.Layers), total)
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	return cmd
}
