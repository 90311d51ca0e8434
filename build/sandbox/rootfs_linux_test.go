package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestPlainRootfs runs a step on a plain directory (Spec.Rootfs): changes
// land in place and the mount points the sandbox created are removed, but
// for /proc, /dev and /sys, which BuildKit's runc leaves.
func TestPlainRootfs(t *testing.T) {
	for _, iso := range isolations(t) {
		t.Run(iso, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "rootfs")
			if out, err := exec.Command("cp", "-a", testRootfs, root).CombinedOutput(); err != nil {
				t.Fatalf("copying rootfs: %v: %s", err, out)
			}
			for _, d := range []string{"proc", "dev", "sys"} {
				if err := os.Remove(filepath.Join(root, d)); err != nil {
					t.Fatal(err)
				}
			}
			s := newSpec(t, iso, "echo hi > /new && rm /etc/lowerfile && cat /etc/hosts && ls /mnt/cache")
			s.Rootfs = root
			s.Lowerdirs, s.Upperdir, s.Workdir = nil, "", ""
			s.Mounts = []Mount{{Type: "tmpfs", Target: "/mnt/cache"}}
			stdout, stderr, err := run(t, s)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, stderr)
			}
			if stdout != "127.0.0.1 localhost\n" {
				t.Errorf("stdout = %q", stdout)
			}
			if data, err := os.ReadFile(filepath.Join(root, "new")); err != nil || string(data) != "hi\n" {
				t.Errorf("/new = %q, %v", data, err)
			}
			if _, err := os.Lstat(filepath.Join(root, "etc/lowerfile")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("/etc/lowerfile still there: %v", err)
			}
			ents, err := os.ReadDir(root)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			want := []string{"bin", "dev", "etc", "new", "proc", "root", "sys", "tmp"}
			if !slices.Equal(names, want) {
				t.Errorf("rootfs has %v, want %v (mount points left behind?)", names, want)
			}
			for _, f := range []string{"etc/hosts", "etc/resolv.conf"} {
				if _, err := os.Lstat(filepath.Join(root, f)); err == nil {
					t.Errorf("%s left in rootfs", f)
				}
			}
			assertNoLeftovers(t, "ibuild-sandbox-init")
		})
	}
}

// TestOverlayUnavailable: an upper directory on overlayfs cannot be used
// and Run says so with ErrOverlayUnavailable.
func TestOverlayUnavailable(t *testing.T) {
	base := t.TempDir()
	mnt := filepath.Join(base, "m")
	for _, d := range []string{"l", "u", "w", "m"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := exec.Command("mount", "-t", "overlay", "overlay", "-o",
		"lowerdir="+base+"/l,upperdir="+base+"/u,workdir="+base+"/w", mnt).Run(); err != nil {
		t.Skipf("cannot mount an overlay here: %v", err)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	s := newSpec(t, IsolationBuiltin, "true")
	s.Upperdir, s.Workdir = filepath.Join(mnt, "upper"), filepath.Join(mnt, "work")
	for _, d := range []string{s.Upperdir, s.Workdir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := run(t, s)
	if !errors.Is(err, ErrOverlayUnavailable) {
		t.Fatalf("err = %v, want ErrOverlayUnavailable", err)
	}
}
