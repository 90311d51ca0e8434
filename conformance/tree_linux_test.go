package conformance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// mkTree lays out a small root filesystem: a file, a hardlink to it, a
// symlink and a directory.
func mkTree(t *testing.T, content string, link bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "d", "f"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if link {
		if err := os.Link(filepath.Join(dir, "d", "f"), filepath.Join(dir, "g")); err != nil {
			t.Fatal(err)
		}
	} else if err := os.WriteFile(filepath.Join(dir, "g"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("d/f", filepath.Join(dir, ".s")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func scan(t *testing.T, dir string) Tree {
	t.Helper()
	tr, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestScan(t *testing.T) {
	tr := scan(t, mkTree(t, "x", true))
	want := []string{"/", "/.s", "/d", "/d/f", "/g"}
	if got := sortedPaths(tr); !slices.Equal(got, want) {
		t.Fatalf("paths = %v, want %v", got, want)
	}
	if e := tr["/.s"]; e.Type != "symlink" || e.Target != "d/f" {
		t.Errorf("/.s = %+v, want a symlink to d/f", e)
	}
	if e := tr["/d"]; e.Type != "dir" || e.Mode != 0o750 {
		t.Errorf("/d = %v %v, want dir 0750", e.Type, e.Mode)
	}
	if got := tr["/g"].Links; !slices.Equal(got, []string{"/d/f"}) {
		t.Errorf("/g hardlinked with %v, want [/d/f]", got)
	}
}

func TestCompareTrees(t *testing.T) {
	base := scan(t, mkTree(t, "x", true))
	tests := []struct {
		name  string
		other Tree
		want  []string
	}{
		{"same", scan(t, mkTree(t, "x", true)), nil},
		{"content", scan(t, mkTree(t, "y", true)), []string{"/d/f: content", "/g: content"}},
		{"hardlink", scan(t, mkTree(t, "x", false)), []string{"/d/f: hardlinked with", "/g: hardlinked with"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CompareTrees(base, tt.other, false)
			if len(got) != len(tt.want) {
				t.Fatalf("diffs = %q, want %d starting %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if len(got[i]) < len(w) || got[i][:len(w)] != w {
					t.Errorf("diff %d = %q, want prefix %q", i, got[i], w)
				}
			}
		})
	}
	missing := scan(t, mkTree(t, "x", true))
	delete(missing, "/.s")
	missing["/d"].UID = 7
	got := CompareTrees(base, missing, false)
	want := []string{`/.s: only in BuildKit's image (symlink 0777 0:0 -> "d/f")`, "/d: owner BuildKit 0:0, ibuild 7:0"}
	if os.Geteuid() != 0 {
		t.Skip("the owner strings assume the files are root's")
	}
	if !slices.Equal(got, want) {
		t.Errorf("diffs = %q, want %q", got, want)
	}
}

func TestCompareConfigs(t *testing.T) {
	cfg := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name     string
		ref, got string
		want     []string
	}{
		{"empty forms alike", `{"Labels":{},"Cmd":null,"User":""}`, `{"Volumes":{}}`, nil},
		{"key order", `{"Labels":{"a":"1","b":"2"}}`, `{"Labels":{"b":"2","a":"1"}}`, nil},
		{"env order matters", `{"Env":["A=1","B=2"]}`, `{"Env":["B=2","A=1"]}`,
			[]string{`config Env: BuildKit ["A=1","B=2"], ibuild ["B=2","A=1"]`}},
		{"missing", `{"WorkingDir":"/app/"}`, `{}`, []string{`config WorkingDir: BuildKit "/app/", ibuild (none)`}},
		{"fields not compared", `{"ArgsEscaped":true,"Hostname":"x"}`, `{}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CompareConfigs(cfg(tt.ref), cfg(tt.got)); !slices.Equal(got, tt.want) {
				t.Errorf("CompareConfigs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScanXattrs(t *testing.T) {
	a, b := mkTree(t, "x", true), mkTree(t, "x", true)
	if err := unix.Lsetxattr(filepath.Join(a, "d", "f"), "user.test", []byte("v1"), 0); err != nil {
		t.Skipf("user xattrs unsupported here: %v", err)
	}
	if err := unix.Lsetxattr(filepath.Join(b, "d", "f"), "user.test", []byte("v2"), 0); err != nil {
		t.Fatal(err)
	}
	ta, tb := scan(t, a), scan(t, b)
	if got := ta["/d/f"].Xattrs["user.test"]; got != `"v1"` {
		t.Errorf("xattr user.test = %s, want \"v1\"", got)
	}
	// /d/f and its hardlink /g share the xattr.
	want := []string{`/d/f: xattrs BuildKit {user.test="v1"}, ibuild {user.test="v2"}`, `/g: xattrs BuildKit {user.test="v1"}, ibuild {user.test="v2"}`}
	if got := CompareTrees(ta, tb, false); !slices.Equal(got, want) {
		t.Errorf("CompareTrees = %q, want %q", got, want)
	}
}
