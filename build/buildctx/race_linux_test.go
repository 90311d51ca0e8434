package buildctx

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBreakoutContextRace swaps the context directory sub with a symlink
// to a host directory (renameat2(RENAME_EXCHANGE), the attack of issue
// 11) while COPY sub/file, COPY sub and the context export for a bind
// mount select, hash and read it, many times over. Errors are fine; the
// host file's bytes must never be read.
func TestBreakoutContextRace(t *testing.T) {
	base := t.TempDir()
	host := filepath.Join(base, "host")
	ctxDir := filepath.Join(base, "ctx")
	mkTree(t, host, "f file HOST-SECRET", "f other HOST-SECRET")
	mkTree(t, ctxDir, "f sub/file context", "l swap "+host)
	if err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(ctxDir, "sub"), unix.AT_FDCWD, filepath.Join(ctxDir, "swap"), unix.RENAME_EXCHANGE); err == unix.ENOSYS || err == unix.EINVAL {
		t.Skipf("renameat2(RENAME_EXCHANGE) unsupported: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	c := openCtx(t, ctxDir, "")

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	swaps := 0
	go func() {
		defer wg.Done()
		for !stop.Load() {
			_ = unix.Renameat2(unix.AT_FDCWD, filepath.Join(ctxDir, "sub"), unix.AT_FDCWD, filepath.Join(ctxDir, "swap"), unix.RENAME_EXCHANGE)
			swaps++
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()

	ctx := context.Background()
	var reads, leaks int
	check := func(what string, data []byte) {
		reads++
		if strings.Contains(string(data), "HOST-SECRET") {
			leaks++
			if leaks <= 3 {
				t.Errorf("%s read the host file", what)
			}
		}
	}
	for i := 0; i < 3000; i++ {
		for _, arg := range []string{"sub/file", "sub"} {
			ms, err := c.Select(ctx, []string{arg})
			if err != nil {
				continue
			}
			for _, s := range ms[0].Files {
				if s.Info.IsDir() {
					continue
				}
				f, err := c.OpenFile(s.Path)
				if err != nil {
					continue
				}
				data, _ := io.ReadAll(f)
				f.Close()
				check("COPY "+arg+" ("+s.Path+")", data)
			}
		}
		if i%20 == 0 {
			dst := filepath.Join(base, "export")
			if err := c.Export(ctx, dst); err == nil {
				filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
					if err == nil && d.Type().IsRegular() {
						data, _ := os.ReadFile(p)
						check("the context export", data)
					}
					return nil
				})
			}
			os.RemoveAll(dst)
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d reads during %d swaps; %d read the host file", reads, swaps, leaks)
	if reads < 100 {
		t.Errorf("only %d reads succeeded: the race test did not exercise the reads", reads)
	}
}
