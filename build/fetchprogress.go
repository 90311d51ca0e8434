package build

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	units "github.com/docker/go-units"

	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/progress"
)

// fetchTick is how often a download's progress line is repeated while
// bytes arrive.
const fetchTick = time.Second

// fetchTask shows the download of one --cache-from layer as a build-level
// task: "[internal] fetching cache layer sha256:0123456789ab from SOURCE",
// with BuildKit's "sha256:0123456789ab 1.05MB / 5.24MB 0.3s" lines (once a
// second while bytes arrive) and a last one ending in "done".
type fetchTask struct {
	sink  progress.Sink
	name  string
	short string
	size  int64
	start time.Time

	n    atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup
}

// startFetchTask reports the start of the download of l from the source
// named src.
func startFetchTask(sink progress.Sink, l layer.Info, src string) *fetchTask {
	short := l.Digest.String()
	if len(short) > len("sha256:")+12 {
		short = short[:len("sha256:")+12]
	}
	t := &fetchTask{sink: sink, name: "[internal] fetching cache layer " + short + " from " + src,
		short: short, size: l.Size, start: time.Now(), stop: make(chan struct{})}
	t.event(progress.Event{Status: progress.StatusStarted})
	t.wg.Add(1)
	go t.tick()
	return t
}

// reader counts what is read through r.
func (t *fetchTask) reader(r io.Reader) io.Reader { return &countingReader{r: r, n: &t.n} }

// tick repeats the progress line while the download goes on.
func (t *fetchTask) tick() {
	defer t.wg.Done()
	tk := time.NewTicker(fetchTick)
	defer tk.Stop()
	last := int64(-1)
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
			if n := t.n.Load(); n != last {
				last = n
				t.log("")
			}
		}
	}
}

// end reports the download's outcome.
func (t *fetchTask) end(err error) {
	close(t.stop)
	t.wg.Wait()
	if err != nil {
		t.event(progress.Event{Status: progress.StatusError, Error: err.Error(), Duration: time.Since(t.start)})
		return
	}
	t.log(" done")
	t.event(progress.Event{Status: progress.StatusDone, Duration: time.Since(t.start)})
}

// log sends the progress line, with suffix.
func (t *fetchTask) log(suffix string) {
	line := fmt.Sprintf("%s %s / %s %.1fs%s", t.short, units.HumanSizeWithPrecision(float64(t.n.Load()), 3),
		units.HumanSizeWithPrecision(float64(t.size), 3), time.Since(t.start).Seconds(), suffix)
	t.event(progress.Event{Status: progress.StatusLog, Log: line})
}

func (t *fetchTask) event(e progress.Event) {
	e.Time, e.Name = time.Now(), t.name
	t.sink.Event(e)
}

// countingReader adds what it reads to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	c.n.Add(int64(k))
	return k, err
}
