package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// initArg0 is argv[0] of the re-executed binary that sets up the sandbox.
const initArg0 = "ibuild-sandbox-init"

// File descriptors of the re-executed init.
const (
	configFD = 3 // childConfig as JSON, then EOF
	statusFD = 4 // an error message, or EOF when the command was exec'd
	// netFD (5) is the net socket, see network_linux.go.
)

// Modes of the re-executed init.
const (
	modeBuiltin = "builtin"
	modeOCI     = "oci"
)

// childConfig is what the parent sends to the re-executed init.
type childConfig struct {
	Mode string
	Spec Spec
	// Dir is the step's private directory: rootfs, stub layer, etc files.
	Dir string
	// ID names the step (container ID, cgroup name).
	ID string
	// CgroupsPath is the cgroupsPath for an OCI runtime.
	CgroupsPath string
	// Runtime is the absolute path of the OCI runtime.
	Runtime string
	// Stubs is the stub layer below Spec.Lowerdirs, or "" when every mount
	// target already exists in them.
	Stubs string
	// Filter is the seccomp program of Spec.Seccomp (see seccompFilter),
	// empty when unconfined; builtin engine only. It follows the JSON on
	// the config pipe as FilterLen raw bytes: decoding it as a JSON string
	// costs more than the rest of the config.
	Filter    []byte `json:"-"`
	FilterLen int    `json:",omitempty"`
	// slirp is the slirp4netns binary for NetworkDefault (builder only).
	slirp string
}

// Paths inside childConfig.Dir.
const (
	dirRootfs   = "rootfs"
	dirStubs    = "stubs"
	fileCreated = "created.json"
)

func init() {
	if len(os.Args) == 0 || os.Args[0] != initArg0 {
		return
	}
	// Capabilities are per thread: set them on the thread that execs.
	runtime.LockOSThread()
	err := childMain()
	status := os.NewFile(statusFD, "status")
	fmt.Fprint(status, err)
	os.Exit(1)
}

// childMain sets up the sandbox and execs; it returns only on failure.
func childMain() error {
	cfgFile := os.NewFile(configFD, "config")
	var cfg childConfig
	// A spare init that no step claims leaves by itself.
	idle := time.AfterFunc(spareIdle, func() { os.Exit(0) })
	// Build encoding/json's decoder for childConfig while waiting (as a
	// spare, before the step needs it): the first decode of a type is
	// about a millisecond of reflection.
	_ = json.Unmarshal([]byte(`{"Spec":{"Limits":{}}}`), new(childConfig))
	dec := json.NewDecoder(cfgFile)
	err := dec.Decode(&cfg)
	idle.Stop()
	if err == nil && cfg.FilterLen > 0 {
		cfg.Filter = make([]byte, cfg.FilterLen)
		_, err = io.ReadFull(io.MultiReader(dec.Buffered(), cfgFile), cfg.Filter)
	}
	cfgFile.Close()
	if err != nil {
		return fmt.Errorf("reading sandbox config: %w", err)
	}
	unix.CloseOnExec(statusFD)
	unix.CloseOnExec(netFD)
	flags := 0
	if cfg.Mode == modeBuiltin {
		// The mount namespace is made now, not when the init was started
		// (maybe as a spare), so that it holds the host's current mounts
		// (bind mount sources), and the cgroup namespace now that the
		// parent has moved the init into the step's cgroups, so that the
		// step's cgroup is the root of the command's view. Namespaces are
		// per thread: this one execs.
		flags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP
		if cfg.Spec.Network == NetworkNone {
			flags |= unix.CLONE_NEWNET
		}
	}
	if flags != 0 {
		if err := unix.Unshare(flags); err != nil {
			return fmt.Errorf("creating namespaces: %w", err)
		}
	}
	// The init was started in the step's private network namespace,
	// which the OCI runtime joins too (see execRuntime).
	if cfg.Spec.Network == NetworkDefault {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	rootfs := filepath.Join(cfg.Dir, dirRootfs)
	if err := mountRoot(cfg, rootfs); err != nil {
		return err
	}
	if cfg.Mode == modeOCI {
		return execRuntime(cfg, rootfs)
	}
	return builtinChild(cfg, rootfs)
}

// mountRoot mounts the step's root file system at rootfs: the overlay, or
// a bind mount of Spec.Rootfs (pivot_root needs a mount point).
func mountRoot(cfg childConfig, rootfs string) error {
	if cfg.Spec.Rootfs != "" {
		if err := unix.Mount(cfg.Spec.Rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mounting root file system %s: %w", cfg.Spec.Rootfs, err)
		}
		if err := unix.Mount("", rootfs, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_NODEV|lockedFlags(cfg.Spec.Rootfs), ""); err != nil {
			return fmt.Errorf("remounting root file system %s nodev: %w", cfg.Spec.Rootfs, err)
		}
		return nil
	}
	lowers := append([]string{}, cfg.Spec.Lowerdirs...)
	if cfg.Stubs != "" {
		lowers = append(lowers, cfg.Stubs)
	}
	if err := mountOverlay(lowers, cfg.Spec.Upperdir, cfg.Spec.Workdir, rootfs); err != nil {
		return &overlayError{err}
	}
	return nil
}

// overlayError marks a failed overlay mount in the status message, so that
// the parent can report ErrOverlayUnavailable.
type overlayError struct{ err error }

// overlayMarker starts the status message of an overlayError.
const overlayMarker = "overlay-unavailable: "

func (e *overlayError) Error() string { return overlayMarker + e.err.Error() }

// builtinChild builds the container in rootfs, enters it and execs the command.
func builtinChild(cfg childConfig, rootfs string) error {
	spec := cfg.Spec
	lastCap, err := lastCapability()
	if err != nil {
		return err
	}
	created, err := mountAll(cfg, rootfs)
	if err != nil {
		return err
	}
	if data, err := json.Marshal(created); err == nil {
		_ = os.WriteFile(filepath.Join(cfg.Dir, fileCreated), data, 0o600)
	}
	if spec.Network == NetworkNone {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
		return fmt.Errorf("setting hostname: %w", err)
	}
	if err := pivotRoot(rootfs); err != nil {
		return err
	}
	if err := maskPaths(); err != nil {
		return err
	}
	u, err := resolveUser("/", spec.User)
	if err != nil {
		return err
	}
	spec.Env = withHome(spec.Env, u.Home)
	unix.Umask(0o022)
	if err := enterCwd(spec.Cwd); err != nil {
		return err
	}
	argv0, err := lookPath(spec.Args[0], spec.Env)
	if err != nil {
		return err
	}
	rls, err := rlimits(spec.Settings)
	if err != nil {
		return err
	}
	for _, r := range rls {
		if err := unix.Setrlimit(r.kind, &unix.Rlimit{Cur: r.soft, Max: r.hard}); err != nil {
			return fmt.Errorf("setting RLIMIT_%s: %w", strings.ToUpper(r.name), err)
		}
	}
	if err := joinSessionKeyring(cfg.ID); err != nil {
		return err
	}
	// As in runc: without no_new_privs, loading a filter needs
	// CAP_SYS_ADMIN, so it is loaded before the capabilities are dropped
	// (docker's profile allows the calls that follow: prctl, capset,
	// setgroups, setresuid, close_range, execve); with no_new_privs it is
	// loaded last, just before exec.
	if !spec.NoNewPrivs {
		if err := installFilter(cfg.Filter); err != nil {
			return err
		}
	}
	if err := dropPrivileges(u, lastCap, spec.NoNewPrivs); err != nil {
		return err
	}
	if err := mergeOutput(spec); err != nil {
		return err
	}
	if spec.Network == NetworkDefault {
		if err := awaitNetwork(); err != nil {
			return err
		}
	}
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("closing file descriptors: %w", err)
	}
	if spec.NoNewPrivs {
		if err := installFilter(cfg.Filter); err != nil {
			return err
		}
	}
	err = unix.Exec(argv0, spec.Args, spec.Env)
	return fmt.Errorf("exec %s: %w", spec.Args[0], err)
}

// enterCwd creates cwd inside the (already pivoted) root and changes into
// it, then verifies that the kernel agrees the directory is inside the root,
// so that a path like /proc/self/fd/N can never reach a host directory.
func enterCwd(cwd string) error {
	p, err := securejoin.SecureJoin("/", cwd)
	if err != nil {
		return fmt.Errorf("resolving working directory %s: %w", cwd, err)
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("creating working directory %s: %w", cwd, err)
	}
	if err := unix.Chdir(p); err != nil {
		return fmt.Errorf("changing to working directory %s: %w", cwd, err)
	}
	got, err := unix.Getwd()
	if err != nil || !strings.HasPrefix(got, "/") {
		return fmt.Errorf("working directory %s is outside the container root", cwd)
	}
	return nil
}

// lookPath finds file in the PATH of env, inside the container root.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	pathEnv := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
}

// lastCapability reads the highest capability number the kernel knows.
func lastCapability() (int, error) {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("reading cap_last_cap: %w", err)
	}
	var n int
	if _, err := fmt.Sscan(string(data), &n); err != nil {
		return 0, errors.New("parsing cap_last_cap")
	}
	return n, nil
}

// mergeOutput makes fd 2 a copy of fd 1 when spec.MergeOutput asks for one
// ordered output stream.
func mergeOutput(spec Spec) error {
	if !spec.MergeOutput {
		return nil
	}
	if err := unix.Dup3(1, 2, 0); err != nil {
		return fmt.Errorf("merging stderr into stdout: %w", err)
	}
	return nil
}
