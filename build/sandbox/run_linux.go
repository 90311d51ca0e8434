package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	units "github.com/docker/go-units"
)

// startupTimeout bounds how long an OCI runtime may take to start the container.
const startupTimeout = 30 * time.Second

// Run runs spec's command and waits for it. A non-zero exit is an
// *ExitError (128+signal for a signal), wrapped with an explanation when the
// memory or process limit was hit. When ctx is done or spec.Timeout expires
// the whole process tree is killed, and Run returns once no process, mount
// or cgroup of the step is left.
func Run(ctx context.Context, spec Spec) error {
	spec, err := withDefaults(spec)
	if err != nil {
		return err
	}
	runCtx := ctx
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	// The builder's pid in the name lets a later builder remove the
	// cgroups of one that was killed before it could (sweepStaleCgroups).
	dir, err := makeScratch(spec.ScratchDir)
	if err != nil {
		return err
	}
	defer removeScratch(dir)
	cfg := childConfig{Mode: spec.Isolation, Spec: spec, Dir: dir, ID: filepath.Base(dir)}
	if cfg.Filter, err = seccompFilter(spec.Seccomp); err != nil {
		return err
	}
	if spec.Isolation == IsolationOCI {
		cfg.Filter = nil // runc compiles the profile itself
	}
	if spec.Network == NetworkDefault {
		if cfg.slirp, err = lookSlirp(spec.Slirp4netns); err != nil {
			return err
		}
	}
	if spec.Rootfs == "" && stubsNeeded(spec) {
		cfg.Stubs = filepath.Join(dir, dirStubs)
	}
	if err := writeBundleFiles(cfg); err != nil {
		return fmt.Errorf("preparing sandbox: %w", err)
	}
	existed := existingPaths(spec)
	cg, err := newCgroup(cfg.ID)
	if err != nil {
		return err
	}
	if cgroupProbe() != nil {
		cg = noCgroup() // rootless without a delegated hierarchy
	}
	cfg.CgroupsPath = cg.ociPath
	if spec.Isolation == IsolationOCI && inUserNS() {
		return errors.New("--isolation=oci is not supported in a user namespace (rootless); the builtin engine is")
	}
	if spec.Isolation == IsolationOCI {
		if cfg.Runtime, err = exec.LookPath(spec.Runtime); err != nil {
			_ = cg.destroy()
			return fmt.Errorf("finding OCI runtime: %w", err)
		}
		if err := checkRuntime(cfg.Runtime); err != nil {
			_ = cg.destroy()
			return err
		}
	} else if err := cg.create(spec.Limits); err != nil {
		_ = cg.destroy()
		return err
	}
	err = runChild(runCtx, cfg, cg)
	err = explain(err, cg, spec)
	if cerr := cg.destroy(); cerr != nil && err == nil {
		err = cerr
	}
	var created []string
	if data, rerr := os.ReadFile(filepath.Join(dir, fileCreated)); rerr == nil {
		_ = json.Unmarshal(data, &created)
	}
	if spec.Rootfs != "" {
		sweepCreated(spec.Rootfs, existed, stubPaths(spec, created))
	} else {
		sweepStubs(spec.Upperdir, spec.Lowerdirs, stubPaths(spec, created))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("running %q: %w", spec.Args, context.Cause(ctx))
	}
	if runCtx.Err() != nil {
		return fmt.Errorf("running %q: timed out after %s", spec.Args, spec.Timeout)
	}
	return err
}

// explain wraps an exit caused by a resource limit with the limit.
func explain(err error, cg *cgroup, spec Spec) error {
	var ee *ExitError
	if !errors.As(err, &ee) {
		return err
	}
	l := effectiveLimits(spec.Limits)
	if cg.oomKilled() {
		return fmt.Errorf("memory limit of %s exceeded (killed by the OOM killer): %w", units.BytesSize(float64(l.Memory)), err)
	}
	if cg.pidsExhausted() {
		return fmt.Errorf("process limit of %d reached: %w", l.Pids, err)
	}
	return err
}

// writeBundleFiles creates the rootfs mount point, the stub layer (if any) and the
// files mounted over /etc/hosts and /etc/resolv.conf.
func writeBundleFiles(cfg childConfig) error {
	dir, spec := cfg.Dir, cfg.Spec
	if err := os.Mkdir(filepath.Join(dir, dirRootfs), 0o755); err != nil {
		return err
	}
	if cfg.Stubs != "" {
		if err := makeStubLayer(cfg.Stubs, spec); err != nil {
			return err
		}
	}
	resolv := spec.ResolvConf
	if spec.Network == NetworkDefault {
		resolv = privateResolvConf(resolv)
	}
	files := map[string][]byte{
		bundleHosts:      spec.Hosts,
		bundleResolvConf: resolv,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// runChild hands cfg to a started init (the spare, or a new one) and waits
// for the command (or the OCI runtime) to finish.
func runChild(ctx context.Context, cfg childConfig, cg *cgroup) error {
	p, err := takeInit(cfg.Mode, cfg.slirp)
	if err != nil {
		return err
	}
	defer prewarmAfter(cfg.Mode, cfg.slirp)
	finish := p.copyOutput(cfg.Spec.Stdout, cfg.Spec.Stderr)
	defer finish()
	kill := func() {
		_ = p.cmd.Process.Kill()
		killAllCgroups(cg)
	}
	if cfg.Mode == modeBuiltin {
		if err := cg.add(p.cmd.Process.Pid); err != nil {
			kill()
			<-p.done
			return err
		}
	}
	cfg.FilterLen = len(cfg.Filter)
	data, err := json.Marshal(cfg)
	if err == nil {
		_, err = p.cfgW.Write(append(data, cfg.Filter...))
	}
	if err != nil {
		kill()
		<-p.done
		return fmt.Errorf("configuring sandbox: %w", err)
	}
	p.cfgW.Close()
	status := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(p.statR); status <- b }()
	select {
	case msg := <-status:
		if len(msg) > 0 {
			<-p.done
			if rest, ok := strings.CutPrefix(string(msg), overlayMarker); ok {
				return fmt.Errorf("setting up sandbox: %w: %s", ErrOverlayUnavailable, rest)
			}
			return fmt.Errorf("setting up sandbox: %s", tunHint(p.slirp.explain(string(msg))))
		}
	case <-ctx.Done():
		kill()
		return <-p.done
	}
	if cfg.Mode == modeOCI {
		return waitRuntime(ctx, cfg, p.done, kill)
	}
	select {
	case err = <-p.done:
	case <-ctx.Done():
		kill()
		err = <-p.done
	}
	return exitStatus(err)
}

// killAllCgroups kills whatever is left in the step's cgroup.
func killAllCgroups(cg *cgroup) {
	for _, dir := range cg.dirs {
		killAll(dir, cg.v2)
	}
}

// exitStatus converts the result of exec.Cmd.Wait to an *ExitError.
func exitStatus(err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok {
		return err
	}
	if ws.Signaled() {
		return &ExitError{Code: 128 + int(ws.Signal())}
	}
	return &ExitError{Code: ws.ExitStatus()}
}
