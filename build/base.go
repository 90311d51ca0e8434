package build

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	plat, err := b.stagePlatform(i)
	if err != nil {
		return nil, b.errAt(ds.Location, err)
	}
	if name == "" {
		return nil, b.errAt(ds.Location, errors.New("base name (FROM) must not be empty"))
	}
	if nc, ok := b.namedContext(name); ok {
		return b.namedBase(ctx, i, name, nc, plat)
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
		st := scratchState(plat)
		st.index = i
		st.key = b.rootKey(st.key, plat)
		r := b.startStep(st, "FROM scratch", ds.Location)
		r.done(stepResult{cached: true, from: true, key: st.key}, nil)
		return st, nil
	}
	r := b.startStep(&stageState{index: i, name: ds.Name, platform: plat}, "FROM "+name, ds.Location)
	st, cached, err := b.imageBase(ctx, name, plat)
	r.done(stepResult{cached: cached, from: true}, err)
	if err != nil {
		return nil, b.errAt(ds.Location, err)
	}
	b.prefetchBase(ctx, i, st.layers)
	return st, nil
}

// stagePlatform is the platform stage i is built for: its FROM
// --platform, expanded with the global ARGs, or that of the stage it
// starts from, or the target platform.
func (b *builder) stagePlatform(i int) (v1.Platform, error) {
	ds := b.df.Stages[i]
	if ds.Platform != "" {
		s, _, err := b.lex().ProcessWord(ds.Platform, envGetter(b.global, nil))
		if err != nil {
			return v1.Platform{}, err
		}
		if s != "" {
			return parsePlatform(s)
		}
	}
	name, _, err := b.lex().ProcessWord(ds.BaseName, envGetter(b.global, nil))
	if err == nil {
		if j, ok := b.stageRef(name, i); ok {
			return b.stagePlatform(j)
		}
	}
	return b.platform, nil
}

// scratchState is an empty stage for platform p.
func scratchState(p v1.Platform) *stageState {
	st := &stageState{args: newArgScope(), platform: p}
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
func (b *builder) settings(p v1.Platform) map[string]string {
	return map[string]string{
		"epoch":             b.opt.epoch().Format(time.RFC3339),
		"compression":       string(b.opt.Compression),
		"compression level": strconv.Itoa(b.opt.CompressionLevel),
		"platform":          p.String(),
	}
}

// rootKey is the key a stage starts from: its base's, with the build
// settings folded in, so that every step's key (chained from it) changes
// with them and a layer made with other settings is never reused.
func (b *builder) rootKey(base v1.Hash, p v1.Platform) v1.Hash {
	return chainKey(base, "settings", b.settings(p))
}

// imageBase loads a base image from the local store, pulling it first if
// the store does not have it (or if --pull was given). cached reports
// whether no pull was needed.
func (b *builder) imageBase(ctx context.Context, ref string, p v1.Platform) (*stageState, bool, error) {
	img, cached, err := b.resolveImage(ctx, ref, p)
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
	st.platform = p
	st.key = b.rootKey(st.key, p)
	return st, cached, nil
}

// fetchImage finds ref for platform p in the store, or pulls it into the
// store. A stored index gives its manifest for p; a stored image made
// for another platform than an explicitly asked one is pulled again for
// p.
func (b *builder) fetchImage(ctx context.Context, ref string, p v1.Platform) (v1.Image, bool, error) {
	norm, err := registry.Normalize(ref)
	if err != nil {
		return nil, false, fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	if !b.opt.Pull {
		img, err := b.storedImage(ctx, norm, p)
		if err == nil {
			return img, true, nil
		}
		if !errors.Is(err, cache.ErrNotFound) {
			return nil, false, err
		}
	}
	if b.opt.Unprivileged {
		return nil, false, fmt.Errorf("pulling %s: %w", ref, cache.ErrUnprivileged)
	}
	remote, err := registry.Image(ctx, ref, append(slices.Clone(b.opt.Registry), registry.WithPlatform(p))...)
	if err != nil {
		return nil, false, err // a *registry.Error, naming the reference
	}
	desc, err := b.opt.Store.PullImage(ctx, remote)
	if err != nil {
		return nil, false, fmt.Errorf("pulling %s: %w", ref, err)
	}
	tagged := desc
	if raw, ok := registry.IndexOf(remote); ok {
		// A multi-platform base: the tag names its index, so that the
		// images of other platforms pulled later join this one under it.
		if tagged, err = b.opt.Store.WritePulledIndex(ctx, raw); err != nil {
			return nil, false, fmt.Errorf("pulling %s: %w", ref, err)
		}
	}
	if err := b.opt.Store.Tag(ctx, norm, tagged); err != nil {
		return nil, false, err
	}
	img, err := b.opt.Store.Image(ctx, desc.Digest)
	return img, false, err
}

// storedImage is the stored image tagged norm for platform p. A missing
// tag, and an image for another platform than one the build asked for,
// are errors wrapping cache.ErrNotFound; an index without p is an error
// naming the platforms it has.
func (b *builder) storedImage(ctx context.Context, norm string, p v1.Platform) (v1.Image, error) {
	desc, err := b.opt.Store.Resolve(ctx, norm)
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		im, err := b.opt.Store.IndexManifest(ctx, desc.Digest)
		if err != nil {
			return nil, err
		}
		child, err := registry.MatchPlatform(im.Manifests, p)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", registry.FamiliarName(norm), err)
		}
		// A pulled index may lack this platform's image: ErrNotFound
		// pulls it.
		return b.opt.Store.Image(ctx, child.Digest)
	}
	img, err := b.opt.Store.Image(ctx, desc.Digest)
	if err != nil || b.opt.Platform == "" {
		return img, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	have := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if have.Architecture != "" && !samePlatform(have, p) {
		return nil, fmt.Errorf("image %s is for %s, not %s: %w", registry.FamiliarName(norm), platformString(have), platformString(p), cache.ErrNotFound)
	}
	return img, nil
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
