package parser

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// validateCommand checks, at parse time, what docker rejects before running
// any step but BuildKit's instructions package leaves to its converter.
func (d *Dockerfile) validateCommand(cmd instructions.Command, node *bkparser.Node) error {
	switch c := cmd.(type) {
	case *instructions.CopyCommand:
		return validateChmod(c.Chmod)
	case *instructions.AddCommand:
		if err := validateChmod(c.Chmod); err != nil {
			return err
		}
		if c.Checksum != "" && len(c.SourcePaths)+len(c.SourceContents) != 1 {
			return errors.New("ADD --checksum can't be used with multiple sources")
		}
	case *instructions.RunCommand:
		return validateMounts(c, node)
	case *instructions.StopSignalCommand:
		// BuildKit's STOPSIGNAL ignores flags instead of rejecting them.
		if len(node.Flags) > 0 {
			name, _, _ := strings.Cut(node.Flags[0], "=")
			return fmt.Errorf("unknown flag: %s", name)
		}
	case *instructions.OnbuildCommand:
		return validateTrigger(c.Expression)
	case *instructions.EnvCommand:
		d.warnLegacyKeyValue(cmd, c.Env)
	case *instructions.LabelCommand:
		d.warnLegacyKeyValue(cmd, c.Labels)
	}
	return nil
}

// warnLegacyKeyValue reports "ENV key value" (without '=') like BuildKit's
// LegacyKeyValueFormat check.
func (d *Dockerfile) warnLegacyKeyValue(cmd instructions.Command, kvs instructions.KeyValuePairs) {
	for _, kv := range kvs {
		if kv.NoDelim {
			rule := &linter.RuleLegacyKeyValueFormat
			d.warn(d.CommandLocation(cmd), rule.Name, rule.Format(cmd.Name()))
			return
		}
	}
}

// ParseChmod parses a --chmod value the way docker accepts it: an octal
// number between 0 and 07777 ("755", "0644"). build calls it after variable
// expansion; Parse calls it for values without variables.
func ParseChmod(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("invalid --chmod value %q: must be an octal number between 0 and 7777", s)
	}
	mode := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode, nil
}

func validateChmod(s string) error {
	if s == "" || strings.Contains(s, "$") {
		return nil
	}
	_, err := ParseChmod(s)
	return err
}

// validateMounts parses RUN --mount values now, with variables left as
// written. BuildKit defers this to RunCommand.Expand; a value whose variables
// make it invalid as written (type=$T) is left for build, which must call
// RunCommand.Expand with its real expander before instructions.GetMounts.
func validateMounts(c *instructions.RunCommand, node *bkparser.Node) error {
	err := c.Expand(func(w string) (string, error) { return w, nil })
	if err == nil {
		return nil
	}
	for _, f := range node.Flags {
		if strings.HasPrefix(f, "--mount") && strings.Contains(f, "$") {
			return nil
		}
	}
	return fmt.Errorf("--mount: %w", err)
}

// validateTrigger parses an ONBUILD trigger so that a typo is reported where
// it is written rather than in the build that uses the image as a base.
func validateTrigger(expr string) error {
	res, err := bkparser.Parse(strings.NewReader(expr))
	if err != nil {
		return fmt.Errorf("ONBUILD trigger: %w", unwrapLocation(err))
	}
	for _, n := range res.AST.Children {
		if _, err := instructions.ParseInstruction(n); err != nil {
			return fmt.Errorf("ONBUILD trigger: %w", unwrapLocation(err))
		}
	}
	return nil
}

// validateReferences checks COPY --from and RUN --mount from= against the
// stages: a stage may only use stages defined before it, an index must exist,
// and --from does not support variables (as in BuildKit).
func (d *Dockerfile) validateReferences() error {
	lex := NewLex(d.Escape)
	for i, st := range d.Stages {
		for _, cmd := range st.Commands {
			var err error
			switch c := cmd.(type) {
			case *instructions.CopyCommand:
				err = d.checkFrom(i, c.From, lex, "copy from")
			case *instructions.RunCommand:
				for _, m := range instructions.GetMounts(c) {
					if m != nil && !strings.Contains(m.From, "$") {
						err = errors.Join(err, d.checkFrom(i, m.From, nil, "mount from"))
					}
				}
			}
			if err != nil {
				return &Error{Location: d.CommandLocation(cmd), Err: err}
			}
		}
	}
	return nil
}

// checkFrom validates one stage reference made from stage i. Names that are
// not stages are image references and are left to build.
func (d *Dockerfile) checkFrom(i int, from string, lex *shell.Lex, verb string) error {
	if from == "" {
		return nil
	}
	if lex != nil {
		res, err := lex.ProcessWordWithMatches(from, shell.EnvsFromSlice(nil))
		if err != nil {
			return fmt.Errorf("--from=%s: %w", from, err)
		}
		if res.Result != from {
			return errors.New("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")
		}
	}
	j, ok := d.StageIndex(from)
	if !ok {
		if n, err := strconv.Atoi(from); err == nil {
			return fmt.Errorf("invalid stage index %d: the Dockerfile has %d stages", n, len(d.Stages))
		}
		return nil
	}
	if j >= i {
		cur := d.Stages[i].Name
		if cur == "" {
			cur = strconv.Itoa(i)
		}
		if j == i && verb == "copy from" {
			// BuildKit finds a stage copying from itself as a cycle.
			return fmt.Errorf("circular dependency detected on stage: %s", cur)
		}
		return fmt.Errorf("cannot %s stage %q, it needs to be defined before current stage %q", verb, from, cur)
	}
	return nil
}
