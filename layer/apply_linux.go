package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"

	units "github.com/docker/go-units"
	umoci "github.com/opencontainers/umoci/oci/layer"
)

// ApplySnapshot extracts the uncompressed layer into dir, which should be
// empty, in overlayfs's on-disk format: whiteouts become 0/0 character
// devices and opaque markers the trusted.overlay.opaque=y attribute
// (user.overlay.opaque=y in a user namespace, where overlayfs is mounted
// with userxattr), so that dir can serve as an overlay lower directory. Options bound the
// entries and bytes accepted (see DefaultMaxEntries, DefaultMaxSize).
//
// Into an empty dir it takes the fast path (see applyFresh): it reads layer
// to its end on a goroutine of its own, ahead of the writer. Into a dir
// that holds anything it takes the careful path, as ApplyDir does.
func ApplySnapshot(ctx context.Context, dir string, layer io.Reader, opts ...Option) error {
	o := newOptions(opts)
	if isEmptyDir(dir) {
		return applyFresh(ctx, dir, layer, o)
	}
	return applyCareful(ctx, dir, layer, o)
}

// applyCareful is ApplySnapshot through umoci's extractor, which checks
// for and replaces what exists at every path.
func applyCareful(ctx context.Context, dir string, layer io.Reader, o options) error {
	// In a user namespace overlayfs is mounted with userxattr, and opaque
	// directories carry user.overlay.opaque.
	format := umoci.OverlayfsRootfs{UserXattr: inUserNamespace}
	return apply(ctx, dir, layer, umoci.NewTarExtractor(&umoci.UnpackOptions{OnDiskFormat: format}), o)
}

// ApplyDir extracts the uncompressed layer onto dir, a merged root file
// system: OCI whiteouts delete what they name and opaque markers empty
// their directory of earlier content. Options as for ApplySnapshot.
func ApplyDir(ctx context.Context, dir string, layer io.Reader, opts ...Option) error {
	return apply(ctx, dir, layer, umoci.NewTarExtractor(&umoci.UnpackOptions{OnDiskFormat: umoci.DirRootfs{}}), newOptions(opts))
}

// unpacker writes one validated entry beneath root: umoci's scoped
// extractor, which resolves every path inside root, or a freshApplier.
type unpacker interface {
	UnpackEntry(root string, hdr *tar.Header, r io.Reader) error
}

var _ unpacker = (*umoci.TarExtractor)(nil)

// apply validates every entry (see CheckEntry and checkBudget) and hands
// it to te.
func apply(ctx context.Context, dir string, layer io.Reader, te unpacker, o options) error {
	tr := tar.NewReader(layer)
	var entries int
	var size int64
	for entries = 1; ; entries++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading layer: %w", err)
		}
		name := hdr.Name
		if err := checkBudget(hdr, entries, &size, o); err != nil {
			return fmt.Errorf("layer entry %q: %w", name, err)
		}
		skip, err := CheckEntry(hdr)
		if err != nil {
			return fmt.Errorf("layer entry %q: %w", name, err)
		}
		if skip {
			continue
		}
		o.owners.apply(hdr.Name, &hdr.Uid, &hdr.Gid)
		if err := te.UnpackEntry(dir, hdr, tr); err != nil {
			return fmt.Errorf("layer entry %q: extracting: %w", name, err)
		}
	}
}

// checkBudget fails the n-th entry if it is one too many or if its
// declared size does not fit in what is left of the size limit; it adds
// the size to *total. It runs before anything of the entry is written, so
// a header claiming a terabyte costs nothing.
func checkBudget(hdr *tar.Header, n int, total *int64, o options) error {
	if o.maxEntries > 0 && n > o.maxEntries {
		return fmt.Errorf("more than %d entries in the layer: %w", o.maxEntries, ErrLimit)
	}
	if hdr.Size < 0 {
		return fmt.Errorf("negative size %d: %w", hdr.Size, ErrInvalidEntry)
	}
	*total += hdr.Size
	if o.maxSize > 0 && (hdr.Size > o.maxSize || *total > o.maxSize) {
		return fmt.Errorf("size %s takes the layer past its %s limit: %w", units.BytesSize(float64(hdr.Size)),
			units.BytesSize(float64(o.maxSize)), ErrLimit)
	}
	return nil
}
