package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLimits(t *testing.T) {
	for _, iso := range isolations(t) {
		t.Run(iso, func(t *testing.T) {
			t.Run("fork bomb", func(t *testing.T) {
				s := newSpec(t, iso, "i=0; while [ $i -lt 500 ]; do sleep 30 & i=$((i+1)); done; wait")
				s.Limits.Pids = 64
				s.Timeout = 60 * time.Second
				start := time.Now()
				_, _, err := run(t, s)
				if err == nil || !strings.Contains(err.Error(), "process limit of 64") {
					t.Fatalf("err = %v, want the process limit named", err)
				}
				if d := time.Since(start); d > 20*time.Second {
					t.Errorf("fork bomb took %s to end", d)
				}
				assertNoLeftovers(t, "sleep 30")
			})
			t.Run("memory hog", func(t *testing.T) {
				s := newSpec(t, iso, `awk 'BEGIN { s = "xxxxxxxxxxxxxxxx"; while (1) s = s s }'`)
				s.Limits.Memory = 32 << 20
				_, _, err := run(t, s)
				var ee *ExitError
				if err == nil || !strings.Contains(err.Error(), "memory limit of 32MiB exceeded") || !errors.As(err, &ee) || ee.Code != 137 {
					t.Fatalf("err = %v, want the memory limit named around exit code 137", err)
				}
			})
			t.Run("timeout", func(t *testing.T) {
				s := newSpec(t, iso, "sleep 100")
				s.Timeout = time.Second
				start := time.Now()
				_, _, err := run(t, s)
				if err == nil || !strings.Contains(err.Error(), "timed out after 1s") {
					t.Fatalf("err = %v, want a timeout", err)
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("timeout took %s", d)
				}
				assertNoLeftovers(t, "sleep 100")
			})
			t.Run("cancel", func(t *testing.T) {
				s := newSpec(t, iso, "sleep 987651 & sleep 987652 & echo started; wait")
				ctx, cancel := context.WithCancel(context.Background())
				pr, pw, _ := os.Pipe()
				s.Stdout = pw
				errc := make(chan error, 1)
				go func() { errc <- Run(ctx, s); pw.Close() }()
				buf := make([]byte, 8)
				if n, _ := pr.Read(buf); !strings.HasPrefix(string(buf[:n]), "started") {
					t.Fatalf("command did not start: %q", buf[:n])
				}
				cancel()
				select {
				case err := <-errc:
					if !errors.Is(err, context.Canceled) {
						t.Errorf("err = %v, want context.Canceled", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Run did not return after cancel")
				}
				assertNoLeftovers(t, "sleep 98765")
			})
		})
	}
}

// assertNoLeftovers checks that no process whose command line contains
// marker, no sandbox mount and no step cgroup is left.
func assertNoLeftovers(t *testing.T, marker string) {
	t.Helper()
	stopSpare() // the idle init waiting for the next step is not a leftover
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, _ := os.ReadFile(p)
		// Whole words: another job's "sleep 300" is not a leftover "sleep 30".
		if !strings.Contains(" "+strings.ReplaceAll(string(data), "\x00", " "), " "+marker+" ") {
			continue
		}
		if ppid := parentPid(filepath.Dir(p)); ppid != os.Getpid() && ppid > 1 && marker == initArg0 {
			continue // the init of another builder running at the same time
		}
		t.Errorf("leftover process %s: %q", p, data)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), "ibuild-sandbox-") {
		t.Errorf("leftover sandbox mounts:\n%s", mounts)
	}
	cg, err := newCgroup("x")
	if err != nil {
		t.Fatal(err)
	}
	for ctrl, dir := range cg.dirs {
		entries, _ := os.ReadDir(filepath.Dir(dir))
		for _, e := range entries {
			// Only this process's steps: other builders may run meanwhile.
			if strings.HasPrefix(e.Name(), fmt.Sprintf("%s%d-", stepPrefix, os.Getpid())) {
				t.Errorf("leftover %s cgroup %s", ctrl, filepath.Join(filepath.Dir(dir), e.Name()))
			}
		}
	}
}

// parentPid reads the parent pid from procDir/stat (0 if unreadable).
func parentPid(procDir string) int {
	data, err := os.ReadFile(filepath.Join(procDir, "stat"))
	if err != nil {
		return 0
	}
	// The command name in parentheses may hold spaces: parse after it.
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func BenchmarkRunTrue(b *testing.B) {
	// imageDirs is what real images have and the test rootfs lacks: the
	// mount points of /proc, /dev, /sys and the /etc files.
	imageDirs := b.TempDir()
	for _, d := range []string{"proc", "dev", "sys", "etc"} {
		if err := os.Mkdir(filepath.Join(imageDirs, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for _, f := range []string{"etc/hosts", "etc/resolv.conf", "etc/hostname"} {
		if err := os.WriteFile(filepath.Join(imageDirs, f), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	// paced leaves 100 ms between steps, as a build does while it diffs and
	// stores a layer; back-to-back steps also measure the spare init
	// starting next to the running step on a small machine. The first
	// three share the host's network (the figures before the private
	// network was the default); BenchmarkRunTrueNetwork compares the
	// network modes.
	variants := []struct {
		name         string
		image, paced bool
		network      Network
	}{{"image", true, false, NetworkHost}, {"stub-layer", false, false, NetworkHost}, {"image-paced", true, true, NetworkHost},
		{"image/net-default", true, false, NetworkDefault}}
	for _, iso := range []string{IsolationBuiltin, IsolationOCI} {
		for _, v := range variants {
			image := v.image
			b.Run(iso+"/"+v.name, func(b *testing.B) {
				var ds []time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					if v.paced {
						time.Sleep(100 * time.Millisecond)
					}
					s := newSpec(b, iso, "")
					s.Args, s.Network = []string{"/bin/true"}, v.network
					if image {
						s.Lowerdirs = append([]string{imageDirs}, s.Lowerdirs...)
					}
					b.StartTimer()
					start := time.Now()
					if _, _, err := run(b, s); err != nil {
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
}
