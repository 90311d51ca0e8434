//go:build !linux

// Stubs of the sandbox where it cannot run: everything but Linux.

package sandbox

import (
	"context"
	"errors"
)

// defaultMemoryLimit is the memory limit used when Limits.Memory is 0.
func defaultMemoryLimit() int64 { return defaultMemoryCap }

// nofileLimit is the RLIMIT_NOFILE given to commands.
func nofileLimit() uint64 { return maxNofile }

// Run is only supported on Linux.
func Run(ctx context.Context, spec Spec) error {
	return errors.New("the RUN sandbox is only supported on linux")
}

// Prewarm does nothing where the sandbox is not supported.
func Prewarm() {}

// CgroupsUnavailable says nothing where RUN is not supported.
func CgroupsUnavailable() string { return "" }

// PrewarmNetwork does nothing where the sandbox is not supported.
func PrewarmNetwork(slirp4netns string) {}

// WaitHelpers does nothing where the sandbox is not supported.
func WaitHelpers() {}
