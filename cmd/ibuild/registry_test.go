package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibuild/ibuild/internal/testbase"
	"github.com/ibuild/ibuild/registry/registrytest"
)

// pushedBase imports busybox into a scratch root and pushes it to ref.
func pushedBase(t *testing.T, ref string, env ...string) {
	t.Helper()
	root := t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "bb", testbase.Busybox(t))
	if r := run(t, "", env, "--root", root, "push", "bb", ref); r.err != nil {
		t.Fatalf("pushing the base: %v\n%s", r.err, r.stderr)
	}
}

// buildMeta builds ctxDir with args and returns its metadata.
func buildMeta(t *testing.T, ctxDir string, args ...string) (metadata, result) {
	t.Helper()
	meta := filepath.Join(t.TempDir(), "meta.json")
	r := mustRun(t, append(append([]string{"--progress", "plain", "--metadata-file", meta}, args...), ctxDir)...)
	var md metadata
	readJSON(t, meta, &md)
	return md, r
}

func TestPushInspectBuildFrom(t *testing.T) {
	host := registrytest.Start(t)
	base := host + "/base/busybox:1"
	pushedBase(t, base)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo pushed > /pushed\n"})
	ref := host + "/app/img:1"
	md, r := buildMeta(t, dir, "--root", t.TempDir(), "-t", ref, "-t", host+"/other/img:1", "--push")
	if md.ImageDigest == "" {
		t.Fatalf("no image digest in metadata")
	}
	out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "docker://"+ref).Output()
	if err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, r.stderr)
	}
	var insp struct{ Digest string }
	if err := json.Unmarshal(out, &insp); err != nil {
		t.Fatal(err)
	}
	if insp.Digest != md.ImageDigest {
		t.Errorf("skopeo sees %s, build reported %s", insp.Digest, md.ImageDigest)
	}

	// FROM the pushed image on an empty root.
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN cat /pushed > /again\n"})
	local := filepath.Join(t.TempDir(), "fs")
	buildMeta(t, dir, "--root", t.TempDir(), "-o", local)
	if b, err := os.ReadFile(filepath.Join(local, "again")); err != nil || string(b) != "pushed\n" {
		t.Errorf("/again = %q, %v; want the pushed image's file", b, err)
	}

	// ibuild push reports every blob; all exist now.
	root := t.TempDir()
	mustRun(t, "--root", root, "pull", ref)
	r = mustRun(t, "--root", root, "push", ref, host+"/app/img:2")
	if n := strings.Count(r.stderr, "already exists"); n < 3 {
		t.Errorf("re-push reported %d existing blobs, want >= 3 (2 layers and the config):\n%s", n, r.stderr)
	}
}

func TestCacheSharing(t *testing.T) {
	host := registrytest.Start(t)
	base := host + "/base/busybox:1"
	pushedBase(t, base)
	df := "FROM " + base + "\n" +
		"RUN --mount=type=cache,target=/c sh -c 'echo x >> /c/count && echo one > /one'\n" +
		"COPY f /f\n" +
		"ENV STAGE=final\n" +
		"RUN --mount=type=cache,target=/c sh -c 'echo x >> /c/count && cat /one /f > /two'\n"
	tests := []struct{ name, to, from string }{
		{"registry", "type=registry,ref=" + host + "/cache/app:buildcache,mode=max", "type=registry,ref=" + host + "/cache/app:buildcache"},
		{"local", "type=local,dest=DIR,mode=min", "type=local,src=DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cacheDir := filepath.Join(t.TempDir(), "cache")
			to, from := strings.ReplaceAll(tt.to, "DIR", cacheDir), strings.ReplaceAll(tt.from, "DIR", cacheDir)
			dir := t.TempDir()
			writeTree(t, dir, map[string]string{"Dockerfile": df, "f": "file\n"})
			rootA, rootB := t.TempDir(), t.TempDir()
			mdA, _ := buildMeta(t, dir, "--root", rootA, "--cache-to", to)
			if n := countRuns(t, rootA); n != 2 {
				t.Fatalf("root A ran %d RUN steps, want 2", n)
			}
			mdB, r := buildMeta(t, dir, "--root", rootB, "--cache-from", from)
			if mdB.ImageDigest != mdA.ImageDigest {
				t.Errorf("image digest %s with --cache-from, %s without", mdB.ImageDigest, mdA.ImageDigest)
			}
			for _, s := range mdB.Steps {
				if strings.Contains(s.Name, "] FROM ") {
					continue // the base is pulled into the empty root
				}
				if !s.Cached {
					t.Errorf("step %q not cached with --cache-from\n%s", s.Name, r.stderr)
				}
			}
			if len(mdB.Steps) != len(mdA.Steps) || len(mdB.Steps) < 4 {
				t.Errorf("%d steps with --cache-from, %d without; want the same, at least 4", len(mdB.Steps), len(mdA.Steps))
			}
			if n := countRuns(t, rootB); n != 0 {
				t.Errorf("root B ran %d RUN steps, want 0", n)
			}
		})
	}
}

// countRuns counts the lines the Dockerfile's RUN steps appended to the
// cache mount's counter under root.
func countRuns(t *testing.T, root string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "cache-mounts", "*", "count"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(b), "x")
	}
	return n
}

func TestPullRejectsWrongBytes(t *testing.T) {
	host := registrytest.Start(t)
	ref := host + "/base/busybox:1"
	pushedBase(t, ref)
	var layers []struct{ Digest string }
	out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "--raw", "docker://"+ref).Output()
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Layers []struct{ Digest string } }
	if err := json.Unmarshal(out, &m); err != nil || len(m.Layers) == 0 {
		t.Fatalf("manifest %s: %v", out, err)
	}
	layers = m.Layers
	d := layers[0].Digest
	p := registrytest.FaultProxy(t, host, registrytest.Fault{Kind: registrytest.WrongBytes, Method: http.MethodGet, Path: d, Persistent: true})
	bad := p.Host + "/base/busybox:1"
	root := t.TempDir()
	r := run(t, "", nil, "--root", root, "pull", bad)
	if r.exitCode() == 0 {
		t.Fatal("pull of corrupted blobs succeeded")
	}
	for _, want := range []string{bad, d} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("pull error lacks %q:\n%s", want, r.stderr)
		}
	}
	if fileExists(filepath.Join(root, "blobs", "sha256", strings.TrimPrefix(d, "sha256:"))) {
		t.Errorf("corrupt blob kept in the store")
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + bad + "\nRUN true\n"})
	r = run(t, "", nil, "--root", t.TempDir(), "--progress", "plain", dir)
	if r.exitCode() == 0 {
		t.Fatal("build FROM corrupted blobs succeeded")
	}
	for _, want := range []string{"Dockerfile:1", bad, d} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("build error lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestPushRetries503(t *testing.T) {
	host := registrytest.Start(t)
	p := registrytest.FaultProxy(t, host, registrytest.Fault{Kind: registrytest.Status503, Method: http.MethodPatch, Times: 2},
		registrytest.Fault{Kind: registrytest.DropMidBody, Method: http.MethodGet, Path: "/blobs/sha256:", Times: 1})
	ref := p.Host + "/flaky/busybox:1"
	pushedBase(t, ref)
	if p.Injected(registrytest.Status503) != 2 {
		t.Errorf("503 injected %d times, want 2", p.Injected(registrytest.Status503))
	}
	mustRun(t, "--root", t.TempDir(), "pull", ref)
	if p.Injected(registrytest.DropMidBody) != 1 {
		t.Errorf("dropped connection injected %d times, want 1", p.Injected(registrytest.DropMidBody))
	}
}

func TestLoginAndCredentialHygiene(t *testing.T) {
	const user, password = "ci-user", "Sup3r-s3cret-pw"
	host := registrytest.Start(t, registrytest.WithBasicAuth(user, password))
	cfgDir := t.TempDir()
	env := []string{"DOCKER_CONFIG=" + cfgDir}
	var outputs []string
	record := func(r result) result { outputs = append(outputs, r.stdout, r.stderr); return r }

	r := record(run(t, "wrong-password\n", env, "login", "-u", user, "--password-stdin", host))
	if r.exitCode() == 0 || !strings.Contains(r.stderr, "incorrect username or password") || !strings.Contains(r.stderr, host) {
		t.Errorf("wrong password: exit %d, stderr:\n%s", r.exitCode(), r.stderr)
	}
	r = record(run(t, password+"\n", env, "login", "-u", user, "--password-stdin", host))
	if r.err != nil || !strings.Contains(r.stdout, "Login Succeeded") {
		t.Fatalf("login: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	ref := host + "/private/busybox:1"
	pushedBase(t, ref, env...)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN echo ok > /ok\n"})
	root := t.TempDir()
	meta := filepath.Join(t.TempDir(), "meta.json")
	r = record(run(t, "", env, "--root", root, "--progress", "plain", "--metadata-file", meta, "-t", host+"/private/app:1", "--push",
		"--cache-to", "type=registry,ref="+host+"/private/cache:1", dir))
	if r.err != nil {
		t.Fatalf("authenticated build and push: %v\n%s", r.err, r.stderr)
	}
	r = record(run(t, "", env, "--root", t.TempDir(), "--progress", "plain", "--cache-from", "type=registry,ref="+host+"/private/cache:1", dir))
	if r.err != nil {
		t.Fatalf("authenticated --cache-from: %v\n%s", r.err, r.stderr)
	}
	record(run(t, "", env, "logout", host))
	r = record(run(t, "", env, "--root", t.TempDir(), "pull", ref))
	if r.exitCode() == 0 || !strings.Contains(strings.ToLower(r.stderr), "unauthorized") {
		t.Errorf("pull after logout: exit %d\n%s", r.exitCode(), r.stderr)
	}
	secrets := []string{password, base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output contains a credential:\n%s", out)
			}
		}
	}
	// Nothing in the store or the metadata file holds the credentials.
	for _, tree := range []string{root, filepath.Dir(meta)} {
		_ = filepath.Walk(tree, func(p string, fi os.FileInfo, err error) error {
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, s := range secrets {
				if strings.Contains(string(b), s) {
					t.Errorf("%s contains a credential", p)
				}
			}
			return nil
		})
	}
}
