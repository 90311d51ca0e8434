package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/build/cachesync"
	"github.com/ibuild/ibuild/registry"
)

// cacheSpec is one parsed --cache-from / --cache-to value.
type cacheSpec struct {
	typ, ref, dir string
	mode          cachesync.Mode
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
		keys = append(keys, "mode")
	}
	f, err := parseFields(flag, v, keys...)
	if err != nil {
		return cacheSpec{}, err
	}
	s := cacheSpec{typ: f["type"], ref: f["ref"], dir: f[dirKey]}
	if s.mode, err = cachesync.ParseMode(f["mode"]); err != nil {
		return s, fmt.Errorf("invalid %s %q: %w", flag, v, err)
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

// cacheEndpoint is a step cache in a registry or a directory: it can be
// read (--cache-from) and written (--cache-to).
type cacheEndpoint interface {
	build.StepSource
	build.StepSink
}

// parseCacheEndpoints parses --cache-from or --cache-to values; dirKey is
// "src" or "dest", the key naming a local directory.
func parseCacheEndpoints(flag, dirKey string, vals []string, opts []registry.Option) ([]cacheEndpoint, error) {
	var out []cacheEndpoint
	for _, v := range vals {
		s, err := parseCacheSpec(flag, v, dirKey)
		if err != nil {
			return nil, err
		}
		if s.typ == "registry" {
			out = append(out, cachesync.NewRegistry(s.ref, s.mode, opts...))
		} else {
			out = append(out, cachesync.NewLocal(s.dir, s.mode))
		}
	}
	return out, nil
}

// parseCacheFrom turns --cache-from values (type=registry,ref=… or
// type=local,src=DIR) into step sources. Nothing is fetched until the
// builder first looks a step up.
func parseCacheFrom(vals []string, opts []registry.Option) ([]build.StepSource, error) {
	eps, err := parseCacheEndpoints("--cache-from", "src", vals, opts)
	out := make([]build.StepSource, len(eps))
	for i, e := range eps {
		out[i] = e
	}
	return out, err
}

// parseCacheTo turns --cache-to values (type=registry,ref=…[,mode=min|max]
// or type=local,dest=DIR[,mode=…]) into step sinks.
func parseCacheTo(vals []string, opts []registry.Option) ([]build.StepSink, error) {
	eps, err := parseCacheEndpoints("--cache-to", "dest", vals, opts)
	out := make([]build.StepSink, len(eps))
	for i, e := range eps {
		out[i] = e
	}
	return out, err
}

// pushTags pushes the built image to every tag (--push) with media types
// mt. Docker types cannot describe zstd layers: the image is then pushed
// with OCI types and a warning, as BuildKit does. Later tags may mount blobs
// from earlier ones on the same registry.
func pushTags(ctx context.Context, stderr io.Writer, res *build.Result, tags []string, opts []registry.Option, mt registry.MediaTypes) error {
	img, err := registry.WithMediaTypes(res.Image, mt)
	if err != nil && mt == registry.DockerTypes {
		fmt.Fprintf(stderr, "WARNING: pushing with OCI media types: %v\n", err)
		img, err = registry.WithMediaTypes(res.Image, registry.OCITypes)
	}
	if err != nil {
		return fmt.Errorf("pushing: %w", err)
	}
	for i, t := range tags {
		o := append(append([]registry.Option(nil), opts...), registry.WithMountFrom(tags[:i]...))
		if err := registry.Push(ctx, img, t, o...); err != nil {
			return err
		}
	}
	return nil
}
