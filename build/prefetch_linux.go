package build

import (
	"context"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/ibuild/ibuild/layer"
)

// prefetchBase starts extracting the snapshots of stage i's base image
// layers in the background, so that steps before the first one reading
// the root file system (ENV, LABEL, a COPY --from waiting for another
// stage) do not wait for it, and that one waits only for what is left:
// the store runs one extraction per layer, which the step joins. Nothing
// starts for a stage that never reads its root file system, or where
// overlayfs is unusable (a RUN then copies the layers, not snapshots).
// Errors are left to the step that needs the snapshots; the extraction
// stops when ctx is done, and run waits for it before returning.
func (b *builder) prefetchBase(ctx context.Context, i int, layers []layer.Info) {
	if len(layers) == 0 || !b.readsRootfs(i) || overlayUnsupported(b.opt.Store.Root()) != "" {
		return
	}
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		b.snapshots(ctx, layers) //nolint:errcheck // surfaced by the step that needs them
	}()
}

// readsRootfs says whether stage i, as written, reads its root file system:
// it has a RUN, COPY, ADD or WORKDIR (a COPY plans its destination in the
// image, a WORKDIR looks for its directory), or another stage builds FROM
// it or reads it with --from.
func (b *builder) readsRootfs(i int) bool {
	for _, c := range b.df.Stages[i].Commands {
		switch c.(type) {
		case *instructions.RunCommand, *instructions.CopyCommand, *instructions.AddCommand, *instructions.WorkdirCommand:
			return true
		}
	}
	for j := i + 1; j < len(b.df.Stages); j++ {
		deps, _ := b.stageDeps(j)
		for _, d := range deps {
			if d == i {
				return true
			}
		}
	}
	return false
}
