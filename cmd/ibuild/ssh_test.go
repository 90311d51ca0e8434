package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startAgent starts ssh-agent on a socket of its own with one new key whose
// comment is comment, and returns the socket.
func startAgent(t *testing.T, comment string) string {
	t.Helper()
	for _, tool := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s (openssh-client) not installed: %v", tool, err)
		}
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	key := filepath.Join(dir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
	list := exec.Command("ssh-add", "-l")
	list.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := list.CombinedOutput(); err != nil || !strings.Contains(string(out), comment) {
		t.Fatalf("ssh-add -l on the host: %v\n%s", err, out)
	}
	return sock
}

// TestSSHMount: --ssh forwards an ssh-agent to RUN --mount=type=ssh as
// BuildKit does: SSH_AUTH_SOCK names a socket (default
// /run/buildkit/ssh_agent.0, mode 0600 root:root) through which the step
// lists the agent's keys; mode/uid/gid and target are honoured, a missing
// optional agent is skipped and a missing required one is an error.
func TestSSHMount(t *testing.T) {
	sock := startAgent(t, "ibuild-test-key")
	ctxDir := t.TempDir()
	gobuild := exec.Command("go", "build", "-o", filepath.Join(ctxDir, "agentls"), "./testdata/agentls")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("building agentls: %v\n%s", err, out)
	}
	df := "FROM busybox\nCOPY agentls /agentls\n" +
		"RUN echo 'app:x:1000:1000::/:/bin/sh' >> /etc/passwd && mkdir -m 777 /out\n" +
		"RUN --mount=type=ssh sh -c 'echo $SSH_AUTH_SOCK > /out/sock; stat -c \"%a %u %g\" $SSH_AUTH_SOCK >> /out/sock; /agentls > /out/keys'\n" +
		"RUN --mount=type=ssh,id=other sh -c 'echo \"[$SSH_AUTH_SOCK]\" > /out/optional'\n" +
		"USER app\n" +
		"RUN --mount=type=ssh,mode=0666,target=/tmp/agent /agentls > /out/app\n"
	writeTree(t, ctxDir, map[string]string{"Dockerfile": df})
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		local := filepath.Join(t.TempDir(), "fs")
		r := run(t, "", []string{"SSH_AUTH_SOCK=" + sock}, append(append([]string{"--root", root, "--progress", "plain", "-o", local, "--ssh", "default"}, eng...), ctxDir)...)
		if r.err != nil {
			t.Fatalf("build with --ssh default: %v\n%s", r.err, r.stderr)
		}
		want := map[string]string{
			"sock":     "/run/buildkit/ssh_agent.0\n600 0 0",
			"keys":     "ibuild-test-key",
			"optional": "[]",
			"app":      "ibuild-test-key",
		}
		for name, w := range want {
			b, err := os.ReadFile(filepath.Join(local, "out", name))
			if got := strings.TrimSpace(string(b)); err != nil || got != w {
				t.Errorf("/out/%s = %q, %v; want %q", name, got, err, w)
			}
		}
		r = run(t, "", nil, append(append([]string{"--root", root, "--progress", "plain", "--no-cache", "--ssh", "other=" + sock}, eng...), ctxDir)...)
		if r.err == nil || !strings.Contains(r.stderr, "agentls") {
			t.Errorf("without the default agent the first ssh step should fail to connect: %v\n%s", r.err, r.stderr)
		}
	})
	root := busyboxRoot(t)
	r := buildDockerfile(t, "FROM busybox\nRUN --mount=type=ssh,required=true true\n", "--root", root)
	if r.exitCode() != 1 || !strings.Contains(r.stderr, "ssh default: no agent forwarded") || !strings.Contains(r.stderr, "Dockerfile:2") {
		t.Errorf("required ssh without --ssh: exit %d\n%s", r.exitCode(), r.stderr)
	}
	for _, tc := range []struct{ flag, want string }{
		{"default=" + filepath.Join(ctxDir, "Dockerfile"), "not an agent socket"},
		{"=x", "want default or ID=SOCKET"},
		{"k=/nonexistent.sock", "no such file"},
	} {
		r := buildDockerfile(t, "FROM busybox\n", "--root", root, "--ssh", tc.flag)
		if r.exitCode() != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("--ssh %s: exit %d, want %q\n%s", tc.flag, r.exitCode(), tc.want, r.stderr)
		}
	}
	r = run(t, "", nil, "--root", root, "--ssh", "default", t.TempDir())
	if r.exitCode() != 1 || !strings.Contains(r.stderr, "SSH_AUTH_SOCK is not set") {
		t.Errorf("--ssh default without SSH_AUTH_SOCK: exit %d\n%s", r.exitCode(), r.stderr)
	}
}
