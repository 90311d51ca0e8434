package testbase

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultDir is where hack/testbases.sh keeps the tarballs when
// $IBUILD_TESTBASES is not set.
const DefaultDir = "/var/cache/ibuild-testbases"

// File names of the tarballs inside Dir, as written by hack/testbases.sh.
const (
	DebianFile  = "debian-bookworm-minbase.tar"
	BusyboxFile = "busybox.tar"
)

// buildTimeout bounds one run of hack/testbases.sh; debootstrap takes a few
// minutes on a good connection.
const buildTimeout = 20 * time.Minute

// base memoises the result of ensuring one tarball within a test binary.
type base struct {
	name string // argument to hack/testbases.sh
	file string
	once sync.Once
	path string
	err  error
}

var (
	debian  = &base{name: "debian", file: DebianFile}
	busybox = &base{name: "busybox", file: BusyboxFile}
)

// Dir returns the directory holding the tarballs: $IBUILD_TESTBASES, or
// DefaultDir.
func Dir() string {
	if d := os.Getenv("IBUILD_TESTBASES"); d != "" {
		return d
	}
	return DefaultDir
}

// Debian returns the path of a Debian bookworm minbase root filesystem
// tarball (debootstrap --variant=minbase), building it on first use. It skips
// t when the tarball cannot be built, or fails t when $CI is set.
func Debian(t testing.TB) string {
	t.Helper()
	return debian.get(t)
}

// Busybox returns the path of a tiny root filesystem tarball: a static
// /bin/busybox with applet symlinks, users root, app (1000) and nobody, and
// /tmp 1777. It builds it on first use and skips t when it cannot, or fails t
// when $CI is set.
func Busybox(t testing.TB) string {
	t.Helper()
	return busybox.get(t)
}

func (b *base) get(t testing.TB) string {
	t.Helper()
	b.once.Do(func() { b.path, b.err = b.ensure(t) })
	if b.err != nil {
		unavailable(t, b.err)
	}
	return b.path
}

// ensure runs hack/testbases.sh for b once. The script is idempotent and
// cheap when the tarball is up to date; running it even then picks up a
// changed recipe. An existing tarball is still used if the script fails.
func (b *base) ensure(t testing.TB) (string, error) {
	path := filepath.Join(Dir(), b.file)
	root, err := repoRoot()
	if err != nil {
		return existing(path, err)
	}
	script := filepath.Join(root, "hack", "testbases.sh")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, b.name)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return existing(path, fmt.Errorf("running hack/testbases.sh %s: %w\n%s", b.name, err, tail(out.String(), 20)))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("testbase: hack/testbases.sh %s took %s:\n%s", b.name, d.Round(time.Second), tail(out.String(), 5))
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("hack/testbases.sh %s succeeded but %w", b.name, err)
	}
	return path, nil
}

// existing returns path if a tarball is already there despite cause.
func existing(path string, cause error) (string, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return path, nil
	}
	return "", fmt.Errorf("test base %s unavailable: %w", filepath.Base(path), cause)
}

// unavailable skips t because of err, or fails it under CI, where .ci/run
// guarantees the bases and tools exist.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%v (CI is set, so this is a failure, not a skip)", err)
	}
	t.Skipf("skipping: %v", err)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory that holds go.mod. It fails t if there is none.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func repoRoot() (string, error) {
	rootOnce.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			rootErr = fmt.Errorf("finding repository root: %w", err)
			return
		}
		for dir := wd; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			} else if !errors.Is(err, os.ErrNotExist) {
				rootErr = fmt.Errorf("finding repository root: %w", err)
				return
			}
			if filepath.Dir(dir) == dir {
				rootErr = fmt.Errorf("finding repository root: no go.mod at or above %s", wd)
				return
			}
		}
	})
	return rootDir, rootErr
}

// Tools skips t, naming what is missing and the package that provides it,
// when any of the named binaries is not on $PATH. Under $CI it fails t
// instead, since .ci/run installs every tool the tests use.
func Tools(t testing.TB, names ...string) {
	t.Helper()
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", n, aptPackage(n)))
		}
	}
	if len(missing) > 0 {
		unavailable(t, fmt.Errorf("missing tools: %s", strings.Join(missing, ", ")))
	}
}

// aptPackage names the Debian package that installs binary name.
func aptPackage(name string) string {
	switch name {
	case "busybox":
		return "busybox-static"
	case "registry", "docker-registry":
		return "docker-registry"
	case "htpasswd":
		return "apache2-utils"
	case "xz":
		return "xz-utils"
	case "ip":
		return "iproute2"
	default:
		return name
	}
}
