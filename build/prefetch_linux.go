package build

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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
	if len(layers) == 0 || b.opt.Unprivileged || !b.readsRootfs(i) || overlayUnsupported(b.opt.Store.Root()) != "" {
		return
	}
	ctx, stop := context.WithCancel(ctx)
	b.mu.Lock()
	b.bgStop = append(b.bgStop, stop)
	if b.prefetching == nil {
		b.prefetching = map[v1.Hash]bool{}
	}
	for _, l := range layers {
		b.prefetching[l.DiffID] = true
	}
	b.mu.Unlock()
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		b.snapshots(ctx, layers) //nolint:errcheck // surfaced by the step that needs them
	}()
}

// stopBackground stops the base extractions still running, which no step
// needs any more, and waits for them.
func (b *builder) stopBackground() {
	b.mu.Lock()
	stops := b.bgStop
	b.bgStop = nil
	b.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	b.bg.Wait()
}

// prefetched says whether one of layers is extracted in the background.
func (b *builder) prefetched(layers []layer.Info) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range layers {
		if b.prefetching[l.DiffID] {
			return true
		}
	}
	return false
}

// readsRootfs says whether stage i, as written, reads its root file
// system's content: it has a RUN, or another stage reads it with --from,
// or a stage built FROM it does either. A COPY, ADD or WORKDIR plans on
// the layers' headers while the base is not extracted (copyRoot); one
// with a user or group given by name reads the extracted base, but a
// guess of that is not worth extracting every COPY-only stage's base.
func (b *builder) readsRootfs(i int) bool {
	for _, c := range b.df.Stages[i].Commands {
		if _, ok := c.(*instructions.RunCommand); ok {
			return true
		}
	}
	for j := i + 1; j < len(b.df.Stages); j++ {
		ds := b.df.Stages[j]
		base, _, err := b.lex().ProcessWord(ds.BaseName, envGetter(b.global, nil))
		if k, ok := b.stageRef(base, j); ok && err == nil && k == i && b.readsRootfs(j) {
			return true
		}
		cmds := ds.Commands
		if k, ok := b.stageRef(base, j); ok && err == nil {
			cmds = append(b.ownTriggers(k), cmds...)
		}
		for _, c := range cmds {
			for _, f := range cmdFroms(c) {
				if k, ok := b.stageRef(f, j); ok && k == i {
					return true
				}
			}
		}
	}
	return false
}
