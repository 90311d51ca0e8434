package parser

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

func TestLocationString(t *testing.T) {
	tests := []struct {
		loc  Location
		want string
	}{
		{Location{File: "Dockerfile", Start: 7, End: 7}, "Dockerfile:7"},
		{Location{File: "Dockerfile", Start: 7}, "Dockerfile:7"},
		{Location{File: "Dockerfile", Start: 7, End: 9}, "Dockerfile:7-9"},
		{Location{File: "-", Start: 1, End: 1}, "-:1"},
		{Location{File: "Dockerfile"}, "Dockerfile"},
	}
	for _, tt := range tests {
		if got := tt.loc.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.loc, got, tt.want)
		}
	}
}

func TestLocationOf(t *testing.T) {
	line := func(n int) bkparser.Range {
		return bkparser.Range{Start: bkparser.Position{Line: n}, End: bkparser.Position{Line: n}}
	}
	tests := []struct {
		name   string
		ranges []bkparser.Range
		want   Location
	}{
		{"none", nil, Location{File: "f"}},
		{"one", []bkparser.Range{line(3)}, Location{File: "f", Start: 3, End: 3}},
		{"span", []bkparser.Range{line(4), line(5), line(6)}, Location{File: "f", Start: 4, End: 6}},
		{"unordered", []bkparser.Range{line(6), line(4)}, Location{File: "f", Start: 4, End: 6}},
		{"line zero ignored", []bkparser.Range{line(0), line(2)}, Location{File: "f", Start: 2, End: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LocationOf("f", tt.ranges); got != tt.want {
				t.Errorf("LocationOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestErrorf(t *testing.T) {
	base := errors.New("no such file")
	err := Errorf(Location{File: "Dockerfile", Start: 7, End: 7}, "COPY missing.txt: %w", base)
	if got, want := err.Error(), "Dockerfile:7: COPY missing.txt: no such file"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, base) {
		t.Error("errors.Is does not find the wrapped error")
	}
	var perr *Error
	if !errors.As(err, &perr) || perr.Location.Start != 7 {
		t.Errorf("errors.As(*Error) = %v, %+v", perr, perr)
	}
}

func TestUnknownInstructionKeepsChain(t *testing.T) {
	_, err := Parse("build/Dockerfile.dev", []byte("FROM alpine\nRUN true\nCOPPY a b\n"))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if got, want := err.Error(), "build/Dockerfile.dev:3: unknown instruction: COPPY (did you mean COPY?)"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	var uie *instructions.UnknownInstructionError
	if !errors.As(err, &uie) || uie.Instruction != "COPPY" {
		t.Errorf("errors.As(UnknownInstructionError) failed for %#v", err)
	}
	var le *bkparser.LocationError
	if errors.As(err, &le) {
		t.Error("BuildKit's LocationError should have been replaced by *Error")
	}
}

func TestParseFields(t *testing.T) {
	src := "# syntax=docker/dockerfile:1\n# escape=`\nARG V=1\nFROM alpine AS Builder\nRUN echo `\n  hi\nFROM builder\n"
	d, err := Parse("", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "Dockerfile" {
		t.Errorf("Name = %q, want the default %q", d.Name, "Dockerfile")
	}
	if d.Escape != '`' {
		t.Errorf("Escape = %q, want '`'", d.Escape)
	}
	if d.Syntax != "docker/dockerfile:1" {
		t.Errorf("Syntax = %q", d.Syntax)
	}
	if len(d.MetaArgs) != 1 || d.MetaArgs[0].Args[0].Key != "V" {
		t.Errorf("MetaArgs = %+v", d.MetaArgs)
	}
	if len(d.Stages) != 2 || d.Stages[0].Name != "builder" || d.Stages[1].BaseName != "builder" {
		t.Fatalf("Stages = %+v", d.Stages)
	}
	run := d.Stages[0].Commands[0]
	if got, want := d.CommandLocation(run).String(), "Dockerfile:5-6"; got != want {
		t.Errorf("RUN location = %s, want %s", got, want)
	}
	if got, want := d.StageLocation(1).String(), "Dockerfile:7"; got != want {
		t.Errorf("stage 1 location = %s, want %s", got, want)
	}
	if got := d.StageLocation(5); !got.IsWholeFile() {
		t.Errorf("StageLocation(5) = %+v, want whole file", got)
	}
}

func TestStageIndex(t *testing.T) {
	d, err := Parse("Dockerfile", []byte("FROM a AS builder\nFROM b\nFROM c AS final\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in     string
		want   int
		wantOK bool
	}{
		{"builder", 0, true},
		{"BUILDER", 0, true},
		{"final", 2, true},
		{"0", 0, true},
		{"1", 1, true},
		{"2", 2, true},
		{"3", 0, false},
		{"-1", 0, false},
		{"01", 0, false},
		{"", 0, false},
		{"alpine", 0, false},
	}
	for _, tt := range tests {
		got, ok := d.StageIndex(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("StageIndex(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestParseChmod(t *testing.T) {
	tests := []struct {
		in      string
		want    fs.FileMode
		wantErr bool
	}{
		{"755", 0o755, false},
		{"0644", 0o644, false},
		{"0", 0, false},
		{"4755", 0o755 | fs.ModeSetuid, false},
		{"2755", 0o755 | fs.ModeSetgid, false},
		{"1777", 0o777 | fs.ModeSticky, false},
		{"7777", 0o777 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky, false},
		{"10000", 0, true},
		{"999", 0, true},
		{"abc", 0, true},
		{"u+x", 0, true},
		{"", 0, true},
		{"-1", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseChmod(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseChmod(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), tt.in) {
			t.Errorf("ParseChmod(%q) error %q does not quote the value", tt.in, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	// Cases beyond the negative fixtures: each error names the right line.
	tests := []struct {
		name, src, want string
	}{
		{"mount from later stage", "FROM a AS x\nRUN --mount=from=y,target=/y true\nFROM b AS y\n",
			`Dockerfile:2: cannot mount from stage "y", it needs to be defined before current stage "x"`},
		{"copy from itself by index", "FROM a\nCOPY --from=0 /x /y\n",
			`Dockerfile:2: circular dependency detected on stage: 0`},
		{"copy from a later stage", "FROM a AS x\nCOPY --from=y /x /y\nFROM b AS y\n",
			`Dockerfile:2: cannot copy from stage "y", it needs to be defined before current stage "x"`},
		{"copy from missing index", "FROM a\nFROM b\nCOPY --from=5 /x /y\n",
			"Dockerfile:3: invalid stage index 5: the Dockerfile has 2 stages"},
		{"add checksum with two sources", "FROM a\nADD --checksum=sha256:00 a b /d/\n",
			"Dockerfile:2: ADD --checksum can't be used with multiple sources"},
		{"bad flag after continuation", "FROM a\nRUN \\\n  --foo=bar true\n",
			"Dockerfile:2-3: RUN: unknown flag: --foo"},
		{"from flag typo", "FROM --plaform=linux/amd64 alpine\n",
			"Dockerfile:1: FROM: unknown flag: --plaform (did you mean --platform?)"},
		{"bad security", "FROM a\nRUN --security=root true\n", `Dockerfile:2: RUN: security "root" is not valid`},
		{"heredoc unterminated at EOF", "FROM a\nCOPY <<EOF /x\nabc", "Dockerfile:2-3: unterminated heredoc"},
		{"onbuild from", "FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"},
		{"lines too long", "FROM a\nRUN " + strings.Repeat("x", maxLineSize) + "\n",
			"Dockerfile:2: line is longer than the maximum of 65535 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("Dockerfile", []byte(tt.src))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\n         want %q", err, tt.want)
			}
		})
	}
}

func TestNewLex(t *testing.T) {
	for _, esc := range []rune{0, '\\', '`'} {
		lex := NewLex(esc)
		res, err := lex.ProcessWordWithMatches(`"$A"-${B:-b}`, shell.EnvsFromSlice([]string{"A=a"}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Result != "a-b" {
			t.Errorf("escape %q: got %q, want %q", esc, res.Result, "a-b")
		}
	}
}
