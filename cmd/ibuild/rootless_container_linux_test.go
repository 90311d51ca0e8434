package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibuild/ibuild/internal/testbase"
)

// privateDocker starts a dockerd of the test's own (no bridge, no NAT, its
// own data root and socket), as PEERS.md's benchmarks do, and returns the
// DOCKER_HOST for the docker CLI. It skips the test without docker.io or
// when the daemon does not come up.
func privateDocker(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("starting dockerd needs root")
	}
	for _, tool := range []string{"dockerd", "/usr/bin/docker"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian's docker.io)", tool)
		}
	}
	dir, err := os.MkdirTemp("/var/tmp", "ibuild-dk-")
	if err != nil {
		t.Fatal(err)
	}
	host := "unix://" + dir + "/docker.sock"
	d := exec.Command("dockerd", "--data-root", dir+"/data", "--exec-root", dir+"/x", "-H", host,
		"--pidfile", dir+"/dockerd.pid", "--storage-driver", "overlay2", "--iptables=false", "--ip6tables=false",
		"--ip-forward=false", "--ip-masq=false", "--bridge=none", "--userland-proxy=false")
	var log bytes.Buffer
	d.Stdout, d.Stderr = &log, &log
	d.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := d.Start(); err != nil {
		t.Skipf("starting dockerd: %v", err)
	}
	t.Cleanup(func() {
		_ = d.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- d.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = d.Process.Kill()
			<-done
		}
		_ = exec.Command("umount", "-R", dir+"/data").Run()
		os.RemoveAll(dir)
	})
	for i := 0; i < 150; i++ {
		if exec.Command("/usr/bin/docker", "-H", host, "info").Run() == nil {
			return host
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Skipf("dockerd did not start:\n%s", log.String())
	return ""
}

// TestRootlessInContainer runs ibuild as root of a docker container
// without --privileged: with docker's defaults it names the seccomp
// profile that refuses user namespaces, with only seccomp=unconfined it
// names the masked /proc, and with the settings the README gives it
// builds root's image (issue 13 item 2).
func TestRootlessInContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the docker daemon")
	}
	host := privateDocker(t)
	dir, err := os.MkdirTemp("/var/tmp", "ibuild-rootless-ctr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data, err := os.ReadFile(ibuildBin)
	if err != nil {
		t.Fatal(err)
	}
	busybox, err := os.ReadFile(testbase.Busybox(t))
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"busybox.tar": string(busybox),
		"ctx/Dockerfile": "FROM busybox\nRUN echo hi > /x && chown 1000:1001 /x && rm /etc/hostname\n"})
	if err := os.WriteFile(filepath.Join(dir, "ibuild"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	docker := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "/usr/bin/docker", append([]string{"-H", host}, args...)...).CombinedOutput()
		return string(out), err
	}
	// The container runs ibuild (linked against glibc) in a Debian image.
	if out, err := docker("import", testbase.Debian(t), "ibuild-test-debian"); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	// The same relative import path in both builds: it is in the history.
	// The container has no /dev/net/tun for the default network's
	// slirp4netns (docker run --device /dev/net/tun would give it one).
	script := "cd /w && ./ibuild import -t busybox busybox.tar >/dev/null && ./ibuild --network none -q ctx"
	epoch := "SOURCE_DATE_EPOCH=1700000000"
	ctr := func(opts ...string) (string, error) {
		args := append([]string{"run", "--rm", "--network", "none", "-e", epoch, "-e", "HOME=/tmp", "-v", dir + ":/w"}, opts...)
		args = append(args, "ibuild-test-debian", "sh", "-c", script)
		out, err := docker(args...)
		if err != nil && strings.Contains(out, "Error response from daemon") {
			// docker failed to start the container (once, under a full
			// test run, runc found no sh in the image): not ibuild's
			// doing, so try once more.
			t.Logf("docker could not start the container, retrying: %s", out)
			out, err = docker(args...)
		}
		return out, err
	}
	out, err := ctr()
	if err == nil || !strings.Contains(out, "refused by a seccomp profile") || !strings.Contains(out, "seccomp=unconfined") {
		t.Errorf("docker's default profile: err %v, want the seccomp refusal named:\n%s", err, out)
	}
	out, err = ctr("--security-opt", "seccomp=unconfined")
	if err == nil || !strings.Contains(out, "systempaths=unconfined") {
		t.Errorf("seccomp=unconfined alone: err %v, want the masked /proc named:\n%s", err, out)
	}
	out, err = ctr("--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined")
	if err != nil {
		t.Fatalf("with the README's settings: %v\n%s", err, out)
	}
	lines := strings.Fields(out)
	got := lines[len(lines)-1]
	root := t.TempDir()
	cmd := exec.Command(ibuildBin, "--root", root, "import", "-t", "busybox", "busybox.tar")
	cmd.Dir, cmd.Env = dir, []string{epoch, "PATH=" + os.Getenv("PATH")}
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("host import: %v\n%s", err, o)
	}
	cmd = exec.Command(ibuildBin, "--root", root, "--network", "none", "-q", "ctx")
	cmd.Dir, cmd.Env = dir, []string{epoch, "PATH=" + os.Getenv("PATH")}
	o, err := cmd.Output()
	if err != nil {
		t.Fatalf("host build: %v", err)
	}
	if want := strings.TrimSpace(string(o)); got != want {
		t.Errorf("the container's build gives %s, root's on the host %s\n%s", got, want, out)
	}
}
