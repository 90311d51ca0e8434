package build

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/ibuild/ibuild/build/buildctx"
	"github.com/ibuild/ibuild/build/sandbox"
	"github.com/ibuild/ibuild/parser"
	"github.com/ibuild/ibuild/progress"
)

// builder holds the state of one build. The fields above mu are set
// before stages are built and only read afterwards; stages built at the
// same time share the rest through mu and ctxMu.
type builder struct {
	opt    Options
	df     *parser.Dockerfile
	src    []byte // the Dockerfile's text
	escape rune   // the Dockerfile's escape character
	sink   progress.Sink
	global *argScope // global ARGs (before the first FROM) plus predefined ones
	total  int
	// inImage are the stages whose layers go into the image (targetChain).
	inImage map[int]bool

	mu sync.Mutex
	// slots bound the stages built at once (nil: one at a time, in order).
	slots  jobSlots
	stages []*stageBuild
	used   map[string]bool // build args consumed by an ARG
	steps  []StepResult
	// stepIdx are the numbers of steps, in order.
	stepIdx []int
	// counter numbers the steps as they start, after the planned
	// numbers: stepNo maps a stage index and the ordinal of a step in it
	// to its planned number; started counts each stage's steps, numbered
	// the numbers taken.
	counter  int
	stepNo   map[[2]int]int
	started  map[int]int
	numbered map[int]bool
	// images are the images resolved or being resolved, by reference.
	images map[string]*imageFuture
	// layouts are the images read from oci-layout:// contexts.
	layouts []ImageSource
	// lazy maps layer digests hit in a --cache-from source to that source,
	// until their blobs are fetched.
	lazy map[v1.Hash]StepSource
	// fetches are the lazy layers being fetched, by digest: each channel
	// is closed when its fetch ends.
	fetches map[v1.Hash]chan struct{}
	// exported collects step records for --cache-to, in the order the
	// steps finished.
	exported []exportedStep

	// bg counts the background work (base extractions started ahead)
	// that run stops (bgStop) and waits for once the stages are built.
	bg     sync.WaitGroup
	bgStop []context.CancelFunc
	// headers memoises the tar headers of layers read for skeletons
	// (skeleton_linux.go), by diffID.
	headers sync.Map
	// prefetching are the layers prefetchBase extracts, by diffID.
	prefetching map[v1.Hash]bool

	ctxMu  sync.Mutex
	ctxDir *buildctx.Context
	// ignoreFile is the ignore file the context was opened with.
	ignoreFile string
}

// stageBuild is a stage being built or built: claimed is set by whoever
// builds it, and done is closed once st and err are set, so that every
// stage needing it waits for one build of it.
type stageBuild struct {
	claimed bool
	done    chan struct{}
	st      *stageState
	err     error
}

// errNeedsLinux is Build's error on other systems.
var errNeedsLinux = errors.New("building images needs Linux (overlayfs and namespaces)")

// Build runs the build described by opt and stores the resulting image.
// Errors name the Dockerfile and line of the failing instruction. Builds
// run only on Linux.
func Build(ctx context.Context, opt Options) (*Result, error) {
	if runtime.GOOS != "linux" {
		return nil, errNeedsLinux
	}
	b, err := newBuilder(opt)
	if err != nil {
		return nil, err
	}
	// The network helpers of the last steps are reaped before Build
	// returns (steps do not wait for them).
	defer sandbox.WaitHelpers()
	return b.run(ctx)
}

func newBuilder(opt Options) (*builder, error) {
	if opt.Store == nil {
		return nil, errors.New("build: no store given")
	}
	if opt.Compression == "" {
		opt.Compression = "gzip"
	}
	if err := checkPlatform(opt.Platform); err != nil {
		return nil, err
	}
	if opt.Dockerfile == "" {
		opt.Dockerfile = filepath.Join(opt.ContextDir, "Dockerfile")
	}
	src := opt.DockerfileData
	if src == nil {
		// Beneath the context like its other files: a Dockerfile that is
		// a symlink to a host file must not be read (and quoted in errors).
		data, err := buildctx.ReadFileIn(opt.ContextDir, opt.Dockerfile)
		if err != nil {
			return nil, fmt.Errorf("reading Dockerfile: %w", err)
		}
		src = data
	}
	df, err := parser.Parse(displayName(opt), src)
	if err != nil {
		return nil, err
	}
	sink := opt.Progress
	if sink == nil {
		sink = progress.Discard()
	}
	b := &builder{opt: opt, df: df, src: src, sink: sink, used: map[string]bool{}}
	b.escape = df.Escape
	b.stages = make([]*stageBuild, len(df.Stages))
	return b, nil
}

func displayName(opt Options) string {
	if opt.DockerfileData != nil && (opt.Dockerfile == "" || opt.Dockerfile == "-") {
		return "Dockerfile"
	}
	if rel, err := filepath.Rel(opt.ContextDir, opt.Dockerfile); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return opt.Dockerfile
}

func (b *builder) run(ctx context.Context) (*Result, error) {
	if err := b.initGlobalArgs(); err != nil {
		return nil, err
	}
	target, err := b.targetIndex()
	if err != nil {
		return nil, err
	}
	b.inImage = b.targetChain(target)
	order, n := b.planSteps(target)
	b.total = max(b.countSteps(target), n)
	b.counter = n
	// The stages' context is cancelled by the first failing stage, and
	// only at the end otherwise: what the steps opened with it (a
	// --cache-from source's fetches) serves the image's assembly too.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := b.buildGraph(sctx, cancel, target, order)
	b.stopBackground()
	if err != nil {
		return nil, err
	}
	if len(b.opt.Labels) > 0 {
		st.applyLabels(b.opt.Labels)
	}
	res, err := b.finish(ctx, st)
	if err != nil {
		return nil, err
	}
	chain := b.targetChain(target)
	for i := range res.Steps {
		res.Steps[i].InTarget = chain[res.Steps[i].StageIndex]
	}
	for _, sink := range b.opt.CacheTo {
		if err := sink.Export(ctx, b.opt.Store, b.exportList(target)); err != nil {
			return nil, fmt.Errorf("exporting cache: %w", err)
		}
	}
	res.Warnings = append(res.Warnings, b.warnings()...)
	res.Sources, res.Dockerfile = b.sources(), b.src
	return res, nil
}

// loc is the location of the source ranges r in the Dockerfile.
func (b *builder) loc(r []bkparser.Range) parser.Location {
	return parser.LocationOf(b.df.Name, r)
}

// errAt wraps err with the Dockerfile location of r, unless err already
// carries one.
func (b *builder) errAt(r []bkparser.Range, err error) error {
	var pe *parser.Error
	if errors.As(err, &pe) {
		return err
	}
	return &parser.Error{Location: b.loc(r), Err: err}
}

func (b *builder) targetIndex() (int, error) {
	if len(b.df.Stages) == 0 {
		return 0, fmt.Errorf("%s: no build stage in Dockerfile", b.df.Name)
	}
	if b.opt.Target == "" {
		return len(b.df.Stages) - 1, nil
	}
	i, ok := b.df.StageIndex(b.opt.Target)
	if !ok {
		var names []string
		for _, s := range b.df.Stages {
			if s.Name != "" {
				names = append(names, s.Name)
			}
		}
		return 0, fmt.Errorf("target stage %q could not be found in %s (stages: %s)", b.opt.Target, b.df.Name, strings.Join(names, ", "))
	}
	return i, nil
}

// stageRef resolves a name used in FROM or --from to an earlier stage.
func (b *builder) stageRef(name string, before int) (int, bool) {
	return b.df.StageRef(name, before)
}

// stage builds stage i once, building the stages it depends on first.
// Callers asking for a stage another one is building wait for its result.
func (b *builder) stage(ctx context.Context, i int, chain []int) (*stageState, error) {
	for _, c := range chain {
		if c == i {
			return nil, b.errAt(b.df.Stages[i].Location, fmt.Errorf("circular dependency between stages"))
		}
	}
	b.mu.Lock()
	sb := b.futureLocked(i)
	if sb.claimed {
		b.mu.Unlock()
		resume := b.slots.forWait(ctx)
		select {
		case <-sb.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := resume(); err != nil {
			return nil, err
		}
		return sb.st, sb.err
	}
	sb.claimed = true
	b.mu.Unlock()
	if chain != nil { // an instruction needs the stage: it takes a slot
		sctx, done, err := b.slots.forBuild(ctx)
		if err != nil {
			sb.err = err
			close(sb.done)
			return nil, err
		}
		defer done()
		ctx = sctx
	}
	sb.st, sb.err = b.buildStage(ctx, i, append(chain, i))
	close(sb.done)
	return sb.st, sb.err
}

// lex returns a word expander for the Dockerfile. A shell.Lex is not safe
// for concurrent use: each expansion gets its own.
func (b *builder) lex() *shell.Lex {
	return parser.NewLex(b.escape)
}

// addUsed records that build arg k was consumed.
func (b *builder) addUsed(k string) {
	b.mu.Lock()
	b.used[k] = true
	b.mu.Unlock()
}

// countSteps estimates the number of filesystem steps in the target and the
// stages it statically depends on, for progress display.
func (b *builder) countSteps(target int) int {
	seen := map[int]bool{}
	var walk func(i int)
	n := 0
	walk = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		s := b.df.Stages[i]
		n++ // FROM
		if j, ok := b.stageRef(s.BaseName, i); ok {
			walk(j)
		}
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.CopyCommand:
				n++
				if j, ok := b.stageRef(c.From, i); ok {
					walk(j)
				}
			case *instructions.AddCommand, *instructions.RunCommand, *instructions.WorkdirCommand:
				n++
			}
		}
	}
	walk(target)
	return n
}

func (b *builder) warnings() []string {
	var out []string
	for _, w := range b.df.Warnings {
		out = append(out, fmt.Sprintf("%s: %s", w.Location, w.Message))
	}
	var unused []string
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.opt.BuildArgs {
		if !b.used[k] && !predefinedArg(k) {
			unused = append(unused, k)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		out = append(out, fmt.Sprintf("one or more build-args %v were not consumed", unused))
	}
	return out
}
