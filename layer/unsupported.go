//go:build !linux

package layer

import (
	"context"
	"errors"
	"io"
)

// errUnsupported is returned by the file-system operations on platforms
// other than Linux.
var errUnsupported = errors.New("layer: file system operations are only supported on Linux")

// WriteDir is only supported on Linux.
func WriteDir(ctx context.Context, w io.Writer, dir, prefix string, opts TarOptions) error {
	return errUnsupported
}

// WriteOverlayDiff is only supported on Linux.
func WriteOverlayDiff(ctx context.Context, w io.Writer, upperdir string, opts TarOptions) error {
	return errUnsupported
}

// ApplySnapshot is only supported on Linux.
func ApplySnapshot(ctx context.Context, dir string, layer io.Reader, opts ...Option) error {
	return errUnsupported
}

// ApplyDir is only supported on Linux.
func ApplyDir(ctx context.Context, dir string, layer io.Reader, opts ...Option) error {
	return errUnsupported
}

// PruneUnchanged is only supported on Linux.
func PruneUnchanged(ctx context.Context, upperdir, base string) error {
	return errUnsupported
}
