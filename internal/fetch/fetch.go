package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"time"
)

// DefaultMaxSize bounds a download unless Options.MaxSize says otherwise:
// the same as a layer's default uncompressed size limit.
const DefaultMaxSize int64 = 64 << 30

// ErrTooLarge is wrapped by the error of a download larger than its limit.
var ErrTooLarge = errors.New("exceeds the download size limit")

// Options bound and check one download.
type Options struct {
	// Transport carries the request (timeouts, proxies); nil means
	// http.DefaultTransport. net/http's redirect bound (10) applies.
	Transport http.RoundTripper
	// MaxSize is the largest body accepted; 0 means DefaultMaxSize.
	MaxSize int64
	// Checksum, when set ("sha256:<hex>"), must equal the body's digest.
	Checksum string
	// LimitHint names the setting that raises MaxSize, for the error
	// message (for example "--max-download-size").
	LimitHint string
}

// File is a downloaded file.
type File struct {
	URL string
	// Name is the last element of the URL's path, or "index.html" when
	// the path has none.
	Name string
	// Path is the file on the host, inside the directory given to Get.
	Path   string
	Size   int64
	Digest string // "sha256:<hex>" of the body
	// ModTime is the server's Last-Modified time, zero when it sent none.
	ModTime time.Time
}

// Get downloads rawURL into a new file in dir. A status other than 200, a
// body larger than the limit (wrapping ErrTooLarge) or a checksum mismatch
// is an error naming the URL; on error the partial file is removed.
func Get(ctx context.Context, rawURL, dir string, opt Options) (File, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return File{}, fmt.Errorf("invalid URL %q: %w", rawURL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return File{}, fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	transport := opt.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return File{}, fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return File{}, fmt.Errorf("downloading %s: %s", rawURL, resp.Status)
	}
	limit := opt.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	hint := ""
	if opt.LimitHint != "" {
		hint = " (" + opt.LimitHint + ")"
	}
	if resp.ContentLength > limit {
		return File{}, fmt.Errorf("downloading %s: %d bytes %w of %d bytes%s", rawURL, resp.ContentLength, ErrTooLarge, limit, hint)
	}
	f, err := os.CreateTemp(dir, "add-")
	if err != nil {
		return File{}, fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	n, sum, err := copyBody(f, resp.Body, limit)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > limit {
		err = fmt.Errorf("more than %d bytes: %w%s", limit, ErrTooLarge, hint)
	}
	if err == nil && opt.Checksum != "" && opt.Checksum != sum {
		err = fmt.Errorf("checksum mismatch: expected %s, got %s", opt.Checksum, sum)
	}
	if err != nil {
		os.Remove(f.Name())
		return File{}, fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		name = "index.html"
	}
	var mt time.Time
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		mt = lm
	}
	return File{URL: rawURL, Name: name, Path: f.Name(), Size: n, Digest: sum, ModTime: mt}, nil
}

// copyBody copies at most limit+1 bytes of r to w (one more than allowed,
// so that the caller sees the excess) and returns the count and digest.
func copyBody(w io.Writer, r io.Reader, limit int64) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, limit+1))
	return n, "sha256:" + hex.EncodeToString(h.Sum(nil)), err
}
