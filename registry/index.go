package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ibuild/ibuild/internal/atomicfile"
)

// indexImages returns the images an index lists. A nested index is an
// error: ibuild writes one level (platform images and attestations).
func indexImages(idx v1.ImageIndex) ([]v1.Descriptor, []v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	var imgs []v1.Image
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			return nil, nil, fmt.Errorf("index entry %s: media type %s is not an image manifest", d.Digest, d.MediaType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("index entry %s: %w", d.Digest, err)
		}
		imgs = append(imgs, img)
	}
	return im.Manifests, imgs, nil
}

// PushIndex writes idx and every image it lists to ref, as [Push] does for
// one image: the blobs of all the images first (each once, reported per
// blob), then each image's manifest by digest, and the index's manifest
// under ref last, so a failed push leaves no tag. Errors are *[Error]
// values naming ref and the index's digest.
func PushIndex(ctx context.Context, idx v1.ImageIndex, ref string, opts ...Option) (err error) {
	o, err := makeOptions(opts...)
	prog := &progress{ch: o.progress}
	defer func() { prog.close(err) }()
	if err != nil {
		return err
	}
	r, err := o.parse(ref)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		digest := ""
		if d, derr := idx.Digest(); derr == nil {
			digest = d.String()
		}
		return newError("pushing", ref, digest, err)
	}
	descs, imgs, err := indexImages(idx)
	if err != nil {
		return fail(err)
	}
	seen := map[v1.Hash]bool{}
	var blobs []v1.Layer
	for _, img := range imgs {
		ls, err := imageBlobs(img)
		if err != nil {
			return fail(err)
		}
		for _, l := range ls {
			if h, err := l.Digest(); err == nil && !seen[h] {
				seen[h] = true
				blobs = append(blobs, l)
			}
		}
	}
	if err := pushBlobs(ctx, o, r, blobs, prog); err != nil {
		return fail(err)
	}
	mo := *o
	mo.progress = nil
	for i, img := range imgs {
		if err := remote.Put(r.Context().Digest(descs[i].Digest.String()), img, mo.remote(ctx)...); err != nil {
			return fail(fmt.Errorf("manifest %s: %w", descs[i].Digest, err))
		}
	}
	if err := remote.Put(r, idx, mo.remote(ctx)...); err != nil {
		return fail(err)
	}
	return nil
}

// WriteOCILayoutIndex writes idx, with every image it lists, into the OCI
// image layout at dir, as [WriteOCILayout] writes one image: index.json
// gets one entry per tag pointing at idx (the layout BuildKit's oci
// exporter writes when an image carries attestations or several
// platforms).
func WriteOCILayoutIndex(ctx context.Context, dir string, idx v1.ImageIndex, tags []string) error {
	names, err := layoutNames(tags)
	if err != nil {
		return err
	}
	layoutIdx, err := readLayoutIndex(dir)
	if err != nil {
		return err
	}
	_, imgs, err := indexImages(idx)
	if err != nil {
		return fmt.Errorf("writing index to OCI layout %s: %w", dir, err)
	}
	for _, img := range imgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := writeImageBlobs(ctx, dir, img); err != nil {
			return fmt.Errorf("writing image to OCI layout %s: %w", dir, err)
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return fmt.Errorf("writing index to OCI layout %s: %w", dir, err)
	}
	dig, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("writing index to OCI layout %s: %w", dir, err)
	}
	mt, err := idx.MediaType()
	if err != nil {
		return fmt.Errorf("writing index to OCI layout %s: %w", dir, err)
	}
	if err := writeSmallBlob(dir, dig, raw); err != nil {
		return fmt.Errorf("writing index to OCI layout %s: %w", dir, err)
	}
	desc := v1.Descriptor{MediaType: mt, Digest: dig, Size: int64(len(raw))}
	layoutIdx.Manifests = addToIndex(layoutIdx.Manifests, desc, names)
	out, err := json.MarshalIndent(layoutIdx, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Join(dir, "index.json"), err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "index.json"), out, 0o644)
}
