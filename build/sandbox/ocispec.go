package sandbox

import (
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Names of the files beside the rootfs of an OCI bundle that OCISpec mounts
// over /etc/hosts and /etc/resolv.conf.
const (
	bundleHosts      = "hosts"
	bundleResolvConf = "resolv.conf"
)

// etcMountOptions are BuildKit's options for the /etc/hosts and
// /etc/resolv.conf binds (executor/oci withROBind): read-only, so that
// a RUN cannot change them (nor commit them). BuildKit mounts nothing over
// /etc/hostname: a RUN sees, changes or removes the image's own file, and
// the change is committed.
var etcMountOptions = []string{"nosuid", "noexec", "nodev"}

// maxNofile is RLIMIT_NOFILE of the command, as in BuildKit, unless the
// builder's own hard limit is lower.
const maxNofile = 1048576

// OCISpec returns the runtime-spec configuration that runs spec in a bundle
// whose root filesystem is rootfs (the merged overlay, already mounted). The
// USER is resolved from rootfs's /etc/passwd and /etc/group. /etc/hosts and
// /etc/resolv.conf are bind-mounted read-only from files named "hosts" and
// "resolv.conf" in rootfs's parent directory (the bundle), which the caller
// writes. Linux.CgroupsPath is left empty.
func OCISpec(spec Spec, rootfs string) (*specs.Spec, error) {
	spec, err := withDefaults(spec)
	if err != nil {
		return nil, err
	}
	u, err := resolveUser(rootfs, spec.User)
	if err != nil {
		return nil, err
	}
	caps := &specs.LinuxCapabilities{Bounding: DefaultCapabilities}
	if u.UID == 0 {
		caps.Effective = DefaultCapabilities
		caps.Permitted = DefaultCapabilities
	}
	limits, err := rlimits(spec.Settings)
	if err != nil {
		return nil, err
	}
	var rl []specs.POSIXRlimit
	for _, r := range limits {
		rl = append(rl, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(r.name), Soft: r.soft, Hard: r.hard})
	}
	sc, err := seccompProfile(spec.Seccomp)
	if err != nil {
		return nil, err
	}
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs},
		Process: &specs.Process{
			User:            specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.Groups},
			Args:            spec.Args,
			Env:             withHome(spec.Env, u.Home),
			Cwd:             spec.Cwd,
			Capabilities:    caps,
			Rlimits:         rl,
			NoNewPrivileges: spec.NoNewPrivs,
		},
		Hostname: spec.Hostname,
		Mounts:   ociMounts(spec, filepath.Dir(rootfs)),
		Linux: &specs.Linux{
			Namespaces:    ociNamespaces(spec.Network),
			Resources:     ociResources(spec.Limits),
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
			Seccomp:       sc,
		},
	}
	return s, nil
}

func ociNamespaces(n Network) []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
		{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
		{Type: specs.CgroupNamespace},
	}
	// NetworkDefault's namespace is the one slirp4netns serves: the
	// caller sets its Path (execRuntime does); without one the runtime
	// makes a new namespace, as for NetworkNone, never the host's.
	if n == NetworkNone || n == NetworkDefault {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	return ns
}

func ociResources(l Limits) *specs.LinuxResources {
	l = effectiveLimits(l)
	r := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory:  &specs.LinuxMemory{Limit: &l.Memory, Swap: &l.Memory},
		Pids:    &specs.LinuxPids{Limit: &l.Pids},
	}
	if l.CPUQuota > 0 {
		period := uint64(cpuPeriod)
		r.CPU = &specs.LinuxCPU{Quota: &l.CPUQuota, Period: &period}
	}
	return r
}

func ociMounts(spec Spec, bundle string) []specs.Mount {
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: append([]string{"nosuid", "noexec", "nodev"}, strings.Split(shmData(spec.Settings), ",")...)},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/etc/hosts", Type: "bind", Source: filepath.Join(bundle, bundleHosts), Options: append([]string{"rbind", "rprivate", "ro"}, etcMountOptions...)},
		{Destination: "/etc/resolv.conf", Type: "bind", Source: filepath.Join(bundle, bundleResolvConf), Options: append([]string{"rbind", "rprivate", "ro"}, etcMountOptions...)},
	}
	for _, m := range spec.Mounts {
		ms = append(ms, ociUserMount(m))
	}
	return ms
}

func ociUserMount(m Mount) specs.Mount {
	if m.Type == "tmpfs" {
		opts := append([]string{"nosuid", "nodev"}, m.Options...)
		return specs.Mount{Destination: m.Target, Type: "tmpfs", Source: "tmpfs", Options: opts}
	}
	opts := []string{"rbind", "rprivate", "nodev"}
	if m.ReadOnly || m.Type == "secret" {
		opts = append(opts, "ro")
	}
	for _, o := range m.Options {
		if !strings.HasPrefix(o, "size=") {
			opts = append(opts, o)
		}
	}
	return specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source, Options: opts}
}

// cpuPeriod is the CFS period that Limits.CPUQuota is relative to, in µs.
const cpuPeriod = 100000

// effectiveLimits fills in the default limits.
func effectiveLimits(l Limits) Limits {
	if l.Pids <= 0 {
		l.Pids = defaultPidsLimit
	}
	if l.Memory <= 0 {
		l.Memory = defaultMemoryLimit()
	}
	return l
}
