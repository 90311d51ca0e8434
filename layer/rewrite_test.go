package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

type rwEntry struct {
	name, link string
	typ        byte
}

func rewriteInput(t *testing.T, es []rwEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestRewriteRoot(t *testing.T) {
	cases := []struct {
		name    string
		in      []rwEntry
		want    []string // "name" or "name->link"
		wantErr string
	}{
		{name: "relative names", in: []rwEntry{{name: "./", typ: tar.TypeDir}, {name: "./etc/", typ: tar.TypeDir}, {name: "/etc/passwd", typ: tar.TypeReg}, {name: "bin/sh", typ: tar.TypeReg}},
			want: []string{"etc/", "etc/passwd", "bin/sh"}},
		{name: "hard link target", in: []rwEntry{{name: "./a", typ: tar.TypeReg}, {name: "./b", link: "./a", typ: tar.TypeLink}},
			want: []string{"a", "b->a"}},
		{name: "escape", in: []rwEntry{{name: "../evil", typ: tar.TypeReg}}, wantErr: `entry "../evil": path escapes the root`},
		{name: "link target escapes", in: []rwEntry{{name: "b", link: "../../etc/shadow", typ: tar.TypeLink}}, wantErr: `entry "b": link target "../../etc/shadow": path escapes the root`},
		{name: "through symlink", in: []rwEntry{{name: "x", link: "/etc", typ: tar.TypeSymlink}, {name: "x/cron", typ: tar.TypeReg}},
			wantErr: `entry "x/cron": path goes through symlink "x"`},
		{name: "symlink replaced by a dir", in: []rwEntry{{name: "x", link: "/etc", typ: tar.TypeSymlink}, {name: "x", typ: tar.TypeDir}, {name: "x/f", typ: tar.TypeReg}},
			want: []string{"x->/etc", "x/", "x/f"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			epoch := time.Unix(0, 0)
			tw := NewTarWriter(&out, TarOptions{SourceDateEpoch: &epoch})
			err := RewriteRoot(tw, bytes.NewReader(rewriteInput(t, c.in)))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrInvalidEntry) {
					t.Fatalf("err = %v, want ErrInvalidEntry with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			var got []string
			tr := tar.NewReader(&out)
			for {
				hdr, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				s := hdr.Name
				if hdr.Linkname != "" {
					s += "->" + hdr.Linkname
				}
				got = append(got, s)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestCleanEntryName(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"./etc/passwd", "etc/passwd", true}, {"/abs/x", "abs/x", true}, {"a/../b", "b", true}, {"./", ".", true},
		{"../../../escaped", "", false}, {"a/../../x", "", false}, {"", "", false}, {"a\x00b", "", false},
	} {
		got, err := CleanEntryName(c.in)
		if (err == nil) != c.ok || got != c.want || (err != nil && !errors.Is(err, ErrInvalidEntry)) {
			t.Errorf("CleanEntryName(%q) = %q, %v; want %q, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}
