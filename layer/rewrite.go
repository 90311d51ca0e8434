package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
)

// RewriteRoot copies the root filesystem tar r to tw with entry names
// relative to the root ("./etc" and "/etc" become "etc"), hard link
// targets likewise, and headers normalised by tw. An entry that climbs out
// of the root, or whose path goes through a symlink written earlier in the
// stream (writing through it could leave the root), is an error naming it
// and wrapping ErrInvalidEntry. ibuild import uses it; the caller closes
// tw.
func RewriteRoot(tw *TarWriter, r io.Reader) error {
	tr := tar.NewReader(r)
	links := map[string]bool{} // symlinks written so far
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
		name, err := cleanEntryName(hdr.Name)
		if err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if name == "." {
			continue
		}
		if l := throughLink(links, name); l != "" {
			return fmt.Errorf("entry %q: path goes through symlink %q: %w", hdr.Name, l, ErrInvalidEntry)
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
				return fmt.Errorf("entry %q: link target %q: %w", name, hdr.Linkname, err)
			}
			hdr.Linkname = target
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
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
