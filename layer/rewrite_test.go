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

func TestRewrite(t *testing.T) {
	cases := []struct {
		name    string
		dir     string
		in      []rwEntry
		want    []string // "name" or "name->link"
		wantErr string
	}{
		{name: "relative names", in: []rwEntry{{name: "./", typ: tar.TypeDir}, {name: "./etc/", typ: tar.TypeDir}, {name: "/etc/passwd", typ: tar.TypeReg}, {name: "bin/sh", typ: tar.TypeReg}},
			want: []string{"etc/", "etc/passwd", "bin/sh"}},
		{name: "hard link target", in: []rwEntry{{name: "./a", typ: tar.TypeReg}, {name: "./b", link: "./a", typ: tar.TypeLink}},
			want: []string{"a", "b->a"}},
		{name: "escape", in: []rwEntry{{name: "../evil", typ: tar.TypeReg}}, wantErr: `entry "../evil": path escapes the root`},
		{name: "escape in the middle", in: []rwEntry{{name: "a/../../evil", typ: tar.TypeReg}}, wantErr: `entry "a/../../evil": path escapes the root`},
		{name: "link target escapes", in: []rwEntry{{name: "b", link: "../../etc/shadow", typ: tar.TypeLink}}, wantErr: `entry "b": link target "../../etc/shadow": path escapes the root`},
		{name: "through symlink", in: []rwEntry{{name: "x", link: "/etc", typ: tar.TypeSymlink}, {name: "x/cron", typ: tar.TypeReg}},
			wantErr: `entry "x/cron": path goes through symlink "x"`},
		{name: "through relative symlink deeper", in: []rwEntry{{name: "a/", typ: tar.TypeDir}, {name: "a/l", link: "..", typ: tar.TypeSymlink}, {name: "a/l/b/c", typ: tar.TypeReg}},
			wantErr: `entry "a/l/b/c": path goes through symlink "a/l"`},
		{name: "symlink replaced by a dir", in: []rwEntry{{name: "x", link: "/etc", typ: tar.TypeSymlink}, {name: "x", typ: tar.TypeDir}, {name: "x/f", typ: tar.TypeReg}},
			want: []string{"x->/etc", "x/", "x/f"}},
		{name: "whiteout name refused", in: []rwEntry{{name: "d/.wh.f", typ: tar.TypeReg}}, wantErr: `name is reserved for whiteouts`},
		// ADD: the same rules, under the destination.
		{name: "under dir", dir: "usr/src/", in: []rwEntry{{name: "./", typ: tar.TypeDir}, {name: "./pkg/", typ: tar.TypeDir}, {name: "/pkg/a", typ: tar.TypeReg}, {name: "pkg/b", link: "/pkg/a", typ: tar.TypeLink}, {name: "pkg/s", link: "/etc", typ: tar.TypeSymlink}},
			want: []string{"usr/src/pkg/", "usr/src/pkg/a", "usr/src/pkg/b->usr/src/pkg/a", "usr/src/pkg/s->/etc"}},
		{name: "under absolute dir", dir: "/opt/../srv", in: []rwEntry{{name: "f", typ: tar.TypeReg}},
			want: []string{"srv/f"}},
		{name: "under the root", dir: ".", in: []rwEntry{{name: "f", typ: tar.TypeReg}},
			want: []string{"f"}},
		{name: "escape under dir", dir: "usr/src", in: []rwEntry{{name: "../evil", typ: tar.TypeReg}}, wantErr: `entry "../evil": path escapes the root`},
		{name: "link target escapes under dir", dir: "usr/src", in: []rwEntry{{name: "b", link: "../x", typ: tar.TypeLink}}, wantErr: `link target "../x": path escapes the root`},
		{name: "through symlink under dir", dir: "usr/src", in: []rwEntry{{name: "l", link: "/", typ: tar.TypeSymlink}, {name: "l/etc/passwd", typ: tar.TypeReg}},
			wantErr: `entry "l/etc/passwd": path goes through symlink "usr/src/l"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := rewriteNames(rewriteInput(t, c.in), c.dir)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrInvalidEntry) {
					t.Fatalf("err = %v, want ErrInvalidEntry with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// rewriteNames rewrites the tar in under dir and lists the output's
// entries as "name" or "name->link".
func rewriteNames(in []byte, dir string) ([]string, error) {
	hdrs, _, err := rewriteHeaders(in, dir)
	if err != nil {
		return nil, err
	}
	var got []string
	for _, hdr := range hdrs {
		s := hdr.Name
		if hdr.Linkname != "" {
			s += "->" + hdr.Linkname
		}
		got = append(got, s)
	}
	return got, nil
}

// rewriteHeaders rewrites the tar in under dir and returns the output's
// headers and bytes.
func rewriteHeaders(in []byte, dir string) ([]*tar.Header, []byte, error) {
	var out bytes.Buffer
	epoch := time.Unix(0, 0)
	tw := NewTarWriter(&out, TarOptions{SourceDateEpoch: &epoch})
	if err := Rewrite(tw, bytes.NewReader(in), dir); err != nil {
		return nil, nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	var hdrs []*tar.Header
	tr := tar.NewReader(bytes.NewReader(out.Bytes()))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return hdrs, out.Bytes(), nil
		}
		if err != nil {
			return nil, nil, err
		}
		hdrs = append(hdrs, hdr)
	}
}

// FuzzRewrite rewrites tars made of fuzzed entries under a fuzzed
// directory. Whatever the input, an accepted stream's every name and hard
// link target is clean, relative and inside dir, and no entry lies below a
// symlink written before it; rewriting the output again at the root
// changes nothing.
func FuzzRewrite(f *testing.F) {
	f.Add("", "d ./\nd ./etc/\nf /etc/passwd\nh etc/shadow etc/passwd")
	f.Add("usr/src", "s x /etc\nf x/cron")
	f.Add("/opt/../srv", "f ../evil\nh b ../../x\ns a/l ..\nf a/l/b/c")
	f.Add(".", "s x /\nd x\nf x/f\nd ./\nf .wh.x")
	f.Add("a/..", "d a\ns a/l ../..\nh a/h /a/../a/l\nf a/l")
	f.Fuzz(func(t *testing.T, dir, spec string) {
		if len(spec) > 4096 || len(dir) > 256 {
			t.Skip("input too large")
		}
		in, ok := fuzzTar(spec)
		if !ok {
			t.Skip("not a tar the writer accepts")
		}
		hdrs, out, err := rewriteHeaders(in, dir)
		if err != nil {
			if !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("error %v does not wrap ErrInvalidEntry", err)
			}
			return
		}
		base := CleanPath(dir)
		inside := func(p string) {
			if c, escapes := cleanPath(p); escapes || c != p || p == "" {
				t.Fatalf("path %q is not clean and relative", p)
			}
			if base != "" && p != base && !strings.HasPrefix(p, base+"/") {
				t.Fatalf("path %q is not under %q", p, base)
			}
		}
		links := map[string]bool{}
		for _, hdr := range hdrs {
			name := strings.TrimSuffix(hdr.Name, "/")
			inside(name)
			if hdr.Typeflag == tar.TypeLink {
				inside(hdr.Linkname)
			}
			if l := throughLink(links, name); l != "" {
				t.Fatalf("entry %q lies below symlink %q", name, l)
			}
			links[name] = hdr.Typeflag == tar.TypeSymlink
		}
		first, err := rewriteNames(in, dir)
		if err != nil {
			t.Fatal(err)
		}
		again, err := rewriteNames(out, "")
		if err != nil {
			t.Fatalf("rewriting the output again: %v", err)
		}
		if !reflect.DeepEqual(again, first) {
			t.Fatalf("second rewrite changed the stream:\n%q\n%q", first, again)
		}
	})
}

// fuzzTar makes a tar from spec lines "TYPE NAME [LINK]", TYPE one of
// d (directory), f (file), s (symlink), h (hard link).
func fuzzTar(spec string) ([]byte, bool) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, line := range strings.Split(spec, "\n") {
		fields := strings.SplitN(line, " ", 3)
		if len(fields) < 2 {
			continue
		}
		hdr := &tar.Header{Name: fields[1], Mode: 0o644}
		if len(fields) == 3 {
			hdr.Linkname = fields[2]
		}
		switch fields[0] {
		case "d":
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		case "f":
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(hdr.Linkname))
		case "s":
			hdr.Typeflag = tar.TypeSymlink
		case "h":
			hdr.Typeflag = tar.TypeLink
		default:
			continue
		}
		body := ""
		if hdr.Typeflag == tar.TypeReg {
			body, hdr.Linkname = hdr.Linkname, ""
		}
		if tw.WriteHeader(hdr) != nil {
			return nil, false
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, false
		}
	}
	if tw.Close() != nil {
		return nil, false
	}
	return buf.Bytes(), true
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

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "/": "", ".": "", "./": "", "/etc/passwd": "etc/passwd", "etc//x/": "etc/x",
		"a/../b": "b", "/..": "", "../../x": "x", "a/../../x": "x", "//usr/./lib": "usr/lib",
	} {
		if got := CleanPath(in); got != want {
			t.Errorf("CleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}
