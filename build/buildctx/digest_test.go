package buildctx

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func digestTree(t *testing.T) (*Context, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "ctx")
	mkTree(t, root,
		"f a.txt alpha",
		"f dir/b.txt beta",
		"f dir/sub/c.txt gamma",
		"l dir/link b.txt",
		"p dir/fifo",
	)
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{"a.txt", "dir/b.txt", "dir/sub/c.txt"} {
		if err := os.Chtimes(filepath.Join(root, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	return openCtx(t, root, ""), root
}

func digestOf(t *testing.T, c *Context, memo string, srcs ...string) string {
	t.Helper()
	ms, err := c.Select(context.Background(), srcs)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Digest(context.Background(), ms, memo)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDigestChanges(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, root string)
		changed bool
	}{
		{"mtime only", func(t *testing.T, root string) {
			now := time.Now()
			must(t, os.Chtimes(filepath.Join(root, "dir/b.txt"), now, now))
		}, false},
		{"same-size content", func(t *testing.T, root string) {
			must(t, os.WriteFile(filepath.Join(root, "dir/b.txt"), []byte("BETA"), 0o644))
		}, true},
		{"mode", func(t *testing.T, root string) {
			must(t, os.Chmod(filepath.Join(root, "dir/sub/c.txt"), 0o600))
		}, true},
		{"owner", func(t *testing.T, root string) {
			if os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			must(t, os.Lchown(filepath.Join(root, "dir/sub/c.txt"), 1000, 1000))
		}, true},
		{"symlink target", func(t *testing.T, root string) {
			must(t, os.Remove(filepath.Join(root, "dir/link")))
			must(t, os.Symlink("sub/c.txt", filepath.Join(root, "dir/link")))
		}, true},
		{"rename", func(t *testing.T, root string) {
			must(t, os.Rename(filepath.Join(root, "dir/sub/c.txt"), filepath.Join(root, "dir/sub/d.txt")))
		}, true},
		{"new file", func(t *testing.T, root string) {
			must(t, os.WriteFile(filepath.Join(root, "dir/new"), nil, 0o644))
		}, true},
		{"file outside the selection", func(t *testing.T, root string) {
			must(t, os.WriteFile(filepath.Join(root, "other"), []byte("x"), 0o644))
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, memo := range []string{"", filepath.Join(t.TempDir(), "memo.json")} {
				c, root := digestTree(t)
				before := digestOf(t, c, memo, "a.txt", "dir")
				if again := digestOf(t, c, memo, "a.txt", "dir"); again != before {
					t.Fatalf("digest not stable: %s then %s", before, again)
				}
				tt.change(t, root)
				after := digestOf(t, c, memo, "a.txt", "dir")
				if (after != before) != tt.changed {
					t.Errorf("memo %q: digest before %s, after %s; want changed=%v", memo, before, after, tt.changed)
				}
			}
		})
	}
}

func TestDigestIndependentOfLocation(t *testing.T) {
	c1, _ := digestTree(t)
	c2, _ := digestTree(t)
	if c1.Dir() == c2.Dir() {
		t.Fatal("same dir")
	}
	d1, d2 := digestOf(t, c1, "", "dir"), digestOf(t, c2, "", "dir")
	if d1 != d2 {
		t.Errorf("identical trees in different places: %s != %s", d1, d2)
	}
	if d3 := digestOf(t, c1, "", "dir/b.txt"); d3 == d1 {
		t.Errorf("different selections share digest %s", d3)
	}
}

// countOpens counts the files Digest opens for hashing.
func countOpens(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	hashHook = func(string) { n.Add(1) }
	t.Cleanup(func() { hashHook = nil })
	return &n
}

func TestDigestMemo(t *testing.T) {
	c, root := digestTree(t)
	memo := filepath.Join(t.TempDir(), "memo.json")
	opens := countOpens(t)

	first := digestOf(t, c, memo, "a.txt", "dir")
	if got := opens.Swap(0); got != 3 {
		t.Fatalf("first digest opened %d files, want 3", got)
	}
	if second := digestOf(t, c, memo, "a.txt", "dir"); second != first {
		t.Fatalf("memoised digest %s != %s", second, first)
	}
	if got := opens.Swap(0); got != 0 {
		t.Errorf("second digest opened %d files, want 0 (memo hit)", got)
	}
	// Another process decodes the memo file: forget the in-process copy.
	loaded.Clear()
	if third := digestOf(t, c, memo, "a.txt", "dir"); third != first {
		t.Fatalf("digest from the memo file %s != %s", third, first)
	}
	if got := opens.Swap(0); got != 0 {
		t.Errorf("digest with the memo read from disk opened %d files, want 0", got)
	}
	if d := digestOf(t, c, "", "a.txt", "dir"); d != first {
		t.Errorf("digest without memo %s != %s", d, first)
	}
	opens.Store(0)

	// A changed file is re-hashed; the others still come from the memo.
	must(t, os.WriteFile(filepath.Join(root, "a.txt"), []byte("ALPHA!"), 0o644))
	old := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(filepath.Join(root, "a.txt"), old, old))
	third := digestOf(t, c, memo, "a.txt", "dir")
	if got := opens.Swap(0); got != 1 {
		t.Errorf("after one change, digest opened %d files, want 1", got)
	}
	if third == first {
		t.Errorf("content change did not change the memoised digest")
	}

	// A corrupt memo is only a cache miss.
	must(t, os.WriteFile(memo, []byte("{garbage"), 0o644))
	if d := digestOf(t, c, memo, "a.txt", "dir"); d != third {
		t.Errorf("digest with corrupt memo %s != %s", d, third)
	}
	if got := opens.Swap(0); got != 3 {
		t.Errorf("corrupt memo: opened %d files, want 3", got)
	}
}

// TestDigestMemoRacy checks git's racy-timestamp rule: an entry whose mtime
// is not older than the memo's write time is never trusted.
func TestDigestMemoRacy(t *testing.T) {
	c, root := digestTree(t)
	memo := filepath.Join(t.TempDir(), "memo.json")
	future := time.Now().Add(time.Hour)
	must(t, os.Chtimes(filepath.Join(root, "a.txt"), future, future))
	opens := countOpens(t)
	for i := range 3 {
		digestOf(t, c, memo, "a.txt")
		if got := opens.Swap(0); got != 1 {
			t.Errorf("round %d: racy entry opened %d times, want 1 (re-hashed)", i, got)
		}
	}
	// Once the file is older than the memo it is trusted again.
	old := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(filepath.Join(root, "a.txt"), old, old))
	digestOf(t, c, memo, "a.txt")
	digestOf(t, c, memo, "a.txt")
	if got := opens.Swap(0); got != 1 {
		t.Errorf("after backdating: opened %d times over two digests, want 1", got)
	}
}

func TestDigestCanceled(t *testing.T) {
	c, _ := digestTree(t)
	ms, err := c.Select(context.Background(), []string{"dir"})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Digest(ctx, ms, ""); err == nil {
		t.Error("Digest with canceled context succeeded")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDigestChangedAfterSelect changes a selected file between Select and
// Digest: Digest hashes what is there now (as a fresh Select would see it),
// or fails, but never trusts the stale size or reads through a symlink or a
// FIFO swapped in.
func TestDigestChangedAfterSelect(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, root string)
		wantErr string
	}{
		{"grew", func(t *testing.T, root string) {
			must(t, os.WriteFile(filepath.Join(root, "dir/sub/c.txt"), []byte("gamma and more"), 0o644))
		}, ""},
		{"shrank", func(t *testing.T, root string) {
			must(t, os.WriteFile(filepath.Join(root, "dir/sub/c.txt"), []byte("g"), 0o644))
		}, ""},
		{"same size", func(t *testing.T, root string) {
			must(t, os.WriteFile(filepath.Join(root, "dir/sub/c.txt"), []byte("GAMMA"), 0o644))
		}, ""},
		{"now a FIFO", func(t *testing.T, root string) {
			p := filepath.Join(root, "dir/sub/c.txt")
			must(t, os.Remove(p))
			must(t, syscall.Mkfifo(p, 0o644))
		}, "not a regular file"},
		{"parent now a symlink inside", func(t *testing.T, root string) {
			mkTree(t, root, "f other/c.txt gamma2")
			must(t, os.RemoveAll(filepath.Join(root, "dir/sub")))
			must(t, os.Symlink("../other", filepath.Join(root, "dir/sub")))
		}, ""},
		{"parent now a symlink outside", func(t *testing.T, root string) {
			out := filepath.Join(t.TempDir(), "outside")
			mkTree(t, out, "f c.txt secret")
			must(t, os.RemoveAll(filepath.Join(root, "dir/sub")))
			must(t, os.Symlink(out, filepath.Join(root, "dir/sub")))
		}, "outside the build context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, root := digestTree(t)
			ms, err := c.Select(context.Background(), []string{"dir/sub/c.txt"})
			must(t, err)
			before := digestOf(t, c, "", "dir/sub/c.txt")
			tt.change(t, root)
			got, err := c.Digest(context.Background(), ms, "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Digest after change = %s, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			must(t, err)
			if got == before {
				t.Errorf("Digest after change is the stale %s", got)
			}
			if fresh := digestOf(t, c, "", "dir/sub/c.txt"); got != fresh {
				t.Errorf("Digest after change = %s, a fresh Select gives %s", got, fresh)
			}
		})
	}
}

// TestDigestWithOwners: WithOwners changes the owners a digest records,
// and only those.
func TestDigestWithOwners(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	digest := func(opts ...Option) string {
		t.Helper()
		c, err := Open(dir, "", opts...)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Select(context.Background(), []string{"f"})
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.Digest(context.Background(), m, "")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	plain := digest()
	same := digest(WithOwners(func(uid, gid uint32) (uint32, uint32) { return uid, gid }))
	other := digest(WithOwners(func(uid, gid uint32) (uint32, uint32) { return uid + 1, gid }))
	if same != plain {
		t.Errorf("an identity translation changed the digest: %s, %s", same, plain)
	}
	if other == plain {
		t.Error("a translated owner did not change the digest")
	}
}
