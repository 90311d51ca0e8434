package registry

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// untaggedRepo names the image of an archive written without tags; only its
// digest is used and no RepoTags are written.
const untaggedRepo = "ibuild/untagged"

// WriteDockerArchive writes img as a `docker load` archive (the format of
// `docker save`) to dest. Each tag becomes a RepoTags entry in docker's short
// form ("app:1.0", "registry.example/app:1.0"); with no tags the image loads
// untagged.
//
// The archive is written to a temporary file beside dest and renamed over it
// only when complete, so a failure or cancellation leaves no half file.
func WriteDockerArchive(ctx context.Context, dest string, img v1.Image, tags []string) (err error) {
	refs, err := archiveRefs(img, tags)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing docker archive: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = tarball.MultiRefWrite(refs, ctxWriter{ctx, f}); err != nil {
		return fmt.Errorf("writing docker archive %s: %w", dest, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing docker archive %s: %w", dest, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing docker archive %s: %w", dest, err)
	}
	if err = os.Rename(f.Name(), dest); err != nil {
		return fmt.Errorf("writing docker archive: %w", err)
	}
	return nil
}

// archiveRefs maps each tag to img, spelled the way docker save spells it.
func archiveRefs(img v1.Image, tags []string) (map[name.Reference]v1.Image, error) {
	refs := map[name.Reference]v1.Image{}
	for _, t := range tags {
		ref, err := parseDocker(t)
		if err != nil {
			return nil, err
		}
		if _, ok := ref.(name.Tag); !ok {
			return nil, fmt.Errorf("tag %q: a docker archive cannot tag an image by digest", t)
		}
		short, err := name.NewTag(FamiliarName(normalized(ref)))
		if err != nil {
			return nil, fmt.Errorf("parsing tag %q: %w", t, err)
		}
		refs[short] = img
	}
	if len(refs) == 0 {
		d, err := img.Digest()
		if err != nil {
			return nil, fmt.Errorf("writing docker archive: %w", err)
		}
		ref, err := name.NewDigest(untaggedRepo + "@" + d.String())
		if err != nil {
			return nil, err
		}
		refs[ref] = img
	}
	return refs, nil
}

// ctxWriter fails writes once ctx is done, so a cancelled export stops.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// ReadDockerArchive opens an image of a `docker save` archive. tag selects
// the image by RepoTags entry (compared after normalisation, so "app:1.0"
// finds "docker.io/library/app:1.0"); "" selects the only image.
//
// The image reads the file lazily; layers are read from it on demand.
func ReadDockerArchive(ctx context.Context, file, tag string) (v1.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var tp *name.Tag
	if tag != "" {
		t, err := name.NewTag(tag)
		if err != nil {
			return nil, fmt.Errorf("parsing tag %q: %w", tag, err)
		}
		tp = &t
	}
	img, err := tarball.ImageFromPath(file, tp)
	if err != nil {
		return nil, fmt.Errorf("reading docker archive %s: %w", file, err)
	}
	// Manifest parsing is lazy in go-containerregistry; surface a bad file
	// here rather than at first use.
	if _, err := img.Manifest(); err != nil {
		return nil, fmt.Errorf("reading docker archive %s: %w", file, err)
	}
	return img, nil
}
