//go:build !linux

package build

import (
	"context"

	"github.com/ibuild/ibuild/build/sandbox"
	"github.com/ibuild/ibuild/layer"
)

// Builds need Linux (overlayfs, namespaces). Elsewhere these stand in for
// the mount and snapshot plumbing of rootfs_linux.go and
// cachemount_linux.go, so that the package compiles and the commands that
// only read images (inspect, compare IMAGE...) work; Build refuses to start.

func overlayUnsupported(string) string { return "not Linux" }

func (b *builder) snapshots(context.Context, []layer.Info) ([]string, error) {
	return nil, errNeedsLinux
}

func (b *builder) mountRootfs(context.Context, []layer.Info) (string, func(), error) {
	return "", nil, errNeedsLinux
}

func (b *builder) executeScan(context.Context, *stageState, sandbox.Spec, *logWriter, *stepRun) (*layer.Info, error) {
	return nil, errNeedsLinux
}

func (b *builder) scratchOverlay(string) (string, func(), error) {
	return "", nil, errNeedsLinux
}

func (b *builder) cacheDir(context.Context, mountPlan) (string, func(), error) {
	return "", nil, errNeedsLinux
}
