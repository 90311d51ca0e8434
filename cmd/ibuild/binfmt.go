package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ibuild/ibuild/build"
)

func newBinfmtCmd() *cobra.Command {
	var install bool
	var dir, binDir string
	cmd := &cobra.Command{
		Use:   "binfmt [--install]",
		Short: "List (or register) the QEMU emulators that RUN steps of foreign platforms need",
		Long: `List the binfmt_misc handlers through which RUN steps of a foreign platform
(--platform linux/arm64 on an amd64 machine) run, with QEMU user-mode emulation.

--install (as root) mounts binfmt_misc if needed and registers every
qemu-ARCH-static of --bin-dir (Debian's qemu-user-static) with the fix-binary
(F) flag, as tonistiigi/binfmt does: the kernel opens the emulator when it is
registered, so it runs inside a RUN step's root, which lacks it. Handlers
already registered with that flag are left alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if install {
				done, err := build.InstallEmulators(dir, binDir)
				if err != nil {
					return err
				}
				for _, h := range done {
					fmt.Fprintf(out, "registered %s\n", h)
				}
			}
			list, err := build.Emulators(dir)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "PLATFORM\tHANDLER\tSTATUS\tINTERPRETER")
			for _, e := range list {
				status := "not registered"
				switch {
				case e.Native:
					status = "native"
				case e.Registered && !e.Enabled:
					status = "disabled"
				case e.Registered && !e.FixBinary:
					status = "no F flag (unusable in RUN)"
				case e.Registered:
					status = "ok"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Platform, e.Handler, status, e.Interpreter)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&install, "install", false, "register the emulators (needs root)")
	cmd.Flags().StringVar(&dir, "binfmt-dir", build.DefaultBinfmtDir, "where binfmt_misc is mounted")
	cmd.Flags().StringVar(&binDir, "bin-dir", "/usr/bin", "where the qemu-ARCH-static emulators are")
	return cmd
}
