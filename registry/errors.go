package registry

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Error is a failed registry operation. It names the operation, the
// reference and, where one is known, the digest, and says whether retrying
// the same operation may succeed (rate limits, 5xx answers, timeouts, dropped
// connections). Its message never contains credentials.
type Error struct {
	// Op is the operation: "pulling", "pushing" or "logging in to".
	Op string
	// Ref is the reference or registry as the user wrote it.
	Ref string
	// Digest is the manifest or blob digest involved, if known.
	Digest string
	// Err is the underlying error, typically a *transport.Error.
	Err error
	// Temporary reports whether a retry can help.
	Temporary bool
}

var _ error = (*Error)(nil)

// Error returns "OP REF[@DIGEST]: CAUSE".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(" ")
	b.WriteString(e.Ref)
	if e.Digest != "" && !strings.Contains(e.Ref, e.Digest) {
		b.WriteString(" (" + e.Digest + ")")
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// StatusCode returns the HTTP status the registry answered with, or 0 if the
// failure was not an HTTP error answer.
func (e *Error) StatusCode() int {
	var te *transport.Error
	if errors.As(e.Err, &te) {
		return te.StatusCode
	}
	return 0
}

// newError wraps err (nil stays nil) as an *Error.
func newError(op, ref, digest string, err error) error {
	if err == nil {
		return nil
	}
	var re *Error
	if errors.As(err, &re) && re.Op == op && re.Ref == ref {
		return err
	}
	return &Error{Op: op, Ref: ref, Digest: digest, Err: err, Temporary: isTemporary(err)}
}

// isTemporary reports whether an error is worth retrying.
func isTemporary(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Temporary()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// redacted hides a secret that a lower layer might have echoed into an
// error message. errors.Is/As still see the original error.
type redacted struct {
	err    error
	secret string
}

// redact wraps err so that secret never shows in its message.
func redact(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	return &redacted{err: err, secret: secret}
}

func (r *redacted) Error() string {
	return strings.ReplaceAll(r.err.Error(), r.secret, "[redacted]")
}

func (r *redacted) Unwrap() error { return r.err }
