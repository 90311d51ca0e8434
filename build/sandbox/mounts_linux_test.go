package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// userMountsCase covers RUN --mount types and checks that their mount
// points do not leak into the layer.
func userMountsCase(t *testing.T) runCase {
	return runCase{
		name: "user mounts",
		script: "cat /src/in.txt; echo nope > /src/x 2>/dev/null || echo ro; " +
			"echo cached > /var/cache/thing/out.txt; cat /run/secrets/token; " +
			"echo t > /scratch/file && grep -q ' /scratch tmpfs' /proc/mounts && echo tmpfs",
		setup: func(t *testing.T, s *Spec) {
			src, cache := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(src, "in.txt"), []byte("bound\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			secret := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s.Mounts = []Mount{
				{Type: "bind", Source: src, Target: "/src", ReadOnly: true},
				{Type: "cache", Source: cache, Target: "/var/cache/thing"},
				{Type: "secret", Source: secret, Target: "/run/secrets/token"},
				{Type: "tmpfs", Target: "/scratch", Options: []string{"size=1m"}},
			}
		},
		check: func(t *testing.T, s Spec, out string, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if want := "bound\nro\ns3cret\ntmpfs"; strings.TrimSpace(out) != want {
				t.Errorf("output %q, want %q", out, want)
			}
			got, _ := os.ReadFile(filepath.Join(s.Mounts[1].Source, "out.txt"))
			if string(got) != "cached\n" {
				t.Errorf("cache dir out.txt = %q", got)
			}
			if got := upperEntries(t, s.Upperdir); len(got) != 0 {
				t.Errorf("upper = %q, want no mount point stubs", got)
			}
		},
	}
}

// scratchCase runs with no lower layers (FROM scratch) and busybox
// bind-mounted in; the upper directory gets only /proc, /dev and /sys.
func scratchCase() runCase {
	return runCase{
		name:   "scratch",
		script: "",
		setup: func(t *testing.T, s *Spec) {
			s.Lowerdirs = nil
			s.Mounts = []Mount{{Type: "bind", Source: "/usr/bin/busybox", Target: "/bin/busybox", ReadOnly: true}}
			s.Args = []string{"/bin/busybox", "echo", "from scratch"}
		},
		check: func(t *testing.T, s Spec, out string, err error) {
			wantOutput("from scratch")(t, s, out, err)
			// BuildKit's runc leaves the /proc, /dev and /sys mount
			// points in the layer of a RUN on a root without them
			// (conformance case run-env-path-default).
			want := []string{"dev", "proc", "sys"}
			if got := upperEntries(t, s.Upperdir); !slices.Equal(got, want) {
				t.Errorf("upper = %q, want %q", got, want)
			}
			for _, d := range want {
				if fi, err := os.Lstat(filepath.Join(s.Upperdir, d)); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
					t.Errorf("upper %s: %v; want a 0755 directory", d, err)
				}
			}
		},
	}
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		script string
		want   int
	}{{"exit 0", 0}, {"exit 7", 7}, {"kill -9 $$", 137}, {"kill -TERM $$", 143}}
	for _, tt := range tests {
		err := exitStatus(exec.Command("/bin/sh", "-c", tt.script).Run())
		var ee *ExitError
		got := 0
		if errors.As(err, &ee) {
			got = ee.Code
		} else if err != nil {
			t.Fatalf("%s: %v", tt.script, err)
		}
		if got != tt.want {
			t.Errorf("%s: code %d, want %d", tt.script, got, tt.want)
		}
	}
}

// etcFilesCase: as in BuildKit, /etc/hosts and /etc/resolv.conf are
// read-only and stay out of the layer, while /etc/hostname is the image's
// own file, which a RUN may remove (conformance cases run-etc-mounts and
// whiteout-base-files).
func etcFilesCase() runCase {
	return runCase{
		name: "etc files",
		script: "for f in /etc/hosts /etc/resolv.conf; do (echo x >> $f) 2>/dev/null && echo $f writable || echo $f read-only; done; " +
			"cat /etc/hostname && rm /etc/hostname && echo removed",
		setup: func(t *testing.T, s *Spec) {
			img := t.TempDir()
			if err := os.Mkdir(filepath.Join(img, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(img, "etc/hostname"), []byte("image-file\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			s.Lowerdirs = append([]string{img}, s.Lowerdirs...)
		},
		check: func(t *testing.T, s Spec, out string, err error) {
			wantOutput("/etc/hosts read-only\n/etc/resolv.conf read-only\nimage-file\nremoved")(t, s, out, err)
			want := []string{"etc", "etc/hostname"}
			if got := upperEntries(t, s.Upperdir); !slices.Equal(got, want) {
				t.Errorf("upper = %q, want %q (the removed /etc/hostname only)", got, want)
			}
		},
	}
}
