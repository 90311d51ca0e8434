package buildctx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWithExclude(t *testing.T) {
	root := t.TempDir()
	mkTree(t, root, "f a 1", "f store/blobs/sha256/x blob", "f store/index.json {}", "f keep/f 2", "f storex 3")
	outside := t.TempDir()
	ig := filepath.Join(root, ".dockerignore")
	// An exception cannot bring an excluded path back.
	if err := os.WriteFile(ig, []byte("nothing\n!store\n!store/**\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(root, ig, WithExclude(filepath.Join(root, "store"), outside, root))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := c.Select(context.Background(), []string{"."})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range ms[0].Files {
		got = append(got, f.Path)
	}
	want := []string{".dockerignore", "a", "keep", "keep/f", "storex"}
	if !slices.Equal(got, want) {
		t.Errorf("selected %v, want %v", got, want)
	}
	for _, arg := range []string{"store", "store/index.json", "/store/blobs", "st*/index.json"} {
		if _, err := c.Select(context.Background(), []string{arg}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Select(%s) err = %v, want ErrNotFound", arg, err)
		}
	}
	if ig, _ := c.Ignored("store/blobs"); !ig {
		t.Errorf("Ignored(store/blobs) = false")
	}
}

func TestExport(t *testing.T) {
	parent := t.TempDir()
	root, victim := filepath.Join(parent, "ctx"), filepath.Join(parent, "victim")
	mkTree(t, root, "f ok.txt ok", "f secret.txt SECRET", "f sub/ign.log log", "f sub/keep.go go",
		"l link secret.txt", "l out ../victim/x", "p fifo", "d empty")
	mkTree(t, victim, "f x original")
	if err := os.Chmod(filepath.Join(root, "sub/keep.go"), 0o751); err != nil {
		t.Fatal(err)
	}
	c := openCtx(t, root, "secret.txt\n**/*.log\n")
	dst := filepath.Join(t.TempDir(), "view")
	if err := c.Export(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"ok.txt": "ok", "sub/keep.go": "go", ".dockerignore": "secret.txt\n**/*.log\n"} {
		if b, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	for _, p := range []string{"secret.txt", "sub/ign.log", "fifo"} {
		if _, err := os.Lstat(filepath.Join(dst, p)); !os.IsNotExist(err) {
			t.Errorf("%s exported (%v)", p, err)
		}
	}
	for p, want := range map[string]string{"link": "secret.txt", "out": "../victim/x"} {
		if got, err := os.Readlink(filepath.Join(dst, p)); err != nil || got != want {
			t.Errorf("%s -> %q, %v; want the link %q", p, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dst, "sub/keep.go")); err != nil || fi.Mode().Perm() != 0o751 {
		t.Errorf("sub/keep.go mode %v, %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty dir: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(victim, "x")); string(b) != "original" {
		t.Errorf("victim changed: %q", b)
	}
	if err := c.Export(context.Background(), dst); err == nil {
		t.Errorf("Export into an existing directory succeeded")
	}
}

// TestIgnoredLinkNotFollowed: a symlink that is itself ignored, or lies in
// an ignored or excluded directory, is not followed to a kept file, as
// docker never sends it.
func TestIgnoredLinkNotFollowed(t *testing.T) {
	root := t.TempDir()
	mkTree(t, root, "f kept.txt k", "l ign.lnk kept.txt", "d hidden", "l hidden/l ../kept.txt", "d store", "l store/l ../kept.txt")
	ig := filepath.Join(root, ".dockerignore")
	if err := os.WriteFile(ig, []byte("*.lnk\nhidden\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(root, ig, WithExclude(filepath.Join(root, "store")))
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"ign.lnk", "hidden/l", "store/l"} {
		if _, err := c.Select(context.Background(), []string{arg}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Select(%s) err = %v, want ErrNotFound", arg, err)
		}
	}
	if _, err := c.Select(context.Background(), []string{"kept.txt"}); err != nil {
		t.Errorf("Select(kept.txt): %v", err)
	}
}
