package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeBlob stores b in the layout at dir and returns its digest.
func writeBlob(t *testing.T, dir string, b []byte) string {
	t.Helper()
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", h), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return "sha256:" + h
}

// layout writes a one-manifest OCI layout whose image config is cfg.
func layout(t *testing.T, cfg string, annotations string) string {
	t.Helper()
	dir := t.TempDir()
	c := writeBlob(t, dir, []byte(`{"architecture":"amd64","os":"linux","config":`+cfg+`}`))
	m := writeBlob(t, dir, []byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"`+c+`","size":1},"layers":[]}`))
	idx := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + m + `","size":1` + annotations + `}]}`
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(idx), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSetRefNameAndReadConfig(t *testing.T) {
	for _, ann := range []string{"", `,"annotations":{"org.opencontainers.image.ref.name":"docker.io/library/x:latest","other":"kept"}`} {
		dir := layout(t, `{"WorkingDir":"/app/","Env":["A=1"]}`, ann)
		if err := SetRefName(dir); err != nil {
			t.Fatal(err)
		}
		var idx struct {
			Manifests []descriptor
		}
		if err := readJSON(filepath.Join(dir, "index.json"), &idx); err != nil {
			t.Fatal(err)
		}
		if got := idx.Manifests[0].Annotations[refNameKey]; got != RefName {
			t.Errorf("ref.name = %q, want %q", got, RefName)
		}
		if ann != "" && idx.Manifests[0].Annotations["other"] != "kept" {
			t.Errorf("other annotations lost: %v", idx.Manifests[0].Annotations)
		}
		cfg, err := ReadConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := canonical(cfg["WorkingDir"]); got != `"/app/"` {
			t.Errorf("WorkingDir = %s", got)
		}
	}
}

func TestSetRefNameTwoManifests(t *testing.T) {
	dir := t.TempDir()
	idx := `{"schemaVersion":2,"manifests":[{"digest":"sha256:a"},{"digest":"sha256:b"}]}`
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(idx), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SetRefName(dir); err == nil || !strings.Contains(err.Error(), "2 manifests") {
		t.Errorf("SetRefName = %v, want a 2 manifests error", err)
	}
}

func TestLoadCase(t *testing.T) {
	dir := t.TempDir()
	mk := func(name, caseJSON string, dockerfile bool) {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(d, "context"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "case.json"), []byte(caseJSON), 0o644); err != nil {
			t.Fatal(err)
		}
		if dockerfile {
			if err := os.WriteFile(filepath.Join(d, "context", "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("b-ok", `{"from": "x TestY", "buildArgs": {"K": "V"}, "target": "t"}`, true)
	mk("a-ok", `{"from": "x TestZ"}`, true)
	cases, err := LoadAll(dir)
	if err != nil || len(cases) != 2 || cases[0].Name != "a-ok" || cases[1].BuildArgs["K"] != "V" {
		t.Fatalf("LoadAll = %+v, %v", cases, err)
	}
	mk("no-from", `{"note": "x"}`, true)
	mk("unknown-field", `{"from": "x", "expect_error": "y"}`, true)
	mk("no-dockerfile", `{"from": "x"}`, false)
	_, err = LoadAll(dir)
	for _, want := range []string{`"from" is required`, `unknown field "expect_error"`, "no-dockerfile"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadAll error %v, want it to mention %s", err, want)
		}
	}
}
