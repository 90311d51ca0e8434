package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/build/cachesync"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/registry"
)

// cacheSpec is one parsed --cache-from / --cache-to value.
type cacheSpec struct {
	typ, ref, dir string
	mode          cachesync.Mode
	// ignoreError (--cache-to ignore-error=true) turns an export failure
	// into a warning, as BuildKit does.
	ignoreError bool
}

// parseCacheSpec parses "type=registry,ref=REF[,mode=…]" or
// "type=local,src|dest=DIR[,mode=…]"; dirKey is "src" or "dest". A value
// without "=" is a registry reference, as docker accepts.
func parseCacheSpec(flag, v, dirKey string) (cacheSpec, error) {
	if !strings.Contains(v, "=") {
		return cacheSpec{typ: "registry", ref: v, mode: cachesync.ModeMin}, nil
	}
	keys := []string{"type", "ref", dirKey}
	if flag == "--cache-to" {
		keys = append(keys, "mode", "ignore-error")
	}
	f, err := parseFields(flag, v, keys...)
	if err != nil {
		return cacheSpec{}, err
	}
	s := cacheSpec{typ: f["type"], ref: f["ref"], dir: f[dirKey]}
	if s.mode, err = cachesync.ParseMode(f["mode"]); err != nil {
		return s, fmt.Errorf("invalid %s %q: %w", flag, v, err)
	}
	if ie, ok := f["ignore-error"]; ok {
		if s.ignoreError, err = strconv.ParseBool(ie); err != nil {
			return s, fmt.Errorf("invalid %s %q: ignore-error wants true or false", flag, v)
		}
	}
	switch {
	case s.typ == "registry" && s.ref != "" && s.dir == "":
	case s.typ == "local" && s.dir != "" && s.ref == "":
	default:
		return s, fmt.Errorf("invalid %s %q: want type=registry,ref=REF or type=local,%s=DIR", flag, v, dirKey)
	}
	if s.ref != "" {
		if _, err := registry.ParseReference(s.ref); err != nil {
			return s, fmt.Errorf("invalid %s %q: %w", flag, v, err)
		}
	}
	return s, nil
}

// cacheRefs returns the references of the registry caches among
// --cache-from values (parsed and checked before the build).
func cacheRefs(vals []string) []string {
	var refs []string
	for _, v := range vals {
		if s, err := parseCacheSpec("--cache-from", v, "src"); err == nil && s.typ == "registry" {
			refs = append(refs, s.ref)
		}
	}
	return refs
}

// cacheEndpoint is a step cache in a registry or a directory: it can be
// read (--cache-from) and written (--cache-to).
type cacheEndpoint interface {
	build.StepSource
	build.StepSink
}

// parseCacheEndpoints parses --cache-from or --cache-to values; dirKey is
// "src" or "dest", the key naming a local directory.
func parseCacheEndpoints(flag, dirKey string, vals []string, opts []registry.Option) ([]cacheEndpoint, []cacheSpec, error) {
	var out []cacheEndpoint
	var specs []cacheSpec
	for _, v := range vals {
		s, err := parseCacheSpec(flag, v, dirKey)
		if err != nil {
			return nil, nil, err
		}
		if s.typ == "registry" {
			out = append(out, cachesync.NewRegistry(s.ref, s.mode, opts...))
		} else {
			out = append(out, cachesync.NewLocal(s.dir, s.mode))
		}
		specs = append(specs, s)
	}
	return out, specs, nil
}

// parseCacheFrom turns --cache-from values (type=registry,ref=… or
// type=local,src=DIR) into step sources. Nothing is fetched until the
// builder first looks a step up. A source that cannot be read (registry
// unreachable, manifest corrupt, access denied) is reported to rep as a
// warning and the build goes on without it, as BuildKit's does.
func parseCacheFrom(vals []string, opts []registry.Option, rep *cacheReport) ([]build.StepSource, error) {
	eps, _, err := parseCacheEndpoints("--cache-from", "src", vals, opts)
	out := make([]build.StepSource, len(eps))
	for i, e := range eps {
		out[i] = &tolerantSource{StepSource: e, rep: rep}
	}
	return out, err
}

// parseCacheTo turns --cache-to values (type=registry,ref=…[,mode=min|max]
// [,ignore-error=true] or type=local,dest=DIR[,…]) into step sinks. An
// export failure is kept in rep: the command reports it once the image's
// outputs are written (or as a warning with ignore-error=true).
func parseCacheTo(vals []string, opts []registry.Option, rep *cacheReport) ([]build.StepSink, error) {
	eps, specs, err := parseCacheEndpoints("--cache-to", "dest", vals, opts)
	out := make([]build.StepSink, len(eps))
	for i, e := range eps {
		out[i] = &deferredSink{ep: e, ignoreError: specs[i].ignoreError, rep: rep}
	}
	return out, err
}

// cacheReport collects what went wrong with the cache endpoints of one
// build: warnings to print and the first export error.
type cacheReport struct {
	mu        sync.Mutex
	warnings  []string
	exportErr error
}

func (r *cacheReport) warn(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// flush prints the warnings collected so far, once each.
func (r *cacheReport) flush(w io.Writer) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.warnings {
		fmt.Fprintln(w, "WARNING:", s)
	}
	r.warnings = nil
}

// err returns the first --cache-to failure.
func (r *cacheReport) err() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exportErr
}

// tolerantSource is a --cache-from source whose failure to load is a
// warning: lookups then miss, and the steps run.
type tolerantSource struct {
	build.StepSource
	rep  *cacheReport
	once sync.Once
}

var _ build.StepSource = (*tolerantSource)(nil)

// GetStep implements [build.StepSource]. A cancelled build still fails.
func (s *tolerantSource) GetStep(ctx context.Context, key v1.Hash) (*cache.StepRecord, bool, error) {
	rec, ok, err := s.StepSource.GetStep(ctx, key)
	if err == nil || ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return rec, ok, err
	}
	s.once.Do(func() {
		s.rep.warn("importing cache manifest from %s: %v; building without this cache", s.Name(), err)
	})
	return nil, false, nil
}

// deferredSink is a --cache-to sink whose failure does not lose the built
// image: the error is kept for the command to report after the outputs.
type deferredSink struct {
	ep          cacheEndpoint
	ignoreError bool
	rep         *cacheReport
}

var _ build.StepSink = (*deferredSink)(nil)

// Export implements [build.StepSink].
func (s *deferredSink) Export(ctx context.Context, store *cache.Store, steps []build.ExportedStep) error {
	err := s.ep.Export(ctx, store, steps)
	if err == nil || ctx.Err() != nil {
		return err
	}
	name := strings.TrimPrefix(strings.TrimPrefix(s.ep.Name(), "type=registry,ref="), "type=local,src=")
	if s.ignoreError {
		s.rep.warn("exporting cache to %s failed (ignore-error=true): %v", name, err)
		return nil
	}
	s.rep.mu.Lock()
	if s.rep.exportErr == nil {
		s.rep.exportErr = fmt.Errorf("exporting cache to %s (the image was built; add ignore-error=true to the --cache-to value to make this a warning): %w", name, err)
	}
	s.rep.mu.Unlock()
	return nil
}
