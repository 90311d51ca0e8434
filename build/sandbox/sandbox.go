package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	units "github.com/docker/go-units"
)

// Network selects the network namespace of a RUN step.
type Network string

const (
	// NetworkDefault (BuildKit's "sandbox" mode) gives the step a new
	// network namespace with lo and a tap device served by slirp4netns:
	// outbound connections are made by slirp4netns in the builder's
	// network namespace, the host's loopback is unreachable, and
	// /etc/resolv.conf's loopback nameservers are replaced by slirp4netns's
	// DNS forwarder (see network.go).
	NetworkDefault Network = "default"
	// NetworkHost shares the builder's network namespace (docker build
	// --network=host, BuildKit's network.host entitlement).
	NetworkHost Network = "host"
	// NetworkNone gives the step a new network namespace with only lo up.
	NetworkNone Network = "none"
)

// Isolation engines accepted in Spec.Isolation.
const (
	IsolationBuiltin = "builtin"
	IsolationOCI     = "oci"
)

// DefaultHostname is the hostname used when Spec.Hostname is empty.
const DefaultHostname = "buildkitsandbox"

// Mount is an extra mount of a RUN step (RUN --mount).
type Mount struct {
	// Type is "bind", "tmpfs", "cache" (a host dir mounted read-write) or
	// "secret" (a host file mounted read-only).
	Type string
	// Source is the host path, already resolved by the caller.
	Source string
	// Target is the absolute path inside the container.
	Target string
	// ReadOnly mounts the source read-only.
	ReadOnly bool
	// Options are extra mount options, for example "size=64m" for tmpfs.
	Options []string
}

// Limits are the resource limits of a step; zero means the default.
type Limits struct {
	// Memory is the memory limit in bytes.
	Memory int64
	// Pids is the maximum number of processes.
	Pids int64
	// CPUQuota is the CPU time in µs allowed per 100ms period.
	CPUQuota int64
}

// Spec describes one RUN step.
type Spec struct {
	// Lowerdirs are the read-only overlay layers, top-most first. May be empty.
	Lowerdirs []string
	// Upperdir is a fresh empty directory; after Run it holds the step's
	// changes in overlayfs format.
	Upperdir string
	// Workdir is a fresh empty overlay workdir on the same filesystem as Upperdir.
	Workdir string
	// Rootfs, when set, is a plain directory used as the root file system
	// instead of an overlay (where overlayfs cannot be used); the command
	// changes it in place and Lowerdirs, Upperdir and Workdir are unused.
	// Mount points the sandbox had to create in it are removed afterwards.
	Rootfs string
	// Args is the command line.
	Args []string
	// Env is the environment of the command, plus HOME from the User's
	// passwd entry ("/" without one) when Env has no HOME, as runc sets it.
	Env []string
	// Cwd is the working directory; it is created (root, 0755) when missing.
	Cwd string
	// User is "", "name", "uid", "name:group" or "uid:gid", resolved from the
	// container's /etc/passwd and /etc/group.
	User string
	// Hostname is the container's hostname; DefaultHostname when empty.
	Hostname string
	// Network is the network mode; NetworkDefault when empty.
	Network Network
	// Mounts are extra mounts.
	Mounts []Mount
	// Stdout and Stderr receive the command's output; nil discards it.
	Stdout io.Writer `json:"-"`
	Stderr io.Writer `json:"-"`
	// MergeOutput sends the command's stderr down the same pipe as its
	// stdout (fd 2 is a copy of fd 1), so that Stdout receives both in the
	// order they were written, as BuildKit's step logs; Stderr is unused.
	MergeOutput bool `json:",omitempty"`
	// Settings are those of every step of a build.
	Settings
}

// Settings are the parts of a Spec that a build gives each of its RUN
// steps alike (build.Options.Run holds them).
type Settings struct {
	// Hosts is the content of /etc/hosts; it is kept out of the layer.
	Hosts []byte `json:"-"`
	// ResolvConf is the content of /etc/resolv.conf; it is kept out of the layer.
	ResolvConf []byte `json:"-"`
	// Limits are the resource limits.
	Limits Limits
	// ShmSize is the size of /dev/shm in bytes (--shm-size); 0 means
	// 64 MiB, docker's default.
	ShmSize int64 `json:",omitempty"`
	// Ulimits are the command's resource limits (--ulimit, docker's
	// syntax); RLIMIT_NOFILE defaults to BuildKit's 1048576 (or the host's
	// hard limit when lower).
	Ulimits []*units.Ulimit `json:",omitempty"`
	// Timeout kills the step after this long; 0 means no timeout.
	Timeout time.Duration `json:"-"`
	// NoNewPrivs sets no_new_privs on the command (off by default, so that
	// setuid programs work as under docker build).
	NoNewPrivs bool
	// Seccomp selects the seccomp filter as docker's --security-opt
	// seccomp= does: "" is docker's default profile, "unconfined" none, and
	// anything else the text of a JSON profile.
	Seccomp string `json:",omitempty"`
	// Isolation is IsolationBuiltin (default) or IsolationOCI.
	Isolation string
	// Runtime is the OCI runtime binary for IsolationOCI; "runc" when empty.
	Runtime string
	// Slirp4netns is the slirp4netns binary that serves NetworkDefault;
	// "slirp4netns" (looked up in PATH) when empty.
	Slirp4netns string `json:",omitempty"`
	// ScratchDir is where Run keeps the step's bundle (mount point, stub
	// layer, /etc/hosts); os.TempDir() when empty. Give a private directory
	// of the state directory: a builder killed with SIGKILL leaves its
	// bundle there, and the next Run with the same ScratchDir removes it.
	ScratchDir string
}

// ErrOverlayUnavailable is wrapped by Run's error when the overlay root
// could not be mounted (for example an upper directory on overlayfs); the
// caller may retry with Spec.Rootfs.
var ErrOverlayUnavailable = errors.New("overlayfs unavailable")

// ExitError reports a command that exited with a non-zero status. A command
// killed by a signal has Code 128+signal.
type ExitError struct {
	Code int
}

// Error implements error.
func (e *ExitError) Error() string {
	return fmt.Sprintf("exit code: %d", e.Code)
}

// DefaultCapabilities is docker's default capability set, given to root
// commands and used as the bounding set for every command.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// maskedPaths are hidden from the command, as runc and docker do.
var maskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// readonlyPaths are made read-only, as runc and docker do.
var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// defaultPidsLimit keeps a fork bomb from exhausting the host.
const defaultPidsLimit = 4096

// defaultMemoryCap caps the default memory limit.
const defaultMemoryCap = 8 << 30

// withDefaults validates spec and fills in defaults.
func withDefaults(spec Spec) (Spec, error) {
	if len(spec.Args) == 0 {
		return spec, errors.New("empty command")
	}
	if spec.Rootfs != "" {
		spec.Lowerdirs, spec.Upperdir, spec.Workdir = nil, "", ""
	} else if spec.Upperdir == "" || spec.Workdir == "" {
		return spec, errors.New("upperdir and workdir (or rootfs) are required")
	}
	switch spec.Network {
	case "":
		spec.Network = NetworkDefault
	case NetworkDefault, NetworkHost, NetworkNone:
	default:
		return spec, fmt.Errorf("unknown network mode %q", spec.Network)
	}
	switch spec.Isolation {
	case "":
		spec.Isolation = IsolationBuiltin
	case IsolationBuiltin, IsolationOCI:
	default:
		return spec, fmt.Errorf("unknown isolation %q", spec.Isolation)
	}
	if spec.Runtime == "" {
		spec.Runtime = "runc"
	}
	if spec.Slirp4netns == "" {
		spec.Slirp4netns = "slirp4netns"
	}
	if spec.Hostname == "" {
		spec.Hostname = DefaultHostname
	}
	if spec.Cwd == "" {
		spec.Cwd = "/"
	}
	if !path.IsAbs(spec.Cwd) {
		return spec, fmt.Errorf("working directory %q is not absolute", spec.Cwd)
	}
	// The pseudo filesystems are mounted over the image's directories, so a
	// working directory inside them would resolve through the sandbox's own
	// process state (runc CVE-2024-21626: /proc/self/fd/N).
	for _, pseudo := range []string{"/proc", "/sys", "/dev"} {
		if c := path.Clean(spec.Cwd); c == pseudo || strings.HasPrefix(c, pseudo+"/") {
			return spec, fmt.Errorf("working directory %s is inside %s, which the sandbox mounts over", spec.Cwd, pseudo)
		}
	}
	for _, m := range spec.Mounts {
		if !path.IsAbs(m.Target) {
			return spec, fmt.Errorf("mount target %q is not absolute", m.Target)
		}
		switch m.Type {
		case "bind", "cache", "secret", "tmpfs":
		default:
			return spec, fmt.Errorf("mount %s: unknown type %q", m.Target, m.Type)
		}
	}
	if _, err := rlimits(spec.Settings); err != nil {
		return spec, err
	}
	if spec.Stdout == nil {
		spec.Stdout = io.Discard
	}
	if spec.Stderr == nil {
		spec.Stderr = io.Discard
	}
	return spec, nil
}

// mountTargets lists every path the sandbox mounts over inside the rootfs,
// builtin and user mounts alike, parents before children.
func mountTargets(spec Spec) (dirs, files []string) {
	dirs = []string{"/proc", "/dev", "/sys"}
	files = []string{"/etc/hosts", "/etc/resolv.conf"}
	for _, m := range spec.Mounts {
		if m.Type == "secret" || isFileMount(m) {
			files = append(files, path.Clean(m.Target))
		} else {
			dirs = append(dirs, path.Clean(m.Target))
		}
	}
	return dirs, files
}

// isFileMount reports whether m mounts a single file rather than a directory.
func isFileMount(m Mount) bool {
	if m.Type == "tmpfs" {
		return false
	}
	fi, err := os.Stat(m.Source)
	return err == nil && !fi.IsDir()
}

// defaultShmSize is the size of /dev/shm without Settings.ShmSize.
const defaultShmSize = 64 << 20

// shmData is the tmpfs options of /dev/shm.
func shmData(s Settings) string {
	size := s.ShmSize
	if size <= 0 {
		size = defaultShmSize
	}
	return fmt.Sprintf("mode=1777,size=%dk", (size+1023)/1024)
}

// rlimits are the command's resource limits: RLIMIT_NOFILE's default, then
// Settings.Ulimits, a later setting of a resource replacing an earlier one.
func rlimits(s Settings) ([]rlimit, error) {
	out := []rlimit{{name: "nofile", kind: rlimitNofile, soft: nofileLimit(), hard: nofileLimit()}}
	for _, u := range s.Ulimits {
		rl, err := u.GetRlimit()
		if err != nil {
			return nil, fmt.Errorf("--ulimit %s: %w", u, err)
		}
		r := rlimit{name: u.Name, kind: rl.Type, soft: rl.Soft, hard: rl.Hard}
		replaced := false
		for i := range out {
			if out[i].name == u.Name {
				out[i], replaced = r, true
			}
		}
		if !replaced {
			out = append(out, r)
		}
	}
	return out, nil
}

// rlimit is one resource limit; kind is the RLIMIT_* number.
type rlimit struct {
	name       string
	kind       int
	soft, hard uint64
}

// rlimitNofile is RLIMIT_NOFILE's number (7) on Linux, as go-units knows it.
const rlimitNofile = 7
