// Command ibuild builds OCI images from Dockerfiles without a daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile()
	err := newRootCmd().ExecuteContext(ctx)
	stopProfile()
	stop()
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
	case errors.Is(err, registry.ErrTooLarge):
		return "a manifest or config exceeded its size limit; raise --max-manifest-size or --max-config-size if it is trusted (see SECURITY.md)"
	}
	return ""
}
