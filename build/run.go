package build

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/ibuild/ibuild/build/sandbox"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
)

// runArgs returns the argv of a RUN, handling heredocs as BuildKit does.
func runArgs(st *stageState, c *instructions.RunCommand) ([]string, error) {
	args := c.CmdLine
	if len(c.Files) > 0 {
		if len(args) != 1 || !c.PrependShell {
			return nil, fmt.Errorf("parsing produced an invalid run command: %v", args)
		}
		if sc := shebangScript(c); sc != nil {
			args = []string{path.Join(scriptDir, sc.name)}
		} else if hd := bkparser.MustParseHeredoc(args[0]); hd != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = bkparser.ChompHeredocContent(data)
			}
			args = []string{data}
		} else {
			var sb strings.Builder
			sb.WriteString(args[0])
			for _, f := range c.Files {
				sb.WriteByte('\n')
				sb.WriteString(f.Data)
				sb.WriteString(f.Name)
			}
			args = []string{sb.String()}
		}
	}
	if c.PrependShell {
		return append(append([]string(nil), st.shell()...), strings.Join(args, " ")), nil
	}
	return args, nil
}

// scriptDir is where a RUN heredoc with a shebang is mounted, read-only,
// as in BuildKit.
const scriptDir = "/dev/pipes"

// script is a RUN heredoc that starts with "#!": BuildKit writes it to a
// file (mode 0755, named after the heredoc) and runs that file, so that the
// interpreter named by the shebang runs it, not /bin/sh -c.
type script struct{ name, data string }

// shebangScript returns the script of a RUN with a single heredoc whose
// body starts with "#!", or nil.
func shebangScript(c *instructions.RunCommand) *script {
	if len(c.Files) == 0 || len(c.CmdLine) != 1 || bkparser.MustParseHeredoc(c.CmdLine[0]) == nil {
		return nil
	}
	f := c.Files[0]
	if !strings.HasPrefix(f.Data, "#!") {
		return nil
	}
	name := path.Base(f.Name)
	if name == "." || name == ".." || name == "/" {
		return nil
	}
	data := f.Data
	if f.Chomp {
		data = bkparser.ChompHeredocContent(data)
	}
	return &script{name: name, data: data}
}

// mountScript writes sc into a fresh directory and returns the read-only
// mount of it at scriptDir, and its removal.
func (b *builder) mountScript(sc *script) (sandbox.Mount, func(), error) {
	dir, err := b.opt.Store.TempDir("script-")
	if err != nil {
		return sandbox.Mount{}, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	err = os.Chmod(dir, 0o755) // any USER reads it, as BuildKit's
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, sc.name), []byte(sc.data), 0o755)
	}
	if err == nil {
		err = os.Chmod(filepath.Join(dir, sc.name), 0o755) // whatever the umask
	}
	if err != nil {
		cleanup()
		return sandbox.Mount{}, nil, fmt.Errorf("writing heredoc script: %w", err)
	}
	return sandbox.Mount{Type: "bind", Source: dir, Target: scriptDir, ReadOnly: true}, cleanup, nil
}

// runEnv is the environment of a RUN: the stage's state env (the image's
// env, ENVs and ARGs, the last setting of a name winning), plus proxy
// build args.
func (b *builder) runEnv(st *stageState) []string {
	env := append([]string(nil), st.env...)
	for _, kv := range proxyEnv(b.opt.BuildArgs) {
		if _, set := lookupEnv(env, envKey(kv)); !set {
			env = append(env, kv)
		}
	}
	if _, ok := lookupEnv(env, "PATH"); !ok {
		env = append(env, "PATH="+defaultPath)
	}
	return env
}

func (b *builder) runStep(ctx context.Context, st *stageState, c *instructions.RunCommand, loc []bkparser.Range, chain []int) error {
	args, err := runArgs(st, c)
	if err != nil {
		return err
	}
	text := "RUN " + strings.Join(c.CmdLine, " ")
	return b.step(ctx, st, text, loc, func(ctx context.Context, r *stepRun) (stepResult, error) {
		return b.runInner(ctx, st, c, args, r, chain)
	})
}

func (b *builder) runInner(ctx context.Context, st *stageState, c *instructions.RunCommand, args []string, r *stepRun, chain []int) (stepResult, error) {
	if sec := instructions.GetSecurity(c); sec != "" && sec != "sandbox" {
		return stepResult{}, fmt.Errorf("RUN --security=%s is not supported", sec)
	}
	network, err := b.runNetwork(c)
	if err != nil {
		return stepResult{}, err
	}
	plans, mkeys, err := b.planMounts(ctx, st, c, chain)
	if err != nil {
		return stepResult{}, err
	}
	sc := shebangScript(c)
	if sc != nil {
		sum := sha256.Sum256([]byte(sc.data))
		mkeys = append(mkeys, "script "+sc.name+" sha256:"+hex.EncodeToString(sum[:]))
	}
	if h := b.opt.Run.Hosts; h != nil && !bytes.Equal(h, defaultHosts) {
		// Extra hosts (--add-host) are an input, as in BuildKit's ExecOp.
		sum := sha256.Sum256(h)
		mkeys = append(mkeys, "hosts sha256:"+hex.EncodeToString(sum[:]))
	}
	env := b.runEnv(st)
	key := chainKey(st.key, "RUN", args, env, st.cfg.Config.User, st.cfg.Config.WorkingDir, network, mkeys, hostPlatform().String())
	in := envInputs(env, args, mkeys)
	in["user"], in["workdir"], in["network"] = st.cfg.Config.User, st.cfg.Config.WorkingDir, network
	createdBy := "RUN " + historyArgs(st) + strings.Join(args, " ") + " # buildkit"
	return b.cached(ctx, st, r, stepPlan{key: key, inputs: in, createdBy: createdBy, exec: func(ctx context.Context) (*layer.Info, error) {
		if b.opt.Run.Isolation == "" || b.opt.Run.Isolation == sandbox.IsolationBuiltin {
			// The step runs: start the sandbox init now, while the mounts
			// and snapshots are prepared, unless one is already waiting. A
			// cache hit starts nothing. A step in the default network
			// also gets slirp4netns started ahead.
			if network == NetworkDefault {
				go sandbox.PrewarmNetwork(b.opt.Run.Slirp4netns)
			} else {
				go sandbox.Prewarm()
			}
		}
		mounts, err := b.mountAll(ctx, plans)
		if err != nil {
			return nil, err
		}
		defer mounts.cleanup()
		if sc != nil {
			m, cleanup, err := b.mountScript(sc)
			if err != nil {
				return nil, err
			}
			defer cleanup()
			mounts.mounts = append(mounts.mounts, m)
		}
		runEnv := env
		for _, kv := range mounts.env {
			if _, set := lookupEnv(env, envKey(kv)); set && envKey(kv) == "SSH_AUTH_SOCK" {
				continue // the step's own setting wins, as in BuildKit
			}
			runEnv = append(runEnv, kv)
		}
		return b.execute(ctx, st, args, runEnv, network, mounts.mounts, r)
	}})
}

// historyArgs is BuildKit's "|N K=V ..." prefix: every ARG declared, with
// its value in the state env ("" when it has none).
func historyArgs(st *stageState) string {
	if len(st.argDecls) == 0 {
		return ""
	}
	p := make([]string, len(st.argDecls))
	for i, k := range st.argDecls {
		v, _ := lookupEnv(st.env, k)
		p[i] = k + "=" + v
	}
	return fmt.Sprintf("|%d %s ", len(p), strings.Join(p, " "))
}

// execute runs args in the sandbox and turns its changes into a layer: on
// an overlay diffed through its upper directory, or, where overlayfs cannot
// be used, on a plain copy of the parent's root diffed by scanning it.
func (b *builder) execute(ctx context.Context, st *stageState, args, env []string, network string, mounts []sandbox.Mount, r *stepRun) (*layer.Info, error) {
	out := newLogWriter(r)
	cwd := st.cfg.Config.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	spec := sandbox.Spec{
		Args: args, Env: env, Cwd: cwd, User: st.cfg.Config.User,
		Network: sandbox.Network(network), Mounts: mounts,
		// One pipe for stdout and stderr, as BuildKit's step logs: the
		// lines arrive in the order the command wrote them.
		Stdout: out.stream("stdout"), MergeOutput: true,
		Settings: b.opt.Run.Settings,
	}
	if spec.Hosts == nil {
		spec.Hosts = defaultHosts
	}
	reason := overlayUnsupported(b.opt.Store.Root())
	// The bundle lives in the private state directory, where the next
	// build collects it if this one is killed.
	spec.ScratchDir = filepath.Join(b.opt.Store.Root(), cache.ScratchDir)
	if reason == "" {
		info, err := b.executeOverlay(ctx, st, spec, out, r)
		if !errors.Is(err, sandbox.ErrOverlayUnavailable) {
			return info, err
		}
		reason = err.Error()
	}
	r.log("stderr", "differ: scan (overlayfs unavailable: "+reason+")")
	return b.executeScan(ctx, st, spec, out, r)
}

// executeOverlay runs spec on an overlay of the parent's snapshots and
// diffs the upper directory. A failed overlay mount is returned as is
// (sandbox.ErrOverlayUnavailable), before the command ran.
func (b *builder) executeOverlay(ctx context.Context, st *stageState, spec sandbox.Spec, out *logWriter, r *stepRun) (*layer.Info, error) {
	snaps, err := b.snapshots(ctx, st.layers)
	if err != nil {
		return nil, err
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		spec.Lowerdirs = append(spec.Lowerdirs, snaps[i])
	}
	tmp, err := b.opt.Store.TempDir("run-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	spec.Upperdir, spec.Workdir = filepath.Join(tmp, "upper"), filepath.Join(tmp, "work")
	for _, d := range []string{spec.Upperdir, spec.Workdir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	runErr := sandbox.Run(ctx, spec)
	out.flush()
	if errors.Is(runErr, sandbox.ErrOverlayUnavailable) {
		return nil, runErr
	}
	if runErr != nil {
		return nil, runError(spec.Args, out, runErr)
	}
	if err := b.pruneUnchanged(ctx, st, spec.Upperdir); err != nil {
		return nil, err
	}
	return b.diff(ctx, r, spec.Upperdir)
}

// pruneUnchanged removes from a RUN's upper directory the files overlayfs
// copied up without the command changing them, as BuildKit's differ
// leaves them out of the layer (layer.PruneUnchanged): a hard link made
// to a file of an earlier layer is then an independent file, as in
// BuildKit (conformance case run-hardlinks-across-layers).
func (b *builder) pruneUnchanged(ctx context.Context, st *stageState, upper string) error {
	if len(st.layers) == 0 {
		return nil
	}
	if ents, err := os.ReadDir(upper); err != nil || len(ents) == 0 {
		return err
	}
	base, cleanup, err := b.mountRootfs(ctx, st.layers)
	if err != nil {
		return err
	}
	defer cleanup()
	return layer.PruneUnchanged(ctx, upper, base)
}

// runError wraps the failure of a RUN command with its exit code and the
// last lines of its output.
func runError(args []string, out *logWriter, err error) error {
	var ee *sandbox.ExitError
	if errors.As(err, &ee) {
		return &RunError{Args: args, Code: ee.Code, Tail: out.tail(), Err: err}
	}
	return &RunError{Args: args, Code: -1, Tail: out.tail(), Err: err}
}

// diff turns the overlay upper dir of a RUN into a stored layer and keeps
// the upper dir as that layer's snapshot. An empty upper dir yields no layer.
func (b *builder) diff(ctx context.Context, r *stepRun, upper string) (*layer.Info, error) {
	ents, err := os.ReadDir(upper)
	if err != nil {
		return nil, err
	}
	if len(ents) == 0 {
		return nil, nil
	}
	epoch := b.opt.epoch()
	info, err := b.writeLayer(ctx, r, func(w io.Writer) error {
		return layer.WriteOverlayDiff(ctx, w, upper, layer.TarOptions{SourceDateEpoch: &epoch})
	})
	if err != nil || info == nil {
		return info, err
	}
	if _, err := b.opt.Store.AdoptSnapshot(ctx, info.DiffID, upper); err != nil {
		return nil, fmt.Errorf("keeping snapshot: %w", err)
	}
	return info, nil
}

// emptyTarSize is the size of a tar stream without entries (its end marker).
const emptyTarSize = 1024

// writeLayer stores the tar stream that gen writes as a layer, compressed
// as configured; a stream without entries yields no layer. It logs how
// long diff and compression took, from the end of the command.
func (b *builder) writeLayer(ctx context.Context, r *stepRun, gen func(w io.Writer) error) (*layer.Info, error) {
	start := time.Now()
	pr := layer.Pipe(gen)
	defer pr.CloseWithError(io.ErrClosedPipe)
	br := bufio.NewReaderSize(pr, 4096)
	if head, err := br.Peek(emptyTarSize + 1); len(head) <= emptyTarSize {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("writing layer: %w", err)
		}
		return nil, nil
	}
	c, level := b.layerCompression(r.st.index)
	info, err := b.opt.Store.WriteLayer(ctx, br, c, level)
	if err != nil {
		return nil, err // "writing layer: …"
	}
	if c == layer.None && b.opt.Compression != layer.None {
		r.log("stderr", fmt.Sprintf("diff: %d bytes in %s (not compressed: the stage is not in the image)",
			info.UncompressedSize, time.Since(start).Round(time.Millisecond)))
		return &info, nil
	}
	r.log("stderr", fmt.Sprintf("diff+compress (%s): %d bytes (%d compressed) in %s",
		b.opt.Compression, info.UncompressedSize, info.Size, time.Since(start).Round(time.Millisecond)))
	return &info, nil
}

// defaultHosts is /etc/hosts of a RUN step when Options.Run.Hosts is nil.
var defaultHosts = []byte("127.0.0.1\tlocalhost " + sandbox.DefaultHostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n")

// DefaultHosts returns a RUN step's /etc/hosts when Options.Run.Hosts is
// nil; --add-host appends its entries to it.
func DefaultHosts() []byte { return append([]byte(nil), defaultHosts...) }

// RunError is a RUN command that failed.
type RunError struct {
	Args []string
	Code int      // exit code, or -1 when the command did not complete
	Tail []string // the last lines of its output
	Err  error
}

func (e *RunError) Error() string {
	msg := e.Summary()
	if len(e.Tail) > 0 {
		msg += tailHeader + strings.Join(e.Tail, "\n    ")
	}
	return msg
}

// tailHeader introduces the last output lines in RunError's message.
const tailHeader = "\n  last output:\n    "

// Summary is the one-line message without the output lines, for displays
// that show the step's output already.
func (e *RunError) Summary() string {
	return fmt.Sprintf("process %q did not complete successfully: %v", strings.Join(e.Args, " "), e.Err)
}

// errorSummary is err's message without a RunError's output lines.
func errorSummary(err error) string {
	msg := err.Error()
	var re *RunError
	if errors.As(err, &re) && len(re.Tail) > 0 {
		if i := strings.Index(msg, tailHeader); i >= 0 {
			msg = msg[:i]
		}
	}
	return msg
}

func (e *RunError) Unwrap() error { return e.Err }

// logWriter splits step output into lines for the progress sink and keeps
// the last few for error messages.
type logWriter struct {
	mu    sync.Mutex
	r     *stepRun
	bufs  map[string]*bytes.Buffer
	lines []string
}

const tailLines = 10

func newLogWriter(r *stepRun) *logWriter {
	return &logWriter{r: r, bufs: map[string]*bytes.Buffer{}}
}

type streamWriter struct {
	l    *logWriter
	name string
}

func (l *logWriter) stream(name string) io.Writer { return &streamWriter{l: l, name: name} }

func (s *streamWriter) Write(p []byte) (int, error) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	buf := s.l.bufs[s.name]
	if buf == nil {
		buf = &bytes.Buffer{}
		s.l.bufs[s.name] = buf
	}
	buf.Write(p)
	for {
		line, err := buf.ReadString('\n')
		if err != nil {
			buf.Reset()
			buf.WriteString(line)
			break
		}
		s.l.emit(s.name, strings.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

func (l *logWriter) emit(stream, line string) {
	l.lines = append(l.lines, line)
	if len(l.lines) > tailLines {
		l.lines = l.lines[len(l.lines)-tailLines:]
	}
	l.r.log(stream, line)
}

func (l *logWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, buf := range l.bufs {
		if buf.Len() > 0 {
			l.emit(name, buf.String())
			buf.Reset()
		}
	}
}

func (l *logWriter) tail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}
