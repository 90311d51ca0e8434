package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
}

func testStore(t *testing.T) *cache.Store {
	t.Helper()
	s, err := cache.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// writeLayer stores a layer holding files (name → content).
func writeLayer(t *testing.T, s *cache.Store, files map[string]string) layer.Info {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	tw.Close()
	info, err := s.WriteLayer(context.Background(), &buf, layer.Gzip, 0)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestMountAndCopy: a mounted root and a copied root show the layers
// applied in order, and releasing them leaves nothing behind.
func TestMountAndCopy(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := testStore(t)
	layers := []layer.Info{writeLayer(t, s, map[string]string{"a": "1", "b": "old"}), writeLayer(t, s, map[string]string{"b": "new"})}
	for name, open := range map[string]func() (string, func(), error){
		"mount": func() (string, func(), error) { return Mount(ctx, s, layers) },
		"copy":  func() (string, func(), error) { return Copy(ctx, s, layers) },
		"empty": func() (string, func(), error) { return Mount(ctx, s, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			root, release, err := open()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"a": "1", "b": "new"}
			if name == "empty" {
				want = map[string]string{}
			}
			ents, _ := os.ReadDir(root)
			if len(ents) != len(want) {
				t.Errorf("%d entries in the root, want %d", len(ents), len(want))
			}
			for f, w := range want {
				if got, err := os.ReadFile(filepath.Join(root, f)); err != nil || string(got) != w {
					t.Errorf("%s = %q, %v; want %q", f, got, err, w)
				}
			}
			release()
			left, _ := os.ReadDir(filepath.Join(s.Root(), "mounts"))
			for _, e := range left {
				if strings.HasPrefix(e.Name(), "rootfs-") {
					t.Errorf("left in mounts/: %s", e.Name())
				}
			}
		})
	}
}

// TestScratch: writes to a scratch view of a directory or a file do not
// reach the source.
func TestScratch(t *testing.T) {
	needRoot(t)
	s := testStore(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("orig"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{host, filepath.Join(host, "f")} {
		view, release, err := Scratch(s, src)
		if err != nil {
			t.Fatal(err)
		}
		target := view
		if src == host {
			target = filepath.Join(view, "f")
		}
		if err := os.WriteFile(target, []byte("changed"), 0o644); err != nil {
			t.Fatalf("writing the view of %s: %v", src, err)
		}
		release()
		if got, _ := os.ReadFile(filepath.Join(host, "f")); string(got) != "orig" {
			t.Errorf("a write to the view of %s reached it: %q", src, got)
		}
	}
}

// TestCacheDirSharing: shared users get the directory together, a locked
// user excludes the others, a private user gets a fresh directory while
// the cache is in use. A new directory has the mount's owner and mode.
func TestCacheDirSharing(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := testStore(t)
	m := CacheMount{ID: "/root/.cache", Mode: 0o1770, UID: 7, GID: 8}
	dir, release, err := CacheDir(ctx, s, m)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode()&os.ModePerm != 0o770 || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("mode %v, %v; want sticky 0770", fi.Mode(), err)
	}
	if dir != s.CacheMountDir(m.ID) {
		t.Errorf("dir %s, want the store's %s", dir, s.CacheMountDir(m.ID))
	}
	// A second shared user is let in while the first holds the cache.
	dir2, release2, err := CacheDir(ctx, s, m)
	if err != nil || dir2 != dir {
		t.Fatalf("second shared user: %s, %v", dir2, err)
	}
	release2()
	// A private user gets another directory, with the same owner.
	m.Sharing = SharingPrivate
	priv, releasePriv, err := CacheDir(ctx, s, m)
	if err != nil || priv == dir {
		t.Fatalf("private user: %s, %v", priv, err)
	}
	releasePriv()
	// A locked user waits for the shared one.
	m.Sharing = SharingLocked
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	if _, _, err := CacheDir(short, s, m); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("locked user while shared: %v, want to wait until the deadline", err)
	}
	release()
	_, releaseLocked, err := CacheDir(ctx, s, m)
	if err != nil {
		t.Fatalf("locked user after release: %v", err)
	}
	releaseLocked()
}
