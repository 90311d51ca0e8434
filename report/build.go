package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ibuild/ibuild/build"
	"github.com/ibuild/ibuild/parser"
)

// SetBuildSteps replaces v's history steps with the steps of the build that
// produced it: those of the target stage and of the stages it inherits
// through FROM <stage>, FROM lines excluded. df is the parsed Dockerfile the
// build ran and target the target stage ("" = last). The layers below the
// first step layer are marked as the base, and v.Base sums them.
func (v *Variant) SetBuildSteps(res *build.Result, df *parser.Dockerfile, target string) error {
	chain, err := stageChain(df, target)
	if err != nil {
		return err
	}
	var steps []*Step
	for _, sr := range res.Steps {
		line := locationLine(sr.Location)
		if !inChain(df, chain, line) || isFrom(sr.Name) {
			continue
		}
		s := &Step{Instruction: instruction(sr.Name), Location: sr.Location, Layer: -1,
			Cached: sr.Cached, Duration: sr.Duration}
		if sr.Layer != nil && sr.Layer.Digest.Hex != "" {
			s.Layer = -2 // resolved below
		}
		steps = append(steps, s)
	}
	withLayer := 0
	for _, s := range steps {
		if s.Layer == -2 {
			withLayer++
		}
	}
	base := len(v.Layers) - withLayer
	if base < 0 {
		return fmt.Errorf("the build has %d step layers but the image only %d layers", withLayer, len(v.Layers))
	}
	next := base
	for _, s := range steps {
		if s.Layer != -2 {
			continue
		}
		s.setLayer(v.Layers[next])
		next++
	}
	v.Base = Sizes{}
	for _, l := range v.Layers[:base] {
		l.Base = true
		v.Base.Add(l)
	}
	v.Steps = steps
	return checkStepDigests(res, v, steps, chain, df)
}

// checkStepDigests verifies that each step's layer is the image layer the
// step was matched with.
func checkStepDigests(res *build.Result, v *Variant, steps []*Step, chain map[int]bool, df *parser.Dockerfile) error {
	i := 0
	for _, sr := range res.Steps {
		if !inChain(df, chain, locationLine(sr.Location)) || isFrom(sr.Name) {
			continue
		}
		s := steps[i]
		i++
		if s.Layer >= 0 && sr.Layer.Digest.String() != v.Layers[s.Layer].Digest {
			return fmt.Errorf("%s: step layer %s is not layer %d (%s) of the image",
				sr.Location, sr.Layer.Digest, s.Layer, v.Layers[s.Layer].Digest)
		}
	}
	return nil
}

// stageChain returns the target stage and the stages it inherits from.
func stageChain(df *parser.Dockerfile, target string) (map[int]bool, error) {
	i := len(df.Stages) - 1
	if target != "" {
		var ok bool
		if i, ok = df.StageIndex(target); !ok {
			return nil, fmt.Errorf("target stage %q not found in %s", target, df.Name)
		}
	}
	chain := map[int]bool{}
	for {
		chain[i] = true
		j, ok := parentStage(df, i)
		if !ok {
			return chain, nil
		}
		i = j
	}
}

// parentStage returns the stage that stage i is built FROM, if any.
func parentStage(df *parser.Dockerfile, i int) (int, bool) {
	name := df.Stages[i].BaseName
	j, ok := df.StageIndex(name)
	if !ok || j >= i {
		return 0, false
	}
	if _, err := strconv.Atoi(name); err != nil && df.Stages[j].Name == "" {
		return 0, false
	}
	return j, true
}

// inChain reports whether Dockerfile line belongs to one of the chain's stages.
func inChain(df *parser.Dockerfile, chain map[int]bool, line int) bool {
	for i := range df.Stages {
		start := df.StageLocation(i).Start
		end := int(^uint(0) >> 1)
		if i+1 < len(df.Stages) {
			end = df.StageLocation(i+1).Start - 1
		}
		if line >= start && line <= end {
			return chain[i]
		}
	}
	return false
}

// locationLine is the first line of "Dockerfile:7" or "Dockerfile:7-9".
func locationLine(loc string) int {
	i := strings.LastIndexByte(loc, ':')
	if i < 0 {
		return 0
	}
	first, _, _ := strings.Cut(loc[i+1:], "-")
	n, _ := strconv.Atoi(first)
	return n
}

// instruction strips the "[2/5] " progress prefix of a step name.
func instruction(name string) string {
	if strings.HasPrefix(name, "[") {
		if _, rest, ok := strings.Cut(name, "] "); ok {
			return rest
		}
	}
	return name
}

func isFrom(name string) bool {
	return strings.HasPrefix(strings.ToUpper(instruction(name)), "FROM ")
}
