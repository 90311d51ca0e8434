package build

import (
	"archive/tar"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/ibuild/ibuild/build/buildctx"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/parser"
)

// copySpec is a COPY or ADD after expansion.
type copySpec struct {
	cmd      instructions.Command
	name     string // "COPY" or "ADD"
	add      bool
	srcs     instructions.SourcesAndDest
	from     string
	chown    string
	chmod    string
	excludes []string
	parents  bool
	checksum string
	unpack   *bool
}

// copySource is where a COPY reads from.
type copySource struct {
	ctx     *buildctx.Context
	key     string // identity of the source for the cache key
	root    string // directory of the source tree
	context bool   // the build context (ownership reset to 0:0)
	cleanup func()
}

func (b *builder) copy(ctx context.Context, st *stageState, cs copySpec, loc []bkparser.Range, chain []int) error {
	text := cs.name + " " + strings.Join(append(append([]string{}, cs.srcs.SourcePaths...), cs.srcs.DestPath), " ")
	if cs.from != "" {
		text = cs.name + " --from=" + cs.from + " " + strings.TrimPrefix(text, cs.name+" ")
	}
	return b.step(ctx, st, text, loc, func(ctx context.Context, r *stepRun) (stepResult, error) {
		return b.copyStep(ctx, st, cs, chain, text, r)
	})
}

func (b *builder) copyStep(ctx context.Context, st *stageState, cs copySpec, chain []int, text string, r *stepRun) (stepResult, error) {
	if len(cs.excludes) > 0 || cs.parents {
		return stepResult{}, fmt.Errorf("%s --exclude and --parents are not supported yet", cs.name)
	}
	mode, err := parseChmod(cs.chmod)
	if err != nil {
		return stepResult{}, err
	}
	ref, err := b.sourceRef(ctx, st, cs.from, chain)
	if err != nil {
		return stepResult{}, err
	}
	var local []string
	for _, p := range cs.srcs.SourcePaths {
		if !(cs.add && isURL(p)) {
			local = append(local, p)
		}
	}
	var remote []remoteFile
	for _, p := range cs.srcs.SourcePaths {
		if cs.add && isURL(p) {
			if b.opt.Unprivileged {
				return stepResult{}, fmt.Errorf("downloading %s: %w", p, cache.ErrUnprivileged)
			}
			rf, err := b.download(ctx, p, cs.checksum)
			if err != nil {
				return stepResult{}, err
			}
			defer os.RemoveAll(filepath.Dir(rf.file))
			remote = append(remote, rf)
		}
	}
	// The context is hashed for the key; another stage or an image is
	// identified by its own key, so a cache hit mounts nothing.
	var src *copySource
	var matches []buildctx.Match
	digest := ""
	if ref.context {
		if src, err = b.openSource(ctx, ref); err != nil {
			return stepResult{}, err
		}
		if len(local) > 0 {
			if matches, err = src.ctx.SelectAllowEmpty(ctx, local); err != nil {
				return stepResult{}, err
			}
			if digest, err = src.ctx.Digest(ctx, matches, b.opt.Store.ContextMemo(src.ctx.Dir())); err != nil {
				return stepResult{}, err
			}
		}
	}
	var remoteDigests []string
	for _, rf := range remote {
		remoteDigests = append(remoteDigests, rf.url+"@"+rf.digest)
	}
	var heredocs []string
	for _, h := range cs.srcs.SourceContents {
		heredocs = append(heredocs, h.Path+"\x00"+h.Data)
	}
	destDir := strings.HasSuffix(cs.srcs.DestPath, "/") || cs.srcs.DestPath == "." || strings.HasSuffix(cs.srcs.DestPath, "/.")
	dest := st.resolvePath(cs.srcs.DestPath)
	key := chainKey(st.key, cs.name, ref.key, cs.srcs.SourcePaths, dest, destDir, cs.chown, cs.chmod,
		digest, remoteDigests, heredocs, cs.unpack, st.cfg.Config.WorkingDir, st.platform.String())
	inputs := map[string]string{"sources": digest + ref.key + strings.Join(remoteDigests, ",") + strings.Join(heredocs, ","),
		"destination": dest, "chown": cs.chown, "chmod": cs.chmod, "source list": strings.Join(cs.srcs.SourcePaths, " ")}
	files := func() map[string]string { return sourceFiles(matches) }
	return b.cached(ctx, st, r, stepPlan{key: key, inputs: inputs, files: files, createdBy: text + " # buildkit", exec: func(ctx context.Context) (*layer.Info, error) {
		if !ref.context {
			var err error
			if src, err = b.openSource(ctx, ref); err != nil {
				return nil, err
			}
			defer src.cleanup()
			if len(local) > 0 {
				if matches, err = src.ctx.SelectAllowEmpty(ctx, local); err != nil {
					return nil, err
				}
			}
		}
		cp := &copier{b: b, st: st, cs: cs, src: src, mode: mode, dest: dest, destDir: destDir, matches: matches, remote: remote}
		return cp.writeLayer(ctx)
	}})
}

// sourceRef identifies what a COPY or bind mount reads: the context
// (from == ""), an earlier stage, or an image.
type sourceRef struct {
	context bool
	dir     string // a named context's directory; "" for the build context
	key     string
	layers  []layer.Info
}

func (b *builder) sourceRef(ctx context.Context, st *stageState, from string, chain []int) (sourceRef, error) {
	if from == "" {
		return sourceRef{context: true, key: "context"}, nil
	}
	if nc, ok := b.namedContext(from); ok {
		return b.namedSource(ctx, from, nc, st.platform)
	}
	if j, ok := b.stageRef(from, st.index); ok {
		dep, err := b.stage(ctx, j, chain)
		if err != nil {
			return sourceRef{}, err
		}
		return sourceRef{key: "from:" + dep.key.String(), layers: dep.layers}, nil
	}
	if _, ok := b.df.StageIndex(from); ok {
		return sourceRef{}, fmt.Errorf("--from=%s refers to a stage that is not defined before this one", from)
	}
	img, _, err := b.resolveImage(ctx, from, st.platform)
	if err != nil {
		return sourceRef{}, fmt.Errorf("--from=%s: %w", from, err)
	}
	fst, err := stateFromImage(img)
	if err != nil {
		return sourceRef{}, fmt.Errorf("--from=%s: %w", from, err)
	}
	return sourceRef{key: "from:" + fst.key.String(), layers: fst.layers}, nil
}

// openSource opens a source for reading; for a stage or an image its root
// filesystem is mounted read-only until cleanup.
func (b *builder) openSource(ctx context.Context, ref sourceRef) (*copySource, error) {
	if ref.context && ref.dir != "" {
		c, err := buildctx.Open(ref.dir, "", b.ctxOptions()...)
		if err != nil {
			return nil, err
		}
		return &copySource{ctx: c, key: ref.key, root: c.Dir(), context: true, cleanup: func() {}}, nil
	}
	if ref.context {
		c, err := b.context()
		if err != nil {
			return nil, err
		}
		return &copySource{ctx: c, key: ref.key, root: c.Dir(), context: true, cleanup: func() {}}, nil
	}
	root, cleanup, err := b.mountRootfs(ctx, ref.layers)
	if err != nil {
		return nil, err
	}
	// Symlinks in another stage or an image resolve inside its root, as
	// in BuildKit (absolute targets from that root).
	c, err := buildctx.Open(root, "", buildctx.WithRootedSymlinks())
	if err != nil {
		cleanup()
		return nil, err
	}
	return &copySource{ctx: c, key: ref.key, root: root, cleanup: cleanup}, nil
}

// context opens the build context once.
func (b *builder) context() (*buildctx.Context, error) {
	b.ctxMu.Lock()
	defer b.ctxMu.Unlock()
	if b.ctxDir != nil {
		return b.ctxDir, nil
	}
	ignore := b.opt.IgnoreFile
	if ignore == "" {
		cand := b.opt.Dockerfile + ".dockerignore"
		if _, err := os.Stat(cand); err == nil && b.opt.DockerfileData == nil {
			ignore = cand
		} else if _, err := os.Stat(filepath.Join(b.opt.ContextDir, ".dockerignore")); err == nil {
			ignore = filepath.Join(b.opt.ContextDir, ".dockerignore")
		}
	}
	// The store is never part of the context, even when --root lies in it.
	c, err := buildctx.Open(b.opt.ContextDir, ignore, append(b.ctxOptions(), buildctx.WithExclude(b.opt.Store.Root()))...)
	if err != nil {
		return nil, err
	}
	b.ctxDir, b.ignoreFile = c, ignore
	return c, nil
}

// ctxOptions are the options of every build context the builder digests.
func (b *builder) ctxOptions() []buildctx.Option {
	if b.opt.ContextOwners == nil {
		return nil
	}
	return []buildctx.Option{buildctx.WithOwners(b.opt.ContextOwners)}
}

// parseChmod validates --chmod after expansion; "" means no --chmod.
func parseChmod(s string) (*fs.FileMode, error) {
	if s == "" {
		return nil, nil
	}
	m, err := parser.ParseChmod(s)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// entry is one item of a COPY layer.
type entry struct {
	hdr  *tar.Header
	src  string // context-relative path of a regular file to read
	data []byte // inline content (heredoc)
	file string // host path of a downloaded file
	// link is the source inode of a file with other hard links.
	link linkKey
}

// sortEntries orders entries so that parents precede children.
func sortEntries(es []entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].hdr.Name < es[j].hdr.Name })
}
