package sandbox

// What changes when the builder runs in a user namespace (a rootless build,
// see internal/rootless): the namespaces a step makes are owned by that
// user namespace, so the kernel itself refuses what only the host's root
// could do, and the sandbox works around the rest:
//
//   - /dev: mknod is refused; the default devices are bind mounts of the
//     host's nodes (as runc does rootless). Every file system mounted in
//     the namespace is implicitly nodev, so no other node opens.
//   - /sys: sysfs mounts only in a network namespace the user namespace
//     owns; with the host's network /sys is a read-only recursive bind of
//     the host's, with a tmpfs over /sys/fs/cgroup.
//   - bind mounts: a remount must keep the flags the kernel locked on the
//     source mount (nosuid, nodev, noexec, ro, atime), see lockedFlags.
//   - overlayfs is mounted with userxattr (user.overlay.* attributes).
//   - cgroups the user cannot write (cgroup v1, or v2 without delegation)
//     are not used: no memory, pids or CPU limits (CgroupsUnavailable).
//   - with only the user mapped (no subordinate ids) setgroups is denied.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"
)

// inUserNS reports whether this process runs in a user namespace other
// than the host's.
func inUserNS() bool { return userns.RunningInUserNS() }

// cgroupProbe tries, once, to make and remove a step cgroup with the
// default limits; inside a user namespace its error means steps run
// without cgroups.
var cgroupProbe = sync.OnceValue(func() error {
	if !inUserNS() {
		return nil
	}
	cg, err := newCgroup(stepPrefix + strconv.Itoa(os.Getpid()) + "-probe")
	if err != nil {
		return err
	}
	err = cg.create(Limits{})
	_ = cg.destroy()
	return err
})

// CgroupsUnavailable says why RUN steps get no cgroup of their own, and
// so no memory, process or CPU limit, or "" when they do. Only a builder
// in a user namespace runs steps without cgroups; as root a cgroup that
// cannot be made fails the step.
func CgroupsUnavailable() string {
	if err := cgroupProbe(); err != nil {
		return fmt.Sprintf("the cgroup hierarchy is not delegated to this user (%v)", err)
	}
	return ""
}

// noCgroup is the cgroup of a step that runs without one.
func noCgroup() *cgroup { return &cgroup{dirs: map[string]string{}, none: true} }

// lockedFlags are the mount flags of the mount holding path that a bind
// remount in a user namespace must keep (MNT_LOCK_*: read-only, nosuid,
// nodev, noexec and the atime mode of a mount the namespace inherited).
func lockedFlags(path string) uintptr {
	if !inUserNS() {
		return 0
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0
	}
	var flags uintptr
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if flags&(unix.MS_NOATIME|unix.MS_RELATIME) == 0 {
		flags |= unix.MS_STRICTATIME
	}
	return flags
}

// bindDevices makes the default device nodes in dev as bind mounts of the
// host's, where mknod is not allowed.
func bindDevices(dev string, names []string) error {
	for _, n := range names {
		p := filepath.Join(dev, n)
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", n, err)
		}
		if err := unix.Mount("/dev/"+n, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting /dev/%s: %w", n, err)
		}
	}
	return nil
}

// bindSys makes /sys at p a read-only bind of the host's, for a step in
// the host's network namespace, which the user namespace does not own
// (sysfs refuses to mount there), and hides the host's cgroups under a
// read-only tmpfs.
func bindSys(p string) error {
	if err := unix.Mount("/sys", p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting /sys: %w", err)
	}
	flags := lockedFlags("/sys") | unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("", p, "", flags, ""); err != nil {
		return fmt.Errorf("remounting /sys read-only: %w", err)
	}
	cg := filepath.Join(p, "fs", "cgroup")
	if _, err := os.Lstat(cg); err == nil {
		if err := unix.Mount("tmpfs", cg, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
			return fmt.Errorf("hiding /sys/fs/cgroup: %w", err)
		}
	}
	return nil
}

// setgroupsDenied reports whether setgroups(2) is refused in this user
// namespace (a map of the user's own gid written without newgidmap).
func setgroupsDenied() bool {
	data, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && strings.TrimSpace(string(data)) == "deny"
}

// isPermission reports an error the kernel gives for something a user
// namespace may not do.
func isPermission(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS)
}

// unmappedHint explains EINVAL from setresuid or setresgid in a user
// namespace: the id is not mapped.
func unmappedHint(e error) string {
	if e == unix.EINVAL && inUserNS() {
		return " (the id is not mapped in the rootless user namespace: give the user subordinate ids in /etc/subuid and /etc/subgid)"
	}
	return ""
}

// tunHint explains slirp4netns's failure to open /dev/net/tun in a user
// namespace: the device belongs to the host's root, and only its mode can
// let the user open it.
func tunHint(msg string) string {
	if !inUserNS() || !strings.Contains(msg, "/dev/net/tun") || !strings.Contains(msg, "Permission denied") {
		return msg
	}
	mode := ""
	if fi, err := os.Stat("/dev/net/tun"); err == nil {
		mode = fmt.Sprintf(" (mode %04o)", fi.Mode().Perm())
	}
	hint := "; a rootless build's default RUN network needs /dev/net/tun, which this user cannot open" + mode +
		": as root, `chmod 0666 /dev/net/tun` (Debian's default), or build with --network host or --network none"
	// After the first line: slirp4netns's own lines follow it.
	first, rest, _ := strings.Cut(msg, "\n")
	if rest != "" {
		rest = "\n" + rest
	}
	return first + hint + rest
}
