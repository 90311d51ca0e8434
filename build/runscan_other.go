//go:build !linux

package build

import (
	"context"

	"github.com/ibuild/ibuild/build/sandbox"
	"github.com/ibuild/ibuild/layer"
)

// executeScan needs Linux (layer.ScanRoot, the sandbox); Build refuses to
// start elsewhere.
func (b *builder) executeScan(context.Context, *stageState, sandbox.Spec, *logWriter, *stepRun) (*layer.Info, error) {
	return nil, errNeedsLinux
}
