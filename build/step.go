package build

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// stepPlan is what a filesystem step (RUN, COPY, ADD, WORKDIR) hands the
// step runner once its inputs are known: the cache key they make, what
// explanations compare, and exec, which makes the step's layer on a miss.
type stepPlan struct {
	key v1.Hash
	// inputs name the parts of key for a miss's explanation; files, which
	// may be nil, lists the step's source files. files is called only for
	// a step that ran, so a cache hit pays nothing for explanations.
	inputs map[string]string
	files  func() map[string]string
	// createdBy is the step's history entry.
	createdBy string
	// exec makes the step's layer, or nil when the step changed no file.
	// It runs only on a cache miss, on the stage as it was before the step.
	exec func(ctx context.Context) (*layer.Info, error)
}

// stepResult is the outcome of one step.
type stepResult struct {
	cached     bool
	from       bool        // the step is a FROM
	layer      *layer.Info // nil when the step has no layer
	layerIndex int         // the index of layer among the stage's layers
	key        v1.Hash     // zero when the step has no cache key
	// missReason says, for a step that ran, what changed since the last
	// build of the same step.
	missReason string
}

// step runs one filesystem step between its progress start and finish:
// body works out the step's inputs, failing early if they are invalid, and
// hands them to b.cached.
func (b *builder) step(ctx context.Context, st *stageState, text string, loc []bkparser.Range, body func(ctx context.Context, r *stepRun) (stepResult, error)) error {
	r := b.startStep(st, text, loc)
	res, err := body(ctx, r)
	if err != nil && ctx.Err() != nil {
		r.canceled()
		return err
	}
	r.done(res, err)
	return err
}

// cached applies the cached record of p's key to st if the step cache has
// one; otherwise it runs p.exec, records its layer in the step cache and
// explains the miss. Either way the step becomes st's latest.
func (b *builder) cached(ctx context.Context, st *stageState, r *stepRun, p stepPlan) (stepResult, error) {
	res := stepResult{key: p.key}
	inputs := map[string]string{}
	for k, v := range p.inputs {
		inputs[k] = v
	}
	for k, v := range b.settings(st.platform) {
		inputs[k] = v // in the key through the stage's root key
	}
	in := &stepInputs{Key: p.key.String(), Parent: st.key.String(), Inputs: inputs, files: p.files}
	// Another platform's builder running the same step (the key does not
	// depend on the platform) is waited for, and its record used, even
	// with --no-cache: within a build a step runs once.
	rec, lead, done, err := b.sharedRecord(ctx, p.key)
	if err != nil {
		return res, err
	}
	if rec == nil {
		rec, err = b.cachedRecord(ctx, st, p.key)
	}
	if err != nil || rec != nil {
		if lead {
			done(rec)
		}
		if err != nil {
			return res, err
		}
		b.applyStep(st, p.key, rec)
		res.cached, res.layer, res.layerIndex = true, rec.Layer, len(st.layers)-1
		return res, nil
	}
	if b.opt.Unprivileged {
		return res, fmt.Errorf("executing %s: %w", p.createdBy, cache.ErrUnprivileged)
	}
	info, err := p.exec(ctx)
	if err == nil {
		rec, err = b.commitStep(ctx, st, p.key, info, p.createdBy)
	}
	if lead {
		done(rec)
	}
	if err != nil {
		return res, err
	}
	b.applyStep(st, p.key, rec)
	res.layer, res.layerIndex = info, len(st.layers)-1
	// A hit's inputs equal the saved ones; only a step that ran explains
	// itself and records its inputs for the next build.
	res.missReason = b.missReason(st, r.ord, in)
	r.log("stderr", "cache miss: "+res.missReason)
	b.saveInputs(st, r.ord, in)
	return res, nil
}
