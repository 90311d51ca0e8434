package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// debianRelease is a file of the Debian mirror that this machine's apt
// uses (/etc/apt/sources.list.d/debian.sources: deb.debian.org).
const debianRelease = "http://deb.debian.org/debian/dists/bookworm/Release"

// loopbackServer listens on the host's 127.0.0.1 and counts the
// connections it accepts.
func loopbackServer(t *testing.T) (port int, accepted *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, accepted
}

// hostReachesMirror skips the test when the builder itself cannot fetch
// debianRelease: then no network mode can be told apart by it.
func hostReachesMirror(t *testing.T) {
	t.Helper()
	c := http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get(debianRelease)
	if err == nil {
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Skipf("this machine cannot fetch %s (%v); the network modes need it", debianRelease, err)
	}
}

// TestNetworkModes runs a step in each network mode under each engine and
// records what it reaches: a TCP server on the host's 127.0.0.1 (also
// through slirp4netns's gateway 10.0.2.2, which --disable-host-loopback
// must refuse) and the Debian mirror, by name. (The step's timeout bounds
// wget: busybox 1.35's wget -T crashes.)
func TestNetworkModes(t *testing.T) {
	hostReachesMirror(t)
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	port, accepted := loopbackServer(t)
	script := fmt.Sprintf(`for a in 127.0.0.1 10.0.2.2; do
  if [ $a = 10.0.2.2 ] && [ ! -e /sys/class/net/tap0 ]; then echo "$a n/a"
  elif echo hi | nc -w 3 $a %d >/dev/null 2>&1; then echo "$a reached"; else echo "$a unreachable"; fi
done
if wget -q -O /tmp/release %s 2>/tmp/err && grep -q '^Codename: bookworm' /tmp/release; then
  echo mirror reached
else
  echo mirror unreachable; cat /tmp/err
fi`, port, debianRelease)
	cases := []struct {
		network Network
		want    string
		conns   int32
	}{
		{NetworkDefault, "127.0.0.1 unreachable\n10.0.2.2 unreachable\nmirror reached", 0},
		{NetworkNone, "127.0.0.1 unreachable\n10.0.2.2 n/a\nmirror unreachable", 0},
		{NetworkHost, "127.0.0.1 reached\n10.0.2.2 n/a\nmirror reached", 1},
	}
	for _, iso := range isolations(t) {
		for _, tc := range cases {
			t.Run(iso+"/"+string(tc.network), func(t *testing.T) {
				s := newSpec(t, iso, script)
				s.Network, s.ResolvConf, s.Timeout = tc.network, resolv, time.Minute
				before := accepted.Load()
				out, stderr, err := run(t, s)
				if err != nil {
					t.Fatalf("Run: %v\n%s", err, stderr)
				}
				if !strings.HasPrefix(strings.TrimSpace(out), tc.want) {
					t.Errorf("output:\n%s\nwant it to start with:\n%s", out, tc.want)
				}
				if got := accepted.Load() - before; got != tc.conns {
					t.Errorf("the host's loopback server accepted %d connections, want %d", got, tc.conns)
				}
			})
		}
	}
}

// TestNetworkDefaultSetup checks the private network a step gets: lo and
// tap0 up with slirp4netns's address and route, a resolv.conf whose
// loopback nameserver became the forwarder, the given /etc/hosts, and no
// slirp4netns left once Run returns and the waiting network is stopped.
func TestNetworkDefaultSetup(t *testing.T) {
	for _, iso := range isolations(t) {
		t.Run(iso, func(t *testing.T) {
			s := newSpec(t, iso, "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | sort; cat /sys/class/net/lo/operstate /sys/class/net/tap0/operstate; ip -4 -o addr show tap0 | awk '{print $4}'; ip route | grep '^default' | cut -d' ' -f1-3; cat /etc/resolv.conf /etc/hosts")
			s.ResolvConf = []byte("search example.org\nnameserver 127.0.0.53\nnameserver ::1\n")
			s.Hosts = []byte("127.0.0.1 localhost\n192.0.2.7 added.example\n")
			out, stderr, err := run(t, s)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, stderr)
			}
			want := "lo\ntap0\nunknown\nunknown\n10.0.2.100/24\ndefault via 10.0.2.2\n" +
				"search example.org\nnameserver 10.0.2.3\n127.0.0.1 localhost\n192.0.2.7 added.example\n"
			if out != want {
				t.Errorf("output:\n%s\nwant:\n%s", out, want)
			}
			// The next step's network may be waiting: stop it too.
			stopSpare()
			if left := helperChildren(t); len(left) > 0 {
				t.Errorf("slirp4netns still running after Run and stopSpare: %v", left)
			}
		})
	}
}

// helperChildren lists this process's slirp4netns children.
func helperChildren(t *testing.T) []string {
	t.Helper()
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	self := fmt.Sprint(os.Getpid())
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		_, rest, _ := strings.Cut(string(b), " (")
		comm, rest, _ := strings.Cut(rest, ") ")
		f := strings.Fields(rest)
		if comm == "slirp4netns" && len(f) > 1 && f[1] == self {
			left = append(left, filepath.Base(filepath.Dir(p))+" "+f[0])
		}
	}
	return left
}

// TestNetworkLoopbackResolver gives slirp4netns a builder whose only
// nameserver is on its loopback (as systemd-resolved's 127.0.0.53 is): a
// DNS server this test runs on 127.0.0.77. The step's resolv.conf names
// slirp4netns's forwarder instead, and a name resolves through it.
func TestNetworkLoopbackResolver(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare(1) not installed")
	}
	const name, addr = "resolver-test.ibuild.example", "192.0.2.55"
	stop := serveDNS(t, "127.0.0.77:53", name, addr)
	defer stop()
	// slirp4netns, run by a wrapper, sees a resolv.conf naming only the
	// test's server (in its own mount namespace).
	dir := t.TempDir()
	hostResolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(hostResolv, []byte("nameserver 127.0.0.77\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	slirp, err := exec.LookPath("slirp4netns")
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "slirp4netns")
	script := fmt.Sprintf("#!/bin/sh\nexec unshare -m sh -c 'mount --bind %s /etc/resolv.conf && exec %s \"$@\"' sh \"$@\"\n", hostResolv, slirp)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, iso := range isolations(t) {
		t.Run(iso, func(t *testing.T) {
			s := newSpec(t, iso, "cat /etc/resolv.conf; nslookup "+name+" | grep -A2 '^Name:' | grep Address | sed 's/.*: *//'")
			s.ResolvConf, s.Slirp4netns = []byte("nameserver 127.0.0.77\n"), wrapper
			out, stderr, err := run(t, s)
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, stderr)
			}
			if want := "nameserver 10.0.2.3\n" + addr + "\n"; out != want {
				t.Errorf("output:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}

// TestNetworkHelperMissing names slirp4netns when it cannot be found.
func TestNetworkHelperMissing(t *testing.T) {
	s := newSpec(t, IsolationBuiltin, "true")
	s.Slirp4netns = "/nonexistent/slirp4netns"
	_, _, err := run(t, s)
	if err == nil || !strings.Contains(err.Error(), "needs slirp4netns") {
		t.Fatalf("Run = %v, want an error naming slirp4netns", err)
	}
}

// TestNetworkHelperFails reports what slirp4netns said when it exits
// before the network is up.
func TestNetworkHelperFails(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "slirp4netns")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho 'cannot do it' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, iso := range isolations(t) {
		t.Run(iso, func(t *testing.T) {
			s := newSpec(t, iso, "echo ran")
			s.Slirp4netns = bad
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out strings.Builder
			s.Stdout = &out
			err := Run(ctx, s)
			if err == nil || !strings.Contains(err.Error(), "slirp4netns exited") || !strings.Contains(err.Error(), "cannot do it") {
				t.Fatalf("Run = %v, want slirp4netns's own message", err)
			}
			if out.Len() > 0 {
				t.Errorf("the command ran without its network: %q", out.String())
			}
		})
	}
}

// BenchmarkRunTrueNetwork runs /bin/true over an image in each network
// mode, the modes alternating and 100 ms apart (as steps of a build are),
// so that a loaded machine weighs on each alike; it reports each mode's
// median and minimum in ms.
func BenchmarkRunTrueNetwork(b *testing.B) {
	imageDirs := b.TempDir()
	for _, d := range []string{"proc", "dev", "sys", "etc"} {
		if err := os.Mkdir(filepath.Join(imageDirs, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for _, f := range []string{"etc/hosts", "etc/resolv.conf", "etc/hostname"} {
		if err := os.WriteFile(filepath.Join(imageDirs, f), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	modes := []Network{NetworkHost, NetworkNone, NetworkDefault}
	for _, iso := range []string{IsolationBuiltin, IsolationOCI} {
		b.Run(iso, func(b *testing.B) {
			ds := map[Network][]time.Duration{}
			for i := 0; i < b.N; i++ {
				for _, n := range modes {
					b.StopTimer()
					time.Sleep(100 * time.Millisecond)
					s := newSpec(b, iso, "")
					s.Args, s.Network = []string{"/bin/true"}, n
					s.Lowerdirs = append([]string{imageDirs}, s.Lowerdirs...)
					b.StartTimer()
					start := time.Now()
					if _, _, err := run(b, s); err != nil {
						b.Fatal(err)
					}
					ds[n] = append(ds[n], time.Since(start))
				}
			}
			for _, n := range modes {
				slices.Sort(ds[n])
				b.ReportMetric(float64(ds[n][len(ds[n])/2].Microseconds())/1000, string(n)+"-ms-median")
				b.ReportMetric(float64(ds[n][0].Microseconds())/1000, string(n)+"-ms-min")
			}
		})
	}
}
