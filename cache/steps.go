package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/internal/atomicfile"
	"github.com/ibuild/ibuild/layer"
)

// StepRecord is the cached result of one build step, stored as
// ROOT/steps/<key-hex>.json.
type StepRecord struct {
	// Layer is the layer the step produced; nil for metadata-only steps.
	Layer *layer.Info `json:"layer,omitempty"`
	// Config is the container config after the step.
	Config v1.Config `json:"config"`
	// History is the step's history entry.
	History v1.History `json:"history"`
	// Created is when the step ran.
	Created time.Time `json:"created"`
}

func (s *Store) stepPath(key v1.Hash) (string, error) {
	if err := checkHash(key); err != nil {
		return "", fmt.Errorf("step key: %w", err)
	}
	return s.path(stepsDir, key.Hex+".json"), nil
}

// GetStep returns the step record stored under key. A missing record is a
// miss (false, nil error). A record that cannot be parsed, or whose layer
// blob is missing, truncated or corrupt, is also a miss: it is removed (and
// a damaged blob evicted) with a warning, so the step runs again and
// PutStep replaces both. The layer is hashed only when its stat differs
// from the stamp recorded when it was committed (checkBlob), so a hit costs
// a few stats. A hit marks the record used now, for Prune's LRU order.
func (s *Store) GetStep(ctx context.Context, key v1.Hash) (*StepRecord, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	p, err := s.stepPath(key)
	if err != nil {
		return nil, false, err
	}
	var rec StepRecord
	err = readJSON(p, &rec)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err == nil && rec.Layer != nil {
		if !s.checkBlob(rec.Layer.Digest, rec.Layer.Size) {
			err = fmt.Errorf("its layer %s is missing or damaged", rec.Layer.Digest)
		}
	} else if err != nil {
		err = fmt.Errorf("cannot be parsed: %w", err)
	}
	if err != nil {
		s.warnf("step cache record %s %v; the step will run again", p, err)
		// A broken record is a miss; removing it lets PutStep replace it.
		if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, false, fmt.Errorf("removing stale step record %s: %w", p, rerr)
		}
		return nil, false, nil
	}
	touch(p)
	return &rec, true, nil
}

// PutStep stores rec under key, replacing any previous record atomically.
// The record's layer blob should already be in the store.
func (s *Store) PutStep(ctx context.Context, key v1.Hash, rec StepRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.stepPath(key)
	if err != nil {
		return err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding step record %s: %w", key, err)
	}
	if err := atomicfile.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("writing step record %s: %w", p, err)
	}
	return nil
}
