package attest

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestProvenance(t *testing.T) {
	base := v1.Hash{Algorithm: "sha256", Hex: "1111111111111111111111111111111111111111111111111111111111111111"}
	dockerfile := []byte("FROM debian:bookworm\nRUN true\n")
	dfDigest, _, _ := v1.SHA256(bytesOf(dockerfile))
	opts := ProvenanceOptions{
		DockerfileName: "Dockerfile", Dockerfile: dockerfile, Target: "app",
		BuildArgs: map[string]string{"VERSION": "1.2"}, Labels: map[string]string{"team": "x"},
		Secrets: []string{"tok"}, SSH: []string{"default"},
		Materials: []Material{{Ref: "debian:bookworm", Digest: base, Platform: v1.Platform{OS: "linux", Architecture: "amd64"}}},
		Git:       &Git{URL: "https://user:secret@example.com/app.git", Commit: "0123456789abcdef0123456789abcdef01234567", Remote: true},
		Platform:  v1.Platform{OS: "linux", Architecture: "amd64"},
	}
	subj := Subjects([]string{"127.0.0.1:5000/app:1"}, opts.Platform, base)
	for _, mode := range []string{ModeMin, ModeMax} {
		t.Run(mode, func(t *testing.T) {
			o := opts
			o.Mode = mode
			raw, err := Provenance(o)
			if err != nil {
				t.Fatal(err)
			}
			st := NewStatement(PredicateSLSA02, raw, subj)
			validateSchema(t, "testdata/slsa-provenance-v0.2.schema.json", mustJSON(t, st))
			var p struct {
				BuildType string `json:"buildType"`
				Materials []struct {
					URI    string
					Digest map[string]string
				}
				Invocation struct {
					ConfigSource struct {
						EntryPoint string
						Digest     map[string]string
					}
					Parameters struct {
						Frontend string
						Args     map[string]string
						Secrets  []struct{ ID string }
					}
				}
				Metadata struct {
					Completeness struct{ Parameters bool }
					BuildKit     struct {
						VCS    map[string]string
						Source *struct {
							Infos []struct {
								Filename string
								Data     string
							}
						}
					} `json:"https://mobyproject.org/buildkit@v1#metadata"`
				}
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			if p.Materials[0].URI != "pkg:docker/debian@bookworm?platform=linux%2Famd64" || p.Materials[0].Digest["sha256"] != base.Hex {
				t.Errorf("base material %+v", p.Materials[0])
			}
			if len(p.Materials) != 2 || p.Materials[1].URI != "https://user:xxxxx@example.com/app.git" || p.Materials[1].Digest["sha1"] != opts.Git.Commit {
				t.Errorf("git material %+v (credentials must be redacted)", p.Materials)
			}
			if p.Invocation.ConfigSource.EntryPoint != "Dockerfile" || p.Invocation.ConfigSource.Digest["sha256"] != dfDigest.Hex {
				t.Errorf("configSource %+v, want Dockerfile with sha256 %s", p.Invocation.ConfigSource, dfDigest.Hex)
			}
			if p.Metadata.BuildKit.VCS["revision"] != opts.Git.Commit {
				t.Errorf("vcs %v", p.Metadata.BuildKit.VCS)
			}
			args := p.Invocation.Parameters.Args
			if args["target"] != "app" || p.Invocation.Parameters.Frontend != "dockerfile.v0" {
				t.Errorf("parameters %+v", p.Invocation.Parameters)
			}
			if mode == ModeMax {
				if args["build-arg:VERSION"] != "1.2" || args["label:team"] != "x" || len(p.Invocation.Parameters.Secrets) != 1 || !p.Metadata.Completeness.Parameters {
					t.Errorf("max mode parameters %+v", p.Invocation.Parameters)
				}
				if p.Metadata.BuildKit.Source == nil || p.Metadata.BuildKit.Source.Infos[0].Data != base64.StdEncoding.EncodeToString(dockerfile) {
					t.Errorf("max mode source %+v", p.Metadata.BuildKit.Source)
				}
			} else {
				if _, ok := args["build-arg:VERSION"]; ok || len(p.Invocation.Parameters.Secrets) != 0 || p.Metadata.Completeness.Parameters {
					t.Errorf("min mode leaks parameters: %+v, completeness %v", p.Invocation.Parameters, p.Metadata.Completeness)
				}
				if p.Metadata.BuildKit.Source != nil {
					t.Error("min mode carries the Dockerfile")
				}
			}
		})
	}
	if _, err := Provenance(ProvenanceOptions{Mode: "full"}); err == nil {
		t.Error("mode full accepted")
	}
}

func TestMaterialURI(t *testing.T) {
	linux := v1.Platform{OS: "linux", Architecture: "amd64"}
	tests := []struct {
		m    Material
		want string
	}{
		{Material{Ref: "debian:bookworm", Platform: linux}, "pkg:docker/debian@bookworm?platform=linux%2Famd64"},
		{Material{Ref: "busybox", Platform: linux}, "pkg:docker/busybox@latest?platform=linux%2Famd64"},
		{Material{Ref: "127.0.0.1:5000/base/bb@sha256:" + strings.Repeat("a", 64), Platform: linux},
			"pkg:docker/127.0.0.1%3A5000/base/bb?digest=sha256%3A" + strings.Repeat("a", 64) + "&platform=linux%2Famd64"},
		{Material{Ref: "/srv/layouts/app:1.0", Platform: linux, Local: true}, "pkg:oci/app@1.0?platform=linux%2Famd64"},
		{Material{Ref: "/srv/layouts/app", Platform: linux, Local: true}, "pkg:oci/app?platform=linux%2Famd64"},
	}
	for _, tt := range tests {
		if got := materialURI(tt.m); got != tt.want {
			t.Errorf("materialURI(%+v) = %s, want %s", tt.m, got, tt.want)
		}
	}
}
