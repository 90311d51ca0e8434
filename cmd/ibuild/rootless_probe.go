package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/internal/rootless"
	"github.com/ibuild/ibuild/progress"
)

// A rootless build pays for its user namespace before it does anything
// (newuidmap, newgidmap, a shell and a second start of ibuild: 13 ms
// idle, up to 100 ms on a loaded machine), which a rebuild whose every
// step is a cache hit never needs. So a user's build first runs as a
// probe in the user's own process: the store opened with
// cache.Unprivileged and the build with build.Options.Unprivileged, which
// refuse, before changing anything, whatever needs the namespace (a step
// to execute, a snapshot, a pull, a sweep of a dead builder's mounts).
// The files the probe may write (blobs, tags, the context memo, the
// outputs) are those the builder in the namespace writes, as the same host
// user (its uid 0), with the same content: the context's owners are
// digested as the namespace maps them (build.Options.ContextOwners). The
// probe's output is held back: printed if it succeeds; dropped if it fails
// in any way, and the command runs again in the namespace, which prints
// its own (the same error, for an error of the build itself).

// probeEnv turns the probe off ("off") or makes ibuild say on stderr
// whether the probe made the user namespace unnecessary ("debug").
const probeEnv = "IBUILD_ROOTLESS_PROBE"

// probeState is set while a command runs as a probe.
type probeState struct {
	uidMap, gidMap []rootless.Mapping
	// stderr is the real standard error, whose terminal decides the
	// progress display the probe's buffered output is made for.
	stderr *os.File
}

// probe is the running probe, nil outside one.
var probe *probeState

// probeCommands are the commands a probe runs (by cobra name: the root
// command builds; images and history read only tags, manifests and
// configs, inspect reads layers as tar streams); the others go to the
// namespace at once.
var probeCommands = []string{"ibuild", "build", "images", "history", "inspect"}

// runProbe runs the command of args as a probe when a user other than root
// runs it outside a user namespace. It reports whether the command ran
// (successfully, its output written, or interrupted) and its error; false
// means the command is to run in the namespace.
func runProbe(args []string) (bool, error) {
	mode := os.Getenv(probeEnv)
	if mode == "off" || os.Geteuid() == 0 || len(args) < 2 || slices.Contains(noNamespaceCommands, args[1]) {
		return false, nil
	}
	if _, ok := rootless.Current(); ok {
		return false, nil
	}
	uidMap, gidMap, err := rootless.NamespaceMaps()
	if err != nil || uidMap == nil {
		return false, nil // Enter names what is missing
	}
	root := newRootCmd()
	if c, _, err := root.Find(args[1:]); err != nil || !slices.Contains(probeCommands, c.Name()) {
		if mode == "debug" {
			fmt.Fprintf(os.Stderr, "rootless: user namespace needed: command %s\n", strings.Join(args[1:], " "))
		}
		return false, nil
	}
	probe = &probeState{uidMap: uidMap, gidMap: gidMap, stderr: os.Stderr}
	defer func() { probe = nil }()
	var stdout, stderr bytes.Buffer
	ctx, stop := withSignals(context.Background())
	root.SetArgs(args[1:])
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err = root.ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil && !interrupted {
		if mode == "debug" {
			fmt.Fprintf(os.Stderr, "rootless: user namespace needed: %v\n", err)
		}
		return false, nil
	}
	if mode == "debug" && err == nil {
		fmt.Fprintln(os.Stderr, "rootless: no user namespace needed")
	}
	_, _ = os.Stderr.Write(stderr.Bytes())
	_, _ = os.Stdout.Write(stdout.Bytes())
	return true, err
}

// probeBuild refuses, in a probe, a build whose options read stdin (which
// the namespace's run would not see again), talk to a registry or a docker
// daemon, or export what a probe cannot (type=local keeps owners, a
// stream to stdout, attestations read the image's files).
func probeBuild(o *buildOptions, contextDir string) error {
	if probe == nil {
		return nil
	}
	why := ""
	switch {
	case contextDir == "-" || o.file == "-" || isGitContext(contextDir):
		why = "context or Dockerfile from stdin or git"
	case o.noCache || o.pull || o.push || o.load:
		why = "--no-cache, --pull, --push or --load"
	case len(o.cacheFrom) > 0 || len(o.cacheTo) > 0:
		why = "--cache-from or --cache-to"
	case o.sbom != "" || o.provenance != "" || len(o.attests) > 0:
		why = "attestations"
	}
	for _, v := range o.outputs {
		if !strings.HasPrefix(v, "type=oci,") && !strings.HasPrefix(v, "type=docker,") || strings.Contains(v, "dest=-") {
			why = "--output " + v
		}
	}
	if why != "" {
		return fmt.Errorf("build with %s: %w", why, cache.ErrUnprivileged)
	}
	return nil
}

// probeOptions adjusts a probe's build: unprivileged, with the context's
// owners as the namespace shows them.
func probeOptions(opt *build.Options) {
	if probe == nil {
		return
	}
	opt.Unprivileged = true
	p := probe
	opt.ContextOwners = func(uid, gid uint32) (uint32, uint32) {
		return rootless.Inside(p.uidMap, uid), rootless.Inside(p.gidMap, gid)
	}
}

// probeStoreOptions are the store options of a probe. A probe opens
// only a store that exists: it never creates one, so that a user
// namespace that cannot be made still stops ibuild before it touches a
// store (the first build, and import, need the namespace anyway).
func probeStoreOptions(root string) ([]cache.Option, error) {
	if probe == nil {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(root, "index.json")); err != nil {
		return nil, fmt.Errorf("no store in %s yet: %w", root, cache.ErrUnprivileged)
	}
	return []cache.Option{cache.Unprivileged()}, nil
}

// progressOptions are the progress options of a probe: its display is
// made for the real standard error, where its buffered output goes.
func progressOptions() []progress.Option {
	if probe == nil {
		return nil
	}
	return []progress.Option{progress.WithTerminal(probe.stderr)}
}
