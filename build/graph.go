package build

import (
	"context"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"golang.org/x/sync/errgroup"

	"github.com/ibuild/ibuild/progress"
)

// DefaultJobs is the number of stages built at the same time when
// Options.Jobs is 0: one per CPU, and at least two, so that a stage waiting
// on a pull or a sleeping RUN does not hold back an independent one.
func DefaultJobs() int {
	return max(runtime.NumCPU(), 2)
}

// stageDeps are the stages stage i statically needs, as BuildKit's
// dispatcher finds them: its FROM <stage>, the --from of its COPY and RUN
// --mount instructions and of the ONBUILD triggers its base stage passes
// on. Names with variables are expanded with the global ARGs for FROM
// only; a --from a static scan cannot resolve is built when its
// instruction asks for it. images are the --from images (not stages).
func (b *builder) stageDeps(i int) (deps []int, images []string) {
	ds := b.df.Stages[i]
	cmds := ds.Commands
	base, _, err := b.lex().ProcessWord(ds.BaseName, envGetter(b.global, nil))
	if err == nil {
		if j, ok := b.stageRef(base, i); ok {
			deps = append(deps, j)
			cmds = append(b.ownTriggers(j), cmds...)
		}
	}
	for _, c := range cmds {
		for _, f := range cmdFroms(c) {
			if j, ok := b.stageRef(f, i); ok {
				deps = append(deps, j)
			} else if f != "" && !strings.Contains(f, "$") {
				if _, isStage := b.df.StageIndex(f); !isStage {
					images = append(images, f)
				}
			}
		}
	}
	return deps, images
}

// cmdFroms are the --from names an instruction reads.
func cmdFroms(c instructions.Command) []string {
	switch c := c.(type) {
	case *instructions.CopyCommand:
		return []string{c.From}
	case *instructions.RunCommand:
		var out []string
		for _, m := range instructions.GetMounts(c) {
			out = append(out, m.From)
		}
		return out
	}
	return nil
}

// ownTriggers parses the ONBUILD triggers stage j's own instructions add,
// which run in a stage built FROM j; unparsable ones are left to the
// build, which reports them at the FROM.
func (b *builder) ownTriggers(j int) []instructions.Command {
	var out []instructions.Command
	for _, c := range b.df.Stages[j].Commands {
		if ob, ok := c.(*instructions.OnbuildCommand); ok {
			if cmd, err := parseTrigger(ob.Expression); err == nil {
				out = append(out, cmd)
			}
		}
	}
	return out
}

// fsStep says whether an instruction is a step of its own in the progress
// output.
func fsStep(c instructions.Command) bool {
	switch c.(type) {
	case *instructions.CopyCommand, *instructions.AddCommand, *instructions.RunCommand, *instructions.WorkdirCommand:
		return true
	}
	return false
}

// planSteps numbers the steps of the target and the stages it needs in the
// order a one-stage-at-a-time build starts them (a stage just before the
// step that first needs it), so that the numbers do not depend on which of
// the stages built at the same time gets ahead. It returns the stages in
// that order and the number of steps.
func (b *builder) planSteps(target int) (order []int, n int) {
	b.stepNo = map[[2]int]int{}
	seen := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		ds := b.df.Stages[i]
		ord := 0
		number := func() {
			ord++
			n++
			b.stepNo[[2]int{i, ord}] = n
		}
		cmds := ds.Commands
		base, _, err := b.lex().ProcessWord(ds.BaseName, envGetter(b.global, nil))
		if j, ok := b.stageRef(base, i); ok && err == nil {
			visit(j)
			cmds = append(b.ownTriggers(j), cmds...)
		}
		number() // FROM
		for _, c := range cmds {
			for _, f := range cmdFroms(c) {
				if j, ok := b.stageRef(f, i); ok {
					visit(j)
				}
			}
			if fsStep(c) {
				number()
			}
		}
		order = append(order, i)
	}
	visit(target)
	return order, n
}

// stepNumber is the number of the next step of stage i: the planned one,
// or, for a step the plan did not foresee (an image's ONBUILD triggers, a
// --from only known once expanded), the next after every planned one.
func (b *builder) stepNumber(i int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started == nil {
		b.started = map[int]int{}
		b.numbered = map[int]bool{}
	}
	b.started[i]++
	if n, ok := b.stepNo[[2]int{i, b.started[i]}]; ok && !b.numbered[n] {
		b.numbered[n] = true
		return n
	}
	b.counter++ // starts after the planned numbers
	for b.numbered[b.counter] {
		b.counter++
	}
	b.numbered[b.counter] = true
	return b.counter
}

// buildGraph builds the target stage and, at the same time, every stage it
// needs that does not depend on another still being built, at most
// b.jobs() of those at once. The target takes no slot: it starts at once
// (pulling its base) and then mostly waits for the stages it reads, which
// must not wait for its slot. Whoever first needs a stage builds it: a
// scheduled stage whose turn has not come is built by the instruction
// that reads it, in a slot of its own (jobSlots); a goroutine waiting for
// a stage someone else builds gives its slot back meanwhile, so no stage
// waits for a slot held by one that waits for it. The first error cancels the other stages,
// whose steps stop (their sandboxes are killed and removed) before
// buildGraph returns it: cancel cancels ctx.
func (b *builder) buildGraph(ctx context.Context, cancel context.CancelFunc, target int, order []int) (*stageState, error) {
	jobs := b.jobs()
	if jobs <= 1 {
		return b.stage(ctx, target, nil)
	}
	var g errgroup.Group
	gctx := ctx
	fail := func(err error) error {
		if err != nil {
			cancel()
		}
		return err
	}
	b.slots = make(jobSlots, jobs)
	// Every stage's needs are read before any stage starts: building a
	// stage expands its instructions in place (RUN --mount state), which
	// must not race with this scan.
	type needs struct {
		deps   []int
		images []string
	}
	need := map[int]needs{}
	for _, i := range append(slices.Clone(order), target) {
		deps, images := b.stageDeps(i)
		need[i] = needs{deps, images}
	}
	var st *stageState
	g.Go(func() error {
		var err error
		st, err = b.stage(gctx, target, nil)
		return fail(err)
	})
	for _, i := range order {
		if i == target {
			continue
		}
		deps, images := need[i].deps, need[i].images
		for _, ref := range images {
			// Pulled ahead; an error surfaces at the instruction, with
			// its location.
			g.Go(func() error {
				b.resolveImage(gctx, ref) //nolint:errcheck // memoised for the instruction
				return nil
			})
		}
		g.Go(func() error {
			for _, d := range deps {
				if _, err := b.waitStage(gctx, d); err != nil {
					return nil // reported by whoever built d
				}
			}
			if b.slots.acquire(gctx) != nil {
				return nil
			}
			sctx, h := withSlot(gctx)
			defer func() {
				if h.held {
					b.slots.release()
				}
			}()
			if b.claimed(i) {
				return nil // built by an instruction that needed it first
			}
			_, err := b.stage(sctx, i, nil)
			return fail(err)
		})
	}
	if images := need[target].images; len(images) > 0 {
		for _, ref := range images {
			g.Go(func() error {
				b.resolveImage(gctx, ref) //nolint:errcheck // memoised for the instruction
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return st, nil
}

// jobs is the number of stages built at the same time.
func (b *builder) jobs() int {
	if b.opt.Jobs > 0 {
		return b.opt.Jobs
	}
	return DefaultJobs()
}

// future returns stage i's stageBuild, creating it unclaimed. b.mu is held.
func (b *builder) futureLocked(i int) *stageBuild {
	sb := b.stages[i]
	if sb == nil {
		sb = &stageBuild{done: make(chan struct{})}
		b.stages[i] = sb
	}
	return sb
}

// claimed says whether stage i is being built or built.
func (b *builder) claimed(i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.futureLocked(i).claimed
}

// waitStage waits until stage i is built, without building it.
func (b *builder) waitStage(ctx context.Context, i int) (*stageState, error) {
	b.mu.Lock()
	sb := b.futureLocked(i)
	b.mu.Unlock()
	select {
	case <-sb.done:
		return sb.st, sb.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// imageFuture is an image being resolved or resolved, once per reference.
type imageFuture struct {
	done   chan struct{}
	img    v1.Image
	cached bool
	err    error
}

// resolveImage finds ref in the store, or pulls it into the store, once per
// build: a FROM and a COPY --from of the same image, or a pull started
// ahead, share one. An error is that of the first resolution.
func (b *builder) resolveImage(ctx context.Context, ref string) (v1.Image, bool, error) {
	b.mu.Lock()
	if b.images == nil {
		b.images = map[string]*imageFuture{}
	}
	f, ok := b.images[ref]
	if !ok {
		f = &imageFuture{done: make(chan struct{})}
		b.images[ref] = f
	}
	b.mu.Unlock()
	if ok {
		select {
		case <-f.done:
			return f.img, f.cached, f.err
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	f.img, f.cached, f.err = b.fetchImage(ctx, ref)
	close(f.done)
	return f.img, f.cached, f.err
}

// canceled finishes a step stopped because the build was canceled
// (another stage failed, or the caller gave up): BuildKit shows it as
// CANCELED, not with the error that caused it.
func (r *stepRun) canceled() {
	r.b.sink.Event(progress.Event{Time: time.Now(), Step: r.idx, Total: r.b.total, Stage: r.stage, Name: r.name, Duration: time.Since(r.start), Status: progress.StatusCanceled})
}

// addStep records the result of step number idx, keeping the results in
// step number order whatever order stages built at the same time finish
// their steps in.
func (b *builder) addStep(idx int, sr StepResult) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at := sort.SearchInts(b.stepIdx, idx+1)
	b.stepIdx = slices.Insert(b.stepIdx, at, idx)
	b.steps = slices.Insert(b.steps, at, sr)
}
