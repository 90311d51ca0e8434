package build

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/ibuild/ibuild/build/sandbox"
)

// maxSecretSize is BuildKit's limit on one secret (500 KiB).
const maxSecretSize = 500 * 1024

// secretMount provides secret p.id to the step as BuildKit does: a file at
// the target (default /run/secrets/ID) owned by uid:gid (default 0:0)
// with the mount's mode (default 0400), and/or an environment variable
// (env=NAME). The file is a private copy, so the host file's own mode and
// owner never show. A missing secret fails the step only when required.
func (b *builder) secretMount(p mountPlan, set *runMountSet) error {
	m := p.m
	src, ok := b.opt.Run.Secrets[p.id]
	if !ok {
		if m.Required {
			return fmt.Errorf("secret %s: not provided (use --secret id=%s,src=FILE)", p.id, p.id)
		}
		return nil
	}
	data, err := readSecret(src)
	if err != nil {
		return fmt.Errorf("secret %s: %w", p.id, err)
	}
	if m.Env != nil {
		name := *m.Env
		if name == "" {
			name = p.id
		}
		set.env = append(set.env, name+"="+string(data))
		if m.Target == "" {
			return nil
		}
	}
	target := p.target
	if target == "" {
		target = "/run/secrets/" + path.Base(p.id)
	}
	mode, uid, gid := p.perm(0o400)
	dir, err := b.opt.Store.TempDir("secret-")
	if err != nil {
		return fmt.Errorf("secret %s: %w", p.id, err)
	}
	set.cleanups = append(set.cleanups, func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "secret")
	if err := writeSecret(file, data, mode, uid, gid); err != nil {
		return fmt.Errorf("secret %s: %w", p.id, err)
	}
	set.mounts = append(set.mounts, sandbox.Mount{Type: "secret", Source: file, Target: target, ReadOnly: true})
	return nil
}

// readSecret reads a secret file of at most maxSecretSize bytes.
func readSecret(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSecretSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxSecretSize)
	}
	return data, nil
}

// writeSecret writes the private copy with its final owner and mode.
func writeSecret(name string, data []byte, mode os.FileMode, uid, gid int) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chown(name, uid, gid); err != nil && (uid != os.Geteuid() || gid != os.Getegid()) {
		return fmt.Errorf("setting the owner %d:%d: %w", uid, gid, err)
	}
	return os.Chmod(name, mode)
}
