package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// defaultChunkSize is how many bytes one PATCH of a blob upload carries. A
// dropped connection costs at most one chunk: the upload resumes from the
// offset the registry reports.
const defaultChunkSize = 8 << 20

// withChunkSize sets the upload chunk size; for tests. A size below 1 is
// an error.
func withChunkSize(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("invalid upload chunk size %d", n)
		}
		o.chunkSize = n
		return nil
	}
}

// uploader puts blobs into one repository: HEAD to skip what exists, POST
// (with a cross-repository mount where possible), PATCH in chunks resuming
// from the registry's reported offset after a failure, PUT to commit.
type uploader struct {
	o     *options
	rt    http.RoundTripper // authenticated for push (and pull from mount)
	repo  name.Repository
	mount name.Reference
	rep   *blobReporter
	prog  *progress
}

// newUploader authenticates against r's registry with push scope.
func newUploader(ctx context.Context, o *options, r name.Reference, rep *blobReporter, prog *progress) (*uploader, error) {
	repo := r.Context()
	scopes := []string{repo.Scope(transport.PushScope)}
	mount := o.mountSource(r)
	if mount != nil {
		scopes = append(scopes, mount.Context().Scope(transport.PullScope))
	}
	auth, err := o.keychain.Resolve(repo)
	if err != nil {
		return nil, fmt.Errorf("resolving credentials: %w", err)
	}
	var rt http.RoundTripper = reauth{inner: o.bounded()}
	if o.userAgent != "" {
		rt = transport.NewUserAgent(rt, o.userAgent)
	}
	rt, err = transport.NewWithContext(ctx, repo.Registry, auth, rt, scopes)
	if err != nil {
		return nil, err
	}
	return &uploader{o: o, rt: rt, repo: repo, mount: mount, rep: rep, prog: prog}, nil
}

// imageBlobs returns img's distributable layers and its config, each once.
func imageBlobs(img v1.Image) ([]v1.Layer, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	cl, err := partial.ConfigLayer(img)
	if err != nil {
		return nil, err
	}
	seen := map[v1.Hash]bool{}
	var out []v1.Layer
	for _, l := range append(ls, cl) {
		h, err := l.Digest()
		if err != nil {
			return nil, err
		}
		if mt, err := l.MediaType(); err == nil && !mt.IsDistributable() || seen[h] {
			continue
		}
		seen[h] = true
		out = append(out, l)
	}
	return out, nil
}

// blob makes sure l is in the repository.
func (u *uploader) blob(ctx context.Context, l v1.Layer) error {
	h, err := l.Digest()
	if err != nil {
		return err
	}
	size, err := l.Size()
	if err != nil {
		return fmt.Errorf("blob %s: %w", h, err)
	}
	if ok, err := u.exists(ctx, h); err != nil || ok {
		if ok {
			u.rep.send(BlobEvent{Digest: h, Size: size, State: BlobExists})
			u.prog.add(size)
		}
		return err
	}
	loc, mounted, err := u.start(ctx, h, u.mount)
	if err != nil || mounted {
		if mounted {
			u.rep.send(BlobEvent{Digest: h, Size: size, State: BlobMounted})
			u.prog.add(size)
		}
		return err
	}
	if loc, err = u.send(ctx, l, h, size, loc); err != nil {
		return fmt.Errorf("uploading blob %s: %w", h, err)
	}
	if err := u.commit(ctx, loc, h); err != nil {
		return fmt.Errorf("committing blob %s: %w", h, err)
	}
	u.rep.send(BlobEvent{Digest: h, Size: size, State: BlobPushed})
	return nil
}

// blobURL is the URL of a blob (or, with digest "uploads/", of the upload
// endpoint) in the repository.
func (u *uploader) blobURL(digest string) string {
	return fmt.Sprintf("%s://%s/v2/%s/blobs/%s", u.repo.Registry.Scheme(), u.repo.RegistryStr(), u.repo.RepositoryStr(), digest)
}

// exists HEADs the blob.
func (u *uploader) exists(ctx context.Context, h v1.Hash) (bool, error) {
	resp, err := u.do(ctx, http.MethodHead, u.blobURL(h.String()), http.StatusOK, http.StatusNotFound)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// start opens an upload session, or mounts the blob from mount's repository
// (reported by mounted).
func (u *uploader) start(ctx context.Context, h v1.Hash, mount name.Reference) (loc string, mounted bool, err error) {
	target := u.blobURL("uploads/")
	if mount != nil {
		target += "?" + url.Values{"mount": {h.String()}, "from": {mount.Context().RepositoryStr()}}.Encode()
	}
	resp, err := u.do(ctx, http.MethodPost, target, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return "", false, fmt.Errorf("starting upload of blob %s: %w", h, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return "", true, nil
	}
	loc, err = location(resp, "")
	return loc, false, err
}

// location resolves resp's Location header against its request URL;
// without one, it returns old.
func location(resp *http.Response, old string) (string, error) {
	l := resp.Header.Get("Location")
	if l == "" {
		if old == "" {
			return "", errors.New("registry sent no upload location")
		}
		return old, nil
	}
	u, err := resp.Request.URL.Parse(l)
	if err != nil {
		return "", fmt.Errorf("upload location %q: %w", l, err)
	}
	return u.String(), nil
}

// send uploads l's bytes to the session at loc in chunks and returns the
// session's final location. A chunk that fails with a temporary error or a
// dropped connection is followed by a GET of the session, and the upload
// continues from the offset the registry reports there; if the session is
// gone, a new one starts from byte 0.
func (u *uploader) send(ctx context.Context, l v1.Layer, h v1.Hash, size int64, loc string) (string, error) {
	chunk := u.o.chunkSize
	if chunk <= 0 {
		chunk = defaultChunkSize
	}
	var (
		off, sent int64         // registry's offset, bytes counted in progress
		rc        io.ReadCloser // the blob, positioned at off
		attempt   = 1
		wait      = u.o.retry.Duration
	)
	u.rep.opened(h, size)
	defer func() {
		if rc != nil {
			rc.Close()
		}
	}()
	for off < size {
		var err error
		if rc == nil {
			if rc, err = openAt(l, off); err != nil {
				return "", err
			}
		}
		n := min(chunk, size-off)
		next, consumed, err := u.patch(ctx, l, rc, loc, off, n)
		if err == nil && consumed {
			loc, off = next, off+n
			u.prog.add(off - sent)
			sent = off
			u.chunkDone(h, size, off)
			continue
		}
		rc.Close()
		rc = nil
		if err == nil { // sent from a fresh copy: rc's position is unknown
			loc, off = next, off+n
			u.prog.add(off - sent)
			sent = off
			u.chunkDone(h, size, off)
			continue
		}
		if attempt >= max(u.o.retry.Steps, 1) || !retryable(ctx, err) {
			return "", err
		}
		attempt++
		u.rep.opened(h, size)
		if err := sleep(ctx, wait); err != nil {
			return "", err
		}
		wait *= 2
		if loc, off, err = u.status(ctx, h, loc); err != nil {
			return "", err
		}
		u.prog.add(off - sent)
		sent = off
	}
	return loc, nil
}

// chunkDone reports a committed chunk of an upload that has more to send.
func (u *uploader) chunkDone(h v1.Hash, size, off int64) {
	if off < size {
		u.rep.send(BlobEvent{Digest: h, Size: size, State: BlobProgress, Sent: off})
	}
}

// openAt opens l's compressed bytes and skips the first off.
func openAt(l v1.Layer, off int64) (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		rc.Close()
		return nil, fmt.Errorf("skipping to offset %d: %w", off, err)
	}
	return rc, nil
}

// patch sends n bytes of rc as the chunk at off and returns the session's
// next location and whether exactly n bytes of rc were read. The body can be
// sent again (go-containerregistry resends a request after refreshing an
// expired token): a resend reads the chunk from a fresh copy of the blob.
func (u *uploader) patch(ctx context.Context, l v1.Layer, rc io.Reader, loc string, off, n int64) (string, bool, error) {
	body := &chunkBody{first: &io.LimitedReader{R: rc, N: n}, open: func() (io.ReadCloser, error) {
		again, err := openAt(l, off)
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{io.LimitReader(again, n), again}, nil
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, loc, body)
	if err != nil {
		return "", false, err
	}
	req.ContentLength = n
	req.GetBody = body.open
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+n-1))
	resp, err := u.rt.RoundTrip(req)
	consumed := !body.reopened && body.first.N == 0
	if err != nil {
		return "", consumed, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusAccepted, http.StatusNoContent); err != nil {
		return "", consumed, err
	}
	next, err := location(resp, loc)
	return next, consumed, err
}

// chunkBody is a PATCH body that reads first the first time and, once
// closed, a freshly opened copy of the chunk each later time.
type chunkBody struct {
	first    *io.LimitedReader
	open     func() (io.ReadCloser, error)
	cur      io.ReadCloser
	closed   bool
	reopened bool
}

// Read implements [io.Reader].
func (b *chunkBody) Read(p []byte) (int, error) {
	if !b.closed {
		return b.first.Read(p)
	}
	if b.cur == nil {
		rc, err := b.open()
		if err != nil {
			return 0, err
		}
		b.cur, b.reopened = rc, true
	}
	return b.cur.Read(p)
}

// Close implements [io.Closer]: the next Read starts the chunk again.
func (b *chunkBody) Close() error {
	b.closed = true
	if b.cur != nil {
		err := b.cur.Close()
		b.cur = nil
		return err
	}
	return nil
}

// status asks the registry how much of the session at loc it holds
// (Range: 0-LAST) and returns the session's location and the offset to
// continue from. A session the registry no longer knows is replaced by a
// new one at offset 0.
func (u *uploader) status(ctx context.Context, h v1.Hash, loc string) (string, int64, error) {
	resp, err := u.do(ctx, http.MethodGet, loc, http.StatusNoContent, http.StatusOK)
	if err != nil {
		if ctx.Err() != nil {
			return "", 0, err
		}
		next, _, serr := u.start(ctx, h, nil)
		return next, 0, serr
	}
	defer resp.Body.Close()
	next, err := location(resp, loc)
	if err != nil {
		return "", 0, err
	}
	var first, last int64
	if _, err := fmt.Sscanf(strings.TrimPrefix(resp.Header.Get("Range"), "bytes="), "%d-%d", &first, &last); err != nil || first != 0 || last <= 0 {
		return next, 0, nil // nothing stored ("0-0" is also what an empty session reports)
	}
	return next, last + 1, nil
}

// commit PUTs ?digest= to finish the session. If the answer is lost and the
// retried PUT fails, a HEAD decides whether the blob arrived.
func (u *uploader) commit(ctx context.Context, loc string, h v1.Hash) error {
	lu, err := url.Parse(loc)
	if err != nil {
		return err
	}
	q := lu.Query()
	q.Set("digest", h.String())
	lu.RawQuery = q.Encode()
	resp, err := u.do(ctx, http.MethodPut, lu.String(), http.StatusCreated, http.StatusAccepted, http.StatusNoContent)
	if err == nil {
		resp.Body.Close()
		return nil
	}
	if ok, herr := u.exists(ctx, h); herr == nil && ok {
		return nil
	}
	return err
}

// do sends a body-less request, retrying temporary failures with backoff,
// and returns the answer if its status is one of want.
func (u *uploader) do(ctx context.Context, method, target string, want ...int) (*http.Response, error) {
	wait := u.o.retry.Duration
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, target, nil)
		if err != nil {
			return nil, err
		}
		resp, err := u.rt.RoundTrip(req)
		if err == nil {
			if err = transport.CheckError(resp, want...); err == nil {
				return resp, nil
			}
			resp.Body.Close()
		}
		if attempt >= max(u.o.retry.Steps, 1) || !retryable(ctx, err) {
			return nil, err
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		wait *= 2
	}
}

// retryable reports whether a request that failed with err may be sent
// again: temporary registry errors and any transport failure (a dropped
// connection) while ctx is live.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Temporary()
	}
	return isTemporary(err) || errors.Is(err, io.EOF) || isNetErr(err)
}

// isNetErr reports whether err came from the connection rather than from
// the registry's answer.
func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || strings.Contains(err.Error(), "connection")
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
