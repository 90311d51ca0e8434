package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/ibuild/ibuild/build/sandbox"
)

// runMountSet is the resolved RUN --mount list of one step.
type runMountSet struct {
	mounts   []sandbox.Mount
	env      []string // secret env values: never in a key, layer or history
	cleanups []func()
}

func (m *runMountSet) cleanup() {
	for i := len(m.cleanups) - 1; i >= 0; i-- {
		m.cleanups[i]()
	}
}

// runMounts resolves RUN --mount flags. The returned keys describe the
// mounts for the cache key: bind sources by content, secrets by id only.
func (b *builder) runMounts(ctx context.Context, st *stageState, c *instructions.RunCommand, chain []int) (*runMountSet, []string, error) {
	set := &runMountSet{}
	var keys []string
	for _, m := range instructions.GetMounts(c) {
		target := m.Target
		if target != "" && !path.IsAbs(target) {
			target = st.resolvePath(target)
		}
		switch m.Type {
		case instructions.MountTypeBind:
			sm, key, err := b.bindMount(ctx, st, m, target, set, chain)
			if err != nil {
				set.cleanup()
				return nil, nil, err
			}
			set.mounts = append(set.mounts, sm)
			keys = append(keys, key)
		case instructions.MountTypeCache:
			id := m.CacheID
			if id == "" {
				id = target
			}
			sum := sha256.Sum256([]byte(id))
			dir := filepath.Join(b.opt.Store.Root(), "cache-mounts", hex.EncodeToString(sum[:16]))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				set.cleanup()
				return nil, nil, fmt.Errorf("cache mount %s: %w", id, err)
			}
			set.mounts = append(set.mounts, sandbox.Mount{Type: "cache", Source: dir, Target: target})
			keys = append(keys, "cache:"+target)
		case instructions.MountTypeTmpfs:
			var opts []string
			if m.SizeLimit > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", m.SizeLimit))
			}
			set.mounts = append(set.mounts, sandbox.Mount{Type: "tmpfs", Target: target, Options: opts})
			keys = append(keys, "tmpfs:"+target)
		case instructions.MountTypeSecret:
			id := m.CacheID
			if id == "" {
				id = path.Base(m.Target)
			}
			src, ok := b.opt.Secrets[id]
			if !ok {
				if m.Required {
					set.cleanup()
					return nil, nil, fmt.Errorf("secret %s: not provided (use --secret id=%s,src=FILE)", id, id)
				}
				continue
			}
			if m.Env != nil && *m.Env != "" {
				data, err := os.ReadFile(src)
				if err != nil {
					set.cleanup()
					return nil, nil, fmt.Errorf("secret %s: %w", id, err)
				}
				set.env = append(set.env, *m.Env+"="+string(data))
				if m.Target == "" {
					keys = append(keys, "secret-env:"+id)
					continue
				}
			}
			if target == "" {
				target = "/run/secrets/" + id
			}
			set.mounts = append(set.mounts, sandbox.Mount{Type: "secret", Source: src, Target: target, ReadOnly: true})
			keys = append(keys, "secret:"+id+":"+target)
		default:
			set.cleanup()
			return nil, nil, fmt.Errorf("RUN --mount=type=%s is not supported", m.Type)
		}
	}
	return set, keys, nil
}

// bindMount resolves a bind mount from the context, a stage or an image.
func (b *builder) bindMount(ctx context.Context, st *stageState, m *instructions.Mount, target string, set *runMountSet, chain []int) (sandbox.Mount, string, error) {
	src, err := b.copySource(ctx, st, copySpec{from: m.From, name: "RUN --mount"}, chain)
	if err != nil {
		return sandbox.Mount{}, "", err
	}
	set.cleanups = append(set.cleanups, src.cleanup)
	source := m.Source
	if source == "" {
		source = "/"
	}
	host, err := securejoin.SecureJoin(src.root, source)
	if err != nil {
		return sandbox.Mount{}, "", fmt.Errorf("bind mount source %s: %w", source, err)
	}
	if _, err := os.Lstat(host); err != nil {
		return sandbox.Mount{}, "", fmt.Errorf("bind mount source %s: %w", source, err)
	}
	digest := src.key
	if src.context {
		matches, err := src.ctx.Select(ctx, []string{source})
		if err != nil {
			return sandbox.Mount{}, "", err
		}
		if digest, err = src.ctx.Digest(ctx, matches, ""); err != nil {
			return sandbox.Mount{}, "", err
		}
	}
	ro := m.ReadOnly
	sm := sandbox.Mount{Type: "bind", Source: host, Target: target, ReadOnly: true}
	if !ro {
		// Writes to a rw bind mount are discarded: mount an overlay with
		// a throwaway upper dir over the source.
		dir, cleanup, err := b.scratchOverlay(host)
		if err != nil {
			return sandbox.Mount{}, "", err
		}
		set.cleanups = append(set.cleanups, cleanup)
		sm.Source, sm.ReadOnly = dir, false
	}
	return sm, fmt.Sprintf("bind:%s:%s:%s:%v", source, target, digest, ro), nil
}
