package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// zeroTar is a tar holding one file of n zero bytes, compressed with c.
func zeroTar(t testing.TB, n int64, c Compression) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch c {
	case Gzip:
		w, _ = gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	case Zstd:
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	}
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: "zero", Typeflag: tar.TypeReg, Mode: 0o644, Size: n}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, zeros{}, n); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestDecompressBombs checks that a stream expanding past the limits fails
// with ErrLimit after reading about the limit, not the whole bomb.
func TestDecompressBombs(t *testing.T) {
	const expands = 256 << 20
	gz, zs := zeroTar(t, expands, Gzip), zeroTar(t, expands, Zstd)
	t.Logf("bombs: gzip %d bytes, zstd %d bytes, both expanding to %d", len(gz), len(zs), expands)
	for _, tc := range []struct {
		name    string
		blob    []byte
		opts    []Option
		wantErr bool
		maxRead int64 // most uncompressed bytes read before the error
	}{
		{name: "gzip over max size", blob: gz, opts: []Option{WithMaxSize(32 << 20)}, wantErr: true, maxRead: 33 << 20},
		{name: "zstd over max size", blob: zs, opts: []Option{WithMaxSize(32 << 20)}, wantErr: true, maxRead: 33 << 20},
		{name: "zstd over ratio", blob: zs, opts: []Option{WithMaxRatio(1000)}, wantErr: true, maxRead: ratioFloor + 1<<20},
		{name: "gzip under ratio", blob: gz, opts: []Option{WithMaxRatio(1100)}},
		{name: "defaults", blob: zs},
		{name: "no limits", blob: gz, opts: []Option{WithMaxSize(0), WithMaxRatio(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := Decompress(bytes.NewReader(tc.blob), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			n, err := io.Copy(io.Discard, rc)
			switch {
			case tc.wantErr && !errors.Is(err, ErrLimit):
				t.Fatalf("read %d bytes, err %v; want ErrLimit", n, err)
			case tc.wantErr && n > tc.maxRead:
				t.Errorf("read %d bytes before failing, want at most %d", n, tc.maxRead)
			case !tc.wantErr && err != nil:
				t.Fatalf("unexpected error after %d bytes: %v", n, err)
			case !tc.wantErr && n < expands:
				t.Errorf("read %d bytes, want all %d", n, expands)
			}
			if err != nil {
				t.Logf("error: %v", err)
			}
		})
	}
}

func TestDecompressPlainMaxSize(t *testing.T) {
	rc, err := Decompress(io.LimitReader(zeros{}, 10<<20), WithMaxSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, rc); !errors.Is(err, ErrLimit) || n > 1<<20+64<<10 {
		t.Errorf("read %d bytes, err %v; want ErrLimit after about 1 MiB", n, err)
	}
}
