package attest

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations and media types of BuildKit's attestation storage
// (docs/attestations/attestation-storage.md in BuildKit).
const (
	AnnotationReferenceType   = "vnd.docker.reference.type"
	AnnotationReferenceDigest = "vnd.docker.reference.digest"
	ReferenceTypeAttestation  = "attestation-manifest"
	AnnotationPredicateType   = "in-toto.io/predicate-type"
	MediaTypeInToto           = types.MediaType("application/vnd.in-toto+json")
)

// Platform is the platform of an attestation manifest in an index, so that
// platform matching never picks it.
var Platform = v1.Platform{OS: "unknown", Architecture: "unknown"}

// Manifest makes the attestation manifest of the image subject describes:
// one in-toto layer per statement (annotated with its predicate type) and
// a config naming the platform unknown/unknown, as BuildKit's
// commitAttestationsManifest. It returns the manifest as an image and the
// descriptor to list in the index after the image: platform
// unknown/unknown and vnd.docker.reference.type=attestation-manifest,
// vnd.docker.reference.digest=<subject's digest>. Call it once per
// platform image.
func Manifest(subject v1.Descriptor, stmts []Statement) (v1.Image, v1.Descriptor, error) {
	if len(stmts) == 0 {
		return nil, v1.Descriptor{}, fmt.Errorf("attestation manifest for %s: no statements", subject.Digest)
	}
	a := &attestationImage{layers: map[v1.Hash]v1.Layer{}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	var diffIDs []string
	for _, s := range stmts {
		data, err := json.Marshal(s)
		if err != nil {
			return nil, v1.Descriptor{}, fmt.Errorf("encoding %s statement: %w", s.PredicateType, err)
		}
		l := static.NewLayer(data, MediaTypeInToto)
		d, _ := l.Digest()
		a.layers[d] = l
		diffIDs = append(diffIDs, d.String())
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: MediaTypeInToto, Digest: d, Size: int64(len(data)),
			Annotations: map[string]string{AnnotationPredicateType: s.PredicateType}})
	}
	// BuildKit's config: an ocispec Image with only the platform and the
	// statements as diff IDs ("config":{} as Go encodes an empty struct).
	cfg := struct {
		Architecture string   `json:"architecture"`
		OS           string   `json:"os"`
		Config       struct{} `json:"config"`
		RootFS       struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}{Architecture: Platform.Architecture, OS: Platform.OS}
	cfg.RootFS.Type, cfg.RootFS.DiffIDs = "layers", diffIDs
	var err error
	if a.config, err = json.Marshal(cfg); err != nil {
		return nil, v1.Descriptor{}, err
	}
	cd, _, err := v1.SHA256(bytes.NewReader(a.config))
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Digest: cd, Size: int64(len(a.config))}
	a.layers[cd] = static.NewLayer(a.config, types.OCIConfigJSON)
	if a.manifest, err = json.MarshalIndent(m, "", "  "); err != nil {
		return nil, v1.Descriptor{}, err
	}
	img, err := partial.CompressedToImage(a)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	md, err := img.Digest()
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	p := Platform
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: md, Size: int64(len(a.manifest)), Platform: &p,
		Annotations: map[string]string{AnnotationReferenceType: ReferenceTypeAttestation, AnnotationReferenceDigest: subject.Digest.String()}}
	return img, desc, nil
}

// attestationImage is the attestation manifest as a v1.Image.
type attestationImage struct {
	config, manifest []byte
	layers           map[v1.Hash]v1.Layer
}

var _ partial.CompressedImageCore = (*attestationImage)(nil)

func (a *attestationImage) RawConfigFile() ([]byte, error)      { return a.config, nil }
func (a *attestationImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *attestationImage) RawManifest() ([]byte, error)        { return a.manifest, nil }

func (a *attestationImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := a.layers[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("attestation manifest has no blob %s", h)
}
