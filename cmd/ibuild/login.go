package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ibuild/ibuild/registry"
)

// dockerConfigDir is where docker keeps config.json: $DOCKER_CONFIG, else
// ~/.docker.
func dockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".docker"
	}
	return filepath.Join(home, ".docker")
}

// keychainOpt reads credentials from docker's config directory.
func keychainOpt() registry.Option {
	return registry.WithKeychain(registry.ConfigKeychain(dockerConfigDir()))
}

func newLoginCmd(g *globalOptions) *cobra.Command {
	var user, password string
	var stdin bool
	var insecure []string
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] REGISTRY",
		Short: "Log in to a registry (stores credentials where docker does)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if password, err = readPassword(cmd, user, password, stdin); err != nil {
				return err
			}
			if user == "" {
				return errors.New("login: --username is required")
			}
			ropts, err := g.registryOptions(insecure)
			if err != nil {
				return err
			}
			err = registry.Login(cmd.Context(), dockerConfigDir(), args[0], user, password, ropts...)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Login Succeeded")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&user, "username", "u", "", "username")
	f.StringVarP(&password, "password", "p", "", "password (insecure: prefer --password-stdin)")
	f.BoolVar(&stdin, "password-stdin", false, "read the password from stdin")
	f.StringArrayVar(&insecure, "insecure-registry", nil, "registry host to reach over plain HTTP")
	return cmd
}

// readPassword returns the password from -p, stdin (--password-stdin) or a
// terminal prompt, as docker login does.
func readPassword(cmd *cobra.Command, user, password string, stdin bool) (string, error) {
	switch {
	case stdin && password != "":
		return "", errors.New("login: --password and --password-stdin are mutually exclusive")
	case stdin:
		if user == "" {
			return "", errors.New("login: --password-stdin requires --username")
		}
		b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
		if err != nil {
			return "", fmt.Errorf("login: reading password from stdin: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case password != "":
		fmt.Fprintln(cmd.ErrOrStderr(), "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
		return password, nil
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return "", errors.New("login: no password given: use --password-stdin")
	}
	if user == "" {
		return "", errors.New("login: --username is required")
	}
	fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("login: reading password: %w", err)
	}
	return string(b), nil
}

func newLogoutCmd(_ *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "logout REGISTRY",
		Short: "Remove a registry's stored credentials",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := registry.Logout(dockerConfigDir(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removing login credentials for %s\n", args[0])
			return nil
		},
	}
}
