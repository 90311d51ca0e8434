package layer

import (
	"errors"
	"fmt"
	"io"

	units "github.com/docker/go-units"
)

// Default limits, applied when no option overrides them. They are far
// above any real layer and exist so that a hostile one (a gzip or zstd
// bomb, a header claiming a terabyte, millions of entries) fails with an
// error instead of filling the disk or memory.
const (
	// DefaultMaxSize bounds the uncompressed tar stream of one layer.
	DefaultMaxSize int64 = 64 << 30
	// DefaultMaxEntries bounds the entries of one layer. The extractor
	// remembers every path of the layer it is applying (to honour opaque
	// markers that follow their siblings), about 100 bytes an entry.
	DefaultMaxEntries = 2 << 20
	// DefaultMaxRatio bounds uncompressed bytes per compressed byte; 0
	// means none. gzip cannot exceed about 1032:1, so the size limit is
	// what stops a gzip bomb; zstd can reach far more, and legitimate
	// layers of zero-filled files do, so the ratio is opt-in.
	DefaultMaxRatio = 0
	// ratioFloor is the output below which the ratio is not checked: small
	// layers of zeros are common and harmless.
	ratioFloor = 64 << 20
)

// ErrLimit is wrapped by every error that reports a layer exceeding one of
// the limits; callers may branch on it to suggest the flag that raises it.
var ErrLimit = errors.New("layer limit exceeded")

// Option tunes Decompress, ApplySnapshot and ApplyDir.
type Option func(*options)

type options struct {
	maxSize    int64
	maxEntries int
	maxRatio   int64
	owners     OwnerPolicy
}

func newOptions(opts []Option) options {
	o := options{maxSize: DefaultMaxSize, maxEntries: DefaultMaxEntries, maxRatio: DefaultMaxRatio}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithMaxSize bounds the uncompressed size of a layer in bytes: Decompress
// fails once its output exceeds n, and extraction fails before writing an
// entry whose declared size does not fit in what is left. n <= 0 removes
// the limit.
func WithMaxSize(n int64) Option { return func(o *options) { o.maxSize = n } }

// WithMaxEntries bounds the number of tar entries extraction accepts.
// n <= 0 removes the limit.
func WithMaxEntries(n int) Option { return func(o *options) { o.maxEntries = n } }

// WithMaxRatio makes Decompress fail when, past the first 64 MiB of
// output, the uncompressed stream is more than r times longer than the
// compressed bytes read so far. r <= 0 removes the limit.
func WithMaxRatio(r int64) Option { return func(o *options) { o.maxRatio = r } }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// limitReader fails a decompressed stream that grows beyond the size or
// ratio limits. in counts the compressed bytes consumed (nil for a plain
// stream).
type limitReader struct {
	io.ReadCloser
	in   *countingReader
	out  int64
	opts options
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.ReadCloser.Read(p)
	l.out += int64(n)
	if l.opts.maxSize > 0 && l.out > l.opts.maxSize {
		return n, fmt.Errorf("layer expands to more than %s: %w", units.BytesSize(float64(l.opts.maxSize)), ErrLimit)
	}
	if l.in != nil && l.opts.maxRatio > 0 && l.out > ratioFloor && l.out/max(l.in.n, 1) > l.opts.maxRatio {
		return n, fmt.Errorf("layer expands more than %d times (%s from %s compressed): %w",
			l.opts.maxRatio, units.BytesSize(float64(l.out)), units.BytesSize(float64(l.in.n)), ErrLimit)
	}
	return n, err
}

// OwnerPolicy decides which owners extraction can give files: where Mapped
// says a uid or gid cannot be set (a user namespace mapping only the
// rootless user), the file gets 0 instead and Lost is told its name and
// the owner it lost. The zero policy keeps every owner.
type OwnerPolicy struct {
	// Mapped reports whether an id can be set; isGroup tells gids from uids.
	Mapped func(id int, isGroup bool) bool
	// Lost is called for each entry given 0 instead of its owner.
	Lost func(name string, uid, gid int)
}

// WithOwners sets the owner policy of extraction (ApplySnapshot, ApplyDir).
func WithOwners(p OwnerPolicy) Option { return func(o *options) { o.owners = p } }

// apply gives hdr the owners p allows, reporting what was lost.
func (p OwnerPolicy) apply(name string, uid, gid *int) {
	if p.Mapped == nil {
		return
	}
	lostU, lostG := !p.Mapped(*uid, false), !p.Mapped(*gid, true)
	if !lostU && !lostG {
		return
	}
	if p.Lost != nil {
		p.Lost(name, *uid, *gid)
	}
	if lostU {
		*uid = 0
	}
	if lostG {
		*gid = 0
	}
}
