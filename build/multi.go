package build

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"golang.org/x/sync/errgroup"

	"github.com/ibuild/ibuild/cache"
)

// shared is what the builders of one build share: one per build, whatever
// the number of platforms.
type shared struct {
	mu sync.Mutex
	// images are the images resolved or being resolved, by reference
	// and platform.
	images map[string]*imageFuture
	// steps are the steps run or being run, by cache key: a step whose
	// inputs do not depend on the platform (a FROM
	// --platform=$BUILDPLATFORM stage's) runs once for every platform.
	steps map[v1.Hash]*stepFlight
	// emulators memoises CheckEmulator by platform.
	emulators map[string]error
}

// emulator is CheckEmulator(dir, p), checked once per build; a stage
// without a platform is the host's.
func (s *shared) emulator(dir string, p v1.Platform) error {
	if p.Architecture == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := p.String()
	err, ok := s.emulators[k]
	if !ok {
		err = CheckEmulator(dir, p)
		s.emulators[k] = err
	}
	return err
}

func newShared() *shared {
	return &shared{images: map[string]*imageFuture{}, steps: map[v1.Hash]*stepFlight{}, emulators: map[string]error{}}
}

// stepFlight is a step run by one builder, whose record the others wait
// for.
type stepFlight struct {
	done chan struct{}
	rec  *cache.StepRecord // nil if the step failed
}

// joinStep returns the flight of key and whether the caller leads it (and
// must call finish).
func (s *shared) joinStep(key v1.Hash) (*stepFlight, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.steps[key]; ok {
		return f, false
	}
	f := &stepFlight{done: make(chan struct{})}
	s.steps[key] = f
	return f, true
}

// finish records the leader's result; a failed step is forgotten, so
// that a waiter runs it itself (and reports its own error).
func (s *shared) finish(key v1.Hash, f *stepFlight, rec *cache.StepRecord) {
	if rec == nil {
		s.mu.Lock()
		delete(s.steps, key)
		s.mu.Unlock()
	}
	f.rec = rec
	close(f.done)
}

// sharedRecord waits for another builder of this build running the step
// key, and returns its record, or nil if none ran it or it failed. lead
// says the caller runs the step and must call done with its record.
func (b *builder) sharedRecord(ctx context.Context, key v1.Hash) (rec *cache.StepRecord, lead bool, done func(*cache.StepRecord), err error) {
	if !b.multi {
		return nil, false, func(*cache.StepRecord) {}, nil
	}
	for {
		f, lead := b.shared.joinStep(key)
		if lead {
			return nil, true, func(r *cache.StepRecord) { b.shared.finish(key, f, r) }, nil
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, false, nil, ctx.Err()
		}
		if f.rec != nil {
			return f.rec, false, func(*cache.StepRecord) {}, nil
		}
	}
}

// eventPlatform is the platform progress events carry: the target's, in
// a multi-platform build.
func (b *builder) eventPlatform() string {
	if !b.multi {
		return ""
	}
	return platformString(b.platform)
}

// buildMulti builds the image of every platform, at the same time, and
// stores and tags their index.
func buildMulti(ctx context.Context, opt Options, plats []v1.Platform) (*Result, error) {
	sh := newShared()
	builders := make([]*builder, len(plats))
	for i, p := range plats {
		b, err := newBuilder(opt, p)
		if err != nil {
			return nil, err
		}
		b.shared, b.multi = sh, true
		builders[i] = b
	}
	// Every platform is planned, its bases resolved and its emulator
	// checked before any step runs: a base without a platform or a
	// missing emulator fails the build before anything is stored.
	targets := make([]int, len(plats))
	orders := make([][]int, len(plats))
	pg, pctx := errgroup.WithContext(ctx)
	for i, b := range builders {
		var err error
		if targets[i], orders[i], err = b.plan(); err != nil {
			return nil, fmt.Errorf("building for %s: %w", platformString(b.platform), err)
		}
		pg.Go(func() error {
			if err := b.resolveBases(pctx, orders[i]); err != nil {
				return fmt.Errorf("building for %s: %w", platformString(b.platform), err)
			}
			return nil
		})
	}
	if err := pg.Wait(); err != nil {
		return nil, err
	}
	for i, b := range builders {
		if err := b.checkEmulators(orders[i]); err != nil {
			return nil, fmt.Errorf("building for %s: %w", platformString(b.platform), err)
		}
	}
	results := make([]*Result, len(plats))
	g, gctx := errgroup.WithContext(ctx)
	for i, b := range builders {
		g.Go(func() error {
			res, err := b.buildImage(gctx, targets[i], orders[i], nil)
			if err != nil {
				return fmt.Errorf("building for %s: %w", platformString(b.platform), err)
			}
			results[i] = res
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var imgs []PlatformImage
	var steps []ExportedStep
	for i, r := range results {
		imgs = append(imgs, r.Platforms[0])
		steps = append(steps, builders[i].exportList(targets[i])...)
	}
	res, err := StoreIndex(ctx, opt.Store, imgs, opt.Tags)
	if err != nil {
		return nil, err
	}
	res.Dockerfile = builders[0].src
	for i, r := range results {
		res.Steps = append(res.Steps, r.Steps...)
		for _, src := range r.Sources {
			if !slices.ContainsFunc(res.Sources, func(o ImageSource) bool { return o.Ref == src.Ref && o.Digest == src.Digest }) {
				res.Sources = append(res.Sources, src)
			}
		}
		for _, w := range builders[i].warnings() {
			if !slices.Contains(res.Warnings, w) {
				res.Warnings = append(res.Warnings, w)
			}
		}
	}
	if err := builders[0].exportCache(ctx, steps); err != nil {
		return nil, err
	}
	return res, nil
}

// StoreIndex stores the OCI image index of imgs, one manifest per
// platform in the order given, each entry with its platform, and tags it
// with tags. The images must be in store already. Index, Manifest (the
// index's descriptor) and Platforms of the result are set; Image,
// ConfigDigest and Layers are the first image's. (An exported index with
// attestations is made from the same PlatformImages by cmd/ibuild.)
func StoreIndex(ctx context.Context, store *cache.Store, imgs []PlatformImage, tags []string) (*Result, error) {
	if len(imgs) == 0 {
		return nil, fmt.Errorf("storing index: no images")
	}
	raw, err := json.Marshal(indexManifest(imgs))
	if err != nil {
		return nil, fmt.Errorf("encoding index: %w", err)
	}
	desc, err := store.WriteIndex(ctx, raw)
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		if err := store.Tag(ctx, t, desc); err != nil {
			return nil, fmt.Errorf("tagging %s: %w", t, err)
		}
	}
	idx, err := store.Index(ctx, desc.Digest)
	if err != nil {
		return nil, err
	}
	first := imgs[0]
	return &Result{Image: first.Image, Manifest: desc, ConfigDigest: first.ConfigDigest, Layers: first.Layers,
		Index: idx, Platforms: imgs}, nil
}

// indexManifest is the OCI index listing imgs.
func indexManifest(imgs []PlatformImage) v1.IndexManifest {
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
	for _, pi := range imgs {
		p := pi.Platform
		im.Manifests = append(im.Manifests, v1.Descriptor{MediaType: pi.Manifest.MediaType, Size: pi.Manifest.Size,
			Digest: pi.Manifest.Digest, Platform: &p})
	}
	return im
}

// resolveBases finds (or pulls) the base image of every stage in order
// that starts from one, for its platform; the stages' FROM steps then
// find them resolved.
func (b *builder) resolveBases(ctx context.Context, order []int) error {
	for _, i := range order {
		ds := b.df.Stages[i]
		name, _, err := b.lex().ProcessWord(ds.BaseName, envGetter(b.global, nil))
		if err != nil || name == "" || name == "scratch" {
			continue // reported at the FROM
		}
		if _, ok := b.namedContext(name); ok {
			continue
		}
		if _, ok := b.stageRef(name, i); ok {
			continue
		}
		p, err := b.stagePlatform(i)
		if err != nil {
			return b.errAt(ds.Location, err)
		}
		if _, _, err := b.resolveImage(ctx, name, p); err != nil {
			return b.errAt(ds.Location, err)
		}
	}
	return nil
}

// checkEmulators fails, before any step runs, if a stage among order
// (those the target needs) has a RUN for a platform whose binaries this
// machine cannot run. A stage without RUN needs no emulator.
func (b *builder) checkEmulators(order []int) error {
	for _, i := range order {
		p, err := b.stagePlatform(i)
		if err != nil {
			continue // reported at the FROM
		}
		for _, c := range b.df.Stages[i].Commands {
			if _, ok := c.(*instructions.RunCommand); !ok {
				continue
			}
			if err := b.shared.emulator(b.opt.BinfmtDir, p); err != nil {
				return b.errAt(c.Location(), err)
			}
			break
		}
	}
	return nil
}

// setPlatform makes the image config of st name the platform st was built
// for when its base's config does not (a scratch stage's already does).
func (b *builder) setPlatform(st *stageState) {
	p := st.platform
	if p.Architecture == "" {
		return
	}
	have := v1.Platform{OS: st.cfg.OS, Architecture: st.cfg.Architecture, Variant: st.cfg.Variant}
	if have.OS != "" && have.Architecture != "" && samePlatform(have, p) {
		return
	}
	st.cfg.OS, st.cfg.Architecture, st.cfg.Variant = p.OS, p.Architecture, p.Variant
}
