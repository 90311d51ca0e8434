package conformance

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ibuild/ibuild/registry/registrytest"
)

// env is what every case shares: one buildkitd, one registry holding the
// bases, one ibuild state directory.
type env struct {
	root     string // the repository root
	ibuild   string // ibuild binary
	buildctl string
	bkAddr   string // buildkitd's unix socket address
	registry string // 127.0.0.1:PORT
	ibRoot   string // ibuild --root
	work     string // per-case scratch directories live here

	mu    sync.Mutex
	bases map[string]*baseOnce
}

// base is an image the cases may build FROM, made available under the same
// name to both builders.
type base struct {
	// name is the familiar reference without ":latest", which is also
	// BuildKit's named-context key for every spelling of the image
	// (busybox, busybox:latest, docker.io/library/busybox all map to
	// context:busybox; frontend/dockerui NamedContext in v0.17.3).
	name   string
	source func(e *env) (string, error)
	change []string // ibuild import --change instructions (those of the upstream image)
}

type baseOnce struct {
	once sync.Once
	err  error
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var bases = []base{
	{name: "busybox",
		source: testbase("busybox", "busybox.tar"),
		change: []string{"ENV " + defaultPath, `CMD ["sh"]`}},
	{name: "debian:bookworm",
		source: testbase("debian", "debian-bookworm-minbase.tar"),
		change: []string{"ENV " + defaultPath, `CMD ["bash"]`}},
	{name: "alpine:3.20.3",
		source: alpineTarball,
		change: []string{"ENV " + defaultPath, `CMD ["/bin/sh"]`}},
}

// testbase returns the path of a hack/testbases.sh tarball, building it first
// when it is missing.
func testbase(which, file string) func(e *env) (string, error) {
	return func(e *env) (string, error) {
		dir := os.Getenv("IBUILD_TESTBASES")
		if dir == "" {
			dir = "/var/cache/ibuild-testbases"
		}
		path := filepath.Join(dir, file)
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		if out, err := exec.Command(filepath.Join(e.root, "hack", "testbases.sh"), which).CombinedOutput(); err != nil {
			return "", fmt.Errorf("hack/testbases.sh %s: %w\n%s", which, err, out)
		}
		return path, nil
	}
}

func alpineTarball(e *env) (string, error) {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	path := filepath.Join(e.root, "..", "shared", "testdata", "alpine", "alpine-minirootfs-3.20.3-"+arch+".tar.gz")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("alpine base: %w", err)
	}
	return path, nil
}

// usedBases lists the bases a case's Dockerfile or build args name, and
// always busybox (a name may be assembled from ARGs: FROM busy$a).
func usedBases(c *Case) ([]base, error) {
	df, err := os.ReadFile(filepath.Join(c.ContextDir(), "Dockerfile"))
	if err != nil {
		return nil, err
	}
	text := string(df)
	for _, v := range c.BuildArgs {
		text += "\n" + v
	}
	var used []base
	for _, b := range bases {
		if b.name == "busybox" || strings.Contains(text, b.name) {
			used = append(used, b)
		}
	}
	return used, nil
}

// prepare imports b into ibuild's store and pushes it to the registry, once.
func (e *env) prepare(ctx context.Context, b base) error {
	e.mu.Lock()
	o := e.bases[b.name]
	if o == nil {
		o = &baseOnce{}
		e.bases[b.name] = o
	}
	e.mu.Unlock()
	o.once.Do(func() {
		src, err := b.source(e)
		if err != nil {
			o.err = err
			return
		}
		args := []string{"--root", e.ibRoot, "import", "-t", b.name}
		for _, c := range b.change {
			args = append(args, "--change", c)
		}
		if out, err := run(ctx, e.ibuild, append(args, src)...); err != nil {
			o.err = fmt.Errorf("importing base %s (%s): %w\n%s", b.name, src, err, tail(out, 20))
			return
		}
		if out, err := run(ctx, e.ibuild, "--root", e.ibRoot, "push", "--insecure-registry", e.registry,
			b.name, e.registry+"/"+b.name); err != nil {
			o.err = fmt.Errorf("pushing base %s: %w\n%s", b.name, err, tail(out, 20))
		}
	})
	return o.err
}

// run runs a command and returns its combined output; the error names the
// program (the case's commands.txt has the whole command lines).
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	return out, nil
}

// childEnv is the environment of the builders: this one without the
// variables that change a build (SOURCE_DATE_EPOCH, proxies).
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "SOURCE_DATE_EPOCH", "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// startBuildkitd runs the pinned buildkitd (OCI worker, runc, host network)
// with its state in a temporary directory, trusting the registry over plain
// HTTP, and stops it and removes its state at cleanup.
func startBuildkitd(t *testing.T, bin, registry string) string {
	dir, err := os.MkdirTemp("", "conformance-buildkitd-")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("[registry.%q]\n  http = true\n  insecure = true\n", registry)
	if err := os.WriteFile(filepath.Join(dir, "buildkitd.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "unix://" + filepath.Join(dir, "buildkitd.sock")
	logf, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "buildkitd"), "--root", filepath.Join(dir, "state"),
		"--addr", addr, "--config", filepath.Join(dir, "buildkitd.toml"),
		"--oci-worker=true", "--containerd-worker=false", "--oci-worker-net=host")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that cleanup can signal buildkitd and its
	// runc children together; Pdeathsig stops it if this test binary dies
	// without running cleanups (a -timeout panic, a kill).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting buildkitd: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logf.Close()
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing buildkitd state: %v", err)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(filepath.Join(bin, "buildctl"), "--addr", addr, "debug", "workers").CombinedOutput()
		if err == nil && bytes.Contains(out, []byte("linux/")) {
			return addr
		}
		select {
		case werr := <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "buildkitd.log"))
			t.Fatalf("buildkitd exited: %v\n%s", werr, tail(log, 30))
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "buildkitd.log"))
			t.Fatalf("buildkitd did not answer within 60s: %v %s\n%s", err, out, tail(log, 30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// unmountUnder lazily unmounts whatever is still mounted below dir (a
// killed buildkitd may leave overlay mounts), deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var mnts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			mnts = append(mnts, f[1])
		}
	}
	for i := len(mnts) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mnts[i], syscall.MNT_DETACH)
	}
}

// buildkitBin returns the directory holding buildkitd and buildctl:
// $IBUILD_BUILDKIT_BIN, or what hack/buildkit.sh installs (building it when missing).
func buildkitBin(t *testing.T, root string) string {
	if dir := os.Getenv("IBUILD_BUILDKIT_BIN"); dir != "" {
		return dir
	}
	out, err := exec.Command(filepath.Join(root, "hack", "buildkit.sh")).Output()
	if err != nil {
		t.Fatalf("hack/buildkit.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// ibuildBin returns $IBUILD_BIN or an ibuild built from this tree.
func ibuildBin(t *testing.T, root string) string {
	if bin := os.Getenv("IBUILD_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "ibuild")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ibuild")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building ibuild: %v\n%s", err, out)
	}
	return bin
}

// newEnv starts the registry and buildkitd the cases share.
func newEnv(t *testing.T) *env {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"umoci", "runc", registrytest.Binary} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("conformance needs %s (hack/install-deps.sh): %v", tool, err)
		}
	}
	bin := buildkitBin(t, root)
	e := &env{
		root:     root,
		ibuild:   ibuildBin(t, root),
		buildctl: filepath.Join(bin, "buildctl"),
		registry: registrytest.Start(t),
		bases:    map[string]*baseOnce{},
	}
	e.bkAddr = startBuildkitd(t, bin, e.registry)
	e.ibRoot = t.TempDir()
	switch e.work = os.Getenv("CONFORMANCE_WORK"); {
	case e.work != "":
		if err := os.MkdirAll(e.work, 0o755); err != nil {
			t.Fatal(err)
		}
	case os.Getenv("CONFORMANCE_KEEP") == "1":
		if e.work, err = os.MkdirTemp("", "conformance-work-"); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("CONFORMANCE_KEEP=1: case outputs kept in %s\n", e.work)
	default:
		e.work = t.TempDir()
	}
	return e
}
