package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ibuild/ibuild/internal/atomicfile"
)

const (
	// AnnotationRefName is the OCI annotation that names a manifest in an
	// image layout; skopeo's oci:DIR:TAG and umoci's --image DIR:TAG look
	// it up. ibuild stores the tag part of the reference here ("1.0").
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// AnnotationImageName holds the full normalised reference
	// ("docker.io/library/app:1.0"), as containerd and docker buildx write it.
	AnnotationImageName = "io.containerd.image.name"

	// ociLayoutFile is the content of DIR/oci-layout.
	ociLayoutFile = `{"imageLayoutVersion":"1.0.0"}`
)

// WriteOCILayout writes img into the OCI image layout at dir, creating it if
// missing and adding to it otherwise. Blobs already present are kept.
//
// Each tag is a reference as given to `ibuild build -t` ("app:1.0",
// "registry.example/team/app:1.0"). As docker buildx does, its manifest
// entry in index.json gets org.opencontainers.image.ref.name set to the tag
// part ("1.0") and io.containerd.image.name to the full normalised reference,
// so `skopeo inspect oci:DIR:1.0` and `umoci unpack --image DIR:1.0` find it.
// An entry with the same ref.name is replaced, so a ref.name stays unique in
// the layout (tags that share a tag part, "a:1.0" and "b:1.0", keep only the
// last). With no tags the image is added without a name, once.
//
// Blobs are written through temporary files and index.json is replaced by a
// rename, so an interrupted write leaves the previous index intact.
func WriteOCILayout(ctx context.Context, dir string, img v1.Image, tags []string) error {
	names, err := layoutNames(tags)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	idx, err := readLayoutIndex(dir)
	if err != nil {
		return err
	}
	if err := writeImageBlobs(ctx, dir, img); err != nil {
		return fmt.Errorf("writing image to OCI layout %s: %w", dir, err)
	}
	desc, err := partial.Descriptor(img)
	if err != nil {
		return fmt.Errorf("writing image to OCI layout %s: %w", dir, err)
	}
	desc.Platform = nil
	return writeLayoutIndex(ctx, dir, idx, *desc, names)
}

// writeLayoutIndex adds desc, named names, to the layout's index.json idx
// and replaces the file.
func writeLayoutIndex(ctx context.Context, dir string, idx *v1.IndexManifest, desc v1.Descriptor, names []layoutName) error {
	idx.Manifests = addToIndex(idx.Manifests, desc, names)
	raw, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Join(dir, "index.json"), err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "index.json"), raw, 0o644)
}

// layoutName is one tag of WriteOCILayout: its ref.name and full name.
type layoutName struct{ refName, image string }

// layoutNames parses tags into layout annotations.
func layoutNames(tags []string) ([]layoutName, error) {
	var out []layoutName
	for _, t := range tags {
		ref, err := parseDocker(t)
		if err != nil {
			return nil, err
		}
		tag, ok := ref.(name.Tag)
		if !ok {
			return nil, fmt.Errorf("tag %q: a digest reference cannot name an image in an OCI layout", t)
		}
		out = append(out, layoutName{refName: tag.TagStr(), image: normalized(tag)})
	}
	return out, nil
}

// addToIndex returns manifests with desc added once per name, replacing
// entries with the same ref.name.
func addToIndex(manifests []v1.Descriptor, desc v1.Descriptor, names []layoutName) []v1.Descriptor {
	if len(names) == 0 {
		for _, m := range manifests {
			if m.Digest == desc.Digest && m.Annotations[AnnotationRefName] == "" {
				return manifests
			}
		}
		return append(manifests, desc)
	}
	for _, n := range names {
		kept := manifests[:0:0]
		for _, m := range manifests {
			if m.Annotations[AnnotationRefName] != n.refName {
				kept = append(kept, m)
			}
		}
		d := desc
		d.Annotations = map[string]string{AnnotationRefName: n.refName, AnnotationImageName: n.image}
		manifests = append(kept, d)
	}
	return manifests
}

// readLayoutIndex reads dir/index.json, or returns an empty index if the
// layout does not exist yet.
func readLayoutIndex(dir string) (*v1.IndexManifest, error) {
	p := filepath.Join(dir, "index.json")
	raw, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout: %w", err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("reading OCI layout: parsing %s: %w", p, err)
	}
	return &idx, nil
}

// writeImageBlobs writes oci-layout and img's blobs into dir. Config and
// manifest are written atomically here; layers go through
// go-containerregistry's temp-file-and-rename writer.
func writeImageBlobs(ctx context.Context, dir string, img v1.Image) error {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "oci-layout"), []byte(ociLayoutFile), 0o644); err != nil {
		return err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	for _, b := range []struct {
		h   v1.Hash
		raw []byte
	}{{cfgName, cfg}, {digest, manifest}} {
		if err := writeSmallBlob(dir, b.h, b.raw); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return layout.Path(dir).WriteImage(img)
}

// writeSmallBlob writes raw as blob h unless an identical blob exists.
func writeSmallBlob(dir string, h v1.Hash, raw []byte) error {
	p := filepath.Join(dir, "blobs", h.Algorithm, h.Hex)
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, raw) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, raw, 0o644)
}

// ReadOCILayout opens an image of the OCI layout at dir. tag selects the
// manifest whose org.opencontainers.image.ref.name is tag ("1.0") or whose
// io.containerd.image.name is tag normalised ("app:1.0"); "" selects the only
// manifest and is an error if there are several. If the entry is an index,
// the manifest for [WithPlatform] (default: host) is chosen.
func ReadOCILayout(ctx context.Context, dir, tag string, opts ...Option) (v1.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o, err := makeOptions(opts...)
	if err != nil {
		return nil, err
	}
	if err := checkLayoutFile(dir, "index.json", o.manifestLimit()); err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	desc, err := findLayoutEntry(im.Manifests, tag)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	if err := checkLayoutBlob(dir, desc, o.manifestLimit()); err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	if desc.MediaType.IsIndex() {
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading OCI layout %s: index %s: %w", dir, desc.Digest, err)
		}
		cm, err := child.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading OCI layout %s: index %s: %w", dir, desc.Digest, err)
		}
		d, err := MatchPlatform(cm.Manifests, o.platform)
		if err == nil {
			err = checkLayoutBlob(dir, d, o.manifestLimit())
		}
		if err != nil {
			return nil, fmt.Errorf("reading OCI layout %s: index %s: %w", dir, desc.Digest, err)
		}
		idx, desc = child, d
	}
	img, err := idx.Image(desc.Digest)
	if err == nil {
		err = checkConfigSize(img, o.configLimit())
	}
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: image %s: %w", dir, desc.Digest, err)
	}
	return img, nil
}

// findLayoutEntry picks the index entry tag names (see ReadOCILayout).
func findLayoutEntry(manifests []v1.Descriptor, tag string) (v1.Descriptor, error) {
	var names []string
	for _, m := range manifests {
		if n := m.Annotations[AnnotationRefName]; n != "" {
			names = append(names, n)
		}
	}
	if tag == "" {
		if len(manifests) != 1 {
			return v1.Descriptor{}, fmt.Errorf("layout holds %d images, choose one by tag (%s)", len(manifests), strings.Join(names, ", "))
		}
		return manifests[0], nil
	}
	full, _ := Normalize(tag)
	for _, m := range manifests {
		if m.Annotations[AnnotationRefName] == tag || (full != "" && m.Annotations[AnnotationImageName] == full) {
			return m, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("no image tagged %q (tags: %s)", tag, strings.Join(names, ", "))
}
