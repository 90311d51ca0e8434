package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// redrawInterval is the tty printer's redraw period (at most ten a second).
const redrawInterval = 100 * time.Millisecond

// ttyPrinter redraws a BuildKit-like status display in place.
type ttyPrinter struct {
	out   io.Writer
	color bool              // BuildKit's colours: running blue, errors red
	size  func() (w, h int) // terminal size; 0 when unknown
	now   func() time.Time
	stop  chan struct{}
	done  chan struct{}
	close sync.Once

	mu     sync.Mutex
	t      *tracker
	dirty  bool
	drawn  int // lines drawn by the last redraw, to move the cursor back over
	draws  int // number of redraws, for tests
	closed bool
	err    error
}

var _ Printer = (*ttyPrinter)(nil)

func newTTY(out io.Writer, color bool) *ttyPrinter {
	fd, ok := terminalFd(out)
	if !ok {
		fd = -1
	}
	return newTTYFor(out, color, fd)
}

// newTTYFor is newTTY fitting its lines to the terminal fd (none if
// fd < 0), which out is or whose output goes to later.
func newTTYFor(out io.Writer, color bool, fd int) *ttyPrinter {
	p := &ttyPrinter{
		out:   out,
		color: color,
		now:   time.Now,
		size:  func() (int, int) { return 0, 0 },
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		t:     newTracker(),
	}
	if fd >= 0 {
		p.size = termSize(fd)
	}
	go p.loop()
	return p
}

// termSize returns the size of the terminal fd as a ttyPrinter's size.
func termSize(fd int) func() (int, int) {
	return func() (int, int) {
		w, h, err := term.GetSize(fd)
		if err != nil {
			return 0, 0
		}
		return w, h
	}
}

// Event records e; the display catches up at the next redraw.
func (p *ttyPrinter) Event(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.t.apply(e)
	p.dirty = true
}

// loop redraws while something changed or a step is running (its timer
// moves), at most once per redrawInterval.
func (p *ttyPrinter) loop() {
	defer close(p.done)
	tick := time.NewTicker(redrawInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.mu.Lock()
			if p.dirty || p.running() {
				p.redraw(false)
			}
			p.mu.Unlock()
		}
	}
}

// Close stops the redraw loop and prints the final state.
func (p *ttyPrinter) Close() error {
	p.close.Do(func() {
		close(p.stop)
		<-p.done
		p.mu.Lock()
		defer p.mu.Unlock()
		p.closed = true
		p.redraw(true)
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *ttyPrinter) running() bool {
	for _, v := range p.t.order {
		if !v.finished() {
			return true
		}
	}
	return false
}

// redraw moves the cursor back over the previous display and writes the
// current one. Unless final, the display is cut to the terminal height so
// that the cursor can always get back to its top.
func (p *ttyPrinter) redraw(final bool) {
	if p.err != nil {
		return
	}
	w, h := p.size()
	lines := p.render(final)
	if !final && h > 2 && len(lines) > h-1 {
		lines = append(lines[:1], lines[len(lines)-(h-2):]...)
	}
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K")
		b.WriteString(p.paint(l.kind, fit(l, w)))
		b.WriteString("\n")
	}
	b.WriteString("\x1b[J") // clear whatever the old display had below
	_, p.err = io.WriteString(p.out, b.String())
	p.drawn = len(lines)
	p.dirty = false
	p.draws++
}

// Kinds of display line, for colour.
const (
	lineDone = iota
	lineRunning
	lineError
	lineCanceled
)

// line is one display line: text, the time kept at its right end when the
// terminal is narrow, and its kind.
type line struct {
	text, time string
	kind       int
}

// ANSI colours as BuildKit's defaults: running steps blue, errors red.
const (
	colorRunning = "\x1b[34m"
	colorError   = "\x1b[31m"
	colorCancel  = "\x1b[33m"
	colorReset   = "\x1b[0m"
)

func (p *ttyPrinter) paint(kind int, s string) string {
	if !p.color {
		return s
	}
	switch kind {
	case lineRunning:
		return colorRunning + s + colorReset
	case lineError:
		return colorError + s + colorReset
	case lineCanceled:
		return colorCancel + s + colorReset
	}
	return s
}

// render returns the display lines: a header, one line per step, the last
// output lines of running steps, and errors. A failed step's output is not
// repeated in the final display: the build's error message that follows it
// ends with the step's last lines.
func (p *ttyPrinter) render(final bool) []line {
	now := p.now()
	finished, failed, canceled := 0, false, false
	for _, v := range p.t.order {
		if v.finished() {
			finished++
		}
		failed = failed || v.status == StatusError
		canceled = canceled || v.status == StatusCanceled
	}
	elapsed := 0.0
	if end := now; !p.t.first.IsZero() {
		if final {
			end = p.t.last // the build's own clock, not the printer's
		}
		elapsed = end.Sub(p.t.first).Seconds()
	}
	total := max(p.t.total+p.t.internal, len(p.t.order))
	state, kind := "Building", lineDone
	switch {
	case final && failed:
		state, kind = "Failed", lineError
	case final && canceled:
		state, kind = "Canceled", lineCanceled
	case final:
		state = "Finished"
	}
	lines := []line{{text: fmt.Sprintf("[+] %s %.1fs (%d/%d)", state, elapsed, finished, total), kind: kind}}
	for _, v := range p.t.order {
		lines = append(lines, vertexLine(v, now))
		switch {
		case v.status == StatusError:
			if !final {
				for _, l := range v.logs {
					lines = append(lines, line{text: " => => # " + sanitize(l), kind: lineError})
				}
			}
			for _, l := range splitLines(v.err) {
				lines = append(lines, line{text: " => ERROR: " + sanitize(l), kind: lineError})
			}
		case !v.finished() && !final:
			for _, l := range v.logs {
				lines = append(lines, line{text: " => => # " + sanitize(l), kind: lineRunning})
			}
		}
	}
	for _, m := range p.t.messages {
		lines = append(lines, line{text: sanitize(m)})
	}
	return lines
}

// vertexLine is " => [CACHED |ERROR ]name" with the step's time.
func vertexLine(v *vertex, now time.Time) line {
	prefix, kind := "", lineDone
	switch {
	case v.status == StatusError:
		prefix, kind = "ERROR ", lineError
	case v.status == StatusCanceled:
		prefix, kind = "CANCELED ", lineCanceled
	case v.cached:
		prefix = "CACHED "
	case !v.finished():
		kind = lineRunning
	}
	d := v.dur
	if !v.finished() && !v.start.IsZero() {
		d = now.Sub(v.start)
	}
	return line{text: " => " + prefix + v.name, time: fmt.Sprintf("  %.1fs", d.Seconds()), kind: kind}
}

// fit cuts l to width runes (0 = no limit) so a line never wraps and
// breaks the cursor arithmetic; the time stays visible, the text is cut.
func fit(l line, width int) string {
	if width <= 0 {
		return l.text + l.time
	}
	t := utf8.RuneCountInString(l.time)
	if t >= width-1 {
		return truncate(l.text+l.time, width)
	}
	return truncate(l.text, width-t) + l.time
}

// truncate cuts s to width runes (0 = no limit) so a line never wraps and
// breaks the cursor arithmetic.
func truncate(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) < width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1])
}

// sanitize drops control characters (a step's own escape sequences would
// corrupt the display) and turns tabs into spaces.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
}
