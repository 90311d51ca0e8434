package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/internal/testbase"
	"github.com/ibuild/ibuild/registry"
	"github.com/ibuild/ibuild/registry/registrytest"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkStoreValid fails if any blob does not hash to its name or partial
// writes are left in ingest or snapshots.
func checkStoreValid(t *testing.T, root string) {
	t.Helper()
	blobs, _ := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
	for _, b := range blobs {
		raw, err := os.ReadFile(filepath.Join(root, "blobs", "sha256", b.Name()))
		if err != nil {
			t.Errorf("blob %s: %v", b.Name(), err)
			continue
		}
		if sum := fmt.Sprintf("%x", sha256.Sum256(raw)); sum != b.Name() {
			t.Errorf("blob %s hashes to %s", b.Name(), sum)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "ingest")); len(ents) != 0 {
		t.Errorf("ingest leftovers: %v", ents)
	}
	snaps, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	for _, e := range snaps {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("snapshot leftover %s", e.Name())
		}
	}
}

// TestDiskFull builds on a 24 MiB tmpfs --root a step whose layer does not
// fit: the build fails with a clear error, the store holds nothing
// invalid, and the same build succeeds once there is room.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a tmpfs needs root")
	}
	s := newHostSandbox(t)
	must(t, os.Mkdir(s.root, 0o755))
	must(t, unix.Mount("tmpfs", s.root, "tmpfs", 0, "size=24m"))
	t.Cleanup(func() { unix.Unmount(s.root, unix.MNT_DETACH) })
	mustRun(t, "--root", s.root, "import", "-t", "busybox", testbase.Busybox(t))
	ctxDir := t.TempDir()
	// 14 MiB of random bytes fit in the RUN's upper directory; its layer
	// blob (incompressible, another 14 MiB) does not.
	writeTree(t, ctxDir, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 14680064 /dev/urandom > /big\nRUN echo ok > /ok\n"})
	r := runFor(t, 3*time.Minute, "--root", s.root, "--progress", "plain", "-t", "big", ctxDir)
	if r.err == nil {
		t.Fatalf("build on a full disk succeeded:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "Dockerfile:2") {
		t.Errorf("error does not say the disk is full at Dockerfile:2:\n%s", r.stderr)
	}
	t.Logf("error: %s", lastLine(r.stderr))
	checkStoreValid(t, s.root)
	if images := mustRun(t, "--root", s.root, "images").stdout; strings.Contains(images, "big") {
		t.Errorf("a failed build was tagged:\n%s", images)
	}

	must(t, unix.Mount("tmpfs", s.root, "tmpfs", unix.MS_REMOUNT, "size=128m"))
	r = runFor(t, 3*time.Minute, "--root", s.root, "--progress", "plain", "-t", "big", ctxDir)
	if r.err != nil {
		t.Fatalf("build after freeing space: %v\n%s", r.err, r.stderr)
	}
	checkStoreValid(t, s.root)
	mustRun(t, "--root", s.root, "images")
}

// TestNoHostLeakage runs a build with a canary environment variable,
// docker credentials and an extra open file descriptor in the ibuild
// process, and checks that RUN sees none of them and that nothing of them
// is recorded in the store (images, configs, history, step records).
func TestNoHostLeakage(t *testing.T) {
	s := newHostSandbox(t)
	mustRun(t, "--root", s.root, "import", "-t", "busybox", testbase.Busybox(t))
	const canary = "IBUILD_CANARY_7f3a9"
	dockerCfg := t.TempDir()
	writeTree(t, dockerCfg, map[string]string{"config.json": `{"auths":{"example.com":{"auth":"` + canary + `"}}}`})
	leaky, err := os.Create(filepath.Join(t.TempDir(), "leaky-fd-"+canary))
	must(t, err)
	defer leaky.Close()

	ctxDir := t.TempDir()
	writeTree(t, ctxDir, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN env > /env.txt && ls -l /proc/self/fd/ > /fds.txt && cat /proc/self/mountinfo > /mountinfo.txt && " +
		"(ls -la /root /run /tmp; find / -xdev -name 'config.json') > /files.txt 2>&1\n"})
	out := filepath.Join(s.parent, "out")
	cmd := exec.Command(ibuildBin, "--root", s.root, "--progress", "plain", "-t", "leak", "-o", "type=local,dest="+out, ctxDir)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dockerCfg, "DOCKER_CONFIG=" + dockerCfg,
		canary + "=" + canary, "http_proxy=http://" + canary + ":1"}
	cmd.ExtraFiles = []*os.File{leaky}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	for _, f := range []string{"env.txt", "fds.txt", "mountinfo.txt", "files.txt"} {
		got := readOut(t, out, f)
		if strings.Contains(got, canary) || strings.Contains(got, dockerCfg) {
			t.Errorf("RUN saw the host in /%s:\n%s", f, got)
		}
	}
	env := readOut(t, out, "env.txt")
	for _, line := range strings.Split(strings.TrimSpace(env), "\n") {
		name, _, _ := strings.Cut(line, "=")
		switch name {
		case "PATH", "HOME", "HOSTNAME", "PWD", "SHLVL":
		default:
			t.Errorf("RUN environment has %s, not set by the image or Dockerfile", line)
		}
	}
	// fds: 0, 1, 2 and the directory ls is reading.
	if n := strings.Count(readOut(t, out, "fds.txt"), " -> "); n > 4 {
		t.Errorf("RUN inherited %d descriptors:\n%s", n, readOut(t, out, "fds.txt"))
	}
	// Nothing of the host in the store: configs, manifests, history, step
	// records, index.
	filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err != nil || !fi.Mode().IsRegular() || fi.Size() > 1<<20 {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(canary)) || bytes.Contains(b, []byte(dockerCfg)) {
			t.Errorf("%s records the host environment", p)
		}
		return nil
	})
	for _, args := range [][]string{{"inspect", "leak"}, {"history", "--no-trunc", "leak"}} {
		if r := mustRun(t, append([]string{"--root", s.root}, args...)...); strings.Contains(r.stdout, canary) {
			t.Errorf("ibuild %s shows the host environment:\n%s", args[0], r.stdout)
		}
	}
}

// TestPullPushKillLoop interrupts pulls and pushes with SIGKILL and SIGINT
// at random moments. Every blob left in the store must hash to its name,
// an interrupted (SIGINT) command must clean its partial writes itself, the
// next command must sweep what a SIGKILL left, and a final pull and push
// must succeed.
func TestPullPushKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop takes half a minute; skipped with -short")
	}
	host := registrytest.Start(t)
	img, err := random.Image(8<<20, 4)
	must(t, err)
	ref := host + "/kill/src:1"
	must(t, registry.Push(context.Background(), img, ref))
	want, err := img.Digest()
	must(t, err)

	cmdFor := func(root string, args ...string) *exec.Cmd {
		cmd := exec.Command(ibuildBin, append([]string{"--root", root}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}
	timeIt := func(root string, args ...string) time.Duration {
		start := time.Now()
		if out, err := cmdFor(root, args...).CombinedOutput(); err != nil {
			t.Fatalf("ibuild %v: %v\n%s", args, err, out)
		}
		return time.Since(start)
	}
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	interrupt := func(root string, full time.Duration, args ...string) {
		for i := range 8 {
			cmd := cmdFor(root, args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			must(t, cmd.Start())
			time.Sleep(time.Duration(rng.Int64N(int64(full) + 1)))
			sig := syscall.SIGKILL
			if i%2 == 1 {
				sig = syscall.SIGINT
			}
			syscall.Kill(-cmd.Process.Pid, sig)
			err := cmd.Wait()
			t.Logf("ibuild %v: %v after %v", args, sig, err)
			blobsValid(t, root)
			ingest, _ := os.ReadDir(filepath.Join(root, "ingest"))
			if sig == syscall.SIGINT && len(ingest) != 0 {
				t.Errorf("ibuild %v left %d ingest files after SIGINT:\n%s", args, len(ingest), out.String())
			}
			// What a SIGKILL left is swept by the next command once stale
			// (a minute); age it instead of waiting.
			old := time.Now().Add(-2 * time.Minute)
			for _, e := range ingest {
				os.Chtimes(filepath.Join(root, "ingest", e.Name()), old, old)
			}
			mustRun(t, "--root", root, "images")
			checkStoreValid(t, root)
		}
	}

	root := filepath.Join(t.TempDir(), "root")
	full := timeIt(root, "pull", ref)
	t.Logf("a pull takes %v", full)
	os.RemoveAll(root)
	interrupt(root, full, "pull", ref)
	timeIt(root, "pull", ref)

	dst := host + "/kill/dst:1"
	fullPush := timeIt(root, "push", ref, host+"/kill/timing:1")
	interrupt(root, fullPush, "push", ref, dst)
	timeIt(root, "push", ref, dst)
	got, err := registry.Digest(context.Background(), dst)
	must(t, err)
	if got != want {
		t.Errorf("pushed %s, want %s", got, want)
	}
}

// blobsValid fails if a blob does not hash to its name (a missing store
// is fine: the kill came first).
func blobsValid(t *testing.T, root string) {
	t.Helper()
	blobs, _ := os.ReadDir(filepath.Join(root, "blobs", "sha256"))
	for _, b := range blobs {
		raw, err := os.ReadFile(filepath.Join(root, "blobs", "sha256", b.Name()))
		if err == nil && fmt.Sprintf("%x", sha256.Sum256(raw)) != b.Name() {
			t.Errorf("blob %s does not hash to its name", b.Name())
		}
	}
}

// bombLayer is a gzip layer of n MiB of zeros in 1 MiB files: a few
// hundred KiB that expand a thousandfold.
func bombLayer(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	zero := make([]byte, 1<<20)
	for i := range n {
		must(t, tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("zero%04d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 20}))
		_, err := tw.Write(zero)
		must(t, err)
	}
	must(t, tw.Close())
	must(t, zw.Close())
	return buf.Bytes()
}

// TestLayerBomb builds FROM a base whose layer is a gzip bomb, with the
// layer size limit lowered below what it expands to: the build fails
// naming the layer and the limit, and leaves no partial snapshot.
func TestLayerBomb(t *testing.T) {
	host := registrytest.Start(t)
	bomb := bombLayer(t, 256)
	t.Logf("bomb: %d bytes expanding to 256 MiB", len(bomb))
	ref := pushHostileBase(t, host, "bomb", bomb)
	s := newHostSandbox(t)
	before := listHost(t, s.victim)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN true\n"})
	r := runFor(t, 3*time.Minute, "--root", s.root, "--progress", "plain", "--max-layer-size", "64MiB", dir)
	if strings.Contains(r.stderr, "unknown flag") {
		t.Fatal("--max-layer-size is not a flag: " +
			"cache Store.Snapshot's layer.Decompress/ApplySnapshot and build/export.go applyBlob; layer enforces it")
	}
	if r.err == nil {
		t.Fatal("build FROM a bomb succeeded under a 64 MiB limit")
	}
	for _, want := range []string{"sha256:", "64MiB", "limit"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	checkStoreValid(t, s.root)
	s.untouched(t, before)
}

// TestPullAbsurdManifest pulls from a registry serving a 5 MiB manifest:
// the pull fails naming the reference and the limit, and stores nothing.
func TestPullAbsurdManifest(t *testing.T) {
	big := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"x":"` +
		strings.Repeat("x", 5<<20) + `"}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/manifests/") {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			io.WriteString(w, big)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/absurd/app:1"
	root := t.TempDir()
	mustRun(t, "--root", root, "images")
	before := storeListing(t, root)
	r := runFor(t, time.Minute, "--root", root, "pull", ref)
	if r.err == nil {
		t.Fatal("pull of a 5 MiB manifest succeeded")
	}
	for _, want := range []string{ref, "exceeds the size limit"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if after := storeListing(t, root); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("store changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestLimitFlags checks that the limit flags are honoured: a normal image
// becomes "too large" under tiny limits, and works under the defaults.
func TestLimitFlags(t *testing.T) {
	host := registrytest.Start(t)
	root := t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "bb", testbase.Busybox(t))
	ref := host + "/limits/bb:1"
	mustRun(t, "--root", root, "push", "bb", ref)

	r := run(t, "", nil, "--root", t.TempDir(), "--max-manifest-size", "100B", "pull", ref)
	if r.exitCode() == 0 || !strings.Contains(r.stderr, "exceeds the size limit") || !strings.Contains(r.stderr, "HINT:") {
		t.Errorf("pull under --max-manifest-size 100B: exit %d\n%s", r.exitCode(), r.stderr)
	}
	mustRun(t, "--root", t.TempDir(), "pull", ref)

	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM bb\nRUN true\n"})
	r = run(t, "", nil, "--root", root, "--max-layer-entries", "10", dir)
	if r.exitCode() == 0 || !strings.Contains(r.stderr, "limit") || !strings.Contains(r.stderr, "--max-layer-size") {
		t.Errorf("build under --max-layer-entries 10: exit %d\n%s", r.exitCode(), r.stderr)
	}
	mustRun(t, "--root", root, dir)
}
