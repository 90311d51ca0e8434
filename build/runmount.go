package build

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/ibuild/ibuild/build/sandbox"
)

// runMountSet is the resolved RUN --mount list of one step.
type runMountSet struct {
	mounts   []sandbox.Mount
	env      []string // secret env values: never in a key, layer or history
	sshEnv   bool     // SSH_AUTH_SOCK is set (by the first ssh mount)
	cleanups []func()
}

func (m *runMountSet) cleanup() {
	for i := len(m.cleanups) - 1; i >= 0; i-- {
		m.cleanups[i]()
	}
}

// mountPlan is one RUN --mount, resolved far enough to compute the step's
// cache key without mounting anything.
type mountPlan struct {
	m      *instructions.Mount
	target string
	ref    sourceRef // bind mounts
	id     string    // cache and secret mounts
	key    string
}

// perm is the mode, uid and gid of a secret or ssh mount: the mount's
// mode, uid and gid options, else def and root's, as BuildKit defaults them.
func (p mountPlan) perm(def os.FileMode) (mode os.FileMode, uid, gid int) {
	mode = def
	if p.m.Mode != nil {
		mode = os.FileMode(*p.m.Mode) & os.ModePerm
	}
	if p.m.UID != nil {
		uid = int(*p.m.UID)
	}
	if p.m.GID != nil {
		gid = int(*p.m.GID)
	}
	return mode, uid, gid
}

// planMounts resolves RUN --mount flags into plans and cache-key parts:
// bind sources by content (the context) or by stage or image key, cache
// mounts by target, secrets by id only, never by value.
func (b *builder) planMounts(ctx context.Context, st *stageState, c *instructions.RunCommand, chain []int) ([]mountPlan, []string, error) {
	var plans []mountPlan
	var keys []string
	nssh := 0
	for _, m := range instructions.GetMounts(c) {
		p := mountPlan{m: m, target: m.Target}
		if p.target != "" && !path.IsAbs(p.target) {
			p.target = st.resolvePath(p.target)
		}
		switch m.Type {
		case instructions.MountTypeBind:
			ref, err := b.sourceRef(ctx, st, m.From, chain)
			if err != nil {
				return nil, nil, err
			}
			p.ref = ref
			digest := ref.key
			if ref.context {
				src, err := b.openSource(ctx, ref)
				if err != nil {
					return nil, nil, err
				}
				matches, err := src.ctx.Select(ctx, []string{sourceOrRoot(m.Source)})
				if err != nil {
					return nil, nil, fmt.Errorf("bind mount source %s: %w", m.Source, err)
				}
				if digest, err = src.ctx.Digest(ctx, matches, b.opt.Store.ContextMemo(src.ctx.Dir())); err != nil {
					return nil, nil, err
				}
			}
			p.key = fmt.Sprintf("bind:%s:%s:%s:%v", m.Source, p.target, digest, m.ReadOnly)
		case instructions.MountTypeCache:
			p.id = m.CacheID
			if p.id == "" {
				p.id = p.target
			}
			p.key = "cache:" + p.target
		case instructions.MountTypeTmpfs:
			p.key = fmt.Sprintf("tmpfs:%s:%d", p.target, m.SizeLimit)
		case instructions.MountTypeSecret:
			p.id = m.CacheID
			if m.Source != "" {
				p.id = m.Source
			}
			if p.id == "" {
				p.id = path.Base(m.Target)
			}
			p.key = "secret:" + p.id + ":" + p.target
		case instructions.MountTypeSSH:
			p.id = m.CacheID
			if p.id == "" {
				p.id = "default"
			}
			if m.Target == "" {
				p.target = fmt.Sprintf("/run/buildkit/ssh_agent.%d", nssh)
			}
			nssh++
			p.key = "ssh:" + p.id + ":" + p.target
		default:
			return nil, nil, fmt.Errorf("RUN --mount=type=%s is not supported", m.Type)
		}
		plans = append(plans, p)
		keys = append(keys, p.key)
	}
	return plans, keys, nil
}

func sourceOrRoot(s string) string {
	if s == "" {
		return "/"
	}
	return s
}

// mountAll makes the planned mounts; cleanup undoes them.
func (b *builder) mountAll(ctx context.Context, plans []mountPlan) (*runMountSet, error) {
	set := &runMountSet{}
	for _, p := range plans {
		if err := b.mountOne(ctx, p, set); err != nil {
			set.cleanup()
			return nil, err
		}
	}
	return set, nil
}

func (b *builder) mountOne(ctx context.Context, p mountPlan, set *runMountSet) error {
	m := p.m
	switch m.Type {
	case instructions.MountTypeBind:
		sm, err := b.bindMount(ctx, p, set)
		if err != nil {
			return err
		}
		set.mounts = append(set.mounts, sm)
	case instructions.MountTypeCache:
		dir, release, err := b.cacheDir(ctx, p)
		if err != nil {
			return fmt.Errorf("cache mount %s: %w", p.id, err)
		}
		set.cleanups = append(set.cleanups, release)
		set.mounts = append(set.mounts, sandbox.Mount{Type: "cache", Source: dir, Target: p.target})
	case instructions.MountTypeTmpfs:
		var opts []string
		if m.SizeLimit > 0 {
			opts = append(opts, fmt.Sprintf("size=%d", m.SizeLimit))
		}
		set.mounts = append(set.mounts, sandbox.Mount{Type: "tmpfs", Target: p.target, Options: opts})
	case instructions.MountTypeSecret:
		return b.secretMount(p, set)
	case instructions.MountTypeSSH:
		return b.sshMount(p, set)
	}
	return nil
}

// bindMount mounts a bind source from the context, a stage or an image.
func (b *builder) bindMount(ctx context.Context, p mountPlan, set *runMountSet) (sandbox.Mount, error) {
	src, err := b.openSource(ctx, p.ref)
	if err != nil {
		return sandbox.Mount{}, err
	}
	set.cleanups = append(set.cleanups, src.cleanup)
	root := src.root
	if src.context && b.contextFiltered() {
		// Binding the context directory would show the command every
		// .dockerignored file (and the store, if --root lies inside it):
		// bind a copy of the context as builds see it instead.
		tmp, err := b.opt.Store.TempDir("ctxview-")
		if err != nil {
			return sandbox.Mount{}, err
		}
		set.cleanups = append(set.cleanups, func() { os.RemoveAll(tmp) })
		root = filepath.Join(tmp, "ctx")
		if err := src.ctx.Export(ctx, root); err != nil {
			return sandbox.Mount{}, err
		}
	}
	source := sourceOrRoot(p.m.Source)
	host, err := securejoin.SecureJoin(root, source)
	if err != nil {
		return sandbox.Mount{}, fmt.Errorf("bind mount source %s: %w", source, err)
	}
	if _, err := os.Lstat(host); err != nil {
		return sandbox.Mount{}, fmt.Errorf("bind mount source %s: %w", source, err)
	}
	if src.context && root == src.root {
		return b.contextBind(src, source, p, set)
	}
	sm := sandbox.Mount{Type: "bind", Source: host, Target: p.target, ReadOnly: true}
	if !p.m.ReadOnly {
		// Writes to a rw bind mount are discarded: mount an overlay with
		// a throwaway upper dir over the source.
		dir, cleanup, err := b.scratchOverlay(host)
		if err != nil {
			return sandbox.Mount{}, err
		}
		set.cleanups = append(set.cleanups, cleanup)
		sm.Source, sm.ReadOnly = dir, false
	}
	return sm, nil
}

// contextFiltered reports whether the context as builds see it differs from
// its directory: an ignore file applies, or the store lies inside it.
func (b *builder) contextFiltered() bool {
	b.ctxMu.Lock()
	defer b.ctxMu.Unlock()
	if b.ignoreFile != "" {
		return true
	}
	rel, err := filepath.Rel(b.ctxDir.Dir(), b.opt.Store.Root())
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// contextBind mounts source from the context directory itself (no ignore
// file applies). What source names is resolved beneath the context and
// opened once; the sandbox then gets an overlay (or, for a file, a copy)
// made from that descriptor, never the path: a parent directory swapped
// for a symlink to a host directory meanwhile is not followed. A mount of
// the descriptor itself would not do, as the step's mount namespace cannot
// bind a mount of the builder's.
func (b *builder) contextBind(src *copySource, source string, p mountPlan, set *runMountSet) (sandbox.Mount, error) {
	f, err := src.ctx.OpenPath(source)
	if err != nil {
		return sandbox.Mount{}, fmt.Errorf("bind mount source %s: %w", source, err)
	}
	set.cleanups = append(set.cleanups, func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		return sandbox.Mount{}, fmt.Errorf("bind mount source %s: %w", source, err)
	}
	fdPath := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
	sm := sandbox.Mount{Type: "bind", Target: p.target, ReadOnly: p.m.ReadOnly}
	if fi.IsDir() && p.m.ReadOnly {
		dir, cleanup, err := b.readOnlyOverlay(fdPath)
		if err != nil {
			return sandbox.Mount{}, fmt.Errorf("bind mount source %s: %w", source, err)
		}
		set.cleanups = append(set.cleanups, cleanup)
		sm.Source = dir
		return sm, nil
	}
	// A writable overlay of a directory, or a copy of a file (writes to
	// either are discarded; a read-only file mount stays read-only).
	dir, cleanup, err := b.scratchOverlay(fdPath)
	if err != nil {
		return sandbox.Mount{}, fmt.Errorf("bind mount source %s: %w", source, err)
	}
	set.cleanups = append(set.cleanups, cleanup)
	sm.Source = dir
	return sm, nil
}
