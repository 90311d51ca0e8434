package rootless

// The process tree of a rootless build (ibuild run by a user other than
// root; the names are those ps shows):
//
//	ibuild                     host uid U, gid G, the host's user namespace
//	│                          (or root without CAP_SYS_ADMIN, as in a
//	│                          container run without --privileged: its ids
//	│                          are mapped to themselves, no newuidmap).
//	│                          Enter: checks that user namespaces can be
//	│                          made, reads /etc/subuid and /etc/subgid,
//	│                          finds newuidmap/newgidmap, starts the child,
//	│                          maps its ids, relays SIGINT/SIGTERM/SIGHUP,
//	│                          exits with the child's status. Nothing else.
//	└─ ibuild                  the builder. clone(CLONE_NEWUSER|CLONE_NEWNS):
//	   │                       a new user namespace (0 = U, 1.. = the
//	   │                       subordinate ids; without them 0 = U only)
//	   │                       owning a new mount namespace. With
//	   │                       subordinate ids it starts as "stage 1",
//	   │                       /bin/sh (or ibuild itself without one): it
//	   │                       waits on fd 3 until the parent has run
//	   │                       newuidmap/newgidmap on its pid, then execs
//	   │                       ibuild (same pid), which gains every
//	   │                       capability of its user namespace as uid 0.
//	   │                       Root without CAP_SYS_ADMIN and users without
//	   │                       subordinate ids skip stage 1 (the parent
//	   │                       writes the maps before the exec). The whole
//	   │                       build runs here as it does for root: the
//	   │                       store, snapshot extraction (chown to the
//	   │                       image's owners), detached overlay mounts
//	   │                       (with userxattr). Cgroups it cannot write
//	   │                       are skipped (build/sandbox).
//	   └─ ibuild-sandbox-init  one per RUN step (build/sandbox), exactly as
//	      │                    for root: clone(CLONE_NEWPID|CLONE_NEWUTS|
//	      │                    CLONE_NEWIPC), then unshare(CLONE_NEWNS|
//	      │                    CLONE_NEWCGROUP[|CLONE_NEWNET]). Every
//	      │                    namespace of a step is owned by the
//	      │                    builder's user namespace: no step makes a
//	      │                    user namespace of its own. A private network
//	      │                    namespace made here is therefore one the
//	      │                    builder (root of that user namespace) can
//	      │                    configure and a user-mode network helper
//	      │                    (slirp4netns, pasta) started by the builder
//	      │                    can join with setns(2) without
//	      │                    --userns-path; sysfs can be mounted in it.
//	      │                    With the host's network namespace (owned by
//	      │                    the host's user namespace) sysfs cannot be
//	      │                    mounted and /sys is a read-only bind of the
//	      │                    host's instead.
//	      └─ RUN command       PID 1 of its PID namespace.
//
// The builder knows it is rootless from the environment variable
// _IBUILD_ROOTLESS (see Current), which Enter sets for it.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"
)

// Environment of the child.
const (
	// envStage is set while the child waits for its id maps.
	envStage = "_IBUILD_ROOTLESS_STAGE1"
	// envRootless describes the namespace to the builder: "U:G:MODE:NAME".
	envRootless = "_IBUILD_ROOTLESS"
	// envParent is the pid of the process that waits for the builder
	// (it may be 1, in a container).
	envParent = "_IBUILD_ROOTLESS_PARENT"
)

// Modes of a rootless builder.
const (
	modeSubIDs = "subids" // the user and its subordinate ids are mapped
	modeSingle = "single" // only the user is mapped
)

// Info describes the user namespace a rootless builder runs in.
type Info struct {
	// UID and GID are the user's ids on the host (root in the namespace).
	UID, GID int
	// User is the user's name ("" when it has no passwd entry).
	User string
	// SubIDs is true when subordinate ids are mapped; false when only the
	// user is, and files of other owners cannot keep them.
	SubIDs bool
	// UIDMap and GIDMap are the namespace's maps.
	UIDMap, GIDMap []Mapping
}

// Current returns the user namespace this process runs in when it is a
// builder started by Enter.
func Current() (Info, bool) {
	v := os.Getenv(envRootless)
	if v == "" || !userns.RunningInUserNS() {
		return Info{}, false
	}
	f := strings.SplitN(v, ":", 4)
	if len(f) != 4 {
		return Info{}, false
	}
	uid, err1 := strconv.Atoi(f[0])
	gid, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return Info{}, false
	}
	info := Info{UID: uid, GID: gid, SubIDs: f[2] == modeSubIDs, User: f[3]}
	if data, err := os.ReadFile("/proc/self/uid_map"); err == nil {
		info.UIDMap, _ = ParseIDMap(string(data))
	}
	if data, err := os.ReadFile("/proc/self/gid_map"); err == nil {
		info.GIDMap, _ = ParseIDMap(string(data))
	}
	return info, true
}

// Files and programs Enter uses; variables so that tests can point them
// elsewhere.
var (
	subUIDFile = "/etc/subuid"
	subGIDFile = "/etc/subgid"
)

// Enter makes this process rootless when it must be: a process that is not
// root, or is root without CAP_SYS_ADMIN (root in a container run without
// --privileged), starts a copy of itself in a new user namespace, waits
// for it and exits with its status; Enter returns only in the process that is to go
// on (root, or the builder inside the namespace), or with an error that
// names what is missing. The first Enter of the child, while it waits for
// its maps, execs again and does not return.
func Enter() error {
	if os.Getenv(envStage) != "" {
		return stage1()
	}
	if info, ok := Current(); ok {
		// The builder. The parent-death signal was cleared when the
		// exec gave this process its capabilities: set it again.
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
		if os.Getenv(envParent) != strconv.Itoa(os.Getppid()) {
			return errors.New("rootless: the parent process has exited")
		}
		// The host user's supplementary groups are not mapped: drop them
		// where newgidmap left setgroups allowed.
		if info.SubIDs {
			_ = syscall.Setgroups([]int{})
		}
		return nil
	}
	if os.Geteuid() == 0 && hasCapability(unix.CAP_SYS_ADMIN) {
		return nil
	}
	code, err := runChild()
	if err != nil {
		return fmt.Errorf("rootless: %w", err)
	}
	os.Exit(code)
	return nil
}

// NamespaceMaps returns the id maps of the user namespace Enter would
// make for this process, without making it (nil maps for a process that
// needs none: root with CAP_SYS_ADMIN, or a builder already inside one),
// or the error Enter would give. A caller outside the namespace uses
// them to see file owners as the builder inside will (Inside).
func NamespaceMaps() (uidMap, gidMap []Mapping, err error) {
	if _, ok := Current(); ok || os.Getenv(envStage) != "" {
		return nil, nil, nil
	}
	if os.Geteuid() == 0 && hasCapability(unix.CAP_SYS_ADMIN) {
		return nil, nil, nil
	}
	p, err := makePlan()
	if err != nil {
		return nil, nil, fmt.Errorf("rootless: %w", err)
	}
	return p.uidMap, p.gidMap, nil
}

// plan is how the child's namespace is made.
type plan struct {
	uid, gid         int
	name             string
	uidMap, gidMap   []Mapping
	newuidmap        string // "" for a single mapping written by the parent
	newgidmap        string
	warning          string
	uidRanges, gidRs []Range
}

// makePlan checks what a user namespace needs and decides the maps.
func makePlan() (*plan, error) {
	p := &plan{uid: os.Getuid(), gid: os.Getgid()}
	if u, err := user.LookupId(strconv.Itoa(p.uid)); err == nil {
		p.name = u.Username
	}
	if err := userNamespacesEnabled(); err != nil {
		return nil, err
	}
	if p.uid == 0 {
		return rootPlan(p)
	}
	var err error
	if p.uidRanges, err = readSubIDs(subUIDFile, p.name, p.uid); err != nil {
		return nil, err
	}
	if p.gidRs, err = readSubIDs(subGIDFile, p.name, p.uid); err != nil {
		return nil, err
	}
	who := p.name
	if who == "" {
		who = "uid " + strconv.Itoa(p.uid)
	}
	if len(p.uidRanges) == 0 || len(p.gidRs) == 0 {
		var missing []string
		if len(p.uidRanges) == 0 {
			missing = append(missing, subUIDFile)
		}
		if len(p.gidRs) == 0 {
			missing = append(missing, subGIDFile)
		}
		p.warning = fmt.Sprintf("rootless: no subordinate ids for %s in %s: only %s is mapped (to root), so files "+
			"owned by other users or groups in images are stored as root and RUN cannot switch to another user; "+
			"as root, run `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s`",
			who, strings.Join(missing, " and "), who, who)
		p.uidMap = []Mapping{{Inside: 0, Outside: uint32(p.uid), Size: 1}}
		p.gidMap = []Mapping{{Inside: 0, Outside: uint32(p.gid), Size: 1}}
		return p, nil
	}
	for _, tool := range []struct {
		name string
		dst  *string
	}{{"newuidmap", &p.newuidmap}, {"newgidmap", &p.newgidmap}} {
		path, err := exec.LookPath(tool.name)
		if err != nil {
			return nil, fmt.Errorf("%s not found in PATH (install Debian's uidmap package): it maps the subordinate "+
				"ids of %s (%s, %s) into the user namespace a rootless build runs in", tool.name, who, subUIDFile, subGIDFile)
		}
		*tool.dst = path
	}
	p.uidMap = Mappings(p.uid, p.uidRanges)
	p.gidMap = Mappings(p.gid, p.gidRs)
	return p, nil
}

// rootPlan maps every id of the current user namespace to itself, for
// root without CAP_SYS_ADMIN: root may write such maps itself
// (CAP_SETUID, CAP_SETGID, which containers keep by default).
func rootPlan(p *plan) (*plan, error) {
	for _, m := range []struct {
		file string
		dst  *[]Mapping
	}{{"/proc/self/uid_map", &p.uidMap}, {"/proc/self/gid_map", &p.gidMap}} {
		data, err := os.ReadFile(m.file)
		if err != nil {
			return nil, err
		}
		ms, err := ParseIDMap(string(data))
		if err != nil {
			return nil, err
		}
		for _, x := range ms {
			*m.dst = append(*m.dst, Mapping{Inside: x.Inside, Outside: x.Inside, Size: x.Size})
		}
	}
	if !hasCapability(unix.CAP_SETUID) || !hasCapability(unix.CAP_SETGID) {
		return nil, errors.New("root without CAP_SYS_ADMIN needs CAP_SETUID and CAP_SETGID to map its ids into a user namespace")
	}
	return p, nil
}

// hasCapability reports whether c is in this process's effective set.
func hasCapability(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(uint(c)%32)) != 0
}

// readSubIDs reads the subordinate ranges of a user from file; a missing
// file has none.
func readSubIDs(file, name string, id int) ([]Range, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading subordinate ids: %w", err)
	}
	defer f.Close()
	rs, err := ParseSubIDs(f, name, id)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return rs, nil
}

// userNamespacesEnabled names the setting that keeps unprivileged users
// from making user namespaces, if one does.
func userNamespacesEnabled() error {
	if data, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(data)) == "0" {
		return errors.New("user namespaces are disabled: /proc/sys/user/max_user_namespaces is 0 " +
			"(as root: sysctl -w user.max_user_namespaces=28633); ibuild has no mode without namespaces")
	}
	if data, err := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); err == nil && strings.TrimSpace(string(data)) == "0" {
		return errors.New("user namespaces are disabled for unprivileged users: /proc/sys/kernel/unprivileged_userns_clone is 0 " +
			"(as root: sysctl -w kernel.unprivileged_userns_clone=1); ibuild has no mode without namespaces")
	}
	return nil
}

// cloneError explains a failure to start the child in a new user namespace.
func cloneError(err error) error {
	switch {
	case errors.Is(err, unix.ENOSPC):
		return fmt.Errorf("creating a user namespace: %w: the limit of user namespaces is reached "+
			"(/proc/sys/user/max_user_namespaces); ibuild has no mode without namespaces", err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		why := "a seccomp profile (docker's default refuses unshare and clone with CLONE_NEWUSER: run the " +
			"container with --security-opt seccomp=unconfined) or an AppArmor policy"
		if data, rerr := os.ReadFile("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); rerr == nil && strings.TrimSpace(string(data)) == "1" {
			why = "AppArmor (/proc/sys/kernel/apparmor_restrict_unprivileged_userns is 1; allow ibuild with a profile " +
				"granting `userns,`)"
		}
		return fmt.Errorf("creating a user namespace: %w: refused by %s; ibuild has no mode without namespaces", err, why)
	}
	return fmt.Errorf("creating a user namespace: %w", err)
}

// runChild starts the builder in a new user namespace and returns its exit status.
func runChild() (int, error) {
	p, err := makePlan()
	if err != nil {
		return 0, err
	}
	if p.warning != "" {
		fmt.Fprintln(os.Stderr, "WARNING:", p.warning)
	}
	mode := modeSubIDs
	if p.newuidmap == "" && p.uid != 0 {
		mode = modeSingle
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("finding the ibuild binary: %w", err)
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d:%s:%s", envRootless, p.uid, p.gid, mode, p.name),
		fmt.Sprintf("%s=%d", envParent, os.Getpid()))
	attr := &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	cmd.SysProcAttr = attr
	var goW *os.File
	if p.newuidmap == "" {
		// An unprivileged process may write a map of its own ids itself
		// (setgroups denied), root any map; Go does so before the child
		// execs, so the child starts as root of the namespace.
		attr.UidMappings, attr.GidMappings = sysMaps(p.uidMap), sysMaps(p.gidMap)
		attr.GidMappingsEnableSetgroups = p.uid == 0
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			return 0, err
		}
		defer r.Close()
		goW = w
		defer goW.Close()
		cmd.ExtraFiles = []*os.File{r}
		if _, err := os.Stat(shell); err == nil {
			// The shell waits for the maps in a millisecond where a second
			// start of this binary takes ten.
			cmd.Path = shell
			cmd.Args = append([]string{"sh", "-c", stage1Script, "sh", exe}, os.Args[1:]...)
		} else {
			cmd.Env = append(cmd.Env, envStage+"=1")
		}
	}
	// Signals are relayed, so that the builder cleans up whichever
	// process of the two was sent one.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, cloneError(err)
	}
	if goW != nil {
		if err := writeMaps(p, cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return 0, err
		}
		if _, err := goW.Write([]byte{'\n'}); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return 0, fmt.Errorf("starting the builder: %w", err)
		}
		goW.Close()
	}
	return waitChild(cmd, sigs)
}

// waitChild relays sigs to the started child and returns its exit status
// (128+signal for a signal).
func waitChild(cmd *exec.Cmd, sigs <-chan os.Signal) (int, error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			_ = cmd.Process.Signal(sig)
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return 128 + int(ws.Signal()), nil
				}
				return ee.ExitCode(), nil
			}
			return 0, err
		}
	}
}

// sysMaps converts ms for syscall.SysProcAttr.
func sysMaps(ms []Mapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(ms))
	for i, m := range ms {
		out[i] = syscall.SysProcIDMap{ContainerID: int(m.Inside), HostID: int(m.Outside), Size: int(m.Size)}
	}
	return out
}

// writeMaps runs newuidmap and newgidmap on the child, at the same time.
func writeMaps(p *plan, pid int) error {
	errs := make(chan error, 2)
	for _, m := range []struct {
		tool, file string
		maps       []Mapping
	}{{p.newuidmap, subUIDFile, p.uidMap}, {p.newgidmap, subGIDFile, p.gidMap}} {
		go func() {
			args := append([]string{strconv.Itoa(pid)}, mapArgs(m.maps)...)
			out, err := exec.Command(m.tool, args...).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%s %s: %w: %s (the ranges come from %s; %s must be setuid root or have cap_setuid/cap_setgid)",
					m.tool, strings.Join(args, " "), err, strings.TrimSpace(string(out)), m.file, m.tool)
			}
			errs <- err
		}()
	}
	return errors.Join(<-errs, <-errs)
}

// shell runs stage1Script, the child's wait for its maps (stage1 where
// there is no shell).
const shell = "/bin/sh"

// stage1Script waits for the parent's byte on fd 3, closes it and execs
// ibuild ("$@"), which the exec makes root of the namespace.
const stage1Script = `read -r _ <&3 || exit 1; exec 3<&-; exec "$@"`

// stage1 runs in the child while its namespace has no maps yet: it waits
// for the parent to write them, then execs itself as root of the namespace
// (an exec with uid 0 there gives every capability of the namespace).
func stage1() error {
	f := os.NewFile(3, "rootless-sync")
	var b [1]byte
	n, _ := io.ReadFull(f, b[:])
	f.Close()
	if n != 1 {
		os.Exit(1) // the parent failed and says why
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envStage+"=") {
			env = append(env, kv)
		}
	}
	err := unix.Exec("/proc/self/exe", os.Args, env)
	return fmt.Errorf("rootless: re-executing in the user namespace: %w", err)
}
