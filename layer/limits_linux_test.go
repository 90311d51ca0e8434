package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestApplyHugeHeader: an entry claiming a terabyte is rejected before a
// byte of it is written.
func TestApplyHugeHeader(t *testing.T) {
	requireRoot(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "ok", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(tw, "x")
	if err := tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	// archive/tar has written the header block; follow it with a little
	// data, as a hostile stream would, without the terabyte.
	buf.Write(make([]byte, 64<<10))
	for _, ap := range appliers {
		t.Run(ap.name, func(t *testing.T) {
			root := t.TempDir()
			err := ap.fn(context.Background(), root, bytes.NewReader(buf.Bytes()))
			if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), `layer entry "big"`) {
				t.Fatalf("err = %v, want ErrLimit naming entry big", err)
			}
			t.Logf("error: %v", err)
			assertFile(t, filepath.Join(root, "ok"), "x")
			if _, err := os.Lstat(filepath.Join(root, "big")); !os.IsNotExist(err) {
				t.Errorf("big was created (%v)", err)
			}
		})
	}
}

// TestApplyMaxSizeTotal: many entries each under the limit fail once
// their sum passes it.
func TestApplyMaxSizeTotal(t *testing.T) {
	requireRoot(t)
	var es []entry
	for i := range 10 {
		es = append(es, reg(fmt.Sprintf("f%d", i), strings.Repeat("x", 1000)))
	}
	root := t.TempDir()
	err := ApplySnapshot(context.Background(), root, bytes.NewReader(rawTar(t, es...)), WithMaxSize(4500))
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), `layer entry "f4"`) {
		t.Fatalf("err = %v, want ErrLimit at f4", err)
	}
}

// manyEntries streams a tar of n entries without holding it in memory.
// Every name is distinct; skippable makes them aufs metadata (counted but
// not extracted) so the test measures the reader, not the disk.
func manyEntries(n int, skippable bool) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for i := range n {
			name := fmt.Sprintf("d%d/f%d", i%1000, i)
			if skippable {
				name = fmt.Sprintf("d%d/.wh..wh.f%d", i%1000, i)
			}
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr
}

// TestApplyMillionEntries: a layer of a million entries is read in bounded
// time and memory under the default limits, and rejected at the limit
// when a lower one is set.
func TestApplyMillionEntries(t *testing.T) {
	requireRoot(t)
	if testing.Short() {
		t.Skip("skipping in -short: streams 512 MB of tar headers")
	}
	const n = 1 << 20
	t.Run("defaults", func(t *testing.T) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		r := manyEntries(n, true)
		defer r.Close()
		if err := ApplyDir(context.Background(), t.TempDir(), r); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		took := time.Since(start)
		t.Logf("%d entries in %v, heap %d -> %d", n, took, before.HeapAlloc, after.HeapAlloc)
		if took > 2*time.Minute {
			t.Errorf("took %v", took)
		}
		if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 64<<20 {
			t.Errorf("heap grew by %d bytes", grow)
		}
	})
	t.Run("limit", func(t *testing.T) {
		r := manyEntries(n, false)
		defer r.Close()
		root := t.TempDir()
		err := ApplySnapshot(context.Background(), root, r, WithMaxEntries(1000))
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), `layer entry "d0/f1000"`) {
			t.Fatalf("err = %v, want ErrLimit at entry 1001", err)
		}
		if _, err := os.Lstat(filepath.Join(root, "d0/f1000")); !os.IsNotExist(err) {
			t.Errorf("entry past the limit was written (%v)", err)
		}
	})
}
