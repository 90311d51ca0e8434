package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// plainPrinter writes BuildKit --progress=plain style lines.
type plainPrinter struct {
	mu    sync.Mutex
	out   io.Writer
	t     *tracker
	last  *vertex // vertex of the last line written, for grouping
	wrote bool    // anything written yet
	err   error
}

var _ Printer = (*plainPrinter)(nil)

func newPlain(out io.Writer) *plainPrinter {
	return &plainPrinter{out: out, t: newTracker()}
}

// Event prints e as one or more lines.
func (p *plainPrinter) Event(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	var b strings.Builder
	if e.Step == 0 && e.Name == "" {
		// A build-level message that belongs to no task.
		if p.last != nil {
			b.WriteString("\n")
		}
		p.last = nil
		for _, line := range splitLines(e.Log) {
			fmt.Fprintf(&b, "%s\n", line)
		}
		if e.Error != "" {
			fmt.Fprintf(&b, "ERROR: %s\n", e.Error)
		}
		p.write(b.String())
		return
	}
	v, _ := p.t.apply(e)
	if p.last != v {
		// Like BuildKit: a blank line and the header whenever output
		// switches to another step.
		if p.wrote {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "#%d %s\n", v.id, v.name)
		p.last = v
	}
	switch e.Status {
	case StatusLog:
		ts := e.Time.Sub(v.start).Seconds()
		for _, line := range splitLines(e.Log) {
			fmt.Fprintf(&b, "#%d %.3f %s\n", v.id, ts, line)
		}
	case StatusCached:
		fmt.Fprintf(&b, "#%d CACHED\n", v.id)
	case StatusDone:
		if e.Cached {
			fmt.Fprintf(&b, "#%d CACHED\n", v.id)
		} else {
			fmt.Fprintf(&b, "#%d DONE %.1fs\n", v.id, v.dur.Seconds())
		}
	case StatusError:
		fmt.Fprintf(&b, "#%d ERROR: %s\n", v.id, e.Error)
	case StatusCanceled:
		fmt.Fprintf(&b, "#%d CANCELED\n", v.id)
	}
	p.write(b.String())
}

func (p *plainPrinter) write(s string) {
	if s != "" {
		_, p.err = io.WriteString(p.out, s)
		p.wrote = true
	}
}

// Close returns the first write error.
func (p *plainPrinter) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
