package progress

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// Status is the state an Event reports.
type Status string

// The statuses of a step (or build-level task).
const (
	// StatusStarted: the step began running.
	StatusStarted Status = "started"
	// StatusDone: the step finished successfully.
	StatusDone Status = "done"
	// StatusCached: the step's result came from the cache without running.
	StatusCached Status = "cached"
	// StatusError: the step failed; Error says why.
	StatusError Status = "error"
	// StatusCanceled: the step was stopped because another one failed.
	StatusCanceled Status = "canceled"
	// StatusLog: a line of the step's output (Log, Stream), or a message.
	StatusLog Status = "log"
)

// Event is one progress event. It is the line format of --progress=json:
// each event is one JSON object on its own line with these fields:
//
//	time      RFC 3339 timestamp with nanoseconds
//	step      1-based index of the step in the build; 0 for build-level events
//	total     number of steps in the build
//	stage     build stage name, if any (omitted when empty)
//	platform  the platform whose image the step builds, in a multi-platform
//	          build ("linux/arm64"; omitted otherwise); steps are numbered
//	          per platform, so step and platform identify a step
//	name      display name, as BuildKit prints it: "[builder 2/5] RUN go build ./..."
//	status    "started", "done", "cached", "error", "canceled" or "log"
//	cached    true when the step was a cache hit (omitted when false)
//	duration  how long the step took, in nanoseconds (done/error; omitted when 0)
//	log       a line of step output, or a message (omitted when empty)
//	stream    "stdout" or "stderr" for output lines (omitted when empty); a RUN
//	          step writes both to one pipe, in order, reported as "stdout"
//	error     the failure message of an "error" event (omitted when empty)
type Event struct {
	Time     time.Time     `json:"time"`
	Step     int           `json:"step"`
	Total    int           `json:"total"`
	Stage    string        `json:"stage,omitempty"`
	Platform string        `json:"platform,omitempty"`
	Name     string        `json:"name"`
	Status   Status        `json:"status"`
	Cached   bool          `json:"cached,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	Log      string        `json:"log,omitempty"`
	Stream   string        `json:"stream,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// Sink receives events. Implementations must be safe for concurrent use.
type Sink interface {
	// Event records e. It never blocks on slow output for long and reports
	// no error: printers return output errors from Close.
	Event(e Event)
}

// Printer is a Sink that displays events.
type Printer interface {
	Sink
	// Close flushes the display (the tty printer stops its redraw loop and
	// prints the final state) and returns the first output error.
	Close() error
}

// New returns a printer for mode "auto", "tty", "plain", "json" or
// "quiet", writing to out. "auto" means tty when out is a terminal, else
// plain.
func New(mode string, out io.Writer, opts ...Option) (Printer, error) {
	o := options{color: true}
	for _, opt := range opts {
		opt(&o)
	}
	switch mode {
	case "auto":
		if _, ok := terminalFd(out); ok {
			return newTTY(out, o.color), nil
		}
		if o.term != nil {
			if fd, ok := terminalFd(o.term); ok {
				return newTTYFor(out, o.color, fd), nil
			}
		}
		return newPlain(out), nil
	case "tty":
		if o.term != nil {
			if fd, ok := terminalFd(o.term); ok {
				return newTTYFor(out, o.color, fd), nil
			}
		}
		return newTTY(out, o.color), nil
	case "plain":
		return newPlain(out), nil
	case "json":
		return newJSON(out), nil
	case "quiet":
		return quiet{}, nil
	}
	return nil, fmt.Errorf("unknown progress mode %q (want auto, tty, plain, json or quiet)", mode)
}

// Option configures a printer made by [New].
type Option func(*options)

type options struct {
	color bool
	term  *os.File
}

// WithTerminal makes the printer display for the terminal f when out is
// not one but its bytes go to f later (held back, then copied): "auto"
// picks tty when f is a terminal, and tty lines fit f's width.
func WithTerminal(f *os.File) Option {
	return func(o *options) { o.term = f }
}

// WithColor turns the tty printer's colours on (the default) or off (for
// NO_COLOR). The other printers never colour.
func WithColor(on bool) Option {
	return func(o *options) { o.color = on }
}

// terminalFd returns out's file descriptor when out is a terminal.
func terminalFd(out io.Writer) (int, bool) {
	f, ok := out.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// Discard returns a Sink that drops every event.
func Discard() Sink { return quiet{} }

// quiet drops events.
type quiet struct{}

var _ Printer = quiet{}

func (quiet) Event(Event)  {}
func (quiet) Close() error { return nil }
