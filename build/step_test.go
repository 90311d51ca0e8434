package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/ibuild/ibuild/build/rootfs"
	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/progress"
)

// recorder is a progress.Sink keeping every event.
type recorder struct {
	mu     sync.Mutex
	events []progress.Event
}

func (r *recorder) Event(e progress.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func testBuilder(t *testing.T, store *cache.Store, dir, dockerfile string, sink progress.Sink) *builder {
	t.Helper()
	b, err := newBuilder(Options{ContextDir: dir, Store: store, DockerfileData: []byte(dockerfile), Progress: sink}, hostPlatform())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.initGlobalArgs(); err != nil {
		t.Fatal(err)
	}
	return b
}

// oneFileLayer writes a gzip layer holding one file, name, of content "x"
// into store.
func oneFileLayer(t *testing.T, store *cache.Store, name string) layer.Info {
	t.Helper()
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("x"))
	tw.Close()
	info, err := store.WriteLayer(context.Background(), &tarball, layer.Gzip, 0)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func testStore(t *testing.T) *cache.Store {
	t.Helper()
	s, err := cache.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStepRunner runs one step three times: a miss runs exec and explains
// itself, the same inputs hit without running it, and changed inputs miss
// again naming what changed.
func TestStepRunner(t *testing.T) {
	ctx := context.Background()
	store := testStore(t)
	info := oneFileLayer(t, store, "f")
	ctxDir := t.TempDir() // one explain record for every case
	cases := []struct {
		name       string
		value      string
		layer      *layer.Info
		execErr    error
		wantRun    bool
		wantCached bool
		wantReason string
		wantErr    bool
	}{
		{name: "first build runs", value: "1", layer: &info, wantRun: true, wantReason: "no earlier build of this step"},
		{name: "same inputs hit", value: "1", wantCached: true},
		{name: "changed input runs", value: "2", wantRun: true, wantReason: "value changed"},
		{name: "no layer", value: "3", wantRun: true, wantReason: "value changed"},
		{name: "hit without layer", value: "3", wantCached: true},
		{name: "exec fails", value: "4", execErr: errors.New("boom"), wantRun: true, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			b := testBuilder(t, store, ctxDir, "FROM scratch\nWORKDIR /x\n", rec)
			st := scratchState(hostPlatform())
			ran := false
			var res stepResult
			err := b.step(ctx, st, "TEST "+c.value, nil, func(ctx context.Context, r *stepRun) (stepResult, error) {
				var err error
				res, err = b.cached(ctx, st, r, stepPlan{
					key:       chainKey(st.key, "TEST", c.value),
					inputs:    map[string]string{"value": c.value},
					createdBy: "TEST " + c.value,
					exec: func(context.Context) (*layer.Info, error) {
						ran = true
						return c.layer, c.execErr
					},
				})
				return res, err
			})
			if (err != nil) != c.wantErr || ran != c.wantRun {
				t.Fatalf("err = %v, ran = %v; want error %v, ran %v", err, ran, c.wantErr, c.wantRun)
			}
			if c.wantErr {
				if len(b.steps) != 0 || len(b.exported) != 0 {
					t.Errorf("a failed step was recorded: %d results, %d exported", len(b.steps), len(b.exported))
				}
				if last := rec.events[len(rec.events)-1]; last.Status != progress.StatusError {
					t.Errorf("last event %v, want an error", last.Status)
				}
				return
			}
			if res.cached != c.wantCached || res.missReason != c.wantReason {
				t.Errorf("cached %v reason %q, want %v %q", res.cached, res.missReason, c.wantCached, c.wantReason)
			}
			wantLayers := 0
			if c.layer != nil || (c.wantCached && c.value == "1") {
				wantLayers = 1
			}
			if (res.layer != nil) != (wantLayers == 1) || len(st.layers) != wantLayers {
				t.Errorf("result layer %v, stage layers %d; want %d layers", res.layer, len(st.layers), wantLayers)
			}
			h := st.cfg.History[len(st.cfg.History)-1]
			if h.CreatedBy != "TEST "+c.value || h.EmptyLayer != (wantLayers == 0) {
				t.Errorf("history %+v", h)
			}
			if st.key != res.key || len(b.steps) != 1 || b.steps[0].Key != res.key.String() || b.steps[0].Cached != c.wantCached {
				t.Errorf("stage key %s, result %+v, steps %+v", st.key, res, b.steps)
			}
			if got := b.exportList(0); len(got) != 1 || got[0].Key != res.key || !got[0].Final {
				t.Errorf("exported %+v", got)
			}
		})
	}
}

// TestConcurrentStages builds independent stages from several goroutines
// at once (run it with -race): each stage is built once, however many ask
// for it, and every step gets its own number.
func TestConcurrentStages(t *testing.T) {
	ctx := context.Background()
	const n = 6
	var df strings.Builder
	df.WriteString("ARG V=1\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&df, "FROM scratch AS s%d\nARG V\nENV A%d=$V\nLABEL l=%d\n", i, i, i)
	}
	fmt.Fprintf(&df, "FROM s0 AS last\nENV B=1\n")
	rec := &recorder{}
	b := testBuilder(t, testStore(t), t.TempDir(), df.String(), rec)
	b.total = b.countSteps(n)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for g := 0; g < 3; g++ {
		for i := 0; i <= n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := b.stage(ctx, i, nil)
				if err != nil || st.index != i {
					failed.Add(1)
					t.Errorf("stage %d: %v", i, err)
					return
				}
				// Steps of distinct stages run concurrently.
				if _, err := b.cached(ctx, st.clone(), &stepRun{b: b, st: st}, stepPlan{key: chainKey(st.key, "x", g),
					exec: func(context.Context) (*layer.Info, error) { return nil, nil }}); err != nil {
					t.Errorf("step: %v", err)
				}
			}()
		}
	}
	wg.Wait()
	if failed.Load() > 0 {
		return
	}
	// One FROM step per stage: none was built twice.
	if len(b.steps) != n+1 {
		t.Errorf("%d steps, want %d: %+v", len(b.steps), n+1, b.steps)
	}
	seen := map[int]bool{}
	for _, e := range rec.events {
		if e.Status == progress.StatusStarted {
			if seen[e.Step] {
				t.Errorf("step number %d used twice", e.Step)
			}
			seen[e.Step] = true
		}
	}
	if len(b.exported) != 3*(n+1) {
		t.Errorf("%d exported steps, want %d", len(b.exported), 3*(n+1))
	}
	last, _ := b.stage(ctx, n, nil)
	if env := strings.Join(last.cfg.Config.Env, " "); !strings.Contains(env, "A0=1") || !strings.Contains(env, "B=1") {
		t.Errorf("last stage env %q", env)
	}
	b.warnings()
}

// TestCacheSharingModes: rootfs.Sharing takes BuildKit's sharing= values
// as they are.
func TestCacheSharingModes(t *testing.T) {
	for in, want := range map[instructions.ShareMode]rootfs.Sharing{
		instructions.MountSharingShared:  rootfs.SharingShared,
		instructions.MountSharingPrivate: rootfs.SharingPrivate,
		instructions.MountSharingLocked:  rootfs.SharingLocked,
	} {
		if rootfs.Sharing(in) != want {
			t.Errorf("sharing %q is %q in rootfs", in, want)
		}
	}
}
