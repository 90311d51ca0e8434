package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	cases := []struct {
		name string
		data string
		perm os.FileMode
	}{
		{"create", "one", 0o644},
		{"replace", "two, longer", 0o600},
		{"shorten", "3", 0o644},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := WriteFile(p, []byte(c.data), c.perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil || string(got) != c.data {
				t.Errorf("content %q, %v; want %q", got, err, c.data)
			}
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != c.perm {
				t.Errorf("mode %v, %v; want %v", fi.Mode().Perm(), err, c.perm)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("%d entries in the directory, want only the file", len(ents))
			}
		})
	}
}

func TestWriteFileFails(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory in the way of the rename: the old content stays and no
	// temporary file is left.
	blocked := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(blocked, []byte("new"), 0o644); err == nil {
		t.Fatal("replacing a non-empty directory succeeded")
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f"), []byte("new"), 0o644); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("entries %v, want f and sub only", ents)
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Errorf("f = %q", got)
	}
}
