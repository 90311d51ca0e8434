package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const cgroupRoot = "/sys/fs/cgroup"

// stepPrefix starts the name of every step's directory and cgroup; the
// builder's pid follows.
const stepPrefix = "ibuild-sandbox-"

// sweepOnce runs sweepStaleCgroups once per process.
var sweepOnce sync.Once

// cgroup is the per-step cgroup, in every hierarchy (v1) or the unified one (v2).
type cgroup struct {
	v2 bool
	// dirs maps a v1 controller name ("" for v2) to the step's directory.
	dirs map[string]string
	// ociPath is the cgroupsPath handed to an OCI runtime for the same cgroup.
	ociPath string
	// none marks a step without cgroups (see noCgroup).
	none bool
}

// newCgroup computes the step cgroup id's paths: nested below the
// builder's own cgroup on v1, below /sys/fs/cgroup/ibuild on v2.
func newCgroup(id string) (*cgroup, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(cgroupRoot, &st); err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", cgroupRoot, err)
	}
	rel := filepath.Join("ibuild", id)
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		cg := &cgroup{v2: true, dirs: map[string]string{"": filepath.Join(cgroupRoot, rel)}, ociPath: "/" + rel}
		sweepOnce.Do(func() { sweepStaleCgroups(cg) })
		return cg, nil
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	cg := &cgroup{dirs: map[string]string{}, ociPath: rel}
	defer sweepOnce.Do(func() { sweepStaleCgroups(cg) })
	for ctrl, m := range mounts {
		p, ok := own[ctrl]
		if !ok {
			continue
		}
		sub, err := filepath.Rel(m.root, p)
		if err != nil || strings.HasPrefix(sub, "..") {
			continue
		}
		cg.dirs[ctrl] = filepath.Join(m.point, sub, rel)
	}
	return cg, nil
}

// ownCgroups maps each v1 controller (and "" for the unified hierarchy of a
// hybrid host) to this process's cgroup path.
func ownCgroups() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("reading own cgroups: %w", err)
	}
	own := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			own[""] = parts[2] // the unified hierarchy of a hybrid host
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	return own, nil
}

type cgroupMount struct{ point, root string }

// cgroupMounts maps each mounted v1 controller to its mount.
func cgroupMounts() (map[string]cgroupMount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	mounts := map[string]cgroupMount{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := indexOf(fields, "-")
		if sep < 0 || sep+3 >= len(fields) {
			continue
		}
		if fields[sep+1] == "cgroup2" {
			// OCI runtimes also create the step's cgroup here on hybrid hosts.
			mounts[""] = cgroupMount{point: fields[4], root: fields[3]}
		}
		if fields[sep+1] != "cgroup" {
			continue
		}
		for _, opt := range strings.Split(fields[sep+3], ",") {
			if _, seen := mounts[opt]; !seen && opt != "rw" && opt != "ro" {
				mounts[opt] = cgroupMount{point: fields[4], root: fields[3]}
			}
		}
	}
	return mounts, sc.Err()
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// create makes the cgroup directories and applies l (defaults filled in).
func (c *cgroup) create(l Limits) error {
	if c.none {
		return nil
	}
	l = effectiveLimits(l)
	if c.v2 {
		return c.createV2(l)
	}
	writes := []struct{ ctrl, file, value string }{
		{"memory", "memory.limit_in_bytes", strconv.FormatInt(l.Memory, 10)},
		{"memory", "memory.memsw.limit_in_bytes", strconv.FormatInt(l.Memory, 10)},
		{"pids", "pids.max", strconv.FormatInt(l.Pids, 10)},
	}
	if l.CPUQuota > 0 {
		writes = append(writes,
			struct{ ctrl, file, value string }{"cpu", "cpu.cfs_period_us", strconv.Itoa(cpuPeriod)},
			struct{ ctrl, file, value string }{"cpu", "cpu.cfs_quota_us", strconv.FormatInt(l.CPUQuota, 10)})
	}
	for _, ctrl := range []string{"memory", "pids", "cpu"} {
		dir, ok := c.dirs[ctrl]
		if !ok {
			return fmt.Errorf("cgroup controller %s is not mounted", ctrl)
		}
		if err := mkdirRetry(dir); err != nil {
			return fmt.Errorf("creating cgroup: %w", err)
		}
	}
	for _, w := range writes {
		err := os.WriteFile(filepath.Join(c.dirs[w.ctrl], w.file), []byte(w.value), 0o644)
		if err != nil && !(w.file == "memory.memsw.limit_in_bytes" && errors.Is(err, fs.ErrNotExist)) {
			return fmt.Errorf("setting cgroup %s: %w", w.file, err)
		}
	}
	devErr := c.createDevices()
	if devErr != nil && !errors.Is(devErr, errNoDevicesController) && !inUserNS() {
		return devErr
	}
	// On a hybrid host the step also gets its own cgroup in the unified
	// hierarchy (no controllers there), so that its cgroup namespace does
	// not show the host's whole unified tree.
	if dir, ok := c.dirs[""]; ok {
		if err := mkdirRetry(dir); err != nil {
			return fmt.Errorf("creating cgroup: %w", err)
		}
		// The same device rules as an eBPF program, as on cgroup v2. Where
		// the v1 devices cgroup enforces them this is defence in depth;
		// without it, it is the allow-list.
		if err := attachDeviceFilter(dir); err == nil {
			devErr = nil
		} else if devErr != nil {
			devErr = fmt.Errorf("%w, and %w", devErr, err)
		}
	}
	if inUserNS() {
		return nil // no device cgroup is needed: the kernel refuses mknod and opens nodes only on host mounts
	}
	return devErr
}

// allowedDevices are the device rules of runc's AllowedDevices (libcontainer
// specconv), which docker's containers get: creating any device node, and
// using only /dev/null, zero, full, random, urandom, tty, ptmx, the
// pseudo-terminals and /dev/net/tun; not /dev/console (5:1), which runc's
// list lacks too (TestBreakoutCgroups compares with what runc sets).
var allowedDevices = []string{
	"c *:* m", "b *:* m",
	"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
	"c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
}

// errNoDevicesController: the v1 devices controller is not mounted.
var errNoDevicesController = errors.New("cgroup controller devices is not mounted")

// createDevices makes the step's v1 devices cgroup, denying every device
// but allowedDevices.
func (c *cgroup) createDevices() error {
	dir, ok := c.dirs["devices"]
	if !ok {
		return errNoDevicesController
	}
	if err := mkdirRetry(dir); err != nil {
		return fmt.Errorf("creating cgroup: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "devices.deny"), []byte("a"), 0o644); err != nil {
		return fmt.Errorf("setting cgroup devices.deny: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "devices.allow"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("setting cgroup devices.allow: %w", err)
	}
	defer f.Close()
	for _, rule := range allowedDevices {
		// One rule per write(2): the kernel parses one per call.
		if _, err := f.WriteString(rule); err != nil {
			return fmt.Errorf("setting cgroup devices.allow %q: %w", rule, err)
		}
	}
	return nil
}

func (c *cgroup) createV2(l Limits) error {
	dir := c.dirs[""]
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating cgroup: %w", err)
	}
	for _, p := range []string{cgroupRoot, parent} {
		// Best effort: controllers may already be enabled or unavailable.
		_ = os.WriteFile(filepath.Join(p, "cgroup.subtree_control"), []byte("+memory +pids +cpu"), 0o644)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("creating cgroup: %w", err)
	}
	if err := attachDeviceFilter(dir); err != nil && !inUserNS() {
		return err
	}
	writes := map[string]string{
		"memory.max":      strconv.FormatInt(l.Memory, 10),
		"memory.swap.max": "0",
		"pids.max":        strconv.FormatInt(l.Pids, 10),
	}
	if l.CPUQuota > 0 {
		writes["cpu.max"] = fmt.Sprintf("%d %d", l.CPUQuota, cpuPeriod)
	}
	for file, v := range writes {
		err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0o644)
		if err != nil && !(file == "memory.swap.max" && errors.Is(err, fs.ErrNotExist)) {
			return fmt.Errorf("setting cgroup %s: %w", file, err)
		}
	}
	return nil
}

// add moves pid into the cgroup.
func (c *cgroup) add(pid int) error {
	for _, dir := range c.dirs {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("joining cgroup %s: %w", dir, err)
		}
	}
	return nil
}

// counter returns the value of key in the flat-keyed file of ctrl.
func (c *cgroup) counter(ctrl, file, key string) int64 {
	dir, ok := c.dirs[ctrl]
	if !ok {
		return 0
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) == 2 && f[0] == key {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// oomKilled reports whether the OOM killer killed a process of the cgroup.
func (c *cgroup) oomKilled() bool {
	if c.v2 {
		return c.counter("", "memory.events", "oom_kill") > 0
	}
	return c.counter("memory", "memory.oom_control", "oom_kill") > 0
}

// pidsExhausted reports whether a fork failed at the process limit.
func (c *cgroup) pidsExhausted() bool {
	if c.v2 {
		return c.counter("", "pids.events", "max") > 0
	}
	return c.counter("pids", "pids.events", "max") > 0
}

// destroy kills every process left in the cgroup and removes it from every
// hierarchy, including directories an OCI runtime created.
func (c *cgroup) destroy() error {
	var errs []error
	for _, dir := range c.dirs {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		killAll(dir, c.v2)
		if err := rmdirRetry(dir); err != nil {
			errs = append(errs, fmt.Errorf("removing cgroup: %w", err))
		}
	}
	return errors.Join(errs...)
}

// killAll SIGKILLs the processes of the cgroup at dir until none is left.
func killAll(dir string, v2 bool) {
	if v2 {
		_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0o644)
	}
	for i := 0; i < 200; i++ {
		data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			return
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sweepStaleCgroups removes the empty step cgroups, next to c's, of
// builders that are no longer running: a builder killed with SIGKILL cannot
// remove its own.
func sweepStaleCgroups(c *cgroup) {
	for _, dir := range c.dirs {
		parent := filepath.Dir(dir)
		ents, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range ents {
			pid, ok := stepOwner(e.Name())
			if !ok || !e.IsDir() || syscall.Kill(pid, 0) != unix.ESRCH {
				continue
			}
			_ = unix.Rmdir(filepath.Join(parent, e.Name())) // fails unless empty
		}
	}
}

// stepOwner parses the builder pid out of a step name "ibuild-sandbox-PID-RAND".
func stepOwner(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, stepPrefix)
	if !ok {
		return 0, false
	}
	pidStr, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidStr)
	return pid, err == nil && pid > 0
}

// rmdirRetry removes a cgroup directory, waiting briefly while it is busy.
func rmdirRetry(dir string) error {
	var err error
	for i := 0; i < 100; i++ {
		err = unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil // the shared "ibuild" parent stays for the next step
		}
		if !errors.Is(err, unix.EBUSY) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// mkdirRetry creates dir and its parents, retrying when a concurrent step
// removes the shared parent in between.
func mkdirRetry(dir string) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = os.MkdirAll(dir, 0o755); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}
