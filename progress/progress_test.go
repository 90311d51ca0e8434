package progress

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// sequence is a fixed build: an internal task, a base, a cached COPY, two
// interleaved RUNs of which one fails, and a build-level message.
func sequence() []Event {
	const n = 4
	return []Event{
		{Time: at(0), Name: "[internal] load build definition from Dockerfile", Status: StatusStarted},
		{Time: at(12), Name: "[internal] load build definition from Dockerfile", Status: StatusLog, Log: "transferring dockerfile: 120B"},
		{Time: at(20), Name: "[internal] load build definition from Dockerfile", Status: StatusDone, Duration: 20 * time.Millisecond},
		{Time: at(30), Step: 1, Total: n, Stage: "builder", Name: "[builder 1/4] FROM docker.io/library/golang:1.26", Status: StatusStarted},
		{Time: at(250), Step: 1, Total: n, Stage: "builder", Name: "[builder 1/4] FROM docker.io/library/golang:1.26", Status: StatusDone, Duration: 220 * time.Millisecond},
		{Time: at(260), Step: 2, Total: n, Stage: "builder", Name: "[builder 2/4] COPY . /src", Status: StatusCached, Cached: true},
		{Time: at(270), Step: 3, Total: n, Stage: "builder", Name: "[builder 3/4] RUN go build ./...", Status: StatusStarted},
		{Time: at(280), Step: 4, Total: n, Name: "[4/4] RUN false", Status: StatusStarted},
		{Time: at(393), Step: 3, Total: n, Stage: "builder", Name: "[builder 3/4] RUN go build ./...", Status: StatusLog, Log: "go: downloading example.com/m v1.0.0\n", Stream: "stderr"},
		{Time: at(400), Step: 4, Total: n, Name: "[4/4] RUN false", Status: StatusLog, Log: "about to fail\nreally\n", Stream: "stdout"},
		{Time: at(1500), Step: 3, Total: n, Stage: "builder", Name: "[builder 3/4] RUN go build ./...", Status: StatusLog, Log: "built\tok", Stream: "stdout"},
		{Time: at(1700), Step: 3, Total: n, Stage: "builder", Name: "[builder 3/4] RUN go build ./...", Status: StatusDone, Duration: 1430 * time.Millisecond},
		{Time: at(1710), Step: 4, Total: n, Name: "[4/4] RUN false", Status: StatusError, Duration: 1430 * time.Millisecond,
			Error: `process "/bin/sh -c false" did not complete successfully: exit code: 1`},
		{Time: at(1720), Status: StatusLog, Log: "build failed after 1.7s"},
	}
}

func render(t *testing.T, mode string) string {
	t.Helper()
	var buf bytes.Buffer
	p, err := New(mode, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sequence() {
		p.Event(e)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestGolden(t *testing.T) {
	for _, mode := range []string{"plain", "json"} {
		t.Run(mode, func(t *testing.T) {
			got := render(t, mode)
			golden := filepath.Join("testdata", mode+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("%s output differs from %s (run with -update to accept):\n%s", mode, golden, got)
			}
		})
	}
}

func TestQuietAndAuto(t *testing.T) {
	if got := render(t, "quiet"); got != "" {
		t.Errorf("quiet wrote %q", got)
	}
	// A buffer is not a terminal: auto means plain.
	if got, want := render(t, "auto"), render(t, "plain"); got != want {
		t.Errorf("auto on a non-terminal:\n%s\nwant plain:\n%s", got, want)
	}
	if _, err := New("fancy", &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "fancy") {
		t.Errorf("New(fancy) err = %v", err)
	}
	Discard().Event(sequence()[0])
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

func TestTTYFinalState(t *testing.T) {
	out := render(t, "tty")
	plain := ansi.ReplaceAllString(out, "")
	// The final display is the last frame: from the last header on.
	final := plain[strings.LastIndex(plain, "[+] "):]
	for _, want := range []string{
		"[+] Failed",
		"(5/5)",
		" => [internal] load build definition from Dockerfile  0.0s",
		" => [builder 1/4] FROM docker.io/library/golang:1.26  0.2s",
		" => CACHED [builder 2/4] COPY . /src  0.0s",
		" => [builder 3/4] RUN go build ./...  1.4s",
		" => ERROR [4/4] RUN false  1.4s",
		" => ERROR [4/4] RUN false  1.4s\n => ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1",
		"\nbuild failed after 1.7s\n",
		"[+] Failed 1.7s (5/5)",
	} {
		if !strings.Contains(final, want) {
			t.Errorf("final tty frame lacks %q:\n%s", want, final)
		}
	}
	// The failed step's lines come once, in the build's error message
	// after the display, not in the final frame as well.
	if strings.Contains(final, "about to fail") {
		t.Errorf("final frame repeats the failed step's output:\n%s", final)
	}
	if strings.Contains(final, "go: downloading") {
		t.Errorf("final frame still shows output of a successful step:\n%s", final)
	}
	if !strings.Contains(out, "\x1b[2K") {
		t.Errorf("tty output has no line clearing: %q", out)
	}
}

func TestTTYRedraw(t *testing.T) {
	var buf syncBuffer
	p := newTTY(&buf, true)
	p.now = func() time.Time { return at(500) }
	events := sequence()
	for _, e := range events[:8] { // steps 3 and 4 running
		p.Event(e)
	}
	for i := range 20 {
		p.Event(Event{Time: at(300 + i), Step: 3, Total: 4, Name: "[builder 3/4] RUN go build ./...", Status: StatusLog, Log: fmt.Sprintf("line %d", i)})
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "line 19") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	frame := ansi.ReplaceAllString(buf.String(), "")
	frame = frame[strings.LastIndex(frame, "[+] "):]
	if !strings.Contains(frame, " => [builder 3/4] RUN go build ./...  0.2s\n => => # line 14\n") {
		t.Errorf("running step should show its time and last %d lines:\n%s", maxLogs, frame)
	}
	if strings.Contains(frame, "line 13\n") {
		t.Errorf("running step shows more than %d lines:\n%s", maxLogs, frame)
	}
	// A burst of events does not cause a burst of redraws.
	start := time.Now()
	for i := range 5000 {
		p.Event(Event{Time: at(400), Step: 3, Name: "[builder 3/4] RUN go build ./...", Status: StatusLog, Log: fmt.Sprint(i)})
	}
	p.mu.Lock()
	before := p.draws
	p.mu.Unlock()
	time.Sleep(350 * time.Millisecond)
	p.mu.Lock()
	draws := p.draws - before
	p.mu.Unlock()
	limit := int(time.Since(start)/redrawInterval) + 2
	if draws > limit {
		t.Errorf("%d redraws in %v, want at most %d", draws, time.Since(start), limit)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestConcurrentEvents(t *testing.T) {
	for _, mode := range []string{"plain", "json", "tty", "quiet"} {
		t.Run(mode, func(t *testing.T) {
			var buf syncBuffer
			p, err := New(mode, &buf)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for g := 1; g <= 8; g++ {
				wg.Go(func() {
					name := fmt.Sprintf("[%d/8] RUN step", g)
					p.Event(Event{Time: at(0), Step: g, Total: 8, Name: name, Status: StatusStarted})
					for i := range 200 {
						p.Event(Event{Time: at(i), Step: g, Total: 8, Name: name, Status: StatusLog, Log: fmt.Sprint(i)})
					}
					p.Event(Event{Time: at(300), Step: g, Total: 8, Name: name, Status: StatusDone})
				})
			}
			wg.Wait()
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if mode == "json" {
				if n := strings.Count(buf.String(), "\n"); n != 8*202 {
					t.Errorf("json wrote %d lines, want %d", n, 8*202)
				}
			}
			if mode == "plain" {
				if n := strings.Count(buf.String(), " DONE 0.3s\n"); n != 8 {
					t.Errorf("plain output has %d DONE lines, want 8", n)
				}
				for g := 1; g <= 8; g++ {
					if !strings.Contains(buf.String(), fmt.Sprintf("#%d 0.199 199\n", g)) {
						t.Errorf("plain output lacks the last log line of vertex #%d", g)
					}
				}
			}
		})
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorsSurfaceOnClose(t *testing.T) {
	for _, mode := range []string{"plain", "json", "tty"} {
		p, err := New(mode, errWriter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range sequence() {
			p.Event(e)
		}
		if err := p.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s: Close() = %v, want the write error", mode, err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTTYHeaderAndColor: a build without errors ends "Finished"; errors
// are red and running steps blue unless colour is off (NO_COLOR).
func TestTTYHeaderAndColor(t *testing.T) {
	ok := []Event{
		{Time: at(0), Step: 1, Total: 1, Name: "[1/1] RUN true", Status: StatusStarted},
		{Time: at(100), Step: 1, Total: 1, Name: "[1/1] RUN true", Status: StatusDone},
	}
	for _, tc := range []struct {
		name   string
		events []Event
		color  bool
		want   []string
		absent []string
	}{
		{"success", ok, true, []string{"[+] Finished 0.1s (1/1)"}, []string{"Failed", colorError}},
		{"failure coloured", sequence(), true, []string{colorError + "[+] Failed 1.7s (5/5)" + colorReset, colorError + " => ERROR [4/4] RUN false  1.4s" + colorReset}, nil},
		{"failure NO_COLOR", sequence(), false, []string{"[+] Failed 1.7s (5/5)"}, []string{colorError, colorRunning}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := newTTY(&buf, tc.color)
			for _, e := range tc.events {
				p.Event(e)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%q", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output has %q:\n%q", a, out)
				}
			}
		})
	}
}

// TestTTYNarrowKeepsTime: on a narrow terminal the step name is cut, not
// its time.
func TestTTYNarrowKeepsTime(t *testing.T) {
	l := vertexLine(&vertex{name: "[2/2] RUN a very long command line that does not fit", status: StatusDone, dur: 1234 * time.Millisecond}, at(0))
	for _, width := range []int{30, 20} {
		got := fit(l, width)
		if !strings.HasSuffix(got, "  1.2s") || utf8.RuneCountInString(got) >= width {
			t.Errorf("width %d: %q, want under %d runes ending with the time", width, got, width)
		}
	}
	if got := fit(l, 0); got != " => [2/2] RUN a very long command line that does not fit  1.2s" {
		t.Errorf("no width: %q", got)
	}
}

// TestPlatformsAreSeparateVertices: in a multi-platform build each
// platform numbers its steps from 1; step and platform identify a vertex.
func TestPlatformsAreSeparateVertices(t *testing.T) {
	tr := newTracker()
	now := time.Now()
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		tr.apply(Event{Time: now, Step: 2, Total: 2, Platform: p, Name: "[" + p + " 2/2] RUN make", Status: StatusStarted})
	}
	tr.apply(Event{Time: now, Step: 2, Total: 2, Platform: "linux/arm64", Name: "[linux/arm64 2/2] RUN make", Status: StatusDone})
	if len(tr.order) != 2 {
		t.Fatalf("%d vertices, want one per platform", len(tr.order))
	}
	if tr.order[0].status != StatusStarted || tr.order[1].status != StatusDone {
		t.Errorf("statuses %s, %s: the arm64 event finished the amd64 step", tr.order[0].status, tr.order[1].status)
	}
}
