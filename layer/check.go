package layer

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"
)

// Largest device numbers Linux can represent (12-bit major, 20-bit minor).
const (
	maxDevMajor = 1<<12 - 1
	maxDevMinor = 1<<20 - 1
)

// ovlPrefix and userOvlPrefix start the overlayfs attributes a layer may
// not carry: a mount with the userxattr option (the only kind a user
// namespace may make: rootless builds) uses user.overlay.* instead of
// trusted.overlay.*.
const (
	ovlPrefix     = "trusted.overlay."
	userOvlPrefix = "user.overlay."
)

// isOverlayXattr reports whether an attribute is overlayfs bookkeeping of
// either namespace: never written to a layer nor taken from one.
func isOverlayXattr(name string) bool {
	return strings.HasPrefix(name, ovlPrefix) || strings.HasPrefix(name, userOvlPrefix)
}

// CheckEntry validates and sanitises a header as extraction does, before
// it writes anything; code that reads a layer's headers without
// extracting it (a COPY planned on the layers' headers) calls it too, so
// that it refuses what extraction would. It
// rejects names and hard link targets that climb out of the root, invalid
// whiteouts, a root entry that is not a directory, unknown entry types,
// sparse files (a tiny entry could expand to a huge file) and out-of-range
// device numbers; it drops trusted.overlay.* and user.overlay.* attributes
// (a layer must never control overlayfs, rootless or not). skip is true for entries that carry
// no file (PAX global headers, aufs metadata). On success hdr.Name and a
// hard link's Linkname are clean paths relative to the root ("." for the
// root).
func CheckEntry(hdr *tar.Header) (skip bool, err error) {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return true, nil
	case tar.TypeGNUSparse:
		return false, fmt.Errorf("sparse files are not supported: %w", ErrInvalidEntry)
	case tar.TypeReg, tar.TypeRegA, tar.TypeDir, tar.TypeLink, tar.TypeSymlink, tar.TypeFifo: //nolint:staticcheck // TypeRegA still appears in old layers
	case tar.TypeChar, tar.TypeBlock:
		if hdr.Devmajor < 0 || hdr.Devmajor > maxDevMajor || hdr.Devminor < 0 || hdr.Devminor > maxDevMinor {
			return false, fmt.Errorf("device number %d:%d out of range: %w", hdr.Devmajor, hdr.Devminor, ErrInvalidEntry)
		}
	default:
		return false, fmt.Errorf("unsupported entry type %q: %w", hdr.Typeflag, ErrInvalidEntry)
	}
	for k := range hdr.PAXRecords {
		// The reader would expand a few bytes of sparse map into an
		// arbitrarily large file of zeros.
		if strings.HasPrefix(k, "GNU.sparse.") {
			return false, fmt.Errorf("sparse files are not supported: %w", ErrInvalidEntry)
		}
	}
	name, err := cleanEntryName(hdr.Name)
	if err != nil {
		return false, err
	}
	if name == "." && hdr.Typeflag != tar.TypeDir {
		return false, fmt.Errorf("root entry is not a directory: %w", ErrInvalidEntry)
	}
	if base := path.Base(name); strings.HasPrefix(base, whPrefix) && base != whOpaque {
		if strings.HasPrefix(base, whPrefix+whPrefix) {
			return true, nil // aufs metadata (.wh..wh.plnk and the like), as containerd skips it
		}
		if t := strings.TrimPrefix(base, whPrefix); t == "" || t == "." || t == ".." {
			return false, fmt.Errorf("invalid whiteout: %w", ErrInvalidEntry)
		}
	}
	hdr.Name = name
	if hdr.Typeflag == tar.TypeLink {
		target, err := cleanEntryName(hdr.Linkname)
		if err != nil {
			return false, fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		}
		if target == "." {
			return false, fmt.Errorf("hard link to the root: %w", ErrInvalidEntry)
		}
		hdr.Linkname = target
	}
	dropOverlayXattrs(hdr)
	return false, nil
}

// dropOverlayXattrs removes trusted.overlay.* and user.overlay.*
// attributes from hdr.
func dropOverlayXattrs(hdr *tar.Header) {
	for k := range hdr.Xattrs { //nolint:staticcheck // umoci reads Xattrs
		if isOverlayXattr(k) {
			delete(hdr.Xattrs, k) //nolint:staticcheck // see above
		}
	}
	for k := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, paxXattr); ok && isOverlayXattr(name) {
			delete(hdr.PAXRecords, k)
		}
	}
}
