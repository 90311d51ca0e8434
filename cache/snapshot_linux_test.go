package cache

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/layer"
)

// whiteoutTar has a file, a whiteout and an opaque directory.
func whiteoutTar(t *testing.T) []byte {
	return tarOf(t,
		dir("etc/"), file("etc/hosts", "127.0.0.1 localhost\n"),
		file("etc/.wh.passwd", ""),
		dir("var/"), file("var/.wh..wh..opq", ""), file("var/new", "n"),
	)
}

func TestSnapshot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlay whiteouts (mknod 0/0, trusted.* xattrs) need root")
	}
	for _, c := range []layer.Compression{layer.Gzip, layer.Zstd, layer.None} {
		t.Run(string(c), func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			info, err := s.WriteLayer(ctx, bytes.NewReader(whiteoutTar(t)), c, 0)
			if err != nil {
				t.Fatal(err)
			}
			if info.DiffID != sha(whiteoutTar(t)) {
				t.Fatalf("diffID = %s, want %s", info.DiffID, sha(whiteoutTar(t)))
			}
			dir, err := s.Snapshot(ctx, info)
			if err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			if want := filepath.Join(s.Root(), "snapshots", info.DiffID.Hex); dir != want {
				t.Errorf("Snapshot dir = %s, want %s", dir, want)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "etc/hosts")); err != nil || string(b) != "127.0.0.1 localhost\n" {
				t.Errorf("etc/hosts = %q, %v", b, err)
			}
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(dir, "etc/passwd"), &st); err != nil {
				t.Fatalf("whiteout: %v", err)
			}
			if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
				t.Errorf("etc/passwd mode %o rdev %d, want 0/0 char device", st.Mode, st.Rdev)
			}
			buf := make([]byte, 8)
			n, err := unix.Lgetxattr(filepath.Join(dir, "var"), "trusted.overlay.opaque", buf)
			if err != nil || string(buf[:n]) != "y" {
				t.Errorf("var trusted.overlay.opaque = %q, %v; want y", buf[:n], err)
			}
			if _, err := os.Lstat(filepath.Join(dir, "var/.wh..wh..opq")); !os.IsNotExist(err) {
				t.Errorf("opaque marker left as a file: %v", err)
			}
			// A second call reuses the snapshot.
			if err := os.WriteFile(filepath.Join(dir, "marker"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			again, err := s.Snapshot(ctx, info)
			if err != nil || again != dir {
				t.Fatalf("second Snapshot = %s, %v", again, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "marker")); err != nil {
				t.Error("second Snapshot re-extracted the layer")
			}
			assertNoSnapshotTemps(t, s)
		})
	}
}

func assertNoSnapshotTemps(t *testing.T, s *Store) {
	t.Helper()
	for _, n := range dirNames(t, s, "snapshots") {
		if strings.HasPrefix(n, ".tmp-") {
			t.Errorf("snapshot temp dir %s left behind", n)
		}
	}
}

func TestSnapshotConcurrent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("overlay whiteouts need root")
	}
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.WriteLayer(ctx, bytes.NewReader(whiteoutTar(t)), layer.Gzip, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Two Stores stand in for two processes; each has several callers.
	s2, err := Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	errs := make([]error, 8)
	for i := range dirs {
		st := s
		if i%2 == 1 {
			st = s2
		}
		wg.Go(func() { dirs[i], errs[i] = st.Snapshot(ctx, info) })
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("caller %d: %s, %v", i, dirs[i], errs[i])
		}
	}
	if _, err := os.ReadFile(filepath.Join(dirs[0], "etc/hosts")); err != nil {
		t.Error(err)
	}
	assertNoSnapshotTemps(t, s)
}

func TestSnapshotRejectsBadLayer(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		mangle  func(t *testing.T, s *Store, info *layer.Info)
		wantErr string
	}{
		{"corrupt content", func(t *testing.T, s *Store, info *layer.Info) {
			flipBlobByte(t, s, info.Digest, 512) // file content: the tar stays valid
		}, "corrupt"},
		{"corrupt trailer", func(t *testing.T, s *Store, info *layer.Info) {
			flipBlobByte(t, s, info.Digest, 1024) // end-of-archive block: the tar breaks
		}, "corrupt"},
		{"wrong diffID", func(t *testing.T, s *Store, info *layer.Info) {
			info.DiffID = sha([]byte("other"))
		}, "diffID"},
		{"missing blob", func(t *testing.T, s *Store, info *layer.Info) {
			p, _ := s.blobPath(info.Digest)
			os.Remove(p)
		}, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			info, err := s.WriteLayer(ctx, bytes.NewReader(tarOf(t, file("a", "b"))), layer.None, 0)
			if err != nil {
				t.Fatal(err)
			}
			tt.mangle(t, s, &info)
			_, err = s.Snapshot(ctx, info)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Snapshot error = %v, want %q", err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(s.Root(), "snapshots", info.DiffID.Hex)); !os.IsNotExist(err) {
				t.Errorf("snapshot dir exists after failure: %v", err)
			}
			assertNoSnapshotTemps(t, s)
		})
	}
}

// flipBlobByte corrupts one byte of a stored blob in place.
func flipBlobByte(t *testing.T, s *Store, h v1.Hash, off int) {
	t.Helper()
	p, _ := s.blobPath(h)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAdoptSnapshot(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	diffID := sha([]byte("upper"))
	mkUpper := func(content string) string {
		d, err := s.TempDir("run-*")
		if err != nil {
			t.Fatal(err)
		}
		upper := filepath.Join(d, "upper")
		if err := os.MkdirAll(upper, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(upper, "f"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return upper
	}
	first := mkUpper("first")
	got, err := s.AdoptSnapshot(ctx, diffID, first)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.Root(), "snapshots", diffID.Hex); got != want {
		t.Errorf("AdoptSnapshot = %s, want %s", got, want)
	}
	second := mkUpper("second")
	if again, err := s.AdoptSnapshot(ctx, diffID, second); err != nil || again != got {
		t.Fatalf("second AdoptSnapshot = %s, %v", again, err)
	}
	if _, err := os.Stat(second); !os.IsNotExist(err) {
		t.Errorf("duplicate upper dir not removed: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(got, "f")); string(b) != "first" {
		t.Errorf("snapshot content = %q, want first", b)
	}
	// Snapshot of the adopted layer does not need the blob.
	if dir, err := s.Snapshot(ctx, layer.Info{Digest: sha([]byte("no blob")), DiffID: diffID}); err != nil || dir != got {
		t.Errorf("Snapshot of adopted layer = %s, %v", dir, err)
	}
	if _, err := s.AdoptSnapshot(ctx, v1.Hash{Algorithm: "sha256", Hex: "../x"}, first); err == nil {
		t.Error("AdoptSnapshot accepted a malformed diffID")
	}
}
