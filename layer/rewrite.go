package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
)

// Rewrite copies the entries of the tar r to tw under dir, a path relative
// to the layer's root ("" or "." for the root itself). Entry names become
// relative to the root ("./etc" and "/etc" become "etc", then dir/etc),
// hard link targets likewise, and tw normalises the headers. It is the one
// rewriter of foreign tars: ibuild import rewrites a root filesystem with
// it, ADD a local archive under its destination.
//
// It is strict, as extraction is: an entry that climbs out of the root
// (docker's and BuildKit's untar refuse it as a breakout), or whose path
// goes through a symlink written earlier in the stream (writing through it
// could leave the root; in a layer it makes an entry that no extractor may
// follow), is an error naming the entry and wrapping ErrInvalidEntry. The
// root entry ("./") is dropped. The caller closes tw.
func Rewrite(tw *TarWriter, r io.Reader, dir string) error {
	dir = CleanPath(dir)
	tr := tar.NewReader(r)
	links := map[string]bool{} // symlinks written so far
	// One copy buffer for the whole stream: io.Copy would allocate 32 KiB
	// per entry (neither side has WriteTo or ReadFrom).
	buf := make([]byte, 32<<10)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		if hdr.Name == "" {
			continue
		}
		orig := hdr.Name
		name, err := cleanEntryName(orig)
		if err != nil {
			return fmt.Errorf("entry %q: %w", orig, err)
		}
		if name == "." {
			continue
		}
		name = path.Join(dir, name)
		if l := throughLink(links, name); l != "" {
			return fmt.Errorf("entry %q: path goes through symlink %q: %w", orig, l, ErrInvalidEntry)
		}
		if hdr.Typeflag == tar.TypeSymlink {
			links[name] = true
		} else {
			delete(links, name)
		}
		hdr.Name = name
		if hdr.Typeflag == tar.TypeLink {
			target, err := cleanEntryName(hdr.Linkname)
			if err != nil {
				return fmt.Errorf("entry %q: link target %q: %w", orig, hdr.Linkname, err)
			}
			hdr.Linkname = path.Join(dir, target)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("entry %q: %w", orig, err)
		}
		if _, err := io.CopyBuffer(tw, tr, buf); err != nil {
			return fmt.Errorf("entry %q: %w", orig, err)
		}
	}
}

// CleanEntryName turns a tar entry name into a clean path relative to the
// root ("." for the root), as every extraction of a layer does; a name that
// climbs out of the root, is empty or holds a NUL is an error wrapping
// ErrInvalidEntry. Code that reads a layer's headers without extracting it
// checks names with it, so that it refuses what extraction would.
func CleanEntryName(name string) (string, error) { return cleanEntryName(name) }

// throughLink returns the first proper ancestor of name that is a symlink
// in links.
func throughLink(links map[string]bool, name string) string {
	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		if links[d] {
			return d
		}
	}
	return ""
}
