package build

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/ibuild/ibuild/internal/fetch"
)

// DefaultMaxDownloadSize bounds a file downloaded by ADD <url> unless
// Options.MaxDownloadSize says otherwise: the same as a layer's default
// uncompressed size limit.
const DefaultMaxDownloadSize = fetch.DefaultMaxSize

// ErrDownloadTooLarge is wrapped by the error of an ADD <url> download
// larger than its limit.
var ErrDownloadTooLarge = fetch.ErrTooLarge

// remoteFile is a file downloaded for ADD <url>.
type remoteFile struct {
	url     string
	name    string
	file    string // temporary host file
	size    int64
	digest  string
	modTime time.Time
}

// download fetches an ADD URL into the store's temp area (internal/fetch
// does the HTTP), verifying --checksum when given. The file is named after
// the URL's last path element and dated by Last-Modified, or the build's
// epoch when the server sends none, as BuildKit does.
func (b *builder) download(ctx context.Context, rawURL, checksum string) (remoteFile, error) {
	dir, err := b.opt.Store.TempDir("download-")
	if err != nil {
		return remoteFile{}, err
	}
	f, err := fetch.Get(ctx, rawURL, dir, fetch.Options{
		Transport: b.opt.Download.Transport(http.DefaultTransport),
		MaxSize:   b.opt.MaxDownloadSize,
		Checksum:  checksum,
		LimitHint: "--max-download-size",
	})
	if err != nil {
		os.RemoveAll(dir)
		return remoteFile{}, err
	}
	mt := f.ModTime
	if mt.IsZero() {
		mt = b.opt.epoch()
	}
	return remoteFile{url: f.URL, name: f.Name, file: f.Path, size: f.Size, digest: f.Digest, modTime: mt}, nil
}
