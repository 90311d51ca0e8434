package attest

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestManifest(t *testing.T) {
	img := testImage(t, tarLayer(t, file{name: "a", data: []byte("x")}))
	dig, _ := img.Digest()
	subject := v1.Descriptor{Digest: dig}
	p := v1.Platform{OS: "linux", Architecture: "amd64"}
	subs := Subjects([]string{"127.0.0.1:5000/team/app:1", "index.docker.io/library/app:latest"}, p, dig)
	sbom := NewStatement(PredicateSPDX, json.RawMessage(`{"spdxVersion":"SPDX-2.3"}`), subs)
	prov := NewStatement(PredicateSLSA02, json.RawMessage(`{"buildType":"x"}`), subs)
	att, desc, err := Manifest(subject, []Statement{sbom, prov})
	if err != nil {
		t.Fatal(err)
	}
	// (validate.Image does not apply: it counts only layers of layer media
	// types against the config's diff IDs, which BuildKit fills with the
	// statements' digests.)
	if cn, _ := att.ConfigName(); cn.String() == "" {
		t.Error("no config digest")
	}
	if desc.Platform == nil || desc.Platform.OS != "unknown" || desc.Platform.Architecture != "unknown" {
		t.Errorf("platform %+v, want unknown/unknown", desc.Platform)
	}
	if desc.Annotations[AnnotationReferenceType] != "attestation-manifest" || desc.Annotations[AnnotationReferenceDigest] != dig.String() {
		t.Errorf("annotations %v, want the attestation type and digest %s", desc.Annotations, dig)
	}
	if ad, _ := att.Digest(); ad != desc.Digest {
		t.Errorf("descriptor digest %s, manifest digest %s", desc.Digest, ad)
	}
	m, err := att.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("%d layers, want 2", len(m.Layers))
	}
	for i, want := range []string{PredicateSPDX, PredicateSLSA02} {
		l := m.Layers[i]
		if l.MediaType != "application/vnd.in-toto+json" || l.Annotations["in-toto.io/predicate-type"] != want {
			t.Errorf("layer %d: %s %v, want in-toto with predicate type %s", i, l.MediaType, l.Annotations, want)
		}
		rl, err := att.LayerByDigest(l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := rl.Compressed()
		data, _ := io.ReadAll(rc)
		rc.Close()
		if h, _, _ := v1.SHA256(bytes.NewReader(data)); h != l.Digest || int64(len(data)) != l.Size {
			t.Errorf("layer %d: blob digest %s size %d, manifest says %s %d", i, h, len(data), l.Digest, l.Size)
		}
		var st Statement
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatal(err)
		}
		if st.Type != "https://in-toto.io/Statement/v0.1" || st.PredicateType != want || len(st.Subject) != 2 {
			t.Errorf("statement %d: %+v", i, st)
		}
		for _, s := range st.Subject {
			if s.Digest["sha256"] != dig.Hex {
				t.Errorf("subject %s digest %v, want %s", s.Name, s.Digest, dig)
			}
		}
	}
	cf, err := att.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "unknown" || cf.Architecture != "unknown" || len(cf.RootFS.DiffIDs) != 2 || cf.RootFS.DiffIDs[0] != m.Layers[0].Digest {
		t.Errorf("config %+v", cf)
	}
}

func TestSubjects(t *testing.T) {
	dig := v1.Hash{Algorithm: "sha256", Hex: "ab"}
	p := v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	tests := []struct {
		tags []string
		want []string
	}{
		{[]string{"index.docker.io/library/debian:bookworm"}, []string{"pkg:docker/debian@bookworm?platform=linux%2Farm%2Fv7"}},
		{[]string{"127.0.0.1:5000/team/app:1", "index.docker.io/me/app:latest"},
			[]string{"pkg:docker/127.0.0.1%3A5000/team/app@1?platform=linux%2Farm%2Fv7", "pkg:docker/me/app@latest?platform=linux%2Farm%2Fv7"}},
		{nil, []string{"_"}},
	}
	for _, tt := range tests {
		got := Subjects(tt.tags, p, dig)
		if len(got) != len(tt.want) {
			t.Fatalf("Subjects(%q) = %+v", tt.tags, got)
		}
		for i := range got {
			if got[i].Name != tt.want[i] || got[i].Digest["sha256"] != "ab" {
				t.Errorf("Subjects(%q)[%d] = %+v, want %s", tt.tags, i, got[i], tt.want[i])
			}
		}
	}
}
