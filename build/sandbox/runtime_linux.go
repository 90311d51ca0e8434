package sandbox

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// runtimeChecks memoises checkRuntime per runtime binary.
var runtimeChecks sync.Map // path -> error (nil for a usable runtime)

// checkRuntime refuses OCI runtimes the oci engine cannot drive, with a
// message that says why, instead of the runtime's own usage error. The
// engine uses runc's command line (`run --keep --bundle ... --pid-file`);
// crun has no --keep, and crun 1.8 also refuses hosts whose cgroup v1
// hierarchies sit beside a cgroup2 "unified" mount (hybrid hosts).
func checkRuntime(path string) error {
	if v, ok := runtimeChecks.Load(path); ok {
		err, _ := v.(error)
		return err
	}
	err := runtimeError(path)
	runtimeChecks.Store(path, err)
	return err
}

func runtimeError(path string) error {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		// Not recognisably crun: running the step says what is wrong.
		return nil
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if !strings.HasPrefix(first, "crun ") {
		return nil
	}
	why := "ibuild drives runc's command line (run --keep), which crun lacks"
	if hybridCgroups() {
		why = "crun refuses this host's hybrid cgroup layout (cgroup v1 with a cgroup2 unified hierarchy), and " + why
	}
	return fmt.Errorf("OCI runtime %s (%s) is not supported: %s; use runc (--runtime runc, the default) or --isolation builtin", path, first, why)
}

// hybridCgroups reports whether /sys/fs/cgroup holds v1 hierarchies with a
// cgroup2 mount at /sys/fs/cgroup/unified.
func hybridCgroups() bool {
	var root, unified unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &root) != nil || unix.Statfs("/sys/fs/cgroup/unified", &unified) != nil {
		return false
	}
	return root.Type != unix.CGROUP2_SUPER_MAGIC && unified.Type == unix.CGROUP2_SUPER_MAGIC
}
