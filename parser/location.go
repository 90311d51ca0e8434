package parser

import (
	"fmt"
	"strconv"
	"strings"

	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Location is a 1-based inclusive line range in a named Dockerfile.
//
// A Location with Start == 0 refers to the whole file (for example "the file
// has no FROM instruction"); it prints as the bare file name.
type Location struct {
	File  string // path shown in messages, e.g. "Dockerfile"
	Start int    // first line, 1-based; 0 means the whole file
	End   int    // last line, inclusive; equal to Start for a single line
}

// String formats the location as "Dockerfile:7", "Dockerfile:7-9" or, for a
// whole-file location, "Dockerfile".
func (l Location) String() string {
	switch {
	case l.Start <= 0:
		return l.File
	case l.End <= l.Start:
		return l.File + ":" + strconv.Itoa(l.Start)
	default:
		return l.File + ":" + strconv.Itoa(l.Start) + "-" + strconv.Itoa(l.End)
	}
}

// MarshalText formats the location as String does, so that it is
// "Dockerfile:7" in JSON.
func (l Location) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText parses what MarshalText writes: "FILE", "FILE:N" or
// "FILE:N-M". A suffix after the last colon that is not a line range is
// part of the file name.
func (l *Location) UnmarshalText(b []byte) error {
	s := string(b)
	*l = Location{File: s}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return nil
	}
	first, last, isRange := strings.Cut(s[i+1:], "-")
	start, err := strconv.Atoi(first)
	if err != nil || start <= 0 {
		return nil
	}
	end := start
	if isRange {
		if end, err = strconv.Atoi(last); err != nil || end < start {
			return nil
		}
	}
	*l = Location{File: s[:i], Start: start, End: end}
	return nil
}

// IsWholeFile reports whether the location names no particular line.
func (l Location) IsWholeFile() bool { return l.Start <= 0 }

// LocationOf converts BuildKit source ranges (as returned by
// instructions.Command.Location() or instructions.Stage.Location) into a
// Location in file. The result spans from the smallest start line to the
// largest end line; no ranges (or only line 0) give a whole-file location.
func LocationOf(file string, ranges []bkparser.Range) Location {
	loc := Location{File: file}
	for _, r := range ranges {
		start, end := r.Start.Line, r.End.Line
		if end < start {
			end = start
		}
		if start <= 0 {
			continue
		}
		if loc.Start == 0 || start < loc.Start {
			loc.Start = start
		}
		if end > loc.End {
			loc.End = end
		}
	}
	return loc
}

// CommandLocation is the location of cmd in d.
func (d *Dockerfile) CommandLocation(cmd interface{ Location() []bkparser.Range }) Location {
	return LocationOf(d.Name, cmd.Location())
}

// StageLocation is the location of the FROM instruction that starts stage i,
// or a whole-file location if i is out of range.
func (d *Dockerfile) StageLocation(i int) Location {
	if i < 0 || i >= len(d.Stages) {
		return Location{File: d.Name}
	}
	return LocationOf(d.Name, d.Stages[i].Location)
}

// Error is a parse or build error tied to a place in a Dockerfile.
type Error struct {
	Location Location
	Err      error
}

// Error formats the error as "Dockerfile:7: message".
func (e *Error) Error() string {
	if s := e.Location.String(); s != "" {
		return s + ": " + e.Err.Error()
	}
	return e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error at loc. The format supports %w like fmt.Errorf.
func Errorf(loc Location, format string, args ...any) error {
	return &Error{Location: loc, Err: fmt.Errorf(format, args...)}
}

// clamp keeps a location inside a file of n lines so that callers can rely on
// 1 <= Start <= End <= n (or a whole-file location).
func (l Location) clamp(n int) Location {
	if l.Start <= 0 || n <= 0 {
		return Location{File: l.File}
	}
	if l.Start > n {
		l.Start = n
	}
	if l.End < l.Start {
		l.End = l.Start
	}
	if l.End > n {
		l.End = n
	}
	return l
}
