package report

import (
	"slices"
	"strings"
)

// New assembles a report of kind "inspect" or "compare" over variants whose
// steps and base are final: it makes each analysed variant's suggestions
// (naming its steps), aligns the steps into rows and sums the layers the
// variants share. rules are the waste rules that were applied.
func New(kind string, variants []*Variant, rules []Rule) *Report {
	r := &Report{Schema: SchemaVersion, Kind: kind, Variants: variants, Rules: rules}
	if r.Rules == nil {
		r.Rules = DefaultRules
	}
	for _, v := range variants {
		if v.findings != nil || v.Suggestions == nil {
			v.Suggestions = suggest(v)
		}
	}
	r.Rows = align(variants)
	r.Shared = shared(variants)
	return r
}

// SetCommonBase marks, in every variant, the longest run of bottom layers
// that all variants share (by digest) as the base, and drops the steps that
// made them. It is how images compared without their build get a base.
func SetCommonBase(variants []*Variant) {
	if len(variants) < 2 {
		return
	}
	n := len(variants[0].Layers)
	for _, v := range variants[1:] {
		i := 0
		for i < n && i < len(v.Layers) && v.Layers[i].Digest == variants[0].Layers[i].Digest {
			i++
		}
		n = i
	}
	for _, v := range variants {
		v.Base = Sizes{}
		for _, l := range v.Layers[:n] {
			l.Base = true
			v.Base.Add(l)
		}
		// Drop history steps up to and including the last base layer's.
		cut := 0
		for i, s := range v.Steps {
			if s.Layer >= 0 && s.Layer < n {
				cut = i + 1
			}
		}
		v.Steps = v.Steps[cut:]
	}
}

// shared sums the distinct layers present in at least two variants.
func shared(variants []*Variant) Shared {
	s := Shared{Digests: []string{}}
	if len(variants) < 2 {
		return s
	}
	in := map[string]int{}
	byDigest := map[string]*Layer{}
	for _, v := range variants {
		seen := map[string]bool{}
		for _, l := range v.Layers {
			if !seen[l.Digest] {
				seen[l.Digest] = true
				in[l.Digest]++
				byDigest[l.Digest] = l
			}
		}
	}
	for d, n := range in {
		if n >= 2 {
			s.Digests = append(s.Digests, d)
		}
	}
	slices.Sort(s.Digests)
	for _, d := range s.Digests {
		s.Add(byDigest[d])
	}
	return s
}

// keyword is the instruction's first word, upper-cased.
func keyword(instr string) string {
	f, _, _ := strings.Cut(instr, " ")
	return strings.ToUpper(f)
}

// align builds the rows: variant 0's steps in order, then each further
// variant matched against the rows by a longest common subsequence of equal
// instructions; between two matches, unmatched steps pair with unmatched
// rows of the same keyword in order, and the rest become new rows.
func align(variants []*Variant) []Row {
	var rows []Row
	for vi, v := range variants {
		rows = alignOne(rows, variants, vi, v.Steps)
	}
	for i := range rows {
		rows[i].Instruction = rowLabel(rows[i], variants)
	}
	if rows == nil {
		rows = []Row{}
	}
	return rows
}

func rowHas(r Row, variants []*Variant, instr string) bool {
	for vi, c := range r.Cells {
		if c >= 0 && variants[vi].Steps[c].Instruction == instr {
			return true
		}
	}
	return false
}

func alignOne(rows []Row, variants []*Variant, vi int, steps []*Step) []Row {
	n, m := len(rows), len(steps)
	// lcs[i][j] is the LCS length of rows[i:] and steps[j:].
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if rowHas(rows[i], variants, steps[j].Instruction) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []Row
	var gapRows []Row
	var gapSteps []int
	flush := func() {
		out = append(out, pairGap(gapRows, gapSteps, steps, variants, vi)...)
		gapRows, gapSteps = nil, nil
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && rowHas(rows[i], variants, steps[j].Instruction) && lcs[i][j] == lcs[i+1][j+1]+1:
			flush()
			out = append(out, withCell(rows[i], len(variants), vi, j))
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			gapSteps = append(gapSteps, j)
			j++
		default:
			gapRows = append(gapRows, rows[i])
			i++
		}
	}
	flush()
	return out
}

// pairGap pairs unmatched steps with unmatched rows of the same keyword, in
// order; leftover steps become new rows after the gap's rows.
func pairGap(rows []Row, stepIdx []int, steps []*Step, variants []*Variant, vi int) []Row {
	out := make([]Row, len(rows))
	for i, r := range rows {
		out[i] = withCell(r, len(variants), vi, -1)
	}
	next := 0
	for _, j := range stepIdx {
		placed := false
		for k := next; k < len(out); k++ {
			if out[k].Cells[vi] == -1 && rowKeyword(out[k], variants) == keyword(steps[j].Instruction) {
				out[k].Cells[vi] = j
				next, placed = k+1, true
				break
			}
		}
		if !placed {
			out = append(out, withCell(Row{}, len(variants), vi, j))
		}
	}
	return out
}

func rowKeyword(r Row, variants []*Variant) string {
	for vi, c := range r.Cells {
		if c >= 0 {
			return keyword(variants[vi].Steps[c].Instruction)
		}
	}
	return ""
}

// withCell returns a copy of r sized for nv variants with cell vi set to c.
func withCell(r Row, nv, vi, c int) Row {
	cells := make([]int, nv)
	for i := range cells {
		cells[i] = -1
	}
	copy(cells, r.Cells)
	cells[vi] = c
	return Row{Cells: cells}
}

// rowLabel is the row's instruction, or its distinct instructions joined.
func rowLabel(r Row, variants []*Variant) string {
	var seen []string
	for vi, c := range r.Cells {
		if c >= 0 && !slices.Contains(seen, variants[vi].Steps[c].Instruction) {
			seen = append(seen, variants[vi].Steps[c].Instruction)
		}
	}
	return strings.Join(seen, " | ")
}
