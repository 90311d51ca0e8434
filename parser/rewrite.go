package parser

import (
	"bytes"
	"fmt"
)

// RewriteBase returns the Dockerfile src (shown as name) with the base image
// of target's root stage replaced by ref: it follows FROM <stage> from the
// target stage ("" = last) to the first stage whose base is not a stage, and
// replaces the base name on that FROM line. A FROM line spread over several
// lines or a base written differently from its parsed form (quoted) is an
// error naming the line. ibuild compare --base uses it.
func RewriteBase(name string, src []byte, target, ref string) ([]byte, error) {
	df, err := Parse(name, src)
	if err != nil {
		return nil, err
	}
	chain, err := df.TargetChain(target)
	if err != nil {
		return nil, err
	}
	root := chain[len(chain)-1]
	loc := df.StageLocation(root)
	base := df.Stages[root].BaseName
	lines := bytes.SplitAfter(src, []byte("\n"))
	if loc.Start <= 0 || loc.Start > len(lines) {
		return nil, fmt.Errorf("%s: no line for the FROM of stage %d", name, root)
	}
	for l := loc.Start - 1; l < loc.End && l < len(lines); l++ {
		if i := indexWord(lines[l], []byte(base)); i >= 0 {
			line := append([]byte{}, lines[l][:i]...)
			line = append(line, ref...)
			line = append(line, lines[l][i+len(base):]...)
			lines[l] = line
			return bytes.Join(lines, nil), nil
		}
	}
	return nil, Errorf(loc, "cannot find base %q on the FROM line to replace it with %s", base, ref)
}

// indexWord finds word in line as a whole whitespace-separated token after
// the FROM keyword (and any --flags).
func indexWord(line, word []byte) int {
	off := 0
	for _, f := range bytes.Fields(line) {
		i := bytes.Index(line[off:], f) + off
		off = i + len(f)
		if bytes.Equal(f, word) {
			return i
		}
	}
	return -1
}
