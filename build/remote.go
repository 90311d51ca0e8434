package build

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

// DefaultMaxDownloadSize bounds a file downloaded by ADD <url> unless
// Options.MaxDownloadSize says otherwise: the same as a layer's default
// uncompressed size limit.
const DefaultMaxDownloadSize int64 = 64 << 30

// ErrDownloadTooLarge is wrapped by the error of an ADD <url> download
// larger than its limit.
var ErrDownloadTooLarge = errors.New("exceeds the download size limit")

// remoteFile is a file downloaded for ADD <url>.
type remoteFile struct {
	url     string
	name    string
	file    string // temporary host file
	size    int64
	digest  string
	modTime time.Time
}

// download fetches an ADD URL into the store's temp area, verifying
// --checksum when given.
func (b *builder) download(ctx context.Context, rawURL, checksum string) (remoteFile, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return remoteFile{}, fmt.Errorf("invalid URL %q: %w", rawURL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return remoteFile{}, err
	}
	// net/http's default redirect bound (10) applies; the transport adds
	// the idle and total timeouts.
	client := &http.Client{Transport: b.opt.Download.Transport(http.DefaultTransport)}
	resp, err := client.Do(req)
	if err != nil {
		return remoteFile{}, fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return remoteFile{}, fmt.Errorf("downloading %s: %s", rawURL, resp.Status)
	}
	limit := b.opt.MaxDownloadSize
	if limit <= 0 {
		limit = DefaultMaxDownloadSize
	}
	if resp.ContentLength > limit {
		return remoteFile{}, fmt.Errorf("downloading %s: %d bytes %w of %d bytes (--max-download-size)", rawURL, resp.ContentLength, ErrDownloadTooLarge, limit)
	}
	dir, err := b.opt.Store.TempDir("download-")
	if err != nil {
		return remoteFile{}, err
	}
	f, err := os.CreateTemp(dir, "add-")
	if err != nil {
		os.RemoveAll(dir)
		return remoteFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, limit+1))
	if err == nil && n > limit {
		err = fmt.Errorf("more than %d bytes: %w (--max-download-size)", limit, ErrDownloadTooLarge)
	}
	if err != nil {
		os.RemoveAll(dir)
		return remoteFile{}, fmt.Errorf("downloading %s: %w", rawURL, err)
	}
	sum := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if checksum != "" && checksum != sum {
		os.RemoveAll(dir)
		return remoteFile{}, fmt.Errorf("ADD %s: checksum mismatch: expected %s, got %s", rawURL, checksum, sum)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		name = "index.html"
	}
	mt := b.opt.epoch()
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		mt = lm
	}
	return remoteFile{url: rawURL, name: name, file: f.Name(), size: n, digest: sum, modTime: mt}, nil
}
