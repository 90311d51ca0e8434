package build

import (
	"context"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/registry"
)

// NamedContext is a BuildKit named context (--build-context NAME=VALUE):
// FROM NAME and COPY --from=NAME (and RUN --mount=from=NAME) read it
// instead of the stage or image of that name. Exactly one field is set.
type NamedContext struct {
	// Dir is a local directory (NAME=DIR), read as the build context is.
	Dir string
	// Image is an image reference (docker-image://REF).
	Image string
	// Layout is an OCI image layout directory (oci-layout://DIR[:TAG]);
	// LayoutTag selects an image in it ("" for the only one).
	Layout, LayoutTag string
}

// contextName is the form named contexts are matched in, as BuildKit's:
// the familiar image name without ":latest" ("alpine" for
// "docker.io/library/alpine:latest"); a name that is not a reference is
// kept as it is.
func contextName(name string) string {
	n, err := registry.Normalize(name)
	if err != nil {
		return name
	}
	return strings.TrimSuffix(registry.FamiliarName(n), ":latest")
}

// namedContext returns the named context that replaces name, if any.
func (b *builder) namedContext(name string) (NamedContext, bool) {
	if len(b.opt.NamedContexts) == 0 {
		return NamedContext{}, false
	}
	want := contextName(name)
	for k, nc := range b.opt.NamedContexts {
		if k == name || contextName(k) == want {
			return nc, true
		}
	}
	return NamedContext{}, false
}

// namedImage resolves an image or layout named context to a stored image;
// cached reports that nothing was fetched.
func (b *builder) namedImage(ctx context.Context, nc NamedContext) (v1.Image, bool, error) {
	if nc.Image != "" {
		return b.resolveImage(ctx, nc.Image)
	}
	if nc.Layout == "" {
		return nil, false, errors.New("a local directory context is not an image")
	}
	img, err := registry.ReadOCILayout(ctx, nc.Layout, nc.LayoutTag, b.opt.Registry...)
	if err != nil {
		return nil, false, err
	}
	desc, err := b.opt.Store.WriteImage(ctx, img)
	if err != nil {
		return nil, false, fmt.Errorf("importing %s: %w", nc.Layout, err)
	}
	stored, err := b.opt.Store.Image(ctx, desc.Digest)
	if err == nil {
		b.addLayoutSource(nc, stored)
	}
	return stored, false, err
}

// namedBase starts stage i from the image of a named context.
func (b *builder) namedBase(ctx context.Context, i int, name string, nc NamedContext) (*stageState, error) {
	ds := b.df.Stages[i]
	r := b.startStep(&stageState{index: i, name: ds.Name}, "FROM "+name, ds.Location)
	st, cached, err := b.namedState(ctx, name, nc)
	r.done(stepResult{cached: cached, from: true}, err)
	if err != nil {
		return nil, b.errAt(ds.Location, err)
	}
	return st, nil
}

func (b *builder) namedState(ctx context.Context, name string, nc NamedContext) (*stageState, bool, error) {
	if nc.Dir != "" {
		return nil, false, fmt.Errorf("build context %s is a local directory: FROM needs an image (docker-image:// or oci-layout://); use COPY --from=%s for its files", name, name)
	}
	img, cached, err := b.namedImage(ctx, nc)
	if err != nil {
		return nil, false, fmt.Errorf("build context %s: %w", name, err)
	}
	st, err := stateFromImage(img)
	if err != nil {
		return nil, false, fmt.Errorf("build context %s: %w", name, err)
	}
	if _, ok := lookupEnv(st.cfg.Config.Env, "PATH"); !ok {
		st.cfg.Config.Env = append(st.cfg.Config.Env, "PATH="+defaultPath)
	}
	st.key = b.rootKey(st.key)
	return st, cached, nil
}

// namedSource is what COPY --from=NAME reads from a named context.
func (b *builder) namedSource(ctx context.Context, name string, nc NamedContext) (sourceRef, error) {
	if nc.Dir != "" {
		return sourceRef{context: true, key: "context " + name, dir: nc.Dir}, nil
	}
	img, _, err := b.namedImage(ctx, nc)
	if err != nil {
		return sourceRef{}, fmt.Errorf("--from=%s: build context: %w", name, err)
	}
	fst, err := stateFromImage(img)
	if err != nil {
		return sourceRef{}, fmt.Errorf("--from=%s: %w", name, err)
	}
	return sourceRef{key: "from:" + fst.key.String(), layers: fst.layers}, nil
}
