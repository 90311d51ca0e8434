package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ibuild/ibuild/layer"
)

// TestUnprivileged: a store opened with Unprivileged refuses what needs
// a user namespace with ErrUnprivileged, and its Open refuses a sweep
// that would remove a snapshot temp directory or a dead builder's mounts
// directory, leaving them in place.
func TestUnprivileged(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	u, err := Open(ctx, root, Unprivileged())
	if err != nil {
		t.Fatalf("Open(Unprivileged) of a clean store: %v", err)
	}
	if _, err := u.Snapshot(ctx, layer.Info{DiffID: sha([]byte("x")), Digest: sha([]byte("y"))}); !errors.Is(err, ErrUnprivileged) {
		t.Errorf("Snapshot: %v, want ErrUnprivileged", err)
	}
	if _, err := u.AdoptSnapshot(ctx, sha([]byte("x")), t.TempDir()); !errors.Is(err, ErrUnprivileged) {
		t.Errorf("AdoptSnapshot: %v, want ErrUnprivileged", err)
	}
	if _, err := u.TempDir("run-"); !errors.Is(err, ErrUnprivileged) {
		t.Errorf("TempDir: %v, want ErrUnprivileged", err)
	}
	u.Close()

	old := time.Now().Add(-2 * staleAge)
	for _, debris := range []string{
		filepath.Join(snapshotsDir, snapTmpGlob+"123"),
		filepath.Join(mountsDir, "run-999999999-1"), // a pid no process has
	} {
		t.Run(filepath.Dir(debris), func(t *testing.T) {
			p := filepath.Join(root, debris)
			if err := os.MkdirAll(filepath.Join(p, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
			if u, err := Open(ctx, root, Unprivileged()); !errors.Is(err, ErrUnprivileged) {
				if err == nil {
					u.Close()
				}
				t.Fatalf("Open(Unprivileged) with %s: %v, want ErrUnprivileged", debris, err)
			}
			if _, err := os.Stat(filepath.Join(p, "sub")); err != nil {
				t.Errorf("the refused sweep removed %s: %v", debris, err)
			}
			s, err := Open(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("Open did not sweep %s: %v", debris, err)
			}
		})
	}
}
