package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/internal/testbase"
)

// The TestBreakout* tests (make breakout) attack the host from a RUN step
// the way issue 11 reproduced it and check, with a canary, that the host is
// untouched: a disk behind a loop device, a process in a host cgroup, a key
// in root's user keyring. Each expects the error docker build gives.

const (
	eperm  = "Operation not permitted"
	eacces = "Permission denied"
)

// TestBreakoutDevices: device nodes made by the command, shipped in the
// image or found in a bind mount open nowhere; docker's default devices do.
func TestBreakoutDevices(t *testing.T) {
	minor, intact := testbase.LoopCanary(t)
	node := func(t *testing.T) string {
		dir := t.TempDir()
		if err := unix.Mknod(filepath.Join(dir, "disk"), unix.S_IFBLK|0o666, int(unix.Mkdev(7, minor))); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, "disk"), 0o666); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	readWrite := func(p string) string {
		return fmt.Sprintf("head -c 11 %[1]s; echo; echo PWNED | dd of=%[1]s conv=notrunc 2>&1; head -c 1 %[1]s >/dev/null", p)
	}
	for _, iso := range isolations(t) {
		t.Run(iso, func(t *testing.T) {
			cases := []struct {
				name, script string
				setup        func(t *testing.T, s *Spec)
				want         []string
			}{
				{name: "mknod in tmp", script: fmt.Sprintf("mknod /tmp/d b 7 %d && ", minor) + readWrite("/tmp/d"),
					want: []string{eperm, eacces}},
				{name: "mknod in dev", script: fmt.Sprintf("mknod /dev/d b 7 %d && ", minor) + readWrite("/dev/d"),
					want: []string{eperm}},
				{name: "image device as nobody with no-new-privileges", script: readWrite("/data/disk"),
					setup: func(t *testing.T, s *Spec) {
						dir := t.TempDir()
						if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.Rename(filepath.Join(node(t), "disk"), filepath.Join(dir, "data/disk")); err != nil {
							t.Fatal(err)
						}
						s.Lowerdirs = append([]string{dir}, s.Lowerdirs...)
						s.User, s.NoNewPrivs = "65534", true
					}, want: []string{eperm, eacces}},
				{name: "device in a bind mount", script: readWrite("/ctx/disk") + " && " + readWrite("/cache/disk"),
					setup: func(t *testing.T, s *Spec) {
						s.Mounts = []Mount{{Type: "bind", Source: node(t), Target: "/ctx", ReadOnly: true},
							{Type: "cache", Source: node(t), Target: "/cache"}}
					}, want: []string{eperm, eacces}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					s := newSpec(t, iso, tc.script)
					if tc.setup != nil {
						tc.setup(t, &s)
					}
					buf := &testbase.SyncBuffer{}
					s.Stdout, s.Stderr = buf, buf
					err := Run(t.Context(), s)
					out := buf.String()
					if strings.Contains(out, "canary-disk") {
						t.Fatalf("the step read the host's disk: %q", out)
					}
					if !intact() {
						t.Fatal("the step wrote to the host's disk")
					}
					wantDenied(t, out, err, tc.want...)
				})
			}
			t.Run("default devices", func(t *testing.T) {
				out, err := attack(t, iso, "find /dev -maxdepth 1 -type c -o -maxdepth 1 -type b | sort | tr '\\n' ' '; "+
					"head -c 4 /dev/urandom | wc -c; echo x > /dev/null && mknod /dev/n c 1 3 && echo y > /dev/n && echo ok", nil)
				want := "/dev/full /dev/null /dev/random /dev/tty /dev/urandom /dev/zero 4\nok"
				if err != nil || strings.TrimSpace(out) != want {
					t.Fatalf("output %q (err %v), want %q", out, err, want)
				}
			})
		})
	}
}

// TestBreakoutSeccomp: docker's default profile refuses what the attacks
// need, with docker's errors; unconfined and a custom profile work as with
// docker's --security-opt seccomp=.
func TestBreakoutSeccomp(t *testing.T) {
	tools := toolLayer(t, "keyctl")
	for _, iso := range isolations(t) {
		t.Run(iso, func(t *testing.T) {
			for _, tc := range []struct{ name, script, want string }{
				{"unshare -U", "unshare -U true", eperm},
				{"mount -t cgroup2", "mkdir -p /mnt && mount -t cgroup2 none /mnt", "permission denied"},
				{"keyctl", "keyctl show @u", eperm},
			} {
				t.Run(tc.name, func(t *testing.T) {
					out, err := attack(t, iso, tc.script, nil, tools)
					wantDenied(t, out, err, tc.want)
				})
			}
			t.Run("filter in every mode", func(t *testing.T) {
				for _, m := range []struct {
					user string
					nnp  bool
				}{{"", false}, {"", true}, {"65534", false}, {"65534", true}} {
					out, err := attack(t, iso, "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr '\\t\\n' '  '; unshare -U true 2>&1",
						func(s *Spec) { s.User, s.NoNewPrivs = m.user, m.nnp })
					want := fmt.Sprintf("NoNewPrivs: %d Seccomp: 2 ", map[bool]int{false: 0, true: 1}[m.nnp])
					if !strings.HasPrefix(out, want) {
						t.Errorf("user %q, no-new-privileges %v: output %q, want it to start with %q", m.user, m.nnp, out, want)
					}
					wantDenied(t, out, err, eperm)
				}
			})
			t.Run("mknod allowed", func(t *testing.T) {
				out, err := attack(t, iso, "mknod /tmp/d b 7 0 && mknod /tmp/c c 1 1 && echo made", nil)
				if err != nil || strings.TrimSpace(out) != "made" {
					t.Fatalf("output %q (err %v): docker allows creating device nodes", out, err)
				}
			})
			t.Run("unconfined", func(t *testing.T) {
				out, err := attack(t, iso, "unshare -U -r id -u", func(s *Spec) { s.Seccomp = "unconfined" })
				if err != nil || strings.TrimSpace(out) != "0" {
					t.Fatalf("output %q (err %v): want unshare to work without a filter", out, err)
				}
			})
			t.Run("custom profile", func(t *testing.T) {
				profile := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}`
				out, err := attack(t, iso, "mkdir /x", func(s *Spec) { s.Seccomp = profile })
				wantDenied(t, out, err, eacces)
			})
		})
	}
	t.Run("invalid profile", func(t *testing.T) {
		_, err := attack(t, IsolationBuiltin, "true", func(s *Spec) { s.Seccomp = "{not json" })
		if err == nil || !strings.Contains(err.Error(), "seccomp") {
			t.Fatalf("err = %v, want a seccomp profile error", err)
		}
	})
}

// TestBreakoutCgroups: the step's cgroup is the root of its cgroup
// namespace in every hierarchy; a cgroup2 mount made by the step (with or
// without the filter) cannot reach a host cgroup's cgroup.kill.
func TestBreakoutCgroups(t *testing.T) {
	canary, alive := cgroupCanary(t)
	tools := toolLayer(t, "unshare")
	script := "mkdir -p /mnt; /usr/bin/unshare -U -r -m -C sh -c 'mount -t cgroup2 none /mnt && ls /mnt && echo 1 > /mnt/" + canary + "/cgroup.kill'"
	for _, iso := range isolations(t) {
		t.Run(iso, func(t *testing.T) {
			t.Run("filtered", func(t *testing.T) {
				out, err := attack(t, iso, script, nil, tools)
				wantDenied(t, out, err, eperm)
				if !alive() {
					t.Fatal("the canary process was killed")
				}
			})
			t.Run("unconfined", func(t *testing.T) {
				out, err := attack(t, iso, script, func(s *Spec) { s.Seccomp = "unconfined" }, tools)
				if err == nil || strings.Contains(out, canary+"\n") {
					t.Fatalf("the step saw the host's cgroups: %q (err %v)", out, err)
				}
				if !strings.Contains(out, "cgroup.procs") {
					t.Fatalf("output %q: want the step's own cgroup listed", out)
				}
				if !alive() {
					t.Fatal("the canary process was killed")
				}
			})
			t.Run("own cgroups", func(t *testing.T) { checkStepCgroups(t, iso) })
		})
	}
}

// checkStepCgroups runs a step and, while it runs, finds its cgroups in
// the host's unified and devices hierarchies; the step sees itself at the
// root of each, and holds no descriptor of the cgroup file system.
func checkStepCgroups(t *testing.T, iso string) {
	done := make(chan struct{})
	var out string
	var err error
	go func() {
		defer close(done)
		out, err = attack(t, iso, "cat /proc/self/cgroup; echo ---; ls -l /proc/self/fd/ /proc/1/fd/ 2>/dev/null; sleep 1", nil)
	}()
	prefix := fmt.Sprintf("%s%d-", stepPrefix, os.Getpid())
	found := map[string]bool{}
	var devices []string
	// Polled until the step ends: runc applies the device rules after the
	// container's process has joined the cgroup, so the last list counts.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !closed(done); {
		for _, h := range []string{"unified", "devices"} {
			dirs, _ := filepath.Glob(filepath.Join(cgroupRoot, h, "*", prefix+"*", "cgroup.procs"))
			more, _ := filepath.Glob(filepath.Join(cgroupRoot, h, "*", "*", prefix+"*", "cgroup.procs"))
			for _, p := range append(dirs, more...) {
				if procs, _ := os.ReadFile(p); len(strings.TrimSpace(string(procs))) > 0 {
					found[h] = true
					if h == "devices" {
						list, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "devices.list"))
						devices = strings.Split(strings.TrimSpace(string(list)), "\n")
					}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	<-done
	if err != nil {
		t.Fatalf("step: %v\n%s", err, out)
	}
	if !found["unified"] || !found["devices"] {
		t.Errorf("step cgroups found in %v, want unified and devices", found)
	}
	// runc's AllowedDevices (the oci engine shows what runc itself sets).
	want := slices.Clone(allowedDevices)
	slices.Sort(want)
	slices.Sort(devices)
	if strings.Join(devices, ";") != strings.Join(want, ";") {
		t.Errorf("devices.list = %q, want %q", devices, want)
	}
	cgroups, _, _ := strings.Cut(out, "---")
	for _, line := range strings.Split(strings.TrimSpace(cgroups), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) != 3 || f[2] != "/" {
			t.Errorf("/proc/self/cgroup line %q: want the step at the root of its cgroup namespace", line)
		}
	}
	if strings.Contains(out, "/sys/fs/cgroup") {
		t.Errorf("the command holds a descriptor on the cgroup file system:\n%s", out)
	}
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestBreakoutKeyring: the step cannot read a key of root's user keyring:
// keyctl is refused by the filter, and without the filter the step's
// session keyring is a new one, from which the key is not possessed.
func TestBreakoutKeyring(t *testing.T) {
	const secret = "canary-secret-4711"
	id := keyCanary(t, secret)
	tools := toolLayer(t, "keyctl")
	for _, iso := range isolations(t) {
		t.Run(iso, func(t *testing.T) {
			t.Run("filtered", func(t *testing.T) {
				out, err := attack(t, iso, "keyctl print "+id+"; keyctl show @s", nil, tools)
				if strings.Contains(out, secret) {
					t.Fatalf("the step read the host's key: %q", out)
				}
				wantDenied(t, out, err, eperm)
			})
			t.Run("unconfined", func(t *testing.T) {
				out, err := attack(t, iso, "keyctl rdescribe @s; keyctl print "+id, func(s *Spec) { s.Seccomp = "unconfined" }, tools)
				if strings.Contains(out, secret) {
					t.Fatalf("the step read the host's key: %q", out)
				}
				if !strings.Contains(out, ";_ses."+stepPrefix) {
					t.Errorf("session keyring %q: want a new one named _ses.%s...", out, stepPrefix)
				}
				wantDenied(t, out, err, eacces)
			})
		})
	}
}

// TestBreakoutDeviceFilter checks the eBPF device program (what the
// builtin engine attaches on cgroup v2 hosts) on its own: a host shell in a
// cgroup2 group carrying only the program cannot open the canary disk but
// can use /dev/null, and can create device nodes.
func TestBreakoutDeviceFilter(t *testing.T) {
	minor, intact := testbase.LoopCanary(t)
	unified := filepath.Join(cgroupRoot, "unified")
	if _, err := os.Stat(filepath.Join(unified, "cgroup.procs")); err != nil {
		unified = cgroupRoot
	}
	dir := filepath.Join(unified, fmt.Sprintf("ibuild-devtest-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rmdirRetry(dir) })
	if err := attachDeviceFilter(dir); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	script := fmt.Sprintf(`read go; head -c 11 /dev/loop%[1]d; echo PWNED | dd of=/dev/loop%[1]d conv=notrunc 2>&1; `+
		`echo x > /dev/null && echo null-ok; mknod %[2]s/n c 1 3 && echo mknod-ok`, minor, tmp)
	cmd := exec.Command("sh", "-c", script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	buf := &testbase.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), fmt.Append(nil, cmd.Process.Pid), 0o644); err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, "go")
	_ = cmd.Wait()
	out := buf.String()
	if strings.Contains(out, "canary-disk") || !intact() {
		t.Fatalf("the program let the shell reach the disk: %q", out)
	}
	if !strings.Contains(out, eperm) || !strings.Contains(out, "null-ok") || !strings.Contains(out, "mknod-ok") {
		t.Fatalf("output %q: want %q for the disk, /dev/null and mknod working", out, eperm)
	}
}
