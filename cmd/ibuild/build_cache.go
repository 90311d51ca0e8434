package main

import (
	"context"
	"errors"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/registry"
)

// parseCacheFrom turns --cache-from values (type=registry,ref=… or
// type=local,src=DIR) into step sources.
func parseCacheFrom(ctx context.Context, vals []string, opts []registry.Option) ([]build.StepSource, error) {
	if len(vals) > 0 {
		return nil, errors.New("--cache-from is not implemented yet")
	}
	return nil, nil
}

// parseCacheTo turns --cache-to values (type=registry,ref=…[,mode=min|max]
// or type=local,dest=DIR[,mode=…]) into step sinks.
func parseCacheTo(vals []string, opts []registry.Option) ([]build.StepSink, error) {
	if len(vals) > 0 {
		return nil, errors.New("--cache-to is not implemented yet")
	}
	return nil, nil
}

// pushTags pushes the built image to every tag (--push).
func pushTags(ctx context.Context, res *build.Result, tags []string, opts []registry.Option) error {
	for _, t := range tags {
		if err := registry.Push(ctx, res.Image, t, opts...); err != nil {
			return err
		}
	}
	return nil
}
