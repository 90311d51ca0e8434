// Command ibuild builds OCI images from Dockerfiles without a daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/registry"
)

// exitGrace is how long a build may take to wind down after SIGINT or
// SIGTERM cancelled it before the process exits anyway, so that a signal
// always ends ibuild within a second, whatever is still blocked.
const exitGrace = 700 * time.Millisecond

func main() {
	if ran, err := runProbe(os.Args); ran {
		exit(err)
		return
	}
	if err := enterRootless(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "ERROR:", err)
		os.Exit(1)
	}
	ctx, stop := withSignals(context.Background())
	stopProfile := startProfile()
	err := newRootCmd().ExecuteContext(ctx)
	stopProfile()
	stop()
	warnLostOwners(os.Stderr)
	exit(err)
}

// exit prints err, if any, with its hint and exits 1; it returns on success.
func exit(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "ERROR:", err)
		if h := hint(err); h != "" {
			fmt.Fprintln(os.Stderr, "HINT:", h)
		}
		os.Exit(1)
	}
}

// hint suggests the flag that raises a limit an error ran into.
func hint(err error) string {
	switch {
	case errors.Is(err, layer.ErrLimit):
		return "a layer exceeded an extraction limit; if the image is trusted, raise --max-layer-size or --max-layer-entries (see SECURITY.md)"
	case errors.Is(err, build.ErrDownloadTooLarge):
		return "an ADD <url> download exceeded its size limit; raise --max-download-size if it is trusted (see SECURITY.md)"
	case errors.Is(err, registry.ErrTimeout):
		return "a transfer stalled or ran too long; raise --network-idle-timeout or --transfer-timeout for a slow but trusted server (see SECURITY.md)"
	case errors.Is(err, registry.ErrTooLarge):
		return "a manifest or config exceeded its size limit; raise --max-manifest-size or --max-config-size if it is trusted (see SECURITY.md)"
	}
	return ""
}

// withSignals returns a context cancelled by the first SIGINT or SIGTERM.
// Cancelling stops every step that watches the context (RUN, pulls,
// downloads) and cleans up; if the process is still running exitGrace
// later, or at a second signal, it exits with 128+signal. What a forced
// exit leaves (ingest files, sandbox and overlay directories, cgroups) is
// collected by the next run on the same state directory.
func withSignals(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		cancel(fmt.Errorf("interrupted by %v", sig))
		select {
		case <-sigs:
		case <-time.After(exitGrace):
		case <-done:
			return
		}
		fmt.Fprintf(os.Stderr, "ERROR: interrupted by %v\n", sig)
		code := 130
		if s, ok := sig.(syscall.Signal); ok {
			code = 128 + int(s)
		}
		os.Exit(code)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}
