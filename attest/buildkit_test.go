package attest

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestProvenanceMatchesBuildKit: for the build BuildKit v0.17.3 recorded
// in testdata, ibuild's statement has the same subject, builder, build
// type, materials, invocation parameters and environment, completeness
// and Dockerfile source; BuildKit's LLB (buildConfig, layers, locations)
// and timestamps are what it has beyond them.
func TestProvenanceMatchesBuildKit(t *testing.T) {
	data, err := os.ReadFile("testdata/buildkit-v0.17.3-provenance.json")
	if err != nil {
		t.Fatal(err)
	}
	var bk Statement
	if err := json.Unmarshal(data, &bk); err != nil {
		t.Fatal(err)
	}
	var bkPred struct {
		Metadata struct {
			BuildKit struct {
				Source struct {
					Infos []struct{ Data []byte }
				}
			} `json:"https://mobyproject.org/buildkit@v1#metadata"`
		}
	}
	if err := json.Unmarshal(bk.Predicate, &bkPred); err != nil {
		t.Fatal(err)
	}
	linux := v1.Platform{OS: "linux", Architecture: "amd64"}
	image, _ := v1.NewHash("sha256:" + bk.Subject[0].Digest["sha256"])
	base, _ := v1.NewHash("sha256:59413178358ca948e325d35e1bdc67be38c47ebcac731c56a6a848f35c78026c")
	raw, err := Provenance(ProvenanceOptions{Mode: ModeMax, DockerfileName: "Dockerfile",
		Dockerfile: bkPred.Metadata.BuildKit.Source.Infos[0].Data, BuildArgs: map[string]string{"FOO": "bar"},
		Materials: []Material{{Ref: "127.0.0.1:5099/base/bb:1", Digest: base, Platform: linux}}, Platform: linux})
	if err != nil {
		t.Fatal(err)
	}
	ours := NewStatement(PredicateSLSA02, raw, Subjects([]string{"127.0.0.1:5099/app/x:1"}, linux, image))
	pick := func(st Statement) map[string]any {
		var p map[string]any
		if err := json.Unmarshal(st.Predicate, &p); err != nil {
			t.Fatal(err)
		}
		inv := p["invocation"].(map[string]any)
		meta := p["metadata"].(map[string]any)
		src := meta["https://mobyproject.org/buildkit@v1#metadata"].(map[string]any)["source"].(map[string]any)["infos"].([]any)[0].(map[string]any)
		return map[string]any{
			"_type": st.Type, "predicateType": st.PredicateType, "subject": mustMarshal(t, st.Subject),
			"builder": p["builder"], "buildType": p["buildType"], "materials": p["materials"],
			"parameters": inv["parameters"], "environment": inv["environment"],
			"entryPoint":   inv["configSource"].(map[string]any)["entryPoint"],
			"completeness": meta["completeness"], "reproducible": meta["reproducible"],
			"source": []any{src["filename"], src["language"], src["data"]},
		}
	}
	got, want := pick(ours), pick(bk)
	for k := range want {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("%s:\n ibuild   %v\n BuildKit %v", k, got[k], want[k])
		}
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
