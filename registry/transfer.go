package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// MaxRedirects bounds the redirects followed for one request, as
// net/http's default client does. go-containerregistry installs its own
// CheckRedirect (an SSRF guard) that drops net/http's bound, so a registry
// answering 307 to itself was followed forever.
const MaxRedirects = 10

// Transfer timeouts used unless [WithTimeouts] says otherwise.
const (
	// DefaultIdleTimeout is the longest a request may wait for the
	// response headers or for the next bytes of a body.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultTransferTimeout is the time any response may take from
	// request to last byte; a response declaring a Content-Length gets
	// one more second per MiB of it (a floor of 1 MiB/s for large blobs).
	DefaultTransferTimeout = 10 * time.Minute
)

// ErrTimeout is wrapped by the errors of transfers that stalled past the
// idle timeout or ran past the total timeout.
var ErrTimeout = errors.New("transfer timed out")

// WithTimeouts sets the idle timeout (the longest wait for headers or for
// the next bytes of a body) and the total timeout (per response, plus one
// second per MiB it declares) of registry requests; zero keeps the
// default, a negative value disables the timeout.
func WithTimeouts(idle, total time.Duration) Option {
	return func(o *options) error {
		o.timeouts = Timeouts{Idle: idle, Total: total}
		return nil
	}
}

// Timeouts bounds HTTP transfers that are not made through this package
// (ADD <url>), as [WithTimeouts] does registry ones. Zero fields take the
// defaults; negative ones disable that timeout.
type Timeouts struct {
	Idle, Total time.Duration
}

// Transport returns inner with the timeouts and the redirect bound
// applied to every request made through it.
func (t Timeouts) Transport(inner http.RoundTripper) http.RoundTripper {
	if inner == nil {
		inner = http.DefaultTransport
	}
	return boundedTransport{inner: inner, idle: pick(t.Idle, DefaultIdleTimeout), total: pick(t.Total, DefaultTransferTimeout)}
}

func pick(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// boundedTransport refuses the eleventh redirect of a request and cancels
// a request whose headers or next body bytes take longer than idle, or
// that is not over within total (plus a second per declared MiB).
type boundedTransport struct {
	inner       http.RoundTripper
	idle, total time.Duration
}

var _ http.RoundTripper = boundedTransport{}

// RoundTrip implements [http.RoundTripper].
func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	n := 0
	for r := req; r.Response != nil && r.Response.Request != nil; r = r.Response.Request {
		n++
	}
	if n > MaxRedirects {
		return nil, fmt.Errorf("%s %s: stopped after %d redirects", req.Method, urlNoQuery(req), MaxRedirects)
	}
	if t.idle <= 0 && t.total <= 0 {
		return t.inner.RoundTrip(req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	idle := newWatchdog(t.idle, func() {
		cancel(fmt.Errorf("%w: no data from %s for %s", ErrTimeout, urlNoQuery(req), t.idle))
	})
	req2 := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		// An upload: every chunk of the body taken by the transport counts
		// as progress; the idle wait for the headers starts after the last.
		req2.Body = &progressBody{ReadCloser: req.Body, idle: idle}
	}
	idle.arm()
	resp, err := t.inner.RoundTrip(req2)
	idle.disarm()
	if err != nil {
		if c := context.Cause(ctx); errors.Is(c, ErrTimeout) {
			err = c
		}
		cancel(nil)
		return nil, err
	}
	var totalTimer *time.Timer
	if t.total > 0 {
		total := t.total
		if resp.ContentLength > 0 {
			total += time.Duration(resp.ContentLength>>20) * time.Second
		}
		totalTimer = time.AfterFunc(total, func() {
			cancel(fmt.Errorf("%w: %s took longer than %s", ErrTimeout, urlNoQuery(req), total))
		})
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, ctx: ctx, cancel: cancel, idle: idle, total: totalTimer}
	return resp, nil
}

// boundedBody runs the idle watchdog while a Read waits, and reports a
// timeout as such rather than as "context canceled".
type boundedBody struct {
	io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   *watchdog
	total  *time.Timer
}

func (b *boundedBody) Read(p []byte) (int, error) {
	b.idle.arm()
	n, err := b.ReadCloser.Read(p)
	b.idle.disarm()
	if err != nil && err != io.EOF {
		if c := context.Cause(b.ctx); errors.Is(c, ErrTimeout) {
			err = c
		}
	}
	return n, err
}

func (b *boundedBody) Close() error {
	if b.total != nil {
		b.total.Stop()
	}
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// progressBody re-arms the idle watchdog each time the transport takes
// part of a request body.
type progressBody struct {
	io.ReadCloser
	idle *watchdog
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.idle.arm()
	return n, err
}

// watchdog calls fire when it stays armed for longer than d (d <= 0: never).
type watchdog struct {
	d    time.Duration
	fire func()
	mu   sync.Mutex
	t    *time.Timer
}

func newWatchdog(d time.Duration, fire func()) *watchdog { return &watchdog{d: d, fire: fire} }

func (w *watchdog) arm() {
	if w.d <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t == nil {
		w.t = time.AfterFunc(w.d, w.fire)
		return
	}
	w.t.Reset(w.d)
}

func (w *watchdog) disarm() {
	if w.d <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t != nil {
		w.t.Stop()
	}
}

// checkDescriptors fails an image whose manifest gives its config or a
// layer a size that is not positive: go-containerregistry checks a blob's
// length only against a positive size, so "size": -1 (or no size) let an
// endless body fill the disk.
func checkDescriptors(m *v1.Manifest) error {
	if m.Config.Size <= 0 {
		return fmt.Errorf("config %s has invalid size %d", m.Config.Digest, m.Config.Size)
	}
	for i, l := range m.Layers {
		if l.Size <= 0 {
			return fmt.Errorf("layer %d (%s) has invalid size %d", i, l.Digest, l.Size)
		}
	}
	return nil
}

// urlNoQuery is the request's URL for messages, without credentials and
// without a query, which may carry a signed token.
func urlNoQuery(req *http.Request) string {
	u := *req.URL
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	return u.Redacted()
}
