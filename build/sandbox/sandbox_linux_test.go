package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

type runCase struct {
	name   string
	script string
	setup  func(t *testing.T, s *Spec)
	check  func(t *testing.T, s Spec, stdout string, err error)
}

// wantOutput checks a successful run printed want.
func wantOutput(want string) func(*testing.T, Spec, string, error) {
	return func(t *testing.T, _ Spec, stdout string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := strings.TrimSpace(stdout); got != want {
			t.Errorf("output = %q, want %q", got, want)
		}
	}
}

func capLine(t *testing.T, status, key string) uint64 {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in %q", key, status)
	return 0
}

func hostInterface(t *testing.T) string {
	data, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n")[2:] {
		name, _, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && name != "lo" {
			return name
		}
	}
	t.Skip("host has no interface besides lo")
	return ""
}

func runCases(t *testing.T) []runCase {
	marker, err := os.CreateTemp("", "sandbox-host-marker-")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	t.Cleanup(func() { os.Remove(marker.Name()) })
	mask := defaultCapMask()
	return []runCase{
		{name: "exit code", script: "exit 3", check: func(t *testing.T, _ Spec, _ string, err error) {
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != 3 {
				t.Fatalf("err = %v, want ExitError 3", err)
			}
		}},
		{name: "stdout", script: "echo hello; echo to-stderr >&2", check: wantOutput("hello")},
		{name: "pid 1", script: "echo $$", check: wantOutput("1")},
		{name: "env", script: "echo $FOO", setup: func(t *testing.T, s *Spec) {
			s.Env = append(s.Env, "FOO=bar baz")
		}, check: wantOutput("bar baz")},
		{name: "hostname", script: "hostname", setup: func(t *testing.T, s *Spec) {
			s.Hostname = "steppy"
		}, check: wantOutput("steppy")},
		etcFilesCase(),
		{name: "default hostname", script: "hostname", check: wantOutput(DefaultHostname)},
		{name: "hosts and resolv.conf", script: "cat /etc/hosts /etc/resolv.conf",
			check: wantOutput("127.0.0.1 localhost\nnameserver 192.0.2.1")},
		{name: "host processes invisible", script: "ls /proc | grep -c '^[0-9]'", check: func(t *testing.T, _ Spec, out string, err error) {
			n, _ := strconv.Atoi(strings.TrimSpace(out))
			if err != nil || n < 1 || n > 3 {
				t.Fatalf("pids visible = %q (err %v), want 1..3", out, err)
			}
		}},
		{name: "host files invisible", script: fmt.Sprintf("test -e %s && echo visible || echo hidden", marker.Name()),
			check: wantOutput("hidden")},
		{name: "only stdio fds", script: "ls /proc/self/fd", check: func(t *testing.T, _ Spec, out string, err error) {
			fds := strings.Fields(out)
			// ls itself holds one descriptor for the directory it lists.
			if err != nil || len(fds) != 4 || fds[0] != "0" || fds[1] != "1" || fds[2] != "2" {
				t.Fatalf("fds = %q (err %v), want 0 1 2 and ls's own", out, err)
			}
		}},
		{name: "root capabilities", script: "cat /proc/self/status", check: func(t *testing.T, _ Spec, out string, err error) {
			if err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]uint64{"CapBnd": mask, "CapEff": mask, "CapPrm": mask, "CapInh": 0, "CapAmb": 0} {
				if got := capLine(t, out, key); got != want {
					t.Errorf("%s = %016x, want %016x", key, got, want)
				}
			}
		}},
		{name: "user capabilities", script: "cat /proc/self/status", setup: func(t *testing.T, s *Spec) {
			s.User = "builder"
		}, check: func(t *testing.T, _ Spec, out string, err error) {
			if err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]uint64{"CapBnd": mask, "CapEff": 0, "CapPrm": 0} {
				if got := capLine(t, out, key); got != want {
					t.Errorf("%s = %016x, want %016x", key, got, want)
				}
			}
		}},
		{name: "no_new_privs off", script: "grep NoNewPrivs /proc/self/status", check: wantOutput("NoNewPrivs:\t0")},
		{name: "no_new_privs on", script: "grep NoNewPrivs /proc/self/status", setup: func(t *testing.T, s *Spec) {
			s.NoNewPrivs = true
		}, check: wantOutput("NoNewPrivs:\t1")},
		{name: "masked proc paths", script: "cat /proc/kcore /proc/keys /proc/timer_list | wc -c; echo x > /proc/sys/kernel/hostname || echo read-only",
			check: func(t *testing.T, _ Spec, out string, err error) {
				if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "0") || !strings.Contains(out, "read-only") {
					t.Fatalf("output %q (err %v): want empty masked files and read-only /proc/sys", out, err)
				}
			}},
		{name: "cwd escape through proc fd", script: fmt.Sprintf("test -e ../../../../../../../..%s && echo ESCAPED; echo inside", marker.Name()),
			setup: func(t *testing.T, s *Spec) { s.Cwd = "/proc/self/fd/4" },
			check: func(t *testing.T, _ Spec, out string, err error) {
				if strings.Contains(out, "ESCAPED") {
					t.Fatalf("working directory reached the host: %q", out)
				}
				if err == nil && !strings.Contains(out, "inside") {
					t.Fatalf("output %q", out)
				}
			}},
		{name: "cwd created", script: "pwd", setup: func(t *testing.T, s *Spec) { s.Cwd = "/a/b/c" },
			check: func(t *testing.T, s Spec, out string, err error) {
				wantOutput("/a/b/c")(t, s, out, err)
				fi, err := os.Stat(filepath.Join(s.Upperdir, "a/b/c"))
				if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
					t.Fatalf("upper a/b/c: %v %v", fi, err)
				}
			}},
		{name: "network none", script: "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '; cat /sys/class/net/lo/flags",
			setup: func(t *testing.T, s *Spec) { s.Network = NetworkNone }, check: wantOutput("lo\n0x9")},
		{name: "network host", script: "cat /proc/net/dev", setup: func(t *testing.T, s *Spec) { s.Network = NetworkHost }, check: func(t *testing.T, _ Spec, out string, err error) {
			if iface := hostInterface(t); err != nil || !strings.Contains(out, iface+":") {
				t.Fatalf("host interface %s not visible: %q (err %v)", iface, out, err)
			}
		}},
		{name: "layer changes", script: "echo data > /newfile; rm /etc/lowerfile; cat /etc/hosts >/dev/null",
			check: func(t *testing.T, s Spec, _ string, err error) {
				if err != nil {
					t.Fatal(err)
				}
				got, _ := os.ReadFile(filepath.Join(s.Upperdir, "newfile"))
				if string(got) != "data\n" {
					t.Errorf("upper newfile = %q", got)
				}
				var st unix.Stat_t
				if err := unix.Lstat(filepath.Join(s.Upperdir, "etc/lowerfile"), &st); err != nil ||
					st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
					t.Errorf("etc/lowerfile is not a 0/0 whiteout: %+v %v", st, err)
				}
				entries := upperEntries(t, s.Upperdir)
				want := []string{"etc", "etc/lowerfile", "newfile"}
				if strings.Join(entries, ",") != strings.Join(want, ",") {
					t.Errorf("upper = %q, want %q", entries, want)
				}
			}},
		{name: "clean layer", script: "true", check: func(t *testing.T, s Spec, _ string, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if got := upperEntries(t, s.Upperdir); len(got) != 0 {
				t.Errorf("upper after true = %q, want empty", got)
			}
		}},
		{name: "user by name", script: "id -u; id -g; id -G", setup: func(t *testing.T, s *Spec) { s.User = "builder" },
			check: func(t *testing.T, s Spec, out string, err error) {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if err != nil || len(lines) != 3 || lines[0] != "1000" || lines[1] != "1000" ||
					!strings.Contains(lines[2], "2000") || !strings.Contains(lines[2], "3000") {
					t.Fatalf("id = %q (err %v), want 1000/1000 with groups 2000 3000", out, err)
				}
			}},
		{name: "user and group", script: "id -u; id -g", setup: func(t *testing.T, s *Spec) { s.User = "builder:extra" },
			check: wantOutput("1000\n2000")},
		{name: "numeric user", script: "id -u; id -g", setup: func(t *testing.T, s *Spec) { s.User = "4321:8765" },
			check: wantOutput("4321\n8765")},
		{name: "unknown user", script: "true", setup: func(t *testing.T, s *Spec) { s.User = "nobody-here" },
			check: func(t *testing.T, _ Spec, _ string, err error) {
				if err == nil || !strings.Contains(err.Error(), "nobody-here") {
					t.Fatalf("err = %v, want an unknown user error", err)
				}
			}},
		{name: "command not found", script: "", setup: func(t *testing.T, s *Spec) { s.Args = []string{"no-such-command"} },
			check: func(t *testing.T, _ Spec, _ string, err error) {
				if err == nil || !strings.Contains(err.Error(), "no-such-command") {
					t.Fatalf("err = %v, want a not found error", err)
				}
			}},
		userMountsCase(t),
		scratchCase(),
	}
}

func TestRun(t *testing.T) {
	for _, iso := range isolations(t) {
		t.Run(iso, func(t *testing.T) {
			for _, tc := range runCases(t) {
				t.Run(tc.name, func(t *testing.T) {
					s := newSpec(t, iso, tc.script)
					if tc.setup != nil {
						tc.setup(t, &s)
					}
					out, stderr, err := run(t, s)
					if t.Failed() {
						return
					}
					tc.check(t, s, out, err)
					if t.Failed() {
						t.Logf("stderr: %s", stderr)
					}
				})
			}
		})
	}
}
