package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// builtImage is a v1.Image assembled from a stage's config and store layers.
// The config and manifest are serialised once, in newImage.
type builtImage struct {
	store    *cache.Store
	layers   []layer.Info
	config   []byte
	manifest []byte
}

var _ partial.CompressedImageCore = (*builtImage)(nil)

func newImage(store *cache.Store, st *stageState, created v1.Time) (v1.Image, error) {
	cf := st.cfg.DeepCopy()
	cf.Created = created
	cf.RootFS = v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}}
	for _, l := range st.layers {
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, l.DiffID)
	}
	cfgBytes, err := json.Marshal(cf)
	if err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	if st.healthStartInterval != 0 && cf.Config.Healthcheck != nil {
		if cfgBytes, err = withHealthStartInterval(cfgBytes, st.healthStartInterval); err != nil {
			return nil, fmt.Errorf("encoding config: %w", err)
		}
	}
	cfgHash, cfgSize, err := v1.SHA256(bytes.NewReader(cfgBytes))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: cfgSize, Digest: cfgHash},
		Layers:        []v1.Descriptor{},
	}
	for _, l := range st.layers {
		d := l.Descriptor()
		d.MediaType = layer.OCIMediaType(d.MediaType)
		if d.MediaType == "" {
			d.MediaType = types.OCILayer
		}
		m.Layers = append(m.Layers, d)
	}
	mBytes, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding manifest: %w", err)
	}
	bi := &builtImage{store: store, layers: st.layers, config: cfgBytes, manifest: mBytes}
	return partial.CompressedToImage(bi)
}

func (i *builtImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *builtImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (i *builtImage) RawManifest() ([]byte, error)        { return i.manifest, nil }

func (i *builtImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range i.layers {
		if l.Digest == h {
			return i.store.Layer(l)
		}
	}
	return nil, fmt.Errorf("image has no layer %s", h)
}

// finish assembles, stores and tags the target stage's image.
func (b *builder) finish(ctx context.Context, st *stageState) (*Result, error) {
	if err := b.ensureBlobs(ctx, st.layers, false); err != nil {
		return nil, err
	}
	layers, err := b.compressLayers(ctx, st.layers)
	if err != nil {
		return nil, err
	}
	st.layers = layers
	res, err := storeImage(ctx, b.opt.Store, st, b.opt.epoch(), b.opt.Tags)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	res.Steps = append([]StepResult(nil), b.steps...)
	b.mu.Unlock()
	return res, nil
}

// storeImage writes the image of st, whose layers are all in store, to
// store and tags it.
func storeImage(ctx context.Context, store *cache.Store, st *stageState, created time.Time, tags []string) (*Result, error) {
	img, err := newImage(store, st, v1.Time{Time: created})
	if err != nil {
		return nil, err
	}
	desc, err := store.WriteImage(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("storing image: %w", err)
	}
	for _, t := range tags {
		if err := store.Tag(ctx, t, desc); err != nil {
			return nil, fmt.Errorf("tagging %s: %w", t, err)
		}
	}
	stored, err := store.Image(ctx, desc.Digest)
	if err != nil {
		return nil, err
	}
	cfgName, err := stored.ConfigName()
	if err != nil {
		return nil, err
	}
	return &Result{Image: stored, Manifest: desc, ConfigDigest: cfgName, Layers: st.layers}, nil
}
