package build

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/registry"
)

// from resolves the FROM of stage i: scratch, an earlier stage, or an image.
func (b *builder) from(ctx context.Context, i int, chain []int) (*stageState, error) {
	st, err := b.fromBase(ctx, i, chain)
	if err != nil {
		return nil, err
	}
	// The image config's env is (re)applied over the state env inherited
	// from a base stage, as BuildKit does.
	for _, kv := range st.cfg.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		st.env = addEnv(st.env, k, v)
	}
	return st, nil
}

func (b *builder) fromBase(ctx context.Context, i int, chain []int) (*stageState, error) {
	ds := b.df.Stages[i]
	name, _, err := b.lex().ProcessWord(ds.BaseName, envGetter(b.global, nil))
	if err != nil {
		return nil, b.errAt(ds.Location, err)
	}
	plat, _, err := b.lex().ProcessWord(ds.Platform, envGetter(b.global, nil))
	if err != nil {
		return nil, b.errAt(ds.Location, err)
	}
	if err := checkPlatform(plat); err != nil {
		return nil, b.errAt(ds.Location, err)
	}
	if name == "" {
		return nil, b.errAt(ds.Location, errors.New("base name (FROM) must not be empty"))
	}
	if nc, ok := b.namedContext(name); ok {
		return b.namedBase(ctx, i, name, nc)
	}
	if j, ok := b.stageRef(name, i); ok {
		dep, err := b.stage(ctx, j, chain)
		if err != nil {
			return nil, err
		}
		st := dep.clone()
		st.index = i
		st.fromStage = true
		r := b.startStep(st, "FROM "+dep.name, ds.Location)
		r.done(stepResult{cached: true, from: true, key: st.key}, nil)
		return st, nil
	}
	if name == "scratch" {
		st := scratchState()
		st.index = i
		st.key = b.rootKey(st.key)
		r := b.startStep(st, "FROM scratch", ds.Location)
		r.done(stepResult{cached: true, from: true, key: st.key}, nil)
		return st, nil
	}
	r := b.startStep(&stageState{index: i, name: ds.Name}, "FROM "+name, ds.Location)
	st, cached, err := b.imageBase(ctx, name)
	r.done(stepResult{cached: cached, from: true}, err)
	if err != nil {
		return nil, b.errAt(ds.Location, err)
	}
	b.prefetchBase(ctx, i, st.layers)
	return st, nil
}

// scratchState is an empty stage for the host platform.
func scratchState() *stageState {
	p := hostPlatform()
	st := &stageState{args: newArgScope()}
	st.cfg.OS = p.OS
	st.cfg.Architecture = p.Architecture
	st.cfg.Variant = p.Variant
	st.cfg.Config.Env = []string{"PATH=" + defaultPath}
	st.cfg.Config.WorkingDir = "/" // as BuildKit's empty image
	st.key = chainKey(v1.Hash{}, "scratch", p.String())
	return st
}

// settings are the build settings that change the bytes of every layer a
// step makes, or what its cache record holds (history dates), without
// showing in the step's own inputs.
func (b *builder) settings() map[string]string {
	return map[string]string{
		"epoch":             b.opt.epoch().Format(time.RFC3339),
		"compression":       string(b.opt.Compression),
		"compression level": strconv.Itoa(b.opt.CompressionLevel),
		"platform":          hostPlatform().String(),
	}
}

// rootKey is the key a stage starts from: its base's, with the build
// settings folded in, so that every step's key (chained from it) changes
// with them and a layer made with other settings is never reused.
func (b *builder) rootKey(base v1.Hash) v1.Hash {
	return chainKey(base, "settings", b.settings())
}

// imageBase loads a base image from the local store, pulling it first if
// the store does not have it (or if --pull was given). cached reports
// whether no pull was needed.
func (b *builder) imageBase(ctx context.Context, ref string) (*stageState, bool, error) {
	img, cached, err := b.resolveImage(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	st, err := stateFromImage(img)
	if err != nil {
		return nil, false, fmt.Errorf("base image %s: %w", ref, err)
	}
	if _, ok := lookupEnv(st.cfg.Config.Env, "PATH"); !ok {
		st.cfg.Config.Env = append(st.cfg.Config.Env, "PATH="+defaultPath)
	}
	st.key = b.rootKey(st.key)
	return st, cached, nil
}

// fetchImage finds ref in the store, or pulls it into the store.
func (b *builder) fetchImage(ctx context.Context, ref string) (v1.Image, bool, error) {
	norm, err := registry.Normalize(ref)
	if err != nil {
		return nil, false, fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	if !b.opt.Pull {
		desc, err := b.opt.Store.Resolve(ctx, norm)
		if err == nil {
			img, err := b.opt.Store.Image(ctx, desc.Digest)
			return img, true, err
		}
		if !errors.Is(err, cache.ErrNotFound) {
			return nil, false, err
		}
	}
	if b.opt.Unprivileged {
		return nil, false, fmt.Errorf("pulling %s: %w", ref, cache.ErrUnprivileged)
	}
	remote, err := registry.Image(ctx, ref, b.opt.Registry...)
	if err != nil {
		return nil, false, err // a *registry.Error, naming the reference
	}
	desc, err := b.opt.Store.PullImage(ctx, remote)
	if err != nil {
		return nil, false, fmt.Errorf("pulling %s: %w", ref, err)
	}
	if err := b.opt.Store.Tag(ctx, norm, desc); err != nil {
		return nil, false, err
	}
	img, err := b.opt.Store.Image(ctx, desc.Digest)
	return img, false, err
}

// stateFromImage starts a stage from a stored image.
func stateFromImage(img v1.Image) (*stageState, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	if len(m.Layers) != len(cf.RootFS.DiffIDs) {
		return nil, fmt.Errorf("manifest has %d layers but config has %d diff IDs", len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	dig, err := img.Digest()
	if err != nil {
		return nil, err
	}
	st := &stageState{args: newArgScope(), cfg: *cf.DeepCopy()}
	if st.healthStartInterval, err = healthStartInterval(img); err != nil {
		return nil, err
	}
	// A base with Docker layer types (what `docker push` writes) still
	// yields an image with OCI types throughout, as BuildKit's does: the
	// blobs are the same, only their format's name changes.
	for i, l := range m.Layers {
		st.layers = append(st.layers, layer.Info{Digest: l.Digest, DiffID: cf.RootFS.DiffIDs[i], Size: l.Size, MediaType: layer.OCIMediaType(l.MediaType)})
	}
	st.cfg.RootFS = v1.RootFS{}
	st.key = chainKey(v1.Hash{}, "image", dig.String())
	return st, nil
}
