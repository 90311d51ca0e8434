package build

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/parser"
	"github.com/ibuild/ibuild/progress"
)

// stageState is the image a stage has built so far.
type stageState struct {
	index int
	name  string // the stage name, or its index
	// platform is the platform the stage is built for: its FROM
	// --platform, or the build's target platform.
	platform v1.Platform
	cfg      v1.ConfigFile
	layers   []layer.Info
	key      v1.Hash
	args     *argScope
	// env is the environment RUN steps get and words are expanded with,
	// as BuildKit's LLB state env: the image's, then each ENV and each ARG
	// with a value, in order, the last setting of a name winning. An ARG
	// thus shadows an earlier ENV of its name for RUN but not in the image
	// config. A FROM <stage> inherits it.
	env []string
	// argDecls are the names of the ARGs declared so far (this stage's and
	// its base stages'), for RUN's history text.
	argDecls []string
	// cmdSet records whether this stage set CMD (ENTRYPOINT resets an
	// inherited CMD otherwise).
	cmdSet  bool
	noCache bool
	// ownOnBuild are the ONBUILD triggers this stage's own instructions
	// added; fromStage says the stage starts from another stage. BuildKit
	// runs a base stage's own triggers only (in its direct children) and
	// leaves the base's whole OnBuild list in the child's config; an image
	// base's triggers run and are cleared.
	ownOnBuild []string
	fromStage  bool
	// healthStartInterval is the healthcheck's StartInterval, which
	// go-containerregistry's HealthConfig lacks; newImage writes it.
	healthStartInterval time.Duration
	// steps counts the filesystem steps started in this stage.
	steps int
}

func (s *stageState) clone() *stageState {
	c := *s
	c.layers = append([]layer.Info(nil), s.layers...)
	c.cfg = *s.cfg.DeepCopy()
	c.args = s.args.clone()
	c.env = append([]string(nil), s.env...)
	c.argDecls = append([]string(nil), s.argDecls...)
	c.ownOnBuild = append([]string(nil), s.ownOnBuild...)
	return &c
}

// addHistory records a history entry; emptyLayer says whether it has no layer.
func (s *stageState) addHistory(createdBy string, created time.Time, emptyLayer bool) {
	s.cfg.History = append(s.cfg.History, v1.History{
		CreatedBy:  createdBy,
		Created:    v1.Time{Time: created},
		Comment:    "buildkit.dockerfile.v0",
		EmptyLayer: emptyLayer,
	})
}

func (s *stageState) applyLabels(labels map[string]string) {
	if s.cfg.Config.Labels == nil {
		s.cfg.Config.Labels = map[string]string{}
	}
	for k, v := range labels {
		s.cfg.Config.Labels[k] = v
	}
}

func (b *builder) buildStage(ctx context.Context, i int, chain []int) (*stageState, error) {
	ds := b.df.Stages[i]
	st, err := b.from(ctx, i, chain)
	if err != nil {
		return nil, err
	}
	st.index = i
	st.name = ds.Name
	if st.name == "" {
		st.name = strconv.Itoa(i)
	}
	st.args = newArgScope()
	st.cmdSet = false
	st.noCache = b.opt.NoCache
	for _, f := range b.opt.NoCacheFilter {
		if strings.EqualFold(f, ds.Name) || f == strconv.Itoa(i) {
			st.noCache = true
		}
	}
	// ONBUILD triggers of the base run first: an image's, which are then
	// cleared, or a base stage's own, whose config list stays (BuildKit).
	triggers := st.cfg.Config.OnBuild
	if st.fromStage {
		triggers = st.ownOnBuild
	} else {
		st.cfg.Config.OnBuild = nil
	}
	st.ownOnBuild = nil
	for _, t := range triggers {
		cmd, err := parseTrigger(t)
		if err != nil {
			return nil, b.errAt(ds.Location, fmt.Errorf("parsing ONBUILD trigger %q: %w", t, err))
		}
		if err := b.dispatch(ctx, st, cmd, ds.Location, chain); err != nil {
			return nil, err
		}
	}
	for _, cmd := range ds.Commands {
		if err := b.dispatch(ctx, st, cmd, cmd.Location(), chain); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func parseTrigger(expr string) (instructions.Command, error) {
	res, err := bkparser.Parse(strings.NewReader(expr))
	if err != nil {
		return nil, err
	}
	if len(res.AST.Children) != 1 {
		return nil, fmt.Errorf("expected one instruction")
	}
	return instructions.ParseCommand(res.AST.Children[0])
}

// dispatch expands and runs one instruction. loc is where errors point.
func (b *builder) dispatch(ctx context.Context, st *stageState, cmd instructions.Command, loc []bkparser.Range, chain []int) error {
	env := shell.EnvsFromSlice(st.env)
	if _, isArg := cmd.(*instructions.ArgCommand); !isArg {
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			err := ex.Expand(func(word string) (string, error) {
				w, _, err := b.lex().ProcessWord(word, env)
				return w, err
			})
			if err != nil {
				return b.errAt(loc, err)
			}
		}
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
			err := ex.ExpandRaw(func(word string) (string, error) {
				lex := b.lex()
				lex.SkipProcessQuotes = true
				w, _, err := lex.ProcessWord(word, env)
				return w, err
			})
			if err != nil {
				return b.errAt(loc, err)
			}
		}
	}
	if err := b.buildDeps(ctx, st, cmd, chain); err != nil {
		return err
	}
	var err error
	switch c := cmd.(type) {
	case *instructions.CopyCommand:
		err = b.copy(ctx, st, copySpec{cmd: c, name: "COPY", srcs: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod, excludes: c.ExcludePatterns, parents: c.Parents}, loc, chain)
	case *instructions.AddCommand:
		err = b.copy(ctx, st, copySpec{cmd: c, name: "ADD", add: true, srcs: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, excludes: c.ExcludePatterns, checksum: c.Checksum, unpack: c.Unpack}, loc, chain)
	case *instructions.RunCommand:
		err = b.runStep(ctx, st, c, loc, chain)
	case *instructions.WorkdirCommand:
		err = b.workdir(ctx, st, c, loc)
	default:
		err = b.config().apply(st, cmd)
	}
	if err != nil {
		return b.errAt(loc, err)
	}
	return nil
}

// stepRun reports a step to the progress sink and records its result.
type stepRun struct {
	b     *builder
	st    *stageState
	idx   int
	ord   int    // ordinal of the step in its stage
	stage string // the stage's name, or its index when it has none
	text  string // the instruction
	name  string // the instruction with its progress prefix
	loc   parser.Location
	start time.Time
}

func (b *builder) startStep(st *stageState, text string, loc []bkparser.Range) *stepRun {
	idx := b.stepNumber(-1)
	if st != nil {
		idx = b.stepNumber(st.index)
	}
	total := b.total
	if idx > total {
		total = idx
	}
	prefix := ""
	if b.multi && st != nil {
		// As BuildKit: the platform the step is built for comes first.
		prefix = platformString(st.platform) + " "
	}
	name := fmt.Sprintf("[%s%d/%d] %s", prefix, idx, total, text)
	if st != nil && b.df.Stages[st.index].Name != "" {
		name = fmt.Sprintf("[%s%s %d/%d] %s", prefix, b.df.Stages[st.index].Name, idx, total, text)
	}
	ord := 0
	if st != nil {
		st.steps++
		ord = st.steps
	}
	r := &stepRun{b: b, st: st, idx: idx, ord: ord, stage: b.stageLabel(st), text: text, name: name, loc: b.loc(loc), start: time.Now()}
	b.sink.Event(progress.Event{Time: r.start, Step: r.idx, Total: total, Stage: r.stage, Platform: b.eventPlatform(), Name: name, Status: progress.StatusStarted})
	return r
}

// stageLabel names st's stage in progress and step results: its name, or
// its index. A FROM step's state is not labelled yet (or carries the label
// of the stage it starts from), so the label comes from the Dockerfile.
func (b *builder) stageLabel(st *stageState) string {
	if st == nil {
		return ""
	}
	if n := b.df.Stages[st.index].Name; n != "" {
		return n
	}
	return strconv.Itoa(st.index)
}

// log sends a line of output for the step.
func (r *stepRun) log(stream, line string) {
	r.b.sink.Event(progress.Event{Time: time.Now(), Step: r.idx, Total: r.b.total, Stage: r.stage, Platform: r.b.eventPlatform(), Name: r.name, Status: progress.StatusLog, Log: line, Stream: stream})
}

// done finishes the step with its result, or err.
func (r *stepRun) done(res stepResult, err error) {
	d := time.Since(r.start)
	ev := progress.Event{Time: time.Now(), Step: r.idx, Total: r.b.total, Stage: r.stage, Platform: r.b.eventPlatform(), Name: r.name, Duration: d, Cached: res.cached}
	switch {
	case err != nil:
		ev.Status = progress.StatusError
		ev.Error = errorSummary(err) // the output lines are in the step's log
	case res.cached:
		ev.Status = progress.StatusCached
	default:
		ev.Status = progress.StatusDone
	}
	r.b.sink.Event(ev)
	if err == nil {
		sr := StepResult{Stage: r.stage, StageIndex: r.st.index, Name: r.name, Instruction: r.text, Location: r.loc,
			From: res.from, Cached: res.cached, Duration: d, Layer: res.layer, LayerIndex: NoLayer, MissReason: res.missReason}
		if r.b.multi {
			sr.Platform, sr.TargetPlatform = platformString(r.st.platform), platformString(r.b.platform)
		}
		if res.layer != nil {
			sr.LayerIndex = res.layerIndex
		}
		if res.key != (v1.Hash{}) {
			sr.Key = res.key.String()
		}
		r.b.addStep(r.idx, sr)
	}
}

// buildDeps builds the stages an instruction reads from (COPY --from, RUN
// --mount from=) before the instruction's own step starts, so that progress
// shows steps in the order they run.
func (b *builder) buildDeps(ctx context.Context, st *stageState, cmd instructions.Command, chain []int) error {
	var froms []string
	switch c := cmd.(type) {
	case *instructions.CopyCommand:
		froms = append(froms, c.From)
	case *instructions.RunCommand:
		for _, m := range instructions.GetMounts(c) {
			froms = append(froms, m.From)
		}
	}
	for _, f := range froms {
		if f == "" {
			continue
		}
		if j, ok := b.stageRef(f, st.index); ok {
			if _, err := b.stage(ctx, j, chain); err != nil {
				return err
			}
		}
	}
	return nil
}
