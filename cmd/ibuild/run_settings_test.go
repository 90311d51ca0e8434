package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunSettingsFlags: --add-host, --shm-size and --ulimit reach RUN
// steps under both engines, and a different --add-host is a cache miss.
func TestRunSettingsFlags(t *testing.T) {
	df := "FROM busybox\nRUN cat /etc/hosts > /hosts; df -k /dev/shm | tail -1 | awk '{print $2}' > /shm; " +
		"ulimit -n > /nofile; ulimit -Hn >> /nofile; ulimit -s > /stack\n"
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		read := func(local, name string) string {
			b, err := os.ReadFile(filepath.Join(local, name))
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(b))
		}
		local := filepath.Join(t.TempDir(), "fs")
		mustBuild(t, df, append([]string{"--root", root, "-o", local, "--add-host", "db.example:10.1.2.3", "--add-host", "v6.example:fd00::7",
			"--shm-size", "128m", "--ulimit", "nofile=1024:2048", "--ulimit", "stack=16384:32768"}, eng...)...)
		hosts := read(local, "hosts")
		for _, want := range []string{"127.0.0.1\tlocalhost", "10.1.2.3\tdb.example", "fd00::7\tv6.example"} {
			if !strings.Contains(hosts, want) {
				t.Errorf("/etc/hosts lacks %q:\n%s", want, hosts)
			}
		}
		if got := read(local, "shm"); got != "131072" {
			t.Errorf("/dev/shm size %s KiB, want 131072", got)
		}
		if got := read(local, "nofile"); got != "1024\n2048" {
			t.Errorf("nofile soft/hard = %q, want 1024 and 2048", got)
		}
		if got := read(local, "stack"); got != "16" { // ulimit -s counts KiB
			t.Errorf("stack = %q KiB, want 16", got)
		}

		local2 := filepath.Join(t.TempDir(), "fs")
		mustBuild(t, df, append([]string{"--root", root, "-o", local2, "--add-host", "db.example:10.9.9.9"}, eng...)...)
		if h := read(local2, "hosts"); !strings.Contains(h, "10.9.9.9\tdb.example") {
			t.Errorf("another --add-host reused the cached step:\n%s", h)
		}
		if got := read(local2, "shm"); got != "65536" {
			t.Errorf("default /dev/shm size %s KiB, want 65536", got)
		}
	})
	for _, bad := range [][]string{{"--add-host", "noip"}, {"--add-host", "h:999.1.1.1"}, {"--add-host", "h:host-gateway"},
		{"--shm-size", "lots"}, {"--ulimit", "bogus=1:2"}, {"--ulimit", "nofile=2048:1024"}} {
		r := run(t, "", nil, append(append([]string{"--root", t.TempDir()}, bad...), t.TempDir())...)
		if r.exitCode() != 1 || !strings.Contains(r.stderr, "invalid "+bad[0]) {
			t.Errorf("%v: exit %d\n%s", bad, r.exitCode(), r.stderr)
		}
	}
}
