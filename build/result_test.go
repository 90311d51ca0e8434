package build

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestStepResults builds a multi-stage Dockerfile in process and checks the
// structured step results: stage index, location, instruction text, FROM
// marker, layer index into Result.Layers, and membership of the target's
// chain (the target inherits base through mid; other only feeds a COPY).
func TestStepResults(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"a": "A", "b": "B", "Dockerfile": `FROM scratch AS base
COPY a /a
FROM base AS mid
WORKDIR /w
FROM scratch AS other
COPY b /b
FROM mid
COPY --from=other /b /b
ENV X=1
`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Build(context.Background(), Options{ContextDir: dir, Store: testStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(res.Image); err != nil {
		t.Fatal(err)
	}
	type want struct {
		stage       int
		line        int
		instruction string
		from        bool
		layer       int
		inTarget    bool
	}
	wants := []want{
		{0, 1, "FROM scratch", true, NoLayer, true},
		{0, 2, "COPY a /a", false, 0, true},
		{1, 3, "FROM base", true, NoLayer, true},
		{1, 4, "WORKDIR /w", false, 1, true},
		{3, 7, "FROM mid", true, NoLayer, true},
		// COPY --from builds other first, inside the last stage.
		{2, 5, "FROM scratch", true, NoLayer, false},
		{2, 6, "COPY b /b", false, 0, false},
		{3, 8, "COPY --from=other /b /b", false, 2, true},
	}
	if len(res.Steps) != len(wants) {
		t.Fatalf("%d steps, want %d: %+v", len(res.Steps), len(wants), res.Steps)
	}
	for i, w := range wants {
		s := res.Steps[i]
		got := want{s.StageIndex, s.Location.Start, s.Instruction, s.From, s.LayerIndex, s.InTarget}
		if got != w {
			t.Errorf("step %d (%s): got %+v, want %+v", i, s.Name, got, w)
		}
		if s.Location.File != "Dockerfile" {
			t.Errorf("step %d: location %v", i, s.Location)
		}
		if s.InTarget && s.LayerIndex != NoLayer && res.Layers[s.LayerIndex].Digest != s.Layer.Digest {
			t.Errorf("step %d: layer %s is not Result.Layers[%d] %s", i, s.Layer.Digest, s.LayerIndex, res.Layers[s.LayerIndex].Digest)
		}
	}
	if len(res.Layers) != 3 {
		t.Errorf("%d layers, want 3", len(res.Layers))
	}
}
