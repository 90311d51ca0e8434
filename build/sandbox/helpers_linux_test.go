package sandbox

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testRootfs is a busybox root filesystem shared (read-only) by all tests.
var testRootfs string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			println("sandbox tests need root; skipping")
			return 0
		}
		dir, err := os.MkdirTemp("", "sandbox-test-rootfs-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		if err := buildRootfs(dir); err != nil {
			panic(err)
		}
		testRootfs = dir
		return m.Run()
	}()
	os.Exit(code)
}

// buildRootfs makes a minimal image: static busybox with applet links,
// /etc/passwd and /etc/group with a "builder" user in two extra groups, and
// the /proc, /dev and /sys of real images.
func buildRootfs(dir string) error {
	for _, d := range []string{"bin", "etc", "tmp", "root", "proc", "dev", "sys"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("/usr/bin/busybox", "--list").Output()
	if err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd":    "root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000::/home/builder:/bin/sh\n",
		"etc/group":     "root:x:0:\nbuilder:x:1000:\nextra:x:2000:builder\nmore:x:3000:other,builder\n",
		"etc/lowerfile": "from the lower layer\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// newSpec returns a Spec over the test rootfs with fresh upper and work dirs.
func newSpec(t testing.TB, isolation string, script string) Spec {
	t.Helper()
	base := t.TempDir()
	upper, work := filepath.Join(base, "upper"), filepath.Join(base, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Spec{
		Lowerdirs: []string{testRootfs},
		Upperdir:  upper,
		Workdir:   work,
		Args:      []string{"/bin/sh", "-c", script},
		Env:       []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Settings: Settings{
			Hosts:      []byte("127.0.0.1 localhost\n"),
			ResolvConf: []byte("nameserver 192.0.2.1\n"),
			Isolation:  isolation,
		},
	}
}

// run runs spec and returns stdout, stderr and the error.
func run(t testing.TB, spec Spec) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	spec.Stdout, spec.Stderr = &stdout, &stderr
	err := Run(context.Background(), spec)
	return stdout.String(), stderr.String(), err
}

// upperEntries lists every path in an upper directory.
func upperEntries(t testing.TB, upper string) []string {
	t.Helper()
	var got []string
	err := filepath.Walk(upper, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p != upper {
			rel, _ := filepath.Rel(upper, p)
			got = append(got, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// isolations are the engines every behaviour test runs under.
func isolations(t *testing.T) []string {
	isos := []string{IsolationBuiltin}
	if _, err := exec.LookPath("runc"); err == nil {
		isos = append(isos, IsolationOCI)
	} else {
		t.Log("runc not installed; testing the builtin engine only")
	}
	return isos
}
