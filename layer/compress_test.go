package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// mixedData returns n deterministic bytes alternating between compressible
// text and random blocks.
func mixedData(n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	out := make([]byte, 0, n)
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog ", 100))
	for len(out) < n {
		if r.IntN(2) == 0 {
			out = append(out, text[:r.IntN(len(text))]...)
		} else {
			b := make([]byte, r.IntN(8192))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			out = append(out, b...)
		}
	}
	return out[:n]
}

func compress(t testing.TB, data []byte, c Compression, level int) ([]byte, Info) {
	t.Helper()
	var buf bytes.Buffer
	info, err := Compress(context.Background(), &buf, bytes.NewReader(data), c, level)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), info
}

func sha(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

func TestCompressInfoAndRoundTrip(t *testing.T) {
	for _, c := range []Compression{Gzip, Zstd, None} {
		for _, size := range []int{0, 1000, 3<<20 + 17} { // below and above the pgzip threshold
			t.Run(fmt.Sprintf("%s/%d", c, size), func(t *testing.T) {
				in := mixedData(size)
				out, info := compress(t, in, c, 0)
				if got, want := info.Digest.String(), sha(out); got != want {
					t.Errorf("Digest = %s, want sha256 of output %s", got, want)
				}
				if got, want := info.DiffID.String(), sha(in); got != want {
					t.Errorf("DiffID = %s, want sha256 of input %s", got, want)
				}
				if info.Size != int64(len(out)) || info.UncompressedSize != int64(len(in)) {
					t.Errorf("sizes = %d/%d, want %d/%d", info.Size, info.UncompressedSize, len(out), len(in))
				}
				if info.MediaType != c.MediaType() {
					t.Errorf("MediaType = %s, want %s", info.MediaType, c.MediaType())
				}
				if c == None && info.Digest != info.DiffID {
					t.Errorf("none: Digest %s != DiffID %s", info.Digest, info.DiffID)
				}
				rc, err := Decompress(bytes.NewReader(out))
				if err != nil {
					t.Fatal(err)
				}
				back, err := io.ReadAll(rc)
				must(t, err)
				must(t, rc.Close())
				if !bytes.Equal(back, in) {
					t.Errorf("Decompress(Compress(x)) != x (%d vs %d bytes)", len(back), len(in))
				}
			})
		}
	}
}

func TestCompressDeterministicAcrossGOMAXPROCS(t *testing.T) {
	data := mixedData(6 << 20)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range []Compression{Gzip, Zstd, None} {
		for _, level := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/level%d", c, level), func(t *testing.T) {
				if c == None && level != 0 {
					t.Skip("skipping: none has no levels")
				}
				runtime.GOMAXPROCS(1)
				_, one := compress(t, data, c, level)
				runtime.GOMAXPROCS(2)
				_, two := compress(t, data, c, level)
				_, again := compress(t, data, c, level)
				if one.Digest != two.Digest || two.Digest != again.Digest {
					t.Errorf("digests differ: GOMAXPROCS=1 %s, =2 %s, again %s", one.Digest, two.Digest, again.Digest)
				}
			})
		}
	}
}

func TestCompressErrors(t *testing.T) {
	for _, tc := range []struct {
		c     Compression
		level int
		want  string
	}{
		{Gzip, 10, "gzip level 10"},
		{Zstd, 23, "zstd level 23"},
		{"lz4", 0, `unknown compression "lz4"`},
	} {
		_, err := Compress(context.Background(), io.Discard, strings.NewReader("x"), tc.c, tc.level)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compress(%s, %d) err = %v, want %q", tc.c, tc.level, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Compress(ctx, io.Discard, strings.NewReader("x"), Gzip, 0); err == nil {
		t.Error("Compress with a cancelled context succeeded")
	}
}

func TestDecompressFixtures(t *testing.T) {
	for _, name := range []string{"hello.tar", "hello.tar.gzip", "hello.tar.bzip2", "hello.tar.xz", "hello.tar.zstd"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "testdata", "layer", name))
			must(t, err)
			if !IsArchive(b) {
				t.Errorf("IsArchive(%s) = false", name)
			}
			rc, err := Decompress(bytes.NewReader(b))
			must(t, err)
			defer rc.Close()
			tr := tar.NewReader(rc)
			h, err := tr.Next()
			must(t, err)
			content, err := io.ReadAll(tr)
			must(t, err)
			if h.Name != "hello.txt" || string(content) != "hello, world\n" {
				t.Errorf("got %q = %q", h.Name, content)
			}
		})
	}
}

func TestIsArchive(t *testing.T) {
	notTar, err := os.ReadFile(filepath.Join("..", "testdata", "layer", "notatar.gz"))
	must(t, err)
	var ours bytes.Buffer
	tw := NewTarWriter(&ours, TarOptions{})
	must(t, tw.WriteHeader(&tar.Header{Name: "a", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}))
	_, err = tw.Write([]byte("a"))
	must(t, err)
	must(t, tw.Close())
	zstdTar, _ := compress(t, ours.Bytes(), Zstd, 0)
	for _, tc := range []struct {
		name string
		head []byte
		want bool
	}{
		{"our tar", ours.Bytes(), true},
		{"our zstd tar", zstdTar, true},
		{"gzip of text", notTar, false},
		{"text", []byte(strings.Repeat("hello\n", 200)), false},
		{"zeros", make([]byte, 1024), false},
		{"short", []byte{0x1f, 0x8b}, false},
		{"empty", nil, false},
	} {
		if got := IsArchive(tc.head); got != tc.want {
			t.Errorf("IsArchive(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func BenchmarkCompress(b *testing.B) {
	data := mixedData(64 << 20)
	for _, c := range []Compression{Gzip, Zstd} {
		b.Run(string(c), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Compress(context.Background(), io.Discard, bytes.NewReader(data), c, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
