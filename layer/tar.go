package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// OCI whiteout names.
const (
	whPrefix = ".wh."
	whOpaque = ".wh..wh..opq"
	// paxXattr is the PAX record prefix holding extended attributes.
	paxXattr = "SCHILY.xattr."
)

// ErrInvalidEntry is wrapped by every error about a tar entry that is
// malformed or unsafe (escaping the root, a bad whiteout, a bad device).
var ErrInvalidEntry = errors.New("invalid layer entry")

// TarOptions controls normalisation of generated tar headers.
type TarOptions struct {
	// SourceDateEpoch, when set, clamps modification times: any later
	// mtime becomes the epoch.
	SourceDateEpoch *time.Time
}

// NormalizeHeader makes a header deterministic: PAX format, user and group
// names cleared, access and change times zero, modification time truncated
// to seconds and clamped to opts.SourceDateEpoch, and PAX records other
// than extended attributes (SCHILY.xattr.*) dropped.
func NormalizeHeader(hdr *tar.Header, opts TarOptions) {
	hdr.Format = tar.FormatPAX
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.ModTime = hdr.ModTime.Truncate(time.Second)
	if e := opts.SourceDateEpoch; e != nil && hdr.ModTime.After(*e) {
		hdr.ModTime = e.Truncate(time.Second)
	}
	//nolint:staticcheck // Xattrs is deprecated; fold it into PAXRecords.
	for k, v := range hdr.Xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattr+k] = v
	}
	hdr.Xattrs = nil //nolint:staticcheck // see above
	for k := range hdr.PAXRecords {
		if !strings.HasPrefix(k, paxXattr) {
			delete(hdr.PAXRecords, k)
		}
	}
	if len(hdr.PAXRecords) == 0 {
		hdr.PAXRecords = nil
	}
	if hdr.Typeflag == tar.TypeRegA { //nolint:staticcheck // normalise the legacy flag
		hdr.Typeflag = tar.TypeReg
	}
	if hdr.Typeflag != tar.TypeChar && hdr.Typeflag != tar.TypeBlock {
		hdr.Devmajor, hdr.Devminor = 0, 0
	}
}

// cleanPath is the one path cleaner of ibuild's layers: it turns p, absolute
// or relative to the root, into a clean path relative to the root ("" for
// the root) and reports whether p climbed out of the root with "..". The
// returned path then has the climb clamped at the root, as the kernel
// resolves "/..". CleanPath and CleanEntryName are its two policies.
func cleanPath(p string) (string, bool) {
	c := path.Clean(strings.TrimLeft(p, "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return strings.TrimPrefix(path.Clean("/"+c), "/"), true
	}
	if c == "." {
		c = ""
	}
	return c, false
}

// CleanPath turns a path in the image, absolute or relative to its root,
// into a clean path relative to the root ("" for the root); ".." at the
// root stays at the root, as path resolution in the image does. It is for
// paths a build computes (a Dockerfile destination, a path resolved inside
// the root filesystem); a name read from a tar goes through
// CleanEntryName, which refuses the climb instead.
func CleanPath(p string) string {
	c, _ := cleanPath(p)
	return c
}

// cleanEntryName turns a tar entry name into a clean relative path
// ("." for the root). A leading "/" is dropped (the entry is relative to
// the root, as docker and GNU tar treat it); a name that climbs out of the
// root with ".." is an error.
func cleanEntryName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty name: %w", ErrInvalidEntry)
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("name contains NUL: %w", ErrInvalidEntry)
	}
	p, escapes := cleanPath(name)
	if escapes {
		return "", fmt.Errorf("path escapes the root: %w", ErrInvalidEntry)
	}
	if p == "" {
		p = "."
	}
	return p, nil
}

// TarWriter writes normalised tar entries in the order given; callers
// sort. It is used to build COPY layers.
type TarWriter struct {
	tw   *tar.Writer
	opts TarOptions
}

// NewTarWriter returns a TarWriter writing to w.
func NewTarWriter(w io.Writer, opts TarOptions) *TarWriter {
	return &TarWriter{tw: tar.NewWriter(w), opts: opts}
}

// WriteHeader normalises hdr (see NormalizeHeader), cleans its name
// (directories get a trailing "/") and writes it. A name whose last element
// starts with ".wh." is an error: whiteouts are never written through a
// TarWriter.
func (t *TarWriter) WriteHeader(hdr *tar.Header) error {
	h := *hdr
	name, err := cleanEntryName(h.Name)
	if err != nil {
		return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
	}
	if name == "." {
		return fmt.Errorf("layer entry %q: refusing to write the root: %w", hdr.Name, ErrInvalidEntry)
	}
	if strings.HasPrefix(path.Base(name), whPrefix) {
		return fmt.Errorf("layer entry %q: name is reserved for whiteouts: %w", hdr.Name, ErrInvalidEntry)
	}
	if h.Typeflag == tar.TypeLink {
		ln, err := cleanEntryName(h.Linkname)
		if err != nil || ln == "." {
			return fmt.Errorf("layer entry %q: hard link target %q: %w", hdr.Name, h.Linkname, ErrInvalidEntry)
		}
		h.Linkname = ln
	}
	if h.Typeflag == tar.TypeDir {
		name += "/"
	}
	h.Name = name
	if h.PAXRecords != nil { // do not mutate the caller's map
		m := make(map[string]string, len(h.PAXRecords))
		for k, v := range h.PAXRecords {
			m[k] = v
		}
		h.PAXRecords = m
	}
	NormalizeHeader(&h, t.opts)
	if err := t.tw.WriteHeader(&h); err != nil {
		return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
	}
	return nil
}

// Write writes content of the current entry.
func (t *TarWriter) Write(p []byte) (int, error) { return t.tw.Write(p) }

// Close writes the tar footer. It does not close the underlying writer.
func (t *TarWriter) Close() error { return t.tw.Close() }

// writeRaw writes an already normalised header (used for whiteouts).
func (t *TarWriter) writeRaw(hdr *tar.Header) error {
	NormalizeHeader(hdr, t.opts)
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
	}
	return nil
}
