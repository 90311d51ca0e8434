package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is ibuild's version, set at link time with
// -ldflags "-X main.version=v1.2.3". Without it, the module version from
// the build info is used ("(devel)" for a build from a work tree becomes
// "dev").
var version = ""

// ibuildVersion returns the version this binary reports.
func ibuildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// userAgent is the User-Agent ibuild sends to registries.
func userAgent() string { return "ibuild/" + ibuildVersion() }

// newVersionCmd is `ibuild version`. As a subcommand it wins over a build
// context directory named "version": build that one as ./version.
func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the ibuild version information",
		Long: "Show the ibuild version information. A build context directory named \"version\" " +
			"is built with `ibuild ./version`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "ibuild version %s\n Go version: %s\n OS/Arch:    %s/%s\n",
				ibuildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
