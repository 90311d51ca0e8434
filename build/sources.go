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
}

// sources lists the images resolved during the build, by reference.
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
		d, err := f.img.Digest()
		if err != nil {
			continue
		}
		s := ImageSource{Ref: ref, Digest: d}
		if cf, err := f.img.ConfigFile(); err == nil {
			s.Platform = v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out
}
