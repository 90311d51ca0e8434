package main

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const scratchDockerfile = `# syntax=docker/dockerfile:1
ARG BASE=scratch
FROM ${BASE} AS base
ARG GREETING=hello
ENV APP_HOME=/app GREETING=${GREETING}
LABEL org.example.name="demo" org.example.greeting=$GREETING
WORKDIR $APP_HOME
COPY hello.txt ./
COPY src/ ./src/
COPY --chmod=0755 run.sh /usr/local/bin/run
COPY --chown=1000:1000 data /data
ADD archive.tar /opt/
COPY <<EOF /etc/motd
welcome
EOF
EXPOSE 8080 53/udp
VOLUME /data
USER 1000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s CMD ["/usr/local/bin/run", "--check"]
ONBUILD COPY . /onbuild
ENTRYPOINT ["/usr/local/bin/run"]
CMD ["--serve"]

FROM base AS unused
COPY missing-on-purpose /nope
`

func scratchContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":      scratchDockerfile,
		"hello.txt":       "hello world\n",
		"src/a.go":        "package a\n",
		"src/sub/b.go":    "package b\n",
		"src/skip.log":    "ignored\n",
		"run.sh":          "#!/bin/sh\necho run\n",
		"data":            "data\n",
		".dockerignore":   "**/*.log\n",
		"notes/unused.md": "never copied\n",
	})
	// A plain tar for ADD to extract.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{{"pkg/", ""}, {"pkg/file.txt", "from archive\n"}} {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	if err := os.WriteFile(filepath.Join(dir, "archive.tar"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBuildScratch builds FROM scratch with every metadata instruction and
// COPY/ADD form, exports all three output types and checks each with
// independent consumers.
func TestBuildScratch(t *testing.T) {
	ctxDir := scratchContext(t)
	root := t.TempDir()
	out := t.TempDir()
	ociDir, dockerTar, localDir := filepath.Join(out, "oci"), filepath.Join(out, "img.tar"), filepath.Join(out, "rootfs")
	meta, iid := filepath.Join(out, "meta.json"), filepath.Join(out, "iid")
	r := mustRun(t, "--root", root, "--progress", "plain", "-t", "demo:1", "--target", "base",
		"--label", "extra=yes", "-o", "type=oci,dest="+ociDir, "-o", "type=docker,dest="+dockerTar,
		"-o", "type=local,dest="+localDir, "--metadata-file", meta, "--iidfile", iid, ctxDir)

	img := checkOCI(t, ociDir, "1")
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	checks := []struct {
		name      string
		got, want any
	}{
		{"Env", c.Env, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP_HOME=/app", "GREETING=hello"}},
		{"WorkingDir", c.WorkingDir, "/app"},
		{"User", c.User, "1000"},
		{"Entrypoint", c.Entrypoint, []string{"/usr/local/bin/run"}},
		{"Cmd", c.Cmd, []string{"--serve"}},
		{"Labels", c.Labels, map[string]string{"org.example.name": "demo", "org.example.greeting": "hello", "extra": "yes"}},
		{"ExposedPorts", c.ExposedPorts, map[string]struct{}{"8080/tcp": {}, "53/udp": {}}},
		{"Volumes", c.Volumes, map[string]struct{}{"/data": {}}},
		{"StopSignal", c.StopSignal, "SIGTERM"},
		{"OnBuild", c.OnBuild, []string{"COPY . /onbuild"}},
		{"Healthcheck", c.Healthcheck != nil && c.Healthcheck.Test[0] == "CMD", true},
		{"layers", len(cf.RootFS.DiffIDs), 7},            // WORKDIR creates /app
		{"created", cf.Created.Unix(), int64(315532800)}, // 1980-01-01, the default epoch
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
	var empty, full int
	for _, h := range cf.History {
		if h.EmptyLayer {
			empty++
		} else {
			full++
		}
	}
	if full != 7 {
		t.Errorf("history has %d non-empty entries, want 7", full)
	}

	// The local rootfs has exactly the copied files, with modes and owners.
	want := map[string]string{
		"app/hello.txt":     "hello world\n",
		"app/src/a.go":      "package a\n",
		"app/src/sub/b.go":  "package b\n",
		"usr/local/bin/run": "#!/bin/sh\necho run\n",
		"data":              "data\n",
		"opt/pkg/file.txt":  "from archive\n",
		"etc/motd":          "welcome\n",
	}
	for name, body := range want {
		got, err := os.ReadFile(filepath.Join(localDir, name))
		if err != nil || string(got) != body {
			t.Errorf("local %s = %q, %v; want %q", name, got, err, body)
		}
	}
	if _, err := os.Stat(filepath.Join(localDir, "app/src/skip.log")); !os.IsNotExist(err) {
		t.Errorf(".dockerignored file was copied: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(localDir, "usr/local/bin/run")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("--chmod=0755: mode %v, %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(localDir, "data")); err != nil || statUID(fi) != 1000 {
		t.Errorf("--chown=1000:1000 not applied: %v", err)
	}

	// Metadata and iidfile agree with the export.
	var md metadata
	readJSON(t, meta, &md)
	dig, _ := img.Digest()
	if md.ImageDigest != dig.String() {
		t.Errorf("metadata digest %s, OCI export %s", md.ImageDigest, dig)
	}
	if len(md.Layers) != 7 || len(md.Steps) == 0 {
		t.Errorf("metadata has %d layers and %d steps", len(md.Layers), len(md.Steps))
	}
	cfgName, _ := img.ConfigName()
	if b, _ := os.ReadFile(iid); string(b) != cfgName.String() {
		t.Errorf("iidfile %q, want %s", b, cfgName)
	}
	// The docker archive reads back through skopeo.
	if _, err := exec.LookPath("skopeo"); err == nil {
		out, err := exec.Command("skopeo", "inspect", "docker-archive:"+dockerTar).CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo inspect docker-archive: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "/app") {
			t.Errorf("skopeo inspect output lacks the config:\n%s", out)
		}
	}
	if !strings.Contains(r.stderr, "COPY hello.txt ./") {
		t.Errorf("plain progress lacks the COPY step:\n%s", r.stderr)
	}
	// The tag is in the store and listed.
	if l := mustRun(t, "--root", root, "images"); !strings.Contains(l.stdout, "demo") {
		t.Errorf("images does not list demo:\n%s", l.stdout)
	}
	// A rebuild is fully cached and gives the same image.
	r2 := mustRun(t, "--root", root, "--progress", "plain", "--target", "base", "--label", "extra=yes", "--metadata-file", meta, ctxDir)
	var md2 metadata
	readJSON(t, meta, &md2)
	if md2.ImageDigest != md.ImageDigest {
		t.Errorf("rebuild digest %s != %s", md2.ImageDigest, md.ImageDigest)
	}
	for _, s := range md2.Steps {
		if !s.Cached {
			t.Errorf("rebuild step %s not cached", s.Name)
		}
	}
	if !strings.Contains(r2.stderr, "CACHED") {
		t.Errorf("rebuild progress shows no CACHED:\n%s", r2.stderr)
	}
}

// TestDeterminism builds one context into two fresh roots.
func TestDeterminism(t *testing.T) {
	ctxDir := scratchContext(t)
	var digests []string
	for i := 0; i < 2; i++ {
		meta := filepath.Join(t.TempDir(), "meta.json")
		if i == 1 {
			// Touch every file: mtimes are clamped by SOURCE_DATE_EPOCH.
			filepath.Walk(ctxDir, func(p string, fi os.FileInfo, err error) error {
				if err == nil {
					now := fi.ModTime().Add(3600e9)
					os.Chtimes(p, now, now)
				}
				return nil
			})
		}
		r := run(t, "", []string{"SOURCE_DATE_EPOCH=1700000000"}, "--root", t.TempDir(), "--target", "base", "--metadata-file", meta, ctxDir)
		if r.err != nil {
			t.Fatalf("build %d: %v\n%s", i, r.err, r.stderr)
		}
		var md metadata
		readJSON(t, meta, &md)
		digests = append(digests, md.ImageDigest)
	}
	if digests[0] != digests[1] {
		t.Fatalf("same context built twice gave %s and %s", digests[0], digests[1])
	}
}

// TestMultiStage checks FROM <stage>, COPY --from by name and index,
// --target, and that unneeded stages are never built.
func TestMultiStage(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": `FROM scratch AS one
COPY a.txt /a.txt
FROM scratch AS broken
COPY does-not-exist /x
FROM one AS two
COPY b.txt /b.txt
FROM scratch
COPY --from=two /a.txt /b.txt /out/
COPY --from=0 /a.txt /again.txt
`,
		"a.txt": "A", "b.txt": "B",
	})
	root, local := t.TempDir(), filepath.Join(t.TempDir(), "fs")
	mustRun(t, "--root", root, "-o", "type=local,dest="+local, dir)
	for name, body := range map[string]string{"out/a.txt": "A", "out/b.txt": "B", "again.txt": "A"} {
		if got, err := os.ReadFile(filepath.Join(local, name)); err != nil || string(got) != body {
			t.Errorf("%s = %q, %v", name, got, err)
		}
	}
	local2 := filepath.Join(t.TempDir(), "fs")
	mustRun(t, "--root", root, "--target", "one", "-o", local2, dir)
	if _, err := os.Stat(filepath.Join(local2, "b.txt")); !os.IsNotExist(err) {
		t.Errorf("--target one produced b.txt")
	}
}

// TestStdinDockerfile reads the Dockerfile from stdin with -f -.
func TestStdinDockerfile(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"f": "x"})
	local := filepath.Join(t.TempDir(), "fs")
	r := run(t, "FROM scratch\nCOPY f /g\n", nil, "--root", t.TempDir(), "-f", "-", "-o", local, dir)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(local, "g")); err != nil || string(b) != "x" {
		t.Fatalf("g = %q, %v", b, err)
	}
}

// TestBadInput checks that every kind of bad input fails with a message
// naming the file and line, and leaves nothing new in the store.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name       string
		dockerfile string
		args       []string
		want       []string
	}{
		{"syntax error", "FROM scratch\nCOPY\n", nil, []string{"Dockerfile:2"}},
		{"unknown instruction", "FROM scratch\nCOPPY a /a\n", nil, []string{"Dockerfile:2", "COPPY", "did you mean COPY"}},
		{"missing COPY source", "FROM scratch\nCOPY nope.txt /x\n", nil, []string{"Dockerfile:2", "nope.txt"}},
		{"COPY outside context", "FROM scratch\nCOPY ../x /x\n", nil, []string{"Dockerfile:2", "../x", "outside"}},
		{"unknown --from stage", "FROM scratch\nCOPY --from=nostage /a /a\n", nil, []string{"Dockerfile:2", "nostage"}},
		{"invalid --chmod", "FROM scratch\nCOPY --chmod=abc a.txt /a\n", nil, []string{"Dockerfile:2", "chmod"}},
		{"unknown --target", "FROM scratch AS a\nCOPY a.txt /a\n", []string{"--target", "nope"}, []string{"nope", "Dockerfile"}},
		{"unknown platform", "FROM scratch\n", []string{"--platform", "linux/amd64,linux/s390xx"}, []string{"s390xx", "unknown architecture"}},
		{"non-linux platform", "FROM scratch\n", []string{"--platform", "windows/amd64"}, []string{"windows/amd64", "linux images only"}},
		{"missing Dockerfile", "", []string{"-f", "/nonexistent/Dockerfile"}, []string{"/nonexistent/Dockerfile"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"a.txt": "a", "Dockerfile": tc.dockerfile})
			root := t.TempDir()
			mustRun(t, "--root", root, "images") // create the store
			before := storeListing(t, root)
			args := append([]string{"--root", root, "--progress", "plain"}, tc.args...)
			r := run(t, "", nil, append(args, dir)...)
			if r.exitCode() == 0 {
				t.Fatalf("exit code 0; stderr:\n%s", r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if after := storeListing(t, root); !reflect.DeepEqual(before, after) {
				t.Errorf("store changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestWorkdirCreates checks that WORKDIR creates a missing directory, as
// BuildKit does, with no other step touching it.
func TestWorkdirCreates(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nWORKDIR /srv/www\nWORKDIR /srv\n"})
	local := filepath.Join(t.TempDir(), "fs")
	mustRun(t, "--root", t.TempDir(), "-o", local, dir)
	fi, err := os.Stat(filepath.Join(local, "srv/www"))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Fatalf("WORKDIR /srv/www not created: %v %v", fi, err)
	}
}
