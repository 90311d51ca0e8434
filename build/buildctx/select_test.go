package buildctx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// selectTree is the context used by the Select tests.
func selectTree(t *testing.T) *Context {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "ctx")
	mkTree(t, base, "f outside/secret nope")
	mkTree(t, root,
		"f a.txt A",
		"f b.go B",
		"f src/main.go M",
		"f src/util/u.go U",
		"f src/util/README.md R",
		"l src/inner-link ../a.txt",
		"f ignored.log L",
		"f secret/key K",
		"f secret/pub.txt P",
		"l link-in src/main.go",
		"l link-dir src",
		"l link-chain link-dir/util",
		"l link-out ../outside/secret",
		"l link-abs /etc/passwd",
		"l link-abs-in "+filepath.Join(root, "a.txt"),
		"l link-ignored secret/key",
		"l link-loop link-loop",
		"p fifo",
		"p src/pipe",
	)
	return openCtx(t, root, "*.log\nsecret\n!secret/pub.txt\n**/README.md\n.dockerignore\n")
}

// got is a compact view of a Match: "Path=Rel" per file.
func view(m Match) []string {
	var out []string
	for _, s := range m.Files {
		e := s.Path + "=" + s.Rel
		if s.Info.IsDir() {
			e += "/"
		} else if s.Info.Mode()&os.ModeSymlink != 0 {
			e += "@"
		}
		out = append(out, e)
	}
	return out
}

func TestSelect(t *testing.T) {
	c := selectTree(t)
	srcDir := []string{"src/inner-link=inner-link@", "src/main.go=main.go", "src/pipe=pipe", "src/util=util/", "src/util/u.go=util/u.go"}
	tests := []struct {
		arg     string
		isDir   bool
		want    []string
		wantErr error  // errors.Is target
		errText string // substring, when wantErr is nil
	}{
		{arg: "a.txt", want: []string{"a.txt=a.txt"}},
		{arg: "/a.txt", want: []string{"a.txt=a.txt"}},
		{arg: "./src/../a.txt", want: []string{"a.txt=a.txt"}},
		{arg: "/../a.txt", want: []string{"a.txt=a.txt"}},
		{arg: "src", isDir: true, want: srcDir},
		{arg: "src/", isDir: true, want: srcDir},
		{arg: "*.go", want: []string{"b.go=b.go"}},
		{arg: "src/*.go", want: []string{"src/main.go=main.go"}},
		// link-chain/u.go matches too: globs go through in-context dir symlinks.
		{arg: "*/*.go", want: []string{"src/main.go=main.go", "src/util/u.go=u.go"}},
		{arg: "**/*.go", want: []string{"src/main.go=main.go", "src/util/u.go=u.go"}},
		{arg: "s?c", isDir: true, want: srcDir},
		{arg: "s*", want: append([]string{"secret/pub.txt=pub.txt"}, srcDir...)},
		{arg: "secret", isDir: true, want: []string{"secret/pub.txt=pub.txt"}},
		{arg: "secret/pub.txt", want: []string{"secret/pub.txt=pub.txt"}},
		{arg: "link-in", want: []string{"src/main.go=link-in"}},
		{arg: "link-dir", isDir: true, want: srcDir},
		{arg: "link-chain", isDir: true, want: []string{"src/util/u.go=u.go"}},
		{arg: "link-dir/main.go", want: []string{"src/main.go=main.go"}},
		{arg: "link-*/u*", want: []string{"src/util/u.go=u.go"}},
		{arg: "link-abs-in", want: []string{"a.txt=link-abs-in"}},
		{arg: "ignored.log", wantErr: ErrNotFound},
		{arg: "*.log", wantErr: ErrNotFound},
		{arg: "secret/key", wantErr: ErrNotFound},
		{arg: "src/util/README.md", wantErr: ErrNotFound},
		{arg: "link-ignored", wantErr: ErrNotFound},
		{arg: "missing", wantErr: ErrNotFound},
		{arg: "missing/*.go", wantErr: ErrNotFound},
		{arg: "../x", wantErr: ErrOutsideContext},
		{arg: "src/../../outside/secret", wantErr: ErrOutsideContext},
		{arg: "..", wantErr: ErrOutsideContext},
		{arg: "link-out", wantErr: ErrOutsideContext},
		{arg: "link-abs", wantErr: ErrOutsideContext},
		{arg: "link-loop", errText: "too many levels of symbolic links"},
		{arg: "fifo", want: []string{"fifo=fifo"}}, // copied as a FIFO, as BuildKit does
		{arg: "a[", errText: "bad pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			ms, err := c.Select(context.Background(), []string{tt.arg})
			if tt.wantErr != nil || tt.errText != "" {
				if err == nil {
					t.Fatalf("Select(%q) = %v, want error", tt.arg, view(ms[0]))
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Select(%q) error = %v, want %v", tt.arg, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) || !strings.HasPrefix(err.Error(), tt.arg) {
					t.Errorf("Select(%q) error = %q, want it to start with the argument and contain %q", tt.arg, err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Select(%q): %v", tt.arg, err)
			}
			m := ms[0]
			if m.Arg != tt.arg || m.IsDir != tt.isDir {
				t.Errorf("Select(%q): Arg=%q IsDir=%v, want IsDir=%v", tt.arg, m.Arg, m.IsDir, tt.isDir)
			}
			if got := view(m); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Select(%q) =\n  %q\nwant\n  %q", tt.arg, got, tt.want)
			}
		})
	}
}

func TestSelectWholeContext(t *testing.T) {
	c := selectTree(t)
	ms, err := c.Select(context.Background(), []string{".", "a.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || !ms[0].IsDir {
		t.Fatalf("got %d matches, IsDir=%v", len(ms), ms[0].IsDir)
	}
	want := []string{
		"a.txt=a.txt", "b.go=b.go", "fifo=fifo",
		"link-abs=link-abs@", "link-abs-in=link-abs-in@", "link-chain=link-chain@", "link-dir=link-dir@",
		"link-ignored=link-ignored@", "link-in=link-in@", "link-loop=link-loop@", "link-out=link-out@",
		"secret=secret/", "secret/pub.txt=secret/pub.txt",
		"src=src/", "src/inner-link=src/inner-link@", "src/main.go=src/main.go", "src/pipe=src/pipe", "src/util=src/util/", "src/util/u.go=src/util/u.go",
	}
	if got := view(ms[0]); !reflect.DeepEqual(got, want) {
		t.Errorf("Select(.) =\n  %q\nwant\n  %q", got, want)
	}
}

// TestSelectNeverOpensFIFOs would block forever if Select opened a FIFO
// for reading: nobody ever opens the write end.
func TestSelectNeverOpensFIFOs(t *testing.T) {
	c := selectTree(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Select(context.Background(), []string{".", "src", "*.txt", "fifo", "src/pipe"})
		if err == nil {
			_, err = c.OpenFile("fifo")
			if err == nil {
				err = errors.New("OpenFile(fifo) succeeded")
			} else {
				err = nil
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && !strings.Contains(err.Error(), "named pipe") {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Select or OpenFile blocked on a FIFO")
	}
}

func TestOpenFile(t *testing.T) {
	c := selectTree(t)
	f, err := c.OpenFile("link-dir/main.go")
	if err != nil {
		t.Fatalf("OpenFile through an in-context dir symlink: %v", err)
	}
	f.Close()
	for _, p := range []string{"link-in", "src", "src/pipe", "../outside/secret", "link-out/x"} {
		if f, err := c.OpenFile(p); err == nil {
			f.Close()
			t.Errorf("OpenFile(%q) succeeded, want error", p)
		}
	}
}

func TestSelectCanceled(t *testing.T) {
	c := selectTree(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Select(ctx, []string{"src"}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// TestSelectRootedSymlinks: in a directory opened WithRootedSymlinks (the
// root file system of a stage, for COPY --from), absolute symlinks and
// ".." resolve inside that root, as in BuildKit; without the option they
// are outside the context.
func TestSelectRootedSymlinks(t *testing.T) {
	root := t.TempDir()
	mkTree(t, root,
		"f out/sub/foo data",
		"l sub /out/sub",
		"l sub2 out/sub",
		"l up ../../../out",
		"l abs-file /out/sub/foo",
	)
	rooted, err := Open(root, "", WithRootedSymlinks())
	if err != nil {
		t.Fatal(err)
	}
	plain := openCtx(t, root, "")
	for _, tt := range []struct {
		arg   string
		isDir bool
		want  []string
	}{
		{arg: "/sub/foo", want: []string{"out/sub/foo=foo"}},
		{arg: "sub2/foo", want: []string{"out/sub/foo=foo"}},
		{arg: "sub", isDir: true, want: []string{"out/sub/foo=foo"}},
		{arg: "up/sub/foo", want: []string{"out/sub/foo=foo"}},
		{arg: "abs-file", want: []string{"out/sub/foo=abs-file"}},
	} {
		ms, err := rooted.Select(context.Background(), []string{tt.arg})
		if err != nil {
			t.Errorf("rooted Select(%q): %v", tt.arg, err)
			continue
		}
		if got := view(ms[0]); ms[0].IsDir != tt.isDir || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("rooted Select(%q) = %q (IsDir %v), want %q", tt.arg, got, ms[0].IsDir, tt.want)
		}
		if strings.HasPrefix(tt.arg, "sub2") {
			continue // relative and inside: fine in a context too
		}
		if _, err := plain.Select(context.Background(), []string{tt.arg}); !errors.Is(err, ErrOutsideContext) {
			t.Errorf("context Select(%q) = %v, want ErrOutsideContext", tt.arg, err)
		}
	}
}

// TestResolveMissingThenDotDot: ".." after a missing component is applied
// lexically and never climbs above the root (a link to
// "missing/../../outside" must not reach the context's parent).
func TestResolveMissingThenDotDot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "ctx")
	mkTree(t, base, "f outside/secret nope")
	mkTree(t, root, "l esc missing/../../outside/secret")
	c := openCtx(t, root, "")
	if ms, err := c.Select(context.Background(), []string{"esc"}); !errors.Is(err, ErrOutsideContext) {
		t.Errorf("Select(esc) = %v, %v; want ErrOutsideContext", ms, err)
	}
}

// TestSelectAllowEmpty: a wildcard matching nothing (or only ignored
// files) selects nothing; a missing literal still fails with ErrNotFound.
func TestSelectAllowEmpty(t *testing.T) {
	c := selectTree(t)
	ms, err := c.SelectAllowEmpty(context.Background(), []string{"a.txt", "nomatch*", "*.log", "src/*.c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Arg != "a.txt" {
		t.Errorf("got %d matches (%v), want only a.txt", len(ms), ms)
	}
	if ms, err := c.SelectAllowEmpty(context.Background(), []string{"nomatch*"}); err != nil || len(ms) != 0 {
		t.Errorf("SelectAllowEmpty(nomatch*) = %v, %v; want nothing, no error", ms, err)
	}
	if _, err := c.SelectAllowEmpty(context.Background(), []string{"a.txt", "missing.txt"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("SelectAllowEmpty(missing.txt) err = %v, want ErrNotFound", err)
	}
}
