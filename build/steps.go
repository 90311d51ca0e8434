package build

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// cacheHit applies a cached record for key to st, if the local store or a
// --cache-from source has one. It returns the step's layer (a zero Info for
// a step without a layer), or nil on a miss.
func (b *builder) cacheHit(ctx context.Context, st *stageState, key v1.Hash) (*layer.Info, error) {
	if st.noCache {
		return nil, nil
	}
	rec, ok, err := b.opt.Store.GetStep(ctx, key)
	if err != nil {
		return nil, err
	}
	if !ok {
		if rec, err = b.remoteHit(ctx, key); err != nil || rec == nil {
			return nil, err
		}
		if err := b.opt.Store.PutStep(ctx, key, *rec); err != nil && rec.Layer == nil {
			return nil, err
		}
	}
	st.applyRecord(rec)
	st.key = key
	b.exported = append(b.exported, ExportedStep{Key: key, Record: *rec})
	b.exportedStage = append(b.exportedStage, st.index)
	if rec.Layer == nil {
		return &layer.Info{}, nil
	}
	return rec.Layer, nil
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

// commitStep records the step's result in st and in the step cache.
func (b *builder) commitStep(ctx context.Context, st *stageState, key v1.Hash, info *layer.Info, createdBy string) error {
	rec := cache.StepRecord{Layer: info, Config: *st.cfg.Config.DeepCopy(),
		History: v1.History{CreatedBy: createdBy, Created: v1.Time{Time: b.opt.epoch()}, Comment: "buildkit.dockerfile.v0", EmptyLayer: info == nil},
		Created: b.opt.epoch()}
	if err := b.opt.Store.PutStep(ctx, key, rec); err != nil {
		return fmt.Errorf("recording step: %w", err)
	}
	st.applyRecord(&rec)
	st.key = key
	b.exported = append(b.exported, ExportedStep{Key: key, Record: rec})
	b.exportedStage = append(b.exportedStage, st.index)
	return nil
}

// exportList is the build's steps for --cache-to, marking the target
// stage's (its own steps and those it inherited through FROM <stage>).
func (b *builder) exportList(target int) []ExportedStep {
	final := map[int]bool{target: true}
	for i := target; ; {
		j, ok := b.stageRef(b.df.Stages[i].BaseName, i)
		if !ok {
			break
		}
		final[j], i = true, j
	}
	out := make([]ExportedStep, len(b.exported))
	for i, e := range b.exported {
		e.Final = final[b.exportedStage[i]]
		out[i] = e
	}
	return out
}
