package build

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/ibuild/ibuild/progress"
)

// TestMultiPlatformScratch builds a stage without RUN for three
// platforms (no emulator: BinfmtDir is empty): the index lists each with
// its platform, each config names its architecture and variant, the
// TARGET* ARGs are the platform's, progress names every step's platform,
// and a second build gives the same index from the cache.
func TestMultiPlatformScratch(t *testing.T) {
	dir := t.TempDir()
	df := "FROM scratch\nARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT\nCOPY a /a\nLABEL t=\"$TARGETPLATFORM|$TARGETOS|$TARGETARCH|$TARGETVARIANT\"\n"
	for name, data := range map[string]string{"a": "A", "Dockerfile": df} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store := testStore(t)
	rec := &recorder{}
	opt := Options{ContextDir: dir, Store: store, Platform: "linux/arm/v7,linux/arm64,linux/amd64", BinfmtDir: t.TempDir(),
		Progress: rec, Tags: []string{"docker.io/library/multi:1"}}
	res, err := Build(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Index == nil || len(res.Platforms) != 3 {
		t.Fatalf("index %v, %d platforms", res.Index, len(res.Platforms))
	}
	if err := validate.Index(res.Index); err != nil {
		t.Fatalf("validate.Index: %v", err)
	}
	im, err := res.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	wants := []struct {
		plat, arch, variant, label string
	}{
		{"linux/arm/v7", "arm", "v7", "linux/arm/v7|linux|arm|v7"},
		{"linux/arm64", "arm64", "", "linux/arm64|linux|arm64|"},
		{"linux/amd64", "amd64", "", "linux/amd64|linux|amd64|"},
	}
	for i, w := range wants {
		m := im.Manifests[i]
		if m.Platform == nil || platformString(*m.Platform) != w.plat {
			t.Errorf("index entry %d: platform %v, want %s", i, m.Platform, w.plat)
			continue
		}
		img, err := res.Index.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != "linux" || cf.Architecture != w.arch || cf.Variant != w.variant {
			t.Errorf("%s: config %s/%s/%s", w.plat, cf.OS, cf.Architecture, cf.Variant)
		}
		if got := cf.Config.Labels["t"]; got != w.label {
			t.Errorf("%s: TARGET* ARGs %q, want %q", w.plat, got, w.label)
		}
	}
	names := map[string]bool{}
	for _, e := range rec.events {
		if e.Status == progress.StatusStarted {
			names[e.Platform+" "+e.Name] = true
		}
	}
	for _, w := range wants {
		if n := w.plat + " [" + w.plat + " 2/2] COPY a /a"; !names[n] {
			t.Errorf("no progress event %q in %v", n, names)
		}
	}
	again, err := Build(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if again.Manifest.Digest != res.Manifest.Digest {
		t.Errorf("rebuild gave index %s, want %s", again.Manifest.Digest, res.Manifest.Digest)
	}
	for _, s := range again.Steps {
		if !s.Cached {
			t.Errorf("rebuild ran %s", s.Name)
		}
	}
	desc, err := store.Resolve(context.Background(), "docker.io/library/multi:1")
	if err != nil || desc.Digest != res.Manifest.Digest || !desc.MediaType.IsIndex() {
		t.Errorf("tag resolves to %v (%v), want the index %s", desc, err, res.Manifest.Digest)
	}
}

// TestCheckEmulator points the check at fake binfmt_misc directories.
func TestCheckEmulator(t *testing.T) {
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	handler := func(body string) string {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "status"), []byte("enabled\n"), 0o644)
		if body != "" {
			os.WriteFile(filepath.Join(dir, "qemu-aarch64"), []byte(body), 0o644)
		}
		return dir
	}
	cases := []struct {
		name, dir string
		p         v1.Platform
		want      string // "" = no error
	}{
		{"host platform needs none", t.TempDir(), hostPlatform(), ""},
		{"not mounted", t.TempDir(), arm64, "not mounted"},
		{"no handler", handler(""), arm64, "no binfmt_misc handler qemu-aarch64"},
		{"disabled", handler("disabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\n"), arm64, "disabled"},
		{"no fix-binary flag", handler("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: OP\n"), arm64, "fix-binary (F)"},
		{"registered with F", handler("enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\n"), arm64, ""},
		{"unknown architecture", t.TempDir(), v1.Platform{OS: "linux", Architecture: "sparc64"}, "knows no emulator"},
	}
	if hostPlatform().Architecture == "arm64" {
		t.Skip("skipping: the cases assume a host that is not arm64")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckEmulator(c.dir, c.p)
			if c.want == "" {
				if err != nil {
					t.Fatalf("CheckEmulator: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrNoEmulator) {
				t.Fatalf("CheckEmulator: %v, want an ErrNoEmulator mentioning %q", err, c.want)
			}
			if c.name != "unknown architecture" && !strings.Contains(err.Error(), "ibuild binfmt --install") && c.name != "disabled" {
				t.Errorf("the error does not say how to register: %v", err)
			}
		})
	}
}
