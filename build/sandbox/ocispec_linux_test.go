package sandbox

import (
	"context"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestOCISpec(t *testing.T) {
	s := newSpec(t, IsolationOCI, "id")
	s.User = "builder"
	s.Network = NetworkNone
	s.Cwd = "/work"
	s.Limits = Limits{Memory: 64 << 20, Pids: 100, CPUQuota: 50000}
	s.Mounts = []Mount{{Type: "secret", Source: "/etc/hostname", Target: "/run/secrets/x"}}
	got, err := OCISpec(s, testRootfs)
	if err != nil {
		t.Fatal(err)
	}
	p := got.Process
	if p.User.UID != 1000 || p.User.GID != 1000 || !slices.Equal(p.User.AdditionalGids, []uint32{1000, 2000, 3000}) { // the primary group first, as BuildKit's
		t.Errorf("user = %+v", p.User)
	}
	if p.Cwd != "/work" || p.NoNewPrivileges || !slices.Equal(p.Args, s.Args) {
		t.Errorf("process = %+v", p)
	}
	if !slices.Equal(p.Capabilities.Bounding, DefaultCapabilities) || len(p.Capabilities.Effective) != 0 {
		t.Errorf("capabilities of a non-root user = %+v", p.Capabilities)
	}
	if !slices.ContainsFunc(got.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace }) {
		t.Errorf("network none without a network namespace: %+v", got.Linux.Namespaces)
	}
	r := got.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.Pids.Limit != 100 || *r.CPU.Quota != 50000 || *r.CPU.Period != cpuPeriod {
		t.Errorf("resources = %+v", r)
	}
	if !slices.Contains(got.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(got.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("masked %v readonly %v", got.Linux.MaskedPaths, got.Linux.ReadonlyPaths)
	}
	last := got.Mounts[len(got.Mounts)-1]
	if last.Destination != "/run/secrets/x" || !slices.Contains(last.Options, "ro") || !slices.Contains(last.Options, "nodev") {
		t.Errorf("secret mount = %+v", last)
	}
	if !slices.ContainsFunc(got.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.CgroupNamespace }) {
		t.Errorf("no cgroup namespace: %+v", got.Linux.Namespaces)
	}
	sc := got.Linux.Seccomp
	if sc == nil || sc.DefaultAction != specs.ActErrno || len(sc.Architectures) == 0 ||
		!slices.ContainsFunc(sc.Syscalls, func(c specs.LinuxSyscall) bool { return slices.Contains(c.Names, "read") }) ||
		slices.ContainsFunc(sc.Syscalls, func(c specs.LinuxSyscall) bool { return slices.Contains(c.Names, "keyctl") }) {
		t.Errorf("seccomp = %+v, want docker's default profile", sc)
	}
	s.Seccomp = "unconfined"
	if got, err := OCISpec(s, testRootfs); err != nil || got.Linux.Seccomp != nil {
		t.Errorf("unconfined: seccomp %+v, err %v", got.Linux.Seccomp, err)
	}
	s.Seccomp = ""
	s.User = "ghost"
	if _, err := OCISpec(s, testRootfs); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("unknown user: err = %v", err)
	}
}

func TestBrokenRuntime(t *testing.T) {
	tests := []struct{ runtime, want string }{
		{"/bin/false", "failed before starting the container"},
		{"no-such-runtime-xyz", "finding OCI runtime"},
	}
	for _, tt := range tests {
		s := newSpec(t, IsolationOCI, "true")
		s.Runtime = tt.runtime
		err := Run(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("runtime %s: err = %v, want %q", tt.runtime, err, tt.want)
		}
	}
	assertNoLeftovers(t, "ibuild-sandbox-init")
}

// TestOCISpecNetwork: a network namespace for none and default (whose
// path execRuntime fills in), none for host.
func TestOCISpecNetwork(t *testing.T) {
	for _, tc := range []struct {
		network Network
		want    bool
	}{{"", true}, {NetworkDefault, true}, {NetworkNone, true}, {NetworkHost, false}} {
		s := newSpec(t, IsolationOCI, "true")
		s.Network = tc.network
		got, err := OCISpec(s, testRootfs)
		if err != nil {
			t.Fatal(err)
		}
		has := slices.ContainsFunc(got.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace && n.Path == "" })
		if has != tc.want {
			t.Errorf("network %q: new network namespace %v, want %v", tc.network, has, tc.want)
		}
	}
}
