package layer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"testing"
)

// BenchmarkRewrite rewrites a root filesystem tar of 100 directories of
// 50 files of 1 KiB (what ibuild import and ADD of an archive do per
// entry: clean the name, check for symlinks on the way, normalise and
// copy).
func BenchmarkRewrite(b *testing.B) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := bytes.Repeat([]byte("x"), 1024)
	for d := 0; d < 100; d++ {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("./usr/share/d%03d/", d), Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < 50; f++ {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("./usr/share/d%03d/f%02d", d, f), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
				b.Fatal(err)
			}
			if _, err := tw.Write(body); err != nil {
				b.Fatal(err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("./usr/share/d%03d/link", d), Typeflag: tar.TypeSymlink, Linkname: "f00"}); err != nil {
			b.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	in := buf.Bytes()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := NewTarWriter(io.Discard, TarOptions{})
		if err := Rewrite(out, bytes.NewReader(in), ""); err != nil {
			b.Fatal(err)
		}
		if err := out.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
