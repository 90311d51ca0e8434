package progress

import (
	"strings"
	"time"
)

// vertex is the display state of one step or build-level task.
type vertex struct {
	id      int // 1-based, in order of first appearance ("#N")
	name    string
	start   time.Time
	end     time.Time
	status  Status // last non-log status
	cached  bool
	dur     time.Duration
	err     string
	logs    []string // last maxLogs output lines
	lastLog time.Time
}

// maxLogs is how many recent output lines a vertex keeps for the tty view.
const maxLogs = 6

// maxMessages is how many build-level messages the tty view keeps.
const maxMessages = 20

// vertexKey identifies the vertex an event belongs to: steps by index,
// build-level events by name.
type vertexKey struct {
	step     int
	platform string
	name     string
}

func keyOf(e Event) vertexKey {
	if e.Step > 0 {
		return vertexKey{step: e.Step, platform: e.Platform}
	}
	return vertexKey{name: e.Name}
}

// tracker folds events into vertices, in order of first appearance.
type tracker struct {
	byKey    map[vertexKey]*vertex
	order    []*vertex
	total    int       // steps in the build, from Event.Total
	internal int       // build-level (step 0) vertices
	first    time.Time // earliest event time
	last     time.Time // latest event time
	messages []string  // build-level messages that belong to no vertex
}

func newTracker() *tracker { return &tracker{byKey: map[vertexKey]*vertex{}} }

// apply records e and returns its vertex (nil for a build-level message
// with no name, which is kept in messages) and whether it is new.
func (t *tracker) apply(e Event) (*vertex, bool) {
	if t.first.IsZero() || (!e.Time.IsZero() && e.Time.Before(t.first)) {
		t.first = e.Time
	}
	if e.Time.After(t.last) {
		t.last = e.Time
	}
	if e.Total > t.total {
		t.total = e.Total
	}
	if e.Step == 0 && e.Name == "" {
		if e.Log != "" {
			t.messages = append(t.messages, splitLines(e.Log)...)
		}
		if e.Error != "" {
			t.messages = append(t.messages, "ERROR: "+e.Error)
		}
		if n := len(t.messages); n > maxMessages {
			t.messages = append(t.messages[:0], t.messages[n-maxMessages:]...)
		}
		return nil, false
	}
	k := keyOf(e)
	v, ok := t.byKey[k]
	if !ok {
		v = &vertex{id: len(t.order) + 1, name: e.Name, start: e.Time}
		t.byKey[k] = v
		t.order = append(t.order, v)
		if e.Step == 0 {
			t.internal++
		}
	}
	if e.Name != "" {
		v.name = e.Name
	}
	switch e.Status {
	case StatusStarted:
		v.start, v.status = e.Time, e.Status
	case StatusLog:
		for _, line := range splitLines(e.Log) {
			v.logs = append(v.logs, line)
		}
		if n := len(v.logs); n > maxLogs {
			v.logs = append(v.logs[:0], v.logs[n-maxLogs:]...)
		}
		v.lastLog = e.Time
	default:
		v.status, v.end, v.err = e.Status, e.Time, e.Error
		v.cached = v.cached || e.Cached || e.Status == StatusCached
		v.dur = e.Duration
		if v.dur == 0 && !v.start.IsZero() && e.Time.After(v.start) {
			v.dur = e.Time.Sub(v.start)
		}
	}
	return v, !ok
}

// finished reports whether v reached a final state.
func (v *vertex) finished() bool {
	return v.status == StatusDone || v.status == StatusCached || v.status == StatusError || v.status == StatusCanceled
}

// splitLines splits a log message into lines, dropping one trailing newline
// and carriage returns.
func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}
