package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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
// blob is missing or has the wrong size, is also a miss and is removed.
// Layer content is not hashed here (that would read the whole layer on
// every hit); it is verified when the layer is read, and a corrupt blob is
// evicted then, so the next GetStep misses.
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
		if n, ok := s.blobSize(rec.Layer.Digest); !ok || n != rec.Layer.Size {
			err = fmt.Errorf("layer %s missing", rec.Layer.Digest)
		}
	}
	if err != nil {
		// A broken record is a miss; removing it lets PutStep replace it.
		if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, false, fmt.Errorf("removing stale step record %s: %w", p, rerr)
		}
		return nil, false, nil
	}
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
	if err := writeFileAtomic(p, b); err != nil {
		return fmt.Errorf("writing step record %s: %w", p, err)
	}
	return nil
}
