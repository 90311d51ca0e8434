package build

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// cachedRecord returns the record the local store or a --cache-from source
// has for key, or nil on a miss or when the stage's cache is disabled.
func (b *builder) cachedRecord(ctx context.Context, st *stageState, key v1.Hash) (*cache.StepRecord, error) {
	if st.noCache {
		return nil, nil
	}
	rec, ok, err := b.opt.Store.GetStep(ctx, key)
	if err != nil {
		return nil, err
	}
	if ok {
		return rec, nil
	}
	if rec, err = b.remoteHit(ctx, key); err != nil || rec == nil {
		return nil, err
	}
	if err := b.opt.Store.PutStep(ctx, key, *rec); err != nil && rec.Layer == nil {
		return nil, err
	}
	return rec, nil
}

func (s *stageState) applyRecord(rec *cache.StepRecord) {
	s.cfg.Config = *rec.Config.DeepCopy()
	empty := rec.Layer == nil
	s.cfg.History = append(s.cfg.History, rec.History)
	s.cfg.History[len(s.cfg.History)-1].EmptyLayer = empty
	if !empty {
		s.layers = append(s.layers, *rec.Layer)
	}
}

// commitStep records a step that ran, with its layer info (nil for none),
// in the step cache.
func (b *builder) commitStep(ctx context.Context, st *stageState, key v1.Hash, info *layer.Info, createdBy string) (*cache.StepRecord, error) {
	rec := cache.StepRecord{Layer: info, Config: *st.cfg.Config.DeepCopy(),
		History: v1.History{CreatedBy: createdBy, Created: v1.Time{Time: b.opt.epoch()}, Comment: "buildkit.dockerfile.v0", EmptyLayer: info == nil},
		Created: b.opt.epoch()}
	if err := b.opt.Store.PutStep(ctx, key, rec); err != nil {
		return nil, fmt.Errorf("recording step: %w", err)
	}
	return &rec, nil
}

// applyStep makes rec, stored under key, the stage's latest step and
// offers it to --cache-to.
func (b *builder) applyStep(st *stageState, key v1.Hash, rec *cache.StepRecord) {
	st.applyRecord(rec)
	st.key = key
	b.mu.Lock()
	b.exported = append(b.exported, exportedStep{ExportedStep: ExportedStep{Key: key, Record: *rec}, stage: st.index})
	b.mu.Unlock()
}

// exportedStep is a step for --cache-to and the stage that made it.
type exportedStep struct {
	ExportedStep
	stage int
}

// targetChain is the set of the target stage and the stages it inherits
// through FROM <stage>.
func (b *builder) targetChain(target int) map[int]bool {
	final := map[int]bool{}
	for _, i := range b.df.StageChain(target) {
		final[i] = true
	}
	return final
}

// exportList is the build's steps for --cache-to, marking the target
// stage's (its own steps and those it inherited through FROM <stage>).
func (b *builder) exportList(target int) []ExportedStep {
	final := b.targetChain(target)
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]ExportedStep, len(b.exported))
	for i, e := range b.exported {
		e.Final = final[e.stage]
		out[i] = e.ExportedStep
	}
	return out
}
