package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/internal/atomicfile"
)

// RefNameAnnotation is the OCI annotation that names a tag in index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// TagEntry is one tag in the store.
type TagEntry struct {
	// Name is the tag's reference, as given to Tag.
	Name string
	// Manifest is the descriptor of the tagged manifest.
	Manifest v1.Descriptor
	// Created is the image config's creation time; zero if the config is
	// missing or has none.
	Created time.Time
}

// readIndex reads index.json. It needs no lock: index.json is only ever
// replaced by rename. A garbled index.json (damaged outside ibuild) is
// replaced by the copy in index.json.bak, which every update writes first,
// with a warning; if the backup does not parse either, the error names both.
func (s *Store) readIndex() (*v1.IndexManifest, error) {
	idx, err := loadIndexFile(s.path(indexFile))
	if err == nil || errors.Is(err, os.ErrNotExist) {
		if errors.Is(err, os.ErrNotExist) {
			return emptyIndex(), nil
		}
		return idx, nil
	}
	bak, berr := loadIndexFile(s.path(indexBackup))
	if berr != nil {
		return nil, fmt.Errorf("%s is corrupt (%w), and so is its backup %s (%v); remove both to start with no tags",
			s.path(indexFile), err, indexBackup, berr)
	}
	s.warnf("%s is corrupt (%v); using the tags in %s", s.path(indexFile), err, indexBackup)
	return bak, nil
}

// loadIndexFile reads and validates an image index file.
func loadIndexFile(p string) (*v1.IndexManifest, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx, err := v1.ParseIndexManifest(f)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", p, err)
	}
	if idx.SchemaVersion != 2 {
		return nil, fmt.Errorf("parsing %s: schemaVersion %d, want 2", p, idx.SchemaVersion)
	}
	for _, m := range idx.Manifests {
		if err := checkHash(m.Digest); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", p, err)
		}
	}
	return idx, nil
}

// updateIndex applies fn to index.json under the store's lock and replaces
// the file atomically. If fn fails, index.json is left unchanged.
func (s *Store) updateIndex(ctx context.Context, fn func(*v1.IndexManifest) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockPath(ctx, s.path(lockFile))
	if err != nil {
		return fmt.Errorf("locking %s: %w", s.path(lockFile), err)
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(idx); err != nil {
		return err
	}
	if idx.Manifests == nil {
		idx.Manifests = []v1.Descriptor{}
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	// The backup is written first, so that whichever file a crash or an
	// outside hand damages, the other holds the latest tags.
	if err := atomicfile.WriteFile(s.path(indexBackup), b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", s.path(indexBackup), err)
	}
	if err := atomicfile.WriteFile(s.path(indexFile), b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", s.path(indexFile), err)
	}
	return nil
}

// refName returns a descriptor's tag name, or "".
func refName(d v1.Descriptor) string { return d.Annotations[RefNameAnnotation] }

// Tag points name at a stored manifest. name is a reference string the
// caller has already normalised (for example
// "docker.io/library/app:latest"); it is stored verbatim as the
// org.opencontainers.image.ref.name annotation. Re-tagging replaces the old
// entry in place. The manifest blob must already be in the store.
func (s *Store) Tag(ctx context.Context, name string, manifest v1.Descriptor) error {
	if name == "" {
		return errors.New("tagging: empty name")
	}
	if !s.HasBlob(manifest.Digest) {
		return fmt.Errorf("tagging %s: manifest %s: %w", name, manifest.Digest, ErrNotFound)
	}
	d := v1.Descriptor{
		MediaType:   manifest.MediaType,
		Size:        manifest.Size,
		Digest:      manifest.Digest,
		Platform:    manifest.Platform,
		Annotations: map[string]string{},
	}
	for k, v := range manifest.Annotations {
		d.Annotations[k] = v
	}
	d.Annotations[RefNameAnnotation] = name
	err := s.updateIndex(ctx, func(idx *v1.IndexManifest) error {
		i := slices.IndexFunc(idx.Manifests, func(m v1.Descriptor) bool { return refName(m) == name })
		if i < 0 {
			idx.Manifests = append(idx.Manifests, d)
			return nil
		}
		idx.Manifests[i] = d
		// Drop duplicates another tool may have written.
		idx.Manifests = slices.Concat(idx.Manifests[:i+1], slices.DeleteFunc(slices.Clone(idx.Manifests[i+1:]),
			func(m v1.Descriptor) bool { return refName(m) == name }))
		return nil
	})
	if err != nil {
		return fmt.Errorf("tagging %s: %w", name, err)
	}
	return nil
}

// Untag removes the tag name. The image's blobs stay in the store. A
// missing tag is an error wrapping ErrNotFound.
func (s *Store) Untag(ctx context.Context, name string) error {
	err := s.updateIndex(ctx, func(idx *v1.IndexManifest) error {
		n := len(idx.Manifests)
		idx.Manifests = slices.DeleteFunc(idx.Manifests, func(m v1.Descriptor) bool { return refName(m) == name })
		if len(idx.Manifests) == n {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("untagging %s: %w", name, err)
	}
	return nil
}

// Resolve returns the manifest descriptor tagged name (including the
// ref.name annotation). A missing tag is an error wrapping ErrNotFound.
func (s *Store) Resolve(ctx context.Context, name string) (v1.Descriptor, error) {
	if err := ctx.Err(); err != nil {
		return v1.Descriptor{}, err
	}
	idx, err := s.readIndex()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("resolving %s: %w", name, err)
	}
	for _, m := range idx.Manifests {
		if refName(m) == name {
			return m, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("resolving %s: %w", name, ErrNotFound)
}

// Tags lists the tags in index.json order. Created is read from each
// image's config; it is zero when the config cannot be read.
func (s *Store) Tags(ctx context.Context) ([]TagEntry, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, fmt.Errorf("listing tags: %w", err)
	}
	var out []TagEntry
	for _, m := range idx.Manifests {
		name := refName(m)
		if name == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out = append(out, TagEntry{Name: name, Manifest: m, Created: s.created(m.Digest)})
	}
	return out, nil
}

// created returns the creation time in the config of a stored image.
func (s *Store) created(manifest v1.Hash) time.Time {
	var m v1.Manifest
	if err := s.readSmallJSON(manifest, &m); err != nil {
		return time.Time{}
	}
	var cfg struct {
		Created time.Time `json:"created"`
	}
	if err := s.readSmallJSON(m.Config.Digest, &cfg); err != nil {
		return time.Time{}
	}
	return cfg.Created
}

// maxSmallBlob bounds manifests and configs read into memory.
const maxSmallBlob = 32 << 20

// readSmallBlob reads a verified manifest or config blob into memory.
func (s *Store) readSmallBlob(h v1.Hash) ([]byte, error) {
	rc, err := s.openBlob(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSmallBlob+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSmallBlob {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", h, maxSmallBlob)
	}
	return b, nil
}

// readSmallJSON decodes a verified JSON blob.
func (s *Store) readSmallJSON(h v1.Hash, v any) error {
	b, err := s.readSmallBlob(h)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parsing blob %s: %w", h, err)
	}
	return nil
}
