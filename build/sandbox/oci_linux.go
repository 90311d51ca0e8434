package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Files of the OCI engine inside the step directory (the bundle).
const (
	ociConfig  = "config.json"
	ociState   = "runtime-state"
	ociLog     = "runtime.log"
	ociPidFile = "container.pid"
)

// execRuntime runs in the helper process, which owns the mount namespace in
// which the overlay is mounted at rootfs: it writes config.json and execs
// the OCI runtime in the foreground.
func execRuntime(cfg childConfig, rootfs string) error {
	s, err := OCISpec(cfg.Spec, rootfs)
	if err != nil {
		return err
	}
	s.Linux.CgroupsPath = cfg.CgroupsPath
	if cfg.Spec.Network == NetworkDefault {
		// This helper's namespace, which slirp4netns serves; the runtime
		// runs as this process (or its child, runDetached) meanwhile.
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/net", os.Getpid())
			}
		}
	}
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding runtime config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, ociConfig), data, 0o600); err != nil {
		return fmt.Errorf("writing runtime config: %w", err)
	}
	args := []string{cfg.Runtime,
		"--root", filepath.Join(cfg.Dir, ociState),
		"--log", filepath.Join(cfg.Dir, ociLog), "--log-format", "json",
		"run", "--keep", "--bundle", cfg.Dir, "--pid-file", filepath.Join(cfg.Dir, ociPidFile), cfg.ID}
	if cfg.Spec.Network == NetworkDefault {
		if err := awaitNetwork(); err != nil {
			return err
		}
	}
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("closing file descriptors: %w", err)
	}
	if cfg.Spec.MergeOutput {
		return runDetached(cfg, args)
	}
	err = unix.Exec(cfg.Runtime, args, os.Environ())
	return fmt.Errorf("exec %s: %w", cfg.Runtime, err)
}

// runDetached runs the container so that its stdout and stderr are one
// pipe, in order: a foreground runc copies the two through pipes of its
// own, a detached one lets the container inherit its stdio, here fd 1 with
// fd 2 a copy of it. This helper is made a child subreaper, so the
// container's init becomes its child once runc has started it and
// exited; the helper waits for it and exits as a foreground runc would
// (the command's status, 128+signal for a signal).
func runDetached(cfg childConfig, args []string) error {
	if err := mergeOutput(cfg.Spec); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("becoming a subreaper: %w", err)
	}
	run := slices.Index(args, "run")
	detached := append(append(append([]string(nil), args[1:run+1]...), "--detach"), args[run+1:]...)
	cmd := exec.Command(cfg.Runtime, detached...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stdout
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode()) // the runtime's log says why
		}
		return fmt.Errorf("running %s: %w", cfg.Runtime, err)
	}
	data, err := os.ReadFile(filepath.Join(cfg.Dir, ociPidFile))
	if err != nil {
		return fmt.Errorf("reading the container's pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("reading the container's pid: %w", err)
	}
	code := -1
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			break // ECHILD: the container and what it left are gone
		}
		if wpid == pid {
			code = ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
	}
	if code < 0 {
		return fmt.Errorf("the container's init (pid %d) was not reaped", pid)
	}
	os.Exit(code)
	return nil
}

// waitRuntime waits for the OCI runtime's foreground run, bounding the time
// it takes to start the container.
func waitRuntime(ctx context.Context, cfg childConfig, done <-chan error, kill func()) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(startupTimeout)
	defer deadline.Stop()
	started := false
	for {
		select {
		case err := <-done:
			if err == nil {
				return nil
			}
			if msg := runtimeErrors(filepath.Join(cfg.Dir, ociLog)); msg != "" {
				return fmt.Errorf("OCI runtime %s: %s", cfg.Runtime, msg)
			}
			if _, serr := os.Stat(filepath.Join(cfg.Dir, ociPidFile)); serr != nil {
				return fmt.Errorf("OCI runtime %s failed before starting the container: %w", cfg.Runtime, err)
			}
			return exitStatus(err)
		case <-ctx.Done():
			kill()
			<-done
			return ctx.Err()
		case <-tick.C:
			if !started {
				_, err := os.Stat(filepath.Join(cfg.Dir, ociPidFile))
				started = err == nil
			}
		case <-deadline.C:
			if !started {
				kill()
				<-done
				return fmt.Errorf("OCI runtime %s did not start the container within %s", cfg.Runtime, startupTimeout)
			}
		}
	}
}

// runtimeErrors returns the error-level messages of a JSON runtime log.
func runtimeErrors(logPath string) string {
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	var msgs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var entry struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &entry) == nil && (entry.Level == "error" || entry.Level == "fatal") {
			msgs = append(msgs, entry.Msg)
		}
	}
	return strings.Join(msgs, "; ")
}
