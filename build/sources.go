package build

import (
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageSource is an image a build read: a FROM base, a COPY --from or RUN
// --mount=from image, or a docker-image:// named context. Provenance lists
// them as materials.
type ImageSource struct {
	// Ref is the reference as the Dockerfile (after build args) or the
	// named context gave it.
	Ref string `json:"ref"`
	// Digest is the digest of the image manifest it resolved to.
	Digest   v1.Hash     `json:"digest"`
	Platform v1.Platform `json:"platform"`
	// Layout marks an image read from an OCI layout (an oci-layout://
	// named context); Ref is then DIR[:TAG].
	Layout bool `json:"layout,omitempty"`
}

// addLayoutSource records an image read from an oci-layout:// context.
func (b *builder) addLayoutSource(nc NamedContext, img v1.Image) {
	s, ok := imageSource(nc.Layout, img)
	if !ok {
		return
	}
	if nc.LayoutTag != "" {
		s.Ref += ":" + nc.LayoutTag
	}
	s.Layout = true
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range b.layouts {
		if o.Ref == s.Ref && o.Digest == s.Digest {
			return
		}
	}
	b.layouts = append(b.layouts, s)
}

// imageSource describes img as read through ref.
func imageSource(ref string, img v1.Image) (ImageSource, bool) {
	d, err := img.Digest()
	if err != nil {
		return ImageSource{}, false
	}
	s := ImageSource{Ref: ref, Digest: d}
	if cf, err := img.ConfigFile(); err == nil {
		s.Platform = v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	}
	return s, true
}

// sources lists the images resolved during the build, by reference, and
// those read from OCI layouts.
func (b *builder) sources() []ImageSource {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []ImageSource
	for ref, f := range b.images {
		select {
		case <-f.done:
		default:
			continue
		}
		if f.err != nil || f.img == nil {
			continue
		}
		if s, ok := imageSource(ref, f.img); ok {
			out = append(out, s)
		}
	}
	out = append(out, b.layouts...)
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out
}
