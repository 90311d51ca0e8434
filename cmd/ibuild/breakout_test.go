package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/internal/testbase"
)

// TestBreakoutSecurityOpt: --security-opt seccomp= behaves as docker's:
// the default profile refuses unshare, unconfined allows it, a profile file
// applies, and a bad file is an error naming it before anything runs. The
// attacks themselves are build/sandbox's TestBreakout* tests.
func TestBreakoutSecurityOpt(t *testing.T) {
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		df := "FROM busybox\nRUN unshare -U true\n"
		r := buildDockerfile(t, df, append([]string{"--root", root}, eng...)...)
		if r.exitCode() == 0 || !strings.Contains(r.stderr, "Operation not permitted") || !strings.Contains(r.stderr, "Dockerfile:2") {
			t.Fatalf("unshare -U under the default profile: exit %d, stderr:\n%s", r.exitCode(), r.stderr)
		}
		mustBuild(t, df, append([]string{"--root", root, "--no-cache", "--security-opt", "seccomp=unconfined"}, eng...)...)

		profile := filepath.Join(t.TempDir(), "profile.json")
		writeTree(t, filepath.Dir(profile), map[string]string{"profile.json": `{"defaultAction":"SCMP_ACT_ALLOW",
 "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`})
		r = buildDockerfile(t, "FROM busybox\nRUN mkdir /x\n", append([]string{"--root", root, "--security-opt", "seccomp=" + profile}, eng...)...)
		if r.exitCode() == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
			t.Fatalf("mkdir under a profile refusing it: exit %d, stderr:\n%s", r.exitCode(), r.stderr)
		}
	})
	t.Run("bad profile", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(bad, []byte("{not json"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := buildDockerfile(t, "FROM scratch\n", "--root", t.TempDir(), "--security-opt", "seccomp="+bad)
		if r.exitCode() == 0 || !strings.Contains(r.stderr, bad) {
			t.Fatalf("exit %d, stderr:\n%s\nwant an error naming %s", r.exitCode(), r.stderr, bad)
		}
	})
}

// TestBreakoutSudo: with the filter and the device rules in place RUN keeps
// docker's defaults: apt-get installs sudo, and a USER runs it to become
// root (setuid works: no_new_privs is off by default). Needs the Debian
// mirror, like TestRunNetwork.
func TestBreakoutSudo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping apt-get against the Debian mirror")
	}
	root := t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "debian", testbase.Debian(t))
	df := `FROM debian
RUN apt-get update && apt-get install -y --no-install-recommends sudo \
 && useradd -m builder && echo 'builder ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/builder
USER builder
ARG ENGINE
RUN echo "$ENGINE" && id -u > /tmp/user && sudo -n id -u > /tmp/sudo
`
	forEngines(t, func(t *testing.T, eng []string) {
		local := filepath.Join(t.TempDir(), "rootfs")
		// The engine as a build arg keys the sudo step per engine, so that
		// each engine really runs it (the apt-get step is shared).
		mustBuild(t, df, append([]string{"--root", root, "-o", "type=local,dest=" + local, "--build-arg", "ENGINE=" + eng[1]}, eng...)...)
		if got := readOut(t, local, "tmp/user") + readOut(t, local, "tmp/sudo"); got != "1000\n0\n" {
			t.Errorf("id -u, sudo id -u = %q, want 1000 then 0", got)
		}
	})
}

// TestBreakoutDevicesBuild is issue 11's device attack as Dockerfiles: a
// node made by RUN, a 0666 node in the image's layers read as USER 65534
// with no-new-privileges, and a node in the build context bind-mounted
// into RUN all point at a loop device backed by a canary file; every read
// and write fails and the canary is intact.
func TestBreakoutDevicesBuild(t *testing.T) {
	minor, intact := testbase.LoopCanary(t)
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		attack := func(node string) string {
			return strings.ReplaceAll("head -c 11 NODE; echo PWNED | dd of=NODE conv=notrunc; head -c 1 NODE", "NODE", node)
		}
		for _, tc := range []struct{ name, dockerfile string }{
			{"mknod", fmt.Sprintf("FROM busybox\nRUN mknod /tmp/d b 7 %d && %s\n", minor, attack("/tmp/d"))},
			{"image node as nobody", fmt.Sprintf("FROM busybox\nRUN mknod -m 0666 /disk b 7 %d\nUSER 65534\nRUN %s\n", minor, attack("/disk"))},
			{"context node", "FROM busybox\nRUN --mount=type=bind,target=/ctx " + attack("/ctx/disk") + "\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				writeTree(t, dir, map[string]string{"Dockerfile": tc.dockerfile})
				if err := unix.Mknod(filepath.Join(dir, "disk"), unix.S_IFBLK|0o666, int(unix.Mkdev(7, minor))); err != nil {
					t.Fatal(err)
				}
				args := append([]string{"--root", root, "--progress", "plain", "--security-opt", "no-new-privileges"}, eng...)
				r := run(t, "", nil, append(args, dir)...)
				if r.exitCode() == 0 || strings.Contains(r.stderr, "canary-disk") || !intact() {
					t.Fatalf("the build reached the host's disk: exit %d, stderr:\n%s", r.exitCode(), r.stderr)
				}
				if !strings.Contains(r.stderr, "Operation not permitted") && !strings.Contains(r.stderr, "Permission denied") {
					t.Fatalf("stderr lacks the refusal:\n%s", r.stderr)
				}
			})
		}
	})
}
