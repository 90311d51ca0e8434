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
