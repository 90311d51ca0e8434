package layer

import (
	"archive/tar"
	"errors"
	"testing"
)

// TestCheckEntry: the entries extraction refuses, the ones it skips, and
// the clean names it passes on (a COPY planned on a base's headers relies
// on the same answers, so that a hostile base fails either way).
func TestCheckEntry(t *testing.T) {
	for _, c := range []struct {
		name       string
		hdr        tar.Header
		skip, ok   bool
		clean      string // hdr.Name after the check
		cleanLink  string
		keepsXattr bool
	}{
		{name: "file", hdr: tar.Header{Name: "/a//b", Typeflag: tar.TypeReg}, ok: true, clean: "a/b"},
		{name: "root dir", hdr: tar.Header{Name: "./", Typeflag: tar.TypeDir}, ok: true, clean: "."},
		{name: "hard link cleaned", hdr: tar.Header{Name: "./l", Typeflag: tar.TypeLink, Linkname: "/a/./b"}, ok: true, clean: "l", cleanLink: "a/b"},
		{name: "escape", hdr: tar.Header{Name: "../../../escaped", Typeflag: tar.TypeReg}},
		{name: "escape after clean", hdr: tar.Header{Name: "a/../../x", Typeflag: tar.TypeReg}},
		{name: "NUL", hdr: tar.Header{Name: "a\x00b", Typeflag: tar.TypeReg}},
		{name: "empty", hdr: tar.Header{Name: "", Typeflag: tar.TypeReg}},
		{name: "sparse", hdr: tar.Header{Name: "s", Typeflag: tar.TypeGNUSparse}},
		{name: "sparse PAX", hdr: tar.Header{Name: "s", Typeflag: tar.TypeReg, PAXRecords: map[string]string{"GNU.sparse.map": "0,1"}}},
		{name: "unknown type", hdr: tar.Header{Name: "x", Typeflag: 'Z'}},
		{name: "root not a dir", hdr: tar.Header{Name: "./", Typeflag: tar.TypeReg}},
		{name: "whiteout of ..", hdr: tar.Header{Name: "a/.wh...", Typeflag: tar.TypeReg}},
		{name: "aufs metadata", hdr: tar.Header{Name: ".wh..wh.plnk", Typeflag: tar.TypeDir}, skip: true, ok: true},
		{name: "hard link to root", hdr: tar.Header{Name: "l", Typeflag: tar.TypeLink, Linkname: "/"}},
		{name: "hard link out", hdr: tar.Header{Name: "l", Typeflag: tar.TypeLink, Linkname: "../x"}},
		{name: "device out of range", hdr: tar.Header{Name: "d", Typeflag: tar.TypeChar, Devmajor: 1 << 12}},
		{name: "device in range", hdr: tar.Header{Name: "d", Typeflag: tar.TypeBlock, Devmajor: 1<<12 - 1, Devminor: 1<<20 - 1}, ok: true, clean: "d"},
		{name: "global header", hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader}, skip: true, ok: true},
		{name: "overlay xattr dropped", hdr: tar.Header{Name: "o/", Typeflag: tar.TypeDir, PAXRecords: map[string]string{
			"SCHILY.xattr.trusted.overlay.opaque": "y", "SCHILY.xattr.user.k": "v"}}, ok: true, clean: "o", keepsXattr: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			skip, err := CheckEntry(&c.hdr)
			if skip != c.skip || (err == nil) != c.ok {
				t.Fatalf("skip %v, err %v; want skip %v, ok %v", skip, err, c.skip, c.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidEntry) {
				t.Errorf("err %v does not wrap ErrInvalidEntry", err)
			}
			if !c.ok || skip {
				return
			}
			if c.hdr.Name != c.clean || c.hdr.Linkname != c.cleanLink {
				t.Errorf("name, link = %q, %q; want %q, %q", c.hdr.Name, c.hdr.Linkname, c.clean, c.cleanLink)
			}
			if _, ok := c.hdr.PAXRecords["SCHILY.xattr.trusted.overlay.opaque"]; ok {
				t.Error("trusted.overlay.opaque kept")
			}
			if _, ok := c.hdr.PAXRecords["SCHILY.xattr.user.k"]; ok != c.keepsXattr {
				t.Errorf("user.k kept = %v, want %v", ok, c.keepsXattr)
			}
		})
	}
}
