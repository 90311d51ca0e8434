package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// defaultRetry is how often and how patiently requests and blob transfers
// are retried after 5xx answers, 429s and dropped connections: 4 attempts,
// waiting 0.5 s, 1 s and 2 s in between, so a registry that keeps failing
// fails a push or pull within a few seconds.
var defaultRetry = remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 4}

// WithRetry sets the retry policy: attempts tries in all (1 disables
// retries), the first wait being initial and each later one twice the
// previous. Only temporary failures are retried (5xx, 408, 429, timeouts and
// dropped connections); other 4xx answers fail at once. attempts below 1
// or a negative initial wait is an error.
func WithRetry(attempts int, initial time.Duration) Option {
	return func(o *options) error {
		if attempts < 1 || initial < 0 {
			return fmt.Errorf("invalid retry policy: %d attempts, first wait %s", attempts, initial)
		}
		o.retry = remote.Backoff{Duration: initial, Factor: 2, Jitter: 0.1, Steps: attempts}
		return nil
	}
}

// reauth retries a request once when the registry answers 401 although the
// request carried basic credentials: an auth backend that hiccuped. A second
// 401 is returned as is, so wrong credentials still fail at once. A 401 to
// a bearer token is left to go-containerregistry, which fetches a new token
// and sends the request again.
type reauth struct{ inner http.RoundTripper }

var _ http.RoundTripper = reauth{}

// RoundTrip implements [http.RoundTripper].
func (t reauth) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || r.Header.Get("Authorization") == "" ||
		strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		return resp, err
	}
	if r.Body != nil && r.Body != http.NoBody && r.GetBody == nil {
		return resp, nil // the body cannot be sent again
	}
	r2 := r.Clone(r.Context())
	if r.GetBody != nil {
		body, gerr := r.GetBody()
		if gerr != nil {
			return resp, nil
		}
		r2.Body = body
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return t.inner.RoundTrip(r2)
}

// retryingImage is a pulled image whose layer reads survive dropped
// connections: a read that fails with a temporary error reopens the blob
// and skips what was already delivered. Content is still verified by the
// reader (and again by whoever stores it).
type retryingImage struct {
	v1.Image
	ctx   context.Context
	retry remote.Backoff
	// index is the raw manifest of the index the image was chosen from,
	// or nil (see IndexOf).
	index []byte
}

// LayerByDigest implements [v1.Image].
func (i *retryingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return &retryingLayer{Layer: l, img: i}, nil
}

// Layers implements [v1.Image].
func (i *retryingImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for n, l := range ls {
		out[n] = &retryingLayer{Layer: l, img: i}
	}
	return out, nil
}

// retryingLayer reopens its blob after a dropped connection.
type retryingLayer struct {
	v1.Layer
	img *retryingImage
}

// Compressed implements [v1.Layer].
func (l *retryingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &resumingReader{l: l, rc: rc, wait: l.img.retry.Duration, left: l.img.retry.Steps - 1}, nil
}

// resumingReader is the reader of a retryingLayer.
type resumingReader struct {
	l    *retryingLayer
	rc   io.ReadCloser
	n    int64
	wait time.Duration
	left int
	// broken is the error that ended the current stream.
	broken error
}

// Read implements [io.Reader].
func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		if r.broken != nil {
			if r.left <= 0 || !isTemporary(r.broken) {
				return 0, r.broken
			}
			if err := r.reopen(); err != nil {
				return 0, errors.Join(r.broken, err)
			}
			r.broken = nil
		}
		n, err := r.rc.Read(p)
		r.n += int64(n)
		if err == nil || err == io.EOF {
			return n, err
		}
		r.broken = err
		if n > 0 {
			return n, nil
		}
	}
}

// reopen waits, opens the blob again and skips the bytes already read.
func (r *resumingReader) reopen() error {
	r.left--
	r.rc.Close()
	select {
	case <-time.After(r.wait):
	case <-r.l.img.ctx.Done():
		return r.l.img.ctx.Err()
	}
	r.wait *= 2
	rc, err := r.l.Layer.Compressed()
	if err != nil {
		return err
	}
	if _, err := io.CopyN(io.Discard, rc, r.n); err != nil {
		rc.Close()
		return err
	}
	r.rc = rc
	return nil
}

// Close implements [io.Closer].
func (r *resumingReader) Close() error { return r.rc.Close() }
