//go:build !linux

package build

import (
	"context"

	"github.com/ibuild/ibuild/build/sandbox"
	"github.com/ibuild/ibuild/layer"
)

// Stand-ins for build's Linux-only parts (runscan_linux.go,
// skeleton_linux.go, prefetch_linux.go), so that the package compiles
// elsewhere; Build refuses to start there.

// executeScan needs Linux (layer.ScanRoot, the sandbox).
func (b *builder) executeScan(context.Context, *stageState, sandbox.Spec, *logWriter, *stepRun) (*layer.Info, error) {
	return nil, errNeedsLinux
}

// copyRoot is mountRootfs's off Linux (the skeleton of skeleton_linux.go
// needs Linux).
func (b *builder) copyRoot(ctx context.Context, layers []layer.Info, _, _ string) (string, func(), error) {
	return b.mountRootfs(ctx, layers)
}

// prefetchBase extracts nothing ahead off Linux.
func (b *builder) prefetchBase(context.Context, int, []layer.Info) {}

// stopBackground has no background extraction to stop off Linux.
func (b *builder) stopBackground() {}
