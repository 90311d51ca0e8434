package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/internal/testbase"
)

// rootlessUser is an unprivileged user the test creates (and deletes), with
// a copy of the ibuild binary it can run and a directory it can read.
type rootlessUser struct {
	name     string
	uid, gid uint32
	dir      string // 0755, holds bin, home and contexts
	home     string
	bin      string
}

// newRootlessUser creates a user with subordinate ids (or none) and a
// world-readable directory under /var/tmp with a copy of ibuild.
func newRootlessUser(t *testing.T, subIDs bool) *rootlessUser {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating a test user needs root")
	}
	for _, tool := range []string{"useradd", "userdel", "usermod"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian's passwd package)", tool)
		}
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	name := "ibrl" + hex.EncodeToString(rnd[:])
	dir, err := os.MkdirTemp("/var/tmp", "ibuild-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	// No automatic subordinate ids: the test adds its own range, or none.
	args := []string{"-m", "-d", home, "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name}
	if out, err := exec.Command("useradd", args...).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
			t.Logf("userdel %s: %v\n%s", name, err, out)
		}
	})
	if subIDs {
		// A range far from useradd's (100000 and up) and shared by nobody
		// that matters: newuidmap checks only the caller's own entries.
		out, err := exec.Command("usermod", "--add-subuids", "3000000000-3000065535", "--add-subgids", "3000000000-3000065535", name).CombinedOutput()
		if err != nil {
			t.Fatalf("usermod --add-subuids: %v\n%s", err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	ru := &rootlessUser{name: name, uid: uint32(uid), gid: uint32(gid), dir: dir, home: home, bin: filepath.Join(dir, "ibuild")}
	data, err := os.ReadFile(ibuildBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ru.bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return ru
}

// run runs ibuild as the user, with HOME its home and env added.
func (u *rootlessUser) run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.bin, args...)
	cmd.Dir = u.dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + u.home, "USER=" + u.name}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	return result{stdout: so.String(), stderr: se.String(), err: err}
}

// mustRun runs ibuild as the user and fails the test on an error.
func (u *rootlessUser) mustRun(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := u.run(t, env, args...)
	if r.err != nil {
		t.Fatalf("ibuild %s as %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), u.name, r.err, r.stdout, r.stderr)
	}
	return r
}

// tunOpenable reports whether users other than root may open
// /dev/net/tun, which the default RUN network (slirp4netns) needs.
func tunOpenable() bool {
	fi, err := os.Stat("/dev/net/tun")
	return err == nil && fi.Mode().Perm()&0o006 == 0o006
}

// network returns the flags that give the user's RUN steps a network:
// the host's, whatever /dev/net/tun's mode, so that these builds do not
// depend on a device mode TestRootlessDefaultNetwork (which covers the
// default network both ways) changes while it runs.
func (u *rootlessUser) network(t *testing.T) []string {
	return []string{"--network", "host"}
}

// context writes a build context the user can read.
func (u *rootlessUser) context(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(u.dir, name)
	writeTree(t, dir, files)
	return dir
}

// imageDigest reads containerimage.digest (the manifest) from a metadata file.
func imageDigest(t *testing.T, meta string) string {
	t.Helper()
	var m map[string]any
	readJSON(t, meta, &m)
	d, _ := m["containerimage.digest"].(string)
	if d == "" {
		t.Fatalf("%s has no containerimage.digest", meta)
	}
	return d
}

// rootlessCases are the e2e suite's representative builds: multi-stage,
// COPY --chown, RUN --mount=type=cache, a whiteout of a base file, files
// of several owners, and apt-get over the network.
var rootlessCases = []struct {
	name, base string
	network    bool
	files      map[string]string
}{
	{name: "busybox", base: "busybox", files: map[string]string{
		"a.txt": "hello\n",
		"Dockerfile": `FROM busybox AS build
RUN --mount=type=cache,target=/cache,id=rl echo cached >> /cache/log && cp /cache/log /from-cache
RUN mkdir -p /srv/app && echo data > /srv/app/f && chown -R 1000:1001 /srv/app && chmod 0750 /srv/app \
 && rm /etc/hostname && ln -s /srv/app/f /link
COPY --chown=1234:5678 a.txt /owned/a.txt
FROM busybox
COPY --from=build /srv /srv
COPY --from=build --chown=42:43 /owned/a.txt /b.txt
COPY --from=build /from-cache /link /
RUN rm /etc/os-release && mkdir /var/data && chown 1000:1001 /var/data
USER app
RUN id -u > /tmp/me && ls -ln /srv/app /b.txt
`}},
	{name: "apt", base: "debian", network: true, files: map[string]string{
		// apt-get's logs hold the time of day, so the image takes what
		// apt-get installed (and its _apt-owned directory) from a stage.
		"Dockerfile": `FROM debian AS apt
RUN apt-get update && apt-get install -y --no-install-recommends hello && rm /etc/issue.net
FROM debian
COPY --from=apt /usr/bin/hello /usr/bin/
COPY --from=apt /var/cache/apt/archives/partial /partial
COPY --from=apt /var/lib/dpkg/info/hello.md5sums /
RUN hello && ls -lnd /partial
`}},
}

// TestRootlessDigestsMatchRoot builds each case as root and as an
// unprivileged user with subordinate ids, with the same SOURCE_DATE_EPOCH,
// and wants the same image digest (issue 13 items 1 and 4).
func TestRootlessDigestsMatchRoot(t *testing.T) {
	u := newRootlessUser(t, true)
	bases := map[string]string{"busybox": testbase.Busybox(t), "debian": testbase.Debian(t)}
	rootStore := t.TempDir()
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}
	imported := map[string]bool{}
	for _, c := range rootlessCases {
		t.Run(c.name, func(t *testing.T) {
			if c.network && testing.Short() {
				t.Skip("-short: skipping apt-get against the Debian mirror")
			}
			if !imported[c.base] {
				mustRun(t, "--root", rootStore, "import", "-t", c.base, bases[c.base])
				u.mustRun(t, nil, "import", "-t", c.base, bases[c.base])
				imported[c.base] = true
			}
			ctxDir := u.context(t, "ctx-"+c.name, c.files)
			rootMeta := filepath.Join(t.TempDir(), "meta.json")
			r := run(t, "", epoch, "--root", rootStore, "--progress", "plain", "--metadata-file", rootMeta, ctxDir)
			if r.err != nil {
				t.Fatalf("root build: %v\n%s", r.err, r.stderr)
			}
			userMeta := filepath.Join(u.home, "meta-"+c.name+".json")
			ur := u.mustRun(t, epoch, append(u.network(t), "--progress", "plain", "--metadata-file", userMeta, ctxDir)...)
			if got, want := imageDigest(t, userMeta), imageDigest(t, rootMeta); got != want {
				t.Errorf("rootless image %s, root's %s\nrootless log:\n%s\nroot log:\n%s", got, want, ur.stderr, r.stderr)
			}
			if n := strings.Count(ur.stderr, "without cgroup limits"); n > 1 {
				t.Errorf("the cgroup warning appears %d times:\n%s", n, ur.stderr)
			}
		})
	}
	// The default state directory of a user is $XDG_DATA_HOME/ibuild, the
	// user's own.
	store := filepath.Join(u.home, ".local", "share", "ibuild")
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(store, "index.json"), &st); err != nil {
		t.Fatalf("no store in %s: %v", store, err)
	}
	if st.Uid != u.uid {
		t.Errorf("%s/index.json is owned by %d, want the user %d", store, st.Uid, u.uid)
	}
}

// TestRootlessIsolation checks what a RUN step of a rootless build can
// and cannot do (SECURITY.md, "Rootless builds").
func TestRootlessIsolation(t *testing.T) {
	u := newRootlessUser(t, true)
	u.mustRun(t, nil, "import", "-t", "busybox", testbase.Busybox(t))
	secret := filepath.Join(u.dir, "host-secret")
	if err := os.WriteFile(secret, []byte("canary"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctxDir := u.context(t, "ctx-iso", map[string]string{"Dockerfile": `FROM busybox
RUN cat /proc/self/uid_map && id -u | grep -qx 0 \
 && ! mknod /tmp/loop b 7 0 2>/tmp/err && cat /tmp/err \
 && echo x > /dev/null && head -c1 /dev/urandom >/dev/null \
 && ! touch /sys/x 2>/dev/null && test -z "$(ls /sys/fs/cgroup)" \
 && ! unshare -U true 2>/dev/null && ! mount -t tmpfs t /mnt 2>/dev/null \
 && echo isolation-ok
`})
	r := u.mustRun(t, nil, append(u.network(t), "--progress", "plain", "--no-cache", ctxDir)...)
	if !strings.Contains(r.stderr, "isolation-ok") {
		t.Fatalf("the checks did not all pass:\n%s", r.stderr)
	}
	// uid 0 of the step is the user; 1.. are its subordinate ids.
	if !regexpLine(r.stderr, `\b0\s+`+strconv.Itoa(int(u.uid))+`\s+1\b`) || !regexpLine(r.stderr, `\b1\s+3000000000\s+65536\b`) {
		t.Errorf("uid_map of the step is not the user plus its range:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("mknod did not fail with EPERM:\n%s", r.stderr)
	}
	// With a network namespace of its own (owned by the user namespace)
	// the step gets a sysfs of its own, showing only that namespace's lo.
	netCtx := u.context(t, "ctx-iso-net", map[string]string{"Dockerfile": "FROM busybox\nRUN ls /sys/class/net && ls /sys/class/net | grep -qvx lo && exit 1; echo net-ok\n"})
	if r := u.mustRun(t, nil, "--progress", "plain", "--no-cache", "--network", "none", netCtx); !strings.Contains(r.stderr, "net-ok") {
		t.Errorf("--network none: /sys/class/net shows more than lo:\n%s", r.stderr)
	}
	// The host file of the user stays unreadable to root of the namespace
	// from the step: the step does not see the host's files at all.
	data, err := os.ReadFile(secret)
	if err != nil || string(data) != "canary" {
		t.Fatalf("host file changed: %q, %v", data, err)
	}
}

// TestRootlessWithoutSubIDs: a user without subordinate ids builds with
// only itself mapped, is told so, and is told which files' owners were
// lost; a step switching to another user fails saying why.
func TestRootlessWithoutSubIDs(t *testing.T) {
	u := newRootlessUser(t, false)
	u.mustRun(t, nil, "import", "-t", "busybox", testbase.Busybox(t))
	ctxDir := u.context(t, "ctx-single", map[string]string{"Dockerfile": "FROM busybox\nRUN ls -ln /home && echo built > /f\n"})
	r := u.mustRun(t, nil, append(u.network(t), "--progress", "plain", ctxDir)...)
	for _, want := range []string{
		"no subordinate ids for " + u.name + " in /etc/subuid and /etc/subgid",
		"usermod --add-subuids",
		"/home/app (1000:1000)", // the busybox base's app home
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	ctxDir = u.context(t, "ctx-single-user", map[string]string{"Dockerfile": "FROM busybox\nUSER app\nRUN id\n"})
	r = u.run(t, nil, append(u.network(t), "--progress", "plain", ctxDir)...)
	if r.err == nil || !strings.Contains(r.stderr, "not mapped in the rootless user namespace") {
		t.Errorf("USER app without subordinate ids: err %v, want a message saying uid 1000 is not mapped:\n%s", r.err, r.stderr)
	}
}

// TestRootlessErrors: each way rootless cannot start fails at once with a
// message naming what is missing, and leaves no store behind.
func TestRootlessErrors(t *testing.T) {
	u := newRootlessUser(t, true)
	store := filepath.Join(u.home, ".local", "share", "ibuild")
	t.Run("no newuidmap", func(t *testing.T) {
		empty := filepath.Join(u.dir, "empty-path")
		if err := os.Mkdir(empty, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(u.bin, "images")
		cmd.Env = []string{"PATH=" + empty, "HOME=" + u.home}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "newuidmap not found in PATH (install Debian's uidmap package)") {
			t.Errorf("err %v, output:\n%s", err, out)
		}
	})
	t.Run("user namespaces disabled", func(t *testing.T) {
		// user.max_user_namespaces is a limit of each user namespace: the
		// test sets it to 0 in a namespace of its own (identity-mapped,
		// so the user and its ids are the same there), leaving the host's
		// alone, and runs ibuild as the user in it.
		script := `mount --make-rprivate / && mount -t proc proc /proc && echo 0 > /proc/sys/user/max_user_namespaces && ` +
			`exec setpriv --reuid "$U" --regid "$G" --clear-groups env HOME="$H" PATH="$PATH" "$B" images`
		cmd := exec.Command("sh", "-c", script)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "U=" + strconv.Itoa(int(u.uid)), "G=" + strconv.Itoa(int(u.gid)), "H=" + u.home, "B=" + u.bin}
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}},
			GidMappingsEnableSetgroups: true,
		}
		out, err := cmd.CombinedOutput()
		if err != nil && !strings.Contains(string(out), "ERROR:") {
			t.Skipf("cannot set max_user_namespaces in a user namespace here: %v\n%s", err, out)
		}
		if err == nil || !strings.Contains(string(out), "user namespaces are disabled: /proc/sys/user/max_user_namespaces is 0") ||
			!strings.Contains(string(out), "no mode without namespaces") {
			t.Errorf("err %v, output:\n%s", err, out)
		}
	})
	if _, err := os.Stat(store); err == nil {
		t.Errorf("a failed start left a store in %s", store)
	}
	// The commands that need no namespace still work without newuidmap.
	cmd := exec.Command(u.bin, "version")
	cmd.Env = []string{"PATH=/nonexistent", "HOME=" + u.home}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("ibuild version as %s: %v\n%s", u.name, err, out)
	}
}

// regexpLine reports whether some line of s matches the pattern.
func regexpLine(s, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for _, line := range strings.Split(s, "\n") {
		if re.MatchString(line) {
			return true
		}
	}
	return false
}

// dockerCaps is docker's default capability set (no CAP_SYS_ADMIN), as
// setpriv names them: root in a container run without --privileged.
const dockerCaps = "-all,+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap,+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap"

// TestRootlessRootWithoutSysAdmin: root with only docker's default
// capabilities (an unprivileged container's root, without its seccomp and
// AppArmor profiles) builds in a user namespace of its own, with its ids
// mapped to themselves, and gets root's digest; where the cgroup
// hierarchy is writable, RUN's memory limit applies.
func TestRootlessRootWithoutSysAdmin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv not installed (util-linux)")
	}
	home := t.TempDir()
	asContainerRoot := func(env []string, args ...string) result {
		t.Helper()
		cmd := exec.Command("setpriv", append([]string{"--bounding-set", dockerCaps, "--inh-caps=-all", "--", ibuildBin}, args...)...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}, env...)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		return result{stdout: so.String(), stderr: se.String(), err: err}
	}
	busybox := testbase.Busybox(t)
	rootStore := t.TempDir()
	mustRun(t, "--root", rootStore, "import", "-t", "busybox", busybox)
	if r := asContainerRoot(nil, "import", "-t", "busybox", busybox); r.err != nil {
		t.Fatalf("import without CAP_SYS_ADMIN: %v\n%s", r.err, r.stderr)
	}
	ctxDir := filepath.Join(t.TempDir(), "ctx")
	writeTree(t, ctxDir, rootlessCases[0].files)
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}
	rootMeta, userMeta := filepath.Join(t.TempDir(), "root.json"), filepath.Join(t.TempDir(), "user.json")
	if r := run(t, "", epoch, "--root", rootStore, "--metadata-file", rootMeta, ctxDir); r.err != nil {
		t.Fatalf("root build: %v\n%s", r.err, r.stderr)
	}
	r := asContainerRoot(epoch, "--progress", "plain", "--metadata-file", userMeta, ctxDir)
	if r.err != nil {
		t.Fatalf("build without CAP_SYS_ADMIN: %v\n%s", r.err, r.stderr)
	}
	if got, want := imageDigest(t, userMeta), imageDigest(t, rootMeta); got != want {
		t.Errorf("image without CAP_SYS_ADMIN %s, root's %s\n%s", got, want, r.stderr)
	}
	// Its store is the rootless default, not /var/lib/ibuild.
	if _, err := os.Stat(filepath.Join(home, ".local", "share", "ibuild", "index.json")); err != nil {
		t.Errorf("no store under HOME: %v", err)
	}
	if strings.Contains(r.stderr, "without cgroup limits") {
		t.Skip("cgroups are not writable here: the memory limit is not checked")
	}
	memCtx := filepath.Join(t.TempDir(), "mem")
	writeTree(t, memCtx, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 200000000 /dev/zero | tail >/dev/null\n"})
	r = asContainerRoot(nil, "--progress", "plain", "--memory", "20m", memCtx)
	if r.err == nil || !strings.Contains(r.stderr, "memory limit of 20MiB exceeded") {
		t.Errorf("--memory 20m without CAP_SYS_ADMIN: err %v, want the memory limit's error:\n%s", r.err, r.stderr)
	}
}

// TestRootlessScanDiffer: where the rootless store cannot hold overlay
// upper directories (it is itself on overlayfs), RUN falls back to the
// scan differ inside the user namespace, and the image is still root's.
func TestRootlessScanDiffer(t *testing.T) {
	u := newRootlessUser(t, true)
	base := filepath.Join(u.dir, "ovl")
	for _, d := range []string{"", "l", "u", "w", "m"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(base, "u"), int(u.uid), int(u.gid)); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(base, "m")
	opts := "lowerdir=" + base + "/l,upperdir=" + base + "/u,workdir=" + base + "/w"
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts); err != nil {
		t.Skipf("cannot mount an overlay for the test: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	userRoot := filepath.Join(mnt, "store")
	busybox := testbase.Busybox(t)
	u.mustRun(t, nil, "--root", userRoot, "import", "-t", "busybox", busybox)
	rootStore := t.TempDir()
	mustRun(t, "--root", rootStore, "import", "-t", "busybox", busybox)
	ctxDir := u.context(t, "ctx-scan", rootlessCases[0].files)
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}
	rootMeta, userMeta := filepath.Join(t.TempDir(), "root.json"), filepath.Join(u.home, "scan.json")
	if r := run(t, "", epoch, "--root", rootStore, "--metadata-file", rootMeta, ctxDir); r.err != nil {
		t.Fatalf("root build: %v\n%s", r.err, r.stderr)
	}
	r := u.mustRun(t, epoch, append(u.network(t), "--root", userRoot, "--progress", "plain", "--metadata-file", userMeta, ctxDir)...)
	if !strings.Contains(r.stderr, "differ: scan (overlayfs unavailable: ") {
		t.Fatalf("the scan differ was not used:\n%s", r.stderr)
	}
	if got, want := imageDigest(t, userMeta), imageDigest(t, rootMeta); got != want {
		t.Errorf("rootless image with the scan differ %s, root's %s\n%s", got, want, r.stderr)
	}
}

// TestRootlessSignal: SIGTERM to the rootless ibuild (the parent outside
// the namespace) reaches the builder, which stops the RUN step and exits
// within seconds, leaving no process of the user behind.
func TestRootlessSignal(t *testing.T) {
	u := newRootlessUser(t, true)
	u.mustRun(t, nil, "import", "-t", "busybox", testbase.Busybox(t))
	ctxDir := u.context(t, "ctx-sig", map[string]string{"Dockerfile": "FROM busybox\nRUN echo started && sleep 120\n"})
	cmd := exec.Command(u.bin, append(u.network(t), "--progress", "plain", ctxDir)...)
	cmd.Dir = u.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + u.home}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}}
	var out testbase.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "started") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the step did not start:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("ibuild took %s to exit after SIGTERM", took)
	}
	if err == nil {
		t.Errorf("ibuild exited 0 after SIGTERM:\n%s", out.String())
	}
	// Killed processes may take a moment to be reaped.
	var left []string
	for i := 0; i < 20; i++ {
		if left = processesOf(u.uid); len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("processes of the user left 2s after SIGTERM: %v", left)
	}
}

// processesOf lists the pids of processes whose real uid is uid.
func processesOf(uid uint32) []string {
	ents, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name(), &st) == nil && st.Uid == uid {
			cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			pids = append(pids, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return pids
}

// TestRootlessDefaultNetwork: a rootless RUN in the default network gets a
// network namespace of its own with slirp4netns's tap0 (and a sysfs that
// shows it) where the user can open /dev/net/tun; where it cannot, the
// step fails saying what to change.
func TestRootlessDefaultNetwork(t *testing.T) {
	u := newRootlessUser(t, true)
	u.mustRun(t, nil, "import", "-t", "busybox", testbase.Busybox(t))
	ctxDir := u.context(t, "ctx-net", map[string]string{"Dockerfile": "FROM busybox\nRUN ls /sys/class/net && ls /sys/class/net | grep -qx tap0 && echo tap-ok\n"})
	// Both sides of /dev/net/tun's mode (Debian makes it 0666; some hosts,
	// this CI's VM among them, 0600), restored afterwards.
	fi, err := os.Stat("/dev/net/tun")
	if err != nil {
		t.Skipf("no /dev/net/tun: %v", err)
	}
	orig := fi.Mode().Perm()
	t.Cleanup(func() { os.Chmod("/dev/net/tun", orig) })
	for _, mode := range []os.FileMode{0o600, 0o666} {
		if err := os.Chmod("/dev/net/tun", mode); err != nil {
			t.Fatal(err)
		}
		r := u.run(t, nil, "--progress", "plain", "--no-cache", ctxDir)
		if tunOpenable() {
			if r.err != nil || !strings.Contains(r.stderr, "tap-ok") {
				t.Errorf("default network, tun %o: err %v, want tap0 in the step's namespace:\n%s", mode, r.err, r.stderr)
			}
			continue
		}
		if r.err == nil || !strings.Contains(r.stderr, "needs /dev/net/tun, which this user cannot open") ||
			!strings.Contains(r.stderr, "--network host") {
			t.Errorf("default network, tun %o: err %v, want the device and the way out named:\n%s", mode, r.err, r.stderr)
		}
	}
}
