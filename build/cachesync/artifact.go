package cachesync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/cache"
)

// ConfigMediaType is the media type of the cache artifact's config blob.
const ConfigMediaType types.MediaType = "application/vnd.ibuild.cache.config.v1+json"

// indexVersion is the Index format this package writes and reads.
const indexVersion = 1

// Mode selects which steps an export includes.
type Mode string

// The export modes of --cache-to.
const (
	// ModeMin exports the steps of the target stage (the default).
	ModeMin Mode = "min"
	// ModeMax exports the steps of every stage.
	ModeMax Mode = "max"
)

// ParseMode validates a mode= value; "" is ModeMin.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeMin:
		return ModeMin, nil
	case ModeMax:
		return ModeMax, nil
	}
	return "", fmt.Errorf("invalid cache mode %q: want min or max", s)
}

// Index is the config blob of a cache artifact.
type Index struct {
	// Version is the format version (1).
	Version int `json:"version"`
	// Steps maps a step key ("sha256:…") to its record.
	Steps map[string]cache.StepRecord `json:"steps"`
}

// artifact is the cache as a v1.Image: the index as config, the layers
// read from the local store.
type artifact struct {
	store    *cache.Store
	config   []byte
	manifest []byte
	layers   map[v1.Hash]cache.StepRecord
}

var _ partial.CompressedImageCore = (*artifact)(nil)

// newArtifact builds the artifact for steps, keeping those mode selects.
// A record whose layer blob is not in the store (a step reused from another
// cache whose layer this build never needed) is left out.
func newArtifact(store *cache.Store, steps []build.ExportedStep, mode Mode) (v1.Image, int, error) {
	idx := Index{Version: indexVersion, Steps: map[string]cache.StepRecord{}}
	a := &artifact{store: store, layers: map[v1.Hash]cache.StepRecord{}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Layers: []v1.Descriptor{}}
	for _, s := range steps {
		if mode != ModeMax && !s.Final {
			continue
		}
		if l := s.Record.Layer; l != nil {
			if !store.HasBlob(l.Digest) {
				continue
			}
			if _, dup := a.layers[l.Digest]; !dup {
				a.layers[l.Digest] = s.Record
				m.Layers = append(m.Layers, l.Descriptor())
			}
		}
		idx.Steps[s.Key.String()] = s.Record
	}
	var err error
	if a.config, err = json.Marshal(idx); err != nil {
		return nil, 0, fmt.Errorf("encoding cache index: %w", err)
	}
	sum := sha256.Sum256(a.config)
	m.Config = v1.Descriptor{MediaType: ConfigMediaType, Size: int64(len(a.config)),
		Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
	if a.manifest, err = json.Marshal(m); err != nil {
		return nil, 0, fmt.Errorf("encoding cache manifest: %w", err)
	}
	img, err := partial.CompressedToImage(a)
	return img, len(idx.Steps), err
}

// RawConfigFile implements [partial.CompressedImageCore].
func (a *artifact) RawConfigFile() ([]byte, error) { return a.config, nil }

// MediaType implements [partial.CompressedImageCore].
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// RawManifest implements [partial.CompressedImageCore].
func (a *artifact) RawManifest() ([]byte, error) { return a.manifest, nil }

// LayerByDigest implements [partial.CompressedImageCore].
func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	rec, ok := a.layers[h]
	if !ok {
		return nil, fmt.Errorf("cache artifact has no layer %s", h)
	}
	return a.store.Layer(*rec.Layer)
}

// readIndex checks that img is a cache artifact and decodes its index,
// verifying the config blob against the manifest.
func readIndex(ctx context.Context, img v1.Image) (*Index, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	if m.Config.MediaType != ConfigMediaType {
		return nil, fmt.Errorf("not an ibuild cache: config media type is %q, want %q", m.Config.MediaType, ConfigMediaType)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading cache index %s: %w", m.Config.Digest, err)
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); m.Config.Digest.Hex != got || int64(len(raw)) != m.Config.Size {
		return nil, fmt.Errorf("cache index %s: digest mismatch: got sha256:%s", m.Config.Digest, got)
	}
	var idx Index
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&idx); err != nil {
		return nil, fmt.Errorf("decoding cache index %s: %w", m.Config.Digest, err)
	}
	if idx.Version != indexVersion {
		return nil, fmt.Errorf("cache index %s: unsupported version %d", m.Config.Digest, idx.Version)
	}
	inManifest := map[v1.Hash]bool{}
	for _, l := range m.Layers {
		inManifest[l.Digest] = true
	}
	for k, rec := range idx.Steps {
		if rec.Layer != nil && !inManifest[rec.Layer.Digest] {
			delete(idx.Steps, k) // its layer did not travel with the cache
		}
	}
	return &idx, nil
}
