package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"
)

var (
	benchDir = flag.String("applyfresh.dir", "", "BenchmarkApplyFresh: directory on the disk to measure, for "+
		"the compressed layers (kept between runs) and the trees (default: the system temp dir)")
	benchTrees = flag.String("applyfresh.trees", "", "BenchmarkApplyFresh: directory to extract into "+
		"(default: -applyfresh.dir)")
	benchMinbase = flag.String("applyfresh.minbase", "/var/cache/ibuild-testbases/debian-bookworm-minbase.tar",
		"BenchmarkApplyFresh: the Debian minbase tar (hack/testbases.sh)")
)

// benchEpoch is the synthetic layer's mtime.
var benchEpoch = time.Unix(1_700_000_000, 0)

// BenchmarkApplyFresh extracts a gzip layer into a new, empty directory and
// syncs the file system, as cache's Store.Snapshot does, next to GNU
// `tar -xzf` of the same layer plus syncfs, in the same run. Layers: the
// Debian minbase base (skipped if hack/testbases.sh has not built it) and
// a 1 GiB synthetic layer. MB/s counts uncompressed tar bytes; load1 is
// /proc/loadavg when the benchmark ends. Sub-benchmarks: fast (ApplySnapshot:
// the fast path), careful (umoci's extractor) and gnutar. bench/apply_fresh.sh
// runs them with peak RSS.
func BenchmarkApplyFresh(b *testing.B) {
	requireRoot(b)
	work := *benchDir
	if work == "" {
		work = os.TempDir()
	}
	for _, l := range []struct {
		name string
		make func(b *testing.B, dst string)
	}{
		{"debian-minbase", func(b *testing.B, dst string) { gzipFile(b, *benchMinbase, dst) }},
		{"synthetic-1g", func(b *testing.B, dst string) { syntheticLayer(b, dst, 1<<30) }},
	} {
		b.Run(l.name, func(b *testing.B) {
			if l.name == "debian-minbase" {
				if _, err := os.Stat(*benchMinbase); err != nil {
					b.Skipf("skipping: no Debian minbase layer (%v); run hack/testbases.sh", err)
				}
			}
			gz := filepath.Join(work, "ibuild-applyfresh-"+l.name+".tar.gz")
			if _, err := os.Stat(gz); err != nil {
				l.make(b, gz+".tmp")
				if err := os.Rename(gz+".tmp", gz); err != nil {
					b.Fatal(err)
				}
			}
			size := uncompressedSize(b, gz)
			trees := *benchTrees
			if trees == "" {
				trees = work
			}
			for _, m := range []struct {
				name string
				fn   func(ctx context.Context, dir string, layer io.Reader, opts ...Option) error
			}{{"fast", ApplySnapshot}, {"careful", applySnapshotCareful}, {"gnutar", nil}} {
				b.Run(m.name, func(b *testing.B) {
					b.SetBytes(size)
					var syncTime time.Duration
					for range b.N {
						syncTime += benchExtract(b, trees, gz, m.fn)
					}
					b.ReportMetric(float64(syncTime.Milliseconds())/float64(b.N), "ms-sync/op")
					b.ReportMetric(load1(), "load1")
				})
			}
		})
	}
}

// benchExtract extracts gz into a new directory under work with fn (GNU
// tar if nil), syncs the file system and removes the tree untimed. It
// returns the time syncfs took.
func benchExtract(b *testing.B, work, gz string, fn func(context.Context, string, io.Reader, ...Option) error) time.Duration {
	b.StopTimer()
	dir, err := os.MkdirTemp(work, "ibuild-applyfresh-tree-")
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		b.StopTimer()
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}()
	unix.Sync()
	b.StartTimer()
	if fn == nil {
		if out, err := exec.Command("tar", "-xzf", gz, "-C", dir).CombinedOutput(); err != nil {
			b.Fatalf("tar: %v: %s", err, out)
		}
	} else {
		f, err := os.Open(gz)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rc, err := Decompress(f)
		if err != nil {
			b.Fatal(err)
		}
		defer rc.Close()
		if err := fn(context.Background(), dir, rc); err != nil {
			b.Fatal(err)
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	start := time.Now()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// gzipFile compresses src into dst at gzip's default level.
func gzipFile(b *testing.B, src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	writeGzip(b, dst, func(w io.Writer) error { _, err := io.Copy(w, in); return err })
}

func writeGzip(b *testing.B, dst string, fill func(io.Writer) error) {
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	err = fill(zw)
	if err == nil {
		err = zw.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
}

// syntheticLayer writes a gzip layer of about size bytes: a fifth in 4 KiB
// files a hundred to a directory (as in /usr), the rest in 4 MiB files,
// every content half random, half repeated so that it compresses about
// two to one, as binaries do; a few symlinks and hard links.
func syntheticLayer(b *testing.B, dst string, size int64) {
	writeGzip(b, dst, func(w io.Writer) error {
		rng := rand.New(rand.NewPCG(1, 2))
		tw := tar.NewWriter(w)
		var total int64
		content := func(n int) []byte {
			p := make([]byte, n)
			for i := 0; i < n/2; i += 8 {
				v := rng.Uint64()
				for j := 0; j < 8 && i+j < n/2; j++ {
					p[i+j] = byte(v >> (8 * j))
				}
			}
			copy(p[n/2:], bytes.Repeat([]byte("ibuild "), n/14+1))
			return p
		}
		write := func(hdr *tar.Header, body []byte) error {
			hdr.Size, hdr.Mode, hdr.ModTime = int64(len(body)), 0o644, benchEpoch
			if hdr.Typeflag == tar.TypeDir || hdr.Typeflag == tar.TypeSymlink || hdr.Typeflag == tar.TypeLink {
				hdr.Mode = 0o755
			}
			total += hdr.Size
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			_, err := tw.Write(body)
			return err
		}
		for d := 0; total < size/5; d++ {
			dir := fmt.Sprintf("small/%03d/", d)
			if err := write(&tar.Header{Name: dir, Typeflag: tar.TypeDir}, nil); err != nil {
				return err
			}
			for i := 0; i < 100; i++ {
				name := dir + "f" + strconv.Itoa(i)
				if err := write(&tar.Header{Name: name, Typeflag: tar.TypeReg}, content(4096)); err != nil {
					return err
				}
				if i%25 == 0 {
					if err := write(&tar.Header{Name: name + ".sym", Typeflag: tar.TypeSymlink, Linkname: "f" + strconv.Itoa(i)}, nil); err != nil {
						return err
					}
					if err := write(&tar.Header{Name: name + ".lnk", Typeflag: tar.TypeLink, Linkname: name}, nil); err != nil {
						return err
					}
				}
			}
		}
		if err := write(&tar.Header{Name: "big/", Typeflag: tar.TypeDir}, nil); err != nil {
			return err
		}
		for i := 0; total < size; i++ {
			if err := write(&tar.Header{Name: fmt.Sprintf("big/f%04d", i), Typeflag: tar.TypeReg}, content(4<<20)); err != nil {
				return err
			}
		}
		return tw.Close()
	})
}

// uncompressedSize reads gz through to count its tar bytes.
func uncompressedSize(b *testing.B, gz string) int64 {
	f, err := os.Open(gz)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// load1 is the one-minute load average, reported with each figure: the
// machine may be shared.
func load1() float64 {
	raw, _ := os.ReadFile("/proc/loadavg")
	f, _ := strconv.ParseFloat(strings.Fields(string(raw) + " 0")[0], 64)
	return f
}
