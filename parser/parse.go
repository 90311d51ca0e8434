package parser

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Dockerfile is a parsed Dockerfile: BuildKit's typed stages plus the
// information ibuild needs to report errors against the source.
type Dockerfile struct {
	Name     string                    // path shown in messages
	Stages   []instructions.Stage      // BuildKit's typed stages (commands are instructions.Command values)
	MetaArgs []instructions.ArgCommand // ARGs before the first FROM
	Warnings []Warning                 // e.g. empty continuation lines, deprecated MAINTAINER
	Escape   rune                      // escape token from the directive (for shell.NewLex)
	Syntax   string                    // the # syntax= directive if any (ignored otherwise)
}

// Warning is a non-fatal finding about a Dockerfile, in the style of
// BuildKit's build checks ("RuleName: message").
type Warning struct {
	Location Location
	Message  string
}

// String formats the warning as "Dockerfile:3: Rule: message".
func (w Warning) String() string {
	if s := w.Location.String(); s != "" {
		return s + ": " + w.Message
	}
	return w.Message
}

// maxLineSize is the longest line BuildKit's line scanner accepts.
const maxLineSize = bufio.MaxScanTokenSize

// Parse parses a Dockerfile. name is the path shown in errors (e.g.
// "Dockerfile" or "-"); an empty name is shown as "Dockerfile".
//
// Every error is an *Error. Its Location names the offending lines, or is a
// whole-file location (Start == 0) for problems that belong to no line: an
// empty file or a file without FROM.
func Parse(name string, src []byte) (*Dockerfile, error) {
	if name == "" {
		name = "Dockerfile"
	}
	d := &Dockerfile{Name: name, Escape: bkparser.DefaultEscapeToken}
	nlines, err := d.scanDirectives(src)
	if err != nil {
		return nil, err
	}
	res, err := bkparser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, d.fromBuildKit(err, nlines)
	}
	d.Escape = res.EscapeToken
	for _, w := range res.Warnings {
		loc := Location{File: name}
		if w.Location != nil {
			loc = LocationOf(name, []bkparser.Range{*w.Location})
		}
		d.warn(loc, linter.RuleNoEmptyContinuation.Name, linter.RuleNoEmptyContinuation.Format())
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []bkparser.Range) {
		d.warn(LocationOf(name, loc), rule, msg)
	}})
	for _, node := range res.AST.Children {
		if err := d.addNode(node, lint); err != nil {
			return nil, err
		}
	}
	if len(d.Stages) == 0 {
		return nil, Errorf(Location{File: name}, "no FROM instruction: a Dockerfile needs at least one build stage")
	}
	if err := d.validateReferences(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(d.Warnings, func(a, b Warning) int { return a.Location.Start - b.Location.Start })
	return d, nil
}

// addNode turns one AST node into a stage, a meta ARG or a command of the
// current stage. It mirrors the loop of BuildKit's instructions.Parse, but
// keeps the node at hand so that every error carries its exact lines.
func (d *Dockerfile) addNode(node *bkparser.Node, lint *linter.Linter) error {
	loc := Location{File: d.Name, Start: node.StartLine, End: node.EndLine}
	v, err := instructions.ParseInstructionWithLinter(node, lint)
	if err != nil {
		return &Error{Location: loc, Err: withInstruction(node.Value, unwrapLocation(err))}
	}
	switch c := v.(type) {
	case *instructions.Stage:
		return d.addStage(c, loc)
	case *instructions.ArgCommand:
		if len(d.Stages) == 0 {
			d.MetaArgs = append(d.MetaArgs, *c)
			return nil
		}
	}
	cmd, ok := v.(instructions.Command)
	if !ok {
		return Errorf(loc, "%T is not a command", v)
	}
	if len(d.Stages) == 0 {
		return Errorf(loc, "%s before the first FROM: only ARG may come before FROM", strings.ToUpper(cmd.Name()))
	}
	if err := d.validateCommand(cmd, node); err != nil {
		return &Error{Location: loc, Err: withInstruction(node.Value, err)}
	}
	st := &d.Stages[len(d.Stages)-1]
	st.AddCommand(cmd)
	return nil
}

// reservedStageNames are names BuildKit warns about (ReservedStageName).
var reservedStageNames = map[string]bool{"context": true, "scratch": true}

func (d *Dockerfile) addStage(st *instructions.Stage, loc Location) error {
	if st.Name != "" {
		if i, ok := d.StageIndex(st.Name); ok {
			return Errorf(loc, "duplicate stage name %q (first defined at %s)", st.Name, d.StageLocation(i))
		}
		if reservedStageNames[st.Name] {
			d.warn(loc, linter.RuleReservedStageName.Name, linter.RuleReservedStageName.Format(st.Name))
		}
	}
	d.Stages = append(d.Stages, *st)
	return nil
}

func (d *Dockerfile) warn(loc Location, rule, msg string) {
	d.Warnings = append(d.Warnings, Warning{Location: loc, Message: rule + ": " + msg})
}

// StageIndex resolves a FROM/--from name or index to a stage index
// ("builder", "0"). Names are matched case-insensitively, like docker.
func (d *Dockerfile) StageIndex(nameOrIndex string) (int, bool) {
	if nameOrIndex == "" {
		return 0, false
	}
	for i, st := range d.Stages {
		if st.Name != "" && strings.EqualFold(st.Name, nameOrIndex) {
			return i, true
		}
	}
	if i, err := strconv.Atoi(nameOrIndex); err == nil && i >= 0 && i < len(d.Stages) &&
		strconv.Itoa(i) == nameOrIndex {
		return i, true
	}
	return 0, false
}

// StageRef resolves a name used in FROM, COPY --from or RUN --mount from=
// in stage before to an earlier stage, by name or index (see StageIndex).
// A name that is not an earlier stage is an image.
func (d *Dockerfile) StageRef(name string, before int) (int, bool) {
	i, ok := d.StageIndex(name)
	if !ok {
		return 0, false
	}
	if _, err := strconv.Atoi(name); err != nil && d.Stages[i].Name == "" {
		return 0, false
	}
	if i >= before {
		return 0, false
	}
	return i, true
}

// TargetChain returns the stage target ("" = the last) and the stages it
// inherits through FROM <stage>, target first.
func (d *Dockerfile) TargetChain(target string) ([]int, error) {
	i := len(d.Stages) - 1
	if target != "" {
		var ok bool
		if i, ok = d.StageIndex(target); !ok {
			return nil, fmt.Errorf("target stage %q not found in %s", target, d.Name)
		}
	}
	if i < 0 {
		return nil, fmt.Errorf("%s: no build stage in Dockerfile", d.Name)
	}
	return d.StageChain(i), nil
}

// StageChain returns stage i and the stages it inherits through
// FROM <stage>, i first.
func (d *Dockerfile) StageChain(i int) []int {
	chain := []int{i}
	for {
		j, ok := d.StageRef(d.Stages[i].BaseName, i)
		if !ok {
			return chain
		}
		chain, i = append(chain, j), j
	}
}

// NewLex returns BuildKit's shell lexer for the given escape token (the
// Dockerfile's Escape); zero means the default backslash.
func NewLex(escape rune) *shell.Lex {
	if escape == 0 {
		escape = bkparser.DefaultEscapeToken
	}
	return shell.NewLex(escape)
}

// scanDirectives reads the parser directives at the top of src (escape,
// syntax, check) and checks line lengths, so that those errors carry the
// right line: BuildKit reports them one line early or on the previous line.
// It returns the number of lines in src.
func (d *Dockerfile) scanDirectives(src []byte) (int, error) {
	var dp bkparser.DirectiveParser
	n := 0
	for rest := src; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		n++
		loc := Location{File: d.Name, Start: n, End: n}
		if len(line) >= maxLineSize {
			return 0, Errorf(loc, "line is longer than the maximum of %d bytes", maxLineSize-1)
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte{0xEF, 0xBB, 0xBF})
		}
		line = bytes.TrimLeftFunc(bytes.TrimRight(line, "\r\n"), unicode.IsSpace)
		dir, err := dp.ParseLine(line)
		if err != nil {
			return 0, &Error{Location: loc, Err: err}
		}
		if dir == nil {
			continue
		}
		switch dir.Name {
		case "escape":
			if dir.Value != "`" && dir.Value != `\` {
				return 0, Errorf(loc, "invalid escape token %q: must be ` or \\", dir.Value)
			}
			d.Escape = rune(dir.Value[0])
		case "syntax":
			d.Syntax = dir.Value
		}
	}
	return n, nil
}

// fromBuildKit converts an error from BuildKit's line parser into an *Error,
// using the location BuildKit attached to it.
func (d *Dockerfile) fromBuildKit(err error, nlines int) error {
	var le *bkparser.LocationError
	loc := Location{File: d.Name}
	if errors.As(err, &le) && len(le.Locations) > 0 {
		loc = LocationOf(d.Name, le.Locations[0]).clamp(nlines)
	}
	msg := unwrapLocation(err)
	if msg.Error() == "file with no instructions" {
		// BuildKit points at the last line read; the problem is the file.
		loc = Location{File: d.Name}
		msg = errors.New("file with no instructions: a Dockerfile needs at least a FROM instruction")
	}
	return &Error{Location: loc, Err: msg}
}

// flagSuggestion matches BuildKit's unknown-flag suggestion.
var flagSuggestion = regexp.MustCompile(`^(unknown flag: --\S+ \(did you mean )([^-\s][^?\s]*)\?\)$`)

// withInstruction prefixes err with the instruction's name unless the message
// already names it: "HEALTHCHECK: time: missing unit", "RUN --mount: ...".
func withInstruction(name string, err error) error {
	name = strings.ToUpper(name)
	msg := err.Error()
	if flagSuggestion.MatchString(msg) {
		// BuildKit suggests the bare name: "(did you mean chown?)".
		err = errors.New(flagSuggestion.ReplaceAllString(msg, "$1--$2?)"))
		msg = err.Error()
	}
	if strings.Contains(msg, name) {
		return err
	}
	if strings.HasPrefix(msg, "--") {
		return fmt.Errorf("%s %w", name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// unwrapLocation strips BuildKit's LocationError (and its stack wrapper) so
// that the message is not prefixed twice; the chain below it is kept, so
// errors.As still finds e.g. *instructions.UnknownInstructionError.
func unwrapLocation(err error) error {
	var le *bkparser.LocationError
	if errors.As(err, &le) {
		if inner := le.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}
