package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNormalizeHeader(t *testing.T) {
	epoch := time.Unix(1000, 0)
	before, after := time.Unix(500, 999), time.Unix(2000, 5)
	for _, tc := range []struct {
		name string
		opts TarOptions
		in   tar.Header
		want tar.Header
	}{
		{
			name: "names times and records",
			in: tar.Header{Name: "f", Typeflag: tar.TypeReg, Uname: "root", Gname: "wheel", ModTime: before,
				AccessTime: after, ChangeTime: after, Format: tar.FormatGNU,
				PAXRecords: map[string]string{"SCHILY.xattr.user.a": "1", "LIBARCHIVE.creationtime": "9", "atime": "1"}},
			want: tar.Header{Name: "f", Typeflag: tar.TypeReg, ModTime: time.Unix(500, 0), Format: tar.FormatPAX,
				PAXRecords: map[string]string{"SCHILY.xattr.user.a": "1"}},
		},
		{
			name: "clamped to epoch",
			opts: TarOptions{SourceDateEpoch: &epoch},
			in:   tar.Header{Name: "f", ModTime: after},
			want: tar.Header{Name: "f", Typeflag: tar.TypeReg, ModTime: epoch, Format: tar.FormatPAX},
		},
		{
			name: "earlier than epoch kept",
			opts: TarOptions{SourceDateEpoch: &epoch},
			in:   tar.Header{Name: "f", ModTime: before},
			want: tar.Header{Name: "f", Typeflag: tar.TypeReg, ModTime: time.Unix(500, 0), Format: tar.FormatPAX},
		},
		{
			name: "legacy xattrs folded into records, stray device numbers cleared",
			in: tar.Header{Name: "f", Typeflag: tar.TypeRegA, Xattrs: map[string]string{"user.x": "y"}, //nolint:staticcheck // testing legacy fields
				Devmajor: 3, ModTime: epoch},
			want: tar.Header{Name: "f", Typeflag: tar.TypeReg, ModTime: epoch, Format: tar.FormatPAX,
				PAXRecords: map[string]string{"SCHILY.xattr.user.x": "y"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in
			NormalizeHeader(&got, tc.opts)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestTarWriter(t *testing.T) {
	for _, tc := range []struct {
		hdr      tar.Header
		wantName string
		wantErr  string
	}{
		{tar.Header{Name: "/usr//bin/./x", Typeflag: tar.TypeReg}, "usr/bin/x", ""},
		{tar.Header{Name: "./etc", Typeflag: tar.TypeDir}, "etc/", ""},
		{tar.Header{Name: "a/../b", Typeflag: tar.TypeReg}, "b", ""},
		{tar.Header{Name: "../etc/passwd", Typeflag: tar.TypeReg}, "", "escapes the root"},
		{tar.Header{Name: "x/.wh.y", Typeflag: tar.TypeReg}, "", "reserved for whiteouts"},
		{tar.Header{Name: ".wh..wh..opq", Typeflag: tar.TypeReg}, "", "reserved for whiteouts"},
		{tar.Header{Name: "/", Typeflag: tar.TypeDir}, "", "root"},
		{tar.Header{Name: "l", Typeflag: tar.TypeLink, Linkname: "../../x"}, "", "hard link target"},
		{tar.Header{Name: "", Typeflag: tar.TypeReg}, "", "empty name"},
	} {
		t.Run(tc.hdr.Name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := NewTarWriter(&buf, TarOptions{})
			err := tw.WriteHeader(&tc.hdr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalidEntry) ||
					!strings.Contains(err.Error(), strconv.Quote(tc.hdr.Name)) {
					t.Fatalf("err = %v, want %q naming the entry", err, tc.wantErr)
				}
				return
			}
			must(t, err)
			must(t, tw.Close())
			hs := readHeaders(t, buf.Bytes())
			if len(hs) != 1 || hs[0].Name != tc.wantName {
				t.Fatalf("headers = %+v, want one named %q", hs, tc.wantName)
			}
		})
	}
}

func TestTarWriterDoesNotMutateCaller(t *testing.T) {
	recs := map[string]string{"SCHILY.xattr.user.a": "1", "mtime": "5"}
	hdr := &tar.Header{Name: "/x", Typeflag: tar.TypeReg, Uname: "u", PAXRecords: recs}
	must(t, NewTarWriter(&bytes.Buffer{}, TarOptions{}).WriteHeader(hdr))
	if hdr.Name != "/x" || hdr.Uname != "u" || len(recs) != 2 {
		t.Errorf("caller's header changed: %+v", hdr)
	}
}

// TestImports guards the import direction: layer imports no ibuild package.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	must(t, err)
	for _, f := range files {
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		must(t, err)
		for _, imp := range af.Imports {
			// An external test package (example_test.go) imports layer itself.
			if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, "github.com/ibuild/ibuild") && p != "github.com/ibuild/ibuild/layer" {
				t.Errorf("%s imports %s; layer must not import other ibuild packages", f, p)
			}
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func readHeaders(t *testing.T, b []byte) []*tar.Header {
	t.Helper()
	var hs []*tar.Header
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs
		}
		must(t, err)
		hs = append(hs, h)
	}
}
