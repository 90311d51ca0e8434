package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkFloor measures the kernel operations a RUN step cannot avoid,
// each on its own, as the floor under BenchmarkRunTrue on this machine.
func BenchmarkFloor(b *testing.B) {
	nsFlags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	upper, work := b.TempDir(), b.TempDir()
	cases := []struct {
		name string
		op   func() error
	}{
		{"fork-exec-true", func() error { return exec.Command("/bin/true").Run() }},
		{"namespaces-exec-true", func() error {
			c := exec.Command("/bin/true")
			c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: nsFlags}
			return c.Run()
		}},
		{"unshare-cli", func() error { return exec.Command("unshare", "-mpfiu", "--fork", "true").Run() }},
		{"go-reexec", func() error {
			// The init reads an empty config and exits: the cost of
			// starting this Go binary (runtime and package init).
			c := exec.Command("/proc/self/exe")
			c.Args = []string{initArg0}
			r, w, err := os.Pipe()
			if err != nil {
				return err
			}
			w.Close()
			defer r.Close()
			c.ExtraFiles = []*os.File{r, nil}
			_ = c.Run()
			return nil
		}},
		{"overlay-mount-umount", func() error {
			for _, d := range []string{upper, work} {
				os.RemoveAll(d)
				if err := os.Mkdir(d, 0o755); err != nil {
					return err
				}
			}
			fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			for k, v := range map[string]string{"lowerdir+": testRootfs, "upperdir": upper, "workdir": work} {
				if err := unix.FsconfigSetString(fd, k, v); err != nil {
					return err
				}
			}
			if err := unix.FsconfigCreate(fd); err != nil {
				return err
			}
			mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, 0)
			if err != nil {
				return err
			}
			return unix.Close(mfd)
		}},
		{"cgroup-v1-mkdir-rmdir", func() error {
			cg, err := newCgroup(filepath.Base(b.TempDir()))
			if err != nil {
				return err
			}
			if err := cg.create(Limits{}); err != nil {
				return err
			}
			return cg.destroy()
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var ds []time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if err := c.op(); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(start))
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "ms-median")
			b.ReportMetric(float64(ds[0].Microseconds())/1000, "ms-min")
		})
	}
}
