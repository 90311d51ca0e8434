package build

import (
	"archive/tar"
	"reflect"
	"sort"
	"testing"
)

// TestSkeletonPaths checks which merged-layer paths a COPY's skeleton
// keeps: the destination resolved through symlinks (absolute, relative,
// "..", loops), the components on the way, and everything below.
func TestSkeletonPaths(t *testing.T) {
	dir := func(n string) *tar.Header { return &tar.Header{Name: n, Typeflag: tar.TypeDir} }
	link := func(n, to string) *tar.Header { return &tar.Header{Name: n, Typeflag: tar.TypeSymlink, Linkname: to} }
	file := func(n string) *tar.Header { return &tar.Header{Name: n, Typeflag: tar.TypeReg} }
	ix := map[string]*skelEntry{}
	lh := &headers{adds: []*tar.Header{
		dir("srv"), dir("srv/app"), file("srv/app/f"), dir("srv/app/sub"), file("srv/app/sub/g"),
		link("app", "/srv/app"), link("data", "srv"), link("up", "../../srv"),
		link("loop", "loop2"), link("loop2", "loop"),
		dir("etc"), file("etc/passwd"), dir("usr"), dir("usr/lib"), file("usr/lib/x"), link("lib", "usr/lib"),
		dir("srv/app/out"), link("srv/app/out/l", "/usr"),
	}}
	lh.apply(ix, 0)
	// A later layer whites out one file and makes one directory opaque.
	(&headers{whiteouts: []string{"srv/app/f"}, opaque: []string{"srv/app/sub"}, adds: []*tar.Header{file("srv/app/sub/new")}}).apply(ix, 1)
	for _, c := range []struct {
		dest string
		want []string
	}{
		{"/app/x", []string{"app", "srv", "srv/app"}},
		// Below the destination, a symlink's target is kept too.
		{"/app/", []string{"app", "srv", "srv/app", "srv/app/out", "srv/app/out/l", "srv/app/sub", "srv/app/sub/new", "usr", "usr/lib", "usr/lib/x"}},
		{"/data/app/sub/", []string{"data", "srv", "srv/app", "srv/app/sub", "srv/app/sub/new"}},
		{"/up/app/sub", []string{"srv", "srv/app", "srv/app/sub", "srv/app/sub/new", "up"}},
		{"/lib/z", []string{"lib", "usr", "usr/lib"}},
		{"/loop/x", []string{"loop", "loop2"}},
		{"/etc/passwd/x", []string{"etc", "etc/passwd"}},
		{"/new/dir", nil},
	} {
		keep := skeletonPaths(ix, c.dest)
		var got []string
		for k := range keep {
			if ix[k] != nil {
				got = append(got, k)
			}
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: kept %v, want %v", c.dest, got, c.want)
		}
	}
}

// TestCheckSkelEntry checks that the skeleton refuses the entries
// extraction refuses, so that a hostile base fails its first COPY either
// way.
func TestCheckSkelEntry(t *testing.T) {
	for _, c := range []struct {
		name     string
		hdr      tar.Header
		skip, ok bool
	}{
		{"file", tar.Header{Name: "a/b", Typeflag: tar.TypeReg}, false, true},
		{"escape", tar.Header{Name: "../../../escaped", Typeflag: tar.TypeReg}, false, false},
		{"escape after clean", tar.Header{Name: "a/../../x", Typeflag: tar.TypeReg}, false, false},
		{"NUL", tar.Header{Name: "a\x00b", Typeflag: tar.TypeReg}, false, false},
		{"empty", tar.Header{Name: "", Typeflag: tar.TypeReg}, false, false},
		{"sparse", tar.Header{Name: "s", Typeflag: tar.TypeGNUSparse}, false, false},
		{"unknown type", tar.Header{Name: "x", Typeflag: 'Z'}, false, false},
		{"root not a dir", tar.Header{Name: "./", Typeflag: tar.TypeReg}, false, false},
		{"whiteout of ..", tar.Header{Name: "a/.wh...", Typeflag: tar.TypeReg}, false, false},
		{"aufs metadata", tar.Header{Name: ".wh..wh.plnk", Typeflag: tar.TypeDir}, true, true},
		{"hard link to root", tar.Header{Name: "l", Typeflag: tar.TypeLink, Linkname: "/"}, false, false},
		{"hard link out", tar.Header{Name: "l", Typeflag: tar.TypeLink, Linkname: "../x"}, false, false},
		{"device out of range", tar.Header{Name: "d", Typeflag: tar.TypeChar, Devmajor: 1 << 12}, false, false},
		{"global header", tar.Header{Typeflag: tar.TypeXGlobalHeader}, true, true},
	} {
		skip, err := checkSkelEntry(&c.hdr)
		if skip != c.skip || (err == nil) != c.ok {
			t.Errorf("%s: skip %v, err %v; want skip %v, ok %v", c.name, skip, err, c.skip, c.ok)
		}
	}
}
