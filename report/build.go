package report

import (
	"fmt"
	"time"
)

// BuildStep is one step of the build that produced a variant, in the
// target stage or a stage it inherits (FROM lines excluded): what
// SetBuildSteps needs of a build's step results, which the caller converts.
type BuildStep struct {
	// Instruction is the Dockerfile instruction ("RUN make").
	Instruction string
	// Location is where it is ("Dockerfile:7").
	Location string
	Cached   bool
	Duration time.Duration
	// Layer is the index of the step's layer in the image, or -1 when the
	// step added none; LayerDigest is that layer's digest.
	Layer       int
	LayerDigest string
}

// SetBuildSteps replaces v's history steps with the steps of the build that
// produced it. The image layers below the first step layer are marked as
// the base, and v.Base sums them. A step layer that is not the image's
// layer at its index is an error naming the step.
func (v *Variant) SetBuildSteps(steps []BuildStep) error {
	base := len(v.Layers)
	out := make([]*Step, 0, len(steps))
	for _, bs := range steps {
		s := &Step{Instruction: bs.Instruction, Location: bs.Location, Layer: -1, Cached: bs.Cached, Duration: bs.Duration}
		if bs.Layer >= 0 {
			if bs.Layer >= len(v.Layers) || v.Layers[bs.Layer].Digest != bs.LayerDigest {
				return fmt.Errorf("%s: step layer %s is not layer %d of the image's %d", bs.Location, bs.LayerDigest, bs.Layer, len(v.Layers))
			}
			s.setLayer(v.Layers[bs.Layer])
			base = min(base, bs.Layer)
		}
		out = append(out, s)
	}
	v.Base = Sizes{}
	for _, l := range v.Layers[:base] {
		l.Base = true
		v.Base.Add(l)
	}
	v.Steps = out
	return nil
}
