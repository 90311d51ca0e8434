package buildctx

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchContext writes files of size bytes each (random content) in
// directories of 100 below a temp dir.
func benchContext(b *testing.B, files, size int) string {
	b.Helper()
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, size)
	for i := range files {
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		p := filepath.Join(dir, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// The benchmarks below use a 200 MB context of 20,000 files of 10 KiB.
// Files are in the page cache after the first iteration, so they measure
// hashing and walking, not the disk.
const benchFiles, benchSize = 20000, 10 << 10

// BenchmarkDigestCold hashes the whole context with no memo: Digest alone,
// on a selection made once (issue 4's "context hashing at >= 1 GB/s on a
// cold memo"). BenchmarkSelect is the walk that comes before it.
func BenchmarkDigestCold(b *testing.B) {
	c, m := benchSelect(b)
	ctx := context.Background()
	b.SetBytes(benchFiles * benchSize)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Digest(ctx, m, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSelect walks the context (Open and Select of "."): what every
// build does before hashing or consulting the memo.
func BenchmarkSelect(b *testing.B) {
	dir := benchContext(b, benchFiles, benchSize)
	b.SetBytes(benchFiles * benchSize)
	b.ResetTimer()
	for b.Loop() {
		selectAll(b, dir)
	}
}

// BenchmarkSelectDigestCold is the cold case end to end: walk and hash.
func BenchmarkSelectDigestCold(b *testing.B) {
	benchDigest(b, false)
}

// BenchmarkDigestMemo is walk and digest with a warm memo: nothing is
// re-read.
func BenchmarkDigestMemo(b *testing.B) {
	benchDigest(b, true)
}

func benchSelect(b *testing.B) (*Context, []Match) {
	return selectAll(b, benchContext(b, benchFiles, benchSize))
}

func selectAll(b *testing.B, dir string) (*Context, []Match) {
	c, err := Open(dir, "")
	if err != nil {
		b.Fatal(err)
	}
	m, err := c.Select(context.Background(), []string{"."})
	if err != nil {
		b.Fatal(err)
	}
	return c, m
}

func benchDigest(b *testing.B, memo bool) {
	dir := benchContext(b, benchFiles, benchSize)
	ctx := context.Background()
	memoPath := ""
	if memo {
		memoPath = filepath.Join(b.TempDir(), "memo")
	}
	run := func() {
		c, m := selectAll(b, dir)
		if _, err := c.Digest(ctx, m, memoPath); err != nil {
			b.Fatal(err)
		}
	}
	if memo {
		run() // fill the memo
	}
	b.SetBytes(benchFiles * benchSize)
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}
