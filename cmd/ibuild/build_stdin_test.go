package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tarOf returns a tar archive of files (name -> content), gzipped if gz.
func tarOf(t *testing.T, gz bool, files [][2]string) string {
	t.Helper()
	var buf bytes.Buffer
	var tw *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(&buf)
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	return buf.String()
}

// TestStdinContext: `ibuild -` reads the context as a tar archive (plain or
// compressed) from stdin, or a Dockerfile alone with an empty context, as
// docker build does.
func TestStdinContext(t *testing.T) {
	root := busyboxRoot(t)
	build := func(stdin string, args ...string) (result, string) {
		local := filepath.Join(t.TempDir(), "fs")
		return run(t, stdin, nil, append(append([]string{"--root", root, "--progress", "plain", "-o", local}, args...), "-")...), local
	}
	ctxFiles := [][2]string{{"Dockerfile", "FROM busybox\nCOPY app.txt /app.txt\n"}, {"build/alt.Dockerfile", "FROM busybox\nCOPY app.txt /alt.txt\n"}, {"app.txt", "from tar\n"}}
	for _, gz := range []bool{false, true} {
		r, local := build(tarOf(t, gz, ctxFiles))
		if b, err := os.ReadFile(filepath.Join(local, "app.txt")); err != nil || string(b) != "from tar\n" {
			t.Errorf("tar context (gzip %v): /app.txt = %q, %v\n%s", gz, b, err, r.stderr)
		}
	}
	r, local := build(tarOf(t, true, ctxFiles), "-f", "build/alt.Dockerfile")
	if b, err := os.ReadFile(filepath.Join(local, "alt.txt")); err != nil || string(b) != "from tar\n" {
		t.Errorf("-f inside the stdin archive: /alt.txt = %q, %v\n%s", b, err, r.stderr)
	}

	r, local = build("FROM busybox\nRUN echo hi > /hi\n")
	if b, err := os.ReadFile(filepath.Join(local, "hi")); err != nil || string(b) != "hi\n" {
		t.Errorf("Dockerfile on stdin: /hi = %q, %v\n%s", b, err, r.stderr)
	}
	if r, _ := build("FROM busybox\nCOPY app.txt /\n"); r.exitCode() != 1 || !strings.Contains(r.stderr, "app.txt") {
		t.Errorf("COPY with a Dockerfile alone on stdin: exit %d, want a missing-file error:\n%s", r.exitCode(), r.stderr)
	}

	outside := filepath.Join(t.TempDir(), "evil")
	for _, tc := range []struct {
		name, stdin, want string
		args              []string
	}{
		{"escape", tarOf(t, false, [][2]string{{"../../../../../../" + outside, "x"}, {"Dockerfile", "FROM scratch\n"}}), "stdin", nil},
		{"empty", "", "stdin is empty", nil},
		{"-f - too", "FROM scratch\n", "stdin already holds the build context", []string{"-f", "-"}},
	} {
		r, _ := build(tc.stdin, tc.args...)
		if r.exitCode() != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, want an error with %q:\n%s", tc.name, r.exitCode(), tc.want, r.stderr)
		}
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("a stdin archive wrote %s outside its directory", outside)
	}
}
