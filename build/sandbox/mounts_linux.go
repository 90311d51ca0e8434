package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// mountOverlay mounts an overlay of lowers (top-most first) under upper at
// target. It appends lower layers one by one with the new mount API, so the
// number of layers is not bounded by the page-sized option string, and falls
// back to mount(2) on older kernels.
func mountOverlay(lowers []string, upper, work, target string) error {
	err := fsmountOverlay(lowers, upper, work, target)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("mounting overlay: %w", err)
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s",
		strings.Join(lowers, ":"), upper, work)
	if inUserNS() {
		data += ",userxattr"
	}
	if err := unix.Mount("overlay", target, "overlay", unix.MS_NODEV, data); err != nil {
		return fmt.Errorf("mounting overlay: %w", err)
	}
	return nil
}

func fsmountOverlay(lowers []string, upper, work, target string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, l := range lowers {
		if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
			return err
		}
	}
	if err := unix.FsconfigSetString(fd, "upperdir", upper); err != nil {
		return err
	}
	if err := unix.FsconfigSetString(fd, "workdir", work); err != nil {
		return err
	}
	if err := unix.FsconfigSetFlag(fd, "volatile"); err != nil {
		return err
	}
	if inUserNS() {
		if err := unix.FsconfigSetFlag(fd, "userxattr"); err != nil {
			return err
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return err
	}
	// nodev: a device node in an image layer or made by the command
	// opens nowhere but in /dev (see allowedDevices).
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return err
	}
	defer unix.Close(mfd)
	return unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// mountAll mounts /proc, /dev, /sys, the /etc files and the user mounts in
// rootfs. It returns the container paths it had to create as mount points.
func mountAll(cfg childConfig, rootfs string) ([]string, error) {
	mp := &mountPoints{root: rootfs}
	const secure = unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV
	steps := []struct {
		target, source, fstype string
		flags                  uintptr
		data                   string
	}{
		{"/proc", "proc", "proc", secure, ""},
		{"/dev", "tmpfs", "tmpfs", unix.MS_NOSUID | unix.MS_STRICTATIME, "mode=755,size=65536k"},
		{"/dev/pts", "devpts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{"/dev/shm", "shm", "tmpfs", secure, shmData(cfg.Spec.Settings)},
		{"/dev/mqueue", "mqueue", "mqueue", secure, ""},
		{"/sys", "sysfs", "sysfs", secure | unix.MS_RDONLY, ""},
	}
	for _, s := range steps {
		p, err := mp.dir(s.target)
		if err != nil {
			return nil, err
		}
		if err := mountPseudo(p, s.target, s.source, s.fstype, s.flags, s.data); err != nil {
			return nil, err
		}
		if s.target == "/dev" {
			if err := makeDevices(p); err != nil {
				return nil, err
			}
		}
	}
	// As BuildKit: /etc/hosts and /etc/resolv.conf are read-only binds;
	// /etc/hostname is the image's own file (see etcMountOptions).
	etc := map[string]string{"/etc/hosts": bundleHosts, "/etc/resolv.conf": bundleResolvConf}
	for _, target := range []string{"/etc/hosts", "/etc/resolv.conf"} {
		m := Mount{Type: "bind", Source: filepath.Join(cfg.Dir, etc[target]), Target: target, ReadOnly: true, Options: etcMountOptions}
		if err := mp.mount(m); err != nil {
			return nil, err
		}
	}
	for _, m := range cfg.Spec.Mounts {
		if err := mp.mount(m); err != nil {
			return nil, err
		}
	}
	return mp.created, nil
}

// mountPseudo mounts one of the pseudo file systems; in a user namespace
// (rootless) /sys falls back to a bind of the host's and /dev/pts to the
// default group where gid 5 is not mapped.
func mountPseudo(p, target, source, fstype string, flags uintptr, data string) error {
	err := unix.Mount(source, p, fstype, flags, data)
	if err != nil && inUserNS() {
		switch {
		case target == "/sys" && isPermission(err):
			return bindSys(p)
		case target == "/dev/pts" && errors.Is(err, unix.EINVAL):
			err = unix.Mount(source, p, fstype, flags, strings.Replace(data, ",gid=5", "", 1))
		case target == "/proc" && isPermission(err):
			// The kernel refuses a new proc while the current one has
			// over-mounted (masked) paths, as a container's /proc has.
			return fmt.Errorf("mounting proc on /proc: %w (in a container, unmask /proc: docker run "+
				"--security-opt systempaths=unconfined, Kubernetes procMount: Unmasked)", err)
		}
	}
	if err != nil {
		return fmt.Errorf("mounting %s on %s: %w", fstype, target, err)
	}
	return nil
}

// mountPoints resolves mount targets inside root, creating missing ones.
type mountPoints struct {
	root    string
	created []string
}

// resolve returns the host path of target inside root, creating it (as a
// directory, or a file if isFile) when missing and recording what it made.
func (mp *mountPoints) resolve(target string, isFile bool) (string, error) {
	p, err := securejoin.SecureJoin(mp.root, target)
	if err != nil {
		return "", fmt.Errorf("resolving mount point %s: %w", target, err)
	}
	if _, err := os.Lstat(p); err == nil {
		return p, nil
	}
	dir := p
	if isFile {
		dir = filepath.Dir(p)
	}
	// Record each missing component, outermost first.
	var missing []string
	for q := dir; len(q) > len(mp.root); q = filepath.Dir(q) {
		if _, err := os.Lstat(q); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append([]string{q}, missing...)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating mount point %s: %w", target, err)
	}
	if isFile {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return "", fmt.Errorf("creating mount point %s: %w", target, err)
		}
		missing = append(missing, p)
	}
	for _, q := range missing {
		mp.created = append(mp.created, strings.TrimPrefix(q, mp.root))
	}
	return p, nil
}

func (mp *mountPoints) dir(target string) (string, error) { return mp.resolve(target, false) }

// mount performs one bind or tmpfs mount.
func (mp *mountPoints) mount(m Mount) error {
	if m.Type == "tmpfs" {
		p, err := mp.dir(m.Target)
		if err != nil {
			return err
		}
		flags, data := splitOptions(m.Options)
		if err := unix.Mount("tmpfs", p, "tmpfs", flags|unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
			return fmt.Errorf("mounting tmpfs on %s: %w", m.Target, err)
		}
		return nil
	}
	fi, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("mount source for %s: %w", m.Target, err)
	}
	p, err := mp.resolve(m.Target, !fi.IsDir())
	if err != nil {
		return err
	}
	if err := unix.Mount(m.Source, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting %s on %s: %w", m.Source, m.Target, err)
	}
	// nodev on every bind: a device node in the context, a stage or a
	// cache opens as nothing.
	flags, _ := splitOptions(m.Options)
	flags |= unix.MS_NODEV | lockedFlags(m.Source)
	if m.ReadOnly || m.Type == "secret" {
		flags |= unix.MS_RDONLY
	}
	if m.Type == "secret" {
		flags |= unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	}
	if err := unix.Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("remounting %s: %w", m.Target, err)
	}
	return nil
}

// splitOptions separates mount flags from filesystem data options.
func splitOptions(opts []string) (uintptr, string) {
	known := map[string]uintptr{"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID,
		"nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC, "rw": 0}
	var flags uintptr
	var data []string
	for _, o := range opts {
		if f, ok := known[o]; ok {
			flags |= f
		} else {
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ",")
}

// makeDevices creates docker's default device nodes and links in dev.
func makeDevices(dev string) error {
	nodes := []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}
	old := unix.Umask(0)
	defer unix.Umask(old)
	if inUserNS() {
		names := make([]string, len(nodes))
		for i, n := range nodes {
			names[i] = n.name
		}
		if err := bindDevices(dev, names); err != nil {
			return err
		}
		nodes = nil
	}
	for _, n := range nodes {
		p := filepath.Join(dev, n.name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", n.name, err)
		}
	}
	links := [][2]string{{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"}}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

// pivotRoot makes rootfs the root and detaches the old root (runc's trick).
func pivotRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("entering rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching old root: %w", err)
	}
	return unix.Chdir("/")
}

// maskPaths hides and write-protects kernel files as runc does.
func maskPaths() error {
	for _, p := range maskedPaths {
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
		} else {
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("masking %s: %w", p, err)
		}
	}
	for _, p := range readonlyPaths {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("protecting %s: %w", p, err)
		}
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
		if err := unix.Mount(p, p, "", flags, ""); err != nil {
			return fmt.Errorf("protecting %s: %w", p, err)
		}
	}
	return nil
}

// loopbackUp brings lo up in a new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	return nil
}
