package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Limits on the metadata a pull reads into memory. go-containerregistry
// reads manifests (up to 100 MiB) and configs (up to their declared size,
// whatever it is) whole; a hostile registry or layout could make a pull
// allocate gigabytes. Real manifests are a few KiB, real configs rarely
// above 100 KiB.
const (
	// DefaultMaxManifestSize bounds a manifest or index.
	DefaultMaxManifestSize int64 = 4 << 20
	// DefaultMaxConfigSize bounds an image config.
	DefaultMaxConfigSize int64 = 8 << 20
)

// ErrTooLarge is wrapped by the error of a pull whose manifest, index or
// config exceeds its limit.
var ErrTooLarge = errors.New("exceeds the size limit")

// WithMaxManifestSize bounds manifests and indexes read by Image and
// ReadOCILayout (default DefaultMaxManifestSize); n <= 0 restores the default.
func WithMaxManifestSize(n int64) Option {
	return func(o *options) error { o.maxManifest = n; return nil }
}

// WithMaxConfigSize bounds image configs read by Image and ReadOCILayout
// (default DefaultMaxConfigSize); n <= 0 restores the default.
func WithMaxConfigSize(n int64) Option {
	return func(o *options) error { o.maxConfig = n; return nil }
}

func (o *options) manifestLimit() int64 {
	if o.maxManifest <= 0 {
		return DefaultMaxManifestSize
	}
	return o.maxManifest
}

func (o *options) configLimit() int64 {
	if o.maxConfig <= 0 {
		return DefaultMaxConfigSize
	}
	return o.maxConfig
}

// capManifests fails manifest responses longer than limit, checking the
// declared Content-Length and the bytes actually read.
type capManifests struct {
	inner http.RoundTripper
	limit int64
}

var _ http.RoundTripper = capManifests{}

func (c capManifests) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.inner.RoundTrip(req)
	if err != nil || !strings.Contains(req.URL.Path, "/manifests/") || req.Method != http.MethodGet {
		return resp, err
	}
	if resp.ContentLength > c.limit {
		resp.Body.Close()
		return nil, fmt.Errorf("manifest of %d bytes %w of %d bytes", resp.ContentLength, ErrTooLarge, c.limit)
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: c.limit}
	return resp, nil
}

// cappedBody fails a read past left bytes.
type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, fmt.Errorf("manifest %w", ErrTooLarge)
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, fmt.Errorf("manifest %w", ErrTooLarge)
	}
	return n, err
}

// checkConfigSize fails an image whose manifest declares a config larger
// than limit, or a config or layer size that is not positive, before the
// config is fetched.
func checkConfigSize(img v1.Image, limit int64) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	if err := checkDescriptors(m); err != nil {
		return err
	}
	if m.Config.Size > limit {
		return fmt.Errorf("config %s of %d bytes %w of %d bytes", m.Config.Digest, m.Config.Size, ErrTooLarge, limit)
	}
	return nil
}

// checkLayoutFile fails if the file at dir/rel is larger than limit (the
// layout package reads index.json and manifests whole).
func checkLayoutFile(dir, rel string, limit int64) error {
	fi, err := os.Stat(filepath.Join(dir, rel))
	if err != nil {
		return err
	}
	if fi.Size() > limit {
		return fmt.Errorf("%s of %d bytes %w of %d bytes", rel, fi.Size(), ErrTooLarge, limit)
	}
	return nil
}

// checkLayoutBlob is checkLayoutFile for the blob desc names.
func checkLayoutBlob(dir string, desc v1.Descriptor, limit int64) error {
	if desc.Size > limit {
		return fmt.Errorf("%s of %d bytes %w of %d bytes", desc.Digest, desc.Size, ErrTooLarge, limit)
	}
	return checkLayoutFile(dir, filepath.Join("blobs", desc.Digest.Algorithm, desc.Digest.Hex), limit)
}
