package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ibuild/ibuild/registry"
)

// imageArgCommands are the commands whose image arguments complete from the
// local store's tags, with how many leading arguments name an image
// (-1: every argument).
var imageArgCommands = map[string]int{"rmi": -1, "inspect": 1, "history": 1, "push": 1}

// flagValues are the fixed values a flag's completion offers.
var flagValues = map[string][]string{
	"progress":    {"auto", "tty", "plain", "json"},
	"compression": {"gzip", "zstd", "none"},
	"isolation":   {"builtin", "oci"},
	"network":     {"default", "host", "none"},
	"allow":       {"network.host"},
	"sbom":        {"true", "false"},
	"provenance":  {"mode=min", "mode=max", "true", "false"},
	"attest":      {"type=sbom", "type=provenance,mode=min", "type=provenance,mode=max"},
}

// addCompletions wires shell completion into root: image names for the
// commands that take a stored image, fixed values for the enum flags of
// every command that has them.
func addCompletions(root *cobra.Command, g *globalOptions) {
	cmds := append([]*cobra.Command{root}, root.Commands()...)
	for _, c := range cmds {
		if n, ok := imageArgCommands[c.Name()]; ok {
			c.ValidArgsFunction = storeTagCompletion(g, n)
		}
		for name, values := range flagValues {
			if c.Flags().Lookup(name) == nil {
				continue
			}
			vals := values
			_ = c.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return vals, cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
}

// storeTagCompletion completes an argument from the local store's tags, in
// the short form the user types (alpine:3.20, not docker.io/library/...).
// max is how many arguments take an image; -1 means all of them.
func storeTagCompletion(g *globalOptions, max int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if max >= 0 && len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		// Completion must not create a store where there is none.
		if _, err := os.Stat(g.root); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		s, err := g.store(cmd)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		defer s.Close()
		tags, err := s.Tags(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		seen := map[string]bool{}
		for _, a := range args {
			seen[a] = true
		}
		var out []cobra.Completion
		for _, t := range tags {
			name := registry.FamiliarName(t.Name)
			if seen[name] || !strings.HasPrefix(name, toComplete) {
				continue
			}
			seen[name] = true
			out = append(out, name)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
