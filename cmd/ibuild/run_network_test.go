package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ibuild/ibuild/internal/testbase"
)

// debianRelease is a small file of the Debian mirror this machine's apt
// uses (/etc/apt/sources.list.d/debian.sources: deb.debian.org).
const debianRelease = "http://deb.debian.org/debian/dists/bookworm/Release"

// netProbe is a RUN that records, one line each, whether it reaches a TCP
// server on the host's 127.0.0.1 (directly, and through slirp4netns's
// gateway 10.0.2.2, where the step has slirp4netns's tap0) and the Debian
// mirror by name (apt's own downloader), and what two names resolve to.
const netProbe = `for a in 127.0.0.1 10.0.2.2; do \
      if [ $a = 10.0.2.2 ] && [ ! -e /sys/class/net/tap0 ]; then echo "$a n/a"; \
      elif timeout 5 bash -c "exec 3<>/dev/tcp/$a/$PORT" 2>/dev/null; then echo "$a reached"; else echo "$a unreachable"; fi; \
    done > /net.txt; \
    if /usr/lib/apt/apt-helper -o Acquire::Retries=0 download-file ` + debianRelease + ` /tmp/Release >/tmp/err 2>&1 && grep -q '^Codename: bookworm' /tmp/Release; \
      then echo mirror reached; else echo mirror unreachable; fi >> /net.txt; \
    echo "dns $(getent ahostsv4 deb.debian.org | head -n1 | cut -d' ' -f1 | grep -c .)" >> /net.txt; \
    echo "added $(getent hosts added.example)" >> /net.txt; \
    rm -f /tmp/Release /tmp/err`

// TestRunNetworkModes builds netProbe in every network mode under each
// engine: the default private network reaches the mirror (and resolves
// names, with the host's resolver) but not the host's loopback, none
// reaches neither, host both; --add-host names resolve in each.
func TestRunNetworkModes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping downloads from the Debian mirror")
	}
	root := t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "debian", testbase.Debian(t))
	port, accepted := tcpServer(t)
	// Only net.txt is exported: a whole Debian tree takes seconds.
	df := fmt.Sprintf("FROM debian AS probe\nARG PORT=%d\nRUN %s\nFROM scratch\nCOPY --from=probe /net.txt /\n", port, netProbe)
	added := "added 192.0.2.7 added.example"
	tests := []struct {
		name  string
		args  []string
		want  string
		conns int32
	}{
		{"default", nil, "127.0.0.1 unreachable\n10.0.2.2 unreachable\nmirror reached\ndns 1\n" + added, 0},
		{"none", []string{"--network", "none"}, "127.0.0.1 unreachable\n10.0.2.2 n/a\nmirror unreachable\ndns 0\n" + added, 0},
		{"host", []string{"--network", "host"}, "127.0.0.1 reached\n10.0.2.2 n/a\nmirror reached\ndns 1\n" + added, 1},
	}
	forEngines(t, func(t *testing.T, eng []string) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "fs")
				before := accepted.Load()
				args := append([]string{"--root", root, "--no-cache", "-o", "type=local,dest=" + out, "--add-host", "added.example:192.0.2.7"}, tc.args...)
				mustBuild(t, df, append(args, eng...)...)
				got, err := os.ReadFile(filepath.Join(out, "net.txt"))
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(strings.Fields(string(got)), " ") != strings.Join(strings.Fields(tc.want), " ") {
					t.Errorf("net.txt:\n%s\nwant:\n%s", got, tc.want)
				}
				if n := accepted.Load() - before; n != tc.conns {
					t.Errorf("the host's loopback server accepted %d connections, want %d", n, tc.conns)
				}
			})
		}
	})
}

// tcpServer listens on the host's 127.0.0.1 and counts the connections it
// accepts.
func tcpServer(t *testing.T) (int, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	n := new(atomic.Int32)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, n
}

// TestRunNetworkFlag: RUN --network overrides the build's network, and
// --network=host needs the network.host entitlement (--allow network.host
// or --network host), checked before the cache as BuildKit does; the mode
// is part of the step's cache key.
func TestRunNetworkFlag(t *testing.T) {
	root := busyboxRoot(t)
	ifaces := "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | sort | tr '\\n' ' ' > /ifaces"
	read := func(dir string) string {
		b, err := os.ReadFile(filepath.Join(dir, "ifaces"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	build := func(df string, args ...string) string {
		out := filepath.Join(t.TempDir(), "fs")
		mustBuild(t, df, append([]string{"--root", root, "-o", "type=local,dest=" + out}, args...)...)
		return read(out)
	}
	if got := build("FROM busybox\nRUN " + ifaces + "\n"); got != "lo tap0" {
		t.Errorf("default network: interfaces %q, want lo tap0", got)
	}
	if got := build("FROM busybox\nRUN --network=none " + ifaces + "\n"); got != "lo" {
		t.Errorf("RUN --network=none: interfaces %q, want lo", got)
	}
	if got := build("FROM busybox\nRUN --network=default "+ifaces+"\n", "--network", "none"); got != "lo" {
		t.Errorf("RUN --network=default in a --network none build: interfaces %q, want lo", got)
	}
	hostDF := "FROM busybox\nRUN --network=host " + ifaces + "\n"
	r := buildDockerfile(t, hostDF, "--root", root)
	if r.exitCode() != 1 || !strings.Contains(r.stderr, "Dockerfile:2") || !strings.Contains(r.stderr, "network.host entitlement") {
		t.Errorf("RUN --network=host without the entitlement: exit %d\n%s", r.exitCode(), r.stderr)
	}
	for _, args := range [][]string{{"--allow", "network.host"}, {"--network", "host"}} {
		if got := build(hostDF, args...); strings.Contains(got, "tap0") || !strings.Contains(got, "lo") || got == "lo" {
			t.Errorf("RUN --network=host with %v: interfaces %q, want the host's", args, got)
		}
	}
	// Cached with the entitlement, the step is still refused without it.
	r = buildDockerfile(t, hostDF, "--root", root)
	if r.exitCode() != 1 || !strings.Contains(r.stderr, "network.host entitlement") {
		t.Errorf("a cached RUN --network=host without the entitlement: exit %d\n%s", r.exitCode(), r.stderr)
	}
	// The mode is in the key: the same RUN in another network runs again.
	df := "FROM busybox\nRUN echo key; " + ifaces + "\n"
	build(df)
	if r := mustBuild(t, df, "--root", root, "--network", "none"); strings.Contains(r.stderr, "#2 CACHED") {
		t.Errorf("the RUN of a default-network build was reused with --network none:\n%s", r.stderr)
	}
	for _, bad := range [][]string{{"--network", "bridge"}, {"--allow", "network.everything"}, {"--allow", "security.insecure"}} {
		r := run(t, "", nil, append(append([]string{"--root", t.TempDir()}, bad...), t.TempDir())...)
		if r.exitCode() != 1 || !strings.Contains(r.stderr, "invalid "+bad[0]) {
			t.Errorf("%v: exit %d\n%s", bad, r.exitCode(), r.stderr)
		}
	}
}
