package report

import (
	"context"
	"strings"
	"testing"
)

// TestSetBuildSteps maps a build's steps onto the analysed image's layers:
// the layers below the first step layer are the base.
func TestSetBuildSteps(t *testing.T) {
	img, _ := testImage(t, sampleSpecs())
	v, err := Analyze(context.Background(), img, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := len(v.Layers)
	if n < 3 {
		t.Fatalf("sample image has %d layers", n)
	}
	top, below := v.Layers[n-1], v.Layers[n-2]
	steps := []BuildStep{
		{Instruction: "RUN make", Location: "Dockerfile:3", Layer: n - 2, LayerDigest: below.Digest},
		{Instruction: "ENV A=1", Location: "Dockerfile:4", Layer: -1, Cached: true},
		{Instruction: "COPY . /src", Location: "Dockerfile:5", Layer: n - 1, LayerDigest: top.Digest},
	}
	if err := v.SetBuildSteps(steps); err != nil {
		t.Fatal(err)
	}
	if len(v.Steps) != 3 || v.Steps[0].Layer != n-2 || v.Steps[1].Layer != -1 || v.Steps[2].Layer != n-1 {
		t.Fatalf("steps %+v", v.Steps)
	}
	if v.Steps[0].Compressed != below.Compressed || v.Steps[2].Uncompressed != top.Uncompressed || !v.Steps[1].Cached {
		t.Errorf("step sizes or flags not taken from their layers: %+v", v.Steps)
	}
	var base Sizes
	for i, l := range v.Layers {
		if l.Base != (i < n-2) {
			t.Errorf("layer %d base = %v", i, l.Base)
		}
		if i < n-2 {
			base.Add(l)
		}
	}
	if v.Base != base {
		t.Errorf("base %+v, want %+v", v.Base, base)
	}

	bad := []BuildStep{{Instruction: "RUN x", Location: "Dockerfile:9", Layer: n - 1, LayerDigest: below.Digest}}
	if err := v.SetBuildSteps(bad); err == nil || !strings.Contains(err.Error(), "Dockerfile:9") {
		t.Errorf("a step with another layer's digest: %v", err)
	}
	out := []BuildStep{{Instruction: "RUN x", Location: "Dockerfile:9", Layer: n, LayerDigest: top.Digest}}
	if err := v.SetBuildSteps(out); err == nil {
		t.Error("a layer index past the image was accepted")
	}
}
